//! The conformance runner against unidm's own simulated devices: a well-behaved device passes
//! every case it can be judged on; a misbehaving one gets the fail and inconclusive verdicts it
//! deserves, so that each verdict is shown able to go either way.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::Stack;
use unidm_interop::{lwm2m, runner, select, tr069, CaseReport, Ctx, Report, Verdict};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_models::{DeviceId, Protocol};
use unidm_tr069::sim::{ParameterTree, SimCpe};

fn verdicts(reports: &[CaseReport]) -> BTreeMap<String, (Verdict, String)> {
    reports.iter().map(|r| (r.id.clone(), (r.verdict, r.reason.clone()))).collect()
}

fn show(reports: &[CaseReport]) -> String {
    reports
        .iter()
        .map(|r| format!("{} {}: {} {:?} {:?}", r.id, r.verdict.as_str(), r.reason, r.expected, r.got))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn lwm2m_device(stack: &Stack, endpoint: &str, adjust: impl FnOnce(&mut SimConfig)) -> SimClient {
    let mut config = SimConfig::new(endpoint, stack.lwm2m_addr());
    config.version = "1.1".into();
    config.content_formats = vec![110, 112, 11542];
    config.software_management = true;
    config.reregister_after_reboot = true;
    adjust(&mut config);
    let client = SimClient::start(config).await.expect("sim");
    client.register().await.expect("registered");
    let id = DeviceId::lwm2m(endpoint).unwrap();
    let engine = &stack.engine;
    unidm_testkit::eventually("the device known to the engine", || async {
        engine.device(&id).ok().filter(|d| d.capabilities.is_some())
    })
    .await;
    client
}

fn ctx(stack: &Stack, endpoint: &str) -> Ctx {
    Ctx::new(stack.engine.clone(), DeviceId::lwm2m(endpoint).unwrap())
        .with_lwm2m(Some(stack.lwm2m.clone()))
        .with_firmware_uri(Some("http://127.0.0.1:9/fw.bin".into()))
        .with_step_timeout(Duration::from_secs(15))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_behaved_lwm2m_device_passes_every_case_it_can_be_judged_on() {
    let stack = Stack::start().await;
    let client = Arc::new(lwm2m_device(&stack, "conformant", |_| {}).await);
    // The device pushes values now and then, as a Send-capable device would (1.1-int-306).
    let sender = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = client.send(&[unidm_lwm2m::Path::Resource(3, 0, 0)]).await;
            }
        })
    };
    let ctx = ctx(&stack, "conformant");
    let cases = lwm2m::catalogue();
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    sender.abort();
    let v = verdicts(&reports);
    let inconclusive: Vec<&String> =
        v.iter().filter(|(_, (x, _))| *x == Verdict::Inconclusive).map(|(k, _)| k).collect();
    assert!(reports.iter().all(|r| matches!(r.verdict, Verdict::Pass | Verdict::Inconclusive)), "{}", show(&reports));
    // Only what the simulator legitimately lacks: LwM2M 1.0 JSON, plain CBOR, queue mode, and
    // a bootstrap configuration in unidm.
    assert_eq!(
        inconclusive,
        [
            "LightweightM2M-1.0-int-204",
            "LightweightM2M-1.0-int-771",
            "LightweightM2M-1.0-int-773",
            "LightweightM2M-1.0-int-774",
            "LightweightM2M-1.0-int-775",
            "LightweightM2M-1.0-int-776",
            "LightweightM2M-1.0-int-777",
            "LightweightM2M-1.0-int-779",
            "LightweightM2M-1.1-int-0",
            "LightweightM2M-1.1-int-1",
            "LightweightM2M-1.1-int-108",
            "LightweightM2M-1.1-int-2",
            "LightweightM2M-1.1-int-211",
            "LightweightM2M-1.1-int-4",
            "LightweightM2M-1.1-int-5",
            "LightweightM2M-1.1-int-6"
        ],
        "{}",
        show(&reports)
    );
    // Every case recorded what went over the wire.
    let exchange = &reports.iter().find(|r| r.id == "LightweightM2M-1.1-int-231").unwrap().exchanges;
    assert!(exchange.iter().any(|m| m.summary == "GET /3/0 Accept: 110"), "{exchange:?}");
    assert!(
        exchange.iter().any(|m| m.summary.starts_with("2.05 Content (110,") && m.body.contains("/3/0/0")),
        "{exchange:?}"
    );
    // Written values were put back: the Default Maximum Period is the simulator's again.
    let pmax = ctx.read("/1/0/3").await.unwrap();
    let report =
        Report::new(Protocol::Lwm2m, ctx.device_id().clone(), "sim".into(), runner::now(), runner::now(), reports);
    assert!(report.summary.ok());
    drop(client);
    assert_ne!(pmax, serde_json::json!(61), "the write of int-205 was restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_lwm2m_device_fails_and_a_device_without_firmware_is_inconclusive() {
    let stack = Stack::start().await;
    // Answers SenML JSON whatever Accept asks for, though it announced TLV and SenML CBOR.
    let _wrong = lwm2m_device(&stack, "wrong-format", |c| c.ignore_accept = true).await;
    let cases =
        select(&lwm2m::catalogue(), &["1.0-int-203".into(), "1.1-int-232".into(), "1.1-int-231".into()]).unwrap();
    let reports = runner::run(&ctx(&stack, "wrong-format"), &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    assert_eq!(v["LightweightM2M-1.0-int-203"].0, Verdict::Fail, "{}", show(&reports));
    assert_eq!(v["LightweightM2M-1.1-int-232"].0, Verdict::Fail, "{}", show(&reports));
    assert_eq!(v["LightweightM2M-1.1-int-231"].0, Verdict::Pass, "its default is SenML JSON: {}", show(&reports));
    let failed = reports.iter().find(|r| r.id == "LightweightM2M-1.1-int-232").unwrap();
    assert_eq!(failed.expected.as_deref(), Some("2.05 Content in 112"));
    assert!(failed.got.as_deref().unwrap_or_default().contains("answered in 110"), "{:?}", failed.got);

    // No /5: the firmware cases are inconclusive, not failed.
    let _plain = lwm2m_device(&stack, "no-firmware", |c| c.without_firmware = true).await;
    let cases = select(&lwm2m::catalogue(), &["1.0-int-75x".into(), "1.0-int-77x".into()]).unwrap();
    assert_eq!(cases.len(), 12);
    let reports = runner::run(&ctx(&stack, "no-firmware"), &cases, &mut runner::Silent).await;
    assert!(reports.iter().all(|r| r.verdict == Verdict::Inconclusive), "{}", show(&reports));
    assert!(reports[0].reason.contains("/5"), "{}", reports[0].reason);

    // A firmware update that fails on the device fails 770, with the device's reason.
    let _failing = lwm2m_device(&stack, "failing-firmware", |c| c.firmware.update_result = 8).await;
    let cases = select(&lwm2m::catalogue(), &["1.0-int-770".into()]).unwrap();
    let reports = runner::run(&ctx(&stack, "failing-firmware"), &cases, &mut runner::Silent).await;
    assert_eq!(reports[0].verdict, Verdict::Fail, "{}", show(&reports));
    assert!(reports[0].got.as_deref().unwrap_or_default().contains("failed"), "{:?}", reports[0].got);

    // The error cases with the lab's packages: the same device passes 779 (Update Result 8)
    // and fails 776, whose package must end with 5; without a package, 773 is inconclusive.
    let packages =
        unidm_interop::firmware_cases(["8=http://127.0.0.1:9/fails.bin", "5=http://127.0.0.1:9/corrupt.bin"]).unwrap();
    let cases =
        select(&lwm2m::catalogue(), &["1.0-int-773".into(), "1.0-int-776".into(), "1.0-int-779".into()]).unwrap();
    let reports = runner::run(
        &ctx(&stack, "failing-firmware").with_firmware_cases(packages.clone()),
        &cases,
        &mut runner::Silent,
    )
    .await;
    let v = verdicts(&reports);
    assert_eq!(v["LightweightM2M-1.0-int-779"].0, Verdict::Pass, "{}", show(&reports));
    assert_eq!(v["LightweightM2M-1.0-int-776"].0, Verdict::Fail, "{}", show(&reports));
    assert_eq!(v["LightweightM2M-1.0-int-773"].0, Verdict::Inconclusive, "{}", show(&reports));
    assert!(v["LightweightM2M-1.0-int-773"].1.contains("--firmware-case 2="), "{}", show(&reports));
    // A device whose download fails its integrity check passes 776.
    let _corrupt = lwm2m_device(&stack, "integrity", |c| c.firmware.download_result = 5).await;
    let cases = select(&lwm2m::catalogue(), &["1.0-int-776".into()]).unwrap();
    let reports =
        runner::run(&ctx(&stack, "integrity").with_firmware_cases(packages), &cases, &mut runner::Silent).await;
    assert_eq!(reports[0].verdict, Verdict::Pass, "{}", show(&reports));
}

/// 1.0-int-771: a device that takes its image pushed (Delivery Method 1) gets it written to
/// /5/0/0 block-wise, from a file unidm serves; 1.0-int-780: a Package URI of a scheme the
/// device does not list ends with Update Result 9, and a device that takes it anyway fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_is_pushed_to_a_push_device_and_an_unlisted_protocol_is_refused() {
    let stack = Stack::start().await;
    let image: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    // The image is a file unidm serves (uploaded through the API, served by the ACS's file
    // server), which the adapter fetches to push.
    let r = stack
        .http
        .post(format!("{}/files?name=fw-771.bin", stack.api))
        .header("content-type", "application/octet-stream")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let uri = r.json::<serde_json::Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let push = lwm2m_device(&stack, "push-only", |c| c.firmware.delivery_method = 1).await;
    let cases = select(&lwm2m::catalogue(), &["1.0-int-771".into(), "1.0-int-780".into()]).unwrap();
    let ctx = ctx(&stack, "push-only").with_firmware_uri(Some(uri.clone()));
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    assert_eq!(v["LightweightM2M-1.0-int-771"].0, Verdict::Pass, "{}", show(&reports));
    assert_eq!(push.get(unidm_lwm2m::Path::Resource(5, 0, 0)), Some(unidm_lwm2m::codec::Value::Opaque(image)));
    // It takes no Package URI at all: 780 cannot be judged on it.
    assert_eq!(v["LightweightM2M-1.0-int-780"].0, Verdict::Inconclusive, "{}", show(&reports));
    // A device that fetches the image itself: 771 cannot be judged; a Package URI of a scheme
    // it does not list (coaps) ends with Update Result 9.
    let _pull = lwm2m_device(&stack, "pull", |c| c.firmware.delivery_method = 0).await;
    let pull = Ctx::new(stack.engine.clone(), DeviceId::lwm2m("pull").unwrap())
        .with_lwm2m(Some(stack.lwm2m.clone()))
        .with_firmware_uri(Some(uri))
        .with_step_timeout(Duration::from_secs(15));
    let reports = runner::run(&pull, &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    assert_eq!(v["LightweightM2M-1.0-int-771"].0, Verdict::Inconclusive, "{}", show(&reports));
    assert_eq!(v["LightweightM2M-1.0-int-780"].0, Verdict::Pass, "{}", show(&reports));
    assert!(
        v["LightweightM2M-1.0-int-780"].1.contains("coaps")
            && v["LightweightM2M-1.0-int-780"].1.contains("Update Result 9"),
        "{}",
        show(&reports)
    );
}

/// Plays the lab's part in the active-notification case: once the case has turned active
/// notification on, the value is changed on the CPE itself.
struct ChangesOnTheCpe {
    cpe: Arc<SimCpe>,
}

impl runner::Progress for ChangesOnTheCpe {
    fn started(&mut self, _: usize, _: usize, case: &unidm_interop::Case) {
        if case.id != "TR069-A.3.2.4-ActiveNotification" {
            return;
        }
        let cpe = self.cpe.clone();
        tokio::spawn(async move {
            let name = ["Device.", "InternetGatewayDevice."]
                .map(|root| format!("{root}ManagementServer.PeriodicInformInterval"))
                .into_iter()
                .find(|n| cpe.get(n).is_some())
                .expect("the CPE has a PeriodicInformInterval");
            unidm_testkit::eventually("active notification on", || async {
                (cpe.notification(&name) == Some(2)).then_some(())
            })
            .await;
            assert!(cpe.set_local(&name, "1234"));
        });
    }

    fn finished(&mut self, _: usize, _: usize, _: &CaseReport) {}
}

async fn cwmp_catalogue(tree: ParameterTree, inconclusive: &str) {
    let stack = Stack::start().await;
    let cpe = SimCpe::start(unidm_tr069::sim::SimConfig::new(stack.acs.acs_url().unwrap(), tree)).await.expect("cpe");
    let cpe = Arc::new(cpe);
    let ident = cpe.identity();
    let id = DeviceId::tr069(&ident.oui, Some(&ident.product_class), &ident.serial_number).unwrap();
    let engine = &stack.engine;
    unidm_testkit::eventually("the CPE known to the engine", || async { engine.device(&id).ok() }).await;
    let files = stack.acs.file_url("fw.bin");
    let ctx = Ctx::new(stack.engine.clone(), id.clone())
        .with_firmware_uri(files.clone())
        .with_software_uri(files)
        .with_step_timeout(Duration::from_secs(15));
    let reports = runner::run(&ctx, &tr069::catalogue(), &mut ChangesOnTheCpe { cpe: cpe.clone() }).await;
    let judged: Vec<(&str, Verdict)> =
        reports.iter().filter(|r| r.verdict != Verdict::Pass).map(|r| (r.id.as_str(), r.verdict)).collect();
    assert_eq!(judged, [(inconclusive, Verdict::Inconclusive)], "{}", show(&reports));
    let inform = &reports.iter().find(|r| r.id == "TR069-3.2.2-ConnectionRequest").unwrap().exchanges;
    assert!(inform.iter().any(|m| m.summary == "Inform" && m.body.contains("6 CONNECTION REQUEST")), "{inform:?}");
    let change = &reports.iter().find(|r| r.id == "TR069-A.3.2.4-ActiveNotification").unwrap();
    assert!(change.reason.contains("-> 1234"), "{}", change.reason);
    let interval = ctx.read("ManagementServer.PeriodicInformInterval").await.unwrap();
    for set in ["3601", "3603", "1234"] {
        assert!(!interval.to_string().contains(set), "the cases put the value back: {interval}");
    }
    let name = ["Device.", "InternetGatewayDevice."]
        .map(|root| format!("{root}ManagementServer.PeriodicInformInterval"))
        .into_iter()
        .find(|n| cpe.get(n).is_some())
        .unwrap();
    assert_eq!(cpe.notification(&name), Some(0), "the notification attribute was put back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpe_that_notifies_the_acs_own_changes_fails_and_one_left_alone_is_inconclusive() {
    let stack = Stack::start().await;
    let mut config = unidm_tr069::sim::SimConfig::new(
        stack.acs.acs_url().unwrap(),
        ParameterTree::tr181("00D09E", "SimGW", "NOTIFY-1"),
    );
    config.notify_acs_changes = true;
    let cpe = SimCpe::start(config).await.expect("cpe");
    let ident = cpe.identity();
    let id = DeviceId::tr069(&ident.oui, Some(&ident.product_class), &ident.serial_number).unwrap();
    let engine = &stack.engine;
    unidm_testkit::eventually("the CPE known to the engine", || async { engine.device(&id).ok() }).await;
    let ctx = Ctx::new(stack.engine.clone(), id).with_step_timeout(Duration::from_secs(15));
    let cases = select(&tr069::catalogue(), &["*Notification*".into()]).unwrap();
    assert_eq!(cases.len(), 2);
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    let acs = &v["TR069-A.3.2.4-NoNotificationOfACSChanges"];
    assert_eq!(acs.0, Verdict::Fail, "{}", show(&reports));
    // The case's own restore (an ACS change again) is notified late by this CPE: not taken
    // for a change on the CPE.
    assert!(reports[0].got.as_deref().unwrap_or_default().contains("4 VALUE CHANGE"), "{}", show(&reports));
    // Nothing changes on the CPE during the case: the lab did not do its part.
    let active = &v["TR069-A.3.2.4-ActiveNotification"];
    assert_eq!(active.0, Verdict::Inconclusive, "{}", show(&reports));
    assert!(active.1.contains("change it on the CPE itself"), "{}", active.1);
    cpe.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_tr181_cpe_passes_the_cwmp_catalogue() {
    // The TR-181 simulator's tree has no multi-instance object an ACS may add to.
    cwmp_catalogue(ParameterTree::tr181("00D09E", "SimGW", "CONF-181"), "TR069-A.3.2.6-AddObject").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_tr098_cpe_passes_the_cwmp_catalogue() {
    // The TR-098 gateway lists ChangeDUState but reports no SoftwareModules: unidm refuses
    // software operations on it.
    cwmp_catalogue(ParameterTree::bm632w(), "TR069-A.4.1.10-ChangeDUState").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pointed_at_the_bootstrap_server_passes_the_bootstrap_case() {
    use unidm_lwm2m::bootstrap::{BootstrapConfig, SecurityMode, ServerAccount};
    let stack = Stack::start().await;
    let account = ServerAccount {
        short_server_id: 101,
        uri: format!("coap://{}", stack.lwm2m_addr()),
        security: SecurityMode::NoSec {},
        lifetime: 300,
        binding: "U".into(),
        default_min_period: Some(1),
        default_max_period: Some(60),
        notification_storing: true,
    };
    stack.lwm2m.put_bootstrap_config("bootstrapped", BootstrapConfig { servers: vec![account] }).await.unwrap();
    let bs = stack.lwm2m.bootstrap_addr().expect("a bootstrap server");
    let mut config = SimConfig::new("bootstrapped", std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
    config.version = "1.1".into();
    let client = Arc::new(SimClient::start(config).await.unwrap());
    client.bootstrap(bs).await.unwrap();
    client.register().await.unwrap();
    let id = DeviceId::lwm2m("bootstrapped").unwrap();
    let engine = &stack.engine;
    unidm_testkit::eventually("the bootstrapped client", || async { engine.device(&id).ok() }).await;
    let cases = select(
        &lwm2m::catalogue(),
        &["1.1-int-0".into(), "1.1-int-4".into(), "1.1-int-5".into(), "1.1-int-6".into(), "1.0-int-101".into()],
    )
    .unwrap();
    let mut lab = RestartsTheClient { client: client.clone(), bootstrap: bs };
    let reports = runner::run(&ctx(&stack, "bootstrapped"), &cases, &mut lab).await;
    assert!(reports.iter().all(|r| r.verdict == Verdict::Pass), "{}", show(&reports));
    // int-0: the client's own Bootstrap-Request, no trigger.
    let own: Vec<&str> = reports[0].exchanges.iter().map(|m| m.summary.as_str()).collect();
    assert!(own.iter().any(|s| s.starts_with("Bootstrap-Request")), "{own:?}");
    assert!(!own.iter().any(|s| s.starts_with("POST /1/0/9")), "{own:?}");
    // int-5: started by the Bootstrap-Request Trigger.
    let exchange: Vec<&str> = reports
        .iter()
        .find(|r| r.id == "LightweightM2M-1.1-int-5")
        .unwrap()
        .exchanges
        .iter()
        .map(|m| m.summary.as_str())
        .collect();
    let at = |prefix: &str| {
        exchange.iter().position(|s| s.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {exchange:?}"))
    };
    assert!(at("POST /1/0/9") < at("Bootstrap-Request"), "{exchange:?}");
    assert!(at("Bootstrap-Request") < at("2.02 to Bootstrap-Delete /0"), "{exchange:?}");
    assert!(at("2.02 to Bootstrap-Delete /0") < at("2.04 to Bootstrap-Finish"), "{exchange:?}");
    assert!(at("2.04 to Bootstrap-Finish") < at("bootstrap finished"), "{exchange:?}");
    // The Register is recorded by the server's task, the bootstrap steps by the bootstrap
    // server's: their order in the record is not the wire's. It came after the request.
    assert!(at("Bootstrap-Request") < at("Register"), "{exchange:?}");
}

/// Plays the lab's part in the client-initiated bootstrap case: the client, restarted, asks
/// its bootstrap server, then registers with what it was given.
struct RestartsTheClient {
    client: Arc<SimClient>,
    bootstrap: std::net::SocketAddr,
}

impl runner::Progress for RestartsTheClient {
    fn started(&mut self, _: usize, _: usize, case: &unidm_interop::Case) {
        if case.id != "LightweightM2M-1.1-int-0" {
            return;
        }
        let (client, bs) = (self.client.clone(), self.bootstrap);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client.bootstrap(bs).await.expect("bootstrap");
            client.register().await.expect("register");
        });
    }

    fn finished(&mut self, _: usize, _: usize, _: &CaseReport) {}
}

/// Plays the lab's part in the OMA DM cases whose result a client reports later (Generic
/// Alert 1226): sessions of the client's own while such a case runs, none otherwise, so that
/// the other cases see the client answer Package #0.
struct SessionsWhileReporting {
    dm: unidm_omadm::sim::SimDevice,
    periodic: Option<tokio::task::JoinHandle<()>>,
}

impl runner::Progress for SessionsWhileReporting {
    fn started(&mut self, _: usize, _: usize, case: &unidm_interop::Case) {
        if case.id == "OMADM-SCOMO-Install" {
            self.periodic = Some(self.dm.spawn_periodic(Duration::from_millis(300)));
        }
    }

    fn finished(&mut self, _: usize, _: usize, _: &CaseReport) {
        if let Some(task) = self.periodic.take() {
            task.abort();
        }
    }
}

/// A simulated DM client of `stack`, known to the engine, with a Package #0 listener.
async fn dm_device(
    stack: &Stack,
    dev_id: &str,
    adjust: impl FnOnce(&mut unidm_omadm::sim::SimConfig),
) -> (unidm_omadm::sim::SimDevice, DeviceId) {
    let url = stack.omadm.server_url().unwrap();
    let mut config = unidm_omadm::sim::SimConfig::new(url, dev_id, common::DM_CLIENT.0, common::DM_CLIENT.1);
    config.server_password = common::DM_SERVER_PASSWORD.into();
    // The update takes a moment, then the client reports it in a session of its own.
    config.fumo_delays = Some((Duration::from_millis(50), Duration::from_millis(50)));
    adjust(&mut config);
    let dm = unidm_omadm::sim::SimDevice::new(config);
    dm.run().await.expect("first session");
    let (push, _listener) = dm.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    stack.omadm.set_push_address(dev_id, push).await;
    let id = DeviceId::omadm(dev_id).unwrap();
    (dm, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_dm_client_passes_the_oma_dm_catalogue() {
    let stack = Stack::start().await;
    let (dm, id) = dm_device(&stack, "IMEI:350000000000042", |_| {}).await;
    let files = stack.acs.file_url("fw.bin");
    let ctx = Ctx::new(stack.engine.clone(), id.clone())
        .with_firmware_uri(files.clone())
        .with_software_uri(files)
        .with_step_timeout(Duration::from_secs(15));
    let catalogue = unidm_interop::catalogue(Protocol::Omadm);
    let mut lab = SessionsWhileReporting { dm: dm.clone(), periodic: None };
    let reports = runner::run(&ctx, &catalogue, &mut lab).await;
    let judged: Vec<(&str, Verdict)> =
        reports.iter().filter(|r| r.verdict != Verdict::Pass).map(|r| (r.id.as_str(), r.verdict)).collect();
    assert_eq!(judged, [], "{}", show(&reports));
    // The exchanges are the SyncML messages, decoded, the credentials left out.
    let get = &reports.iter().find(|r| r.id == "OMADM-Get-Leaf").unwrap().exchanges;
    assert!(get.iter().any(|m| m.summary.contains("Get ./DevInfo/DevId")), "{get:?}");
    assert!(get.iter().all(|m| !m.body.contains(common::DM_CLIENT.1)), "{get:?}");
    let pkg0 = &reports.iter().find(|r| r.id == "OMADM-Pkg0-ServerInitiated").unwrap();
    assert!(pkg0.exchanges.iter().any(|m| m.summary.contains("Alert 1200")), "{:?}", pkg0.exchanges);
    // Every value a case replaced is back.
    // (the FUMO case leaves its own image URL, as any update does).
    let pkg_url = dm.node("./FUMO/DownloadAndUpdate/PkgURL").unwrap_or_default();
    assert!(!pkg_url.contains("conformance.unidm.invalid"), "{pkg_url}");
    assert_eq!(dm.node("./DevInfo/DevId").as_deref(), Some("IMEI:350000000000042"));
    let report = Report::new(Protocol::Omadm, id, "sim".into(), runner::now(), runner::now(), reports);
    assert!(report.summary.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_client_without_fumo_is_inconclusive_and_a_failing_update_fails() {
    let stack = Stack::start().await;
    let (_plain, id) = dm_device(&stack, "IMEI:350000000000043", |c| c.fumo = false).await;
    let ctx = Ctx::new(stack.engine.clone(), id)
        .with_firmware_uri(Some("http://127.0.0.1:9/fw.bin".into()))
        .with_step_timeout(Duration::from_secs(15));
    let cases =
        select(&unidm_interop::catalogue(Protocol::Omadm), &["OMADM-Replace-ReadBack".into(), "OMADM-FUMO-*".into()])
            .unwrap();
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    assert_eq!(v["OMADM-Replace-ReadBack"].0, Verdict::Inconclusive, "{}", show(&reports));
    assert_eq!(v["OMADM-FUMO-DownloadAndUpdate"].0, Verdict::Inconclusive, "{}", show(&reports));

    // FUMO result 410 (Firmware Update Failed): the update case fails with the client's reason.
    let (_failing, id) = dm_device(&stack, "IMEI:350000000000044", |c| c.fumo_result = 410).await;
    let ctx = Ctx::new(stack.engine.clone(), id)
        .with_firmware_uri(Some("http://127.0.0.1:9/fw.bin".into()))
        .with_step_timeout(Duration::from_secs(15));
    let reports = runner::run(
        &ctx,
        &select(&unidm_interop::catalogue(Protocol::Omadm), &["OMADM-FUMO-*".into()]).unwrap(),
        &mut runner::Silent,
    )
    .await;
    assert_eq!(reports[0].verdict, Verdict::Fail, "{}", show(&reports));
    assert!(reports[0].got.as_deref().unwrap_or_default().contains("410"), "{}", show(&reports));
}

/// An engine on a SQLite file in `dir` with a LwM2M server and a bootstrap server, each also on
/// DTLS (with these certificates, if any), all on loopback ports the OS picks.
async fn dtls_lwm2m(
    dir: &std::path::Path,
    x509: Option<unidm_lwm2m::dtls::X509Settings>,
    bootstrap_x509: Option<unidm_lwm2m::dtls::X509Settings>,
) -> (Arc<unidm_lwm2m::Lwm2mAdapter>, unidm_core::Engine) {
    use unidm_lwm2m::{DtlsSettings, Lwm2mAdapter, Lwm2mConfig};
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = Lwm2mConfig::new(loopback);
    config.bootstrap_listen = Some(loopback);
    config.dtls = Some(DtlsSettings { listen: loopback, x509, ..Default::default() });
    config.bootstrap_dtls = Some(DtlsSettings { listen: loopback, x509: bootstrap_x509, ..Default::default() });
    let adapter = Arc::new(Lwm2mAdapter::new(config));
    let engine = unidm_core::Engine::builder()
        .store(unidm_core::SqliteStore::open(dir.join("unidm.db")).unwrap())
        .adapter_arc(adapter.clone())
        .start()
        .await
        .unwrap();
    (adapter, engine)
}

/// ETS 1.1 int-1 (full bootstrap with PSK): the client bootstraps over DTLS with its bootstrap
/// PSK, is written a PSK account for the server, and registers over DTLS with that identity;
/// a client that bootstraps in clear text is inconclusive, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_bootstrapped_over_dtls_with_a_psk_passes_the_full_psk_case() {
    use unidm_lwm2m::bootstrap::{BootstrapConfig, SecurityMode, ServerAccount};
    let dir = tempfile::tempdir().unwrap();
    let (adapter, engine) = dtls_lwm2m(dir.path(), None, None).await;
    let account = |identity: &str| ServerAccount {
        short_server_id: 101,
        uri: format!("coaps://{}", adapter.dtls_addr().unwrap()),
        // base64 of the 16 bytes `0123456789abcdef`.
        security: SecurityMode::Psk { identity: identity.into(), key: "MDEyMzQ1Njc4OWFiY2RlZg==".into() },
        lifetime: 300,
        binding: "U".into(),
        default_min_period: Some(1),
        default_max_period: Some(60),
        notification_storing: true,
    };
    let client = |endpoint: &str, bootstrap_psk: Option<&[u8]>| {
        let mut c = SimConfig::new(endpoint, std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
        c.version = "1.1".into();
        c.psk = bootstrap_psk.map(|id| (id.to_vec(), b"bootstrap-key-01".to_vec()));
        c
    };
    let ctx = |endpoint: &str| {
        Ctx::new(engine.clone(), DeviceId::lwm2m(endpoint).unwrap())
            .with_lwm2m(Some(adapter.clone()))
            .with_step_timeout(Duration::from_secs(15))
    };
    let cases = select(&lwm2m::catalogue(), &["1.1-int-1".into(), "1.1-int-2".into()]).unwrap();

    // Over DTLS: the bootstrap identity bound to the endpoint.
    adapter.set_psk(b"bs-id-1", Some("full-psk"), b"bootstrap-key-01").await.unwrap();
    adapter.put_bootstrap_config("full-psk", BootstrapConfig { servers: vec![account("srv-id-1")] }).await.unwrap();
    let sim = SimClient::start(client("full-psk", Some(b"bs-id-1"))).await.unwrap();
    sim.bootstrap(adapter.bootstrap_dtls_addr().unwrap()).await.unwrap();
    sim.register().await.unwrap();
    let reports = runner::run(&ctx("full-psk"), &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    let full = &v["LightweightM2M-1.1-int-1"];
    assert_eq!(full.0, Verdict::Pass, "{}", show(&reports));
    assert!(full.1.contains("over DTLS (PSK identity `bs-id-1`)"), "{}", full.1);
    assert!(full.1.contains("over DTLS (PSK identity `srv-id-1`)"), "{}", full.1);
    // The configuration writes no certificate: int-2 cannot be judged on this client.
    let cert = &v["LightweightM2M-1.1-int-2"];
    assert_eq!(cert.0, Verdict::Inconclusive, "{}", show(&reports));
    assert!(cert.1.contains("no certificate account"), "{}", cert.1);

    // In clear text: the client's bootstrap account is not PSK.
    adapter.put_bootstrap_config("clear-bs", BootstrapConfig { servers: vec![account("srv-id-2")] }).await.unwrap();
    let sim2 = SimClient::start(client("clear-bs", None)).await.unwrap();
    sim2.bootstrap(adapter.bootstrap_addr().unwrap()).await.unwrap();
    sim2.register().await.unwrap();
    let reports = runner::run(&ctx("clear-bs"), &cases[..1], &mut runner::Silent).await;
    assert_eq!(reports[0].verdict, Verdict::Inconclusive, "{}", show(&reports));
    assert!(reports[0].reason.contains("in clear text"), "{}", reports[0].reason);
    engine.shutdown().await;
}

/// ETS 1.1 int-2 (full bootstrap with certificates): the client bootstraps over DTLS with its
/// certificate, is written a certificate account for the server (its certificate and key, and
/// the certificate the server's must lead to), and registers over DTLS with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_bootstrapped_with_certificates_passes_the_full_certificate_case() {
    use base64::Engine as _;
    use unidm_lwm2m::bootstrap::{BootstrapConfig, SecurityMode, ServerAccount};
    use unidm_lwm2m::dtls::X509Settings;
    // Two CAs: the bootstrap server knows the client's bootstrap certificate (of the first),
    // the LwM2M server only the certificate the bootstrap writes (of the second), so that the
    // Register shows the client took what it was given.
    let dir = tempfile::tempdir().unwrap();
    let (dir1, dir2) = (dir.path().join("bs"), dir.path().join("srv"));
    std::fs::create_dir_all(&dir1).unwrap();
    std::fs::create_dir_all(&dir2).unwrap();
    let (bs_ca, ca) = (unidm_testkit::tls::TestCa::new(&dir1), unidm_testkit::tls::TestCa::new(&dir2));
    let x509 = |ca: &unidm_testkit::tls::TestCa| {
        let (cert, key) = ca.server_pem();
        X509Settings { cert_pem: cert.into_bytes(), key_pem: key.into_bytes(), ca_pem: ca.ca_pem.clone().into_bytes() }
    };
    let (adapter, engine) = dtls_lwm2m(dir.path(), Some(x509(&ca)), Some(x509(&bs_ca))).await;
    // The account for the LwM2M server: a certificate of the endpoint's name (the server binds
    // it by its CN), and the CA as what the server's certificate must lead to.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (der, key_der) = ca.client_der("full-cert");
    let account = ServerAccount {
        short_server_id: 101,
        uri: format!("coaps://{}", adapter.dtls_addr().unwrap()),
        security: SecurityMode::X509 {
            certificate: b64(&der),
            secret_key: b64(&key_der),
            server_certificate: b64(&ca.ca_der),
        },
        lifetime: 300,
        binding: "U".into(),
        default_min_period: Some(1),
        default_max_period: Some(60),
        notification_storing: true,
    };
    // A key that is not the certificate's is refused, naming the field.
    let (_, other_key) = ca.client_der("full-cert");
    let mut wrong = account.clone();
    wrong.security =
        SecurityMode::X509 { certificate: b64(&der), secret_key: b64(&other_key), server_certificate: b64(&ca.ca_der) };
    let e = adapter.put_bootstrap_config("full-cert", BootstrapConfig { servers: vec![wrong] }).await.unwrap_err();
    assert!(e.to_string().contains("secretKey"), "{e}");
    adapter.put_bootstrap_config("full-cert", BootstrapConfig { servers: vec![account] }).await.unwrap();

    // The client's bootstrap account: a certificate of its own (same CN, the other CA), trusting
    // the bootstrap server's CA.
    let (bs_cert, bs_key) = bs_ca.client("full-cert");
    let mut c = SimConfig::new("full-cert", std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
    c.version = "1.1".into();
    c.x509 = Some(X509Settings {
        cert_pem: bs_cert.into_bytes(),
        key_pem: bs_key.into_bytes(),
        ca_pem: bs_ca.ca_pem.clone().into_bytes(),
    });
    let sim = SimClient::start(c).await.unwrap();
    sim.bootstrap(adapter.bootstrap_dtls_addr().unwrap()).await.unwrap();
    sim.register().await.unwrap();
    let ctx = Ctx::new(engine.clone(), DeviceId::lwm2m("full-cert").unwrap())
        .with_lwm2m(Some(adapter.clone()))
        .with_step_timeout(Duration::from_secs(15));
    let cases = select(&lwm2m::catalogue(), &["1.1-int-1".into(), "1.1-int-2".into()]).unwrap();
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    let v = verdicts(&reports);
    let full = &v["LightweightM2M-1.1-int-2"];
    assert_eq!(full.0, Verdict::Pass, "{}", show(&reports));
    assert_eq!(
        full.1,
        "bootstrapped over DTLS (certificate CN=full-cert), then registered over DTLS (certificate CN=full-cert)"
    );
    // No PSK in the configuration: int-1 cannot be judged on this client.
    assert_eq!(v["LightweightM2M-1.1-int-1"].0, Verdict::Inconclusive, "{}", show(&reports));
    engine.shutdown().await;
}
