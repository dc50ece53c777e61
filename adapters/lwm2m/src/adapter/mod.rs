//! [`Lwm2mAdapter`]: the LwM2M server as a unidm adapter (`unidm_core::Adapter`).
//!
//! A thin tokio shell (module `shell`) owns the UDP socket and drives the sans-I/O
//! [`crate::server::Server`]; event pumps report registrations, expiries and observations to
//! the engine and store each registration with its device in one commit before the client
//! gets its 2.01, so that a restart loses no registered device.
//!
//! # What the engine holds, what the adapter holds
//! The engine's delivery layer (`unidm_core::Delivery`, one per adapter, made in `start`)
//! holds every submitted operation until it ends: an id it holds already (the engine hands
//! unfinished operations back after a restart) is refused there, so an operation runs once.
//! An operation for an endpoint that is not registered (or an end device whose gateway is not)
//! stays queued in it, shown `waiting` with `waitingFor` [`WAITING_FOR_REGISTRATION`]; the
//! endpoint's Register or Update (or its gateway listing it) starts exactly its queued
//! operations, in order, and wakes nothing else; when no operation is queued at all, a
//! registration costs one atomic load more, and one lookup when some are. `cancel` forgets the operation there and stops its task. A
//! request whose CoAP retransmissions (RFC 7252 §4.2) run out fails the attempt with a
//! retryable `Timeout` naming the request; the engine's retry comes back through `submit`.
//!
//! The adapter keeps what is LwM2M: each started operation runs as a task (module
//! `dispatch`) that talks to the device through the shell; a request for a registered
//! queue-mode client that sleeps waits in the server's own queue until the client is next
//! heard from (TS Core 1.1 §6.5), since only the server knows when it is awake; an operation
//! submitted while its device is marked asleep is shown `waiting` with [`WAITING_FOR_WAKE`] until
//! its first progress or its end; procedures
//! already running wait for notifications routed by device and path and for a new
//! registration through per-endpoint wakers (module `waiters`). The firmware update is a
//! sans-I/O state machine ([`crate::procedure::firmware`]) that module `firmware_update`
//! feeds and executes; the steps worth resuming (package on its way, Update executed) are
//! stored with the operation's progress (`AdapterHandle::operation_progress_with_state`) and
//! resumed after a restart, so that nothing is written or executed twice.
//!
//! Modules: `dispatch` (each action to its procedure), `contact` (what the adapter reads and
//! observes again by itself when a device makes contact; notifications to the engine and to
//! waiting procedures), `waiters` (notifications routed by device and path; per-endpoint
//! wakers for procedures waiting for a registration), [`device_request`] (Device Management
//! requests and answers as pure functions), [`firmware`] (object /5 values and snapshot moves),
//! `firmware_update`, [`software`] (object /9), [`gateway`] (object /25 end devices),
//! [`native`] and [`composite`] (native operations), [`mapping`] (objects to the common model).

mod bootstrap;
pub mod composite;
mod contact;
pub mod device_request;
mod dispatch;
pub mod firmware;
mod firmware_update;
mod gate;
pub mod gateway;
pub mod mapping;
pub mod native;
mod push;
mod secure;
mod shell;
pub mod software;
mod waiters;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use unidm_core::{Adapter, AdapterError, AdapterHandle, Delivery, Direction, Submitted};
use unidm_models::{DeviceId, ErrorKind, Operation, OperationError, OperationId, Protocol};

/// What an operation for a device that is not registered waits for (its `waitingFor`).
pub const WAITING_FOR_REGISTRATION: &str = "waiting for the device to register";
/// What an operation for a registered queue-mode client that is asleep waits for: its requests
/// are held by the server until the client's next Update (TS Core 1.1 §6.5).
pub const WAITING_FOR_WAKE: &str = "waiting for the device to wake (queue mode: requests go out at its next Update)";

use coap_lite::ResponseType;
use serde_json::Value as Json;

use crate::codec::{ContentFormat, Value};
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Observed, Registration, RequestFailure, ServerConfig};

