//! The default store: one SQLite file in WAL mode, one writer thread with group commit, a small
//! pool of reader connections.
//!
//! Durability: `synchronous = FULL` by default, so a batch's completion runs only after its
//! transaction is on disk. Every batch queued while a commit is in progress joins the next
//! transaction, so a burst of N writers costs one fsync, not N.
//!
//! Devices live in a rowid table with no index on their id: the writer thread, the table's only
//! writer, keeps the id → rowid map in memory ([`DeviceRows`], loaded at open, about 70 bytes a
//! device). A new device is appended at the end of the table, so a commit of N registrations
//! dirties about N × row size / page size pages rather than a random leaf (and its splits) per
//! device: with durable commits, pages written per commit are what bound registrations per
//! second. Only readers that load every device use the table, so no lookup needs the index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::mpsc;
use unidm_models::{Device, Group, GroupOperation, Operation, OperationId, Rule};

use super::{enqueue, Completion, Job, OperationQuery, Page, Queue, Store, StoreError, StoreStats, Write};

/// Versioned schema migrations; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE devices (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE operations (
         id INTEGER PRIMARY KEY,
         device TEXT NOT NULL,
         state TEXT NOT NULL,
         group_op INTEGER,
         doc TEXT NOT NULL);
     CREATE INDEX operations_by_device ON operations(device, id);
     CREATE INDEX operations_by_state ON operations(state, id);
     CREATE INDEX operations_by_group ON operations(group_op, id) WHERE group_op IS NOT NULL;
     CREATE TABLE group_operations (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, doc TEXT NOT NULL);
     CREATE TABLE groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE rules (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE adapter_state (
         ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
         PRIMARY KEY (ns, key)) WITHOUT ROWID;",
    // 2: the adapter's record of a device (an LwM2M registration) in the device's own row, so
    // that a contact is one row written.
    "ALTER TABLE devices ADD COLUMN record BLOB;",
    // 3: devices in a rowid table without an index on id: the writer keeps the id -> rowid map
    // (see `DeviceRows`), so that new devices are appended instead of inserted at random leaves.
    "CREATE TABLE devices_by_row (id TEXT NOT NULL, doc TEXT NOT NULL, record BLOB);
     INSERT INTO devices_by_row (id, doc, record) SELECT id, doc, record FROM devices ORDER BY id;
     DROP TABLE devices;
     ALTER TABLE devices_by_row RENAME TO devices;",
    // 4: the adapter's own state of an unfinished operation (its procedure's step), stored with
    // the operation and handed back after a restart.
    "ALTER TABLE operations ADD COLUMN adapter_state BLOB;",
    // 5: operations indexed by a 64-bit key of their device ([`device_key`]) instead of its
    // text: the index is a third of the size, so a commit of many operations over many devices
    // dirties a third of the pages (operation creates 7.5 -> 4.4 µs of writer time each).
    // Queries check the text too (two ids may share a key).
    "ALTER TABLE operations ADD COLUMN device_key INTEGER NOT NULL DEFAULT 0;
     UPDATE operations SET device_key = unidm_device_key(device);
     DROP INDEX operations_by_device;
     CREATE INDEX operations_by_device_key ON operations(device_key, id);",
];

/// The key operations are indexed by for their device: FNV-1a, 64 bits, of the device id
/// (stable across builds and platforms, as the stored index needs).
fn device_key(device: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in device.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file (created if missing).
    pub path: PathBuf,
    /// Fsync every commit (`synchronous = FULL`). Off trades the last commits on power loss for
    /// speed; a process crash loses nothing either way in WAL mode.
    pub durable: bool,
    /// Most writes in one transaction.
    pub max_batch: usize,
    /// Reader connections kept open.
    pub readers: usize,
}

impl SqliteOptions {
    /// Defaults for a file: durable commits, batches of up to 8192 writes, 4 readers.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions { path: path.into(), durable: true, max_batch: 8192, readers: 4 }
    }
}

/// Counters the writer keeps, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Writes committed.
    pub writes: AtomicU64,
    /// Microseconds spent in commits.
    pub commit_micros: AtomicU64,
}

