//! AutonomousTransferComplete and its response
//! (TR-069 Amendment 6, A.3.3.3 AutonomousTransferComplete).

use super::common::{bool_of, req, text, text_or_empty, u32_of, FaultStruct};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `AutonomousTransferComplete`, CPE to ACS: a transfer the ACS did not request finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AutonomousTransferComplete {
    /// `AnnounceURL` (≤ 1024): where the transfer was announced (e.g. multicast).
    pub announce_url: String,
    /// `TransferURL` (≤ 1024).
    pub transfer_url: String,
    /// `IsDownload`.
    pub is_download: bool,
    /// `FileType`.
    pub file_type: String,
    /// `FileSize` in bytes.
    pub file_size: u32,
    /// `TargetFileName` (≤ 256).
    pub target_file_name: String,
    /// `FaultStruct`: code 0 on success.
    pub fault: FaultStruct,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
}

impl RpcMessage for AutonomousTransferComplete {
    const NAME: &'static str = "AutonomousTransferComplete";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        const P: &str = "AutonomousTransferComplete";
        Ok(AutonomousTransferComplete {
            announce_url: text_or_empty(el, "AnnounceURL"),
            transfer_url: text_or_empty(el, "TransferURL"),
            is_download: bool_of(el, P, "IsDownload")?,
            file_type: text(el, P, "FileType")?,
            file_size: u32_of(el, P, "FileSize")?,
            target_file_name: text_or_empty(el, "TargetFileName"),
            fault: FaultStruct::parse(req(el, P, "FaultStruct")?)?,
            start_time: text(el, P, "StartTime")?,
            complete_time: text(el, P, "CompleteTime")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("AnnounceURL", &self.announce_url);
        w.leaf("TransferURL", &self.transfer_url);
        w.leaf_bool("IsDownload", self.is_download);
        w.leaf("FileType", &self.file_type);
        w.leaf_num("FileSize", self.file_size);
        w.leaf("TargetFileName", &self.target_file_name);
        self.fault.encode(w, "FaultStruct");
        w.leaf("StartTime", &self.start_time);
        w.leaf("CompleteTime", &self.complete_time);
    }
}

empty_rpc!(
    /// `AutonomousTransferCompleteResponse`, ACS to CPE (no arguments).
    AutonomousTransferCompleteResponse
);
