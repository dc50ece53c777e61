//! The I/O shell: one tokio task owns the UDP socket and the sans-I/O server, reads the clock,
//! sleeps until the server's next timeout, and hands server events to pump tasks that call the
//! engine (which may wait on storage, so it must not stall the socket).
//!
//! Events are spread over [`PUMPS`] pump tasks by endpoint: one endpoint's events stay in
//! order, while many endpoints' registrations wait on storage at once, so the store commits
//! them together (group commit). The server holds each Register / Update / De-register reply
//! until its pump has stored the registration with the device in one commit
//! ([`crate::server::ServerConfig::confirm_registrations`]): a client told 2.01 survives a
//! crash of the server.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use unidm_core::{AdapterError, AdapterHandle, Contact, Delivery, DeliveryConfig, Gone};
use unidm_models::{DeviceId, PresenceState};

use super::gate::Gate;
use super::secure::Secure;
use super::{contact, device_request, gateway, mapping, wire, Command, Lwm2mConfig, Running, Shared};
use crate::dtls::Psk;
use crate::model::ObjectModels;
use crate::server::{
    Ack, DmResponse, Observed, RdChange, Registration, RequestFailure, RequestId, Server, ServerEvent,
};

/// Pump tasks. Enough for a group commit of this many registrations at once.
const PUMPS: usize = 256;

/// Datagrams (or commands) taken in one go, before the events and answers they cause go out.
const BATCH: usize = 64;

/// A registration as persisted in its device's record (`device_contact_with_record`).
#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    registration: Registration,
    /// Wall-clock expiry, milliseconds since the epoch; `None` for no expiry.
    expires_at_ms: Option<i64>,
}

impl Persisted {
    /// The lifetime left at wall-clock time `wall` (ms): `None` when it has run out,
    /// `Some(None)` for a registration that never expires.
    fn remaining(&self, wall: i64) -> Option<Option<Duration>> {
        match self.expires_at_ms.map(|at| at - wall) {
            Some(ms) if ms <= 0 => None,
            left => Some(left.map(|ms| Duration::from_millis(ms as u64))),
        }
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(super) fn seed() -> u64 {
    // The std hasher's random keys: a seed for tokens and registration ids without a new crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// Routes server events to the pump task of their endpoint.
struct Pumps(Vec<mpsc::UnboundedSender<ServerEvent>>);

impl Pumps {
    fn start(shared: &Arc<Shared>) -> (Pumps, Vec<tokio::task::JoinHandle<()>>) {
        let (senders, tasks) = (0..PUMPS)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                (tx, tokio::spawn(pump(shared.clone(), rx)))
            })
            .unzip();
        (Pumps(senders), tasks)
    }

    fn send(&self, event: ServerEvent) {
        let endpoint = match &event {
            ServerEvent::Registration(change, _) => match &**change {
                RdChange::Registered { registration, .. }
                | RdChange::Updated { registration, .. }
                | RdChange::Deregistered { registration } => &registration.endpoint,
            },
            ServerEvent::Expired(registration) => &registration.endpoint,
            ServerEvent::Sleeping(endpoint)
            | ServerEvent::Send { endpoint, .. }
            | ServerEvent::Notification { endpoint, .. } => endpoint,
            ServerEvent::Response { .. } => return,
        };
        let mut h = std::hash::DefaultHasher::new();
        h.write(endpoint.as_bytes());
        if self.0[(h.finish() % self.0.len() as u64) as usize].send(event).is_err() {
            tracing::error!("an event pump has stopped; a server event is lost");
        }
    }
}

/// The state key of a PSK identity.
pub(super) fn psk_key(identity: &[u8]) -> String {
    format!("psk/{}", unidm_core::hex::encode(identity))
}

/// The state key of a raw public key (its DER `SubjectPublicKeyInfo`).
pub(super) fn rpk_key(spki: &[u8]) -> String {
    format!("rpk/{}", unidm_core::hex::encode(spki))
}

/// A raw public key as stored in the adapter's state (the key itself is in the state key).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredRpk {
    pub endpoint: Option<String>,
}

