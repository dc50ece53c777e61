//! Upload and its response (TR-069 Amendment 6, A.4.1.5 Upload).

use super::common::{text, text_or_empty, u32_of};
use super::download::DownloadResponse;
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// Standard Upload `FileType` values (BBF `cwmp-1-2.xsd` `UploadFileType`).
pub mod file_type {
    /// Vendor configuration file.
    pub const VENDOR_CONFIGURATION_FILE: &str = "1 Vendor Configuration File";
    /// Vendor log file.
    pub const VENDOR_LOG_FILE: &str = "2 Vendor Log File";
}

/// `Upload`, ACS to CPE: send a configuration or log file to a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Upload {
    /// `CommandKey` (≤ 32), echoed in TransferComplete.
    pub command_key: String,
    /// `FileType`, e.g. [`file_type::VENDOR_LOG_FILE`].
    pub file_type: String,
    /// `URL` (≤ 256).
    pub url: String,
    /// `Username` (≤ 256).
    pub username: String,
    /// `Password` (≤ 256).
    pub password: String,
    /// `DelaySeconds` before the upload starts.
    pub delay_seconds: u32,
}

impl RpcMessage for Upload {
    const NAME: &'static str = "Upload";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(Upload {
            command_key: text_or_empty(el, "CommandKey"),
            file_type: text(el, "Upload", "FileType")?,
            url: text(el, "Upload", "URL")?,
            username: text_or_empty(el, "Username"),
            password: text_or_empty(el, "Password"),
            delay_seconds: u32_of(el, "Upload", "DelaySeconds")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("CommandKey", &self.command_key);
        w.leaf("FileType", &self.file_type);
        w.leaf("URL", &self.url);
        w.leaf("Username", &self.username);
        w.leaf("Password", &self.password);
        w.leaf_num("DelaySeconds", self.delay_seconds);
    }
}

/// `UploadResponse`, CPE to ACS: same fields as [`DownloadResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UploadResponse {
    /// `Status`: 0 completed; 1 not yet (a TransferComplete follows).
    pub status: u32,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
}

impl RpcMessage for UploadResponse {
    const NAME: &'static str = "UploadResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let r = DownloadResponse::parse_named(el, "UploadResponse")?;
        Ok(UploadResponse { status: r.status, start_time: r.start_time, complete_time: r.complete_time })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("Status", self.status);
        w.leaf("StartTime", &self.start_time);
        w.leaf("CompleteTime", &self.complete_time);
    }
}