/// The SQLite store.
pub struct SqliteStore {
    tx: Queue,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<ReaderPool>,
    stats: Arc<WriterStats>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.readers.path).finish()
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl ReaderPool {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.idle.lock().map_err(|_| StoreError::Closed)?.pop();
        let conn = match conn {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        out
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the database at `path` with default options.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::new(path))
    }

    /// Opens with explicit options.
    pub fn open_with(opts: SqliteOptions) -> Result<Self, StoreError> {
        let lock = lock_database(&opts.path)?;
        let mut conn = Connection::open(&opts.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!("could not enable WAL (journal_mode = {mode})")));
        }
        conn.pragma_update(None, "synchronous", if opts.durable { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 32 MiB of page cache for the writer (SQLite's default is 2 MiB): the operations'
        // index by device takes inserts all over, and a batch of a thousand should find its
        // pages in memory.
        conn.pragma_update(None, "cache_size", -32_768)?;
        // A checkpoint every 10,000 WAL pages (40 MiB) rather than SQLite's 1,000: the
        // operations' index by device takes rows all over, so each commit dirties many of its
        // pages, and a checkpoint after nearly every commit copied them back again and again.
        // A page rewritten by many commits is now copied once per checkpoint (operation creates
        // 10.3 -> 7.5 µs of writer time each in a bench of batches of 3,200).
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        migrate(&mut conn)?;
        let rows = DeviceRows::load(&conn)?;

        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let writer_stats = stats.clone();
        let max_batch = opts.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("unidm-sqlite-writer".into())
            .spawn(move || {
                run_writer(conn, rows, rx, max_batch, &writer_stats);
                drop(lock);
            })
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(ReaderPool { path: opts.path, idle: Mutex::new(Vec::new()), keep: opts.readers }),
            stats,
        })
    }

    /// Opens `path` for reading only, beside the store that writes it (in this process or
    /// another): no lock, no migration, every write fails with [`StoreError::Closed`]. For
    /// inspection tools and tests; the database must have this build's schema.
    pub fn open_read_only(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let conn = open_reader(&path)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != MIGRATIONS.len() as i64 {
            return Err(StoreError::Database(format!(
                "{} has schema version {version}, this unidm reads version {}",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        Ok(SqliteStore {
            tx: Mutex::new(None),
            writer: Mutex::new(None),
            readers: Arc::new(ReaderPool { path, idle: Mutex::new(vec![conn]), keep: 2 }),
            stats: Arc::new(WriterStats::default()),
        })
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Stops accepting writes, commits what is queued and joins the writer.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// One writer per database file: a second store on it (a second `unidm serve`, say) would
/// hand out the same operation ids and keep its own map of device rows. An advisory lock on
/// `{database}.lock`, held by the writer thread until the store closes, refuses it.
fn lock_database(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let cannot = |e: std::io::Error| StoreError::Database(format!("cannot lock {}: {e}", lock_path.display()));
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Database(format!(
            "{} is in use by another unidm (its lock {} is held); stop that one or use another database",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "unidm_device_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(device_key(&ctx.get::<String>(0)?)),
    )?;
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}, newer than this unidm knows ({}); upgrade unidm",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied storage migration");
    }
    Ok(())
}

/// Where each device's row is: id → rowid of the committed rows.
#[derive(Debug, Default)]
struct DeviceRows(HashMap<Box<str>, i64>);

impl DeviceRows {
    /// Reads the map; a device found in more than one row (only a hand edit makes one) keeps
    /// its newest row and the others are deleted.
    fn load(conn: &Connection) -> Result<Self, StoreError> {
        let mut map = HashMap::new();
        let mut stale = Vec::new();
        {
            let mut stmt = conn.prepare("SELECT rowid, id FROM devices ORDER BY rowid")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (row, id): (i64, String) = (r.get(0)?, r.get(1)?);
                if let Some(old) = map.insert(id.into_boxed_str(), row) {
                    stale.push(old);
                }
            }
        }
        if !stale.is_empty() {
            tracing::warn!(rows = stale.len(), "deleting older duplicate device rows");
            let tx = conn.unchecked_transaction()?;
            for row in stale {
                tx.execute("DELETE FROM devices WHERE rowid = ?1", params![row])?;
            }
            tx.commit()?;
        }
        Ok(DeviceRows(map))
    }

    fn apply(&mut self, changes: RowChanges) {
        for (id, row) in changes.0 {
            match row {
                Some(row) => self.0.insert(id, row),
                None => self.0.remove(&id),
            };
        }
    }
}

/// Rows added or deleted by a transaction, or by one job in it, until it commits.
#[derive(Debug, Default)]
struct RowChanges(HashMap<Box<str>, Option<i64>>);

/// The device rows as a transaction sees them: committed, then its kept jobs, then the job
/// being applied.
struct Staged<'a> {
    committed: &'a DeviceRows,
    tx: RowChanges,
    job: RowChanges,
}

impl<'a> Staged<'a> {
    fn new(committed: &'a DeviceRows) -> Self {
        Staged { committed, tx: RowChanges::default(), job: RowChanges::default() }
    }

    fn row(&self, id: &str) -> Option<i64> {
        self.job.0.get(id).or_else(|| self.tx.0.get(id)).copied().unwrap_or_else(|| self.committed.0.get(id).copied())
    }

    fn set(&mut self, id: &str, row: Option<i64>) {
        self.job.0.insert(id.into(), row);
    }

    /// The job committed (with the transaction): its rows join the transaction's.
    fn keep_job(&mut self) {
        let job = std::mem::take(&mut self.job.0);
        self.tx.0.extend(job);
    }

    /// The job was rolled back.
    fn drop_job(&mut self) {
        self.job.0.clear();
    }
}

fn run_writer(
    mut conn: Connection,
    mut rows: DeviceRows,
    mut rx: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
    stats: &WriterStats,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut count = first.writes.len();
        let mut jobs = vec![first];
        while count < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.writes.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let results = commit(&mut conn, &mut rows, &jobs);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.writes.fetch_add(count as u64, Ordering::Relaxed);
        stats.commit_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        for (job, result) in jobs.into_iter().zip(results) {
            (job.done)(result);
        }
    }
}

