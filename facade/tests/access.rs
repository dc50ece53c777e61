//! API access control through the router: tokens with roles (viewer, operator, admin), 401 /
//! 403 as problem+json, tokens created through the API (shown once, stored hashed, surviving a
//! restart), the audit log of mutating calls, and write-only device credentials whose secrets
//! never come back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use unidm::access::{ConfiguredToken, Role};
use unidm::AppOptions;
use unidm_core::{Engine, SqliteStore};
use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};

struct Api {
    router: Router,
    engine: Engine,
}

async fn api(dir: &tempfile::TempDir, tokens: Vec<ConfiguredToken>, lwm2m: Option<Arc<Lwm2mAdapter>>) -> Api {
    let mut b = Engine::builder().store(SqliteStore::open(dir.path().join("t.db")).unwrap());
    if let Some(l) = &lwm2m {
        b = b.adapter_arc(l.clone());
    }
    let engine = b.start().await.unwrap();
    let options = AppOptions { tokens, lwm2m, ..AppOptions::default() };
    let router = unidm::app_with(engine.clone(), options).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 1))));
    Api { router, engine }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::String(text.clone()));
        assert!(status.is_success() || ct == "application/problem+json", "{status} {ct} {text}");
        (status, v, text)
    }
}

fn tokens() -> Vec<ConfiguredToken> {
    vec![
        ConfiguredToken::plain("watcher", Role::Viewer, "t-viewer"),
        ConfiguredToken::plain("noc", Role::Operator, "t-operator"),
        ConfiguredToken::plain("root", Role::Admin, "t-admin"),
    ]
}

