//! The OMA DM server as a unidm adapter: an HTTP endpoint (axum) that runs one
//! [`crate::session::DmSession`] per device, carries the engine's operations on
//! [`unidm_core::Delivery`], and asks absent devices for a session with Package #0.
//!
//! - **Routing**: a POST without a known `s=` route token must be a Package 1 and opens a
//!   session; the session's `RespURI` (`<public URL>?s=<SessionID>.<DevId>`) routes the later
//!   messages. One session per device: a new Package 1 from a device ends its old session.
//!   More than [`OmadmConfig::max_sessions`] open sessions get HTTP 503. Only what is not
//!   SyncML gets an HTTP error (415 for another media type, 413 above
//!   [`OmadmConfig::max_message`], 400 for an unreadable body); every SyncML refusal is a
//!   SyncML status in an HTTP 200.
//! - **Devices**: `omadm:<DevId>` (the SyncHdr `Source`), created or updated on each
//!   authenticated session with the DevInfo / DevDetail facts as identity; the adapter's
//!   record of the device (nonces each way, push address) is the device record. A session of a
//!   known device that tells nothing new only moves last-seen in memory and stores the record
//!   if it changed (the nonce an md5 session issues), with no `DeviceUpdated` event.
//! - **Operations** wait in the delivery queue of their device until it opens a session, and
//!   go out in the server's next package. A request the session never got answered (the
//!   session timed out, a new session replaced it) is a failed attempt
//!   ([`Delivery::unanswered`]); one never sent goes back to the queue.
//! - **Firmware** = FUMO: a `Sequence` of `Replace <fumo>/DownloadAndUpdate/PkgURL` and `Exec
//!   <fumo>/DownloadAndUpdate` with the operation id as `Correlator`; a 202 parks the operation
//!   until the Generic Alert 1226 with that correlator, in a later session, whose result code
//!   decides ([`crate::mo::fumo::outcome`]). **Software** = SCOMO `Download/<x>` +
//!   `Operations/DownloadInstall`, or `Inventory/Deployed/<x>/Operations/{Remove, Activate,
//!   Deactivate}`, the same way ([`crate::mo::scomo::outcome`]), then the inventory is read into
//!   the software snapshot. **Factory reset** = LAWMO `Exec <lawmo>/Operations/FactoryReset`,
//!   the same way ([`crate::mo::lawmo::outcome`]). **Reboot** only with
//!   [`OmadmConfig::reboot_node`]. **Ping / traceroute** over the DiagMon subtree of
//!   [`OmadmConfig::diagnostics`]: the start as above, then its results read in the session
//!   that ran it or that brought its alert.
//! - **Capabilities** from the management objects the device has, asked by the server's own
//!   Gets (`discovery`) and kept in the device record.
//! - **Package #0**: an operation for a device without a session sends a notification to the
//!   device's push address (UDP), retried with backoff a bounded number of times; the bytes
//!   are also given by [`OmadmAdapter::package0`].

mod accounts;
mod alerts;
mod clients;
mod config;
mod discovery;
mod firmware;
mod http;
mod ops;
mod push;
mod tap;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use unidm_core::{Adapter, AdapterError, AdapterHandle, Contact, Delivery, DeliveryConfig, Submitted};
use unidm_models::firmware::FirmwareReport;
use unidm_models::{
    Action, Device, DeviceId, ErrorKind, Operation, OperationError, OperationId, PresenceState, Protocol,
};

use crate::codec::Limits;
use crate::mo::devinfo::DeviceFacts;
use crate::session::{DmSession, Request, SessionConfig, SessionEvent};
use accounts::{Accounts, DeviceRecord};
pub use clients::{ClientError, ClientSettings};
pub use config::{OmadmConfig, RebootNode};
use firmware::{firmware_done, firmware_sent};
pub use push::{PushTarget, NOTIFICATION_MEDIA_TYPE};

/// One open session and what the adapter sent in it.
pub(crate) struct Slot {
    session: DmSession,
    /// The device, once the session authenticated.
    device: Option<DeviceId>,
    /// The HTTP peer.
    peer: SocketAddr,
    facts: DeviceFacts,
    /// Operations whose command is queued or in flight, by request handle.
    sent: HashMap<u64, Operation>,
    /// The device record changed (a nonce) since it was last stored.
    record_dirty: bool,
    /// Nonces issued before the device was enrolled.
    nonces: Vec<(crate::session::NonceDirection, Vec<u8>)>,
    /// The server's own reads queued or in flight, by request handle.
    own: HashMap<u64, discovery::Own>,
    /// The last own request number.
    own_seq: u64,
    /// The management objects being asked for.
    probe: Option<discovery::Probe>,
    /// The SCOMO inventory being read.
    inventory: Option<discovery::InventoryRead>,
}

