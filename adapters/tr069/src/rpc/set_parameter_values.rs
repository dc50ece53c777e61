//! SetParameterValues and its response (TR-069 Amendment 6, A.3.2.1 SetParameterValues).

use super::common::{encode_parameter_values, parse_parameter_values, text_or_empty, u32_of, ParameterValueStruct};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `SetParameterValues`, ACS to CPE. Failures come back as a Fault with
/// `SetParameterValuesFault` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SetParameterValues {
    /// `ParameterList`: the values to set, applied all or nothing.
    pub parameter_list: Vec<ParameterValueStruct>,
    /// `ParameterKey` (≤ 32): stored in `ManagementServer.ParameterKey` on success.
    pub parameter_key: String,
}

impl RpcMessage for SetParameterValues {
    const NAME: &'static str = "SetParameterValues";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(SetParameterValues {
            parameter_list: parse_parameter_values(el, "SetParameterValues")?,
            parameter_key: text_or_empty(el, "ParameterKey"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        encode_parameter_values(w, &self.parameter_list);
        w.leaf("ParameterKey", &self.parameter_key);
    }
}

/// `SetParameterValuesResponse`, CPE to ACS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SetParameterValuesResponse {
    /// `Status`: 0 applied; 1 committed but not yet applied (e.g. needs a reboot).
    pub status: u32,
}

impl RpcMessage for SetParameterValuesResponse {
    const NAME: &'static str = "SetParameterValuesResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(SetParameterValuesResponse { status: u32_of(el, "SetParameterValuesResponse", "Status")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("Status", self.status);
    }
}
