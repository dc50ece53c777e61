//! Firmware push (Package, registry `5.xml`): an image written to Package `/5/0/0` goes
//! block-wise (RFC 7959 §2.5, Block1, 1024-byte blocks) through the adapter to the simulated
//! client, which reports Downloaded; then Update is executed as for a pull (ETS 1.0-int-755
//! Setting the writable Resource Package). The firmware action pushes by itself to a device
//! whose Delivery Method /5/0/9 asks for it, fetching the image over HTTP.

mod common;

use base64::Engine as _;
use common::{native, Fixture};
use serde_json::json;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{FirmwareBehaviour, SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{Action, ErrorKind, FirmwareState, FirmwareUpdate, NativeOp, OperationState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_755_package_written_block_wise() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("push", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device("push", |d| d.identity.manufacturer.is_some()).await;
    let image: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&image);
    let op = f.run("push", native(NativeOp::Write, "/5/0/0", Some(json!(encoded)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(5, 0, 0)), Some(Value::Opaque(image)));
    assert_eq!(sim.get(Path::Resource(5, 0, 3)), Some(Value::Integer(2)));
    let op = f.run("push", native(NativeOp::Execute, "/5/0/2", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    common::wait(|| async { (sim.get(Path::Resource(5, 0, 5)) == Some(Value::Integer(1))).then_some(()) }).await;
    assert_eq!(sim.get(Path::Resource(3, 0, 3)), Some(Value::String("2.0".into())));
}

/// An HTTP server on loopback with one file, `/fw.bin`; anything else is 404. Returns its
/// address.
async fn image_server(image: Vec<u8>) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let image = image.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let found = request.starts_with(b"GET /fw.bin ");
                let (status, body) = if found { ("200 OK", image) } else { ("404 Not Found", Vec::new()) };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&body).await;
            });
        }
    });
    addr
}

fn firmware(uri: String) -> Action {
    Action::Firmware(FirmwareUpdate { uri, version: Some("2.0".into()), name: None })
}

async fn push_only(f: &Fixture, ep: &str) -> SimClient {
    let firmware = FirmwareBehaviour { delivery_method: 1, ..Default::default() };
    f.online(SimConfig { firmware, ..SimConfig::new(ep, f.addr()) }).await
}

/// The firmware action on a device that takes push only (Delivery Method /5/0/9 = 1): the
/// adapter fetches the image, writes it block-wise to /5/0/0 (the device would refuse a
/// Package URI) and runs the update to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_action_pushes_to_a_push_only_device() {
    let f = Fixture::new().await;
    let sim = push_only(&f, "push-only").await;
    let image: Vec<u8> = (0..5_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let server = image_server(image.clone()).await;
    let op = f.run("push-only", firmware(format!("http://{server}/fw.bin"))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(5, 0, 0)), Some(Value::Opaque(image)), "the image, block by block");
    assert_eq!(sim.get(Path::Resource(5, 0, 1)), Some(Value::String(String::new())), "no Package URI written");
    let d = f.wait_device("push-only", |d| d.identity.fw_version.as_deref() == Some("2.0")).await;
    assert_eq!(d.snapshot.firmware.map(|s| s.state), Some(FirmwareState::Succeeded));
}

/// What the adapter will not push: an image over `firmware_push_max`, one the HTTP server does
/// not have, one it cannot fetch (ftp); each a clear failure, and the device, holding an
/// earlier image, left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_cannot_be_fetched_fails_clearly() {
    let mut config = common::config();
    config.firmware_push_max = 1_000;
    let f = Fixture::with(config).await;
    let sim = push_only(&f, "push-bad").await;
    let earlier = base64::engine::general_purpose::STANDARD.encode([1, 2, 3]);
    let op = f.run("push-bad", native(NativeOp::Write, "/5/0/0", Some(json!(earlier)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let server = image_server(vec![7; 5_000]).await;
    for (uri, kind, words) in [
        (format!("http://{server}/fw.bin"), ErrorKind::BadInput, "over the 1000 bytes"),
        (format!("http://{server}/missing.bin"), ErrorKind::BadInput, "HTTP 404"),
        ("ftp://files.example/fw.bin".to_owned(), ErrorKind::NotSupported, "http:// or https://"),
    ] {
        let op = f.run("push-bad", firmware(uri.clone())).await;
        let e = op.error.unwrap_or_else(|| panic!("{uri} pushed"));
        assert_eq!(e.kind, kind, "{uri}: {}", e.message);
        assert!(e.message.contains(words), "{uri}: {}", e.message);
    }
    assert_eq!(sim.get(Path::Resource(5, 0, 0)), Some(Value::Opaque(vec![1, 2, 3])), "nothing written");
    assert_eq!(sim.get(Path::Resource(5, 0, 3)), Some(Value::Integer(2)), "still Downloaded, not reset");
}

/// The field fault: a client takes the pushed package and its State never leaves
/// Downloading. With a no-progress limit (`firmware_stall`), the operation fails once the
/// limit passes, saying at which step and what the device last reported, instead of waiting
/// for its deadline at "downloading".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_state_stays_downloading_fails_after_the_stall_limit() {
    let mut config = common::config();
    config.firmware_stall = std::time::Duration::from_secs(1);
    let f = Fixture::with(config).await;
    let push_only = FirmwareBehaviour { delivery_method: 1, ..Default::default() };
    let config =
        SimConfig { firmware: push_only, firmware_stuck_downloading: true, ..SimConfig::new("push-stuck", f.addr()) };
    let sim = f.online(config).await;
    let server = image_server(vec![9; 2_000]).await;
    let op = f.run("push-stuck", firmware(format!("http://{server}/fw.bin"))).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.expect("an error");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(
        e.message,
        "no progress for 1 s while downloading: /5/0/3 State still 1 (Downloading), /5/0/5 Update Result 0"
    );
    assert_eq!(sim.get(Path::Resource(5, 0, 3)), Some(Value::Integer(1)), "the device is still downloading");
    let status = f.device("push-stuck").and_then(|d| d.snapshot.firmware).expect("firmware snapshot");
    assert_eq!((status.state, status.failure), (FirmwareState::Failed, Some(e.message)));
}
