use super::*;
use crate::rpc::download::DownloadResponse;
use crate::rpc::fault::FaultCode;
use crate::rpc::get_parameter_values::GetParameterValuesResponse;
use crate::rpc::reboot::RebootResponse;
use crate::rpc::set_parameter_values::SetParameterValuesResponse;
use unidm_models::{DeviceId, FirmwareUpdate, OperationId, OperationState, PingRequest, RetryPolicy, Timestamp};

struct View(Option<DataModel>);

impl DeviceView for View {
    fn model(&self) -> Option<DataModel> {
        self.0
    }
    fn reported_type(&self, name: &str) -> Option<XsdType> {
        (name == "Device.X.Port").then_some(XsdType::UnsignedInt)
    }
}

fn op(action: Action) -> Operation {
    let device = DeviceId::tr069("00D09E", Some("P"), "S").unwrap();
    let mut op = Operation::new(OperationId(42), device, action, RetryPolicy::default(), Timestamp(0));
    op.state = OperationState::Dispatched;
    op.attempts = 1;
    op
}

fn native(o: NativeOp, path: &str, value: Option<serde_json::Value>) -> Operation {
    op(Action::Native(NativeRequest { op: o, path: path.into(), value, args: None, format: None }))
}

#[test]
fn write_uses_reported_type_then_json_type() {
    let dev = View(Some(DataModel::Tr181));
    let Rpc::SetParameterValues(spv) =
        plan(&native(NativeOp::Write, "X.Port", Some(json!(80))), Phase::Start, &dev).unwrap()
    else {
        panic!()
    };
    assert_eq!(spv.parameter_key, "42");
    assert_eq!(spv.parameter_list[0].name, "Device.X.Port");
    assert_eq!(spv.parameter_list[0].value, Value::new(XsdType::UnsignedInt, "80"));
    assert_eq!(value_of(&json!(true), None).unwrap().xsd_type, XsdType::Boolean);
    assert_eq!(value_of(&json!(-3), None).unwrap().xsd_type, XsdType::Int);
    assert_eq!(value_of(&json!("a"), None).unwrap().xsd_type, XsdType::String);
    assert!(value_of(&json!([1]), None).is_err());
    assert!(plan(&native(NativeOp::Write, "Device.X.", Some(json!(1))), Phase::Start, &dev).is_err());
}

#[test]
fn composite_operations_are_not_supported() {
    let dev = View(Some(DataModel::Tr181));
    for o in [NativeOp::ReadComposite, NativeOp::ObserveComposite, NativeOp::CancelObserveComposite] {
        let e = plan(&native(o, "/", Some(json!(["Device.X."]))), Phase::Start, &dev).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotSupported);
    }
    let e = plan(&native(NativeOp::WriteComposite, "/", Some(json!({"Device.X.Port": 80}))), Phase::Start, &dev);
    assert_eq!(e.unwrap_err().kind, ErrorKind::NotSupported);
}

#[test]
fn read_result_is_a_name_value_map() {
    let o = native(NativeOp::Read, "Device.DeviceInfo.", None);
    let req = plan(&o, Phase::Start, &View(Some(DataModel::Tr181))).unwrap();
    let resp = GetParameterValuesResponse {
        parameter_list: vec![ParameterValueStruct::new(
            "Device.DeviceInfo.UpTime",
            Value::new(XsdType::UnsignedInt, "5"),
        )],
    };
    assert_eq!(on_response(&o, &req, &resp.into()), Outcome::Succeeded(Some(json!({"Device.DeviceInfo.UpTime": 5}))));
}

#[test]
fn faults_become_device_refused_with_code() {
    let o = native(NativeOp::Read, "Device.Nope", None);
    let req = plan(&o, Phase::Start, &View(None)).unwrap();
    let Outcome::Failed(e) = on_response(&o, &req, &Fault::new(FaultCode::InvalidParameterName).into()) else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::DeviceRefused);
    assert_eq!(e.protocol_code.as_deref(), Some("9005"));
}

#[test]
fn multi_step_actions_wait() {
    let dev = View(Some(DataModel::Tr098));
    let reboot = op(Action::Reboot);
    let req = plan(&reboot, Phase::Start, &dev).unwrap();
    assert_eq!(on_response(&reboot, &req, &RebootResponse.into()), Outcome::Await(Await::Boot));

    let fw = op(Action::Firmware(FirmwareUpdate { uri: "http://f/x.bin".into(), version: None, name: None }));
    let Rpc::Download(d) = plan(&fw, Phase::Start, &dev).unwrap() else { panic!() };
    assert_eq!((d.command_key.as_str(), d.file_type.as_str()), ("42", "1 Firmware Upgrade Image"));
    let later = DownloadResponse { status: 1, ..DownloadResponse::default() };
    assert_eq!(on_response(&fw, &d.clone().into(), &later.into()), Outcome::Await(Await::TransferComplete));

    let ping = op(Action::Ping(PingRequest { host: "h".into(), count: Some(3), timeout_ms: None }));
    let req = plan(&ping, Phase::Start, &dev).unwrap();
    let Rpc::SetParameterValues(spv) = &req else { panic!() };
    assert!(spv.parameter_list.iter().any(|p| p.name == "InternetGatewayDevice.IPPingDiagnostics.DiagnosticsState"));
    let resp = SetParameterValuesResponse { status: 0 };
    assert_eq!(on_response(&ping, &req, &resp.into()), Outcome::Await(Await::DiagnosticsComplete));
    let req = plan(&ping, Phase::Results, &dev).unwrap();
    let results = GetParameterValuesResponse {
        parameter_list: vec![
            ParameterValueStruct::new("X.DiagnosticsState", Value::string("Complete")),
            ParameterValueStruct::new("X.SuccessCount", Value::new(XsdType::UnsignedInt, "3")),
        ],
    };
    assert_eq!(
        on_response(&ping, &req, &results.into()),
        Outcome::Succeeded(Some(json!({"diagnosticsState": "Complete", "successCount": 3})))
    );
    assert!(plan(&op(Action::RefreshDeviceInfo), Phase::Start, &View(None)).is_err());
}

