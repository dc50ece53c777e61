//! proptest strategies for every CWMP message, shared by the integration tests.

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use unidm_tr069::rpc::add_object::*;
use unidm_tr069::rpc::autonomous_du_state_change_complete::*;
use unidm_tr069::rpc::autonomous_transfer_complete::*;
use unidm_tr069::rpc::cancel_transfer::*;
use unidm_tr069::rpc::change_du_state::*;
use unidm_tr069::rpc::common::{FaultStruct, ParameterValueStruct};
use unidm_tr069::rpc::delete_object::*;
use unidm_tr069::rpc::download::*;
use unidm_tr069::rpc::du_state_change_complete::*;
use unidm_tr069::rpc::factory_reset::*;
use unidm_tr069::rpc::fault::*;
use unidm_tr069::rpc::get_parameter_attributes::*;
use unidm_tr069::rpc::get_parameter_names::*;
use unidm_tr069::rpc::get_parameter_values::*;
use unidm_tr069::rpc::get_queued_transfers::*;
use unidm_tr069::rpc::get_rpc_methods::*;
use unidm_tr069::rpc::inform::*;
use unidm_tr069::rpc::kicked::*;
use unidm_tr069::rpc::reboot::*;
use unidm_tr069::rpc::request_download::*;
use unidm_tr069::rpc::schedule_download::*;
use unidm_tr069::rpc::schedule_inform::*;
use unidm_tr069::rpc::set_parameter_attributes::*;
use unidm_tr069::rpc::set_parameter_values::*;
use unidm_tr069::rpc::transfer_complete::*;
use unidm_tr069::rpc::upload::*;
use unidm_tr069::rpc::vouchers_and_options::*;
use unidm_tr069::soap::{Value, XsdType};
use unidm_tr069::{CwmpNamespace, Envelope, Header, Rpc};

/// Text including XML metacharacters, whitespace that must survive, and non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .&<>\"'_:/\t\r\n\u{e9}\u{20ac}-]{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(text())
}

fn list<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    vec(s, 0..4)
}

pub fn xsd_type() -> impl Strategy<Value = XsdType> {
    prop_oneof![
        Just(XsdType::String),
        Just(XsdType::Int),
        Just(XsdType::UnsignedInt),
        Just(XsdType::Long),
        Just(XsdType::UnsignedLong),
        Just(XsdType::Boolean),
        Just(XsdType::DateTime),
        Just(XsdType::Base64),
        Just(XsdType::HexBinary),
        Just(XsdType::Decimal),
        Just(XsdType::Other("anyURI".into())),
    ]
}

pub fn pvs() -> impl Strategy<Value = ParameterValueStruct> {
    (text(), xsd_type(), text()).prop_map(|(n, t, v)| ParameterValueStruct::new(n, Value::new(t, v)))
}

fn fault_struct() -> impl Strategy<Value = FaultStruct> {
    (any::<u32>(), text()).prop_map(|(fault_code, fault_string)| FaultStruct { fault_code, fault_string })
}

fn inform() -> impl Strategy<Value = Inform> {
    let device = (text(), text(), text(), text()).prop_map(|(m, o, p, s)| DeviceIdStruct {
        manufacturer: m,
        oui: o,
        product_class: p,
        serial_number: s,
    });
    let event = (text(), text()).prop_map(|(event_code, command_key)| EventStruct { event_code, command_key });
    (device, list(event), any::<u32>(), text(), any::<u32>(), list(pvs())).prop_map(
        |(device_id, events, max_envelopes, current_time, retry_count, parameter_list)| Inform {
            device_id,
            events,
            max_envelopes,
            current_time,
            retry_count,
            parameter_list,
        },
    )
}

fn op_result() -> impl Strategy<Value = OpResultStruct> {
    ((text(), text(), text(), text()), any::<bool>(), (text(), text(), text()), fault_struct()).prop_map(
        |((uuid, dur, version, state), resolved, (eul, st, ct), fault)| OpResultStruct {
            uuid,
            deployment_unit_ref: dur,
            version,
            current_state: state,
            resolved,
            execution_unit_ref_list: eul,
            start_time: st,
            complete_time: ct,
            fault,
        },
    )
}

