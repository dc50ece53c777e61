//! Many simulated CPEs on one connection-request listener and one pool of connections to the
//! ACS, so that a fleet of 100,000 fits in one process (a listener and a connection per CPE
//! stop near 28,000: the ephemeral ports run out).
//!
//! - Connection requests (TR-069 Amendment 6, 3.2.2): each CPE announces
//!   `http://<listener>/cr/<index>` as its `ConnectionRequestURL`; the listener finds the CPE
//!   by that path (404 for any other) and the CPE answers as it would alone: its own
//!   credentials, its own Digest nonces (401 until the digest verifies).
//! - Sessions (3.4.1, 3.7.1): a CWMP session is one HTTP connection for its whole length, and
//!   an ACS may tell sessions apart by connection (unidm's keeps a session by its cookie, but by
//!   the connection until the cookie comes back). So a session takes a connection of the pool
//!   for itself, from the Inform to the ACS's 204, and gives it back after: the next session on
//!   it, of another CPE, begins only once this one has ended. At most `max_connections`
//!   sessions run at once; more wait for a connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::conn_req::{request_target, CrTarget};

/// Longest wait for one answer of the ACS (connecting included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection-request listener and a pool of ACS connections shared by simulated CPEs (see
/// the module docs). Give it to CPEs through [`super::SimConfig::shared_host`].
pub struct SharedCpeHost {
    addr: SocketAddr,
    /// CPEs by index; `None` once stopped.
    targets: Mutex<Vec<Option<Arc<CrTarget>>>>,
    idle: Mutex<Vec<reqwest::Client>>,
    connections: Semaphore,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for SharedCpeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCpeHost").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SharedCpeHost {
    /// Binds the connection-request listener on `addr` and serves it until
    /// [`SharedCpeHost::stop`]; sessions use at most `max_connections` (at least 1)
    /// connections at once.
    pub async fn bind(addr: SocketAddr, max_connections: usize) -> std::io::Result<Arc<SharedCpeHost>> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let host = Arc::new(SharedCpeHost {
            addr: listener.local_addr()?,
            targets: Mutex::new(Vec::new()),
            idle: Mutex::new(Vec::new()),
            connections: Semaphore::new(max_connections.max(1)),
            stop: tokio::sync::watch::channel(false).0,
        });
        let router = Router::new().route("/cr/{index}", get(connection_request)).fallback(not_found);
        let router = router.with_state(host.clone());
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

    /// The `ConnectionRequestURL` of the CPE at `index`.
    pub fn connection_request_url(&self, index: u32) -> String {
        format!("http://{}/cr/{index}", self.addr)
    }

    /// CPEs attached so far (stopped ones included).
    pub fn attached(&self) -> usize {
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops the listener; the CPEs' sessions already begun end as they would.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(crate) fn attach(&self, target: Arc<CrTarget>) -> u32 {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.push(Some(target));
        (targets.len() - 1) as u32
    }

    pub(crate) fn detach(&self, index: u32) {
        if let Some(t) = self.targets.lock().unwrap_or_else(|e| e.into_inner()).get_mut(index as usize) {
            *t = None;
        }
    }

    fn target(&self, index: &str) -> Option<Arc<CrTarget>> {
        // Only the canonical decimal form: `/cr/007` is not `/cr/7`.
        let i: usize = index.parse().ok().filter(|i: &usize| i.to_string() == index)?;
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).get(i).cloned().flatten()
    }

    /// A connection to the ACS for one whole session (see the module docs).
    pub(crate) async fn connection(&self) -> Connection<'_> {
        // The semaphore is never closed.
        let permit = self.connections.acquire().await.ok();
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = idle.unwrap_or_else(|| {
            reqwest::Client::builder().pool_max_idle_per_host(1).timeout(REQUEST_TIMEOUT).build().unwrap_or_default()
        });
        Connection { host: self, client: Some(client), _permit: permit }
    }
}

/// A connection of the pool held by one session; back to the pool when dropped, unless
/// [`Connection::discard`]ed.
pub(crate) struct Connection<'a> {
    host: &'a SharedCpeHost,
    client: Option<reqwest::Client>,
    _permit: Option<SemaphorePermit<'a>>,
}

