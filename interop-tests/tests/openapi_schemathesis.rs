//! The HTTP API checked by a tool nobody here wrote: schemathesis generates requests from the
//! OpenAPI document the server publishes and checks every answer against it (no 5xx, status
//! codes, content types, headers and bodies as documented).
//!
//! `.ci/run` installs schemathesis from PyPI. Outside CI the test is skipped, with a notice, when
//! the tool is not installed; in CI (`CI` set) a missing tool is a failure.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use unidm_core::{Engine, SqliteStore};

fn schemathesis() -> Option<String> {
    let candidates = [std::env::var("UNIDM_SCHEMATHESIS").unwrap_or_default(), "schemathesis".into(), "st".into()];
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_conforms_to_its_openapi_document() {
    let Some(tool) = schemathesis() else {
        assert!(std::env::var_os("CI").is_none(), "schemathesis is not installed; .ci/run installs it");
        eprintln!("SKIPPED: schemathesis not installed (pip install schemathesis)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().store(SqliteStore::open(dir.path().join("t.db")).unwrap()).start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = unidm::app(engine.clone(), None);
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    // Something to find, so that not every generated request ends in a 404.
    let client = reqwest::Client::new();
    let seeded = client
        .post(format!("http://{addr}/api/v1/devices"))
        .json(&serde_json::json!({"id": "lwm2m:a", "labels": {"site": "x"}}))
        .send()
        .await
        .unwrap();
    assert!(seeded.status().is_success());

    let schema = format!("http://{addr}/api/v1/openapi.json");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(tool)
            .args(["run", &schema])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--max-examples",
                "10",
                // The stateful phase builds its scenarios from links schemathesis infers from
                // the responses; with routes such as /tokens/{name} and /lwm2m/bootstrap/{endpoint}
                // its inference produces links it then rejects as invalid, and it ran no
                // scenario before either: the other three phases check every operation.
                "--phases",
                "examples,coverage,fuzzing",
                "--generation-deterministic",
                "--no-shrink",
                // An endless stream: covered by the facade's own SSE test.
                "--exclude-path",
                "/api/v1/events",
                // A created token ends the loopback-only mode the run relies on (every later
                // request would get a documented 401): covered by the facade's access tests.
                "--exclude-path",
                "/api/v1/tokens",
                "--request-timeout",
                "10",
                "--max-time",
                "90",
                "--no-color",
            ])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary: Vec<&str> = report.lines().rev().take(12).collect();
    println!("{}", summary.into_iter().rev().collect::<Vec<_>>().join("\n"));
    assert!(out.status.success(), "schemathesis found failures:\n{report}");
    assert!(report.contains("Test cases:"), "schemathesis did not run:\n{report}");
    tokio::time::timeout(Duration::from_secs(5), engine.shutdown()).await.unwrap();
}
