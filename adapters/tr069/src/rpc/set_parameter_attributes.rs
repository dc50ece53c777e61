//! SetParameterAttributes and its response
//! (TR-069 Amendment 6, A.3.2.4 SetParameterAttributes).

use super::common::{array, bool_of, string_array, text, u32_of};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `SetParameterAttributesStruct`: one change of notification and/or access list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SetParameterAttributesStruct {
    /// `Name`: a full name or a partial path.
    pub name: String,
    /// `NotificationChange`: whether `notification` is to be applied.
    pub notification_change: bool,
    /// `Notification` (0-6, see GetParameterAttributes).
    pub notification: u32,
    /// `AccessListChange`: whether `access_list` is to be applied.
    pub access_list_change: bool,
    /// `AccessList`.
    pub access_list: Vec<String>,
}

/// `SetParameterAttributes`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SetParameterAttributes {
    /// `ParameterList` of SetParameterAttributesStruct.
    pub parameter_list: Vec<SetParameterAttributesStruct>,
}

impl RpcMessage for SetParameterAttributes {
    const NAME: &'static str = "SetParameterAttributes";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        const S: &str = "SetParameterAttributesStruct";
        let parameter_list = array(el, "SetParameterAttributes", "ParameterList")?
            .iter()
            .map(|p| {
                Ok(SetParameterAttributesStruct {
                    name: text(p, S, "Name")?,
                    notification_change: bool_of(p, S, "NotificationChange")?,
                    notification: u32_of(p, S, "Notification")?,
                    access_list_change: bool_of(p, S, "AccessListChange")?,
                    access_list: string_array(p, S, "AccessList")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(SetParameterAttributes { parameter_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.parameter_list;
        w.start_array("ParameterList", "cwmp:SetParameterAttributesStruct", list.len());
        for p in list {
            w.start("SetParameterAttributesStruct");
            w.leaf("Name", &p.name);
            w.leaf_bool("NotificationChange", p.notification_change);
            w.leaf_num("Notification", p.notification);
            w.leaf_bool("AccessListChange", p.access_list_change);
            w.string_array("AccessList", &p.access_list);
            w.end("SetParameterAttributesStruct");
        }
        w.end("ParameterList");
    }
}

empty_rpc!(
    /// `SetParameterAttributesResponse`, CPE to ACS (no arguments).
    SetParameterAttributesResponse
);
