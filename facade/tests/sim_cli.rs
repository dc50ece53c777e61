//! `unidm sim` as a child process against `unidm serve` as another: simulated LwM2M clients
//! register and de-register on SIGTERM, simulated CPEs inform and stop, bad arguments are
//! refused with a message. Every port is 127.0.0.1:0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// A child process whose stdout lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(command: &mut Command) -> Proc {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start unidm");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines, seen: Vec::new() }
    }

    /// The first line (from now) that satisfies `want`.
    fn line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {what} within {WAIT:?}; got {:#?}", self.seen),
            }
        }
    }

    /// One line starting with each of `prefixes`, in whatever order they come (devices run
    /// concurrently, so their lines interleave).
    fn each(&mut self, what: &str, prefixes: &[String]) {
        let mut missing: Vec<&String> = prefixes.iter().collect();
        while !missing.is_empty() {
            let line = self.line(what, |l| missing.iter().any(|p| l.starts_with(p.as_str())));
            missing.retain(|p| !line.starts_with(p.as_str()));
        }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the exit and returns it with every stdout line.
    fn exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after {WAIT:?}: {:#?}", self.seen);
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `unidm serve` on ephemeral ports: the API base, the LwM2M server and the ACS URL it prints.
struct Server {
    _proc: Proc,
    api: String,
    lwm2m: String,
    /// The `coaps` address.
    lwm2ms: String,
    bootstrap: String,
    acs: String,
    dm: String,
    _dir: tempfile::TempDir,
}

fn serve(config: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("unidm.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_unidm"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tr069-listen",
                "127.0.0.1:0",
                "--omadm-listen",
                "127.0.0.1:0",
                "--lwm2m-listen",
                "127.0.0.1:0",
            ])
            .arg("--config")
            .arg(&cfg)
            .arg("--db")
            .arg(dir.path().join("unidm.db"))
            .arg("--files-dir")
            .arg(dir.path().join("files"))
            .env("UNIDM_LOG", "warn"),
    );
    // "unidm listening on http://127.0.0.1:PORT (...)"
    let line = proc.line("unidm listening", |l| l.starts_with("unidm listening on"));
    let api = format!("{}/api/v1", line.split_whitespace().nth(3).unwrap());
    // "lwm2m server listening on coap://127.0.0.1:PORT (udp)"
    let line = proc.line("lwm2m server", |l| l.starts_with("lwm2m server listening on"));
    let lwm2m = line.split_whitespace().nth(4).unwrap().trim_start_matches("coap://").to_owned();
    // "lwm2m server listening on coaps://127.0.0.1:PORT (udp, DTLS)"
    let line = proc.line("lwm2m coaps", |l| l.starts_with("lwm2m server listening on coaps://"));
    let lwm2ms = line.split_whitespace().nth(4).unwrap().trim_start_matches("coaps://").to_owned();
    // "lwm2m bootstrap server listening on coap://127.0.0.1:PORT (udp)"
    let line = proc.line("lwm2m bootstrap server", |l| l.starts_with("lwm2m bootstrap server listening on"));
    let bootstrap = line.split_whitespace().nth(5).unwrap().to_owned();
    // "tr069 ACS listening on 127.0.0.1:PORT (CPEs use http://127.0.0.1:PORT)"
    let line = proc.line("tr069 ACS", |l| l.starts_with("tr069 ACS listening on"));
    let acs = line.split("CPEs use ").nth(1).unwrap().trim_end_matches(')').to_owned();
    // "omadm server listening on 127.0.0.1:PORT (devices use http://127.0.0.1:PORT/dm)"
    let line = proc.line("omadm server", |l| l.starts_with("omadm server listening on"));
    let dm = line.split("devices use ").nth(1).unwrap().trim_end_matches(')').to_owned();
    Server { _proc: proc, api, lwm2m, lwm2ms, bootstrap, acs, dm, _dir: dir }
}

fn sim(args: &[&str]) -> Proc {
    Proc::spawn(Command::new(env!("CARGO_BIN_EXE_unidm")).arg("sim").args(args).env("UNIDM_LOG", "warn"))
}