/// Settings of the LwM2M adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct Lwm2mConfig {
    /// UDP address to serve CoAP on. Default `0.0.0.0:5683`.
    pub listen: SocketAddr,
    /// Server bounds: registration limits and deny-list, CoAP transmission parameters, queue
    /// mode awake window, queue and observation sizes. The adapter's default holds each
    /// registration reply until the registration is stored (`confirm_registrations`).
    pub server: ServerConfig,
    /// Read `/3/0` after each Register so the device shows its identity at once. Default true.
    pub read_device_on_register: bool,
    /// During a firmware update, read State `/5/0/3` this often when no notification came.
    /// Default 30 s.
    pub firmware_poll: Duration,
    /// The no-progress limit of each step of a firmware update: when the device's State
    /// `/5/0/3` and Update Result `/5/0/5` stay as they are this long (no new value, no new
    /// registration), the operation fails with the step and what the device last reported
    /// ("no progress for 10 min while downloading: /5/0/3 State still 1 (Downloading), /5/0/5
    /// Update Result 0"), instead of waiting for its deadline. LwM2M reports no download
    /// progress within a State, so set it above the longest download expected. Default 10 min.
    pub firmware_stall: Duration,
    /// Largest firmware image the adapter fetches to push to a device whose Delivery Method
    /// `/5/0/9` asks for push. Default 16 MiB.
    pub firmware_push_max: usize,
    /// Time allowed to fetch an image to push. Default 60 s.
    pub firmware_fetch_timeout: Duration,
    /// A directory of DDF XML object definitions (OMA registry `N.xml`) typing values of
    /// objects beyond the built-in /1, /3, /4, /5, /6, /7, /9. Default none.
    pub ddf_dir: Option<std::path::PathBuf>,
    /// UDP address of the bootstrap server (TS Core 1.1 §5.2), `None` to run none. Default
    /// `0.0.0.0:5783` (the customary bootstrap port, Leshan's default); [`Lwm2mConfig::new`]
    /// derives it from `listen`.
    pub bootstrap_listen: Option<SocketAddr>,
    /// Bootstrap server bounds (sessions, timeout, endpoint name length).
    pub bootstrap: crate::bootstrap::BootstrapLimits,
    /// The bootstrap server over DTLS (customary udp/5784), with the PSK identities of
    /// [`Lwm2mConfig::psks`] (bound to the endpoints they bootstrap). Default none.
    pub bootstrap_dtls: Option<DtlsSettings>,
    /// Receive buffer asked of the kernel for the server's UDP socket, bytes (Linux caps it at
    /// `net.core.rmem_max`). A burst of registrations larger than the buffer is dropped and
    /// costs the clients a 2 s retransmission. Default 4 MiB; `None` keeps the system default.
    pub recv_buffer: Option<usize>,
    /// CoAP over DTLS (`coaps`): where and with which bounds; `None` (the default): plain
    /// CoAP only.
    pub dtls: Option<DtlsSettings>,
    /// The PSK identities DTLS clients present, each bound to an endpoint or to none; shared,
    /// so that identities set through [`Lwm2mAdapter::set_psk`] apply at once. Identities set
    /// through the adapter are stored and loaded at start.
    pub psks: crate::dtls::PskStore,
    /// The raw public keys (RFC 7250, DER `SubjectPublicKeyInfo`) DTLS clients present, each
    /// bound to an endpoint or to none; taken when [`DtlsSettings::rpk_key`] is set. Shared
    /// like [`Lwm2mConfig::psks`]; keys set through [`Lwm2mAdapter::set_rpk`] are stored and
    /// loaded at start.
    pub rpks: crate::dtls::RpkStore,
    /// Refuse every registration over plain CoAP (default false: only endpoints with a PSK
    /// identity must use DTLS).
    pub require_dtls: bool,
    /// CA certificates (DER) trusted, besides the web PKI roots, when fetching firmware images
    /// over `https://` to push them. Default none.
    pub fetch_roots: Vec<Vec<u8>>,
}

/// Where the server speaks CoAP over DTLS.
#[derive(Clone, PartialEq, Eq)]
pub struct DtlsSettings {
    /// UDP address (default `0.0.0.0:5684`).
    pub listen: SocketAddr,
    /// Handshake and session bounds.
    pub limits: crate::dtls::DtlsLimits,
    /// The server's certificate and the CAs of client certificates, for clients in
    /// certificate mode (default none: PSK only).
    pub x509: Option<crate::dtls::X509Settings>,
    /// The server's own EC private key (PEM or DER) for clients in raw-public-key mode
    /// (RFC 7250); its public key is the Server Public Key `/0/x/4` they are given. With
    /// [`DtlsSettings::x509`] it must be the certificate's key. Default none: no raw keys.
    pub rpk_key: Option<Vec<u8>>,
}

