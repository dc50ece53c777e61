//! Drives the sans-I/O [`AcsSession`]s: feeds each POST in, reacts to what the CPE said
//! (Inform, TransferComplete, responses) by reporting to the engine, and feeds the next queued
//! request in before the reply is taken.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unidm_core::Contact;
use unidm_models::{Action, DeviceId, OperationError, OperationId, PresenceState, Progress};

use super::conn_req::CrFailure;
use super::state::{device_key, wait_key, DeviceRecord, Job, Slot, Waiting};
use super::Acs;
use crate::model::{capabilities, json_of, DataModel, Facts};
use crate::ops::{self, Await, DeviceView, Outcome, Phase};
use crate::rpc::inform::{event_code, Inform};
use crate::rpc::Rpc;
use crate::session::{AcsSession, Reply, SessionConfig, SessionError, SessionEvent};
use crate::soap::{Limits, XsdType};

/// What the HTTP shell answers.
#[derive(Debug)]
pub(crate) enum HttpReply {
    /// 200 with a SOAP envelope; the cookie to set on a new session.
    Envelope(Vec<u8>, Option<String>),
    /// 204: the session is over.
    NoContent,
    /// An HTTP error with a reason.
    Error(u16, String),
}

struct View<'a> {
    model: Option<DataModel>,
    types: Option<&'a std::collections::HashMap<String, XsdType>>,
    upload_base: Option<String>,
}

impl DeviceView for View<'_> {
    fn model(&self) -> Option<DataModel> {
        self.model
    }
    fn reported_type(&self, name: &str) -> Option<XsdType> {
        self.types.and_then(|t| t.get(name).cloned())
    }
    fn upload_base(&self) -> Option<String> {
        self.upload_base.clone()
    }
}

impl Acs {
    /// The settings of every session, built once.
    fn session_config(&self) -> &SessionConfig {
        self.session_config.get_or_init(|| SessionConfig {
            default_timeout: self.config.session_timeout,
            limits: Limits { max_envelope_bytes: self.config.max_envelope, ..Limits::default() },
            ..SessionConfig::default()
        })
    }

    /// A fresh session slot for a CPE connecting from `peer`.
    fn new_slot(
        &self,
        peer: SocketAddr,
        now: Instant,
        user: Option<String>,
    ) -> (Arc<tokio::sync::Mutex<Slot>>, String) {
        let key = super::secret::token();
        let slot = Arc::new(tokio::sync::Mutex::new(Slot {
            key: key.clone(),
            session: AcsSession::new(self.session_config().clone(), now),
            device: None,
            sent: None,
            peer,
            reject: None,
            user,
        }));
        let mut st = self.state();
        st.sessions.insert(key.clone(), slot.clone());
        st.by_peer.insert(peer, key.clone());
        (slot, key)
    }

    /// Whether a POST inside a session is a new Inform (the CPE gave up on the old session but
    /// kept its cookie or connection): the substring test keeps the second parse rare.
    fn is_new_inform(&self, body: &[u8]) -> bool {
        body.windows(6).any(|w| w == b"Inform")
            && crate::soap::parse_envelope_with(body, &self.session_config().limits)
                .is_ok_and(|env| matches!(env.rpc, Rpc::Inform(_)))
    }

    /// Takes one POST of a CPE; `user` is who authenticated it (for a new session).
    pub(crate) async fn post(
        self: &Arc<Self>,
        cookie: Option<&str>,
        peer: SocketAddr,
        body: &[u8],
        user: Option<String>,
    ) -> HttpReply {
        let now = Instant::now();
        let found = {
            let mut st = self.state();
            let by_cookie = cookie.filter(|k| st.sessions.contains_key(*k)).map(str::to_owned);
            if let Some(k) = &by_cookie {
                // The CPE returns the cookie: its session no longer needs the connection as key,
                // so a connection reused by another CPE (a proxy) cannot reach it.
                if st.by_peer.get(&peer) == Some(k) {
                    st.by_peer.remove(&peer);
                }
            }
            let key = by_cookie.or_else(|| st.by_peer.get(&peer).filter(|k| st.sessions.contains_key(*k)).cloned());
            key.and_then(|k| st.sessions.get(&k).cloned())
        };
        let (slot, new_cookie) = match found {
            Some(slot) => (slot, None),
            None => {
                let (slot, key) = self.new_slot(peer, now, user);
                (slot, Some(key))
            }
        };
        let mut slot = slot.lock_owned().await;
        if new_cookie.is_none() && slot.device.is_some() && self.is_new_inform(body) {
            // A new session replaces the old one; the old one's open request is queued again.
            self.abort(&mut slot);
            let (fresh, key) = self.new_slot(peer, now, slot.user.clone());
            drop(slot);
            let mut slot = fresh.lock_owned().await;
            return self.run_post(&mut slot, now, body, Some(key)).await;
        }
        self.run_post(&mut slot, now, body, new_cookie).await
    }

