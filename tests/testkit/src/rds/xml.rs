//! A small XML tree for the RDS Query protocol: parses moto's responses so the fidelity layer can rewrite
//! single fields in place, and builds the responses and `ErrorResponse` documents the layer answers itself.
//!
//! RDS responses are plain element trees (one namespace declaration on the root, no mixed content), so a
//! tree of elements and text built on `xmlparser` is all that is needed; it keeps element order, which the
//! SDK does not need but makes the rewritten bodies easy to compare with moto's.

use anyhow::{Result, anyhow, bail};

/// The namespace of every RDS response (API version 2014-10-31).
pub(crate) const NAMESPACE: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element { name: name.into(), ..Element::default() }
    }

    /// `<name>text</name>`.
    pub fn text_node(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut e = Element::new(name);
        e.children.push(Node::Text(text.into()));
        e
    }

    pub fn push(&mut self, child: Element) -> &mut Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Appends `<name>text</name>` when `text` is present; RDS leaves absent members out entirely.
    pub fn push_opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.push(Element::text_node(name, t));
        }
        self
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }

    /// The concatenated text directly inside this element.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text)
    }

    /// Replaces the text of child `name`, appending the child when moto left it out.
    pub fn set_child_text(&mut self, name: &str, text: &str) {
        match self.child_mut(name) {
            Some(c) => c.children = vec![Node::Text(text.to_string())],
            None => {
                self.push(Element::text_node(name, text));
            }
        }
    }

    /// Every element named `name` at any depth below (and including) this one, in document order.
    pub fn descendants(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        self.collect(name, &mut out);
        out
    }

    fn collect<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        if self.name == name {
            out.push(self);
        }
        for c in self.elements() {
            c.collect(name, out);
        }
    }

    /// Calls `f` on every element named `name`, outermost first; does not descend into a match.
    pub fn for_each_mut(&mut self, name: &str, f: &mut dyn FnMut(&mut Element)) {
        if self.name == name {
            f(self);
            return;
        }
        for c in self.elements_mut() {
            c.for_each_mut(name, f);
        }
    }

    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, true, out);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for c in &self.children {
            match c {
                Node::Element(e) => e.write(out),
                Node::Text(t) => escape_into(t, false, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn escape_into(s: &str, attr: bool, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Result<String> {
    if !s.contains('&') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or_else(|| anyhow!("unterminated entity in {s:?}"))? + i;
        let entity = &rest[i + 1..end];
        match entity {
            "amp" => out.push('&'),
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "quot" => out.push('"'),
            "apos" => out.push('\''),
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16)?
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse()?
                } else {
                    bail!("unknown entity &{entity};")
                };
                out.push(char::from_u32(code).ok_or_else(|| anyhow!("bad character reference {code}"))?);
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a whole document into its root element (declaration, comments and whitespace between elements
/// are dropped).
pub(crate) fn parse(doc: &str) -> Result<Element> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    for token in Tokenizer::from(doc) {
        match token? {
            Token::ElementStart { prefix, local, .. } => stack.push(Element::new(qualified(&prefix, &local))),
            Token::Attribute { prefix, local, value, .. } => {
                let top = stack.last_mut().ok_or_else(|| anyhow!("attribute outside an element"))?;
                top.attrs.push((qualified(&prefix, &local), unescape(value.as_str())?));
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(..) | ElementEnd::Empty => {
                    let done = stack.pop().ok_or_else(|| anyhow!("unbalanced end tag"))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(done)),
                        None => root = Some(done),
                    }
                }
            },
            Token::Text { text } => {
                if let Some(top) = stack.last_mut() {
                    let t = unescape(text.as_str())?;
                    // Whitespace between elements is layout, not content.
                    if !t.trim().is_empty() {
                        top.children.push(Node::Text(t));
                    }
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node::Text(text.as_str().to_string()));
                }
            }
            _ => {}
        }
    }
    root.ok_or_else(|| anyhow!("no root element"))
}

fn qualified(prefix: &xmlparser::StrSpan<'_>, local: &xmlparser::StrSpan<'_>) -> String {
    if prefix.is_empty() { local.as_str().to_string() } else { format!("{}:{}", prefix.as_str(), local.as_str()) }
}

pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>…` — `result: None` for actions
/// whose response carries no result element (the Delete* actions).
pub(crate) fn response(action: &str, result: Option<Vec<Element>>) -> String {
    let mut root = Element::new(format!("{action}Response"));
    root.attrs.push(("xmlns".into(), NAMESPACE.into()));
    if let Some(children) = result {
        let mut r = Element::new(format!("{action}Result"));
        for c in children {
            r.push(c);
        }
        root.push(r);
    }
    let mut meta = Element::new("ResponseMetadata");
    meta.push(Element::text_node("RequestId", request_id()));
    root.push(meta);
    root.to_xml()
}

/// An AWS Query-protocol error: the code and message the SDK surfaces, and the HTTP status it arrives with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RdsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl RdsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        RdsError { status, code: code.to_string(), message: message.into() }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValue", message)
    }

    pub fn invalid_combination(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterCombination", message)
    }

    pub fn missing(parameter: &str) -> Self {
        Self::new(400, "MissingParameter", format!("The request must contain the parameter {parameter}"))
    }

    pub fn group_not_found(name: &str) -> Self {
        Self::new(404, "DBParameterGroupNotFound", format!("DBClusterParameterGroup not found: {name}"))
    }

    pub fn cluster_not_found(id: &str) -> Self {
        Self::new(404, "DBClusterNotFoundFault", format!("DBCluster {id} not found."))
    }

    /// 5xx answers come from the service side (`Receiver`), everything else is the caller's fault.
    pub fn to_xml(&self) -> String {
        let mut root = Element::new("ErrorResponse");
        root.attrs.push(("xmlns".into(), NAMESPACE.into()));
        let mut err = Element::new("Error");
        err.push(Element::text_node("Type", if self.status >= 500 { "Receiver" } else { "Sender" }));
        err.push(Element::text_node("Code", self.code.clone()));
        err.push(Element::text_node("Message", self.message.clone()));
        root.push(err);
        root.push(Element::text_node("RequestId", request_id()));
        root.to_xml()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rewrites() {
        let doc = r#"<?xml version="1.0"?><R xmlns="x"><A>1 &amp; 2</A><B/><C><D>d</D></C></R>"#;
        let mut root = parse(doc).unwrap();
        assert_eq!(root.child_text("A").as_deref(), Some("1 & 2"));
        root.set_child_text("B", "b");
        root.for_each_mut("D", &mut |d| d.set_child_text("E", "<e>"));
        assert_eq!(root.to_xml(), r#"<R xmlns="x"><A>1 &amp; 2</A><B>b</B><C><D>d<E>&lt;e&gt;</E></D></C></R>"#);
    }

    #[test]
    fn error_shape() {
        let xml = RdsError::invalid_value("Cannot modify a default parameter group.").to_xml();
        assert!(xml.starts_with(&format!(r#"<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>"#)));
        assert!(xml.contains("<Code>InvalidParameterValue</Code>"));
        assert!(xml.contains("<Message>Cannot modify a default parameter group.</Message>"));
    }
}
