//! Drives the sans-I/O [`AcsSession`]s: feeds each POST in, reacts to what the CPE said
//! (Inform, TransferComplete, responses) by reporting to the engine, and feeds the next queued
//! request in before the reply is taken.
//!
//! A request the CPE never answers (its session timed out, broke, or was superseded by a new
//! Inform) is a failed attempt of the work that sent it: a user operation fails with a
//! retryable [`ErrorKind::Timeout`] naming the RPC (the engine retries it per its policy and
//! fails it after its attempts); the ACS's own upkeep is tried [`UPKEEP_UNANSWERED_LIMIT`]
//! times per device, then dropped. Either way the device's queue moves on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use unidm_core::Direction;
use unidm_models::{Action, DeviceId, ErrorKind, OperationError, OperationId};

use super::conn_req::connection_request;
use super::partial_paths::{self, Expansion, Step};
use super::state::{DeviceRecord, InFlight, SessionSlot, Upkeep, UpkeepWork, Work, UPKEEP_UNANSWERED_LIMIT};
use super::waits::Completion;
use super::Acs;
use crate::model::DataModel;
use crate::ops::{self, DeviceView, Outcome, Phase};
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

/// What the operation planner may know of a device: its data model, the parameter types it
/// reported, where uploads go.
struct DeviceModelView<'a> {
    model: Option<DataModel>,
    types: Option<&'a std::collections::HashMap<String, XsdType>>,
    upload_base: Option<String>,
}

