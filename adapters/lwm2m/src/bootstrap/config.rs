//! What the bootstrap server provisions for one endpoint: LwM2M server accounts, each written as a
//! Security `/0/x` and a Server `/1/x` instance (TS Core 1.1 §5.2.7 "Bootstrap-Write", objects as
//! registry `0.xml` and `1.xml` define them; Leshan's `BootstrapConfig` holds the same content).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::codec::{Record, Value};
use crate::path::Path;

/// The bootstrap configuration of one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapConfig {
    /// LwM2M server accounts to write after deleting `/0` and `/1` (the bootstrap account
    /// stays). At most [`MAX_SERVERS`].
    pub servers: Vec<ServerAccount>,
}

/// Most server accounts one configuration may hold.
pub const MAX_SERVERS: usize = 16;

/// One LwM2M server account: Security `/0/x` plus Server `/1/x` linked by the Short Server ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerAccount {
    /// Short Server ID `/0/x/10`, `/1/x/0`: 1..=65534.
    #[schema(minimum = 1, maximum = 65534)]
    pub short_server_id: u16,
    /// LwM2M Server URI `/0/x/0`: `coap://host:port` (noSec) or `coaps://host:port`.
    #[schema(example = "coap://192.0.2.1:5683")]
    pub uri: String,
    /// Security Mode `/0/x/2` and its keys `/0/x/3`, `/0/x/4`, `/0/x/5`.
    pub security: SecurityMode,
    /// Lifetime `/1/x/1`, seconds (0 = infinite). Default 86400.
    #[serde(default = "default_lifetime")]
    pub lifetime: u32,
    /// Binding `/1/x/7` (letters of `UTSNQ`). Default `U`.
    #[serde(default = "default_binding")]
    pub binding: String,
    /// Default Minimum Period `/1/x/2`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_min_period: Option<u32>,
    /// Default Maximum Period `/1/x/3`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_period: Option<u32>,
    /// Notification Storing When Disabled or Offline `/1/x/6`. Default true.
    #[serde(default = "default_true")]
    pub notification_storing: bool,
}

fn default_lifetime() -> u32 {
    86_400
}

fn default_binding() -> String {
    "U".into()
}

fn default_true() -> bool {
    true
}

/// Security Mode `/0/x/2` (registry `0.xml`: 0 PSK, 1 RPK, 2 Certificate, 3 NoSec). Keys and
/// certificates are base64 (DER for keys and certificates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum SecurityMode {
    /// No security, `coap://`.
    NoSec {},
    /// Pre-shared key: identity `/0/x/3` (UTF-8) and key `/0/x/5`.
    Psk {
        /// PSK identity.
        identity: String,
        /// The key, base64.
        key: String,
    },
    /// Raw public key: `/0/x/3` client public key, `/0/x/5` client private key, `/0/x/4`
    /// server public key.
    Rpk {
        /// Client public key, base64.
        public_key: String,
        /// Client private key, base64.
        secret_key: String,
        /// Server public key, base64.
        server_public_key: String,
    },
    /// X.509 certificates: `/0/x/3` client certificate, `/0/x/5` private key, `/0/x/4`
    /// server certificate.
    X509 {
        /// Client certificate, base64 DER.
        certificate: String,
        /// Client private key, base64.
        secret_key: String,
        /// Server certificate, base64 DER.
        server_certificate: String,
    },
}

impl BootstrapConfig {
    /// The configuration as the API shows it: private keys and pre-shared keys empty (they are
    /// write-only).
    pub fn redacted(&self) -> BootstrapConfig {
        let mut c = self.clone();
        for s in &mut c.servers {
            match &mut s.security {
                SecurityMode::Psk { key, .. } => key.clear(),
                SecurityMode::Rpk { secret_key, .. } | SecurityMode::X509 { secret_key, .. } => secret_key.clear(),
                SecurityMode::NoSec {} => {}
            }
        }
        c
    }