/// Never the private key.
impl std::fmt::Debug for DtlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsSettings")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("x509", &self.x509)
            .field("rpk_key", &self.rpk_key.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Default for DtlsSettings {
    fn default() -> Self {
        DtlsSettings {
            listen: SocketAddr::from(([0, 0, 0, 0], 5684)),
            limits: Default::default(),
            x509: None,
            rpk_key: None,
        }
    }
}

impl Default for Lwm2mConfig {
    fn default() -> Self {
        Lwm2mConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5683)),
            server: ServerConfig { confirm_registrations: true, ..ServerConfig::default() },
            read_device_on_register: true,
            firmware_poll: Duration::from_secs(30),
            firmware_stall: Duration::from_secs(10 * 60),
            firmware_push_max: 16 << 20,
            firmware_fetch_timeout: Duration::from_secs(60),
            ddf_dir: None,
            bootstrap_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5783))),
            bootstrap: Default::default(),
            bootstrap_dtls: None,
            recv_buffer: Some(4 << 20),
            dtls: None,
            psks: Default::default(),
            rpks: Default::default(),
            require_dtls: false,
            fetch_roots: Vec::new(),
        }
    }
}

impl Lwm2mConfig {
    /// Defaults, listening on `listen`; the bootstrap server listens on the same IP, port 5783
    /// (or an ephemeral port when `listen` has port 0, as tests use).
    pub fn new(listen: SocketAddr) -> Self {
        let port = if listen.port() == 0 { 0 } else { 5783 };
        Lwm2mConfig { listen, bootstrap_listen: Some(SocketAddr::new(listen.ip(), port)), ..Default::default() }
    }
}

pub(crate) enum Command {
    Request {
        endpoint: String,
        request: DmRequest,
        reply: oneshot::Sender<Result<DmResponse, RequestFailure>>,
    },
    /// A registration change is stored (or failed to be): release the client's reply.
    Confirm {
        ack: crate::server::Ack,
        stored: bool,
    },
    Shutdown,
}

/// The state of the running adapter that its tasks share: the shell, the event pumps and the
/// operation tasks (settings, object models, the engine handle, the live registrations and
/// end devices, who waits for what, the running operations).
pub(crate) struct Shared {
    /// This, for the operation tasks a registration starts.
    this: std::sync::Weak<Shared>,
    pub config: Lwm2mConfig,
    /// The engine's delivery: operations queued until their device registers, duplicates.
    pub delivery: Arc<Delivery>,
    /// Operations put in the delivery's queues and not yet started, an upper bound (a queued
    /// operation cancelled is not counted off): at zero, the usual case, a registration skips
    /// the delivery with one atomic load.
    pub queued: std::sync::atomic::AtomicUsize,
    pub models: crate::model::ObjectModels,
    pub handle: AdapterHandle,
    pub commands: mpsc::UnboundedSender<Command>,
    /// Notifications routed to the procedures waiting for them, by device and path.
    pub routes: waiters::Routes,
    pub registrations: RwLock<HashMap<String, Arc<Registration>>>,
    /// Wakes the procedures waiting for one endpoint to register.
    pub wakers: waiters::Wakers,
    /// The order of each gateway's end device discoveries.
    pub discoveries: gateway::Discoveries,
    /// End devices behind gateways, by child endpoint name (`{gateway}/{device id}`).
    pub children: RwLock<HashMap<String, gateway::Child>>,
    pub tasks: Mutex<HashMap<OperationId, JoinHandle<()>>>,
    /// What a user observes, per endpoint, as [`Observed`] text (`/3/0/9`,
    /// `composite:/1/0/1,/3/0/9`; persisted under `obs/{endpoint}`), observed again when the
    /// client registers again or after a restart.
    pub observed: Mutex<HashMap<String, std::collections::BTreeSet<String>>>,
    /// Endpoints heard from since the adapter started.
    pub seen: Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    /// The endpoint's registration, waiting for it to register when it is not; for an end
    /// device, its gateway's, waiting for the gateway to register and list it.
    pub async fn registration(&self, endpoint: &str) -> Arc<Registration> {
        let watch = self.wakers.watch(endpoint);
        loop {
            let notified = watch.notified();
            if let Some(child) = self.child(endpoint) {
                let gateway = self.registrations.read().ok().and_then(|r| r.get(&child.gateway).cloned());
                if let Some(gateway) = gateway {
                    return Arc::new(child.registration(endpoint, &gateway));
                }
            } else if let Some(reg) = self.registrations.read().ok().and_then(|r| r.get(endpoint).cloned()) {
                return reg;
            }
            notified.await;
        }
    }