/// Commits every job in one transaction. Each job is atomic: the fast path applies them all
/// and commits; if any write fails, the transaction is rolled back and redone with a savepoint
/// per job, so that the failing job is rolled back alone and the others still commit.
fn commit(conn: &mut Connection, rows: &mut DeviceRows, jobs: &[Job]) -> Vec<Result<(), StoreError>> {
    let mut staged = Staged::new(rows);
    let all_or_nothing = (|| -> Result<(), StoreError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        jobs.iter().flat_map(|j| &j.writes).try_for_each(|w| apply(&tx, &mut staged, w))?;
        Ok(tx.commit()?)
    })();
    match all_or_nothing {
        Ok(()) => {
            staged.keep_job();
            let changes = staged.tx;
            rows.apply(changes);
            jobs.iter().map(|_| Ok(())).collect()
        }
        Err(e) => {
            tracing::debug!(error = %e, jobs = jobs.len(), "batch failed; committing its jobs one by one");
            commit_each(conn, rows, jobs)
        }
    }
}

fn commit_each(conn: &mut Connection, rows: &mut DeviceRows, jobs: &[Job]) -> Vec<Result<(), StoreError>> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return jobs.iter().map(|_| Err(e.clone_error())).collect(),
    };
    let mut staged = Staged::new(rows);
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let r = if job.writes.len() > 1 {
            apply_atomically(&tx, &mut staged, &job.writes)
        } else {
            job.writes.iter().try_for_each(|w| apply(&tx, &mut staged, w))
        };
        match &r {
            Ok(()) => staged.keep_job(),
            Err(e) => {
                staged.drop_job();
                tracing::error!(error = %e, "store write failed");
            }
        }
        results.push(r);
    }
    match tx.commit() {
        Ok(()) => {
            let changes = staged.tx;
            rows.apply(changes);
            results
        }
        Err(e) => {
            tracing::error!(error = %e, "store commit failed");
            jobs.iter().map(|_| Err(e.clone_error())).collect()
        }
    }
}

