//! Generic Alert 1226 results (OMA DM Protocol 1.2 §8.7): the operation parked on the alert's
//! `Correlator` ends as the result code says (FUMO, SCOMO, LAWMO codes). After a restart the
//! engine hands the recovered operations back to the adapter once it has started, and a
//! device may open its session first: an alert for no parked operation is kept (bounded: the
//! last [`MAX_EARLY`], correlators of at most [`MAX_CORRELATOR`] bytes) and taken when an
//! operation is parked again on its correlator.

use std::collections::VecDeque;

use unidm_core::{AdapterHandle, Correlator, Delivery, Woken};
use unidm_models::firmware::FirmwareReport;
use unidm_models::{Action, DeviceId};

use super::firmware::firmware_done;
use super::{ops, report, After, Server};
use crate::session::GenericAlert;

/// Most alerts kept for operations not parked yet.
pub(crate) const MAX_EARLY: usize = 256;
/// Longest correlator kept.
pub(crate) const MAX_CORRELATOR: usize = 64;

/// Alerts that came before their operation was parked: device, correlator, result code.
#[derive(Default)]
pub(crate) struct EarlyAlerts(VecDeque<(DeviceId, String, Option<u32>)>);

impl EarlyAlerts {
    fn keep(&mut self, device: &DeviceId, correlator: &str, code: Option<u32>) {
        if correlator.len() > MAX_CORRELATOR {
            return;
        }
        self.0.retain(|(d, c, _)| !(d == device && c == correlator));
        if self.0.len() >= MAX_EARLY {
            self.0.pop_front();
        }
        self.0.push_back((device.clone(), correlator.to_owned(), code));
    }

    fn take(&mut self, device: &DeviceId, correlator: &Correlator) -> Option<Option<u32>> {
        let i = self.0.iter().position(|(d, c, _)| d == device && Correlator::new(c.as_str()) == *correlator)?;
        self.0.remove(i).map(|(_, _, code)| code)
    }
}

impl Server {
    /// A Generic Alert of the device's session; answers what the end of its operation asks
    /// of the session.
    pub(super) async fn on_generic_alert(
        &self,
        h: &AdapterHandle,
        delivery: &Delivery,
        device: &DeviceId,
        alert: GenericAlert,
    ) -> After {
        let Some(c) = alert.correlator.as_deref() else {
            tracing::info!(%device, r#type = ?alert.r#type, "Generic Alert without a correlator");
            return After::default();
        };
        let code = alert.data.as_ref().and_then(|d| d.as_text()).and_then(|t| t.trim().parse::<u32>().ok());
        let Some(woken) = delivery.wake(device, &Correlator::new(c)) else {
            tracing::info!(%device, correlator = c, "Generic Alert for no waiting operation (kept for a while)");
            self.early.lock().unwrap_or_else(|e| e.into_inner()).keep(device, c, code);
            return After::default();
        };
        self.alert_result(h, delivery, device, woken, code).await
    }

    /// An operation parked again after a restart: an alert that came before ends it.
    pub(super) async fn resumed(&self, h: &AdapterHandle, delivery: &Delivery, device: &DeviceId, c: &Correlator) {
        let early = self.early.lock().unwrap_or_else(|e| e.into_inner()).take(device, c);
        let Some(code) = early else { return };
        if let Some(woken) = delivery.wake(device, c) {
            self.alert_result(h, delivery, device, woken, code).await;
        }
    }

    async fn alert_result(
        &self,
        h: &AdapterHandle,
        delivery: &Delivery,
        device: &DeviceId,
        woken: Woken,
        code: Option<u32>,
    ) -> After {
        let outcome = ops::alert_outcome(&woken.wait.step, code);
        let op = woken.op;
        // A diagnostic that ran: its results are read next, in this session.
        if woken.wait.step == ops::STEP_DIAG && outcome == crate::mo::Outcome::Succeeded {
            self.again(h, delivery, op, ops::DIAG_RESULTS.to_vec()).await;
            return After::default();
        }
        if let Action::Firmware(f) = &op.action {
            let f = f.clone();
            let failed = match &outcome {
                crate::mo::Outcome::Succeeded => None,
                crate::mo::Outcome::Failed(e) => Some((e.message.clone(), e.protocol_code.clone())),
            };
            let succeeded = failed.is_none();
            self.report_firmware(h, device, move |d| match failed {
                None => firmware_done(&f, d),
                Some((why, code)) => vec![FirmwareReport::failed(why, code)],
            })
            .await;
            if succeeded {
                self.firmware_changed(device).await;
            }
        }
        match outcome {
            crate::mo::Outcome::Succeeded => report(h, op.id, Ok(None)).await,
            crate::mo::Outcome::Failed(e) => report(h, op.id, Err(e)).await,
        }
        After::ended(&self.config, &op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_alerts_are_bounded_and_taken_once() {
        let mut e = EarlyAlerts::default();
        let d = DeviceId::omadm("IMEI:1").unwrap();
        e.keep(&d, "7", Some(200));
        e.keep(&d, &"x".repeat(MAX_CORRELATOR + 1), Some(200));
        for i in 0..MAX_EARLY + 10 {
            e.keep(&DeviceId::omadm("IMEI:2").unwrap(), &format!("{i}"), None);
        }
        assert_eq!(e.0.len(), MAX_EARLY);
        assert_eq!(e.take(&d, &Correlator::new("7")), None, "the oldest went first");
        let mut e = EarlyAlerts::default();
        e.keep(&d, "7", Some(402));
        assert_eq!(e.take(&DeviceId::omadm("IMEI:2").unwrap(), &Correlator::new("7")), None, "another device's");
        assert_eq!(e.take(&d, &Correlator::new("7")), Some(Some(402)));
        assert_eq!(e.take(&d, &Correlator::new("7")), None);
    }
}
