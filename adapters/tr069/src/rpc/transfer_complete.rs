//! TransferComplete and its response (TR-069 Amendment 6, A.3.3.2 TransferComplete).

use super::common::{req, text, text_or_empty, FaultStruct};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `TransferComplete`, CPE to ACS: the outcome of an earlier Download / Upload /
/// ScheduleDownload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TransferComplete {
    /// `CommandKey` of the transfer request.
    pub command_key: String,
    /// `FaultStruct`: code 0 on success.
    pub fault: FaultStruct,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
}

impl RpcMessage for TransferComplete {
    const NAME: &'static str = "TransferComplete";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(TransferComplete {
            command_key: text_or_empty(el, "CommandKey"),
            fault: FaultStruct::parse(req(el, "TransferComplete", "FaultStruct")?)?,
            start_time: text(el, "TransferComplete", "StartTime")?,
            complete_time: text(el, "TransferComplete", "CompleteTime")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("CommandKey", &self.command_key);
        self.fault.encode(w, "FaultStruct");
        w.leaf("StartTime", &self.start_time);
        w.leaf("CompleteTime", &self.complete_time);
    }
}

empty_rpc!(
    /// `TransferCompleteResponse`, ACS to CPE (no arguments).
    TransferCompleteResponse
);