fn execute(args: &str, value: serde_json::Value) -> Operation {
    op(Action::Native(NativeRequest {
        op: NativeOp::Execute,
        path: "Device.".into(),
        value: Some(value),
        args: Some(args.into()),
        format: None,
    }))
}

struct Files;

impl DeviceView for Files {
    fn model(&self) -> Option<DataModel> {
        Some(DataModel::Tr181)
    }
    fn reported_type(&self, _: &str) -> Option<XsdType> {
        None
    }
    fn upload_base(&self) -> Option<String> {
        Some("http://acs/files/".into())
    }
}

#[test]
fn execute_plans_transfers_with_the_operation_id_as_command_key() {
    let sd = json!({"url": "http://f/x.bin", "fileType": "1 Firmware Upgrade Image",
                    "timeWindows": [{"windowStart": 10, "windowEnd": 70}]});
    let Ok(Rpc::ScheduleDownload(r)) = plan(&execute("ScheduleDownload", sd), Phase::Start, &Files) else {
        panic!("ScheduleDownload")
    };
    assert_eq!((r.command_key.as_str(), r.time_window_list.len()), ("42", 1));
    assert_eq!((r.time_window_list[0].window_mode.as_str(), r.time_window_list[0].max_retries), ("1 At Any Time", -1));

    let up = execute("Upload", json!({"fileType": "2 Vendor Log File"}));
    let Ok(Rpc::Upload(u)) = plan(&up, Phase::Start, &Files) else { panic!("Upload") };
    assert_eq!((u.url.as_str(), u.command_key.as_str()), ("http://acs/files/upload-42", "42"));
    assert_eq!(execute::upload_url(&up, Some("http://acs/files/")), Some(u.url.clone()));
    assert_eq!(plan(&up, Phase::Start, &View(None)).unwrap_err().kind, ErrorKind::BadInput);

    let si = execute("ScheduleInform", json!({"delaySeconds": 5}));
    assert!(matches!(plan(&si, Phase::Start, &Files), Ok(Rpc::ScheduleInform(s)) if s.command_key == "42"));
    assert_eq!(execute::schedule_inform_key(&si), "42");
    assert_eq!(execute::schedule_inform_key(&execute("ScheduleInform", json!({"commandKey": 7}))), "7");

    for (args, value) in [
        ("ScheduleDownload", json!({"url": "u", "fileType": "1", "timeWindows": [{"windowStart": 9, "windowEnd": 1}]})),
        ("CancelTransfer", json!({})),
        ("Upload", json!({"fileType": "9 Other"})),
        ("Kick", json!({})),
    ] {
        assert_eq!(plan(&execute(args, value), Phase::Start, &Files).unwrap_err().kind, ErrorKind::BadInput, "{args}");
    }
}

#[test]
fn execute_answers_map_to_outcomes() {
    use crate::rpc::get_rpc_methods::{GetRPCMethods, GetRPCMethodsResponse};
    use crate::rpc::schedule_inform::{ScheduleInform, ScheduleInformResponse};
    use crate::rpc::upload::{Upload, UploadResponse};
    let o = execute("GetRPCMethods", json!({}));
    let methods = GetRPCMethodsResponse { method_list: vec!["Inform".into()] };
    assert_eq!(on_response(&o, &GetRPCMethods.into(), &methods.into()), Outcome::Succeeded(Some(json!(["Inform"]))));
    let si: Rpc = ScheduleInform { delay_seconds: 1, command_key: "42".into() }.into();
    assert_eq!(on_response(&o, &si, &ScheduleInformResponse.into()), Outcome::Await(Await::ScheduledInform));
    let up: Rpc = Upload { url: "http://u".into(), ..Upload::default() }.into();
    let pending = UploadResponse { status: 1, ..UploadResponse::default() };
    assert_eq!(on_response(&o, &up, &pending.into()), Outcome::Await(Await::TransferComplete));
    let done = UploadResponse { status: 0, ..UploadResponse::default() };
    assert_eq!(on_response(&o, &up, &done.into()), Outcome::Succeeded(Some(json!({"url": "http://u"}))));
}

#[test]
fn an_install_that_asks_to_activate_or_not_is_refused_on_cwmp() {
    let install = |activate| {
        op(Action::Software(SoftwareAction::Install {
            uri: "http://f.example/app.ipk".into(),
            name: None,
            version: None,
            activate,
        }))
    };
    let dev = View(Some(DataModel::Tr181));
    let e = plan(&install(Some(true)), Phase::Start, &dev).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.contains("activate"), "{}", e.message);
    assert!(matches!(plan(&install(None), Phase::Start, &dev), Ok(Rpc::ChangeDUState(_))));
}