#[derive(Default)]
pub(crate) struct Sessions {
    by_token: HashMap<String, Arc<tokio::sync::Mutex<Slot>>>,
    by_device: HashMap<String, String>,
    /// Devices a Package #0 task runs for, each with the wake-up of its task.
    notifying: HashMap<String, Arc<tokio::sync::Notify>>,
    /// The last Package #0 built per DevId.
    package0: HashMap<String, Vec<u8>>,
    /// The session id of the last Package #0 per DevId, until the device opens a session: a
    /// Package 1 with Alert 1200 must carry it.
    notified: HashMap<String, u16>,
}

/// The shared inside of the adapter.
pub(crate) struct Server {
    config: OmadmConfig,
    handle: OnceLock<AdapterHandle>,
    delivery: OnceLock<Arc<Delivery>>,
    accounts: Arc<Accounts>,
    sessions: Mutex<Sessions>,
    /// Package #0 sends under way, at most [`push::MAX_IN_FLIGHT`].
    push_slots: tokio::sync::Semaphore,
    local_addr: OnceLock<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
    /// The HTTP server's task: a shutdown waits for it, so that the address is free after.
    server_task: unidm_core::tls::ServerTask,
    /// Generic Alerts that came before their operation was parked again after a restart.
    early: Mutex<alerts::EarlyAlerts>,
    /// Itself, for the tasks it spawns.
    me: std::sync::Weak<Server>,
}

/// The OMA DM adapter: a DM server for the unidm engine.
pub struct OmadmAdapter {
    inner: Arc<Server>,
}

impl std::fmt::Debug for OmadmAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmadmAdapter").field("local_addr", &self.local_addr()).finish_non_exhaustive()
    }
}

impl OmadmAdapter {
    /// An adapter with these settings; it listens once the engine starts it.
    pub fn new(config: OmadmConfig) -> Self {
        let (stop, _) = tokio::sync::watch::channel(false);
        let accounts = Arc::new(Accounts::new(&config));
        OmadmAdapter {
            inner: Arc::new_cyclic(|me| Server {
                config,
                handle: OnceLock::new(),
                delivery: OnceLock::new(),
                accounts,
                sessions: Mutex::new(Sessions::default()),
                push_slots: tokio::sync::Semaphore::new(push::MAX_IN_FLIGHT),
                local_addr: OnceLock::new(),
                stop,
                server_task: Default::default(),
                early: Mutex::new(alerts::EarlyAlerts::default()),
                me: me.clone(),
            }),
        }
    }

    /// The address the server listens on, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr.get().copied()
    }

    /// The DM server URL devices should use (`http(s)://<local addr><path>`), once started.
    pub fn server_url(&self) -> Option<String> {
        let scheme = if self.inner.config.tls.is_some() { "https" } else { "http" };
        self.local_addr().map(|a| format!("{scheme}://{a}{}", self.inner.path()))
    }

    /// How many DM sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.inner.sessions().by_token.len()
    }

    /// Sets where Package #0 goes for a device (`host:port`, UDP), kept in its record.
    pub async fn set_push_address(&self, dev_id: &str, addr: SocketAddr) {
        let record = self.inner.accounts.update(dev_id, |r| r.push = Some(addr.to_string()));
        self.inner.store_record(dev_id, &record).await;
    }

    /// The last Package #0 built for a device (to hand to another transport, such as SMS).
    pub fn package0(&self, dev_id: &str) -> Option<Vec<u8>> {
        self.inner.sessions().package0.get(dev_id).cloned()
    }
}

