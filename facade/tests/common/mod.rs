//! `unidm serve` as a child process on ephemeral ports, for the tests that run the binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(20);

/// `GET {api}{path}` until it answers 2xx with JSON that satisfies `ready`, for up to 30 s.
pub async fn wait_api(api: &str, path: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reqwest::get(format!("{api}{path}")).await.unwrap();
        if r.status().is_success() {
            let v: serde_json::Value = r.json().await.unwrap();
            if ready(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "{path} never became as expected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A native operation on `device` through `api`, waited for to its end (`succeeded`, `failed`,
/// `cancelled` or `expired`): the operation as it ended.
pub async fn native(api: &str, device: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new().post(format!("{api}/devices/{device}/native")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let op: serde_json::Value = r.json().await.unwrap();
    wait_api(api, &format!("/operations/{}", op["id"]), |o| {
        ["succeeded", "failed", "cancelled", "expired"].contains(&o["state"].as_str().unwrap_or_default())
    })
    .await
}

/// A child process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    pub fn spawn(command: &mut Command) -> Proc {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start unidm");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines, seen: Vec::new() }
    }

    /// The first line (from now) that satisfies `want`.
    pub fn line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {what} within {WAIT:?}; got {:#?}", self.seen),
            }
        }
    }

    /// One line starting with each of `prefixes`, in whatever order they come (devices run
    /// concurrently, so their lines interleave).
    pub fn each(&mut self, what: &str, prefixes: &[String]) {
        let mut missing: Vec<&String> = prefixes.iter().collect();
        while !missing.is_empty() {
            let line = self.line(what, |l| missing.iter().any(|p| l.starts_with(p.as_str())));
            missing.retain(|p| !line.starts_with(p.as_str()));
        }
    }

    pub fn terminate(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the exit and returns it with every stdout line.
    pub fn exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after {WAIT:?}: {:#?}", self.seen);
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `unidm serve` on ephemeral ports: the API base, the LwM2M server and the ACS URL it prints.
pub struct Server {
    pub proc: Proc,
    pub api: String,
    pub lwm2m: String,
    /// The `coaps` address.
    pub lwm2ms: String,
    pub bootstrap: String,
    pub acs: String,
    pub dm: String,
    _dir: tempfile::TempDir,
}

pub fn serve(config: &str) -> Server {
    serve_in(tempfile::tempdir().unwrap(), config)
}

impl Server {
    /// SIGTERM, waits for the exit, and gives back the directory (database included) for
    /// [`serve_in`] to start again on.
    pub fn stop(self) -> tempfile::TempDir {
        let Server { mut proc, _dir, .. } = self;
        proc.terminate();
        let (status, lines) = proc.exit();
        assert!(status.success(), "{status}: {lines:#?}");
        _dir
    }
}

/// [`serve`] in `dir`, on the database there (a restart when it was used before).
pub fn serve_in(dir: tempfile::TempDir, config: &str) -> Server {
    serve_in_at(dir, config, "127.0.0.1:0")
}

/// A UDP port the OS just gave and took back, for a server that must come back on the same
/// address after a restart (its LwM2M clients keep sending there).
pub fn free_udp_addr() -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

/// [`serve_in`] with the LwM2M server on `lwm2m_listen`.
pub fn serve_in_at(dir: tempfile::TempDir, config: &str, lwm2m_listen: &str) -> Server {
    let db = dir.path().join("unidm.db").display().to_string();
    serve_on(dir, config, lwm2m_listen, &db)
}

/// [`serve_in_at`] on database `db` (a file or a `postgres://` URL).
pub fn serve_on(dir: tempfile::TempDir, config: &str, lwm2m_listen: &str, db: &str) -> Server {
    let cfg = dir.path().join("unidm.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_unidm"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tr069-listen",
                "127.0.0.1:0",
                "--omadm-listen",
                "127.0.0.1:0",
                "--lwm2m-listen",
                lwm2m_listen,
                "--lwm2m-dtls-listen",
                "127.0.0.1:0",
                "--lwm2m-bootstrap-listen",
                "127.0.0.1:0",
            ])
            .arg("--config")
            .arg(&cfg)
            .arg("--db")
            .arg(db)
            .arg("--files-dir")
            .arg(dir.path().join("files"))
            // UNIDM_TEST_LOG (an EnvFilter) shows more of a server under test.
            .env("UNIDM_LOG", std::env::var("UNIDM_TEST_LOG").unwrap_or_else(|_| "warn".to_owned())),
    );
    // "unidm listening on http://127.0.0.1:PORT (...)"
    let line = proc.line("unidm listening", |l| l.starts_with("unidm listening on"));
    let api = format!("{}/api/v1", line.split_whitespace().nth(3).unwrap());
    // "lwm2m server listening on coap://127.0.0.1:PORT (udp)"
    let line = proc.line("lwm2m server", |l| l.starts_with("lwm2m server listening on"));
    let lwm2m = line.split_whitespace().nth(4).unwrap().trim_start_matches("coap://").to_owned();
    // "lwm2m server listening on coaps://127.0.0.1:PORT (udp, DTLS)"
    let line = proc.line("lwm2m coaps", |l| l.starts_with("lwm2m server listening on coaps://"));
    let lwm2ms = line.split_whitespace().nth(4).unwrap().trim_start_matches("coaps://").to_owned();
    // "lwm2m bootstrap server listening on coap://127.0.0.1:PORT (udp)"
    let line = proc.line("lwm2m bootstrap server", |l| l.starts_with("lwm2m bootstrap server listening on"));
    let bootstrap = line.split_whitespace().nth(5).unwrap().to_owned();
    // "tr069 ACS listening on 127.0.0.1:PORT (CPEs use http://127.0.0.1:PORT)"
    let line = proc.line("tr069 ACS", |l| l.starts_with("tr069 ACS listening on"));
    let acs = line.split("CPEs use ").nth(1).unwrap().trim_end_matches(')').to_owned();
    // "omadm server listening on 127.0.0.1:PORT (devices use http://127.0.0.1:PORT/dm)"
    let line = proc.line("omadm server", |l| l.starts_with("omadm server listening on"));
    let dm = line.split("devices use ").nth(1).unwrap().trim_end_matches(')').to_owned();
    Server { proc, api, lwm2m, lwm2ms, bootstrap, acs, dm, _dir: dir }
}

/// What `unidm bench <args>` printed, and whether it succeeded.
pub struct BenchRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl BenchRun {
    /// Panics unless the run succeeded and printed every one of `wants`.
    pub fn expect(&self, wants: &[&str]) {
        assert!(self.success, "{}{}", self.stdout, self.stderr);
        for want in wants {
            assert!(self.stdout.contains(want), "`{want}` missing:\n{}{}", self.stdout, self.stderr);
        }
    }

    /// Panics unless the run failed with `why` on stderr.
    pub fn expect_failure(&self, why: &str) {
        assert!(!self.success, "{}{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(why), "`{why}` missing:\n{}{}", self.stdout, self.stderr);
    }
}

/// Runs `unidm bench <args>` to its end.
pub async fn bench(args: &[&str]) -> BenchRun {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_unidm")).arg("bench").args(args).output().await.unwrap();
    BenchRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
