//! DeleteObject and its response (TR-069 Amendment 6, A.3.2.7 DeleteObject).

use super::common::{text, text_or_empty, u32_of};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `DeleteObject`, ACS to CPE: removes one object instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeleteObject {
    /// `ObjectName` (≤ 256): the instance path, ending in `.`.
    pub object_name: String,
    /// `ParameterKey` (≤ 32).
    pub parameter_key: String,
}

impl RpcMessage for DeleteObject {
    const NAME: &'static str = "DeleteObject";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(DeleteObject {
            object_name: text(el, "DeleteObject", "ObjectName")?,
            parameter_key: text_or_empty(el, "ParameterKey"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("ObjectName", &self.object_name);
        w.leaf("ParameterKey", &self.parameter_key);
    }
}

/// `DeleteObjectResponse`, CPE to ACS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeleteObjectResponse {
    /// `Status`: 0 deleted; 1 committed but not yet applied.
    pub status: u32,
}

impl RpcMessage for DeleteObjectResponse {
    const NAME: &'static str = "DeleteObjectResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(DeleteObjectResponse { status: u32_of(el, "DeleteObjectResponse", "Status")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("Status", self.status);
    }
}
