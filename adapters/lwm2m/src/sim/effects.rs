//! How the simulated client carries out the side effects of the requests it answered
//! ([`super::Effect`]): reboots, firmware and software state machines, observations,
//! registration updates and the end of bootstrap.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Client, Cmd, Effect, Kind, Observer};
use crate::codec::Value;
use crate::path::Path;

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
        match effect {
            Effect::Observe { token, path, format } => {
                self.observers.retain(|o| o.path != path);
                self.observers.push(Observer { token, path, format, sequence: 0 });
            }
            Effect::CancelObserve(path) => self.observers.retain(|o| o.path != path),
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
            Effect::Software { instance, step } => {
                self.later(self.shared.config.software.delay, Cmd::Software(instance, step));
            }
            Effect::PackageWritten => self.set_firmware(2, 0),
            Effect::BootstrapFinished => {
                let account = self.shared.objects.lock().ok().and_then(|o| o.server_account());
                if let Ok(mut b) = self.shared.bootstrap.lock() {
                    *b = None;
                }
                let result = match account {
                    Some((addr, _)) => {
                        if let Ok(mut s) = self.shared.server.lock() {
                            *s = addr;
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
            Effect::Download(_) => {
                self.set_firmware(1, 0);
                self.later(self.shared.config.firmware.download_delay, Cmd::DownloadDone);
            }
            Effect::Update => {
                if let Ok(mut o) = self.shared.objects.lock() {
                    o.values.insert(Path::Resource(5, 0, 3), Value::Integer(3));
                }
                self.notify(Path::Resource(5, 0, 3));
                self.later(self.shared.config.firmware.update_delay, Cmd::UpdateDone);
            }
        }
    }
}
