//! Requests a CPE never answers (field fault: a CPE that drops the connection on a
//! partial-path GetParameterValues informed again and again, got the same request in every
//! session, and every operation created afterwards stayed `dispatched`). An unanswered request
//! is a failed attempt of the work that sent it; partial paths are learned per CPE.

mod acs;

use std::time::Duration;

use acs::*;
use serde_json::json;
use unidm_core::CreateOptions;
use unidm_models::{Action, ErrorKind, NativeOp, NativeRequest, OperationState, RetryPolicy};
use unidm_tr069::sim::ParameterTree;
use unidm_tr069::Tr069Config;

fn native(op: NativeOp, path: &str, value: Option<serde_json::Value>) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value, args: None, format: None })
}

/// An ACS whose sessions end 10 s after the CPE's last message; the CPEs here inform every second
/// or faster, so a session left hanging ends sooner, superseded by the next Inform.
fn short_sessions() -> Tr069Config {
    Tr069Config { session_timeout: Duration::from_secs(10), ..local_config() }
}

#[tokio::test]
async fn a_cpe_that_drops_partial_path_reads_gets_its_operations_and_topology() {
    let f = fixture_with(short_sessions()).await;
    let mut config = f.sim_config(ParameterTree::bm632w());
    config.drop_partial_path_gpv = true;
    config.periodic_inform = Some(Duration::from_secs(1));
    config.manageable_devices = vec![("00D09E".into(), "STB".into(), "stb-1".into())];
    let (cpe, id) = f.sim(config).await;
    // The first session's topology read (`…ManagementServer.ManageableDevice.`) was dropped.
    assert!(cpe.wait_for(WAIT, |s| !s.dropped.is_empty()).await);

    let read = f.run(&id, native(NativeOp::Read, "InternetGatewayDevice.DeviceInfo.ModelName", None)).await;
    assert_eq!(read.state, OperationState::Succeeded, "{read:?}");
    assert_eq!(read.result, Some(json!({"InternetGatewayDevice.DeviceInfo.ModelName": "BM632w"})));
    let path = "InternetGatewayDevice.DeviceInfo.ProvisioningCode";
    let write = f.run(&id, native(NativeOp::Write, path, Some(json!("field-1")))).await;
    assert_eq!(write.state, OperationState::Succeeded, "{write:?}");
    assert_eq!(cpe.get(path).as_deref(), Some("field-1"));
    // Partial paths (the refresh reads `DeviceInfo.`, the user a `ManagementServer.` subtree)
    // are listed with GetParameterNames and read by full name: first attempt, no drop.
    let refresh = f.run(&id, Action::RefreshDeviceInfo).await;
    assert_eq!((refresh.state, refresh.attempts), (OperationState::Succeeded, 1), "{refresh:?}");
    let partial = f.run(&id, native(NativeOp::Read, "InternetGatewayDevice.ManagementServer.", None)).await;
    assert_eq!((partial.state, partial.attempts), (OperationState::Succeeded, 1), "{partial:?}");
    let values = partial.result.unwrap();
    assert_eq!(values["InternetGatewayDevice.ManagementServer.ManageableDevice.1.SerialNumber"], json!("stb-1"));
    assert!(values.as_object().unwrap().keys().all(|k| !k.ends_with('.')), "{values}");

    // The topology was read after all, by full names.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let kids = f.engine.device(&id).unwrap().topology.children;
        if kids.iter().any(|k| k.as_str() == "tr069:00D09E-STB-stb%2D1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "topology never read: {kids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = cpe.stats();
    assert_eq!(s.dropped, ["GetParameterValues"], "one drop taught the ACS: {s:?}");
    assert!(s.rpcs.contains(&"GetParameterNames".to_owned()));
    cpe.stop();
}

#[tokio::test]
async fn what_a_cpe_needs_for_partial_paths_survives_a_restart() {
    let f = fixture_with(short_sessions()).await;
    let addr = f.adapter.local_addr().unwrap();
    let mut config = f.sim_config(tr181("learn-1"));
    config.drop_partial_path_gpv = true;
    config.periodic_inform = Some(Duration::from_secs(1));
    let (cpe, id) = f.sim(config).await;
    let op = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.MemoryStatus.", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let dropped = cpe.stats().dropped.len();
    assert_eq!(dropped, 1, "{:?}", cpe.stats());

    f.engine.shutdown().await;
    let Fixture { engine, adapter, dir } = f;
    drop((engine, adapter));
    let f = reopen(dir, Tr069Config { listen: addr, ..short_sessions() }).await;
    let op = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.MemoryStatus.", None)).await;
    assert_eq!((op.state, op.attempts), (OperationState::Succeeded, 1), "{op:?}");
    assert_eq!(
        op.result,
        Some(json!({"Device.DeviceInfo.MemoryStatus.Free": 32768, "Device.DeviceInfo.MemoryStatus.Total": 65536}))
    );
    assert_eq!(cpe.stats().dropped.len(), dropped, "the restarted ACS remembered: {:?}", cpe.stats());
    cpe.stop();
}

#[tokio::test]
async fn an_unanswered_request_is_a_failed_attempt_and_the_queue_moves_on() {
    let f = fixture_with(short_sessions()).await;
    let mut config = f.sim_config(tr181("mute-1"));
    config.unanswered_rpcs = vec!["GetParameterAttributes".into()];
    config.periodic_inform = Some(Duration::from_secs(1));
    let (cpe, id) = f.sim(config).await;
    let attributes = Action::Native(NativeRequest {
        op: NativeOp::Execute,
        path: "Device.DeviceInfo.UpTime".into(),
        value: None,
        args: Some("GetParameterAttributes".into()),
        format: None,
    });
    let retry = RetryPolicy { max_attempts: 2, backoff_ms: 50, max_backoff_ms: 50 };
    let op = f.engine.create_operation(&id, attributes, CreateOptions { retry: Some(retry), ..Default::default() });
    let op = op.await.unwrap();
    // Created after it: must not wait behind it for ever.
    let read = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.UpTime", None)).await;
    assert_eq!(read.state, OperationState::Succeeded, "{read:?}");

    let op = f.wait_op(op.id).await;
    assert_eq!((op.state, op.attempts), (OperationState::Failed, 2), "{op:?}");
    let e = op.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.message.contains("did not answer GetParameterAttributes"), "{}", e.message);
    assert_eq!(cpe.stats().dropped, ["GetParameterAttributes", "GetParameterAttributes"]);
    cpe.stop();
}

#[tokio::test]
async fn upkeep_a_cpe_never_answers_is_dropped_after_three_tries() {
    let f = fixture_with(short_sessions()).await;
    let mut config = f.sim_config(ParameterTree::bm632w());
    // The credentials (SetParameterValues) and the function discovery (GetParameterNames).
    config.unanswered_rpcs = vec!["SetParameterValues".into(), "GetParameterNames".into()];
    config.periodic_inform = Some(Duration::from_millis(300));
    let cpe = unidm_tr069::sim::SimCpe::start(config).await.unwrap();
    let id = id_of(&cpe);
    assert!(cpe.wait_for(WAIT, |s| s.dropped.len() >= 6).await, "{:?}", cpe.stats());
    // Periodic Informs go on without asking again.
    let sessions = cpe.stats().sessions;
    assert!(cpe.wait_for(WAIT, |s| s.sessions >= sessions + 3).await);
    let s = cpe.stats();
    let count = |name: &str| s.dropped.iter().filter(|d| *d == name).count();
    assert_eq!((count("SetParameterValues"), count("GetParameterNames")), (3, 3), "{s:?}");
    let read = f.run(&id, native(NativeOp::Read, "InternetGatewayDevice.DeviceInfo.UpTime", None)).await;
    assert_eq!(read.state, OperationState::Succeeded, "{read:?}");
    cpe.stop();
}