    /// Sends a request and waits for its answer (or for the retransmission schedule to end).
    pub async fn request(&self, endpoint: &str, mut request: DmRequest) -> Result<DmResponse, OperationError> {
        let (reply, rx) = oneshot::channel();
        // Named in the error when it goes unanswered.
        let (method, path) = (request.method, request.path);
        let tap = self.handle.wire_tap();
        let device = (tap.is_tapped_any()).then(|| DeviceId::lwm2m(endpoint).ok()).flatten();
        if let Some(device) = &device {
            tap.record(device, self.handle.now(), Direction::ToDevice, || wire::request(&request, &self.models));
        }
        let child = self.child(endpoint);
        let endpoint = match &child {
            Some(c) => {
                request.prefix = Some(c.prefix.clone());
                c.gateway.as_str()
            }
            None => endpoint,
        };
        let command = Command::Request { endpoint: endpoint.to_owned(), request, reply };
        self.commands.send(command).map_err(|_| OperationError::new(ErrorKind::Internal, "adapter stopped"))?;
        let answer = rx.await;
        if let Some(device) = &device {
            let now = self.handle.now();
            match &answer {
                Ok(Ok(response)) => {
                    tap.record(device, now, Direction::FromDevice, || wire::response(&path, response, &self.models));
                }
                Ok(Err(f)) => {
                    tap.record(device, now, Direction::FromDevice, || (format!("no answer: {f:?}"), String::new()))
                }
                Err(_) => {}
            }
        }
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(f)) => Err(device_request::failure(f, &device_request::describe(method, path))),
            Err(_) => Err(OperationError::new(ErrorKind::Internal, "adapter stopped")),
        }
    }

    /// `endpoint` registered or updated, or was listed by its gateway: wakes the procedures
    /// waiting for it and starts the operations queued for it (and only those).
    pub fn wake(&self, endpoint: &str) {
        self.wakers.wake(endpoint);
        // Store (the caller's registration); fence; load (the count) here, and store (the
        // count); fence; load (the registration) in `submit`: one of the two sees the other.
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Ok(device) = DeviceId::lwm2m(endpoint) {
            if self.delivery.has_queued(&device) {
                self.delivery.reachable(&device);
                self.start_queued(&device);
            }
        }
    }

    /// Whether requests can go to `endpoint` now: it is registered, or it is an end device
    /// whose gateway is registered and lists it.
    pub fn reachable(&self, endpoint: &str) -> bool {
        let Ok(regs) = self.registrations.read() else { return false };
        match self.child(endpoint) {
            Some(child) => regs.contains_key(&child.gateway),
            None => regs.contains_key(endpoint),
        }
    }

    /// Whether `device` (or the gateway it is behind) is a queue-mode client marked asleep.
    pub fn asleep(&self, device: &DeviceId) -> bool {
        let sleeping = |id: &DeviceId| self.handle.presence(id) == Some(unidm_models::PresenceState::Sleeping);
        match self.child(device.native()).and_then(|c| DeviceId::lwm2m(&c.gateway).ok()) {
            Some(gateway) => sleeping(&gateway),
            None => sleeping(device),
        }
    }

    /// Starts each operation queued in the delivery for `device`, in order.
    pub fn start_queued(&self, device: &DeviceId) {
        let Some(this) = self.this.upgrade() else { return };
        while let Some(op) = self.delivery.next(device) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            let Ok(mut tasks) = self.tasks.lock() else {
                tracing::error!(operation = %op.id, "operation tasks poisoned; not started");
                return;
            };
            tasks.retain(|_, t| !t.is_finished());
            let id = op.id;
            tasks.insert(id, tokio::spawn(dispatch::run(this.clone(), op)));
        }
    }

    /// The end device called `endpoint`, when it is one.
    pub fn child(&self, endpoint: &str) -> Option<gateway::Child> {
        self.children.read().ok()?.get(endpoint).cloned()
    }

    /// Records (or forgets) a user's observation durably.
    pub async fn remember_observation(&self, endpoint: &str, what: &Observed, on: bool) {
        let paths = {
            let Ok(mut observed) = self.observed.lock() else { return };
            let set = observed.entry(endpoint.to_owned()).or_default();
            let text = what.to_string();
            let changed = if on { set.insert(text) } else { set.remove(&text) };
            if !changed {
                return;
            }
            let paths: Vec<String> = set.iter().cloned().collect();
            if paths.is_empty() {
                observed.remove(endpoint);
            }
            paths
        };
        let key = format!("obs/{endpoint}");
        let stored = if paths.is_empty() {
            self.handle.delete_state(&key).await
        } else {
            match serde_json::to_vec(&paths) {
                Ok(bytes) => self.handle.put_state(&key, bytes).await,
                Err(_) => return,
            }
        };
        if let Err(e) = stored {
            tracing::error!(%endpoint, error = %e, "could not store observations");
        }
    }

    /// [`Shared::request`] that also turns error codes into errors.
    pub async fn request_ok(&self, endpoint: &str, request: DmRequest) -> Result<DmResponse, OperationError> {
        let response = self.request(endpoint, request).await?;
        device_request::check(&response)?;
        Ok(response)
    }

    /// The registration of an endpoint that may get composite requests: a LwM2M 1.1+ client
    /// registered directly (an end device behind a gateway would need the prefix inside the
    /// SenML names, which no gateway TS defines).
    pub async fn composite_registration(&self, ep: &str) -> Result<Arc<Registration>, OperationError> {
        if self.child(ep).is_some() {
            return Err(OperationError::new(
                ErrorKind::NotSupported,
                "composite operations on end devices behind a LwM2M gateway are not supported",
            ));
        }
        let reg = self.registration(ep).await;
        composite::check_version(&reg)?;
        Ok(reg)
    }

    /// Read-Composite, Observe-Composite (`Some(0)`) or its cancel (`Some(1)`) of `paths`.
    pub async fn read_composite(&self, ep: &str, paths: &[Path], observe: Option<u32>) -> Result<Json, OperationError> {
        let reg = self.composite_registration(ep).await?;
        let response = self.request_ok(ep, composite::read(&reg, paths, observe)?).await?;
        composite::result(&response, &self.models)
    }

    /// Reads `path`, asking for the client's preferred format and retrying without Accept when it
    /// answers 4.06 Not Acceptable.
    pub async fn read(&self, ep: &str, path: Path, observe: Option<u32>) -> Result<Json, OperationError> {
        let reg = self.registration(ep).await;
        let mut response = self.request(ep, device_request::read(&reg, path, observe)).await?;
        if response.code == ResponseType::NotAcceptable {
            let mut again = device_request::read(&reg, path, observe);
            again.accept = None;
            response = self.request(ep, again).await?;
        }
        device_request::check(&response)?;
        let content = device_request::decode(&path, &response, &self.models)?;
        Ok(device_request::content_to_json(&path, &content))
    }

    /// Reads `path` in exactly `format` (an API caller's choice): no fallback on 4.06, and an
    /// answer in another format is an error naming both (TS Core 1.1 §5.4.1: the client answers
    /// in the Accept format or 4.06).
    pub async fn read_in(
        &self,
        ep: &str,
        path: Path,
        observe: Option<u32>,
        format: ContentFormat,
    ) -> Result<Json, OperationError> {
        let reg = self.registration(ep).await;
        let mut request = device_request::read(&reg, path, observe);
        request.accept = Some(format.code());
        let response = self.request_ok(ep, request).await?;
        // Without Content-Format a payload is text for a resource, TLV otherwise (the LwM2M 1.0
        // defaults, as `device_request::decode` reads it).
        let default = if path.is_resource_level() { ContentFormat::Text } else { ContentFormat::Tlv };
        let answered =
            response.content_format.map(ContentFormat::from).or((!response.payload.is_empty()).then_some(default));
        if answered != Some(format) {
            let got = answered.map_or_else(|| "no Content-Format".to_owned(), |f| f.code().to_string());
            return Err(OperationError::new(
                ErrorKind::DeviceRefused,
                format!("asked for content format {} (Accept), the device answered in {got}", format.code()),
            )
            .with_code("content-format"));
        }
        let content = device_request::decode(&path, &response, &self.models)?;
        Ok(device_request::content_to_json(&path, &content))
    }

    /// The id of `ep`'s current registration (`None` for an end device or an unregistered
    /// endpoint).
    pub fn registration_id(&self, ep: &str) -> Option<String> {
        self.registrations.read().ok().and_then(|r| r.get(ep).map(|g| g.id.clone()))
    }

    /// Waits for news of a procedure that waits on the State at `path` of `ep`: a notification
    /// routed to `notes`, the device in a registration other than `observed_under` (the one
    /// the procedure's observation was made in; a client in a new registration, as after a
    /// reboot to apply an image, has dropped it, also when it registered while the procedure
    /// was busy), or the engine's clock reaching `due`.
    pub async fn wait_for_news(
        &self,
        ep: &str,
        notes: &mut waiters::Subscription<'_>,
        path: Path,
        due: unidm_models::Timestamp,
        observed_under: &mut Option<String>,
    ) -> News {
        let watch = self.wakers.watch(ep);
        loop {
            let woken = watch.notified();
            let current = self.registration_id(ep);
            if current != *observed_under {
                *observed_under = current;
                return News::Registered;
            }
            let left = u64::try_from(due.millis() - self.handle.now().millis()).unwrap_or(0);
            tokio::select! {
                response = notes.next() => {
                    let state = device_request::decode(&path, &response, &self.models).ok().and_then(|c| match c.get(&path) {
                        Some(Value::Integer(i)) => Some(*i),
                        Some(Value::UnsignedInteger(u)) => i64::try_from(*u).ok(),
                        _ => None,
                    });
                    return News::State(state);
                },
                // The engine's clock: a `ManualClock` drives procedure timers in tests.
                _ = self.handle.sleep(std::time::Duration::from_millis(left)) => return News::Timeout,
                // Looks at the registration again.
                _ = woken => {}
            }
        }
    }

    /// Reports how far an operation got.
    pub async fn progress(&self, op: OperationId, percent: u8, message: &str) {
        let p = unidm_models::Progress { percent: Some(percent), message: Some(message.to_owned()) };
        if let Err(e) = self.handle.operation_progress(op, p).await {
            tracing::debug!(operation = %op, error = %e, "progress not recorded");
        }
    }
}

