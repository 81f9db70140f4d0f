//! `authbulk login`, `logout` and `auth status` through the binary against the simulator, whose
//! token endpoint plays Microsoft Entra (device code, authorization code with PKCE, rotating
//! refresh tokens) and whose `/_sim/auth/...` plays the admin at the browser. Also: a delegated
//! token without the authentication-method scopes (the Azure CLI's) is refused before any
//! Graph request.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::binary::text;
use authbulk::sim::{SimConfig, SimHandle, upn};
use base64::Engine;
use serde_json::Value;

async fn sim() -> SimHandle {
    authbulk::sim::start(SimConfig {
        users: 10,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

/// The binary with only what a signed-in admin's shell would have: the authority (the
/// simulator), a state directory, and the file store (no keyring daemon here).
fn authbulk(sim: &SimHandle, state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authbulk"));
    command
        .env_clear()
        .env("AZURE_AUTHORITY_HOST", sim.url())
        .env("XDG_STATE_HOME", state)
        .env("AUTHBULK_TOKEN_STORE", "file")
        .env("PATH", "")
        .args(args)
        .stdin(Stdio::null());
    command
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run authbulk"))
        .await
        .expect("join")
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn sim_call(sim: &SimHandle, method: reqwest::Method, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}/_sim/auth/{path}", sim.url()))
        .send()
        .await
        .expect("introspection");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn plan(sim: &SimHandle, query: &str) {
    sim_call(sim, reqwest::Method::POST, &format!("device-plan?{query}")).await;
}

fn record(state: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(state.join("authbulk").join("signin.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn job(dir: &Path) -> String {
    let path = dir.join("job.csv");
    std::fs::write(
        &path,
        format!(
            "user,action,email\n{},set-email,login@example.org\n",
            upn(1)
        ),
    )
    .expect("job");
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_sign_in_is_stored_used_by_runs_refreshed_shown_and_removed_by_logout() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    let admin = upn(2);
    plan(
        &sim,
        &format!(
            "pending=2&interval=0&outcome=approve&upn={}&roles=Authentication%20Administrator",
            enc(&admin)
        ),
    )
    .await;
    let login = output(authbulk(&sim, state.path(), &["login"])).await;
    let stderr = text(&login.stderr);
    assert_eq!(login.status.code(), Some(0), "{stderr}");
    let codes = sim_call(&sim, reqwest::Method::GET, "devicecodes").await;
    let user_code = codes["userCodes"][0].as_str().expect("a user code");
    assert!(
        stderr.contains("https://microsoft.com/devicelogin") && stderr.contains(user_code),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Signed in as {admin}")),
        "{stderr}"
    );
    let polls = sim_call(
        &sim,
        reqwest::Method::GET,
        &format!("devicecodes/{user_code}"),
    )
    .await;
    let answers: Vec<&str> = polls["polls"]
        .as_array()
        .expect("polls")
        .iter()
        .map(|p| p["answer"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        answers,
        ["authorization_pending", "authorization_pending", "ok"]
    );

    let stored = record(state.path()).expect("sign-in stored");
    assert_eq!(stored["user"], admin.as_str());
    assert_eq!(stored["tenant"], sim.tenant_id());
    let first_refresh = stored["refresh_token"]
        .as_str()
        .expect("file store")
        .to_string();
    assert!(!stderr.contains(&first_refresh));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.path().join("authbulk").join("signin.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // auth status: who, why this credential, the scopes and roles, the expiry; no token.
    let status = output(authbulk(
        &sim,
        state.path(),
        &["auth", "status", "--graph-url", sim.url()],
    ))
    .await;
    let stdout = text(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{stdout}{}",
        text(&status.stderr)
    );
    for expected in [
        format!("signed in:     user {admin}"),
        "chosen because no app credential is configured and `authbulk login` stored a sign-in"
            .to_string(),
        "UserAuthenticationMethod.ReadWrite.All".to_string(),
        "admin roles:   Authentication Administrator".to_string(),
        format!("tenant:        {}", sim.tenant_id()),
        "expires:".to_string(),
        "ready:         yes".to_string(),
    ] {
        assert!(stdout.contains(&expected), "{expected:?} not in {stdout}");
    }
    // The access token came from the refresh token, which rotated and was stored again.
    let refreshed = sim_call(&sim, reqwest::Method::GET, "refresh-tokens").await;
    assert_eq!(refreshed["redeemed"], 1);
    let second_refresh = record(state.path()).expect("record")["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(second_refresh, first_refresh);
    assert!(
        !stdout.contains(&second_refresh) && !stdout.contains("eyJ"),
        "{stdout}"
    );

    // A run with no app credential uses the sign-in (and the rotated refresh token).
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r.csv");
    let run = output(authbulk(
        &sim,
        state.path(),
        &[
            "run",
            &job(dir.path()),
            "--graph-url",
            sim.url(),
            "--dry-run",
            "--report",
            report.to_str().expect("utf-8"),
        ],
    ))
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(!text(&run.stderr).contains(&second_refresh));

    // logout removes it; the chain then has nothing.
    let logout = output(authbulk(&sim, state.path(), &["logout"])).await;
    assert_eq!(logout.status.code(), Some(0));
    assert!(
        text(&logout.stderr).contains("Signed out"),
        "{}",
        text(&logout.stderr)
    );
    assert!(record(state.path()).is_none());
    let status = output(authbulk(
        &sim,
        state.path(),
        &["auth", "status", "--graph-url", sim.url()],
    ))
    .await;
    assert_eq!(status.status.code(), Some(2));
    assert!(
        text(&status.stderr).contains("authbulk login"),
        "{}",
        text(&status.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn declined_and_expired_device_codes_exit_2_and_store_nothing() {
    let sim = sim().await;
    for (outcome, says) in [("decline", "declined"), ("expire", "expired")] {
        let state = tempfile::tempdir().expect("tempdir");
        plan(&sim, &format!("pending=1&interval=0&outcome={outcome}")).await;
        let login = output(authbulk(&sim, state.path(), &["login"])).await;
        let stderr = text(&login.stderr);
        assert_eq!(login.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(record(state.path()).is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_down_adds_five_seconds_to_the_polling_interval() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    plan(
        &sim,
        &format!(
            "interval=0&slow_down_at=1&outcome=approve&upn={}",
            enc(&upn(3))
        ),
    )
    .await;
    let login = output(authbulk(&sim, state.path(), &["login"])).await;
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let codes = sim_call(&sim, reqwest::Method::GET, "devicecodes").await;
    let code = codes["userCodes"][0].as_str().expect("code");
    let polls = sim_call(&sim, reqwest::Method::GET, &format!("devicecodes/{code}")).await;
    let polls = polls["polls"].as_array().expect("polls");
    assert_eq!(polls[0]["answer"], "slow_down");
    assert_eq!(polls[1]["answer"], "ok");
    let gap = polls[1]["atMs"].as_u64().unwrap() - polls[0]["atMs"].as_u64().unwrap();
    assert!(gap >= 5000, "polled again after {gap} ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_approves_the_printed_code_and_the_sign_in_completes() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    // No decision planned: the code waits for the approval below.
    plan(&sim, "interval=1").await;
    let mut child = authbulk(&sim, state.path(), &["login"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let first = tokio::task::spawn_blocking(move || (rx.recv().expect("a prompt line"), rx))
        .await
        .expect("join");
    let (line, rx) = first;
    let code = line
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the prompt names the code")
        .to_string();
    sim_call(
        &sim,
        reqwest::Method::POST,
        &format!(
            "devicecodes/{code}/approve?upn={}&roles=Privileged%20Authentication%20Administrator",
            enc(&upn(4))
        ),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .expect("join");
    reader.join().expect("reader");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{rest:?}");
    assert_eq!(
        record(state.path()).expect("stored")["user"],
        upn(4).as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sign_in_redirects_to_the_loopback_listener_with_a_pkce_code() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    sim_call(
        &sim,
        reqwest::Method::POST,
        &format!(
            "browser?outcome=approve&upn={}&roles=Authentication%20Administrator",
            enc(&upn(5))
        ),
    )
    .await;
    let mut child = authbulk(&sim, state.path(), &["login", "--browser"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let (line, rx) = tokio::task::spawn_blocking(move || (rx.recv().expect("a prompt line"), rx))
        .await
        .expect("join");
    let url = line
        .split("open this URL in a browser: ")
        .nth(1)
        .expect("the prompt has the URL")
        .trim()
        .to_string();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    // The "browser": follow the sign-in page's redirect to authbulk's listener.
    let page = reqwest::get(&url).await.expect("browser");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("Signed in to authbulk")
    );
    let status = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .expect("join");
    reader.join().expect("reader");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{rest:?}");
    assert_eq!(
        record(state.path()).expect("stored")["user"],
        upn(5).as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_azure_cli_like_delegated_token_is_refused_before_any_graph_request() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = format!(
        r#"{{"aud":"https://graph.microsoft.com","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","idtyp":"user","scp":"Directory.AccessAsUser.All User.ReadWrite.All Group.ReadWrite.All","upn":"admin@contoso.onmicrosoft.com","tid":"{}","exp":{exp}}}"#,
        sim.tenant_id()
    );
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims)
    );
    let before = sim.counters().http_requests;
    let report = dir.path().join("r.csv");
    let mut command = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            &job(dir.path()),
            "--graph-url",
            sim.url(),
            "--access-token-env",
            "AZ_TOKEN",
            "--yes",
            "--report",
            report.to_str().expect("utf-8"),
        ],
    );
    command.env("AZ_TOKEN", &token);
    let run = output(command).await;
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("UserAuthenticationMethod"), "{stderr}");
    assert!(stderr.contains("authbulk login"), "{stderr}");
    assert!(!stderr.contains(&token));
    assert_eq!(
        sim.counters().http_requests,
        before,
        "no Graph request was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_status_names_an_app_credential_its_roles_and_refuses_a_token_without_method_scopes() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    let mut command = authbulk(
        &sim,
        state.path(),
        &["auth", "status", "--graph-url", sim.url()],
    );
    command
        .env("AZURE_TENANT_ID", sim.tenant_id())
        .env("AZURE_CLIENT_ID", sim.client_id())
        .env("AZURE_CLIENT_SECRET", sim.client_secret());
    let status = output(command).await;
    let stdout = text(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{stdout}{}",
        text(&status.stderr)
    );
    assert!(
        stdout.contains("chosen because AZURE_CLIENT_SECRET is set"),
        "{stdout}"
    );
    assert!(stdout.contains("signed in:     app"), "{stdout}");
    assert!(
        stdout.contains("permissions (roles):")
            && stdout.contains("UserAuthenticationMethod.ReadWrite.All"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(sim.client_secret()) && !stdout.contains("eyJ"),
        "{stdout}"
    );

    // The Azure CLI's kind of token: shown, and not ready.
    let claims = r#"{"appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","idtyp":"user","scp":"User.Read.All Directory.AccessAsUser.All","upn":"admin@contoso.onmicrosoft.com"}"#;
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims)
    );
    let mut command = authbulk(
        &sim,
        state.path(),
        &["auth", "status", "--access-token-env", "AZ_TOKEN"],
    );
    command.env("AZ_TOKEN", &token);
    let status = output(command).await;
    let stdout = text(&status.stdout);
    assert_eq!(status.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("scopes (scp):  Directory.AccessAsUser.All User.Read.All"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ready:         no") && stdout.contains("authbulk login"),
        "{stdout}"
    );
    assert!(!stdout.contains(&token));
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_of_login_and_a_refresh_hold_no_token_code_or_refresh_token() {
    let sim = sim().await;
    let state = tempfile::tempdir().expect("tempdir");
    plan(
        &sim,
        &format!("pending=1&interval=0&outcome=approve&upn={}", enc(&upn(6))),
    )
    .await;
    let mut login = authbulk(&sim, state.path(), &["login", "-vv"]);
    login.env("RUST_LOG", "trace");
    let login = output(login).await;
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let first = record(state.path()).expect("stored")["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    let mut status = authbulk(
        &sim,
        state.path(),
        &["auth", "status", "-vv", "--graph-url", sim.url()],
    );
    status.env("RUST_LOG", "trace");
    let status = output(status).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let second = record(state.path()).expect("stored")["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    for out in [&login.stdout, &login.stderr, &status.stdout, &status.stderr] {
        let out = text(out);
        assert!(
            !out.contains(&first) && !out.contains(&second),
            "a refresh token leaked"
        );
        assert!(!out.contains("eyJ"), "an access token leaked: {out}");
        assert!(!out.contains("device_code="), "the device code leaked");
    }
}
