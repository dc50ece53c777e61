//! Completions that arrive in a later session as CPE requests: TransferComplete for a
//! Download (TR-069 Amendment 6, A.3.3.2) and DUStateChangeComplete for a ChangeDUState
//! (CWMP 1.2, TR-157). Both carry the operation id as CommandKey.

use std::sync::Arc;

use unidm_models::{
    Action, DeviceId, ErrorKind, FirmwareState, FirmwareStatus, OperationError, OperationId, SoftwareAction,
    SoftwareModule,
};

use super::state::Slot;
use super::Acs;
use crate::ops::{self, Await};
use crate::rpc::du_state_change_complete::DUStateChangeComplete;
use crate::rpc::transfer_complete::TransferComplete;

impl Acs {
    pub(crate) async fn on_transfer_complete(self: &Arc<Self>, slot: &mut Slot, tc: TransferComplete) {
        let (Some(id), Ok(n)) = (slot.device.clone(), tc.command_key.trim().parse::<u64>()) else { return };
        let Some(w) = self.take_waiting(OperationId(n), &id, Await::TransferComplete).await else {
            tracing::info!(device = %id, command_key = %tc.command_key, "TransferComplete for no waiting operation");
            return;
        };
        let (version, name, url) = match &w.op.action {
            Action::Firmware(f) => (f.version.clone(), f.name.clone(), Some(f.uri.clone())),
            _ => (None, None, None),
        };
        let ok = tc.fault.is_success();
        let status = FirmwareStatus {
            state: if ok { FirmwareState::Succeeded } else { FirmwareState::Failed },
            version,
            name,
            url,
            failure: (!ok).then(|| tc.fault.fault_string.clone()),
            protocol_result: Some(tc.fault.fault_code.to_string()),
        };
        self.set_firmware(&id, status).await;
        let result = if ok {
            Ok(None)
        } else {
            Err(OperationError::new(ErrorKind::DeviceRefused, tc.fault.fault_string.clone())
                .with_code(tc.fault.fault_code.to_string()))
        };
        self.finish(w.op.id, result).await;
    }

    pub(crate) async fn set_firmware(&self, id: &DeviceId, status: FirmwareStatus) {
        if let Some(h) = self.handle.get() {
            if let Err(e) = h.update_device(id, |d| d.snapshot.firmware = Some(status)).await {
                tracing::debug!(device = %id, error = %e, "firmware snapshot not recorded");
            }
        }
    }

    pub(crate) async fn on_du_state_change_complete(self: &Arc<Self>, slot: &mut Slot, c: DUStateChangeComplete) {
        let key = c.command_key.as_deref().unwrap_or_default().trim().parse::<u64>();
        let (Some(id), Ok(n)) = (slot.device.clone(), key) else { return };
        let Some(w) = self.take_waiting(OperationId(n), &id, Await::DuStateChangeComplete).await else {
            tracing::info!(device = %id, command_key = ?c.command_key, "DUStateChangeComplete for no waiting operation");
            return;
        };
        let outcome = ops::du_outcome(&c.results);
        if outcome.is_ok() {
            let name = match &w.op.action {
                Action::Software(SoftwareAction::Install { name, .. }) => name.clone(),
                _ => None,
            };
            if let Some(h) = self.handle.get() {
                let results = c.results.clone();
                let r = h
                    .update_device(&id, |d| {
                        for r in &results {
                            d.snapshot.software.retain(|m| m.id != r.uuid);
                            if r.current_state == "Installed" {
                                d.snapshot.software.push(SoftwareModule {
                                    id: r.uuid.clone(),
                                    name: name.clone().unwrap_or_else(|| r.deployment_unit_ref.clone()),
                                    version: Some(r.version.clone()).filter(|v| !v.is_empty()),
                                    installed: true,
                                    active: false,
                                });
                            }
                        }
                    })
                    .await;
                if let Err(e) = r {
                    tracing::debug!(device = %id, error = %e, "software snapshot not recorded");
                }
            }
        }
        self.finish(w.op.id, outcome.map(Some)).await;
    }
}