    async fn run_post(
        self: &Arc<Self>,
        slot: &mut Slot,
        now: Instant,
        body: &[u8],
        new_cookie: Option<String>,
    ) -> HttpReply {
        let result = slot.session.handle_post(now, body);
        self.process_events(slot).await;
        if let Err(e) = result {
            self.close(slot).await;
            let status = match &e {
                SessionError::Codec(c) if c.is_too_large() => 413,
                _ => 400,
            };
            return HttpReply::Error(status, e.to_string());
        }
        if let Some((status, why)) = slot.reject.take() {
            self.close(slot).await;
            return HttpReply::Error(status, why);
        }
        self.fill(slot).await;
        let reply = slot.session.poll_reply();
        self.process_events(slot).await;
        match reply {
            Some(Reply::Envelope(bytes)) => HttpReply::Envelope(bytes, new_cookie),
            Some(Reply::Close) => HttpReply::NoContent,
            None => {
                self.close(slot).await;
                HttpReply::Error(500, "no reply".into())
            }
        }
    }

    /// Ends a session from the ACS side (error, refusal, timeout, superseded).
    async fn close(self: &Arc<Self>, slot: &mut Slot) {
        if !slot.session.is_closed() {
            let far = Instant::now() + slot.session.timeout() + Duration::from_secs(1);
            slot.session.handle_timeout(far);
        }
        self.process_events(slot).await;
    }

    /// Ends a superseded session without reporting anything but the requeue (no await, so
    /// that Inform handling need not recurse).
    fn abort(self: &Arc<Self>, slot: &mut Slot) {
        if !slot.session.is_closed() {
            let far = Instant::now() + slot.session.timeout() + Duration::from_secs(1);
            slot.session.handle_timeout(far);
        }
        while slot.session.poll_event().is_some() {}
        self.on_closed(slot);
    }

    async fn process_events(self: &Arc<Self>, slot: &mut Slot) {
        while let Some(event) = slot.session.poll_event() {
            match event {
                SessionEvent::Informed(inform) => self.on_inform(slot, *inform).await,
                SessionEvent::CpeRequest(Rpc::TransferComplete(tc)) => self.on_transfer_complete(slot, tc).await,
                SessionEvent::CpeRequest(Rpc::DUStateChangeComplete(c)) => {
                    self.on_du_state_change_complete(slot, c).await
                }
                SessionEvent::CpeRequest(other) => tracing::debug!(method = other.name(), "CPE request answered"),
                SessionEvent::Response { request, response } => self.on_response(slot, request, response).await,
                SessionEvent::Refused { fault, error } => {
                    tracing::info!(fault = fault.code(), %error, "CPE message refused with a fault")
                }
                SessionEvent::Abandoned(_) => {}
                SessionEvent::Closed => self.on_closed(slot),
            }
        }
    }

    fn on_closed(self: &Arc<Self>, slot: &mut Slot) {
        let requeued = slot.sent.take();
        let pending = {
            let mut st = self.state();
            if let (Some(job), Some(d)) = (requeued, &slot.device) {
                st.queues.entry(d.clone()).or_default().push_front(job);
            }
            st.remove_session(&slot.key, slot.peer, slot.device.as_ref());
            let waiting =
                |d: &&DeviceId| !st.active.contains_key(*d) && st.queues.get(*d).is_some_and(|q| !q.is_empty());
            slot.device.as_ref().filter(waiting).cloned()
        };
        // Work arrived after the last request of the session: ask for a new session.
        if let Some(d) = pending {
            connection_request(self, &d);
        }
    }

