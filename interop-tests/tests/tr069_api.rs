//! TR-069 through the HTTP API: a simulated CPE (BM632w's real TR-098 tree) informs the ACS,
//! appears as a device, and is managed through `/api/v1`: native read, a firmware file uploaded
//! through `/api/v1/files` and fetched by the CPE from the ACS's file server, reboot.

mod common;

use common::{device_path, Stack};
use serde_json::json;
use unidm_tr069::sim::{ParameterTree, SimConfig, SimCpe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpe_is_managed_through_the_api() {
    let s = Stack::start().await;
    let mut config = SimConfig::new(s.acs.acs_url().unwrap(), ParameterTree::bm632w());
    config.fetch_downloads = true;
    config.firmware_version = Some("2.0.0".into());
    let cpe = SimCpe::start(config).await.unwrap();

    // The CPE's Inform makes it a device, with identity from its DeviceId and ParameterList.
    let ident = cpe.identity();
    let id = unidm_models::DeviceId::tr069(&ident.oui, Some(&ident.product_class), &ident.serial_number).unwrap();
    let device = s.device_when(id.as_str(), |d| d["presence"]["state"] == "online").await;
    assert_eq!(device["identity"]["manufacturer"], ident.manufacturer);
    assert_eq!(device["identity"]["serial"], ident.serial_number);
    let dev = device_path(id.as_str());

    // Native read: GetParameterValues.
    let op = s
        .post(
            &format!("{dev}/native"),
            json!({"op": "read", "path": "InternetGatewayDevice.DeviceInfo.SoftwareVersion"}),
        )
        .await;
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let reported = cpe.get("InternetGatewayDevice.DeviceInfo.SoftwareVersion").unwrap();
    assert_eq!(done["result"]["InternetGatewayDevice.DeviceInfo.SoftwareVersion"], reported);

    // A firmware image uploaded through the API, served by the ACS, fetched by the CPE.
    let r = s
        .http
        .post(format!("{}/files?name=fw-2.0.0.bin", s.api))
        .header("content-type", "application/octet-stream")
        .body(vec![0x5a_u8; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let file: serde_json::Value = r.json().await.unwrap();
    assert_eq!(file["size"], 64 * 1024);
    let url = file["url"].as_str().expect("the ACS serves files").to_owned();
    assert_eq!(s.get("/files").await[0]["name"], "fw-2.0.0.bin");

    let op = s.post(&format!("{dev}/firmware"), json!({"uri": url, "version": "2.0.0"})).await;
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let device = s.get(&dev).await;
    assert_eq!(device["snapshot"]["firmware"]["state"], "succeeded", "{device}");

    // Reboot: done when the CPE comes back with 1 BOOT + M Reboot.
    let op = s.post(&format!("{dev}/reboot"), json!({})).await;
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(cpe.stats().reboots >= 1);
    cpe.stop();
}