impl Server {
    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self) -> String {
        if self.config.path.starts_with('/') {
            self.config.path.clone()
        } else {
            format!("/{}", self.config.path)
        }
    }

    fn handle(&self) -> Option<&AdapterHandle> {
        self.handle.get()
    }

    fn delivery(&self) -> Option<&Arc<Delivery>> {
        self.delivery.get()
    }

    fn now(&self) -> Duration {
        self.handle().map_or(Duration::ZERO, AdapterHandle::monotonic)
    }

    /// A new session for a first message.
    fn new_session(&self, resp_uri: String, peer: SocketAddr, notified_session_id: Option<u16>) -> Slot {
        let config = SessionConfig {
            resp_uri: Some(resp_uri),
            notified_session_id,
            client_auth: self.config.client_auth,
            timeout: self.config.session_timeout,
            limits: Limits { max_message_bytes: self.config.max_message, ..Limits::default() },
            ..SessionConfig::default()
        };
        let session = DmSession::new(config, self.accounts.clone(), Box::new(push::random_nonce), self.now());
        Slot {
            session,
            device: None,
            peer,
            facts: DeviceFacts::default(),
            sent: HashMap::new(),
            record_dirty: false,
            nonces: Vec::new(),
            own: HashMap::new(),
            own_seq: 0,
            probe: None,
            inventory: None,
        }
    }

    async fn store_record(&self, dev_id: &str, record: &DeviceRecord) {
        let (Some(h), Ok(id)) = (self.handle(), DeviceId::omadm(dev_id)) else { return };
        if h.device(&id).is_none() {
            return;
        }
        if let Err(e) = h.set_device_record(&id, Some(record.encode())).await {
            tracing::warn!(device = %id, error = %e, "OMA DM device record not stored");
        }
    }

    /// Drains the session's events and acts on them; with `feed`, queues the device's
    /// operations for the next package.
    async fn drive(&self, token: Option<&str>, slot: &mut Slot, feed: bool) {
        let Some(h) = self.handle().cloned() else { return };
        let Some(delivery) = self.delivery().cloned() else { return };
        let mut closed = false;
        let mut alerts = Vec::new();
        let mut after = After::default();
        while let Some(event) = slot.session.poll_event() {
            match event {
                SessionEvent::DeviceInfo { facts, .. } => slot.facts = facts,
                SessionEvent::NonceUpdated { direction, nonce } => {
                    // A device not yet enrolled keeps its nonces in the session (no memory
                    // grows for clients that never authenticate).
                    match slot.session.dev_id() {
                        Some(dev) if self.accounts.is_known(dev) => {
                            self.accounts.set_nonce(dev, direction, nonce);
                            slot.record_dirty = true;
                        }
                        _ => slot.nonces.push((direction, nonce)),
                    }
                }
                SessionEvent::AuthFailed { code, failures } => {
                    tracing::info!(device = ?slot.session.dev_id(), code, failures, "DM client authentication refused");
                }
                SessionEvent::Response { request, status, results, .. } if request.is_internal() => {
                    self.on_own_response(&h, slot, request, status, &results).await;
                }
                SessionEvent::Response { request, status, results, parts } => {
                    let Some(op) = slot.sent.remove(&request.0) else { continue };
                    delivery.answered(op.id);
                    after.add(self.on_response(&h, &delivery, op, status, &results, &parts).await);
                }
                // Package 1 carries them before the device is contacted: after that.
                SessionEvent::GenericAlert(alert) => alerts.push(alert),
                // An own read left unanswered: the next session asks again.
                SessionEvent::Abandoned { request, .. } | SessionEvent::TooLarge(request) if request.is_internal() => {
                    slot.own.remove(&request.0);
                }
                SessionEvent::Abandoned { request, sent } => {
                    let Some(op) = slot.sent.remove(&request.0) else { continue };
                    if sent {
                        let e = OperationError::new(
                            ErrorKind::Timeout,
                            format!("the device did not answer the {} request in its DM session", op.action.name()),
                        );
                        delivery.unanswered(op.id, e).await;
                    } else {
                        delivery.requeue(op.id);
                    }
                }
                SessionEvent::TooLarge(request) => {
                    let Some(op) = slot.sent.remove(&request.0) else { continue };
                    delivery.answered(op.id);
                    let e = OperationError::new(ErrorKind::BadInput, "the command is larger than the device takes");
                    report(&h, op.id, Err(e)).await;
                }
                SessionEvent::Closed(reason) => {
                    tracing::debug!(device = ?slot.session.dev_id(), ?reason, "DM session closed");
                    closed = true;
                }
                SessionEvent::Started { .. }
                | SessionEvent::Authenticated { .. }
                | SessionEvent::ServerAuthRefused { .. }
                | SessionEvent::Alert { .. } => {}
            }
        }
        if slot.device.is_none() && slot.session.is_authenticated() {
            self.contact(&h, token, slot).await;
        } else if slot.record_dirty {
            if let Some(dev) = slot.session.dev_id() {
                let record = self.accounts.record(dev);
                self.store_record(dev, &record).await;
                slot.record_dirty = false;
            }
        }
        if let Some(id) = slot.device.clone() {
            for alert in alerts {
                after.add(self.on_generic_alert(&h, &delivery, &id, alert).await);
            }
            if !closed {
                self.clean_up(slot, after.delete);
                if after.inventory {
                    self.start_inventory(slot);
                }
            }
        }
        if feed && !closed {
            if let Some(id) = slot.device.clone() {
                let mos = self.accounts.record(id.native()).mos;
                while let Some(op) = delivery.next(&id) {
                    match ops::command(&self.config, &op, mos.as_ref()) {
                        Ok(cmd) => match slot.session.enqueue(Request::new(op.id.into(), cmd)) {
                            Ok(()) => {
                                if let Action::Firmware(f) = &op.action {
                                    self.report_firmware(&h, &id, firmware_sent(f)).await;
                                }
                                if let Action::RefreshDeviceInfo = &op.action {
                                    let key = discovery::facts_key(&slot.facts);
                                    self.start_probe(slot, key);
                                }
                                slot.sent.insert(op.id.0, op);
                            }
                            Err(e) => {
                                tracing::debug!(operation = %op.id, error = %e, "operation left for a later package");
                                delivery.requeue(op.id);
                                break;
                            }
                        },
                        Err(e) => {
                            delivery.answered(op.id);
                            report(&h, op.id, Err(e)).await;
                        }
                    }
                }
            }
        }
        if closed || slot.session.is_closed() {
            self.forget_session(token, slot);
            // An operation that came in while the session was ending waits for the next one.
            if let (Some(id), Some(me)) = (slot.device.clone(), self.me.upgrade()) {
                if delivery.has_queued(&id) {
                    push::notify(me, id);
                }
            }
        }
    }

    fn forget_session(&self, token: Option<&str>, slot: &Slot) {
        let mut s = self.sessions();
        let token = token.map(str::to_owned).or_else(|| slot.session.route_token());
        if let Some(t) = token {
            s.by_token.remove(&t);
            if let Some(dev) = slot.session.dev_id() {
                if s.by_device.get(dev) == Some(&t) {
                    s.by_device.remove(dev);
                }
            }
        }
    }

    /// The session authenticated: the device is seen, with its identity and record.
    async fn contact(&self, h: &AdapterHandle, token: Option<&str>, slot: &mut Slot) {
        let Some(dev) = slot.session.dev_id().map(str::to_owned) else { return };
        let id = match DeviceId::omadm(&dev) {
            Ok(id) => id,
            Err(e) => {
                tracing::info!(dev_id = %dev, error = %e, "DM client with an unusable DevId");
                return;
            }
        };
        // Whether the record differs from the stored one (a nonce issued or taken, a push
        // address learnt).
        let mut record_changed = slot.record_dirty || !slot.nonces.is_empty();
        for (direction, nonce) in std::mem::take(&mut slot.nonces) {
            self.accounts.set_nonce(&dev, direction, nonce);
        }
        let peer = slot.peer;
        let record = self.accounts.update(&dev, |r| {
            if r.push.is_none() {
                r.push = self.config.push_port.map(|p| SocketAddr::new(peer.ip(), p).to_string());
                record_changed |= r.push.is_some();
            }
        });
        // The host only: a device's sessions come from ever new ports.
        let contact = Contact {
            state: PresenceState::Online,
            lifetime_s: None,
            address: Some(slot.peer.ip().to_string()),
            boot: false,
        };
        let functions = discovery::capabilities(&self.config, record.mos.as_ref());
        let capabilities = AdapterHandle::functions(&functions);
        // A known device whose session tells nothing new (the usual case) takes the cheap path:
        // last-seen moves in memory, no event; the record is stored only when it changed, as it
        // does in every md5 session: the nonce the session issued must survive a restart (the
        // next session's digest uses it, and an older nonce coming back would let a recorded
        // Package 1 be replayed).
        let quiet = h.device(&id).is_some_and(|known| {
            let mut identity = known.identity.clone();
            slot.facts.apply(&mut identity);
            identity == known.identity && known.capabilities == capabilities
        });
        let r = if quiet {
            match h.device_seen(&id, contact).await {
                Ok(_) if record_changed => h.set_device_record(&id, Some(record.encode())).await,
                r => r.map(drop),
            }
        } else {
            let facts = slot.facts.clone();
            h.device_contact_with_record(&id, contact, record.encode(), |d: &mut Device| {
                facts.apply(&mut d.identity);
                d.capabilities = capabilities;
            })
            .await
            .map(drop)
        };
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "OMA DM device contact not recorded");
            return;
        }
        self.accounts.mark_known(&dev);
        slot.record_dirty = false;
        slot.device = Some(id.clone());
        // One session per device: a session this one replaces ends (its requests unanswered).
        let token = token.map(str::to_owned).or_else(|| slot.session.route_token());
        let old = {
            let mut s = self.sessions();
            s.notified.remove(&dev);
            let old = token.as_ref().and_then(|t| s.by_device.insert(dev.clone(), t.clone()));
            old.filter(|o| Some(o) != token.as_ref()).and_then(|o| s.by_token.remove(&o))
        };
        if let Some(old) = old {
            let mut o = old.lock().await;
            o.session.handle_timeout(Duration::MAX);
            Box::pin(self.drive(None, &mut o, false)).await;
        }
        let key = discovery::facts_key(&slot.facts);
        let own = self.candidates(slot);
        if discovery::needs_probe(&self.config, record.mos.as_ref(), &key, &own) {
            self.start_probe(slot, key);
        }
        if let Some(d) = self.delivery() {
            d.reachable(&id);
        }
    }

    async fn on_response(
        &self,
        h: &AdapterHandle,
        delivery: &Delivery,
        op: Operation,
        status: u16,
        results: &[crate::codec::Item],
        parts: &[u16],
    ) -> After {
        let device = op.device.clone();
        let ended = After::ended(&self.config, &op);
        let mos = self.accounts.record(device.native()).mos;
        match ops::on_response(&self.config, &op, mos.as_ref(), status, results, parts) {
            ops::Outcome::Succeeded(v) => {
                if let Action::Firmware(f) = &op.action {
                    let f = f.clone();
                    self.report_firmware(h, &device, move |d| firmware_done(&f, d)).await;
                    self.firmware_changed(&device).await;
                }
                if let Action::RefreshDeviceInfo = &op.action {
                    let (facts, now) = (ops::facts(results), h.now());
                    let r = h
                        .update_device(&device, |d| {
                            facts.apply(&mut d.identity);
                            d.snapshot.refreshed_at = Some(now);
                        })
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(device = %device, error = %e, "refreshed identity not recorded");
                    }
                }
                report(h, op.id, Ok(v)).await;
                ended
            }
            ops::Outcome::Failed(e) => {
                if matches!(op.action, Action::Firmware(_)) {
                    let (why, code) = (e.message.clone(), e.protocol_code.clone());
                    self.report_firmware(h, &device, move |_| vec![FirmwareReport::failed(why, code)]).await;
                }
                report(h, op.id, Err(e)).await;
                ended
            }
            ops::Outcome::Park(wait) => {
                let id = op.id;
                if let Err(e) = delivery.park(op, wait).await {
                    tracing::warn!(operation = %id, error = %e, "operation not parked");
                }
                After::default()
            }
            ops::Outcome::Again(state) => {
                self.again(h, delivery, op, state).await;
                After::default()
            }
        }
    }

    /// Queues an operation again for its next phase, with that phase as its adapter state
    /// (stored, so that a restart resumes the phase).
    async fn again(&self, h: &AdapterHandle, delivery: &Delivery, mut op: Operation, state: Vec<u8>) {
        let progress = unidm_models::Progress { percent: None, message: Some("reading the results".into()) };
        if let Err(e) = h.operation_progress_with_state(op.id, progress, state.clone()).await {
            tracing::debug!(operation = %op.id, error = %e, "operation had ended");
            return;
        }
        op.adapter_state = Some(state);
        let id = op.id;
        if let Err(e) = delivery.submit(op).await {
            report(h, id, Err(e)).await;
        }
    }

    /// Ends sessions whose timeout passed, and fails parked operations past their
    /// no-progress limit.
    async fn sweep(&self) {
        let now = self.now();
        let slots: Vec<(String, Arc<tokio::sync::Mutex<Slot>>)> =
            self.sessions().by_token.iter().map(|(t, s)| (t.clone(), s.clone())).collect();
        for (token, slot) in slots {
            let mut slot = slot.lock().await;
            slot.session.handle_timeout(now);
            if slot.session.is_closed() {
                self.drive(Some(&token), &mut slot, false).await;
            }
        }
        if let (Some(d), Some(h)) = (self.delivery(), self.handle()) {
            for stalled in d.check_stalls().await {
                // A FUMO update without its result: the snapshot says it failed, and why.
                if matches!(stalled.op.action, unidm_models::Action::Firmware(_)) {
                    let why = stalled.error.message;
                    self.report_firmware(h, &stalled.op.device, move |_| vec![FirmwareReport::failed(why, None)]).await;
                }
            }
        }
    }
}

