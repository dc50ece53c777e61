//! GetQueuedTransfers and GetAllQueuedTransfers with their responses
//! (TR-069 Amendment 6, A.4.1.1 GetQueuedTransfers, A.4.1.7 GetAllQueuedTransfers).

use super::common::{array, bool_of, i32_of, text, text_or_empty, u32_of};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

empty_rpc!(
    /// `GetQueuedTransfers`, ACS to CPE: lists transfers the ACS requested (no arguments).
    GetQueuedTransfers
);

empty_rpc!(
    /// `GetAllQueuedTransfers`, ACS to CPE: lists all transfers, ACS-requested or autonomous
    /// (no arguments).
    GetAllQueuedTransfers
);

/// `QueuedTransferStruct`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct QueuedTransferStruct {
    /// `CommandKey` of the transfer request.
    pub command_key: String,
    /// `State`: 1 not yet started, 2 in progress, 3 completed.
    pub state: i32,
}

/// `GetQueuedTransfersResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetQueuedTransfersResponse {
    /// `TransferList` (at most 16).
    pub transfer_list: Vec<QueuedTransferStruct>,
}

impl RpcMessage for GetQueuedTransfersResponse {
    const NAME: &'static str = "GetQueuedTransfersResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let transfer_list = array(el, "GetQueuedTransfersResponse", "TransferList")?
            .iter()
            .map(|t| {
                Ok(QueuedTransferStruct {
                    command_key: text_or_empty(t, "CommandKey"),
                    state: i32_of(t, "QueuedTransferStruct", "State")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(GetQueuedTransfersResponse { transfer_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.transfer_list;
        w.start_array("TransferList", "cwmp:QueuedTransferStruct", list.len());
        for t in list {
            w.start("QueuedTransferStruct");
            w.leaf("CommandKey", &t.command_key);
            w.leaf_num("State", t.state);
            w.end("QueuedTransferStruct");
        }
        w.end("TransferList");
    }
}

/// `AllQueuedTransferStruct`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AllQueuedTransferStruct {
    /// `CommandKey` (empty for autonomous transfers).
    pub command_key: String,
    /// `State`: 1 not yet started, 2 in progress, 3 completed.
    pub state: i32,
    /// `IsDownload`.
    pub is_download: bool,
    /// `FileType`.
    pub file_type: String,
    /// `FileSize` in bytes.
    pub file_size: u32,
    /// `TargetFileName` (≤ 256).
    pub target_file_name: String,
}

/// `GetAllQueuedTransfersResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetAllQueuedTransfersResponse {
    /// `TransferList` (at most 16).
    pub transfer_list: Vec<AllQueuedTransferStruct>,
}

impl RpcMessage for GetAllQueuedTransfersResponse {
    const NAME: &'static str = "GetAllQueuedTransfersResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        const S: &str = "AllQueuedTransferStruct";
        let transfer_list = array(el, "GetAllQueuedTransfersResponse", "TransferList")?
            .iter()
            .map(|t| {
                Ok(AllQueuedTransferStruct {
                    command_key: text_or_empty(t, "CommandKey"),
                    state: i32_of(t, S, "State")?,
                    is_download: bool_of(t, S, "IsDownload")?,
                    file_type: text(t, S, "FileType")?,
                    file_size: u32_of(t, S, "FileSize")?,
                    target_file_name: text_or_empty(t, "TargetFileName"),
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(GetAllQueuedTransfersResponse { transfer_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.transfer_list;
        w.start_array("TransferList", "cwmp:AllQueuedTransferStruct", list.len());
        for t in list {
            w.start("AllQueuedTransferStruct");
            w.leaf("CommandKey", &t.command_key);
            w.leaf_num("State", t.state);
            w.leaf_bool("IsDownload", t.is_download);
            w.leaf("FileType", &t.file_type);
            w.leaf_num("FileSize", t.file_size);
            w.leaf("TargetFileName", &t.target_file_name);
            w.end("AllQueuedTransferStruct");
        }
        w.end("TransferList");
    }
}
