//! API access control: bearer tokens with roles, stored hashed, and an audit log of every
//! mutating call.
//!
//! - **Roles**: `viewer` reads (GET); `operator` also acts (operations, groups, rules, files,
//!   labels, devices); `admin` also manages secrets and access (device credentials, bootstrap
//!   configurations, OMA DM client settings, tokens, the audit log). [`required`] maps a request
//!   to the role it needs.
//! - **Tokens**: the configured `[api] token` (an admin), `[[api.tokens]]` from the file, and
//!   tokens created through `POST /api/v1/tokens` (stored in the database). Only SHA-256 digests
//!   are kept; a created token is shown once. With no token at all, only loopback clients are
//!   served, as admins: a first run is never an open door.
//! - **Audit**: who (token name), what (method, path, status), when; never a body, a query or a
//!   secret. Kept in the database (the newest [`MAX_AUDIT`]), written in batches off the
//!   request path, readable by admins through `GET /api/v1/audit`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use unidm_core::Engine;
use utoipa::ToSchema;

/// The namespace of the API's own stored values.
pub const NAMESPACE: &str = "api";
/// Audit entries kept.
pub const MAX_AUDIT: usize = 100_000;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything but secrets.
    Viewer,
    /// Read, and act on devices, operations, groups, rules and files.
    Operator,
    /// Everything, including credentials, bootstrap configurations and tokens.
    Admin,
}

