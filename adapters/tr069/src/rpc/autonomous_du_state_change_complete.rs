//! AutonomousDUStateChangeComplete and its response (TR-069 Amendment 6, Annex A.4 optional ACS
//! methods; CWMP 1.2, BBF `cwmp-1-2.xsd` `AutonOpResultStruct`).

use super::common::text;
use super::du_state_change_complete::{result_elements, OpResultStruct};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `AutonOpResultStruct`: an [`OpResultStruct`] plus the operation the CPE performed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AutonOpResultStruct {
    /// The common result fields.
    pub result: OpResultStruct,
    /// `OperationPerformed`: `Install`, `Update`, `Uninstall` or a vendor string.
    pub operation_performed: String,
}

/// `AutonomousDUStateChangeComplete`, CPE to ACS: DU changes the ACS did not request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AutonomousDUStateChangeComplete {
    /// `Results`.
    pub results: Vec<AutonOpResultStruct>,
}

impl RpcMessage for AutonomousDUStateChangeComplete {
    const NAME: &'static str = "AutonomousDUStateChangeComplete";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let results = result_elements(el, "AutonOpResultStruct")
            .into_iter()
            .map(|r| {
                Ok(AutonOpResultStruct {
                    result: OpResultStruct::parse(r)?,
                    operation_performed: text(r, "AutonOpResultStruct", "OperationPerformed")?,
                })
            })
            .collect::<Result<Vec<_>, CwmpError>>()?;
        if results.is_empty() {
            return Err(CwmpError::MissingElement { parent: "AutonomousDUStateChangeComplete", child: "Results" });
        }
        Ok(AutonomousDUStateChangeComplete { results })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        for r in &self.results {
            w.start("Results");
            r.result.encode_fields(w);
            w.leaf("OperationPerformed", &r.operation_performed);
            w.end("Results");
        }
    }
}

empty_rpc!(
    /// `AutonomousDUStateChangeCompleteResponse`, ACS to CPE (no arguments).
    AutonomousDUStateChangeCompleteResponse
);
