//! How the simulated client carries out the side effects of the requests it answered
//! ([`super::Effect`]): reboots, firmware and software state machines, observations,
//! registration updates and the end of bootstrap; and the notifications of observed values.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{composite, Client, Cmd, Effect, Kind, Observer};
use crate::coap::{serialize, TransmissionParams};
use crate::codec::Value;
use crate::path::Path;
use crate::server::Observed;

impl Client {
    pub(super) fn set_firmware(&mut self, state: i64, result: u8) {
        if let Ok(mut o) = self.shared.objects.lock() {
            o.values.insert(Path::Resource(5, 0, 5), Value::Integer(i64::from(result)));
            o.values.insert(Path::Resource(5, 0, 3), Value::Integer(state));
        }
        self.notify(Path::Resource(5, 0, 5));
        self.notify(Path::Resource(5, 0, 3));
    }

    pub(super) fn later(&self, delay: Duration, cmd: Cmd) {
        let tx = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(cmd);
        });
    }

    pub(super) fn effect(&mut self, effect: Effect) {
        if matches!(&effect, Effect::Download(uri) if !uri.is_empty()) {
            self.shared.package_uri_writes.fetch_add(1, Ordering::SeqCst);
        }
        match effect {
            Effect::Observe { token, path, format } => {
                let observed = Observed::Path(path);
                self.observers.retain(|o| o.prefix.is_some() || o.observed != observed);
                self.observers.push(Observer { token: token.clone(), observed, format, sequence: 0, prefix: None });
                self.schedule_pmax(&token, 0);
            }
            Effect::CancelObserve(path) => {
                self.observers.retain(|o| o.prefix.is_some() || o.observed != Observed::Path(path))
            }
            Effect::ObserveComposite { token, paths, format } => {
                let observed = Observed::composite(paths);
                self.observers.retain(|o| o.prefix.is_some() || (o.observed != observed && o.token != token));
                self.observers.push(Observer { token, observed, format, sequence: 0, prefix: None });
            }
            Effect::CancelObserveComposite { token, paths } => {
                let observed = Observed::composite(paths);
                self.observers.retain(|o| o.prefix.is_some() || (o.token != token && o.observed != observed));
            }
            Effect::Reboot => {
                self.shared.reboots.fetch_add(1, Ordering::SeqCst);
                if self.shared.config.reregister_after_reboot {
                    self.observers.clear();
                    self.later(Duration::from_millis(20), Cmd::Register(None));
                }
            }
            Effect::FactoryReset => {
                self.shared.factory_resets.fetch_add(1, Ordering::SeqCst);
            }
            Effect::RegistrationUpdate => self.send_request(Kind::Update, None),
            Effect::Disable(timeout) => {
                self.observers.clear();
                self.send_request(Kind::Deregister, None);
                self.later(timeout, Cmd::Register(None));
            }
            Effect::Software { instance, step } => {
                self.later(self.shared.config.software.delay, Cmd::Software(instance, step));
            }
            Effect::Changed(paths) => {
                if paths.iter().any(|p| matches!(p, Path::Resource(1, 0, 1) | Path::ObjectInstance(1, 0))) {
                    self.lifetime_changed = true;
                    self.send_request(Kind::Update, None);
                }
                self.notify_any(None, &paths)
            }
            Effect::PackageWritten if self.shared.config.firmware_stuck_downloading => self.set_firmware(1, 0),
            Effect::PackageWritten => self.set_firmware(2, 0),
            Effect::BootstrapTrigger => {
                let bs = self.shared.objects.lock().ok().and_then(|o| o.bootstrap_server());
                match bs {
                    Some(bs) => {
                        if let Ok(mut b) = self.shared.bootstrap.lock() {
                            *b = Some(bs);
                        }
                        self.register_after_bootstrap = true;
                        self.send_request(Kind::Bootstrap, None);
                    }
                    None => tracing::info!("Bootstrap-Request Trigger without a bootstrap account"),
                }
            }
            Effect::BootstrapFinished => {
                let account = self.shared.objects.lock().ok().and_then(|o| o.server_account());
                // A PSK or raw-public-key account: the registration goes over DTLS with what
                // was given.
                let security = self.shared.objects.lock().ok().and_then(|o| o.server_security());
                let client = security.map(|s| s.client());
                let bootstrap = self.shared.bootstrap.lock().ok().and_then(|b| *b);
                if let Some(client) = client {
                    if let Err(e) = self.socket.use_dtls(client, bootstrap) {
                        tracing::warn!(error = %e, "the bootstrapped DTLS credentials are unusable");
                    }
                }
                if let Ok(mut b) = self.shared.bootstrap.lock() {
                    *b = None;
                }
                let result = match account {
                    Some((addr, _)) => {
                        if let Ok(mut s) = self.shared.server.lock() {
                            *s = addr;
                        }
                        if std::mem::take(&mut self.register_after_bootstrap) {
                            // Bootstrapped on the server's trigger: register with what was given.
                            self.observers.clear();
                            self.send_request(Kind::Register, None);
                        }
                        Ok(())
                    }
                    None => Err("bootstrap finished without a server account".to_owned()),
                };
                if let Some(r) = self.bootstrap_reply.take() {
                    let _ = r.send(result);
                }
            }
            Effect::ObjectsChanged => {
                self.objects_changed = true;
                self.send_request(Kind::Update, None);
            }
            Effect::Download(uri) if uri.is_empty() => self.set_firmware(0, 0),
            // A scheme it does not list in /5/0/8: Update Result 9, Unsupported protocol.
            Effect::Download(uri) if !self.shared.objects.lock().is_ok_and(|o| o.downloads_with(&uri)) => {
                self.set_firmware(0, 9)
            }
            Effect::Download(_) if self.shared.config.firmware_stuck_downloading => self.set_firmware(1, 0),
            Effect::Download(_) => {
                self.set_firmware(1, 0);
                self.later(self.shared.config.firmware.download_delay, Cmd::DownloadDone);
            }
            Effect::Update => {
                self.shared.update_executes.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut o) = self.shared.objects.lock() {
                    o.values.insert(Path::Resource(5, 0, 3), Value::Integer(3));
                }
                self.notify(Path::Resource(5, 0, 3));
                self.later(self.shared.config.firmware.update_delay, Cmd::UpdateDone);
            }
        }
    }

    /// Sends a notification (NON) to every observation the change at `changed` concerns.
    pub(super) fn notify(&mut self, changed: Path) {
        self.notify_under(None, changed);
    }

    /// [`Client::notify`] of a change in the client's own objects (`prefix` `None`) or in
    /// those of its end device under `prefix` (gateway mode).
    pub(super) fn notify_under(&mut self, prefix: Option<&str>, changed: Path) {
        self.notify_any(prefix, &[changed]);
    }

    /// One notification to every observation that any of `changed` concerns.
    pub(super) fn notify_any(&mut self, prefix: Option<&str>, changed: &[Path]) {
        let mut out = Vec::new();
        let mut due = Vec::new();
        let concerned = |o: &&mut Observer| {
            o.prefix.as_deref() == prefix && changed.iter().any(|c| composite::touches(&o.observed, c))
        };
        for obs in self.observers.iter_mut().filter(concerned) {
            let encoded = match prefix {
                None => self.shared.objects.lock().ok().map(|o| o.encode_observed(&obs.observed, obs.format)),
                Some(p) => self.shared.end_devices.lock().ok().and_then(|d| {
                    let device = d.get(p)?;
                    Some(device.encode_observed(&obs.observed, obs.format))
                }),
            };
            let Some(Ok((format, payload))) = encoded else { continue };
            obs.sequence += 1;
            out.push(crate::coap::notification(&obs.token, obs.sequence, format.code(), payload));
            due.push((obs.token.clone(), obs.sequence));
        }
        for (token, sequence) in due {
            self.schedule_pmax(&token, sequence);
        }
        self.send_notifications(out);
    }

    /// The pmax of an observation of the client's own `path`: the attribute on
    /// the resource, else on its instance, else on its object (TS Core 1.1 §5.1.2 attribute
    /// levels); `None` when none is set (the sim then notifies on change only).
    fn pmax(&self, path: &Path) -> Option<Duration> {
        let objects = self.shared.objects.lock().ok()?;
        let mut at = Some(*path);
        while let Some(p) = at {
            let pmax = objects.attributes.get(&p).and_then(|set| set.get("pmax"));
            if let Some(v) = pmax.and_then(|v| v.parse::<u64>().ok()) {
                return (v > 0).then(|| Duration::from_secs(v));
            }
            at = p.parent();
        }
        None
    }

    fn schedule_pmax(&self, token: &[u8], sequence: u32) {
        let Some(obs) = self.observers.iter().find(|o| o.token == token && o.prefix.is_none()) else { return };
        let Observed::Path(path) = &obs.observed else { return };
        if let Some(period) = self.pmax(path) {
            self.later(period, Cmd::Pmax(token.to_vec(), sequence));
        }
    }

    /// A pmax timer fired: notify the current value unless a notification went out since.
    pub(super) fn pmax_due(&mut self, token: &[u8], sequence: u32) {
        let Some(obs) = self.observers.iter_mut().find(|o| o.token == token && o.prefix.is_none()) else { return };
        if obs.sequence != sequence {
            return;
        }
        let encoded = self.shared.objects.lock().ok().map(|o| o.encode_observed(&obs.observed, obs.format));
        let Some(Ok((format, payload))) = encoded else { return };
        obs.sequence += 1;
        let next = obs.sequence;
        let p = crate::coap::notification(&obs.token, obs.sequence, format.code(), payload);
        self.send_notifications(vec![p]);
        self.schedule_pmax(token, next);
    }

    fn send_notifications(&mut self, out: Vec<coap_lite::Packet>) {
        let server = self.server();
        for mut p in out {
            p.header.message_id = self.token()[0] as u16 * 256 + self.token()[1] as u16;
            if let Ok(bytes) = serialize(&p, &TransmissionParams::default()) {
                let _ = self.socket.try_send_to(&bytes, server);
            }
        }
    }
}
