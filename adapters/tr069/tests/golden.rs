//! Golden tests: real-shaped envelopes (various prefixes, default namespaces, CWMP 1-0 .. 1-4)
//! parse to the expected values and survive an encode / parse round trip.

use unidm_tr069::rpc::fault::{FaultActor, FaultCode};
use unidm_tr069::rpc::inform::event_code;
use unidm_tr069::soap::{TypedValue, XsdType};
use unidm_tr069::{encode_envelope, parse_envelope, CwmpNamespace, Envelope, Rpc};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn round_trip(env: &Envelope) {
    let bytes = encode_envelope(env);
    let again = parse_envelope(&bytes).expect("re-parse of our own encoding");
    assert_eq!(&again, env, "{}", String::from_utf8_lossy(&bytes));
}

#[test]
fn inform_from_tr098_cpe_with_bootstrap_and_boot() {
    let env = parse_envelope(&fixture("inform_tr098_boot.xml")).expect("parses");
    assert_eq!(env.namespace, CwmpNamespace::V1_0);
    assert_eq!(env.protocol_version(), (1, 0));
    assert_eq!(env.header.id.as_deref(), Some("16"));
    let Rpc::Inform(inform) = &env.rpc else {
        panic!("not an Inform: {:?}", env.rpc);
    };
    assert_eq!(inform.device_id.manufacturer, "Huawei Technologies Co., Ltd.");
    assert_eq!(inform.device_id.oui, "202BC1");
    assert_eq!(inform.device_id.product_class, "BM632w");
    assert_eq!(inform.device_id.serial_number, "8KA8WA1151100043");
    assert_eq!(inform.events.len(), 2);
    assert!(inform.has_event(event_code::BOOTSTRAP));
    assert!(inform.has_event(event_code::BOOT));
    assert!(inform.events.iter().all(|e| e.command_key.is_empty()));
    assert_eq!(inform.max_envelopes, 1);
    assert_eq!(inform.current_time, "2024-03-01T10:15:30+01:00");
    assert_eq!(inform.retry_count, 0);
    assert_eq!(inform.parameter_list.len(), 8);
    let url = &inform.parameter_list[5];
    assert_eq!(url.name, "InternetGatewayDevice.ManagementServer.ConnectionRequestURL");
    assert_eq!(url.value.text, "http://127.0.0.1:57543/?a=1&b=2");
    assert_eq!(url.value.xsd_type, XsdType::String);
    assert_eq!(inform.parameter_list[4].value.text, "");
    assert_eq!(inform.parameter_list[6].value.text, "");
    round_trip(&env);
}

#[test]
fn get_parameter_values_response_keeps_types() {
    let env = parse_envelope(&fixture("gpv_response_soapenv.xml")).expect("parses");
    assert_eq!(env.namespace, CwmpNamespace::V1_2);
    assert_eq!(env.header.id.as_deref(), Some("acs-42"));
    let Rpc::GetParameterValuesResponse(r) = &env.rpc else {
        panic!("{:?}", env.rpc);
    };
    let typed: Vec<TypedValue> = r.parameter_list.iter().map(|p| p.value.typed().expect("typed")).collect();
    assert_eq!(
        typed,
        vec![
            TypedValue::UnsignedInt(86400),
            TypedValue::UnsignedLong(u64::MAX),
            TypedValue::Boolean(true),
            TypedValue::DateTime("2024-03-01T10:15:30Z".into()),
            TypedValue::Base64(b"hello".to_vec()),
            TypedValue::Int(-12),
            TypedValue::String("plain".into()),
        ]
    );
    round_trip(&env);
}

#[test]
fn set_parameter_values_fault_with_entries() {
    let env = parse_envelope(&fixture("spv_fault.xml")).expect("parses");
    assert_eq!(env.namespace, CwmpNamespace::V1_1);
    let Rpc::Fault(f) = &env.rpc else {
        panic!("{:?}", env.rpc);
    };
    assert_eq!(f.actor, FaultActor::Client);
    assert_eq!(f.fault_string, "CWMP fault");
    assert_eq!(f.code(), Some(FaultCode::InvalidArguments));
    let detail = f.detail.as_ref().expect("detail");
    let entries: Vec<_> =
        detail.set_parameter_values_faults.iter().map(|e| (e.parameter_name.as_str(), e.fault_code)).collect();
    assert_eq!(
        entries,
        vec![
            ("InternetGatewayDevice.Time.NTPServer1", FaultCode::InvalidParameterValue),
            ("InternetGatewayDevice.DeviceInfo.Manufacturer", FaultCode::NonWritableParameter),
        ]
    );
    round_trip(&env);
}

#[test]
fn default_namespaces_and_unofficial_cwmp_1_4() {
    let env = parse_envelope(&fixture("default_ns_cwmp14.xml")).expect("parses");
    assert_eq!(env.namespace, CwmpNamespace::V1_4);
    assert!(!env.namespace.is_official());
    assert_eq!(env.protocol_version(), (1, 4));
    assert_eq!(env.header.session_timeout, Some(60));
    assert_eq!(env.header.supported_cwmp_versions.as_deref(), Some("1.0,1.1,1.2,1.3,1.4"));
    let Rpc::TransferComplete(tc) = &env.rpc else {
        panic!("{:?}", env.rpc);
    };
    assert_eq!(tc.command_key, "fw-2024");
    assert!(tc.fault.is_success());
    round_trip(&env);
}

