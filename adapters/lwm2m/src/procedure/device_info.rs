//! Reading what a device says about itself as a sans-I/O state machine: Device `/3/0`
//! (identity, battery, memory, error codes; required), then Connectivity Monitoring `/4/0` and
//! Location `/6/0` when the device registered them (each optional: a failed read is logged and
//! skipped). The adapter maps the outcome into the common model (`adapter::mapping`).

use std::collections::VecDeque;

use unidm_models::OperationError;

use super::RequestId;
use crate::codec::Content;
use crate::path::Path;

/// What the reads gave.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// `/3/0`.
    pub device: Content,
    /// `/4/0` and `/6/0`, those read, in that order.
    pub extra: Vec<(Path, Content)>,
}

/// The reads of one device: see the module docs.
#[derive(Debug)]
pub struct DeviceInfoRead {
    left: VecDeque<Path>,
    next_id: u64,
    outstanding: Option<(RequestId, Path)>,
    device: Option<Content>,
    extra: Vec<(Path, Content)>,
    outcome: Option<Result<DeviceInfo, OperationError>>,
}

impl DeviceInfoRead {
    /// The reads of a device that registered `/4` (`connectivity`) and `/6` (`location`) or not.
    pub fn new(connectivity: bool, location: bool) -> Self {
        let mut left = VecDeque::from([Path::ObjectInstance(3, 0)]);
        left.extend(connectivity.then_some(Path::ObjectInstance(4, 0)));
        left.extend(location.then_some(Path::ObjectInstance(6, 0)));
        DeviceInfoRead { left, next_id: 0, outstanding: None, device: None, extra: Vec::new(), outcome: None }
    }

    /// The next object instance to read, one at a time.
    pub fn poll_request(&mut self) -> Option<(RequestId, Path)> {
        if self.outstanding.is_some() || self.outcome.is_some() {
            return None;
        }
        let path = self.left.pop_front()?;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.outstanding = Some((id, path));
        Some((id, path))
    }

    /// The decoded answer to the read `id`.
    pub fn handle_response(&mut self, id: RequestId, answer: Result<Content, OperationError>) {
        let Some((_, path)) = self.outstanding.take_if(|(asked, _)| *asked == id) else { return };
        match (self.device.is_none(), answer) {
            (true, Ok(content)) => self.device = Some(content),
            (true, Err(e)) => self.outcome = Some(Err(e)),
            (false, Ok(content)) => self.extra.push((path, content)),
            (false, Err(e)) => tracing::debug!(%path, error = %e.message, "optional read failed"),
        }
        if self.left.is_empty() && self.outcome.is_none() {
            if let Some(device) = self.device.take() {
                self.outcome = Some(Ok(DeviceInfo { device, extra: std::mem::take(&mut self.extra) }));
            }
        }
    }

    /// The outcome once the reads are done, or `/3/0` failed (given once).
    pub fn poll_outcome(&mut self) -> Option<Result<DeviceInfo, OperationError>> {
        self.outcome.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Record, Value};
    use unidm_models::ErrorKind;

    fn content(path: Path) -> Content {
        Content::new(vec![Record::new(path.child(0).unwrap_or(path), Value::Integer(1))])
    }

    fn run(
        mut r: DeviceInfoRead,
        answer: impl Fn(Path) -> Result<Content, OperationError>,
    ) -> (Vec<Path>, Result<DeviceInfo, OperationError>) {
        let mut read = Vec::new();
        while let Some((id, path)) = r.poll_request() {
            assert!(r.poll_request().is_none(), "one read at a time");
            read.push(path);
            r.handle_response(id, answer(path));
        }
        (read, r.poll_outcome().expect("an outcome"))
    }

    #[test]
    fn device_then_the_optional_objects_registered_and_a_failed_optional_read_is_skipped() {
        let timeout = || OperationError::new(ErrorKind::Timeout, "no answer");
        let (read, out) = run(DeviceInfoRead::new(true, true), |p| {
            if p == Path::ObjectInstance(4, 0) {
                Err(timeout())
            } else {
                Ok(content(p))
            }
        });
        assert_eq!(read, [Path::ObjectInstance(3, 0), Path::ObjectInstance(4, 0), Path::ObjectInstance(6, 0)]);
        let info = out.expect("read");
        assert_eq!(info.device, content(Path::ObjectInstance(3, 0)));
        assert_eq!(info.extra, [(Path::ObjectInstance(6, 0), content(Path::ObjectInstance(6, 0)))]);

        let (read, out) = run(DeviceInfoRead::new(false, true), |_| Err(timeout()));
        assert_eq!(read, [Path::ObjectInstance(3, 0)], "nothing more after /3/0 failed");
        assert_eq!(out.expect_err("failed").kind, ErrorKind::Timeout);

        let (read, out) = run(DeviceInfoRead::new(false, false), |p| Ok(content(p)));
        assert_eq!((read.len(), out.map(|i| i.extra.len()).ok()), (1, Some(0)));
    }
}
