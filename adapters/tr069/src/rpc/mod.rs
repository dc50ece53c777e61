//! CWMP RPC methods, one module per method (TR-069 Amendment 6, Annex A.3 and A.4).
//!
//! Each module holds the request struct, its response struct and their parse / encode. Element
//! and field names are those of BBF `cwmp-1-2.xsd`. The [`Rpc`] enum gathers them all plus the
//! SOAP [`Fault`](fault::Fault).

pub mod add_object;
pub mod autonomous_du_state_change_complete;
pub mod autonomous_transfer_complete;
pub mod cancel_transfer;
pub mod change_du_state;
pub mod common;
pub mod delete_object;
pub mod download;
pub mod du_state_change_complete;
pub mod factory_reset;
pub mod fault;
pub mod get_parameter_attributes;
pub mod get_parameter_names;
pub mod get_parameter_values;
pub mod get_queued_transfers;
pub mod get_rpc_methods;
pub mod inform;
pub mod kicked;
pub mod reboot;
pub mod request_download;
pub mod schedule_download;
pub mod schedule_inform;
pub mod set_parameter_attributes;
pub mod set_parameter_values;
pub mod transfer_complete;
pub mod upload;
pub mod vouchers_and_options;

use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// One CWMP message body: its element name, how it is read and how it is written.
pub(crate) trait RpcMessage: Sized {
    /// Local name of the body element in the `cwmp` namespace.
    const NAME: &'static str;
    /// Reads the message from its body element.
    fn parse(el: &Element) -> Result<Self, CwmpError>;
    /// Writes the children of the body element.
    fn encode_body(&self, w: &mut XmlWriter);
}

/// Declares a message without arguments (an empty `<cwmp:Name/>` element).
macro_rules! empty_rpc {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $ty;

        impl $crate::rpc::RpcMessage for $ty {
            const NAME: &'static str = stringify!($ty);
            fn parse(
                _: &$crate::soap::xml::Element,
            ) -> Result<Self, $crate::error::CwmpError> {
                Ok($ty)
            }
            fn encode_body(&self, _: &mut $crate::soap::writer::XmlWriter) {}
        }
    };
}
pub(crate) use empty_rpc;

macro_rules! rpc_enum {
    ($($variant:ident($ty:ty),)*) => {
        /// Any CWMP message body: a request, a response, or a SOAP Fault.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Rpc {
            $(
                #[doc = concat!("`", stringify!($variant), "`, see [`", stringify!($ty), "`].")]
                $variant($ty),
            )*
            /// A SOAP Fault carrying a CWMP fault (TR-069 Amendment 6, A.5).
            Fault(fault::Fault),
        }

        impl Rpc {
            /// The body element's local name (`"Fault"` for a SOAP Fault).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Rpc::$variant(_) => <$ty as RpcMessage>::NAME,)*
                    Rpc::Fault(_) => "Fault",
                }
            }

            /// Every method name this codec reads and writes (not counting `Fault`).
            pub const METHOD_NAMES: &'static [&'static str] =
                &[$(<$ty as RpcMessage>::NAME,)*];

            /// Reads a body element that is in a CWMP namespace.
            pub(crate) fn parse_cwmp(el: &Element) -> Result<Rpc, CwmpError> {
                let name = el.name.as_str();
                $(
                    if name == <$ty as RpcMessage>::NAME {
                        return Ok(Rpc::$variant(<$ty as RpcMessage>::parse(el)?));
                    }
                )*
                Err(CwmpError::UnknownMethod {
                    method: name.to_owned(),
                    id: None,
                    namespace: None,
                })
            }

            /// Writes the body element (`<cwmp:Name>…</cwmp:Name>` or `<soap-env:Fault>`).
            pub(crate) fn encode(&self, w: &mut XmlWriter) {
                match self {
                    $(
                        Rpc::$variant(m) => {
                            let tag = concat!("cwmp:", stringify!($variant));
                            w.start(tag);
                            m.encode_body(w);
                            w.end(tag);
                        }
                    )*
                    Rpc::Fault(f) => f.encode(w),
                }
            }
        }

        $(
            impl From<$ty> for Rpc {
                fn from(m: $ty) -> Rpc {
                    Rpc::$variant(m)
                }
            }
        )*
    };
}

