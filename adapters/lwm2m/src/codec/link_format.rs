//! `application/link-format` (content format 40, RFC 6690 §2): the Register / Update payload
//! (TS Core 1.1 §6.2.1 "Register" and §5.2.7.1 object-version notation) and Discover answers
//! (§5.4.2 "Discover").
//!
//! Parsing is liberal, since devices are: spaces around separators, empty entries and trailing
//! commas are skipped, attribute values may or may not be quoted, attributes may lack a value.

use super::{CodecError, Limits};
use crate::path::Path;

/// One link: `<target>;attr=value;...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference between `<` and `>`, e.g. `/3/0` or `/lwm2m`.
    pub target: String,
    /// The link parameters in wire order.
    pub attributes: Vec<LinkAttribute>,
}

/// One link parameter (RFC 6690 `link-extension`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAttribute {
    /// Parameter name (`rt`, `ct`, `ver`, `dim`, `pmin`, ...).
    pub name: String,
    /// Value without quotes; `None` for a valueless parameter such as `;obs`.
    pub value: Option<String>,
    /// Whether the value is written as a quoted-string (`rt="oma.lwm2m"`), which LwM2M makes
    /// significant: `rt` is quoted, `ver` must not be (TS Core 1.1 §5.1.2, `<PROPERTIES>`
    /// class attributes).
    pub quoted: bool,
}

impl LinkAttribute {
    /// `name=value`, unquoted.
    pub fn token(name: &str, value: impl ToString) -> LinkAttribute {
        LinkAttribute { name: name.to_owned(), value: Some(value.to_string()), quoted: false }
    }

    /// `name="value"`.
    pub fn quoted(name: &str, value: &str) -> LinkAttribute {
        LinkAttribute { name: name.to_owned(), value: Some(value.to_owned()), quoted: true }
    }
}

impl Link {
    /// A link to an LwM2M path with attributes, as in a Discover answer.
    pub fn for_path(path: &Path, attributes: Vec<LinkAttribute>) -> Link {
        Link { target: path.to_string(), attributes }
    }

    /// The value of the first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.name == name).and_then(|a| a.value.as_deref())
    }
}

/// Parses a link-format document.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Vec<Link>, CodecError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::malformed("link-format payload is not UTF-8"))?;
    let mut links = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return Ok(links);
        }
        limits.check(links.len() + 1)?;
        let after_lt = rest.strip_prefix('<').ok_or_else(|| CodecError::malformed("link must start with '<'"))?;
        let (target, tail) =
            after_lt.split_once('>').ok_or_else(|| CodecError::malformed("link target without '>'"))?;
        let mut link = Link { target: target.trim().to_owned(), attributes: Vec::new() };
        rest = tail;
        loop {
            rest = rest.trim_start();
            let Some(after) = rest.strip_prefix(';') else {
                break;
            };
            let (attr, tail) = parse_attribute(after)?;
            if let Some(attr) = attr {
                link.attributes.push(attr);
            }
            rest = tail;
        }
        rest = rest.trim_start();
        if !(rest.is_empty() || rest.starts_with(',')) {
            return Err(CodecError::malformed(format!("unexpected text after link <{}>", link.target)));
        }
        links.push(link);
    }
}

/// Parses `name[=value]` up to the next `;` or `,`; `None` for an empty parameter (`;;`).
fn parse_attribute(s: &str) -> Result<(Option<LinkAttribute>, &str), CodecError> {
    let s = s.trim_start();
    let name_end = s.find(['=', ';', ',']).unwrap_or(s.len());
    let name = s[..name_end].trim().to_owned();
    let rest = &s[name_end..];
    let Some(after_eq) = rest.strip_prefix('=') else {
        let attr = (!name.is_empty()).then_some(LinkAttribute { name, value: None, quoted: false });
        return Ok((attr, rest));
    };
    let after_eq = after_eq.trim_start();
    let (value, quoted, rest) = if let Some(q) = after_eq.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = q.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(CodecError::malformed("unterminated quoted-string")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, c)) => value.push(c),
                    None => return Err(CodecError::malformed("unterminated quoted-string")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        (value, true, &q[end + 1..])
    } else {
        let end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
        (after_eq[..end].trim().to_owned(), false, &after_eq[end..])
    };
    if name.is_empty() {
        return Err(CodecError::malformed("attribute value without a name"));
    }
    Ok((Some(LinkAttribute { name, value: Some(value), quoted }), rest))
}

