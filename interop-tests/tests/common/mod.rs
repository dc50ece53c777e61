//! unidm's whole-system tests: the HTTP API, the engine and the protocol adapters in one
//! process, driven through `/api/v1` the way an operator would, with simulated devices and with
//! third-party tools.
//!
//! [`Stack`] starts everything on loopback with OS-chosen ports.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use unidm::routes::files::FilesConfig;
use unidm::AppOptions;
use unidm_core::{Engine, SqliteStore};
use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
use unidm_omadm::server::{OmadmAdapter, OmadmConfig};
use unidm_omadm::session::Credentials;
use unidm_testkit::eventually;
use unidm_tr069::{FileServerConfig, Tr069Adapter, Tr069Config};

/// How long a test waits for something a device does.
pub const WAIT: Duration = unidm_testkit::DEADLINE;

/// The OMA DM client credentials every simulated DM client of a [`Stack`] uses.
pub const DM_CLIENT: (&str, &str) = ("dm-client", "client-secret");
/// The DM server's password on those clients (their md5 check of the server, Package #0).
pub const DM_SERVER_PASSWORD: &str = "server-secret";

/// The engine with the three protocol adapters and the HTTP API, on loopback.
pub struct Stack {
    /// `http://127.0.0.1:<port>/api/v1`.
    pub api: String,
    /// A client for it.
    pub http: reqwest::Client,
    /// The engine.
    pub engine: Engine,
    /// The LwM2M server.
    pub lwm2m: Arc<Lwm2mAdapter>,
    /// The TR-069 ACS.
    pub acs: Arc<Tr069Adapter>,
    /// The OMA DM server.
    pub omadm: Arc<OmadmAdapter>,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts the engine on a fresh SQLite file, both adapters and the API.
    pub async fn start() -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let files_dir = dir.path().join("files");
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let acs = Arc::new(Tr069Adapter::new(Tr069Config {
            listen: loopback,
            files: Some(FileServerConfig { dir: files_dir.clone(), accept_uploads: true, max_upload: 1 << 20 }),
            ..Tr069Config::default()
        }));
        let lwm2m = Arc::new(Lwm2mAdapter::new(Lwm2mConfig::new(loopback)));
        let omadm = Arc::new(OmadmAdapter::new(OmadmConfig {
            listen: loopback,
            client_credentials: Some(Credentials::new(DM_CLIENT.0, DM_CLIENT.1)),
            server_password: Some(DM_SERVER_PASSWORD.into()),
            push_backoff: Duration::from_millis(200),
            ..OmadmConfig::default()
        }));
        let engine = Engine::builder()
            .store(SqliteStore::open(dir.path().join("unidm.db")).expect("store"))
            .adapter_arc(acs.clone())
            .adapter_arc(lwm2m.clone())
            .adapter_arc(omadm.clone())
            .start()
            .await
            .expect("engine");
        let files = FilesConfig { dir: files_dir, max_upload: 1 << 20, base_url: acs.file_url("") };
        let app = unidm::app_with(
            engine.clone(),
            AppOptions {
                files: Some(files),
                lwm2m: Some(lwm2m.clone()),
                omadm: Some(omadm.clone()),
                tr069: Some(acs.clone()),
                ..AppOptions::default()
            },
        );
        let listener = tokio::net::TcpListener::bind(loopback).await.expect("bind");
        let api = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        Stack { api, http, engine, lwm2m, acs, omadm, _dir: dir }
    }

    /// A simulated OMA DM client of this stack's DM server, named `dev_id`.
    pub fn dm_client(&self, dev_id: &str) -> unidm_omadm::sim::SimDevice {
        let url = self.omadm.server_url().expect("the DM server is started");
        let mut c = unidm_omadm::sim::SimConfig::new(url, dev_id, DM_CLIENT.0, DM_CLIENT.1);
        c.server_password = DM_SERVER_PASSWORD.into();
        unidm_omadm::sim::SimDevice::new(c)
    }

    /// The LwM2M server's address, for simulated clients.
    pub fn lwm2m_addr(&self) -> SocketAddr {
        self.lwm2m.local_addr().expect("the LwM2M server is started")
    }

    /// `GET`, expecting success.
    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.api)).send().await.expect("request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {v}");
        v
    }

    /// `POST` a JSON body, expecting success.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.api)).json(&body).send().await.expect("request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    /// `PUT` a JSON body, expecting success.
    pub async fn put(&self, path: &str, body: Value) -> Value {
        let r = self.http.put(format!("{}{path}", self.api)).json(&body).send().await.expect("request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "PUT {path}: {status} {v}");
        v
    }

    /// Polls an operation until it ends, and returns it.
    pub async fn finished(&self, op: &Value) -> Value {
        let path = format!("/operations/{}", op["id"]);
        eventually(&format!("operation {} to end", op["id"]), || async {
            let now = self.get(&path).await;
            let state = now["state"].as_str().unwrap_or_default();
            ["succeeded", "failed", "cancelled", "expired"].contains(&state).then_some(now)
        })
        .await
    }

    /// Polls `GET /devices/{id}` until `ready` holds, and returns the device.
    pub async fn device_when(&self, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let url = format!("{}{}", self.api, device_path(id));
        let ready = &ready;
        eventually(&format!("device {id} to get ready"), || async {
            let r = self.http.get(&url).send().await.expect("request");
            if !r.status().is_success() {
                return None;
            }
            let d: Value = r.json().await.expect("json");
            ready(&d).then_some(d)
        })
        .await
    }

    /// Polls `GET {path}` until `ready` holds, and returns the answer.
    pub async fn get_when(&self, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let ready = &ready;
        eventually(&format!("GET {path} to satisfy the test"), || async {
            let v = self.get(path).await;
            ready(&v).then_some(v)
        })
        .await
    }
}

/// `/devices/<id>` with the id escaped for a path segment.
pub fn device_path(id: &str) -> String {
    let mut out = String::from("/devices/");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
