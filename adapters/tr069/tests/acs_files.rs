//! The ACS file server: ranges for resumable downloads, the Upload target, and a simulated CPE
//! that really fetches its firmware from it.

mod acs;

use acs::*;
use unidm_models::{Action, FirmwareUpdate, OperationState};
use unidm_tr069::acs::FileServerConfig;
use unidm_tr069::Tr069Config;

async fn with_files() -> (Fixture, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("fw-4.bin"), (0..=255u8).cycle().take(1000).collect::<Vec<_>>()).unwrap();
    let config = Tr069Config {
        files: Some(FileServerConfig { dir: files.path().into(), accept_uploads: true, max_upload: 1 << 20 }),
        ..local_config()
    };
    (fixture_with(config).await, files)
}

#[tokio::test]
async fn serves_ranges_and_takes_uploads() {
    let (f, files) = with_files().await;
    let url = f.adapter.file_url("fw-4.bin").unwrap();
    let client = reqwest::Client::new();
    let whole = client.get(&url).send().await.unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().len(), 1000);

    let part = client.get(&url).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(part.bytes().await.unwrap().to_vec(), (10..20u8).collect::<Vec<_>>());

    let past = client.get(&url).header("Range", "bytes=5000-").send().await.unwrap();
    assert_eq!(past.status().as_u16(), 416);
    let missing = client.get(f.adapter.file_url("nope.bin").unwrap()).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);

    let put = client.put(f.adapter.file_url("cpe-log.txt").unwrap()).body("log line").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    assert_eq!(std::fs::read_to_string(files.path().join("cpe-log.txt")).unwrap(), "log line");
    // Nothing half-written is left beside it.
    let names: Vec<String> = std::fs::read_dir(files.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
}

/// The first upload makes the file server's folder (a fresh deployment has none yet).
#[tokio::test]
async fn an_upload_makes_the_folder_it_goes_to() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("files");
    let config = Tr069Config {
        files: Some(FileServerConfig { dir: dir.clone(), accept_uploads: true, max_upload: 1 << 20 }),
        ..local_config()
    };
    let f = fixture_with(config).await;
    let put =
        reqwest::Client::new().put(f.adapter.file_url("first.log").unwrap()).body("first upload").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    assert_eq!(std::fs::read_to_string(dir.join("first.log")).unwrap(), "first upload");
}

#[tokio::test]
async fn simulated_cpe_fetches_firmware_from_the_acs() {
    let (f, _files) = with_files().await;
    let mut config = f.sim_config(tr181("fetch-1"));
    config.fetch_downloads = true;
    config.firmware_version = Some("4.0.0".into());
    let (cpe, id) = f.sim(config).await;
    let fw = |name: &str| {
        Action::Firmware(FirmwareUpdate { uri: f.adapter.file_url(name).unwrap(), version: None, name: None })
    };
    let op = f.run(&id, fw("fw-4.bin")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(f.engine.device(&id).unwrap().identity.fw_version.as_deref(), Some("4.0.0"));

    let op = f.run(&id, fw("missing.bin")).await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9016"));
    cpe.stop();
}
