//! Engine behaviour through its public API, with an in-process test adapter.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use unidm_core::{
    Contact, CoreError, CreateOptions, DeviceQuery, EngineConfig, Gone, NewOperation, OperationQuery, Received,
};
use unidm_models::{
    Action, ErrorKind, Event, FirmwareUpdate, Function, Group, OperationError, OperationState, PresenceState, Progress,
    RetryPolicy, Rule, Selector, Trigger,
};

#[tokio::test]
async fn operation_lifecycle_is_stored_and_reported_in_order() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let mut sub = f.engine.subscribe();
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    assert_eq!(op.state, OperationState::Pending);
    let sent = f.submitted.recv().await.unwrap();
    assert_eq!(sent.id, op.id);
    assert_eq!(sent.attempts, 1);

    let h = f.adapter.handle().clone();
    h.operation_progress(op.id, Progress { percent: Some(50), message: Some("rebooting".into()) }).await.unwrap();
    h.operation_succeeded(op.id, None).await.unwrap();

    let states: Vec<_> = [
        next_op_event(&mut sub).await,
        next_op_event(&mut sub).await,
        next_op_event(&mut sub).await,
        next_op_event(&mut sub).await,
    ]
    .iter()
    .map(|o| o.state)
    .collect();
    assert_eq!(
        states,
        [OperationState::Pending, OperationState::Dispatched, OperationState::Running, OperationState::Succeeded]
    );
    let stored = f.engine.operation(op.id).await.unwrap();
    assert_eq!(stored.state, OperationState::Succeeded);
    // A late report on a finished operation is refused, not applied.
    assert!(matches!(
        h.operation_failed(op.id, OperationError::new(ErrorKind::Internal, "x")).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(f.engine.operation(op.id).await.unwrap().state, OperationState::Succeeded);
}

#[tokio::test]
async fn requests_are_checked_before_anything_is_stored() {
    let f = fixture(Mode::Record).await;
    let id = online(&f, "a", Some(&[Function::Reboot])).await;
    let e = f.engine.create_operation(&dev("ghost"), Action::Reboot, CreateOptions::default()).await.unwrap_err();
    assert!(e.is_not_found());
    let fw = Action::Firmware(FirmwareUpdate { uri: "http://x/fw".into(), version: None, name: None });
    let e = f.engine.create_operation(&id, fw, CreateOptions::default()).await.unwrap_err();
    assert!(matches!(e, CoreError::NotSupported { function: Function::Firmware, .. }), "{e}");
    let bad = Action::Firmware(FirmwareUpdate { uri: "".into(), version: None, name: None });
    let e = f.engine.create_operation(&id, bad, CreateOptions::default()).await.unwrap_err();
    assert!(matches!(e, CoreError::BadInput { ref field, .. } if field == "action.uri"), "{e}");
    assert_eq!(f.engine.operations(OperationQuery { limit: 10, ..Default::default() }).await.unwrap().total, 0);
}

#[tokio::test]
async fn retryable_failures_retry_with_backoff_then_fail() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let retry = RetryPolicy { max_attempts: 2, backoff_ms: 10_000, max_backoff_ms: 10_000 };
    let op = f
        .engine
        .create_operation(&id, Action::Reboot, CreateOptions { retry: Some(retry), ..Default::default() })
        .await
        .unwrap();
    f.submitted.recv().await.unwrap();
    let h = f.adapter.handle().clone();
    h.operation_failed(op.id, OperationError::new(ErrorKind::Timeout, "no answer")).await.unwrap();
    let waiting = f.engine.operation(op.id).await.unwrap();
    assert_eq!(waiting.state, OperationState::Pending);
    assert_eq!(waiting.not_before, Some(f.engine.now().plus(Duration::from_secs(10))));

    f.engine.tick().await;
    assert!(f.submitted.try_recv().is_err(), "not before the backoff");
    f.clock.advance(Duration::from_secs(11));
    f.engine.tick().await;
    let again = f.submitted.recv().await.unwrap();
    assert_eq!(again.attempts, 2);
    h.operation_failed(op.id, OperationError::new(ErrorKind::Timeout, "still nothing")).await.unwrap();
    let failed = f.engine.operation(op.id).await.unwrap();
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.error.unwrap().message, "still nothing");
}

