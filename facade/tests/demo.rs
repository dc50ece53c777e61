//! `unidm demo` to its end: serve, a mixed simulated fleet, and the walk through the main job.

use std::process::Command;

#[test]
fn the_demo_runs_to_its_summary() {
    let out = Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["demo", "--size", "50", "--ephemeral-ports", "--step-ms", "20"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for want in [
        "unidm is running:",
        "1. inventory:",
        "   lwm2m ",
        "   omadm ",
        "   tr069 ",
        "2. group demo-fleet (model unidm-demo): 50 members",
        "4. 2 failed:",
        "lwm2m:demo-broken-1: firmware update failed",
        "5. reboot of tr069:",
        "lwm2m:demo-gateway -> lwm2m:demo-gateway/child-0",
        "7. summary",
        "campaign      48 succeeded, 2 failed",
        "reboot        succeeded",
        "protocol  devices  in campaign  succeeded  failed",
    ] {
        assert!(stdout.contains(want), "`{want}` missing:\n{stdout}\n{stderr}");
    }
    // The table's LwM2M row: the two clients that fail on purpose are LwM2M clients.
    let lwm2m = stdout.lines().find(|l| l.trim_start().starts_with("lwm2m ") && l.split_whitespace().count() == 5);
    let cells: Vec<&str> = lwm2m.expect("an LwM2M row").split_whitespace().collect();
    assert_eq!(cells[4], "2", "{stdout}");
    assert_eq!(cells[3].parse::<usize>().unwrap() + 2, cells[2].parse::<usize>().unwrap(), "{stdout}");
}

/// Ctrl-C (SIGINT) in the middle of the campaign stops everything: the demo exits 0, its
/// server is gone (its API no longer answers) and its temporary folder with it.
#[test]
fn ctrl_c_stops_the_demo_and_its_server() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_unidm"))
        .args(["demo", "--size", "60", "--ephemeral-ports", "--step-ms", "2000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut api, mut db) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim_start().strip_prefix("API") {
            api = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim_start().strip_prefix("database") {
            db = Some(std::path::PathBuf::from(rest.trim()));
        }
        if line.starts_with("3. firmware campaign") {
            break;
        }
    }
    let (api, db) = (api.expect("the API address"), db.expect("the database path"));
    assert!(db.exists());
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit}: {rest:?}");
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:?}");
    assert!(!db.exists(), "the temporary folder is removed");
    let addr = api.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    assert!(std::net::TcpStream::connect(addr).is_err(), "the server stopped");
}
