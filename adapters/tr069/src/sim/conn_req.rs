//! The simulated CPE's connection-request listener (TR-069 Amendment 6, 3.2.2): an HTTP GET
//! authenticated with Digest against `ManagementServer.ConnectionRequestUsername` /
//! `Password`, answered 200 with an empty body, after which the CPE opens a session with
//! `6 CONNECTION REQUEST`; and the UDP variant of Annex G (HMAC-SHA1 signed datagrams).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::Shared;
use crate::digest::{md5_hex, Challenge, DigestAuthorization};
use crate::rpc::inform::event_code;

const REALM: &str = "unidm-sim-cpe";

struct Listener {
    shared: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    nonces: Mutex<HashSet<String>>,
    counter: AtomicU64,
}

/// Serves connection requests until `stop` changes.
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let state = Arc::new(Listener { shared, wake, nonces: Mutex::new(HashSet::new()), counter: AtomicU64::new(0) });
    let router = Router::new().fallback(handle).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await;
    });
}

async fn handle(State(l): State<Arc<Listener>>, headers: HeaderMap) -> Response {
    let (user, pass) = {
        let s = l.shared.lock().unwrap_or_else(|e| e.into_inner());
        let ms = format!("{}ManagementServer.", s.tree.root());
        let get = |n: &str| s.tree.get(&format!("{ms}{n}")).unwrap_or_default().to_owned();
        (get("ConnectionRequestUsername"), get("ConnectionRequestPassword"))
    };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(DigestAuthorization::parse);
    let ok = user.is_empty()
        || given.is_some_and(|a| {
            let known = l.nonces.lock().unwrap_or_else(|e| e.into_inner()).contains(&a.nonce);
            known && a.username == user && a.realm == REALM && a.verify(&pass, "GET")
        });
    if !ok {
        let n = l.counter.fetch_add(1, Ordering::Relaxed);
        let nonce = md5_hex(format!("{n}:{:?}:{:p}", std::time::SystemTime::now(), &*l).as_bytes());
        l.nonces.lock().unwrap_or_else(|e| e.into_inner()).insert(nonce.clone());
        let c = Challenge { realm: REALM.into(), nonce, opaque: None, qop: vec!["auth".into()], algorithm: None };
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&c.to_header()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }
    {
        let mut s = l.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.stats.connection_requests += 1;
        s.add_event(event_code::CONNECTION_REQUEST, "");
    }
    l.wake.notify_one();
    StatusCode::OK.into_response()
}

/// Serves UDP connection requests (Annex G.2.2): a valid signature from the current
/// credentials, an `id` not seen before and a timestamp not older than the last accepted.
pub(crate) fn spawn_udp(
    socket: tokio::net::UdpSocket,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut last: Option<(u64, u32)> = None;
        loop {
            let n = tokio::select! {
                r = socket.recv_from(&mut buf) => match r { Ok((n, _)) => n, Err(_) => continue },
                _ = stop.changed() => break,
            };
            let Some(req) = crate::udp_cr::UdpConnectionRequest::parse(&buf[..n]) else { continue };
            if last.is_some_and(|(ts, id)| id == req.id || req.ts < ts) {
                continue;
            }
            let accepted = {
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                let ms = format!("{}ManagementServer.", s.tree.root());
                let user = s.tree.get(&format!("{ms}ConnectionRequestUsername")).unwrap_or_default().to_owned();
                let pass = s.tree.get(&format!("{ms}ConnectionRequestPassword")).unwrap_or_default().to_owned();
                let ok = req.verify(&user, &pass);
                if ok {
                    s.stats.connection_requests += 1;
                    s.add_event(event_code::CONNECTION_REQUEST, "");
                }
                ok
            };
            if accepted {
                last = Some((req.ts, req.id));
                wake.notify_one();
            }
        }
    });
}
