//! OMA DM clients configured through the HTTP API (`/api/v1/omadm/clients/{devId}`): a
//! provisioned device given its own credentials is admitted with them and no longer with the
//! default account's; a push URL makes the server POST Package #0 there when an operation is
//! queued; a Package #0 built on demand opens a session the server accepts.

mod common;

use std::net::SocketAddr;

use common::{Stack, DM_CLIENT, DM_SERVER_PASSWORD};
use serde_json::json;
use tokio::sync::mpsc;
use unidm_omadm::package0::Notification;
use unidm_omadm::sim::{SimConfig, SimDevice, SimError};

const DEV: &str = "IMEI:350000000000017";
const CLIENT: &str = "/omadm/clients/IMEI:350000000000017";

/// An HTTP server that hands over every body POSTed to `/push`.
async fn push_inbox() -> (String, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let _ = tx.send((kind, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

async fn status(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = s.http.request(method, format!("{}{path}", s.api));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_clients_configured_through_the_api() {
    let s = Stack::start().await;
    use reqwest::Method;

    // Not in the registry yet: 404, saying how to get it there.
    let (code, p) = status(&s, Method::GET, CLIENT, None).await;
    assert_eq!(code, 404, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("provision"), "{p}");
    s.post("/devices", json!({"id": format!("omadm:{DEV}")})).await;
    let c = s.get(CLIENT).await;
    assert_eq!(c, json!({"devId": DEV, "push": null, "credentials": "default", "username": DM_CLIENT.0}));

    // Its own credentials: the default account's no longer get in, its own do.
    let (code, p) =
        status(&s, Method::PUT, &format!("{CLIENT}/credentials"), Some(json!({"username": "", "password": "x"}))).await;
    assert_eq!((code, p["field"].as_str()), (400, Some("username")), "{p}");
    let c = s.put(&format!("{CLIENT}/credentials"), json!({"username": "own", "password": "own-secret"})).await;
    assert_eq!((c["credentials"].as_str(), c["username"].as_str()), (Some("device"), Some("own")));
    assert!(!c.to_string().contains("own-secret"), "the password is never shown: {c}");
    let url = s.omadm.server_url().unwrap();
    let mut with_default = SimConfig::new(url.clone(), DEV, DM_CLIENT.0, DM_CLIENT.1);
    with_default.server_password = DM_SERVER_PASSWORD.into();
    let e = SimDevice::new(with_default).run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(_)), "{e:?}");
    let mut own = SimConfig::new(url, DEV, "own", "own-secret");
    own.server_password = DM_SERVER_PASSWORD.into();
    let dm = SimDevice::new(own);
    dm.run().await.unwrap();
    let id = format!("omadm:{DEV}");
    s.device_when(&id, |d| d["identity"]["manufacturer"].is_string()).await;

    // A push URL: the queued operation's Package #0 is POSTed there; its session runs the Get.
    let (code, p) = status(&s, Method::PUT, &format!("{CLIENT}/push"), Some(json!({"address": "nowhere:12"}))).await;
    assert_eq!((code, p["field"].as_str()), (400, Some("address")), "{p}");
    let (push_url, mut inbox) = push_inbox().await;
    assert_eq!(s.put(&format!("{CLIENT}/push"), json!({"address": push_url})).await["push"], push_url.as_str());
    let op =
        s.post(&format!("{}/native", common::device_path(&id)), json!({"op": "read", "path": "./DevInfo/Mod"})).await;
    let (kind, bytes) = tokio::time::timeout(common::WAIT, inbox.recv()).await.unwrap().unwrap();
    assert_eq!(kind, "application/vnd.syncml.notification");
    let (note, _) = Notification::decode(&bytes).unwrap();
    assert_eq!(note.server_id, "unidm");
    dm.session(1200, Some(note.session_id_text())).await.unwrap();
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");

    // A Package #0 on demand, for a transport unidm does not run: it opens a session.
    assert_eq!(s.http.delete(format!("{}{CLIENT}/push", s.api)).send().await.unwrap().status(), 200);
    let r = s.http.post(format!("{}{CLIENT}/package0", s.api)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.syncml.notification");
    let bytes = r.bytes().await.unwrap();
    let (note, _) = Notification::decode(&bytes).unwrap();
    let before = dm.sessions();
    dm.session(1200, Some(note.session_id_text())).await.unwrap();
    assert_eq!(dm.sessions(), before + 1);

    // Forgetting its credentials brings the default account back.
    let r = s.http.delete(format!("{}{CLIENT}/credentials", s.api)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get(CLIENT).await["credentials"], "default");
}
