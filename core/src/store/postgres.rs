//! A [`Store`] on PostgreSQL, for operators who run unidm on a database they already operate
//! (one unidm node per database for now).
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
//! that processes opening it together migrate once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use futures::future::try_join_all;
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use unidm_models::{Device, Group, GroupOperation, Operation, OperationId, Rule};

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
];

/// The advisory lock nodes take while they migrate (any number; this one spells "unidm").
const MIGRATION_LOCK: i64 = 0x0075_6e69_646d;
/// The advisory lock the writer's connection holds while it lives: one unidm per database.
/// Several nodes on one database need ownership of devices and operations shared between
/// them, which is not there yet; two that did not know of each other would hand out the same
/// operation ids.
const WRITER_LOCK: i64 = MIGRATION_LOCK + 1;

/// Takes [`WRITER_LOCK`] on `client`'s session, or says who holds it.
async fn lock_writer(client: &Client) -> Result<(), StoreError> {
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK]).await?;
    if row.get::<_, bool>(0) {
        return Ok(());
    }
    let holder = client
        .query_opt(
            "SELECT coalesce(host(client_addr), 'local') || ' (pid ' || a.pid || ')' FROM pg_locks l
             JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ($1::bigint & 4294967295)::oid",
            &[&WRITER_LOCK],
        )
        .await
        .ok()
        .flatten()
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|| "another connection".to_owned());
    Err(StoreError::InUse(format!(
        "the database is in use by another unidm (its connection from {holder} holds the writer's lock); \
         stop that one or use another database: several nodes on one database are not supported yet"
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
}

impl PostgresOptions {
    /// Defaults: batches of up to 8192 writes, 4 reader connections.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions { url: url.into(), ca: None, max_batch: 8192, readers: 4 }
    }
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
        let config: tokio_postgres::Config =
            opts.url.parse().map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        let tls = crate::tls::client_config(opts.ca.as_deref()).map_err(|e| StoreError::Database(e.to_string()))?;
        let config = Target { config, tls: MakeRustlsConnect::new(tls) };
        let mut client = connect(&config).await?;
        // A unidm that just stopped (or was killed) lets go of the lock once PostgreSQL sees
        // its connection end: a few seconds are allowed for that.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match lock_writer(&client).await {
                Err(StoreError::InUse(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        }
        migrate(&mut client).await?;
        let statements = Statements::prepare(&client).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let down = Arc::new(Down::default());
        let writer = Writer {
            config: config.clone(),
            conn: Some((client, statements)),
            max_batch: opts.max_batch,
            down: down.clone(),
        };
        tokio::spawn(writer.run(rx, counters.clone()));
        let readers = Arc::new(Readers {
            config,
            slots: (0..opts.readers.max(1)).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        });
        tokio::spawn(probe(Arc::downgrade(&readers), down.clone()));
        Ok(PostgresStore { tx: Mutex::new(Some(tx)), readers, counters, down })
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
}

// The writer's statements; the plural ones take arrays, one element per row.
const PUT_DEVICE: &str =
    "INSERT INTO devices (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const PUT_DEVICE_WITH_RECORD: &str = "INSERT INTO devices (id, doc, record) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, record = EXCLUDED.record";
const DELETE_DEVICE: &str = "DELETE FROM devices WHERE id = $1";
const PUT_OPERATION: &str = "INSERT INTO operations (id, device, state, group_op, doc, adapter_state)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, state = EXCLUDED.state,
     group_op = EXCLUDED.group_op, doc = EXCLUDED.doc, adapter_state = EXCLUDED.adapter_state";
const PUT_GROUP_OPERATION: &str = "INSERT INTO group_operations (id, grp, doc) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET grp = EXCLUDED.grp, doc = EXCLUDED.doc";
const PUT_GROUP: &str =
    "INSERT INTO groups (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const DELETE_GROUP: &str = "DELETE FROM groups WHERE id = $1";
const PUT_RULE: &str = "INSERT INTO rules (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const DELETE_RULE: &str = "DELETE FROM rules WHERE id = $1";
const PUT_STATE: &str = "INSERT INTO adapter_state (ns, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE_STATE: &str = "DELETE FROM adapter_state WHERE ns = $1 AND key = $2";
const PUT_DEVICES: &str = "INSERT INTO devices (id, doc) SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc";
const PUT_DEVICES_WITH_RECORDS: &str =
    "INSERT INTO devices (id, doc, record) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, record = EXCLUDED.record";
const PUT_OPERATIONS: &str = "INSERT INTO operations (id, device, state, group_op, doc, adapter_state)
     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::bytea[])
     ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, state = EXCLUDED.state,
     group_op = EXCLUDED.group_op, doc = EXCLUDED.doc, adapter_state = EXCLUDED.adapter_state";
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
        })
    }
}

/// One write, sent on `tx` (awaited together with the batch's others: pipelined).
async fn apply(tx: &tokio_postgres::Transaction<'_>, s: &Statements, w: &Write) -> Result<u64, tokio_postgres::Error> {
    match w {
        Write::PutDevice { id, doc } => tx.execute(&s.put_device, &[id, doc]).await,
        Write::PutDeviceWithRecord { id, doc, record } => {
            tx.execute(&s.put_device_with_record, &[id, doc, record]).await
        }
        Write::DeleteDevice(id) => tx.execute(&s.delete_device, &[id]).await,
        Write::PutOperation { id, device, state, group_operation, doc, adapter_state } => {
            let group = group_operation.map(|g| g as i64);
            tx.execute(&s.put_operation, &[&(*id as i64), device, &state.as_str(), &group, doc, adapter_state]).await
        }
        Write::PutGroupOperation { id, group, doc } => {
            tx.execute(&s.put_group_operation, &[&(*id as i64), group, doc]).await
        }
        Write::PutGroup { id, doc } => tx.execute(&s.put_group, &[id, doc]).await,
        Write::DeleteGroup(id) => tx.execute(&s.delete_group, &[id]).await,
        Write::PutRule { id, doc } => tx.execute(&s.put_rule, &[id, doc]).await,
        Write::DeleteRule(id) => tx.execute(&s.delete_rule, &[id]).await,
        Write::PutState { namespace, key, value } => tx.execute(&s.put_state, &[namespace, key, value]).await,
        Write::DeleteState { namespace, key } => tx.execute(&s.delete_state, &[namespace, key]).await,
    }
}

