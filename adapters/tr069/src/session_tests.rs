//! Unit tests of the ACS session on a simulated clock: time starts at zero and moves only by
//! the offsets the tests add.

use super::*;
use crate::rpc::fault::FaultActor;
use crate::rpc::get_parameter_values::{GetParameterValues, GetParameterValuesResponse};
use crate::rpc::inform::{event_code, EventStruct};
use crate::rpc::reboot::Reboot;
use crate::rpc::transfer_complete::TransferComplete;
use crate::soap::parse_envelope;

fn inform(serial: &str) -> Inform {
    Inform {
        device_id: DeviceIdStruct {
            manufacturer: "Huawei Technologies Co., Ltd.".into(),
            oui: "202BC1".into(),
            product_class: "BM632w".into(),
            serial_number: serial.into(),
        },
        events: vec![EventStruct { event_code: event_code::BOOT.into(), command_key: String::new() }],
        max_envelopes: 1,
        current_time: "2024-03-01T10:00:00Z".into(),
        retry_count: 0,
        parameter_list: Vec::new(),
    }
}

fn cpe(ns: CwmpNamespace, id: &str, rpc: impl Into<Rpc>) -> Vec<u8> {
    encode_envelope(&Envelope::new(ns, rpc).with_id(id))
}

fn reply_envelope(s: &mut AcsSession) -> Envelope {
    match s.poll_reply() {
        Some(Reply::Envelope(bytes)) => parse_envelope(&bytes).expect("ACS writes valid envelopes"),
        other => panic!("expected an envelope, got {other:?}"),
    }
}

fn open(now: Duration, ns: CwmpNamespace) -> AcsSession {
    let mut s = AcsSession::new(SessionConfig::default(), now);
    s.handle_post(now, &cpe(ns, "1", inform("SN1"))).expect("inform");
    let r = reply_envelope(&mut s);
    assert_eq!(r.rpc, Rpc::InformResponse(InformResponse { max_envelopes: 1 }));
    assert!(matches!(s.poll_event(), Some(SessionEvent::Informed(_))));
    s
}

#[test]
fn full_session_inform_cpe_request_acs_request_close() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    s.enqueue(GetParameterValues { parameter_names: vec!["Device.DeviceInfo.".into()] });
    s.handle_post(t0, &cpe(CwmpNamespace::V1_0, "c1", inform("SN1"))).expect("inform");
    let r = reply_envelope(&mut s);
    assert_eq!(r.namespace, CwmpNamespace::V1_0);
    assert_eq!(r.header.id.as_deref(), Some("c1"));
    assert_eq!(r.rpc, Rpc::InformResponse(InformResponse { max_envelopes: 1 }));
    assert!(matches!(s.poll_event(), Some(SessionEvent::Informed(i)) if i.device_id.serial_number == "SN1"));
    assert_eq!(s.device_id().map(|d| d.oui.as_str()), Some("202BC1"));

    let tc = TransferComplete { command_key: "fw".into(), ..Default::default() };
    s.handle_post(t0 + Duration::from_secs(1), &cpe(CwmpNamespace::V1_0, "c2", tc.clone())).expect("transfer complete");
    let r = reply_envelope(&mut s);
    assert_eq!(r.rpc.name(), "TransferCompleteResponse");
    assert_eq!(r.header.id.as_deref(), Some("c2"));
    assert_eq!(s.poll_event(), Some(SessionEvent::CpeRequest(tc.into())));

    s.handle_post(t0 + Duration::from_secs(2), b"").expect("empty post");
    let r = reply_envelope(&mut s);
    assert_eq!(r.rpc.name(), "GetParameterValues");
    let id = r.header.id.clone().expect("ACS request has an ID");

    let resp = GetParameterValuesResponse::default();
    s.handle_post(t0 + Duration::from_secs(3), &cpe(CwmpNamespace::V1_0, &id, resp.clone())).expect("response");
    assert!(matches!(
        s.poll_event(),
        Some(SessionEvent::Response { response, .. }) if response == Rpc::from(resp)
    ));
    assert_eq!(s.poll_reply(), Some(Reply::Close));
    assert_eq!(s.poll_event(), Some(SessionEvent::Closed));
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_post(t0 + Duration::from_secs(4), b""), Err(SessionError::Closed));
}

