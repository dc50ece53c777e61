//! What a case's steps work with: the engine, the device, and helpers that create operations
//! and wait for their end, watch the wire tap, and put written values back afterwards.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use unidm_core::{CreateOptions, Engine, Subscription, WireRecord};
use unidm_lwm2m::server::Registration;
use unidm_lwm2m::Lwm2mAdapter;
use unidm_models::{Action, Device, DeviceId, NativeOp, NativeRequest, Operation, OperationState, RetryPolicy};

use crate::case::Finding;

/// A case's view of the system under test.
pub struct Ctx {
    engine: Engine,
    device: DeviceId,
    lwm2m: Option<Arc<Lwm2mAdapter>>,
    firmware_uri: Option<String>,
    software_uri: Option<String>,
    firmware_cases: BTreeMap<u16, String>,
    step_timeout: Duration,
    restore: Mutex<Vec<NativeRequest>>,
    log: Mutex<Vec<WireRecord>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("device", &self.device).finish()
    }
}

impl Ctx {
    /// The default time one step (one operation, one wait) may take.
    pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

    /// Cases on `device`, through `engine`.
    pub fn new(engine: Engine, device: DeviceId) -> Ctx {
        Ctx {
            engine,
            device,
            lwm2m: None,
            firmware_uri: None,
            software_uri: None,
            firmware_cases: BTreeMap::new(),
            step_timeout: Self::STEP_TIMEOUT,
            restore: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        }
    }

    /// The LwM2M server, for what only a registration tells (objects, formats, binding).
    pub fn with_lwm2m(mut self, adapter: Option<Arc<Lwm2mAdapter>>) -> Ctx {
        self.lwm2m = adapter;
        self
    }

    /// A firmware image URL the device can fetch (firmware cases are inconclusive without).
    pub fn with_firmware_uri(mut self, uri: Option<String>) -> Ctx {
        self.firmware_uri = uri;
        self
    }

    /// A software package URL the device can fetch (software cases are inconclusive without).
    pub fn with_software_uri(mut self, uri: Option<String>) -> Ctx {
        self.software_uri = uri;
        self
    }

    /// Packages the lab prepared for the firmware error cases, by the Update Result each must
    /// end with (LwM2M: `2` not enough flash, `4` connection lost, `5` integrity check
    /// failure, `6` unsupported package type, `8` update failed, ...); those cases are
    /// inconclusive without theirs.
    pub fn with_firmware_cases(mut self, cases: BTreeMap<u16, String>) -> Ctx {
        self.firmware_cases = cases;
        self
    }

    /// How long one step may take.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Ctx {
        self.step_timeout = timeout;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The device under test.
    pub fn device_id(&self) -> &DeviceId {
        &self.device
    }

    /// One step's time budget.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// The firmware image URL, or inconclusive.
    pub fn firmware_uri(&self) -> Result<&str, Finding> {
        self.firmware_uri
            .as_deref()
            .ok_or_else(|| Finding::inconclusive("no firmware image URL was given (--firmware-uri)"))
    }

    /// The package prepared for the firmware error case ending with Update Result `result`, or
    /// inconclusive.
    pub fn firmware_case_uri(&self, result: u16) -> Result<&str, Finding> {
        self.firmware_cases.get(&result).map(String::as_str).ok_or_else(|| {
            Finding::inconclusive(format!(
                "no package was prepared for this error case (--firmware-case {result}=<URL of a package that makes \
                 the device end with Update Result {result}>)"
            ))
        })
    }

    /// The software package URL, or inconclusive.
    pub fn software_uri(&self) -> Result<&str, Finding> {
        self.software_uri
            .as_deref()
            .ok_or_else(|| Finding::inconclusive("no software package URL was given (--software-uri)"))
    }

    /// The device as the engine knows it now.
    pub fn device(&self) -> Result<Device, Finding> {
        self.engine.device(&self.device).map_err(|e| Finding::error(format!("device {}: {e}", self.device)))
    }

    /// Events from now on.
    pub fn subscribe(&self) -> Subscription {
        self.engine.subscribe()
    }