/// Writes a link-format document.
pub fn encode(links: &[Link]) -> String {
    let mut out = String::new();
    for (i, link) in links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('<');
        out.push_str(&link.target);
        out.push('>');
        for a in &link.attributes {
            out.push(';');
            out.push_str(&a.name);
            match (&a.value, a.quoted) {
                (None, _) => {}
                (Some(v), false) => {
                    out.push('=');
                    out.push_str(v);
                }
                (Some(v), true) => {
                    out.push_str("=\"");
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                }
            }
        }
    }
    out
}

/// An object or object instance a client declared at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredObject {
    /// `/o` or `/o/i`, relative to the LwM2M root path.
    pub path: Path,
    /// The link's attributes (`ver`, ...).
    pub attributes: Vec<LinkAttribute>,
}

impl RegisteredObject {
    /// The object version from `ver` (TS Core 1.1 §5.1.2), if given.
    pub fn version(&self) -> Option<&str> {
        self.attributes.iter().find(|a| a.name == "ver").and_then(|a| a.value.as_deref())
    }
}

/// What a Register or Update payload says about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The LwM2M root path (`/` unless the client declared `</path>;rt="oma.lwm2m"`); every
    /// request to the client is prefixed with it.
    pub root_path: String,
    /// Content formats from `ct` on the root link (LwM2M 1.1), e.g. `ct="60 110 112 11543"`.
    pub content_formats: Vec<u16>,
    /// Objects and instances, in payload order.
    pub objects: Vec<RegisteredObject>,
    /// Links that are not LwM2M objects (outside the root path, or not `/o` or `/o/i`).
    pub other_links: Vec<Link>,
}