#[tokio::test]
async fn every_route_class_needs_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let a = api(&dir, tokens(), None).await;
    let device = json!({"id": "lwm2m:a"});
    // Viewers read; they may not act.
    assert_eq!(a.call(Method::GET, "/api/v1/devices", Some("t-viewer"), None).await.0, StatusCode::OK);
    let (s, v, _) = a.call(Method::POST, "/api/v1/devices", Some("t-viewer"), Some(device.clone())).await;
    assert_eq!((s, v["type"].as_str()), (StatusCode::FORBIDDEN, Some("urn:unidm:problem:forbidden-role")));
    // Operators act, but do not see secrets or manage access.
    assert_eq!(a.call(Method::POST, "/api/v1/devices", Some("t-operator"), Some(device)).await.0, StatusCode::CREATED);
    for uri in ["/api/v1/lwm2m/bootstrap", "/api/v1/tokens", "/api/v1/audit", "/api/v1/devices/lwm2m:a/credentials"] {
        assert_eq!(a.call(Method::GET, uri, Some("t-operator"), None).await.0, StatusCode::FORBIDDEN, "{uri}");
        assert_ne!(a.call(Method::GET, uri, Some("t-admin"), None).await.0, StatusCode::FORBIDDEN, "{uri}");
    }
    // No token or an unknown one: 401 with a challenge.
    assert_eq!(a.call(Method::GET, "/api/v1/devices", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(a.call(Method::GET, "/api/v1/devices", Some("t-nope"), None).await.0, StatusCode::UNAUTHORIZED);
    // The audit log names who did what, refusals included, and never a token.
    let (_, log, text) = a.call(Method::GET, "/api/v1/audit", Some("t-admin"), None).await;
    let items = log["items"].as_array().unwrap();
    assert!(items.iter().any(|e| e["who"] == "noc" && e["method"] == "POST" && e["status"] == 201), "{log}");
    assert!(items.iter().any(|e| e["who"] == "watcher" && e["status"] == 403), "{log}");
    assert!(!text.contains("t-operator") && !text.contains("t-viewer"));
    // A bad query is a problem+json 400 (as every route's).
    let (s, v, _) = a.call(Method::GET, "/api/v1/audit?offset=x", Some("t-admin"), None).await;
    assert_eq!((s, v["type"].as_str()), (StatusCode::BAD_REQUEST, Some("urn:unidm:problem:bad-request")), "{v}");
    a.engine.shutdown().await;
}

#[tokio::test]
async fn tokens_created_through_the_api_are_shown_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = api(&dir, tokens(), None).await;
    let (s, created, _) =
        a.call(Method::POST, "/api/v1/tokens", Some("t-admin"), Some(json!({"name": "ci", "role": "viewer"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 40);
    let (_, list, text) = a.call(Method::GET, "/api/v1/tokens", Some("t-admin"), None).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "ci" && t["role"] == "viewer" && t["source"] == "api"));
    assert!(!text.contains(&token), "listed without the token");
    assert_eq!(a.call(Method::GET, "/api/v1/devices", Some(&token), None).await.0, StatusCode::OK);
    let dup =
        a.call(Method::POST, "/api/v1/tokens", Some("t-admin"), Some(json!({"name": "ci", "role": "admin"}))).await;
    assert_eq!(dup.0, StatusCode::BAD_REQUEST);
    let conf = a.call(Method::DELETE, "/api/v1/tokens/noc", Some("t-admin"), None).await;
    assert_eq!(conf.0, StatusCode::CONFLICT, "a configured token stays");
    // The audit log is written off the request path: wait for it to reach the store.
    for _ in 0..500 {
        let stored = a.engine.load_app_state("api").await.unwrap();
        if stored.iter().filter(|(k, _)| k.starts_with("audit/")).count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    a.engine.shutdown().await;
    drop(a);

    // The store keeps its digest, not the token.
    let db = std::fs::read(dir.path().join("t.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()), "the token is stored hashed");
    let a = api(&dir, tokens(), None).await;
    assert_eq!(a.call(Method::GET, "/api/v1/devices", Some(&token), None).await.0, StatusCode::OK, "kept");
    let (_, log, _) = a.call(Method::GET, "/api/v1/audit", Some("t-admin"), None).await;
    assert!(
        log["items"].as_array().unwrap().iter().any(|e| e["path"] == "/api/v1/tokens"),
        "the audit log is kept: {log}"
    );
    assert_eq!(a.call(Method::DELETE, "/api/v1/tokens/ci", Some("t-admin"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(a.call(Method::GET, "/api/v1/devices", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
    a.engine.shutdown().await;
}

#[tokio::test]
async fn device_credentials_are_write_only() {
    let dir = tempfile::tempdir().unwrap();
    let lwm2m = Arc::new(Lwm2mAdapter::new(Lwm2mConfig::new("127.0.0.1:0".parse().unwrap())));
    let a = api(&dir, tokens(), Some(lwm2m.clone())).await;
    a.call(Method::POST, "/api/v1/devices", Some("t-admin"), Some(json!({"id": "lwm2m:dev-1"}))).await;
    let uri = "/api/v1/devices/lwm2m:dev-1/credentials";
    let body = json!({"psk": {"identity": "id-1", "keyHex": "0011223344556677aabbccddeeff0099"}});
    let (s, v, text) = a.call(Method::PUT, uri, Some("t-admin"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["pskIdentities"], json!(["id-1"]));
    assert!(!text.to_lowercase().contains("aabbccdd"), "no key in the answer: {text}");
    assert_eq!(lwm2m.psk_identities("dev-1"), [b"id-1".to_vec()]);
    let (_, _, text) = a.call(Method::GET, uri, Some("t-admin"), None).await;
    assert!(!text.to_lowercase().contains("aabbccdd"));
    // Bad input names the field; the secret is not echoed.
    let (s, v, text) = a
        .call(Method::PUT, uri, Some("t-admin"), Some(json!({"psk": {"identity": "id-1", "keyHex": "zz-secret"}})))
        .await;
    assert_eq!((s, v["field"].as_str()), (StatusCode::BAD_REQUEST, Some("psk.keyHex")), "{v}");
    assert!(!text.contains("zz-secret"));
    let (s, _, _) = a.call(Method::PUT, uri, Some("t-admin"), Some(json!({"username": "u", "password": "p"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an LwM2M device takes a psk");
    assert_eq!(a.call(Method::PUT, uri, Some("t-operator"), Some(json!({}))).await.0, StatusCode::FORBIDDEN);
    // A raw public key: PEM or base64 DER, shown back as base64 DER (it is public).
    use base64::Engine as _;
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let der = key.public_key_to_der().unwrap();
    let pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    let (s, v, _) = a.call(Method::PUT, uri, Some("t-admin"), Some(json!({"rpk": {"publicKey": pem}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rpkPublicKeys"], json!([base64::engine::general_purpose::STANDARD.encode(&der)]));
    assert_eq!(lwm2m.rpk_keys("dev-1"), [der]);
    for bad in [json!({"publicKey": "%%%"}), json!({"publicKey": "AAAA"})] {
        let (s, v, _) = a.call(Method::PUT, uri, Some("t-admin"), Some(json!({"rpk": bad}))).await;
        assert_eq!((s, v["field"].as_str()), (StatusCode::BAD_REQUEST, Some("rpk.publicKey")), "{v}");
    }
    assert_eq!(a.call(Method::DELETE, uri, Some("t-admin"), None).await.0, StatusCode::NO_CONTENT);
    assert!(lwm2m.psk_identities("dev-1").is_empty());
    assert!(lwm2m.rpk_keys("dev-1").is_empty());
    a.engine.shutdown().await;
}

/// Secrets set through the API and used over DTLS (rightly and wrongly) appear in no log line
/// at any level, in no answer and in no event.
#[tokio::test]
async fn secrets_never_reach_logs_answers_or_events() {
    use unidm_lwm2m::sim::{SimClient, SimConfig};
    let (capture, _guard) = unidm_testkit::logs::capture(tracing::Level::TRACE);

    const KEY: &str = "Sup3r-Secret-Key";
    let dir = tempfile::tempdir().unwrap();
    let mut config = Lwm2mConfig::new("127.0.0.1:0".parse().unwrap());
    config.dtls = Some(unidm_lwm2m::DtlsSettings { listen: "127.0.0.1:0".parse().unwrap(), ..Default::default() });
    let lwm2m = Arc::new(Lwm2mAdapter::new(config));
    let a = api(&dir, tokens(), Some(lwm2m.clone())).await;
    let mut events = a.engine.subscribe();
    a.call(Method::POST, "/api/v1/devices", Some("t-admin"), Some(json!({"id": "lwm2m:dev-9"}))).await;
    let uri = "/api/v1/devices/lwm2m:dev-9/credentials";
    let (_, _, put) =
        a.call(Method::PUT, uri, Some("t-admin"), Some(json!({"psk": {"identity": "id-9", "key": KEY}}))).await;
    let (_, _, bad) =
        a.call(Method::PUT, uri, Some("t-admin"), Some(json!({"psk": {"identity": "", "key": KEY}}))).await;
    let dtls = lwm2m.dtls_addr().unwrap();
    let mut good = SimConfig::new("dev-9", dtls);
    good.psk = Some((b"id-9".to_vec(), KEY.as_bytes().to_vec()));
    let sim = SimClient::start(good).await.unwrap();
    sim.register().await.unwrap();
    let mut wrong = SimConfig::new("dev-9", dtls);
    wrong.psk = Some((b"id-9".to_vec(), b"Wrong-Key-123456".to_vec()));
    let wrong = SimClient::start(wrong).await.unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wrong.register()).await;
    let (_, _, audit) = a.call(Method::GET, "/api/v1/audit", Some("t-admin"), None).await;
    let mut seen_events = String::new();
    while let Ok(Some(e)) = tokio::time::timeout(std::time::Duration::from_millis(50), events.recv()).await {
        seen_events.push_str(&format!("{e:?}"));
    }
    a.engine.shutdown().await;

    let logs = capture.text();
    assert!(logs.contains("LwM2M server listening on DTLS"), "the capture works: {}", &logs[..logs.len().min(2000)]);
    let hex: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
    for secret in [KEY, hex.as_str(), "t-admin", "Wrong-Key-123456"] {
        for (what, text) in [("logs", &logs), ("answers", &format!("{put}{bad}{audit}")), ("events", &seen_events)] {
            assert!(!text.contains(secret), "`{secret}` appears in the {what}");
        }
    }
}

/// TR-069 credentials through the API: the CPE's account and connection-request credentials,
/// shown without their passwords.
#[tokio::test]
async fn tr069_credentials_through_the_api() {
    use unidm_tr069::{CpeAuth, Tr069Adapter, Tr069Config};
    let dir = tempfile::tempdir().unwrap();
    let acs = Arc::new(Tr069Adapter::new(Tr069Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cpe_auth: CpeAuth::Digest { users: Default::default() },
        ..Tr069Config::default()
    }));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("t.db")).unwrap())
        .adapter_arc(acs.clone())
        .start()
        .await
        .unwrap();
    let options = AppOptions { tokens: tokens(), tr069: Some(acs.clone()), ..AppOptions::default() };
    let router = unidm::app_with(engine.clone(), options).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 1))));
    let a = Api { router, engine };
    let id = "tr069:00D09E-SimGW-cpe1";
    a.call(Method::POST, "/api/v1/devices", Some("t-admin"), Some(json!({"id": id}))).await;
    let uri = format!("/api/v1/devices/{id}/credentials");
    let body = json!({"username": "cpe-user", "password": "Cpe-Secret-77", "connectionRequest": {"username": "cr", "password": "Cr-Secret-88"}});
    let (s, v, text) = a.call(Method::PUT, &uri, Some("t-admin"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["username"].as_str(), v["connectionRequestPending"].as_bool()), (Some("cpe-user"), Some(true)));
    assert!(!text.contains("Cpe-Secret-77") && !text.contains("Cr-Secret-88"), "{text}");
    let (s, v, _) = a.call(Method::PUT, &uri, Some("t-admin"), Some(json!({"username": "only-user"}))).await;
    assert_eq!((s, v["field"].as_str()), (StatusCode::BAD_REQUEST, Some("username")));
    assert_eq!(a.call(Method::DELETE, &uri, Some("t-admin"), None).await.0, StatusCode::NO_CONTENT);
    let (_, v, _) = a.call(Method::GET, &uri, Some("t-admin"), None).await;
    assert!(v.get("username").is_none(), "{v}");
    a.engine.shutdown().await;
}