/// `{id: presence state}` of the devices of `protocol`.
async fn presence(c: &reqwest::Client, api: &str, protocol: &str) -> Vec<(String, String)> {
    let url = format!("{api}/devices?protocol={protocol}&limit=100");
    let page: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    let items = page["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["presence"]["state"].as_str().unwrap().to_owned()))
        .collect()
}

/// Waits until the devices of `protocol` are exactly `ids`, all in `state`.
async fn wait_presence(c: &reqwest::Client, api: &str, protocol: &str, ids: &[String], state: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = presence(c, api, protocol).await;
        let want: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), state.to_owned())).collect();
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "wanted {want:?}, have {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn lwm2m_clients_register_and_deregister_on_sigterm() {
    let server = serve("");
    let c = reqwest::Client::new();
    let mut sim = sim(&["lwm2m", "--server", &server.lwm2m, "--count", "3", "--endpoint-prefix", "cli"]);
    sim.line("saying what it simulates", |l| l.starts_with("simulating 3 LwM2M 1.1 clients (cli-0 … cli-2)"));
    let per_client: Vec<String> = (0..3).map(|i| format!("registered cli-{i} from 127.0.0.1:")).collect();
    sim.each("per client", &per_client);
    sim.line("all registered", |l| l.starts_with("registered 3/3 clients"));
    let ids: Vec<String> = (0..3).map(|i| format!("lwm2m:cli-{i}")).collect();
    wait_presence(&c, &server.api, "lwm2m", &ids, "online").await;

    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l == "de-registered 3/3 clients; stopped"), "{lines:#?}");
    // De-registered, not expired: offline at once.
    wait_presence(&c, &server.api, "lwm2m", &ids, "offline").await;
}

#[tokio::test]
async fn lwm2m_gateway_end_devices_appear_as_children() {
    let server = serve("");
    let c = reqwest::Client::new();
    let args = ["lwm2m", "--server", &server.lwm2m, "--endpoint-prefix", "gw", "--gateway-children", "2"];
    let mut sim = sim(&args);
    sim.line("registered with its end devices", |l| {
        l.starts_with("registered gw-0 ") && l.ends_with("with 2 end devices")
    });
    let ids: Vec<String> = ["gw-0", "gw-0/child-0", "gw-0/child-1"].iter().map(|e| format!("lwm2m:{e}")).collect();
    wait_presence(&c, &server.api, "lwm2m", &ids, "online").await;
    // The end devices' presence and the gateway's list of children are written apart: wait for
    // the list (unidm_testkit polls with a named deadline).
    let url = format!("{}/devices/lwm2m:gw-0", server.api);
    let want = serde_json::json!(["lwm2m:gw-0/child-0", "lwm2m:gw-0/child-1"]);
    unidm_testkit::eventually("the gateway to list both end devices as children", || async {
        let gw: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
        (gw["topology"]["children"] == want).then_some(())
    })
    .await;
    sim.terminate();
    assert!(sim.exit().0.success());
}

#[tokio::test]
async fn lwm2m_clients_bootstrap_then_register() {
    let server = serve("");
    let c = reqwest::Client::new();
    let account = serde_json::json!({"servers": [{
        "shortServerId": 1, "uri": format!("coap://{}", server.lwm2m), "security": {"mode": "noSec"},
        "lifetime": 60, "binding": "U",
    }]});
    let r = c.put(format!("{}/lwm2m/bootstrap/bs-0", server.api)).json(&account).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut sim = sim(&["lwm2m", "--bootstrap", &server.bootstrap, "--endpoint-prefix", "bs"]);
    let line = sim.line("registered after bootstrap", |l| l.starts_with("registered bs-0 "));
    assert!(line.contains(&format!("with coap://{} ", server.lwm2m)), "{line}");
    wait_presence(&c, &server.api, "lwm2m", &["lwm2m:bs-0".to_owned()], "online").await;
    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    wait_presence(&c, &server.api, "lwm2m", &["lwm2m:bs-0".to_owned()], "offline").await;
}

/// `unidm serve` with a PSK identity in its file, and `unidm sim lwm2m --psk-key` registering
/// over coaps with it.
#[tokio::test]
async fn lwm2m_clients_register_over_dtls_psk() {
    let server = serve("[[lwm2m.psk]]\nidentity = \"dtls-0\"\nkey = \"cli-secret-key-1\"\nendpoint = \"dtls-0\"\n");
    let c = reqwest::Client::new();
    let mut sim =
        sim(&["lwm2m", "--server", &server.lwm2ms, "--endpoint-prefix", "dtls", "--psk-key", "cli-secret-key-1"]);
    wait_presence(&c, &server.api, "lwm2m", &["lwm2m:dtls-0".to_owned()], "online").await;
    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("DTLS-PSK")), "{lines:#?}");
}

