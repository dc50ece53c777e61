//! Interop with a client nobody here wrote: `lwm2m-node-lib` (npm, telefonicaid) runs
//! `tests/node/client.js`, registers with the adapter and is read, written and observed
//! through the engine.
//!
//! Needs `node` and `npm install lwm2m-node-lib` in the directory named by
//! `UNIDM_NODE_LWM2M_DIR`; skipped with a notice otherwise, unless
//! `UNIDM_REQUIRE_NODE_LWM2M=1` makes a missing setup a failure.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{native, Fixture};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use unidm_core::Received;
use unidm_models::{Event, NativeOp, OperationState};

/// The script's next event line; the library's own log lines go to stdout too.
async fn next_event(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if ["{\"registered\"", "{\"write\"", "{\"error\""].iter().any(|p| line.starts_with(p)) {
                return line;
            }
        }
        String::from("node exited")
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an event from the node client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lwm2m_node_lib_client_read_write_observe() {
    let Some(dir) = unidm_testkit::tools::node_lwm2m_dir() else { return };
    let f = Fixture::new().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/client.js");
    let addr = f.addr();
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg("node-1")
        .env("NODE_PATH", dir.join("node_modules"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_event(&mut lines).await, r#"{"registered":true}"#);
    // lwm2m-node-lib answers 4.04 to a Read of an object instance, so the device's /3/0 is
    // not mapped at registration: its resources are read one by one here.
    f.wait_device("node-1", |d| d.presence.last_seen.is_some()).await;
    let op = f.run("node-1", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.result, Some(json!("NodeCo")), "{:?}", op.error);
    let op = f.run("node-1", native(NativeOp::Read, "/3/0/1", None)).await;
    assert_eq!(op.result, Some(json!("node-lwm2m")), "{:?}", op.error);

    let op = f.run("node-1", native(NativeOp::Write, "/3/0/14", Some(json!("+02:00")))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let written = next_event(&mut lines).await;
    assert!(written.contains("+02:00"), "{written}");
    let op = f.run("node-1", native(NativeOp::Read, "/3/0/14", None)).await;
    assert_eq!(op.result, Some(json!("+02:00")));

    let mut events = f.engine.subscribe();
    let op = f.run("node-1", native(NativeOp::Observe, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Received::Event(Event::Observation { path, value, .. })) = events.recv().await {
                if path == "/3/0/9" {
                    return value;
                }
            }
        }
    })
    .await
    .expect("a notification of /3/0/9 within 10 s");
    assert!(seen.is_number() || seen.is_string(), "{seen}");
    let _ = child.kill().await;
}

/// The server script's next JSON line (the library may log other lines).
async fn next_json(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> serde_json::Value {
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                return v;
            }
        }
        json!({"error": "node exited"})
    };
    tokio::time::timeout(Duration::from_secs(15), read).await.expect("a line from the node server")
}

/// unidm as an LwM2M gateway (`unidm_lwm2m::northbound`) registered with a server nobody here
/// wrote, lwm2m-node-lib's (LwM2M 1.0): it sees unidm's object list with /25, reads an end
/// device's Device ID and /3 through its prefix, and updates its firmware by writing the
/// Package URI and executing Update under the prefix; unidm runs the update on the device (a
/// simulated LwM2M client of its own) and the server reads the result. unidm de-registers when
/// stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lwm2m_node_lib_server_manages_an_end_device_through_the_northbound_gateway() {
    use tokio::io::AsyncWriteExt;
    use unidm_lwm2m::northbound::{Northbound, NorthboundConfig};
    use unidm_lwm2m::sim::{SimClient, SimConfig};

    let Some(dir) = unidm_testkit::tools::node_lwm2m_dir() else { return };
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("meter-9", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let device = f.wait_device("meter-9", |d| d.identity.manufacturer.is_some()).await;

    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/server.js");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg(port.to_string())
        .env("NODE_PATH", dir.join("node_modules"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_json(&mut lines).await, json!({"listening": port}));

    let mut config = NorthboundConfig::new(([127, 0, 0, 1], port).into(), "unidm-gw");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.lifetime = Duration::from_secs(60);
    let nb = Northbound::start(f.engine.clone(), config).await.unwrap();
    let registered = next_json(&mut lines).await;
    assert_eq!(registered["registered"], "unidm-gw", "{registered}");
    let links = registered["payload"].as_str().unwrap_or_default();
    assert!(links.contains("</3/0>") && links.contains("</25/0>"), "{links}");

    let mut ask = async |cmd: serde_json::Value| {
        stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        next_json(&mut lines).await
    };
    let v = ask(json!({"read": ["unidm-gw", "25", "0", "0"]})).await;
    assert_eq!(v["value"], "lwm2m:meter-9", "{v}");
    let v = ask(json!({"read": ["unidm-gw", "25", "0", "1"]})).await;
    assert_eq!(v["value"], "d0", "{v}");
    let v = ask(json!({"read": ["unidm-gw", "d0/3", "0", "0"]})).await;
    assert_eq!(v["value"], json!(device.identity.manufacturer), "{v}");
    // An unknown prefix and an unknown resource are errors, not answers.
    let v = ask(json!({"read": ["unidm-gw", "d9/3", "0", "0"]})).await;
    // (the library words a 4.04 as "not found")
    assert!(v["error"].as_str().is_some_and(|e| e.contains("4.04") || e.contains("not found")), "{v}");
    // What the model cannot carry to the device is refused (4.05), not kept in its copy: a
    // write of the current time, of a read-only resource; an Update before any Package URI.
    for (path, value) in [("13", "not-a-time"), ("0", "Other Co")] {
        let v = ask(json!({"write": ["unidm-gw", "d0/3", "0", path, value]})).await;
        assert!(v["error"].as_str().is_some_and(|e| e.contains("4.05")), "{v}");
    }
    let v = ask(json!({"execute": ["unidm-gw", "d0/5", "0", "2"]})).await;
    assert!(v["error"].as_str().is_some_and(|e| e.contains("4.05")), "not Downloaded: {v}");

    let v = ask(json!({"write": ["unidm-gw", "d0/5", "0", "1", "http://127.0.0.1:9/meter-2.0.bin"]})).await;
    assert_eq!(v["written"], "/d0/5/0/1", "{v}");
    let v = ask(json!({"read": ["unidm-gw", "d0/5", "0", "3"]})).await;
    assert_eq!(v["value"], "2", "Downloaded: {v}");
    let v = ask(json!({"execute": ["unidm-gw", "d0/5", "0", "2"]})).await;
    assert_eq!(v["executed"], "/d0/5/0/2", "{v}");
    // unidm updates the device, then the server reads Update Result 1.
    let mut result = json!(null);
    for _ in 0..100 {
        result = ask(json!({"read": ["unidm-gw", "d0/5", "0", "5"]})).await;
        if result["value"] == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(result["value"], "1", "Update Result: {result}");
    assert_eq!(sim.update_executes(), 1, "the device itself was updated");
    assert_eq!(sim.package_uri_writes(), 1);

    nb.stop().await;
    assert_eq!(next_json(&mut lines).await, json!({"deregistered": "unidm-gw"}));
    let _ = child.kill().await;
}
