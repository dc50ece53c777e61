//! A [`Store`] on PostgreSQL, for operators who run unidm on a database they already operate,
//! and for several unidm nodes sharing one database (its [`Cluster`] side: owners, holders,
//! leases, the change feed; `docs/cluster.md`).
//!
//! The same model as the SQLite store: one writer (a task with its own connection) takes the
//! batches in submission order and commits every batch queued meanwhile in one transaction
//! (group commit). Consecutive writes of one kind (devices, operations, adapter state) are one
//! multi-row statement (`unnest` of arrays), and the statements of a transaction are
//! pipelined: a commit of N writes costs about two round trips (the writes, then `COMMIT`)
//! and a few statements, not N. A batch's completion runs once
//! PostgreSQL has committed it (with its default `synchronous_commit = on`, once it is on
//! disk). Reads go through a small pool of connections of their own.
//!
//! Connections that break (PostgreSQL restarted, a network cut) are opened again on the next
//! use; meanwhile writes fail with [`StoreError::Unavailable`] and nothing acknowledged is lost.
//! The schema is versioned (`unidm_schema`) and migrated at open under an advisory lock, so
//! that processes opening it together migrate once. Each node's writer holds an advisory lock
//! named by its node id: a second process with the same id is refused.
//!
//! Every transaction also writes a feed entry (`unidm_feed`: the rows written, the events
//! published) and `NOTIFY unidm_feed`; each node `LISTEN`s on a connection of its own and reads
//! the other nodes' entries back in commit order ([`FeedItem`]). A `BEFORE UPDATE` trigger on
//! `operations` refuses a writer's update of an operation another node holds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::try_join_all;
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use unidm_models::{Device, Group, GroupOperation, Operation, OperationId, OperationState, Rule};

use super::cluster::{Cluster, Feed, FeedItem, Held, Member, NodeStatus, Reloaded};
use super::{enqueue, Completion, Job, OperationQuery, Page, Queue, Store, StoreError, StoreStats, Write};

/// Versioned schema migrations; `unidm_schema.version` records how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema (the SQLite store's, in PostgreSQL's types).
    "CREATE TABLE devices (id TEXT PRIMARY KEY, doc TEXT NOT NULL, record BYTEA);
     CREATE TABLE operations (
         id BIGINT PRIMARY KEY,
         device TEXT NOT NULL,
         state TEXT NOT NULL,
         group_op BIGINT,
         doc TEXT NOT NULL,
         adapter_state BYTEA);
     CREATE INDEX operations_by_device ON operations(device, id);
     CREATE INDEX operations_by_state ON operations(state, id);
     CREATE INDEX operations_by_group ON operations(group_op, id) WHERE group_op IS NOT NULL;
     CREATE TABLE group_operations (id BIGINT PRIMARY KEY, grp TEXT NOT NULL, doc TEXT NOT NULL);
     CREATE TABLE groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
     CREATE TABLE rules (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
     CREATE TABLE adapter_state (ns TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (ns, key));",
    // 2: several nodes: owners, holders, leases, the change feed, shared operation ids, and
    // the fence that refuses a node's write of an operation another node holds.
    "ALTER TABLE devices ADD COLUMN owner TEXT;
     ALTER TABLE operations ADD COLUMN node TEXT;
     ALTER TABLE group_operations ADD COLUMN node TEXT;
     CREATE INDEX operations_unfinished ON operations(device)
         WHERE state IN ('pending', 'dispatched', 'waiting', 'running');
     CREATE INDEX operations_unfinished_by_node ON operations(node)
         WHERE state IN ('pending', 'dispatched', 'waiting', 'running');
     CREATE TABLE unidm_nodes (
         id TEXT PRIMARY KEY,
         started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         heartbeat TIMESTAMPTZ NOT NULL);
     CREATE TABLE unidm_feed (
         node TEXT NOT NULL,
         seq BIGINT NOT NULL,
         at TIMESTAMPTZ NOT NULL DEFAULT now(),
         keys TEXT[] NOT NULL,
         events TEXT[] NOT NULL,
         PRIMARY KEY (node, seq));
     CREATE INDEX unidm_feed_by_age ON unidm_feed(at);
     CREATE SEQUENCE unidm_ids;
     SELECT setval('unidm_ids', greatest(1,
         (SELECT coalesce(max(id), 0) FROM operations),
         (SELECT coalesce(max(id), 0) FROM group_operations)));
     CREATE FUNCTION unidm_fence() RETURNS trigger LANGUAGE plpgsql AS $$
     DECLARE
         writer TEXT := nullif(current_setting('unidm.node', true), '');
     BEGIN
         IF writer IS NOT NULL AND OLD.node IS NOT NULL AND OLD.node <> writer THEN
             RAISE EXCEPTION 'operation % is held by node %, not %', OLD.id, OLD.node, writer
                 USING ERRCODE = 'UD001';
         END IF;
         RETURN NEW;
     END $$;
     CREATE TRIGGER unidm_fence BEFORE UPDATE ON operations FOR EACH ROW EXECUTE FUNCTION unidm_fence();",
];

/// The advisory lock nodes take while they migrate (any number; this one spells "unidm").
const MIGRATION_LOCK: i64 = 0x0075_6e69_646d;
/// The advisory lock the leader's connection holds ([`Cluster::lead`]).
const LEADER_LOCK: i64 = MIGRATION_LOCK + 2;
/// The first key of the advisory lock a node's writer holds while it lives (the second is a
/// hash of the node's id): two processes with one node id would each take the other's work.
const NODE_LOCK_SPACE: i32 = 0x756e_6964;

