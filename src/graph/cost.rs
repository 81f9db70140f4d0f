//! What a request costs in the resource units of Graph's identity and access throttling, which
//! the executor takes from the run's budget for each `$batch` item. "Microsoft Graph
//! service-specific throttling limits" (learn.microsoft.com/graph/throttling-limits, "Identity
//! and access service limits"): "Any requests not listed have a base cost of 1"; of the paths
//! authbulk reads, `GET users` costs 2, `GET groups/{id}/members` 3 and `GET
//! groups/{id}/transitiveMembers` 5; "Using `$select` decreases cost by 1", "Using `$expand`
//! increases cost by 1", "Using `$top` with a value of less than 20 decreases cost by 1", and
//! "A request cost can never be lower than 1". So a page of 999 users with `$select` costs 1,
//! a page of a group's transitive members 4, and every per-user read and write 1.

use super::Request;

/// The resource units `request` costs (at least 1).
pub fn resource_units(request: &Request) -> u32 {
    if request.is_write() {
        return 1;
    }
    let (path, query) = request
        .url
        .split_once('?')
        .unwrap_or((request.url.as_str(), ""));
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next();
    let third = segments.nth(1);
    let base: i64 = match (first, third, segments.next()) {
        (Some("users"), None, _) => 2,
        (Some("groups"), Some("members"), _) => 3,
        (Some("groups"), Some("transitiveMembers"), _) => 5,
        _ => 1,
    };
    let mut cost = base;
    for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
        match name.to_ascii_lowercase().as_str() {
            "$select" => cost -= 1,
            "$expand" => cost += 1,
            "$top" if value.parse::<u32>().is_ok_and(|top| top < 20) => cost -= 1,
            _ => {}
        }
    }
    u32::try_from(cost.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ApiVersion, requests};

    #[test]
    fn listings_cost_their_base_less_select_and_a_small_top() {
        assert_eq!(resource_units(&requests::list_users(None, 999)), 1);
        assert_eq!(
            resource_units(&requests::list_users(Some("accountEnabled eq true"), 999)),
            1
        );
        assert_eq!(resource_units(&requests::group_members("g", 999)), 4);
        assert_eq!(resource_units(&requests::group_members("g", 1)), 3);
        assert_eq!(resource_units(&requests::groups_named("Pilot")), 1);
        assert_eq!(
            resource_units(&Request::get(ApiVersion::V1, "/users?$top=999")),
            2
        );
        assert_eq!(
            resource_units(&Request::get(
                ApiVersion::V1,
                "/groups/g/members?$expand=manager"
            )),
            4
        );
    }

    #[test]
    fn reads_of_one_user_and_writes_cost_one() {
        assert_eq!(resource_units(&requests::resolve_user("a@x")), 1);
        assert_eq!(resource_units(&requests::read_methods("id", true)), 1);
        let write = Request::post(
            ApiVersion::V1,
            "/users/id/revokeSignInSessions",
            serde_json::json!({}),
        );
        assert_eq!(resource_units(&write), 1);
    }
}
