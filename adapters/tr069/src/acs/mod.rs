//! The CWMP ACS as a unidm adapter: an HTTP endpoint (axum) that runs one [`AcsSession`] per
//! CPE, turns operations into RPCs ([`crate::ops`]), and wakes idle CPEs with connection
//! requests (TR-069 Amendment 6, 3.2.2).
//!
//! Start it by handing [`Tr069Adapter`] to the engine; [`Tr069Adapter::local_addr`] tells
//! where it listens once the engine has started it.
//!
//! What is the engine's and what is the ACS's:
//! - The engine's [`Delivery`] carries user operations: the per-device queue, duplicate
//!   suppression (an id submitted twice, an operation handed back after a restart), the
//!   request sent and not yet answered, and the durable waits. The ACS takes the next operation
//!   with [`Delivery::next`] when a session has room, gives back one queued in a session but
//!   never sent ([`Delivery::requeue`]), reports one left unanswered as a failed attempt
//!   ([`Delivery::unanswered`]) and parks one the CPE accepted on a wait keyed by the CommandKey
//!   it will send back ([`Delivery::park`], see `waits`). `cancel` forgets it there.
//! - The device record (data model, connection-request URL and credentials, observed paths,
//!   partial-path learning) lives in the device's own row: `device_contact_with_record` when an
//!   Inform changed it, `set_device_record` otherwise, `device_records` at start.
//! - A periodic Inform that tells nothing new goes through `device_seen` (no write, no event).
//! - Session timeouts, the session sweeper and Digest nonce ages run on the engine clock
//!   (`AdapterHandle::monotonic`, `sleep`).
//! - What stays the ACS's is protocol: sessions and their one request at a time, planning RPCs
//!   from operations ([`crate::ops`]), connection requests, the ACS's own upkeep requests
//!   (credentials, snapshot, discovery, topology; tried three times per device, always after
//!   user operations), partial-path expansion, and which CPE message ends which wait.
//!
//! Behaviour worth knowing:
//! - A session is keyed by the cookie `session` set with the InformResponse, falling back to
//!   the TCP connection for CPEs that ignore cookies (dropped once the CPE returns the cookie).
//!   With [`Tr069Config::user_devices`] a user's credentials only open sessions for its own
//!   device. A new Inform from a device that still has a session ends the old one.
//! - Operations for a device wait in the delivery's queue until its next session; each session
//!   carries one request at a time, user operations before the ACS's own upkeep. Submitting an operation
//!   for a device that has no session sends a connection request: HTTP GET to its
//!   `ConnectionRequestURL` with Digest (Basic when the CPE asks for it), header names in
//!   canonical title case (`Authorization: Digest ...`: some CPE agents match those bytes),
//!   and when that fails, the UDP datagram of Annex G to its `UDPConnectionRequestAddress`. A
//!   failed connection request is not an error: the operation waits for the next periodic
//!   Inform (or its deadline). A CPE that answers 401 to the authenticated request is logged
//!   at `warn` with its challenge (never the password).
//! - A request the CPE never answers (the session timed out after
//!   [`Tr069Config::session_timeout`], broke, or a new Inform superseded it) is a failed
//!   attempt of the operation that sent it: `operation_failed` with
//!   [`ErrorKind::Timeout`] naming the RPC; the engine retries
//!   it per its retry policy and fails it after its attempts, and the queue moves on. A request
//!   queued in a session but never sent is not an attempt (it goes to the next session). The
//!   ACS's own upkeep requests are tried three times per device, then dropped with a warning.
//! - Partial paths are learned per CPE: when a CPE faults (other than 9005) on, or leaves
//!   unanswered, a GetParameterValues naming a partial path, every later partial-path read of
//!   that CPE (a user's `native` read, refresh, diagnostics results, topology) lists the path
//!   with GetParameterNames (NextLevel false) and reads the full names; the device record
//!   remembers it across restarts.
//! - Bodies may be gzip / deflate encoded; more than [`Tr069Config::max_sessions`] open
//!   sessions get 503 with `Retry-After: 60`.
//! - Reboot succeeds when the CPE comes back with `1 BOOT` + `M Reboot` carrying the
//!   operation id as CommandKey; firmware when the TransferComplete with that CommandKey
//!   reports FaultCode 0 (or at once on DownloadResponse Status 0); ping when the results
//!   read after `8 DIAGNOSTICS COMPLETE` show `Complete`. An operation waiting for such a later
//!   event shows state `waiting` with `waitingFor` ("waiting for TransferComplete", ...); its
//!   wait is stored with that commit, so after a restart of unidm it waits again and its
//!   request is not sent twice.
//! - The firmware snapshot moves only through `FirmwareStatus::advance`: Download sent ->
//!   downloading; DownloadResponse Status 0 or TransferComplete FaultCode 0 -> downloaded ->
//!   updating -> succeeded (with the version asked for, else the one the CPE reports); a fault
//!   -> failed with the CWMP fault code. A move the state machine refuses is logged and the
//!   snapshot kept.
//! - On `0 BOOTSTRAP` (or when none are known) the ACS sets fresh connection-request
//!   credentials with SetParameterValues of `ManagementServer.ConnectionRequestUsername` /
//!   `Password` and keeps them in the device record. After a boot (or on first contact since the
//!   adapter started) it reads the device snapshot (one GetParameterValues of full names:
//!   `DeviceInfo.` identity, `MemoryStatus`, firmware version, an IP address; on a fault once
//!   more with the names every CPE has), probes the root's first level (software modules
//!   present?) and reads `ManagementServer.ManageableDevice.` for the devices behind a
//!   gateway (`set_children`). A periodic Inform with nothing new costs no request and no
//!   write.
//! - Session cookies, Digest nonces, cnonces, UDP connection-request ids and the
//!   connection-request credentials set on CPEs come from the OS random source (`getrandom`).
//! - Optional file server ([`Tr069Config::files`]): firmware images with single byte ranges,
//!   and the target of Upload (PUT / POST).
//!
//! [`AcsSession`]: crate::session::AcsSession
//! [`Delivery`]: unidm_core::Delivery
//! [`Delivery::next`]: unidm_core::Delivery::next
//! [`Delivery::requeue`]: unidm_core::Delivery::requeue
//! [`Delivery::unanswered`]: unidm_core::Delivery::unanswered
//! [`Delivery::park`]: unidm_core::Delivery::park

