//! TR-069 through the HTTP API: a simulated CPE (BM632w's real TR-098 tree) informs the ACS,
//! appears as a device, and is managed through `/api/v1`: native read, a firmware file uploaded
//! through `/api/v1/files` and fetched by the CPE from the ACS's file server, reboot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unidm::routes::files::FilesConfig;
use unidm::AppOptions;
use unidm_core::{Engine, SqliteStore};
use unidm_tr069::sim::{ParameterTree, SimConfig, SimCpe};
use unidm_tr069::{FileServerConfig, Tr069Adapter, Tr069Config};

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    api: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.api)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.api)).json(&body).send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    /// Polls an operation until it ends.
    async fn finished(&self, op: &Value) -> Value {
        let started = Instant::now();
        loop {
            let now = self.get(&format!("/operations/{}", op["id"])).await;
            let state = now["state"].as_str().unwrap_or_default().to_owned();
            if ["succeeded", "failed", "cancelled", "expired"].contains(&state.as_str()) {
                return now;
            }
            assert!(started.elapsed() < WAIT, "operation still {state}: {now}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn env() -> (Env, Arc<Tr069Adapter>) {
    let dir = tempfile::tempdir().unwrap();
    let files_dir = dir.path().join("files");
    let acs = Arc::new(Tr069Adapter::new(Tr069Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        files: Some(FileServerConfig { dir: files_dir.clone(), accept_uploads: true, max_upload: 1 << 20 }),
        ..Tr069Config::default()
    }));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("unidm.db")).unwrap())
        .adapter_arc(acs.clone())
        .start()
        .await
        .unwrap();
    let files = FilesConfig { dir: files_dir, max_upload: 1 << 20, base_url: acs.file_url("") };
    let app = unidm::app_with(engine, AppOptions { token: None, files: Some(files) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    (Env { api, http, _dir: dir }, acs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpe_is_managed_through_the_api() {
    let (env, acs) = env().await;
    let mut config = SimConfig::new(acs.acs_url().unwrap(), ParameterTree::bm632w());
    config.fetch_downloads = true;
    config.firmware_version = Some("2.0.0".into());
    let cpe = SimCpe::start(config).await.unwrap();

    // The CPE's Inform makes it a device, with identity from its DeviceId and ParameterList.
    let started = Instant::now();
    let device = loop {
        let list = env.get("/devices?protocol=tr069").await;
        if list["total"] == 1 {
            break list["items"][0].clone();
        }
        assert!(started.elapsed() < WAIT, "the CPE never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ident = cpe.identity();
    assert_eq!(device["identity"]["manufacturer"], ident.manufacturer);
    assert_eq!(device["identity"]["serial"], ident.serial_number);
    assert_eq!(device["presence"]["state"], "online");
    let id = device["id"].as_str().unwrap().to_owned();
    let dev_path = format!("/devices/{}", id.replace('%', "%25"));

    // Native read: GetParameterValues.
    let op = env
        .post(
            &format!("{dev_path}/native"),
            json!({"op": "read", "path": "InternetGatewayDevice.DeviceInfo.SoftwareVersion"}),
        )
        .await;
    let done = env.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let reported = cpe.get("InternetGatewayDevice.DeviceInfo.SoftwareVersion").unwrap();
    assert_eq!(done["result"]["InternetGatewayDevice.DeviceInfo.SoftwareVersion"], reported);

    // A firmware image uploaded through the API, served by the ACS, fetched by the CPE.
    let r = env
        .http
        .post(format!("{}/files?name=fw-2.0.0.bin", env.api))
        .header("content-type", "application/octet-stream")
        .body(vec![0x5a_u8; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["size"], 64 * 1024);
    let url = file["url"].as_str().expect("the ACS serves files").to_owned();
    assert_eq!(env.get("/files").await[0]["name"], "fw-2.0.0.bin");

    let op = env.post(&format!("{dev_path}/firmware"), json!({"uri": url, "version": "2.0.0"})).await;
    let done = env.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let device = env.get(&dev_path).await;
    assert_eq!(device["snapshot"]["firmware"]["state"], "succeeded", "{device}");

    // Reboot: done when the CPE comes back with 1 BOOT + M Reboot.
    let op = env.post(&format!("{dev_path}/reboot"), json!({})).await;
    let done = env.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(cpe.stats().reboots >= 1);
    cpe.stop();
}
