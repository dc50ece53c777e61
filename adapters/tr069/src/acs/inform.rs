//! What an Inform means (TR-069 Amendment 6, A.3.3.1): the CPE's identity and what the ACS
//! keeps about it ([`DeviceRecord`]), presence for the engine, the completions its events
//! announce (`M Reboot`, `M ScheduleInform`, `8 DIAGNOSTICS COMPLETE`: [`super::waits`]), value changes of
//! observed parameters, and the upkeep a boot calls for.

use std::sync::Arc;

use unidm_core::Contact;
use unidm_models::{Device, DeviceId, PresenceState, Progress};

use super::state::{DeviceRecord, SessionSlot};
use super::waits::Completion;
use super::Acs;
use crate::model::{capabilities, json_of, DataModel, Facts};
use crate::rpc::inform::{event_code, Inform};

impl Acs {
    pub(crate) async fn on_inform(self: &Arc<Self>, slot: &mut SessionSlot, inform: Inform) {
        let Some(h) = self.handle.get() else { return };
        let d = &inform.device_id;
        let id = match DeviceId::tr069(d.oui.trim(), Some(d.product_class.trim()), d.serial_number.trim()) {
            Ok(id) if !d.oui.trim().is_empty() && !d.serial_number.trim().is_empty() => id,
            _ => {
                slot.reject = Some((400, "Inform DeviceId lacks a usable OUI / SerialNumber".into()));
                return;
            }
        };
        // A user set through the API is bound to its device.
        let api_bound = slot.user.as_ref().and_then(|u| self.state().cpe_users.get(u).map(|d| d.as_str().to_owned()));
        if let Some(bound) = slot.user.as_ref().and_then(|u| self.config.user_devices.get(u)).cloned().or(api_bound) {
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
                self.abort(&mut old, "the CPE started a new session");
            }
        }
        slot.device = Some(id.clone());
        let boot = bootstrap || inform.has_event(event_code::BOOT);
        let contact = Contact {
            state: PresenceState::Online,
            lifetime_s: record.periodic_inform_interval,
            // The CPE's IP: its source port changes with every TCP connection, and a new port
            // must not make a periodic Inform look like a move.
            address: Some(slot.peer.ip().to_string()),
            boot,
        };
        let (sm, tr) = (record.software_modules, record.traceroute);
        let update = |dev: &mut Device| {
            dev.identity.oui = Some(d.oui.clone());
            dev.identity.product_class = Some(d.product_class.clone()).filter(|p| !p.is_empty());
            dev.identity.serial = Some(d.serial_number.clone());
            dev.identity.manufacturer = Some(d.manufacturer.clone()).filter(|m| !m.is_empty());
            facts.apply(dev);
            dev.capabilities = Some(capabilities(sm, tr));
        };
        // A periodic Inform that tells nothing new (the usual case) only moves last-seen: no
        // write, no event. First contact, a boot, a value change or a changed fact take the
        // full contact path (rules, `DeviceUpdated`); `device_seen` itself takes it when the
        // address or the inform interval changed.
        let quiet = !changed
            && !boot
            && !inform.has_event(event_code::VALUE_CHANGE)
            && h.device(&id).is_some_and(|known| {
                let mut after = known.clone();
                update(&mut after);
                after == known
            });
        let r = if quiet {
            h.device_seen(&id, contact).await.map(drop)
        } else if changed {
            match serde_json::to_vec(&record) {
                Ok(bytes) => h.device_contact_with_record(&id, contact, bytes, update).await.map(drop),
                Err(e) => {
                    tracing::warn!(device = %id, error = %e, "TR-069 device record not encodable");
                    h.device_contact(&id, contact, update).await.map(drop)
                }
            }
        } else {
            h.device_contact(&id, contact, update).await.map(drop)
        };
        if let Err(e) = r {
            tracing::warn!(device = %id, error = %e, "device contact not recorded");
        }
        self.on_inform_events(&id, &inform, &record).await;
    }

    async fn on_inform_events(self: &Arc<Self>, id: &DeviceId, inform: &Inform, record: &DeviceRecord) {
        for e in inform.events.iter().filter(|e| e.event_code == event_code::M_REBOOT) {
            self.complete(id, Completion::Reboot(e.command_key.trim().to_owned())).await;
        }
        for e in inform.events.iter().filter(|e| e.event_code == event_code::M_SCHEDULE_INFORM) {
            self.complete(id, Completion::ScheduledInform(e.command_key.trim().to_owned())).await;
        }
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
            self.complete(id, Completion::Diagnostics).await;
        }
        self.plan_upkeep(id, inform, record);
    }

    /// Queues the results read of every diagnostics operation of `device` woken by
    /// `8 DIAGNOSTICS COMPLETE`. Its stored wait is cleared first, so that a restart before the
    /// results come runs the diagnostics again rather than waiting for an event that came.
    /// Answers how many were woken.
    pub(crate) async fn read_diagnostics_results(&self, id: &DeviceId) -> usize {
        let (Some(h), Some(delivery)) = (self.handle.get(), self.delivery.get()) else { return 0 };
        let woken = self.wake_diagnostics(id);
        let n = woken.len();
        for woken in woken {
            let mut op = woken.op;
            let progress = Progress { percent: None, message: Some("reading the diagnostics results".into()) };
            if let Err(e) = h.operation_progress_with_state(op.id, progress, Vec::new()).await {
                tracing::debug!(operation = %op.id, error = %e, "diagnostics operation had ended");
                continue;
            }
            op.adapter_state = None;
            self.state().results_due.insert(op.id);
            let op_id = op.id;
            if let Err(e) = delivery.submit(op).await {
                self.finish(op_id, Err(e)).await;
            }
        }
        n
    }
}
