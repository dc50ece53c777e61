//! A small XML text writer for CWMP envelopes: escaping, elements and SOAP-ENC arrays.

use std::fmt::Write as _;

/// Escapes text for element content and attribute values. `\r` and `\t` are written as
/// character references so that they survive XML end-of-line and attribute normalisation.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Accumulates an XML document. CWMP children are unqualified, so names are written as given.
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        XmlWriter { out: String::with_capacity(1024) }
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// `<name a="v" …>`
    pub(crate) fn start_with(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// `<name>`
    pub(crate) fn start(&mut self, name: &str) {
        self.start_with(name, &[]);
    }

    /// `</name>`
    pub(crate) fn end(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Escaped character data.
    pub(crate) fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }

    /// `<name>text</name>`
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.start(name);
        escape_into(&mut self.out, text);
        self.end(name);
    }

    /// `<name>n</name>` for any displayable number.
    pub(crate) fn leaf_num(&mut self, name: &str, n: impl std::fmt::Display) {
        self.start(name);
        let _ = write!(self.out, "{n}");
        self.end(name);
    }

    /// `<name>true|false</name>` (xsd:boolean canonical form).
    pub(crate) fn leaf_bool(&mut self, name: &str, b: bool) {
        self.leaf(name, if b { "true" } else { "false" });
    }

    /// Opens a SOAP-ENC array: `<name soap-enc:arrayType="item_type[n]">`
    /// (TR-069 Amendment 6, A.2.2.1 "Arrays": arrayType is required and counts the members).
    pub(crate) fn start_array(&mut self, name: &str, item_type: &str, len: usize) {
        let array_type = format!("{item_type}[{len}]");
        self.start_with(name, &[("soap-enc:arrayType", &array_type)]);
    }

    /// An array of `xsd:string` members named `string` (ParameterNames, MethodList, AccessList).
    pub(crate) fn string_array(&mut self, name: &str, items: &[String]) {
        self.start_array(name, "xsd:string", items.len());
        for item in items {
            self.leaf("string", item);
        }
        self.end(name);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}
