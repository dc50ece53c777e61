//! What the client's commands do (OMA DM Protocol 1.2 §8.3 packages, §8.7 Generic Alert, §8.8
//! alert codes, §6.1 multiple messages, §6.2 large objects): the Status each earns, the events
//! they raise, how Statuses and Results answer the server's requests, and what the reply to the
//! message will be.

use super::credentials::{nonce_bytes, NonceDirection};
use super::large_object::{self, Assembly, Chunk, CHUNK_BUFFERED};
use super::package::Alerts;
use super::request::{merge_meta, result_items, status_for};
use super::{
    CloseReason, DmSession, Due, DueKind, GenericAlert, Initiator, SessionError, SessionEvent, State, AUTH_ACCEPTED,
    AUTH_REQUIRED, INCOMPLETE, NOT_ALLOWED, NOT_SUPPORTED, OK, UNAUTHORIZED,
};
use crate::codec::{Alert, Command, Item, Results, Status, SyncML};
use crate::mo::devinfo::DeviceFacts;

impl DmSession {
    /// Runs the commands of an authenticated message and decides the reply.
    pub(super) fn on_message(&mut self, msg: SyncML, hdr_status: Status) -> Result<(), SessionError> {
        let msg_id = msg.hdr.msg_id.clone();
        let mut statuses = vec![hdr_status];
        let mut alerts = Alerts::default();
        let (mut next_asked, mut aborted) = (false, false);
        let package1 = self.state == State::AwaitingPackage1;
        self.assembly_fed = false;
        for command in &msg.body.commands {
            let answer = match command {
                Command::Status(s) => {
                    self.on_status(s);
                    None
                }
                Command::Results(r) => self.on_results(r, &msg_id, &mut alerts),
                Command::Alert(a) => {
                    next_asked |= a.code == Some(Alert::NEXT_MESSAGE);
                    aborted |= a.code == Some(Alert::SESSION_ABORT);
                    let code = self.on_alert(a);
                    (!a.no_resp).then(|| status_for(&msg_id, &a.cmd_id, "Alert", code))
                }
                Command::Replace(c) => {
                    let mut code = OK;
                    for item in &c.items {
                        let item = Item { meta: merge_meta(c.meta.as_ref(), item.meta.as_ref()), ..item.clone() };
                        match self.chunk("Replace", None, &item, &mut alerts) {
                            Some(Ok(whole)) => {
                                if let Some(text) = whole.data.as_ref().and_then(|d| d.as_text()) {
                                    self.facts.set(&large_object::item_uri(&whole), text);
                                }
                            }
                            Some(Err(refused)) => code = refused,
                            None => code = CHUNK_BUFFERED,
                        }
                    }
                    (!c.no_resp).then(|| status_for(&msg_id, &c.cmd_id, "Replace", code))
                }
                other => {
                    // The client sends only Alert, Replace, Results and Status (OMA DM Protocol
                    // 1.2 §8.3); the rest is refused, a command unknown to DM as unsupported.
                    let code = if matches!(other, Command::Unknown(_)) { NOT_SUPPORTED } else { NOT_ALLOWED };
                    other.cmd_id().map(|id| status_for(&msg_id, id, other.name(), code))
                }
            };
            statuses.extend(answer);
        }
        if !self.assembly_fed {
            if let Some(a) = self.assembly.take() {
                // The next chunk did not follow (OMA DM Protocol 1.2 §6.2: Alert 1225).
                alerts.no_end_of_data = Some(a.uri);
                self.in_flight.iter_mut().for_each(|f| f.chunking = false);
            }
        }
        let package_over = msg.body.r#final && self.assembly.is_none();
        self.settle(package_over);
        if package1 && package_over {
            self.state = State::Open;
            self.open_events();
        } else if package_over && self.facts != DeviceFacts::default() {
            // DevInfo replaced again later in the session.
            let facts = std::mem::take(&mut self.facts);
            let dev_id = facts.dev_id.clone().or_else(|| self.dev_id().map(str::to_owned)).unwrap_or_default();
            self.events.push_back(SessionEvent::DeviceInfo { dev_id, facts });
        }
        let (kind, close) = if aborted {
            (DueKind::Refuse, Some(CloseReason::Aborted))
        } else if !self.outbox.is_empty() && (next_asked || !msg.body.r#final) {
            (DueKind::Continue, None)
        } else if !package_over {
            alerts.next_message = true;
            (DueKind::AskNext, None)
        } else {
            let refused = self.server_refusals_exceeded();
            (DueKind::NewPackage, refused.then_some(CloseReason::ServerAuthRefused))
        };
        self.due = Some(Due { kind, statuses, alerts, close });
        Ok(())
    }

