//! The conformance runner against a LwM2M client nobody here wrote: lwm2m-node-lib (npm,
//! telefonicaid), a LwM2M 1.0 client that speaks plain text only. Its verdicts must be right
//! for it: what it does is passed, what a 1.0 client need not do is inconclusive, not failed.
//!
//! Needs `node` and `npm install lwm2m-node-lib` in the directory `UNIDM_NODE_LWM2M_DIR`
//! names; skipped with a notice otherwise, unless `UNIDM_REQUIRE_NODE_LWM2M=1`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use unidm_interop::{lwm2m, runner, select, Ctx, Verdict};
use unidm_models::DeviceId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_are_right_for_lwm2m_node_lib() {
    let Some(dir) = unidm_testkit::tools::node_lwm2m_dir() else { return };
    let stack = common::Stack::start().await;
    let addr = stack.lwm2m_addr();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/conformance_client.js");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg("node-conformance")
        .env("NODE_PATH", dir.join("node_modules"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The library logs to stdout too: skip to our own line.
    let registered = tokio::time::timeout(common::WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"registered\"") || line.contains("\"error\"") {
                return line;
            }
        }
        String::new()
    })
    .await
    .expect("node answers");
    assert_eq!(registered, r#"{"registered":true}"#);
    let id = DeviceId::lwm2m("node-conformance").unwrap();
    let engine = &stack.engine;
    unidm_testkit::eventually("the node client's device", || async { engine.device(&id).ok() }).await;

    let ctx = Ctx::new(stack.engine.clone(), id)
        .with_lwm2m(Some(stack.lwm2m.clone()))
        .with_step_timeout(Duration::from_secs(5));
    let picked: Vec<String> = [
        "1.0-int-101",
        "1.0-int-201",
        "1.0-int-204",
        "1.1-int-2xx",
        "1.0-int-205",
        "1.0-int-260",
        "1.0-int-751",
        "1.0-int-652",
    ]
    .map(String::from)
    .to_vec();
    let cases = select(&lwm2m::catalogue(), &picked).unwrap();
    let reports = runner::run(&ctx, &cases, &mut runner::Silent).await;
    let shown = reports
        .iter()
        .map(|r| format!("{} {}: {} {:?} {:?}", r.id, r.verdict.as_str(), r.reason, r.expected, r.got))
        .collect::<Vec<_>>()
        .join("\n");
    let verdict = |id: &str| reports.iter().find(|r| r.id.ends_with(id)).map(|r| r.verdict).unwrap();
    // What it does: registration with /1 and /3, text reads of resources (answered without a
    // Content-Format, text by the 1.0 default), Discover.
    for id in ["1.0-int-101", "1.0-int-201", "1.1-int-224", "1.0-int-260", "1.0-int-652"] {
        assert_eq!(verdict(id), Verdict::Pass, "{id}\n{shown}");
    }
    // What it need not do: LwM2M JSON (it drops the request rather than answering 4.06), the
    // 1.1 formats and operations, an optional resource (/1/0/3), a multiple resource it lacks,
    // the Firmware Update object.
    for id in [
        "1.0-int-204",
        "1.1-int-211",
        "1.1-int-231",
        "1.1-int-232",
        "1.1-int-233",
        "1.1-int-234",
        "1.1-int-225",
        "1.1-int-229",
        "1.1-int-230",
        "1.1-int-235",
        "1.1-int-236",
        "1.0-int-205",
        "1.1-int-261",
        "1.0-int-751",
    ] {
        assert_eq!(verdict(id), Verdict::Inconclusive, "{id}\n{shown}");
    }
    // What it does wrong, by the spec: no TLV for an object or an instance (mandatory in 1.0,
    // TS Core §7.4: the read goes unanswered), Read /0 not refused with 4.01, a write to the
    // read-only Short Server ID /1/0/0 taken.
    for id in ["1.1-int-222", "1.1-int-223", "1.1-int-221", "1.1-int-256"] {
        assert_eq!(verdict(id), Verdict::Fail, "{id}\n{shown}");
    }
    eprintln!("{shown}");
}
