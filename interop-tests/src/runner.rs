//! Runs selected cases in order on one device: the wire tap on for each case, the values a
//! case wrote put back after it, a verdict and the message exchange per case.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use unidm_models::{Action, Timestamp};

use crate::case::{Case, Finding, Verdict};
use crate::ctx::{describe, Ctx};
use crate::report::CaseReport;

/// How long one case may take in all.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Told of each case as it starts and ends (a progress bar, an API run's progress).
pub trait Progress: Send {
    /// Case `index` (0-based) of `total` starts.
    fn started(&mut self, index: usize, total: usize, case: &Case);
    /// It ended.
    fn finished(&mut self, index: usize, total: usize, report: &CaseReport);
}

/// A [`Progress`] that ignores everything.
pub struct Silent;

impl Progress for Silent {
    fn started(&mut self, _: usize, _: usize, _: &Case) {}
    fn finished(&mut self, _: usize, _: usize, _: &CaseReport) {}
}

/// Runs one case: taps the device's messages, runs the steps (at most [`CASE_TIMEOUT`]),
/// then the restores the case queued, and reports.
pub async fn run_case(ctx: &Ctx, case: &Case) -> CaseReport {
    let tap = ctx.engine().wire_tap();
    tap.start(ctx.device_id());
    let started_at = ctx.engine().now();
    let clock = Instant::now();
    let steps = AssertUnwindSafe((case.run)(ctx)).catch_unwind();
    let outcome = match tokio::time::timeout(CASE_TIMEOUT, steps).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(Finding::error(format!("the case panicked: {what}")))
        }
        Err(_) => Err(Finding::error(format!("the case did not end within {CASE_TIMEOUT:?}"))),
    };
    let mut restore_failures = Vec::new();
    for request in ctx.take_restores() {
        let what = format!("restoring {} {}", serde_json::to_value(request.op).unwrap_or_default(), request.path);
        match ctx.operation(Action::Native(request)).await {
            Ok(op) if op.state == unidm_models::OperationState::Succeeded => {}
            Ok(op) => restore_failures.push(format!("{what}: {}", describe(&op))),
            Err(f) => restore_failures.push(format!("{what}: {}", f.reason)),
        }
    }
    let mut exchanges = ctx.take_messages();
    exchanges.extend(tap.stop(ctx.device_id()));
    let (verdict, mut reason, expected, got) = match outcome {
        Ok(note) => (Verdict::Pass, note, None, None),
        Err(f) => (f.verdict, f.reason, f.expected, f.got),
    };
    if !restore_failures.is_empty() {
        reason.push_str(&format!(" (not restored: {})", restore_failures.join("; ")));
    }
    CaseReport {
        id: case.id.to_owned(),
        title: case.title.to_owned(),
        requirements: case.requirements.iter().map(|r| (*r).to_owned()).collect(),
        reference: case.reference.to_owned(),
        verdict,
        reason,
        expected,
        got,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        exchanges,
    }
}

/// Runs `cases` in order, telling `progress`.
pub async fn run(ctx: &Ctx, cases: &[Case], progress: &mut dyn Progress) -> Vec<CaseReport> {
    let mut reports = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        progress.started(i, cases.len(), case);
        let report = run_case(ctx, case).await;
        progress.finished(i, cases.len(), &report);
        reports.push(report);
    }
    reports
}

/// Now, for reports made outside a run.
pub fn now() -> Timestamp {
    Timestamp::from_system(std::time::SystemTime::now())
}
