//! Validation of the service-specific data of spontaneous payments against the service's XSD.
//!
//! `paDemandPaymentNotice` carries `datiSpecificiServizioRequest`: base64 of a small XML document
//! that must be valid against a schema configured per service (the pagoPA catalogue publishes one
//! per service). We validate in pure Rust, and only against a well-defined subset of XSD 1.0: a
//! schema using anything outside it is refused by [`Schema::compile`], naming the construct, so
//! nothing is ever accepted that we do not understand.
//!
//! Supported: one `xs:schema` (any prefix), `targetNamespace`, `elementFormDefault` and
//! `attributeFormDefault`, global and local elements (`type`, `ref`, anonymous types,
//! occurrences, `fixed`, `default`, `form`), named and anonymous complex types with `xs:sequence`,
//! `xs:choice`, `xs:all`, `xs:any` and empty content, `xs:simpleContent` extending a simple type,
//! attribute declarations and `xs:anyAttribute`, simple types restricting built-in or named
//! simple types with every XSD 1.0 facet, and the common built-in types.
//!
//! Refused: `xs:import`, `xs:include`, `xs:redefine`, `xs:group`, `xs:attributeGroup`, global
//! attributes, `xs:complexContent` (type derivation), `xs:list`, `xs:union`, `mixed`,
//! `abstract`, `substitutionGroup`, `nillable` (the XML parser drops `xsi:nil`), identity
//! constraints, non-deterministic content models, content that can never terminate, and the
//! built-in types not listed in [`builtin`] (ID, QName, duration...).
//!
//! Known limits, both because [`Element`] carries attribute names but not their values:
//! attribute values are not checked against their types or `fixed` values, and `xsi:type` and
//! `xsi:nil` in a document are not seen.
//!
//! Content models are compiled to Glushkov automata (occurrence ranges unrolled, at most
//! [`MAX_POSITIONS`] positions) and run as state sets: linear in the number of children whatever
//! the input. Patterns go to the `regex` crate, which has no backtracking.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use regex::{Regex, RegexBuilder};

use crate::soap::xml::{Element, is_xml_space};

/// The XML Schema namespace.
const XS: &str = "http://www.w3.org/2001/XMLSchema";
/// The namespace bound to the `xml` prefix.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// Most positions of one content model once occurrence ranges are unrolled.
pub const MAX_POSITIONS: usize = 2000;
/// Deepest schema document accepted (elements of the XSD itself).
const MAX_SCHEMA_DEPTH: usize = 64;
/// Longest chain of named simple types deriving from one another.
const MAX_DERIVATION: usize = 64;
/// Deepest instance document validated (the XML parser already stops at 32).
const MAX_DEPTH: usize = 256;
/// Longest value or name quoted in a problem (they end up in SOAP fault descriptions).
const MAX_QUOTE: usize = 40;

/// A compiled schema (Send + Sync, cheap to share in an Arc).
#[derive(Debug)]
pub struct Schema {
    elements: Vec<ElementDecl>,
    globals: Vec<usize>,
    complex: Vec<ComplexType>,
    simple: Vec<SimpleType>,
}

/// Why a schema was refused: the construct, and the line of the schema where it appears.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// Line of the schema (1-based), when known.
    pub line: Option<usize>,
    /// Human text, starting with `line N:` when the line is known.
    pub message: String,
}

/// Why a document is not valid: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Slash-separated local names from the root to the offending element, e.g.
    /// "tassaAuto/veicoloConTarga/veicoloTarga" (the root alone for root problems).
    pub path: String,
    /// What is wrong, in plain English, e.g. "has 9 characters, at most 8 allowed".
    pub problem: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for Invalid {}

fn fail(line: usize, message: impl fmt::Display) -> CompileError {
    CompileError {
        line: Some(line),
        message: format!("line {line}: {message}"),
    }
}

fn invalid(path: &str, problem: String) -> Invalid {
    Invalid {
        path: path.to_owned(),
        problem,
    }
}

/// A value or name from a document, quoted and cut to [`MAX_QUOTE`] characters.
fn quote(s: &str) -> String {
    format!("\"{}\"", clip(s))
}

/// A name or value cut to [`MAX_QUOTE`] characters, control characters as spaces.
fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTE)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTE).is_some() {
        out.push('…');
    }
    out
}

