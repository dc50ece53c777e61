//! The simulated client's answers to the LwM2M 1.1 composite operations, without I/O (TS Core
//! 1.1 §6.3, §6.4.3): Read-Composite and Observe-Composite (FETCH on `/`, the
//! body listing paths in SenML JSON or CBOR) with partial presence, and Write-Composite
//! (iPATCH on `/` with SenML records). A 1.0 client answers both with 4.05.

use std::collections::BTreeMap;

use coap_lite::{CoapOption, Packet, ResponseType};

use super::objects::{Effect, Objects};
use crate::coap::encode_uint;
use crate::codec::{self, Content, ContentFormat, Limits};
use crate::model::BuiltinModels;
use crate::path::Path;
use crate::server::Observed;

/// Whether a change at `changed` concerns an observation: one of its paths is at, above or
/// below it.
pub(crate) fn touches(observed: &Observed, changed: &Path) -> bool {
    let near = |p: &Path| p.is_prefix_of(changed) || changed.is_prefix_of(p);
    match observed {
        Observed::Path(p) => near(p),
        Observed::Composite(paths) => paths.iter().any(near),
    }
}

/// SenML JSON and SenML CBOR, the formats of composite requests and answers.
fn senml(format: ContentFormat) -> bool {
    matches!(format, ContentFormat::SenmlJson | ContentFormat::SenmlCbor)
}