/// `unidm bench lwm2m` against `unidm serve`: a short run that completes and reports its
/// figures (no timing is asserted), including the server's CPU and memory by its pid.
#[tokio::test]
async fn bench_lwm2m_registers_and_reports() {
    let server = serve("");
    let pid = server._proc.child.id().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["bench", "lwm2m", "--server", &server.lwm2m, "--devices", "300", "--duration", "20"])
        .args(["--sockets", "4", "--window", "2", "--server-pid", &pid])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("300 of 300 answered 2.01"), "{text}");
    for want in [
        "registrations/s",
        "latency:         p50",
        "p99",
        "errors:          0 refused",
        "server CPU:",
        "resident memory",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
    let c = reqwest::Client::new();
    let d: Value = c.get(format!("{}/devices/lwm2m:bench-299", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["presence"]["state"], "online", "{d}");
    // Nothing listening: a clear failure, not a hang.
    let dead = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["bench", "lwm2m", "--server", &dead, "--devices", "1", "--duration", "1", "--sockets", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn tr069_cpes_inform_and_go_offline_after_sigterm() {
    // Expiry checked every 100 ms with a 1 s grace: the CPEs, informing every second, are taken
    // offline about two seconds after they stop.
    let server = serve("[engine]\ntick_ms = 100\nexpiry_grace_s = 1\n");
    let c = reqwest::Client::new();
    let args = ["tr069", "--acs", &server.acs, "--count", "3", "--serial-prefix", "CLI", "--periodic-inform", "1"];
    let mut sim = sim(&args);
    let ids: Vec<String> = (0..3).map(|i| format!("tr069:00D09E-SimCPE-CLI00000{i}")).collect();
    let per_cpe: Vec<String> =
        ids.iter().map(|id| format!("informed {id}, connection requests at http://127.0.0.1:")).collect();
    sim.each("per CPE", &per_cpe);
    sim.line("all informed", |l| l.starts_with("informed 3/3 CPEs"));
    wait_presence(&c, &server.api, "tr069", &ids, "online").await;

    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("stopped 3 CPEs")), "{lines:#?}");
    wait_presence(&c, &server.api, "tr069", &ids, "offline").await;
}

fn run_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unidm")).arg("sim").args(args).env("RUST_BACKTRACE", "0").output().unwrap()
}