    /// Hands the next queued job of the device to the session, if none is outstanding.
    async fn fill(self: &Arc<Self>, slot: &mut Slot) {
        let Some(device) = slot.device.clone() else { return };
        let upload_base = self.upload_base();
        while slot.sent.is_none() && !slot.session.is_closed() {
            let planned = {
                let mut st = self.state();
                let Some(job) = st.queues.get_mut(&device).and_then(|q| q.pop_front()) else { return };
                let view = View {
                    model: st.devices.get(&device).and_then(|r| r.model),
                    types: st.types.get(&device),
                    upload_base: upload_base.clone(),
                };
                let request = match &job {
                    Job::Op { op, phase } => ops::plan(op, *phase, &view),
                    upkeep => Ok(super::upkeep::request(upkeep, view.model)),
                };
                (job, request)
            };
            match planned {
                (job, Ok(request)) => {
                    slot.session.enqueue(request);
                    if let Job::Op { op, .. } = &job {
                        if let Action::Firmware(f) = &op.action {
                            self.report_firmware(&device, |_| super::firmware::download_sent(f)).await;
                        }
                    }
                    slot.sent = Some(job);
                }
                (Job::Op { op, .. }, Err(e)) => self.finish(op.id, Err(e)).await,
                (_, Err(_)) => {}
            }
        }
    }

    /// Reports an operation's end and forgets it.
    pub(crate) async fn finish(&self, id: OperationId, result: Result<Option<serde_json::Value>, OperationError>) {
        self.state().known.remove(&id);
        let Some(h) = self.handle.get() else { return };
        let r = match result {
            Ok(v) => h.operation_succeeded(id, v).await,
            Err(e) => h.operation_failed(id, e).await,
        };
        if let Err(e) = r {
            tracing::debug!(operation = %id, error = %e, "operation outcome not recorded");
        }
    }

    pub(crate) async fn persist_device(&self, id: &DeviceId, rec: &DeviceRecord) {
        if let (Some(h), Ok(bytes)) = (self.handle.get(), serde_json::to_vec(rec)) {
            if let Err(e) = h.put_state(&device_key(id), bytes).await {
                tracing::warn!(device = %id, error = %e, "could not store TR-069 device record");
            }
        }
    }

    async fn on_inform(self: &Arc<Self>, slot: &mut Slot, inform: Inform) {
        let Some(h) = self.handle.get() else { return };
        let d = &inform.device_id;
        let id = match DeviceId::tr069(d.oui.trim(), Some(d.product_class.trim()), d.serial_number.trim()) {
            Ok(id) if !d.oui.trim().is_empty() && !d.serial_number.trim().is_empty() => id,
            _ => {
                slot.reject = Some((400, "Inform DeviceId lacks a usable OUI / SerialNumber".into()));
                return;
            }
        };
        if let Some(bound) = slot.user.as_ref().and_then(|u| self.config.user_devices.get(u)) {
            // 3.4.4: the credentials are the device's own; a bound user informs only as it.
            if bound.trim() != d.serial_number.trim() && bound.trim() != id.as_str() {
                slot.reject = Some((403, format!("these credentials do not belong to {id}")));
                return;
            }
        }
        if !self.config.accept_unknown_devices && h.device(&id).is_none() {
            slot.reject = Some((403, format!("unknown device {id}")));
            return;
        }
        let facts = Facts::from_params(&inform.parameter_list);
        let model = DataModel::detect(inform.parameter_list.iter().map(|p| p.name.as_str()));
        let bootstrap = inform.has_event(event_code::BOOTSTRAP);
        let (superseded, record, changed) = {
            let mut st = self.state();
            let superseded = st.active.insert(id.clone(), slot.key.clone()).filter(|k| *k != slot.key);
            let superseded = superseded.and_then(|k| st.sessions.get(&k).cloned());
            let types = st.types.entry(id.clone()).or_default();
            for p in &inform.parameter_list {
                // Unchanged types (the usual periodic Inform) cost no allocation.
                if types.get(&p.name) != Some(&p.value.xsd_type) {
                    types.insert(p.name.clone(), p.value.xsd_type.clone());
                }
            }
            let rec = st.devices.entry(id.clone()).or_default();
            let before = rec.clone();
            rec.model = model.or(rec.model);
            if facts.connection_request_url.is_some() {
                rec.cr_url.clone_from(&facts.connection_request_url);
            }
            if facts.udp_connection_request_address.is_some() {
                rec.udp_cr_address.clone_from(&facts.udp_connection_request_address);
            }
            rec.periodic_inform_interval = facts.periodic_inform_interval.or(rec.periodic_inform_interval);
            rec.software_modules |= facts.software_modules;
            if bootstrap {
                // A bootstrapped CPE forgot what the ACS set (credentials, notifications).
                rec.cr_username = None;
                rec.cr_password = None;
                rec.observed.clear();
            }
            let changed = *rec != before;
            (superseded, rec.clone(), changed)
        };
        if let Some(old) = superseded {
            if let Ok(mut old) = old.try_lock() {
                self.abort(&mut old);
            }
        }
        slot.device = Some(id.clone());
        if changed {
            self.persist_device(&id, &record).await;
        }
        let boot = bootstrap || inform.has_event(event_code::BOOT);
        let contact = Contact {
            state: PresenceState::Online,
            lifetime_s: record.periodic_inform_interval,
            address: Some(slot.peer.to_string()),
            boot,
        };
        let (oui, pc, serial, man) =
            (d.oui.clone(), d.product_class.clone(), d.serial_number.clone(), d.manufacturer.clone());
        let (sm, tr) = (record.software_modules, record.traceroute);
        let r = h
            .device_contact(&id, contact, |dev| {
                dev.identity.oui = Some(oui);
                dev.identity.product_class = Some(pc).filter(|p| !p.is_empty());
                dev.identity.serial = Some(serial);
                dev.identity.manufacturer = Some(man).filter(|m| !m.is_empty());
                facts.apply(dev);
                dev.capabilities = Some(capabilities(sm, tr));
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "device contact not recorded");
        }
        self.on_inform_events(&id, &inform, &record).await;
    }

