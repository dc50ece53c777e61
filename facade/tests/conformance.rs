//! `unidm conformance` against simulated devices (embedded and through a running `serve`), its
//! three reports checked by third-party tools (the JUnit XML against its schema with xmllint,
//! the HTML page in headless Chromium), and API runs that survive a restart.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{serve_in_at, Proc};
use serde_json::{json, Value};
use unidm_lwm2m::sim::{SimClient, SimConfig};

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// A tool the test needs: found, or skipped with a notice (required when `require` is set).
fn tool(name: &str, require: &str) -> Option<String> {
    let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
    if found.status.success() {
        return Some(String::from_utf8_lossy(&found.stdout).trim().to_owned());
    }
    assert!(!required(require), "{name} is required ({require}=1) but not installed");
    eprintln!("notice: {name} not installed; that check is skipped");
    None
}

async fn sim(endpoint: &str, server: &str, adjust: impl FnOnce(&mut SimConfig)) -> SimClient {
    let mut config = SimConfig::new(endpoint, server.parse().unwrap());
    config.version = "1.1".into();
    config.content_formats = vec![110, 112, 11542];
    adjust(&mut config);
    let client = SimClient::start(config).await.unwrap();
    client.register().await.unwrap();
    client
}

fn conformance(args: &[&str], report_dir: &Path) -> Proc {
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_unidm"))
            .args(["conformance"])
            .args(args)
            .arg("--report-dir")
            .arg(report_dir)
            .env("UNIDM_LOG", "warn"),
    )
}

