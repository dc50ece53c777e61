//! The default store: one SQLite file in WAL mode, one writer thread with group commit, a small
//! pool of reader connections.
//!
//! Durability: `synchronous = FULL` by default, so a batch's completion runs only after its
//! transaction is on disk. Every batch queued while a commit is in progress joins the next
//! transaction, so a burst of N writers costs one fsync, not N.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::mpsc;
use unidm_models::{Device, Group, GroupOperation, Operation, OperationId, Rule};

use super::{Completion, OperationQuery, Page, Store, StoreError, Write};

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
];

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

struct Job {
    writes: Vec<Write>,
    done: Completion,
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
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
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
        let mut conn = Connection::open(&opts.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!("could not enable WAL (journal_mode = {mode})")));
        }
        conn.pragma_update(None, "synchronous", if opts.durable { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;

        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let writer_stats = stats.clone();
        let max_batch = opts.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("unidm-sqlite-writer".into())
            .spawn(move || run_writer(conn, rx, max_batch, &writer_stats))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(ReaderPool { path: opts.path, idle: Mutex::new(Vec::new()), keep: opts.readers }),
            stats,
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

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

fn run_writer(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, max_batch: usize, stats: &WriterStats) {
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
        let results = commit(&mut conn, &jobs);
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
fn commit(conn: &mut Connection, jobs: &[Job]) -> Vec<Result<(), StoreError>> {
    let all_or_nothing = (|| -> Result<(), StoreError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        jobs.iter().flat_map(|j| &j.writes).try_for_each(|w| apply(&tx, w))?;
        Ok(tx.commit()?)
    })();
    match all_or_nothing {
        Ok(()) => jobs.iter().map(|_| Ok(())).collect(),
        Err(e) => {
            tracing::debug!(error = %e, jobs = jobs.len(), "batch failed; committing its jobs one by one");
            commit_each(conn, jobs)
        }
    }
}

fn commit_each(conn: &mut Connection, jobs: &[Job]) -> Vec<Result<(), StoreError>> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return jobs.iter().map(|_| Err(e.clone_error())).collect(),
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let r = if job.writes.len() > 1 {
            apply_atomically(&tx, &job.writes)
        } else {
            job.writes.iter().try_for_each(|w| apply(&tx, w))
        };
        if let Err(e) = &r {
            tracing::error!(error = %e, "store write failed");
        }
        results.push(r);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => {
            tracing::error!(error = %e, "store commit failed");
            jobs.iter().map(|_| Err(e.clone_error())).collect()
        }
    }
}

