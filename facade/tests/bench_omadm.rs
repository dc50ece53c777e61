//! `unidm bench omadm` as a child process against `unidm serve` with its default OMA DM
//! settings (md5, no client credentials: the bench enrols its devices through the API): short
//! runs that complete and report every phase (no timing is asserted).

mod common;

use common::serve;
use serde_json::Value;

async fn bench(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["bench", "omadm"])
        .args(args)
        .output()
        .await
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every phase against a default `unidm serve`, XML then WBXML; one bench device is in the
/// registry; nothing listening fails at once.
#[tokio::test]
async fn bench_omadm_runs_every_phase_against_unidm_serve() {
    let server = serve("");
    let pid = server.proc.child.id().to_string();
    let (status, text, err) = bench(&[
        "--server",
        &server.dm,
        "--api",
        &server.api,
        "--devices",
        "200",
        "--duration",
        "2",
        "--clients",
        "8",
        "--server-pid",
        &pid,
    ])
    .await;
    assert!(status.success(), "{text}{err}");
    for want in [
        "unidm bench omadm: 200 DM clients",
        "enrol (not timed): 200 of 200 devices",
        "first sessions: every device once",
        "done:          200 of 200 sessions completed",
        "complete sessions, nothing queued (2 s)",
        "queue (not timed): 200 native reads of ./DevInfo/Mod queued",
        "sessions carrying one Get of ./DevInfo/Mod",
        "200 server commands answered, 200 Gets of ./DevInfo/Mod",
        "operations:    200 of 200 succeeded",
        "latency:       p50",
        "load tool CPU:",
        "server CPU:",
        "resident memory",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}{err}");
    }
    // Three phases, each without a failed session.
    assert_eq!(text.matches("errors:        0").count(), 3, "{text}{err}");
    let c = reqwest::Client::new();
    let d: Value =
        c.get(format!("{}/devices/omadm:IMEI:490000000000199", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["id"], "omadm:IMEI:490000000000199", "{d}");

    // WBXML, other devices (enrolled too).
    let (status, text, err) = bench(&[
        "--server",
        &server.dm,
        "--api",
        &server.api,
        "--devices",
        "40",
        "--duration",
        "1",
        "--clients",
        "4",
        "--encoding",
        "wbxml",
        "--dev-id-prefix",
        "wbxml-",
    ])
    .await;
    assert!(status.success(), "{text}{err}");
    for want in ["(WBXML, md5", "done:          40 of 40 sessions completed", "operations:    40 of 40 succeeded"] {
        assert!(text.contains(want), "`{want}` missing:\n{text}{err}");
    }
    assert_eq!(text.matches("errors:        0").count(), 3, "{text}{err}");

    // Nothing listening: a clear failure, not a hang.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/dm");
    let (status, text, err) = bench(&["--server", &dead, "--devices", "10", "--duration", "1"]).await;
    assert!(!status.success(), "{text}{err}");
    assert!(err.contains("no DM server at"), "{text}{err}");
}
