//! Diagnostics over a vendor DiagMon subtree configured per manufacturer, with the simulated
//! client over loopback HTTP: the request's fields written, the test run at once or reported
//! by a Generic Alert, the results read in the same session; refusals where no subtree is
//! configured or the device lacks it; a parked test across a restart.

use unidm_models::{Action, DeviceId, ErrorKind, Function, OperationState, PingRequest, TracerouteRequest};
use unidm_omadm::codec::Encoding;
use unidm_omadm::mo::diagmon::{DiagProfile, DiagTest};
use unidm_omadm::server::OmadmConfig;
use unidm_omadm::sim::{SimConfig, SimDevice, SimDiagMon, DIAGMON_ROOT};
use unidm_testkit::{device_where, operation_end, operation_where};

mod engine;

use engine::{config, fixture, fixture_in, once, run_op_on, Fixture};

const DEV: &str = "IMEI:356938035643809";

fn id() -> DeviceId {
    DeviceId::omadm(DEV).unwrap()
}

/// Ping and traceroute profiles for Acme devices, at the simulator's subtree.
fn diag_config() -> OmadmConfig {
    let acme = |test, leaf: &str| DiagProfile {
        manufacturer: Some("ACME".into()),
        ..DiagProfile::new(test, format!("{DIAGMON_ROOT}/{leaf}"))
    };
    OmadmConfig {
        diagnostics: vec![acme(DiagTest::Ping, "Ping"), acme(DiagTest::Traceroute, "Traceroute")],
        ..config()
    }
}

fn sim(f: &Fixture, mode: Option<SimDiagMon>, encoding: Encoding) -> SimDevice {
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.server_password = "server-secret".into();
    c.manufacturer = "Acme".into();
    c.encoding = encoding;
    c.diagmon = mode;
    SimDevice::new(c)
}

fn ping(host: &str, count: u32) -> Action {
    Action::Ping(PingRequest { host: host.into(), count: Some(count), timeout_ms: None })
}

fn traceroute(host: &str, max_hops: u32) -> Action {
    Action::Traceroute(TracerouteRequest { host: host.into(), max_hops: Some(max_hops) })
}

#[tokio::test]
async fn a_synchronous_ping_writes_its_fields_runs_and_reads_the_results_in_both_encodings() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let f = fixture(diag_config()).await;
        let device = sim(&f, Some(SimDiagMon::Sync), encoding);
        device.run().await.unwrap();
        let d = device_where(&f.engine, &id(), |d| d.supports(Function::Ping)).await;
        assert!(d.supports(Function::Traceroute));
        let op = run_op_on(&f, &id(), &device, ping("127.0.0.1", 3)).await;
        assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
        assert_eq!(device.node(&format!("{DIAGMON_ROOT}/Ping/Host")).as_deref(), Some("127.0.0.1"));
        assert_eq!(device.node(&format!("{DIAGMON_ROOT}/Ping/NumberOfRepetitions")).as_deref(), Some("3"));
        let r = op.result.unwrap();
        assert_eq!((r["test"].as_str(), r["host"].as_str()), (Some("ping"), Some("127.0.0.1")));
        assert_eq!(r["results"]["Results/SuccessCount"], "3", "{r}");
        assert_eq!(r["results"]["Results/State"], "Complete");
        assert!(r["results"].get("Results").is_none(), "interior nodes are left out: {r}");
        // The same test toward a host that never answers: it ran, and its results say so.
        let op = run_op_on(&f, &id(), &device, ping("nowhere.invalid", 2)).await;
        assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
        assert_eq!(op.result.unwrap()["results"]["Results/FailureCount"], "2");
        f.engine.shutdown().await;
    }
}

#[tokio::test]
async fn an_asynchronous_traceroute_waits_for_its_generic_alert_then_reads_the_results() {
    let f = fixture(diag_config()).await;
    let device = sim(&f, Some(SimDiagMon::Async), Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(Function::Traceroute)).await;
    let op = run_op_on(&f, &id(), &device, traceroute("h.example", 5)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node(&format!("{DIAGMON_ROOT}/Traceroute/MaxHopCount")).as_deref(), Some("5"));
    let r = op.result.unwrap();
    assert_eq!(r["results"]["Results/Hops/2/Host"], "h.example", "{r}");
    assert_eq!(r["results"]["Results/HopCount"], "2");
    assert!(!device.has_pending_alerts());
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_test_the_device_could_not_run_fails_with_the_alerts_result_code() {
    let f = fixture(diag_config()).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.manufacturer = "Acme".into();
    c.diagmon = Some(SimDiagMon::Async);
    c.diagmon_result = 1400;
    let device = SimDevice::new(c);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(Function::Ping)).await;
    let op = run_op_on(&f, &id(), &device, ping("127.0.0.1", 1)).await;
    assert_eq!(op.state, OperationState::Failed, "{op:?}");
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("1400")));
    f.engine.shutdown().await;
}

#[tokio::test]
async fn without_a_profile_or_the_subtree_diagnostics_are_refused() {
    // No profile at all: refused at submit, for any device.
    let f = fixture(config()).await;
    let device = sim(&f, Some(SimDiagMon::Sync), Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(Function::FactoryReset)).await;
    assert!(!f.engine.device(&id()).unwrap().supports(Function::Ping));
    assert!(f.engine.create_operation(&id(), ping("127.0.0.1", 1), once()).await.is_err());
    f.engine.shutdown().await;

    // A profile for Acme, and an Acme device without the subtree: no capability, refused.
    let f = fixture(diag_config()).await;
    let device = sim(&f, None, Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(Function::FactoryReset)).await;
    assert!(!f.engine.device(&id()).unwrap().supports(Function::Traceroute));
    assert!(f.engine.create_operation(&id(), traceroute("h.example", 3), once()).await.is_err());
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_parked_test_survives_a_restart_and_its_results_are_read_after_the_alert() {
    let f = fixture(diag_config()).await;
    let device = sim(&f, Some(SimDiagMon::Async), Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(Function::Ping)).await;
    let op = f.engine.create_operation(&id(), ping("127.0.0.1", 4), once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    // One session: the Exec is accepted (202); the alert waits on the device.
    device.session(1201, None).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.waiting_for.as_deref().is_some_and(|w| w.contains("ping result"))).await;
    assert!(device.has_pending_alerts());

    f.engine.shutdown().await;
    let Fixture { engine, dir, .. } = f;
    drop(engine);
    let f = fixture_in(dir, diag_config()).await;
    let device = device.with_server_url(f.adapter.server_url().unwrap());
    device.run().await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.unwrap()["results"]["Results/SuccessCount"], "4");
    assert_eq!(op.attempts, 1);
    f.engine.shutdown().await;
}
