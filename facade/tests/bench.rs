//! `unidm bench` as a child process against `unidm serve` as another: short runs that complete
//! and report their figures (no timing is asserted). Every port is 127.0.0.1:0.

mod common;

use common::{bench, serve};
use serde_json::Value;

/// `unidm bench lwm2m` against `unidm serve`: a short run of every phase that completes and
/// reports its figures (no timing is asserted), including the server's CPU and memory by its
/// pid; reads and observations asked through the API.
#[tokio::test]
async fn bench_lwm2m_runs_every_phase_and_reports() {
    let server = serve("[lwm2m]\nmax_registers_per_source = 100000\n");
    let pid = server.proc.child.id().to_string();
    let run = bench(
        &[
            &["lwm2m", "--server", &server.lwm2m, "--devices", "300", "--duration", "2", "--sockets", "4"],
            &["--window", "2", "--server-pid", &pid, "--api", &server.api, "--reads", "100", "--observed", "20"][..],
        ]
        .concat(),
    )
    .await;
    run.expect(&[
        "300 of 300 answered 2.01",
        "300 of 300 answered 2.04",
        "100 of 100 succeeded",
        "100 reads answered by the devices",
        "observe (not timed): 20 observations made",
        "notify (20 observations, confirmable)",
        "300 of 300 answered 2.02",
        "registrations/s",
        "latency:       p50",
        "0 refused (not 2.01), 0 unanswered after 5 sends",
        "0 reset by the server, 0 refused (not an empty ACK)",
        "server CPU:",
        "resident memory",
    ]);
    let text = &run.stdout;
    // At least one notification was acknowledged: "N of N acknowledged" with N > 0.
    let acked = text.lines().find(|l| l.contains("acknowledged in")).expect("notify line");
    assert!(!acked.trim_start().starts_with("done:          0 of"), "{text}");
    let c = reqwest::Client::new();
    let d: Value = c.get(format!("{}/devices/lwm2m:bench-299", server.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["presence"]["state"], "offline", "de-registered: {d}");
    // Nothing listening: a clear failure, not a hang.
    let dead = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let run = bench(&["lwm2m", "--server", &dead, "--devices", "1", "--duration", "1", "--sockets", "1"]).await;
    run.expect_failure("no registration answered");
}

/// Registrations refused by the server's limit are counted by their code and explained.
#[tokio::test]
async fn bench_lwm2m_reports_refusals_by_code() {
    let server = serve("[lwm2m]\nmax_registers_per_source = 5\n");
    let args = ["--devices", "20", "--duration", "2", "--sockets", "1", "--window", "1", "--phases", "deregister"];
    let run = bench(&[&["lwm2m", "--server", &server.lwm2m][..], &args].concat()).await;
    run.expect(&[
        "5 of 20 answered 2.01",
        "15 refused (not 2.01: 15 x 4.29)",
        "max_registers_per_source",
        "5 of 5 answered 2.02",
    ]);
    assert!(!run.stdout.contains("update\n"), "only the phases asked for: {}", run.stdout);
}

/// `unidm bench campaign` against `unidm serve`: clients sharing sockets register, one group
/// firmware operation updates every one of them, and the overhead and the server's figures are
/// reported.
#[tokio::test]
async fn bench_campaign_updates_every_client_and_reports() {
    let server = serve("[lwm2m]\nmax_registers_per_source = 100000\n");
    let pid = server.proc.child.id().to_string();
    let run = bench(
        &[
            &["campaign", "--server", &server.lwm2m, "--api", &server.api, "--devices", "60", "--concurrency", "20"],
            &[
                "--clients-per-socket",
                "25",
                "--download-ms",
                "20",
                "--update-ms",
                "20",
                "--timeout",
                "60",
                "--server-pid",
                &pid,
            ][..],
        ]
        .concat(),
    )
    .await;
    run.expect(&[
        "registered 60 LwM2M clients",
        "done:          succeeded 60 in",
        "every member ended",
        "beyond the devices' own 0.1 s (3 rounds of 20 + 20 ms)",
        "by protocol:   lwm2m 60 succeeded, 0 failed\n",
        "server:        CPU",
        "peak resident memory",
        "60 of 60 LwM2M clients executed the update",
    ]);
    // The clients run the new firmware, as the server read it back.
    let groups: Value = reqwest::get(format!("{}/groups", server.api)).await.unwrap().json().await.unwrap();
    let group = groups[0]["id"].as_str().unwrap().to_owned();
    let members: Value =
        reqwest::get(format!("{}/groups/{group}/members", server.api)).await.unwrap().json().await.unwrap();
    let first = members[0].as_str().unwrap();
    let d: Value = reqwest::get(format!("{}/devices/{first}", server.api)).await.unwrap().json().await.unwrap();
    assert_eq!(d["identity"]["fwVersion"], "2.0", "{d}");
}

/// `unidm bench campaign` over a mixed fleet against `unidm serve`: LwM2M clients, TR-069 CPEs
/// and OMA DM clients, each protocol's devices sharing sockets, in one group by the run's
/// model; one group firmware operation updates every member of each protocol, each through its
/// own (no timing is asserted).
#[tokio::test]
async fn bench_campaign_updates_a_mixed_fleet() {
    let server = serve("[lwm2m]\nmax_registers_per_source = 100000\n");
    let pid = server.proc.child.id().to_string();
    let run = bench(
        &[
            &["campaign", "--server", &server.lwm2m, "--acs", &server.acs, "--dm", &server.dm][..],
            &["--api", &server.api, "--devices", "90", "--tr069", "30", "--omadm", "25", "--concurrency", "20"],
            &["--clients-per-socket", "10", "--download-ms", "20", "--update-ms", "20", "--timeout", "60"],
            &["--server-pid", &pid],
        ]
        .concat(),
    )
    .await;
    run.expect(&[
        "90 devices (35 LwM2M, 30 TR-069, 25 OMA DM;",
        "registered 35 LwM2M clients",
        "informed 30 TR-069 CPEs",
        "enrolled 25 OMA DM clients",
        "done:          succeeded 90 in",
        "every member ended",
        "beyond the devices' own 0.2 s (5 rounds of 20 + 20 ms)",
        "by protocol:   lwm2m 35 succeeded, 0 failed; omadm 25 succeeded, 0 failed; tr069 30 succeeded, 0 failed\n",
        "peak resident memory",
        "35 of 35 LwM2M clients executed the update; 30 of 30 CPEs run the new image; \
         25 of 25 DM clients ended FUMO in Update Successful",
    ]);
    // Every protocol's members run the new firmware, as the server knows them.
    let groups: Value = reqwest::get(format!("{}/groups", server.api)).await.unwrap().json().await.unwrap();
    let group = groups[0]["id"].as_str().unwrap().to_owned();
    let members: Value =
        reqwest::get(format!("{}/groups/{group}/members", server.api)).await.unwrap().json().await.unwrap();
    for prefix in ["lwm2m:", "omadm:", "tr069:"] {
        let member = members.as_array().unwrap().iter().filter_map(Value::as_str).find(|m| m.starts_with(prefix));
        let url = format!("{}/devices/{}", server.api, member.unwrap());
        let d: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(d["snapshot"]["firmware"]["state"], "succeeded", "{d}");
        assert_eq!(d["snapshot"]["firmware"]["version"], "2.0", "{d}");
    }

    // A mix needs each protocol's server; more of them than devices is refused.
    let run = bench(&["campaign", "--api", &server.api, "--devices", "5", "--tr069", "5"]).await;
    run.expect_failure("5 --tr069 need --acs");
    let run =
        bench(&["campaign", "--server", &server.lwm2m, "--api", &server.api, "--devices", "5", "--omadm", "6"]).await;
    run.expect_failure("more than --devices 5");
}
