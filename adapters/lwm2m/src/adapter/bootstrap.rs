//! The bootstrap server's I/O shell and the adapter's API for its configurations: one tokio
//! task owns the bootstrap UDP socket and the sans-I/O [`BootstrapServer`]; configurations
//! are kept in memory and persisted with `put_state("bs/{endpoint}")`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use unidm_core::{AdapterError, AdapterHandle, Direction};
use unidm_models::DeviceId;

use super::gate::Gate;
use super::secure::Secure;
use super::Lwm2mAdapter;
use crate::bootstrap::{BootstrapConfig, BootstrapConfigError, BootstrapEvent, BootstrapLimits, BootstrapServer};

pub(super) const PREFIX: &str = "bs/";

pub(crate) enum BsCommand {
    /// Installs (or removes) a configuration; answers once the server has it.
    Set(String, Option<BootstrapConfig>, tokio::sync::oneshot::Sender<()>),
    Shutdown,
}

/// The running bootstrap server.
pub(crate) struct BootstrapRunning {
    pub local_addr: SocketAddr,
    pub dtls_addr: Option<SocketAddr>,
    configs: Mutex<BTreeMap<String, BootstrapConfig>>,
    commands: mpsc::UnboundedSender<BsCommand>,
    handle: AdapterHandle,
    max_endpoint_len: usize,
    pub task: JoinHandle<()>,
}

impl BootstrapRunning {
    /// Hands a configuration to the server task and waits until it holds it, so that a
    /// Bootstrap-Request right after `put_bootstrap_config` returns sees it.
    async fn install(&self, ep: &str, config: Option<BootstrapConfig>) {
        let (done, applied) = tokio::sync::oneshot::channel();
        if self.commands.send(BsCommand::Set(ep.to_owned(), config, done)).is_ok() {
            let _ = applied.await;
        }
    }

    pub fn shutdown(&self) {
        let _ = self.commands.send(BsCommand::Shutdown);
        self.task.abort();
    }
}

/// What the bootstrap server's DTLS side needs: where, and whom it knows.
pub(crate) struct BootstrapSecurity<'a> {
    pub dtls: Option<&'a super::DtlsSettings>,
    pub psks: &'a crate::dtls::PskStore,
    pub rpks: &'a crate::dtls::RpkStore,
    pub require_dtls: bool,
}