#[test]
fn caller_can_queue_after_seeing_a_response() {
    let t0 = Duration::ZERO;
    let mut s = open(t0, CwmpNamespace::V1_2);
    s.enqueue(GetParameterValues::default());
    s.handle_post(t0, b"  \n").expect("empty post");
    let id = reply_envelope(&mut s).header.id.expect("id");
    s.handle_post(t0, &cpe(CwmpNamespace::V1_2, &id, GetParameterValuesResponse::default())).expect("response");
    while s.poll_event().is_some() {}
    s.enqueue(Reboot { command_key: "r1".into() });
    let r = reply_envelope(&mut s);
    assert_eq!(r.rpc, Rpc::Reboot(Reboot { command_key: "r1".into() }));
    assert_ne!(r.header.id, Some(id));
}

#[test]
fn unsupported_cpe_methods_get_fault_8000_with_the_id() {
    let t0 = Duration::ZERO;
    let mut s = open(t0, CwmpNamespace::V1_0);
    let unknown = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0"><s:Header><c:ID s:mustUnderstand="1">x9</c:ID></s:Header><s:Body><c:X_Vendor_Hello/></s:Body></s:Envelope>"#;
    s.handle_post(t0, unknown).expect("answered");
    let r = reply_envelope(&mut s);
    assert_eq!(r.header.id.as_deref(), Some("x9"));
    let Rpc::Fault(f) = &r.rpc else { panic!("{:?}", r.rpc) };
    assert_eq!(f.code(), Some(FaultCode::AcsMethodNotSupported));
    assert_eq!(f.actor, FaultActor::Server);
    assert!(matches!(s.poll_event(), Some(SessionEvent::Refused { fault: FaultCode::AcsMethodNotSupported, .. })));
    // An ACS-to-CPE method sent by the CPE is not supported by the ACS either.
    s.handle_post(t0, &cpe(CwmpNamespace::V1_0, "x10", Reboot::default())).expect("answered");
    assert_eq!(reply_envelope(&mut s).rpc, Rpc::Fault(Fault::new(FaultCode::AcsMethodNotSupported)));
    // The session goes on.
    s.handle_post(t0, b"").expect("empty post");
    assert_eq!(s.poll_reply(), Some(Reply::Close));
}

#[test]
fn get_rpc_methods_from_the_cpe_is_answered() {
    let t0 = Duration::ZERO;
    let mut s = open(t0, CwmpNamespace::V1_2);
    s.handle_post(t0, &cpe(CwmpNamespace::V1_2, "g", rpc::get_rpc_methods::GetRPCMethods)).expect("answered");
    let Rpc::GetRPCMethodsResponse(r) = reply_envelope(&mut s).rpc else { panic!("not a GetRPCMethodsResponse") };
    assert!(r.method_list.iter().any(|m| m == "Inform"));
}

#[test]
fn hold_requests_is_sent_while_set() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    s.set_hold_requests(true);
    s.enqueue(GetParameterValues::default());
    s.handle_post(t0, &cpe(CwmpNamespace::V1_1, "1", inform("SN"))).expect("inform");
    assert_eq!(reply_envelope(&mut s).header.hold_requests, Some(true));
    s.set_hold_requests(false);
    s.handle_post(t0, b"").expect("empty post");
    assert_eq!(reply_envelope(&mut s).header.hold_requests, None);
}

#[test]
fn timeout_follows_the_simulated_clock() {
    let t0 = Duration::ZERO;
    let mut s = open(t0, CwmpNamespace::V1_0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    s.enqueue(GetParameterValues::default());
    s.handle_post(t0 + Duration::from_secs(20), b"").expect("in time");
    let _ = s.poll_reply();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(50)));
    s.handle_timeout(t0 + Duration::from_secs(49));
    assert!(!s.is_closed());
    s.handle_timeout(t0 + Duration::from_secs(50));
    assert!(s.is_closed());
    while let Some(e) = s.poll_event() {
        if let SessionEvent::Abandoned(r) = e {
            assert_eq!(r.name(), "GetParameterValues");
            return;
        }
    }
    panic!("in-flight request not reported as abandoned");
}

#[test]
fn late_post_is_refused_and_cpe_timeout_is_clamped() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    let mut env = Envelope::new(CwmpNamespace::V1_2, inform("SN")).with_id("1");
    env.header.session_timeout = Some(3600);
    s.handle_post(t0, &encode_envelope(&env)).expect("inform");
    assert_eq!(s.timeout(), Duration::from_secs(300));
    let _ = s.poll_reply();
    assert_eq!(s.handle_post(t0 + Duration::from_secs(301), b""), Err(SessionError::TimedOut));
    assert!(s.is_closed());
}