rpc_enum! {
    GetRPCMethods(get_rpc_methods::GetRPCMethods),
    GetRPCMethodsResponse(get_rpc_methods::GetRPCMethodsResponse),
    SetParameterValues(set_parameter_values::SetParameterValues),
    SetParameterValuesResponse(set_parameter_values::SetParameterValuesResponse),
    GetParameterValues(get_parameter_values::GetParameterValues),
    GetParameterValuesResponse(get_parameter_values::GetParameterValuesResponse),
    GetParameterNames(get_parameter_names::GetParameterNames),
    GetParameterNamesResponse(get_parameter_names::GetParameterNamesResponse),
    SetParameterAttributes(set_parameter_attributes::SetParameterAttributes),
    SetParameterAttributesResponse(set_parameter_attributes::SetParameterAttributesResponse),
    GetParameterAttributes(get_parameter_attributes::GetParameterAttributes),
    GetParameterAttributesResponse(get_parameter_attributes::GetParameterAttributesResponse),
    AddObject(add_object::AddObject),
    AddObjectResponse(add_object::AddObjectResponse),
    DeleteObject(delete_object::DeleteObject),
    DeleteObjectResponse(delete_object::DeleteObjectResponse),
    Download(download::Download),
    DownloadResponse(download::DownloadResponse),
    Reboot(reboot::Reboot),
    RebootResponse(reboot::RebootResponse),
    ScheduleInform(schedule_inform::ScheduleInform),
    ScheduleInformResponse(schedule_inform::ScheduleInformResponse),
    Upload(upload::Upload),
    UploadResponse(upload::UploadResponse),
    FactoryReset(factory_reset::FactoryReset),
    FactoryResetResponse(factory_reset::FactoryResetResponse),
    ScheduleDownload(schedule_download::ScheduleDownload),
    ScheduleDownloadResponse(schedule_download::ScheduleDownloadResponse),
    CancelTransfer(cancel_transfer::CancelTransfer),
    CancelTransferResponse(cancel_transfer::CancelTransferResponse),
    ChangeDUState(change_du_state::ChangeDUState),
    ChangeDUStateResponse(change_du_state::ChangeDUStateResponse),
    GetQueuedTransfers(get_queued_transfers::GetQueuedTransfers),
    GetQueuedTransfersResponse(get_queued_transfers::GetQueuedTransfersResponse),
    GetAllQueuedTransfers(get_queued_transfers::GetAllQueuedTransfers),
    GetAllQueuedTransfersResponse(get_queued_transfers::GetAllQueuedTransfersResponse),
    SetVouchers(vouchers_and_options::SetVouchers),
    SetVouchersResponse(vouchers_and_options::SetVouchersResponse),
    GetOptions(vouchers_and_options::GetOptions),
    GetOptionsResponse(vouchers_and_options::GetOptionsResponse),
    Inform(inform::Inform),
    InformResponse(inform::InformResponse),
    TransferComplete(transfer_complete::TransferComplete),
    TransferCompleteResponse(transfer_complete::TransferCompleteResponse),
    AutonomousTransferComplete(autonomous_transfer_complete::AutonomousTransferComplete),
    AutonomousTransferCompleteResponse(autonomous_transfer_complete::AutonomousTransferCompleteResponse),
    Kicked(kicked::Kicked),
    KickedResponse(kicked::KickedResponse),
    RequestDownload(request_download::RequestDownload),
    RequestDownloadResponse(request_download::RequestDownloadResponse),
    DUStateChangeComplete(du_state_change_complete::DUStateChangeComplete),
    DUStateChangeCompleteResponse(du_state_change_complete::DUStateChangeCompleteResponse),
    AutonomousDUStateChangeComplete(autonomous_du_state_change_complete::AutonomousDUStateChangeComplete),
    AutonomousDUStateChangeCompleteResponse(autonomous_du_state_change_complete::AutonomousDUStateChangeCompleteResponse),
}

impl From<fault::Fault> for Rpc {
    fn from(f: fault::Fault) -> Rpc {
        Rpc::Fault(f)
    }
}

impl Rpc {
    /// True for the methods a CPE sends to the ACS (TR-069 Amendment 6, A.3.3 and A.4.2, plus
    /// the CWMP 1.2 DU state change messages). `GetRPCMethods` goes both ways and is counted
    /// here because an ACS receives it as a request.
    pub fn is_cpe_request(&self) -> bool {
        matches!(
            self,
            Rpc::Inform(_)
                | Rpc::TransferComplete(_)
                | Rpc::AutonomousTransferComplete(_)
                | Rpc::Kicked(_)
                | Rpc::RequestDownload(_)
                | Rpc::DUStateChangeComplete(_)
                | Rpc::AutonomousDUStateChangeComplete(_)
                | Rpc::GetRPCMethods(_)
        )
    }

    /// True for a `…Response` message or a Fault, i.e. the answer to some request.
    pub fn is_response(&self) -> bool {
        matches!(self, Rpc::Fault(_)) || self.name().ends_with("Response")
    }
}
