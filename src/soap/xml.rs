//! A small, strict XML tree built with quick-xml's namespace-aware reader.
//!
//! Why a tree and not a streaming reader: the bindings in [`super::schema`] read a message
//! element by element in schema order, and need one element of look-ahead for optional and
//! repeated fields. A tree of the (small, size-limited) SOAP body gives that for free and keeps
//! every rule of well-formedness in this one file.
//!
//! What is refused here (all as [`XmlError`], which the caller maps to `PAA_SINTASSI_EXTRAXSD`):
//! invalid UTF-8, characters XML 1.0 excludes (literal or as character references), anything
//! quick-xml finds ill-formed, a DOCTYPE (so no entity is ever defined,
//! let alone expanded), any entity reference other than the five predefined ones and character
//! references, undeclared prefixes, nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_ELEMENTS`] elements, and text or a second element outside the root.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deepest nesting accepted. paForNode messages nest at most 8 levels inside the envelope.
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document (a full receipt has about 120).
pub const MAX_ELEMENTS: usize = 4096;

/// Namespace of the XML Schema instance attributes (`xsi:type`, `xsi:nil`), which are tolerated.
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One element: its namespace (None = unqualified), local name, children and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI the element is bound to; `None` when unqualified.
    pub ns: Option<String>,
    /// Local name (without prefix).
    pub name: String,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// Concatenated character data (text, CDATA, resolved references) directly in this element.
    pub text: String,
    /// Attributes that are neither namespace declarations nor `xsi:*` (namespace, local name).
    pub foreign_attributes: Vec<(Option<String>, String)>,
}

impl Element {
    /// True when the element carries non-whitespace text.
    pub fn has_text(&self) -> bool {
        !self.text.trim_matches(is_xml_space).is_empty()
    }

    /// True when the element is named `name` in namespace `ns`.
    pub fn is(&self, ns: Option<&str>, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == ns
    }
}

/// The character of one of XML's five predefined entities (`lt`, `gt`, `amp`, `apos`, `quot`):
/// the only ones a document without a DTD may name.
pub fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// Whether XML 1.0 can carry `c` at all.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// XML whitespace (the four characters of the `S` production).
pub fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Why a document was refused before any schema rule was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The bytes are not UTF-8.
    #[error("the document is not valid UTF-8")]
    NotUtf8,
    /// quick-xml found the document ill-formed.
    #[error("the document is not well-formed XML: {0}")]
    IllFormed(String),
    /// A `<!DOCTYPE>` is present.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    /// An entity reference other than the predefined ones.
    #[error("undeclared entity reference &{0};")]
    Entity(String),
    /// A prefix with no namespace declaration in scope.
    #[error("undeclared namespace prefix {0}")]
    UnknownPrefix(String),
    /// Nesting or element count over the limits.
    #[error("the document is nested too deeply or has too many elements")]
    TooLarge,
    /// No root element, or content after it.
    #[error("the document must hold exactly one root element")]
    NotOneRoot,
}

/// Parses a whole document into its root [`Element`].
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    // The tokenizer lets through characters XML 1.0 excludes (NUL, most C0 controls, U+FFFE,
    // U+FFFF) in names, text and attribute values alike: one scan refuses them all.
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(not_xml_char(c));
    }
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::IllFormed(e.to_string()))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => Some(ns.into_inner().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => return Err(XmlError::UnknownPrefix(prefix)),
        };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::NotOneRoot);
            }
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let element = open(&reader, &start, ns)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let element = open(&reader, &start, ns)?;
                close(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                // check_end_names guarantees the end tag matches the open one.
                let element = stack.pop().ok_or(XmlError::NotOneRoot)?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content)?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None => return Err(XmlError::NotOneRoot),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| XmlError::IllFormed(e.to_string()))?
                        .ok_or_else(|| XmlError::Entity(r.xml10_content().into_owned()))
                        .and_then(|c| {
                            if is_xml_char(c) {
                                Ok(c)
                            } else {
                                Err(not_xml_char(c))
                            }
                        })?
                } else {
                    let name = r.xml10_content();
                    predefined_entity(&name).ok_or_else(|| XmlError::Entity(name.into_owned()))?
                };
                match stack.last_mut() {
                    Some(top) => top.text.push(resolved),
                    None => return Err(XmlError::NotOneRoot),
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::IllFormed(
            "unclosed element at end of input".into(),
        ));
    }
    root.ok_or(XmlError::NotOneRoot)
}

