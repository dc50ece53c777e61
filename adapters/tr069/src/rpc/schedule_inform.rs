//! ScheduleInform and its response (TR-069 Amendment 6, A.4.1.2 ScheduleInform).

use super::common::{text_or_empty, u32_of};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `ScheduleInform`, ACS to CPE: one extra Inform (`3 SCHEDULED`, `M ScheduleInform`) later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScheduleInform {
    /// `DelaySeconds` from the end of this session (must be > 0).
    pub delay_seconds: u32,
    /// `CommandKey` (≤ 32).
    pub command_key: String,
}

impl RpcMessage for ScheduleInform {
    const NAME: &'static str = "ScheduleInform";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(ScheduleInform {
            delay_seconds: u32_of(el, "ScheduleInform", "DelaySeconds")?,
            command_key: text_or_empty(el, "CommandKey"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("DelaySeconds", self.delay_seconds);
        w.leaf("CommandKey", &self.command_key);
    }
}

empty_rpc!(
    /// `ScheduleInformResponse`, CPE to ACS (no arguments).
    ScheduleInformResponse
);
