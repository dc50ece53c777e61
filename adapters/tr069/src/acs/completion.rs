//! Completions that arrive in a later session: TransferComplete for a Download, Upload or
//! ScheduleDownload (TR-069 Amendment 6, A.3.3.2), DUStateChangeComplete for a ChangeDUState
//! (CWMP 1.2, TR-157), both carrying the operation id as CommandKey (their waits:
//! [`super::waits`]). A CancelTransfer (A.4.1.9) the CPE accepted ends the transfer operation
//! it names.

use std::sync::Arc;

use unidm_models::{Action, DeviceId, ErrorKind, OperationError, SoftwareAction, SoftwareModule};

use super::Acs;
use crate::ops::{self, execute, Await};
use crate::rpc::du_state_change_complete::DUStateChangeComplete;
use crate::rpc::transfer_complete::TransferComplete;
use crate::rpc::Rpc;

impl Acs {
    /// Ends the transfer operation a TransferComplete names; answers whether one waited.
    pub(crate) async fn on_transfer_complete(self: &Arc<Self>, id: &DeviceId, tc: &TransferComplete) -> bool {
        let id = id.clone();
        let Some(w) = self.wake(&id, &tc.command_key, Await::TransferComplete) else {
            tracing::info!(device = %id, command_key = %tc.command_key, "TransferComplete for no waiting operation");
            return false;
        };
        let ok = tc.fault.is_success();
        if let Action::Firmware(f) = &w.op.action {
            let fault = &tc.fault;
            self.report_firmware(&id, |d| {
                if ok {
                    super::firmware::completed(f, d)
                } else {
                    super::firmware::failed(&fault.fault_string, Some(fault.fault_code.to_string()))
                }
            })
            .await;
        }
        let result = if ok && execute::is_execute(&w.op, "Upload") {
            Ok(execute::upload_result(execute::upload_url(&w.op, self.upload_base().as_deref())))
        } else if ok {
            Ok(None)
        } else {
            Err(OperationError::new(ErrorKind::DeviceRefused, tc.fault.fault_string.clone())
                .with_code(tc.fault.fault_code.to_string()))
        };
        self.finish(w.op.id, result).await;
        true
    }

    /// Ends the ChangeDUState operation a DUStateChangeComplete names; answers whether one
    /// waited.
    pub(crate) async fn on_du_state_change_complete(
        self: &Arc<Self>,
        id: &DeviceId,
        c: &DUStateChangeComplete,
    ) -> bool {
        let id = id.clone();
        let key = c.command_key.as_deref().unwrap_or_default();
        let Some(w) = self.wake(&id, key, Await::DuStateChangeComplete) else {
            tracing::info!(device = %id, command_key = ?c.command_key, "DUStateChangeComplete for no waiting operation");
            return false;
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
        true
    }
}

impl Acs {
    /// The URL prefix an Upload without `url` sends its file to, when the file server takes
    /// uploads.
    pub(crate) fn upload_base(&self) -> Option<String> {
        self.config.files.as_ref().filter(|f| f.accept_uploads)?;
        self.local_addr.get().map(|a| format!("{}://{a}{}", self.config.scheme(), super::FILES_PREFIX))
    }

    /// What a successful native request changes besides its own result: an accepted
    /// CancelTransfer ends the transfer operation of this device whose id is its CommandKey.
    pub(crate) async fn after_native(&self, id: &DeviceId, op: &unidm_models::Operation, response: &Rpc) {
        if !matches!(response, Rpc::CancelTransferResponse(_)) || !execute::is_execute(op, "CancelTransfer") {
            return;
        }
        let Action::Native(n) = &op.action else { return };
        let key = n.value.as_ref().and_then(|v| v.get("commandKey"));
        let Some(target) = key.and_then(|k| k.as_u64().or_else(|| k.as_str().and_then(|s| s.trim().parse().ok())))
        else {
            return;
        };
        if let Some(w) = self.wake(id, &target.to_string(), Await::TransferComplete) {
            let e = OperationError::new(ErrorKind::DeviceRefused, format!("transfer cancelled by operation {}", op.id))
                .with_code("cancelled");
            self.finish(w.op.id, Err(e)).await;
        }
    }

    /// Keeps the set of paths whose value changes become observations: Observe / cancel, and
    /// writeAttributes with a `notification` (1 or 2 adds, 0 removes; A.3.2.4).
    pub(crate) async fn track_observe(&self, id: &DeviceId, n: &unidm_models::NativeRequest) {
        use unidm_models::NativeOp;
        let watch = match n.op {
            NativeOp::Observe => true,
            NativeOp::CancelObserve => false,
            NativeOp::WriteAttributes => match n.value.as_ref().and_then(|v| v.get("notification")) {
                Some(v) => v.as_i64().is_some_and(|x| x > 0),
                None => return,
            },
            _ => return,
        };
        let rec = {
            let mut st = self.state();
            let model = st.devices.get(id).and_then(|r| r.model);
            let path = model.map(|m| m.absolute(n.path.trim())).unwrap_or_else(|| n.path.trim().to_owned());
            let rec = st.devices.entry(id.clone()).or_default();
            if watch {
                rec.observed.insert(path);
            } else {
                rec.observed.remove(&path);
            }
            rec.clone()
        };
        self.persist_device(id, &rec).await;
    }
}