#[test]
fn reply_uses_the_peer_namespace() {
    for ns in CwmpNamespace::ALL {
        let reply = Envelope::new(ns, unidm_tr069::rpc::inform::InformResponse::default()).with_id("1");
        let text = String::from_utf8(encode_envelope(&reply)).expect("utf-8");
        assert!(text.contains(&format!("xmlns:cwmp=\"{}\"", ns.uri())), "{text}");
        assert!(text.contains("<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes>"));
        assert!(text.contains("<cwmp:ID soap-env:mustUnderstand=\"1\">1</cwmp:ID>"));
        assert_eq!(parse_envelope(text.as_bytes()).map(|e| e.namespace), Ok(ns));
    }
}

#[test]
fn session_timeout_in_cwmp_1_2_means_protocol_1_3() {
    let doc = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-2"><s:Header><c:ID s:mustUnderstand="1">1</c:ID><c:SessionTimeout>30</c:SessionTimeout></s:Header><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#;
    let env = parse_envelope(doc).expect("parses");
    assert_eq!(env.protocol_version(), (1, 3));
    assert_eq!(env.rpc, Rpc::GetRPCMethods(Default::default()));
}

#[test]
fn hold_requests_and_no_more_requests_headers() {
    let doc = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soapenv:Header><cwmp:ID soapenv:mustUnderstand="1">5</cwmp:ID><cwmp:HoldRequests soapenv:mustUnderstand="1">true</cwmp:HoldRequests><cwmp:NoMoreRequests>1</cwmp:NoMoreRequests></soapenv:Header><soapenv:Body><cwmp:TransferCompleteResponse/></soapenv:Body></soapenv:Envelope>"#;
    let env = parse_envelope(doc).expect("parses");
    assert_eq!(env.header.hold_requests, Some(true));
    assert_eq!(env.header.no_more_requests, Some(true));
    round_trip(&env);
}

#[test]
fn change_du_state_reads_both_operation_forms() {
    let xsd_form = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><s:Body><cwmp:ChangeDUState><Operations xsi:type="cwmp:InstallOpStruct"><URL>http://files/a.ipk</URL><ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></Operations><Operations xsi:type="cwmp:UninstallOpStruct"><UUID>5b5a9a40-0d1b-4f8f-9e3a-1b2c3d4e5f60</UUID></Operations><CommandKey>du1</CommandKey></cwmp:ChangeDUState></s:Body></s:Envelope>"#;
    let array_form = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><s:Body><cwmp:ChangeDUState><Operations><InstallOpStruct><URL>http://files/a.ipk</URL><ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></InstallOpStruct><UninstallOpStruct><UUID>5b5a9a40-0d1b-4f8f-9e3a-1b2c3d4e5f60</UUID></UninstallOpStruct></Operations><CommandKey>du1</CommandKey></cwmp:ChangeDUState></s:Body></s:Envelope>"#;
    let a = parse_envelope(xsd_form).expect("xsd form");
    let b = parse_envelope(array_form).expect("array form");
    assert_eq!(a.rpc, b.rpc);
    round_trip(&a);
}

#[test]
fn wire_form_of_a_fault_and_an_inform_response_is_pinned() {
    use unidm_tr069::rpc::fault::{Fault, SetParameterValuesFault};
    let mut fault = Fault::new(FaultCode::InvalidArguments);
    if let Some(d) = fault.detail.as_mut() {
        d.set_parameter_values_faults.push(SetParameterValuesFault {
            parameter_name: "Device.A".into(),
            fault_code: FaultCode::InvalidParameterType,
            fault_string: "Invalid parameter type".into(),
        });
    }
    let env = Envelope::new(CwmpNamespace::V1_2, fault).with_id("7");
    let expected = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
        "xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" ",
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" ",
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
        "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\">",
        "<soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">7</cwmp:ID></soap-env:Header>",
        "<soap-env:Body><soap-env:Fault><faultcode>Client</faultcode>",
        "<faultstring>CWMP fault</faultstring><detail><cwmp:Fault>",
        "<FaultCode>9003</FaultCode><FaultString>Invalid arguments</FaultString>",
        "<SetParameterValuesFault><ParameterName>Device.A</ParameterName>",
        "<FaultCode>9006</FaultCode><FaultString>Invalid parameter type</FaultString>",
        "</SetParameterValuesFault></cwmp:Fault></detail></soap-env:Fault>",
        "</soap-env:Body></soap-env:Envelope>",
    );
    assert_eq!(String::from_utf8(encode_envelope(&env)).as_deref(), Ok(expected));
}

#[test]
fn download_url_with_ampersand_is_escaped() {
    use unidm_tr069::rpc::download::{file_type, Download};
    let d = Download {
        command_key: "fw".into(),
        file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
        url: "http://files.example/fw.bin?a=1&b=<2>".into(),
        ..Default::default()
    };
    let env = Envelope::new(CwmpNamespace::V1_0, d).with_id("1");
    let text = String::from_utf8(encode_envelope(&env)).expect("utf-8");
    assert!(text.contains("<URL>http://files.example/fw.bin?a=1&amp;b=&lt;2&gt;</URL>"));
    assert!(text.contains("<FileType>1 Firmware Upgrade Image</FileType>"));
    round_trip(&env);
}

#[test]
fn directions_and_names() {
    use unidm_tr069::rpc::get_rpc_methods::GetRPCMethods;
    use unidm_tr069::rpc::inform::{Inform, InformResponse};
    use unidm_tr069::rpc::reboot::Reboot;
    assert!(Rpc::from(Inform::default()).is_cpe_request());
    assert!(Rpc::from(GetRPCMethods).is_cpe_request());
    assert!(!Rpc::from(Reboot::default()).is_cpe_request());
    assert!(Rpc::from(InformResponse::default()).is_response());
    assert!(!Rpc::from(Reboot::default()).is_response());
    assert_eq!(Rpc::METHOD_NAMES.len(), 54);
}