/// Takes a stored PSK identity or raw public key into the configuration's stores; false when
/// `key` names neither (or an unreadable one, which is logged).
pub(super) fn load_credential(config: &Lwm2mConfig, key: &str, bytes: &[u8]) -> bool {
    if let Some(hex) = key.strip_prefix("psk/") {
        match (unidm_core::hex::decode(hex), StoredPsk::decode(bytes)) {
            (Some(identity), Some(psk)) => {
                if config.psks.get(&identity).as_ref() != Some(&psk) {
                    config.psks.set(&identity, psk);
                }
                return true;
            }
            _ => tracing::warn!(%key, "an unreadable stored PSK identity is ignored"),
        }
    } else if let Some(hex) = key.strip_prefix("rpk/") {
        match (unidm_core::hex::decode(hex), serde_json::from_slice::<StoredRpk>(bytes)) {
            (Some(spki), Ok(r)) => {
                let rpk = crate::dtls::Rpk { endpoint: r.endpoint };
                if config.rpks.get(&spki).as_ref() != Some(&rpk) {
                    config.rpks.set(&spki, rpk);
                }
                return true;
            }
            _ => tracing::warn!(%key, "an unreadable stored raw public key is ignored"),
        }
    }
    false
}

/// Drops the credential a state key names (removed on another node).
pub(super) fn forget_credential(config: &Lwm2mConfig, key: &str) {
    if let Some(identity) = key.strip_prefix("psk/").and_then(unidm_core::hex::decode) {
        config.psks.remove(&identity);
    } else if let Some(spki) = key.strip_prefix("rpk/").and_then(unidm_core::hex::decode) {
        config.rpks.remove(&spki);
    }
}

/// A PSK identity as stored in the adapter's state.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredPsk {
    endpoint: Option<String>,
    /// The key, base64.
    key: String,
}