fn not_xml_char(c: char) -> XmlError {
    XmlError::IllFormed(format!(
        "character U+{:04X} is not allowed in XML",
        u32::from(c)
    ))
}

fn push_text(stack: &mut [Element], content: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(top) => {
            top.text.push_str(content);
            Ok(())
        }
        // Whitespace around the root is allowed, anything else is not.
        None if content.chars().all(is_xml_space) => Ok(()),
        None => Err(XmlError::NotOneRoot),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    ns: Option<String>,
) -> Result<Element, XmlError> {
    let mut foreign = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::IllFormed(e.to_string()))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
        let attr_ns = match resolved {
            ResolveResult::Bound(ns) => Some(ns.into_inner().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => return Err(XmlError::UnknownPrefix(prefix)),
        };
        // Attribute values may hold entity references too; refuse unknown ones, and character
        // references to characters XML cannot carry.
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::IllFormed(e.to_string()))?;
        if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
            return Err(not_xml_char(c));
        }
        if attr_ns.as_deref() == Some(XSI_NS) {
            continue;
        }
        foreign.push((attr_ns, local.into_inner().to_owned()));
    }
    Ok(Element {
        ns,
        name: start.local_name().into_inner().to_owned(),
        children: Vec::new(),
        text: String::new(),
        foreign_attributes: foreign,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_text() {
        let doc = br#"<?xml version="1.0"?><a:r xmlns:a="urn:a"><c>x &amp; y&#33;</c><d/></a:r>"#;
        let root = parse(doc).unwrap();
        assert!(root.is(Some("urn:a"), "r"));
        assert_eq!(root.children.len(), 2);
        assert!(root.children[0].is(None, "c"));
        assert_eq!(root.children[0].text, "x & y!");
    }

    #[test]
    fn default_namespace_reset_is_unqualified() {
        let doc = br#"<r xmlns="urn:a"><c xmlns="">1</c></r>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.ns.as_deref(), Some("urn:a"));
        assert_eq!(root.children[0].ns, None);
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><l>&a;</l>"#;
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        assert_eq!(parse(b"<l>&a;</l>"), Err(XmlError::Entity("a".into())));
    }

    #[test]
    fn refuses_ill_formed_documents() {
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::IllFormed(_))));
        assert!(matches!(parse(b"<a>"), Err(XmlError::IllFormed(_))));
        assert_eq!(parse(b""), Err(XmlError::NotOneRoot));
        assert_eq!(parse(b"<a/><b/>"), Err(XmlError::NotOneRoot));
        assert_eq!(parse(b"<a/>junk"), Err(XmlError::NotOneRoot));
        assert_eq!(parse(b"<p:a/>"), Err(XmlError::UnknownPrefix("p".into())));
        assert_eq!(
            parse(&[0x3c, 0x61, 0xff, 0x2f, 0x3e]),
            Err(XmlError::NotUtf8)
        );
    }

    #[test]
    fn refuses_characters_xml_cannot_carry() {
        // Found by `make fuzz` (soap_decode): control characters inside an end tag were
        // accepted by the tokenizer and echoed into the fault description.
        let doc = b"<a><b>1</\x02\x00\x00PA></a>";
        assert!(matches!(parse(doc), Err(XmlError::IllFormed(_))));
        for doc in [
            &b"<a>x\x01y</a>"[..],
            b"<a b=\"\x1f\"/>",
            b"<a>\x00</a>",
            b"<a><![CDATA[\x0b]]></a>",
            "<a>\u{fffe}</a>".as_bytes(),
            b"<a>&#1;</a>",
            b"<a>&#0;</a>",
            b"<a>&#xFFFF;</a>",
            b"<a>&#xD800;</a>",
            b"<a b='&#2;'/>",
        ] {
            assert!(
                matches!(
                    parse(doc),
                    Err(XmlError::IllFormed(_) | XmlError::Entity(_))
                ),
                "{:?}: {:?}",
                String::from_utf8_lossy(doc),
                parse(doc)
            );
        }
        // Tabs, line ends and characters beyond the BMP are XML.
        let ok = parse("<a>\t\r\n\u{1f600}&#9;&#xA;&#13;</a>".as_bytes()).unwrap();
        assert_eq!(ok.text, "\t\n\u{1f600}\t\n\r");
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooLarge));
    }
}
