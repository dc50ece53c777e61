//! Partial paths for CPEs that cannot read them. TR-069 Amendment 6, A.3.2.2 lets a
//! GetParameterValues name a partial path (ending in `.`), but some CPE agents fault on one
//! or close the connection when they receive it. Once a CPE did either (see
//! [`DeviceRecord::expand_partial_paths`]), each partial path of a GetParameterValues is first
//! listed with GetParameterNames, NextLevel false (A.3.2.3: every parameter below the path),
//! and the values are then read by their full names in one GetParameterValues. The work that
//! asked (a user's `native` read, a device-info refresh, the ACS's topology read) sees the
//! answer of that last request as if its own request had been answered.
//!
//! [`DeviceRecord::expand_partial_paths`]: super::state::DeviceRecord::expand_partial_paths

use std::collections::VecDeque;

use crate::rpc::fault::{Fault, FaultCode};
use crate::rpc::get_parameter_names::{GetParameterNames, GetParameterNamesResponse};
use crate::rpc::get_parameter_values::GetParameterValues;
use crate::rpc::Rpc;

/// Whether `request` is a GetParameterValues naming at least one partial path.
pub(crate) fn names_partial_path(request: &Rpc) -> bool {
    matches!(request, Rpc::GetParameterValues(g) if g.parameter_names.iter().any(|n| n.is_empty() || n.ends_with('.')))
}

/// Whether a CPE's fault to a partial-path GetParameterValues says it cannot read partial
/// paths (anything but 9005 "Invalid parameter name", which is an answer about the path).
pub(crate) fn refuses_partial_paths(fault: &Fault) -> bool {
    fault.code() != Some(FaultCode::InvalidParameterName)
}

/// A partial-path GetParameterValues being spelt out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// Full names found so far (and those the request named to begin with).
    full: Vec<String>,
    /// Partial paths still to list.
    pending: VecDeque<String>,
}

/// What to send next for an expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// List the next partial path.
    Names(Rpc),
    /// Every path is listed: read the values (the expansion is over).
    Values(Rpc),
}

impl Step {
    pub(crate) fn into_rpc(self) -> Rpc {
        match self {
            Step::Names(r) | Step::Values(r) => r,
        }
    }
}

impl Expansion {
    /// Starts expanding `request`: the GetParameterNames of its first partial path, or `None`
    /// when it names no partial path.
    pub(crate) fn start(request: &GetParameterValues) -> Option<(Expansion, Rpc)> {
        let (pending, full): (Vec<String>, Vec<String>) =
            request.parameter_names.iter().cloned().partition(|n| n.is_empty() || n.ends_with('.'));
        let mut e = Expansion { full, pending: pending.into() };
        let first = e.pending.pop_front()?;
        Some((e, GetParameterNames { parameter_path: first, next_level: false }.into()))
    }

    /// Takes the names listed for the current partial path; the next request to send.
    pub(crate) fn on_names(&mut self, listed: &GetParameterNamesResponse) -> Step {
        for p in &listed.parameter_list {
            // Objects end in `.`; only parameters have values.
            if !p.name.ends_with('.') && !self.full.contains(&p.name) {
                self.full.push(p.name.clone());
            }
        }
        match self.pending.pop_front() {
            Some(path) => Step::Names(GetParameterNames { parameter_path: path, next_level: false }.into()),
            None => Step::Values(GetParameterValues { parameter_names: std::mem::take(&mut self.full) }.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::get_parameter_names::ParameterInfoStruct;

    fn listed(names: &[&str]) -> GetParameterNamesResponse {
        GetParameterNamesResponse {
            parameter_list: names.iter().map(|n| ParameterInfoStruct { name: (*n).into(), writable: false }).collect(),
        }
    }

    #[test]
    fn partial_paths_are_listed_one_by_one_then_read_by_full_names() {
        let gpv =
            GetParameterValues { parameter_names: vec!["Device.A.".into(), "Device.X".into(), "Device.B.".into()] };
        assert!(names_partial_path(&gpv.clone().into()));
        let (mut e, first) = Expansion::start(&gpv).unwrap();
        assert_eq!(first, GetParameterNames { parameter_path: "Device.A.".into(), next_level: false }.into());
        let next = e.on_names(&listed(&["Device.A.", "Device.A.1.", "Device.A.1.Y", "Device.A.Z"]));
        assert_eq!(
            next,
            Step::Names(GetParameterNames { parameter_path: "Device.B.".into(), next_level: false }.into())
        );
        let last = e.on_names(&listed(&["Device.B.W", "Device.X"]));
        let want: Vec<String> = ["Device.X", "Device.A.1.Y", "Device.A.Z", "Device.B.W"].map(String::from).to_vec();
        assert_eq!(last, Step::Values(GetParameterValues { parameter_names: want }.into()));
    }

    #[test]
    fn full_names_need_no_expansion() {
        let gpv = GetParameterValues { parameter_names: vec!["Device.X".into()] };
        assert!(!names_partial_path(&gpv.clone().into()));
        assert!(Expansion::start(&gpv).is_none());
    }

    #[test]
    fn only_faults_other_than_invalid_name_mean_no_partial_paths() {
        assert!(!refuses_partial_paths(&Fault::new(FaultCode::InvalidParameterName)));
        assert!(refuses_partial_paths(&Fault::new(FaultCode::InternalError)));
        assert!(refuses_partial_paths(&Fault::new(FaultCode::ResourcesExceeded)));
    }
}