impl DeviceView for DeviceModelView<'_> {
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
    /// The engine clock's monotonic reading: what session timeouts and nonce ages measure.
    pub(crate) fn monotonic(&self) -> Duration {
        self.handle.get().map_or(Duration::ZERO, |h| h.monotonic())
    }

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
        now: Duration,
        user: Option<String>,
    ) -> (Arc<tokio::sync::Mutex<SessionSlot>>, String) {
        let key = super::secret::token();
        let slot = Arc::new(tokio::sync::Mutex::new(SessionSlot {
            key: key.clone(),
            session: AcsSession::new(self.session_config().clone(), now),
            device: None,
            sent: None,
            unanswered: None,
            end_reason: None,
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
        let now = self.monotonic();
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
            // A new session replaces the old one; its open request was not answered.
            self.abort(&mut slot, "the CPE started a new session");
            let (fresh, key) = self.new_slot(peer, now, slot.user.clone());
            drop(slot);
            let mut slot = fresh.lock_owned().await;
            return self.run_post(&mut slot, now, body, Some(key)).await;
        }
        self.run_post(&mut slot, now, body, new_cookie).await
    }

    async fn run_post(
        self: &Arc<Self>,
        slot: &mut SessionSlot,
        now: Duration,
        body: &[u8],
        new_cookie: Option<String>,
    ) -> HttpReply {
        // Recorded before its effects (an operation a TransferComplete completes), except the
        // session's first message, whose Inform tells whose session it is.
        let known = slot.device.is_some();
        if known {
            self.tap(slot, Direction::FromDevice, body);
        }
        let result = slot.session.handle_post(now, body);
        if let Err(e) = &result {
            slot.end_reason.get_or_insert_with(|| e.to_string());
        }
        self.process_events(slot).await;
        if !known {
            self.tap(slot, Direction::FromDevice, body);
        }
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
        self.send_next_queued(slot).await;
        let reply = slot.session.poll_reply();
        self.process_events(slot).await;
        match reply {
            Some(Reply::Envelope(bytes)) => {
                self.tap(slot, Direction::ToDevice, &bytes);
                HttpReply::Envelope(bytes, new_cookie)
            }
            Some(Reply::Close) => {
                self.tap(slot, Direction::ToDevice, b"");
                HttpReply::NoContent
            }
            None => {
                self.close(slot).await;
                HttpReply::Error(500, "no reply".into())
            }
        }
    }

    /// Records a POST body or a reply of a tapped CPE ([`unidm_core::WireTap`]): the RPC's name
    /// as the summary, the envelope as the body.
    fn tap(&self, slot: &SessionSlot, direction: Direction, body: &[u8]) {
        let (Some(h), Some(device)) = (self.handle.get(), slot.device.as_ref()) else { return };
        let tap = h.wire_tap();
        if tap.is_tapped_any() {
            tap.record(device, h.now(), direction, || {
                (soap_summary(direction, body), redact_secrets(&String::from_utf8_lossy(body)))
            });
        }
    }

    /// Ends a session from the ACS side (error, refusal, timeout, superseded).
    async fn close(self: &Arc<Self>, slot: &mut SessionSlot) {
        if !slot.session.is_closed() {
            let far = self.monotonic() + slot.session.timeout() + Duration::from_secs(1);
            slot.session.handle_timeout(far);
        }
        self.process_events(slot).await;
    }

    /// Ends a superseded session: only its unanswered request matters (no await, so that
    /// Inform handling need not recurse; the reports it calls for run in a task).
    pub(crate) fn abort(self: &Arc<Self>, slot: &mut SessionSlot, why: &str) {
        slot.end_reason.get_or_insert_with(|| why.to_owned());
        if !slot.session.is_closed() {
            let far = self.monotonic() + slot.session.timeout() + Duration::from_secs(1);
            slot.session.handle_timeout(far);
        }
        while let Some(event) = slot.session.poll_event() {
            if let SessionEvent::Abandoned(request) = event {
                slot.unanswered = Some(request);
            }
        }
        self.on_closed(slot);
    }

    async fn process_events(self: &Arc<Self>, slot: &mut SessionSlot) {
        while let Some(event) = slot.session.poll_event() {
            match event {
                SessionEvent::Informed(inform) => self.on_inform(slot, *inform).await,
                SessionEvent::CpeRequest(Rpc::TransferComplete(tc)) => {
                    if let Some(id) = &slot.device {
                        self.complete(id, Completion::Transfer(tc)).await
                    }
                }
                SessionEvent::CpeRequest(Rpc::DUStateChangeComplete(c)) => {
                    if let Some(id) = &slot.device {
                        self.complete(id, Completion::DuStateChange(c)).await
                    }
                }
                SessionEvent::CpeRequest(other) => tracing::debug!(method = other.name(), "CPE request answered"),
                SessionEvent::Response { request, response } => self.on_response(slot, request, response).await,
                SessionEvent::Refused { fault, error } => {
                    tracing::info!(fault = fault.code(), %error, "CPE message refused with a fault")
                }
                SessionEvent::Abandoned(request) => slot.unanswered = Some(request),
                SessionEvent::Closed => self.on_closed(slot),
            }
        }
    }

    fn on_closed(self: &Arc<Self>, slot: &mut SessionSlot) {
        let flight = slot.sent.take();
        let unanswered = slot.unanswered.take();
        if let (Some(flight), Some(d)) = (flight, slot.device.clone()) {
            match unanswered {
                Some(request) => {
                    let why = slot.end_reason.take();
                    let why = why.as_deref().unwrap_or("the session timed out");
                    self.on_unanswered(&d, flight, &request, why)
                }
                // Queued in the session but never sent: not an attempt, the next session sends it.
                None => self.put_back(&d, flight.work),
            }
        }
        let pending = {
            let mut st = self.state();
            st.remove_session(&slot.key, slot.peer, slot.device.as_ref());
            slot.device.as_ref().filter(|d| !st.active.contains_key(*d) && self.has_work(&st, d)).cloned()
        };
        // Work is left (or arrived after the last request of the session): ask for a new session.
        if let Some(d) = pending {
            connection_request(self, &d);
        }
    }

    /// A request the CPE never answered: a failed attempt of the work that sent it. A
    /// partial-path GetParameterValues left unanswered also teaches that this CPE needs its
    /// partial paths spelt out. Runs without awaiting (reports go to a task).
    fn on_unanswered(self: &Arc<Self>, device: &DeviceId, flight: InFlight, request: &Rpc, why: &str) {
        let message = format!("the CPE did not answer {} ({why})", request.name());
        if partial_paths::names_partial_path(request) {
            self.learn_partial_paths_later(device);
        }
        match flight.work {
            Work::Op { op, .. } => {
                let (acs, device) = (self.clone(), device.clone());
                self.state().results_due.remove(&op.id);
                tokio::spawn(async move {
                    if let Action::Firmware(_) = &op.action {
                        // The snapshot said downloading; a retry moves it on from failed.
                        acs.report_firmware(&device, |_| super::firmware::failed(&message, None)).await;
                    }
                    if let Some(delivery) = acs.delivery.get() {
                        delivery.unanswered(op.id, OperationError::new(ErrorKind::Timeout, message)).await;
                    }
                });
            }
            Work::Upkeep(UpkeepWork { task, unanswered }) => {
                let unanswered = unanswered.saturating_add(1);
                if unanswered >= UPKEEP_UNANSWERED_LIMIT {
                    tracing::warn!(%device, ?task, %message, tries = unanswered, "ACS upkeep request dropped");
                    if matches!(task, Upkeep::SetCrCredentials { .. }) {
                        self.state().credentials_given_up.insert(device.clone());
                    }
                } else {
                    tracing::info!(%device, ?task, %message, tries = unanswered, "ACS upkeep request unanswered");
                    let retry = UpkeepWork { task, unanswered };
                    self.state().upkeep.entry(device.clone()).or_default().push_back(retry);
                }
            }
        }
    }

    /// Remembers (in memory at once, durably in a task) that `device` needs its partial paths
    /// expanded.
    fn learn_partial_paths_later(self: &Arc<Self>, device: &DeviceId) {
        if let Some(rec) = self.note_partial_paths(device) {
            let (acs, device) = (self.clone(), device.clone());
            tokio::spawn(async move { acs.persist_device(&device, &rec).await });
        }
    }

    /// Sets [`DeviceRecord::expand_partial_paths`]; the record to store when it changed.
    fn note_partial_paths(&self, device: &DeviceId) -> Option<DeviceRecord> {
        let mut st = self.state();
        let rec = st.devices.entry(device.clone()).or_default();
        if rec.expand_partial_paths {
            return None;
        }
        tracing::warn!(%device, "CPE cannot read partial paths; listing them with GetParameterNames from now on");
        rec.expand_partial_paths = true;
        Some(rec.clone())
    }

    /// Hands the next queued work of the device to the session, if none is outstanding. User
    /// operations go before the ACS's own upkeep, so upkeep a CPE chokes on never holds them
    /// back.
    async fn send_next_queued(self: &Arc<Self>, slot: &mut SessionSlot) {
        let Some(device) = slot.device.clone() else { return };
        let upload_base = self.upload_base();
        let Some(delivery) = self.delivery.get() else { return };
        while slot.sent.is_none() && !slot.session.is_closed() {
            let (work, planned, expand) = {
                let mut st = self.state();
                let work = match delivery.next(&device) {
                    Some(op) => {
                        let phase = if st.results_due.contains(&op.id) { Phase::Results } else { Phase::Start };
                        Work::Op { op: Box::new(op), phase }
                    }
                    None => match st.upkeep.get_mut(&device).and_then(|q| q.pop_front()) {
                        Some(upkeep) => Work::Upkeep(upkeep),
                        None => return,
                    },
                };
                let record = st.devices.get(&device);
                let expand = record.is_some_and(|r| r.expand_partial_paths);
                let view = DeviceModelView {
                    model: record.and_then(|r| r.model),
                    types: st.types.get(&device),
                    upload_base: upload_base.clone(),
                };
                let planned = match &work {
                    Work::Op { op, phase } => ops::plan(op, *phase, &view),
                    Work::Upkeep(u) => Ok(super::upkeep::request(&u.task, view.model)),
                };
                (work, planned, expand)
            };
            let request = match planned {
                Ok(request) => request,
                Err(e) => {
                    if let Work::Op { op, .. } = work {
                        self.finish(op.id, Err(e)).await;
                    }
                    continue;
                }
            };
            if let Work::Op { op, .. } = &work {
                if let Action::Firmware(f) = &op.action {
                    self.report_firmware(&device, |_| super::firmware::download_sent(f)).await;
                }
            }
            let (request, expansion) = match &request {
                Rpc::GetParameterValues(gpv) if expand => match Expansion::start(gpv) {
                    Some((expansion, names)) => (names, Some(expansion)),
                    None => (request, None),
                },
                _ => (request, None),
            };
            slot.session.enqueue(request);
            slot.sent = Some(InFlight { work, expansion });
        }
    }

    /// Puts work taken for a session but not sent back at the head of its queue.
    fn put_back(&self, device: &DeviceId, work: Work) {
        match work {
            Work::Op { op, .. } => {
                if let Some(delivery) = self.delivery.get() {
                    delivery.requeue(op.id);
                }
            }
            Work::Upkeep(u) => self.state().upkeep.entry(device.clone()).or_default().push_front(u),
        }
    }

    /// Reports an operation's end and forgets it.
    pub(crate) async fn finish(&self, id: OperationId, result: Result<Option<serde_json::Value>, OperationError>) {
        if let Some(delivery) = self.delivery.get() {
            delivery.forget(id);
        }
        self.state().results_due.remove(&id);
        let Some(h) = self.handle.get() else { return };
        let r = match result {
            Ok(v) => h.operation_succeeded(id, v).await,
            Err(e) => h.operation_failed(id, e).await,
        };
        if let Err(e) = r {
            tracing::debug!(operation = %id, error = %e, "operation outcome not recorded");
        }
    }

    /// Stores the ACS's record of a device in the device's row.
    pub(crate) async fn persist_device(&self, id: &DeviceId, rec: &DeviceRecord) {
        if let (Some(h), Ok(bytes)) = (self.handle.get(), serde_json::to_vec(rec)) {
            if let Err(e) = h.set_device_record(id, Some(bytes)).await {
                tracing::warn!(device = %id, error = %e, "could not store TR-069 device record");
            }
        }
    }

    async fn on_response(self: &Arc<Self>, slot: &mut SessionSlot, request: Rpc, response: Rpc) {
        let Some(id) = slot.device.clone() else { return };
        let Some(mut flight) = slot.sent.take() else {
            tracing::warn!(device = %id, got = response.name(), "response to no request");
            return;
        };
        if let (Some(expansion), Rpc::GetParameterNamesResponse(listed)) = (flight.expansion.as_mut(), &response) {
            // A partial path listed: list the next one, or read the values by full name.
            let step = expansion.on_names(listed);
            if matches!(step, Step::Values(_)) {
                flight.expansion = None;
            }
            slot.session.enqueue(step.into_rpc());
            slot.sent = Some(flight);
            return;
        }
        if let Rpc::Fault(f) = &response {
            if partial_paths::names_partial_path(&request) && partial_paths::refuses_partial_paths(f) {
                // Refused for being a partial path: the same work again, spelt out, at once.
                tracing::info!(device = %id, fault = ?f.code(), "partial-path GetParameterValues refused");
                if let Some(rec) = self.note_partial_paths(&id) {
                    self.persist_device(&id, &rec).await;
                }
                self.put_back(&id, flight.work);
                return;
            }
        }
        match flight.work {
            Work::Op { op, .. } => {
                let outcome = ops::on_response(&op, &request, &response);
                self.apply_outcome(&id, *op, &response, outcome).await;
            }
            Work::Upkeep(u) => self.on_upkeep_response(&id, u.task, response).await,
        }
    }

    async fn apply_outcome(&self, id: &DeviceId, op: unidm_models::Operation, response: &Rpc, outcome: Outcome) {
        match outcome {
            Outcome::Succeeded(result) => {
                if let (Action::RefreshDeviceInfo, Rpc::GetParameterValuesResponse(r)) = (&op.action, response) {
                    self.record_snapshot(id, &r.parameter_list).await;
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
            Outcome::Await(on) => self.park(op, on).await,
        }
    }
}

/// Closes sessions whose inactivity timeout passed, once a second of the engine's clock (a
/// manual clock in tests drives it), until the adapter stops.
pub(crate) fn spawn_sweeper(acs: Arc<Acs>, handle: unidm_core::AdapterHandle) {
    let mut stop = acs.stop.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = handle.sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => break,
            }
            let slots: Vec<_> = acs.state().sessions.values().cloned().collect();
            let now = handle.monotonic();
            for slot in slots {
                let Ok(mut slot) = slot.try_lock() else { continue };
                if slot.session.poll_timeout().is_some_and(|t| now >= t) {
                    slot.end_reason.get_or_insert_with(|| "no answer within the session timeout".into());
                }
                slot.session.handle_timeout(now);
                if slot.session.is_closed() {
                    acs.close(&mut slot).await;
                }
            }
            if let Some(delivery) = acs.delivery.get() {
                for stalled in delivery.check_stalls().await {
                    // A Download without its TransferComplete: the snapshot says it failed, and why.
                    if matches!(stalled.op.action, unidm_models::Action::Firmware(_)) {
                        let why = stalled.error.message;
                        acs.report_firmware(&stalled.op.device, |_| super::firmware::failed(&why, None)).await;
                    }
                }
            }
        }
    });
}

