//! `unidm bench operations` as a child process against `unidm serve`: batched and one-by-one
//! creates complete, are stored, and the tool's devices and operations are gone afterwards
//! unless kept (no timing is asserted).

mod common;

use common::{bench, serve};
use serde_json::Value;

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn bench_operations_creates_in_batches_and_one_by_one_and_cleans_up() {
    let server = serve("");
    let pid = server.proc.child.id().to_string();
    let api = server.api.as_str();
    let common = ["--api", api, "--devices", "20", "--clients", "4", "--server-pid", pid.as_str()];

    let run = bench(&[&["operations", "--operations", "2500", "--batch", "300"], &common[..]].concat()).await;
    run.expect(&[
        "unidm bench operations: 2500 reboots over 20 devices",
        "done:          20 of 20 provisioned",
        "done:          2500 of 2500 created, committed (300 per request",
        "errors:        none",
        "server CPU:",
        "done:          20 of 20 deleted with their operations",
    ]);
    let left = get(&format!("{api}/operations?state=pending&limit=1")).await;
    assert_eq!(left["total"], 0, "{left}");
    let cancelled = get(&format!("{api}/operations?state=cancelled&limit=1")).await;
    assert_eq!(cancelled["total"], 2500, "{cancelled}");

    // One by one (`POST /operations`), the devices kept.
    let run = bench(&[&["operations", "--operations", "100", "--batch", "1", "--keep"], &common[..]].concat()).await;
    run.expect(&["done:          100 of 100 created, committed (1 per request", "devices kept"]);
    let kept = get(&format!("{api}/devices?label=unidm-bench%3Doperations&limit=1")).await;
    assert_eq!(kept["total"], 20, "{kept}");

    // Nothing listening: an error at once.
    bench(&["operations", "--api", "http://127.0.0.1:9/api/v1"]).await.expect_failure("no unidm API answers");
}