    fn open_events(&mut self) {
        let Some(p) = self.peer.clone() else { return };
        self.events.push_back(SessionEvent::Started {
            dev_id: p.dev_id.clone(),
            session_id: p.session_id,
            initiator: self.initiator.unwrap_or(Initiator::Client),
        });
        let facts = std::mem::take(&mut self.facts);
        let dev_id = facts.dev_id.clone().unwrap_or(p.dev_id);
        self.events.push_back(SessionEvent::DeviceInfo { dev_id, facts });
    }

    /// Alert codes the client may send (OMA DM Protocol 1.2 §8.8; Generic Alert §8.7).
    fn on_alert(&mut self, a: &Alert) -> u16 {
        match a.code {
            None => INCOMPLETE,
            Some(Alert::SERVER_INITIATED | Alert::CLIENT_INITIATED | Alert::NEXT_MESSAGE | Alert::SESSION_ABORT) => OK,
            Some(Alert::GENERIC_ALERT) => {
                for item in &a.items {
                    let meta = item.meta.clone().unwrap_or_default();
                    self.events.push_back(SessionEvent::GenericAlert(GenericAlert {
                        correlator: a.correlator.clone(),
                        source: item.source.as_ref().map(|l| l.loc_uri.clone()),
                        target: item.target.as_ref().map(|l| l.loc_uri.clone()),
                        r#type: meta.r#type,
                        format: meta.format,
                        mark: meta.mark,
                        data: item.data.clone(),
                    }));
                }
                OK
            }
            Some(code @ (Alert::CLIENT_EVENT | Alert::NO_END_OF_DATA)) => {
                self.events.push_back(SessionEvent::Alert {
                    code,
                    correlator: a.correlator.clone(),
                    items: a.items.clone(),
                });
                OK
            }
            Some(_) => NOT_SUPPORTED,
        }
    }

    /// Passes an item through large-object assembly: `Some(Ok(item))` when whole, `None` when
    /// buffered, `Some(Err(status))` when refused.
    fn chunk(
        &mut self,
        cmd: &str,
        cmd_ref: Option<&str>,
        item: &Item,
        alerts: &mut Alerts,
    ) -> Option<Result<Item, u16>> {
        let max = self.config.max_obj_size;
        self.assembly_fed = true;
        if let Some(a) = &mut self.assembly {
            if a.continues(cmd, cmd_ref, item) {
                return match a.push(item, max) {
                    Chunk::Buffered => None,
                    Chunk::Complete(whole) => {
                        self.assembly = None;
                        Some(Ok(*whole))
                    }
                    Chunk::Refused(code) => {
                        self.assembly = None;
                        Some(Err(code))
                    }
                };
            }
            // Something else came before the last chunk (OMA DM Protocol 1.2 §6.2: Alert 1225).
            alerts.no_end_of_data = Some(a.uri.clone());
            self.assembly = None;
            self.in_flight.iter_mut().for_each(|f| f.chunking = false);
        }
        if !item.more_data {
            return Some(Ok(item.clone()));
        }
        let size = item.meta.as_ref().and_then(|m| m.size);
        match Assembly::start(cmd, cmd_ref, item, size, max) {
            Ok(a) => {
                self.assembly = Some(a);
                None
            }
            Err(code) => Some(Err(code)),
        }
    }