impl Role {
    /// The role of a name (`viewer`, `operator`, `admin`).
    pub fn parse(name: &str) -> Option<Role> {
        match name.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The role a request needs.
pub fn required(method: &axum::http::Method, path: &str) -> Role {
    let path = path.trim_end_matches('/');
    let reads = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    let secret = path.starts_with("/api/v1/tokens")
        // Pointing the whole fleet at a distant server is an administrator's decision.
        || (path.starts_with("/api/v1/lwm2m/northbound") && !reads)
        || path.starts_with("/api/v1/audit")
        || path.starts_with("/api/v1/lwm2m/bootstrap")
        || path.starts_with("/api/v1/omadm/clients")
        || (path.starts_with("/api/v1/devices/") && path.ends_with("/credentials"));
    match (secret, reads) {
        (true, _) => Role::Admin,
        (false, true) => Role::Viewer,
        (false, false) => Role::Operator,
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (`loopback` without tokens).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Where a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configuration file or flags (removed there).
    Config,
    /// Created through the API (deleted through it).
    Api,
}

/// A token as configured: its name, role, and the token or its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredToken {
    /// Its name (shown in the audit log).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// SHA-256 of the token.
    pub digest: [u8; 32],
}

impl ConfiguredToken {
    /// A token given in clear (hashed here).
    pub fn plain(name: &str, role: Role, token: &str) -> ConfiguredToken {
        ConfiguredToken { name: name.to_owned(), role, digest: digest(token) }
    }
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// A digest from 64 hex digits.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    unidm_core::hex::decode(s)?.try_into().ok()
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    role: Role,
    source: Source,
}

/// A token as the API lists it (never the token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Where it comes from.
    pub source: Source,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredToken {
    role: Role,
    sha256: String,
}

/// One audited call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Its sequence number (increasing).
    pub seq: u64,
    /// When, RFC 3339.
    pub at: String,
    /// The token's name.
    pub who: String,
    /// Its role.
    pub role: Role,
    /// HTTP method.
    pub method: String,
    /// Request path (no query).
    pub path: String,
    /// HTTP status of the answer.
    pub status: u16,
}

/// Why a token could not be created or deleted.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A name that is empty, too long or taken.
    #[error("{0}")]
    Invalid(String),
    /// No such token.
    #[error("token `{0}` not found")]
    NotFound(String),
    /// A configured token cannot be deleted through the API.
    #[error("token `{0}` comes from the configuration; remove it there")]
    Configured(String),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// Tokens and the audit log.
pub struct Access {
    engine: Engine,
    tokens: RwLock<HashMap<[u8; 32], Entry>>,
    audit: Mutex<VecDeque<AuditEntry>>,
    seq: Mutex<u64>,
    writer: mpsc::UnboundedSender<AuditEntry>,
    ready: watch::Receiver<bool>,
    /// Where this node stores its audit entries: `audit/`, or `audit/{node}/` on a node of
    /// several (each node numbers its own).
    audit_prefix: String,
}

/// A token stored under `token/{name}`, by digest; `None` (logged) when unreadable, or when
/// `key` names no token.
fn stored_token(key: &str, bytes: &[u8]) -> Option<([u8; 32], Entry)> {
    let name = key.strip_prefix("token/")?;
    let parsed = serde_json::from_slice::<StoredToken>(bytes).ok().and_then(|t| Some((unhex32(&t.sha256)?, t.role)));
    let Some((digest, role)) = parsed else {
        tracing::warn!(token = name, "an unreadable stored token is ignored");
        return None;
    };
    Some((digest, Entry { name: name.to_owned(), role, source: Source::Api }))
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

impl Access {
    /// Access with `configured` tokens; the stored tokens and audit log load in the background
    /// (requests wait for them).
    pub fn start(engine: Engine, configured: Vec<ConfiguredToken>) -> Arc<Access> {
        let engine_node = engine.cluster_status().map(|c| c.node);
        let tokens = configured
            .into_iter()
            .map(|t| (t.digest, Entry { name: t.name, role: t.role, source: Source::Config }))
            .collect();
        let (writer, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = watch::channel(false);
        let access = Arc::new(Access {
            engine,
            tokens: RwLock::new(tokens),
            audit: Mutex::new(VecDeque::new()),
            seq: Mutex::new(0),
            writer,
            ready,
            audit_prefix: match engine_node {
                Some(node) => format!("audit/{node}/"),
                None => "audit/".to_owned(),
            },
        });
        let a = access.clone();
        // Tokens created or deleted on another node sharing the database.
        let mut changes = a.engine.watch_app_state();
        tokio::spawn(async move {
            a.load().await;
            let _ = ready_tx.send(true);
            let watcher = a.clone();
            tokio::spawn(async move {
                loop {
                    match changes.recv().await {
                        Ok(ns) if ns != NAMESPACE => continue,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            watcher.reload_tokens().await
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            a.write_audit(rx).await;
        });
        access
    }

    /// Reads the stored tokens again (another node created or deleted one).
    async fn reload_tokens(&self) {
        let stored = match self.engine.load_app_state(NAMESPACE).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "API tokens changed on another node not read");
                return;
            }
        };
        let fresh: HashMap<[u8; 32], Entry> =
            stored.iter().filter_map(|(key, bytes)| stored_token(key, bytes)).collect();
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, e| e.source != Source::Api);
        tokens.extend(fresh);
    }

    async fn load(&self) {
        let stored = match self.engine.load_app_state(NAMESPACE).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "stored API tokens and audit log not loaded");
                return;
            }
        };
        let mut audit = Vec::new();
        for (key, bytes) in stored {
            if key.starts_with("token/") {
                if let Some((d, entry)) = stored_token(&key, &bytes) {
                    self.tokens.write().unwrap_or_else(|e| e.into_inner()).insert(d, entry);
                }
            } else if key.starts_with("audit/") {
                if let Ok(e) = serde_json::from_slice::<AuditEntry>(&bytes) {
                    audit.push(e);
                }
            }
        }
        audit.sort_by_key(|e| e.seq);
        let keep = audit.len().saturating_sub(MAX_AUDIT);
        *self.seq.lock().unwrap_or_else(|e| e.into_inner()) = audit.last().map_or(0, |e| e.seq);
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).extend(audit.into_iter().skip(keep));
    }

    /// Waits until the stored tokens are loaded.
    pub async fn ready(&self) {
        let mut r = self.ready.clone();
        let _ = r.wait_for(|loaded| *loaded).await;
    }

    /// Whether any token exists (then every request must carry one).
    pub fn has_tokens(&self) -> bool {
        !self.tokens.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// The principal of a presented token.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let d = digest(token);
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens.get(&d).map(|e| Principal { name: e.name.clone(), role: e.role })
    }

    /// Every token, by name.
    pub fn list(&self) -> Vec<TokenInfo> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<TokenInfo> =
            tokens.values().map(|e| TokenInfo { name: e.name.clone(), role: e.role, source: e.source }).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Creates a token; answers it (the only time it is shown).
    pub async fn create(&self, name: &str, role: Role) -> Result<String, AccessError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(AccessError::Invalid("a token name is 1 to 64 letters, digits, `-`, `_` or `.`".into()));
        }
        if self.list().iter().any(|t| t.name == name) {
            return Err(AccessError::Invalid(format!("a token named `{name}` exists")));
        }
        let token = format!("udm_{}", unidm_core::secret::alphanumeric(40));
        let d = digest(&token);
        let stored = serde_json::to_vec(&StoredToken { role, sha256: unidm_core::hex::encode(&d) }).unwrap_or_default();
        self.engine
            .put_app_state(NAMESPACE, vec![(format!("token/{name}"), stored)])
            .await
            .map_err(|e| AccessError::Store(e.to_string()))?;
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(d, Entry { name: name.to_owned(), role, source: Source::Api });
        Ok(token)
    }

    /// Deletes a token created through the API.
    pub async fn delete(&self, name: &str) -> Result<(), AccessError> {
        let found = self.list().into_iter().find(|t| t.name == name);
        match found {
            None => return Err(AccessError::NotFound(name.to_owned())),
            Some(t) if t.source == Source::Config => return Err(AccessError::Configured(name.to_owned())),
            Some(_) => {}
        }
        self.engine
            .delete_app_state(NAMESPACE, vec![format!("token/{name}")])
            .await
            .map_err(|e| AccessError::Store(e.to_string()))?;
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.name != name);
        Ok(())
    }

    /// Records a mutating call (stored in the background).
    pub fn record(&self, who: &Principal, method: &str, path: &str, status: u16) {
        let seq = {
            let mut s = self.seq.lock().unwrap_or_else(|e| e.into_inner());
            *s += 1;
            *s
        };
        let entry = AuditEntry {
            seq,
            at: self.engine.now().to_string(),
            who: who.name.clone(),
            role: who.role,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
        };
        tracing::info!(target: "unidm::audit", seq, who = %who.name, method, path, status, "api call");
        {
            let mut a = self.audit.lock().unwrap_or_else(|e| e.into_inner());
            if a.len() >= MAX_AUDIT {
                a.pop_front();
            }
            a.push_back(entry.clone());
        }
        let _ = self.writer.send(entry);
    }

    /// The audit log, newest first.
    pub fn audit(&self, offset: usize, limit: usize) -> (Vec<AuditEntry>, usize) {
        let a = self.audit.lock().unwrap_or_else(|e| e.into_inner());
        (a.iter().rev().skip(offset).take(limit).cloned().collect(), a.len())
    }

    /// Writes audit entries in batches; entries past [`MAX_AUDIT`] are deleted.
    async fn write_audit(&self, mut rx: mpsc::UnboundedReceiver<AuditEntry>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
                if batch.len() >= 1024 {
                    break;
                }
            }
            let newest = batch.last().map_or(0, |e| e.seq);
            let values = batch
                .iter()
                .map(|e| (format!("{}{:020}", self.audit_prefix, e.seq), serde_json::to_vec(e).unwrap_or_default()))
                .collect();
            if let Err(e) = self.engine.put_app_state(NAMESPACE, values).await {
                tracing::error!(error = %e, "audit entries not stored");
            }
            let old: Vec<String> = batch
                .iter()
                .filter_map(|e| e.seq.checked_sub(MAX_AUDIT as u64))
                .filter(|&s| s > 0 && s <= newest)
                .map(|s| format!("{}{s:020}", self.audit_prefix))
                .collect();
            if !old.is_empty() {
                if let Err(e) = self.engine.delete_app_state(NAMESPACE, old).await {
                    tracing::warn!(error = %e, "old audit entries not deleted");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn routes_need_their_roles() {
        assert_eq!(required(&Method::GET, "/api/v1/devices"), Role::Viewer);
        assert_eq!(required(&Method::POST, "/api/v1/operations"), Role::Operator);
        assert_eq!(required(&Method::DELETE, "/api/v1/groups/g"), Role::Operator);
        assert_eq!(required(&Method::GET, "/api/v1/lwm2m/bootstrap"), Role::Admin, "holds keys");
        assert_eq!(required(&Method::PUT, "/api/v1/devices/lwm2m:a/credentials"), Role::Admin);
        assert_eq!(required(&Method::GET, "/api/v1/audit"), Role::Admin);
        assert_eq!(required(&Method::POST, "/api/v1/tokens/"), Role::Admin);
        assert_eq!(required(&Method::GET, "/api/v1/omadm/clients/x"), Role::Admin);
        assert_eq!(required(&Method::PUT, "/api/v1/lwm2m/northbound"), Role::Admin);
        assert_eq!(required(&Method::GET, "/api/v1/lwm2m/northbound"), Role::Viewer);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!(Role::parse(" Operator"), Some(Role::Operator));
        assert_eq!(unhex32(&unidm_core::hex::encode(&digest("t"))), Some(digest("t")));
        assert_eq!(unhex32("zz"), None);
    }
}
