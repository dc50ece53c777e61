//! TLS on every HTTP endpoint, with a test CA: the API, the ACS and the DM server answer over
//! HTTPS to a client that trusts the CA, and a client that does not trust it (or speaks plain
//! HTTP) gets no answer.

use std::sync::Arc;

use unidm_core::{Engine, SqliteStore};
use unidm_omadm::server::{OmadmAdapter, OmadmConfig};
use unidm_testkit::tls::TestCa;
use unidm_tr069::acs::{Tr069Adapter, Tr069Config};

fn trusting(ca: &TestCa) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder().add_root_certificate(root).build().unwrap()
}

#[tokio::test]
async fn the_api_the_acs_and_the_dm_server_speak_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let mut files = ca.files.clone();
    // CPE client certificates are asked for, not required.
    files.client_ca = Some(dir.path().join("ca.pem"));
    let acs = Arc::new(Tr069Adapter::new(Tr069Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(files),
        ..Tr069Config::default()
    }));
    let dm = Arc::new(OmadmAdapter::new(OmadmConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(ca.files.clone()),
        ..OmadmConfig::default()
    }));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("t.db")).unwrap())
        .adapter_arc(acs.clone())
        .adapter_arc(dm.clone())
        .start()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = unidm_core::tls::server_config(&ca.files, &[b"h2", b"http/1.1"]).unwrap();
    let app = unidm::app(engine.clone(), Some("tok".into()));
    tokio::spawn(unidm_core::tls::serve(listener, Some(tls), app, std::future::pending()));

    let client = trusting(&ca);
    let api = format!("https://localhost:{port}/api/v1/devices");
    let r = client.get(&api).bearer_auth("tok").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Not trusted, or not TLS: no answer.
    assert!(reqwest::Client::new().get(&api).send().await.is_err(), "an unknown CA is refused");
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    let acs_url = acs.acs_url().unwrap();
    assert!(acs_url.starts_with("https://"), "{acs_url}");
    // An empty POST opens nothing but is answered over TLS.
    let r = client.post(acs_url.replace("127.0.0.1", "localhost")).send().await.unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    let dm_url = dm.server_url().unwrap();
    assert!(dm_url.starts_with("https://"), "{dm_url}");
    let r = client
        .post(dm_url.replace("127.0.0.1", "localhost"))
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "not SyncML, answered over TLS");
    assert!(reqwest::Client::new().post(&dm_url).send().await.is_err());
    engine.shutdown().await;
}
