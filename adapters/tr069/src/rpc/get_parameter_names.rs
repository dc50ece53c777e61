//! GetParameterNames and its response (TR-069 Amendment 6, A.3.2.3 GetParameterNames).

use super::common::{array, bool_of, text, text_or_empty};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `GetParameterNames`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterNames {
    /// `ParameterPath`: a full name, a partial path ending in `.`, or empty for the root.
    pub parameter_path: String,
    /// `NextLevel`: only the direct children of the path when true.
    pub next_level: bool,
}

impl RpcMessage for GetParameterNames {
    const NAME: &'static str = "GetParameterNames";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetParameterNames {
            parameter_path: text_or_empty(el, "ParameterPath"),
            next_level: bool_of(el, "GetParameterNames", "NextLevel")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("ParameterPath", &self.parameter_path);
        w.leaf_bool("NextLevel", self.next_level);
    }
}

/// `ParameterInfoStruct`: a name and whether it is writable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ParameterInfoStruct {
    /// `Name` (objects end in `.`).
    pub name: String,
    /// `Writable`.
    pub writable: bool,
}

/// `GetParameterNamesResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetParameterNamesResponse {
    /// `ParameterList` of ParameterInfoStruct.
    pub parameter_list: Vec<ParameterInfoStruct>,
}

impl RpcMessage for GetParameterNamesResponse {
    const NAME: &'static str = "GetParameterNamesResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let parameter_list = array(el, "GetParameterNamesResponse", "ParameterList")?
            .iter()
            .map(|p| {
                Ok(ParameterInfoStruct {
                    name: text(p, "ParameterInfoStruct", "Name")?,
                    writable: bool_of(p, "ParameterInfoStruct", "Writable")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(GetParameterNamesResponse { parameter_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.parameter_list;
        w.start_array("ParameterList", "cwmp:ParameterInfoStruct", list.len());
        for p in list {
            w.start("ParameterInfoStruct");
            w.leaf("Name", &p.name);
            w.leaf_bool("Writable", p.writable);
            w.end("ParameterInfoStruct");
        }
        w.end("ParameterList");
    }
}