mod completion;
mod conn_req;
pub mod credentials;
mod driver;
mod files;
mod firmware;
mod http;
mod inform;
mod partial_paths;
mod secret;
mod snapshot;
mod state;
mod upkeep;
mod waits;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use unidm_core::{Adapter, AdapterError, AdapterHandle, Delivery, DeliveryConfig, Submitted};
use unidm_models::{ErrorKind, Operation, OperationError, OperationId, Protocol};

pub use files::{FileServerConfig, FILES_PREFIX};
use state::State;

/// How the ACS authenticates CPEs (TR-069 Amendment 6, 3.4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CpeAuth {
    /// No authentication.
    #[default]
    None,
    /// HTTP Basic; `users` maps each CPE's user name to its password.
    Basic {
        /// Per-device credentials: user name -> password.
        users: BTreeMap<String, String>,
    },
    /// HTTP Digest (MD5, `qop=auth`); `users` maps each CPE's user name to its password.
    Digest {
        /// Per-device credentials: user name -> password.
        users: BTreeMap<String, String>,
    },
}

/// Settings of the ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tr069Config {
    /// Where the ACS listens (default `0.0.0.0:7547`; tests use `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// The ACS URL path (default `/`).
    pub path: String,
    /// HTTPS with this certificate and key, and optionally the CAs of CPE client
    /// certificates (default none: plain HTTP).
    pub tls: Option<unidm_core::tls::TlsFiles>,
    /// Largest accepted envelope in bytes (default 1 MiB); larger bodies get HTTP 413.
    pub max_envelope: usize,
    /// Session inactivity timeout (default 30 s; a CWMP 1.3+ CPE may propose its own). A request
    /// still unanswered when it passes is a failed attempt of its operation.
    pub session_timeout: Duration,
    /// Most sessions open at once; a new one beyond gets HTTP 503 with `Retry-After: 60`
    /// (default 10 000).
    pub max_sessions: usize,
    /// Whether an Inform from a device the registry does not know creates it (default true);
    /// when false such CPEs get HTTP 403.
    pub accept_unknown_devices: bool,
    /// How CPEs are authenticated (default none).
    pub cpe_auth: CpeAuth,
    /// Credentials tied to a device: user name -> the device's SerialNumber or unidm device id
    /// (`tr069:OUI-ProductClass-Serial`). A user listed here may only open sessions whose Inform
    /// names that device (else HTTP 403), so one leaked CPE password cannot impersonate
    /// another CPE; users not listed may inform as any device (default: empty).
    pub user_devices: BTreeMap<String, String>,
    /// Realm of the Digest / Basic challenge (default `unidm`).
    pub realm: String,
    /// Whether to send connection requests (default true).
    pub connection_requests: bool,
    /// Timeout of one connection request (default 5 s).
    pub connection_request_timeout: Duration,
    /// How many times a connection request that fails is sent in all (default 3), as long as
    /// the device has work queued and no session; then the work waits for its next Inform.
    pub connection_request_attempts: u32,
    /// The wait before a failed connection request is sent again, doubled each time
    /// (default 5 s).
    pub connection_request_backoff: Duration,
    /// Whether to set connection-request credentials on bootstrap (default true).
    pub provision_connection_request_credentials: bool,
    /// Serve firmware / configuration files (and take uploads) under [`FILES_PREFIX`] on the
    /// ACS port (default off).
    pub files: Option<FileServerConfig>,
    /// How long an operation the CPE accepted may wait for its completion (TransferComplete,
    /// DUStateChangeComplete, `8 DIAGNOSTICS COMPLETE`, the reboot's `1 BOOT`) before it fails
    /// as stalled, naming what it waited for (default none: the operation's own deadline).
    pub wait_stall: Option<Duration>,
}