    /// Results for a Get; a Status only when they come in chunks (213, then 200 / 424 / 413).
    fn on_results(&mut self, r: &Results, msg_id: &str, alerts: &mut Alerts) -> Option<Status> {
        let msg_ref = r.msg_ref.clone().or_else(|| self.last_sent_msg_id.clone()).unwrap_or_default();
        let Some(i) = self.in_flight.iter().position(|f| f.has(&msg_ref, &r.cmd_ref)) else {
            // Results for nothing we asked: dropped.
            return None;
        };
        let (mut chunked, mut code) = (false, OK);
        for item in result_items(r) {
            chunked |= item.more_data || self.assembly.is_some();
            match self.chunk("Results", Some(&r.cmd_ref), &item, alerts) {
                Some(Ok(whole)) => {
                    self.in_flight[i].results.push(whole);
                    self.in_flight[i].chunking = false;
                }
                Some(Err(c)) => {
                    code = c;
                    self.in_flight[i].chunking = false;
                }
                None => {
                    code = CHUNK_BUFFERED;
                    self.in_flight[i].chunking = true;
                }
            }
        }
        if let Some(p) = self.in_flight[i].find_part(&msg_ref, &r.cmd_ref) {
            p.answered = true;
        }
        chunked.then(|| status_for(msg_id, &r.cmd_id, "Results", code))
    }

    /// A client Status: of the server's SyncHdr (server authentication, the client's nonce)
    /// or of a request.
    fn on_status(&mut self, s: &Status) {
        if s.cmd.eq_ignore_ascii_case("SyncHdr") {
            if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
                let nonce = nonce_bytes(n);
                self.server_nonce = Some(nonce.clone());
                // Stored only when the peer is authenticated (OMA DM Security 1.2 §5.1.3.4).
                if self.authenticated {
                    self.events
                        .push_back(SessionEvent::NonceUpdated { direction: NonceDirection::ServerToClient, nonce });
                }
            }
            match s.code {
                OK | AUTH_ACCEPTED => self.server_accepted = true,
                UNAUTHORIZED | AUTH_REQUIRED => {
                    self.server_accepted = false;
                    self.server_refusals += 1;
                    self.events.push_back(SessionEvent::ServerAuthRefused { code: s.code });
                    // The client ran nothing of that message: send its requests again.
                    let msg_ref = s.msg_ref.clone().or_else(|| self.last_sent_msg_id.clone()).unwrap_or_default();
                    let (refused, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                        .into_iter()
                        .partition(|f| f.msg_id == msg_ref && f.parts.iter().all(|p| p.status.is_none()));
                    self.in_flight = kept;
                    for f in refused.into_iter().rev() {
                        self.queue.push_front(f.request);
                    }
                }
                _ => {}
            }
            return;
        }
        let msg_ref = s.msg_ref.clone().or_else(|| self.last_sent_msg_id.clone()).unwrap_or_default();
        if let Some(i) = self.chunks_sent.iter().position(|(m, c, _)| *m == msg_ref && *c == s.cmd_ref) {
            let (_, _, request) = self.chunks_sent.remove(i);
            if s.code != CHUNK_BUFFERED {
                // The client refused a chunk: the object will not arrive (OMA DM Protocol 1.2 §6.2).
                if self.outbox.object.as_ref().is_some_and(|o| o.request.handle == request) {
                    self.outbox.object = None;
                }
                let results = Vec::new();
                self.events.push_back(SessionEvent::Response { request, status: s.code, results, parts: vec![] });
            }
            return;
        }
        for f in &mut self.in_flight {
            if let Some(p) = f.find_part(&msg_ref, &s.cmd_ref) {
                p.status = Some(s.code);
                // A user-interaction Alert's answer travels in its Status' items.
                f.results.extend(s.items.iter().cloned());
                return;
            }
        }
    }

    fn server_refusals_exceeded(&self) -> bool {
        self.server_refusals >= self.config.max_auth_failures
    }

    /// Reports requests that are answered; at the end of a client package, gives up on those
    /// the client did not answer.
    pub(super) fn settle(&mut self, package_over: bool) {
        let mut kept = Vec::with_capacity(self.in_flight.len());
        for f in std::mem::take(&mut self.in_flight) {
            if f.complete(package_over) {
                let status = f.status(package_over).unwrap_or_default();
                let parts = f.part_statuses();
                self.events.push_back(SessionEvent::Response {
                    request: f.request.handle,
                    status,
                    results: f.results,
                    parts,
                });
            } else if package_over && !f.chunking {
                self.events.push_back(SessionEvent::Abandoned { request: f.request.handle, sent: true });
            } else {
                kept.push(f);
            }
        }
        self.in_flight = kept;
    }
}
