//! What every [`Store`] must do, written once and run against each store (`SqliteStore`,
//! `PostgresStore`; see `core/tests/store_suite.rs`): a store's tests implement
//! [`TestDatabase`] and invoke [`store_suite!`](crate::store_suite) with it.
//!
//! Each check panics, naming what went wrong, when the store misbehaves.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use unidm_models::{
    Action, Device, DeviceId, Group, GroupOperation, Operation, OperationId, OperationState, RetryPolicy, Rule,
    Timestamp, Trigger,
};

use super::{OperationQuery, Store, StoreError, StoreExt, Write};

/// A database for one check, empty when made.
#[async_trait]
pub trait TestDatabase: Send + Sync {
    /// Opens a store on this database; opened again after a close, it holds the same data.
    async fn open(&self) -> Arc<dyn Store>;
    /// From now on, inserting the device `id` fails (a trigger), so that a job writing it fails.
    async fn refuse_device(&self, id: &str);
}

/// One test per check of this module, each on a new database from `$fresh`: an async
/// expression giving `Option<impl TestDatabase>`, `None` when the database's server is not
/// installed here (the check is skipped; the harness says so).
#[macro_export]
macro_rules! store_suite {
    ($fresh:expr) => {
        $crate::store_suite!(@cases $fresh;
            writes_survive_reopen,
            device_records_are_listed_per_protocol_and_kept_by_plain_device_writes,
            a_failing_job_is_rolled_back_alone,
            concurrent_batches_share_commits_and_keep_order,
            listings_filter_and_page,
            deletes_remove_what_they_name,
            a_key_written_twice_in_one_commit_keeps_the_last_write,
            closed_store_fails_writes,
        );
    };
    (@cases $fresh:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(db) = $fresh.await else { return };
                $crate::store::suite::$case(&db).await;
            }
        )*
    };
}

pub(crate) fn op(id: u64, dev: &str, state: OperationState) -> Operation {
    let mut op = Operation::new(
        OperationId(id),
        DeviceId::lwm2m(dev).unwrap(),
        Action::Reboot,
        RetryPolicy::default(),
        Timestamp(0),
    );
    op.state = state;
    op
}

pub(crate) fn named(n: &str, serial: &str) -> Device {
    let mut d = Device::new(DeviceId::lwm2m(n).unwrap(), Timestamp(1));
    d.identity.serial = Some(serial.into());
    d
}

fn group(id: &str) -> Group {
    Group { id: id.into(), description: None, members: Default::default(), selector: None, created_at: Timestamp(0) }
}

fn rule(id: &str) -> Rule {
    Rule {
        id: id.into(),
        description: None,
        selector: Default::default(),
        triggers: vec![Trigger::Boot],
        actions: vec![Action::Reboot],
        enabled: true,
        created_at: Timestamp(0),
    }
}

async fn serials(s: &dyn Store) -> Vec<(String, Option<String>)> {
    let mut out: Vec<_> =
        s.load_devices().await.unwrap().into_iter().map(|d| (d.id.to_string(), d.identity.serial)).collect();
    out.sort();
    out
}

