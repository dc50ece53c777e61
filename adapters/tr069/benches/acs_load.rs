//! ACS load over loopback, against the real ACS (engine on a durable `SqliteStore` in a temp
//! dir). Run by hand: `cargo bench -p unidm-tr069 --bench acs_load`.
//!
//! Clients are cheap: one task per simulated CPE population slice, each with its own HTTP
//! connection pool (a CPE's session stays on its connection), sending pre-encoded envelopes.
//!
//! 1. Registration: every device's first session (its first-contact upkeep requests are
//!    answered with a pre-built SOAP fault). RSS growth over devices known = memory per device.
//! 2. Full sessions: `Inform (2 PERIODIC)` → InformResponse → empty POST → 204.
//! 3. Sessions carrying one GetParameterValues of 50 names: a native read is queued for each
//!    device before its session and answered with a pre-built GetParameterValuesResponse.
//!
//! Bounds (environment): `ACS_LOAD_DEVICES` (default 8000), `ACS_LOAD_CLIENTS` (64),
//! `ACS_LOAD_SECS` per timed phase (8).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use unidm_testkit::process::rss;

use axum::body::Bytes;
use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, DeviceId, NativeOp, NativeRequest};
use unidm_tr069::rpc::common::ParameterValueStruct;
use unidm_tr069::rpc::fault::{Fault, FaultCode};
use unidm_tr069::rpc::get_parameter_values::GetParameterValuesResponse;
use unidm_tr069::rpc::inform::{DeviceIdStruct, EventStruct, Inform};
use unidm_tr069::soap::Value;
use unidm_tr069::{encode_envelope, CwmpNamespace, Envelope, Tr069Adapter, Tr069Config};

const OUI: &str = "00D09E";
const CLASS: &str = "LoadGW";
const GPV_NAMES: usize = 50;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn serial(i: usize) -> String {
    format!("load-{i:07}")
}

fn inform(i: usize, event: &str) -> Vec<u8> {
    let inform = Inform {
        device_id: DeviceIdStruct {
            manufacturer: "unidm".into(),
            oui: OUI.into(),
            product_class: CLASS.into(),
            serial_number: serial(i),
        },
        events: vec![EventStruct { event_code: event.into(), command_key: String::new() }],
        max_envelopes: 1,
        current_time: "2026-01-01T00:00:00Z".into(),
        retry_count: 0,
        parameter_list: vec![
            ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("1.0.0")),
            ParameterValueStruct::new("Device.DeviceInfo.HardwareVersion", Value::string("1.0")),
            ParameterValueStruct::new("Device.ManagementServer.ParameterKey", Value::string("")),
        ],
    };
    encode_envelope(&Envelope::new(CwmpNamespace::V1_0, inform).with_id("1"))
}

fn gpv_names() -> Vec<String> {
    (0..GPV_NAMES).map(|i| format!("Device.X_Load.Counter{i}")).collect()
}

/// Pre-encoded envelopes shared by all clients. Answers carry no `cwmp:ID` (the ACS accepts
/// that), so one encoding serves every request.
struct Envelopes {
    periodic: Vec<Bytes>,
    boot: Vec<Bytes>,
    gpv_response: Bytes,
    fault: Bytes,
}

impl Envelopes {
    fn new(devices: usize) -> Self {
        let params = gpv_names()
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                ParameterValueStruct::new(n, Value::new(unidm_tr069::soap::XsdType::UnsignedInt, i.to_string()))
            })
            .collect();
        Envelopes {
            periodic: (0..devices).map(|i| inform(i, "2 PERIODIC").into()).collect(),
            boot: (0..devices).map(|i| inform(i, "1 BOOT").into()).collect(),
            gpv_response: encode_envelope(&Envelope::new(
                CwmpNamespace::V1_0,
                GetParameterValuesResponse { parameter_list: params },
            ))
            .into(),
            fault: encode_envelope(&Envelope::new(CwmpNamespace::V1_0, Fault::new(FaultCode::MethodNotSupported)))
                .into(),
        }
    }
}

/// One session of device `i`; returns the number of ACS requests answered.
async fn session(client: &reqwest::Client, url: &reqwest::Url, inform: Bytes, env: &Envelopes) -> Result<u32, String> {
    let r = client.post(url.clone()).body(inform).send().await.map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("Inform answered {}", r.status()));
    }
    let cookie = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or("no session cookie")?;
    r.bytes().await.map_err(|e| e.to_string())?;
    let mut body = Bytes::new();
    let mut answered = 0;
    loop {
        let r = client
            .post(url.clone())
            .header(reqwest::header::COOKIE, &cookie)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            204 => return Ok(answered),
            200 => {}
            s => return Err(format!("HTTP {s}")),
        }
        let req = r.bytes().await.map_err(|e| e.to_string())?;
        answered += 1;
        body = if req.windows(18).any(|w| w == b"GetParameterValues") {
            env.gpv_response.clone()
        } else {
            env.fault.clone()
        };
    }
}