/// Checks the three reports of a passing run: JSON counts, JUnit XML valid against the schema,
/// the HTML page's summary as Chromium renders it.
fn check_reports(dir: &Path, cases: usize) -> Value {
    let report: Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["total"], cases, "{report}");
    let junit = dir.join("report.xml");
    if let Some(xmllint) = tool("xmllint", "UNIDM_REQUIRE_XMLLINT") {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
        let out = Command::new(xmllint).arg("--noout").arg("--schema").arg(&schema).arg(&junit).output().unwrap();
        assert!(out.status.success(), "JUnit XML invalid: {}", String::from_utf8_lossy(&out.stderr));
    }
    if let Some(chromium) = tool("chromium", "UNIDM_REQUIRE_CHROMIUM") {
        let profile = tempfile::tempdir().unwrap();
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("file://{}", dir.join("report.html").display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(dom.contains("<table id=\"summary\""), "no summary table in what Chromium rendered: {dom}");
        let summary = dom.split("<table id=\"summary\"").nth(1).unwrap_or_default();
        let summary = summary.split("</table>").next().unwrap_or_default();
        assert!(summary.contains(&format!("<td>{cases}</td>")), "{summary}");
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_cases_against_a_client_and_writes_three_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = conformance(
        &[
            "lwm2m",
            "--endpoint",
            "cli-sim",
            "--coap",
            "127.0.0.1:0",
            "--wait-s",
            "30",
            "--cases",
            "1.0-int-101,1.0-int-201,1.1-int-231,1.0-int-204,1.1-int-5",
        ],
        dir.path(),
    );
    // "waiting up to 30 s for lwm2m:cli-sim at coap://127.0.0.1:PORT …"
    let line = proc.line("the server's address", |l| l.starts_with("waiting up to"));
    let server = line.split("coap://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let _client = sim("cli-sim", &server, |_| {}).await;
    let (status, lines) = tokio::task::spawn_blocking(move || proc.exit()).await.unwrap();
    let out = lines.join("\n");
    assert!(status.success(), "{status}\n{out}");
    // In catalogue order, whatever the order of --cases.
    for want in [
        // The embedded run has no bootstrap server (nothing could configure it).
        "[  1/5] INCO LightweightM2M-1.1-int-5",
        "unidm runs no bootstrap server here (use --api",
        "[  2/5] PASS LightweightM2M-1.0-int-101",
        "[  4/5] INCO LightweightM2M-1.0-int-204",
        "[  5/5] PASS LightweightM2M-1.1-int-231",
        "ETA",
        "5 cases: 3 passed, 0 failed, 2 inconclusive, 0 errors — OK",
    ] {
        assert!(out.contains(want), "`{want}` missing:\n{out}");
    }
    let report = check_reports(dir.path(), 5);
    assert_eq!(report["cases"][3]["verdict"], "inconclusive");
    let exchange = report["cases"][4]["exchanges"].as_array().unwrap();
    assert!(exchange.iter().any(|m| m["summary"] == "GET /3/0 Accept: 110"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_fails_a_case_makes_the_cli_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = conformance(
        &["lwm2m", "--endpoint", "bad-sim", "--coap", "127.0.0.1:0", "--wait-s", "30", "--cases", "1.0-int-203"],
        dir.path(),
    );
    let line = proc.line("the server's address", |l| l.starts_with("waiting up to"));
    let server = line.split("coap://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let _client = sim("bad-sim", &server, |c| c.ignore_accept = true).await;
    let (status, lines) = tokio::task::spawn_blocking(move || proc.exit()).await.unwrap();
    let out = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL LightweightM2M-1.0-int-203"), "{out}");
    assert!(out.contains("expected 2.05 Content in 11542, got failed"), "{out}");
    let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["failed"], 1);
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(junit.contains("<failure message="), "{junit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_cwmp_cases_against_a_cpe() {
    let dir = tempfile::tempdir().unwrap();
    let id = unidm_models::DeviceId::tr069("00D09E", Some("CliGW"), "CLI-1").unwrap();
    let mut proc = conformance(
        &["tr069", "--device", id.as_str(), "--acs", "127.0.0.1:0", "--wait-s", "30",
          "--firmware-uri", "http://127.0.0.1:9/fw.bin",
          "--cases", "TR069-3.7.1.1-Inform,TR069-A.3.2.2-GetParameterValues,TR069-A.5-9008-SetParameterValues,TR069-A.3.2.8-Download"],
        dir.path(),
    );
    // "waiting up to 30 s for tr069:… at http://127.0.0.1:PORT/ …"
    let line = proc.line("the ACS URL", |l| l.starts_with("waiting up to"));
    let acs = line.split(" at ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "CliGW", "CLI-1");
    let _cpe = unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(acs, tree)).await.unwrap();
    let (status, lines) = tokio::task::spawn_blocking(move || proc.exit()).await.unwrap();
    let out = lines.join("\n");
    assert!(status.success(), "{status}\n{out}");
    assert!(out.contains("4 cases: 4 passed, 0 failed, 0 inconclusive, 0 errors — OK"), "{out}");
    let report = check_reports(dir.path(), 4);
    let download = report["cases"].as_array().unwrap().iter().find(|c| c["id"] == "TR069-A.3.2.8-Download").unwrap();
    let soap: Vec<&str> =
        download["exchanges"].as_array().unwrap().iter().filter_map(|m| m["summary"].as_str()).collect();
    assert!(soap.contains(&"Download") && soap.contains(&"TransferComplete"), "{soap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_oma_dm_cases_against_a_dm_client() {
    let dir = tempfile::tempdir().unwrap();
    const DEV: &str = "IMEI:350000000000077";
    // A free UDP port for the client's Package #0 listener: it goes on the command line before
    // the client (which needs the server's URL) exists.
    let push_addr = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let push = format!("udp://{push_addr}");
    let mut proc = conformance(
        &[
            "omadm",
            "--device",
            DEV,
            "--dm",
            "127.0.0.1:0",
            "--wait-s",
            "30",
            "--username",
            "lab",
            "--password",
            "lab-secret",
            "--server-password",
            "srv-secret",
            "--push",
            &push,
            "--cases",
            "OMADM-Pkg1-DevInfo,OMADM-Get-Leaf,OMADM-Replace-ReadOnly,OMADM-Pkg0-ServerInitiated",
        ],
        dir.path(),
    );
    // "waiting up to 30 s for omadm:… at http://127.0.0.1:PORT/dm …"
    let line = proc.line("the DM server URL", |l| l.starts_with("waiting up to"));
    let url = line.split(" at ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert!(url.ends_with("/dm"), "{line}");
    let mut config = unidm_omadm::sim::SimConfig::new(url, DEV, "lab", "lab-secret");
    config.server_password = "srv-secret".into();
    let client = unidm_omadm::sim::SimDevice::new(config);
    let (_, _listener) = client.listen_package0(push_addr).await.unwrap();
    client.run().await.expect("the client's first session");
    let (status, lines) = tokio::task::spawn_blocking(move || proc.exit()).await.unwrap();
    let out = lines.join("\n");
    assert!(status.success(), "{status}\n{out}");
    assert!(out.contains("4 cases: 4 passed, 0 failed, 0 inconclusive, 0 errors — OK"), "{out}");
    let report = check_reports(dir.path(), 4);
    let pkg0 = report["cases"].as_array().unwrap().iter().find(|c| c["id"] == "OMADM-Pkg0-ServerInitiated").unwrap();
    let syncml: Vec<&str> =
        pkg0["exchanges"].as_array().unwrap().iter().filter_map(|m| m["summary"].as_str()).collect();
    assert!(syncml.iter().any(|s| s.contains("Alert 1200")), "{syncml:?}");
    assert!(!report.to_string().contains("lab-secret"), "no secret in the report");
}

async fn wait_run(http: &reqwest::Client, api: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run: Value = http.get(format!("{api}/conformance-runs/{id}")).send().await.unwrap().json().await.unwrap();
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "{run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_over_the_api_report_progress_and_resume_after_a_restart() {
    // The LwM2M server comes back on the same address after the restart: the client's
    // notifications (case 301) go there.
    let lwm2m = common::free_udp_addr();
    let server = serve_in_at(tempfile::tempdir().unwrap(), "", &lwm2m);
    let client = sim("api-sim", &server.lwm2m, |_| {}).await;
    let http = reqwest::Client::new();
    let api = server.api.clone();
    let device = "lwm2m:api-sim";
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{api}/devices/{device}")).send().await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "the device never showed up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The CLI follows a run on the running server; the event stream shows its progress.
    let mut events = http.get(format!("{api}/events?types=conformanceRunChanged")).send().await.unwrap();
    assert_eq!(events.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let proc = conformance(
        &["lwm2m", "--endpoint", "api-sim", "--api", &api, "--cases", "1.0-int-101,1.1-int-222"],
        dir.path(),
    );
    let (status, lines) = tokio::task::spawn_blocking(move || proc.exit()).await.unwrap();
    assert!(status.success(), "{lines:#?}");
    check_reports(dir.path(), 2);
    let mut seen = String::new();
    while !seen.contains("\"state\":\"finished\"") {
        match tokio::time::timeout(Duration::from_secs(10), events.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the event stream ended before the run finished ({other:?}): {seen}"),
        }
    }
    assert!(seen.contains("event: conformanceRunChanged"), "{seen}");
    assert!(seen.contains("\"current\":\"LightweightM2M-1.1-int-222\""), "progress per case: {seen}");
    drop(events);

    // Bad requests are refused with the field named.
    let r = http
        .post(format!("{api}/conformance-runs"))
        .json(&json!({"device": device, "cases": ["int-999"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no case matches `int-999`"));
    let r = http
        .post(format!("{api}/conformance-runs"))
        .json(&json!({"device": device, "firmwareCases": {"1": "http://127.0.0.1:9/x.bin"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "firmwareCases", "{problem}");

    // Two quick cases, then a slow one (301 watches notifications for 7 s).
    let cases = ["1.0-int-201", "1.0-int-301", "1.1-int-224"];
    let r = http
        .post(format!("{api}/conformance-runs"))
        .json(&json!({"device": device, "cases": cases}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let run: Value = r.json().await.unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!((run["state"].as_str(), run["total"].as_u64()), (Some("running"), Some(3)));
    let busy = http.post(format!("{api}/conformance-runs")).json(&json!({"device": device})).send().await.unwrap();
    assert_eq!(busy.status(), 409, "one run per device at a time");
    let mid = wait_run(&http, &api, &id, |r| r["current"] == "LightweightM2M-1.0-int-301").await;
    assert_eq!((mid["done"].as_u64(), mid["passed"].as_u64()), (Some(2), Some(2)), "{mid}");

    // Stopped in the middle of the second case, started again on the same database.
    let dir = server.stop();
    let server = serve_in_at(dir, "", &lwm2m);
    let api = server.api.clone();
    let done = wait_run(&http, &api, &id, |r| r["state"] != "running").await;
    assert_eq!(
        (done["state"].as_str(), done["done"].as_u64(), done["passed"].as_u64()),
        (Some("finished"), Some(3), Some(3)),
        "{done}"
    );
    let report: Value =
        http.get(format!("{api}/conformance-runs/{id}/report")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = report["cases"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["LightweightM2M-1.0-int-201", "LightweightM2M-1.1-int-224", "LightweightM2M-1.0-int-301"],
        "each case once"
    );
    let junit = http.get(format!("{api}/conformance-runs/{id}/report?format=junit")).send().await.unwrap();
    assert_eq!(junit.headers()["content-type"], "application/xml; charset=utf-8");
    assert!(junit.text().await.unwrap().contains("tests=\"3\" failures=\"0\""));
    let html =
        http.get(format!("{api}/conformance-runs/{id}/report?format=html")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<table id=\"summary\""));
    let catalogue: Value =
        http.get(format!("{api}/conformance/catalogues/tr069")).send().await.unwrap().json().await.unwrap();
    assert!(catalogue.as_array().unwrap().iter().any(|c| c["id"] == "TR069-A.3.2.8-Download"));
    let catalogue: Value =
        http.get(format!("{api}/conformance/catalogues/omadm")).send().await.unwrap().json().await.unwrap();
    assert!(catalogue.as_array().unwrap().iter().any(|c| c["id"] == "OMADM-Pkg0-ServerInitiated"));

    // A firmware error case given its package: the simulator installs whatever it is given,
    // so the case fails (it expected Update Result 2), which shows the package reached it.
    let r = http
        .post(format!("{api}/conformance-runs"))
        .json(
            &json!({"device": device, "cases": ["1.0-int-773"], "firmwareCases": {"2": "http://127.0.0.1:9/huge.bin"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let done = wait_run(&http, &api, &id, |r| r["state"] != "running").await;
    assert_eq!(done["failed"].as_u64(), Some(1), "{done}");
    let report: Value =
        http.get(format!("{api}/conformance-runs/{id}/report")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["cases"][0]["expected"], "the update failed with Update Result 2", "{report}");
    drop(client);
    server.stop();
}

/// SIGTERM stops `serve` within its 5 s grace even while an event stream (which never ends by
/// itself) is open; before, the graceful shutdown waited for it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_with_an_event_stream_open() {
    let server = serve_in_at(tempfile::tempdir().unwrap(), "", "127.0.0.1:0");
    let events = reqwest::get(format!("{}/events", server.api)).await.unwrap();
    assert_eq!(events.status(), 200);
    let started = Instant::now();
    tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    drop(events);
}

/// The embedded DM server's options are refused with --api, saying where they go instead.
#[test]
fn dm_options_for_the_embedded_server_are_refused_with_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["conformance", "omadm", "--device", "IMEI:1", "--api", "http://127.0.0.1:9/api/v1"])
        .args(["--push", "udp://127.0.0.1:9"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PUT /api/v1/omadm/clients/{devId}/credentials and /push"), "{err}");
}