impl Tr069Config {
    /// `https` when the ACS serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

impl Default for Tr069Config {
    fn default() -> Self {
        Tr069Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 7547)),
            path: "/".into(),
            max_envelope: 1024 * 1024,
            session_timeout: Duration::from_secs(30),
            max_sessions: 10_000,
            accept_unknown_devices: true,
            cpe_auth: CpeAuth::None,
            user_devices: BTreeMap::new(),
            realm: "unidm".into(),
            connection_requests: true,
            connection_request_timeout: Duration::from_secs(5),
            connection_request_attempts: 3,
            connection_request_backoff: Duration::from_secs(5),
            provision_connection_request_credentials: true,
            tls: None,
            files: None,
            wait_stall: None,
        }
    }
}

/// The shared inside of the adapter: configuration, engine handle and the per-device state.
pub(crate) struct Acs {
    config: Tr069Config,
    handle: OnceLock<AdapterHandle>,
    /// User operations: queued, sent, parked on a wait (the engine's delivery layer).
    delivery: OnceLock<Arc<Delivery>>,
    /// The engine clock's monotonic reading when the adapter started.
    started: OnceLock<Duration>,
    state: Mutex<State>,
    local_addr: OnceLock<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
    /// The HTTP server's task: a shutdown waits for it, so that the address is free after.
    server_task: unidm_core::tls::ServerTask,
    /// The client of connection requests.
    http: reqwest::Client,
    /// Connection requests under way, at most [`conn_req::MAX_IN_FLIGHT`].
    cr_slots: tokio::sync::Semaphore,
    session_config: OnceLock<crate::session::SessionConfig>,
}

impl Acs {
    /// Locks the state; a poisoned lock is taken over (the state stays consistent per call).
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `device` has work for a session: upkeep or user operations queued.
    pub(crate) fn has_work(&self, st: &State, device: &unidm_models::DeviceId) -> bool {
        st.upkeep.get(device).is_some_and(|q| !q.is_empty())
            || self.delivery.get().is_some_and(|d| d.has_queued(device))
    }
}

/// The TR-069 adapter: a CWMP ACS for the unidm engine.
pub struct Tr069Adapter {
    inner: Arc<Acs>,
}

impl std::fmt::Debug for Tr069Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tr069Adapter").field("local_addr", &self.local_addr()).finish_non_exhaustive()
    }
}

