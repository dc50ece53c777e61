//! Durable waits of CWMP operations, parked on the engine's [`Delivery`]: an operation the CPE
//! accepted whose outcome comes in a later session waits on a [`Correlator`] that the CPE will
//! send back:
//!
//! - Reboot: `1 BOOT` + `M Reboot` with the operation id as CommandKey (TR-069 Amendment 6,
//!   A.3.3.1, A.4.1.1 Table 39);
//! - Download, Upload, ScheduleDownload: TransferComplete with that CommandKey (A.3.3.2);
//! - ScheduleInform: `M ScheduleInform` with the ScheduleInform's CommandKey (A.4.1.2);
//! - ChangeDUState: DUStateChangeComplete with that CommandKey (A.4.1.10, CWMP 1.2);
//! - diagnostics: `8 DIAGNOSTICS COMPLETE`, which names no operation: the correlator is
//!   `diag:<operation id>` and the event wakes every diagnostics wait of the CPE.
//!
//! The wait carries the [`Await`] as its step data, so a CommandKey arriving in the wrong kind
//! of message wakes nothing. It is stored with the operation's `waiting` commit and handed back
//! after a restart, so the request is not sent twice. The ACS listens before the engine hands
//! unfinished operations back, so a completion that finds no wait in the first minute after
//! start is kept (a few per device) and replayed when an operation of that device is parked
//! again; later, it is a duplicate or a stranger's and is only logged.
//!
//! [`Delivery`]: unidm_core::Delivery

use std::sync::Arc;
use std::time::Duration;

use unidm_core::{Correlator, Wait, Woken};
use unidm_models::{DeviceId, Operation};

use super::Acs;
use crate::ops::{execute, Await};
use crate::rpc::du_state_change_complete::DUStateChangeComplete;
use crate::rpc::transfer_complete::TransferComplete;

/// Correlator prefix of diagnostics waits.
const DIAGNOSTICS: &str = "diag:";

/// How long after start a completion that finds no wait is kept for replay.
const CLAIM_WINDOW: Duration = Duration::from_secs(60);

/// Most completions kept for replay per device.
const MAX_UNCLAIMED: usize = 8;

/// A CPE message that ends a wait.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Completion {
    /// `M Reboot` with this CommandKey.
    Reboot(String),
    /// `M ScheduleInform` with this CommandKey.
    ScheduledInform(String),
    /// A TransferComplete.
    Transfer(TransferComplete),
    /// A DUStateChangeComplete.
    DuStateChange(DUStateChangeComplete),
    /// `8 DIAGNOSTICS COMPLETE`.
    Diagnostics,
}

/// The wait of `op` for `on`.
pub(crate) fn wait_for(op: &Operation, on: Await) -> Wait {
    let (correlator, waiting_for) = match on {
        Await::Boot => (op.id.0.to_string(), "waiting for the CPE to reboot (1 BOOT + M Reboot)"),
        Await::TransferComplete => (op.id.0.to_string(), "waiting for TransferComplete"),
        Await::ScheduledInform => (execute::schedule_inform_key(op), "waiting for the scheduled Inform"),
        Await::DiagnosticsComplete => (format!("{DIAGNOSTICS}{}", op.id.0), "waiting for 8 DIAGNOSTICS COMPLETE"),
        Await::DuStateChangeComplete => (op.id.0.to_string(), "waiting for DUStateChangeComplete"),
    };
    // A field-less enum always serializes.
    let step = serde_json::to_vec(&on).unwrap_or_default();
    Wait::new(Correlator::new(correlator), waiting_for).with_step(step)
}

/// What a wait waits for, from its step data.
fn awaits(wait: &Wait) -> Option<Await> {
    serde_json::from_slice(&wait.step).ok()
}

impl Acs {
    /// Ends the operation `completion` names; keeps it for replay when none waits for it yet.
    pub(crate) async fn complete(self: &Arc<Self>, device: &DeviceId, completion: Completion) {
        let claimed = match &completion {
            Completion::Reboot(key) => self.finish_woken(device, key, Await::Boot).await,
            Completion::ScheduledInform(key) => self.finish_woken(device, key, Await::ScheduledInform).await,
            Completion::Transfer(tc) => self.on_transfer_complete(device, tc).await,
            Completion::DuStateChange(c) => self.on_du_state_change_complete(device, c).await,
            Completion::Diagnostics => self.read_diagnostics_results(device).await > 0,
        };
        if !claimed {
            self.keep_unclaimed(device, completion);
        }
    }

    /// Succeeds the operation waiting for `on` with `key`; answers whether one waited.
    async fn finish_woken(&self, device: &DeviceId, key: &str, on: Await) -> bool {
        let Some(w) = self.wake(device, key, on) else { return false };
        self.finish(w.op.id, Ok(None)).await;
        true
    }