/// What ended a procedure's wait ([`Shared::wait_for_news`]).
pub(crate) enum News {
    /// A notification of the State (`None`: not an integer).
    State(Option<i64>),
    /// The device registered anew.
    Registered,
    /// The time asked for came.
    Timeout,
}

struct Running {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    dtls_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    bootstrap: Option<Arc<bootstrap::BootstrapRunning>>,
}

/// The LwM2M server adapter.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
/// let adapter = std::sync::Arc::new(Lwm2mAdapter::new(Lwm2mConfig::new("0.0.0.0:5683".parse()?)));
/// let engine = unidm_core::Engine::builder()
///     .store(unidm_core::SqliteStore::open("unidm.db")?)
///     .adapter_arc(adapter.clone())
///     .start()
///     .await?;
/// println!("LwM2M on udp/{}", adapter.local_addr().expect("started"));
/// # Ok(()) }
/// ```
pub struct Lwm2mAdapter {
    config: Lwm2mConfig,
    running: OnceLock<Running>,
    /// The PSK identities and raw public keys last read from the store, by state key
    /// (others come from the configuration): one gone from the store since was removed on
    /// another node.
    stored_credentials: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Lwm2mAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lwm2mAdapter")
            .field("listen", &self.config.listen)
            .field("local_addr", &self.local_addr())
            .finish()
    }
}