fn apply_atomically(
    tx: &rusqlite::Transaction<'_>,
    staged: &mut Staged<'_>,
    writes: &[Write],
) -> Result<(), StoreError> {
    tx.execute_batch("SAVEPOINT job")?;
    match writes.iter().try_for_each(|w| apply(tx, staged, w)) {
        Ok(()) => {
            tx.execute_batch("RELEASE job")?;
            Ok(())
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

trait CloneError {
    fn clone_error(&self) -> StoreError;
}

impl CloneError for rusqlite::Error {
    fn clone_error(&self) -> StoreError {
        StoreError::Database(self.to_string())
    }
}

/// A new device's row, appended: its rowid is the largest yet.
fn insert_device(
    tx: &rusqlite::Transaction<'_>,
    staged: &mut Staged<'_>,
    id: &str,
    doc: &str,
    record: Option<&[u8]>,
) -> Result<usize, StoreError> {
    let n = tx
        .prepare_cached("INSERT INTO devices (id, doc, record) VALUES (?1, ?2, ?3)")?
        .execute(params![id, doc, record])?;
    staged.set(id, Some(tx.last_insert_rowid()));
    Ok(n)
}

fn apply(tx: &rusqlite::Transaction<'_>, staged: &mut Staged<'_>, w: &Write) -> Result<(), StoreError> {
    match w {
        // The row's record stays. An update that finds no row (the map and the table disagree,
        // which a hand edit can do) inserts, rather than losing the write.
        Write::PutDevice { id, doc } => match staged.row(id) {
            Some(row) => {
                match tx
                    .prepare_cached("UPDATE devices SET doc = ?2 WHERE rowid = ?1 AND id = ?3")?
                    .execute(params![row, doc, id])?
                {
                    0 => insert_device(tx, staged, id, doc, None)?,
                    n => n,
                }
            }
            None => insert_device(tx, staged, id, doc, None)?,
        },
        Write::PutDeviceWithRecord { id, doc, record } => match staged.row(id) {
            Some(row) => match tx
                .prepare_cached("UPDATE devices SET doc = ?2, record = ?3 WHERE rowid = ?1 AND id = ?4")?
                .execute(params![row, doc, record, id])?
            {
                0 => insert_device(tx, staged, id, doc, record.as_deref())?,
                n => n,
            },
            None => insert_device(tx, staged, id, doc, record.as_deref())?,
        },
        Write::DeleteDevice(id) => match staged.row(id) {
            Some(row) => {
                let n =
                    tx.prepare_cached("DELETE FROM devices WHERE rowid = ?1 AND id = ?2")?.execute(params![row, id])?;
                staged.set(id, None);
                n
            }
            None => 0,
        },
        Write::PutOperation { id, device, state, group_operation, doc, adapter_state, .. } => tx
            .prepare_cached(
                "INSERT OR REPLACE INTO operations (id, device, state, group_op, doc, adapter_state, device_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                *id as i64,
                device,
                state.as_str(),
                group_operation.map(|g| g as i64),
                doc,
                adapter_state,
                device_key(device)
            ])?,
        Write::PutGroupOperation { id, group, doc } => tx
            .prepare_cached("INSERT OR REPLACE INTO group_operations (id, grp, doc) VALUES (?1, ?2, ?3)")?
            .execute(params![*id as i64, group, doc])?,
        Write::PutGroup { id, doc } => {
            tx.prepare_cached("INSERT OR REPLACE INTO groups (id, doc) VALUES (?1, ?2)")?.execute(params![id, doc])?
        }
        Write::DeleteGroup(id) => tx.prepare_cached("DELETE FROM groups WHERE id = ?1")?.execute(params![id])?,
        Write::PutRule { id, doc } => {
            tx.prepare_cached("INSERT OR REPLACE INTO rules (id, doc) VALUES (?1, ?2)")?.execute(params![id, doc])?
        }
        Write::DeleteRule(id) => tx.prepare_cached("DELETE FROM rules WHERE id = ?1")?.execute(params![id])?,
        Write::PutState { namespace, key, value } => tx
            .prepare_cached("INSERT OR REPLACE INTO adapter_state (ns, key, value) VALUES (?1, ?2, ?3)")?
            .execute(params![namespace, key, value])?,
        Write::DeleteState { namespace, key } => tx
            .prepare_cached("DELETE FROM adapter_state WHERE ns = ?1 AND key = ?2")?
            .execute(params![namespace, key])?,
        // One node: no other node to tell, no owner to record.
        Write::Event(_) | Write::Own(_) => 0,
    };
    Ok(())
}

fn docs<T: serde::de::DeserializeOwned>(conn: &Connection, sql: &str, what: &str) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc) = row?;
        out.push(parse_doc(&doc, what, &id)?);
    }
    Ok(out)
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str, what: &str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("{what} `{id}`: {e}")))
}