#[tokio::test]
async fn device_refusals_are_not_retried() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let op = f.engine.create_operation(&id, Action::FactoryReset, CreateOptions::default()).await.unwrap();
    f.submitted.recv().await.unwrap();
    let err = OperationError::new(ErrorKind::DeviceRefused, "method not allowed").with_code("4.05");
    f.adapter.handle().operation_failed(op.id, err).await.unwrap();
    let op = f.engine.operation(op.id).await.unwrap();
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("4.05"));
}

#[tokio::test]
async fn deadlines_expire_operations_and_tell_the_adapter() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let opts = CreateOptions { timeout: Some(Duration::from_secs(30)), ..Default::default() };
    let op = f.engine.create_operation(&id, Action::Reboot, opts).await.unwrap();
    f.submitted.recv().await.unwrap();
    f.clock.advance(Duration::from_secs(29));
    f.engine.tick().await;
    assert_eq!(f.engine.operation(op.id).await.unwrap().state, OperationState::Dispatched);
    f.clock.advance(Duration::from_secs(2));
    f.engine.tick().await;
    let op2 = f.engine.operation(op.id).await.unwrap();
    assert_eq!(op2.state, OperationState::Expired);
    assert_eq!(op2.error.unwrap().kind, ErrorKind::Timeout);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*f.adapter.cancelled.lock().unwrap(), [op.id]);
}

#[tokio::test]
async fn cancel_ends_an_operation_once() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    f.submitted.recv().await.unwrap();
    let c = f.engine.cancel_operation(op.id).await.unwrap();
    assert_eq!(c.state, OperationState::Cancelled);
    assert!(matches!(f.engine.cancel_operation(op.id).await, Err(CoreError::Conflict(_))));
    assert!(f.engine.cancel_operation(unidm_models::OperationId(999_999)).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn group_fan_out_never_exceeds_its_concurrency() {
    let f = fixture(Mode::AutoComplete).await;
    let mut members = std::collections::BTreeSet::new();
    for i in 0..60 {
        members.insert(online(&f, &format!("d{i:02}"), None).await);
    }
    let group = Group { id: "all".into(), description: None, members, selector: None, created_at: f.engine.now() };
    f.engine.put_group(group).await.unwrap();
    let mut sub = f.engine.subscribe();
    let gop = f.engine.start_group_operation("all", Action::Reboot, Some(4), CreateOptions::default()).await.unwrap();
    assert_eq!(gop.members.len(), 60);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.unwrap() {
            Some(Received::Event(Event::GroupOperationChanged { aggregate, .. })) if aggregate.done => break,
            Some(_) => continue,
            None => panic!("bus closed"),
        }
    }
    let max = f.adapter.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 4, "{max} in flight with a limit of 4");
    assert_eq!(max, 4, "the limit was used");
    let view = f.engine.group_operation(gop.id).await.unwrap();
    assert_eq!(view.aggregate.total, 60);
    assert_eq!(view.aggregate.counts.get("succeeded"), Some(&60));
    assert!(view.aggregate.done);
}

#[tokio::test]
async fn group_members_lacking_the_function_fail_at_once() {
    let mut f = fixture(Mode::Record).await;
    online(&f, "yes", None).await;
    online(&f, "no", Some(&[Function::DeviceInfo])).await;
    let sel = Selector { manufacturer: Some("Acme".into()), ..Default::default() };
    let g = Group {
        id: "acme".into(),
        description: None,
        members: Default::default(),
        selector: Some(sel),
        created_at: f.engine.now(),
    };
    f.engine.put_group(g).await.unwrap();
    assert_eq!(f.engine.group_members("acme").unwrap().len(), 2);
    let gop = f.engine.start_group_operation("acme", Action::Reboot, Some(1), CreateOptions::default()).await.unwrap();
    let sent = f.submitted.recv().await.unwrap();
    assert_eq!(sent.device, dev("yes"));
    let view = f.engine.group_operation(gop.id).await.unwrap();
    assert_eq!(view.aggregate.counts.get("failed"), Some(&1));
    let failed = view.aggregate.results.iter().find(|r| r.device == dev("no")).unwrap();
    assert_eq!(failed.error.as_ref().unwrap().kind, ErrorKind::NotSupported);
    // Cancelling the group operation ends the rest.
    let view = f.engine.cancel_group_operation(gop.id).await.unwrap();
    assert!(view.aggregate.done);
    assert!(view.operation.cancelled);
}

