//! A PostgreSQL server of a test's own: `initdb` and `pg_ctl` (Debian `postgresql`) in a
//! temporary directory, on a free port of 127.0.0.1, stopped when dropped. No system service
//! is used. Run as root (CI), the server runs as the `postgres` user, which `initdb` requires.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A running PostgreSQL server.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `runuser -u postgres --` when running as root.
    run_as: Option<String>,
    /// Server settings, as `pg_ctl -o` options.
    settings: String,
}

/// The directory of `initdb` and `pg_ctl`: `UNIDM_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or the `PATH`.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("UNIDM_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let found = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    (found.status.success() && !path.is_empty()).then(|| Path::new(&path).parent().unwrap_or(Path::new("/")).to_owned())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TempPostgres {
    /// Starts a server, or `None` with a notice when PostgreSQL is not installed (a failure
    /// instead when `UNIDM_REQUIRE_POSTGRES=1`, as in CI).
    pub fn start() -> Option<TempPostgres> {
        TempPostgres::start_with(&[], &[])
    }

    /// [`start`](TempPostgres::start) with server settings (`-c name=value`) and files written
    /// beside the data directory first (named in the settings by their path, see
    /// [`path`](TempPostgres::path); readable by the server alone, as it wants a key file).
    pub fn start_with(settings: &[(&str, &str)], files: &[(&str, &str)]) -> Option<TempPostgres> {
        let Some(bin) = bin_dir() else {
            let required = std::env::var("UNIDM_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(!required, "PostgreSQL is required (UNIDM_REQUIRE_POSTGRES=1) but initdb was not found");
            eprintln!("notice: PostgreSQL not installed (Debian `postgresql`); the PostgreSQL tests are skipped");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, content).expect("write a file for the server");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
        }
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let chown = Command::new("chown").args(["-R", user]).arg(dir.path()).status().expect("chown");
            assert!(chown.success(), "chown {user} {}", dir.path().display());
        }
        let settings = settings.iter().map(|(k, v)| format!(" -c {k}={v}")).collect();
        let mut pg = TempPostgres { dir, bin, port: 0, run_as, settings };
        let data = pg.data();
        let out = pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_on_free_port();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(args).current_dir(self.dir.path()).output().unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    }

    /// Starts the server on a port the OS just gave (tried again on another one if taken).
    fn start_on_free_port(&mut self) {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            self.port = port;
            match self.start_server() {
                Ok(()) => return,
                Err(e) => failures.push(format!("port {port}: {e}")),
            }
        }
        panic!("PostgreSQL did not start: {failures:#?}");
    }

    fn start_server(&self) -> Result<(), String> {
        let options =
            format!("-p {} -c listen_addresses=127.0.0.1 -k {}{}", self.port, self.dir.path().display(), self.settings);
        let log = self.dir.path().join("server.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }

    /// Where a file given to [`start_with`](TempPostgres::start_with) is.
    pub fn path(name: &str) -> String {
        // Settings are given before the directory exists: they name it through the data
        // directory, which the server runs in.
        format!("../{name}")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (`postgres` always exists).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` and gives its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs `sql` in database `db` with `psql`, panicking on an error; gives what it printed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        );
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's main process id.
    pub fn pid(&self) -> u32 {
        let pidfile = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).expect("postmaster.pid");
        pidfile.lines().next().and_then(|l| l.trim().parse().ok()).expect("a pid")
    }

    /// SIGKILL of the server's main process: no shutdown, no checkpoint (a crash).
    pub fn kill(&self) {
        let pid = self.pid();
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its children end once they see the postmaster gone; a new server waits for them.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Starts the server again on the same port and data (crash recovery after [`kill`]).
    ///
    /// [`kill`]: TempPostgres::kill
    pub fn restart(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("data/postmaster.pid"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.start_server() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("PostgreSQL did not start again: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}
