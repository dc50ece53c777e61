//! `unidm serve` as a child process: operations and a group operation survive SIGKILL, on
//! SQLite and on PostgreSQL; PostgreSQL itself killed: writes refused with 503 until it is
//! back, nothing acknowledged lost.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use unidm_testkit::postgres::TempPostgres;

struct Server {
    child: Child,
    base: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(db: &std::path::Path) -> Server {
        Server::start_with(db, Stdio::inherit())
    }

    /// `unidm serve` on `db`, its log (stderr) going to `stderr`.
    fn start_with(db: &std::path::Path, stderr: Stdio) -> Server {
        Server::start_on(db.as_os_str(), &db.with_file_name("files"), stderr)
    }

    /// `unidm serve` on `db` (a SQLite file or a PostgreSQL URL) with its files in `files`.
    fn start_on(db: &std::ffi::OsStr, files: &std::path::Path, stderr: Stdio) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_unidm"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tr069-listen",
                "127.0.0.1:0",
                "--omadm-listen",
                "127.0.0.1:0",
                "--lwm2m-listen",
                "127.0.0.1:0",
                "--db",
            ])
            .arg(db)
            .arg("--files-dir")
            .arg(files)
            .env("UNIDM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start unidm");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // "unidm listening on http://127.0.0.1:PORT (...)"
        let addr = line.split_whitespace().nth(3).unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(addr.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, base: addr.to_owned(), stdout }
    }

    fn kill9(mut self) {
        // Child::kill sends SIGKILL on Unix: no graceful shutdown, no flush.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> Value {
    let r = c.post(&url).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

async fn get(c: &reqwest::Client, url: String) -> Value {
    let r = c.get(&url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn operations_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    operations_survive_sigkill_on(dir.path().join("unidm.db").as_os_str(), &dir.path().join("files")).await;
}

/// The same on PostgreSQL (`--db postgres://...`), on a server of the test's own.
#[tokio::test]
async fn operations_survive_sigkill_on_postgres() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let dir = tempfile::tempdir().unwrap();
    operations_survive_sigkill_on(url.as_ref(), dir.path()).await;
}

async fn operations_survive_sigkill_on(db: &std::ffi::OsStr, files: &std::path::Path) {
    let c = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let s = Server::start_on(db, files, Stdio::inherit());
    let api = format!("{}/api/v1", s.base);
    for i in 0..5 {
        post(&c, format!("{api}/devices"), json!({"id": format!("lwm2m:dev-{i}"), "labels": {"site": "north"}})).await;
    }
    let mut ops = Vec::new();
    for i in 0..5 {
        let op =
            post(&c, format!("{api}/devices/lwm2m:dev-{i}/firmware"), json!({"uri": "http://fw.example/2.bin"})).await;
        ops.push(op);
    }
    let cancelled = post(&c, format!("{api}/devices/lwm2m:dev-0/reboot"), json!({})).await;
    let cancelled = post(&c, format!("{api}/operations/{}/cancel", cancelled["id"]), json!({})).await;
    assert_eq!(cancelled["state"], "cancelled");
    post(&c, format!("{api}/groups"), json!({"id": "north", "selector": {"labels": {"site": "north"}}})).await;
    let gop =
        post(&c, format!("{api}/groups/north/operations"), json!({"action": {"kind": "reboot"}, "concurrency": 2}))
            .await;
    assert_eq!(gop["aggregate"]["total"], 5);
    post(&c, format!("{api}/rules"), json!({"id": "r1", "triggers": ["boot"], "actions": [{"kind": "reboot"}]})).await;
    s.kill9();

    let s = Server::start_on(db, files, Stdio::inherit());
    let api = format!("{}/api/v1", s.base);
    for op in &ops {
        let again = get(&c, format!("{api}/operations/{}", op["id"])).await;
        assert_eq!(again["device"], op["device"]);
        assert_eq!(again["action"], op["action"]);
        // Handed back to the LwM2M server, which holds them until their devices register.
        let state = again["state"].as_str().unwrap();
        assert!(["pending", "dispatched", "waiting"].contains(&state), "still waiting for the device, not {state}");
    }
    let again = get(&c, format!("{api}/operations/{}", cancelled["id"])).await;
    assert_eq!(again["state"], "cancelled");
    let g = get(&c, format!("{api}/group-operations/{}", gop["id"])).await;
    assert_eq!(g["aggregate"]["total"], 5);
    assert_eq!(g["concurrency"], 2);
    let counts = &g["aggregate"]["counts"];
    let n = |k: &str| counts[k].as_u64().unwrap_or(0);
    assert_eq!(n("pending") + n("dispatched") + n("waiting"), 5, "{counts}");
    assert!(n("dispatched") + n("waiting") <= 2, "concurrency 2 holds after the restart: {counts}");
    let devices = get(&c, format!("{api}/devices")).await;
    assert_eq!(devices["total"], 5);
    assert_eq!(get(&c, format!("{api}/rules/r1")).await["triggers"], json!(["boot"]));
    assert_eq!(get(&c, format!("{api}/groups/north")).await["id"], "north");
    // Ids keep growing after the restart.
    let next = post(&c, format!("{api}/devices/lwm2m:dev-1/reboot"), json!({})).await;
    assert!(next["id"].as_u64().unwrap() > gop["id"].as_u64().unwrap());
    drop(s);
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_unidm")).args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--config", "--listen", "--db", "--durable", "--token", "--token-file", "--log"] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    for env in ["UNIDM_CONFIG", "UNIDM_LISTEN", "UNIDM_DB", "UNIDM_TOKEN", "UNIDM_LOG"] {
        assert!(text.contains(env), "--help lacks {env}:\n{text}");
    }
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[api]\nlisten = \"not an address\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unidm")).arg("serve").arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("listen"), "{err}");
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(&dir.path().join("unidm.db"));
    let pid = s.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let code = s.child.wait().unwrap();
    assert!(code.success(), "{code:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut s.stdout, &mut rest).unwrap();
    assert!(rest.contains("unidm stopped"), "{rest:?}");
}

