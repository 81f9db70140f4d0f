//! The simulator's hardware OATH tokens (beta): the inventory's required properties, base32
//! seeds, duplicate serial numbers, the v1.0 path, the permissions of Microsoft's pages, and a
//! user's tokens (assign by device id, activate with the token's TOTP code, unassign).

use std::collections::BTreeSet;

use crate::support::graph::Graph;
use crate::support::oath::{SEEDS, totp, wrong_code};
use authbulk::sim::SimConfig;
use serde_json::{Value, json};

const INVENTORY: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

fn token(serial: &str, seed: &str) -> Value {
    json!({"serialNumber": serial, "manufacturer": "Contoso", "model": "H1000",
           "secretKey": seed, "timeIntervalInSeconds": 30, "hashFunction": "hmacsha1"})
}

#[tokio::test]
async fn the_inventory_refuses_missing_properties_bad_seeds_and_duplicate_serials() {
    let g = Graph::with_users(20).await;
    let created = g.post(INVENTORY, token("S-1", SEEDS[0])).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(created.body["secretKey"].is_null());
    assert_eq!(created.body["status"], "available");
    for property in [
        "serialNumber",
        "manufacturer",
        "model",
        "secretKey",
        "timeIntervalInSeconds",
    ] {
        let mut body = token("S-2", SEEDS[1]);
        body.as_object_mut().unwrap().remove(property);
        let r = g.post(INVENTORY, body).await;
        assert_eq!(r.status, 400, "{property}: {:?}", r.body);
        assert!(r.message().contains(property), "{}", r.message());
    }
    let bad = g.post(INVENTORY, token("S-2", "NOT-BASE32-1890")).await;
    assert_eq!(bad.status, 400);
    let mut interval = token("S-2", SEEDS[1]);
    interval["timeIntervalInSeconds"] = json!(45);
    assert_eq!(g.post(INVENTORY, interval).await.status, 400);
    let twice = g.post(INVENTORY, token("S-1", SEEDS[1])).await;
    assert_eq!((twice.status, twice.code()), (400, "Request_BadRequest"));
    assert!(twice.message().contains("serialNumber"));
    // Beta only: v1.0 does not know the segment.
    let v1 = g
        .get("/v1.0/directory/authenticationMethodDevices/hardwareOathDevices")
        .await;
    assert_eq!(v1.status, 400, "{:?}", v1.body);
    let found = g
        .get(&format!(
            "{INVENTORY}?$filter=serialNumber%20eq%20%27S-1%27"
        ))
        .await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert!(!found.body.to_string().contains(SEEDS[0]));
}

#[tokio::test]
async fn the_inventory_needs_the_documented_policy_permissions() {
    let g = Graph::start(SimConfig {
        users: 5,
        deny: BTreeSet::from(["Policy.ReadWrite.AuthenticationMethod".to_string()]),
        ..SimConfig::default()
    })
    .await;
    let r = g.post(INVENTORY, token("S-1", SEEDS[0])).await;
    assert_eq!((r.status, r.code()), (403, "Authorization_RequestDenied"));
    assert_eq!(g.get(INVENTORY).await.status, 403);
}

#[tokio::test]
async fn a_token_is_assigned_activated_with_its_code_and_unassigned() {
    let g = Graph::with_users(20).await;
    let device = g.post(INVENTORY, token("S-1", SEEDS[0])).await.body;
    let id = device["id"].as_str().unwrap().to_string();
    let mine = g.user_path("beta", 3, "/authentication/hardwareOathMethods");
    let theirs = g.user_path("beta", 4, "/authentication/hardwareOathMethods");
    assert_eq!(g.post(&mine, json!({})).await.status, 400);
    let assigned = g.post(&mine, json!({"device": {"id": id}})).await;
    assert_eq!(assigned.status, 201, "{:?}", assigned.body);
    assert_eq!(assigned.body["id"], id.as_str());
    let taken = g.post(&theirs, json!({"device": {"id": id}})).await;
    assert_eq!(taken.status, 400);
    let listed = g.get(&mine).await.body;
    assert_eq!(listed["value"][0]["device"]["serialNumber"], "S-1");
    assert_eq!(listed["value"][0]["device"]["status"], "assigned");
    let activate = format!("{mine}/{id}/activate");
    assert_eq!(g.post(&activate, json!({})).await.status, 400);
    let wrong = g
        .post(&activate, json!({"verificationCode": wrong_code(SEEDS[0])}))
        .await;
    assert_eq!(wrong.status, 400);
    let failed = g.get(&format!("{INVENTORY}/{id}")).await.body;
    assert_eq!(failed["status"], "failedActivation");
    let right = g
        .post(
            &activate,
            json!({"verificationCode": totp(SEEDS[0], 30, false)}),
        )
        .await;
    assert_eq!(right.status, 204, "{:?}", right.body);
    let active = g.get(&format!("{INVENTORY}/{id}")).await.body;
    assert_eq!(active["status"], "activated");
    assert_eq!(active["assignedTo"]["id"], g.state(3)["id"]);
    let deactivated = g.post(&format!("{mine}/{id}/deactivate"), json!({})).await;
    assert_eq!(deactivated.status, 204);
    let inactive = g.get(&format!("{INVENTORY}/{id}")).await.body;
    assert_eq!(inactive["status"], "assigned");
    assert_eq!(inactive["assignedTo"]["id"], g.state(3)["id"]);
    // The v1.0 path does not know the collection.
    let v1 = g
        .get(&g.user_path("v1.0", 3, "/authentication/hardwareOathMethods"))
        .await;
    assert_eq!(v1.status, 400);
    assert_eq!(g.delete(&format!("{mine}/{id}")).await.status, 204);
    let available = g.get(&format!("{INVENTORY}/{id}")).await.body;
    assert_eq!(available["status"], "available");
    assert!(available["assignedTo"].is_null());
    // Assign and activate by serial number, in one call.
    let by_serial = format!("{theirs}/assignAndActivateBySerialNumber");
    let r = g
        .post(
            &by_serial,
            json!({"serialNumber": "S-1", "verificationCode": totp(SEEDS[0], 30, false)}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let held = g.get(&format!("{INVENTORY}/{id}")).await.body;
    assert_eq!(held["assignedTo"]["id"], g.state(4)["id"]);
    assert_eq!(held["status"], "activated");
}