/// Runs sessions for devices `0..devices` over `clients` concurrent clients, each device in
/// turn, until `limit` passed or every device had `rounds` sessions. Returns (sessions,
/// requests answered, errors, elapsed).
async fn run(
    url: &reqwest::Url,
    env: &Arc<Envelopes>,
    devices: usize,
    clients: usize,
    rounds: usize,
    limit: Duration,
    boot: bool,
) -> (u64, u64, u64, Duration) {
    let (sessions, requests, errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (env, url) = (env.clone(), url.clone());
        let (sessions, requests, errors) = (sessions.clone(), requests.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap_or_default();
            'outer: for _ in 0..rounds {
                for i in (c..devices).step_by(clients) {
                    if Instant::now() >= deadline {
                        break 'outer;
                    }
                    let inform = if boot { env.boot[i].clone() } else { env.periodic[i].clone() };
                    match session(&client, &url, inform, &env).await {
                        Ok(n) => {
                            sessions.fetch_add(1, Ordering::Relaxed);
                            requests.fetch_add(n.into(), Ordering::Relaxed);
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("session error: {e}");
                            }
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        sessions.load(Ordering::Relaxed),
        requests.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        start.elapsed(),
    )
}

fn report(name: &str, (sessions, requests, errors, elapsed): (u64, u64, u64, Duration)) {
    let rate = sessions as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<44} {sessions:>7} sessions in {:>6.2} s = {rate:>8.0} sessions/s ({requests} ACS requests, {errors} errors)",
        elapsed.as_secs_f64()
    );
}

async fn bench() {
    let devices = env_or("ACS_LOAD_DEVICES", 8000) as usize;
    let clients = env_or("ACS_LOAD_CLIENTS", 64) as usize;
    let secs = Duration::from_secs(env_or("ACS_LOAD_SECS", 8));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Tr069Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        provision_connection_request_credentials: false,
        max_sessions: 100_000,
        ..Tr069Config::default()
    };
    let adapter = Arc::new(Tr069Adapter::new(config));
    let store = SqliteStore::open(dir.path().join("unidm.db")).expect("store");
    let engine: Engine = Engine::builder().store(store).adapter_arc(adapter.clone()).start().await.expect("engine");
    // Parsed once: the client should cost as little as possible per request.
    let url = reqwest::Url::parse(&adapter.acs_url().expect("listening")).expect("ACS URL");
    let env = Arc::new(Envelopes::new(devices));
    println!("acs_load: {devices} devices, {clients} concurrent clients, {} s per timed phase", secs.as_secs());

    let before = rss();
    let r = run(&url, &env, devices, clients, 1, Duration::from_secs(120), true).await;
    report("registration (first sessions + upkeep)", r);
    let known = (0..devices).filter(|i| engine.device(&device_id(*i)).is_ok()).count().max(1);
    let grown = rss().saturating_sub(before);
    println!("memory: RSS +{} KiB for {known} devices known = {} bytes per device", grown / 1024, grown / known as u64);

    report("full sessions (Inform, empty POST, 204)", run(&url, &env, devices, clients, 1000, secs, false).await);

    // Queue one 50-name read per device, then time the sessions that carry them.
    let batch = devices.min(env_or("ACS_LOAD_GPV_DEVICES", devices as u64) as usize);
    let mut ops = Vec::with_capacity(batch);
    let names = gpv_names();
    let queued = Instant::now();
    for i in 0..batch {
        // A native read names one path; 50 names go as a partial path the CPE expands, and the
        // pre-built response lists the 50 values.
        let action = Action::Native(NativeRequest {
            op: NativeOp::Read,
            path: names[0].trim_end_matches("Counter0").to_owned(),
            value: None,
            args: None,
        });
        match engine.create_operation(&device_id(i), action, CreateOptions::default()).await {
            Ok(op) => ops.push(op.id),
            Err(e) => eprintln!("create_operation: {e}"),
        }
    }
    println!("queued {} reads in {:.2} s (not timed below)", ops.len(), queued.elapsed().as_secs_f64());
    report("sessions with one GPV of 50 parameters", run(&url, &env, batch, clients, 1, secs * 4, false).await);
    let mut done = 0;
    for id in &ops {
        if engine.operation(*id).await.is_ok_and(|o| o.state == unidm_models::OperationState::Succeeded) {
            done += 1;
        }
    }
    println!("reads succeeded: {done} of {}", ops.len());
    engine.shutdown().await;
}

fn device_id(i: usize) -> DeviceId {
    DeviceId::tr069(OUI, Some(CLASS), &serial(i)).expect("device id")
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(bench());
}