/// A clean stop logs no errors and loses nothing: SIGTERM right after a group operation
/// fanned out to hundreds of devices. (The engine-level regression of dispatches racing the
/// store's close is `core/tests/delivery.rs`, `shutdown_while_a_group_fans_out_logs_no_errors`.)
#[tokio::test]
async fn sigterm_while_dispatching_logs_no_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unidm.db");
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let c = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut s = Server::start_with(&db, Stdio::from(log));
    let api = format!("{}/api/v1", s.base);
    const N: usize = 300;
    let mut creates = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let (c, api) = (c.clone(), api.clone());
        creates.spawn(async move {
            for i in (chunk..N).step_by(8) {
                let body = json!({"id": format!("lwm2m:stop-{i}"), "labels": {"fleet": "stop"}});
                post(&c, format!("{api}/devices"), body).await;
            }
        });
    }
    while let Some(r) = creates.join_next().await {
        r.unwrap();
    }
    post(&c, format!("{api}/groups"), json!({"id": "stop", "selector": {"labels": {"fleet": "stop"}}})).await;
    let gop =
        post(&c, format!("{api}/groups/stop/operations"), json!({"action": {"kind": "reboot"}, "concurrency": N}))
            .await;
    // The members are being dispatched now.
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(s.child.wait().unwrap().success());
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!log.contains("ERROR"), "a clean stop logged errors:\n{log}");

    let s = Server::start(&db);
    let api = format!("{}/api/v1", s.base);
    let g = get(&c, format!("{api}/group-operations/{}", gop["id"])).await;
    assert_eq!(g["aggregate"]["total"], N, "{g}");
    let counts = &g["aggregate"]["counts"];
    let unfinished: u64 = ["pending", "dispatched", "waiting"].iter().map(|k| counts[k].as_u64().unwrap_or(0)).sum();
    assert_eq!(unfinished, N as u64, "every member still to do after the restart: {counts}");
    drop(s);
}