/// Takes the lock of node `node` on `client`'s session, or says who holds it.
async fn lock_node(client: &Client, node: &str) -> Result<(), StoreError> {
    let row = client.query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&NODE_LOCK_SPACE, &node]).await?;
    if row.get::<_, bool>(0) {
        return Ok(());
    }
    let holder = client
        .query_opt(
            "SELECT coalesce(host(client_addr), 'local') || ' (pid ' || a.pid || ')' FROM pg_locks l
             JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid
               AND l.objid = hashtext($2)::oid AND l.objsubid = 2",
            &[&NODE_LOCK_SPACE, &node],
        )
        .await
        .ok()
        .flatten()
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|| "another connection".to_owned());
    Err(StoreError::InUse(format!(
        "node id `{node}` is in use by another unidm on this database (its connection from {holder}); \
         give each node its own --node-id"
    )))
}

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database` (or the key = value form). Its
    /// `sslmode` says whether TLS is used: `prefer` (the default) when the server offers it,
    /// `require` always, `disable` never.
    pub url: String,
    /// The CA certificates (PEM) a TLS server's certificate must chain to; the public web roots
    /// when `None`.
    pub ca: Option<std::path::PathBuf>,
    /// Most writes in one transaction.
    pub max_batch: usize,
    /// Reader connections.
    pub readers: usize,
    /// This node's id among the nodes sharing the database.
    pub node: String,
    /// How long a node stays alive without a heartbeat.
    pub lease: Duration,
}

/// The node id of a node started without one.
pub const DEFAULT_NODE: &str = "node-1";

impl PostgresOptions {
    /// Defaults: batches of up to 8192 writes, 4 reader connections, node `node-1`, a lease
    /// of 5 seconds.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            ca: None,
            max_batch: 8192,
            readers: 4,
            node: DEFAULT_NODE.to_owned(),
            lease: Duration::from_secs(5),
        }
    }
}

/// Whether `node` is usable as a node id: 1 to 64 characters of A-Z, a-z, 0-9, `-`, `_`, `.`.
pub fn check_node_id(node: &str) -> Result<(), String> {
    if !crate::is_safe_name(node) {
        return Err(format!("invalid node id `{node}`: {}", crate::NAME_RULE));
    }
    Ok(())
}

/// Whether `db` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a
/// SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() || e.as_db_error().is_none() && e.code().is_none() {
            // The connection, not the statement: the database is away.
            StoreError::Unavailable(e.to_string())
        } else {
            // The server's message, with its detail (a constraint, a trigger's message).
            let message = e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned());
            StoreError::Database(message)
        }
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
    commit_micros: AtomicU64,
}

/// The PostgreSQL store.
pub struct PostgresStore {
    tx: Queue,
    readers: Arc<Readers>,
    counters: Arc<Counters>,
    down: Arc<Down>,
    cluster: Arc<PgCluster>,
}

/// Why the database is known to be away, while it is; a probe clears it once it answers.
#[derive(Default)]
struct Down(Mutex<Option<String>>);

impl Down {
    fn set(&self, why: &StoreError) {
        if let Ok(mut d) = self.0.lock() {
            if d.is_none() {
                tracing::warn!(error = %why, "PostgreSQL unavailable; writes are refused until it answers");
            }
            *d = Some(match why {
                StoreError::Unavailable(m) => m.clone(),
                other => other.to_string(),
            });
        }
    }

    fn clear(&self) {
        if let Ok(mut d) = self.0.lock() {
            if d.take().is_some() {
                tracing::info!("PostgreSQL answers again; writes are taken");
            }
        }
    }

    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|d| d.clone())
    }
}

/// While the database is away, tries it twice a second and clears [`Down`] when it answers.
async fn probe(readers: std::sync::Weak<Readers>, down: Arc<Down>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let Some(readers) = readers.upgrade() else { return };
        if down.get().is_some() && readers.with(|c| Box::pin(c.simple_query("SELECT 1"))).await.is_ok() {
            down.clear();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("readers", &self.readers.slots.len()).finish()
    }
}

/// Where and how to connect: the parsed URL and the TLS connector for its `sslmode`.
#[derive(Clone)]
struct Target {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

/// Opens a connection; the connection's I/O runs on a task of its own.
async fn connect(target: &Target) -> Result<Client, StoreError> {
    let mut config = target.config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    let unavailable = |e: tokio_postgres::Error| {
        // The cause (a refused certificate, a refused password) says more than "error connecting".
        let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
        StoreError::Unavailable(format!("{e}{cause}"))
    };
    if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        tokio::spawn(log_end(connection));
        return Ok(client);
    }
    let (client, connection) = config.connect(target.tls.clone()).await.map_err(unavailable)?;
    tokio::spawn(log_end(connection));
    Ok(client)
}

async fn log_end(connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "PostgreSQL connection ended");
    }
}

impl PostgresStore {
    /// Connects, migrates the schema, and starts the writer.
    pub async fn connect(opts: PostgresOptions) -> Result<Self, StoreError> {
        check_node_id(&opts.node).map_err(StoreError::Database)?;
        let config: tokio_postgres::Config =
            opts.url.parse().map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        let tls = crate::tls::client_config(opts.ca.as_deref()).map_err(|e| StoreError::Database(e.to_string()))?;
        let config = Target { config, tls: MakeRustlsConnect::new(tls) };
        let mut client = connect(&config).await?;
        // A unidm that just stopped (or was killed) lets go of the lock once PostgreSQL sees
        // its connection end: a few seconds are allowed for that.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match lock_node(&client, &opts.node).await {
                Err(StoreError::InUse(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        }
        migrate(&mut client).await?;
        mark_writer(&client, &opts.node).await?;
        // Feed entries are keyed by node and sequence; a node started again continues above
        // what it wrote before (and above the clock, should old entries have been pruned).
        let first_seq: i64 = client
            .query_one(
                "SELECT greatest(coalesce(max(seq), 0) + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::int8)
                 FROM unidm_feed WHERE node = $1",
                &[&opts.node],
            )
            .await?
            .get(0);
        let seq = Arc::new(AtomicU64::new(first_seq as u64));
        let statements = Statements::prepare(&client).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let down = Arc::new(Down::default());
        let node: Arc<str> = Arc::from(opts.node.as_str());
        let writer = Writer {
            config: config.clone(),
            conn: Some((client, statements)),
            max_batch: opts.max_batch,
            down: down.clone(),
            node: node.clone(),
            seq: seq.clone(),
        };
        tokio::spawn(writer.run(rx, counters.clone()));
        let readers = Arc::new(Readers {
            config: config.clone(),
            slots: (0..opts.readers.max(1)).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        });
        tokio::spawn(probe(Arc::downgrade(&readers), down.clone()));
        let (feed_tx, feed_rx) = mpsc::unbounded_channel();
        let listener = listen(config.clone(), node.clone(), feed_tx);
        let listener = tokio::spawn(listener);
        let cluster = Arc::new(PgCluster {
            node,
            lease: opts.lease,
            readers: readers.clone(),
            seq,
            feed: Mutex::new(Some(feed_rx)),
            leader: tokio::sync::Mutex::new(None),
            target: config,
            listener,
        });
        Ok(PostgresStore { tx: Mutex::new(Some(tx)), readers, counters, down, cluster })
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS unidm_schema (version INTEGER NOT NULL)").await?;
    let version: i32 = match tx.query_opt("SELECT version FROM unidm_schema", &[]).await? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO unidm_schema (version) VALUES (0)", &[]).await?;
            0
        }
    };
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(StoreError::Database(format!(
            "the database's schema (version {version}) is newer than this unidm knows ({known}): upgrade unidm"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await?;
        tracing::info!(version = i + 1, "PostgreSQL schema migrated");
    }
    tx.execute("UPDATE unidm_schema SET version = $1", &[&known]).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks `client` as node `node`'s writer: the fence ([`MIGRATIONS`] 2) refuses its writes of
/// operations another node holds.
async fn mark_writer(client: &Client, node: &str) -> Result<(), StoreError> {
    client.execute("SELECT set_config('unidm.node', $1, false)", &[&node]).await?;
    Ok(())
}

/// The writer's statements, prepared once per connection.
struct Statements {
    put_device: Statement,
    put_device_with_record: Statement,
    delete_device: Statement,
    put_operation: Statement,
    put_group_operation: Statement,
    put_group: Statement,
    delete_group: Statement,
    put_rule: Statement,
    delete_rule: Statement,
    put_state: Statement,
    delete_state: Statement,
    put_devices: Statement,
    put_devices_with_records: Statement,
    put_operations: Statement,
    put_states: Statement,
    own_devices: Statement,
    feed: Statement,
}

// The writer's statements; the plural ones take arrays, one element per row.
const PUT_DEVICE: &str =
    "INSERT INTO devices (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const PUT_DEVICE_WITH_RECORD: &str = "INSERT INTO devices (id, doc, record) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, record = EXCLUDED.record";
const DELETE_DEVICE: &str = "DELETE FROM devices WHERE id = $1";
const PUT_OPERATION: &str = "INSERT INTO operations (id, device, state, group_op, doc, adapter_state, node)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, state = EXCLUDED.state,
     group_op = EXCLUDED.group_op, doc = EXCLUDED.doc, adapter_state = EXCLUDED.adapter_state,
     node = EXCLUDED.node";
const PUT_GROUP_OPERATION: &str = "INSERT INTO group_operations (id, grp, doc, node) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET grp = EXCLUDED.grp, doc = EXCLUDED.doc";
const OWN_DEVICES: &str = "UPDATE devices SET owner = $2 WHERE id = ANY($1) AND owner IS DISTINCT FROM $2";
/// A transaction's feed entry, and the notification that tells the other nodes of it.
const FEED: &str = "WITH f AS (INSERT INTO unidm_feed (node, seq, keys, events) VALUES ($1, $2, $3, $4)
     RETURNING node, seq)
     SELECT pg_notify('unidm_feed', node || ' ' || seq) FROM f";
const PUT_GROUP: &str =
    "INSERT INTO groups (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const DELETE_GROUP: &str = "DELETE FROM groups WHERE id = $1";
const PUT_RULE: &str = "INSERT INTO rules (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const DELETE_RULE: &str = "DELETE FROM rules WHERE id = $1";
const PUT_STATE: &str = "INSERT INTO adapter_state (ns, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE_STATE: &str = "DELETE FROM adapter_state WHERE ns = $1 AND key = $2";
/// The plural device writes also set the owner of the devices a [`Write::Own`] of the same
/// batch names (and keep the owner of the others).
const PUT_DEVICES: &str =
    "INSERT INTO devices (id, doc, owner) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, owner = coalesce(EXCLUDED.owner, devices.owner)";
const PUT_DEVICES_WITH_RECORDS: &str = "INSERT INTO devices (id, doc, record, owner)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, record = EXCLUDED.record,
     owner = coalesce(EXCLUDED.owner, devices.owner)";
const PUT_OPERATIONS: &str = "INSERT INTO operations (id, device, state, group_op, doc, adapter_state, node)
     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::bytea[], $7::text[])
     ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, state = EXCLUDED.state,
     group_op = EXCLUDED.group_op, doc = EXCLUDED.doc, adapter_state = EXCLUDED.adapter_state,
     node = EXCLUDED.node";
const PUT_STATES: &str =
    "INSERT INTO adapter_state (ns, key, value) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
     ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value";

impl Statements {
    /// Prepared once per connection (at connect and reconnect: a few round trips).
    async fn prepare(c: &Client) -> Result<Self, StoreError> {
        Ok(Statements {
            put_device: c.prepare(PUT_DEVICE).await?,
            put_device_with_record: c.prepare(PUT_DEVICE_WITH_RECORD).await?,
            delete_device: c.prepare(DELETE_DEVICE).await?,
            put_operation: c.prepare(PUT_OPERATION).await?,
            put_group_operation: c.prepare(PUT_GROUP_OPERATION).await?,
            put_group: c.prepare(PUT_GROUP).await?,
            delete_group: c.prepare(DELETE_GROUP).await?,
            put_rule: c.prepare(PUT_RULE).await?,
            delete_rule: c.prepare(DELETE_RULE).await?,
            put_state: c.prepare(PUT_STATE).await?,
            delete_state: c.prepare(DELETE_STATE).await?,
            put_devices: c.prepare(PUT_DEVICES).await?,
            put_devices_with_records: c.prepare(PUT_DEVICES_WITH_RECORDS).await?,
            put_operations: c.prepare(PUT_OPERATIONS).await?,
            put_states: c.prepare(PUT_STATES).await?,
            own_devices: c.prepare(OWN_DEVICES).await?,
            feed: c.prepare(FEED).await?,
        })
    }
}

/// One write, sent on `tx` (awaited together with the batch's others: pipelined).
async fn apply(
    tx: &tokio_postgres::Transaction<'_>,
    s: &Statements,
    node: &str,
    w: &Write,
) -> Result<u64, tokio_postgres::Error> {
    match w {
        Write::PutDevice { id, doc } => tx.execute(&s.put_device, &[id, doc]).await,
        Write::PutDeviceWithRecord { id, doc, record } => {
            tx.execute(&s.put_device_with_record, &[id, doc, record]).await
        }
        Write::DeleteDevice(id) => tx.execute(&s.delete_device, &[id]).await,
        Write::PutOperation { id, device, state, group_operation, doc, adapter_state, holder } => {
            let group = group_operation.map(|g| g as i64);
            let holder = holder.as_deref().unwrap_or(node);
            tx.execute(&s.put_operation, &[&(*id as i64), device, &state.as_str(), &group, doc, adapter_state, &holder])
                .await
        }
        Write::PutGroupOperation { id, group, doc } => {
            tx.execute(&s.put_group_operation, &[&(*id as i64), group, doc, &node]).await
        }
        Write::PutGroup { id, doc } => tx.execute(&s.put_group, &[id, doc]).await,
        Write::DeleteGroup(id) => tx.execute(&s.delete_group, &[id]).await,
        Write::PutRule { id, doc } => tx.execute(&s.put_rule, &[id, doc]).await,
        Write::DeleteRule(id) => tx.execute(&s.delete_rule, &[id]).await,
        Write::PutState { namespace, key, value } => tx.execute(&s.put_state, &[namespace, key, value]).await,
        Write::DeleteState { namespace, key } => tx.execute(&s.delete_state, &[namespace, key]).await,
        // Goes into the transaction's feed entry ([`feed_entry`]).
        Write::Event(_) => Ok(0),
        Write::Own(id) => tx.execute(&s.own_devices, &[&vec![id.as_str()], &node]).await,
    }
}

/// What a transaction tells the other nodes: the rows its writes name (each once, in order)
/// and its events.
fn feed_entry<'w>(writes: impl Iterator<Item = &'w Write>) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let mut events = Vec::new();
    for w in writes {
        let key = match w {
            Write::PutDevice { id, .. }
            | Write::PutDeviceWithRecord { id, .. }
            | Write::DeleteDevice(id)
            | Write::Own(id) => format!("d:{id}"),
            Write::PutOperation { id, .. } => format!("o:{id}"),
            Write::PutGroupOperation { id, .. } => format!("go:{id}"),
            Write::PutGroup { id, .. } | Write::DeleteGroup(id) => format!("g:{id}"),
            Write::PutRule { id, .. } | Write::DeleteRule(id) => format!("r:{id}"),
            Write::PutState { namespace, .. } | Write::DeleteState { namespace, .. } => format!("s:{namespace}"),
            Write::Event(e) => {
                events.push(e.clone());
                continue;
            }
        };
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    (keys, events)
}

/// Writes the transaction's feed entry (when it has anything to tell) and its notification.
async fn write_feed<'w>(
    tx: &tokio_postgres::Transaction<'_>,
    feed: &Statement,
    node: &str,
    seq: &AtomicU64,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<(), tokio_postgres::Error> {
    let (keys, events) = feed_entry(writes);
    if keys.is_empty() && events.is_empty() {
        return Ok(());
    }
    let seq = seq.fetch_add(1, Ordering::Relaxed) as i64;
    tx.execute(feed, &[&node, &seq, &keys, &events]).await.map(|_| ())
}

/// Every write of `writes`, pipelined.
async fn apply_all<'w>(
    tx: &tokio_postgres::Transaction<'_>,
    s: &Statements,
    node: &str,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<(), tokio_postgres::Error> {
    try_join_all(writes.map(|w| apply(tx, s, node, w))).await.map(|_| ())
}

/// Consecutive writes of one kind (devices, devices with records, operations, adapter state),
/// each key at most once: one multi-row statement. A repeated key or another kind starts the
/// next run, so that writes still apply in submission order.
enum Run<'w> {
    Devices(Vec<&'w str>, Vec<&'w str>),
    DevicesWithRecords(Vec<&'w str>, Vec<&'w str>, Vec<Option<&'w [u8]>>),
    Operations(Box<OperationRows<'w>>),
    States(Vec<&'w str>, Vec<&'w str>, Vec<&'w [u8]>),
    Owned(Vec<&'w str>),
    One(&'w Write),
}

/// The columns of a run of operation writes.
#[derive(Default)]
struct OperationRows<'w> {
    ids: Vec<i64>,
    devices: Vec<&'w str>,
    states: Vec<&'static str>,
    groups: Vec<Option<i64>>,
    docs: Vec<&'w str>,
    adapter_states: Vec<Option<&'w [u8]>>,
    holders: Vec<&'w str>,
}

impl<'w> Run<'w> {
    /// Adds `w` to this run if it is of the run's kind (its key is checked by the caller);
    /// operations go to `node` unless handed to another.
    fn take(&mut self, node: &'w str, w: &'w Write) -> bool {
        match (self, w) {
            (Run::Devices(ids, docs), Write::PutDevice { id, doc }) => {
                ids.push(id);
                docs.push(doc);
                true
            }
            (Run::DevicesWithRecords(ids, docs, records), Write::PutDeviceWithRecord { id, doc, record }) => {
                ids.push(id);
                docs.push(doc);
                records.push(record.as_deref());
                true
            }
            (
                Run::Operations(rows),
                Write::PutOperation { id, device, state, group_operation, doc, adapter_state, holder },
            ) => {
                rows.ids.push(*id as i64);
                rows.devices.push(device);
                rows.states.push(state.as_str());
                rows.groups.push(group_operation.map(|g| g as i64));
                rows.docs.push(doc);
                rows.adapter_states.push(adapter_state.as_deref());
                rows.holders.push(holder.as_deref().unwrap_or(node));
                true
            }
            (Run::Owned(ids), Write::Own(id)) => {
                ids.push(id);
                true
            }
            (Run::States(namespaces, keys, values), Write::PutState { namespace, key, value }) => {
                namespaces.push(namespace);
                keys.push(key);
                values.push(value);
                true
            }
            _ => false,
        }
    }

    /// Puts the run's rows in key order (keys in a run are distinct).
    fn sort(&mut self) {
        fn permute<T: Copy>(v: &mut [T], order: &[usize]) {
            let sorted: Vec<T> = order.iter().map(|&i| v[i]).collect();
            v.copy_from_slice(&sorted);
        }
        fn order_by<K: Ord>(keys: &[K]) -> Vec<usize> {
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
            order
        }
        match self {
            Run::Devices(ids, docs) => {
                let o = order_by(ids);
                permute(docs, &o);
                permute(ids, &o);
            }
            Run::DevicesWithRecords(ids, docs, records) => {
                let o = order_by(ids);
                permute(docs, &o);
                permute(records, &o);
                permute(ids, &o);
            }
            Run::Operations(r) => {
                let o = order_by(&r.ids);
                permute(&mut r.devices, &o);
                permute(&mut r.states, &o);
                permute(&mut r.groups, &o);
                permute(&mut r.docs, &o);
                permute(&mut r.adapter_states, &o);
                permute(&mut r.holders, &o);
                permute(&mut r.ids, &o);
            }
            Run::States(namespaces, keys, values) => {
                let pairs: Vec<(&str, &str)> = namespaces.iter().copied().zip(keys.iter().copied()).collect();
                let o = order_by(&pairs);
                permute(values, &o);
                permute(namespaces, &o);
                permute(keys, &o);
            }
            Run::Owned(ids) => ids.sort_unstable(),
            Run::One(_) => {}
        }
    }

    fn start(node: &'w str, w: &'w Write) -> Run<'w> {
        let mut run = match w {
            Write::PutDevice { .. } => Run::Devices(Vec::new(), Vec::new()),
            Write::PutDeviceWithRecord { .. } => Run::DevicesWithRecords(Vec::new(), Vec::new(), Vec::new()),
            Write::PutOperation { .. } => Run::Operations(Box::default()),
            Write::PutState { .. } => Run::States(Vec::new(), Vec::new(), Vec::new()),
            Write::Own(_) => Run::Owned(Vec::new()),
            other => return Run::One(other),
        };
        run.take(node, w);
        run
    }
}

/// `writes` as runs of multi-row statements, pipelined: a batch of N registrations is one
/// statement, not N.
async fn apply_batched<'w>(
    tx: &tokio_postgres::Transaction<'_>,
    s: &Statements,
    node: &'w str,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<(), tokio_postgres::Error> {
    let writes: Vec<&'w Write> = writes.collect();
    // A device's owner is set with the device's write in this batch (a contact that makes this
    // node the owner writes both): the runs of device writes are not broken by it.
    let written: HashSet<&str> = writes
        .iter()
        .filter_map(|w| match w {
            Write::PutDevice { id, .. } | Write::PutDeviceWithRecord { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let owned: HashSet<&str> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Own(id) if written.contains(id.as_str()) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let owners =
        |ids: &[&str]| -> Vec<Option<&str>> { ids.iter().map(|id| owned.contains(id).then_some(node)).collect() };
    let mut runs: Vec<Run<'w>> = Vec::new();
    // The keys of the last run.
    let mut seen: HashSet<(&'w str, &'w str)> = HashSet::new();
    let mut seen_operations: HashSet<u64> = HashSet::new();
    for w in writes {
        if let Write::Own(id) = w {
            if owned.contains(id.as_str()) {
                continue;
            }
        }
        let fresh = match w {
            Write::PutDevice { id, .. } | Write::PutDeviceWithRecord { id, .. } => !seen.contains(&(id.as_str(), "")),
            Write::PutState { namespace, key, .. } => !seen.contains(&(namespace.as_str(), key.as_str())),
            Write::PutOperation { id, .. } => !seen_operations.contains(id),
            Write::Own(id) => !seen.contains(&(id.as_str(), "own")),
            _ => false,
        };
        if matches!(w, Write::Event(_)) {
            continue;
        }
        if !(fresh && runs.last_mut().is_some_and(|r| r.take(node, w))) {
            seen.clear();
            seen_operations.clear();
            runs.push(Run::start(node, w));
        }
        match w {
            Write::PutDevice { id, .. } | Write::PutDeviceWithRecord { id, .. } => {
                seen.insert((id.as_str(), ""));
            }
            Write::PutState { namespace, key, .. } => {
                seen.insert((namespace.as_str(), key.as_str()));
            }
            Write::PutOperation { id, .. } => {
                seen_operations.insert(*id);
            }
            Write::Own(id) => {
                seen.insert((id.as_str(), "own"));
            }
            _ => {}
        }
    }
    // Rows in key order: two writers (two nodes) updating the same rows lock them in the same
    // order, so they wait for each other rather than deadlock.
    for run in &mut runs {
        run.sort();
    }
    let statements = runs.iter().map(|run| async move {
        match run {
            Run::Devices(ids, docs) => tx.execute(&s.put_devices, &[ids, docs, &owners(ids)]).await,
            Run::DevicesWithRecords(ids, docs, records) => {
                tx.execute(&s.put_devices_with_records, &[ids, docs, records, &owners(ids)]).await
            }
            Run::Operations(r) => {
                let params: [&(dyn ToSql + Sync); 7] =
                    [&r.ids, &r.devices, &r.states, &r.groups, &r.docs, &r.adapter_states, &r.holders];
                tx.execute(&s.put_operations, &params).await
            }
            Run::States(namespaces, keys, values) => tx.execute(&s.put_states, &[namespaces, keys, values]).await,
            Run::Owned(ids) => tx.execute(&s.own_devices, &[ids, &node]).await,
            Run::One(w) => apply(tx, s, node, w).await,
        }
    });
    try_join_all(statements).await.map(|_| ())
}

struct Writer {
    config: Target,
    conn: Option<(Client, Statements)>,
    max_batch: usize,
    down: Arc<Down>,
    node: Arc<str>,
    seq: Arc<AtomicU64>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>, counters: Arc<Counters>) {
        while let Some(first) = rx.recv().await {
            let mut count = first.writes.len();
            let mut jobs = vec![first];
            while count < self.max_batch {
                match rx.try_recv() {
                    Ok(job) => {
                        count += job.writes.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            // Completions are not `Sync`: they stay here while the writes are committed.
            let (writes, dones): (Vec<Vec<Write>>, Vec<Completion>) =
                jobs.into_iter().map(|j| (j.writes, j.done)).unzip();
            let started = Instant::now();
            let results = self.commit(&writes).await;
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.writes.fetch_add(count as u64, Ordering::Relaxed);
            counters.commit_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            for (done, result) in dones.into_iter().zip(results) {
                done(result);
            }
        }
    }

    /// The writer's connection, opened again if it broke.
    async fn connection(&mut self) -> Result<&mut (Client, Statements), StoreError> {
        if self.conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let client = connect(&self.config).await?;
            // The lock went with the old connection; another unidm may have taken it meanwhile.
            lock_node(&client, &self.node).await?;
            mark_writer(&client, &self.node).await?;
            let statements = Statements::prepare(&client).await?;
            tracing::info!("PostgreSQL writer connected again");
            self.conn = Some((client, statements));
        }
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    /// Commits every job in one transaction; each job stays atomic. When a write fails, the
    /// transaction is redone with a savepoint per job, so that the failing job alone is
    /// rolled back.
    async fn commit(&mut self, jobs: &[Vec<Write>]) -> Vec<Result<(), StoreError>> {
        let down = self.down.clone();
        let (node, seq) = (self.node.clone(), self.seq.clone());
        let (client, statements) = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                down.set(&e);
                return jobs.iter().map(|_| Err(e.clone())).collect();
            }
        };
        let all_or_nothing = async {
            let tx = client.transaction().await?;
            let (applied, fed) = futures::join!(
                apply_batched(&tx, statements, &node, jobs.iter().flatten()),
                write_feed(&tx, &statements.feed, &node, &seq, jobs.iter().flatten())
            );
            applied?;
            fed?;
            tx.commit().await
        }
        .await;
        match all_or_nothing {
            Ok(()) => {
                down.clear();
                jobs.iter().map(|_| Ok(())).collect()
            }
            Err(e) if e.as_db_error().is_some() => {
                tracing::debug!(error = %e, jobs = jobs.len(), "batch failed; committing its jobs one by one");
                match commit_each(client, statements, &node, &seq, jobs).await {
                    Ok(results) => results,
                    Err(e) => {
                        let e = StoreError::from(e);
                        tracing::error!(error = %e, "store commit failed");
                        jobs.iter().map(|_| Err(e.clone())).collect()
                    }
                }
            }
            Err(e) => {
                // The connection broke: whether the commit landed is unknown, so each job is
                // reported failed and the engine's own retry (or the caller) decides.
                let e = StoreError::from(e);
                down.set(&e);
                jobs.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

async fn commit_each(
    client: &mut Client,
    statements: &Statements,
    node: &str,
    seq: &AtomicU64,
    jobs: &[Vec<Write>],
) -> Result<Vec<Result<(), StoreError>>, tokio_postgres::Error> {
    let mut tx = client.transaction().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let savepoint = tx.savepoint("job").await?;
        let r = apply_all(&savepoint, statements, node, job.iter()).await;
        match r {
            Ok(()) => {
                savepoint.commit().await?;
                results.push(Ok(()));
            }
            Err(e) => {
                savepoint.rollback().await?;
                let e = StoreError::from(e);
                tracing::error!(error = %e, "store write failed");
                results.push(Err(e));
            }
        }
    }
    let committed = jobs.iter().zip(&results).filter(|(_, r)| r.is_ok()).flat_map(|(j, _)| j.iter());
    write_feed(&tx, &statements.feed, node, seq, committed).await?;
    tx.commit().await?;
    Ok(results)
}

/// Reader connections, each opened on first use and again after it broke.
struct Readers {
    config: Target,
    slots: Vec<tokio::sync::Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl Readers {
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c Client) -> futures::future::BoxFuture<'c, Result<T, tokio_postgres::Error>>,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(connect(&self.config).await?);
        }
        let client = slot.as_ref().ok_or(StoreError::Closed)?;
        Ok(f(client).await?)
    }
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str, what: &str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("{what} `{id}`: {e}")))
}

/// Every `(id, doc)` row `sql` selects, parsed.
async fn docs<T: serde::de::DeserializeOwned + Send + 'static>(
    readers: &Readers,
    sql: &'static str,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let rows = readers.with(move |c| Box::pin(c.query(sql, &[]))).await?;
    rows.iter().map(|r| parse_doc(r.get(1), what, r.get(0))).collect()
}

/// The document `sql` selects by the id `$1`, parsed, if there is one.
async fn doc_by_id<T: serde::de::DeserializeOwned>(
    readers: &Readers,
    sql: &'static str,
    id: OperationId,
    what: &str,
) -> Result<Option<T>, StoreError> {
    let key = id.0 as i64;
    let row = readers.with(move |c| Box::pin(async move { c.query_opt(sql, &[&key]).await })).await?;
    row.map(|r| parse_doc(r.get(0), what, &id.to_string())).transpose()
}

#[async_trait]
impl Store for PostgresStore {
    fn stats(&self) -> Option<StoreStats> {
        let c = &self.counters;
        Some(StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            commit_micros: c.commit_micros.load(Ordering::Relaxed),
        })
    }

    fn close(&self) {
        // The writer commits what is queued, then ends with the channel.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        self.cluster.listener.abort();
    }

    fn cluster(&self) -> Option<Arc<dyn Cluster>> {
        Some(self.cluster.clone())
    }

    fn submit(&self, batch: Vec<Write>, done: Completion) {
        enqueue(&self.tx, batch, done);
    }

    async fn check(&self) -> Result<(), StoreError> {
        match self.readers.with(|c| Box::pin(async move { c.simple_query("SELECT 1").await.map(|_| ()) })).await {
            Ok(()) => {
                self.down.clear();
                Ok(())
            }
            Err(e) => {
                self.down.set(&e);
                Err(e)
            }
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        match self.down.get() {
            Some(why) => Err(StoreError::Unavailable(why)),
            None => Ok(()),
        }
    }

    async fn load_devices(&self) -> Result<Vec<Device>, StoreError> {
        docs(&self.readers, "SELECT id, doc FROM devices", "device").await
    }

    async fn get_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        doc_by_id(&self.readers, "SELECT doc FROM operations WHERE id = $1", id, "operation").await
    }

    async fn list_operations(&self, q: OperationQuery) -> Result<Page<Operation>, StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(d) = &q.device {
            args.push(Box::new(d.to_string()));
            clauses.push(format!("device = ${}", args.len()));
        }
        if let Some(s) = q.state {
            args.push(Box::new(s.as_str().to_owned()));
            clauses.push(format!("state = ${}", args.len()));
        }
        if let Some(g) = q.group_operation {
            args.push(Box::new(g.0 as i64));
            clauses.push(format!("group_op = ${}", args.len()));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        let count = format!("SELECT count(*) FROM operations{filter}");
        let n = args.len();
        let page =
            format!("SELECT id, doc FROM operations{filter} ORDER BY id DESC LIMIT ${} OFFSET ${}", n + 1, n + 2);
        args.push(Box::new(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        args.push(Box::new(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        let (total, rows) = self
            .readers
            .with(move |c| {
                Box::pin(async move {
                    let params: Vec<&(dyn ToSql + Sync)> =
                        args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
                    let (total, rows) = futures::try_join!(c.query_one(&count, &params[..n]), c.query(&page, &params))?;
                    Ok((total.get::<_, i64>(0), rows))
                })
            })
            .await?;
        let items = rows
            .iter()
            .map(|r| parse_doc(r.get(1), "operation", &r.get::<_, i64>(0).to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total: total as usize })
    }

    async fn unfinished_operations(&self) -> Result<Vec<Operation>, StoreError> {
        let rows = self
            .readers
            .with(|c| {
                Box::pin(c.query(
                    "SELECT id, doc, adapter_state FROM operations
                     WHERE state IN ('pending', 'dispatched', 'waiting', 'running') ORDER BY id",
                    &[],
                ))
            })
            .await?;
        rows.iter()
            .map(|r| {
                let mut op: Operation = parse_doc(r.get(1), "operation", &r.get::<_, i64>(0).to_string())?;
                op.adapter_state = r.get(2);
                Ok(op)
            })
            .collect()
    }

    async fn max_operation_id(&self) -> Result<u64, StoreError> {
        let row = self
            .readers
            .with(|c| {
                Box::pin(c.query_one(
                    "SELECT greatest(coalesce((SELECT max(id) FROM operations), 0),
                                     coalesce((SELECT max(id) FROM group_operations), 0))",
                    &[],
                ))
            })
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn load_group_operations(&self) -> Result<Vec<GroupOperation>, StoreError> {
        docs(&self.readers, "SELECT id::text, doc FROM group_operations ORDER BY id", "group operation").await
    }

    async fn get_group_operation(&self, id: OperationId) -> Result<Option<GroupOperation>, StoreError> {
        doc_by_id(&self.readers, "SELECT doc FROM group_operations WHERE id = $1", id, "group operation").await
    }

    async fn load_groups(&self) -> Result<Vec<Group>, StoreError> {
        docs(&self.readers, "SELECT id, doc FROM groups", "group").await
    }

    async fn load_rules(&self) -> Result<Vec<Rule>, StoreError> {
        docs(&self.readers, "SELECT id, doc FROM rules", "rule").await
    }

    async fn load_device_records(&self, protocol: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = format!("{protocol}:");
        let rows = self
            .readers
            .with(move |c| {
                Box::pin(async move {
                    c.query(
                        "SELECT id, record FROM devices WHERE starts_with(id, $1) AND record IS NOT NULL
                         ORDER BY id COLLATE \"C\"",
                        &[&prefix],
                    )
                    .await
                })
            })
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let ns = namespace.to_owned();
        let rows = self
            .readers
            .with(move |c| {
                Box::pin(async move {
                    c.query("SELECT key, value FROM adapter_state WHERE ns = $1 ORDER BY key COLLATE \"C\"", &[&ns])
                        .await
                })
            })
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Drives a listening connection's I/O and passes its notifications on; ends (dropping
/// `notices`) when the connection does.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notices: mpsc::UnboundedSender<tokio_postgres::Notification>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(m) = futures::StreamExt::next(&mut messages).await {
        match m {
            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                if notices.send(n).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "PostgreSQL feed connection ended");
                return;
            }
        }
    }
}

/// Opens the feed's connection: `LISTEN`s, with the notifications on the returned channel.
async fn open_listener(
    target: &Target,
) -> Result<(Client, mpsc::UnboundedReceiver<tokio_postgres::Notification>), StoreError> {
    let mut config = target.config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let unavailable = |e: tokio_postgres::Error| StoreError::Unavailable(e.to_string());
    let client = if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        tokio::spawn(drive(connection, tx));
        client
    } else {
        let (client, connection) = config.connect(target.tls.clone()).await.map_err(unavailable)?;
        tokio::spawn(drive(connection, tx));
        client
    };
    client.batch_execute("LISTEN unidm_feed; LISTEN unidm_cmd").await?;
    Ok((client, rx))
}

/// Most notifications read back in one round trip.
const FEED_BATCH: usize = 512;

/// The feed: receives the other nodes' notifications, reads their entries back in the order
/// they were committed, and passes them to `out`; opens its connection again when it breaks
/// (then sends [`FeedItem::Resync`]: what was committed meanwhile was not heard).
async fn listen(target: Target, node: Arc<str>, out: mpsc::UnboundedSender<FeedItem>) {
    let mut first = true;
    loop {
        let (client, mut notices) = match open_listener(&target).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "PostgreSQL feed cannot connect; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if !first && out.send(FeedItem::Resync).is_err() {
            return;
        }
        first = false;
        while let Some(n) = notices.recv().await {
            let mut batch = vec![n];
            while batch.len() < FEED_BATCH {
                match notices.try_recv() {
                    Ok(n) => batch.push(n),
                    Err(_) => break,
                }
            }
            if let Err(e) = deliver(&client, &node, batch, &out).await {
                if out.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "PostgreSQL feed read failed; reading everything again");
                break;
            }
        }
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads back the entries `batch` announces (other nodes' only) and passes them on in order.
async fn deliver(
    client: &Client,
    node: &str,
    batch: Vec<tokio_postgres::Notification>,
    out: &mpsc::UnboundedSender<FeedItem>,
) -> Result<(), StoreError> {
    let mut nodes = Vec::new();
    let mut seqs = Vec::new();
    let mut items = Vec::new();
    for n in &batch {
        let mut parts = n.payload().split(' ');
        match (n.channel(), parts.next(), parts.next(), parts.next()) {
            ("unidm_feed", Some(from), Some(seq), None) if from != node => {
                if let Ok(seq) = seq.parse::<i64>() {
                    nodes.push(from.to_owned());
                    seqs.push(seq);
                    items.push(None);
                }
            }
            ("unidm_cmd", Some(to), Some("cancel"), Some(id)) if to == node => {
                if let Ok(id) = id.parse::<u64>() {
                    items.push(Some(FeedItem::Cancel(OperationId(id))));
                }
            }
            _ => {}
        }
    }
    let mut entries = std::collections::HashMap::new();
    if !nodes.is_empty() {
        let rows = client
            .query(
                "SELECT f.node, f.seq, f.keys, f.events FROM unidm_feed f
                 JOIN unnest($1::text[], $2::int8[]) AS w(node, seq) USING (node, seq)",
                &[&nodes, &seqs],
            )
            .await?;
        for r in rows {
            let key: (String, i64) = (r.get(0), r.get(1));
            entries.insert(key, (r.get::<_, Vec<String>>(2), r.get::<_, Vec<String>>(3)));
        }
    }
    let mut fed = nodes.into_iter().zip(seqs);
    for item in items {
        let item = match item {
            Some(item) => item,
            None => {
                let Some(key) = fed.next() else { continue };
                // Pruned before it was read (a node very far behind): nothing left to apply.
                let Some((keys, events)) = entries.remove(&key) else { continue };
                FeedItem::Change { node: key.0, keys, events }
            }
        };
        if out.send(item).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The states of an unfinished operation, as SQL.
const UNFINISHED: &str = "('pending', 'dispatched', 'waiting', 'running')";

/// The cluster side of the PostgreSQL store.
struct PgCluster {
    node: Arc<str>,
    lease: Duration,
    readers: Arc<Readers>,
    seq: Arc<AtomicU64>,
    feed: Mutex<Option<Feed>>,
    /// The connection that holds the leader's lock, and whether it holds it.
    leader: tokio::sync::Mutex<Option<(Client, bool)>>,
    target: Target,
    listener: tokio::task::JoinHandle<()>,
}

impl PgCluster {
    fn lease_secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// Runs `body` in a transaction on a reader connection, with the feed entry naming the
    /// rows `body` answers it changed. It runs on a task of its own, so that a caller that
    /// gives up cannot leave the connection inside a transaction.
    async fn changing<T, F>(&self, body: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c Client,
            )
                -> futures::future::BoxFuture<'c, Result<(T, Vec<String>), tokio_postgres::Error>>
            + Send
            + 'static,
    {
        let (readers, node, seq) = (self.readers.clone(), self.node.clone(), self.seq.clone());
        let task = tokio::spawn(async move {
            readers
                .with(move |c| {
                    Box::pin(async move {
                        c.batch_execute("BEGIN").await?;
                        let r = async {
                            let (value, keys) = body(c).await?;
                            if !keys.is_empty() {
                                let seq = seq.fetch_add(1, Ordering::Relaxed) as i64;
                                let events: Vec<String> = Vec::new();
                                c.execute(FEED, &[&&*node, &seq, &keys, &events]).await?;
                            }
                            Ok::<_, tokio_postgres::Error>(value)
                        }
                        .await;
                        match r {
                            Ok(v) => c.batch_execute("COMMIT").await.map(|_| v),
                            Err(e) => {
                                let _ = c.batch_execute("ROLLBACK").await;
                                Err(e)
                            }
                        }
                    })
                })
                .await
        });
        task.await.map_err(|e| StoreError::Database(format!("store task: {e}")))?
    }

    /// Parses operation rows `(id, doc, adapter_state)` and group operation rows `(id, doc)`,
    /// reading each group operation's members.
    async fn assemble(
        &self,
        ops: Vec<tokio_postgres::Row>,
        groups: Vec<tokio_postgres::Row>,
    ) -> Result<Held, StoreError> {
        let operations = ops.iter().map(|r| operation_row(r, 0, 1, 2)).collect::<Result<_, _>>()?;
        let ids: Vec<i64> = groups.iter().map(|r| r.get(0)).collect();
        let members = self
            .read(move |c| {
                Box::pin(async move {
                    c.query(
                        "SELECT group_op, id, state, node FROM operations WHERE group_op = ANY($1) ORDER BY id",
                        &[&ids],
                    )
                    .await
                })
            })
            .await?;
        let mut by_group: std::collections::HashMap<i64, Vec<Member>> = std::collections::HashMap::new();
        for r in &members {
            by_group.entry(r.get(0)).or_default().push(Member {
                id: OperationId(r.get::<_, i64>(1) as u64),
                state: parse_state(r.get(2))?,
                holder: r.get(3),
            });
        }
        let mut group_operations = Vec::with_capacity(groups.len());
        for g in &groups {
            let id: i64 = g.get(0);
            let gop: GroupOperation = parse_doc(g.get(1), "group operation", &id.to_string())?;
            group_operations.push((gop, by_group.remove(&id).unwrap_or_default()));
        }
        Ok(Held { operations, group_operations })
    }

    /// Runs a read-only `body` on a reader connection.
    async fn read<T, F>(&self, body: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c Client) -> futures::future::BoxFuture<'c, Result<T, tokio_postgres::Error>>,
    {
        self.readers.with(body).await
    }
}

fn operation_row(
    r: &tokio_postgres::Row,
    id: usize,
    doc: usize,
    adapter_state: usize,
) -> Result<Operation, StoreError> {
    let mut op: Operation = parse_doc(r.get(doc), "operation", &r.get::<_, i64>(id).to_string())?;
    op.adapter_state = r.get(adapter_state);
    Ok(op)
}

fn parse_state(s: &str) -> Result<OperationState, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("operation state `{s}`")))
}

/// Keys named in a feed entry, by kind.
fn keys_of<'k>(keys: &'k [String], prefix: &str) -> Vec<&'k str> {
    keys.iter().filter_map(|k| k.strip_prefix(prefix)).collect()
}

#[async_trait]
impl Cluster for PgCluster {
    fn node(&self) -> &str {
        &self.node
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    fn take_feed(&self) -> Option<Feed> {
        self.feed.lock().ok()?.take()
    }

    async fn allocate_ids(&self, n: usize) -> Result<Vec<u64>, StoreError> {
        let n = i32::try_from(n).map_err(|_| StoreError::Database(format!("{n} ids at once")))?;
        let rows = self
            .read(move |c| {
                Box::pin(async move { c.query("SELECT nextval('unidm_ids') FROM generate_series(1, $1)", &[&n]).await })
            })
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    async fn heartbeat(&self) -> Result<Vec<NodeStatus>, StoreError> {
        let node = self.node.to_string();
        let lease = self.lease_secs();
        let rows = self
            .read(move |c| {
                Box::pin(async move {
                    c.execute(
                        "INSERT INTO unidm_nodes (id, heartbeat) VALUES ($1, now())
                         ON CONFLICT (id) DO UPDATE SET heartbeat = now()",
                        &[&node],
                    )
                    .await?;
                    c.query(
                        "SELECT id, heartbeat > now() - make_interval(secs => $1),
                                greatest(0, extract(epoch FROM now() - heartbeat) * 1000)::int8
                         FROM unidm_nodes ORDER BY id",
                        &[&lease],
                    )
                    .await
                })
            })
            .await?;
        Ok(rows
            .iter()
            .map(|r| NodeStatus { id: r.get(0), alive: r.get(1), heartbeat_age_ms: r.get::<_, i64>(2) as u64 })
            .collect())
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        let mut slot = self.leader.lock().await;
        if slot.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some((connect(&self.target).await?, false));
        }
        let Some((client, held)) = slot.as_mut() else { return Ok(false) };
        if *held {
            // Still held while the session lives; the round trip shows that it does.
            if let Err(e) = client.simple_query("SELECT 1").await {
                *slot = None;
                return Err(e.into());
            }
            return Ok(true);
        }
        *held = client.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK]).await?.get(0);
        Ok(*held)
    }

    async fn owners(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            self.read(|c| Box::pin(c.query("SELECT id, owner FROM devices WHERE owner IS NOT NULL", &[]))).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn reload(&self, keys: &[String]) -> Result<Reloaded, StoreError> {
        let devices: Vec<String> = keys_of(keys, "d:").into_iter().map(str::to_owned).collect();
        let operations: Vec<i64> = keys_of(keys, "o:").iter().filter_map(|k| k.parse().ok()).collect();
        let group_operations: Vec<i64> = keys_of(keys, "go:").iter().filter_map(|k| k.parse().ok()).collect();
        let groups: Vec<String> = keys_of(keys, "g:").into_iter().map(str::to_owned).collect();
        let rules: Vec<String> = keys_of(keys, "r:").into_iter().map(str::to_owned).collect();
        let rows = self
            .read(move |c| {
                Box::pin(async move {
                    let (pd, po, pgo, pg, pr): (
                        [&(dyn ToSql + Sync); 1],
                        [&(dyn ToSql + Sync); 1],
                        [&(dyn ToSql + Sync); 1],
                        [&(dyn ToSql + Sync); 1],
                        [&(dyn ToSql + Sync); 1],
                    ) = ([&devices], [&operations], [&group_operations], [&groups], [&rules]);
                    let d = c.query(
                        "SELECT k, d.doc, d.owner FROM unnest($1::text[]) WITH ORDINALITY AS k(k, i)
                         LEFT JOIN devices d ON d.id = k.k ORDER BY k.i",
                        &pd,
                    );
                    let o = c.query(
                        "SELECT id, doc, adapter_state, node FROM operations WHERE id = ANY($1) ORDER BY id",
                        &po,
                    );
                    let go = c.query("SELECT id::text, doc FROM group_operations WHERE id = ANY($1)", &pgo);
                    let g = c.query("SELECT k, g.doc FROM unnest($1::text[]) AS k LEFT JOIN groups g ON g.id = k", &pg);
                    let r = c.query("SELECT k, r.doc FROM unnest($1::text[]) AS k LEFT JOIN rules r ON r.id = k", &pr);
                    futures::try_join!(d, o, go, g, r)
                })
            })
            .await?;
        let (d, o, go, g, r) = rows;
        let mut out = Reloaded::default();
        for row in &d {
            let id: String = row.get(0);
            let doc: Option<&str> = row.get(1);
            let entry = match doc {
                Some(doc) => Some((parse_doc(doc, "device", &id)?, row.get(2))),
                None => None,
            };
            out.devices.push((id, entry));
        }
        for row in &o {
            out.operations.push((operation_row(row, 0, 1, 2)?, row.get(3)));
        }
        for row in &go {
            out.group_operations.push(parse_doc(row.get(1), "group operation", row.get(0))?);
        }
        for row in &g {
            let id: String = row.get(0);
            let doc: Option<&str> = row.get(1);
            let group = doc.map(|doc| parse_doc(doc, "group", &id)).transpose()?;
            out.groups.push((id, group));
        }
        for row in &r {
            let id: String = row.get(0);
            let doc: Option<&str> = row.get(1);
            let rule = doc.map(|doc| parse_doc(doc, "rule", &id)).transpose()?;
            out.rules.push((id, rule));
        }
        Ok(out)
    }

    async fn claim_operations(&self, devices: &[String]) -> Result<Vec<Operation>, StoreError> {
        let (devices, node) = (devices.to_vec(), self.node.to_string());
        let rows = self
            .changing(move |c| {
                Box::pin(async move {
                    // Group members still waiting for their slot stay with their group's
                    // holder, which hands them over when it starts them. Rows are locked in id
                    // order, as writers write them. Those already handed here are answered
                    // too (their hand-over may not have been read back yet).
                    let rows = c
                        .query(
                            &format!(
                                "UPDATE operations o SET node = $2 FROM (
                                     SELECT x.id, x.node AS before FROM operations x
                                     WHERE x.device = ANY($1) AND x.state IN {UNFINISHED}
                                       AND NOT (x.group_op IS NOT NULL AND x.state = 'pending'
                                           AND x.node IS DISTINCT FROM $2 AND EXISTS (
                                           SELECT 1 FROM group_operations g WHERE g.id = x.group_op AND g.node = x.node))
                                     ORDER BY x.id FOR UPDATE) s
                                 WHERE o.id = s.id
                                 RETURNING o.id, o.doc, o.adapter_state, s.before IS DISTINCT FROM $2"
                            ),
                            &[&devices, &node],
                        )
                        .await?;
                    let keys: Vec<String> =
                        rows.iter().filter(|r| r.get::<_, bool>(3)).map(|r| format!("o:{}", r.get::<_, i64>(0))).collect();
                    Ok((rows, keys))
                })
            })
            .await?;
        rows.iter().map(|r| operation_row(r, 0, 1, 2)).collect()
    }

    async fn claim_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        let (key, node, lease) = (id.0 as i64, self.node.to_string(), self.lease_secs());
        let row = self
            .changing(move |c| {
                Box::pin(async move {
                    let row = c
                        .query_opt(
                            &format!(
                                "UPDATE operations o SET node = $2
                                 WHERE id = $1 AND state IN {UNFINISHED} AND (node IS NULL OR node = $2 OR NOT EXISTS (
                                     SELECT 1 FROM unidm_nodes n
                                     WHERE n.id = o.node AND n.heartbeat > now() - make_interval(secs => $3)))
                                 RETURNING id, doc, adapter_state"
                            ),
                            &[&key, &node, &lease],
                        )
                        .await?;
                    let keys = if row.is_some() { vec![format!("o:{key}")] } else { Vec::new() };
                    Ok((row, keys))
                })
            })
            .await?;
        row.map(|r| operation_row(&r, 0, 1, 2)).transpose()
    }

    async fn holder(&self, id: OperationId) -> Result<Option<(String, bool)>, StoreError> {
        let (key, lease) = (id.0 as i64, self.lease_secs());
        let row = self
            .read(move |c| {
                Box::pin(async move {
                    c.query_opt(
                        &format!(
                            "SELECT o.node, coalesce(n.heartbeat > now() - make_interval(secs => $2), false)
                             FROM operations o LEFT JOIN unidm_nodes n ON n.id = o.node
                             WHERE o.id = $1 AND o.node IS NOT NULL AND o.state IN {UNFINISHED}"
                        ),
                        &[&key, &lease],
                    )
                    .await
                })
            })
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn held(&self) -> Result<Held, StoreError> {
        let node = self.node.to_string();
        let (ops, groups) = self
            .changing(move |c| {
                Box::pin(async move {
                    // Rows written before the store knew of nodes are this node's.
                    c.execute(
                        &format!("UPDATE operations SET node = $1 WHERE node IS NULL AND state IN {UNFINISHED}"),
                        &[&node],
                    )
                    .await?;
                    c.execute("UPDATE group_operations SET node = $1 WHERE node IS NULL", &[&node]).await?;
                    let ops = c
                        .query(
                            &format!(
                                "SELECT id, doc, adapter_state FROM operations
                             WHERE node = $1 AND state IN {UNFINISHED} ORDER BY id"
                            ),
                            &[&node],
                        )
                        .await?;
                    let groups = c
                        .query(
                            &format!(
                                "SELECT g.id, g.doc FROM group_operations g WHERE g.node = $1 AND EXISTS (
                                 SELECT 1 FROM operations o WHERE o.group_op = g.id AND o.state IN {UNFINISHED})
                             ORDER BY g.id"
                            ),
                            &[&node],
                        )
                        .await?;
                    Ok(((ops, groups), Vec::new()))
                })
            })
            .await?;
        self.assemble(ops, groups).await
    }

    async fn take_orphans(&self) -> Result<Held, StoreError> {
        let (node, lease) = (self.node.to_string(), self.lease_secs());
        let dead = "NOT EXISTS (SELECT 1 FROM unidm_nodes n
                                WHERE n.id = x.node AND n.heartbeat > now() - make_interval(secs => $2))";
        let (ops, groups) = self
            .changing(move |c| {
                Box::pin(async move {
                    let groups = c
                        .query(
                            &format!(
                                "UPDATE group_operations x SET node = $1
                                 WHERE x.node IS DISTINCT FROM $1 AND {dead} AND EXISTS (
                                     SELECT 1 FROM operations o WHERE o.group_op = x.id AND o.state IN {UNFINISHED})
                                 RETURNING x.id, x.doc"
                            ),
                            &[&node, &lease],
                        )
                        .await?;
                    let ops = c
                        .query(
                            &format!(
                                "UPDATE operations x SET node = $1
                                 WHERE x.state IN {UNFINISHED} AND x.node IS DISTINCT FROM $1 AND {dead}
                                 RETURNING x.id, x.doc, x.adapter_state"
                            ),
                            &[&node, &lease],
                        )
                        .await?;
                    let mut keys: Vec<String> = groups.iter().map(|r| format!("go:{}", r.get::<_, i64>(0))).collect();
                    keys.extend(ops.iter().map(|r| format!("o:{}", r.get::<_, i64>(0))));
                    Ok(((ops, groups), keys))
                })
            })
            .await?;
        self.assemble(ops, groups).await
    }

    async fn send_cancel(&self, holder: &str, id: OperationId) -> Result<(), StoreError> {
        let payload = format!("{holder} cancel {id}");
        self.read(move |c| Box::pin(async move { c.execute("SELECT pg_notify('unidm_cmd', $1)", &[&payload]).await }))
            .await?;
        Ok(())
    }

    async fn prune(&self, age: Duration) -> Result<u64, StoreError> {
        let secs = age.as_secs_f64();
        self.read(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM unidm_feed WHERE at < now() - make_interval(secs => $1)", &[&secs]).await
            })
        })
        .await
    }

    async fn leave(&self) -> Result<(), StoreError> {
        let node = self.node.to_string();
        self.read(move |c| {
            Box::pin(
                async move { c.execute("UPDATE unidm_nodes SET heartbeat = 'epoch' WHERE id = $1", &[&node]).await },
            )
        })
        .await?;
        Ok(())
    }
}