impl Lwm2mAdapter {
    /// An adapter that binds `config.listen` when the engine starts it.
    pub fn new(config: Lwm2mConfig) -> Self {
        Lwm2mAdapter { config, running: OnceLock::new(), stored_credentials: Default::default() }
    }

    /// The bound UDP address, once started (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.get().map(|r| r.local_addr)
    }

    /// The bound DTLS address, once started with [`Lwm2mConfig::dtls`].
    pub fn dtls_addr(&self) -> Option<SocketAddr> {
        self.running.get().and_then(|r| r.dtls_addr)
    }

    /// Sets a PSK identity's key and the endpoint it may register as (`None`: any endpoint no
    /// other identity is bound to), stored so that a restart keeps it. The key is never
    /// logged or answered.
    pub async fn set_psk(&self, identity: &[u8], endpoint: Option<&str>, key: &[u8]) -> Result<(), OperationError> {
        let bad = |m: &str| Err(OperationError::new(ErrorKind::BadInput, m));
        if identity.is_empty() || identity.len() > crate::dtls::MAX_IDENTITY {
            return bad("a PSK identity is 1 to 128 bytes");
        }
        if key.is_empty() || key.len() > crate::dtls::MAX_KEY {
            return bad("a PSK key is 1 to 64 bytes");
        }
        let psk = crate::dtls::Psk { endpoint: endpoint.map(str::to_owned), key: key.to_vec() };
        let shared = self.shared()?;
        let stored = shell::StoredPsk::of(&psk).encode();
        shared
            .handle
            .put_state(&shell::psk_key(identity), stored)
            .await
            .map_err(|e| OperationError::new(ErrorKind::Internal, format!("PSK not stored: {e}")))?;
        self.config.psks.set(identity, psk);
        Ok(())
    }

    /// Removes a PSK identity; answers whether it was there.
    pub async fn remove_psk(&self, identity: &[u8]) -> Result<bool, OperationError> {
        let shared = self.shared()?;
        shared
            .handle
            .delete_state(&shell::psk_key(identity))
            .await
            .map_err(|e| OperationError::new(ErrorKind::Internal, format!("PSK not removed: {e}")))?;
        Ok(self.config.psks.remove(identity))
    }

    /// The PSK identities bound to `endpoint` (never the keys).
    pub fn psk_identities(&self, endpoint: &str) -> Vec<Vec<u8>> {
        self.config.psks.identities_of(endpoint)
    }

    /// Lets the holder of a raw public key (PEM, DER `SubjectPublicKeyInfo` or a P-256 point)
    /// register over DTLS as `endpoint` (`None`: any endpoint no other credential is bound
    /// to), stored so that a restart keeps it.
    pub async fn set_rpk(&self, public_key: &[u8], endpoint: Option<&str>) -> Result<Vec<u8>, OperationError> {
        let spki = crate::dtls::spki(public_key).map_err(|e| OperationError::new(ErrorKind::BadInput, e))?;
        let rpk = crate::dtls::Rpk { endpoint: endpoint.map(str::to_owned) };
        let stored = serde_json::to_vec(&shell::StoredRpk { endpoint: rpk.endpoint.clone() }).unwrap_or_default();
        self.shared()?
            .handle
            .put_state(&shell::rpk_key(&spki), stored)
            .await
            .map_err(|e| OperationError::new(ErrorKind::Internal, format!("raw public key not stored: {e}")))?;
        self.config.rpks.set(&spki, rpk);
        Ok(spki)
    }

    /// Removes a raw public key (DER `SubjectPublicKeyInfo`); answers whether it was there.
    pub async fn remove_rpk(&self, spki: &[u8]) -> Result<bool, OperationError> {
        self.shared()?
            .handle
            .delete_state(&shell::rpk_key(spki))
            .await
            .map_err(|e| OperationError::new(ErrorKind::Internal, format!("raw public key not removed: {e}")))?;
        Ok(self.config.rpks.remove(spki))
    }

    /// The raw public keys (DER `SubjectPublicKeyInfo`) bound to `endpoint`.
    pub fn rpk_keys(&self, endpoint: &str) -> Vec<Vec<u8>> {
        self.config.rpks.identities_of(endpoint)
    }

    /// Sends a Device Management request to a registered client (or an end device behind a
    /// registered gateway) as it is, outside any operation, and returns the client's answer:
    /// what a proxy in front of unidm forwards ([`crate::northbound`]). A request to an
    /// endpoint that is not registered fails at once.
    pub async fn forward(&self, endpoint: &str, request: DmRequest) -> Result<DmResponse, OperationError> {
        let shared = self.shared()?;
        if !shared.reachable(endpoint) {
            return Err(OperationError::new(ErrorKind::Transport, format!("{endpoint} is not registered")));
        }
        shared.request(endpoint, request).await
    }

    /// The live registration of an endpoint, once started.
    pub fn registration(&self, endpoint: &str) -> Option<Arc<Registration>> {
        self.running.get()?.shared.registrations.read().ok()?.get(endpoint).cloned()
    }

    /// The state keys of every credential known now.
    fn credential_keys(&self) -> std::collections::HashSet<String> {
        let psks = self.config.psks.identities().into_iter().map(|i| shell::psk_key(&i));
        psks.chain(self.config.rpks.identities().into_iter().map(|k| shell::rpk_key(&k))).collect()
    }

    fn shared(&self) -> Result<&Arc<Shared>, OperationError> {
        self.running
            .get()
            .map(|r| &r.shared)
            .ok_or_else(|| OperationError::new(ErrorKind::Internal, "adapter not started"))
    }
}

