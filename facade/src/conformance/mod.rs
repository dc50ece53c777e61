//! Conformance runs over the API (`/api/v1/conformance-runs`): a catalogue's cases run on one
//! device in a task of their own, with a `conformanceRunChanged` event at each step, and every
//! ended case stored at once (engine app state, namespace `conformance`), so that a restart
//! resumes the run at its next case. The cases, the runner and the reports are
//! `unidm-interop`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use unidm_core::Engine;
use unidm_interop::{runner, CaseReport, Ctx, Report, Summary};
use unidm_models::{ConformanceRunState, ConformanceRunStatus, DeviceId, Event, Timestamp};

pub mod cli;

const NAMESPACE: &str = "conformance";

/// Why a run cannot be created or found.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such run.
    #[error("no conformance run `{0}`")]
    NotFound(String),
    /// Bad request: the field and why.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// Another run works on the device.
    #[error("conformance run {0} is already running on {1}")]
    Busy(String, DeviceId),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// What a run's cases are given: images and packages the device fetches.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// A firmware image URL the device can fetch.
    pub firmware_uri: Option<String>,
    /// A software package URL the device can fetch.
    pub software_uri: Option<String>,
    /// Packages for the firmware error cases, by the Update Result they end with.
    pub firmware_cases: std::collections::BTreeMap<u16, String>,
}

/// What a run keeps: its status, its selection, its inputs and what came of each case so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    status: ConformanceRunStatus,
    cases: Vec<String>,
    firmware_uri: Option<String>,
    software_uri: Option<String>,
    /// By Update Result, as text (JSON object keys).
    #[serde(default)]
    firmware_cases: std::collections::BTreeMap<String, String>,
    reports: Vec<CaseReport>,
    finished_at: Option<Timestamp>,
}

/// The API's conformance runs.
pub struct Runs {
    engine: Engine,
    lwm2m: Option<Arc<unidm_lwm2m::Lwm2mAdapter>>,
    runs: Mutex<HashMap<String, Stored>>,
    step_timeout: Duration,
}

