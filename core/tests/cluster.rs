//! Several engines (nodes) on one PostgreSQL database: devices owned by the node with their
//! session, operations handed to it from any node, events on every node, cancels across
//! nodes, group operations spanning nodes and taken over when their node leaves. The server
//! is the test's own (`unidm_testkit::postgres`); skipped with a notice when PostgreSQL is not
//! installed, unless `UNIDM_REQUIRE_POSTGRES=1`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{dev, Mode, TestAdapter};
use tokio::sync::mpsc;
use unidm_core::{
    AdapterHandle, Contact, CreateOptions, Engine, PostgresOptions, PostgresStore, Received, Subscription,
};
use unidm_models::{Action, Event, Group, Operation, OperationId, OperationState};
use unidm_testkit::postgres::TempPostgres;

struct Node {
    engine: Engine,
    adapter: Arc<TestAdapter>,
    submitted: mpsc::UnboundedReceiver<Operation>,
}

impl Node {
    fn handle(&self) -> &AdapterHandle {
        self.adapter.handle()
    }

    /// The next operation this node's adapter is given.
    async fn next_submitted(&mut self) -> Operation {
        tokio::time::timeout(Duration::from_secs(10), self.submitted.recv()).await.expect("submitted in time").unwrap()
    }
}

async fn node(url: &str, name: &str, mode: Mode) -> Node {
    node_of(url, name, mode, unidm_models::Protocol::Lwm2m).await
}

async fn node_of(url: &str, name: &str, mode: Mode, protocol: unidm_models::Protocol) -> Node {
    let mut opts = PostgresOptions::new(url);
    opts.node = name.to_owned();
    opts.lease = Duration::from_secs(1);
    let store = PostgresStore::connect(opts).await.unwrap();
    let (adapter, submitted) = TestAdapter::for_protocol(mode, protocol);
    let engine = Engine::builder().store(store).adapter_arc(adapter.clone()).start().await.unwrap();
    Node { engine, adapter, submitted }
}

/// Waits until every node sees every other alive (a node's events go to the nodes it knows
/// alive).
async fn settle(nodes: &[&Node]) {
    eventually("every node sees the others alive", || {
        nodes.iter().all(|n| {
            let status = n.engine.cluster_status().unwrap();
            status.nodes.iter().filter(|s| s.alive).count() == nodes.len()
        })
    })
    .await;
}

async fn database() -> Option<(TempPostgres, String)> {
    let server = TempPostgres::start()?;
    let url = server.create_database("t");
    Some((server, url))
}

async fn contact(n: &Node, name: &str) -> unidm_models::DeviceId {
    let id = dev(name);
    n.handle().device_contact(&id, Contact { lifetime_s: Some(600), ..Contact::online() }, |_| {}).await.unwrap();
    id
}

/// Waits until `check` holds (the feed is asynchronous).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting: {what}");
}

/// The next change of operation `id` seen by `sub`.
async fn op_event(sub: &mut Subscription, id: OperationId, state: OperationState) -> Operation {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.expect("event in time") {
            Some(Received::Event(Event::OperationChanged { operation }))
                if operation.id == id && operation.state == state =>
            {
                return *operation
            }
            Some(_) => continue,
            None => panic!("bus closed"),
        }
    }
}