#[async_trait]
impl Store for SqliteStore {
    fn stats(&self) -> Option<StoreStats> {
        let s = &self.stats;
        Some(StoreStats {
            commits: s.commits.load(Ordering::Relaxed),
            writes: s.writes.load(Ordering::Relaxed),
            commit_micros: s.commit_micros.load(Ordering::Relaxed),
        })
    }

    fn close(&self) {
        SqliteStore::close(self);
    }

    fn submit(&self, batch: Vec<Write>, done: Completion) {
        enqueue(&self.tx, batch, done);
    }

    async fn load_devices(&self) -> Result<Vec<Device>, StoreError> {
        self.read(|c| docs(c, "SELECT id, doc FROM devices", "device")).await
    }

    async fn get_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        self.read(move |c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM operations WHERE id = ?1")?
                .query_row(params![id.0 as i64], |r| r.get(0))
                .optional()?;
            doc.map(|d| parse_doc(&d, "operation", &id.to_string())).transpose()
        })
        .await
    }

    async fn list_operations(&self, q: OperationQuery) -> Result<Page<Operation>, StoreError> {
        self.read(move |c| {
            let mut clauses = Vec::new();
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(d) = &q.device {
                clauses.push("device_key = ? AND device = ?");
                let d = d.to_string();
                args.push(device_key(&d).into());
                args.push(d.into());
            }
            if let Some(s) = q.state {
                clauses.push("state = ?");
                args.push(s.as_str().to_owned().into());
            }
            if let Some(g) = q.group_operation {
                clauses.push("group_op = ?");
                args.push((g.0 as i64).into());
            }
            let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
            let total: i64 = c
                .prepare(&format!("SELECT count(*) FROM operations{filter}"))?
                .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            let mut page_args = args.clone();
            page_args.push((q.limit as i64).into());
            page_args.push((q.offset as i64).into());
            let mut stmt =
                c.prepare(&format!("SELECT id, doc FROM operations{filter} ORDER BY id DESC LIMIT ? OFFSET ?"))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(page_args.iter()), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let (id, doc) = row?;
                items.push(parse_doc(&doc, "operation", &id.to_string())?);
            }
            Ok(Page { items, total: total as usize })
        })
        .await
    }

    async fn unfinished_operations(&self) -> Result<Vec<Operation>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, doc, adapter_state FROM operations
                 WHERE state IN ('pending', 'dispatched', 'waiting', 'running') ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc, adapter_state) = row?;
                let mut op: Operation = parse_doc(&doc, "operation", &id.to_string())?;
                op.adapter_state = adapter_state;
                out.push(op);
            }
            Ok(out)
        })
        .await
    }

    async fn max_operation_id(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let max: i64 = c.query_row(
                "SELECT max(coalesce((SELECT max(id) FROM operations), 0), coalesce((SELECT max(id) FROM group_operations), 0))",
                [],
                |r| r.get(0),
            )?;
            Ok(max as u64)
        })
        .await
    }

    async fn load_group_operations(&self) -> Result<Vec<GroupOperation>, StoreError> {
        self.read(|c| docs(c, "SELECT CAST(id AS TEXT), doc FROM group_operations ORDER BY id", "group operation"))
            .await
    }

    async fn get_group_operation(&self, id: OperationId) -> Result<Option<GroupOperation>, StoreError> {
        self.read(move |c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM group_operations WHERE id = ?1")?
                .query_row(params![id.0 as i64], |r| r.get(0))
                .optional()?;
            doc.map(|d| parse_doc(&d, "group operation", &id.to_string())).transpose()
        })
        .await
    }

    async fn load_groups(&self) -> Result<Vec<Group>, StoreError> {
        self.read(|c| docs(c, "SELECT id, doc FROM groups", "group")).await
    }

    async fn load_rules(&self) -> Result<Vec<Rule>, StoreError> {
        self.read(|c| docs(c, "SELECT id, doc FROM rules", "rule")).await
    }

    async fn load_device_records(&self, protocol: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        // Ids are `protocol:native`; the range scan finds one protocol's without LIKE escaping.
        let (from, to) = (format!("{protocol}:"), format!("{protocol};"));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, record FROM devices WHERE id >= ?1 AND id < ?2 AND record IS NOT NULL ORDER BY id",
            )?;
            let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let ns = namespace.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT key, value FROM adapter_state WHERE ns = ?1 ORDER BY key")?;
            let rows = stmt.query_map(params![ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite::named;
    use crate::store::StoreExt;

    /// A store in a new directory whose inserts into `table` fail (`refused`) when `when`.
    fn refusing_store(table: &str, when: &str) -> (tempfile::TempDir, PathBuf, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = SqliteStore::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN {when}
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;"
            ))
            .unwrap();
        (dir, path, s)
    }

    /// (id, serial) of every device row, in row order: duplicates would show.
    fn device_rows(path: &Path) -> Vec<(String, Option<String>)> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT id, doc FROM devices ORDER BY rowid").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap();
        rows.map(|r| {
            let (id, doc) = r.unwrap();
            (id, serde_json::from_str::<Device>(&doc).unwrap().identity.serial)
        })
        .collect()
    }

    #[tokio::test]
    async fn device_rows_are_updated_in_place_across_rollbacks_deletes_and_reopens() {
        let (_dir, path, s) = refusing_store("adapter_state", "NEW.key = 'bad'");
        let bad = Write::PutState { namespace: "t".into(), key: "bad".into(), value: vec![] };
        s.write(vec![Write::device(&named("a", "1"))]).await.unwrap();
        // A job that inserts a device and then fails: the row is rolled back, and so is the
        // writer's note of where it is.
        let failed = s.write(vec![Write::device(&named("b", "1")), bad]).await;
        assert!(failed.is_err());
        s.write(vec![Write::device(&named("b", "2")), Write::device(&named("a", "2"))]).await.unwrap();
        s.write(vec![Write::device_with_record(&named("a", "3"), Some(b"r".to_vec()))]).await.unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:a".into(), Some("3".into())), ("lwm2m:b".into(), Some("2".into()))]);
        s.write(vec![Write::DeleteDevice("lwm2m:a".into())]).await.unwrap();
        s.write(vec![Write::device(&named("a", "4"))]).await.unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:b".into(), Some("2".into())), ("lwm2m:a".into(), Some("4".into()))]);
        assert!(s.load_device_records("lwm2m").await.unwrap().is_empty(), "the deleted row took its record");
        drop(s);

        let s = SqliteStore::open(&path).unwrap();
        s.write(vec![Write::device(&named("b", "5"))]).await.unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:b".into(), Some("5".into())), ("lwm2m:a".into(), Some("4".into()))]);
    }

    #[tokio::test]
    async fn duplicate_device_rows_keep_the_newest_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        for serial in ["old", "new"] {
            let doc = serde_json::to_string(&named("a", serial)).unwrap();
            conn.execute("INSERT INTO devices (id, doc) VALUES ('lwm2m:a', ?1)", params![doc]).unwrap();
        }
        drop(conn);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:a".into(), Some("new".into()))]);
        s.write(vec![Write::device(&named("a", "newer"))]).await.unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:a".into(), Some("newer".into()))]);
    }

    #[tokio::test]
    async fn a_version_2_database_is_migrated_with_its_devices_and_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(MIGRATIONS[0]).unwrap();
            tx.execute_batch(MIGRATIONS[1]).unwrap();
            tx.pragma_update(None, "user_version", 2).unwrap();
            for (n, record) in [("b", None), ("a", Some(b"r".to_vec()))] {
                let doc = serde_json::to_string(&named(n, "v2")).unwrap();
                tx.execute(
                    "INSERT INTO devices (id, doc, record) VALUES (?1, ?2, ?3)",
                    params![format!("lwm2m:{n}"), doc, record],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.load_devices().await.unwrap().len(), 2);
        assert_eq!(s.load_device_records("lwm2m").await.unwrap(), [("lwm2m:a".to_string(), b"r".to_vec())]);
        s.write(vec![Write::device(&named("a", "v3"))]).await.unwrap();
        assert_eq!(device_rows(&path), [("lwm2m:a".into(), Some("v3".into())), ("lwm2m:b".into(), Some("v2".into()))]);
        assert_eq!(s.load_device_records("lwm2m").await.unwrap().len(), 1, "a plain write keeps the record");
    }

    /// Migration 5: operations written by a version 4 database are found by device through the
    /// new key; two devices whose keys were equal would still be told apart by their ids.
    #[tokio::test]
    async fn a_version_4_database_gets_its_operations_keyed_by_device() {
        use unidm_models::{DeviceId, OperationState};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for m in &MIGRATIONS[..4] {
                tx.execute_batch(m).unwrap();
            }
            tx.pragma_update(None, "user_version", 4).unwrap();
            for (id, dev) in [(1u64, "a"), (2, "b"), (3, "a")] {
                let doc = serde_json::to_string(&crate::store::suite::op(id, dev, OperationState::Pending)).unwrap();
                tx.execute(
                    "INSERT INTO operations (id, device, state, doc) VALUES (?1, ?2, 'pending', ?3)",
                    params![id as i64, format!("lwm2m:{dev}"), doc],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let of = |dev: &str| OperationQuery {
            device: Some(DeviceId::lwm2m(dev).unwrap()),
            state: None,
            group_operation: None,
            offset: 0,
            limit: 10,
        };
        let ids = |p: Page<Operation>| p.items.iter().map(|o| o.id.0).collect::<Vec<_>>();
        assert_eq!(ids(s.list_operations(of("a")).await.unwrap()), [3, 1]);
        assert_eq!(ids(s.list_operations(of("b")).await.unwrap()), [2]);
        s.write(vec![Write::operation(&crate::store::suite::op(4, "b", OperationState::Pending))]).await.unwrap();
        assert_eq!(ids(s.list_operations(of("b")).await.unwrap()), [4, 2]);
        // Equal keys are still told apart by the id (rows forced onto one key).
        Connection::open(&path).unwrap().execute("UPDATE operations SET device_key = 7", []).unwrap();
        assert_eq!(s.list_operations(of("a")).await.unwrap().total, 0, "the key is checked");
        let plan: String = Connection::open(&path)
            .unwrap()
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM operations WHERE device_key = 1 AND device = 'x' ORDER BY id DESC",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("operations_by_device_key"), "{plan}");
        assert_ne!(device_key("lwm2m:a"), device_key("lwm2m:b"));
        assert_eq!(device_key("lwm2m:a"), device_key("lwm2m:a"));
    }

    #[tokio::test]
    async fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let first = SqliteStore::open(&path).unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("in use by another unidm"), "{err}");
        // A reader is welcome beside the writer, and cannot write.
        first.write(vec![Write::device(&named("a", "1"))]).await.unwrap();
        let reader = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(reader.load_devices().await.unwrap().len(), 1);
        assert!(matches!(reader.write(vec![Write::device(&named("b", "1"))]).await, Err(StoreError::Closed)));
        first.close();
        let again = SqliteStore::open(&path).unwrap();
        drop(again);
        drop(first);
        SqliteStore::open(&path).expect("dropping a store releases the file too");
    }

    #[tokio::test]
    async fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
