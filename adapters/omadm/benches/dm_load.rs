//! OMA DM server load over loopback, against the real adapter (engine on a durable
//! `SqliteStore` in a temp dir, `synchronous=FULL`). Run by hand:
//! `cargo bench -p unidm-omadm --bench dm_load`.
//!
//! Clients are cheap: one task per slice of the device population, each with one keep-alive
//! HTTP connection, so a device's session stays on its connection. Package 1 is pre-encoded
//! per device with a placeholder where the md5 `Cred` goes; each session writes the digest over
//! the nonce the server gave in the device's last session (`unidm_omadm::auth::md5_digest`)
//! into a copy. Replies are decoded with the crate's codec (a client must read its next nonce
//! and the server's commands).
//!
//! 1. Registration: every device's first session; RSS growth over devices known = memory per
//!    device.
//! 2. Complete sessions with nothing queued: Package 1 (Alert 1201, DevInfo `Replace`, md5
//!    `Cred`) → Package 2 (Statuses, the 212 with the next nonce, final: the session ends).
//!    XML, then WBXML.
//! 3. Sessions with one native Get queued per device (queued through the engine, not timed):
//!    Package 1 → Package 2 with the Get → Package 3 (Status + Results) → Package 4 (Statuses,
//!    closing), in rounds (one Get per device each) until the phase was timed for
//!    `DM_LOAD_SECS`. XML, then WBXML; then how many of the reads succeeded.
//! 4. Package #0: every device gets a UDP push address (local sockets that count datagrams),
//!    then one operation each, created by many concurrent callers; datagrams received per
//!    second.
//!
//! Bounds (environment): `DM_LOAD_DEVICES` (default 10 000), `DM_LOAD_CLIENTS` (64),
//! `DM_LOAD_SECS` per timed phase (8), `DM_LOAD_AUTH` (`md5`, the default, or `none`).
//!
//! The process runs on mimalloc, as the `unidm` binary does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use unidm_testkit::process::{cpu_time, rss};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, DeviceId, NativeOp, NativeRequest, OperationState};
use unidm_omadm::auth;
use unidm_omadm::codec::{
    self, Alert, Command, Cred, Data, Encoding, Item, ItemCommand, Location, MediaType, Meta, Results, Status,
    SyncBody, SyncHdr, SyncML,
};
use unidm_omadm::package0::Notification;
use unidm_omadm::server::{OmadmAdapter, OmadmConfig};
use unidm_omadm::session::{ClientAuth, Credentials};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USER: &str = "dev";
const PASSWORD: &str = "client-secret";
const SERVER_PASSWORD: &str = "server-secret";
/// Stands where the md5 digest goes (base64 of 16 bytes: 24 characters).
const CRED_PLACEHOLDER: &str = "@@@@@@@@@@@@@@@@@@@@@@@@";
/// The node every queued Get reads, and its value on every device.
const GET_NODE: &str = "./DevInfo/Mod";
const MODEL: &str = "LoadDM";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn dev_id(i: usize) -> String {
    format!("IMEI:49{i:013}")
}

fn device_id(i: usize) -> DeviceId {
    DeviceId::omadm(&dev_id(i)).expect("device id")
}

fn item(uri: &str, value: &str) -> Item {
    Item { source: Some(Location::uri(uri)), data: Some(Data::Text(value.into())), ..Item::default() }
}

fn hdr(dev: &str, server_url: &str, session_id: &str, msg_id: &str, cred: Option<Cred>) -> SyncHdr {
    SyncHdr {
        ver_dtd: "1.2".into(),
        ver_proto: "DM/1.2".into(),
        session_id: session_id.into(),
        msg_id: msg_id.into(),
        target: Location::uri(server_url),
        source: Location { loc_uri: dev.into(), loc_name: Some(USER.into()) },
        resp_uri: None,
        no_resp: false,
        cred,
        meta: Some(Meta { max_msg_size: Some(64 * 1024), ..Meta::default() }),
    }
}