impl Tr069Adapter {
    /// An adapter with these settings; it listens once the engine starts it.
    pub fn new(config: Tr069Config) -> Self {
        let (stop, _) = tokio::sync::watch::channel(false);
        let http = conn_req::client(config.connection_request_timeout);
        Tr069Adapter {
            inner: Arc::new(Acs {
                config,
                handle: OnceLock::new(),
                delivery: OnceLock::new(),
                started: OnceLock::new(),
                state: Mutex::new(State::default()),
                local_addr: OnceLock::new(),
                stop,
                server_task: Default::default(),
                http,
                cr_slots: tokio::sync::Semaphore::new(conn_req::MAX_IN_FLIGHT),
                session_config: OnceLock::new(),
            }),
        }
    }

    /// The address the ACS listens on, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr.get().copied()
    }

    /// The ACS URL CPEs should use (`http://<local addr><path>`), once started.
    pub fn acs_url(&self) -> Option<String> {
        self.local_addr().map(|a| format!("{}://{a}{}", self.inner.config.scheme(), self.inner.config.path))
    }

    /// The URL of a file served by the file server (`http://<local addr>/files/<name>`), once
    /// started and when [`Tr069Config::files`] is set.
    pub fn file_url(&self, name: &str) -> Option<String> {
        self.inner.config.files.as_ref()?;
        self.local_addr().map(|a| format!("{}://{a}{FILES_PREFIX}{name}", self.inner.config.scheme()))
    }

    /// How many CWMP sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.inner.state().sessions.len()
    }
}

#[async_trait]
impl Adapter for Tr069Adapter {
    fn protocol(&self) -> Protocol {
        Protocol::Tr069
    }

    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        let acs = &self.inner;
        let records = handle.device_records().await.map_err(|e| AdapterError(e.to_string()))?;
        acs.state().load(records);
        let delivery = Arc::new(Delivery::new(handle.clone(), DeliveryConfig::default()));
        acs.delivery.set(delivery).map_err(|_| AdapterError("started twice".into()))?;
        let _ = acs.started.set(handle.monotonic());
        acs.handle.set(handle.clone()).map_err(|_| AdapterError("started twice".into()))?;
        let tls = match &acs.config.tls {
            Some(files) => {
                Some(unidm_core::tls::server_config(files, &[b"http/1.1"]).map_err(|e| AdapterError(e.to_string()))?)
            }
            None => None,
        };
        let listener =
            tokio::net::TcpListener::bind(acs.config.listen).await.map_err(|e| AdapterError(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| AdapterError(e.to_string()))?;
        let _ = acs.local_addr.set(addr);
        tracing::info!(%addr, path = %acs.config.path, "CWMP ACS listening");
        http::spawn_server(acs.clone(), listener, tls);
        driver::spawn_sweeper(acs.clone(), handle.clone());
        Ok(())
    }

    async fn submit(&self, op: Operation) -> Result<(), OperationError> {
        let Some(delivery) = self.inner.delivery.get() else {
            return Err(OperationError::new(ErrorKind::Transport, "the ACS has not started"));
        };
        let (id, device) = (op.id, op.device.clone());
        match delivery.submit(op).await? {
            Submitted::Queued => {
                if !self.inner.state().active.contains_key(&device) {
                    conn_req::connection_request(&self.inner, &device);
                }
            }
            // Parked before a restart (the engine handed it back with its wait): nothing is sent;
            // it shows as waiting again (the engine resumed it as dispatched).
            Submitted::Resumed(_) => {
                let waiting_for = delivery.wait_of(id).map(|w| w.waiting_for);
                if let (Some(h), Some(waiting_for)) = (self.inner.handle.get(), waiting_for) {
                    if let Err(e) = h.operation_waiting(id, waiting_for, None).await {
                        tracing::debug!(operation = %id, error = %e, "resumed wait not shown");
                    }
                }
                // Its completion may have come between the ACS's start and the engine's
                // handing it back.
                self.inner.replay_unclaimed(&device).await;
            }
            Submitted::Duplicate => {}
        }
        Ok(())
    }

    async fn cancel(&self, op: OperationId, device: &unidm_models::DeviceId) {
        if let Some(delivery) = self.inner.delivery.get() {
            delivery.forget_on(op, device);
        }
        self.inner.state().results_due.remove(&op);
    }

    async fn shutdown(&self) {
        // No receiver left means everything already stopped.
        let _ = self.inner.stop.send(true);
        self.inner.server_task.stopped().await;
    }
}