impl StoredPsk {
    pub(super) fn of(psk: &Psk) -> StoredPsk {
        use base64::Engine as _;
        StoredPsk { endpoint: psk.endpoint.clone(), key: base64::engine::general_purpose::STANDARD.encode(&psk.key) }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Psk> {
        use base64::Engine as _;
        let s: StoredPsk = serde_json::from_slice(bytes).ok()?;
        let key = base64::engine::general_purpose::STANDARD.decode(s.key).ok()?;
        Some(Psk { endpoint: s.endpoint, key })
    }
}

pub(super) async fn start(config: Lwm2mConfig, handle: AdapterHandle) -> Result<Running, AdapterError> {
    let socket =
        bind(config.listen, config.recv_buffer).map_err(|e| AdapterError(format!("bind {}: {e}", config.listen)))?;
    let local_addr = socket.local_addr().map_err(|e| AdapterError(e.to_string()))?;
    let secure = Secure::bind(config.dtls.as_ref(), &config.psks, &config.rpks, config.recv_buffer)?;
    let dtls_addr = match &secure {
        Some(s) => Some(s.local_addr().map_err(|e| AdapterError(e.to_string()))?),
        None => None,
    };
    let mut models = ObjectModels::builtin();
    if let Some(dir) = &config.ddf_dir {
        let n = models.load_dir(dir).map_err(|e| AdapterError(format!("DDF directory {}: {e}", dir.display())))?;
        tracing::info!(objects = n, dir = %dir.display(), "object definitions loaded");
    }
    let mut server = Server::new(config.server.clone(), seed());
    let mut registrations = HashMap::new();
    let mut observed: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    let stored = handle.load_state().await.map_err(|e| AdapterError(format!("loading observations: {e}")))?;
    // Registrations stored by builds before device records, under `reg/{endpoint}`.
    let mut legacy = Vec::new();
    for (k, bytes) in stored {
        if k.starts_with("psk/") || k.starts_with("rpk/") {
            load_credential(&config, &k, &bytes);
        } else if let Some(ep) = k.strip_prefix("obs/") {
            if let Ok(paths) = serde_json::from_slice::<Vec<String>>(&bytes) {
                observed.insert(ep.to_owned(), paths.into_iter().collect());
            }
        } else if k.starts_with("reg/") {
            legacy.push((k, bytes));
        }
    }
    let records = handle.device_records().await.map_err(|e| AdapterError(format!("loading registrations: {e}")))?;
    let wall = handle.now().millis();
    for (id, bytes) in records {
        let Ok(p) = serde_json::from_slice::<Persisted>(&bytes) else {
            tracing::warn!(device = %id, "dropping an unreadable stored registration");
            forget_registration(&handle, &id).await;
            continue;
        };
        let Some(remaining) = p.remaining(wall) else {
            forget_registration(&handle, &id).await;
            continue;
        };
        let registration = Arc::new(p.registration);
        registrations.insert(registration.endpoint.clone(), registration.clone());
        server.restore(now(), registration, remaining);
    }
    for (key, bytes) in legacy {
        if let Some(p) = migrate_legacy(&handle, &registrations, &key, &bytes, wall).await {
            let remaining = p.remaining(wall).flatten();
            let registration = Arc::new(p.registration);
            registrations.insert(registration.endpoint.clone(), registration.clone());
            server.restore(now(), registration, remaining);
        }
    }
    tracing::info!(%local_addr, restored = registrations.len(), "LwM2M server listening");
    if let Some(addr) = dtls_addr {
        tracing::info!(%addr, identities = config.psks.len(), "LwM2M server listening on DTLS (coaps)");
    }
    let gate = Gate::new(config.psks.clone(), config.rpks.clone(), config.require_dtls);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let delivery = Arc::new(Delivery::new(handle.clone(), DeliveryConfig::default()));
    let shared = Arc::new_cyclic(|this| Shared {
        this: this.clone(),
        config,
        models,
        delivery,
        queued: Default::default(),
        handle,
        commands,
        routes: Default::default(),
        registrations: RwLock::new(registrations),
        wakers: Default::default(),
        discoveries: Default::default(),
        children: RwLock::new(HashMap::new()),
        tasks: Mutex::new(HashMap::new()),
        observed: Mutex::new(observed),
        seen: Mutex::new(Default::default()),
    });
    let (pumps, mut tasks) = Pumps::start(&shared);
    tasks.push(tokio::spawn(run(shared.clone(), socket, secure, gate, server, command_rx, pumps)));
    Ok(Running { shared, local_addr, dtls_addr, tasks, bootstrap: None })
}

/// A stored registration that is unreadable or expired: the device goes offline and its record
/// is cleared.
async fn forget_registration(handle: &AdapterHandle, id: &DeviceId) {
    if let Err(e) = handle.device_gone_clearing_record(id, Gone::Expired).await {
        tracing::warn!(device = %id, error = %e, "could not clear an expired stored registration");
    }
}

/// Moves a registration stored under `reg/{endpoint}` by an older build into its device's
/// record and returns it to restore; `None` (and the key deleted) when a device record already
/// holds a registration of the endpoint, or this one is unreadable or expired.
async fn migrate_legacy(
    handle: &AdapterHandle,
    restored: &HashMap<String, Arc<Registration>>,
    key: &str,
    bytes: &[u8],
    wall: i64,
) -> Option<Persisted> {
    let live = serde_json::from_slice::<Persisted>(bytes)
        .ok()
        .filter(|p| !restored.contains_key(&p.registration.endpoint))
        .filter(|p| p.remaining(wall).is_some());
    let moved = match live.map(|p| (DeviceId::lwm2m(&p.registration.endpoint), p)) {
        Some((Ok(id), p)) => {
            let reg = &p.registration;
            let contact = Contact {
                state: PresenceState::Online,
                lifetime_s: Some(reg.lifetime_s),
                address: Some(reg.address.to_string()),
                boot: false,
            };
            let record = bytes.to_vec();
            if let Err(e) = handle.device_contact_with_record(&id, contact, record, |_| {}).await {
                // Left under its key, to be tried again at the next start.
                tracing::warn!(%key, error = %e, "could not move a stored registration");
                return None;
            }
            Some(p)
        }
        _ => None,
    };
    if let Err(e) = handle.delete_state(key).await {
        tracing::warn!(%key, error = %e, "could not delete a moved registration");
    }
    tracing::info!(%key, restored = moved.is_some(), "registration stored by an older build moved to its device");
    moved
}

/// A non-blocking UDP socket bound to `addr`, with the receive buffer asked for.
pub(super) fn bind(addr: std::net::SocketAddr, recv_buffer: Option<usize>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = recv_buffer {
        if let Err(e) = socket.set_recv_buffer_size(size) {
            tracing::warn!(size, error = %e, "could not enlarge the UDP receive buffer");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    shared: Arc<Shared>,
    socket: UdpSocket,
    mut secure: Option<Secure>,
    gate: Gate,
    mut server: Server,
    mut commands: mpsc::UnboundedReceiver<Command>,
    pumps: Pumps,
) {
    // Datagrams come in batches (recvmmsg, and GRO where the kernel coalesces a peer's
    // datagrams of one size into one buffer, `stride` apart).
    let udp = match quinn_udp::UdpSocketState::new((&socket).into()) {
        Ok(state) => Some(state),
        Err(e) => {
            tracing::debug!(error = %e, "batched UDP receives unavailable; one datagram at a time");
            None
        }
    };
    let mut bufs = vec![vec![0u8; 65_535]; if udp.is_some() { quinn_udp::BATCH_SIZE } else { 1 }];
    let mut meta = vec![quinn_udp::RecvMeta::default(); bufs.len()];
    let mut waiting: HashMap<RequestId, oneshot::Sender<Result<DmResponse, RequestFailure>>> = HashMap::new();
    // One timer, moved when the server's next timeout moves (not a new one per datagram).
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<tokio::time::Instant> = None;
    loop {
        let deadline = server.poll_timeout().map(tokio::time::Instant::from_std);
        if deadline != armed {
            if let Some(d) = deadline {
                sleep.as_mut().reset(d);
            }
            armed = deadline;
        }
        tokio::select! {
            r = socket.readable() => match r {
                Ok(()) => {
                    let t = now();
                    let mut refused = Vec::new();
                    // What is queued goes through the server before its answers go out.
                    let mut taken = 0;
                    while taken < BATCH {
                        let n = match receive(&socket, udp.as_ref(), &mut bufs, &mut meta) {
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                tracing::debug!(error = %e, "UDP receive error");
                                break;
                            }
                        };
                        for (buf, m) in bufs.iter().zip(&meta).take(n) {
                            for d in buf[..m.len].chunks(m.stride.max(1)) {
                                take_datagram(&mut server, &gate, t, m.addr, d, &mut refused);
                                taken += 1;
                            }
                        }
                    }
                    for (peer, reply) in refused {
                        if let Err(e) = socket.send_to(&reply, peer).await {
                            tracing::debug!(%peer, error = %e, "UDP send error");
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            },
            received = Secure::recv(&mut secure, now) => {
                let t = now();
                for r in received {
                    let endpoint_of = |id: &str| server.registration_by_id(id).map(|g| g.endpoint.clone());
                    match gate.check(r.identity.as_ref(), &r.plain, endpoint_of) {
                        Ok(()) => server.handle_datagram(t, r.peer, &r.plain),
                        // Refused over the session it came on.
                        Err(reply) => {
                            Secure::send(&mut secure, r.peer, &reply);
                        }
                    }
                }
            },
            c = commands.recv() => {
                let mut next = c;
                let mut taken = 1;
                loop {
                    match next {
                        Some(Command::Request { endpoint, request, reply }) => {
                            let id = server.request(now(), &endpoint, request);
                            waiting.insert(id, reply);
                        }
                        Some(Command::Confirm { ack, stored }) => server.confirm(now(), ack, stored),
                        Some(Command::Shutdown) | None => return,
                    }
                    if taken == BATCH {
                        break;
                    }
                    let Ok(c) = commands.try_recv() else { break };
                    (next, taken) = (Some(c), taken + 1);
                }
            },
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                server.handle_timeout(now());
                // Requests whose operation went away need no slot any more.
                let gone: Vec<RequestId> = waiting.iter().filter(|(_, r)| r.is_closed()).map(|(id, _)| *id).collect();
                for id in gone {
                    waiting.remove(&id);
                    server.cancel(id);
                }
            }
        }
        // Events first: the registrations mirror must be current before the client hears back.
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::Response { request, result } => {
                    // A reply nobody takes is a request whose operation ended meanwhile.
                    if let Some(reply) = waiting.remove(&request) {
                        if reply.send(result).is_err() {
                            tracing::debug!(?request, "an answer came for an operation that ended");
                        }
                    }
                }
                other => {
                    mirror(&shared, &other);
                    if let ServerEvent::Notification { endpoint, prefix, observed, response } = &other {
                        contact::route_notification(&shared, endpoint, prefix.as_deref(), observed, response);
                    }
                    tap(&shared, &other, &secure);
                    pumps.send(other);
                }
            }
        }
        while let Some(t) = server.poll_transmit() {
            // A peer with a DTLS session is answered over it.
            if Secure::send(&mut secure, t.peer, &t.bytes) {
                continue;
            }
            if let Err(e) = socket.send_to(&t.bytes, t.peer).await {
                tracing::debug!(peer = %t.peer, error = %e, "UDP send error");
            }
        }
        Secure::flush(&mut secure).await;
    }
}

/// Reads what is queued on the socket without waiting: up to a batch of buffers with
/// `udp` (their lengths, sources and GRO strides in `meta`), or one datagram without it; the
/// number of buffers filled, or `WouldBlock` when nothing is queued.
fn receive(
    socket: &UdpSocket,
    udp: Option<&quinn_udp::UdpSocketState>,
    bufs: &mut [Vec<u8>],
    meta: &mut [quinn_udp::RecvMeta],
) -> std::io::Result<usize> {
    match udp {
        Some(state) => socket.try_io(tokio::io::Interest::READABLE, || {
            let mut slices: Vec<std::io::IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| std::io::IoSliceMut::new(b)).collect();
            state.recv((socket).into(), &mut slices, meta)
        }),
        None => {
            let (n, peer) = socket.try_recv_from(&mut bufs[0])?;
            meta[0] = quinn_udp::RecvMeta { addr: peer, len: n, stride: n, ..quinn_udp::RecvMeta::default() };
            Ok(1)
        }
    }
}

/// Offers one plain datagram to the server, unless the gate refuses it (an endpoint that must
/// use DTLS): its refusal is then queued in `refused` for the caller to send.
fn take_datagram(
    server: &mut Server,
    gate: &Gate,
    now: Instant,
    peer: std::net::SocketAddr,
    d: &[u8],
    refused: &mut Vec<(std::net::SocketAddr, Vec<u8>)>,
) {
    // Checked only when some endpoint must use DTLS.
    if gate.active() {
        let endpoint_of = |id: &str| server.registration_by_id(id).map(|g| g.endpoint.clone());
        if let Err(reply) = gate.check(None, d, endpoint_of) {
            refused.push((peer, reply));
            return;
        }
    }
    server.handle_datagram(now, peer, d);
}

/// Keeps the registrations operation tasks look at in step with the server.
fn mirror(shared: &Shared, event: &ServerEvent) {
    let Ok(mut regs) = shared.registrations.write() else { return };
    let ended = match event {
        ServerEvent::Registration(change, _) => match &**change {
            RdChange::Registered { registration, .. } | RdChange::Updated { registration, .. } => {
                regs.insert(registration.endpoint.clone(), registration.clone());
                drop(regs);
                shared.wake(&registration.endpoint);
                return;
            }
            RdChange::Deregistered { registration } => registration,
        },
        ServerEvent::Expired(registration) => &**registration,
        _ => return,
    };
    regs.remove(&ended.endpoint);
}

/// The registration as stored in its device's record.
fn record(shared: &Shared, reg: &Registration) -> Option<Vec<u8>> {
    let expires_at_ms = (reg.lifetime_s > 0).then(|| shared.handle.now().millis() + i64::from(reg.lifetime_s) * 1000);
    let p = Persisted { registration: reg.clone(), expires_at_ms };
    serde_json::to_vec(&p).map_err(|e| tracing::error!(error = %e, "could not serialize registration")).ok()
}

/// Releases the reply the server holds for a registration change.
fn confirm(shared: &Shared, ack: Option<Ack>, stored: bool) {
    if let Some(ack) = ack {
        if shared.commands.send(super::Command::Confirm { ack, stored }).is_err() {
            tracing::debug!("a registration reply not released: the server has stopped");
        }
    }
}

/// A Register (`boot`) or Update; `new_objects` when the client's object list is new, so
/// the adapter reads what it maps from them.
async fn contact(shared: &Arc<Shared>, reg: &Registration, boot: bool, new_objects: bool, ack: Option<Ack>) {
    let Ok(id) = DeviceId::lwm2m(&reg.endpoint) else {
        // The server accepts endpoint names the device id scheme does not; keep the
        // registration (it answers requests) but nothing is stored for it.
        return confirm(shared, ack, true);
    };
    let caps = mapping::capabilities(reg);
    let contact = Contact {
        state: PresenceState::Online,
        lifetime_s: Some(reg.lifetime_s),
        address: Some(reg.address.to_string()),
        boot,
    };
    let update = |d: &mut unidm_models::Device| d.capabilities = Some(caps);
    let result = match record(shared, reg) {
        Some(record) => shared.handle.device_contact_with_record(&id, contact, record, update).await,
        None => shared.handle.device_contact(&id, contact, update).await,
    };
    confirm(shared, ack, result.is_ok());
    if let Err(e) = result {
        tracing::error!(device = %id, error = %e, "could not store the registration");
        return;
    }
    // A new registration ends the client's observations; a restart ended ours.
    let first_since_start = shared.seen.lock().map(|mut s| s.insert(reg.endpoint.clone())).unwrap_or(false);
    let resume = boot || first_since_start;
    let refresh = new_objects && (shared.config.read_device_on_register || reg.has_object(25));
    if resume || refresh {
        // One task, so that the gateway's end devices are discovered once (a new object list
        // reads /25 anyway), after the observations are made again.
        let shared = shared.clone();
        let reg = reg.clone();
        tokio::spawn(async move {
            match (resume, refresh) {
                (true, false) => contact::resume_observations(&shared, &reg.endpoint).await,
                (true, true) => contact::resume_own_observations(&shared, &reg.endpoint).await,
                _ => {}
            }
            if refresh {
                contact::refresh_on_contact(&shared, &reg).await;
            }
        });
    }
}

async fn gone(shared: &Shared, reg: &Registration, why: Gone, ack: Option<Ack>) {
    if let Ok(mut seen) = shared.seen.lock() {
        seen.remove(&reg.endpoint);
    }
    let result = match DeviceId::lwm2m(&reg.endpoint) {
        Ok(id) => shared.handle.device_gone_clearing_record(&id, why).await,
        Err(_) => Ok(()),
    };
    // De-register is answered even if the device was unknown to the engine.
    let stored = !matches!(&result, Err(e) if !e.is_not_found());
    confirm(shared, ack, stored);
    if let Err(e) = result {
        tracing::debug!(endpoint = %reg.endpoint, error = %e, "device gone");
    }
    gateway::gateway_gone(shared, &reg.endpoint, why).await;
}

/// Records a device-initiated message of a tapped device (Register, Update, De-register, Send,
/// Notify) in the wire tap; a Register says how it came (DTLS and the identity, or clear text).
fn tap(shared: &Shared, event: &ServerEvent, secure: &Option<Secure>) {
    let tap = shared.handle.wire_tap();
    if !tap.is_tapped_any() {
        return;
    }
    let endpoint = match event {
        ServerEvent::Registration(change, _) => match &**change {
            RdChange::Registered { registration, .. }
            | RdChange::Updated { registration, .. }
            | RdChange::Deregistered { registration } => &registration.endpoint,
        },
        ServerEvent::Send { endpoint, .. } | ServerEvent::Notification { endpoint, prefix: None, .. } => endpoint,
        _ => return,
    };
    let Ok(id) = DeviceId::lwm2m(endpoint) else { return };
    if !tap.is_tapped(&id) {
        return;
    }
    let (summary, body) = match event {
        ServerEvent::Registration(change, _) => match &**change {
            RdChange::Registered { registration, .. } => (
                format!(
                    "Register {} {}",
                    wire::registration(registration),
                    Secure::transport(secure, &registration.address)
                ),
                wire::objects(registration),
            ),
            RdChange::Updated { registration, objects_changed } => {
                let objects = if *objects_changed { wire::objects(registration) } else { String::new() };
                (format!("Update /rd/{} lt={}", registration.id, registration.lifetime_s), objects)
            }
            RdChange::Deregistered { registration } => (format!("De-register /rd/{}", registration.id), String::new()),
        },
        ServerEvent::Send { response, .. } => {
            wire::device_message("Send", &crate::path::Path::Root, response, &shared.models)
        }
        ServerEvent::Notification { observed, response, .. } => {
            let path = match observed {
                Observed::Path(p) => *p,
                _ => crate::path::Path::Root,
            };
            wire::device_message("Notify", &path, response, &shared.models)
        }
        _ => return,
    };
    tap.record(&id, shared.handle.now(), unidm_core::Direction::FromDevice, || (summary, body));
}

async fn pump(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<ServerEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            ServerEvent::Registration(change, ack) => match *change {
                RdChange::Registered { registration, .. } => contact(&shared, &registration, true, true, ack).await,
                RdChange::Updated { registration, objects_changed } => {
                    contact(&shared, &registration, false, objects_changed, ack).await
                }
                RdChange::Deregistered { registration } => gone(&shared, &registration, Gone::Deregistered, ack).await,
            },
            ServerEvent::Expired(registration) => gone(&shared, &registration, Gone::Expired, None).await,
            ServerEvent::Sleeping(endpoint) => {
                if let Ok(id) = DeviceId::lwm2m(&endpoint) {
                    let marked = shared
                        .handle
                        .update_device(&id, |d| {
                            if d.presence.state == PresenceState::Online {
                                d.presence.state = PresenceState::Sleeping;
                            }
                        })
                        .await;
                    if let Err(e) = marked {
                        tracing::warn!(device = %id, error = %e, "could not mark the device sleeping");
                    }
                }
            }
            ServerEvent::Send { endpoint, response } => {
                let Ok(id) = DeviceId::lwm2m(&endpoint) else { continue };
                match device_request::decode(&crate::path::Path::Root, &response, &shared.models) {
                    Ok(content) => {
                        for record in &content.records {
                            shared.handle.observation(
                                &id,
                                &record.path.to_string(),
                                device_request::value_to_json(&record.value),
                            );
                        }
                    }
                    Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable Send payload"),
                }
            }
            ServerEvent::Notification { endpoint, prefix, observed, response } => {
                contact::report_notification(&shared, &endpoint, prefix.as_deref(), &observed, &response)
            }
            ServerEvent::Response { .. } => {}
        }
    }
}