/// PostgreSQL SIGKILLed under a running unidm: `/healthz` says unhealthy and writes are refused
/// with a clear 503; PostgreSQL back (crash recovery), unidm recovers by itself and everything
/// acknowledged before is there.
#[tokio::test]
async fn a_postgres_crash_refuses_writes_with_503_and_loses_nothing_acknowledged() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let dir = tempfile::tempdir().unwrap();
    let c = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let s = Server::start_on(url.as_ref(), dir.path(), Stdio::inherit());
    let api = format!("{}/api/v1", s.base);
    let health = |c: reqwest::Client, base: String| async move {
        let r = c.get(format!("{base}/healthz")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, body) = health(c.clone(), s.base.clone()).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok: node node-1, the leader; 1 of 1 nodes alive"), "{body}");
    post(&c, format!("{api}/devices"), json!({"id": "lwm2m:before"})).await;
    let op = post(&c, format!("{api}/devices/lwm2m:before/reboot"), json!({})).await;

    pg.kill();
    // The first change finds the database away; it is not made, in the database or in memory.
    for (i, id) in ["lwm2m:during", "lwm2m:during-2"].iter().enumerate() {
        let r = c.post(format!("{api}/devices")).json(&json!({ "id": id })).send().await.unwrap();
        assert_eq!(r.status(), 503, "change {i}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["title"], "Database unavailable", "{problem}");
    }
    let r = c.get(format!("{api}/devices/lwm2m:during")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a device refused is not there");
    // Devices are read from memory; operation listings from the database.
    assert_eq!(c.get(format!("{api}/devices/lwm2m:before")).send().await.unwrap().status(), 200);
    let r = c.get(format!("{api}/devices/lwm2m:before/operations")).send().await.unwrap();
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    let r = c.post(format!("{api}/devices/lwm2m:before/reboot")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 503, "refused before it is made");
    let (status, body) = health(c.clone(), s.base.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("unhealthy") && body.contains("database"), "{body}");
    let metrics = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("unidm_store_available 0"), "{metrics}");

    pg.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while health(c.clone(), s.base.clone()).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "unidm did not see PostgreSQL back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    post(&c, format!("{api}/devices"), json!({"id": "lwm2m:after"})).await;
    let metrics = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("unidm_store_available 1"), "{metrics}");
    assert_eq!(get(&c, format!("{api}/operations/{}", op["id"])).await["device"], "lwm2m:before");
    s.kill9();

    // Everything acknowledged is in the database: a new unidm on it finds it.
    let s = Server::start_on(url.as_ref(), dir.path(), Stdio::inherit());
    let api = format!("{}/api/v1", s.base);
    let devices = get(&c, format!("{api}/devices")).await;
    let mut ids: Vec<&str> = devices["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["lwm2m:after", "lwm2m:before"], "the refused device is not there, the others are");
    assert_eq!(get(&c, format!("{api}/operations/{}", op["id"])).await["action"]["kind"], "reboot");
    let ops = get(&c, format!("{api}/devices/lwm2m:before/operations")).await;
    assert_eq!(ops["total"], 1, "the reboot refused during the outage was not made: {ops}");
}

/// One unidm per PostgreSQL database (several nodes are not supported yet): a second `serve`
/// on the database stops at once, saying so; once the first is killed, it starts.
#[tokio::test]
async fn a_second_unidm_on_one_postgres_database_is_refused() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start_on(url.as_ref(), dir.path(), Stdio::inherit());
    let second = Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--lwm2m", "false", "--tr069", "false", "--omadm", "false"])
        .args(["--db", &url, "--files-dir"])
        .arg(dir.path())
        .env("UNIDM_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(stderr.contains("in use by another unidm"), "{stderr}");
    first.kill9();
    let again = Server::start_on(url.as_ref(), dir.path(), Stdio::inherit());
    drop(again);
}
