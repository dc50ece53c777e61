//! The bootstrap server over loopback UDP with the simulated client (TS Core 1.1 §5.2; ETS
//! LightweightM2M-1.0-int-0 / 1.1-int-0 Client Initiated Bootstrap, 1.1-int-4 Bootstrap
//! Delete, 1.1-int-6 Bootstrap Sequence).

mod common;

use common::Fixture;
use unidm_lwm2m::bootstrap::{SecurityMode, ServerAccount};
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::{BootstrapConfig, Path};

fn config_for(f: &Fixture, lifetime: u32) -> BootstrapConfig {
    BootstrapConfig {
        servers: vec![ServerAccount {
            short_server_id: 101,
            uri: format!("coap://{}", f.addr()),
            security: SecurityMode::NoSec {},
            lifetime,
            binding: "U".into(),
            default_min_period: Some(1),
            default_max_period: None,
            notification_storing: true,
        }],
    }
}

fn nowhere() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9))
}

/// LightweightM2M-1.1-int-0 Client Initiated Bootstrap and -6 Bootstrap Sequence (TLV, a 1.0
/// client), then Initial Registration with the account received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_0_and_6_bootstrap_then_register() {
    let f = Fixture::new().await;
    let bs = f.adapter.bootstrap_addr().expect("bootstrap server");
    assert!(bs.ip().is_loopback());
    f.adapter.put_bootstrap_config("bs-1", config_for(&f, 120)).await.unwrap();
    let sim = SimClient::start(SimConfig::new("bs-1", nowhere())).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.server(), f.addr());
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)));
    assert_eq!(sim.get(Path::Resource(1, 0, 2)), Some(Value::Integer(1)));
    assert!(sim.get(Path::Resource(0, 0, 0)).is_some(), "bootstrap account kept at /0/0");
    sim.register().await.unwrap();
    f.wait_device("bs-1", |d| d.identity.manufacturer.is_some()).await;
}

/// LightweightM2M-1.1-int-4 Bootstrap Delete: bootstrapping again (SenML JSON, a 1.1 client)
/// replaces the accounts, keeps the bootstrap account; configurations survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_4_rebootstrap_and_persistence() {
    let f = Fixture::new().await;
    let bs = f.adapter.bootstrap_addr().unwrap();
    f.adapter.put_bootstrap_config("bs-2", config_for(&f, 120)).await.unwrap();
    let config = SimConfig { version: "1.1".into(), ..SimConfig::new("bs-2", nowhere()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)));
    f.adapter.put_bootstrap_config("bs-2", config_for(&f, 600)).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(600)));
    assert_eq!(sim.get(Path::Resource(0, 1, 10)), Some(Value::Integer(101)));
    assert_eq!(sim.get(Path::Resource(0, 2, 0)), None, "old account deleted");
    sim.register().await.unwrap();
    f.wait_device("bs-2", |d| d.identity.manufacturer.is_some()).await;
    assert_eq!(f.adapter.bootstrap_configs().await.len(), 1);
    let dir = f.stop().await;
    let f = Fixture::on(dir, common::config()).await;
    assert_eq!(f.adapter.bootstrap_config("bs-2").await.map(|c| c.servers[0].lifetime), Some(600));
    assert!(f.adapter.delete_bootstrap_config("bs-2").await);
    assert!(!f.adapter.delete_bootstrap_config("bs-2").await);
}

/// An endpoint without configuration gets 4.00 (as Leshan answers); invalid configurations
/// are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_without_configuration_and_invalid_configs() {
    let f = Fixture::new().await;
    let bs = f.adapter.bootstrap_addr().unwrap();
    let sim = SimClient::start(SimConfig::new("bs-none", nowhere())).await.unwrap();
    let e = sim.bootstrap(bs).await.unwrap_err();
    assert!(e.contains("BadRequest"), "{e}");
    let mut bad = config_for(&f, 60);
    bad.servers[0].short_server_id = 0;
    assert!(f.adapter.put_bootstrap_config("x", bad).await.unwrap_err().is_bad_input());
    let mut bad = config_for(&f, 60);
    bad.servers[0].uri = "coaps://h".into();
    assert!(f.adapter.put_bootstrap_config("x", bad).await.is_err());
    assert!(f.adapter.put_bootstrap_config("", config_for(&f, 60)).await.is_err());
    assert!(f.adapter.bootstrap_configs().await.is_empty());
}
