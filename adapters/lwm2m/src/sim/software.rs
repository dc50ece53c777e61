//! The simulated Software Management object /9 (registry `9.xml`): Package
//! URI write → DOWNLOAD STARTED → DELIVERED (or a failure Update Result), Install in DELIVERED →
//! INSTALLED (or 58), Uninstall → INITIAL, Activate / Deactivate in INSTALLED.

use std::time::Duration;

use super::objects::Objects;
use crate::codec::Value;
use crate::path::Path;

/// How the simulated software packages behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareBehaviour {
    /// Time from Package URI write to DELIVERED (or failure), and from Install to INSTALLED.
    pub delay: Duration,
    /// 3 for a good download, else the Update Result the download fails with (50-57).
    pub download_result: u8,
    /// 2 for a good installation, else the Update Result it fails with (e.g. 58).
    pub install_result: u8,
}

impl Default for SoftwareBehaviour {
    fn default() -> Self {
        SoftwareBehaviour { delay: Duration::from_millis(50), download_result: 3, install_result: 2 }
    }
}

/// A step of the package state machine that the client runs after a delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftwareStep {
    /// The download ended.
    Downloaded,
    /// The installation ended.
    Installed,
}

fn int(v: i64) -> Value {
    Value::Integer(v)
}

impl Objects {
    fn software_state(&self, instance: u16) -> Option<&Value> {
        self.values.get(&Path::Resource(9, instance, 7))
    }

    /// An empty /9 instance in INITIAL.
    pub fn add_software_instance(&mut self, instance: u16) {
        let v = &mut self.values;
        v.insert(Path::Resource(9, instance, 0), Value::String(String::new()));
        v.insert(Path::Resource(9, instance, 1), Value::String(String::new()));
        v.insert(Path::Resource(9, instance, 7), int(0));
        v.insert(Path::Resource(9, instance, 9), int(0));
        v.insert(Path::Resource(9, instance, 12), Value::Boolean(false));
    }

    /// Package URI written: DOWNLOAD STARTED, name and version from the file name
    /// (`app-2.1.pkg` → `app`, `2.1`). Returns the changed paths.
    pub(crate) fn software_download(&mut self, instance: u16, uri: &str) -> Vec<Path> {
        let file = uri.rsplit('/').next().unwrap_or(uri);
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        let (name, version) = stem.rsplit_once('-').unwrap_or((stem, "1.0"));
        let v = &mut self.values;
        v.insert(Path::Resource(9, instance, 0), Value::String(name.to_owned()));
        v.insert(Path::Resource(9, instance, 1), Value::String(version.to_owned()));
        v.insert(Path::Resource(9, instance, 7), int(1));
        v.insert(Path::Resource(9, instance, 9), int(1));
        v.insert(Path::Resource(9, instance, 12), Value::Boolean(false));
        vec![Path::Resource(9, instance, 9), Path::Resource(9, instance, 7)]
    }

    /// A delayed step ends. Returns the changed paths.
    pub(crate) fn software_step(&mut self, instance: u16, step: SoftwareStep, b: &SoftwareBehaviour) -> Vec<Path> {
        let (state, result) = match step {
            SoftwareStep::Downloaded if b.download_result == 3 => (3, 3),
            SoftwareStep::Downloaded => (0, i64::from(b.download_result)),
            SoftwareStep::Installed if b.install_result == 2 => (4, 2),
            SoftwareStep::Installed => (3, i64::from(b.install_result)),
        };
        self.values.insert(Path::Resource(9, instance, 9), int(result));
        self.values.insert(Path::Resource(9, instance, 7), int(state));
        vec![Path::Resource(9, instance, 9), Path::Resource(9, instance, 7)]
    }

    /// Execute on /9/x: Install (4), Uninstall (6), Activate (10), Deactivate (11). `Err` is
    /// 4.05 when the state does not allow it; `Ok(true)` when an installation starts.
    pub(crate) fn software_execute(&mut self, instance: u16, resource: u16) -> Result<bool, ()> {
        let state = self.software_state(instance).cloned();
        match (resource, state) {
            (4, Some(Value::Integer(3))) => Ok(true),
            (6, Some(_)) => {
                for (r, v) in [(7, int(0)), (9, int(0)), (12, Value::Boolean(false))] {
                    self.values.insert(Path::Resource(9, instance, r), v);
                }
                Ok(false)
            }
            (10 | 11, Some(Value::Integer(4))) => {
                self.values.insert(Path::Resource(9, instance, 12), Value::Boolean(resource == 10));
                Ok(false)
            }
            _ => Err(()),
        }
    }
}
