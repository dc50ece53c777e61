//! Reboot and its response (TR-069 Amendment 6, A.3.2.9 Reboot).

use super::common::text_or_empty;
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `Reboot`, ACS to CPE. The CPE reboots after the session and reports `M Reboot` with this
/// CommandKey in its next Inform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Reboot {
    /// `CommandKey` (≤ 32).
    pub command_key: String,
}

impl RpcMessage for Reboot {
    const NAME: &'static str = "Reboot";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(Reboot { command_key: text_or_empty(el, "CommandKey") })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("CommandKey", &self.command_key);
    }
}

empty_rpc!(
    /// `RebootResponse`, CPE to ACS (no arguments).
    RebootResponse
);