    /// The PSK identities and keys of the `coaps` accounts, for the LwM2M server to know.
    pub fn psks(&self) -> Vec<(String, Vec<u8>)> {
        self.servers
            .iter()
            .filter(|s| s.uri.trim().to_ascii_lowercase().starts_with("coaps://"))
            .filter_map(|s| match &s.security {
                SecurityMode::Psk { identity, key } => {
                    base64::engine::general_purpose::STANDARD.decode(key).ok().map(|k| (identity.clone(), k))
                }
                _ => None,
            })
            .collect()
    }
}

impl BootstrapConfig {
    /// The client raw public keys (DER `SubjectPublicKeyInfo`) of the `coaps` accounts, for the
    /// LwM2M server to know.
    pub fn rpks(&self) -> Vec<Vec<u8>> {
        self.servers
            .iter()
            .filter(|s| s.uri.trim().to_ascii_lowercase().starts_with("coaps://"))
            .filter_map(|s| match &s.security {
                SecurityMode::Rpk { public_key, .. } => {
                    let der = base64::engine::general_purpose::STANDARD.decode(public_key).ok()?;
                    crate::dtls::spki(&der).ok()
                }
                _ => None,
            })
            .collect()
    }
}

/// Why a configuration was refused or could not be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapConfigError {
    /// A field is invalid; `field` names it (`servers[0].uri`).
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The endpoint name is empty or too long.
    #[error("bad endpoint name: {0}")]
    Endpoint(String),
    /// The adapter (or its bootstrap server) is not running.
    #[error("the bootstrap server is not running")]
    NotRunning,
    /// Persisting the configuration failed.
    #[error("could not store the configuration: {0}")]
    Storage(String),
}

impl BootstrapConfigError {
    /// True for errors in the caller's input.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, BootstrapConfigError::Invalid { .. } | BootstrapConfigError::Endpoint(_))
    }
}

fn invalid(field: String, message: impl Into<String>) -> BootstrapConfigError {
    BootstrapConfigError::Invalid { field, message: message.into() }
}

fn base64(field: String, text: &str) -> Result<Vec<u8>, BootstrapConfigError> {
    if text.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| invalid(field, "is not base64"))
}

impl BootstrapConfig {
    /// Checks URIs (`coap://` for noSec, `coaps://` otherwise, with a host), Short Server IDs
    /// (1..=65534, unique), bindings and the fields each security mode needs.
    pub fn validate(&self) -> Result<(), BootstrapConfigError> {
        if self.servers.len() > MAX_SERVERS {
            return Err(invalid("servers".into(), format!("at most {MAX_SERVERS} accounts")));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, s) in self.servers.iter().enumerate() {
            let f = |name: &str| format!("servers[{i}].{name}");
            if !(1..=65534).contains(&s.short_server_id) {
                return Err(invalid(f("shortServerId"), "must be in 1..=65534"));
            }
            if !ids.insert(s.short_server_id) {
                return Err(invalid(f("shortServerId"), "used twice"));
            }
            let secure = !matches!(s.security, SecurityMode::NoSec {});
            let rest = match (s.uri.strip_prefix("coap://"), s.uri.strip_prefix("coaps://")) {
                (Some(rest), _) if !secure => rest,
                (_, Some(rest)) if secure => rest,
                (Some(_), _) => return Err(invalid(f("uri"), "a secured account needs coaps://")),
                (_, Some(_)) => return Err(invalid(f("uri"), "noSec needs coap://")),
                _ => return Err(invalid(f("uri"), "must start with coap:// or coaps://")),
            };
            if rest.is_empty() || rest.starts_with(['/', ':']) || rest.len() > 255 || rest.contains(char::is_whitespace)
            {
                return Err(invalid(f("uri"), "needs a host"));
            }
            if s.binding.is_empty() || !s.binding.chars().all(|c| "UTSNQ".contains(c)) {
                return Err(invalid(f("binding"), "letters of UTSNQ"));
            }
            if let (Some(a), Some(b)) = (s.default_min_period, s.default_max_period) {
                if a > b {
                    return Err(invalid(f("defaultMinPeriod"), "must not exceed defaultMaxPeriod"));
                }
            }
            match &s.security {
                SecurityMode::NoSec {} => {}
                SecurityMode::Psk { identity, key } => {
                    if identity.is_empty() || identity.len() > 128 {
                        return Err(invalid(f("security.identity"), "1 to 128 bytes"));
                    }
                    base64(f("security.key"), key)?;
                }
                SecurityMode::Rpk { public_key, secret_key, server_public_key } => {
                    let public = crate::dtls::spki(&base64(f("security.publicKey"), public_key)?)
                        .map_err(|e| invalid(f("security.publicKey"), &e))?;
                    let secret = crate::dtls::private_key(&base64(f("security.secretKey"), secret_key)?)
                        .map_err(|e| invalid(f("security.secretKey"), &e))?;
                    if secret.public_key_to_der().ok().as_deref() != Some(&public[..]) {
                        return Err(invalid(f("security.secretKey"), "is not the private key of publicKey"));
                    }
                    crate::dtls::spki(&base64(f("security.serverPublicKey"), server_public_key)?)
                        .map_err(|e| invalid(f("security.serverPublicKey"), &e))?;
                }
                SecurityMode::X509 { certificate, secret_key, server_certificate } => {
                    let der = |field: &str, v: &str| {
                        let bytes = base64(f(field), v)?;
                        openssl::x509::X509::from_der(&bytes)
                            .map_err(|_| invalid(f(field), "is not a DER X.509 certificate"))
                    };
                    let cert = der("security.certificate", certificate)?;
                    let secret = crate::dtls::private_key(&base64(f("security.secretKey"), secret_key)?)
                        .map_err(|e| invalid(f("security.secretKey"), &e))?;
                    if !cert.public_key().is_ok_and(|k| k.public_eq(&secret)) {
                        return Err(invalid(f("security.secretKey"), "is not the private key of certificate"));
                    }
                    der("security.serverCertificate", server_certificate)?;
                }
            }
        }
        Ok(())
    }
}

