//! DUStateChangeComplete and its response (TR-069 Amendment 6, Annex A.4 optional ACS methods;
//! CWMP 1.2, BBF `cwmp-1-2.xsd` `DUStateChangeComplete`, `OpResultStruct`).
//!
//! The schema declares `Results` as a repeated `OpResultStruct` element; that is what is
//! written. A `Results` array of `OpResultStruct` members, as some stacks send, is also read.

use super::common::{bool_of, req, text, FaultStruct};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `OpResultStruct`: the result of one Deployment Unit operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OpResultStruct {
    /// `UUID` of the DU.
    pub uuid: String,
    /// `DeploymentUnitRef`: path of the DU instance.
    pub deployment_unit_ref: String,
    /// `Version` (≤ 32).
    pub version: String,
    /// `CurrentState`: `Installed`, `Uninstalled` or `Failed`.
    pub current_state: String,
    /// `Resolved`: all dependencies resolved.
    pub resolved: bool,
    /// `ExecutionUnitRefList`: comma-separated EU paths.
    pub execution_unit_ref_list: String,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
    /// `Fault`: code 0 on success.
    pub fault: FaultStruct,
}

impl OpResultStruct {
    pub(crate) fn parse(el: &Element) -> Result<Self, CwmpError> {
        const P: &str = "OpResultStruct";
        Ok(OpResultStruct {
            uuid: text(el, P, "UUID")?,
            deployment_unit_ref: text(el, P, "DeploymentUnitRef")?,
            version: text(el, P, "Version")?,
            current_state: text(el, P, "CurrentState")?,
            resolved: bool_of(el, P, "Resolved")?,
            execution_unit_ref_list: text(el, P, "ExecutionUnitRefList")?,
            start_time: text(el, P, "StartTime")?,
            complete_time: text(el, P, "CompleteTime")?,
            fault: FaultStruct::parse(req(el, P, "Fault")?)?,
        })
    }

    /// Writes the fields (the caller opens and closes the element).
    pub(crate) fn encode_fields(&self, w: &mut XmlWriter) {
        w.leaf("UUID", &self.uuid);
        w.leaf("DeploymentUnitRef", &self.deployment_unit_ref);
        w.leaf("Version", &self.version);
        w.leaf("CurrentState", &self.current_state);
        w.leaf_bool("Resolved", self.resolved);
        w.leaf("ExecutionUnitRefList", &self.execution_unit_ref_list);
        w.leaf("StartTime", &self.start_time);
        w.leaf("CompleteTime", &self.complete_time);
        self.fault.encode(w, "Fault");
    }
}

/// The result elements of a `Results` list: each `Results` element itself, or the members of
/// a `Results` array named `member`.
pub(crate) fn result_elements<'a>(el: &'a Element, member: &'a str) -> Vec<&'a Element> {
    let mut out = Vec::new();
    for r in el.children_named("Results") {
        if r.child(member).is_some() {
            out.extend(r.children_named(member));
        } else {
            out.push(r);
        }
    }
    out
}

/// `DUStateChangeComplete`, CPE to ACS: outcome of an earlier ChangeDUState.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DUStateChangeComplete {
    /// `Results`, in the order of the ChangeDUState operations.
    pub results: Vec<OpResultStruct>,
    /// `CommandKey` of the ChangeDUState, if it had one.
    pub command_key: Option<String>,
}

impl RpcMessage for DUStateChangeComplete {
    const NAME: &'static str = "DUStateChangeComplete";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let results = result_elements(el, "OpResultStruct")
            .into_iter()
            .map(OpResultStruct::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if results.is_empty() {
            return Err(CwmpError::MissingElement { parent: "DUStateChangeComplete", child: "Results" });
        }
        Ok(DUStateChangeComplete { results, command_key: el.child("CommandKey").map(|c| c.text.clone()) })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        for r in &self.results {
            w.start("Results");
            r.encode_fields(w);
            w.end("Results");
        }
        if let Some(k) = &self.command_key {
            w.leaf("CommandKey", k);
        }
    }
}

empty_rpc!(
    /// `DUStateChangeCompleteResponse`, ACS to CPE (no arguments).
    DUStateChangeCompleteResponse
);