fn apply_atomically(tx: &rusqlite::Transaction<'_>, writes: &[Write]) -> Result<(), StoreError> {
    tx.execute_batch("SAVEPOINT job")?;
    match writes.iter().try_for_each(|w| apply(tx, w)) {
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

fn apply(tx: &rusqlite::Transaction<'_>, w: &Write) -> Result<(), StoreError> {
    match w {
        // An upsert, not INSERT OR REPLACE: the row's record stays.
        Write::PutDevice { id, doc } => tx
            .prepare_cached(
                "INSERT INTO devices (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
            )?
            .execute(params![id, doc])?,
        Write::PutDeviceWithRecord { id, doc, record } => tx
            .prepare_cached(
                "INSERT INTO devices (id, doc, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, record = excluded.record",
            )?
            .execute(params![id, doc, record])?,
        Write::DeleteDevice(id) => tx.prepare_cached("DELETE FROM devices WHERE id = ?1")?.execute(params![id])?,
        Write::PutOperation { id, device, state, group_operation, doc } => tx
            .prepare_cached(
                "INSERT OR REPLACE INTO operations (id, device, state, group_op, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![*id as i64, device, state.as_str(), group_operation.map(|g| g as i64), doc])?,
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
    fn submit(&self, batch: Vec<Write>, done: Completion) {
        let job = Job { writes: batch, done };
        let sent = match self.tx.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => tx.send(job).map_err(|e| e.0),
                None => Err(job),
            },
            Err(_) => Err(job),
        };
        if let Err(job) = sent {
            (job.done)(Err(StoreError::Closed));
        }
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
                clauses.push("device = ?");
                args.push(d.to_string().into());
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
            docs(
                c,
                "SELECT CAST(id AS TEXT), doc FROM operations WHERE state IN ('pending', 'dispatched', 'running') ORDER BY id",
                "operation",
            )
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
    use crate::store::StoreExt;
    use unidm_models::{Action, DeviceId, OperationState, RetryPolicy, Timestamp};

    fn op(id: u64, dev: &str, state: OperationState) -> Operation {
        Operation {
            id: OperationId(id),
            device: DeviceId::lwm2m(dev).unwrap(),
            action: Action::Reboot,
            state,
            progress: None,
            result: None,
            error: None,
            attempts: 0,
            retry: RetryPolicy::default(),
            not_before: None,
            deadline: None,
            group_operation: None,
            rule: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[tokio::test]
    async fn a_failing_job_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = SqliteStore::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON devices WHEN NEW.id = 'lwm2m:bad'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let state = |k: &str| Write::PutState { namespace: "t".into(), key: k.into(), value: b"v".to_vec() };
        let device = |n: &str| Write::device(&Device::new(DeviceId::lwm2m(n).unwrap(), Timestamp(1)));
        // Submitted back to back, so that the writer is likely to take them as one batch.
        let mut waits = Vec::new();
        for batch in [vec![state("a"), device("a")], vec![state("bad"), device("bad")], vec![state("c"), device("c")]] {
            let (tx, rx) = tokio::sync::oneshot::channel();
            s.submit(batch, Box::new(move |r| drop(tx.send(r))));
            waits.push(rx);
        }
        let mut results = Vec::new();
        for w in waits {
            results.push(w.await.unwrap());
        }
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(matches!(&results[1], Err(StoreError::Database(m)) if m.contains("refused")), "{results:?}");
        let keys: Vec<String> = s.load_state("t").await.unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "c"], "the failing job's other write is rolled back with it");
        let mut ids: Vec<String> = s.load_devices().await.unwrap().into_iter().map(|d| d.id.to_string()).collect();
        ids.sort();
        assert_eq!(ids, ["lwm2m:a", "lwm2m:c"]);
    }

    #[tokio::test]
    async fn device_records_are_listed_per_protocol_and_kept_by_plain_device_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("t.db")).unwrap();
        let lw = Device::new(DeviceId::lwm2m("a").unwrap(), Timestamp(1));
        let lw2 = Device::new(DeviceId::lwm2m("b").unwrap(), Timestamp(1));
        let cwmp = Device::new("tr069:00D09E-X-1".parse().unwrap(), Timestamp(1));
        s.write(vec![
            Write::device_with_record(&lw, Some(b"r1".to_vec())),
            Write::device(&lw2),
            Write::device_with_record(&cwmp, Some(b"r2".to_vec())),
        ])
        .await
        .unwrap();
        s.write(vec![Write::device(&lw)]).await.unwrap();
        assert_eq!(s.load_device_records("lwm2m").await.unwrap(), [("lwm2m:a".to_string(), b"r1".to_vec())]);
        assert_eq!(s.load_device_records("tr069").await.unwrap(), [("tr069:00D09E-X-1".to_string(), b"r2".to_vec())]);
        s.write(vec![Write::device_with_record(&lw, None)]).await.unwrap();
        assert!(s.load_device_records("lwm2m").await.unwrap().is_empty());
        assert_eq!(s.load_devices().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn writes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            let d = Device::new(DeviceId::lwm2m("a").unwrap(), Timestamp(1));
            s.write(vec![Write::device(&d), Write::operation(&op(1, "a", OperationState::Pending))]).await.unwrap();
            s.write(vec![Write::operation(&op(2, "a", OperationState::Succeeded))]).await.unwrap();
            s.write(vec![Write::PutState { namespace: "lwm2m".into(), key: "k".into(), value: b"v".to_vec() }])
                .await
                .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.load_devices().await.unwrap().len(), 1);
        let unfinished = s.unfinished_operations().await.unwrap();
        assert_eq!(unfinished.iter().map(|o| o.id.0).collect::<Vec<_>>(), [1]);
        assert_eq!(s.max_operation_id().await.unwrap(), 2);
        assert_eq!(s.load_state("lwm2m").await.unwrap(), [("k".to_string(), b"v".to_vec())]);
        let page = s
            .list_operations(OperationQuery {
                device: Some(DeviceId::lwm2m("a").unwrap()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].id, OperationId(2), "newest first");
    }

    #[tokio::test]
    async fn concurrent_batches_share_commits_and_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(SqliteStore::open(dir.path().join("t.db")).unwrap());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waits = Vec::new();
        for i in 0..500u64 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let order = order.clone();
            s.submit(
                vec![Write::operation(&op(i + 1, "a", OperationState::Pending))],
                Box::new(move |r| {
                    order.lock().unwrap().push(i);
                    let _ = tx.send(r);
                }),
            );
            waits.push(rx);
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..500).collect::<Vec<_>>());
        assert!(s.stats().commits.load(Ordering::Relaxed) < 500, "batches were grouped");
        assert_eq!(s.max_operation_id().await.unwrap(), 500);
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

    #[tokio::test]
    async fn closed_store_fails_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("t.db")).unwrap();
        s.close();
        assert!(matches!(s.write(vec![]).await, Err(StoreError::Closed)));
    }
}
