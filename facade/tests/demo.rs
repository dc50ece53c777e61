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
    ] {
        assert!(stdout.contains(want), "`{want}` missing:\n{stdout}\n{stderr}");
    }
}
