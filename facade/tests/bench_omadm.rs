//! `unidm bench omadm` as a child process against `unidm serve` with its default OMA DM
//! settings (md5, no client credentials: the bench enrols its devices through the API): short
//! runs that complete and report every phase (no timing is asserted).

mod common;

use common::{bench, serve};
use serde_json::Value;

async fn omadm(args: &[&str]) -> common::BenchRun {
    bench(&[&["omadm"], args].concat()).await
}

/// Every phase against a default `unidm serve`, XML then WBXML; one bench device is in the
/// registry; nothing listening fails at once.
#[tokio::test]
async fn bench_omadm_runs_every_phase_against_unidm_serve() {
    let server = serve("");
    let pid = server.proc.child.id().to_string();
    let run = omadm(
        &[
            &["--server", &server.dm, "--api", &server.api, "--devices", "200", "--duration", "2"],
            &["--clients", "8", "--server-pid", &pid][..],
        ]
        .concat(),
    )
    .await;
    run.expect(&[
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
    ]);
    // Three phases, each without a failed session.
    assert_eq!(run.stdout.matches("errors:        0").count(), 3, "{}", run.stdout);
    let c = reqwest::Client::new();
    let d: Value =
        c.get(format!("{}/devices/omadm:IMEI:490000000000199", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["id"], "omadm:IMEI:490000000000199", "{d}");

    // WBXML, other devices (enrolled too).
    let run = omadm(
        &[
            &["--server", &server.dm, "--api", &server.api, "--devices", "40", "--duration", "1"],
            &["--clients", "4", "--encoding", "wbxml", "--dev-id-prefix", "wbxml-"][..],
        ]
        .concat(),
    )
    .await;
    run.expect(&["(WBXML, md5", "done:          40 of 40 sessions completed", "operations:    40 of 40 succeeded"]);
    assert_eq!(run.stdout.matches("errors:        0").count(), 3, "{}", run.stdout);

    // Nothing listening: a clear failure, not a hang.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/dm");
    omadm(&["--server", &dead, "--devices", "10", "--duration", "1"]).await.expect_failure("no DM server answers at");
}