/// Package 1 of device `i`, SessionID `1`, its `Cred/Data` = [`CRED_PLACEHOLDER`]; and where
/// the placeholder sits in the bytes.
fn package1(i: usize, server_url: &str, encoding: Encoding) -> (Vec<u8>, usize) {
    let dev = dev_id(i);
    let cred = Cred {
        meta: Some(Meta { r#type: Some(auth::AUTH_MD5.into()), format: Some("b64".into()), ..Meta::default() }),
        data: CRED_PLACEHOLDER.into(),
    };
    let values = [
        ("./DevInfo/DevId", dev.as_str()),
        ("./DevInfo/Man", "unidm"),
        (GET_NODE, MODEL),
        ("./DevInfo/DmV", "1.2"),
        ("./DevInfo/Lang", "en"),
    ];
    let msg = SyncML {
        hdr: hdr(&dev, server_url, "1", "1", Some(cred)),
        body: SyncBody {
            commands: vec![
                Command::Alert(Alert { cmd_id: "1".into(), code: Some(Alert::CLIENT_INITIATED), ..Alert::default() }),
                Command::Replace(ItemCommand {
                    cmd_id: "2".into(),
                    items: values.iter().map(|(u, v)| item(u, v)).collect(),
                    ..ItemCommand::default()
                }),
            ],
            r#final: true,
        },
    };
    let bytes = codec::encode(&msg, encoding).expect("package 1 encodes");
    let at = bytes.windows(CRED_PLACEHOLDER.len()).position(|w| w == CRED_PLACEHOLDER.as_bytes()).expect("placeholder");
    (bytes, at)
}

/// Package 3: the Statuses of the server's message and the Results of its Get of
/// [`GET_NODE`]; with the number of those Gets. The simulated devices have no FUMO, SCOMO or
/// LAWMO: the server's own Gets of them on a first session (its probe of the management
/// objects) are answered 404.
fn package3(dev: &str, server_url: &str, reply: &SyncML, encoding: Encoding) -> Result<(Vec<u8>, u32), String> {
    let msg_ref = reply.hdr.msg_id.clone();
    let status_code = |id: u32, cmd_ref: &str, cmd: &str, code: u16| {
        Command::Status(Status {
            cmd_id: id.to_string(),
            msg_ref: Some(msg_ref.clone()),
            cmd_ref: cmd_ref.into(),
            cmd: cmd.into(),
            code,
            ..Status::default()
        })
    };
    let status = |id: u32, cmd_ref: &str, cmd: &str| status_code(id, cmd_ref, cmd, 200);
    let mut commands = vec![status(1, "0", "SyncHdr")];
    let mut gets = 0;
    for c in &reply.body.commands {
        match c {
            Command::Get(g) => {
                let uri =
                    g.items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.as_str()).unwrap_or_default();
                let id = commands.len() as u32 + 1;
                if uri != GET_NODE {
                    commands.push(status_code(id, &g.cmd_id, "Get", 404));
                    continue;
                }
                gets += 1;
                commands.push(status(id, &g.cmd_id, "Get"));
                commands.push(Command::Results(Results {
                    cmd_id: (id + 1).to_string(),
                    msg_ref: Some(msg_ref.clone()),
                    cmd_ref: g.cmd_id.clone(),
                    items: vec![item(GET_NODE, MODEL)],
                    ..Results::default()
                }));
            }
            Command::Status(_) | Command::Results(_) => {}
            other => return Err(format!("an unexpected {}", other.name())),
        }
    }
    let msg = SyncML {
        hdr: hdr(dev, server_url, &reply.hdr.session_id, "2", None),
        body: SyncBody { commands, r#final: true },
    };
    codec::encode(&msg, encoding).map(|bytes| (bytes, gets)).map_err(|e| e.to_string())
}

/// What the load generator keeps per device.
#[derive(Default)]
struct DevState {
    /// The nonce the server gave in the last session (the next md5 digest uses it).
    nonce: Vec<u8>,
}

struct Population {
    server_url: String,
    /// The same, parsed once: the client should cost as little as possible per request.
    url: reqwest::Url,
    /// Package 1 per device, per encoding (XML, WBXML), with the placeholder offset.
    xml: Vec<(Vec<u8>, usize)>,
    wbxml: Vec<(Vec<u8>, usize)>,
    state: Vec<Mutex<DevState>>,
    md5: bool,
}

impl Population {
    fn package1(&self, i: usize, encoding: Encoding) -> Vec<u8> {
        let (template, at) = match encoding {
            Encoding::Xml => &self.xml[i],
            Encoding::Wbxml => &self.wbxml[i],
        };
        let mut bytes = template.clone();
        if self.md5 {
            let nonce = self.state[i].lock().map(|s| s.nonce.clone()).unwrap_or_default();
            let digest = auth::md5_digest(USER, PASSWORD, &nonce);
            bytes[*at..*at + CRED_PLACEHOLDER.len()].copy_from_slice(digest.as_bytes());
        }
        bytes
    }

    fn take_nonce(&self, i: usize, reply: &SyncML) {
        for c in &reply.body.commands {
            if let Command::Status(s) = c {
                if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
                    if let (Ok(n), Ok(mut st)) = (B64.decode(n.trim()), self.state[i].lock()) {
                        st.nonce = n;
                    }
                }
            }
        }
    }
}

async fn post(client: &reqwest::Client, url: reqwest::Url, media: MediaType, body: Vec<u8>) -> Result<SyncML, String> {
    let r = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, media.as_str())
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("HTTP {}", r.status()));
    }
    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
    codec::decode(media.as_str(), &bytes).map_err(|e| e.to_string())
}