fn operation() -> impl Strategy<Value = OperationStruct> {
    prop_oneof![
        (text(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(|(url, uuid, u, p, e)| {
            OperationStruct::Install(InstallOpStruct { url, uuid, username: u, password: p, execution_env_ref: e })
        }),
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
            |(uuid, version, url, username, password)| OperationStruct::Update(UpdateOpStruct {
                uuid,
                version,
                url,
                username,
                password,
            })
        ),
        (text(), opt_text(), opt_text()).prop_map(|(uuid, version, e)| {
            OperationStruct::Uninstall(UninstallOpStruct { uuid, version, execution_env_ref: e })
        }),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    let actor = prop_oneof![
        Just(FaultActor::Client),
        Just(FaultActor::Server),
        Just(FaultActor::Other("VersionMismatch".into())),
    ];
    let spv = (text(), 9000u32..9900, text()).prop_map(|(n, c, s)| SetParameterValuesFault {
        parameter_name: n,
        fault_code: FaultCode::from_code(c),
        fault_string: s,
    });
    let detail = (8000u32..9900, text(), list(spv)).prop_map(|(c, s, l)| CwmpFault {
        fault_code: FaultCode::from_code(c),
        fault_string: s,
        set_parameter_values_faults: l,
    });
    (actor, text(), option::of(detail)).prop_map(|(actor, fault_string, detail)| Fault { actor, fault_string, detail })
}

fn transfer_request() -> impl Strategy<Value = Rpc> {
    let download = ((text(), text(), text(), text(), text()), any::<u32>(), text(), any::<u32>(), (text(), text()))
        .prop_map(|((ck, ft, url, u, p), size, tfn, delay, (s, f))| {
            Rpc::from(Download {
                command_key: ck,
                file_type: ft,
                url,
                username: u,
                password: p,
                file_size: size,
                target_file_name: tfn,
                delay_seconds: delay,
                success_url: s,
                failure_url: f,
            })
        });
    let upload = (text(), text(), text(), text(), text(), any::<u32>()).prop_map(|(ck, ft, url, u, p, delay)| {
        Rpc::from(Upload { command_key: ck, file_type: ft, url, username: u, password: p, delay_seconds: delay })
    });
    let window = (any::<u32>(), any::<u32>(), text(), text(), any::<i32>()).prop_map(|(s, e, m, u, r)| {
        TimeWindowStruct { window_start: s, window_end: e, window_mode: m, user_message: u, max_retries: r }
    });
    let schedule = ((text(), text(), text(), text(), text()), any::<u32>(), text(), list(window)).prop_map(
        |((ck, ft, url, u, p), size, tfn, w)| {
            Rpc::from(ScheduleDownload {
                command_key: ck,
                file_type: ft,
                url,
                username: u,
                password: p,
                file_size: size,
                target_file_name: tfn,
                time_window_list: w,
            })
        },
    );
    prop_oneof![
        download,
        upload,
        schedule,
        (any::<u32>(), text(), text()).prop_map(|(status, s, c)| Rpc::from(DownloadResponse {
            status,
            start_time: s,
            complete_time: c
        })),
        (any::<u32>(), text(), text()).prop_map(|(status, s, c)| Rpc::from(UploadResponse {
            status,
            start_time: s,
            complete_time: c
        })),
        text().prop_map(|command_key| Rpc::from(CancelTransfer { command_key })),
        (vec(operation(), 1..4), opt_text())
            .prop_map(|(operations, command_key)| Rpc::from(ChangeDUState { operations, command_key })),
    ]
}

fn cpe_request() -> impl Strategy<Value = Rpc> {
    let tc = (text(), fault_struct(), text(), text()).prop_map(|(ck, f, s, c)| {
        Rpc::from(TransferComplete { command_key: ck, fault: f, start_time: s, complete_time: c })
    });
    let atc = ((text(), text(), any::<bool>(), text()), any::<u32>(), text(), fault_struct(), (text(), text()))
        .prop_map(|((a, t, d, ft), size, tfn, fault, (s, c))| {
            Rpc::from(AutonomousTransferComplete {
                announce_url: a,
                transfer_url: t,
                is_download: d,
                file_type: ft,
                file_size: size,
                target_file_name: tfn,
                fault,
                start_time: s,
                complete_time: c,
            })
        });
    let arg = (text(), text()).prop_map(|(name, value)| ArgStruct { name, value });
    prop_oneof![
        inform().prop_map(Rpc::from),
        any::<u32>().prop_map(|m| Rpc::from(InformResponse { max_envelopes: m })),
        tc,
        atc,
        (text(), list(arg))
            .prop_map(|(file_type, file_type_arg)| Rpc::from(RequestDownload { file_type, file_type_arg })),
        (text(), text(), text(), text()).prop_map(|(command, referer, arg, next)| Rpc::from(Kicked {
            command,
            referer,
            arg,
            next
        })),
        text().prop_map(|next_url| Rpc::from(KickedResponse { next_url })),
        (vec(op_result(), 1..3), opt_text())
            .prop_map(|(results, command_key)| Rpc::from(DUStateChangeComplete { results, command_key })),
        vec((op_result(), text()), 1..3).prop_map(|r| Rpc::from(AutonomousDUStateChangeComplete {
            results: r
                .into_iter()
                .map(|(result, operation_performed)| AutonOpResultStruct { result, operation_performed })
                .collect()
        })),
    ]
}

fn parameter_rpc() -> impl Strategy<Value = Rpc> {
    let attr = (text(), 0u32..7, list(text())).prop_map(|(name, notification, access_list)| ParameterAttributeStruct {
        name,
        notification,
        access_list,
    });
    let set_attr = (text(), any::<bool>(), 0u32..7, any::<bool>(), list(text())).prop_map(|(name, nc, n, ac, al)| {
        SetParameterAttributesStruct {
            name,
            notification_change: nc,
            notification: n,
            access_list_change: ac,
            access_list: al,
        }
    });
    let info = (text(), any::<bool>()).prop_map(|(name, writable)| ParameterInfoStruct { name, writable });
    prop_oneof![
        list(text()).prop_map(|method_list| Rpc::from(GetRPCMethodsResponse { method_list })),
        (list(pvs()), text()).prop_map(|(parameter_list, parameter_key)| Rpc::from(SetParameterValues {
            parameter_list,
            parameter_key
        })),
        any::<u32>().prop_map(|status| Rpc::from(SetParameterValuesResponse { status })),
        list(text()).prop_map(|parameter_names| Rpc::from(GetParameterValues { parameter_names })),
        list(pvs()).prop_map(|parameter_list| Rpc::from(GetParameterValuesResponse { parameter_list })),
        (text(), any::<bool>())
            .prop_map(|(parameter_path, next_level)| Rpc::from(GetParameterNames { parameter_path, next_level })),
        list(info).prop_map(|parameter_list| Rpc::from(GetParameterNamesResponse { parameter_list })),
        list(set_attr).prop_map(|parameter_list| Rpc::from(SetParameterAttributes { parameter_list })),
        list(text()).prop_map(|parameter_names| Rpc::from(GetParameterAttributes { parameter_names })),
        list(attr).prop_map(|parameter_list| Rpc::from(GetParameterAttributesResponse { parameter_list })),
        (text(), text()).prop_map(|(object_name, parameter_key)| Rpc::from(AddObject { object_name, parameter_key })),
        (any::<u32>(), any::<u32>())
            .prop_map(|(instance_number, status)| Rpc::from(AddObjectResponse { instance_number, status })),
        (text(), text())
            .prop_map(|(object_name, parameter_key)| Rpc::from(DeleteObject { object_name, parameter_key })),
        any::<u32>().prop_map(|status| Rpc::from(DeleteObjectResponse { status })),
        text().prop_map(|command_key| Rpc::from(Reboot { command_key })),
        (any::<u32>(), text())
            .prop_map(|(delay_seconds, command_key)| Rpc::from(ScheduleInform { delay_seconds, command_key })),
    ]
}

fn optional_rpc() -> impl Strategy<Value = Rpc> {
    let queued = (text(), 1i32..4).prop_map(|(command_key, state)| QueuedTransferStruct { command_key, state });
    let all = ((text(), 1i32..4, any::<bool>()), (text(), any::<u32>(), text())).prop_map(
        |((command_key, state, is_download), (file_type, file_size, target_file_name))| AllQueuedTransferStruct {
            command_key,
            state,
            is_download,
            file_type,
            file_size,
            target_file_name,
        },
    );
    let option = ((text(), any::<u32>(), 0u32..4, 0i32..3), (text(), opt_text(), 0i32..2)).prop_map(
        |((option_name, voucher_sn, state, mode), (start_date, expiration_date, is_transferable))| OptionStruct {
            option_name,
            voucher_sn,
            state,
            mode,
            start_date,
            expiration_date,
            is_transferable,
        },
    );
    prop_oneof![
        list(queued).prop_map(|transfer_list| Rpc::from(GetQueuedTransfersResponse { transfer_list })),
        list(all).prop_map(|transfer_list| Rpc::from(GetAllQueuedTransfersResponse { transfer_list })),
        list("[A-Za-z0-9+/=]{0,16}").prop_map(|voucher_list| Rpc::from(SetVouchers { voucher_list })),
        text().prop_map(|option_name| Rpc::from(GetOptions { option_name })),
        list(option).prop_map(|option_list| Rpc::from(GetOptionsResponse { option_list })),
        Just(Rpc::from(GetQueuedTransfers)),
        Just(Rpc::from(GetAllQueuedTransfers)),
        Just(Rpc::from(SetVouchersResponse)),
    ]
}

fn empty_rpc() -> impl Strategy<Value = Rpc> {
    prop_oneof![
        Just(Rpc::from(GetRPCMethods)),
        Just(Rpc::from(SetParameterAttributesResponse)),
        Just(Rpc::from(RebootResponse)),
        Just(Rpc::from(ScheduleInformResponse)),
        Just(Rpc::from(FactoryReset)),
        Just(Rpc::from(FactoryResetResponse)),
        Just(Rpc::from(ScheduleDownloadResponse)),
        Just(Rpc::from(CancelTransferResponse)),
        Just(Rpc::from(ChangeDUStateResponse)),
        Just(Rpc::from(TransferCompleteResponse)),
        Just(Rpc::from(AutonomousTransferCompleteResponse)),
        Just(Rpc::from(RequestDownloadResponse)),
        Just(Rpc::from(DUStateChangeCompleteResponse)),
        Just(Rpc::from(AutonomousDUStateChangeCompleteResponse)),
    ]
}

/// Any message, including faults.
pub fn rpc() -> impl Strategy<Value = Rpc> {
    prop_oneof![
        transfer_request(),
        cpe_request(),
        parameter_rpc(),
        empty_rpc(),
        optional_rpc(),
        fault().prop_map(Rpc::Fault),
    ]
}

pub fn header() -> impl Strategy<Value = Header> {
    (opt_text(), option::of(any::<bool>()), option::of(any::<u32>()), opt_text(), opt_text(), option::of(any::<bool>()))
        .prop_map(|(id, hold, timeout, supported, use_version, nmr)| Header {
            id,
            hold_requests: hold,
            session_timeout: timeout,
            supported_cwmp_versions: supported,
            use_cwmp_version: use_version,
            no_more_requests: nmr,
        })
}

pub fn envelope() -> impl Strategy<Value = Envelope> {
    (proptest::sample::select(CwmpNamespace::ALL.to_vec()), header(), rpc())
        .prop_map(|(namespace, header, rpc)| Envelope { namespace, header, rpc })
}
