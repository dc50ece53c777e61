//! The I/O shell: one tokio task owns the UDP socket and the sans-I/O server, reads the clock,
//! sleeps until the server's next timeout, and hands server events to a pump task that calls
//! the engine (which may wait on storage, so it must not stall the socket).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use unidm_core::{AdapterError, AdapterHandle, Contact, Gone};
use unidm_models::{DeviceId, PresenceState};

use super::{composite, dm, mapping, ops, Command, Ctx, Lwm2mConfig, Notified, Running};
use crate::model::ObjectModels;
use crate::server::{DmResponse, Observed, RdChange, Registration, RequestFailure, RequestId, Server, ServerEvent};

/// A registration as persisted with `put_state` under `reg/{endpoint}`.
#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    registration: Registration,
    /// Wall-clock expiry, milliseconds since the epoch; `None` for no expiry.
    expires_at_ms: Option<i64>,
}

fn key(endpoint: &str) -> String {
    format!("reg/{endpoint}")
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

enum PumpEvent {
    Server(ServerEvent),
}

pub(super) async fn start(config: Lwm2mConfig, handle: AdapterHandle) -> Result<Running, AdapterError> {
    let socket =
        UdpSocket::bind(config.listen).await.map_err(|e| AdapterError(format!("bind {}: {e}", config.listen)))?;
    let local_addr = socket.local_addr().map_err(|e| AdapterError(e.to_string()))?;
    let mut models = ObjectModels::builtin();
    if let Some(dir) = &config.ddf_dir {
        let n = models.load_dir(dir).map_err(|e| AdapterError(format!("DDF directory {}: {e}", dir.display())))?;
        tracing::info!(objects = n, dir = %dir.display(), "object definitions loaded");
    }
    let mut server = Server::new(config.server.clone(), seed());
    let mut registrations = HashMap::new();
    let mut observed: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    let stored = handle.load_state().await.map_err(|e| AdapterError(format!("loading registrations: {e}")))?;
    let wall = handle.now().millis();
    for (k, bytes) in stored {
        if let Some(ep) = k.strip_prefix("obs/") {
            if let Ok(paths) = serde_json::from_slice::<Vec<String>>(&bytes) {
                observed.insert(ep.to_owned(), paths.into_iter().collect());
            }
            continue;
        }
        let Some(ep) = k.strip_prefix("reg/") else { continue };
        let Ok(p) = serde_json::from_slice::<Persisted>(&bytes) else {
            tracing::warn!(key = %k, "dropping unreadable stored registration");
            let _ = handle.delete_state(&k).await;
            continue;
        };
        let remaining = p.expires_at_ms.map(|at| at - wall);
        if remaining.is_some_and(|r| r <= 0) {
            let _ = handle.delete_state(&k).await;
            if let Ok(id) = DeviceId::lwm2m(ep) {
                let _ = handle.device_gone(&id, Gone::Expired).await;
            }
            continue;
        }
        let remaining = remaining.map(|ms| Duration::from_millis(ms as u64));
        registrations.insert(p.registration.endpoint.clone(), p.registration.clone());
        server.restore(now(), p.registration, remaining);
    }
    tracing::info!(%local_addr, restored = registrations.len(), "LwM2M server listening");
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (pump_tx, pump_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        config,
        models,
        handle,
        commands,
        notifications: broadcast::channel(1024).0,
        registrations: RwLock::new(registrations),
        registered: Notify::new(),
        children: RwLock::new(HashMap::new()),
        tasks: Mutex::new(HashMap::new()),
        observed: Mutex::new(observed),
        seen: Mutex::new(Default::default()),
    });
    let io = tokio::spawn(run(ctx.clone(), socket, server, command_rx, pump_tx));
    let pump = tokio::spawn(pump(ctx.clone(), pump_rx));
    Ok(Running { ctx, local_addr, tasks: vec![io, pump], bootstrap: None })
}

