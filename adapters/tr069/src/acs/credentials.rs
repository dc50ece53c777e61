//! Per-device credentials an operator sets at run time (`PUT /api/v1/devices/{id}/credentials`):
//! the user name and password a CPE presents to the ACS (beside `[tr069.users]`; the user is
//! then bound to that device, TR-069 §3.4.4), and the connection-request credentials the ACS
//! gives the CPE in its next session (SetParameterValues of
//! `ManagementServer.ConnectionRequestUsername` / `Password`) and uses for connection
//! requests once the CPE took them. Kept in the device's record, so a restart keeps them;
//! never logged or shown.

use unidm_models::DeviceId;

use super::state::{Upkeep, UpkeepWork};
use super::{CpeAuth, Tr069Adapter};

/// Longest user name or password taken.
const MAX_SECRET: usize = 256;

/// Why credentials were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    /// No such TR-069 device in the registry.
    #[error("no TR-069 device `{0}`: provision it (POST /api/v1/devices) or let it inform first")]
    UnknownDevice(String),
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The ACS asks CPEs for no credentials.
    #[error("the ACS asks CPEs for no credentials (tr069 auth = none): set auth = basic or digest")]
    NoAuth,
}

/// Which credentials a CPE has (never a password).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The user name the CPE presents, when set through the API.
    pub cpe_username: Option<String>,
    /// The connection-request user name the CPE took.
    pub connection_request_username: Option<String>,
    /// Connection-request credentials wait for the CPE's next session.
    pub connection_request_pending: bool,
}

fn check(field: &str, v: &str) -> Result<(), CredentialError> {
    if v.is_empty() || v.len() > MAX_SECRET || v.chars().any(char::is_control) {
        return Err(CredentialError::Invalid(format!("{field}: 1 to {MAX_SECRET} printable characters")));
    }
    Ok(())
}

impl Tr069Adapter {
    fn known(&self, id: &DeviceId) -> Result<(), CredentialError> {
        match self.inner.handle.get().and_then(|h| h.device(id)) {
            Some(_) => Ok(()),
            None => Err(CredentialError::UnknownDevice(id.to_string())),
        }
    }

    /// Sets (or with `None` removes) the user name and password `id` presents to the ACS; the
    /// user may then only inform as `id`.
    pub async fn set_cpe_credentials(
        &self,
        id: &DeviceId,
        credentials: Option<(&str, &str)>,
    ) -> Result<CredentialInfo, CredentialError> {
        self.known(id)?;
        if matches!(self.inner.config.cpe_auth, CpeAuth::None) && credentials.is_some() {
            return Err(CredentialError::NoAuth);
        }
        if let Some((user, password)) = credentials {
            check("username", user)?;
            check("password", password)?;
            let configured = match &self.inner.config.cpe_auth {
                CpeAuth::Basic { users } | CpeAuth::Digest { users } => users.contains_key(user),
                CpeAuth::None => false,
            };
            let taken = self.inner.state().cpe_users.get(user).is_some_and(|d| d != id);
            if configured || taken {
                return Err(CredentialError::Invalid(format!("username: `{user}` belongs to another CPE")));
            }
        }
        let rec = {
            let mut st = self.inner.state();
            let rec = st.devices.entry(id.clone()).or_default();
            let old = rec.cpe_username.take();
            rec.cpe_password = None;
            if let Some((user, password)) = credentials {
                rec.cpe_username = Some(user.to_owned());
                rec.cpe_password = Some(password.to_owned());
            }
            let rec = rec.clone();
            if let Some(old) = old {
                st.cpe_users.remove(&old);
            }
            if let Some(user) = &rec.cpe_username {
                st.cpe_users.insert(user.clone(), id.clone());
            }
            rec
        };
        self.inner.persist_device(id, &rec).await;
        Ok(self.credentials(id))
    }

    /// Queues connection-request credentials for `id`: its next session sets them on the CPE,
    /// and connection requests use them from then on.
    pub async fn set_connection_request_credentials(
        &self,
        id: &DeviceId,
        username: &str,
        password: &str,
    ) -> Result<CredentialInfo, CredentialError> {
        self.known(id)?;
        check("connectionRequest.username", username)?;
        check("connectionRequest.password", password)?;
        {
            let mut st = self.inner.state();
            let queue = st.upkeep.entry(id.clone()).or_default();
            queue.retain(|w| !matches!(w.task, Upkeep::SetCrCredentials { .. }));
            let task = Upkeep::SetCrCredentials { username: username.to_owned(), password: password.to_owned() };
            queue.push_front(UpkeepWork::new(task));
        }
        Ok(self.credentials(id))
    }

    /// Which credentials `id` has (never a password).
    pub fn credentials(&self, id: &DeviceId) -> CredentialInfo {
        let st = self.inner.state();
        let rec = st.devices.get(id);
        CredentialInfo {
            cpe_username: rec.and_then(|r| r.cpe_username.clone()),
            connection_request_username: rec.and_then(|r| r.cr_username.clone()),
            connection_request_pending: st
                .upkeep
                .get(id)
                .is_some_and(|q| q.iter().any(|w| matches!(w.task, Upkeep::SetCrCredentials { .. }))),
        }
    }
}
