//! Per-device secrets, push addresses and management objects: the [`CredentialStore`] sessions read, and the
//! device record (`device_contact_with_record`) it is kept in across restarts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::OmadmConfig;
use crate::session::{ClientAuth, CredentialStore, Credentials, NonceDirection};

/// What the adapter keeps of one device (stored as the device record, JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    /// The nonce the server last gave the client (its next md5 / HMAC uses it).
    #[serde(default)]
    pub client_nonce: Option<Vec<u8>>,
    /// The nonce the client last gave the server (the server's `Cred` and Package #0 use it).
    #[serde(default)]
    pub server_nonce: Option<Vec<u8>>,
    /// Where Package #0 goes ([`super::push::PushTarget`]: `ip:port` for UDP, or an HTTP URL).
    #[serde(default)]
    pub push: Option<String>,
    /// The management objects found on the device (none: not asked yet); they decide its
    /// capabilities.
    #[serde(default)]
    pub mos: Option<super::discovery::MoList>,
    /// The client's own credentials, set through the API (they win over the configuration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StoredCredentials>,
}

/// A client's user name and password as kept in its record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials").field("username", &self.username).field("password", &"***").finish()
    }
}

impl DeviceRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<DeviceRecord> {
        serde_json::from_slice(bytes).ok()
    }
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, DeviceRecord>,
    /// DevIds the registry knows (a record was loaded or a session authenticated).
    known: HashSet<String>,
}

/// The credential store of every session of the adapter.
pub(crate) struct Accounts {
    client_auth: ClientAuth,
    default_client: Option<Credentials>,
    per_device: BTreeMap<String, Credentials>,
    server: Option<Credentials>,
    accept_unknown: bool,
    inner: Mutex<Inner>,
}

impl Accounts {
    pub(crate) fn new(config: &OmadmConfig) -> Accounts {
        Accounts {
            client_auth: config.client_auth,
            default_client: config.client_credentials.clone(),
            per_device: config.device_credentials.clone(),
            server: config.server_password.as_ref().map(|p| Credentials::new(config.server_id.clone(), p.clone())),
            accept_unknown: config.accept_unknown_devices,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the records stored before a restart.
    pub(crate) fn load(&self, records: impl IntoIterator<Item = (String, DeviceRecord)>) {
        let mut st = self.lock();
        for (dev_id, r) in records {
            st.known.insert(dev_id.clone());
            st.records.insert(dev_id, r);
        }
    }

    pub(crate) fn mark_known(&self, dev_id: &str) {
        self.lock().known.insert(dev_id.to_owned());
    }

    pub(crate) fn is_known(&self, dev_id: &str) -> bool {
        self.lock().known.contains(dev_id)
    }

    pub(crate) fn record(&self, dev_id: &str) -> DeviceRecord {
        self.lock().records.get(dev_id).cloned().unwrap_or_default()
    }

    pub(crate) fn update(&self, dev_id: &str, f: impl FnOnce(&mut DeviceRecord)) -> DeviceRecord {
        let mut st = self.lock();
        let r = st.records.entry(dev_id.to_owned()).or_default();
        f(r);
        r.clone()
    }

    pub(crate) fn set_nonce(&self, dev_id: &str, direction: NonceDirection, nonce: Vec<u8>) {
        self.update(dev_id, |r| match direction {
            NonceDirection::ClientToServer => r.client_nonce = Some(nonce),
            NonceDirection::ServerToClient => r.server_nonce = Some(nonce),
        });
    }

    /// The server's password on devices (for Package #0), if configured.
    pub(crate) fn server_credentials_any(&self) -> Option<&Credentials> {
        self.server.as_ref()
    }

    /// The device's own credentials: set through the API, else in the configuration.
    pub(crate) fn device_credentials(&self, dev_id: &str) -> Option<Credentials> {
        let stored = self.lock().records.get(dev_id).and_then(|r| r.credentials.clone());
        stored.map(|c| Credentials::new(c.username, c.password)).or_else(|| self.per_device.get(dev_id).cloned())
    }

    /// Whether a default account applies to devices without credentials of their own.
    pub(crate) fn has_default(&self) -> bool {
        self.default_client.is_some()
    }

    /// The default account's user name.
    pub(crate) fn default_username(&self) -> Option<String> {
        self.default_client.as_ref().map(|c| c.username.clone())
    }

    fn admitted(&self, dev_id: &str) -> bool {
        self.accept_unknown || self.per_device.contains_key(dev_id) || self.lock().known.contains(dev_id)
    }
}

impl CredentialStore for Accounts {
    fn client_credentials(&self, dev_id: &str, username: Option<&str>) -> Option<Credentials> {
        if !self.admitted(dev_id) {
            return None;
        }
        if self.client_auth == ClientAuth::None {
            return Some(Credentials::new(username.unwrap_or_default(), ""));
        }
        let c = self.device_credentials(dev_id).or_else(|| self.default_client.clone())?;
        username.is_none_or(|u| u == c.username).then_some(c)
    }

    fn server_credentials(&self, _dev_id: &str) -> Option<Credentials> {
        self.server.clone()
    }

    fn client_nonce(&self, dev_id: &str) -> Option<Vec<u8>> {
        self.lock().records.get(dev_id).and_then(|r| r.client_nonce.clone())
    }

    fn server_nonce(&self, dev_id: &str) -> Option<Vec<u8>> {
        self.lock().records.get(dev_id).and_then(|r| r.server_nonce.clone())
    }
}
