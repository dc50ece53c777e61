//! Several `unidm serve` nodes on one PostgreSQL database (`docs/cluster.md`): devices whose
//! sessions are on different nodes managed from any node, events on every node, and a group
//! firmware campaign that finishes on the remaining nodes when the node running it is
//! SIGKILLed, every member updated once. LwM2M clients reach the nodes through a UDP balancer
//! (`unidm_testkit::balancer`). Skipped with a notice without PostgreSQL, unless
//! `UNIDM_REQUIRE_POSTGRES=1`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_testkit::balancer::UdpBalancer;
use unidm_testkit::postgres::TempPostgres;

/// A node `id` on database `url`, with a short lease so that a dead node is noticed fast.
fn node(url: &str, id: &str) -> common::Server {
    let config = format!("[store]\nnode_id = \"{id}\"\nlease_s = 1\n");
    common::serve_on(tempfile::tempdir().unwrap(), &config, "127.0.0.1:0", url)
}

/// Everything a node's event stream (`/events`, SSE) says from now on (once the stream is
/// open).
async fn listen(api: &str) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    let mut r = reqwest::get(format!("{api}/events")).await.unwrap();
    assert_eq!(r.status(), 200);
    let out = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(chunk)) = r.chunk().await {
            out.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    seen
}

/// Waits until `check` holds; `what` describes it (with what was seen) when it never does.
async fn until(what: impl Fn() -> String, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting: {}", what());
}