/// Every write of `writes`, pipelined.
async fn apply_all<'w>(
    tx: &tokio_postgres::Transaction<'_>,
    s: &Statements,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<(), tokio_postgres::Error> {
    try_join_all(writes.map(|w| apply(tx, s, w))).await.map(|_| ())
}

/// Consecutive writes of one kind (devices, devices with records, operations, adapter state),
/// each key at most once: one multi-row statement. A repeated key or another kind starts the
/// next run, so that writes still apply in submission order.
enum Run<'w> {
    Devices(Vec<&'w str>, Vec<&'w str>),
    DevicesWithRecords(Vec<&'w str>, Vec<&'w str>, Vec<Option<&'w [u8]>>),
    Operations(Vec<i64>, Vec<&'w str>, Vec<&'static str>, Vec<Option<i64>>, Vec<&'w str>, Vec<Option<&'w [u8]>>),
    States(Vec<&'w str>, Vec<&'w str>, Vec<&'w [u8]>),
    One(&'w Write),
}

impl<'w> Run<'w> {
    /// Adds `w` to this run if it is of the run's kind (its key is checked by the caller).
    fn take(&mut self, w: &'w Write) -> bool {
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
                Run::Operations(ids, devices, states, groups, docs, adapter_states),
                Write::PutOperation { id, device, state, group_operation, doc, adapter_state },
            ) => {
                ids.push(*id as i64);
                devices.push(device);
                states.push(state.as_str());
                groups.push(group_operation.map(|g| g as i64));
                docs.push(doc);
                adapter_states.push(adapter_state.as_deref());
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

    fn start(w: &'w Write) -> Run<'w> {
        let mut run = match w {
            Write::PutDevice { .. } => Run::Devices(Vec::new(), Vec::new()),
            Write::PutDeviceWithRecord { .. } => Run::DevicesWithRecords(Vec::new(), Vec::new(), Vec::new()),
            Write::PutOperation { .. } => {
                Run::Operations(Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new())
            }
            Write::PutState { .. } => Run::States(Vec::new(), Vec::new(), Vec::new()),
            other => return Run::One(other),
        };
        run.take(w);
        run
    }
}

/// `writes` as runs of multi-row statements, pipelined: a batch of N registrations is one
/// statement, not N.
async fn apply_batched<'w>(
    tx: &tokio_postgres::Transaction<'_>,
    s: &Statements,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<(), tokio_postgres::Error> {
    let mut runs: Vec<Run<'w>> = Vec::new();
    // The keys of the last run.
    let mut seen: HashSet<(&'w str, &'w str)> = HashSet::new();
    let mut seen_operations: HashSet<u64> = HashSet::new();
    for w in writes {
        let fresh = match w {
            Write::PutDevice { id, .. } | Write::PutDeviceWithRecord { id, .. } => !seen.contains(&(id.as_str(), "")),
            Write::PutState { namespace, key, .. } => !seen.contains(&(namespace.as_str(), key.as_str())),
            Write::PutOperation { id, .. } => !seen_operations.contains(id),
            _ => false,
        };
        if !(fresh && runs.last_mut().is_some_and(|r| r.take(w))) {
            seen.clear();
            seen_operations.clear();
            runs.push(Run::start(w));
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
            _ => {}
        }
    }
    let statements = runs.iter().map(|run| async move {
        match run {
            Run::Devices(ids, docs) => tx.execute(&s.put_devices, &[ids, docs]).await,
            Run::DevicesWithRecords(ids, docs, records) => {
                tx.execute(&s.put_devices_with_records, &[ids, docs, records]).await
            }
            Run::Operations(ids, devices, states, groups, docs, adapter_states) => {
                tx.execute(&s.put_operations, &[ids, devices, states, groups, docs, adapter_states]).await
            }
            Run::States(namespaces, keys, values) => tx.execute(&s.put_states, &[namespaces, keys, values]).await,
            Run::One(w) => apply(tx, s, w).await,
        }
    });
    try_join_all(statements).await.map(|_| ())
}

struct Writer {
    config: Target,
    conn: Option<(Client, Statements)>,
    max_batch: usize,
    down: Arc<Down>,
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
            lock_writer(&client).await?;
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
        let (client, statements) = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                down.set(&e);
                return jobs.iter().map(|_| Err(e.clone())).collect();
            }
        };
        let all_or_nothing = async {
            let tx = client.transaction().await?;
            apply_batched(&tx, statements, jobs.iter().flatten()).await?;
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
                match commit_each(client, statements, jobs).await {
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
    jobs: &[Vec<Write>],
) -> Result<Vec<Result<(), StoreError>>, tokio_postgres::Error> {
    let mut tx = client.transaction().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let savepoint = tx.savepoint("job").await?;
        let r = apply_all(&savepoint, statements, job.iter()).await;
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
