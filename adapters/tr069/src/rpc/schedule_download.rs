//! ScheduleDownload and its response (TR-069 Amendment 6, A.4.1.8 ScheduleDownload).

use super::common::{array, i32_of, text, text_or_empty, u32_of};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `TimeWindowStruct`: when the CPE may download and apply the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TimeWindowStruct {
    /// `WindowStart`, seconds after the end of this session.
    pub window_start: u32,
    /// `WindowEnd`, seconds after the end of this session.
    pub window_end: u32,
    /// `WindowMode`: `1 At Any Time`, `2 Immediately`, `3 When Idle`, `4 Confirmation Needed`.
    pub window_mode: String,
    /// `UserMessage` (≤ 256) for `4 Confirmation Needed`.
    pub user_message: String,
    /// `MaxRetries` (-1 = CPE decides).
    pub max_retries: i32,
}

/// `ScheduleDownload`, ACS to CPE: a Download within one or two time windows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScheduleDownload {
    /// `CommandKey` (≤ 32).
    pub command_key: String,
    /// `FileType` (Download file types).
    pub file_type: String,
    /// `URL` (≤ 256).
    pub url: String,
    /// `Username` (≤ 256).
    pub username: String,
    /// `Password` (≤ 256).
    pub password: String,
    /// `FileSize` in bytes.
    pub file_size: u32,
    /// `TargetFileName` (≤ 256).
    pub target_file_name: String,
    /// `TimeWindowList` (1 or 2 windows).
    pub time_window_list: Vec<TimeWindowStruct>,
}

impl RpcMessage for ScheduleDownload {
    const NAME: &'static str = "ScheduleDownload";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        const T: &str = "TimeWindowStruct";
        let time_window_list = array(el, "ScheduleDownload", "TimeWindowList")?
            .iter()
            .map(|t| {
                Ok(TimeWindowStruct {
                    window_start: u32_of(t, T, "WindowStart")?,
                    window_end: u32_of(t, T, "WindowEnd")?,
                    window_mode: text(t, T, "WindowMode")?,
                    user_message: text_or_empty(t, "UserMessage"),
                    max_retries: i32_of(t, T, "MaxRetries")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(ScheduleDownload {
            command_key: text_or_empty(el, "CommandKey"),
            file_type: text(el, "ScheduleDownload", "FileType")?,
            url: text(el, "ScheduleDownload", "URL")?,
            username: text_or_empty(el, "Username"),
            password: text_or_empty(el, "Password"),
            file_size: u32_of(el, "ScheduleDownload", "FileSize")?,
            target_file_name: text_or_empty(el, "TargetFileName"),
            time_window_list,
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
        let list = &self.time_window_list;
        w.start_array("TimeWindowList", "cwmp:TimeWindowStruct", list.len());
        for t in list {
            w.start("TimeWindowStruct");
            w.leaf_num("WindowStart", t.window_start);
            w.leaf_num("WindowEnd", t.window_end);
            w.leaf("WindowMode", &t.window_mode);
            w.leaf("UserMessage", &t.user_message);
            w.leaf_num("MaxRetries", t.max_retries);
            w.end("TimeWindowStruct");
        }
        w.end("TimeWindowList");
    }
}

empty_rpc!(
    /// `ScheduleDownloadResponse`, CPE to ACS (no arguments).
    ScheduleDownloadResponse
);
