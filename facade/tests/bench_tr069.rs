//! `unidm bench tr069` as a child process against `unidm serve` as another: a short run that
//! completes every phase and reports its figures (no timing is asserted). Every port is
//! 127.0.0.1:0.

mod common;

use common::{bench, serve};
use serde_json::Value;

#[tokio::test]
async fn bench_tr069_runs_every_phase_and_reports() {
    let server = serve("");
    let pid = server.proc.child.id().to_string();
    let run = bench(
        &[
            &["tr069", "--acs", &server.acs, "--api", &server.api, "--devices", "200", "--duration", "2"],
            &["--clients", "8", "--gpv", "10", "--connection-requests", "50", "--server-pid", &pid][..],
        ]
        .concat(),
    )
    .await;
    run.expect(&[
        "unidm bench tr069: 200 CPEs",
        "first sessions (",
        "done:          200 of 200 first sessions",
        "full sessions (",
        "sessions carrying a GetParameterValues of 10 parameters",
        "done:          200 of 200 sessions",
        "reads:         200 of 200 succeeded",
        "connection requests (",
        "done:          50 of 50 round trips",
        "latency:       p50",
        "server CPU:",
        "resident memory",
    ]);
    let text = &run.stdout;
    let errors: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("errors:")).collect();
    assert_eq!(errors.len(), 4, "{text}");
    assert!(errors.iter().all(|l| l.trim_start().starts_with("errors:        0 (")), "{text}");
    // The first sessions' GetParameterValues (the device snapshot) were answered, not faulted.
    let d: Value = reqwest::get(format!("{}/devices/tr069:00D09E-UnidmBench-bench0000199", server.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["identity"]["serial"], "bench0000199", "{d}");

    // Nothing listening: a clear failure, not a hang.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let run = bench(&["tr069", "--acs", &url, "--devices", "1", "--duration", "1", "--clients", "1"]).await;
    run.expect_failure("no ACS answers at");
}
