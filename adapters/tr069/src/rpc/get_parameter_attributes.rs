//! GetParameterAttributes and its response
//! (TR-069 Amendment 6, A.3.2.5 GetParameterAttributes).

use super::common::{array, string_array, text, u32_of};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `GetParameterAttributes`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterAttributes {
    /// `ParameterNames`: full names or partial paths.
    pub parameter_names: Vec<String>,
}

impl RpcMessage for GetParameterAttributes {
    const NAME: &'static str = "GetParameterAttributes";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetParameterAttributes { parameter_names: string_array(el, "GetParameterAttributes", "ParameterNames")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.string_array("ParameterNames", &self.parameter_names);
    }
}

/// `ParameterAttributeStruct`: a parameter's notification setting and access list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ParameterAttributeStruct {
    /// `Name`.
    pub name: String,
    /// `Notification`: 0 off, 1 passive, 2 active; 3-6 lightweight variants (protocol 1.4).
    pub notification: u32,
    /// `AccessList`: entities besides the ACS allowed to write (only `Subscriber` is defined).
    pub access_list: Vec<String>,
}

/// `GetParameterAttributesResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterAttributesResponse {
    /// `ParameterList` of ParameterAttributeStruct.
    pub parameter_list: Vec<ParameterAttributeStruct>,
}

impl RpcMessage for GetParameterAttributesResponse {
    const NAME: &'static str = "GetParameterAttributesResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let parameter_list = array(el, "GetParameterAttributesResponse", "ParameterList")?
            .iter()
            .map(|p| {
                Ok(ParameterAttributeStruct {
                    name: text(p, "ParameterAttributeStruct", "Name")?,
                    notification: u32_of(p, "ParameterAttributeStruct", "Notification")?,
                    access_list: string_array(p, "ParameterAttributeStruct", "AccessList")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(GetParameterAttributesResponse { parameter_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.parameter_list;
        w.start_array("ParameterList", "cwmp:ParameterAttributeStruct", list.len());
        for p in list {
            w.start("ParameterAttributeStruct");
            w.leaf("Name", &p.name);
            w.leaf_num("Notification", p.notification);
            w.string_array("AccessList", &p.access_list);
            w.end("ParameterAttributeStruct");
        }
        w.end("ParameterList");
    }
}