#[tokio::test]
async fn unfinished_operations_resume_after_restart() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap().id);
    }
    for _ in 0..3 {
        f.submitted.recv().await.unwrap();
    }
    f.adapter.handle().operation_succeeded(ids[0], None).await.unwrap();
    // No graceful shutdown: drop everything as a crash would.
    let path = f.path.clone();
    let dir = f._dir;
    drop(f.engine);
    drop(f.adapter);
    // The process is gone, and with it its lock on the database.
    f.store.close();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (engine, _adapter, mut submitted) = restart(&path).await;
    let mut resumed = vec![submitted.recv().await.unwrap().id, submitted.recv().await.unwrap().id];
    resumed.sort();
    assert_eq!(resumed, ids[1..]);
    assert_eq!(engine.operation(ids[0]).await.unwrap().state, OperationState::Succeeded);
    // New ids continue after the stored ones.
    let next = engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    assert!(next.id > ids[2]);
    drop(dir);
}

#[tokio::test]
async fn a_device_record_is_stored_with_the_device_and_kept_by_other_writes() {
    let f = fixture(Mode::Record).await;
    let handle = f.adapter.handle().clone();
    let id = dev("reg-1");
    let device = handle
        .device_contact_with_record(&id, Contact::online(), b"registration".to_vec(), |d| {
            d.labels.insert("k".into(), "v".into());
        })
        .await
        .unwrap();
    assert_eq!(device.presence.state, PresenceState::Online);
    assert_eq!(handle.device_records().await.unwrap(), vec![(id.clone(), b"registration".to_vec())]);

    // Writes that do not name the record keep it: a plain contact, an update, labels.
    handle.device_contact(&id, Contact::online(), |_| {}).await.unwrap();
    handle.update_device(&id, |d| d.identity.model = Some("m".into())).await.unwrap();
    f.engine.set_labels(&id, BTreeMap::from([("a".into(), "b".into())])).await.unwrap();
    handle.device_gone(&id, Gone::Expired).await.unwrap();
    assert_eq!(handle.device_records().await.unwrap(), vec![(id.clone(), b"registration".to_vec())]);

    handle.device_gone_clearing_record(&id, Gone::Deregistered).await.unwrap();
    assert!(handle.device_records().await.unwrap().is_empty());
    assert_eq!(f.engine.device(&id).unwrap().presence.state, PresenceState::Offline);
    let err = handle.device_gone_clearing_record(&dev("nobody"), Gone::Expired).await;
    assert!(matches!(err, Err(CoreError::NotFound { .. })), "{err:?}");

    // After a restart the device and its record are back; deleting the device drops the record.
    handle.device_contact_with_record(&id, Contact::online(), b"again".to_vec(), |_| {}).await.unwrap();
    let path = f.path.clone();
    let dir = f._dir;
    f.engine.shutdown().await;
    let (engine, adapter, _submitted) = restart(&path).await;
    assert_eq!(engine.device(&id).unwrap().identity.model.as_deref(), Some("m"));
    assert_eq!(adapter.handle().device_records().await.unwrap(), vec![(id.clone(), b"again".to_vec())]);
    engine.delete_device(&id).await.unwrap();
    assert!(adapter.handle().device_records().await.unwrap().is_empty());
    drop(dir);
}

