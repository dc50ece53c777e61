//! Package #0 reaching a simulated client (OMA DM Notification Initiated Session 1.2 §6.2):
//! a notification whose digest verifies, with the server's password and the server nonce this
//! client keeps, and that names this client's server, opens a session (Alert 1200 with the
//! notification's session id).
//!
//! A client alone listens on a UDP socket of its own ([`SimDevice::listen_package0`]). A
//! Package #0 does not name the client it is for (its digest is keyed by the server's
//! password and the client's server nonce, both alike across a simulated fleet), so clients
//! cannot share a UDP address. They share an HTTP listener instead ([`SharedDmHost`]): the
//! server POSTs each client's notification to a URL of its own, `http://<listener>/package0/
//! <DevId>` (unidm: the client's push address, `PUT /api/v1/omadm/clients/{devId}/push`), and
//! the listener finds the client by that path. The host also holds the connections of every
//! client's sessions: a session takes one for itself and gives it back when it ends, so that
//! at most `max_connections` sessions run at once on as many connections, however many wait
//! (one HTTP client for all would open a connection for every request that has to wait and keep
//! it, thousands under a campaign's bursts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::SimDevice;
use crate::codec::Alert;
use crate::package0::Notification;

/// Longest wait for one answer of the DM server (connecting included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a simulated client made of a Package #0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package0 {
    /// Verified: a session opens.
    Accepted,
    /// Not a Package #0 (ignored).
    Unreadable,
    /// The digest does not verify, or another server sent it (counted as rejected).
    Rejected,
}

impl SimDevice {
    /// Takes a Package #0 meant for this client (see the module docs); an accepted one opens
    /// a session in a task of its own.
    pub fn take_package0(&self, bytes: &[u8]) -> Package0 {
        let nonce = self.state().server_nonce.clone();
        let ok = Notification::verify(bytes, &self.config.server_password, &nonce);
        let Ok((note, _)) = Notification::decode(bytes) else { return Package0::Unreadable };
        if !ok || note.server_id != self.config.server_id {
            self.state().rejected_notifications += 1;
            return Package0::Rejected;
        }
        self.state().notifications += 1;
        let me = self.clone();
        tokio::spawn(async move {
            let sid = note.session_id_text();
            if let Err(e) = me.session(Alert::SERVER_INITIATED, Some(sid)).await {
                tracing::info!(error = %e, "simulated DM session after Package #0 failed");
            }
        });
        Package0::Accepted
    }

    /// Listens for Package #0 on `addr` (UDP), for this client alone. Returns the bound
    /// address.
    pub async fn listen_package0(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((n, _)) = socket.recv_from(&mut buf).await else { return };
                me.take_package0(&buf[..n]);
            }
        });
        Ok((local, task))
    }
}

/// A Package #0 listener (HTTP) and an HTTP client shared by simulated clients (see the
/// module docs). Give it to clients through [`super::SimConfig::shared_host`], then
/// [`SharedDmHost::attach`] each.
pub struct SharedDmHost {
    addr: SocketAddr,
    devices: Mutex<HashMap<String, SimDevice>>,
    idle: Mutex<Vec<reqwest::Client>>,
    connections: Semaphore,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for SharedDmHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDmHost").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SharedDmHost {
    /// Binds the Package #0 listener on `addr` and serves it until [`SharedDmHost::stop`];
    /// sessions use at most `max_connections` (at least 1) connections at once.
    pub async fn bind(addr: SocketAddr, max_connections: usize) -> std::io::Result<Arc<SharedDmHost>> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let host = Arc::new(SharedDmHost {
            addr: listener.local_addr()?,
            devices: Mutex::new(HashMap::new()),
            idle: Mutex::new(Vec::new()),
            connections: Semaphore::new(max_connections.max(1)),
            stop: tokio::sync::watch::channel(false).0,
        });
        let router = Router::new().route("/package0/{dev_id}", post(package0)).with_state(host.clone());
        let mut stop = host.stop.subscribe();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await;
        });
        Ok(host)
    }

    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A connection for one whole session.
    pub(super) async fn connection(&self) -> Connection<'_> {
        // The semaphore is never closed.
        let permit = self.connections.acquire().await.ok();
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = idle.unwrap_or_else(|| {
            reqwest::Client::builder().pool_max_idle_per_host(1).timeout(REQUEST_TIMEOUT).build().unwrap_or_default()
        });
        Connection { host: self, client: Some(client), _permit: permit }
    }

    /// The URL of `dev_id`'s Package #0 (its DevId percent-encoded as one path segment).
    pub fn push_url(&self, dev_id: &str) -> String {
        format!("http://{}/package0/{}", self.addr, path_segment(dev_id))
    }

    /// Takes `device`'s Package #0 from now on; its push URL.
    pub fn attach(&self, device: &SimDevice) -> String {
        let dev_id = device.config.dev_id.clone();
        let url = self.push_url(&dev_id);
        self.devices.lock().unwrap_or_else(|e| e.into_inner()).insert(dev_id, device.clone());
        url
    }

    /// Stops taking `dev_id`'s Package #0.
    pub fn detach(&self, dev_id: &str) {
        self.devices.lock().unwrap_or_else(|e| e.into_inner()).remove(dev_id);
    }

    /// Stops the listener and lets go of every client.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.devices.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A connection of the host held by one session; back to the host when dropped, unless
