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

async fn send(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn presence(api: &str, id: &str) -> Option<String> {
    let (code, body) = get(&format!("{api}/devices/{id}")).await;
    let v: Value = serde_json::from_str(&body).ok()?;
    (code == 200).then(|| v["presence"]["state"].as_str().unwrap_or_default().to_owned())
}

/// Settings given through the API start the client, replace it, survive a restart (over the
/// file's), and go with DELETE, the client de-registering each time it stops.
#[tokio::test]
async fn the_northbound_client_is_set_through_the_api_and_kept_across_a_restart() {
    let distant = serve("");
    let gw = serve("");
    let url = format!("{}/lwm2m/northbound", gw.api);
    let (code, _) = send(reqwest::Method::GET, &url, None).await;
    assert_eq!(code, 409, "none configured yet");

    // Bad settings: 400 naming the field; nothing starts.
    let bad = serde_json::json!({"server": distant.lwm2m, "lifetimeS": 1});
    let (code, problem) = send(reqwest::Method::PUT, &url, Some(bad)).await;
    assert_eq!(code, 400, "{problem}");
    assert!(problem.to_string().contains("lifetimeS"), "{problem}");
    let unknown = serde_json::json!({"server": distant.lwm2m, "lifetime": 60});
    assert_eq!(send(reqwest::Method::PUT, &url, Some(unknown)).await.0, 400);

    let settings =
        serde_json::json!({"server": format!("coap://{}", distant.lwm2m), "endpoint": "gw-api", "lifetimeS": 60});
    let (code, view) = send(reqwest::Method::PUT, &url, Some(settings)).await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["endpoint"], "gw-api");
    eventually("gw-api to register", || async {
        (presence(&distant.api, "lwm2m:gw-api").await.as_deref() == Some("online")).then_some(())
    })
    .await;

    // A restart of the gateway's unidm starts the stored settings again.
    let dir = gw.stop();
    eventually("gw-api to de-register on stop", || async {
        (presence(&distant.api, "lwm2m:gw-api").await.as_deref() == Some("offline")).then_some(())
    })
    .await;
    let gw = common::serve_in(dir, "");
    let url = format!("{}/lwm2m/northbound", gw.api);
    eventually("gw-api to register again after the restart", || async {
        let (code, v) = send(reqwest::Method::GET, &url, None).await;
        (code == 200 && v["registered"] == true && v["endpoint"] == "gw-api").then_some(())
    })
    .await;

    // DELETE stops it (de-registering) and forgets the settings.
    assert_eq!(send(reqwest::Method::DELETE, &url, None).await.0, 204);
    eventually("gw-api to de-register", || async {
        (presence(&distant.api, "lwm2m:gw-api").await.as_deref() == Some("offline")).then_some(())
    })
    .await;
    assert_eq!(send(reqwest::Method::GET, &url, None).await.0, 409);
    assert_eq!(send(reqwest::Method::DELETE, &url, None).await.0, 404);
}