    async fn on_inform_events(self: &Arc<Self>, id: &DeviceId, inform: &Inform, record: &DeviceRecord) {
        for e in inform.events.iter().filter(|e| e.event_code == event_code::M_REBOOT) {
            let Ok(n) = e.command_key.trim().parse::<u64>() else { continue };
            if self.take_waiting(OperationId(n), id, Await::Boot).await.is_some() {
                self.finish(OperationId(n), Ok(None)).await;
            }
        }
        self.on_scheduled_inform(id, inform).await;
        if inform.has_event(event_code::VALUE_CHANGE) {
            if let Some(h) = self.handle.get() {
                for p in &inform.parameter_list {
                    let watched =
                        record.observed.iter().any(|o| *o == p.name || (o.ends_with('.') && p.name.starts_with(o)));
                    if watched {
                        h.observation(id, &p.name, json_of(&p.value));
                    }
                }
            }
        }
        if inform.has_event(event_code::DIAGNOSTICS_COMPLETE) {
            let done: Vec<OperationId> = {
                let st = self.state();
                st.waiting
                    .values()
                    .filter(|w| w.op.device == *id && w.on == Await::DiagnosticsComplete)
                    .map(|w| w.op.id)
                    .collect()
            };
            for op_id in done {
                if let Some(w) = self.take_waiting(op_id, id, Await::DiagnosticsComplete).await {
                    let mut st = self.state();
                    st.queues
                        .entry(id.clone())
                        .or_default()
                        .push_front(Job::Op { op: Box::new(w.op), phase: Phase::Results });
                }
            }
        }
        self.plan_upkeep(id, inform, record);
    }

    /// Removes a waiting operation of `device` waiting for `on`, and its stored copy.
    pub(crate) async fn take_waiting(&self, op: OperationId, device: &DeviceId, on: Await) -> Option<Waiting> {
        let w = {
            let mut st = self.state();
            match st.waiting.get(&op) {
                Some(w) if w.op.device == *device && w.on == on => st.waiting.remove(&op),
                _ => None,
            }
        }?;
        if let Some(h) = self.handle.get() {
            let _ = h.delete_state(&wait_key(op)).await;
        }
        Some(w)
    }

    async fn on_response(self: &Arc<Self>, slot: &mut Slot, request: Rpc, response: Rpc) {
        let Some(id) = slot.device.clone() else { return };
        match slot.sent.take() {
            Some(Job::Op { op, .. }) => {
                let outcome = ops::on_response(&op, &request, &response);
                self.apply_outcome(&id, *op, &response, outcome).await;
            }
            Some(upkeep) => self.on_upkeep_response(&id, upkeep, response).await,
            None => tracing::warn!(device = %id, "response to no request"),
        }
    }