impl Objects {
    /// The format of a composite request's body: a 1.1 client takes SenML JSON or CBOR only
    /// (4.05 from a 1.0 client, 4.00 without a format, 4.15 for another one).
    fn composite_format(&self, format: Option<ContentFormat>) -> Result<ContentFormat, ResponseType> {
        if !self.v1_1 {
            return Err(ResponseType::MethodNotAllowed);
        }
        let format = format.ok_or(ResponseType::BadRequest)?;
        if !senml(format) {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        Ok(format)
    }

    /// The records at or under any of `paths`, each once, in tree order; absent paths add
    /// nothing (partial presence, ETS 1.1-int-236).
    pub fn composite_content(&self, paths: &[Path]) -> Content {
        let mut records = BTreeMap::new();
        for path in paths {
            for r in self.content(path).records {
                records.insert(r.path, r);
            }
        }
        Content::new(records.into_values().collect())
    }

    /// Encodes what is at `paths` in `format` (SenML only), or the answer code when it cannot:
    /// 4.04 when none of the paths is present, 4.06 for another format.
    pub fn encode_composite(&self, paths: &[Path], format: ContentFormat) -> Result<Vec<u8>, ResponseType> {
        if !senml(format) {
            return Err(ResponseType::NotAcceptable);
        }
        let content = self.composite_content(paths);
        if content.records.is_empty() {
            return Err(ResponseType::NotFound);
        }
        codec::encode(format, &content, &Path::Root).map_err(|_| ResponseType::NotAcceptable)
    }

    /// The payload of a notification of `observed` in `format` (an Observe's format, or SenML
    /// of all the paths of an Observe-Composite).
    pub fn encode_observed(
        &self,
        observed: &Observed,
        format: ContentFormat,
    ) -> Result<(ContentFormat, Vec<u8>), ResponseType> {
        match observed {
            Observed::Path(p) => self.encode(p, Some(format)),
            Observed::Composite(paths) => self.encode_composite(paths, format).map(|b| (format, b)),
        }
    }

    /// Read-Composite, Observe-Composite (Observe=0) and its cancel (Observe=1): FETCH on `/`.
    pub(crate) fn fetch(
        &self,
        request: &Packet,
        format: Option<ContentFormat>,
        accept: Option<ContentFormat>,
        observe: Option<u32>,
        response: &mut Packet,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        let format = self.composite_format(format)?;
        let paths =
            codec::decode_paths(format, &request.payload, &Limits::default()).map_err(|_| ResponseType::BadRequest)?;
        if paths.is_empty() {
            return Err(ResponseType::BadRequest);
        }
        let answer = accept.unwrap_or(format);
        let token = request.get_token().to_vec();
        if observe == Some(1) {
            effects.push(Effect::CancelObserveComposite { token: token.clone(), paths: paths.clone() });
        }
        let payload = self.encode_composite(&paths, answer)?;
        response.add_option(CoapOption::ContentFormat, encode_uint(u32::from(answer.code())));
        response.payload = payload;
        if observe == Some(0) {
            response.add_option(CoapOption::Observe, encode_uint(0));
            effects.push(Effect::ObserveComposite { token, paths, format: answer });
        }
        Ok(ResponseType::Content)
    }

    /// Write-Composite: iPATCH on `/`, every record checked before any is written.
    pub(crate) fn ipatch(
        &mut self,
        request: &Packet,
        format: Option<ContentFormat>,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        let format = self.composite_format(format)?;
        let content = codec::decode(format, &request.payload, &Path::Root, &BuiltinModels, &Limits::default())
            .map_err(|_| ResponseType::BadRequest)?;
        if content.records.is_empty() {
            return Err(ResponseType::BadRequest);
        }
        let written: Vec<Path> = content.records.iter().map(|r| r.path).collect();
        self.write_records(content, effects)?;
        for path in written {
            self.start_software_downloads(&path, effects);
        }
        Ok(ResponseType::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Value;
    use coap_lite::{MessageClass, RequestType};

    fn objects(v1_1: bool) -> Objects {
        Objects::new("Acme", "m", "s", "1.0", 300, v1_1)
    }

    fn request(method: RequestType, cf: u16, accept: Option<u16>, observe: Option<u32>, body: &[u8]) -> Packet {
        let mut p = Packet::new();
        p.header.code = MessageClass::Request(method);
        p.set_token(vec![7]);
        if let Some(o) = observe {
            p.add_option(CoapOption::Observe, encode_uint(o));
        }
        p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(cf)));
        if let Some(a) = accept {
            p.add_option(CoapOption::Accept, encode_uint(u32::from(a)));
        }
        p.payload = body.to_vec();
        p
    }

    fn answer(o: &mut Objects, request: &Packet) -> (ResponseType, Packet, Vec<Effect>) {
        let mut response = Packet::new();
        let effects = o.handle(request, &mut response);
        let MessageClass::Response(code) = response.header.code else { panic!("no response code") };
        (code, response, effects)
    }

    #[test]
    fn read_composite_answers_the_present_paths() {
        let mut o = objects(true);
        let body = br#"[{"n":"/3/0/0"},{"n":"/42/0/0"},{"bn":"/1/0/","n":"1"}]"#;
        let (code, response, effects) = answer(&mut o, &request(RequestType::Fetch, 110, Some(110), None, body));
        assert_eq!(code, ResponseType::Content);
        assert!(effects.is_empty());
        let content =
            codec::decode(ContentFormat::SenmlJson, &response.payload, &Path::Root, &BuiltinModels, &Limits::default())
                .unwrap();
        assert_eq!(content.records.len(), 2);
        assert_eq!(content.get(&Path::Resource(3, 0, 0)), Some(&Value::String("Acme".into())));
        assert_eq!(content.get(&Path::Resource(1, 0, 1)), Some(&Value::Integer(300)));
        let none = br#"[{"n":"/42/0/0"}]"#;
        assert_eq!(answer(&mut o, &request(RequestType::Fetch, 110, None, None, none)).0, ResponseType::NotFound);
    }

    #[test]
    fn cbor_observe_and_cancel() {
        let mut o = objects(true);
        let body = codec::encode_paths(ContentFormat::SenmlCbor, &[Path::Resource(3, 0, 9)]).unwrap();
        let (code, response, effects) = answer(&mut o, &request(RequestType::Fetch, 112, None, Some(0), &body));
        assert_eq!(code, ResponseType::Content);
        assert_eq!(response.get_first_option(CoapOption::ContentFormat), Some(&encode_uint(112)));
        let expected = Effect::ObserveComposite {
            token: vec![7],
            paths: vec![Path::Resource(3, 0, 9)],
            format: ContentFormat::SenmlCbor,
        };
        assert_eq!(effects, vec![expected]);
        let (_, _, effects) = answer(&mut o, &request(RequestType::Fetch, 112, None, Some(1), &body));
        assert_eq!(
            effects,
            vec![Effect::CancelObserveComposite { token: vec![7], paths: vec![Path::Resource(3, 0, 9)] }]
        );
    }

    #[test]
    fn write_composite_is_all_or_nothing() {
        let mut o = objects(true);
        let body = br#"[{"n":"/1/0/1","v":120},{"n":"/3/0/14","vs":"+02:00"}]"#;
        let (code, _, _) = answer(&mut o, &request(RequestType::IPatch, 110, None, None, body));
        assert_eq!(code, ResponseType::Changed);
        assert_eq!(o.values.get(&Path::Resource(1, 0, 1)), Some(&Value::Integer(120)));
        assert_eq!(o.values.get(&Path::Resource(3, 0, 14)), Some(&Value::String("+02:00".into())));
        let read_only = br#"[{"n":"/1/0/1","v":60},{"n":"/3/0/0","vs":"x"}]"#;
        let (code, _, _) = answer(&mut o, &request(RequestType::IPatch, 110, None, None, read_only));
        assert_eq!(code, ResponseType::MethodNotAllowed);
        assert_eq!(o.values.get(&Path::Resource(1, 0, 1)), Some(&Value::Integer(120)));
        let (code, _, _) = answer(&mut o, &request(RequestType::IPatch, 0, None, None, b"1"));
        assert_eq!(code, ResponseType::UnsupportedContentFormat);
    }

    #[test]
    fn a_1_0_client_knows_no_composite_operation() {
        let mut o = objects(false);
        let body = br#"[{"n":"/3/0/0"}]"#;
        for method in [RequestType::Fetch, RequestType::IPatch] {
            let (code, _, _) = answer(&mut o, &request(method, 110, None, None, body));
            assert_eq!(code, ResponseType::MethodNotAllowed);
        }
    }
}
