//! Authentication inside a DM session, both ways (OMA DM Security 1.2 §5.1.3 - §5.1.4; SyncML
//! Representation Protocol 1.2 §5.1.4 `Chal`, §5.1.5 `Cred`; OMA DM Protocol 1.2 §8.3 on the
//! SyncHdr Status codes 212 / 401 / 407).
//!
//! The session asks a [`CredentialStore`] the adapter gives for the device's secrets and its
//! stored nonces, checks the client's `Cred` (or `x-syncml-hmac` header), and builds its own
//! `Cred` from the nonce the client gave it. Every nonce the session issues or receives is
//! surfaced as a [`SessionEvent::NonceUpdated`](super::SessionEvent::NonceUpdated) so that the
//! adapter stores it (the store is only read here).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::auth::{self, HmacHeader};
use crate::codec::{Chal, Cred, Meta};

/// A user name and password: the client's (CLCRED, what the device proves itself with) or the
/// server's on one device (SRVCRED, what the server proves itself with; OMA DM Security 1.2
/// §5.1.1 wants one per device).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AAuthName`.
    pub username: String,
    /// `AAuthSecret`.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"…").finish()
    }
}

impl Credentials {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials { username: username.into(), password: password.into() }
    }
}

/// Where the session finds per-device secrets and nonces (DMAcc `AppAuth` CLCRED / SRVCRED,
/// OMA DM Standardized Objects 1.2 §7.1.3.1.19 - §7.1.3.1.23). Read-only: changes come back as
/// events. An unknown device is refused by returning `None` from
/// [`client_credentials`](CredentialStore::client_credentials).
pub trait CredentialStore {
    /// The client's credentials, by the user name it claims (`None` when it names none: md5
    /// without `Source/LocName`) and its DevId (the SyncHdr `Source/LocURI`).
    fn client_credentials(&self, dev_id: &str, username: Option<&str>) -> Option<Credentials>;
    /// The server's credentials on this device, when the server must authenticate itself.
    fn server_credentials(&self, dev_id: &str) -> Option<Credentials>;
    /// The nonce the server last gave this client (CLCRED `AAuthData`): the one its next md5
    /// digest or HMAC uses.
    fn client_nonce(&self, dev_id: &str) -> Option<Vec<u8>>;
    /// The nonce this client last gave the server (SRVCRED `AAuthData`): the one the server's
    /// next md5 `Cred` uses.
    fn server_nonce(&self, dev_id: &str) -> Option<Vec<u8>>;
}

/// What the server demands of the client (OMA DM Security 1.2 §5.1.3: clients without
/// transport-level authentication must support md5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No authentication: every client is taken at its word.
    None,
    /// `syncml:auth-basic` (md5 also accepted).
    Basic,
    /// `syncml:auth-md5`.
    #[default]
    Md5,
    /// `syncml:auth-MAC`: HMAC on every message (`x-syncml-hmac`).
    Hmac,
}