impl Runs {
    /// The runs stored in `engine`'s app state; unfinished ones resume in the background.
    pub fn start(engine: Engine, lwm2m: Option<Arc<unidm_lwm2m::Lwm2mAdapter>>) -> Arc<Runs> {
        let runs = Arc::new(Runs { engine, lwm2m, runs: Mutex::new(HashMap::new()), step_timeout: Ctx::STEP_TIMEOUT });
        let loader = runs.clone();
        tokio::spawn(async move {
            let stored = match loader.engine.load_app_state(NAMESPACE).await {
                Ok(s) => s,
                Err(e) => return tracing::warn!(error = %e, "conformance runs not loaded"),
            };
            for (id, bytes) in stored {
                match serde_json::from_slice::<Stored>(&bytes) {
                    Ok(run) => {
                        let resume = run.status.state == ConformanceRunState::Running;
                        loader.lock().entry(id.clone()).or_insert(run);
                        if resume {
                            tracing::info!(run = %id, "conformance run resumes at its next case");
                            tokio::spawn(loader.clone().drive(id));
                        }
                    }
                    Err(e) => tracing::warn!(run = %id, error = %e, "undecodable conformance run skipped"),
                }
            }
        });
        runs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a run of the cases `patterns` selects (all when empty) on `device`.
    pub async fn create(
        self: &Arc<Self>,
        device: DeviceId,
        patterns: Vec<String>,
        inputs: Inputs,
    ) -> Result<ConformanceRunStatus, RunError> {
        let known =
            self.engine.device(&device).map_err(|_| RunError::Invalid("device", format!("no device `{device}`")))?;
        let catalogue = unidm_interop::catalogue(known.protocol);
        let cases = unidm_interop::select(&catalogue, &patterns).map_err(|e| RunError::Invalid("cases", e))?;
        unidm_interop::firmware_cases(inputs.firmware_cases.iter().map(|(n, url)| format!("{n}={url}")))
            .map_err(|e| RunError::Invalid("firmwareCases", e))?;
        if let Some(busy) =
            self.lock().values().find(|r| r.status.device == device && r.status.state == ConformanceRunState::Running)
        {
            return Err(RunError::Busy(busy.status.id.clone(), device));
        }
        let now = self.engine.now();
        let status = ConformanceRunStatus {
            id: run_id()?,
            device,
            protocol: known.protocol,
            state: ConformanceRunState::Running,
            total: cases.len(),
            done: 0,
            current: None,
            passed: 0,
            failed: 0,
            inconclusive: 0,
            errors: 0,
            created_at: now,
            updated_at: now,
        };
        let run = Stored {
            status: status.clone(),
            cases: cases.iter().map(|c| c.id.to_owned()).collect(),
            firmware_uri: inputs.firmware_uri,
            software_uri: inputs.software_uri,
            firmware_cases: inputs.firmware_cases.into_iter().map(|(n, url)| (n.to_string(), url)).collect(),
            reports: Vec::new(),
            finished_at: None,
        };
        self.save(&run).await?;
        self.lock().insert(status.id.clone(), run);
        self.engine.publish(Event::ConformanceRunChanged { run: Box::new(status.clone()) });
        tokio::spawn(self.clone().drive(status.id.clone()));
        Ok(status)
    }

    async fn save(&self, run: &Stored) -> Result<(), RunError> {
        let bytes = serde_json::to_vec(run).map_err(|e| RunError::Store(e.to_string()))?;
        self.engine
            .put_app_state(NAMESPACE, vec![(run.status.id.clone(), bytes)])
            .await
            .map_err(|e| RunError::Store(e.to_string()))
    }

    /// Runs the run's remaining cases, storing and announcing each.
    async fn drive(self: Arc<Self>, id: String) {
        let Some(first) = self.lock().get(&id).cloned() else { return };
        let ctx = Ctx::new(self.engine.clone(), first.status.device.clone())
            .with_lwm2m(self.lwm2m.clone())
            .with_firmware_uri(first.firmware_uri.clone())
            .with_software_uri(first.software_uri.clone())
            .with_firmware_cases(
                first.firmware_cases.iter().filter_map(|(n, url)| Some((n.parse().ok()?, url.clone()))).collect(),
            )
            .with_step_timeout(self.step_timeout);
        let catalogue = unidm_interop::catalogue(first.status.protocol);
        loop {
            let next = {
                let runs = self.lock();
                let Some(run) = runs.get(&id) else { return };
                if run.status.state != ConformanceRunState::Running {
                    return;
                }
                run.cases.get(run.reports.len()).cloned()
            };
            let Some(case_id) = next else { break };
            let Some(case) = catalogue.iter().find(|c| c.id == case_id) else {
                tracing::warn!(run = %id, case = %case_id, "a stored case is no longer in the catalogue");
                break;
            };
            self.update(&id, |run, now| {
                run.status.current = Some(case_id.clone());
                run.status.updated_at = now;
            })
            .await;
            let report = runner::run_case(&ctx, case).await;
            let cancelled = self.lock().get(&id).is_none_or(|r| r.status.state != ConformanceRunState::Running);
            if cancelled {
                return;
            }
            self.update(&id, move |run, now| {
                run.reports.push(report);
                let s = Summary::of(&run.reports);
                run.status.done = run.reports.len();
                (run.status.passed, run.status.failed, run.status.inconclusive, run.status.errors) =
                    (s.passed, s.failed, s.inconclusive, s.errors);
                run.status.current = None;
                run.status.updated_at = now;
            })
            .await;
        }
        self.update(&id, |run, now| {
            run.status.state = ConformanceRunState::Finished;
            run.status.current = None;
            run.status.updated_at = now;
            run.finished_at = Some(now);
        })
        .await;
    }

    /// Changes a run, stores it, then announces it.
    async fn update(&self, id: &str, change: impl FnOnce(&mut Stored, Timestamp)) -> Option<ConformanceRunStatus> {
        let now = self.engine.now();
        let run = {
            let mut runs = self.lock();
            let run = runs.get_mut(id)?;
            change(run, now);
            run.clone()
        };
        if let Err(e) = self.save(&run).await {
            tracing::warn!(run = %id, error = %e, "conformance run not stored");
        }
        self.engine.publish(Event::ConformanceRunChanged { run: Box::new(run.status.clone()) });
        Some(run.status)
    }

    /// Every run, newest first.
    pub fn list(&self) -> Vec<ConformanceRunStatus> {
        let mut all: Vec<ConformanceRunStatus> = self.lock().values().map(|r| r.status.clone()).collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        all
    }

    /// One run's status.
    pub fn get(&self, id: &str) -> Result<ConformanceRunStatus, RunError> {
        self.lock().get(id).map(|r| r.status.clone()).ok_or_else(|| RunError::NotFound(id.to_owned()))
    }

    /// One run's report: the cases ended so far.
    pub fn report(&self, id: &str) -> Result<Report, RunError> {
        let run = self.lock().get(id).cloned().ok_or_else(|| RunError::NotFound(id.to_owned()))?;
        let description = self.engine.device(&run.status.device).map(|d| describe(&d)).unwrap_or_default();
        let finished = run.finished_at.unwrap_or(run.status.updated_at);
        Ok(Report::new(
            run.status.protocol,
            run.status.device,
            description,
            run.status.created_at,
            finished,
            run.reports,
        ))
    }

    /// Stops a run after its current case (a running case is not interrupted halfway, so that
    /// what it wrote is put back).
    pub async fn cancel(&self, id: &str) -> Result<ConformanceRunStatus, RunError> {
        self.get(id)?;
        self.update(id, |run, now| {
            if run.status.state == ConformanceRunState::Running {
                run.status.state = ConformanceRunState::Cancelled;
                run.status.current = None;
                run.status.updated_at = now;
                run.finished_at = Some(now);
            }
        })
        .await
        .ok_or_else(|| RunError::NotFound(id.to_owned()))
    }
}

/// `ACME sensor-1 firmware 1.2`, from what the device reported.
pub fn describe(d: &unidm_models::Device) -> String {
    let i = &d.identity;
    let parts: Vec<&str> =
        [i.manufacturer.as_deref(), i.model.as_deref(), i.fw_version.as_deref().or(i.sw_version.as_deref())]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect();
    if parts.is_empty() {
        d.id.to_string()
    } else {
        parts.join(" ")
    }
}

/// `cr-` and 12 hex digits from the OS random source.
fn run_id() -> Result<String, RunError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| RunError::Store(format!("no OS randomness: {e}")))?;
    Ok(format!("cr-{}", unidm_core::hex::encode(&bytes)))
}