/// An envelope with the values of secret parameters (`…Password`, `…Passphrase`, `…Key`,
/// `…Secret`) replaced by `***`: what the ACS sets on a CPE (connection-request credentials)
/// never reaches a report.
fn redact_secrets(xml: &str) -> String {
    const SECRET: [&str; 4] = ["password", "passphrase", "key", "secret"];
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(at) = rest.find("</Name>") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let name = head.rsplit('>').next().unwrap_or_default().to_ascii_lowercase();
        let secret = SECRET.iter().any(|s| name.ends_with(s));
        // The value follows its name within the same ParameterValueStruct.
        let value = tail.find("<Value").and_then(|v| {
            let open = v + tail[v..].find('>')? + 1;
            let close = open + tail[open..].find("</Value>")?;
            (!tail[..v].contains("</ParameterValueStruct>")).then_some((open, close))
        });
        match value {
            Some((open, close)) if secret && close > open => {
                out.push_str(&tail[..open]);
                out.push_str("***");
                rest = &tail[close..];
            }
            _ => {
                out.push_str("</Name>");
                rest = &tail["</Name>".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first element inside a SOAP `Body` (`Inform`, `cwmp:GetParameterValuesResponse` ->
/// `GetParameterValuesResponse`), or what an empty HTTP message means in CWMP.
fn soap_summary(direction: Direction, body: &[u8]) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        return match direction {
            Direction::FromDevice => "empty POST (the CPE has nothing more to send)".into(),
            Direction::ToDevice => "HTTP 204 (the ACS ends the session)".into(),
        };
    }
    let text = String::from_utf8_lossy(body);
    let after_body =
        text.find(":Body").or_else(|| text.find("<Body")).and_then(|i| text[i..].find('>').map(|j| i + j + 1));
    let name = after_body.and_then(|start| {
        let rest = &text[start..];
        let open = rest.find('<')? + 1;
        let tag: String = rest[open..].chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
        Some(tag.rsplit(':').next().unwrap_or_default().to_owned())
    });
    match name {
        Some(n) if !n.is_empty() => n,
        _ => "SOAP envelope".into(),
    }
}

#[cfg(test)]
mod tap_tests {
    use super::*;

    #[test]
    fn secret_parameter_values_are_redacted() {
        let spv = "<ParameterValueStruct><Name>Device.ManagementServer.ConnectionRequestPassword</Name>\
                   <Value xsi:type=\"xsd:string\">s3cr3t</Value></ParameterValueStruct>\
                   <ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name>\
                   <Value xsi:type=\"xsd:unsignedInt\">300</Value></ParameterValueStruct>\
                   <ParameterValueStruct><Name>Device.WiFi.AccessPoint.1.Security.KeyPassphrase</Name><Value>wpa</Value></ParameterValueStruct>";
        let shown = redact_secrets(spv);
        assert!(!shown.contains("s3cr3t") && !shown.contains(">wpa<"), "{shown}");
        assert!(shown.contains(">***</Value>") && shown.contains(">300</Value>"), "{shown}");
        assert_eq!(redact_secrets("<Name>X</Name>"), "<Name>X</Name>");
    }

    #[test]
    fn soap_messages_are_summarised_by_their_rpc() {
        let inform = br#"<soap:Envelope xmlns:soap="x"><soap:Header/><soap:Body><cwmp:Inform><DeviceId/></cwmp:Inform></soap:Body></soap:Envelope>"#;
        assert_eq!(soap_summary(Direction::FromDevice, inform), "Inform");
        let bare = b"<Envelope><Body >\n  <GetRPCMethods/></Body></Envelope>";
        assert_eq!(soap_summary(Direction::ToDevice, bare), "GetRPCMethods");
        assert_eq!(soap_summary(Direction::ToDevice, b""), "HTTP 204 (the ACS ends the session)");
        assert_eq!(soap_summary(Direction::FromDevice, b"<x/>"), "SOAP envelope");
    }
}
