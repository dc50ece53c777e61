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

fn node_lib_dir() -> Option<PathBuf> {
    let required = std::env::var("UNIDM_REQUIRE_NODE_LWM2M").is_ok_and(|v| v == "1");
    let dir = std::env::var_os("UNIDM_NODE_LWM2M_DIR").map(PathBuf::from);
    match dir.filter(|d| d.join("node_modules/lwm2m-node-lib/package.json").is_file()) {
        Some(d) => Some(d),
        None if required => {
            panic!("UNIDM_REQUIRE_NODE_LWM2M=1 but UNIDM_NODE_LWM2M_DIR has no node_modules/lwm2m-node-lib")
        }
        None => {
            eprintln!("skipping: set UNIDM_NODE_LWM2M_DIR to a directory with `npm install lwm2m-node-lib`");
            None
        }
    }
}

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
    let Some(dir) = node_lib_dir() else { return };
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
