//! CWMP faults: the fault code table and the SOAP Fault that carries them
//! (TR-069 Amendment 6, A.5 "Fault Handling"; BBF `cwmp-1-2.xsd` `Fault`, fault code types;
//! 8006 from `cwmp-1-4.xsd`).

use crate::error::CwmpError;
use crate::rpc::common::{text, text_or_empty, u32_of};
use crate::soap::writer::XmlWriter;
use crate::soap::xml::{Element, Ns};
use crate::soap::CwmpNamespace;

macro_rules! fault_codes {
    ($($variant:ident = $code:literal, $text:literal;)*) => {
        /// A CWMP fault code: 8000-8006 are sent by the ACS, 9000-9032 by the CPE; anything else
        /// (vendor 8800-8899 / 9800-9899, reserved) is kept as [`FaultCode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FaultCode {
            $(
                #[doc = concat!(stringify!($code), " ", $text)]
                $variant,
            )*
            /// A code outside the standard table.
            Other(u32),
        }

        impl FaultCode {
            /// The numeric code.
            pub fn code(self) -> u32 {
                match self {
                    $(FaultCode::$variant => $code,)*
                    FaultCode::Other(c) => c,
                }
            }

            /// The code for a number; unknown numbers become [`FaultCode::Other`].
            pub fn from_code(code: u32) -> FaultCode {
                match code {
                    $($code => FaultCode::$variant,)*
                    c => FaultCode::Other(c),
                }
            }

            /// The standard fault string from the TR-069 fault code table
            /// (`None` for [`FaultCode::Other`]).
            pub fn standard_string(self) -> Option<&'static str> {
                match self {
                    $(FaultCode::$variant => Some($text),)*
                    FaultCode::Other(_) => None,
                }
            }
        }
    };
}

fault_codes! {
    AcsMethodNotSupported = 8000, "Method not supported";
    AcsRequestDenied = 8001, "Request denied (no reason specified)";
    AcsInternalError = 8002, "Internal error";
    AcsInvalidArguments = 8003, "Invalid arguments";
    AcsResourcesExceeded = 8004, "Resources exceeded";
    AcsRetryRequest = 8005, "Retry request";
    AcsVersionIncompatible = 8006, "ACS version incompatible with CPE";
    MethodNotSupported = 9000, "Method not supported";
    RequestDenied = 9001, "Request denied (no reason specified)";
    InternalError = 9002, "Internal error";
    InvalidArguments = 9003, "Invalid arguments";
    ResourcesExceeded = 9004, "Resources exceeded";
    InvalidParameterName = 9005, "Invalid parameter name";
    InvalidParameterType = 9006, "Invalid parameter type";
    InvalidParameterValue = 9007, "Invalid parameter value";
    NonWritableParameter = 9008, "Attempt to set a non-writable parameter";
    NotificationRequestRejected = 9009, "Notification request rejected";
    FileTransferFailure = 9010, "File transfer failure";
    UploadFailure = 9011, "Upload failure";
    FileTransferServerAuthenticationFailure = 9012, "File transfer server authentication failure";
    UnsupportedProtocol = 9013, "Unsupported protocol for file transfer";
    MulticastJoinFailure = 9014, "File transfer failure: unable to join multicast group";
    FileServerUnreachable = 9015, "File transfer failure: unable to contact file server";
    FileAccessFailure = 9016, "File transfer failure: unable to access file";
    DownloadIncomplete = 9017, "File transfer failure: unable to complete download";
    FileCorrupted = 9018, "File transfer failure: file corrupted";
    FileAuthenticationFailure = 9019, "File transfer failure: file authentication failure";
    TimeWindowsExceeded = 9020, "File transfer failure: unable to complete download within specified time windows";
    CancelNotPermitted = 9021, "Cancelation of file transfer not permitted in current transfer state";
    InvalidUuidFormat = 9022, "Invalid UUID Format";
    UnknownExecutionEnvironment = 9023, "Unknown Execution Environment";
    DisabledExecutionEnvironment = 9024, "Disabled Execution Environment";
    DeploymentUnitEnvironmentMismatch = 9025, "Deployment Unit to Execution Environment Mismatch";
    DuplicateDeploymentUnit = 9026, "Duplicate Deployment Unit";
    SystemResourcesExceeded = 9027, "System Resources Exceeded";
    UnknownDeploymentUnit = 9028, "Unknown Deployment Unit";
    InvalidDeploymentUnitState = 9029, "Invalid Deployment Unit State";
    DowngradeNotPermitted = 9030, "Invalid Deployment Unit Update \u{2013} Downgrade not permitted";
    VersionNotSpecified = 9031, "Invalid Deployment Unit Update \u{2013} Version not specified";
    VersionAlreadyExists = 9032, "Invalid Deployment Unit Update \u{2013} Version already exists";
}

impl FaultCode {
    /// The SOAP `faultcode` that goes with this code: `Client` when the request itself was
    /// wrong (invalid arguments, names, types, values, non-writable), `Server` otherwise.
    pub fn actor(self) -> FaultActor {
        match self.code() {
            8003 | 9003 | 9005 | 9006 | 9007 | 9008 => FaultActor::Client,
            _ => FaultActor::Server,
        }
    }
}

