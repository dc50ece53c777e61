//! Inform and InformResponse (TR-069 Amendment 6, A.3.3.1 Inform).

use super::common::{
    encode_parameter_values, parse_parameter_values, req, text, text_or_empty, u32_of, ParameterValueStruct,
};
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// Standard `EventCode` values (TR-069 Amendment 6, A.3.3.1 Table "Event Types";
/// BBF `cwmp-1-2.xsd` `EventCodeType`, `13 WAKEUP` from `cwmp-1-4.xsd`).
pub mod event_code {
    /// First session after installation or after the ACS URL changed.
    pub const BOOTSTRAP: &str = "0 BOOTSTRAP";
    /// Session after power-up or reboot.
    pub const BOOT: &str = "1 BOOT";
    /// Periodic Inform.
    pub const PERIODIC: &str = "2 PERIODIC";
    /// Inform requested by ScheduleInform.
    pub const SCHEDULED: &str = "3 SCHEDULED";
    /// A parameter with notification changed.
    pub const VALUE_CHANGE: &str = "4 VALUE CHANGE";
    /// Session caused by a Kicked RPC.
    pub const KICKED: &str = "5 KICKED";
    /// Session caused by a connection request.
    pub const CONNECTION_REQUEST: &str = "6 CONNECTION REQUEST";
    /// A Download or Upload completed.
    pub const TRANSFER_COMPLETE: &str = "7 TRANSFER COMPLETE";
    /// A diagnostics test completed.
    pub const DIAGNOSTICS_COMPLETE: &str = "8 DIAGNOSTICS COMPLETE";
    /// The CPE wants to call RequestDownload.
    pub const REQUEST_DOWNLOAD: &str = "9 REQUEST DOWNLOAD";
    /// A transfer not requested by the ACS completed.
    pub const AUTONOMOUS_TRANSFER_COMPLETE: &str = "10 AUTONOMOUS TRANSFER COMPLETE";
    /// A ChangeDUState completed.
    pub const DU_STATE_CHANGE_COMPLETE: &str = "11 DU STATE CHANGE COMPLETE";
    /// An autonomous DU state change completed.
    pub const AUTONOMOUS_DU_STATE_CHANGE_COMPLETE: &str = "12 AUTONOMOUS DU STATE CHANGE COMPLETE";
    /// The CPE woke up (protocol 1.4).
    pub const WAKEUP: &str = "13 WAKEUP";
    /// Method event: a Reboot was carried out.
    pub const M_REBOOT: &str = "M Reboot";
    /// Method event: the Inform was scheduled by ScheduleInform.
    pub const M_SCHEDULE_INFORM: &str = "M ScheduleInform";
    /// Method event: a Download completed.
    pub const M_DOWNLOAD: &str = "M Download";
    /// Method event: a ScheduleDownload completed.
    pub const M_SCHEDULE_DOWNLOAD: &str = "M ScheduleDownload";
    /// Method event: an Upload completed.
    pub const M_UPLOAD: &str = "M Upload";
    /// Method event: a ChangeDUState completed.
    pub const M_CHANGE_DU_STATE: &str = "M ChangeDUState";
}

/// `DeviceIdStruct`: the device's identity (BBF `cwmp-1-2.xsd`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeviceIdStruct {
    /// `Manufacturer` (≤ 64).
    pub manufacturer: String,
    /// `OUI` (6 hex digits).
    pub oui: String,
    /// `ProductClass` (≤ 64, may be empty).
    pub product_class: String,
    /// `SerialNumber` (≤ 64).
    pub serial_number: String,
}

/// `EventStruct`: one event that caused the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EventStruct {
    /// `EventCode`, e.g. [`event_code::BOOT`].
    pub event_code: String,
    /// `CommandKey` of the RPC behind an `M …` event, else empty.
    pub command_key: String,
}

/// `Inform`, CPE to ACS: opens every session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Inform {
    /// `DeviceId`.
    pub device_id: DeviceIdStruct,
    /// `Event` (array of EventStruct, at most 64).
    pub events: Vec<EventStruct>,
    /// `MaxEnvelopes` (the CPE's limit; CWMP 1.x CPEs send 1).
    pub max_envelopes: u32,
    /// `CurrentTime` (xsd:dateTime, as sent).
    pub current_time: String,
    /// `RetryCount`: failed session attempts since the last success.
    pub retry_count: u32,
    /// `ParameterList`: forced-inform and notified parameters.
    pub parameter_list: Vec<ParameterValueStruct>,
}

impl Inform {
    /// Whether the Inform carries an event with this code.
    pub fn has_event(&self, code: &str) -> bool {
        self.events.iter().any(|e| e.event_code == code)
    }
}

impl RpcMessage for Inform {
    const NAME: &'static str = "Inform";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let d = req(el, "Inform", "DeviceId")?;
        let device_id = DeviceIdStruct {
            manufacturer: text(d, "DeviceId", "Manufacturer")?,
            oui: text(d, "DeviceId", "OUI")?,
            product_class: text_or_empty(d, "ProductClass"),
            serial_number: text(d, "DeviceId", "SerialNumber")?,
        };
        let events = super::common::array(el, "Inform", "Event")?
            .iter()
            .map(|e| {
                Ok(EventStruct {
                    event_code: text(e, "EventStruct", "EventCode")?,
                    command_key: text_or_empty(e, "CommandKey"),
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(Inform {
            device_id,
            events,
            max_envelopes: u32_of(el, "Inform", "MaxEnvelopes")?,
            current_time: text(el, "Inform", "CurrentTime")?,
            retry_count: u32_of(el, "Inform", "RetryCount")?,
            parameter_list: parse_parameter_values(el, "Inform")?,
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.start("DeviceId");
        w.leaf("Manufacturer", &self.device_id.manufacturer);
        w.leaf("OUI", &self.device_id.oui);
        w.leaf("ProductClass", &self.device_id.product_class);
        w.leaf("SerialNumber", &self.device_id.serial_number);
        w.end("DeviceId");
        w.start_array("Event", "cwmp:EventStruct", self.events.len());
        for e in &self.events {
            w.start("EventStruct");
            w.leaf("EventCode", &e.event_code);
            w.leaf("CommandKey", &e.command_key);
            w.end("EventStruct");
        }
        w.end("Event");
        w.leaf_num("MaxEnvelopes", self.max_envelopes);
        w.leaf("CurrentTime", &self.current_time);
        w.leaf_num("RetryCount", self.retry_count);
        encode_parameter_values(w, &self.parameter_list);
    }
}

/// `InformResponse`, ACS to CPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InformResponse {
    /// `MaxEnvelopes`: the ACS's limit (always 1 in practice).
    pub max_envelopes: u32,
}

impl Default for InformResponse {
    fn default() -> Self {
        InformResponse { max_envelopes: 1 }
    }
}

impl RpcMessage for InformResponse {
    const NAME: &'static str = "InformResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(InformResponse { max_envelopes: u32_of(el, "InformResponse", "MaxEnvelopes")? })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf_num("MaxEnvelopes", self.max_envelopes);
    }
}
