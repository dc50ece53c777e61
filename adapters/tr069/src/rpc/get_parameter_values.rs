//! GetParameterValues and its response (TR-069 Amendment 6, A.3.2.2 GetParameterValues).

use super::common::{encode_parameter_values, parse_parameter_values, string_array, ParameterValueStruct};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `GetParameterValues`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterValues {
    /// `ParameterNames`: full names, or partial paths ending in `.`.
    pub parameter_names: Vec<String>,
}

impl RpcMessage for GetParameterValues {
    const NAME: &'static str = "GetParameterValues";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetParameterValues { parameter_names: string_array(el, "GetParameterValues", "ParameterNames")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.string_array("ParameterNames", &self.parameter_names);
    }
}

/// `GetParameterValuesResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterValuesResponse {
    /// `ParameterList`.
    pub parameter_list: Vec<ParameterValueStruct>,
}

impl RpcMessage for GetParameterValuesResponse {
    const NAME: &'static str = "GetParameterValuesResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetParameterValuesResponse { parameter_list: parse_parameter_values(el, "GetParameterValuesResponse")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        encode_parameter_values(w, &self.parameter_list);
    }
}