fn hdr_status(reply: &SyncML) -> Option<u16> {
    reply.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "SyncHdr" => Some(s.code),
        _ => None,
    })
}

fn has_commands(reply: &SyncML) -> bool {
    reply.body.commands.iter().any(|c| !matches!(c, Command::Status(_) | Command::Results(_)))
}

/// One session of device `i`; returns the number of Gets answered.
async fn session(client: &reqwest::Client, pop: &Population, i: usize, encoding: Encoding) -> Result<u32, String> {
    let media = MediaType::dm(encoding);
    let reply = post(client, pop.url.clone(), media, pop.package1(i, encoding)).await?;
    pop.take_nonce(i, &reply);
    match hdr_status(&reply) {
        Some(200 | 212) => {}
        other => return Err(format!("Package 1 answered {other:?}")),
    }
    if !has_commands(&reply) {
        return if reply.body.r#final { Ok(0) } else { Err("Package 2 not final".into()) };
    }
    let url = reply.hdr.resp_uri.as_deref().ok_or("no RespURI")?;
    let url = reqwest::Url::parse(url).map_err(|e| format!("RespURI {url}: {e}"))?;
    let (p3, gets) = package3(&dev_id(i), &pop.server_url, &reply, encoding)?;
    let reply = post(client, url, media, p3).await?;
    match hdr_status(&reply) {
        Some(200) if !has_commands(&reply) && reply.body.r#final => Ok(gets),
        other => Err(format!("Package 4 with SyncHdr status {other:?}, {} commands", reply.body.commands.len())),
    }
}

#[derive(Default)]
struct Run {
    sessions: u64,
    gets: u64,
    errors: u64,
    elapsed: Duration,
    /// Process CPU time (server and load generator together).
    cpu: Duration,
    /// Store commits and writes in the phase.
    commits: u64,
    writes: u64,
}