async fn run(
    ctx: Arc<Ctx>,
    socket: UdpSocket,
    mut server: Server,
    mut commands: mpsc::UnboundedReceiver<Command>,
    pump: mpsc::UnboundedSender<PumpEvent>,
) {
    let mut buf = vec![0u8; 65_535];
    let mut waiting: HashMap<RequestId, oneshot::Sender<Result<DmResponse, RequestFailure>>> = HashMap::new();
    loop {
        let deadline = server.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => server.handle_datagram(now(), peer, &buf[..n]),
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            },
            c = commands.recv() => match c {
                Some(Command::Request { endpoint, request, reply }) => {
                    let id = server.request(now(), &endpoint, request);
                    waiting.insert(id, reply);
                }
                Some(Command::Shutdown) | None => break,
            },
            _ = sleep_until(deadline) => {
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
                    if let Some(reply) = waiting.remove(&request) {
                        let _ = reply.send(result);
                    }
                }
                other => {
                    mirror(&ctx, &other);
                    if let ServerEvent::Notification { endpoint, observed, response } = &other {
                        let _ = ctx.notifications.send(Notified {
                            endpoint: endpoint.clone(),
                            observed: observed.clone(),
                            response: response.clone(),
                        });
                    }
                    let _ = pump.send(PumpEvent::Server(other));
                }
            }
        }
        while let Some(t) = server.poll_transmit() {
            if let Err(e) = socket.send_to(&t.bytes, t.peer).await {
                tracing::debug!(peer = %t.peer, error = %e, "UDP send error");
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Keeps the registrations operation tasks look at in step with the server.
fn mirror(ctx: &Ctx, event: &ServerEvent) {
    let Ok(mut regs) = ctx.registrations.write() else { return };
    let ended = match event {
        ServerEvent::Registration(change) => match &**change {
            RdChange::Registered { registration, .. } | RdChange::Updated { registration } => {
                regs.insert(registration.endpoint.clone(), registration.clone());
                drop(regs);
                ctx.registered.notify_waiters();
                return;
            }
            RdChange::Deregistered { registration } => registration,
        },
        ServerEvent::Expired(registration) => &**registration,
        _ => return,
    };
    regs.remove(&ended.endpoint);
}

async fn persist(ctx: &Ctx, reg: &Registration) {
    let expires_at_ms = (reg.lifetime_s > 0).then(|| ctx.handle.now().millis() + i64::from(reg.lifetime_s) * 1000);
    let p = Persisted { registration: reg.clone(), expires_at_ms };
    match serde_json::to_vec(&p) {
        Ok(bytes) => {
            if let Err(e) = ctx.handle.put_state(&key(&reg.endpoint), bytes).await {
                tracing::error!(endpoint = %reg.endpoint, error = %e, "could not store registration");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not serialize registration"),
    }
}

async fn contact(ctx: &Arc<Ctx>, reg: &Registration, boot: bool) {
    let Ok(id) = DeviceId::lwm2m(&reg.endpoint) else { return };
    persist(ctx, reg).await;
    let caps = mapping::capabilities(reg);
    let contact = Contact {
        state: PresenceState::Online,
        lifetime_s: Some(reg.lifetime_s),
        address: Some(reg.address.to_string()),
        boot,
    };
    if let Err(e) = ctx.handle.device_contact(&id, contact, |d| d.capabilities = Some(caps)).await {
        tracing::error!(device = %id, error = %e, "could not record contact");
    }
    // A new registration ends the client's observations; a restart ended ours.
    let first_since_start = ctx.seen.lock().map(|mut s| s.insert(reg.endpoint.clone())).unwrap_or(false);
    if boot || first_since_start {
        let ctx = ctx.clone();
        let endpoint = reg.endpoint.clone();
        tokio::spawn(async move { ops::resume_observations(&ctx, &endpoint).await });
    }
    if boot && reg.has_object(25) {
        let ctx = ctx.clone();
        let reg = reg.clone();
        tokio::spawn(async move { super::gateway::discover_children(&ctx, &reg).await });
    }
    if boot && ctx.config.read_device_on_register && reg.has_object(3) {
        let ctx = ctx.clone();
        let endpoint = reg.endpoint.clone();
        tokio::spawn(async move {
            if let Err(e) = ops::refresh_device_info(&ctx, &endpoint).await {
                tracing::debug!(%endpoint, error = %e.message, "reading /3/0 after registration failed");
            }
        });
    }
}

async fn gone(ctx: &Ctx, reg: &Registration, why: Gone) {
    if let Ok(mut seen) = ctx.seen.lock() {
        seen.remove(&reg.endpoint);
    }
    if let Err(e) = ctx.handle.delete_state(&key(&reg.endpoint)).await {
        tracing::error!(endpoint = %reg.endpoint, error = %e, "could not delete registration");
    }
    if let Ok(id) = DeviceId::lwm2m(&reg.endpoint) {
        if let Err(e) = ctx.handle.device_gone(&id, why).await {
            tracing::debug!(device = %id, error = %e, "device gone");
        }
    }
}

async fn pump(ctx: Arc<Ctx>, mut events: mpsc::UnboundedReceiver<PumpEvent>) {
    while let Some(PumpEvent::Server(event)) = events.recv().await {
        match event {
            ServerEvent::Registration(change) => match *change {
                RdChange::Registered { registration, .. } => contact(&ctx, &registration, true).await,
                RdChange::Updated { registration } => contact(&ctx, &registration, false).await,
                RdChange::Deregistered { registration } => gone(&ctx, &registration, Gone::Deregistered).await,
            },
            ServerEvent::Expired(registration) => gone(&ctx, &registration, Gone::Expired).await,
            ServerEvent::Sleeping(endpoint) => {
                if let Ok(id) = DeviceId::lwm2m(&endpoint) {
                    let _ = ctx
                        .handle
                        .update_device(&id, |d| {
                            if d.presence.state == PresenceState::Online {
                                d.presence.state = PresenceState::Sleeping;
                            }
                        })
                        .await;
                }
            }
            ServerEvent::Send { endpoint, response } => {
                let Ok(id) = DeviceId::lwm2m(&endpoint) else { continue };
                match dm::decode(&crate::path::Path::Root, &response, &ctx.models) {
                    Ok(content) => {
                        for record in &content.records {
                            ctx.handle.observation(&id, &record.path.to_string(), dm::value_to_json(&record.value));
                        }
                    }
                    Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable Send payload"),
                }
            }
            ServerEvent::Notification { endpoint, observed, response } => {
                let Ok(id) = DeviceId::lwm2m(&endpoint) else { continue };
                if dm::check(&response).is_err() {
                    continue;
                }
                match observed {
                    Observed::Path(path) => match dm::decode(&path, &response, &ctx.models) {
                        Ok(content) => {
                            ctx.handle.observation(&id, &path.to_string(), dm::content_to_json(&path, &content))
                        }
                        Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
                    },
                    // An Observe-Composite notification carries all its paths: one event per
                    // resource, as for Send.
                    Observed::Composite(_) => match composite::decode(&response, &ctx.models) {
                        Ok(content) => {
                            for record in &content.records {
                                ctx.handle.observation(&id, &record.path.to_string(), dm::value_to_json(&record.value));
                            }
                        }
                        Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
                    },
                }
            }
            ServerEvent::Response { .. } => {}
        }
    }
}
