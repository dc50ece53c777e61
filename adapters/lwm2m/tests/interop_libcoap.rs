//! Third-party interop: libcoap's `coap-client-notls` (Debian `libcoap3-bin`) registers raw
//! with the adapter. Skipped with a notice when the binary is missing, unless
//! `UNIDM_REQUIRE_LIBCOAP=1` is set (CI), which turns a missing binary into a failure.

mod common;

use std::process::Command;

use common::Fixture;
use unidm_models::PresenceState;

const BINARY: &str = "coap-client-notls";

fn available() -> bool {
    match Command::new(BINARY).arg("-h").output() {
        Ok(_) => true,
        Err(_) => {
            assert!(
                std::env::var("UNIDM_REQUIRE_LIBCOAP").is_err(),
                "{BINARY} is required (UNIDM_REQUIRE_LIBCOAP is set): install libcoap3-bin"
            );
            eprintln!("SKIPPED: {BINARY} not installed (apt-get install libcoap3-bin); libcoap interop not tested");
            false
        }
    }
}

/// LightweightM2M-1.0-int-101 Initial Registration sent by libcoap: POST /rd?ep=..&lt=60 with
/// a link-format payload; the device appears with its capabilities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_client_registers() {
    if !available() {
        return;
    }
    let mut config = common::config();
    config.read_device_on_register = false;
    let f = Fixture::with(config).await;
    let uri = format!("coap://{}/rd?ep=libcoap-1&lt=60&lwm2m=1.1&b=U", f.addr());
    let out = tokio::process::Command::new(BINARY)
        .args(["-m", "post", "-t", "40", "-e", "</1/0>,</3/0>,</5/0>", "-B", "5", &uri])
        .output()
        .await
        .expect("run coap-client");
    assert!(out.status.success(), "coap-client failed: {}", String::from_utf8_lossy(&out.stderr));
    let d = f.wait_device("libcoap-1", |d| d.presence.state == PresenceState::Online).await;
    assert_eq!(d.presence.lifetime_s, Some(60));
    let caps = d.capabilities.expect("capabilities");
    assert!(caps.contains(&unidm_models::Function::Firmware));
    let reg = f.adapter.registration("libcoap-1").expect("registered");
    assert_eq!(reg.version, "1.1");
    assert_eq!(reg.objects.len(), 3);
}