#[test]
fn session_must_start_with_inform() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    assert!(matches!(s.handle_post(t0, b""), Err(SessionError::ExpectedInform(_))));
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    let tc = cpe(CwmpNamespace::V1_0, "1", TransferComplete::default());
    assert_eq!(s.handle_post(t0, &tc), Err(SessionError::ExpectedInform("TransferComplete".into())));
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    assert!(matches!(s.handle_post(t0, b"<x"), Err(SessionError::Codec(_))));
    assert!(s.is_closed());
}

#[test]
fn version_negotiation_for_cwmp_1_4() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    let mut env = Envelope::new(CwmpNamespace::V1_2, inform("SN")).with_id("1");
    env.header.supported_cwmp_versions = Some("1.0,1.1,1.2,1.3,1.4".into());
    s.handle_post(t0, &encode_envelope(&env)).expect("inform");
    assert_eq!(reply_envelope(&mut s).header.use_cwmp_version.as_deref(), Some("1.4"));

    let mut s = AcsSession::new(SessionConfig::default(), t0);
    env.header.supported_cwmp_versions = Some("2.0".into());
    s.handle_post(t0, &encode_envelope(&env)).expect("answered");
    let r = reply_envelope(&mut s);
    assert_eq!(r.rpc, Rpc::Fault(Fault::new(FaultCode::AcsVersionIncompatible)));
    assert!(s.is_closed());
}

#[test]
fn cpe_fault_is_the_answer_and_mismatches_close() {
    let t0 = Duration::ZERO;
    let mut s = open(t0, CwmpNamespace::V1_0);
    s.enqueue(GetParameterValues::default());
    s.enqueue(Reboot::default());
    s.handle_post(t0, b"").expect("empty post");
    let id = reply_envelope(&mut s).header.id.expect("id");
    let fault = Fault::new(FaultCode::InvalidParameterName);
    s.handle_post(t0, &cpe(CwmpNamespace::V1_0, &id, fault.clone())).expect("fault answer");
    assert!(matches!(
        s.poll_event(),
        Some(SessionEvent::Response { response: Rpc::Fault(f), .. }) if f == fault
    ));
    let id = reply_envelope(&mut s).header.id.expect("id");
    // Wrong response type for the Reboot in flight.
    let err = s.handle_post(t0, &cpe(CwmpNamespace::V1_0, &id, GetParameterValuesResponse::default())).unwrap_err();
    assert!(matches!(err, SessionError::UnexpectedMessage { .. }));
    assert_eq!(s.poll_event(), Some(SessionEvent::Abandoned(Reboot::default().into())));
    assert_eq!(s.poll_event(), Some(SessionEvent::Closed));
}

#[test]
fn one_reply_per_post() {
    let t0 = Duration::ZERO;
    let mut s = AcsSession::new(SessionConfig::default(), t0);
    let body = cpe(CwmpNamespace::V1_0, "1", inform("SN"));
    s.handle_post(t0, &body).expect("inform");
    assert_eq!(s.handle_post(t0, b""), Err(SessionError::ReplyPending));
    assert!(s.poll_reply().is_some());
    assert_eq!(s.poll_reply(), None);
}

#[test]
fn a_thousand_devices_reboot_in_simulated_time() {
    let t0 = Duration::ZERO;
    let mut rebooted = 0;
    for n in 0..1000u32 {
        let now = t0 + Duration::from_millis(u64::from(n));
        let mut s = AcsSession::new(SessionConfig::default(), now);
        s.enqueue(Reboot { command_key: format!("r{n}") });
        s.handle_post(now, &cpe(CwmpNamespace::V1_0, "1", inform(&format!("SN{n}")))).expect("inform");
        let _ = s.poll_reply();
        s.handle_post(now, b"").expect("empty post");
        let id = reply_envelope(&mut s).header.id.expect("id");
        s.handle_post(now, &cpe(CwmpNamespace::V1_0, &id, rpc::reboot::RebootResponse)).expect("response");
        assert_eq!(s.poll_reply(), Some(Reply::Close));
        rebooted += s.poll_event_iter().filter(|e| matches!(e, SessionEvent::Response { .. })).count();
    }
    assert_eq!(rebooted, 1000);
}

impl AcsSession {
    fn poll_event_iter(&mut self) -> impl Iterator<Item = SessionEvent> + '_ {
        std::iter::from_fn(move || self.poll_event())
    }
}
