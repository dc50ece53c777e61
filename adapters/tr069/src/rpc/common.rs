//! Structures shared by several RPCs (BBF `cwmp-1-2.xsd`: `ParameterValueStruct`,
//! `TransferCompleteFaultStruct`, `DeploymentUnitFaultStruct`) and the element-walking helpers
//! the RPC modules use.

use crate::error::CwmpError;
use crate::soap::value::parse_bool;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;
use crate::soap::{Value, XsdType};

/// The required child `child` of `el`.
pub(crate) fn req<'a>(el: &'a Element, parent: &'static str, child: &'static str) -> Result<&'a Element, CwmpError> {
    el.child(child).ok_or(CwmpError::MissingElement { parent, child })
}

/// Text of a required child.
pub(crate) fn text(el: &Element, parent: &'static str, child: &'static str) -> Result<String, CwmpError> {
    Ok(req(el, parent, child)?.text.clone())
}

/// Text of an optional child, empty when absent (real CPEs omit empty strings).
pub(crate) fn text_or_empty(el: &Element, child: &str) -> String {
    el.child(child).map(|c| c.text.clone()).unwrap_or_default()
}

/// Text of an optional child, `None` when absent.
pub(crate) fn opt_text(el: &Element, child: &str) -> Option<String> {
    el.child(child).map(|c| c.text.clone())
}

/// A required xsd:unsignedInt child.
pub(crate) fn u32_of(el: &Element, parent: &'static str, child: &'static str) -> Result<u32, CwmpError> {
    let t = req(el, parent, child)?.text.trim();
    t.parse().map_err(|_| CwmpError::invalid(child, format!("{t:?} is not an xsd:unsignedInt")))
}

/// A required xsd:int child.
pub(crate) fn i32_of(el: &Element, parent: &'static str, child: &'static str) -> Result<i32, CwmpError> {
    let t = req(el, parent, child)?.text.trim();
    t.parse().map_err(|_| CwmpError::invalid(child, format!("{t:?} is not an xsd:int")))
}

/// A required xsd:boolean child (`0`, `1`, `true`, `false`).
pub(crate) fn bool_of(el: &Element, parent: &'static str, child: &'static str) -> Result<bool, CwmpError> {
    let t = &req(el, parent, child)?.text;
    parse_bool(t).ok_or_else(|| CwmpError::invalid(child, format!("{t:?} is not an xsd:boolean")))
}

/// Members of a required SOAP-ENC array child. The `arrayType` count is ignored: members are
/// counted as read, and the reader already bounded how many there can be.
pub(crate) fn array<'a>(
    el: &'a Element,
    parent: &'static str,
    child: &'static str,
) -> Result<&'a [Element], CwmpError> {
    Ok(&req(el, parent, child)?.children)
}

/// A required array of `string`.
pub(crate) fn string_array(el: &Element, parent: &'static str, child: &'static str) -> Result<Vec<String>, CwmpError> {
    Ok(array(el, parent, child)?.iter().map(|s| s.text.clone()).collect())
}

/// `ParameterValueStruct`: a parameter name and its typed value (TR-069 Amendment 6, A.3.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterValueStruct {
    /// Full path name of the parameter.
    pub name: String,
    /// Value with its `xsi:type`.
    pub value: Value,
}

impl ParameterValueStruct {
    /// A name / value pair.
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        ParameterValueStruct { name: name.into(), value }
    }

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let name = text(el, "ParameterValueStruct", "Name")?;
        let v = req(el, "ParameterValueStruct", "Value")?;
        let xsd_type = v.xsi_type.as_deref().map(XsdType::from_local_name).unwrap_or(XsdType::String);
        Ok(ParameterValueStruct { name, value: Value::new(xsd_type, v.text.clone()) })
    }

    fn encode(&self, w: &mut XmlWriter) {
        w.start("ParameterValueStruct");
        w.leaf("Name", &self.name);
        let ty = format!("xsd:{}", self.value.xsd_type.local_name());
        w.start_with("Value", &[("xsi:type", &ty)]);
        w.text(&self.value.text);
        w.end("Value");
        w.end("ParameterValueStruct");
    }
}

/// Reads a required `ParameterValueList` child (`ParameterList` of Inform, SetParameterValues,
/// GetParameterValuesResponse).
pub(crate) fn parse_parameter_values(
    el: &Element,
    parent: &'static str,
) -> Result<Vec<ParameterValueStruct>, CwmpError> {
    array(el, parent, "ParameterList")?.iter().map(ParameterValueStruct::parse).collect()
}

/// Writes `<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[N]">`.
pub(crate) fn encode_parameter_values(w: &mut XmlWriter, list: &[ParameterValueStruct]) {
    w.start_array("ParameterList", "cwmp:ParameterValueStruct", list.len());
    for p in list {
        p.encode(w);
    }
    w.end("ParameterList");
}

/// `FaultStruct` of TransferComplete / AutonomousTransferComplete and `Fault` of the DU results
/// (BBF `TransferCompleteFaultStruct`, `DeploymentUnitFaultStruct`): code 0 means success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FaultStruct {
    /// `FaultCode`: 0 on success, else a CPE fault code.
    pub fault_code: u32,
    /// `FaultString`: human-readable text, empty on success.
    pub fault_string: String,
}

impl FaultStruct {
    /// Reads the struct from the element that holds `FaultCode` / `FaultString`.
    pub(crate) fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(FaultStruct {
            fault_code: u32_of(el, "FaultStruct", "FaultCode")?,
            fault_string: text_or_empty(el, "FaultString"),
        })
    }

    /// Writes `<name><FaultCode/><FaultString/></name>`.
    pub(crate) fn encode(&self, w: &mut XmlWriter, name: &str) {
        w.start(name);
        w.leaf_num("FaultCode", self.fault_code);
        w.leaf("FaultString", &self.fault_string);
        w.end(name);
    }

    /// True when the code is 0.
    pub fn is_success(&self) -> bool {
        self.fault_code == 0
    }
}
