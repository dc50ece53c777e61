//! The store `--db` names: a SQLite file (the default) or a PostgreSQL URL.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use unidm_core::{is_postgres_url, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};

/// A node among several sharing one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Its id (`--node-id`); `node-1` when not given.
    pub id: Option<String>,
    /// How long a node stays alive without a heartbeat.
    pub lease: std::time::Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions { id: None, lease: std::time::Duration::from_secs(5) }
    }
}

/// Opens the store at `db`: a PostgreSQL database when it is a `postgres://` URL (its server's
/// certificate checked against `ca` when TLS is used; this process is the node `node`),
/// otherwise the SQLite file (`durable`: fsync every commit).
pub async fn open(db: &Path, durable: bool, ca: Option<&Path>, node: &NodeOptions) -> anyhow::Result<Arc<dyn Store>> {
    let url = db.to_string_lossy();
    if is_postgres_url(&url) {
        let mut options = PostgresOptions { ca: ca.map(Path::to_owned), ..PostgresOptions::new(url.as_ref()) };
        if let Some(id) = &node.id {
            unidm_core::check_node_id(id).map_err(|e| anyhow::anyhow!("--node-id: {e}"))?;
            options.node = id.clone();
        }
        options.lease = node.lease;
        let store = PostgresStore::connect(options)
            .await
            .with_context(|| format!("opening the PostgreSQL database {}", redact(&url)))?;
        return Ok(Arc::new(store));
    }
    if let Some(id) = &node.id {
        anyhow::bail!(
            "--node-id {id}: several nodes share a PostgreSQL database (--db postgres://...), not a SQLite file"
        );
    }
    let store = SqliteStore::open_with(SqliteOptions { durable, ..SqliteOptions::new(db) })
        .with_context(|| format!("opening the database {}", db.display()))?;
    Ok(Arc::new(store))
}

/// `db` with the password of a URL replaced by `***`, for messages and logs.
pub fn redact(db: &str) -> String {
    let Some((scheme, rest)) = db.split_once("://") else { return db.to_owned() };
    let Some((credentials, host)) = rest.rsplit_once('@') else { return db.to_owned() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => db.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(redact("postgres://unidm:s3cr@t@db:5432/unidm"), "postgres://unidm:***@db:5432/unidm");
        assert_eq!(redact("postgres://unidm@db/unidm"), "postgres://unidm@db/unidm");
        assert_eq!(redact("./unidm.db"), "./unidm.db");
    }
}