#[tokio::test]
async fn rules_fire_on_first_contact_and_boot_but_skip_the_target_version() {
    let mut f = fixture(Mode::Record).await;
    let fw =
        Action::Firmware(FirmwareUpdate { uri: "http://fw/2.0.bin".into(), version: Some("2.0".into()), name: None });
    let rule = Rule {
        id: "fw-2".into(),
        description: None,
        selector: Selector { labels: BTreeMap::from([("site".into(), "north".into())]), ..Default::default() },
        triggers: vec![Trigger::FirstContact, Trigger::Boot],
        actions: vec![fw.clone()],
        enabled: true,
        created_at: f.engine.now(),
    };
    f.engine.put_rule(rule).await.unwrap();
    // A pre-provisioned device with the label, at 1.0: its first contact enqueues the update.
    f.engine.provision_device(dev("old"), BTreeMap::from([("site".into(), "north".into())])).await.unwrap();
    f.adapter
        .handle()
        .device_contact(&dev("old"), Contact::online(), |d| d.identity.fw_version = Some("1.0".into()))
        .await
        .unwrap();
    let op = f.submitted.recv().await.unwrap();
    assert_eq!(op.device, dev("old"));
    assert_eq!(op.rule.as_deref(), Some("fw-2"));
    // A boot while the update is under way does not enqueue a second copy.
    let boot = Contact { boot: true, ..Contact::online() };
    f.adapter.handle().device_contact(&dev("old"), boot.clone(), |_| {}).await.unwrap();
    // A device already at 2.0 is left alone.
    f.engine.provision_device(dev("new"), BTreeMap::from([("site".into(), "north".into())])).await.unwrap();
    f.adapter.handle().device_contact(&dev("new"), boot, |d| d.identity.fw_version = Some("2.0".into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(f.submitted.try_recv().is_err());
    let all = f.engine.operations(OperationQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.total, 1);
}

#[tokio::test]
async fn lifetimes_expire_devices() {
    let f = fixture(Mode::Record).await;
    let id = online(&f, "a", None).await;
    let mut sub = f.engine.subscribe();
    f.clock.advance(Duration::from_secs(60 + 10));
    f.engine.tick().await;
    assert_eq!(f.engine.device(&id).unwrap().presence.state, PresenceState::Online, "within grace");
    f.clock.advance(Duration::from_secs(10));
    f.engine.tick().await;
    assert_eq!(f.engine.device(&id).unwrap().presence.state, PresenceState::Offline);
    match sub.recv().await {
        Some(Received::Event(Event::DeviceExpired { device })) => assert_eq!(device, id),
        other => panic!("{other:?}"),
    }
    let online_now = f.engine.devices(&DeviceQuery { online: Some(true), limit: 10, ..Default::default() }).unwrap();
    assert_eq!(online_now.total, 0);
}

#[tokio::test]
async fn gateways_link_their_children() {
    let f = fixture(Mode::Record).await;
    let gw = online(&f, "gw", None).await;
    f.adapter.handle().set_children(&gw, vec![dev("gw-c1"), dev("gw-c2")]).await.unwrap();
    assert_eq!(f.engine.device(&dev("gw-c1")).unwrap().topology.parent, Some(gw.clone()));
    let g = f.engine.topology_graph().unwrap();
    assert_eq!(g.edges.len(), 2);
    f.adapter.handle().set_children(&gw, vec![dev("gw-c2")]).await.unwrap();
    assert_eq!(f.engine.device(&dev("gw-c1")).unwrap().topology.parent, None);
    assert_eq!(f.engine.topology_graph().unwrap().edges.len(), 1);
}

#[tokio::test]
async fn device_listing_filters_and_pages() {
    let f = fixture(Mode::Record).await;
    for i in 0..25 {
        online(&f, &format!("d{i:02}"), None).await;
    }
    f.engine.set_labels(&dev("d03"), BTreeMap::from([("tier".into(), "gold".into())])).await.unwrap();
    let page = f.engine.devices(&DeviceQuery { offset: 20, limit: 10, ..Default::default() }).unwrap();
    assert_eq!((page.total, page.items.len()), (25, 5));
    assert_eq!(page.items[0].id, dev("d20"));
    let gold = f
        .engine
        .devices(&DeviceQuery {
            labels: BTreeMap::from([("tier".into(), "gold".into())]),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(gold.items.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), [dev("d03")]);
    // A search by part of the id, case ignored: d10..d19 hold "D1" (d01 does not).
    let search = f.engine.devices(&DeviceQuery { search: Some("D1".into()), limit: 50, ..Default::default() }).unwrap();
    assert_eq!(search.total, 10);
    assert!(search.items.iter().all(|d| d.id.as_str().contains("d1")), "{:?}", search.items);
    f.adapter
        .handle()
        .device_contact(&dev("d07"), Contact::online(), |d| d.identity.fw_version = Some("9.9".into()))
        .await
        .unwrap();
    let v = f.engine.devices(&DeviceQuery { version: Some("9.9".into()), limit: 50, ..Default::default() }).unwrap();
    assert_eq!(v.items.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), [dev("d07")]);
    let config = EngineConfig::default();
    assert_eq!(config.tick, Duration::from_secs(1));
}

/// `create_operations`: each request checked on its own (an unknown device, an unsupported
/// function and an invalid action refused in place), the others committed together, dispatched,
/// and still there after a restart.
#[tokio::test]
async fn a_batch_of_operations_is_checked_one_by_one_and_committed_together() {
    let mut f = fixture(Mode::Record).await;
    let a = online(&f, "a", None).await;
    let b = online(&f, "b", Some(&[Function::Reboot])).await;
    let new = |device: &unidm_models::DeviceId, action: Action| NewOperation {
        device: device.clone(),
        action,
        options: CreateOptions::default(),
    };
    let bad_url = Action::Firmware(FirmwareUpdate { uri: "not a url".into(), version: None, name: None });
    let results = f
        .engine
        .create_operations(vec![
            new(&a, Action::Reboot),
            new(&dev("nobody"), Action::Reboot),
            new(&b, Action::FactoryReset),
            new(&b, Action::Reboot),
            new(&a, bad_url),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    let created: Vec<_> = results.iter().flatten().map(|op| (op.id, op.device.clone())).collect();
    assert_eq!(created.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(), [a.clone(), b.clone()]);
    assert!(matches!(results[1], Err(CoreError::NotFound { .. })), "{:?}", results[1]);
    assert!(matches!(results[2], Err(CoreError::NotSupported { .. })), "{:?}", results[2]);
    assert!(matches!(results[4], Err(CoreError::BadInput { .. })), "{:?}", results[4]);
    let mut submitted = vec![f.submitted.recv().await.unwrap().id, f.submitted.recv().await.unwrap().id];
    submitted.sort();
    assert_eq!(submitted, created.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    // Another batch on `a`, then `a` deleted: its three unfinished operations are cancelled
    // (and the adapter told), `b`'s stays.
    let more = f.engine.create_operations(vec![new(&a, Action::Reboot), new(&a, Action::Reboot)]).await.unwrap();
    let mut on_a: Vec<_> = more.iter().flatten().map(|op| op.id).chain([created[0].0]).collect();
    f.engine.delete_device(&a).await.unwrap();
    for id in &on_a {
        assert_eq!(f.engine.operation(*id).await.unwrap().state, OperationState::Cancelled);
    }
    assert_ne!(f.engine.operation(created[1].0).await.unwrap().state, OperationState::Cancelled);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut told = f.adapter.cancelled.lock().unwrap().clone();
    told.sort();
    on_a.sort();
    assert_eq!(told, on_a);
    let created = vec![created[1].clone()];

    let (path, dir) = (f.path.clone(), f._dir);
    f.engine.shutdown().await;
    let (engine, _adapter, _submitted) = restart(&path).await;
    for (id, device) in created {
        assert_eq!(engine.operation(id).await.unwrap().device, device);
    }
    drop(dir);
}

/// A report that changes nothing (the same device state, the same progress again) is neither
/// stored nor published; one that changes something is.
#[tokio::test]
async fn reports_that_change_nothing_are_not_stored_or_told() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "same", None).await;
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    f.submitted.recv().await.unwrap();
    let handle = f.adapter.handle().clone();
    let mut sub = f.engine.subscribe();
    let writes = || f.store.stats().writes.load(Ordering::Relaxed);

    let was = f.engine.device(&id).unwrap();
    let before = writes();
    let same = handle.update_device(&id, |d| d.identity.manufacturer = Some("Acme".into())).await.unwrap();
    assert_eq!((same.updated_at, writes()), (was.updated_at, before), "an unchanged device was written");
    let progress = || Progress { percent: Some(50), message: Some("halfway".into()) };
    handle.operation_progress(op.id, progress()).await.unwrap();
    let stored = writes();
    assert!(stored > before);
    handle.operation_progress(op.id, progress()).await.unwrap();
    assert_eq!(writes(), stored, "the same progress was written again");
    // A change that says it changed nothing is neither stored nor told.
    handle.change_device(&id, |_| false).await.unwrap();
    assert_eq!(writes(), stored, "a change of nothing was written");
    let changed = handle.update_device(&id, |d| d.identity.model = Some("m2".into())).await.unwrap();
    assert_eq!(changed.identity.model.as_deref(), Some("m2"));
    assert!(writes() > stored);
    let stored = writes();
    handle
        .change_device(&id, |d| {
            d.identity.serial = Some("s3".into());
            true
        })
        .await
        .unwrap();
    assert!(writes() > stored, "the change was written");
    assert_eq!(f.engine.device(&id).unwrap().identity.serial.as_deref(), Some("s3"));

    // Told: the first progress, the model change and the serial change only.
    assert_eq!(next_op_event(&mut sub).await.progress, Some(progress()));
    let mut told = Vec::new();
    while told.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("event in time") {
            Some(Received::Event(Event::DeviceUpdated { device })) => {
                told.push((device.identity.model.clone(), device.identity.serial.clone()));
            }
            Some(Received::Event(Event::OperationChanged { operation })) => panic!("told again: {operation:?}"),
            Some(_) => continue,
            None => panic!("bus closed"),
        }
    }
    assert_eq!(told[0].0.as_deref(), Some("m2"), "an unchanged device was told: {told:?}");
    assert_eq!(told[1].1.as_deref(), Some("s3"), "{told:?}");
}
