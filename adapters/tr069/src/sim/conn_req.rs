//! The simulated CPE's connection-request listener (TR-069 Amendment 6, 3.2.2): an HTTP GET
//! authenticated with Digest against `ManagementServer.ConnectionRequestUsername` /
//! `Password`, answered 200 with an empty body, after which the CPE opens a session with
//! `6 CONNECTION REQUEST`; and the UDP variant of Annex G (HMAC-SHA1 signed datagrams).
//!
//! A CPE alone serves its own listener ([`spawn`]); CPEs of a [`super::SharedCpeHost`] share
//! one, which finds the CPE by the request's path and hands it to the same [`CrTarget`]: each
//! CPE keeps its own credentials and the nonces it gave.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::Shared;
use crate::digest::{md5_hex, Challenge, DigestAuthorization};
use crate::rpc::inform::event_code;

const REALM: &str = "unidm-sim-cpe";

/// Nonces a CPE remembers: the ACS answers a challenge at once, so a few are plenty, and a
/// long-running CPE does not grow with every connection request.
const NONCES_KEPT: usize = 8;

/// Makes nonces unique across every CPE of the process.
static NONCE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One CPE as its connection requests see it: its state (credentials in the tree), the
/// wake-up of its session task, and the nonces it gave.
pub(crate) struct CrTarget {
    shared: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    nonces: Mutex<VecDeque<String>>,
}

impl CrTarget {
    pub(crate) fn new(shared: Arc<Mutex<Shared>>, wake: Arc<tokio::sync::Notify>) -> Arc<CrTarget> {
        Arc::new(CrTarget { shared, wake, nonces: Mutex::new(VecDeque::new()) })
    }

    /// Answers one connection request whose request target is `uri` (path and query): 200
    /// and a session when the Digest verifies (or the CPE has no user name set), else 401
    /// with a fresh challenge.
    pub(crate) fn answer(&self, headers: &HeaderMap, uri: &str) -> Response {
        let (user, pass) = {
            let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let ms = format!("{}ManagementServer.", s.tree.root());
            let get = |n: &str| s.tree.get(&format!("{ms}{n}")).unwrap_or_default().to_owned();
            (get("ConnectionRequestUsername"), get("ConnectionRequestPassword"))
        };
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(DigestAuthorization::parse);
        let ok = user.is_empty()
            || given.is_some_and(|a| {
                let known = self.nonces.lock().unwrap_or_else(|e| e.into_inner()).contains(&a.nonce);
                // The digest covers the URI it names: it must be this request's (RFC 7616, 3.4).
                known && a.username == user && a.realm == REALM && a.uri == uri && a.verify(&pass, "GET")
            });
        if !ok {
            return self.challenge();
        }
        {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            s.stats.connection_requests += 1;
            s.add_event(event_code::CONNECTION_REQUEST, "");
        }
        self.wake.notify_one();
        StatusCode::OK.into_response()
    }

    fn challenge(&self) -> Response {
        let n = NONCE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nonce = md5_hex(format!("{n}:{:?}:{:p}", std::time::SystemTime::now(), self).as_bytes());
        {
            let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
            if nonces.len() >= NONCES_KEPT {
                nonces.pop_front();
            }
            nonces.push_back(nonce.clone());
        }
        let c = Challenge { realm: REALM.into(), nonce, opaque: None, qop: vec!["auth".into()], algorithm: None };
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&c.to_header()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// The path and query of a request, as a Digest `uri` names them.
pub(crate) fn request_target(uri: &axum::http::Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// Serves one CPE's connection requests, on any path, until `stop` changes.
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    target: Arc<CrTarget>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let router = Router::new().fallback(handle).with_state(target);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await;
    });
}

async fn handle(State(target): State<Arc<CrTarget>>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    target.answer(&headers, request_target(&uri))
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