impl ServerAccount {
    /// The Security instance `/0/{instance}` (registry `0.xml`): URI, not a bootstrap server,
    /// mode, keys, Short Server ID.
    pub fn security_records(&self, instance: u16) -> Vec<Record> {
        let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
        let (mode, identity, server_key, secret) = match &self.security {
            SecurityMode::Psk { identity, key } => (0, identity.as_bytes().to_vec(), Vec::new(), decode(key)),
            SecurityMode::Rpk { public_key, secret_key, server_public_key } => {
                (1, decode(public_key), decode(server_public_key), decode(secret_key))
            }
            SecurityMode::X509 { certificate, secret_key, server_certificate } => {
                (2, decode(certificate), decode(server_certificate), decode(secret_key))
            }
            SecurityMode::NoSec {} => (3, Vec::new(), Vec::new(), Vec::new()),
        };
        let r = |res, v| Record::new(Path::Resource(0, instance, res), v);
        vec![
            r(0, Value::String(self.uri.clone())),
            r(1, Value::Boolean(false)),
            r(2, Value::Integer(mode)),
            r(3, Value::Opaque(identity)),
            r(4, Value::Opaque(server_key)),
            r(5, Value::Opaque(secret)),
            r(10, Value::Integer(i64::from(self.short_server_id))),
        ]
    }

    /// The Server instance `/1/{instance}` (registry `1.xml`).
    pub fn server_records(&self, instance: u16) -> Vec<Record> {
        let r = |res, v| Record::new(Path::Resource(1, instance, res), v);
        let mut out =
            vec![r(0, Value::Integer(i64::from(self.short_server_id))), r(1, Value::Integer(i64::from(self.lifetime)))];
        if let Some(p) = self.default_min_period {
            out.push(r(2, Value::Integer(i64::from(p))));
        }
        if let Some(p) = self.default_max_period {
            out.push(r(3, Value::Integer(i64::from(p))));
        }
        out.push(r(6, Value::Boolean(self.notification_storing)));
        out.push(r(7, Value::String(self.binding.clone())));
        out
    }
}