#[tokio::test]
async fn an_operation_created_on_any_node_runs_on_the_node_with_the_device_s_session() {
    let Some((_pg, url)) = database().await else { return };
    let mut a = node(&url, "a", Mode::Record).await;
    let b = node(&url, "b", Mode::Record).await;
    settle(&[&a, &b]).await;
    let mut events_b = b.engine.subscribe();
    let id = contact(&a, "ep-a").await;
    // Node b learns of the device from the feed, and lists it.
    eventually("b knows the device", || b.engine.device(&id).is_ok()).await;

    let op = b.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    let given = a.next_submitted().await;
    assert_eq!(given.id, op.id, "the owner's adapter runs it");
    assert!(b.submitted.is_empty(), "node b does not run it");
    a.handle().operation_succeeded(op.id, None).await.unwrap();

    // Node b's subscribers see the outcome, and b reads it.
    op_event(&mut events_b, op.id, OperationState::Succeeded).await;
    assert_eq!(b.engine.operation(op.id).await.unwrap().state, OperationState::Succeeded);
    // Ran once: a change of b's read back late does not hand it to a's adapter again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.adapter.submitted_ids(), vec![op.id]);
    assert_eq!(b.engine.operation(op.id).await.unwrap().state, OperationState::Succeeded);
    let status = b.engine.cluster_status().unwrap();
    assert_eq!(status.node, "b");
    assert_eq!(status.nodes.iter().filter(|n| n.alive).count(), 2, "{status:?}");
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn operation_ids_are_unique_across_nodes() {
    let Some((_pg, url)) = database().await else { return };
    let a = node(&url, "a", Mode::Record).await;
    let b = node(&url, "b", Mode::Record).await;
    let id = contact(&a, "ep").await;
    eventually("b knows the device", || b.engine.device(&id).is_ok()).await;
    let mut seen = HashSet::new();
    for _ in 0..300 {
        let (x, y) = tokio::join!(
            a.engine.create_operation(&id, Action::Reboot, CreateOptions::default()),
            b.engine.create_operation(&id, Action::Reboot, CreateOptions::default())
        );
        assert!(seen.insert(x.unwrap().id));
        assert!(seen.insert(y.unwrap().id));
    }
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn a_device_that_moves_takes_its_operations_and_the_old_node_is_fenced() {
    let Some((_pg, url)) = database().await else { return };
    let mut a = node(&url, "a", Mode::Record).await;
    let mut b = node(&url, "b", Mode::Record).await;
    let id = contact(&a, "mover").await;
    let op = a.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    assert_eq!(a.next_submitted().await.id, op.id);

    // The device's session moves to b (a balancer sent it there; it registered again).
    eventually("b knows the device", || b.engine.device(&id).is_ok()).await;
    contact(&b, "mover").await;
    let resumed = b.next_submitted().await;
    assert_eq!(resumed.id, op.id);
    assert_eq!(resumed.attempts, 1, "the interrupted attempt resumes; it is not a new one");
    eventually("a lets go and tells its adapter", || a.adapter.cancelled.lock().unwrap().contains(&op.id)).await;

    // A late outcome from the old node is refused by the store; the new owner's stands.
    let late = a
        .handle()
        .operation_failed(op.id, unidm_models::OperationError::new(unidm_models::ErrorKind::DeviceRefused, "late"));
    assert!(late.await.is_err(), "node a no longer holds the operation");
    b.handle().operation_succeeded(op.id, None).await.unwrap();
    assert_eq!(a.engine.operation(op.id).await.unwrap().state, OperationState::Succeeded);
    assert!(a.submitted.is_empty());
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn a_cancel_on_another_node_reaches_the_holder() {
    let Some((_pg, url)) = database().await else { return };
    let mut a = node(&url, "a", Mode::Record).await;
    let b = node(&url, "b", Mode::Record).await;
    let id = contact(&a, "c1").await;
    let op = a.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    a.next_submitted().await;
    let cancelled = b.engine.cancel_operation(op.id).await.unwrap();
    assert_eq!(cancelled.state, OperationState::Cancelled);
    eventually("a's adapter is told", || a.adapter.cancelled.lock().unwrap().contains(&op.id)).await;
    // Cancelling again is a conflict on either node.
    assert!(matches!(b.engine.cancel_operation(op.id).await, Err(unidm_core::CoreError::Conflict(_))));
    assert!(matches!(a.engine.cancel_operation(op.id).await, Err(unidm_core::CoreError::Conflict(_))));
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn a_group_operation_spans_nodes_and_survives_the_node_running_it() {
    let Some((_pg, url)) = database().await else { return };
    let a = node(&url, "a", Mode::AutoComplete).await;
    let b = node(&url, "b", Mode::AutoComplete).await;
    let c = node(&url, "c", Mode::Record).await;
    settle(&[&a, &b, &c]).await;
    let mut members = Vec::new();
    for i in 0..20 {
        let owner = if i % 2 == 0 { &a } else { &b };
        members.push(contact(owner, &format!("g{i:02}")).await);
    }
    let group = Group {
        id: "fleet".into(),
        members: members.iter().cloned().collect(),
        selector: None,
        description: None,
        created_at: a.engine.now(),
    };
    eventually("c knows every device", || members.iter().all(|m| c.engine.device(m).is_ok())).await;
    c.engine.put_group(group).await.unwrap();
    eventually("a knows the group", || a.engine.group("fleet").is_ok()).await;

    // Node c runs the group operation, two members at a time, and leaves half way.
    let gop = c.engine.start_group_operation("fleet", Action::Reboot, Some(2), CreateOptions::default()).await.unwrap();
    let mut events_a = a.engine.subscribe();
    loop {
        let view = a.engine.group_operation(gop.id).await.unwrap();
        if view.aggregate.counts.get("succeeded").copied().unwrap_or(0) >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.engine.shutdown().await;

    // The leader (a or b) takes the group operation over and finishes it.
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events_a.recv().await {
                Some(Received::Event(Event::GroupOperationChanged { id, aggregate }))
                    if id == gop.id && aggregate.done =>
                {
                    return aggregate
                }
                Some(_) => {}
                None => panic!("bus closed"),
            }
        }
    })
    .await
    .expect("the group operation finishes");
    assert_eq!(done.total, 20);
    let view = a.engine.group_operation(gop.id).await.unwrap();
    assert_eq!(view.aggregate.counts.get("succeeded"), Some(&20), "{:?}", view.aggregate.counts);
    // Every member ran once: on the node with its device, never on the other.
    let mut ran = a.adapter.submitted_ids();
    ran.extend(b.adapter.submitted_ids());
    let distinct: HashSet<_> = ran.iter().copied().collect();
    assert_eq!((ran.len(), distinct.len()), (20, 20), "each member ran exactly once");
    assert!(a.adapter.max_in_flight.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn a_group_operation_is_cancelled_from_a_node_that_does_not_run_it() {
    let Some((_pg, url)) = database().await else { return };
    let a = node(&url, "a", Mode::Record).await;
    let b = node(&url, "b", Mode::Record).await;
    let mut members = std::collections::BTreeSet::new();
    for i in 0..6 {
        members.insert(contact(if i % 2 == 0 { &a } else { &b }, &format!("x{i}")).await);
    }
    let group = Group {
        id: "g".into(),
        members: members.clone(),
        selector: None,
        description: None,
        created_at: a.engine.now(),
    };
    a.engine.put_group(group).await.unwrap();
    eventually("b knows the group and the devices", || {
        b.engine.group("g").is_ok() && members.iter().all(|m| b.engine.device(m).is_ok())
    })
    .await;
    // Run by b, two at a time: two members are with the devices' owners, four wait at b.
    let gop = b.engine.start_group_operation("g", Action::Reboot, Some(2), CreateOptions::default()).await.unwrap();
    eventually("two members dispatched", || a.adapter.submitted_ids().len() + b.adapter.submitted_ids().len() == 2)
        .await;
    let view = a.engine.cancel_group_operation(gop.id).await.unwrap();
    assert!(view.aggregate.done, "{:?}", view.aggregate);
    assert_eq!(view.aggregate.counts.get("cancelled"), Some(&6), "{:?}", view.aggregate.counts);
    assert!(view.operation.cancelled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.adapter.submitted_ids().len() + b.adapter.submitted_ids().len(),
        2,
        "no member started after the cancel"
    );
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}

#[tokio::test]
async fn a_cwmp_session_that_moves_gets_the_device_s_operations() {
    let Some((_pg, url)) = database().await else { return };
    let tr069 = unidm_models::Protocol::Tr069;
    let mut a = node_of(&url, "a", Mode::Record, tr069).await;
    let mut b = node_of(&url, "b", Mode::Record, tr069).await;
    let id = unidm_models::DeviceId::parse("tr069:00D09E-MOVE-1").unwrap();
    let inform = || Contact { lifetime_s: Some(600), ..Contact::online() };
    a.handle().device_contact(&id, inform(), |_| {}).await.unwrap();
    let op = a.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    assert_eq!(a.next_submitted().await.id, op.id);
    // The CPE's next session reaches b: b's adapter gets the operation as the Inform is
    // handled (claimed before the contact returns), so the session that is open carries it.
    eventually("b knows the device", || b.engine.device(&id).is_ok()).await;
    b.handle().device_contact(&id, inform(), |_| {}).await.unwrap();
    assert_eq!(b.next_submitted().await.id, op.id);
    eventually("a lets go", || a.adapter.cancelled.lock().unwrap().contains(&op.id)).await;
    a.engine.shutdown().await;
    b.engine.shutdown().await;
}