/// How the server proves itself to the client in its SyncHdr `Cred`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerAuth {
    /// No server `Cred` (transport-level trust).
    None,
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5` over the nonce the client gave (the default).
    #[default]
    Md5,
}

/// Which way a nonce works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceDirection {
    /// Issued by the server in a `Chal`; the client's next digest or HMAC uses it (store it
    /// as the device's client nonce).
    ClientToServer,
    /// Issued by the client in a `Chal`; the server's next `Cred` or HMAC uses it (store it as
    /// the device's server nonce).
    ServerToClient,
}

/// The result of checking a client's credentials on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted: the user name and how.
    Accepted { username: String, scheme: &'static str },
    /// No usable credential (407).
    Missing,
    /// Wrong credential (401).
    Wrong,
}

/// The `Chal` of a scheme with an optional `NextNonce` (base64 of the raw bytes).
pub(crate) fn chal(scheme: &str, nonce: Option<&[u8]>) -> Chal {
    Chal {
        meta: Meta {
            r#type: Some(scheme.to_owned()),
            format: Some("b64".into()),
            next_nonce: nonce.map(|n| B64.encode(n)),
            ..Meta::default()
        },
    }
}

/// The raw bytes of a `NextNonce`: its base64 decoding, or its text when it is not base64
/// (OMA DM Security 1.2 §5.1.3.4; some clients send text).
pub(crate) fn nonce_bytes(next_nonce: &str) -> Vec<u8> {
    let t = next_nonce.trim();
    B64.decode(t).unwrap_or_else(|_| t.as_bytes().to_vec())
}

/// The scheme of a `Cred` (`Meta/Type`; basic when absent, as SyncML RepPro 1.2 §5.1.5 says).
pub(crate) fn cred_scheme(cred: &Cred) -> String {
    cred.meta.as_ref().and_then(|m| m.r#type.clone()).unwrap_or_else(|| auth::AUTH_BASIC.into())
}

/// Checks a SyncHdr `Cred` against the store under `policy`.
pub(crate) fn verify_cred(
    store: &dyn CredentialStore,
    policy: ClientAuth,
    dev_id: &str,
    loc_name: Option<&str>,
    cred: Option<&Cred>,
    nonce: Option<&[u8]>,
) -> Verdict {
    let Some(cred) = cred else { return Verdict::Missing };
    let scheme = cred_scheme(cred);
    if scheme.eq_ignore_ascii_case(auth::AUTH_BASIC) && policy == ClientAuth::Basic {
        let mut found: Option<Credentials> = None;
        let user = auth::verify_basic(&cred.data, |u| {
            found = store.client_credentials(dev_id, Some(u));
            found.as_ref().map(|c| c.password.as_str())
        });
        return match user {
            Some(username) => Verdict::Accepted { username, scheme: auth::AUTH_BASIC },
            None => Verdict::Wrong,
        };
    }
    if scheme.eq_ignore_ascii_case(auth::AUTH_MD5) && matches!(policy, ClientAuth::Basic | ClientAuth::Md5) {
        let Some(creds) = store.client_credentials(dev_id, loc_name) else { return Verdict::Wrong };
        if loc_name.is_some_and(|n| n != creds.username) {
            return Verdict::Wrong;
        }
        let nonce = nonce.unwrap_or_default();
        return if auth::verify_md5(&cred.data, &creds.username, &creds.password, nonce) {
            Verdict::Accepted { username: creds.username, scheme: auth::AUTH_MD5 }
        } else {
            Verdict::Wrong
        };
    }
    // A scheme weaker than or other than the one demanded.
    Verdict::Wrong
}

/// Checks an `x-syncml-hmac` header over the exact body (OMA DM Security 1.2 §5.1.4).
pub(crate) fn verify_hmac(
    store: &dyn CredentialStore,
    dev_id: &str,
    header: Option<&str>,
    nonce: Option<&[u8]>,
    body: &[u8],
) -> Verdict {
    let Some(value) = header else { return Verdict::Missing };
    let Ok(parsed) = HmacHeader::parse(value) else { return Verdict::Wrong };
    let Some(creds) = store.client_credentials(dev_id, Some(&parsed.username)) else { return Verdict::Wrong };
    if creds.username != parsed.username {
        return Verdict::Wrong;
    }
    if parsed.verify(&creds.password, nonce.unwrap_or_default(), body) {
        Verdict::Accepted { username: parsed.username, scheme: auth::AUTH_MAC }
    } else {
        Verdict::Wrong
    }
}

/// The server's SyncHdr `Cred` (OMA DM Security 1.2 §5.1.3.2): md5 over the nonce the client
/// gave (empty when it gave none), or basic.
pub(crate) fn server_cred(scheme: ServerAuth, creds: &Credentials, nonce: Option<&[u8]>) -> Option<Cred> {
    let (r#type, data) = match scheme {
        ServerAuth::None => return None,
        ServerAuth::Basic => (auth::AUTH_BASIC, auth::basic(&creds.username, &creds.password)),
        ServerAuth::Md5 => {
            (auth::AUTH_MD5, auth::md5_digest(&creds.username, &creds.password, nonce.unwrap_or_default()))
        }
    };
    Some(Cred { meta: Some(Meta { r#type: Some(r#type.into()), format: Some("b64".into()), ..Meta::default() }), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One;
    impl CredentialStore for One {
        fn client_credentials(&self, dev_id: &str, username: Option<&str>) -> Option<Credentials> {
            (dev_id == "IMEI:1" && username.is_none_or(|u| u == "dev")).then(|| Credentials::new("dev", "pw"))
        }
        fn server_credentials(&self, _: &str) -> Option<Credentials> {
            None
        }
        fn client_nonce(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        fn server_nonce(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
    }

    fn cred(scheme: &str, data: String) -> Cred {
        Cred { meta: Some(Meta { r#type: Some(scheme.into()), ..Meta::default() }), data }
    }

    #[test]
    fn policies_accept_what_they_should() {
        let basic = cred(auth::AUTH_BASIC, auth::basic("dev", "pw"));
        let md5 = cred(auth::AUTH_MD5, auth::md5_digest("dev", "pw", b"n"));
        let v = |p, c: &Cred| verify_cred(&One, p, "IMEI:1", None, Some(c), Some(b"n"));
        assert!(matches!(v(ClientAuth::Basic, &basic), Verdict::Accepted { .. }));
        assert!(matches!(v(ClientAuth::Basic, &md5), Verdict::Accepted { .. }));
        assert_eq!(v(ClientAuth::Md5, &basic), Verdict::Wrong, "no downgrade to basic");
        assert!(matches!(v(ClientAuth::Md5, &md5), Verdict::Accepted { .. }));
        assert_eq!(verify_cred(&One, ClientAuth::Md5, "IMEI:1", None, Some(&md5), Some(b"m")), Verdict::Wrong);
        assert_eq!(verify_cred(&One, ClientAuth::Md5, "IMEI:2", None, Some(&md5), Some(b"n")), Verdict::Wrong);
        assert_eq!(verify_cred(&One, ClientAuth::Md5, "IMEI:1", None, None, None), Verdict::Missing);
        assert_eq!(nonce_bytes("AAEC"), vec![0, 1, 2]);
        assert_eq!(nonce_bytes("not b64!"), b"not b64!".to_vec());
    }
}