pub(crate) async fn start(
    listen: SocketAddr,
    limits: BootstrapLimits,
    handle: AdapterHandle,
    seed: u64,
    security: BootstrapSecurity<'_>,
) -> Result<Arc<BootstrapRunning>, AdapterError> {
    let socket = UdpSocket::bind(listen).await.map_err(|e| AdapterError(format!("bind bootstrap {listen}: {e}")))?;
    let local_addr = socket.local_addr().map_err(|e| AdapterError(e.to_string()))?;
    let secure = Secure::bind(security.dtls, security.psks, security.rpks, None)?;
    let dtls_addr = match &secure {
        Some(s) => Some(s.local_addr().map_err(|e| AdapterError(e.to_string()))?),
        None => None,
    };
    if let Some(addr) = dtls_addr {
        tracing::info!(%addr, "LwM2M bootstrap server listening on DTLS (coaps)");
    }
    let gate = Gate::new(security.psks.clone(), security.rpks.clone(), security.require_dtls);
    let max_endpoint_len = limits.max_endpoint_len;
    let mut server = BootstrapServer::new(limits, seed);
    let mut configs = BTreeMap::new();
    let stored = handle.load_state().await.map_err(|e| AdapterError(format!("loading bootstrap configs: {e}")))?;
    for (key, bytes) in stored {
        let Some(ep) = key.strip_prefix(PREFIX) else { continue };
        match serde_json::from_slice::<BootstrapConfig>(&bytes) {
            Ok(c) => {
                server.set_config(ep, Some(c.clone()));
                configs.insert(ep.to_owned(), c);
            }
            Err(e) => tracing::warn!(%key, error = %e, "ignoring unreadable bootstrap configuration"),
        }
    }
    tracing::info!(%local_addr, configs = configs.len(), "LwM2M bootstrap server listening");
    let (commands, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(socket, secure, gate, server, rx, handle.clone()));
    Ok(Arc::new(BootstrapRunning {
        local_addr,
        dtls_addr,
        configs: Mutex::new(configs),
        commands,
        handle,
        max_endpoint_len,
        task,
    }))
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// A bootstrap session of a tapped device, in the wire tap: its Bootstrap-Request, the
/// acknowledged Bootstrap-Finish, or why it failed.
fn tap(handle: &AdapterHandle, event: &BootstrapEvent, secure: &Option<Secure>) {
    let tap = handle.wire_tap();
    if !tap.is_tapped_any() {
        return;
    }
    let (endpoint, direction, summary) = match event {
        BootstrapEvent::Started { endpoint, peer } => (
            endpoint,
            Direction::FromDevice,
            format!("Bootstrap-Request ep={endpoint} from {peer} {}", Secure::transport(secure, peer)),
        ),
        BootstrapEvent::Finished { endpoint, .. } => {
            (endpoint, Direction::FromDevice, "bootstrap finished: Bootstrap-Finish acknowledged".to_owned())
        }
        BootstrapEvent::Failed { endpoint, reason } => {
            (endpoint, Direction::ToDevice, format!("bootstrap failed: {reason}"))
        }
        BootstrapEvent::Step { endpoint, request, answer } => {
            if let Ok(id) = DeviceId::lwm2m(endpoint) {
                tap.record(&id, handle.now(), Direction::ToDevice, || (request.clone(), String::new()));
                tap.record(&id, handle.now(), Direction::FromDevice, || {
                    (format!("{answer} to {request}"), String::new())
                });
            }
            return;
        }
    };
    if let Ok(id) = DeviceId::lwm2m(endpoint) {
        tap.record(&id, handle.now(), direction, || (summary, String::new()));
    }
}

async fn run(
    socket: UdpSocket,
    mut secure: Option<Secure>,
    gate: Gate,
    mut server: BootstrapServer,
    mut commands: mpsc::UnboundedReceiver<BsCommand>,
    handle: AdapterHandle,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = server.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    // Clear-text bootstrap is refused only with `require_dtls`: an endpoint with
                    // a PSK for the server (given by a clear-text bootstrap, say) may still
                    // bootstrap in clear text.
                    // No registrations here: only Bootstrap-Requests are checked.
                    let refused = if gate.requires_dtls() { gate.check(None, &buf[..n], |_| None).err() } else { None };
                    match refused {
                        Some(reply) => {
                            let _ = socket.send_to(&reply, peer).await;
                        }
                        None => server.handle_datagram(now(), peer, &buf[..n]),
                    }
                }
                Err(e) => tracing::debug!(error = %e, "bootstrap UDP receive error"),
            },
            received = Secure::recv(&mut secure, now) => {
                let t = now();
                for r in received {
                    match gate.check(r.identity.as_ref(), &r.plain, |_| None) {
                        Ok(()) => server.handle_datagram(t, r.peer, &r.plain),
                        Err(reply) => {
                            Secure::send(&mut secure, r.peer, &reply);
                        }
                    }
                }
            },
            c = commands.recv() => match c {
                Some(BsCommand::Set(ep, config, done)) => {
                    server.set_config(&ep, config);
                    let _ = done.send(());
                }
                Some(BsCommand::Shutdown) | None => break,
            },
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                server.handle_timeout(now());
            }
        }
        while let Some(event) = server.poll_event() {
            tap(&handle, &event, &secure);
            match event {
                BootstrapEvent::Started { endpoint, peer } => tracing::info!(%endpoint, %peer, "bootstrap started"),
                BootstrapEvent::Finished { endpoint, peer } => tracing::info!(%endpoint, %peer, "bootstrap finished"),
                BootstrapEvent::Failed { endpoint, reason } => tracing::warn!(%endpoint, %reason, "bootstrap failed"),
                BootstrapEvent::Step { endpoint, request, answer } => {
                    tracing::debug!(%endpoint, %request, %answer, "bootstrap step")
                }
            }
        }
        while let Some(t) = server.poll_transmit() {
            if Secure::send(&mut secure, t.peer, &t.bytes) {
                continue;
            }
            if let Err(e) = socket.send_to(&t.bytes, t.peer).await {
                tracing::debug!(peer = %t.peer, error = %e, "bootstrap UDP send error");
            }
        }
        Secure::flush(&mut secure).await;
    }
}

impl Lwm2mAdapter {
    fn bootstrap(&self) -> Option<&Arc<BootstrapRunning>> {
        self.running.get()?.bootstrap.as_ref()
    }

    /// The bootstrap server's bound UDP address, once started (None when disabled).
    pub fn bootstrap_addr(&self) -> Option<SocketAddr> {
        self.bootstrap().map(|b| b.local_addr)
    }

    /// The bootstrap server's DTLS address, once started with
    /// [`super::Lwm2mConfig::bootstrap_dtls`].
    pub fn bootstrap_dtls_addr(&self) -> Option<SocketAddr> {
        self.bootstrap().and_then(|b| b.dtls_addr)
    }

    /// Every endpoint's bootstrap configuration, by endpoint name.
    pub async fn bootstrap_configs(&self) -> Vec<(String, BootstrapConfig)> {
        match self.bootstrap() {
            Some(b) => b.configs.lock().await.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => Vec::new(),
        }
    }