fn clark(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => {
            let ns: String = ns.chars().take(2 * MAX_QUOTE).collect();
            format!("{{{ns}}}{}", clip(name))
        }
        None => clip(name),
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled form

#[derive(Debug)]
struct ElementDecl {
    ns: Option<String>,
    name: String,
    ty: Ty,
    /// The fixed value: its text and its value.
    fixed: Option<(String, Value)>,
    /// Whether a default value applies to empty elements.
    default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// xs:anyType: any attributes, any text, children validated laxly.
    Any,
    Simple(usize),
    Complex(usize),
}

#[derive(Debug)]
struct ComplexType {
    line: usize,
    content: Content,
    attributes: Vec<AttributeDecl>,
    /// `xs:anyAttribute` with lax or skip processing (strict ones allow nothing: no global
    /// attributes exist).
    any_attribute: Option<NsSet>,
}

#[derive(Debug)]
struct AttributeDecl {
    ns: Option<String>,
    name: String,
    required: bool,
}

#[derive(Debug)]
enum Content {
    Elements(Model),
    All(AllGroup),
    Simple(usize),
}

#[derive(Debug)]
struct AllGroup {
    optional: bool,
    members: Vec<(usize, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Leaf {
    Element(usize),
    Any(Wildcard),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Wildcard {
    ns: NsSet,
    process: Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Process {
    Strict,
    Lax,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NsSet {
    Any,
    /// `##other`: any namespace but this one, and not unqualified.
    Other(Option<String>),
    Only(Vec<Option<String>>),
}

impl NsSet {
    fn allows(&self, ns: Option<&str>) -> bool {
        match self {
            NsSet::Any => true,
            NsSet::Other(t) => ns.is_some() && ns != t.as_deref(),
            NsSet::Only(list) => list.iter().any(|n| n.as_deref() == ns),
        }
    }

    fn intersects(&self, other: &NsSet) -> bool {
        match (self, other) {
            (NsSet::Any, _) | (_, NsSet::Any) | (NsSet::Other(_), NsSet::Other(_)) => true,
            (NsSet::Other(_), NsSet::Only(list)) | (NsSet::Only(list), NsSet::Other(_)) => list
                .iter()
                .any(|n| self.allows(n.as_deref()) && other.allows(n.as_deref())),
            (NsSet::Only(a), NsSet::Only(b)) => a.iter().any(|n| b.contains(n)),
        }
    }
}

/// A content model as a Glushkov automaton: one state per position (an occurrence of a leaf
/// once ranges are unrolled) plus the start state.
#[derive(Debug)]
struct Model {
    leaves: Vec<Leaf>,
    pos_leaf: Vec<usize>,
    first: Vec<usize>,
    follow: Vec<Vec<usize>>,
    is_last: Vec<bool>,
    nullable: bool,
}

// ---------------------------------------------------------------------------------------------
// The public API

impl Schema {
    /// Compiles XSD text. Errors name the construct and, where possible, the line.
    pub fn compile(xsd: &str) -> Result<Schema, CompileError> {
        let root = read_tree(xsd)?;
        Compiler::new(&root)?.run()
    }

    /// Validates a parsed instance document.
    pub fn validate(&self, doc: &Element) -> Result<(), Invalid> {
        let path = clip(&doc.name);
        match self.global(doc) {
            Some(decl) => self.element(decl, doc, &path, 0),
            None => Err(invalid(
                &path,
                format!(
                    "the document's root {} is not declared by the schema",
                    clark(doc.ns.as_deref(), &doc.name)
                ),
            )),
        }
    }

    /// The global elements a document may start with: (namespace, local name).
    pub fn roots(&self) -> Vec<(Option<String>, String)> {
        self.globals
            .iter()
            .map(|&g| (self.elements[g].ns.clone(), self.elements[g].name.clone()))
            .collect()
    }

    fn global(&self, el: &Element) -> Option<&ElementDecl> {
        self.globals
            .iter()
            .map(|&g| &self.elements[g])
            .find(|d| el.is(d.ns.as_deref(), &d.name))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the schema document: a tree with attribute values and the namespaces in scope.

#[derive(Debug)]
struct Node {
    ns: Option<String>,
    name: String,
    /// Attributes without a namespace (the XSD ones): local name and value.
    attrs: Vec<(String, String)>,
    /// Namespace bindings in scope (prefix, URI), innermost last; "" is the default namespace.
    bindings: Vec<(String, String)>,
    children: Vec<Node>,
    text: bool,
    line: usize,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_xs(&self, name: &str) -> bool {
        self.ns.as_deref() == Some(XS) && self.name == name
    }

    fn resolve(&self, prefix: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str())
    }
}

fn read_tree(xsd: &str) -> Result<Node, CompileError> {
    let mut reader = Reader::from_str(xsd);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    config.trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let (mut line, mut counted) = (1usize, 0usize);
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        if let Some(gap) = xsd.get(counted..pos) {
            line += gap.matches('\n').count();
            counted = pos;
        }
        let event = reader
            .read_event()
            .map_err(|e| fail(line, format!("the schema is not well-formed XML: {e}")))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(fail(line, "the schema has more than one root element"));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_SCHEMA_DEPTH {
                    return Err(fail(line, "the schema is nested too deeply"));
                }
                let node = open(&start, stack.last(), line)?;
                stack.push(node);
            }
            Event::Empty(start) => {
                let node = open(&start, stack.last(), line)?;
                attach(&mut stack, &mut root, node);
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| fail(line, "unbalanced end tag"))?;
                attach(&mut stack, &mut root, node);
            }
            Event::Text(t) => {
                let blank = t.xml10_content().chars().all(is_xml_space);
                match stack.last_mut() {
                    Some(top) => top.text |= !blank,
                    None if blank => {}
                    None => return Err(fail(line, "text outside the schema element")),
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => match stack.last_mut() {
                Some(top) => top.text = true,
                None => return Err(fail(line, "text outside the schema element")),
            },
            Event::DocType(_) => return Err(fail(line, "DOCTYPE is not accepted in a schema")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(fail(line, "the schema ends inside an element"));
    }
    root.ok_or_else(|| fail(line, "the schema has no root element"))
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn open(start: &BytesStart<'_>, parent: Option<&Node>, line: usize) -> Result<Node, CompileError> {
    let mut bindings = match parent {
        Some(p) => p.bindings.clone(),
        None => vec![("xml".to_owned(), XML_NS.to_owned())],
    };
    let mut raw = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| fail(line, format!("the schema is not well-formed: {e}")))?;
        let key = attr.key.into_inner().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| fail(line, format!("the schema is not well-formed: {e}")))?
            .into_owned();
        if key == "xmlns" {
            bindings.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            bindings.push((prefix.to_owned(), value));
        } else {
            raw.push((key, value));
        }
    }
    let mut node = Node {
        ns: None,
        name: String::new(),
        attrs: Vec::new(),
        bindings,
        children: Vec::new(),
        text: false,
        line,
    };
    let qname = start.name().into_inner().to_owned();
    let (ns, name) = split_qname(&node, &qname, true).map_err(|e| fail(line, e))?;
    node.ns = ns;
    node.name = name;
    for (key, value) in raw {
        match key.split_once(':') {
            // Attributes in other namespaces (xml:lang, vendor annotations) are ignored.
            Some((prefix, _)) if node.resolve(prefix).is_some() => {}
            Some((prefix, _)) => return Err(fail(line, format!("undeclared prefix {prefix}"))),
            None => node.attrs.push((key, value)),
        }
    }
    Ok(node)
}

/// Resolves `prefix:local` (or `local`, in the default namespace) through `node`'s bindings.
fn split_qname(
    node: &Node,
    qname: &str,
    default_ns: bool,
) -> Result<(Option<String>, String), String> {
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    if local.is_empty() || local.contains(':') {
        return Err(format!("{} is not a valid qualified name", quote(qname)));
    }
    match node.resolve(prefix) {
        Some("") | None if prefix.is_empty() || !default_ns => Ok((None, local.to_owned())),
        Some(uri) => Ok((Some(uri.to_owned()), local.to_owned())),
        None => Err(format!("undeclared prefix {prefix} in {}", quote(qname))),
    }
}

// ---------------------------------------------------------------------------------------------
// The compiler

struct Compiler<'n> {
    root: &'n Node,
    target: Option<String>,
    qualified: bool,
    attr_qualified: bool,
    simple_nodes: HashMap<&'n str, &'n Node>,
    complex_slots: HashMap<&'n str, usize>,
    global_slots: HashMap<&'n str, usize>,
    simple_named: HashMap<String, usize>,
    busy: Vec<String>,
    elements: Vec<ElementDecl>,
    complex: Vec<Option<ComplexType>>,
    simple: Vec<SimpleType>,
    /// Elements with a fixed or default value, checked once every type is compiled.
    values: Vec<(usize, &'n Node)>,
}

/// The XSD elements that exist but are outside the subset, with the reason shown.
fn unsupported(name: &str) -> Option<&'static str> {
    Some(match name {
        "import" | "include" | "redefine" => "schemas made of several documents are not supported",
        "group" | "attributeGroup" => "named groups are not supported",
        "attribute" => "global attributes are not supported",
        "notation" => "notations are not supported",
        "complexContent" => "type derivation (complexContent) is not supported",
        "list" | "union" => "list and union types are not supported",
        "key" | "keyref" | "unique" => "identity constraints are not supported",
        _ => return None,
    })
}

fn refuse(node: &Node) -> CompileError {
    match unsupported(&node.name) {
        Some(why) if node.ns.as_deref() == Some(XS) => fail(
            node.line,
            format!("xs:{} is not supported: {why}", node.name),
        ),
        _ if node.ns.as_deref() == Some(XS) => {
            fail(node.line, format!("xs:{} is not allowed here", node.name))
        }
        _ => fail(
            node.line,
            format!(
                "element {} is not an XSD element",
                clark(node.ns.as_deref(), &node.name)
            ),
        ),
    }
}

/// The XSD children of `node`, without annotations; text and foreign elements are refused.
fn content(node: &Node) -> Result<Vec<&Node>, CompileError> {
    if node.text {
        return Err(fail(
            node.line,
            format!("text is not allowed inside xs:{}", node.name),
        ));
    }
    let mut out = Vec::new();
    for child in &node.children {
        if child.ns.as_deref() != Some(XS) {
            return Err(refuse(child));
        }
        if child.name != "annotation" {
            out.push(child);
        }
    }
    Ok(out)
}

/// Refuses attributes of `node` outside `allowed`, and the refused ones with their reason.
fn check_attrs(node: &Node, allowed: &[&str]) -> Result<(), CompileError> {
    for (name, value) in &node.attrs {
        let refused = match name.as_str() {
            "substitutionGroup" => Some("substitution groups are not supported"),
            "abstract" if value != "false" => Some("abstract declarations are not supported"),
            "mixed" if value != "false" => Some("mixed content is not supported"),
            "nillable" if value != "false" => {
                Some("nillable is not supported (the XML parser does not expose xsi:nil)")
            }
            _ => None,
        };
        if let Some(why) = refused {
            return Err(fail(
                node.line,
                format!("xs:{} {name}=\"{value}\": {why}", node.name),
            ));
        }
        if !allowed.contains(&name.as_str()) {
            return Err(fail(
                node.line,
                format!("attribute {name} is not allowed on xs:{}", node.name),
            ));
        }
    }
    Ok(())
}

fn required<'a>(node: &'a Node, name: &str) -> Result<&'a str, CompileError> {
    node.attr(name).ok_or_else(|| {
        fail(
            node.line,
            format!("xs:{} needs the attribute {name}", node.name),
        )
    })
}

fn form(node: &Node, attr: &str, default: bool) -> Result<bool, CompileError> {
    match node.attr(attr) {
        None => Ok(default),
        Some("qualified") => Ok(true),
        Some("unqualified") => Ok(false),
        Some(other) => Err(fail(node.line, format!("{attr}=\"{other}\" is not valid"))),
    }
}

fn occurs(node: &Node) -> Result<(usize, Option<usize>), CompileError> {
    let number = |attr: &str, v: &str| {
        let v = v.trim_matches(is_xml_space);
        v.parse::<u32>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .map(|n| n as usize)
            .ok_or_else(|| {
                fail(
                    node.line,
                    format!("{attr}=\"{v}\" is not a supported number"),
                )
            })
    };
    let min = match node.attr("minOccurs") {
        Some(v) => number("minOccurs", v)?,
        None => 1,
    };
    let max = match node.attr("maxOccurs") {
        Some(v) if v.trim_matches(is_xml_space) == "unbounded" => None,
        Some(v) => Some(number("maxOccurs", v)?),
        None => Some(1),
    };
    if max.is_some_and(|max| max < min) {
        return Err(fail(node.line, "minOccurs is greater than maxOccurs"));
    }
    Ok((min, max))
}

/// A particle before unrolling.
enum Particle {
    Leaf(usize, usize, Option<usize>),
    Group(bool, Vec<Particle>, usize, Option<usize>),
}

impl<'n> Compiler<'n> {
    fn new(root: &'n Node) -> Result<Self, CompileError> {
        if !root.is_xs("schema") {
            return Err(fail(root.line, "the root element must be xs:schema"));
        }
        check_attrs(
            root,
            &[
                "targetNamespace",
                "elementFormDefault",
                "attributeFormDefault",
                "version",
                "id",
                "blockDefault",
                "finalDefault",
            ],
        )?;
        let target = match root.attr("targetNamespace") {
            Some("") => return Err(fail(root.line, "targetNamespace must not be empty")),
            other => other.map(str::to_owned),
        };
        let mut compiler = Compiler {
            root,
            target,
            qualified: form(root, "elementFormDefault", false)?,
            attr_qualified: form(root, "attributeFormDefault", false)?,
            simple_nodes: HashMap::new(),
            complex_slots: HashMap::new(),
            global_slots: HashMap::new(),
            simple_named: HashMap::new(),
            busy: Vec::new(),
            elements: Vec::new(),
            complex: Vec::new(),
            simple: Vec::new(),
            values: Vec::new(),
        };
        for node in content(root)? {
            match node.name.as_str() {
                "simpleType" | "complexType" => {
                    let name = required(node, "name")?;
                    if compiler.simple_nodes.contains_key(name)
                        || compiler.complex_slots.contains_key(name)
                    {
                        return Err(fail(node.line, format!("type {name} is defined twice")));
                    }
                    if node.name == "simpleType" {
                        compiler.simple_nodes.insert(name, node);
                    } else {
                        compiler.complex_slots.insert(name, compiler.complex.len());
                        compiler.complex.push(None);
                    }
                }
                "element" => {
                    let name = required(node, "name")?;
                    if compiler.global_slots.contains_key(name) {
                        return Err(fail(node.line, format!("element {name} is declared twice")));
                    }
                    compiler.global_slots.insert(name, compiler.elements.len());
                    compiler.elements.push(ElementDecl {
                        ns: compiler.target.clone(),
                        name: name.to_owned(),
                        ty: Ty::Any,
                        fixed: None,
                        default: false,
                    });
                }
                _ => return Err(refuse(node)),
            }
        }
        Ok(compiler)
    }

    fn run(mut self) -> Result<Schema, CompileError> {
        let top = content(self.root)?;
        let mut globals = Vec::new();
        for node in &top {
            match node.name.as_str() {
                "element" => {
                    let decl = self.element_decl(node, true)?;
                    let slot = self.global_slots.get(decl.name.as_str()).copied();
                    if let Some(slot) = slot {
                        self.elements[slot] = decl;
                        globals.push(slot);
                    }
                }
                "complexType" => {
                    let ty = self.complex_type(node)?;
                    let name = node.attr("name").unwrap_or_default();
                    if let Some(&slot) = self.complex_slots.get(name) {
                        self.complex[slot] = Some(ty);
                    }
                }
                _ => {
                    self.named_simple(node.attr("name").unwrap_or_default(), node.line)?;
                }
            }
        }
        let complex = self
            .complex
            .into_iter()
            .map(|c| c.ok_or_else(|| fail(1, "internal: a complex type was not compiled")))
            .collect::<Result<Vec<_>, _>>()?;
        for (decl, node) in std::mem::take(&mut self.values) {
            let simple = match self.elements[decl].ty {
                Ty::Simple(s) => s,
                Ty::Complex(c) => match complex[c].content {
                    Content::Simple(s) => s,
                    _ => {
                        return Err(fail(
                            node.line,
                            "fixed and default need a simple type or simple content",
                        ));
                    }
                },
                Ty::Any => {
                    return Err(fail(
                        node.line,
                        "fixed and default on an element of type anyType are not supported",
                    ));
                }
            };
            let st = &self.simple[simple];
            if let Some(v) = node.attr("default") {
                st.check(v)
                    .map_err(|p| fail(node.line, format!("default: {p}")))?;
                self.elements[decl].default = true;
            }
            if let Some(v) = node.attr("fixed") {
                let value = st
                    .check(v)
                    .map_err(|p| fail(node.line, format!("fixed: {p}")))?;
                self.elements[decl].fixed = Some((v.to_owned(), value));
            }
        }
        let schema = Schema {
            elements: self.elements,
            globals,
            complex,
            simple: self.simple,
        };
        schema.check_consistent()?;
        schema.check_terminates()?;
        Ok(schema)
    }

    fn element_decl(&mut self, node: &'n Node, global: bool) -> Result<ElementDecl, CompileError> {
        let allowed: &[&str] = if global {
            &[
                "name", "type", "fixed", "default", "nillable", "id", "block", "final", "abstract",
            ]
        } else {
            &[
                "name",
                "type",
                "fixed",
                "default",
                "nillable",
                "id",
                "block",
                "form",
                "minOccurs",
                "maxOccurs",
            ]
        };
        check_attrs(node, allowed)?;
        let name = required(node, "name")?;
        let qualified = global || form(node, "form", self.qualified)?;
        let kids = content(node)?;
        let ty = match (node.attr("type"), kids.as_slice()) {
            (Some(t), []) => self.type_ref(node, t)?,
            (None, []) => Ty::Any,
            (None, [child]) if child.name == "simpleType" => {
                let st = self.simple_type(child)?;
                self.simple.push(st);
                Ty::Simple(self.simple.len() - 1)
            }
            (None, [child]) if child.name == "complexType" => {
                if child.attr("name").is_some() {
                    return Err(fail(child.line, "an anonymous xs:complexType has no name"));
                }
                let ct = self.complex_type(child)?;
                self.complex.push(Some(ct));
                Ty::Complex(self.complex.len() - 1)
            }
            (_, [.., last]) => return Err(refuse(last)),
        };
        if node.attr("fixed").is_some() && node.attr("default").is_some() {
            return Err(fail(
                node.line,
                "an element cannot have both fixed and default",
            ));
        }
        Ok(ElementDecl {
            ns: if qualified { self.target.clone() } else { None },
            name: name.to_owned(),
            ty,
            fixed: None,
            default: false,
        })
    }

    /// Resolves the QName of a `type` attribute.
    fn type_ref(&mut self, node: &Node, qname: &str) -> Result<Ty, CompileError> {
        let (ns, local) = split_qname(node, qname, true).map_err(|e| fail(node.line, e))?;
        if ns.as_deref() == Some(XS) {
            if local == "anyType" {
                return Ok(Ty::Any);
            }
            return self.builtin_ref(&local, node.line).map(Ty::Simple);
        }
        if ns == self.target {
            if let Some(&slot) = self.complex_slots.get(local.as_str()) {
                return Ok(Ty::Complex(slot));
            }
            if self.simple_nodes.contains_key(local.as_str()) {
                return self.named_simple(&local, node.line).map(Ty::Simple);
            }
        }
        Err(fail(node.line, format!("type {qname} is not defined")))
    }

    fn simple_ref(&mut self, node: &Node, qname: &str) -> Result<usize, CompileError> {
        match self.type_ref(node, qname)? {
            Ty::Simple(s) => Ok(s),
            _ => Err(fail(
                node.line,
                format!("{qname} is not a simple type, a simple type is needed here"),
            )),
        }
    }

    fn builtin_ref(&mut self, local: &str, line: usize) -> Result<usize, CompileError> {
        let key = format!("{{{XS}}}{local}");
        if let Some(&i) = self.simple_named.get(&key) {
            return Ok(i);
        }
        let st = builtin(local).ok_or_else(|| {
            fail(
                line,
                format!("the built-in type xs:{local} is not supported"),
            )
        })?;
        self.simple.push(st);
        self.simple_named.insert(key, self.simple.len() - 1);
        Ok(self.simple.len() - 1)
    }

    fn named_simple(&mut self, name: &str, line: usize) -> Result<usize, CompileError> {
        if let Some(&i) = self.simple_named.get(name) {
            return Ok(i);
        }
        if self.busy.iter().any(|b| b == name) {
            return Err(fail(
                line,
                format!("simple type {name} derives from itself"),
            ));
        }
        if self.busy.len() >= MAX_DERIVATION {
            return Err(fail(
                line,
                "the chain of simple type derivations is too long",
            ));
        }
        let node = *self
            .simple_nodes
            .get(name)
            .ok_or_else(|| fail(line, format!("type {name} is not defined")))?;
        self.busy.push(name.to_owned());
        let st = self.simple_type(node);
        self.busy.pop();
        self.simple.push(st?);
        self.simple_named
            .insert(name.to_owned(), self.simple.len() - 1);
        Ok(self.simple.len() - 1)
    }

    fn simple_type(&mut self, node: &Node) -> Result<SimpleType, CompileError> {
        check_attrs(node, &["name", "final", "id"])?;
        let kids = content(node)?;
        let [restriction] = kids.as_slice() else {
            return Err(fail(
                node.line,
                "xs:simpleType needs exactly one xs:restriction",
            ));
        };
        if !restriction.is_xs("restriction") {
            return Err(refuse(restriction));
        }
        check_attrs(restriction, &["base", "id"])?;
        let kids = content(restriction)?;
        let (base, facets) = match (restriction.attr("base"), kids.split_first()) {
            (Some(b), _) => (self.simple_ref(restriction, b)?, kids.as_slice()),
            (None, Some((first, rest))) if first.name == "simpleType" => {
                let st = self.simple_type(first)?;
                self.simple.push(st);
                (self.simple.len() - 1, rest)
            }
            _ => return Err(fail(restriction.line, "xs:restriction needs a base type")),
        };
        restrict(&self.simple[base], restriction.line, facets)
    }

    fn complex_type(&mut self, node: &'n Node) -> Result<ComplexType, CompileError> {
        check_attrs(node, &["name", "mixed", "abstract", "block", "final", "id"])?;
        let kids = content(node)?;
        let mut rest = kids.as_slice();
        let mut leaves = Vec::new();
        let mut particle = None;
        if let Some((first, tail)) = rest.split_first() {
            match first.name.as_str() {
                "simpleContent" => {
                    check_attrs(first, &["id"])?;
                    let inner = content(first)?;
                    let [ext] = inner.as_slice() else {
                        return Err(fail(first.line, "xs:simpleContent needs one xs:extension"));
                    };
                    if !ext.is_xs("extension") {
                        return Err(fail(
                            ext.line,
                            format!("xs:simpleContent with xs:{} is not supported", ext.name),
                        ));
                    }
                    check_attrs(ext, &["base", "id"])?;
                    let base = self.simple_ref(ext, required(ext, "base")?)?;
                    if !tail.is_empty() {
                        return Err(refuse(tail[0]));
                    }
                    let ext_kids = content(ext)?;
                    let (attributes, any_attribute) = self.attributes(&ext_kids)?;
                    return Ok(ComplexType {
                        line: node.line,
                        content: Content::Simple(base),
                        attributes,
                        any_attribute,
                    });
                }
                "sequence" | "choice" => {
                    particle = Some(self.particle(first, &mut leaves)?);
                    rest = tail;
                }
                "all" => {
                    let all = self.all_group(first)?;
                    let (attributes, any_attribute) = self.attributes(tail)?;
                    return Ok(ComplexType {
                        line: node.line,
                        content: Content::All(all),
                        attributes,
                        any_attribute,
                    });
                }
                _ => {}
            }
        }
        let (attributes, any_attribute) = self.attributes(rest)?;
        let model = self.model(particle, leaves, node.line)?;
        Ok(ComplexType {
            line: node.line,
            content: Content::Elements(model),
            attributes,
            any_attribute,
        })
    }

    fn attributes(
        &mut self,
        nodes: &[&Node],
    ) -> Result<(Vec<AttributeDecl>, Option<NsSet>), CompileError> {
        let mut out: Vec<AttributeDecl> = Vec::new();
        let mut any = None;
        for (i, node) in nodes.iter().enumerate() {
            match node.name.as_str() {
                "attribute" => {
                    if node.attr("ref").is_some() {
                        return Err(fail(
                            node.line,
                            "attribute references (ref) are not supported",
                        ));
                    }
                    check_attrs(
                        node,
                        &["name", "type", "use", "fixed", "default", "form", "id"],
                    )?;
                    let name = required(node, "name")?;
                    let kids = content(node)?;
                    let ty = match (node.attr("type"), kids.as_slice()) {
                        (Some(t), []) => self.simple_ref(node, t)?,
                        (None, []) => self.builtin_ref("anySimpleType", node.line)?,
                        (None, [child]) if child.name == "simpleType" => {
                            let st = self.simple_type(child)?;
                            self.simple.push(st);
                            self.simple.len() - 1
                        }
                        (_, [.., last]) => return Err(refuse(last)),
                    };
                    let use_ = node.attr("use").unwrap_or("optional");
                    for constraint in ["fixed", "default"] {
                        if let Some(v) = node.attr(constraint) {
                            self.simple[ty]
                                .check(v)
                                .map_err(|p| fail(node.line, format!("{constraint}: {p}")))?;
                        }
                    }
                    if node.attr("default").is_some()
                        && (node.attr("fixed").is_some() || use_ != "optional")
                    {
                        return Err(fail(
                            node.line,
                            "default needs use=\"optional\" and no fixed",
                        ));
                    }
                    let qualified = form(node, "form", self.attr_qualified)?;
                    let ns = if qualified { self.target.clone() } else { None };
                    if out.iter().any(|a| a.name == name && a.ns == ns) {
                        return Err(fail(
                            node.line,
                            format!("attribute {name} is declared twice"),
                        ));
                    }
                    match use_ {
                        "optional" | "required" => out.push(AttributeDecl {
                            ns,
                            name: name.to_owned(),
                            required: use_ == "required",
                        }),
                        "prohibited" => {}
                        other => {
                            return Err(fail(node.line, format!("use=\"{other}\" is not valid")));
                        }
                    }
                }
                "anyAttribute" if i + 1 == nodes.len() => {
                    check_attrs(node, &["namespace", "processContents", "id"])?;
                    let w = self.wildcard(node)?;
                    if w.process != Process::Strict {
                        any = Some(w.ns);
                    }
                }
                _ => return Err(refuse(node)),
            }
        }
        Ok((out, any))
    }

    fn wildcard(&self, node: &Node) -> Result<Wildcard, CompileError> {
        let process = match node.attr("processContents").unwrap_or("strict") {
            "strict" => Process::Strict,
            "lax" => Process::Lax,
            "skip" => Process::Skip,
            other => {
                return Err(fail(
                    node.line,
                    format!("processContents=\"{other}\" is not valid"),
                ));
            }
        };
        let spec = node.attr("namespace").unwrap_or("##any");
        let ns = match spec.trim_matches(is_xml_space) {
            "##any" => NsSet::Any,
            "##other" => NsSet::Other(self.target.clone()),
            list => NsSet::Only(
                list.split(is_xml_space)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s {
                        "##local" => Ok(None),
                        "##targetNamespace" => Ok(self.target.clone()),
                        s if s.starts_with("##") => {
                            Err(fail(node.line, format!("namespace {s} is not valid")))
                        }
                        s => Ok(Some(s.to_owned())),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Wildcard { ns, process })
    }

    fn particle(
        &mut self,
        node: &'n Node,
        leaves: &mut Vec<Leaf>,
    ) -> Result<Particle, CompileError> {
        let (min, max) = occurs(node)?;
        match node.name.as_str() {
            "element" if node.attr("ref").is_some() => {
                check_attrs(node, &["ref", "minOccurs", "maxOccurs", "id"])?;
                if !content(node)?.is_empty() {
                    return Err(fail(node.line, "an element reference has no content"));
                }
                let r = node.attr("ref").unwrap_or_default();
                let (ns, local) = split_qname(node, r, true).map_err(|e| fail(node.line, e))?;
                let slot = self
                    .global_slots
                    .get(local.as_str())
                    .filter(|_| ns == self.target)
                    .ok_or_else(|| fail(node.line, format!("element {r} is not declared")))?;
                leaves.push(Leaf::Element(*slot));
                Ok(Particle::Leaf(leaves.len() - 1, min, max))
            }
            "element" => {
                let decl = self.element_decl(node, false)?;
                self.elements.push(decl);
                let index = self.elements.len() - 1;
                if node.attr("fixed").is_some() || node.attr("default").is_some() {
                    self.values.push((index, node));
                }
                leaves.push(Leaf::Element(index));
                Ok(Particle::Leaf(leaves.len() - 1, min, max))
            }
            "any" => {
                check_attrs(
                    node,
                    &[
                        "namespace",
                        "processContents",
                        "minOccurs",
                        "maxOccurs",
                        "id",
                    ],
                )?;
                content(node)?;
                leaves.push(Leaf::Any(self.wildcard(node)?));
                Ok(Particle::Leaf(leaves.len() - 1, min, max))
            }
            "sequence" | "choice" => {
                check_attrs(node, &["minOccurs", "maxOccurs", "id"])?;
                let mut items = Vec::new();
                for child in content(node)? {
                    items.push(self.particle(child, leaves)?);
                }
                Ok(Particle::Group(node.name == "choice", items, min, max))
            }
            "all" => Err(fail(
                node.line,
                "xs:all must be the whole content of a complex type",
            )),
            _ => Err(refuse(node)),
        }
    }

    fn all_group(&mut self, node: &'n Node) -> Result<AllGroup, CompileError> {
        check_attrs(node, &["minOccurs", "maxOccurs", "id"])?;
        let (min, max) = occurs(node)?;
        if min > 1 || max != Some(1) {
            return Err(fail(
                node.line,
                "xs:all allows minOccurs 0 or 1 and maxOccurs 1",
            ));
        }
        let mut members: Vec<(usize, bool)> = Vec::new();
        for child in content(node)? {
            if child.name != "element" {
                return Err(fail(child.line, "xs:all may only hold elements"));
            }
            let mut leaves = Vec::new();
            let Particle::Leaf(leaf, min, max) = self.particle(child, &mut leaves)? else {
                return Err(fail(child.line, "xs:all may only hold elements"));
            };
            if min > 1 || max.is_none_or(|m| m > 1) {
                return Err(fail(child.line, "elements of xs:all occur at most once"));
            }
            let Some(Leaf::Element(decl)) = leaves.get(leaf) else {
                return Err(fail(child.line, "xs:all may only hold elements"));
            };
            let d = &self.elements[*decl];
            if members.iter().any(|(m, _)| {
                let m = &self.elements[*m];
                m.name == d.name && m.ns == d.ns
            }) {
                return Err(fail(
                    child.line,
                    format!("element {} appears twice in xs:all", d.name),
                ));
            }
            if max != Some(0) {
                members.push((*decl, min == 1));
            }
        }
        Ok(AllGroup {
            optional: min == 0,
            members,
        })
    }

    /// Unrolls the particle tree into a Glushkov automaton and checks it is deterministic.
    fn model(
        &self,
        top: Option<Particle>,
        leaves: Vec<Leaf>,
        line: usize,
    ) -> Result<Model, CompileError> {
        let mut pos_leaf = Vec::new();
        let re = match &top {
            Some(p) => expand(p, &mut pos_leaf).map_err(|e| fail(line, e))?,
            None => Re::Seq(Vec::new(), 0),
        };
        let mut follow = vec![Vec::new(); pos_leaf.len()];
        let (nullable, first, last) = glushkov(&re, &mut follow);
        for f in &mut follow {
            f.sort_unstable();
            f.dedup();
        }
        let mut is_last = vec![false; pos_leaf.len()];
        for p in last {
            is_last[p] = true;
        }
        let mut first = first;
        first.sort_unstable();
        first.dedup();
        let model = Model {
            leaves,
            pos_leaf,
            first,
            follow,
            is_last,
            nullable,
        };
        std::iter::once(&model.first)
            .chain(model.follow.iter())
            .try_for_each(|set| self.deterministic(&model, set, line))?;
        Ok(model)
    }

    /// Unique Particle Attribution: from one state, no element may match two particles.
    fn deterministic(&self, model: &Model, set: &[usize], line: usize) -> Result<(), CompileError> {
        let mut names: HashMap<(Option<&str>, &str), usize> = HashMap::new();
        let mut wild: Vec<usize> = Vec::new();
        for &p in set {
            let leaf = model.pos_leaf[p];
            match &model.leaves[leaf] {
                Leaf::Element(d) => {
                    let d = &self.elements[*d];
                    let previous = names.insert((d.ns.as_deref(), &d.name), leaf);
                    if previous.is_some_and(|other| other != leaf) {
                        return Err(fail(
                            line,
                            format!(
                                "the content model is not deterministic: element {} can match two particles",
                                d.name
                            ),
                        ));
                    }
                }
                Leaf::Any(_) => {
                    if !wild.contains(&leaf) {
                        wild.push(leaf);
                    }
                }
            }
        }
        for &w in &wild {
            let Leaf::Any(wc) = &model.leaves[w] else {
                continue;
            };
            let clash = names.keys().any(|(ns, _)| wc.ns.allows(*ns)) || wild.iter().any(|&o| {
                o != w
                    && matches!(&model.leaves[o], Leaf::Any(other) if other.ns.intersects(&wc.ns))
            });
            if clash {
                return Err(fail(
                    line,
                    "the content model is not deterministic: a wildcard competes with another particle",
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Content models: unrolling and the Glushkov construction

/// A regular expression over positions. `Seq(items, n)`: the first `n` items are required, the
/// others optional but each only after the previous one (how `maxOccurs` copies are unrolled).
enum Re {
    Leaf(usize),
    Seq(Vec<Re>, usize),
    Alt(Vec<Re>),
    Star(Box<Re>),
}

fn has_leaves(p: &Particle) -> bool {
    match p {
        Particle::Leaf(_, _, max) => *max != Some(0),
        Particle::Group(_, items, _, max) => *max != Some(0) && items.iter().any(has_leaves),
    }
}

fn expand(p: &Particle, pos_leaf: &mut Vec<usize>) -> Result<Re, String> {
    if !has_leaves(p) {
        return Ok(Re::Seq(Vec::new(), 0));
    }
    let (min, max) = match p {
        Particle::Leaf(_, min, max) | Particle::Group(_, _, min, max) => (*min, *max),
    };
    // Unbounded: min copies and one more repeated (a{2,} = a a a*, a{0,} = a*).
    let copies = max.unwrap_or(min + 1);
    let mut items = Vec::new();
    for _ in 0..copies {
        if pos_leaf.len() > MAX_POSITIONS {
            return Err(format!(
                "the content model is too large once occurrence ranges are expanded (over {MAX_POSITIONS} positions)"
            ));
        }
        items.push(match p {
            Particle::Leaf(leaf, _, _) => {
                pos_leaf.push(*leaf);
                Re::Leaf(pos_leaf.len() - 1)
            }
            Particle::Group(choice, children, _, _) => {
                let parts = children
                    .iter()
                    .map(|c| expand(c, pos_leaf))
                    .collect::<Result<Vec<_>, _>>()?;
                if *choice {
                    Re::Alt(parts)
                } else {
                    let n = parts.len();
                    Re::Seq(parts, n)
                }
            }
        });
    }
    if max.is_none()
        && let Some(last) = items.pop()
    {
        items.push(Re::Star(Box::new(last)));
    }
    Ok(Re::Seq(items, min))
}

/// Returns (nullable, first, last) of `re`, adding its internal edges to `follow`.
fn glushkov(re: &Re, follow: &mut [Vec<usize>]) -> (bool, Vec<usize>, Vec<usize>) {
    match re {
        Re::Leaf(p) => (false, vec![*p], vec![*p]),
        Re::Alt(items) => {
            let (mut nullable, mut first, mut last) = (false, Vec::new(), Vec::new());
            for item in items {
                let (n, f, l) = glushkov(item, follow);
                nullable |= n;
                first.extend(f);
                last.extend(l);
            }
            (nullable, first, last)
        }
        Re::Star(inner) => {
            let (_, f, l): (bool, Vec<usize>, Vec<usize>) = glushkov(inner, follow);
            for &p in &l {
                follow[p].extend_from_slice(&f);
            }
            (true, f, l)
        }
        Re::Seq(items, required) => {
            let mut first = Vec::new();
            let mut last_all = Vec::new();
            let mut current: Vec<usize> = Vec::new();
            let (mut prefix_nullable, mut nullable) = (true, true);
            for (i, item) in items.iter().enumerate() {
                let (n, f, l) = glushkov(item, follow);
                for &p in &current {
                    follow[p].extend_from_slice(&f);
                }
                if prefix_nullable {
                    first.extend_from_slice(&f);
                }
                if n {
                    current.extend(l);
                    current.sort_unstable();
                    current.dedup();
                } else {
                    current = l;
                }
                prefix_nullable &= n;
                if i < *required {
                    nullable &= n;
                }
                if i + 1 >= *required {
                    last_all.extend_from_slice(&current);
                }
            }
            last_all.sort_unstable();
            last_all.dedup();
            (nullable, first, last_all)
        }
    }
}

impl Schema {
    /// Element Declarations Consistent: one name, one type, within a content model.
    fn check_consistent(&self) -> Result<(), CompileError> {
        for ct in &self.complex {
            let Content::Elements(model) = &ct.content else {
                continue;
            };
            let mut seen: HashMap<(Option<&str>, &str), Ty> = HashMap::new();
            for leaf in &model.leaves {
                let Leaf::Element(d) = leaf else { continue };
                let d = &self.elements[*d];
                if let Some(ty) = seen.insert((d.ns.as_deref(), &d.name), d.ty)
                    && ty != d.ty
                {
                    return Err(fail(
                        ct.line,
                        format!(
                            "element {} appears twice in one content model with different types",
                            d.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses complex types whose every instance would have to contain itself.
    fn check_terminates(&self) -> Result<(), CompileError> {
        let mut done = vec![false; self.complex.len()];
        loop {
            let mut changed = false;
            for i in 0..self.complex.len() {
                if !done[i] && self.can_finish(i, &done) {
                    done[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        match done.iter().position(|d| !d) {
            Some(i) => Err(fail(
                self.complex[i].line,
                "this complex type can never end: its required content contains itself",
            )),
            None => Ok(()),
        }
    }

    fn can_finish(&self, i: usize, done: &[bool]) -> bool {
        let ready = |decl: usize| match self.elements[decl].ty {
            Ty::Complex(c) => done[c],
            _ => true,
        };
        match &self.complex[i].content {
            Content::Simple(_) => true,
            Content::All(all) => all.optional || all.members.iter().all(|(d, r)| !r || ready(*d)),
            Content::Elements(m) => {
                if m.nullable {
                    return true;
                }
                let usable = |p: usize| match &m.leaves[m.pos_leaf[p]] {
                    Leaf::Element(d) => ready(*d),
                    Leaf::Any(_) => true,
                };
                let mut seen = vec![false; m.pos_leaf.len()];
                let mut todo: Vec<usize> = m.first.iter().copied().filter(|&p| usable(p)).collect();
                while let Some(p) = todo.pop() {
                    if std::mem::replace(&mut seen[p], true) {
                        continue;
                    }
                    if m.is_last[p] {
                        return true;
                    }
                    todo.extend(
                        m.follow[p]
                            .iter()
                            .copied()
                            .filter(|&q| usable(q) && !seen[q]),
                    );
                }
                false
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Simple types: built-ins, facets, values

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    String,
    AnyUri,
    AnySimple,
    Boolean,
    Decimal,
    Float,
    DateTime,
    Date,
    Time,
    GYear,
    GYearMonth,
    GMonth,
    GDay,
    GMonthDay,
    HexBinary,
    Base64Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ws {
    Preserve,
    Replace,
    Collapse,
}

/// Lexical rules of the built-in types derived from string and decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Any,
    Language,
    Name,
    NCName,
    NmToken,
    Integer,
}

#[derive(Debug, Clone)]
struct SimpleType {
    /// The built-in ancestor, named in problems ("is not a valid int").
    builtin: &'static str,
    prim: Prim,
    lex: Lex,
    ws: Ws,
    /// The value range of the built-in integer types.
    range: (Option<Dec>, Option<Dec>),
    /// Facets of every derivation step: all must hold.
    facets: Vec<Facet>,
}

#[derive(Debug, Clone)]
enum Facet {
    Length(usize),
    MinLength(usize),
    MaxLength(usize),
    /// The patterns of one derivation step: one must match.
    Patterns(Vec<(Regex, String)>),
    /// The enumeration of one derivation step: the value must be one of them.
    Enumeration(Vec<(String, Value)>),
    /// Lower bound: value, inclusive, text.
    Min(Value, bool, String),
    /// Upper bound: value, inclusive, text.
    Max(Value, bool, String),
    TotalDigits(usize),
    FractionDigits(usize),
}

#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Bool(bool),
    Dec(Dec),
    Float(f64),
    Time(Moment),
    Bin(Vec<u8>),
}

/// A decimal without leading zeros in `int` nor trailing zeros in `frac`; zero is never negative.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dec {
    neg: bool,
    int: String,
    frac: String,
}

/// A date/time value: seconds since 1970-01-01 (in UTC when it has a timezone), fraction digits.
#[derive(Debug, Clone)]
struct Moment {
    secs: i128,
    frac: String,
    tz: bool,
}

/// The built-in simple types of the subset: name, primitive, lexical rule, whitespace, range.
/// A built-in type: name, primitive, lexical rule, whitespace, lowest and highest value.
type Builtin = (
    &'static str,
    Prim,
    Lex,
    Ws,
    Option<&'static str>,
    Option<&'static str>,
);

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    ("string", Prim::String, Lex::Any, Ws::Preserve, None, None),
    ("normalizedString", Prim::String, Lex::Any, Ws::Replace, None, None),
    ("token", Prim::String, Lex::Any, Ws::Collapse, None, None),
    ("language", Prim::String, Lex::Language, Ws::Collapse, None, None),
    ("Name", Prim::String, Lex::Name, Ws::Collapse, None, None),
    ("NCName", Prim::String, Lex::NCName, Ws::Collapse, None, None),
    ("NMTOKEN", Prim::String, Lex::NmToken, Ws::Collapse, None, None),
    ("anyURI", Prim::AnyUri, Lex::Any, Ws::Collapse, None, None),
    ("anySimpleType", Prim::AnySimple, Lex::Any, Ws::Preserve, None, None),
    ("boolean", Prim::Boolean, Lex::Any, Ws::Collapse, None, None),
    ("decimal", Prim::Decimal, Lex::Any, Ws::Collapse, None, None),
    ("integer", Prim::Decimal, Lex::Integer, Ws::Collapse, None, None),
    ("nonPositiveInteger", Prim::Decimal, Lex::Integer, Ws::Collapse, None, Some("0")),
    ("negativeInteger", Prim::Decimal, Lex::Integer, Ws::Collapse, None, Some("-1")),
    ("nonNegativeInteger", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("0"), None),
    ("positiveInteger", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("1"), None),
    ("long", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("-9223372036854775808"), Some("9223372036854775807")),
    ("int", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("-2147483648"), Some("2147483647")),
    ("short", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("-32768"), Some("32767")),
    ("byte", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("-128"), Some("127")),
    ("unsignedLong", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("0"), Some("18446744073709551615")),
    ("unsignedInt", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("0"), Some("4294967295")),
    ("unsignedShort", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("0"), Some("65535")),
    ("unsignedByte", Prim::Decimal, Lex::Integer, Ws::Collapse, Some("0"), Some("255")),
    ("float", Prim::Float, Lex::Any, Ws::Collapse, None, None),
    ("double", Prim::Float, Lex::Any, Ws::Collapse, None, None),
    ("dateTime", Prim::DateTime, Lex::Any, Ws::Collapse, None, None),
    ("date", Prim::Date, Lex::Any, Ws::Collapse, None, None),
    ("time", Prim::Time, Lex::Any, Ws::Collapse, None, None),
    ("gYear", Prim::GYear, Lex::Any, Ws::Collapse, None, None),
    ("gYearMonth", Prim::GYearMonth, Lex::Any, Ws::Collapse, None, None),
    ("gMonth", Prim::GMonth, Lex::Any, Ws::Collapse, None, None),
    ("gDay", Prim::GDay, Lex::Any, Ws::Collapse, None, None),
    ("gMonthDay", Prim::GMonthDay, Lex::Any, Ws::Collapse, None, None),
    ("hexBinary", Prim::HexBinary, Lex::Any, Ws::Collapse, None, None),
    ("base64Binary", Prim::Base64Binary, Lex::Any, Ws::Collapse, None, None),
];

/// The built-in simple type `xs:name`, when the subset supports it.
fn builtin(name: &str) -> Option<SimpleType> {
    let &(builtin, prim, lex, ws, min, max) = BUILTINS.iter().find(|b| b.0 == name)?;
    Some(SimpleType {
        builtin,
        prim,
        lex,
        ws,
        range: (
            min.and_then(|m| parse_decimal(m, true)),
            max.and_then(|m| parse_decimal(m, true)),
        ),
        facets: Vec::new(),
    })
}

fn facet_applies(prim: Prim, facet: &str) -> bool {
    use Prim::*;
    match facet {
        "pattern" | "whiteSpace" => true,
        "enumeration" => prim != Boolean,
        "length" | "minLength" | "maxLength" => {
            matches!(prim, String | AnyUri | HexBinary | Base64Binary)
        }
        "totalDigits" | "fractionDigits" => prim == Decimal,
        _ => !matches!(
            prim,
            String | AnyUri | AnySimple | Boolean | HexBinary | Base64Binary
        ),
    }
}

/// One `xs:restriction` step over `base`.
fn restrict(base: &SimpleType, line: usize, nodes: &[&Node]) -> Result<SimpleType, CompileError> {
    if base.prim == Prim::AnySimple {
        return Err(fail(line, "restricting xs:anySimpleType is not supported"));
    }
    let mut st = base.clone();
    let mut seen: Vec<&str> = Vec::new();
    for node in nodes {
        let name = node.name.as_str();
        let known = matches!(
            name,
            "length"
                | "minLength"
                | "maxLength"
                | "pattern"
                | "enumeration"
                | "whiteSpace"
                | "minInclusive"
                | "maxInclusive"
                | "minExclusive"
                | "maxExclusive"
                | "totalDigits"
                | "fractionDigits"
        );
        if !known {
            return Err(refuse(node));
        }
        check_attrs(node, &["value", "fixed", "id"])?;
        if !content(node)?.is_empty() {
            return Err(fail(node.line, format!("xs:{name} has no content")));
        }
        if !facet_applies(st.prim, name) {
            return Err(fail(
                node.line,
                format!("the facet {name} does not apply to xs:{}", base.builtin),
            ));
        }
        if !matches!(name, "pattern" | "enumeration") {
            if seen.contains(&name) {
                return Err(fail(node.line, format!("the facet {name} appears twice")));
            }
            seen.push(name);
        }
        if name == "whiteSpace" {
            let ws = match required(node, "value")? {
                "preserve" => Ws::Preserve,
                "replace" => Ws::Replace,
                "collapse" => Ws::Collapse,
                other => {
                    return Err(fail(
                        node.line,
                        format!("whiteSpace=\"{other}\" is not valid"),
                    ));
                }
            };
            if ws < base.ws {
                return Err(fail(
                    node.line,
                    "whiteSpace cannot be weaker than the base type's",
                ));
            }
            st.ws = ws;
        }
    }
    let (mut patterns, mut enumeration) = (Vec::new(), Vec::new());
    for node in nodes {
        let v = required(node, "value")?;
        let line = node.line;
        let count = || {
            let t = v.trim_matches(is_xml_space);
            t.parse::<usize>()
                .ok()
                .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| fail(line, format!("{} is not a valid {}", quote(v), node.name)))
        };
        let bound = || {
            base.check(v)
                .map_err(|p| fail(line, format!("{} value: {p}", node.name)))
        };
        let facet = match node.name.as_str() {
            "length" => Facet::Length(count()?),
            "minLength" => Facet::MinLength(count()?),
            "maxLength" => Facet::MaxLength(count()?),
            "totalDigits" => match count()? {
                0 => return Err(fail(line, "totalDigits must be positive")),
                n => Facet::TotalDigits(n),
            },
            "fractionDigits" => match count()? {
                n if n > 0 && st.lex == Lex::Integer => {
                    return Err(fail(line, "fractionDigits must be 0 for integer types"));
                }
                n => Facet::FractionDigits(n),
            },
            "minInclusive" => Facet::Min(bound()?, true, v.to_owned()),
            "minExclusive" => Facet::Min(bound()?, false, v.to_owned()),
            "maxInclusive" => Facet::Max(bound()?, true, v.to_owned()),
            "maxExclusive" => Facet::Max(bound()?, false, v.to_owned()),
            "pattern" => {
                let re = compile_pattern(v)
                    .map_err(|e| fail(line, format!("pattern {}: {e}", quote(v))))?;
                patterns.push((re, v.to_owned()));
                continue;
            }
            "enumeration" => {
                bound()?;
                let text = normalize(v, st.ws);
                let value = st.parse(&text).map_err(|p| fail(line, p))?;
                enumeration.push((text, value));
                continue;
            }
            _ => continue,
        };
        narrower(&st.facets, &facet).map_err(|e| fail(line, e))?;
        st.facets.push(facet);
    }
    if !patterns.is_empty() {
        st.facets.push(Facet::Patterns(patterns));
    }
    if !enumeration.is_empty() {
        st.facets.push(Facet::Enumeration(enumeration));
    }
    consistent(&st.facets).map_err(|e| fail(line, e))?;
    Ok(st)
}

/// A facet of a derived step may only narrow the base type's.
fn narrower(base: &[Facet], facet: &Facet) -> Result<(), String> {
    for old in base {
        let wider = match (old, facet) {
            (Facet::Length(a), Facet::Length(b)) => a != b,
            (Facet::MaxLength(a), Facet::MaxLength(b))
            | (Facet::TotalDigits(a), Facet::TotalDigits(b))
            | (Facet::FractionDigits(a), Facet::FractionDigits(b)) => b > a,
            (Facet::MinLength(a), Facet::MinLength(b)) => b < a,
            _ => false,
        };
        if wider {
            return Err("a facet of a derived type cannot widen the base type's".to_owned());
        }
    }
    Ok(())
}

/// The facets of one type together must leave some value possible.
fn consistent(facets: &[Facet]) -> Result<(), String> {
    let mut min_len = 0;
    let mut max_len = usize::MAX;
    let (mut total, mut fraction) = (usize::MAX, 0);
    for f in facets {
        match f {
            Facet::Length(n) => {
                min_len = min_len.max(*n);
                max_len = max_len.min(*n);
            }
            Facet::MinLength(n) => min_len = min_len.max(*n),
            Facet::MaxLength(n) => max_len = max_len.min(*n),
            Facet::TotalDigits(n) => total = total.min(*n),
            Facet::FractionDigits(n) => fraction = fraction.max(*n),
            _ => {}
        }
    }
    if min_len > max_len {
        return Err("the length facets leave no possible length".to_owned());
    }
    if fraction > total {
        return Err("fractionDigits is greater than totalDigits".to_owned());
    }
    for lo in facets {
        let Facet::Min(a, a_incl, _) = lo else {
            continue;
        };
        for hi in facets {
            let Facet::Max(b, b_incl, _) = hi else {
                continue;
            };
            let empty = match compare(a, b) {
                Some(Ordering::Greater) => true,
                Some(Ordering::Equal) => !(*a_incl && *b_incl),
                _ => false,
            };
            if empty {
                return Err("the lower bound is not below the upper bound".to_owned());
            }
        }
    }
    Ok(())
}

fn normalize(s: &str, ws: Ws) -> String {
    match ws {
        Ws::Preserve => s.to_owned(),
        Ws::Replace => s
            .chars()
            .map(|c| if is_xml_space(c) { ' ' } else { c })
            .collect(),
        Ws::Collapse => s
            .split(is_xml_space)
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl SimpleType {
    /// Checks a value as written in a document; returns it in the value space.
    fn check(&self, raw: &str) -> Result<Value, String> {
        let text = normalize(raw, self.ws);
        let value = self.parse(&text)?;
        for facet in &self.facets {
            self.facet(facet, &text, &value)?;
        }
        Ok(value)
    }

    /// The lexical rules of the built-in ancestor.
    fn parse(&self, text: &str) -> Result<Value, String> {
        let bad = || format!("value {} is not a valid {}", quote(text), self.builtin);
        let value = match self.prim {
            Prim::String | Prim::AnyUri | Prim::AnySimple => {
                let ok = match self.lex {
                    Lex::Language => is_language(text),
                    Lex::Name => is_name(text),
                    Lex::NCName => is_name(text) && !text.contains(':'),
                    Lex::NmToken => !text.is_empty() && text.chars().all(name_char),
                    _ => true,
                };
                ok.then(|| Value::Str(text.to_owned()))
            }
            Prim::Boolean => match text {
                "true" | "1" => Some(Value::Bool(true)),
                "false" | "0" => Some(Value::Bool(false)),
                _ => None,
            },
            Prim::Decimal => parse_decimal(text, self.lex == Lex::Integer)
                .filter(|d| {
                    self.range
                        .0
                        .as_ref()
                        .is_none_or(|m| cmp_dec(d, m) != Ordering::Less)
                        && self
                            .range
                            .1
                            .as_ref()
                            .is_none_or(|m| cmp_dec(d, m) != Ordering::Greater)
                })
                .map(Value::Dec),
            Prim::Float => parse_float(text).map(Value::Float),
            Prim::HexBinary => parse_hex(text).map(Value::Bin),
            Prim::Base64Binary => parse_base64(text).map(Value::Bin),
            prim => parse_moment(prim, text).map(Value::Time),
        };
        value.ok_or_else(bad)
    }

    fn facet(&self, facet: &Facet, text: &str, value: &Value) -> Result<(), String> {
        let (len, unit) = match value {
            Value::Bin(b) => (b.len(), "byte"),
            _ => (text.chars().count(), "character"),
        };
        let has = || match len {
            1 => format!("has 1 {unit}"),
            n => format!("has {n} {unit}s"),
        };
        let ok = match facet {
            Facet::Length(n) if len != *n => {
                return Err(format!("{}, exactly {n} required", has()));
            }
            Facet::MinLength(n) if len < *n => {
                return Err(format!("{}, at least {n} required", has()));
            }
            Facet::MaxLength(n) if len > *n => {
                return Err(format!("{}, at most {n} allowed", has()));
            }
            Facet::Patterns(list) if !list.iter().any(|(re, _)| re.is_match(text)) => {
                let shown: Vec<String> = list.iter().map(|(_, p)| clip(p)).collect();
                return Err(format!(
                    "value {} does not match the pattern {}",
                    quote(text),
                    shown.join(" or ")
                ));
            }
            Facet::Enumeration(list) if !list.iter().any(|(_, v)| same(v, value)) => {
                let mut shown: Vec<String> = list.iter().take(12).map(|(t, _)| clip(t)).collect();
                if list.len() > 12 {
                    shown.push("…".to_owned());
                }
                return Err(format!(
                    "value {} is not one of {}",
                    quote(text),
                    shown.join(", ")
                ));
            }
            Facet::Min(bound, inclusive, shown) => match compare(value, bound) {
                Some(Ordering::Greater) => true,
                Some(Ordering::Equal) if *inclusive => true,
                _ if *inclusive => {
                    return Err(format!(
                        "value {} is less than the minimum {}",
                        quote(text),
                        clip(shown)
                    ));
                }
                _ => {
                    return Err(format!(
                        "value {} must be greater than {}",
                        quote(text),
                        clip(shown)
                    ));
                }
            },
            Facet::Max(bound, inclusive, shown) => match compare(value, bound) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) if *inclusive => true,
                _ if *inclusive => {
                    return Err(format!(
                        "value {} is more than the maximum {}",
                        quote(text),
                        clip(shown)
                    ));
                }
                _ => {
                    return Err(format!(
                        "value {} must be less than {}",
                        quote(text),
                        clip(shown)
                    ));
                }
            },
            Facet::TotalDigits(n) => match value {
                Value::Dec(d) if (d.int.len() + d.frac.len()).max(1) > *n => {
                    let digits = (d.int.len() + d.frac.len()).max(1);
                    return Err(format!(
                        "value {} has {digits} digits, at most {n} allowed",
                        quote(text)
                    ));
                }
                _ => true,
            },
            Facet::FractionDigits(n) => match value {
                Value::Dec(d) if d.frac.len() > *n => {
                    return Err(format!(
                        "value {} has {} fraction digits, at most {n} allowed",
                        quote(text),
                        d.frac.len()
                    ));
                }
                _ => true,
            },
            _ => true,
        };
        debug_assert!(ok);
        Ok(())
    }
}

/// Order in the value space; None when the values are not comparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Dec(a), Value::Dec(b)) => Some(cmp_dec(a, b)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::Time(a), Value::Time(b)) => cmp_moment(a, b),
        _ => None,
    }
}

/// Equality in the value space.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Bin(a), Value::Bin(b)) => a == b,
        (Value::Time(x), Value::Time(y)) => x.tz == y.tz && compare(a, b) == Some(Ordering::Equal),
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}

fn parse_decimal(s: &str, integer: bool) -> Option<Dec> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match body.split_once('.') {
        Some(_) if integer => return None,
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    Some(Dec {
        neg: neg && !(int.is_empty() && frac.is_empty()),
        int: int.to_owned(),
        frac: frac.to_owned(),
    })
}

fn cmp_dec(a: &Dec, b: &Dec) -> Ordering {
    let magnitude = a
        .int
        .len()
        .cmp(&b.int.len())
        .then_with(|| a.int.cmp(&b.int))
        .then_with(|| a.frac.cmp(&b.frac));
    match (a.neg, b.neg) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (true, true) => magnitude.reverse(),
        (false, false) => magnitude,
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let mantissa_ok = !mantissa.starts_with(['+', '-']) && parse_decimal(mantissa, false).is_some();
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    s.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

fn parse_base64(s: &str) -> Option<Vec<u8>> {
    let chars: Vec<u8> = s.bytes().filter(|&b| b != b' ').collect();
    let pad = chars.iter().rev().take_while(|&&b| b == b'=').count();
    if !chars.len().is_multiple_of(4) || pad > 2 {
        return None;
    }
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for &b in &chars[..chars.len() - pad] {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // The bits left over before the padding must be zero.
    (acc == 0).then_some(out)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn lit(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn digits(&mut self) -> &[u8] {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn num(&mut self, n: usize) -> Option<i128> {
        let d = self.digits();
        (d.len() == n).then(|| d.iter().fold(0, |acc, b| acc * 10 + i128::from(b - b'0')))
    }

    fn year(&mut self) -> Option<i128> {
        let neg = self.lit(b'-').is_some();
        let d = self.digits();
        if d.len() < 4 || d.len() > 16 || (d.len() > 4 && d[0] == b'0') {
            return None;
        }
        let y = d.iter().fold(0, |acc, b| acc * 10 + i128::from(b - b'0'));
        (y != 0).then_some(if neg { -y } else { y })
    }

    fn time(&mut self) -> Option<(i128, i128, i128, String)> {
        let h = self.num(2)?;
        self.lit(b':')?;
        let m = self.num(2)?;
        self.lit(b':')?;
        let s = self.num(2)?;
        let mut frac = String::new();
        if self.lit(b'.').is_some() {
            let d = self.digits();
            if d.is_empty() {
                return None;
            }
            frac = String::from_utf8_lossy(d).trim_end_matches('0').to_owned();
        }
        let valid =
            (h < 24 || (h == 24 && m == 0 && s == 0 && frac.is_empty())) && m < 60 && s < 60;
        valid.then_some((h, m, s, frac))
    }

    /// The timezone in minutes: Some(None) when absent, None when malformed.
    fn tz(&mut self) -> Option<Option<i128>> {
        match self.b.get(self.i) {
            None => Some(None),
            Some(b'Z') => {
                self.i += 1;
                Some(Some(0))
            }
            Some(&sign @ (b'+' | b'-')) => {
                self.i += 1;
                let h = self.num(2)?;
                self.lit(b':')?;
                let m = self.num(2)?;
                let minutes = h * 60 + m;
                if m > 59 || minutes > 14 * 60 {
                    return None;
                }
                Some(Some(if sign == b'-' { -minutes } else { minutes }))
            }
            Some(_) => None,
        }
    }
}

fn days_in_month(y: i128, m: i128) -> i128 {
    // XSD 1.0 has no year 0: 1 BCE (-0001) is the leap year before 1.
    let y = if y < 0 { y + 1 } else { y };
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn parse_moment(prim: Prim, s: &str) -> Option<Moment> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let (mut year, mut month, mut day) = (2000, 1, 1);
    let (mut h, mut m, mut sec, mut frac) = (0, 0, 0, String::new());
    match prim {
        Prim::DateTime | Prim::Date | Prim::GYear | Prim::GYearMonth => {
            year = c.year()?;
            if prim != Prim::GYear {
                c.lit(b'-')?;
                month = c.num(2)?;
            }
            if matches!(prim, Prim::DateTime | Prim::Date) {
                c.lit(b'-')?;
                day = c.num(2)?;
            }
            if prim == Prim::DateTime {
                c.lit(b'T')?;
                (h, m, sec, frac) = c.time()?;
            }
        }
        Prim::Time => (h, m, sec, frac) = c.time()?,
        Prim::GMonth | Prim::GMonthDay => {
            c.lit(b'-')?;
            c.lit(b'-')?;
            month = c.num(2)?;
            if prim == Prim::GMonthDay {
                c.lit(b'-')?;
                day = c.num(2)?;
            }
        }
        Prim::GDay => {
            for _ in 0..3 {
                c.lit(b'-')?;
            }
            day = c.num(2)?;
        }
        _ => return None,
    }
    let tz = c.tz()?;
    if c.i != c.b.len() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month)
    {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    if let Some(offset) = tz {
        secs -= offset * 60;
    }
    Some(Moment {
        secs,
        frac,
        tz: tz.is_some(),
    })
}

/// XSD's partial order: a value without timezone is compared as ±14 hours wide.
fn cmp_moment(a: &Moment, b: &Moment) -> Option<Ordering> {
    let key = |m: &Moment, shift: i128| (m.secs + shift, m.frac.clone());
    if a.tz == b.tz {
        return Some(key(a, 0).cmp(&key(b, 0)));
    }
    let (zoned, local, flip) = if a.tz { (a, b, false) } else { (b, a, true) };
    let window = 14 * 3600;
    let order = if key(zoned, 0) < key(local, -window) {
        Ordering::Less
    } else if key(zoned, 0) > key(local, window) {
        Ordering::Greater
    } else {
        return None;
    };
    Some(if flip { order.reverse() } else { order })
}

/// XML 1.0 (fifth edition) NameStartChar.
fn name_start(c: char) -> bool {
    matches!(c, ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) NameChar.
fn name_char(c: char) -> bool {
    name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(name_start) && chars.all(name_char)
}

fn is_language(s: &str) -> bool {
    s.split('-').enumerate().all(|(i, part)| {
        (1..=8).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
    })
}

// ---------------------------------------------------------------------------------------------
// XSD regular expressions, translated to the regex crate's syntax

/// The same ranges as [`name_start`], as a class body.
const NAME_START: &str = r":A-Z_a-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{2FF}\x{370}-\x{37D}\x{37F}-\x{1FFF}\x{200C}-\x{200D}\x{2070}-\x{218F}\x{2C00}-\x{2FEF}\x{3001}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFFD}\x{10000}-\x{EFFFF}";
/// The characters [`name_char`] adds to [`NAME_START`].
const NAME_MORE: &str = r"\-.0-9\x{B7}\x{300}-\x{36F}\x{203F}-\x{2040}";
/// The Unicode general categories XSD names in `\p{..}`.
const CATEGORIES: &[&str] = &[
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cn",
];

fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let translated = translate_pattern(pattern)?;
    RegexBuilder::new(&translated)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| format!("cannot be compiled ({e})"))
}

/// A literal character in the regex crate's syntax (inside or outside a class).
fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", u32::from(c))
    }
}

/// Translates an XSD pattern: anchored, `.` without line ends, XSD's escapes.
fn translate_pattern(pattern: &str) -> Result<String, String> {
    let mut chars = pattern.chars().peekable();
    let mut out = String::from("^(?:");
    let (mut depth, mut atom) = (0usize, false);
    while let Some(c) = chars.next() {
        let quantifier = matches!(c, '?' | '*' | '+' | '{');
        if quantifier && !atom {
            return Err(format!("the quantifier {c} follows nothing it can repeat"));
        }
        match c {
            '\\' => out.push_str(&escape(&mut chars, false)?),
            '[' => out.push_str(&class(&mut chars)?),
            '.' => out.push_str(r"[^\n\r]"),
            '(' => {
                depth += 1;
                out.push_str("(?:");
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced )")?;
                out.push(')');
            }
            '|' => out.push('|'),
            '?' | '*' | '+' => out.push(c),
            '{' => {
                let mut body = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(d) if d.is_ascii_digit() || d == ',' => body.push(d),
                        _ => return Err("malformed {n,m} quantifier".to_owned()),
                    }
                }
                let (lo, hi) = body.split_once(',').unwrap_or((&body, &body));
                let lo: u32 = lo.parse().map_err(|_| "malformed {n,m} quantifier")?;
                if !hi.is_empty()
                    && hi
                        .parse::<u32>()
                        .map_err(|_| "malformed {n,m} quantifier")?
                        < lo
                {
                    return Err("in {n,m}, n is greater than m".to_owned());
                }
                out.push('{');
                out.push_str(&body);
                out.push('}');
            }
            ']' | '}' => return Err(format!("an unescaped {c}")),
            c => out.push_str(&literal(c)),
        }
        atom = !quantifier && !matches!(c, '(' | '|');
    }
    if depth != 0 {
        return Err("unbalanced (".to_owned());
    }
    out.push_str(")$");
    Ok(out)
}

/// The escape after a backslash, as regex syntax (a class item when `in_class`).
fn escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    in_class: bool,
) -> Result<String, String> {
    let c = chars.next().ok_or("a pattern ends with \\")?;
    let wrap = |body: &str, negated: bool| {
        let caret = if negated { "^" } else { "" };
        format!("[{caret}{body}]")
    };
    Ok(match c {
        'n' => r"\n".to_owned(),
        'r' => r"\r".to_owned(),
        't' => r"\t".to_owned(),
        '\\' | '|' | '.' | '-' | '^' | '?' | '*' | '+' | '{' | '}' | '(' | ')' | '[' | ']' => {
            literal(c)
        }
        's' if in_class => r"\x{20}\t\n\r".to_owned(),
        's' | 'S' => wrap(r"\x{20}\t\n\r", c == 'S'),
        'd' => r"\p{Nd}".to_owned(),
        'D' => r"\P{Nd}".to_owned(),
        'w' | 'W' => wrap(r"\p{P}\p{Z}\p{C}", c == 'w'),
        'i' | 'I' => wrap(NAME_START, c == 'I'),
        'c' | 'C' => wrap(&format!("{NAME_START}{NAME_MORE}"), c == 'C'),
        'p' | 'P' => {
            if chars.next() != Some('{') {
                return Err(format!("\\{c} needs {{category}}"));
            }
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(x) => name.push(x),
                    None => return Err(format!("unterminated \\{c}{{")),
                }
            }
            if name.starts_with("Is") {
                return Err(format!(
                    "Unicode block escapes (\\{c}{{{name}}}) are not supported"
                ));
            }
            if !CATEGORIES.contains(&name.as_str()) {
                return Err(format!("unknown Unicode category {name}"));
            }
            format!("\\{c}{{{name}}}")
        }
        other => return Err(format!("unknown escape \\{other}")),
    })
}

/// A character class after `[`, up to its `]`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut out = String::from("[");
    if chars.peek() == Some(&'^') {
        chars.next();
        out.push('^');
    }
    let mut empty = true;
    loop {
        let c = chars.next().ok_or("unterminated [")?;
        let single = match c {
            ']' if !empty => break,
            '[' | ']' => return Err(format!("an unescaped {c} inside a character class")),
            '-' if chars.peek() == Some(&'[') => {
                return Err(
                    "character class subtraction ([a-z-[aeiou]]) is not supported".to_owned(),
                );
            }
            '-' if !empty && chars.peek() != Some(&']') => {
                return Err(
                    "a - inside a character class must be first, last or a range".to_owned(),
                );
            }
            '\\' => {
                let next = *chars.peek().ok_or("a pattern ends with \\")?;
                if matches!(
                    next,
                    's' | 'S' | 'd' | 'D' | 'w' | 'W' | 'i' | 'I' | 'c' | 'C' | 'p' | 'P'
                ) {
                    out.push_str(&escape(chars, true)?);
                    empty = false;
                    continue;
                }
                chars.next();
                match next {
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    '\\' | '|' | '.' | '-' | '^' | '?' | '*' | '+' | '{' | '}' | '(' | ')'
                    | '[' | ']' => next,
                    other => return Err(format!("unknown escape \\{other}")),
                }
            }
            c => c,
        };
        empty = false;
        out.push_str(&literal(single));
        let mut ahead = chars.clone();
        if ahead.next() == Some('-') && !matches!(ahead.peek(), Some(']' | '[') | None) {
            chars.next();
            let end = match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some(e) if "\\|.-^?*+{}()[]".contains(e) => e,
                    _ => return Err("a range must end with a single character".to_owned()),
                },
                Some('[') => return Err("an unescaped [ inside a character class".to_owned()),
                Some(e) => e,
                None => return Err("unterminated [".to_owned()),
            };
            if end < single {
                return Err(format!("the range {single}-{end} is reversed"));
            }
            out.push('-');
            out.push_str(&literal(end));
        }
    }
    out.push(']');
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Validation

impl Schema {
    fn element(
        &self,
        decl: &ElementDecl,
        el: &Element,
        path: &str,
        depth: usize,
    ) -> Result<(), Invalid> {
        if depth > MAX_DEPTH {
            return Err(invalid(
                path,
                "the document is nested too deeply".to_owned(),
            ));
        }
        match decl.ty {
            Ty::Any => self.lax_children(el, path, depth),
            Ty::Simple(s) => {
                if let Some((ns, name)) = el.foreign_attributes.first() {
                    return Err(invalid(
                        path,
                        format!("attribute {} is not allowed", clark(ns.as_deref(), name)),
                    ));
                }
                self.simple_content(decl, s, el, path)
            }
            Ty::Complex(c) => {
                let ct = &self.complex[c];
                self.attributes(ct, el, path)?;
                match &ct.content {
                    Content::Simple(s) => self.simple_content(decl, *s, el, path),
                    // Empty content allows no character at all, not even whitespace.
                    Content::Elements(model)
                        if model.pos_leaf.is_empty() && !el.text.is_empty() =>
                    {
                        Err(invalid(
                            path,
                            "no content is allowed here, not even spaces".to_owned(),
                        ))
                    }
                    Content::Elements(model) => {
                        self.no_text(el, path)?;
                        self.run(model, el, path, depth)
                    }
                    Content::All(all) => {
                        self.no_text(el, path)?;
                        self.all(all, el, path, depth)
                    }
                }
            }
        }
    }

    fn no_text(&self, el: &Element, path: &str) -> Result<(), Invalid> {
        if el.has_text() {
            let text = el.text.trim_matches(is_xml_space);
            return Err(invalid(
                path,
                format!("text {} is not allowed here, only elements", quote(text)),
            ));
        }
        Ok(())
    }

    fn simple_content(
        &self,
        decl: &ElementDecl,
        s: usize,
        el: &Element,
        path: &str,
    ) -> Result<(), Invalid> {
        if let Some(child) = el.children.first() {
            return Err(invalid(
                path,
                format!(
                    "has child element {}, only a value is allowed",
                    clark(child.ns.as_deref(), &child.name)
                ),
            ));
        }
        if el.text.is_empty() && (decl.default || decl.fixed.is_some()) {
            return Ok(());
        }
        let value = self.simple[s]
            .check(&el.text)
            .map_err(|p| invalid(path, p))?;
        match &decl.fixed {
            Some((text, fixed)) if !same(&value, fixed) => Err(invalid(
                path,
                format!(
                    "value {} differs from the fixed value {}",
                    quote(&el.text),
                    quote(text)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn attributes(&self, ct: &ComplexType, el: &Element, path: &str) -> Result<(), Invalid> {
        for (ns, name) in &el.foreign_attributes {
            let declared = ct.attributes.iter().any(|a| a.name == *name && a.ns == *ns);
            let wildcard = ct
                .any_attribute
                .as_ref()
                .is_some_and(|w| w.allows(ns.as_deref()));
            if !declared && !wildcard {
                return Err(invalid(
                    path,
                    format!("attribute {} is not allowed", clark(ns.as_deref(), name)),
                ));
            }
        }
        for a in ct.attributes.iter().filter(|a| a.required) {
            if !el
                .foreign_attributes
                .iter()
                .any(|(ns, name)| *name == a.name && *ns == a.ns)
            {
                return Err(invalid(path, format!("missing attribute {}", a.name)));
            }
        }
        Ok(())
    }

    /// anyType content, and lax wildcards without a declaration: children that match a global
    /// declaration are validated against it, the others are looked into the same way.
    fn lax_children(&self, el: &Element, path: &str, depth: usize) -> Result<(), Invalid> {
        if depth > MAX_DEPTH {
            return Err(invalid(
                path,
                "the document is nested too deeply".to_owned(),
            ));
        }
        for child in &el.children {
            let child_path = format!("{path}/{}", clip(&child.name));
            match self.global(child) {
                Some(decl) => self.element(decl, child, &child_path, depth + 1)?,
                None => self.lax_children(child, &child_path, depth + 1)?,
            }
        }
        Ok(())
    }

    fn leaf_matches(&self, leaf: &Leaf, el: &Element) -> bool {
        match leaf {
            Leaf::Element(d) => el.is(self.elements[*d].ns.as_deref(), &self.elements[*d].name),
            Leaf::Any(w) => w.ns.allows(el.ns.as_deref()),
        }
    }

    fn run(&self, model: &Model, el: &Element, path: &str, depth: usize) -> Result<(), Invalid> {
        let mut stamp = vec![usize::MAX; model.pos_leaf.len()];
        let mut current: Vec<usize> = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        let mut started = false;
        for (i, child) in el.children.iter().enumerate() {
            self.candidates(model, started, &current, &mut stamp, i, &mut candidates);
            let next: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&p| self.leaf_matches(&model.leaves[model.pos_leaf[p]], child))
                .collect();
            let child_path = format!("{path}/{}", clip(&child.name));
            let Some(&p) = next.first() else {
                let (expected, qualify) = self.labels(model, &candidates, Some(child));
                let shown = if qualify {
                    clark(child.ns.as_deref(), &child.name)
                } else {
                    clip(&child.name)
                };
                let problem = if expected.is_empty() {
                    format!("unexpected element {shown}, no more elements are allowed here")
                } else {
                    format!(
                        "unexpected element {shown}, expected {}",
                        expected.join(" or ")
                    )
                };
                return Err(invalid(&child_path, problem));
            };
            match &model.leaves[model.pos_leaf[p]] {
                Leaf::Element(d) => {
                    self.element(&self.elements[*d], child, &child_path, depth + 1)?
                }
                Leaf::Any(w) => match (w.process, self.global(child)) {
                    (Process::Skip, _) => {}
                    (_, Some(decl)) => self.element(decl, child, &child_path, depth + 1)?,
                    (Process::Lax, None) => self.lax_children(child, &child_path, depth + 1)?,
                    (Process::Strict, None) => {
                        return Err(invalid(
                            &child_path,
                            format!(
                                "element {} is not declared by the schema",
                                clark(child.ns.as_deref(), &child.name)
                            ),
                        ));
                    }
                },
            }
            current = next;
            started = true;
        }
        let done = if started {
            current.iter().any(|&p| model.is_last[p])
        } else {
            model.nullable
        };
        if !done {
            let n = el.children.len();
            self.candidates(model, started, &current, &mut stamp, n, &mut candidates);
            let (expected, _) = self.labels(model, &candidates, None);
            let problem = match expected.as_slice() {
                [one] => format!("missing element {one}"),
                many => format!("missing element, expected {}", many.join(" or ")),
            };
            return Err(invalid(path, problem));
        }
        Ok(())
    }

    /// The positions reachable in one step from `current` (or from the start).
    fn candidates(
        &self,
        model: &Model,
        started: bool,
        current: &[usize],
        stamp: &mut [usize],
        round: usize,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        if !started {
            out.extend_from_slice(&model.first);
            return;
        }
        for &s in current {
            for &p in &model.follow[s] {
                if stamp[p] != round {
                    stamp[p] = round;
                    out.push(p);
                }
            }
        }
        out.sort_unstable();
    }

    /// Names of what the positions accept, without repetitions; qualified when `child` has the
    /// local name of one of them in another namespace.
    fn labels(
        &self,
        model: &Model,
        positions: &[usize],
        child: Option<&Element>,
    ) -> (Vec<String>, bool) {
        let qualify = child.is_some_and(|c| {
            positions
                .iter()
                .any(|&p| match &model.leaves[model.pos_leaf[p]] {
                    Leaf::Element(d) => {
                        self.elements[*d].name == c.name && self.elements[*d].ns != c.ns
                    }
                    Leaf::Any(_) => false,
                })
        });
        let mut out: Vec<String> = Vec::new();
        for &p in positions {
            let label = match &model.leaves[model.pos_leaf[p]] {
                Leaf::Element(d) if qualify => {
                    clark(self.elements[*d].ns.as_deref(), &self.elements[*d].name)
                }
                Leaf::Element(d) => self.elements[*d].name.clone(),
                Leaf::Any(_) => "any element".to_owned(),
            };
            if !out.contains(&label) {
                out.push(label);
            }
        }
        (out, qualify)
    }

    fn all(&self, all: &AllGroup, el: &Element, path: &str, depth: usize) -> Result<(), Invalid> {
        let mut seen = vec![false; all.members.len()];
        for child in &el.children {
            let child_path = format!("{path}/{}", clip(&child.name));
            let found = all.members.iter().position(|(d, _)| {
                let d = &self.elements[*d];
                child.is(d.ns.as_deref(), &d.name)
            });
            match found {
                Some(i) if seen[i] => {
                    return Err(invalid(
                        &child_path,
                        format!("element {} appears more than once", clip(&child.name)),
                    ));
                }
                Some(i) => {
                    seen[i] = true;
                    self.element(
                        &self.elements[all.members[i].0],
                        child,
                        &child_path,
                        depth + 1,
                    )?;
                }
                None => {
                    let expected: Vec<&str> = all
                        .members
                        .iter()
                        .zip(&seen)
                        .filter(|(_, s)| !**s)
                        .map(|((d, _), _)| self.elements[*d].name.as_str())
                        .collect();
                    let problem = if expected.is_empty() {
                        format!(
                            "unexpected element {}, no more elements are allowed here",
                            clip(&child.name)
                        )
                    } else {
                        format!(
                            "unexpected element {}, expected {}",
                            clip(&child.name),
                            expected.join(" or ")
                        )
                    };
                    return Err(invalid(&child_path, problem));
                }
            }
        }
        if el.children.is_empty() && all.optional {
            return Ok(());
        }
        match all
            .members
            .iter()
            .zip(&seen)
            .find(|((_, required), s)| *required && !**s)
        {
            Some(((d, _), _)) => Err(invalid(
                path,
                format!("missing element {}", self.elements[*d].name),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::xml::parse;

    fn schema(body: &str) -> Result<Schema, CompileError> {
        Schema::compile(&format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t"
                 targetNamespace="urn:t">{body}</xs:schema>"#
        ))
    }

    /// Validates `<v>text</v>` against an element `v` of the simple type `restriction`.
    fn value(restriction: &str, text: &str) -> Result<(), String> {
        let s = schema(&format!(
            r#"<xs:element name="v"><xs:simpleType>{restriction}</xs:simpleType></xs:element>"#
        ))
        .map_err(|e| format!("compile: {e}"))?;
        let doc = parse(format!(r#"<v xmlns="urn:t">{text}</v>"#).as_bytes())
            .map_err(|e| e.to_string())?;
        s.validate(&doc).map_err(|e| e.problem)
    }

    fn of(base: &str, facets: &str) -> String {
        format!(r#"<xs:restriction base="xs:{base}">{facets}</xs:restriction>"#)
    }

    #[test]
    fn built_in_lexical_rules() {
        let ok = |base: &str, text: &str| value(&of(base, ""), text).is_ok();
        for (base, good, bad) in [
            (
                "decimal",
                &["1", "-0.5", "+.5", "5.", " 7 "][..],
                &["", ".", "1e3", "1,5", "- 1"][..],
            ),
            ("integer", &["-12", "0", "+3"], &["1.0", "x"]),
            ("int", &["2147483647", "-2147483648"], &["2147483648"]),
            ("unsignedByte", &["255", "0"], &["256", "-1"]),
            ("positiveInteger", &["1"], &["0", "-1"]),
            ("nonPositiveInteger", &["0", "-9"], &["1"]),
            ("boolean", &["true", "0", " false "], &["TRUE", "yes"]),
            (
                "date",
                &["2024-02-29", "2020-01-01Z", "-0001-12-31"],
                &["2023-02-29", "2020-1-01", "0000-01-01", "2020-01-01+14:01"],
            ),
            (
                "dateTime",
                &["2024-01-01T24:00:00", "2024-01-01T10:00:00.5-05:00"],
                &["2024-01-01", "2024-01-01T10:60:00"],
            ),
            ("time", &["23:59:59", "00:00:00Z"], &["24:00:01", "12:00"]),
            ("gYear", &["2024", "12345"], &["24", "02024"]),
            ("gYearMonth", &["2024-12"], &["2024-13"]),
            ("gMonthDay", &["--02-29"], &["--02-30"]),
            ("gDay", &["---31"], &["---32"]),
            ("gMonth", &["--12"], &["--13"]),
            (
                "float",
                &["INF", "-INF", "NaN", "1e5", ".5", "-1.5E-3"],
                &["+INF", "inf", "1e", "e5"],
            ),
            (
                "base64Binary",
                &["QQ==", "QUJD", "Q Q = =", ""],
                &["QR==", "QQ=", "Q===", "QUJ!"],
            ),
            ("hexBinary", &["0aFF", ""], &["abc", "0g"]),
            (
                "language",
                &["it", "it-IT", "x-klingon1"],
                &["italianissimo", "1t", "it_IT"],
            ),
            ("NCName", &["a.b-c", "_x"], &["a:b", "1a"]),
            ("Name", &["a:b"], &["-a"]),
        ] {
            for g in good {
                assert!(ok(base, g), "{base}: {g:?} should be valid");
            }
            for b in bad {
                assert!(!ok(base, b), "{base}: {b:?} should be invalid");
            }
        }
    }

    #[test]
    fn length_facets_count_characters_or_bytes() {
        let r = of(
            "string",
            r#"<xs:minLength value="2"/><xs:maxLength value="3"/>"#,
        );
        assert_eq!(value(&r, "àèì"), Ok(()));
        assert_eq!(
            value(&r, "abcd").unwrap_err(),
            "has 4 characters, at most 3 allowed"
        );
        assert_eq!(
            value(&r, "a").unwrap_err(),
            "has 1 character, at least 2 required"
        );
        let b = of("hexBinary", r#"<xs:length value="2"/>"#);
        assert_eq!(value(&b, "00ff"), Ok(()));
        assert_eq!(
            value(&b, "00").unwrap_err(),
            "has 1 byte, exactly 2 required"
        );
        // Whitespace is applied before counting: token collapses, string preserves.
        assert_eq!(
            value(&of("token", r#"<xs:maxLength value="3"/>"#), "  a  b "),
            Ok(())
        );
        assert!(value(&of("string", r#"<xs:maxLength value="3"/>"#), "  a  b ").is_err());
    }

    #[test]
    fn enumeration_compares_values() {
        let r = of(
            "decimal",
            r#"<xs:enumeration value="1.50"/><xs:enumeration value="2"/>"#,
        );
        assert_eq!(value(&r, "1.5"), Ok(()));
        assert_eq!(value(&r, "02.000"), Ok(()));
        assert_eq!(
            value(&r, "3").unwrap_err(),
            "value \"3\" is not one of 1.50, 2"
        );
        let s = of("string", r#"<xs:enumeration value="A"/>"#);
        assert!(value(&s, " A").is_err());
        let long = "x".repeat(100);
        let problem = value(&s, &long).unwrap_err();
        assert!(problem.contains('…') && problem.len() < 100, "{problem}");
    }

    #[test]
    fn bounds_and_digits() {
        let r = of(
            "decimal",
            r#"<xs:minExclusive value="0"/><xs:maxInclusive value="100"/><xs:totalDigits value="5"/><xs:fractionDigits value="2"/>"#,
        );
        assert_eq!(value(&r, "100.00"), Ok(()));
        assert_eq!(
            value(&r, "0").unwrap_err(),
            "value \"0\" must be greater than 0"
        );
        assert_eq!(
            value(&r, "100.01").unwrap_err(),
            "value \"100.01\" is more than the maximum 100"
        );
        assert_eq!(
            value(&r, "1.234").unwrap_err(),
            "value \"1.234\" has 3 fraction digits, at most 2 allowed"
        );
        let d = of(
            "date",
            r#"<xs:minInclusive value="2020-01-01"/><xs:maxExclusive value="2021-01-01"/>"#,
        );
        assert_eq!(value(&d, "2020-01-01"), Ok(()));
        assert!(value(&d, "2021-01-01").is_err());
        assert!(value(&d, "2019-12-31").is_err());
        // With a timezone against a bound without one: indeterminate within 14 hours.
        let t = of(
            "dateTime",
            r#"<xs:maxInclusive value="2020-01-01T12:00:00"/>"#,
        );
        assert_eq!(value(&t, "2019-12-31T20:00:00Z"), Ok(()));
        assert!(value(&t, "2020-01-01T00:00:00Z").is_err());
        assert!(value(&t, "2020-01-01T12:00:00Z").is_err());
        assert!(value(&t, "2020-01-03T00:00:00Z").is_err());
    }

    #[test]
    fn patterns_or_within_a_step_and_across_steps() {
        let s = schema(
            r#"<xs:simpleType name="a"><xs:restriction base="xs:string">
                 <xs:pattern value="[a-z]+"/><xs:pattern value="\d+"/></xs:restriction></xs:simpleType>
               <xs:simpleType name="b"><xs:restriction base="t:a"><xs:pattern value=".{3}"/></xs:restriction></xs:simpleType>
               <xs:element name="v" type="t:b"/>"#,
        )
        .expect("compiles");
        let check = |text: &str| {
            s.validate(&parse(format!(r#"<v xmlns="urn:t">{text}</v>"#).as_bytes()).expect("xml"))
        };
        assert_eq!(check("abc"), Ok(()));
        assert_eq!(check("123"), Ok(()));
        assert!(check("ab1").is_err());
        assert!(check("abcd").is_err());
    }

    #[test]
    fn patterns_translate_xsd_syntax() {
        let matches = |p: &str, t: &str| compile_pattern(p).expect("compiles").is_match(t);
        assert!(matches("a^b$", "a^b$"));
        assert!(!matches("abc", "xabcx"));
        assert!(!matches(".", "\n"));
        assert!(matches(r"\d{2,3}", "123") && !matches(r"\d{2,3}", "1234"));
        assert!(matches(r"\i\c*", "_a-1.b") && !matches(r"\i\c*", "1a"));
        assert!(matches(r"[\s\d-]+", "1 -2"));
        assert!(matches(r"[^\-a]", "b") && !matches(r"[^\-a]", "-"));
        assert!(matches(r"\p{Lu}\P{Lu}", "Ab"));
        assert!(matches(r"\w+", "àb1") && !matches(r"\w", " "));
        assert!(matches(r"(ab|c)*\.", "abcab."));
        for bad in [
            r"[a-z-[aeiou]]",
            r"\p{IsBasicLatin}",
            r"\q",
            "(a",
            "a)",
            "*a",
            "a**",
            "[a",
            "a{3,2}",
            "]",
            r"[z-a]",
            "[a-c-e]",
        ] {
            assert!(compile_pattern(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn facets_are_checked_at_compile_time() {
        for (restriction, named) in [
            (
                of("int", r#"<xs:length value="3"/>"#),
                "length does not apply",
            ),
            (
                of("boolean", r#"<xs:enumeration value="true"/>"#),
                "enumeration does not apply",
            ),
            (
                of("string", r#"<xs:totalDigits value="3"/>"#),
                "totalDigits does not apply",
            ),
            (
                of("int", r#"<xs:fractionDigits value="2"/>"#),
                "fractionDigits must be 0",
            ),
            (
                of(
                    "string",
                    r#"<xs:minLength value="4"/><xs:maxLength value="3"/>"#,
                ),
                "no possible length",
            ),
            (
                of(
                    "string",
                    r#"<xs:maxLength value="3"/><xs:maxLength value="4"/>"#,
                ),
                "appears twice",
            ),
            (
                of(
                    "int",
                    r#"<xs:minInclusive value="5"/><xs:maxExclusive value="5"/>"#,
                ),
                "lower bound",
            ),
            (
                of("unsignedByte", r#"<xs:maxInclusive value="300"/>"#),
                "maxInclusive value",
            ),
            (
                of("decimal", r#"<xs:enumeration value="abc"/>"#),
                "enumeration",
            ),
            (
                of("string", r#"<xs:whiteSpace value="squash"/>"#),
                "whiteSpace",
            ),
            (
                of("token", r#"<xs:whiteSpace value="preserve"/>"#),
                "weaker",
            ),
            (
                of("string", r#"<xs:assertion test="true()"/>"#),
                "xs:assertion",
            ),
        ] {
            let err = value(&restriction, "x").unwrap_err();
            assert!(
                err.starts_with("compile:") && err.contains(named),
                "{restriction}: {err}"
            );
        }
        let widen = schema(
            r#"<xs:simpleType name="a"><xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction></xs:simpleType>
               <xs:simpleType name="b"><xs:restriction base="t:a"><xs:maxLength value="5"/></xs:restriction></xs:simpleType>"#,
        );
        assert!(widen.is_err_and(|e| e.message.contains("widen")));
    }

    #[test]
    fn whitespace_facets() {
        let r = of(
            "string",
            r#"<xs:whiteSpace value="replace"/><xs:enumeration value="a b"/>"#,
        );
        assert_eq!(value(&r, "a\tb"), Ok(()));
        let c = of(
            "string",
            r#"<xs:whiteSpace value="collapse"/><xs:length value="3"/>"#,
        );
        assert_eq!(value(&c, "\n a \t b "), Ok(()));
    }

    #[test]
    fn element_form_and_roots() {
        let s = schema(
            r#"<xs:element name="r"><xs:complexType><xs:sequence><xs:element name="c" type="xs:string"/>
               </xs:sequence></xs:complexType></xs:element><xs:element name="q" type="xs:int"/>"#,
        )
        .expect("compiles");
        assert_eq!(
            s.roots(),
            vec![
                (Some("urn:t".into()), "r".into()),
                (Some("urn:t".into()), "q".into())
            ]
        );
        let check = |doc: &str| s.validate(&parse(doc.as_bytes()).expect("xml"));
        // elementFormDefault unqualified: local elements have no namespace.
        assert_eq!(check(r#"<t:r xmlns:t="urn:t"><c>x</c></t:r>"#), Ok(()));
        let err = check(r#"<r xmlns="urn:t"><c>x</c></r>"#).unwrap_err();
        assert_eq!(err.path, "r/c");
        assert_eq!(err.problem, "unexpected element {urn:t}c, expected c");
        assert_eq!(check(r#"<q xmlns="urn:t">7</q>"#), Ok(()));
        assert_eq!(
            check(r#"<q xmlns="urn:t" a="1">7</q>"#)
                .unwrap_err()
                .problem,
            "attribute a is not allowed"
        );
    }

    #[test]
    fn content_models_with_ranges() {
        let s = schema(
            r#"<xs:element name="r"><xs:complexType><xs:sequence>
                 <xs:choice minOccurs="2" maxOccurs="3"><xs:element name="a" form="qualified"/>
                   <xs:sequence><xs:element name="b" form="qualified"/><xs:element name="c" form="qualified" minOccurs="0"/></xs:sequence>
                 </xs:choice><xs:element name="d" form="qualified" minOccurs="0" maxOccurs="unbounded"/>
               </xs:sequence></xs:complexType></xs:element>"#,
        )
        .expect("compiles");
        let check = |children: &str| {
            s.validate(
                &parse(format!(r#"<r xmlns="urn:t">{children}</r>"#).as_bytes()).expect("xml"),
            )
        };
        assert_eq!(check("<a/><b/><c/>"), Ok(()));
        assert_eq!(check("<b/><b/><c/><a/><d/><d/>"), Ok(()));
        assert_eq!(
            check("<a/>").unwrap_err().problem,
            "missing element, expected a or b"
        );
        assert!(check("<a/><a/><a/><a/>").is_err());
        assert!(check("<a/><c/>").is_err());
        assert!(check("<a/><a/><d/><a/>").is_err());
    }

    #[test]
    fn recursion_that_can_end_is_accepted() {
        assert!(
            schema(
                r#"<xs:complexType name="n"><xs:sequence><xs:element name="n" type="t:n" minOccurs="0"/></xs:sequence></xs:complexType>
                   <xs:element name="n" type="t:n"/>"#
            )
            .is_ok()
        );
        let err = schema(
            r#"<xs:complexType name="n"><xs:choice><xs:element name="a" type="t:n"/><xs:element name="b" type="t:n"/></xs:choice></xs:complexType>"#,
        )
        .unwrap_err();
        assert!(err.message.contains("never end"), "{err}");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn schema_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Schema>();
    }

    #[test]
    fn compile_errors_carry_lines() {
        let err = Schema::compile(
            "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n\n  <xs:import namespace=\"urn:x\"/>\n</xs:schema>",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(
            err.to_string(),
            "line 3: xs:import is not supported: schemas made of several documents are not supported"
        );
    }
}
