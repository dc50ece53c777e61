//! CancelTransfer and its response (TR-069 Amendment 6, A.4.1.9 CancelTransfer).

use super::common::text_or_empty;
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `CancelTransfer`, ACS to CPE: cancels a queued Download / Upload / ScheduleDownload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CancelTransfer {
    /// `CommandKey` of the transfer to cancel.
    pub command_key: String,
}

impl RpcMessage for CancelTransfer {
    const NAME: &'static str = "CancelTransfer";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(CancelTransfer { command_key: text_or_empty(el, "CommandKey") })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("CommandKey", &self.command_key);
    }
}

empty_rpc!(
    /// `CancelTransferResponse`, CPE to ACS (no arguments).
    CancelTransferResponse
);