/// [`Connection::discard`]ed.
pub(super) struct Connection<'a> {
    host: &'a SharedDmHost,
    client: Option<reqwest::Client>,
    _permit: Option<SemaphorePermit<'a>>,
}

impl Connection<'_> {
    pub(super) fn client(&self) -> &reqwest::Client {
        // Present until dropped or discarded.
        self.client.as_ref().expect("connection in use")
    }

    /// Drops the connection instead of giving it back (the session broke).
    pub(super) fn discard(mut self) {
        self.client = None;
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            self.host.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
    }
}

/// 200 when the client took the notification, 404 for a DevId not attached, 400 for bytes
/// that are no Package #0, 403 when the digest does not verify.
async fn package0(State(host): State<Arc<SharedDmHost>>, Path(dev_id): Path<String>, body: Bytes) -> StatusCode {
    let device = host.devices.lock().unwrap_or_else(|e| e.into_inner()).get(&dev_id).cloned();
    match device.map(|d| d.take_package0(&body)) {
        None => StatusCode::NOT_FOUND,
        Some(Package0::Accepted) => StatusCode::OK,
        Some(Package0::Unreadable) => StatusCode::BAD_REQUEST,
        Some(Package0::Rejected) => StatusCode::FORBIDDEN,
    }
}

/// `s` as one URL path segment: unreserved characters (RFC 3986 §2.3) as they are, every
/// other byte `%XX`.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    /// Counts the POSTs of a fake DM server and answers each with 500 (the test only looks at
    /// who opened a session).
    async fn fake_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let app = Router::new().fallback(move |body: Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                StatusCode::INTERNAL_SERVER_ERROR
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/dm", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    fn device(host: &Arc<SharedDmHost>, server: &str, dev_id: &str) -> SimDevice {
        let mut c = SimConfig::new(server, dev_id, "dev", "pw");
        c.server_password = "server-secret".into();
        c.shared_host = Some(host.clone());
        SimDevice::new(c)
    }

    async fn push(url: &str, body: Vec<u8>) -> u16 {
        let c = reqwest::Client::new();
        c.post(url)
            .header("content-type", "application/vnd.syncml.notification")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn package0_reaches_the_client_its_path_names() {
        let (server, seen) = fake_server().await;
        let host = SharedDmHost::bind("127.0.0.1:0".parse().unwrap(), 4).await.unwrap();
        let a = device(&host, &server, "IMEI:490154203237518");
        let b = device(&host, &server, "dm b/2");
        let (url_a, url_b) = (host.attach(&a), host.attach(&b));
        assert!(url_a.ends_with("/package0/IMEI%3A490154203237518"), "{url_a}");
        assert!(url_b.ends_with("/package0/dm%20b%2F2"), "{url_b}");

        let good = Notification::new(0x1A2B, "unidm").encode("server-secret", b"").unwrap();
        assert_eq!(push(&url_b, good.clone()).await, 200);
        assert_eq!((a.notifications(), b.notifications()), (0, 1), "only the client the path names");
        // Its session went out to the server with the notification's session id.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let first = seen.lock().unwrap().first().cloned().unwrap_or_default();
        assert!(first.contains("<SessionID>1A2B</SessionID>") && first.contains("dm b/2"), "{first}");
        assert!(first.contains("<Data>1200</Data>"), "server-initiated: {first}");

        // A wrong password, another server, or not a Package #0 at all.
        let forged = Notification::new(7, "unidm").encode("guess", b"").unwrap();
        assert_eq!(push(&url_a, forged).await, 403);
        let other = Notification::new(7, "other-server").encode("server-secret", b"").unwrap();
        assert_eq!(push(&url_a, other).await, 403);
        assert_eq!(push(&url_a, b"hello".to_vec()).await, 400);
        assert_eq!((a.notifications(), a.rejected_notifications()), (0, 2));

        // Unknown clients and other paths: 404.
        let base = format!("http://{}", host.local_addr());
        for path in ["/package0/IMEI%3A000", "/package0/", "/", "/package0/dm%20b%2F2/x"] {
            assert_eq!(push(&format!("{base}{path}"), good.clone()).await, 404, "{path}");
        }
        host.detach("dm b/2");
        assert_eq!(push(&url_b, good).await, 404, "detached");
        host.stop();
    }

    #[tokio::test]
    async fn a_session_holds_its_connection_until_it_ends() {
        let host = SharedDmHost::bind("127.0.0.1:0".parse().unwrap(), 1).await.unwrap();
        let first = host.connection().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), host.connection()).await;
        assert!(waiting.is_err(), "the only connection is taken: the next session waits");
        drop(first);
        host.connection().await.discard();
        assert_eq!(host.idle.lock().unwrap().len(), 0, "a broken session's connection is not reused");
        drop(host.connection().await);
        assert_eq!(host.idle.lock().unwrap().len(), 1);
    }

    #[test]
    fn dev_ids_become_one_path_segment() {
        assert_eq!(path_segment("IMEI:49-01.5_~"), "IMEI%3A49-01.5_~");
        assert_eq!(path_segment("a/b?c#d%é"), "a%2Fb%3Fc%23d%25%C3%A9");
    }
}