async fn post(url: String, body: Value) -> Value {
    let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

async fn get(url: String) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_manage_each_other_s_devices_and_see_each_other_s_events() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let nodes = [node(&url, "n1"), node(&url, "n2"), node(&url, "n3")];
    // Every node sees the others alive (a node's events go to those it knows alive).
    for n in &nodes {
        let health = n.api.replace("/api/v1", "/healthz");
        for _ in 0..100 {
            if get(health.clone()).await.1.contains("3 of 3 nodes alive") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let events = listen(&nodes[2].api).await;
    // Each client's session is on another node.
    let mut clients = Vec::new();
    for (i, n) in nodes.iter().take(2).enumerate() {
        let c = SimClient::start(SimConfig::new(&format!("c{i}"), n.lwm2m.parse().unwrap())).await.unwrap();
        c.register().await.unwrap();
        clients.push(c);
    }
    // Every node lists both, and reads them through the node with the session.
    for n in &nodes {
        for d in ["lwm2m:c0", "lwm2m:c1"] {
            common::wait_api(&n.api, &format!("/devices/{d}"), |d| d["presence"]["state"] == "online").await;
        }
    }
    for d in ["lwm2m:c0", "lwm2m:c1"] {
        let read = common::native(&nodes[2].api, d, json!({"op": "read", "path": "/3/0/0"})).await;
        assert_eq!(read["state"], "succeeded", "{read}");
        assert_eq!(read["result"], "unidm sim", "{read}");
    }
    // A TR-069 CPE whose ACS is n1, read through n2 (n1 sends it the connection request).
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "CLGW", "CL1");
    let _cpe =
        unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(nodes[0].acs.clone(), tree)).await.unwrap();
    let cpe = "tr069:00D09E-CLGW-CL1";
    common::wait_api(&nodes[1].api, &format!("/devices/{cpe}"), |_| true).await;
    let gpv = common::native(&nodes[1].api, cpe, json!({"op": "read", "path": "Device.DeviceInfo.SerialNumber"})).await;
    assert_eq!(gpv["state"], "succeeded", "{gpv}");
    assert_eq!(gpv["result"]["Device.DeviceInfo.SerialNumber"], "CL1", "{gpv}");
    // Node n3's subscribers saw the registrations made on n1 and n2, and the reads' outcomes.
    let shown = events.clone();
    until(
        || format!("n3's stream shows the others' events: {}", shown.lock().unwrap()),
        || {
            let e = events.lock().unwrap();
            e.contains("\"deviceRegistered\"")
                && e.contains("lwm2m:c0")
                && e.contains("lwm2m:c1")
                && e.contains("\"succeeded\"")
        },
    )
    .await;
    // Health and metrics per node.
    let (status, body) = get(nodes[0].api.replace("/api/v1", "/healthz")).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok: node n1") && body.contains("3 of 3 nodes alive"), "{body}");
    let (_, metrics) = get(nodes[1].api.replace("/api/v1", "/metrics")).await;
    for want in [
        "unidm_cluster_node{node=\"n2\"} 1",
        "unidm_cluster_node_alive{node=\"n3\"} 1",
        "unidm_cluster_owned_devices 1",
    ] {
        assert!(metrics.contains(want), "{want} in {metrics}");
    }
    let leaders: usize = {
        let mut n = 0;
        for s in &nodes {
            let (_, m) = get(s.api.replace("/api/v1", "/metrics")).await;
            n += usize::from(m.contains("unidm_cluster_leader 1"));
        }
        n
    };
    assert_eq!(leaders, 1, "exactly one leader");
    // An LwM2M bootstrap configuration put on n1 is served by n2 (its LwM2M adapter reads
    // its state again), and deleted on n2 it is gone from n1.
    let http = reqwest::Client::new();
    let cfg = json!({"servers": [{"shortServerId": 7, "uri": format!("coap://{}", nodes[0].lwm2m),
        "security": {"mode": "noSec"}, "lifetime": 300}]});
    let r = http.put(format!("{}/lwm2m/bootstrap/bs-ep", nodes[0].api)).json(&cfg).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let on_n2 =
        common::wait_api(&nodes[1].api, "/lwm2m/bootstrap/bs-ep", |c| c["servers"][0]["shortServerId"] == 7).await;
    assert_eq!(on_n2["servers"][0]["lifetime"], 300, "{on_n2}");
    let r = http.delete(format!("{}/lwm2m/bootstrap/bs-ep", nodes[1].api)).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut status = 0;
    for _ in 0..200 {
        status = get(format!("{}/lwm2m/bootstrap/bs-ep", nodes[0].api)).await.0;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "n1 forgets the configuration deleted on n2");
    // A token created on n1 is asked for on n2 at once (n2 reads the stored tokens again),
    // and works there with its role.
    let created = post(format!("{}/tokens", nodes[0].api), json!({"name": "noc", "role": "viewer"})).await;
    let token = created["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let status = |api: String, token: Option<String>| {
        let http = http.clone();
        async move {
            let mut r = http.get(format!("{api}/devices"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    let mut seen = 0;
    for _ in 0..100 {
        seen = status(nodes[1].api.clone(), None).await;
        if seen == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 401, "n2 asks for a token once one exists");
    assert_eq!(status(nodes[1].api.clone(), Some(token.clone())).await, 200);
    let r = http.delete(format!("{}/tokens/noc", nodes[1].api)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403, "a viewer may not delete tokens");
    // A second process with a node id in use is refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unidm.toml"), "[store]\nnode_id = \"n1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--lwm2m-listen", "127.0.0.1:0", "--db", &url, "--config"])
        .arg(dir.path().join("unidm.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node id `n1` is in use by another unidm"), "{err}");
    for n in nodes {
        n.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_campaign_finishes_when_the_node_running_it_is_killed() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let mut nodes = vec![node(&url, "n1"), node(&url, "n2"), node(&url, "n3")];
    let backends: Vec<_> = nodes.iter().map(|n| n.lwm2m.parse().unwrap()).collect();
    let lb = UdpBalancer::start(backends).await.unwrap();
    let mut clients = Vec::new();
    for i in 0..12 {
        let mut cfg = SimConfig::new(&format!("fw{i:02}"), lb.addr());
        cfg.firmware.download_delay = Duration::from_millis(400);
        cfg.firmware.update_delay = Duration::from_millis(200);
        let c = SimClient::start(cfg).await.unwrap();
        c.register().await.unwrap();
        clients.push(Arc::new(c));
    }
    let api = nodes[2].api.clone();
    for c in &clients {
        common::wait_api(&api, &format!("/devices/lwm2m:{}", c.endpoint()), |d| d["presence"]["state"] == "online")
            .await;
    }
    let members: Vec<String> = clients.iter().map(|c| format!("lwm2m:{}", c.endpoint())).collect();
    post(format!("{api}/groups"), json!({"id": "fleet", "members": members})).await;
    // The clients keep in touch, as real ones do: an Update, and a Register when the server
    // no longer knows them (their node died and the balancer sent them to another).
    let keepalive = {
        let clients = clients.clone();
        tokio::spawn(async move {
            loop {
                for c in &clients {
                    if c.update().await.is_err() {
                        let _ = c.register().await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    // n3 runs the campaign, four members at a time, and is killed once some have finished.
    let gop = post(
        format!("{api}/groups/fleet/operations"),
        json!({"action": {"kind": "firmware", "uri": "http://fw.example/2.0.bin", "version": "2.0"}, "concurrency": 4}),
    )
    .await;
    let gid = gop["id"].as_u64().unwrap();
    common::wait_api(&nodes[0].api, &format!("/group-operations/{gid}"), |g| {
        g["aggregate"]["counts"]["succeeded"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    // n3 has the sessions of a third of the clients (the balancer spreads them in turn).
    let (_, metrics) = get(api.replace("/api/v1", "/metrics")).await;
    assert!(metrics.contains("unidm_cluster_owned_devices 4"), "{metrics}");
    let mut killed = nodes.remove(2);
    killed.proc.child.kill().unwrap();
    let _ = killed.proc.child.wait();
    lb.remove(killed.lwm2m.parse().unwrap());

    // n1 and n2 finish it: every member succeeded, each client updated exactly once.
    let done =
        common::wait_api(&nodes[0].api, &format!("/group-operations/{gid}"), |g| g["aggregate"]["done"] == true).await;
    keepalive.abort();
    assert_eq!(done["aggregate"]["total"], 12, "{done}");
    assert_eq!(done["aggregate"]["counts"], json!({"succeeded": 12}), "{done}");
    for c in &clients {
        assert_eq!(c.update_executes(), 1, "{} executed the update once", c.endpoint());
        let version = c.get(unidm_lwm2m::Path::Resource(3, 0, 3));
        assert_eq!(version, Some(unidm_lwm2m::codec::Value::String("2.0".into())), "{}", c.endpoint());
    }
    // Both remaining nodes agree, and n3 is seen dead.
    let other =
        common::wait_api(&nodes[1].api, &format!("/group-operations/{gid}"), |g| g["aggregate"]["done"] == true).await;
    assert_eq!(other["aggregate"]["counts"], done["aggregate"]["counts"]);
    let (_, health) = get(nodes[1].api.replace("/api/v1", "/healthz")).await;
    assert!(health.contains("2 of 3 nodes alive"), "{health}");
    for n in nodes {
        n.stop();
    }
}