    async fn apply_outcome(&self, id: &DeviceId, op: unidm_models::Operation, response: &Rpc, outcome: Outcome) {
        match outcome {
            Outcome::Succeeded(result) => {
                if let (Action::RefreshDeviceInfo, Rpc::GetParameterValuesResponse(r)) = (&op.action, response) {
                    let facts = Facts::from_params(&r.parameter_list);
                    if let Some(h) = self.handle.get() {
                        let now = h.now();
                        let _ = h
                            .update_device(id, |d| {
                                facts.apply(d);
                                d.snapshot.refreshed_at = Some(now);
                            })
                            .await;
                    }
                }
                if let Action::Firmware(f) = &op.action {
                    // DownloadResponse Status 0: downloaded and applied within the session.
                    self.report_firmware(id, |d| super::firmware::completed(f, d)).await;
                }
                if let Action::Native(n) = &op.action {
                    self.track_observe(id, n).await;
                    self.after_native(id, &op, response).await;
                }
                self.finish(op.id, Ok(result)).await;
            }
            Outcome::Failed(e) => {
                if let Action::Firmware(_) = &op.action {
                    let code = e.protocol_code.clone();
                    self.report_firmware(id, |_| super::firmware::failed(&e.message, code)).await;
                }
                self.finish(op.id, Err(e)).await
            }
            Outcome::Await(on) => {
                let message = match on {
                    Await::Boot => "waiting for the CPE to reboot",
                    Await::TransferComplete => "transferring",
                    Await::ScheduledInform => "waiting for the scheduled Inform",
                    Await::DiagnosticsComplete => "diagnostics running",
                    Await::DuStateChangeComplete => "changing deployment units",
                };
                let w = Waiting { op, on };
                let op_id = w.op.id;
                let bytes = serde_json::to_vec(&w).ok();
                self.state().waiting.insert(op_id, w);
                if let Some(h) = self.handle.get() {
                    if let Some(bytes) = bytes {
                        let _ = h.put_state(&wait_key(op_id), bytes).await;
                    }
                    let progress = Progress { percent: None, message: Some(message.into()) };
                    let _ = h.operation_progress(op_id, progress).await;
                }
            }
        }
    }
}

/// Closes sessions whose inactivity timeout passed, once a second, until the adapter stops.
pub(crate) fn spawn_sweeper(acs: Arc<Acs>) {
    let mut stop = acs.stop.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let slots: Vec<_> = acs.state().sessions.values().cloned().collect();
            let now = Instant::now();
            for slot in slots {
                let Ok(mut slot) = slot.try_lock() else { continue };
                slot.session.handle_timeout(now);
                if slot.session.is_closed() {
                    acs.close(&mut slot).await;
                }
            }
        }
    });
}

/// Sends a connection request to the device if none is in flight: HTTP to its
/// `ConnectionRequestURL` (3.2.2), and when that fails or is unknown, UDP to its
/// `UDPConnectionRequestAddress` (Annex G).
pub(crate) fn connection_request(acs: &Arc<Acs>, device: &DeviceId) {
    if !acs.config.connection_requests {
        return;
    }
    let target = {
        let mut st = acs.state();
        let Some(rec) = st.devices.get(device) else { return };
        if rec.cr_url.is_none() && rec.udp_cr_address.is_none() {
            return;
        }
        let target =
            (rec.cr_url.clone(), rec.udp_cr_address.clone(), rec.cr_username.clone().zip(rec.cr_password.clone()));
        if !st.cr_inflight.insert(device.clone()) {
            return;
        }
        target
    };
    let acs = acs.clone();
    let device = device.clone();
    tokio::spawn(async move {
        let (url, udp, creds) = target;
        let cnonce = super::secret::token();
        let mut r = match &url {
            Some(url) => super::conn_req::send(&acs.http, url, creds.as_ref(), &cnonce).await,
            None => Err("no ConnectionRequestURL".into()),
        };
        if let Err(CrFailure::Refused { status, challenge }) = &r {
            // Worth an operator's eye: the CPE is reachable but refuses the ACS. Its challenge
            // says what it wants; the password stays out of the log.
            tracing::warn!(%device, status, %challenge, url = url.as_deref().unwrap_or_default(),
                "CPE refused the connection request");
        }
        if let (Err(e), Some(addr), Some((user, pass))) = (&r, &udp, &creds) {
            tracing::debug!(%device, error = %e, "HTTP connection request failed; trying UDP");
            let id = super::secret::udp_id();
            r = super::conn_req::send_udp(addr, id, user, pass, &cnonce[..16]).await.map_err(CrFailure::Other);
        }
        acs.state().cr_inflight.remove(&device);
        match r {
            Ok(()) => tracing::debug!(%device, "connection request sent"),
            Err(e) => tracing::info!(%device, error = %e, "connection request failed; waiting for the next Inform"),
        }
    });
}
