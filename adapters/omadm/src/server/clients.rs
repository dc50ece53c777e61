//! What an operator sets and reads per DM client through the API: its push target, its own
//! credentials, and a Package #0 built on demand (to hand to a transport unidm does not run).
//! Settings live in the device's record, so they survive restarts; the device must be in the
//! registry (provisioned, or seen once).

use serde::Serialize;
use unidm_models::DeviceId;

use super::accounts::StoredCredentials;
use super::push::PushTarget;
use super::OmadmAdapter;
use crate::session::Credentials;

/// Longest user name or password accepted.
const MAX_SECRET: usize = 256;

/// What the API shows of a DM client (never its password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSettings {
    /// The DevId (`./DevInfo/DevId`).
    pub dev_id: String,
    /// Where Package #0 goes: `udp://ip:port` or an HTTP URL; `None`: no push (the configured
    /// webhook, if any, or the device's next session).
    pub push: Option<String>,
    /// Whose credentials the client must present: `device` (its own), `default` (the server's
    /// default account) or `none` configured.
    pub credentials: &'static str,
    /// The user name of the credentials that apply.
    pub username: Option<String>,
}

/// Why a client setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// No such OMA DM device in the registry.
    #[error("no OMA DM device `{0}`: provision it (POST /api/v1/devices) or let it connect first")]
    UnknownDevice(String),
    /// A field is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The adapter is not running or the store refused the change.
    #[error("{0}")]
    Unavailable(String),
}

impl OmadmAdapter {
    /// The settings of the DM client `dev_id`, if the registry knows it.
    pub fn client(&self, dev_id: &str) -> Result<ClientSettings, ClientError> {
        self.registered(dev_id)?;
        Ok(self.settings(dev_id))
    }

    /// Sets (or with `None` clears) where Package #0 goes for `dev_id`: `udp://ip:port`,
    /// `ip:port` or an `http(s)://` URL.
    pub async fn set_push(&self, dev_id: &str, target: Option<&str>) -> Result<ClientSettings, ClientError> {
        let id = self.registered(dev_id)?;
        let push = match target {
            Some(t) => Some(
                PushTarget::parse(t).map_err(|message| ClientError::Invalid { field: "address", message })?.to_string(),
            ),
            None => None,
        };
        let record = self.inner.accounts.update(dev_id, |r| r.push = push);
        self.store(&id, record).await?;
        Ok(self.settings(dev_id))
    }

    /// Sets (or with `None` clears) the credentials `dev_id` must present (`syncml:auth-md5` /
    /// `-basic` / HMAC), instead of the default account's.
    pub async fn set_credentials(
        &self,
        dev_id: &str,
        credentials: Option<Credentials>,
    ) -> Result<ClientSettings, ClientError> {
        let id = self.registered(dev_id)?;
        if let Some(c) = &credentials {
            for (field, value) in [("username", &c.username), ("password", &c.password)] {
                if value.is_empty() || value.len() > MAX_SECRET || value.chars().any(char::is_control) {
                    let message = format!("1 to {MAX_SECRET} characters, no control characters");
                    return Err(ClientError::Invalid { field, message });
                }
            }
        }
        let stored = credentials.map(|c| StoredCredentials { username: c.username, password: c.password });
        let record = self.inner.accounts.update(dev_id, |r| r.credentials = stored);
        self.store(&id, record).await?;
        // A device given credentials is enrolled: admitted even when unknown devices are not.
        self.inner.accounts.mark_known(dev_id);
        Ok(self.settings(dev_id))
    }

    /// A fresh Package #0 for `dev_id` (OMA DM Notification Initiated Session 1.2 §6.2), the
    /// device's next session expected with its session id: for a transport unidm does not run.
    pub fn package0_now(&self, dev_id: &str) -> Result<Vec<u8>, ClientError> {
        self.registered(dev_id)?;
        self.inner.build_package0(dev_id).map(|(bytes, _)| bytes).map_err(ClientError::Unavailable)
    }

    fn registered(&self, dev_id: &str) -> Result<DeviceId, ClientError> {
        let unknown = || ClientError::UnknownDevice(dev_id.to_owned());
        let id = DeviceId::omadm(dev_id).map_err(|_| unknown())?;
        let h =
            self.inner.handle().ok_or_else(|| ClientError::Unavailable("the OMA DM adapter has not started".into()))?;
        h.device(&id).map(|_| id).ok_or_else(unknown)
    }

    async fn store(&self, id: &DeviceId, record: super::accounts::DeviceRecord) -> Result<(), ClientError> {
        let h =
            self.inner.handle().ok_or_else(|| ClientError::Unavailable("the OMA DM adapter has not started".into()))?;
        h.set_device_record(id, Some(record.encode())).await.map_err(|e| ClientError::Unavailable(e.to_string()))
    }

    fn settings(&self, dev_id: &str) -> ClientSettings {
        let accounts = &self.inner.accounts;
        let own = accounts.device_credentials(dev_id);
        let (credentials, username) = match own {
            Some(c) => ("device", Some(c.username)),
            None if accounts.has_default() => ("default", accounts.default_username()),
            None => ("none", None),
        };
        ClientSettings { dev_id: dev_id.to_owned(), push: accounts.record(dev_id).push, credentials, username }
    }
}
