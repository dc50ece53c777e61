//! AddObject and its response (TR-069 Amendment 6, A.3.2.6 AddObject).

use super::common::{text, text_or_empty, u32_of};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `AddObject`, ACS to CPE: creates an instance of a multi-instance object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AddObject {
    /// `ObjectName` (≤ 256): a path ending in `.`, without instance number.
    pub object_name: String,
    /// `ParameterKey` (≤ 32).
    pub parameter_key: String,
}

impl RpcMessage for AddObject {
    const NAME: &'static str = "AddObject";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(AddObject {
            object_name: text(el, "AddObject", "ObjectName")?,
            parameter_key: text_or_empty(el, "ParameterKey"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("ObjectName", &self.object_name);
        w.leaf("ParameterKey", &self.parameter_key);
    }
}

/// `AddObjectResponse`, CPE to ACS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AddObjectResponse {
    /// `InstanceNumber` of the new instance (≥ 1).
    pub instance_number: u32,
    /// `Status`: 0 created; 1 committed but not yet applied.
    pub status: u32,
}

impl RpcMessage for AddObjectResponse {
    const NAME: &'static str = "AddObjectResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(AddObjectResponse {
            instance_number: u32_of(el, "AddObjectResponse", "InstanceNumber")?,
            status: u32_of(el, "AddObjectResponse", "Status")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("InstanceNumber", self.instance_number);
        w.leaf_num("Status", self.status);
    }
}
