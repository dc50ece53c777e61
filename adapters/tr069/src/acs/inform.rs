//! What an Inform means (TR-069 Amendment 6, A.3.3.1): the CPE's identity and what the ACS
//! keeps about it ([`DeviceRecord`]), presence for the engine, the completions its events
//! announce (`M Reboot`, `M ScheduleInform`, `8 DIAGNOSTICS COMPLETE`), value changes of
//! observed parameters, and the upkeep a boot calls for.

use std::sync::Arc;

use unidm_core::Contact;
use unidm_models::{DeviceId, OperationId, PresenceState};

use super::state::{wait_key, DeviceRecord, SessionSlot, Waiting, Work};
use super::Acs;
use crate::model::{capabilities, json_of, DataModel, Facts};
use crate::ops::{Await, Phase};
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
                self.abort(&mut old, "the CPE started a new session");
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
                        .push_front(Work::Op { op: Box::new(w.op), phase: Phase::Results });
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
            if let Err(e) = h.delete_state(&wait_key(op)).await {
                // Harmless but worth knowing: after a restart the operation is handed back and
                // would wait again for an event that already came.
                tracing::warn!(operation = %op, error = %e, "stored wait not removed");
            }
        }
        Some(w)
    }
}