/// Sessions for devices `0..devices` over `clients` concurrent clients, each device in turn,
/// until `limit` passed or every device had `rounds` sessions.
async fn run(
    pop: &Arc<Population>,
    store: &SqliteStore,
    encoding: Encoding,
    devices: usize,
    clients: usize,
    rounds: usize,
    limit: Duration,
) -> Run {
    let stats = store.stats();
    let (cpu, commits, writes) =
        (cpu_time(), stats.commits.load(Ordering::Relaxed), stats.writes.load(Ordering::Relaxed));
    let (sessions, gets, errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let pop = pop.clone();
        let (sessions, gets, errors) = (sessions.clone(), gets.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap_or_default();
            'outer: for _ in 0..rounds {
                for i in (c..devices).step_by(clients) {
                    if Instant::now() >= deadline {
                        break 'outer;
                    }
                    match session(&client, &pop, i, encoding).await {
                        Ok(n) => {
                            sessions.fetch_add(1, Ordering::Relaxed);
                            gets.fetch_add(n.into(), Ordering::Relaxed);
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("session error ({}): {e}", dev_id(i));
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
    Run {
        sessions: sessions.load(Ordering::Relaxed),
        gets: gets.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
        commits: stats.commits.load(Ordering::Relaxed) - commits,
        writes: stats.writes.load(Ordering::Relaxed) - writes,
    }
}

impl Run {
    fn add(&mut self, r: &Run) {
        self.sessions += r.sessions;
        self.gets += r.gets;
        self.errors += r.errors;
        self.elapsed += r.elapsed;
        self.cpu += r.cpu;
        self.commits += r.commits;
        self.writes += r.writes;
    }
}

/// `open`: DM sessions still open after the phase (a refused or unfinished session stays open
/// until its timeout: 0 when every session ended as it should).
fn report(name: &str, r: &Run, open: usize) {
    let rate = r.sessions as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name:<52} {:>7} sessions in {:>6.2} s = {rate:>8.0} sessions/s ({} Gets answered, {} errors)",
        r.sessions,
        r.elapsed.as_secs_f64(),
        r.gets,
        r.errors
    );
    let per = r.sessions.max(1) as f64;
    println!(
        "{:<52} CPU {:.0} µs per session (server and load generator), {:.2} store writes in {:.3} commits per session, {open} sessions left open",
        "",
        r.cpu.as_secs_f64() * 1e6 / per,
        r.writes as f64 / per,
        r.commits as f64 / per
    );
}

fn label(e: Encoding) -> &'static str {
    match e {
        Encoding::Xml => "XML",
        Encoding::Wbxml => "WBXML",
    }
}

fn get() -> Action {
    Action::Native(NativeRequest { op: NativeOp::Read, path: GET_NODE.into(), value: None, args: None })
}

/// Creates one operation per device of `devices` from `callers` concurrent callers; the ids.
async fn create_ops(
    engine: &Engine,
    devices: std::ops::Range<usize>,
    callers: usize,
) -> Vec<unidm_models::OperationId> {
    let next = Arc::new(AtomicU64::new(devices.start as u64));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (engine, next, end) = (engine.clone(), next.clone(), devices.end as u64);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return ids;
                }
                match engine.create_operation(&device_id(i as usize), get(), CreateOptions::default()).await {
                    Ok(op) => ids.push(op.id),
                    Err(e) => eprintln!("create_operation: {e}"),
                }
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap_or_default());
    }
    ids
}

async fn succeeded(engine: &Engine, ops: &[unidm_models::OperationId]) -> usize {
    let mut done = 0;
    for id in ops {
        if engine.operation(*id).await.is_ok_and(|o| o.state == OperationState::Succeeded) {
            done += 1;
        }
    }
    done
}