    /// Installs the stored configurations another node changed (all of them, as stored now).
    pub(super) async fn sync_bootstrap_configs(&self, stored: BTreeMap<String, BootstrapConfig>) {
        let Some(b) = self.bootstrap() else { return };
        let mut changed = Vec::new();
        {
            let mut configs = b.configs.lock().await;
            for (ep, cfg) in &stored {
                if configs.get(ep) != Some(cfg) {
                    configs.insert(ep.clone(), cfg.clone());
                    changed.push((ep.clone(), Some(cfg.clone())));
                }
            }
            let gone: Vec<String> = configs.keys().filter(|ep| !stored.contains_key(*ep)).cloned().collect();
            for ep in gone {
                configs.remove(&ep);
                changed.push((ep, None));
            }
        }
        for (ep, cfg) in changed {
            b.install(&ep, cfg).await;
        }
    }

    /// The bootstrap configuration of `ep`.
    pub async fn bootstrap_config(&self, ep: &str) -> Option<BootstrapConfig> {
        self.bootstrap()?.configs.lock().await.get(ep).cloned()
    }

    /// Validates ([`BootstrapConfig::validate`]), persists and installs the configuration of
    /// `ep`; the next Bootstrap-Request of `ep` uses it.
    pub async fn put_bootstrap_config(&self, ep: &str, cfg: BootstrapConfig) -> Result<(), BootstrapConfigError> {
        let b = self.bootstrap().ok_or(BootstrapConfigError::NotRunning)?;
        if ep.is_empty() || ep.len() > b.max_endpoint_len || ep.chars().any(char::is_control) {
            return Err(BootstrapConfigError::Endpoint(format!("1 to {} printable bytes", b.max_endpoint_len)));
        }
        cfg.validate()?;
        let bytes = serde_json::to_vec(&cfg).map_err(|e| BootstrapConfigError::Storage(e.to_string()))?;
        let mut configs = b.configs.lock().await;
        b.handle
            .put_state(&format!("{PREFIX}{ep}"), bytes)
            .await
            .map_err(|e| BootstrapConfigError::Storage(e.to_string()))?;
        let old = configs.insert(ep.to_owned(), cfg.clone());
        drop(configs);
        if let Some(old) = old {
            self.forget_bootstrap_credentials(ep, &old, Some(&cfg)).await;
        }
        // A client given a PSK or a raw key pair for `coaps` registers over DTLS with it: the
        // server learns it.
        for (identity, key) in cfg.psks() {
            if let Err(e) = self.set_psk(identity.as_bytes(), Some(ep), &key).await {
                tracing::warn!(endpoint = %ep, %identity, error = %e.message, "bootstrap PSK not given to the server");
            }
        }
        for key in cfg.rpks() {
            if let Err(e) = self.set_rpk(&key, Some(ep)).await {
                let key = crate::dtls::fingerprint(&key);
                tracing::warn!(endpoint = %ep, %key, error = %e.message, "bootstrap raw public key not given to the server");
            }
        }
        b.install(ep, Some(cfg)).await;
        Ok(())
    }

    /// Removes the configuration of `ep`; false when there was none.
    pub async fn delete_bootstrap_config(&self, ep: &str) -> bool {
        let Some(b) = self.bootstrap() else { return false };
        let mut configs = b.configs.lock().await;
        let Some(old) = configs.remove(ep) else { return false };
        drop(configs);
        if let Err(e) = b.handle.delete_state(&format!("{PREFIX}{ep}")).await {
            tracing::error!(endpoint = %ep, error = %e, "could not delete the stored bootstrap configuration");
        }
        self.forget_bootstrap_credentials(ep, &old, None).await;
        b.install(ep, None).await;
        true
    }

    /// Removes the server PSK identities and raw public keys `old` gave `ep`, but those `new`
    /// gives it too: a replaced or deleted configuration leaves no credential behind.
    async fn forget_bootstrap_credentials(&self, ep: &str, old: &BootstrapConfig, new: Option<&BootstrapConfig>) {
        let keep = new.map(BootstrapConfig::psks).unwrap_or_default();
        for (identity, _) in old.psks() {
            let bound_here =
                self.config.psks.get(identity.as_bytes()).is_some_and(|p| p.endpoint.as_deref() == Some(ep));
            if bound_here && !keep.iter().any(|(k, _)| *k == identity) {
                if let Err(e) = self.remove_psk(identity.as_bytes()).await {
                    tracing::warn!(endpoint = %ep, %identity, error = %e.message, "bootstrap PSK not removed");
                }
            }
        }
        let keep = new.map(BootstrapConfig::rpks).unwrap_or_default();
        for key in old.rpks() {
            let bound_here = self.config.rpks.get(&key).is_some_and(|r| r.endpoint.as_deref() == Some(ep));
            if bound_here && !keep.contains(&key) {
                if let Err(e) = self.remove_rpk(&key).await {
                    let key = crate::dtls::fingerprint(&key);
                    tracing::warn!(endpoint = %ep, %key, error = %e.message, "bootstrap raw public key not removed");
                }
            }
        }
    }
}