impl Connection<'_> {
    pub(crate) fn client(&self) -> &reqwest::Client {
        // Present until dropped or discarded.
        self.client.as_ref().expect("connection in use")
    }

    /// Drops the connection instead of giving it back (the session broke: the ACS may still
    /// hold it as that session's).
    pub(crate) fn discard(mut self) {
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

async fn connection_request(
    State(host): State<Arc<SharedCpeHost>>,
    Path(index): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    match host.target(&index) {
        Some(t) => t.answer(&headers, request_target(&uri)),
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::digest::Challenge;
    use crate::sim::{ParameterTree, SimConfig, SimCpe};

    const USER: &str = "Device.ManagementServer.ConnectionRequestUsername";
    const PASS: &str = "Device.ManagementServer.ConnectionRequestPassword";

    /// A CPE of `host` whose ACS is not there (its sessions fail and are retried: the test
    /// only looks at connection requests).
    async fn cpe(host: &Arc<SharedCpeHost>, serial: &str, creds: (&str, &str)) -> SimCpe {
        let config = SimConfig {
            shared_host: Some(host.clone()),
            ..SimConfig::new("http://127.0.0.1:9/", ParameterTree::tr181("00D09E", "Sim", serial))
        };
        let cpe = SimCpe::start(config).await.unwrap();
        assert!(cpe.set_local(USER, creds.0) && cpe.set_local(PASS, creds.1));
        cpe
    }

    /// GET `url`, answering a 401's challenge with `creds`; the final status.
    async fn request(url: &str, creds: (&str, &str)) -> u16 {
        let c = reqwest::Client::new();
        let first = c.get(url).send().await.unwrap();
        if first.status() != 401 {
            return first.status().as_u16();
        }
        let challenge = first.headers()[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        let path = reqwest::Url::parse(url).unwrap().path().to_owned();
        let auth = Challenge::parse(&challenge).unwrap().respond(creds.0, creds.1, "GET", &path, "cn0nce", 1);
        c.get(url).header(reqwest::header::AUTHORIZATION, auth).send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn connection_requests_reach_the_cpe_their_path_names() {
        let host = SharedCpeHost::bind("127.0.0.1:0".parse().unwrap(), 4).await.unwrap();
        let a = cpe(&host, "A1", ("cr-a", "secret-a")).await;
        let b = cpe(&host, "B2", ("cr-b", "secret-b")).await;
        let (url_a, url_b) = (a.connection_request_url(), b.connection_request_url());
        assert_eq!(url_a, host.connection_request_url(0));
        assert_eq!(url_b, host.connection_request_url(1));
        assert_eq!(a.get("Device.ManagementServer.ConnectionRequestURL").as_deref(), Some(url_a.as_str()));

        assert_eq!(request(&url_a, ("cr-a", "secret-a")).await, 200, "right CPE, right digest");
        assert_eq!(a.stats().connection_requests, 1);
        assert_eq!(b.stats().connection_requests, 0, "only the CPE the path names is woken");

        // A's credentials on B's path, or a wrong password: 401.
        assert_eq!(request(&url_b, ("cr-a", "secret-a")).await, 401);
        assert_eq!(request(&url_b, ("cr-b", "wrong")).await, 401);
        assert_eq!(b.stats().connection_requests, 0);
        assert_eq!(request(&url_b, ("cr-b", "secret-b")).await, 200);
        assert_eq!(b.stats().connection_requests, 1);

        // Unknown and malformed paths: 404, before any challenge.
        let base = format!("http://{}", host.local_addr());
        for path in ["/cr/2", "/cr/01", "/cr/x", "/cr/", "/", "/cr/0/more"] {
            assert_eq!(request(&format!("{base}{path}"), ("cr-a", "secret-a")).await, 404, "{path}");
        }
        // A stopped CPE is no longer reachable.
        a.stop();
        assert_eq!(request(&url_a, ("cr-a", "secret-a")).await, 404);
        b.stop();
        host.stop();
    }

    #[tokio::test]
    async fn a_digest_is_bound_to_its_cpe_and_nonce() {
        let host = SharedCpeHost::bind("127.0.0.1:0".parse().unwrap(), 1).await.unwrap();
        let a = cpe(&host, "A1", ("same", "pw")).await;
        let b = cpe(&host, "B2", ("same", "pw")).await;
        let c = reqwest::Client::new();
        let first = c.get(a.connection_request_url()).send().await.unwrap();
        assert_eq!(first.status(), 401);
        let challenge = first.headers()[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        let auth = Challenge::parse(&challenge).unwrap().respond("same", "pw", "GET", "/cr/0", "cn0nce", 1);
        // A's nonce means nothing to B, even with the same credentials (and the right path).
        let auth_b = Challenge::parse(&challenge).unwrap().respond("same", "pw", "GET", "/cr/1", "cn0nce", 1);
        let to_b = c.get(b.connection_request_url()).header(reqwest::header::AUTHORIZATION, auth_b).send().await;
        assert_eq!(to_b.unwrap().status(), 401);
        // A digest computed for another URI is refused too.
        let other = Challenge::parse(&challenge).unwrap().respond("same", "pw", "GET", "/cr/1", "cn0nce", 2);
        let to_a = c.get(a.connection_request_url()).header(reqwest::header::AUTHORIZATION, other).send().await;
        assert_eq!(to_a.unwrap().status(), 401);
        let to_a = c.get(a.connection_request_url()).header(reqwest::header::AUTHORIZATION, auth).send().await;
        assert_eq!(to_a.unwrap().status(), 200);
        assert!(a.wait_for(Duration::from_secs(1), |s| s.connection_requests == 1).await);
        assert_eq!(b.stats().connection_requests, 0);
        a.stop();
        b.stop();
    }

    #[tokio::test]
    async fn a_session_holds_its_connection_until_it_ends() {
        let host = SharedCpeHost::bind("127.0.0.1:0".parse().unwrap(), 1).await.unwrap();
        let first = host.connection().await;
        // The only connection is taken: the next session waits for it.
        let waiting = tokio::time::timeout(Duration::from_millis(50), host.connection()).await;
        assert!(waiting.is_err());
        drop(first);
        let again = host.connection().await;
        assert_eq!(host.idle.lock().unwrap().len(), 0, "the idle connection was taken again");
        again.discard();
        assert_eq!(host.idle.lock().unwrap().len(), 0, "a broken session's connection is not reused");
        let fresh = host.connection().await;
        drop(fresh);
        assert_eq!(host.idle.lock().unwrap().len(), 1);
    }
}
