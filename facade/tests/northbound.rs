//! `unidm serve` with `[lwm2m.northbound]`: it registers with a second `unidm serve` as an
//! LwM2M gateway, and its API and `/metrics` report where that registration stands.

mod common;

use common::serve;
use serde_json::Value;
use unidm_testkit::eventually;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn serve_registers_with_a_distant_server_and_reports_it() {
    let distant = serve("");
    let config =
        format!("[lwm2m.northbound]\nserver = \"coap://{}\"\nendpoint = \"gw-b\"\nlifetime_s = 60\n", distant.lwm2m);
    let gw = serve(&config);
    let url = format!("{}/lwm2m/northbound", gw.api);
    let status: Value = eventually("the gateway to register", || async {
        let (code, body) = get(&url).await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (code == 200 && v["registered"] == true).then_some(v)
    })
    .await;
    assert_eq!(status["endpoint"], "gw-b");
    assert_eq!(status["server"], distant.lwm2m);
    assert!(status["location"].as_str().is_some_and(|l| l.starts_with("/rd/")), "{status}");
    assert_eq!(status["registrations"], 1);

    // The distant server knows it as an LwM2M device.
    let d = format!("{}/devices/lwm2m:gw-b", distant.api);
    let device: Value = eventually("the distant server to list the gateway", || async {
        let (code, body) = get(&d).await;
        (code == 200).then(|| serde_json::from_str(&body).unwrap())
    })
    .await;
    assert_eq!(device["identity"]["manufacturer"], "unidm", "{device}");

    let metrics = get(&gw.api.replace("/api/v1", "/metrics")).await.1;
    assert!(metrics.contains("unidm_northbound_registered 1"), "{metrics}");
    assert!(metrics.contains("unidm_northbound_end_devices 0"), "{metrics}");
    // A server without a northbound client says so.
    let (code, body) = get(&format!("{}/lwm2m/northbound", distant.api)).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("northbound-disabled"), "{body}");
}
