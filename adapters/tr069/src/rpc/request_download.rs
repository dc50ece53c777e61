//! RequestDownload and its response (TR-069 Amendment 6, A.4.2.2 RequestDownload).

use super::common::{array, text, text_or_empty};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `ArgStruct`: one name / value argument of a file type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ArgStruct {
    /// `Name` (≤ 64).
    pub name: String,
    /// `Value` (≤ 256).
    pub value: String,
}

/// `RequestDownload`, CPE to ACS: asks the ACS to start a Download of a file type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RequestDownload {
    /// `FileType` (Download file types).
    pub file_type: String,
    /// `FileTypeArg` (at most 16).
    pub file_type_arg: Vec<ArgStruct>,
}

impl RpcMessage for RequestDownload {
    const NAME: &'static str = "RequestDownload";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let file_type_arg = match el.child("FileTypeArg") {
            Some(_) => array(el, "RequestDownload", "FileTypeArg")?
                .iter()
                .map(|a| Ok(ArgStruct { name: text(a, "ArgStruct", "Name")?, value: text_or_empty(a, "Value") }))
                .collect::<Result<_, CwmpError>>()?,
            None => Vec::new(),
        };
        Ok(RequestDownload { file_type: text(el, "RequestDownload", "FileType")?, file_type_arg })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("FileType", &self.file_type);
        let list = &self.file_type_arg;
        w.start_array("FileTypeArg", "cwmp:ArgStruct", list.len());
        for a in list {
            w.start("ArgStruct");
            w.leaf("Name", &a.name);
            w.leaf("Value", &a.value);
            w.end("ArgStruct");
        }
        w.end("FileTypeArg");
    }
}

empty_rpc!(
    /// `RequestDownloadResponse`, ACS to CPE (no arguments).
    RequestDownloadResponse
);
