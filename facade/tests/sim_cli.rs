//! `unidm sim` as a child process against `unidm serve` as another: simulated LwM2M clients
//! register and de-register on SIGTERM, simulated CPEs inform and stop, bad arguments are
//! refused with a message. Every port is 127.0.0.1:0.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{serve, Proc, WAIT};

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

/// Clients sharing sockets (`--clients-per-socket`) register from one address each group, and
/// each is managed on its own: a read of one reaches that one.
#[tokio::test]
async fn lwm2m_clients_sharing_sockets_register_and_are_read_one_by_one() {
    let server = serve("[lwm2m]\nmax_registers_per_source = 10000\n");
    let c = reqwest::Client::new();
    let args = ["lwm2m", "--server", &server.lwm2m, "--count", "12", "--clients-per-socket", "5"];
    let mut sim = sim(&[&args[..], &["--endpoint-prefix", "sh", "--rate", "1000"]].concat());
    sim.line("all registered", |l| l.starts_with("registered 12/12 clients"));
    let mut ids: Vec<String> = (0..12).map(|i| format!("lwm2m:sh-{i}")).collect();
    ids.sort(); // as the API lists them
    wait_presence(&c, &server.api, "lwm2m", &ids, "online").await;
    let r = c
        .post(format!("{}/devices/lwm2m:sh-7/native", server.api))
        .json(&serde_json::json!({"op": "read", "path": "/3/0/2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let deadline = Instant::now() + WAIT;
    let op = loop {
        let op: Value = c.get(format!("{}/operations/{id}", server.api)).send().await.unwrap().json().await.unwrap();
        if op["state"] == "succeeded" || op["state"] == "failed" {
            break op;
        }
        assert!(Instant::now() < deadline, "{op}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(op["result"].to_string().contains("SN-sh-7"), "its own serial number: {op}");
    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
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

/// `unidm serve` taking raw public keys (`dtls_rpk_key`, `[[lwm2m.rpk]]`), and `unidm sim lwm2m
/// --rpk-key` registering over coaps with its key pair.
#[tokio::test]
async fn lwm2m_clients_register_over_dtls_rpk() {
    let keys = tempfile::tempdir().unwrap();
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let write_pair = |name: &str| {
        let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
        let (private, public) = (keys.path().join(format!("{name}.key")), keys.path().join(format!("{name}.pub")));
        std::fs::write(&private, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&public, key.public_key_to_pem().unwrap()).unwrap();
        (private.display().to_string(), public.display().to_string())
    };
    let (server_key, server_pub) = write_pair("server");
    let (client_key, client_pub) = write_pair("client");
    let server = serve(&format!(
        "[lwm2m]\ndtls_rpk_key = \"{server_key}\"\n[[lwm2m.rpk]]\npublic_key = \"{client_pub}\"\nendpoint = \"rpk-0\"\n"
    ));
    let c = reqwest::Client::new();
    let args = ["lwm2m", "--server", &server.lwm2ms, "--endpoint-prefix", "rpk", "--rpk-key", &client_key];
    let mut sim = sim(&[&args[..], &["--server-public-key", &server_pub]].concat());
    wait_presence(&c, &server.api, "lwm2m", &["lwm2m:rpk-0".to_owned()], "online").await;
    sim.terminate();
    let (status, lines) = sim.exit();
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("DTLS, raw public key")), "{lines:#?}");
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
    let cases: [(&[&str], &[&str]); 12] = [
        (&["lwm2m", "--server", "127.0.0.1:5683", "--count", "0"], &["--count", "at least 1"]),
        (
            &["lwm2m", "--server", "127.0.0.1:5683", "--count", "10001"],
            &["at most 10000", "--clients-per-socket", "--start-index"],
        ),
        (
            &["lwm2m", "--server", "127.0.0.1:5683", "--count", "200001", "--clients-per-socket", "100"],
            &["at most 200000"],
        ),
        (
            &["lwm2m", "--server", "127.0.0.1:5683", "--clients-per-socket", "2", "--psk-key", "k"],
            &["--psk-key", "--clients-per-socket"],
        ),
        (&["lwm2m", "--server", "127.0.0.1:5683", "--clients-per-socket", "0"], &["--clients-per-socket"]),
        (&["tr069", "--acs", "http://127.0.0.1/", "--count", "10001"], &["at most 10000", "--start-index"]),
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