/// Reads a Register / Update payload such as
/// `</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1,</5>`.
pub fn parse_registration(bytes: &[u8], limits: &Limits) -> Result<Registration, CodecError> {
    let links = parse(bytes, limits)?;
    let root = links.iter().find(|l| l.attribute("rt") == Some("oma.lwm2m"));
    let root_path = match root.map(|l| l.target.trim_end_matches('/')) {
        None | Some("") => "/".to_owned(),
        Some(p) => p.to_owned(),
    };
    let content_formats = root
        .and_then(|l| l.attribute("ct"))
        .map(|ct| ct.split_whitespace().filter_map(|c| c.parse::<u16>().ok()).collect())
        .unwrap_or_default();
    let mut reg = Registration { root_path, content_formats, objects: Vec::new(), other_links: Vec::new() };
    for link in links {
        if link.attribute("rt") == Some("oma.lwm2m") {
            continue;
        }
        let relative = if reg.root_path == "/" {
            Some(link.target.as_str())
        } else {
            link.target.strip_prefix(reg.root_path.as_str())
        };
        match relative.and_then(|r| r.parse::<Path>().ok()) {
            Some(path) if matches!(path.depth(), 1 | 2) => {
                reg.objects.push(RegisteredObject { path, attributes: link.attributes })
            }
            _ => reg.other_links.push(link),
        }
    }
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Register payload as Leshan's client writes it (`LinkFormatHelper`).
    #[test]
    fn parses_register_payload() {
        let reg = parse_registration(br#"</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1,</5>"#, &Limits::default())
            .unwrap();
        assert_eq!(reg.root_path, "/");
        assert_eq!(reg.content_formats, vec![11543]);
        let paths: Vec<Path> = reg.objects.iter().map(|o| o.path).collect();
        assert_eq!(paths, vec![Path::ObjectInstance(1, 0), Path::ObjectInstance(3, 0), Path::Object(5)]);
        assert_eq!(reg.objects[1].version(), Some("1.1"));
        assert!(reg.other_links.is_empty());
    }

    #[test]
    fn alternate_root_path_and_liberal_syntax() {
        let reg = parse_registration(
            b" </lwm2m>; rt=\"oma.lwm2m\" ; ct=\"60 110 112\", </lwm2m/3/0> , ,</lwm2m/3303>;ver=\"2.0\",</other>,",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(reg.root_path, "/lwm2m");
        assert_eq!(reg.content_formats, vec![60, 110, 112]);
        assert_eq!(reg.objects.len(), 2);
        assert_eq!(reg.objects[1].path, Path::Object(3303));
        assert_eq!(reg.objects[1].version(), Some("2.0"));
        assert_eq!(reg.other_links.len(), 1);
    }

    /// Discover answer shape (TS Core 1.1 "Discover"): the target and its children, with attributes.
    #[test]
    fn discover_answer_roundtrip() {
        let text = "</3/0>;pmax=60,</3/0/1>,</3/0/6>;dim=2";
        let links = parse(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(links[2].attribute("dim"), Some("2"));
        assert_eq!(encode(&links), text);
        let built = vec![
            Link::for_path(&Path::ObjectInstance(3, 0), vec![LinkAttribute::token("pmax", 60)]),
            Link::for_path(&Path::Resource(3, 0, 1), vec![]),
            Link::for_path(&Path::Resource(3, 0, 6), vec![LinkAttribute::token("dim", 2)]),
        ];
        assert_eq!(encode(&built), text);
        assert_eq!(
            encode(&[Link { target: "/".into(), attributes: vec![LinkAttribute::quoted("rt", "oma.lwm2m")] }]),
            "</>;rt=\"oma.lwm2m\""
        );
    }

    #[test]
    fn valueless_and_escaped_attributes() {
        let links = parse(br#"</a>;obs;title="say \"hi\"""#, &Limits::default()).unwrap();
        assert_eq!(links[0].attributes[0].value, None);
        assert_eq!(links[0].attribute("title"), Some("say \"hi\""));
        let again = parse(encode(&links).as_bytes(), &Limits::default()).unwrap();
        assert_eq!(again, links);
    }

    #[test]
    fn rejects_garbage() {
        let l = Limits::default();
        assert!(parse(b"/3/0", &l).is_err());
        assert!(parse(b"</3/0", &l).is_err());
        assert!(parse(b"</3/0>;a=\"x", &l).is_err());
        assert!(parse(b"</3/0> junk", &l).is_err());
        assert!(parse(&[0xFF], &l).is_err());
        assert!(parse(b"</a>,</b>", &Limits { max_records: 1 }).is_err());
    }

    fn any_link() -> impl Strategy<Value = Link> {
        let attr = ("[a-z]{1,5}", proptest::option::of("[ -~]{0,8}"), any::<bool>())
            .prop_map(|(name, value, quoted)| {
                // Unquoted values cannot hold separators or quotes, nor keep edge spaces.
                let quoted = quoted
                    || value.as_deref().is_some_and(|v| v.is_empty() || v.contains([';', ',', '"']) || v.trim() != v);
                LinkAttribute { name, value, quoted }
            })
            .prop_map(|mut a| {
                if a.value.is_none() {
                    a.quoted = false;
                }
                a
            });
        ("/[a-z0-9/]{0,10}", proptest::collection::vec(attr, 0..4))
            .prop_map(|(target, attributes)| Link { target, attributes })
    }

    proptest! {
        #[test]
        fn roundtrip(links in proptest::collection::vec(any_link(), 0..5)) {
            let text = encode(&links);
            prop_assert_eq!(parse(text.as_bytes(), &Limits::default()).unwrap(), links);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse(&bytes, &Limits::default());
            let _ = parse_registration(&bytes, &Limits::default());
        }

        #[test]
        fn arbitrary_text_never_panics(s in r#"[<>;,="\\a-z0-9/ ]{0,40}"#) {
            let _ = parse_registration(s.as_bytes(), &Limits::default());
        }
    }
}
