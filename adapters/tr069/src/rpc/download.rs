//! Download and its response (TR-069 Amendment 6, A.3.2.8 Download).

use super::common::{text, text_or_empty, u32_of};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// Standard Download `FileType` values (BBF `cwmp-1-2.xsd` `DownloadFileType`).
pub mod file_type {
    /// Firmware image.
    pub const FIRMWARE_UPGRADE_IMAGE: &str = "1 Firmware Upgrade Image";
    /// Web content.
    pub const WEB_CONTENT: &str = "2 Web Content";
    /// Vendor configuration file.
    pub const VENDOR_CONFIGURATION_FILE: &str = "3 Vendor Configuration File";
    /// Tone file.
    pub const TONE_FILE: &str = "4 Tone File";
    /// Ringer file.
    pub const RINGER_FILE: &str = "5 Ringer File";
}

/// `Download`, ACS to CPE: fetch a file (firmware, configuration, …) from a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Download {
    /// `CommandKey` (≤ 32), echoed in TransferComplete.
    pub command_key: String,
    /// `FileType`, e.g. [`file_type::FIRMWARE_UPGRADE_IMAGE`].
    pub file_type: String,
    /// `URL` (≤ 256).
    pub url: String,
    /// `Username` (≤ 256).
    pub username: String,
    /// `Password` (≤ 256).
    pub password: String,
    /// `FileSize` in bytes (0 when unknown).
    pub file_size: u32,
    /// `TargetFileName` (≤ 256).
    pub target_file_name: String,
    /// `DelaySeconds` before the download starts.
    pub delay_seconds: u32,
    /// `SuccessURL` (≤ 256).
    pub success_url: String,
    /// `FailureURL` (≤ 256).
    pub failure_url: String,
}

impl RpcMessage for Download {
    const NAME: &'static str = "Download";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(Download {
            command_key: text_or_empty(el, "CommandKey"),
            file_type: text(el, "Download", "FileType")?,
            url: text(el, "Download", "URL")?,
            username: text_or_empty(el, "Username"),
            password: text_or_empty(el, "Password"),
            file_size: u32_of(el, "Download", "FileSize")?,
            target_file_name: text_or_empty(el, "TargetFileName"),
            delay_seconds: u32_of(el, "Download", "DelaySeconds")?,
            success_url: text_or_empty(el, "SuccessURL"),
            failure_url: text_or_empty(el, "FailureURL"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("CommandKey", &self.command_key);
        w.leaf("FileType", &self.file_type);
        w.leaf("URL", &self.url);
        w.leaf("Username", &self.username);
        w.leaf("Password", &self.password);
        w.leaf_num("FileSize", self.file_size);
        w.leaf("TargetFileName", &self.target_file_name);
        w.leaf_num("DelaySeconds", self.delay_seconds);
        w.leaf("SuccessURL", &self.success_url);
        w.leaf("FailureURL", &self.failure_url);
    }
}

/// `DownloadResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DownloadResponse {
    /// `Status`: 0 completed and applied; 1 not yet (a TransferComplete follows).
    pub status: u32,
    /// `StartTime` (Unknown Time `0001-01-01T00:00:00Z` when status is 1).
    pub start_time: String,
    /// `CompleteTime` (Unknown Time when status is 1).
    pub complete_time: String,
}

impl DownloadResponse {
    pub(crate) fn parse_named(el: &Element, parent: &'static str) -> Result<Self, CwmpError> {
        Ok(DownloadResponse {
            status: u32_of(el, parent, "Status")?,
            start_time: text(el, parent, "StartTime")?,
            complete_time: text(el, parent, "CompleteTime")?,
        })
    }
}

impl RpcMessage for DownloadResponse {
    const NAME: &'static str = "DownloadResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        DownloadResponse::parse_named(el, "DownloadResponse")
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("Status", self.status);
        w.leaf("StartTime", &self.start_time);
        w.leaf("CompleteTime", &self.complete_time);
    }
}