/// Devices, operations and adapter state written, the store closed and opened again: all there.
pub async fn writes_survive_reopen(db: &dyn TestDatabase) {
    let s = db.open().await;
    s.write(vec![Write::device(&named("a", "1")), Write::operation(&op(1, "a", OperationState::Pending))])
        .await
        .unwrap();
    s.write(vec![Write::operation(&op(2, "a", OperationState::Succeeded))]).await.unwrap();
    s.write(vec![Write::PutState { namespace: "lwm2m".into(), key: "k".into(), value: b"v".to_vec() }]).await.unwrap();
    s.write(vec![Write::device(&named("a", "2"))]).await.unwrap();
    s.close();
    drop(s);

    let s = db.open().await;
    assert_eq!(serials(s.as_ref()).await, [("lwm2m:a".to_owned(), Some("2".to_owned()))], "one device, its last write");
    let unfinished = s.unfinished_operations().await.unwrap();
    assert_eq!(unfinished.iter().map(|o| o.id.0).collect::<Vec<_>>(), [1]);
    assert_eq!(s.max_operation_id().await.unwrap(), 2);
    assert_eq!(s.load_state("lwm2m").await.unwrap(), [("k".to_string(), b"v".to_vec())]);
    let page = s
        .list_operations(OperationQuery { device: Some(DeviceId::lwm2m("a").unwrap()), limit: 1, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, OperationId(2), "newest first");
}

/// An adapter's record of a device is listed by protocol, kept by a plain device write and
/// cleared by a write of `None`.
pub async fn device_records_are_listed_per_protocol_and_kept_by_plain_device_writes(db: &dyn TestDatabase) {
    let s = db.open().await;
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
    assert!(s.load_device_records("lwm2").await.unwrap().is_empty(), "a protocol is matched whole");
    s.write(vec![Write::device_with_record(&lw, None)]).await.unwrap();
    assert!(s.load_device_records("lwm2m").await.unwrap().is_empty());
    assert_eq!(s.load_devices().await.unwrap().len(), 3);
}

/// Three jobs submitted back to back (one transaction, likely): the middle one fails, and it
/// alone is rolled back, all of it.
pub async fn a_failing_job_is_rolled_back_alone(db: &dyn TestDatabase) {
    let s = db.open().await;
    db.refuse_device("lwm2m:bad").await;
    let state = |k: &str| Write::PutState { namespace: "t".into(), key: k.into(), value: b"v".to_vec() };
    let device = |n: &str| Write::device(&named(n, "1"));
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
    assert_eq!(serials(s.as_ref()).await, [("lwm2m:a".into(), Some("1".into())), ("lwm2m:c".into(), Some("1".into()))]);
    // Written again, they are updated, not added twice.
    s.write(vec![Write::device(&named("c", "2")), Write::device(&named("a", "2"))]).await.unwrap();
    assert_eq!(serials(s.as_ref()).await, [("lwm2m:a".into(), Some("2".into())), ("lwm2m:c".into(), Some("2".into()))]);
}

/// 500 batches submitted at once: completions run in submission order, and the store commits
/// them in fewer transactions than batches.
pub async fn concurrent_batches_share_commits_and_keep_order(db: &dyn TestDatabase) {
    let s = db.open().await;
    let before = s.stats().map_or(0, |st| st.commits);
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
    if let Some(stats) = s.stats() {
        assert!(stats.commits - before < 500, "batches were grouped: {} commits", stats.commits - before);
        assert!(stats.writes >= 500, "{stats:?}");
    }
    assert_eq!(s.max_operation_id().await.unwrap(), 500);
    // The last write of an operation wins.
    s.write(vec![Write::operation(&op(7, "a", OperationState::Succeeded))]).await.unwrap();
    assert_eq!(s.get_operation(OperationId(7)).await.unwrap().unwrap().state, OperationState::Succeeded);
    assert!(s.get_operation(OperationId(501)).await.unwrap().is_none());
}

/// Operations listed by device, state and group operation, newest first, paged with the total;
/// group operations, groups and rules read back.
pub async fn listings_filter_and_page(db: &dyn TestDatabase) {
    let s = db.open().await;
    let group_op = GroupOperation {
        id: OperationId(100),
        group: "g".into(),
        action: Action::Reboot,
        concurrency: 1,
        members: (21..=30).map(OperationId).collect(),
        cancelled: false,
        created_at: Timestamp(0),
    };
    let mut writes = vec![Write::group_operation(&group_op)];
    for i in 1..=30u64 {
        let mut o = op(
            i,
            if i % 3 == 0 { "b" } else { "a" },
            if i % 2 == 0 { OperationState::Succeeded } else { OperationState::Pending },
        );
        if i > 20 {
            o.group_operation = Some(OperationId(100));
        }
        writes.push(Write::operation(&o));
    }
    writes.push(Write::group(&group("g")));
    writes.push(Write::rule(&rule("r")));
    s.write(writes).await.unwrap();
    let list = |q: OperationQuery| {
        let s = s.clone();
        async move {
            let p = s.list_operations(q).await.unwrap();
            (p.total, p.items.iter().map(|o| o.id.0).collect::<Vec<_>>())
        }
    };
    assert_eq!(list(OperationQuery { limit: 3, ..Default::default() }).await, (30, vec![30, 29, 28]));
    assert_eq!(list(OperationQuery { limit: 3, offset: 28, ..Default::default() }).await, (30, vec![2, 1]));
    let b = Some(DeviceId::lwm2m("b").unwrap());
    assert_eq!(list(OperationQuery { device: b.clone(), limit: 2, ..Default::default() }).await, (10, vec![30, 27]));
    let succeeded = Some(OperationState::Succeeded);
    assert_eq!(
        list(OperationQuery { device: b, state: succeeded, limit: 50, ..Default::default() }).await,
        (5, vec![30, 24, 18, 12, 6])
    );
    let group = Some(OperationId(100));
    assert_eq!(
        list(OperationQuery { group_operation: group, state: succeeded, limit: 50, ..Default::default() }).await,
        (5, vec![30, 28, 26, 24, 22])
    );
    assert_eq!(s.max_operation_id().await.unwrap(), 100, "group operations count");
    assert_eq!(s.load_group_operations().await.unwrap().len(), 1);
    assert_eq!(s.get_group_operation(OperationId(100)).await.unwrap().unwrap().group, "g");
    assert!(s.get_group_operation(OperationId(1)).await.unwrap().is_none());
    assert_eq!(s.load_groups().await.unwrap()[0].id, "g");
    assert_eq!(s.load_rules().await.unwrap()[0].id, "r");
}

/// Deleting a device, a group, a rule or a state value removes just that.
pub async fn deletes_remove_what_they_name(db: &dyn TestDatabase) {
    let s = db.open().await;
    let state = |k: &str| Write::PutState { namespace: "ns".into(), key: k.into(), value: k.as_bytes().to_vec() };
    s.write(vec![
        Write::device_with_record(&named("a", "1"), Some(b"r".to_vec())),
        Write::device(&named("b", "1")),
        Write::group(&group("g1")),
        Write::group(&group("g2")),
        Write::rule(&rule("r1")),
        Write::rule(&rule("r2")),
        state("k1"),
        state("k2"),
        Write::PutState { namespace: "other".into(), key: "k1".into(), value: vec![] },
    ])
    .await
    .unwrap();
    s.write(vec![
        Write::DeleteDevice("lwm2m:a".into()),
        Write::DeleteGroup("g1".into()),
        Write::DeleteRule("r2".into()),
        Write::DeleteState { namespace: "ns".into(), key: "k1".into() },
        // Deleting what is not there is no error.
        Write::DeleteDevice("lwm2m:none".into()),
    ])
    .await
    .unwrap();
    assert_eq!(serials(s.as_ref()).await, [("lwm2m:b".into(), Some("1".into()))]);
    assert!(s.load_device_records("lwm2m").await.unwrap().is_empty(), "the device took its record");
    assert_eq!(s.load_groups().await.unwrap().iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["g2"]);
    assert_eq!(s.load_rules().await.unwrap().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r1"]);
    assert_eq!(s.load_state("ns").await.unwrap(), [("k2".to_string(), b"k2".to_vec())]);
    assert_eq!(s.load_state("other").await.unwrap().len(), 1);
    // A device deleted and written again is there once.
    s.write(vec![Write::device(&named("a", "2"))]).await.unwrap();
    assert_eq!(serials(s.as_ref()).await, [("lwm2m:a".into(), Some("2".into())), ("lwm2m:b".into(), Some("1".into()))]);
}

/// One batch that writes a device, an operation and a state value several times, between
/// other writes and a delete: the last write of each wins, in submission order.
pub async fn a_key_written_twice_in_one_commit_keeps_the_last_write(db: &dyn TestDatabase) {
    let s = db.open().await;
    let state = |v: &str| Write::PutState { namespace: "ns".into(), key: "k".into(), value: v.as_bytes().to_vec() };
    s.write(vec![
        Write::device(&named("a", "1")),
        Write::device(&named("b", "1")),
        Write::device(&named("a", "2")),
        Write::operation(&op(1, "a", OperationState::Pending)),
        Write::operation(&op(2, "a", OperationState::Pending)),
        Write::operation(&op(1, "a", OperationState::Running)),
        state("1"),
        state("2"),
        Write::device_with_record(&named("c", "1"), Some(b"r1".to_vec())),
        Write::device_with_record(&named("c", "2"), None),
        Write::device_with_record(&named("c", "3"), Some(b"r3".to_vec())),
        Write::DeleteDevice("lwm2m:b".into()),
        Write::device(&named("b", "2")),
        Write::operation(&op(1, "a", OperationState::Succeeded)),
    ])
    .await
    .unwrap();
    assert_eq!(
        serials(s.as_ref()).await,
        [
            ("lwm2m:a".into(), Some("2".into())),
            ("lwm2m:b".into(), Some("2".into())),
            ("lwm2m:c".into(), Some("3".into()))
        ]
    );
    assert_eq!(s.load_device_records("lwm2m").await.unwrap(), [("lwm2m:c".to_string(), b"r3".to_vec())]);
    assert_eq!(s.get_operation(OperationId(1)).await.unwrap().unwrap().state, OperationState::Succeeded);
    assert_eq!(s.unfinished_operations().await.unwrap().iter().map(|o| o.id.0).collect::<Vec<_>>(), [2]);
    assert_eq!(s.load_state("ns").await.unwrap(), [("k".to_string(), b"2".to_vec())]);
}

/// After `close`, a write fails with [`StoreError::Closed`].
pub async fn closed_store_fails_writes(db: &dyn TestDatabase) {
    let s = db.open().await;
    s.write(vec![Write::device(&named("a", "1"))]).await.unwrap();
    s.close();
    assert!(matches!(s.write(vec![Write::device(&named("b", "1"))]).await, Err(StoreError::Closed)));
}
