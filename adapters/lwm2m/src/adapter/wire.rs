//! What the wire tap ([`unidm_core::WireTap`]) shows of a Device Management exchange: one line
//! per message (`GET /3/0 Accept: 11542`, `2.05 Content (11542, 93 bytes)`) and the payload
//! decoded (records as JSON, link-format and text as they are, anything else in hex).

use coap_lite::ResponseType;

use super::device_request;
use crate::codec::{self, ContentFormat, Limits, TypeHints};
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Registration};

/// The summary line and body of a request.
pub fn request(r: &DmRequest, hints: &dyn TypeHints) -> (String, String) {
    let mut line = device_request::describe(r.method, r.path);
    if let Some(paths) = &r.composite {
        let listed: Vec<String> = paths.iter().map(Path::to_string).collect();
        line.push_str(&format!(" [{}]", listed.join(", ")));
    }
    if let Some(prefix) = &r.prefix {
        line.push_str(&format!(" (end device /{prefix})"));
    }
    for q in &r.query {
        line.push_str(&format!(" ?{q}"));
    }
    if let Some(observe) = r.observe {
        line.push_str(&format!(" Observe: {observe}"));
    }
    if let Some(accept) = r.accept {
        line.push_str(&format!(" Accept: {accept}"));
    }
    if let Some(cf) = r.content_format {
        line.push_str(&format!(" Content-Format: {cf}"));
    }
    (line, body(&r.path, r.content_format, &r.payload, hints))
}

/// The summary line and body of a response.
pub fn response(path: &Path, r: &DmResponse, hints: &dyn TypeHints) -> (String, String) {
    let code = u8::from(coap_lite::MessageClass::Response(r.code));
    let mut line = format!("{}.{:02} {}", code >> 5, code & 0x1f, reason(r.code));
    match (r.content_format, r.payload.len()) {
        (Some(cf), n) => line.push_str(&format!(" ({cf}, {n} bytes)")),
        (None, 0) => {}
        (None, n) => line.push_str(&format!(" ({n} bytes)")),
    }
    if !r.location.is_empty() {
        line.push_str(&format!(" Location-Path: /{}", r.location.join("/")));
    }
    (line, body(path, r.content_format, &r.payload, hints))
}

/// A Register's parameters: `ep=… lt=… lwm2m=… b=…`.
pub fn registration(r: &Registration) -> String {
    let mut line = format!("ep={} lt={} lwm2m={} b={}", r.endpoint, r.lifetime_s, r.version, r.binding);
    if r.queue_mode {
        line.push_str(" Q");
    }
    if !r.content_formats.is_empty() {
        let cts: Vec<String> = r.content_formats.iter().map(u16::to_string).collect();
        line.push_str(&format!(" ct={}", cts.join(" ")));
    }
    line
}

/// The objects and instances a Register or Update listed, as link-format.
pub fn objects(r: &Registration) -> String {
    let links: Vec<String> = r
        .objects
        .iter()
        .map(|o| match &o.version {
            Some(v) => format!("<{}>;ver={v}", o.path),
            None => format!("<{}>", o.path),
        })
        .collect();
    links.join(",")
}

/// A message the device sent on its own (Send, a notification) with its payload decoded.
pub fn device_message(what: &str, path: &Path, r: &DmResponse, hints: &dyn TypeHints) -> (String, String) {
    let line = match r.content_format {
        Some(cf) => format!("{what} {path} ({cf}, {} bytes)", r.payload.len()),
        None => format!("{what} {path} ({} bytes)", r.payload.len()),
    };
    (line, body(path, r.content_format, &r.payload, hints))
}

fn reason(code: ResponseType) -> String {
    format!("{code:?}").chars().fold(String::new(), |mut s, c| {
        if c.is_uppercase() && !s.is_empty() {
            s.push(' ');
        }
        s.push(c);
        s
    })
}

fn body(path: &Path, cf: Option<u16>, payload: &[u8], hints: &dyn TypeHints) -> String {
    if payload.is_empty() {
        return String::new();
    }
    let format = cf.map(ContentFormat::from);
    match format {
        Some(ContentFormat::Text | ContentFormat::LinkFormat) | None if std::str::from_utf8(payload).is_ok() => {
            String::from_utf8_lossy(payload).into_owned()
        }
        Some(
            f @ (ContentFormat::Tlv
            | ContentFormat::SenmlJson
            | ContentFormat::SenmlCbor
            | ContentFormat::Lwm2mJson
            | ContentFormat::Cbor),
        ) => match codec::decode(f, payload, path, hints, &Limits::default()) {
            Ok(content) => {
                serde_json::to_string_pretty(&device_request::content_to_json(path, &content)).unwrap_or_default()
            }
            Err(e) => format!("(undecodable: {e})\n{}", hex(payload)),
        },
        _ => hex(payload),
    }
}

fn hex(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(512)];
    let mut s = unidm_core::hex::encode(shown);
    if bytes.len() > shown.len() {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use coap_lite::RequestType;

    use super::*;
    use crate::model::BuiltinModels;

    #[test]
    fn a_read_and_its_answer_are_shown_decoded() {
        let mut r = DmRequest::new(RequestType::Get, Path::ObjectInstance(3, 0));
        r.accept = Some(110);
        assert_eq!(request(&r, &BuiltinModels).0, "GET /3/0 Accept: 110");
        let answer = DmResponse {
            code: ResponseType::Content,
            content_format: Some(110),
            payload: br#"[{"bn":"/3/0/","n":"0","vs":"ACME"}]"#.to_vec(),
            location: Vec::new(),
        };
        let (line, body) = response(&Path::ObjectInstance(3, 0), &answer, &BuiltinModels);
        assert_eq!(line, "2.05 Content (110, 36 bytes)");
        assert!(body.contains("\"/3/0/0\": \"ACME\""), "{body}");
        let refused = DmResponse {
            code: ResponseType::NotAcceptable,
            content_format: None,
            payload: Vec::new(),
            location: Vec::new(),
        };
        assert_eq!(response(&Path::ObjectInstance(3, 0), &refused, &BuiltinModels).0, "4.06 Not Acceptable");
    }
}