#[test]
fn bad_arguments_are_clear_errors() {
    let cases: [(&[&str], &[&str]); 8] = [
        (&["lwm2m", "--server", "127.0.0.1:5683", "--count", "0"], &["--count", "at least 1"]),
        (&["lwm2m", "--server", "127.0.0.1:5683", "--count", "10001"], &["at most 10000", "--start-index"]),
        (&["lwm2m", "--server", "127.0.0.1:5683", "--version", "1.3"], &["1.3", "1.0, 1.1, 1.2"]),
        (&["lwm2m", "--server", "no-such-host.invalid:5683"], &["cannot resolve", "no-such-host.invalid"]),
        (&["lwm2m", "--server", "coaps://127.0.0.1"], &["not coaps://"]),
        (&["lwm2m", "--count", "2"], &["--server"]),
        (&["tr069", "--acs", "https://127.0.0.1/"], &["not https://"]),
        (&["tr069", "--acs", "ftp://127.0.0.1/"], &["not an http:// URL"]),
    ];
    for (args, words) in cases {
        let out = run_sim(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        for w in words {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
}

#[test]
fn an_unreachable_acs_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run_sim(&["tr069", "--acs", &format!("http://127.0.0.1:{port}/")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the ACS"), "{err}");
}

#[test]
fn help_documents_the_sim_flags() {
    for (protocol, flags) in [
        (
            "lwm2m",
            &[
                "--server",
                "--count",
                "--lifetime",
                "--version",
                "--queue-mode",
                "--gateway-children",
                "--bootstrap",
                "--firmware-fail",
                "--psk-key",
                "--cert",
            ][..],
        ),
        (
            "tr069",
            &[
                "--acs",
                "--count",
                "--serial-prefix",
                "--periodic-inform",
                "--connection-request-ip",
                "--download-fault",
            ][..],
        ),
        (
            "omadm",
            &[
                "--server",
                "--count",
                "--dev-id-prefix",
                "--credentials",
                "--period",
                "--fumo-result",
                "--scomo-result",
                "--without",
                "--wbxml",
                "--diagmon",
            ][..],
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_unidm")).args(["sim", protocol, "--help"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for flag in flags {
            assert!(text.contains(flag), "`sim {protocol} --help` lacks {flag}:\n{text}");
        }
    }
}

/// Lets the DM client run its sessions until operation `id` succeeded; the operation.
async fn until_succeeded(c: &reqwest::Client, api: &str, device: &unidm_omadm::sim::SimDevice, id: u64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        device.run().await.unwrap();
        let o: Value = c.get(format!("{api}/operations/{id}")).send().await.unwrap().json().await.unwrap();
        if o["state"] == "succeeded" {
            return o;
        }
        assert!(Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_omadm_device_is_managed_through_the_api() {
    use unidm_omadm::sim::{SimConfig, SimDevice, SimDiagMon};
    let server = serve(
        "[omadm]\nusername = \"dev\"\npassword = \"pw\"\n\
         [[omadm.diagnostics]]\ntest = \"ping\"\nroot = \"./Vendor/DiagMon/Ping\"\n",
    );
    assert!(server.dm.ends_with("/dm"), "{}", server.dm);
    let c = reqwest::Client::new();
    let mut sim = SimConfig::new(server.dm.clone(), "sim-dm-1", "dev", "pw");
    sim.diagmon = Some(SimDiagMon::Async);
    let device = SimDevice::new(sim);
    device.run().await.unwrap();
    wait_presence(&c, &server.api, "omadm", &["omadm:sim-dm-1".to_owned()], "online").await;

    let body = serde_json::json!({
        "device": "omadm:sim-dm-1",
        "action": {"kind": "firmware", "uri": "http://files.example/fw.bin", "version": "2.0"},
    });
    let op: Value =
        c.post(format!("{}/operations", server.api)).json(&body).send().await.unwrap().json().await.unwrap();
    let id = op["id"].as_u64().unwrap_or_else(|| panic!("{op}"));
    // The device's next sessions: the FUMO Exec, then the Generic Alert with its result.
    until_succeeded(&c, &server.api, &device, id).await;
    let d: Value = c.get(format!("{}/devices/omadm:sim-dm-1", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["identity"]["manufacturer"], "unidm", "{d}");

    // Software through SCOMO: the module shows in the device's snapshot.
    let body = serde_json::json!({
        "device": "omadm:sim-dm-1",
        "action": {"kind": "software", "action": "install", "uri": "http://files.example/app.pkg", "name": "app"},
    });
    let op: Value =
        c.post(format!("{}/operations", server.api)).json(&body).send().await.unwrap().json().await.unwrap();
    let id = op["id"].as_u64().unwrap_or_else(|| panic!("{op}"));
    until_succeeded(&c, &server.api, &device, id).await;
    let d: Value = c.get(format!("{}/devices/omadm:sim-dm-1", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["snapshot"]["software"][0]["name"], "app", "{d}");

    // Ping through the configured DiagMon subtree: the results come after the Generic Alert.
    let body = serde_json::json!({
        "device": "omadm:sim-dm-1",
        "action": {"kind": "ping", "host": "127.0.0.1", "count": 2},
    });
    let op: Value =
        c.post(format!("{}/operations", server.api)).json(&body).send().await.unwrap().json().await.unwrap();
    let id = op["id"].as_u64().unwrap_or_else(|| panic!("{op}"));
    let o = until_succeeded(&c, &server.api, &device, id).await;
    assert_eq!(o["result"]["results"]["Results/SuccessCount"], "2", "{o}");
}

#[tokio::test]
async fn omadm_clients_open_sessions_and_stop_on_sigterm() {
    let server = serve("[omadm]\nusername = \"dev\"\npassword = \"pw\"\n");
    let c = reqwest::Client::new();
    let mut sim = sim(&["omadm", "--server", &server.dm, "--credentials", "dev:pw", "--count", "2", "--wbxml"]);
    sim.line("saying what it simulates", |l| l.starts_with("simulating 2 OMA DM clients (SIMDM000000 … SIMDM000001)"));
    // In whatever order the sessions end.
    let mut opened: Vec<String> =
        (0..2).map(|_| sim.line("per client", |l| l.starts_with("opened a session: omadm:SIMDM00000"))).collect();
    opened.sort();
    assert!(opened[0].contains("SIMDM000000,") && opened[1].contains("SIMDM000001,"), "{opened:?}");
    let ids: Vec<String> = (0..2).map(|i| format!("omadm:SIMDM00000{i}")).collect();
    wait_presence(&c, &server.api, "omadm", &ids, "online").await;
    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l == "stopped 2 OMA DM clients"), "{lines:#?}");
}
