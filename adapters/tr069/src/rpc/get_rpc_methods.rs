//! GetRPCMethods and its response, sent in both directions
//! (TR-069 Amendment 6, A.3.1.1 GetRPCMethods).

use super::common::string_array;
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

empty_rpc!(
    /// `GetRPCMethods`: asks the peer which methods it supports.
    GetRPCMethods
);

/// `GetRPCMethodsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetRPCMethodsResponse {
    /// `MethodList`: supported method names.
    pub method_list: Vec<String>,
}

impl RpcMessage for GetRPCMethodsResponse {
    const NAME: &'static str = "GetRPCMethodsResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetRPCMethodsResponse { method_list: string_array(el, "GetRPCMethodsResponse", "MethodList")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.string_array("MethodList", &self.method_list);
    }
}