async fn bench() {
    let devices = env_or("DM_LOAD_DEVICES", 10_000) as usize;
    let clients = env_or("DM_LOAD_CLIENTS", 64) as usize;
    let secs = Duration::from_secs(env_or("DM_LOAD_SECS", 8));
    let md5 = std::env::var("DM_LOAD_AUTH").map_or(true, |a| a != "none");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = OmadmConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        client_auth: if md5 { ClientAuth::Md5 } else { ClientAuth::None },
        client_credentials: Some(Credentials::new(USER, PASSWORD)),
        server_password: Some(SERVER_PASSWORD.into()),
        max_sessions: 100_000,
        ..OmadmConfig::default()
    };
    let adapter = Arc::new(OmadmAdapter::new(config));
    let store = Arc::new(SqliteStore::open(dir.path().join("unidm.db")).expect("store"));
    let engine: Engine =
        Engine::builder().store_arc(store.clone()).adapter_arc(adapter.clone()).start().await.expect("engine");
    let server_url = adapter.server_url().expect("listening");
    let pop = Arc::new(Population {
        xml: (0..devices).map(|i| package1(i, &server_url, Encoding::Xml)).collect(),
        wbxml: (0..devices).map(|i| package1(i, &server_url, Encoding::Wbxml)).collect(),
        state: (0..devices).map(|_| Mutex::new(DevState::default())).collect(),
        url: reqwest::Url::parse(&server_url).expect("server URL"),
        server_url,
        md5,
    });
    let auth_label = if md5 { "md5 client auth" } else { "no client auth" };
    println!(
        "dm_load: {devices} devices, {clients} concurrent clients, {} s per timed phase, {auth_label}, durable SQLite store",
        secs.as_secs()
    );

    let before = rss();
    let r = run(&pop, &store, Encoding::Xml, devices, clients, 1, Duration::from_secs(120)).await;
    report("registration (first sessions, XML)", &r, adapter.open_sessions());
    let known = (0..devices).filter(|i| engine.device(&device_id(*i)).is_ok()).count().max(1);
    let grown = rss().saturating_sub(before);
    println!("memory: RSS +{} KiB for {known} devices known = {} bytes per device", grown / 1024, grown / known as u64);

    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let r = run(&pop, &store, encoding, devices, clients, 1000, secs).await;
        report(&format!("complete sessions, nothing queued ({})", label(encoding)), &r, adapter.open_sessions());
    }

    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        // Rounds of one Get per device until the phase has been timed for `secs` (at most 8).
        let mut total = Run::default();
        let (mut queued, mut ok, mut rounds) = (0, 0, 0);
        let untimed = Instant::now();
        while total.elapsed < secs && rounds < 8 {
            let ops = create_ops(&engine, 0..devices, 64).await;
            let r = run(&pop, &store, encoding, devices, clients, 1, secs * 4).await;
            ok += succeeded(&engine, &ops).await;
            queued += ops.len();
            rounds += 1;
            total.add(&r);
        }
        let untimed = untimed.elapsed().saturating_sub(total.elapsed);
        let name = format!("sessions with one Get ({}, packages 1-4)", label(encoding));
        report(&name, &total, adapter.open_sessions());
        println!(
            "{:<52} Gets succeeded: {ok} of {queued} ({rounds} rounds; queueing and checking them took {:.2} s, not timed)",
            "",
            untimed.as_secs_f64()
        );
    }

    package0(&engine, &adapter, devices).await;
    engine.shutdown().await;
}

/// Package #0: push addresses on local UDP sockets, one operation per device, datagrams
/// received per second (each checked against its digest).
async fn package0(engine: &Engine, adapter: &Arc<OmadmAdapter>, devices: usize) {
    const SOCKETS: usize = 4;
    let received = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    for _ in 0..SOCKETS {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp socket");
        addrs.push(socket.local_addr().expect("udp address"));
        let (received, bad, last) = (received.clone(), bad.clone(), last.clone());
        listeners.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((n, _)) = socket.recv_from(&mut buf).await else { return };
                // The client gave the server no nonce: the digest is over the empty one.
                if Notification::verify(&buf[..n], SERVER_PASSWORD, b"") {
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = last.lock() {
                        *l = Instant::now();
                    }
                } else {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let set = Instant::now();
    let mut setters = Vec::new();
    for c in 0..64 {
        let (adapter, addrs) = (adapter.clone(), addrs.clone());
        setters.push(tokio::spawn(async move {
            for i in (c..devices).step_by(64) {
                adapter.set_push_address(&dev_id(i), addrs[i % SOCKETS]).await;
            }
        }));
    }
    for t in setters {
        let _ = t.await;
    }
    println!("push addresses set for {devices} devices in {:.2} s (not timed)", set.elapsed().as_secs_f64());
    let start = Instant::now();
    let ops = create_ops(engine, 0..devices, 64).await;
    let created = start.elapsed();
    // The first Package #0 of each goes out at once; the retries wait push_backoff (5 s).
    let deadline = Instant::now() + Duration::from_secs(3);
    while received.load(Ordering::Relaxed) < ops.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = received.load(Ordering::Relaxed);
    let until = last.lock().map(|l| *l).unwrap_or_else(|_| Instant::now());
    let elapsed = until.saturating_duration_since(start).max(Duration::from_millis(1));
    println!(
        "{:<52} {got:>7} received in {:>6.2} s = {:>8.0} /s ({} operations created in {:.2} s, {} bad digests)",
        "Package #0 (one operation per device, UDP)",
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        ops.len(),
        created.as_secs_f64(),
        bad.load(Ordering::Relaxed)
    );
    for l in listeners {
        l.abort();
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(bench());
}