/// What the end of operations asks of the session they ended in.
#[derive(Debug, Default)]
pub(crate) struct After {
    /// A software operation ended: read the SCOMO inventory again.
    inventory: bool,
    /// Nodes the server created for them, to delete.
    delete: Vec<String>,
}

impl After {
    /// What the end of `op` asks.
    fn ended(config: &OmadmConfig, op: &Operation) -> After {
        After {
            inventory: matches!(op.action, Action::Software(_)),
            delete: ops::created_node(config, op).into_iter().collect(),
        }
    }

    fn add(&mut self, other: After) {
        self.inventory |= other.inventory;
        self.delete.extend(other.delete);
    }
}

async fn report(h: &AdapterHandle, op: OperationId, outcome: Result<Option<serde_json::Value>, OperationError>) {
    let r = match outcome {
        Ok(v) => h.operation_succeeded(op, v).await,
        Err(e) => h.operation_failed(op, e).await,
    };
    if let Err(e) = r {
        tracing::debug!(operation = %op, error = %e, "operation outcome not recorded (it had ended)");
    }
}

#[async_trait]
impl Adapter for OmadmAdapter {
    fn protocol(&self) -> Protocol {
        Protocol::Omadm
    }

    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        let s = &self.inner;
        let records = handle.device_records().await.map_err(|e| AdapterError(e.to_string()))?;
        s.accounts.load(
            records
                .into_iter()
                .map(|(id, bytes)| (id.native().to_owned(), DeviceRecord::decode(&bytes).unwrap_or_default())),
        );
        let delivery = Delivery::new(
            handle.clone(),
            DeliveryConfig { max_queued_per_device: s.config.max_queued_per_device.max(1) },
        );
        s.delivery.set(Arc::new(delivery)).map_err(|_| AdapterError("started twice".into()))?;
        s.handle.set(handle).map_err(|_| AdapterError("started twice".into()))?;
        let tls = match &s.config.tls {
            Some(files) => {
                Some(unidm_core::tls::server_config(files, &[b"http/1.1"]).map_err(|e| AdapterError(e.to_string()))?)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(s.config.listen).await.map_err(|e| AdapterError(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| AdapterError(e.to_string()))?;
        let _ = s.local_addr.set(addr);
        tracing::info!(%addr, path = %s.path(), "OMA DM server listening");
        http::spawn_server(s.clone(), listener, tls);
        spawn_sweeper(s.clone());
        Ok(())
    }

    async fn submit(&self, op: Operation) -> Result<(), OperationError> {
        ops::supported(&self.inner.config, &op.action)?;
        // A native command is whole at submit: a bad one is refused now, not at the device's
        // next session.
        if let Action::Native(_) = &op.action {
            ops::command(&self.inner.config, &op, None)?;
        }
        let Some(delivery) = self.inner.delivery() else {
            return Err(OperationError::new(ErrorKind::Internal, "the OMA DM adapter has not started"));
        };
        let (id, device) = (op.id, op.device.clone());
        match delivery.submit(op).await? {
            Submitted::Queued => {}
            Submitted::Resumed(c) => {
                if let Some(h) = self.inner.handle() {
                    self.inner.resumed(h, delivery, &device, &c).await;
                }
                return Ok(());
            }
            Submitted::Duplicate => return Ok(()),
        }
        let in_session = self.inner.sessions().by_device.contains_key(device.native());
        if !in_session {
            if let Some(h) = self.inner.handle() {
                let _ = h.operation_waiting(id, "waiting for the device's next DM session", None).await;
            }
            push::notify(self.inner.clone(), device);
        }
        Ok(())
    }

    async fn cancel(&self, op: OperationId, device: &DeviceId) {
        if let Some(d) = self.inner.delivery() {
            d.forget_on(op, device);
        }
    }

    async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.server_task.stopped().await;
    }
}

fn spawn_sweeper(server: Arc<Server>) {
    let mut stop = server.stop.subscribe();
    let period = (server.config.session_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    tokio::spawn(async move {
        loop {
            let Some(h) = server.handle().cloned() else { return };
            tokio::select! {
                _ = h.sleep(period) => server.sweep().await,
                _ = stop.changed() => return,
            }
        }
    });
}