    /// Runs `action` on the device as one operation (one attempt, the step's timeout) and
    /// returns it once it ended, whatever its outcome.
    pub async fn operation(&self, action: Action) -> Result<Operation, Finding> {
        let options = CreateOptions {
            timeout: Some(self.step_timeout),
            retry: Some(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
        };
        let created = self.engine.create_operation(&self.device, action, options).await.map_err(|e| match e {
            // The device reported it cannot do this at all: a missing precondition.
            unidm_core::CoreError::NotSupported { .. } => Finding::inconclusive(e.to_string()),
            e => Finding::error(format!("the engine refused the operation: {e}")),
        })?;
        let mut events = self.engine.subscribe();
        let deadline = tokio::time::Instant::now() + self.step_timeout + Duration::from_secs(5);
        loop {
            let op = self
                .engine
                .operation(created.id)
                .await
                .map_err(|e| Finding::error(format!("operation {}: {e}", created.id)))?;
            if op.state.is_terminal() {
                return Ok(op);
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.engine.cancel_operation(created.id).await;
                return Err(Finding::error(format!(
                    "operation {} ({}) did not end within {:?}",
                    op.id,
                    op.action.name(),
                    self.step_timeout
                )));
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    }

    /// A native operation on `path`.
    pub async fn native(&self, op: NativeOp, path: &str, value: Option<Json>) -> Result<Operation, Finding> {
        self.native_in(op, path, value, None).await
    }

    /// A native operation on `path`, asking for (read) or sending (write) `format`.
    pub async fn native_in(
        &self,
        op: NativeOp,
        path: &str,
        value: Option<Json>,
        format: Option<&str>,
    ) -> Result<Operation, Finding> {
        let request = NativeRequest { op, path: path.into(), value, args: None, format: format.map(str::to_owned) };
        self.operation(Action::Native(request)).await
    }

    /// The result of an operation that must have succeeded; a fail naming `what` otherwise.
    pub fn succeeded(&self, op: &Operation, what: &str) -> Result<Option<Json>, Finding> {
        match op.state {
            OperationState::Succeeded => Ok(op.result.clone()),
            _ => Err(Finding::fail(format!("{what} did not succeed"), "success", describe(op))),
        }
    }

    /// A read of `path` that must succeed, returning its value.
    pub async fn read(&self, path: &str) -> Result<Json, Finding> {
        let op = self.native(NativeOp::Read, path, None).await?;
        Ok(self.succeeded(&op, &format!("Read {path}"))?.unwrap_or(Json::Null))
    }

    /// A write of `value` to `path` that must succeed; the value read before is written back
    /// when the case ends.
    pub async fn write_restoring(&self, path: &str, value: Json) -> Result<(), Finding> {
        let before = self.read(path).await?;
        self.restore_later(NativeOp::Write, path, Some(before));
        let op = self.native(NativeOp::Write, path, Some(value)).await?;
        self.succeeded(&op, &format!("Write {path}"))?;
        Ok(())
    }

    /// Queues a native request run when the case ends (last queued, first run), pass or not:
    /// the write of the value read before, the delete of an instance created, a cancel.
    pub fn restore_later(&self, op: NativeOp, path: &str, value: Option<Json>) {
        let request = NativeRequest { op, path: path.into(), value, args: None, format: None };
        self.restore.lock().unwrap_or_else(|p| p.into_inner()).push(request);
    }

    pub(crate) fn take_restores(&self) -> Vec<NativeRequest> {
        let mut list = std::mem::take(&mut *self.restore.lock().unwrap_or_else(|p| p.into_inner()));
        list.reverse();
        list
    }

    /// The messages exchanged with the device since the case began.
    pub fn messages(&self) -> Vec<WireRecord> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.extend(self.engine.wire_tap().take(&self.device));
        log.clone()
    }

    pub(crate) fn take_messages(&self) -> Vec<WireRecord> {
        let mut log = std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()));
        log.extend(self.engine.wire_tap().take(&self.device));
        log
    }

    /// Waits until a message after the first `after` ones satisfies `wanted`.
    pub async fn wait_message(
        &self,
        after: usize,
        timeout: Duration,
        wanted: impl Fn(&WireRecord) -> bool,
    ) -> Option<WireRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.messages().into_iter().skip(after).find(|m| wanted(m)) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `ready` every 100 ms until it holds or `timeout` passes.
    pub async fn wait_until(&self, timeout: Duration, mut ready: impl FnMut(&Ctx) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if ready(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The LwM2M server of this run, if any.
    pub fn lwm2m(&self) -> Option<&Lwm2mAdapter> {
        self.lwm2m.as_deref()
    }

    /// The device's live LwM2M registration.
    pub fn registration(&self) -> Result<Arc<Registration>, Finding> {
        let adapter = self.lwm2m.as_ref().ok_or_else(|| Finding::error("no LwM2M server in this run"))?;
        adapter
            .registration(self.device.native())
            .ok_or_else(|| Finding::error(format!("{} is not registered", self.device)))
    }

    /// Inconclusive unless the device registered object `object`.
    pub fn require_object(&self, object: u16) -> Result<(), Finding> {
        let reg = self.registration()?;
        let listed = reg.objects.iter().any(|o| {
            let first = o.path.trim_start_matches('/').split('/').next().unwrap_or_default();
            first.parse::<u16>() == Ok(object)
        });
        if listed {
            Ok(())
        } else {
            Err(Finding::inconclusive(format!("the device did not register object /{object}")))
        }
    }

    /// The first instance of `object` the device registered (`/1/0` for the Server object).
    pub fn first_instance(&self, object: u16) -> Result<u16, Finding> {
        self.require_object(object)?;
        let reg = self.registration()?;
        reg.objects
            .iter()
            .filter_map(|o| {
                let mut parts = o.path.trim_start_matches('/').split('/');
                (parts.next()?.parse::<u16>().ok()? == object).then_some(())?;
                parts.next()?.parse::<u16>().ok()
            })
            .min()
            .ok_or_else(|| Finding::inconclusive(format!("the device registered no instance of /{object}")))
    }
}

/// An ended operation in a few words: `succeeded`, `failed: DeviceRefused 4.05 (...)`.
pub fn describe(op: &Operation) -> String {
    match &op.error {
        Some(e) => match &e.protocol_code {
            Some(code) => format!("{}: {:?} {code} ({})", op.state.as_str(), e.kind, e.message),
            None => format!("{}: {:?} ({})", op.state.as_str(), e.kind, e.message),
        },
        None => op.state.as_str().to_owned(),
    }
}

/// The protocol code of a failed operation (`4.05`, `9005`), if any.
pub fn protocol_code(op: &Operation) -> Option<&str> {
    op.error.as_ref().and_then(|e| e.protocol_code.as_deref())
}