/// The SOAP 1.1 `faultcode` (`Client` or `Server`; written unqualified as CWMP does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultActor {
    /// The message was incorrectly formed or contained incorrect information.
    Client,
    /// The message could not be processed for reasons not directly attributable to its contents.
    Server,
    /// Any other `faultcode`, without its prefix.
    Other(String),
}

impl FaultActor {
    fn as_str(&self) -> &str {
        match self {
            FaultActor::Client => "Client",
            FaultActor::Server => "Server",
            FaultActor::Other(s) => s,
        }
    }
}

/// One `SetParameterValuesFault` entry: which parameter failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetParameterValuesFault {
    /// `ParameterName`.
    pub parameter_name: String,
    /// `FaultCode` (a CPE code).
    pub fault_code: FaultCode,
    /// `FaultString`.
    pub fault_string: String,
}

/// The `cwmp:Fault` element inside the SOAP Fault `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CwmpFault {
    /// `FaultCode`.
    pub fault_code: FaultCode,
    /// `FaultString`.
    pub fault_string: String,
    /// `SetParameterValuesFault` entries (only in answer to SetParameterValues).
    pub set_parameter_values_faults: Vec<SetParameterValuesFault>,
}

/// A SOAP 1.1 Fault as CWMP uses it: `faultcode`, `faultstring` ("CWMP fault") and a `detail`
/// holding `cwmp:Fault`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    /// `faultcode`.
    pub actor: FaultActor,
    /// `faultstring`.
    pub fault_string: String,
    /// `detail/cwmp:Fault`, when present.
    pub detail: Option<CwmpFault>,
}

impl Fault {
    /// A fault with the standard actor and text for `code` and `faultstring` "CWMP fault".
    pub fn new(code: FaultCode) -> Self {
        Fault {
            actor: code.actor(),
            fault_string: "CWMP fault".to_owned(),
            detail: Some(CwmpFault {
                fault_code: code,
                fault_string: code.standard_string().unwrap_or_default().to_owned(),
                set_parameter_values_faults: Vec::new(),
            }),
        }
    }

    /// The CWMP fault code, when the detail is present.
    pub fn code(&self) -> Option<FaultCode> {
        self.detail.as_ref().map(|d| d.fault_code)
    }

    /// Reads a `soap-env:Fault`; also returns the CWMP namespace of its detail, if any.
    pub(crate) fn parse(el: &Element) -> Result<(Fault, Option<CwmpNamespace>), CwmpError> {
        let raw = text(el, "Fault", "faultcode")?;
        let local = raw.trim().rsplit(':').next().unwrap_or_default();
        let actor = match local {
            "Client" => FaultActor::Client,
            "Server" => FaultActor::Server,
            other => FaultActor::Other(other.to_owned()),
        };
        let fault_string = text_or_empty(el, "faultstring");
        let mut ns = None;
        let mut detail = None;
        if let Some(cf) = el.child("detail").and_then(|d| d.child("Fault")) {
            match &cf.ns {
                Ns::Cwmp(v) => ns = Some(*v),
                other => {
                    return Err(CwmpError::WrongNamespace {
                        element: "Fault".into(),
                        expected: "a CWMP namespace",
                        found: other.uri(),
                    })
                }
            }
            let mut spv = Vec::new();
            for entry in cf.children_named("SetParameterValuesFault") {
                spv.push(SetParameterValuesFault {
                    parameter_name: text(entry, "SetParameterValuesFault", "ParameterName")?,
                    fault_code: FaultCode::from_code(u32_of(entry, "SetParameterValuesFault", "FaultCode")?),
                    fault_string: text_or_empty(entry, "FaultString"),
                });
            }
            detail = Some(CwmpFault {
                fault_code: FaultCode::from_code(u32_of(cf, "Fault", "FaultCode")?),
                fault_string: text_or_empty(cf, "FaultString"),
                set_parameter_values_faults: spv,
            });
        }
        Ok((Fault { actor, fault_string, detail }, ns))
    }

    /// Writes `<soap-env:Fault>`.
    pub(crate) fn encode(&self, w: &mut XmlWriter) {
        w.start("soap-env:Fault");
        w.leaf("faultcode", self.actor.as_str());
        w.leaf("faultstring", &self.fault_string);
        if let Some(d) = &self.detail {
            w.start("detail");
            w.start("cwmp:Fault");
            w.leaf_num("FaultCode", d.fault_code.code());
            w.leaf("FaultString", &d.fault_string);
            for f in &d.set_parameter_values_faults {
                w.start("SetParameterValuesFault");
                w.leaf("ParameterName", &f.parameter_name);
                w.leaf_num("FaultCode", f.fault_code.code());
                w.leaf("FaultString", &f.fault_string);
                w.end("SetParameterValuesFault");
            }
            w.end("cwmp:Fault");
            w.end("detail");
        }
        w.end("soap-env:Fault");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        for code in (8000..=8006).chain(9000..=9032) {
            let fc = FaultCode::from_code(code);
            assert_eq!(fc.code(), code);
            assert!(fc.standard_string().is_some(), "{code}");
        }
        assert_eq!(FaultCode::from_code(9800), FaultCode::Other(9800));
        assert_eq!(FaultCode::AcsMethodNotSupported.standard_string(), Some("Method not supported"));
        assert_eq!(FaultCode::InvalidParameterName.actor(), FaultActor::Client);
        assert_eq!(FaultCode::InternalError.actor(), FaultActor::Server);
    }
}