#[async_trait]
impl Adapter for Lwm2mAdapter {
    fn protocol(&self) -> Protocol {
        Protocol::Lwm2m
    }

    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        if self.running.get().is_some() {
            return Err(AdapterError("started twice".into()));
        }
        let bootstrap = match self.config.bootstrap_listen {
            Some(addr) => {
                let security = bootstrap::BootstrapSecurity {
                    dtls: self.config.bootstrap_dtls.as_ref(),
                    psks: &self.config.psks,
                    rpks: &self.config.rpks,
                    require_dtls: self.config.require_dtls,
                };
                Some(
                    bootstrap::start(addr, self.config.bootstrap.clone(), handle.clone(), shell::seed(), security)
                        .await?,
                )
            }
            None => None,
        };
        let configured = self.credential_keys();
        let mut running = shell::start(self.config.clone(), handle).await?;
        running.bootstrap = bootstrap;
        if let Ok(mut stored) = self.stored_credentials.lock() {
            *stored = self.credential_keys().difference(&configured).cloned().collect();
        }
        self.running.set(running).map_err(|_| AdapterError("started twice".into()))
    }

    /// Another node set or removed PSK identities or bootstrap configurations: this node
    /// takes them too.
    async fn state_changed(&self) {
        let Ok(shared) = self.shared() else { return };
        let stored = match shared.handle.load_state().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the LwM2M state another node changed");
                return;
            }
        };
        let mut now = std::collections::HashSet::new();
        let mut configs = std::collections::BTreeMap::new();
        for (k, bytes) in &stored {
            if shell::load_credential(&self.config, k, bytes) {
                now.insert(k.clone());
            } else if let Some(ep) = k.strip_prefix(bootstrap::PREFIX) {
                if let Ok(c) = serde_json::from_slice::<crate::bootstrap::BootstrapConfig>(bytes) {
                    configs.insert(ep.to_owned(), c);
                }
            }
        }
        let gone: Vec<String> = match self.stored_credentials.lock() {
            Ok(mut before) => {
                let gone = before.difference(&now).cloned().collect();
                *before = now;
                gone
            }
            Err(_) => Vec::new(),
        };
        for key in gone {
            shell::forget_credential(&self.config, &key);
        }
        self.sync_bootstrap_configs(configs).await;
    }

    async fn submit(&self, op: Operation) -> Result<(), OperationError> {
        let shared = self.shared()?.clone();
        dispatch::check(&op)?;
        let (id, device) = (op.id, op.device.clone());
        // The delivery holds each id once: the engine's resubmissions (after a restart too)
        // of an operation queued or running are refused there.
        // Counted before it is queued, so that the count never falls below the queues.
        shared.queued.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let submitted = shared.delivery.submit(op).await;
        if !matches!(submitted, Ok(Submitted::Queued)) {
            shared.queued.fetch_sub(1, Ordering::SeqCst);
        }
        match submitted? {
            Submitted::Queued => {}
            Submitted::Duplicate => return Ok(()),
            Submitted::Resumed(c) => {
                // The adapter parks nothing on a wait; an unknown wait cannot be answered.
                shared.delivery.forget(id);
                return Err(OperationError::new(ErrorKind::Internal, format!("unknown wait {c}")));
            }
        }
        if !shared.reachable(device.native()) {
            if let Err(e) = shared.handle.operation_waiting(id, WAITING_FOR_REGISTRATION, None).await {
                tracing::debug!(operation = %id, error = %e, "waiting not recorded");
            }
            // A registration stored meanwhile found the operation queued, or is seen here.
            if !shared.reachable(device.native()) {
                return Ok(());
            }
        } else if shared.asleep(&device) {
            // Started now all the same: the server holds its requests until the client wakes.
            if let Err(e) = shared.handle.operation_waiting(id, WAITING_FOR_WAKE, None).await {
                tracing::debug!(operation = %id, error = %e, "waiting not recorded");
            }
        }
        shared.start_queued(&device);
        Ok(())
    }

    async fn cancel(&self, op: OperationId, device: &unidm_models::DeviceId) {
        if let Ok(shared) = self.shared() {
            shared.delivery.forget_on(op, device);
            if let Some(task) = shared.tasks.lock().ok().and_then(|mut t| t.remove(&op)) {
                task.abort();
            }
        }
    }

    async fn shutdown(&self) {
        if let Some(running) = self.running.get() {
            if running.shared.commands.send(Command::Shutdown).is_err() {
                tracing::debug!("the LwM2M shell had stopped already");
            }
            if let Ok(mut tasks) = running.shared.tasks.lock() {
                for (_, t) in tasks.drain() {
                    t.abort();
                }
            }
            for t in &running.tasks {
                t.abort();
            }
            if let Some(b) = &running.bootstrap {
                b.shutdown();
            }
        }
    }
}