    fn keep_unclaimed(&self, device: &DeviceId, completion: Completion) {
        let Some(started) = self.started.get() else { return };
        if self.monotonic().saturating_sub(*started) >= CLAIM_WINDOW {
            return;
        }
        let mut st = self.state();
        let kept = st.unclaimed.entry(device.clone()).or_default();
        if kept.len() < MAX_UNCLAIMED && !kept.contains(&completion) {
            kept.push(completion);
        }
    }

    /// Replays the completions of `device` that came before its operations were handed back.
    pub(crate) async fn replay_unclaimed(self: &Arc<Self>, device: &DeviceId) {
        let kept = self.state().unclaimed.remove(device).unwrap_or_default();
        for completion in kept {
            tracing::debug!(%device, ?completion, "replaying a completion that came before its operation");
            self.complete(device, completion).await;
        }
    }

    /// Parks an answered operation on its wait for `on` (state `waiting`, stored with the wait).
    pub(crate) async fn park(&self, op: Operation, on: Await) {
        let Some(delivery) = self.delivery.get() else { return };
        let id = op.id;
        let mut wait = wait_for(&op, on);
        if let Some(limit) = self.config.wait_stall {
            wait = wait.stall_after(limit);
        }
        if let Err(e) = delivery.park(op, wait).await {
            tracing::debug!(operation = %id, error = %e, "wait not recorded (the operation had ended?)");
        }
    }

    /// Takes off its wait the operation of `device` that waits for `on` with this CommandKey.
    pub(crate) fn wake(&self, device: &DeviceId, command_key: &str, on: Await) -> Option<Woken> {
        let delivery = self.delivery.get()?;
        let key = command_key.trim();
        let mut woken = delivery.wake_all(device, |w| w.correlator.0 == key && awaits(w) == Some(on));
        woken.pop()
    }

    /// Takes off their waits the diagnostics operations of `device` (`8 DIAGNOSTICS COMPLETE`).
    pub(crate) fn wake_diagnostics(&self, device: &DeviceId) -> Vec<Woken> {
        let Some(delivery) = self.delivery.get() else { return Vec::new() };
        delivery.wake_all(device, |w| {
            w.correlator.0.starts_with(DIAGNOSTICS) && awaits(w) == Some(Await::DiagnosticsComplete)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::{Action, OperationId};

    #[test]
    fn waits_carry_the_command_key_and_their_kind() {
        let id = DeviceId::tr069("00D09E", Some("Box"), "S1").unwrap();
        let op = Operation::new(OperationId(42), id, Action::Reboot, Default::default(), unidm_models::Timestamp(0));
        let w = wait_for(&op, Await::Boot);
        assert_eq!(w.correlator, Correlator::new("42"));
        assert_eq!(awaits(&w), Some(Await::Boot));
        assert!(w.waiting_for.contains("reboot"));
        let d = wait_for(&op, Await::DiagnosticsComplete);
        assert_eq!(d.correlator, Correlator::new("diag:42"));
        assert_eq!(awaits(&d), Some(Await::DiagnosticsComplete));
    }
}

#[cfg(test)]
mod replay_tests {
    use std::sync::Arc;

    use unidm_core::{Engine, SqliteStore};
    use unidm_models::{Action, DeviceId, Operation, OperationId, Timestamp};

    use super::*;
    use crate::acs::{Tr069Adapter, Tr069Config};

    /// The engine hands operations back after the ACS listens: an `M Reboot` that came in
    /// between is kept and ends the operation once it is parked again.
    #[tokio::test]
    async fn a_completion_before_the_operation_is_handed_back_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let config = Tr069Config { listen: ([127, 0, 0, 1], 0).into(), ..Tr069Config::default() };
        let adapter = Arc::new(Tr069Adapter::new(config));
        let engine = Engine::builder()
            .store(SqliteStore::open(dir.path().join("u.db")).unwrap())
            .adapter_arc(adapter.clone())
            .manual_ticks()
            .start()
            .await
            .unwrap();
        let acs = adapter.inner.clone();
        let device = DeviceId::tr069("00D09E", Some("Box"), "early").unwrap();
        acs.complete(&device, Completion::Reboot("77".into())).await;
        assert_eq!(acs.state().unclaimed.get(&device).map(Vec::len), Some(1), "kept for replay");

        // What the engine hands back after a restart: the operation with its stored wait.
        let mut op = Operation::new(OperationId(77), device.clone(), Action::Reboot, Default::default(), Timestamp(0));
        let wait = wait_for(&op, Await::Boot);
        op.adapter_state = Some(serde_json::to_vec(&wait).unwrap());
        unidm_core::Adapter::submit(adapter.as_ref(), op).await.unwrap();
        let delivery = acs.delivery.get().unwrap();
        assert!(!delivery.holds(OperationId(77)), "the kept M Reboot ended the wait");
        assert!(!acs.state().unclaimed.contains_key(&device));

        // A completion for no operation at all stays a stranger: nothing is woken by it.
        acs.complete(&device, Completion::Transfer(Default::default())).await;
        engine.shutdown().await;
    }
}
