//! The legacy settlement flow document, `FlussoRiversamento` 1.0.4: [`parse`] reads one into
//! the domain's [`Flusso`] and [`Linea`]s, [`render`] writes one back.
//!
//! # How strict
//! [`parse`] accepts exactly the documents `xsd/FlussoRiversamento.xsd` accepts (which is the
//! official 1.0.4 schema plus the outcome codes 4 and 8, see below), and refuses the others
//! with an [`XmlError`] naming the element at fault:
//! - the root is `FlussoRiversamento` in [`NAMESPACE`], under any prefix or as the default
//!   namespace (names are resolved, never compared as text), and so is every child: an element
//!   without namespace, in another namespace, unknown, out of order, missing or repeated is
//!   refused;
//! - every value is checked against its type: string lengths (in characters, whitespace
//!   included, as `xs:string` keeps it), enumerations, the flow id's pattern, `xs:date` and
//!   `xs:dateTime` (real calendar days, hours to `24:00:00`, time zones within ±14:00),
//!   amounts `[0-9]+\.[0-9]{2}` within their bounds, `numeroTotalePagamenti` as a whole
//!   `xs:decimal` from 1 with at most 15 digits, `indiceDatiSingoloPagamento` as an
//!   `xs:integer` from 1 to 5;
//! - numbers and dates are read after collapsing surrounding whitespace, as XSD does for
//!   those types (xmllint 2.9 refuses whitespace around dates: that one difference is on
//!   xmllint's side);
//! - no attribute is allowed besides namespace declarations and `xsi:schemaLocation` /
//!   `xsi:noNamespaceSchemaLocation` (`xsi:nil` and `xsi:type` are refused: the schema declares
//!   nothing nillable, and no type may be substituted);
//! - elements holding elements hold no other text than whitespace, and no CDATA section
//!   (XSD would let a CDATA section of whitespace through; xmllint does not, nor does this
//!   reader).
//!
//! Outside the schema: the document must be UTF-8 (an optional UTF-8 byte order mark and an
//! XML 1.0 declaration are accepted, another declared encoding or a UTF-16 byte order mark is
//! refused), may not carry a DOCTYPE (no entity can be defined, so none can be expanded), may
//! not exceed [`MAX_BYTES`] nor hold more than [`MAX_LINES`] lines, and must be XML 1.0. Dates
//! must fall in year 1 or later (XSD also has negative years, which no flow carries). Nesting
//! needs no cap of its own: the reader follows the schema, which nests four levels, and
//! refuses the first element it does not expect.
//!
//! # Outcome codes
//! The official 1.0.4 schema lists `codiceEsitoSingoloPagamento` 0, 3 and 9 only. FdR 3, which
//! produces these files today, also reports 4 (paid in stand-in) and 8 (paid in stand-in
//! without an RPT): Varco accepts them, a deliberate departure shared with its schema.
//!
//! # Mapping
//! The creditor is `istitutoRicevente`'s code, the flow id `identificativoFlusso`, the PSP the
//! one the flow id names by pagoPA's convention ([`psp_of_flow_id`]) or else the sender's
//! code. `dataOraFlusso` carries no offset in practice: it is then a Europe/Rome wall-clock
//! time; an explicit offset is honoured.

use crate::domain::fdr::{Esito, FlowKey, Flusso, Fonte, Linea, Mittente, StatoFlusso};
use crate::domain::money::{self, Cents};
use crate::soap::xml::{is_xml_char, is_xml_space, predefined_entity};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Europe::Rome;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use std::fmt::Write as _;

/// The namespace of `FlussoRiversamento` and of all its children.
pub const NAMESPACE: &str = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/";

/// Largest document accepted, in bytes (a line takes about 400 bytes: some 150 000 lines).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Most lines (`datiSingoliPagamenti`) accepted in one flow.
pub const MAX_LINES: usize = 200_000;

/// Namespace of the schema instance attributes (`xsi:schemaLocation`, ...).
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Over [`MAX_BYTES`] or [`MAX_LINES`].
    #[error("the document is too large: {0}")]
    TooLarge(String),
    /// The bytes are not UTF-8.
    #[error("the document is not valid UTF-8")]
    NotUtf8,
    /// Another encoding is declared (or a UTF-16 byte order mark is present).
    #[error("the document is encoded as {0}: only UTF-8 is accepted")]
    Encoding(String),
    /// A `<!DOCTYPE>` is present.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    /// Not well-formed XML (or XML this reader does not take, such as version 1.1).
    #[error("the document is not well-formed XML: {0}")]
    IllFormed(String),
    /// Well-formed, but not a valid `FlussoRiversamento`.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where: `/FlussoRiversamento/datiSingoliPagamenti[3]/singoloImportoPagato`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
}

/// Reads a `FlussoRiversamento` document into its header and lines (see the module
/// documentation for what is accepted). `now` becomes the flow's `acquisito`; the flow is
/// revision 1, from [`Fonte::Xml`], [`StatoFlusso::Acquisito`], and its lines are not matched
/// yet.
pub fn parse(bytes: &[u8], now: DateTime<Utc>) -> Result<(Flusso, Vec<Linea>), XmlError> {
    let text = decode(bytes)?;
    let mut doc = Doc::new(text);
    doc.root()?;
    let flow = read_flow(&mut doc, now)?;
    doc.epilog()?;
    Ok(flow)
}

/// The PSP a flow id names by pagoPA's convention: an ISO date `YYYY-MM-DD`, then the PSP's
/// identifier up to the next `-` (`2026-11-30ABI03069-0001` → `ABI03069`). `None` when the id
/// does not follow it.
pub fn psp_of_flow_id(id: &str) -> Option<&str> {
    let (date, rest) = (id.get(..10)?, id.get(10..)?);
    let shape = date.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    if !shape || NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
        return None;
    }
    let (psp, _) = rest.split_once('-')?;
    (!psp.is_empty()).then_some(psp)
}

/// Writes a flow as a `FlussoRiversamento` document (`versioneOggetto` 1.0, default
/// namespace, UTF-8): `dataOraFlusso` as Europe/Rome wall-clock time without offset (with the
/// offset only in the autumn hour that occurs twice, where the wall clock alone is ambiguous),
/// amounts with two decimals, text escaped. [`parse`] of the result gives the same header and
/// lines back.
///
/// The values must fit the schema's limits (they do for every flow [`parse`] returned, and
/// for FdR 3's, which has the same ones): the document is always well-formed (characters XML
/// cannot carry become U+FFFD), but an empty IUR, a zero count, a negative amount or a sender
/// name under three characters make it invalid.
pub fn render(flusso: &Flusso, linee: &[Linea]) -> String {
    let mut out = String::with_capacity(1024 + 420 * linee.len());
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<FlussoRiversamento xmlns=\"{NAMESPACE}\">");
    let mut w = Writer { out, depth: 1 };
    w.leaf("versioneOggetto", "1.0");
    w.leaf("identificativoFlusso", &flusso.key.id_flusso);
    w.leaf("dataOraFlusso", &rome_date_time(flusso.data_ora_flusso));
    w.leaf("identificativoUnivocoRegolamento", &flusso.trn);
    w.leaf("dataRegolamento", &xsd_date(flusso.data_regolamento));
    w.open("istitutoMittente");
    w.open("identificativoUnivocoMittente");
    w.leaf("tipoIdentificativoUnivoco", &flusso.mittente.tipo);
    w.leaf("codiceIdentificativoUnivoco", &flusso.mittente.codice);
    w.close("identificativoUnivocoMittente");
    if let Some(name) = &flusso.mittente.denominazione {
        w.leaf("denominazioneMittente", name);
    }
    w.close("istitutoMittente");
    if let Some(bic) = &flusso.bic_riversamento {
        w.leaf("codiceBicBancaDiRiversamento", bic);
    }
    w.open("istitutoRicevente");
    w.open("identificativoUnivocoRicevente");
    w.leaf("tipoIdentificativoUnivoco", "G");
    w.leaf("codiceIdentificativoUnivoco", &flusso.key.dominio);
    w.close("identificativoUnivocoRicevente");
    if let Some(name) = &flusso.denominazione_ricevente {
        w.leaf("denominazioneRicevente", name);
    }
    w.close("istitutoRicevente");
    w.leaf(
        "numeroTotalePagamenti",
        &flusso.numero_pagamenti.to_string(),
    );
    w.leaf(
        "importoTotalePagamenti",
        &money::format(flusso.importo_totale),
    );
    for linea in linee {
        w.open("datiSingoliPagamenti");
        w.leaf("identificativoUnivocoVersamento", &linea.iuv);
        w.leaf("identificativoUnivocoRiscossione", &linea.iur);
        if let Some(indice) = linea.indice {
            w.leaf("indiceDatiSingoloPagamento", &indice.to_string());
        }
        w.leaf("singoloImportoPagato", &money::format(linea.importo));
        w.leaf(
            "codiceEsitoSingoloPagamento",
            &linea.esito.code().to_string(),
        );
        w.leaf("dataEsitoSingoloPagamento", &xsd_date(linea.data));
        w.close("datiSingoliPagamenti");
    }
    let mut out = w.out;
    out.push_str("</FlussoRiversamento>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Reading: the document, element by element in schema order.
// ---------------------------------------------------------------------------------------------

fn read_flow(doc: &mut Doc<'_>, now: DateTime<Utc>) -> Result<(Flusso, Vec<Linea>), XmlError> {
    doc.leaf("versioneOggetto", |v| {
        enumerated(v, &["1.0", "1.1"], "an object version")
    })?;
    let id_flusso = doc.leaf("identificativoFlusso", flow_id)?;
    let data_ora_flusso = doc.leaf("dataOraFlusso", date_time)?;
    let trn = doc.leaf("identificativoUnivocoRegolamento", text(1, 35))?;
    let data_regolamento = doc.leaf("dataRegolamento", date)?;

    doc.open("istitutoMittente")?;
    doc.open("identificativoUnivocoMittente")?;
    let tipo = doc.leaf("tipoIdentificativoUnivoco", |v| {
        enumerated(v, &["G", "A", "B"], "an identifier kind (G, A or B)")
    })?;
    let codice = doc.leaf("codiceIdentificativoUnivoco", text(1, 35))?;
    doc.close()?;
    let denominazione = doc.optional_leaf("denominazioneMittente", text(3, 70))?;
    doc.close()?;

    let bic_riversamento = doc.optional_leaf("codiceBicBancaDiRiversamento", text(1, 35))?;

    doc.open("istitutoRicevente")?;
    doc.open("identificativoUnivocoRicevente")?;
    doc.leaf("tipoIdentificativoUnivoco", |v| {
        enumerated(v, &["G"], "the legal person kind G")
    })?;
    let dominio = doc.leaf("codiceIdentificativoUnivoco", text(1, 35))?;
    doc.close()?;
    let denominazione_ricevente = doc.optional_leaf("denominazioneRicevente", text(1, 140))?;
    doc.close()?;

    let numero_pagamenti = doc.leaf("numeroTotalePagamenti", payment_count)?;
    let importo_totale = doc.leaf("importoTotalePagamenti", |v| amount(v, 0))?;

    let mut linee = Vec::new();
    while linee.is_empty() || doc.next_is("datiSingoliPagamenti")? {
        if linee.len() == MAX_LINES {
            return Err(XmlError::TooLarge(format!("more than {MAX_LINES} lines")));
        }
        doc.open_nth("datiSingoliPagamenti", linee.len() + 1)?;
        linee.push(read_line(doc)?);
    }
    doc.close()?;

    let psp = psp_of_flow_id(&id_flusso)
        .unwrap_or(codice.as_str())
        .to_owned();
    let flusso = Flusso {
        key: FlowKey {
            dominio,
            id_flusso,
            psp,
            revisione: 1,
        },
        data_ora_flusso,
        pubblicato: None,
        trn,
        data_regolamento,
        bic_riversamento,
        mittente: Mittente {
            tipo,
            codice,
            denominazione,
        },
        denominazione_ricevente,
        numero_pagamenti,
        importo_totale,
        fonte: Fonte::Xml,
        acquisito: now,
        obsoleto: false,
        stato: StatoFlusso::Acquisito,
        segnalazioni: Vec::new(),
        conteggi: [0; 3],
        incasso: None,
    };
    Ok((flusso, linee))
}

/// One `datiSingoliPagamenti`, already opened; closes it.
fn read_line(doc: &mut Doc<'_>) -> Result<Linea, XmlError> {
    let iuv = doc.leaf("identificativoUnivocoVersamento", text(1, 35))?;
    let iur = doc.leaf("identificativoUnivocoRiscossione", text(1, 35))?;
    let indice = doc.optional_leaf("indiceDatiSingoloPagamento", transfer_index)?;
    let importo = doc.leaf("singoloImportoPagato", |v| amount(v, 1))?;
    let esito = doc.leaf("codiceEsitoSingoloPagamento", outcome)?;
    let data = doc.leaf("dataEsitoSingoloPagamento", date)?;
    doc.close()?;
    Ok(Linea::new(iuv, iur, indice, importo, esito, data))
}

/// The document's text: size, byte order mark and encoding checked, and no character XML 1.0
/// excludes.
fn decode(bytes: &[u8]) -> Result<&str, XmlError> {
    if bytes.len() > MAX_BYTES {
        return Err(XmlError::TooLarge(format!("more than {MAX_BYTES} bytes")));
    }
    if bytes.starts_with(&[0xfe, 0xff]) || bytes.starts_with(&[0xff, 0xfe]) {
        return Err(XmlError::Encoding("UTF-16".into()));
    }
    let bytes = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(not_xml_char(c));
    }
    Ok(text)
}

fn not_xml_char(c: char) -> XmlError {
    XmlError::IllFormed(format!(
        "character U+{:04X} is not allowed in XML",
        u32::from(c)
    ))
}

/// What comes next in the document, once the character data before it is set aside.
#[derive(Debug)]
enum Token {
    /// A start tag (attributes already checked): its namespace and local name.
    Open { ns: Option<String>, name: String },
    /// An end tag.
    Close,
    /// The end of the input.
    Eof,
}

/// Character data read before a token.
#[derive(Debug, Default)]
struct Chars {
    text: String,
    /// Part of it came from a CDATA section.
    cdata: bool,
}

impl Chars {
    fn is_blank(&self) -> bool {
        !self.cdata && self.text.chars().all(is_xml_space)
    }
}

/// A document read in schema order, one token of look-ahead.
struct Doc<'a> {
    reader: NsReader<&'a [u8]>,
    /// The open elements, as path segments (`datiSingoliPagamenti[3]`).
    path: Vec<String>,
    /// The token after the current element content, when already read.
    peeked: Option<Token>,
    /// Events read so far (the XML declaration must come first).
    events: usize,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = NsReader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = true;
        config.trim_text(false);
        Self {
            reader,
            path: Vec::new(),
            peeked: None,
            events: 0,
        }
    }

    fn path(&self) -> String {
        if self.path.is_empty() {
            "/".to_owned()
        } else {
            self.path.iter().fold(String::new(), |mut p, s| {
                p.push('/');
                p.push_str(s);
                p
            })
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> XmlError {
        XmlError::Invalid {
            path: self.path(),
            reason: reason.into(),
        }
    }

    /// Reads up to the next start tag, end tag or end of input, gathering character data.
    fn token(&mut self) -> Result<(Chars, Token), XmlError> {
        let mut chars = Chars::default();
        loop {
            self.events += 1;
            let (resolved, event) = self
                .reader
                .read_resolved_event()
                .map_err(|e| XmlError::IllFormed(e.to_string()))?;
            let ns = match resolved {
                ResolveResult::Bound(ns) => Some(ns.into_inner().to_owned()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(prefix) => {
                    return Err(XmlError::IllFormed(format!(
                        "undeclared namespace prefix {prefix}"
                    )));
                }
            };
            match event {
                Event::Start(start) => {
                    let name = start.local_name().into_inner().to_owned();
                    self.check_attributes(&start, &name)?;
                    return Ok((chars, Token::Open { ns, name }));
                }
                // Never seen: the reader expands `<a/>` into a start and an end tag.
                Event::Empty(_) => {
                    return Err(XmlError::IllFormed("unexpanded empty element".into()));
                }
                Event::End(_) => return Ok((chars, Token::Close)),
                Event::Eof => return Ok((chars, Token::Eof)),
                Event::Text(t) => chars.text.push_str(&t.xml10_content()),
                Event::CData(c) => {
                    chars.cdata = true;
                    chars.text.push_str(&c.xml10_content());
                }
                Event::GeneralRef(r) => {
                    let c = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .map_err(|e| XmlError::IllFormed(e.to_string()))?
                            .filter(|c| is_xml_char(*c))
                            .ok_or_else(|| {
                                XmlError::IllFormed(format!(
                                    "character reference &{}; is not an XML character",
                                    r.xml10_content()
                                ))
                            })?
                    } else {
                        let name = r.xml10_content();
                        predefined_entity(&name).ok_or_else(|| {
                            XmlError::IllFormed(format!("undeclared entity reference &{name};"))
                        })?
                    };
                    chars.text.push(c);
                }
                Event::Decl(decl) => {
                    if self.events != 1 {
                        return Err(XmlError::IllFormed(
                            "the XML declaration must open the document".into(),
                        ));
                    }
                    let version = decl
                        .version()
                        .map_err(|e| XmlError::IllFormed(e.to_string()))?;
                    if &*version != "1.0" {
                        return Err(XmlError::IllFormed(format!(
                            "XML version {version} is not supported (only 1.0)"
                        )));
                    }
                    if let Some(encoding) = decl.encoding() {
                        let encoding = encoding.map_err(|e| XmlError::IllFormed(e.to_string()))?;
                        if !encoding.eq_ignore_ascii_case("UTF-8") {
                            return Err(XmlError::Encoding(encoding.into_owned()));
                        }
                    }
                }
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }

    /// Refuses every attribute but namespace declarations and the schema location hints.
    fn check_attributes(&self, start: &BytesStart<'_>, element: &str) -> Result<(), XmlError> {
        for attr in start.attributes() {
            let attr = attr.map_err(|e| XmlError::IllFormed(e.to_string()))?;
            // Values may hold references too: unknown entities and characters XML cannot
            // carry make the document ill-formed, whatever the attribute.
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| XmlError::IllFormed(e.to_string()))?;
            if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
                return Err(not_xml_char(c));
            }
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (resolved, local) = self.reader.resolver().resolve_attribute(attr.key);
            let local = local.into_inner();
            let allowed = match resolved {
                ResolveResult::Bound(ns) if ns.into_inner() == XSI => {
                    local == "schemaLocation" || local == "noNamespaceSchemaLocation"
                }
                ResolveResult::Unknown(prefix) => {
                    return Err(XmlError::IllFormed(format!(
                        "undeclared namespace prefix {prefix}"
                    )));
                }
                _ => false,
            };
            if !allowed {
                let name = attr.key.into_inner();
                return Err(XmlError::Invalid {
                    path: format!("{}/{element}", self.path().trim_end_matches('/')),
                    reason: format!("attribute {name} is not allowed"),
                });
            }
        }
        Ok(())
    }

    /// The root element, after the prolog.
    fn root(&mut self) -> Result<(), XmlError> {
        let (chars, token) = self.token()?;
        if !chars.is_blank() {
            return Err(XmlError::IllFormed("text before the root element".into()));
        }
        match token {
            Token::Open { ns, name } if name == "FlussoRiversamento" && is_ours(&ns) => {
                self.path.push(name);
                Ok(())
            }
            Token::Open { ns, name } => Err(self.invalid(format!(
                "the root element must be FlussoRiversamento in namespace {NAMESPACE}, not {}",
                shown_name(&ns, &name)
            ))),
            Token::Close | Token::Eof => Err(XmlError::IllFormed("no root element".into())),
        }
    }

    /// Nothing but comments, processing instructions and whitespace after the root.
    fn epilog(&mut self) -> Result<(), XmlError> {
        let (chars, token) = self.token()?;
        match token {
            Token::Eof if chars.is_blank() => Ok(()),
            Token::Eof => Err(XmlError::IllFormed("text after the root element".into())),
            _ => Err(XmlError::IllFormed("content after the root element".into())),
        }
    }

    /// The next token inside an element that holds elements (only whitespace may precede it).
    fn peek(&mut self) -> Result<&Token, XmlError> {
        if self.peeked.is_none() {
            let (chars, token) = self.token()?;
            if !chars.is_blank() {
                return Err(self.invalid(if chars.cdata {
                    "a CDATA section is not allowed among elements".to_owned()
                } else {
                    format!("text {} is not allowed among elements", shown(&chars.text))
                }));
            }
            self.peeked = Some(token);
        }
        Ok(self.peeked.get_or_insert(Token::Eof))
    }

    /// Whether the next child is `name`.
    fn next_is(&mut self, name: &str) -> Result<bool, XmlError> {
        Ok(matches!(self.peek()?, Token::Open { ns, name: n } if n == name && is_ours(ns)))
    }

    /// Enters the required child `name`.
    fn open(&mut self, name: &str) -> Result<(), XmlError> {
        self.enter(name, name.to_owned())
    }

    /// Enters the required child `name`, the `nth` of its kind.
    fn open_nth(&mut self, name: &str, nth: usize) -> Result<(), XmlError> {
        self.enter(name, format!("{name}[{nth}]"))
    }

    fn enter(&mut self, name: &str, segment: String) -> Result<(), XmlError> {
        if self.next_is(name)? {
            self.peeked = None;
            self.path.push(segment);
            return Ok(());
        }
        let found = match self.peek()? {
            Token::Open { ns, name } => shown_name(ns, name),
            Token::Close => "the end of the element".to_owned(),
            Token::Eof => return Err(truncated()),
        };
        Err(self.invalid(format!("missing <{name}>: found {found}")))
    }

    /// Leaves the current element, which must hold nothing more.
    fn close(&mut self) -> Result<(), XmlError> {
        match self.peek()? {
            Token::Close => {
                self.peeked = None;
                self.path.pop();
                Ok(())
            }
            Token::Open { ns, name } => {
                let found = shown_name(ns, name);
                Err(self.invalid(format!("unexpected {found}")))
            }
            Token::Eof => Err(truncated()),
        }
    }

    /// The required child `name`, holding a value `check` reads.
    fn leaf<T>(
        &mut self,
        name: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, XmlError> {
        self.open(name)?;
        self.value(check)
    }

    /// The optional child `name`, holding a value `check` reads.
    fn optional_leaf<T>(
        &mut self,
        name: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, XmlError> {
        if !self.next_is(name)? {
            return Ok(None);
        }
        self.open(name)?;
        self.value(check).map(Some)
    }

    /// The value of the element just entered, then leaves it.
    fn value<T>(&mut self, check: impl FnOnce(&str) -> Result<T, String>) -> Result<T, XmlError> {
        let (chars, token) = self.token()?;
        match token {
            Token::Close => {}
            Token::Open { ns, name } => {
                let found = shown_name(&ns, &name);
                return Err(self.invalid(format!("holds a value, not the element {found}")));
            }
            Token::Eof => return Err(truncated()),
        }
        let value = check(&chars.text).map_err(|reason| self.invalid(reason))?;
        self.path.pop();
        Ok(value)
    }
}

fn truncated() -> XmlError {
    XmlError::IllFormed("the document ends inside an element".into())
}

fn is_ours(ns: &Option<String>) -> bool {
    ns.as_deref() == Some(NAMESPACE)
}

/// An element's name for a message: `<name>` in our namespace, `{ns}name` elsewhere.
fn shown_name(ns: &Option<String>, name: &str) -> String {
    match ns.as_deref() {
        Some(NAMESPACE) => format!("<{name}>"),
        Some(other) => format!("<{{{other}}}{name}>"),
        None => format!("<{name}> without namespace"),
    }
}

/// A value for a message: quoted, escaped, and cut when long.
fn shown(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}...", &value[..at]),
        None => format!("{value:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Values: one function per type of the schema.
// ---------------------------------------------------------------------------------------------

/// An `xs:string` of `min..=max` characters (whitespace preserved and counted).
fn text(min: usize, max: usize) -> impl FnOnce(&str) -> Result<String, String> {
    move |v| {
        let n = v.chars().count();
        if (min..=max).contains(&n) {
            Ok(v.to_owned())
        } else {
            Err(format!(
                "{} has {n} characters, not {min} to {max}",
                shown(v)
            ))
        }
    }
}

/// An `xs:string` restricted to `values`.
fn enumerated(v: &str, values: &[&str], what: &str) -> Result<String, String> {
    if values.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(format!("{} is not {what}", shown(v)))
    }
}

/// `identificativoFlusso`: `[0-9A-Za-z_-]{1,35}`.
fn flow_id(v: &str) -> Result<String, String> {
    if crate::domain::fdr::flow_id_ok(v) {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{} is not a flow id (1 to 35 letters, digits, '-' and '_')",
            shown(v)
        ))
    }
}

/// The value of a type whose whitespace facet is `collapse` (numbers, dates): surrounding
/// whitespace goes, inner runs become one space (which no such type then accepts).
fn collapse(v: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = v.trim_matches(is_xml_space);
    if trimmed.contains(is_xml_space) {
        trimmed
            .split(is_xml_space)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .into()
    } else {
        trimmed.into()
    }
}

/// An amount: `[0-9]+\.[0-9]{2}` from `min` cents to 999999999.99.
fn amount(v: &str, min: Cents) -> Result<Cents, String> {
    let v = collapse(v);
    let shape = v.split_once('.').is_some_and(|(units, decimals)| {
        !units.is_empty()
            && decimals.len() == 2
            && units
                .bytes()
                .chain(decimals.bytes())
                .all(|b| b.is_ascii_digit())
    });
    if !shape {
        return Err(format!("{} is not an amount with two decimals", shown(&v)));
    }
    match money::parse_two_decimals(&v) {
        Some(cents) if cents >= min => Ok(cents),
        Some(_) => Err(format!(
            "{} is below the minimum {}",
            shown(&v),
            money::format(min)
        )),
        None => Err(format!("{} is above the maximum 999999999.99", shown(&v))),
    }
}

/// `numeroTotalePagamenti`: an `xs:decimal` that is a whole number from 1, at most 15 digits.
fn payment_count(v: &str) -> Result<u64, String> {
    let v = collapse(v);
    let not_count = || {
        format!(
            "{} is not a whole number from 1 with at most 15 digits",
            shown(&v)
        )
    };
    let (negative, digits) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, &v[..]),
    };
    let (units, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let lexical = !(units.is_empty() && fraction.is_empty())
        && units
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit());
    if !lexical {
        return Err(format!("{} is not a number", shown(&v)));
    }
    let units = units.trim_start_matches('0');
    if fraction.bytes().any(|b| b != b'0') || units.len() > 15 {
        return Err(not_count());
    }
    let count: u64 = if units.is_empty() {
        0
    } else {
        units.parse().map_err(|_| not_count())?
    };
    if negative || count == 0 {
        return Err(not_count());
    }
    Ok(count)
}

/// `indiceDatiSingoloPagamento`: an `xs:integer` from 1 to 5.
fn transfer_index(v: &str) -> Result<u8, String> {
    let v = collapse(v);
    let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} is not an integer", shown(&v)));
    }
    match digits.trim_start_matches('0') {
        d @ ("1" | "2" | "3" | "4" | "5") if !v.starts_with('-') => Ok(d.as_bytes()[0] - b'0'),
        _ => Err(format!("{} is not a transfer index from 1 to 5", shown(&v))),
    }
}

/// `codiceEsitoSingoloPagamento`: 0, 3, 9, and FdR 3's 4 and 8 (see the module documentation).
fn outcome(v: &str) -> Result<Esito, String> {
    let code = match v {
        "0" | "3" | "4" | "8" | "9" => v.as_bytes()[0] - b'0',
        _ => {
            return Err(format!(
                "{} is not an outcome code (0, 3, 4, 8, 9)",
                shown(v)
            ));
        }
    };
    Esito::from_code(code).ok_or_else(|| format!("{} is not an outcome code", shown(v)))
}

/// An `xs:date` (its time zone, if any, is read and left out).
fn date(v: &str) -> Result<NaiveDate, String> {
    let v = collapse(v);
    let not_date = |why: &str| format!("{} is not a date YYYY-MM-DD{why}", shown(&v));
    let (day, rest) = calendar_day(&v).ok_or_else(|| not_date(""))?;
    time_zone(rest).ok_or_else(|| not_date(" (bad time zone)"))?;
    day.ok_or_else(|| not_date(" (year out of range)"))
}

/// An `xs:dateTime`: with an offset as written, without one as Europe/Rome wall-clock time.
fn date_time(v: &str) -> Result<DateTime<Utc>, String> {
    let v = collapse(v);
    let not_date_time = |why: &str| {
        format!(
            "{} is not a date and time YYYY-MM-DDThh:mm:ss{why}",
            shown(&v)
        )
    };
    let (day, rest) = calendar_day(&v).ok_or_else(|| not_date_time(""))?;
    let rest = rest.strip_prefix('T').ok_or_else(|| not_date_time(""))?;
    let (time, extra_day, rest) = clock_time(rest).ok_or_else(|| not_date_time(""))?;
    let offset = time_zone(rest).ok_or_else(|| not_date_time(" (bad time zone)"))?;
    let out_of_range = || not_date_time(" (year out of range)");
    let day = day.ok_or_else(out_of_range)?;
    let day = if extra_day {
        day.succ_opt().ok_or_else(out_of_range)?
    } else {
        day
    };
    let naive = day.and_time(time);
    Ok(match offset {
        Some(seconds) => {
            let offset = FixedOffset::east_opt(seconds).ok_or_else(|| not_date_time(""))?;
            match offset.from_local_datetime(&naive) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                _ => return Err(out_of_range()),
            }
        }
        None => rome_to_utc(naive),
    })
}

/// `-?YYYY-MM-DD` (the year has at least four digits, more only without leading zeros, and is
/// not zero), a real day of the proleptic Gregorian calendar, then the rest of the text. The
/// day is `None` when the year is valid for XSD but outside what Varco represents (before 1 or
/// past chrono's range).
fn calendar_day(v: &str) -> Option<(Option<NaiveDate>, &str)> {
    let (negative, v) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let year_len = v.bytes().take_while(u8::is_ascii_digit).count();
    let year_text = &v[..year_len];
    if year_len < 4 || (year_len > 4 && year_text.starts_with('0')) {
        return None;
    }
    if year_text.bytes().all(|b| b == b'0') {
        return None;
    }
    let rest = &v[year_len..];
    let b = rest.as_bytes();
    if b.len() < 6 || b[0] != b'-' || b[3] != b'-' {
        return None;
    }
    let month = two_digits(rest.get(1..3)?)?;
    let day = two_digits(rest.get(4..6)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year_text, month) {
        return None;
    }
    let year = year_text.parse::<i32>().ok().filter(|_| !negative);
    let date = year.and_then(|y| NaiveDate::from_ymd_opt(y, month, day));
    Some((date, rest.get(6..)?))
}

/// Days of `month` in the XSD year written `year_text` (sign left out). Whether a year is a
/// leap year depends on its last four digits only; a negative year follows the same rule on
/// its number, as libxml2 does.
fn days_in_month(year_text: &str, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 => {
            let low: u32 = year_text[year_text.len() - 4..].parse().unwrap_or(1);
            if low.is_multiple_of(4) && (!low.is_multiple_of(100) || low.is_multiple_of(400)) {
                29
            } else {
                28
            }
        }
        _ => 31,
    }
}

/// `hh:mm:ss(.s+)?`: the time, whether it was `24:00:00` (midnight ending the day), the rest.
fn clock_time(v: &str) -> Option<(NaiveTime, bool, &str)> {
    let b = v.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (
        two_digits(v.get(..2)?)?,
        two_digits(v.get(3..5)?)?,
        two_digits(v.get(6..8)?)?,
    );
    let mut rest = v.get(8..)?;
    let mut nanos = 0u32;
    let mut fraction_zero = true;
    if let Some(after) = rest.strip_prefix('.') {
        let len = after.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let digits = &after[..len];
        fraction_zero = digits.bytes().all(|b| b == b'0');
        // Nanoseconds: the first nine digits, the others dropped.
        let nine: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        nanos = nine.parse().ok()?;
        rest = &after[len..];
    }
    if h == 24 {
        return (m == 0 && s == 0 && fraction_zero).then_some((NaiveTime::MIN, true, rest));
    }
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some((NaiveTime::from_hms_nano_opt(h, m, s, nanos)?, false, rest))
}

/// The whole rest of the text as an optional time zone: `Z` or `±hh:mm` up to ±14:00. The
/// offset in seconds, `Some(None)` without a zone, `None` when malformed.
fn time_zone(v: &str) -> Option<Option<i32>> {
    if v.is_empty() {
        return Some(None);
    }
    if v == "Z" {
        return Some(Some(0));
    }
    let b = v.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = (two_digits(v.get(1..3)?)?, two_digits(v.get(4..6)?)?);
    if m > 59 || h > 14 || (h == 14 && m > 0) {
        return None;
    }
    Some(Some(sign * (h as i32 * 3600 + m as i32 * 60)))
}

fn two_digits(v: &str) -> Option<u32> {
    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A Europe/Rome wall-clock time as an instant. In the autumn hour that occurs twice, the
/// first (summer time); in the spring hour that does not occur, standard time (+01:00), as a
/// clock not yet moved forward would read it.
fn rome_to_utc(naive: NaiveDateTime) -> DateTime<Utc> {
    match Rome.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => (naive - TimeDelta::hours(1)).and_utc(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------------------------

/// An indented document being written.
struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn leaf(&mut self, name: &str, value: &str) {
        self.indent();
        let _ = write!(self.out, "<{name}>");
        escape_into(&mut self.out, value);
        let _ = writeln!(self.out, "</{name}>");
    }
}

/// Element content escaped: markup characters as references, a carriage return as a reference
/// (a literal one would be read back as a line feed), characters XML cannot carry as U+FFFD.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{fffd}'),
        }
    }
}

/// `YYYY-MM-DD` (years 1 to 9999 with four digits, later ones with as many as they need).
fn xsd_date(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// An instant as Europe/Rome wall-clock time, `YYYY-MM-DDThh:mm:ss[.fraction]`, with the offset
/// only when the wall-clock time alone would be read back as another instant.
fn rome_date_time(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Rome);
    let naive = local.naive_local();
    let mut out = format!(
        "{}T{:02}:{:02}:{:02}",
        xsd_date(naive.date()),
        naive.hour(),
        naive.minute(),
        naive.second()
    );
    let nanos = naive.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        let _ = write!(out, ".{}", fraction.trim_end_matches('0'));
    }
    if rome_to_utc(naive) != t {
        let offset = local.offset().fix().local_minus_utc();
        let (sign, abs) = if offset < 0 {
            ('-', -offset)
        } else {
            ('+', offset)
        };
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fdr::StatoLinea;
    use chrono::TimeZone;

    /// A two-line flow in the default namespace, `{}` standing for nothing.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<FlussoRiversamento xmlns="http://www.digitpa.gov.it/schemas/2011/Pagamenti/">
  <versioneOggetto>1.0</versioneOggetto>
  <identificativoFlusso>2026-11-30ABI03069-0001</identificativoFlusso>
  <dataOraFlusso>2026-11-30T10:15:00</dataOraFlusso>
  <identificativoUnivocoRegolamento>TRN-0001</identificativoUnivocoRegolamento>
  <dataRegolamento>2026-11-30</dataRegolamento>
  <istitutoMittente>
    <identificativoUnivocoMittente>
      <tipoIdentificativoUnivoco>A</tipoIdentificativoUnivoco>
      <codiceIdentificativoUnivoco>03069</codiceIdentificativoUnivoco>
    </identificativoUnivocoMittente>
    <denominazioneMittente>Banca di prova</denominazioneMittente>
  </istitutoMittente>
  <istitutoRicevente>
    <identificativoUnivocoRicevente>
      <tipoIdentificativoUnivoco>G</tipoIdentificativoUnivoco>
      <codiceIdentificativoUnivoco>77777777777</codiceIdentificativoUnivoco>
    </identificativoUnivocoRicevente>
  </istitutoRicevente>
  <numeroTotalePagamenti>2</numeroTotalePagamenti>
  <importoTotalePagamenti>135.50</importoTotalePagamenti>
  <datiSingoliPagamenti>
    <identificativoUnivocoVersamento>01000000000105373</identificativoUnivocoVersamento>
    <identificativoUnivocoRiscossione>IUR-1</identificativoUnivocoRiscossione>
    <indiceDatiSingoloPagamento>1</indiceDatiSingoloPagamento>
    <singoloImportoPagato>120.50</singoloImportoPagato>
    <codiceEsitoSingoloPagamento>0</codiceEsitoSingoloPagamento>
    <dataEsitoSingoloPagamento>2026-11-28</dataEsitoSingoloPagamento>
  </datiSingoliPagamenti>
  <datiSingoliPagamenti>
    <identificativoUnivocoVersamento>01000000000105474</identificativoUnivocoVersamento>
    <identificativoUnivocoRiscossione>IUR-2</identificativoUnivocoRiscossione>
    <singoloImportoPagato>15.00</singoloImportoPagato>
    <codiceEsitoSingoloPagamento>9</codiceEsitoSingoloPagamento>
    <dataEsitoSingoloPagamento>2026-11-28</dataEsitoSingoloPagamento>
  </datiSingoliPagamenti>
</FlussoRiversamento>
"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn read(doc: &str) -> Result<(Flusso, Vec<Linea>), XmlError> {
        parse(doc.as_bytes(), now())
    }

    /// SAMPLE with `from` replaced by `to` (which must occur).
    fn with(from: &str, to: &str) -> String {
        assert!(SAMPLE.contains(from), "{from}");
        SAMPLE.replacen(from, to, 1)
    }

    fn refused(doc: &str) -> String {
        match read(doc) {
            Ok(_) => panic!("accepted:\n{doc}"),
            Err(e) => e.to_string(),
        }
    }

    fn flow() -> (Flusso, Vec<Linea>) {
        let flusso = Flusso {
            key: FlowKey {
                dominio: "77777777777".into(),
                id_flusso: "2026-11-30ABI03069-0001".into(),
                psp: "ABI03069".into(),
                revisione: 1,
            },
            data_ora_flusso: Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0).unwrap(),
            pubblicato: None,
            trn: "TRN-0001".into(),
            data_regolamento: day(2026, 11, 30),
            bic_riversamento: Some("BCITITMM".into()),
            mittente: Mittente {
                tipo: "B".into(),
                codice: "BCITITMM".into(),
                denominazione: Some("Banca <prova> & figli \"s.p.a.\"\r\n".into()),
            },
            denominazione_ricevente: Some("Comune di Prova".into()),
            numero_pagamenti: 5,
            importo_totale: 100_000_000,
            fonte: Fonte::Xml,
            acquisito: now(),
            obsoleto: false,
            stato: StatoFlusso::Acquisito,
            segnalazioni: Vec::new(),
            conteggi: [0; 3],
            incasso: None,
        };
        let linee = Esito::ALL
            .into_iter()
            .enumerate()
            .map(|(i, esito)| {
                let indice = (i % 2 == 0).then_some(i as u8 + 1);
                let iuv = format!("0100000000010537{i}");
                Linea::new(
                    iuv,
                    format!("IUR {i}"),
                    indice,
                    1 + i as Cents * 1234,
                    esito,
                    day(2026, 11, 28),
                )
            })
            .collect();
        (flusso, linee)
    }

    #[test]
    fn reads_the_sample() {
        let (flusso, linee) = read(SAMPLE).unwrap();
        assert_eq!(flusso.key.dominio, "77777777777");
        assert_eq!(flusso.key.id_flusso, "2026-11-30ABI03069-0001");
        assert_eq!(flusso.key.psp, "ABI03069");
        assert_eq!(flusso.key.revisione, 1);
        // No offset: Europe/Rome, one hour ahead of UTC in November.
        assert_eq!(
            flusso.data_ora_flusso,
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0).unwrap()
        );
        assert_eq!(flusso.trn, "TRN-0001");
        assert_eq!(flusso.data_regolamento, day(2026, 11, 30));
        assert_eq!(flusso.bic_riversamento, None);
        assert_eq!(
            flusso.mittente,
            Mittente {
                tipo: "A".into(),
                codice: "03069".into(),
                denominazione: Some("Banca di prova".into())
            }
        );
        assert_eq!(flusso.denominazione_ricevente, None);
        assert_eq!((flusso.numero_pagamenti, flusso.importo_totale), (2, 13550));
        assert_eq!((flusso.fonte, flusso.acquisito), (Fonte::Xml, now()));
        assert_eq!(flusso.stato, StatoFlusso::Acquisito);
        assert!(!flusso.obsoleto && flusso.segnalazioni.is_empty() && flusso.incasso.is_none());
        assert_eq!(linee.len(), 2);
        assert_eq!(
            linee[0],
            Linea::new(
                "01000000000105373".into(),
                "IUR-1".into(),
                Some(1),
                12050,
                Esito::Executed,
                day(2026, 11, 28)
            )
        );
        assert_eq!((linee[1].indice, linee[1].esito), (None, Esito::NoRpt));
        assert_eq!(linee[1].stato, StatoLinea::Ok);
    }

    #[test]
    fn render_then_parse_gives_the_flow_back() {
        let (flusso, linee) = flow();
        let doc = render(&flusso, &linee);
        assert!(
            doc.contains("<dataOraFlusso>2026-11-30T10:15:00</dataOraFlusso>"),
            "{doc}"
        );
        assert!(doc.contains("<versioneOggetto>1.0</versioneOggetto>"));
        assert!(doc.contains("Banca &lt;prova&gt; &amp; figli \"s.p.a.\"&#13;\n"));
        assert_eq!(read(&doc).unwrap(), (flusso.clone(), linee.clone()));

        // Instants a bare wall-clock time cannot say alone, and fractions of a second.
        for (at, text) in [
            // 02:30 of the last Sunday of October happens twice: the second is +01:00.
            (
                Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap(),
                "2026-10-25T02:30:00+01:00",
            ),
            (
                Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap(),
                "2026-10-25T02:30:00<",
            ),
            (
                Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap() + TimeDelta::milliseconds(250),
                "2026-07-01T12:00:00.25<",
            ),
        ] {
            let flusso = Flusso {
                data_ora_flusso: at,
                ..flusso.clone()
            };
            let doc = render(&flusso, &linee);
            assert!(doc.contains(text), "{doc}");
            assert_eq!(read(&doc).unwrap().0, flusso);
        }
    }

    #[test]
    fn any_prefix_or_the_default_namespace() {
        let expected = read(SAMPLE).unwrap();
        let prefixed = SAMPLE
            .replace("<", "<ns2:")
            .replace("<ns2:/", "</ns2:")
            .replace("<ns2:?xml", "<?xml")
            .replace("xmlns=", "xmlns:ns2=");
        assert!(prefixed.contains("<ns2:versioneOggetto>"), "{prefixed}");
        assert_eq!(read(&prefixed).unwrap(), expected);
        // Root prefixed, children in the default namespace declared on the root.
        let mixed = SAMPLE
            .replace(
                "<FlussoRiversamento xmlns=",
                &format!("<p:FlussoRiversamento xmlns:p=\"{NAMESPACE}\" xmlns="),
            )
            .replace("</FlussoRiversamento>", "</p:FlussoRiversamento>");
        assert_eq!(read(&mixed).unwrap(), expected);
        // A byte order mark, no declaration, comments and processing instructions anywhere.
        let bom = format!("\u{feff}<!-- c -->{}<?pi x?>\n", &SAMPLE[39..]);
        assert_eq!(read(&bom).unwrap(), expected);
        let commented = with(
            "<singoloImportoPagato>120.50",
            "<singoloImportoPagato>1<!-- x -->20<?p?>.50",
        );
        assert_eq!(read(&commented).unwrap(), expected);
        let cdata = with(
            "<singoloImportoPagato>120.50",
            "<singoloImportoPagato><![CDATA[120.50]]>",
        );
        assert_eq!(read(&cdata).unwrap(), expected);
    }

    #[test]
    fn refuses_another_namespace_or_none() {
        let other = SAMPLE.replace("2011/Pagamenti/", "2011/Altro/");
        assert!(refused(&other).starts_with("/: the root element must be FlussoRiversamento"));
        // A child without namespace (the default namespace reset).
        let unqualified = with("<versioneOggetto>", "<versioneOggetto xmlns=\"\">");
        assert_eq!(
            refused(&unqualified),
            "/FlussoRiversamento: missing <versioneOggetto>: found <versioneOggetto> without namespace"
        );
        // Prefixed root, unprefixed children without a default namespace.
        let half = SAMPLE
            .replace(
                "<FlussoRiversamento xmlns=",
                "<p:FlussoRiversamento xmlns:p=",
            )
            .replace("</FlussoRiversamento>", "</p:FlussoRiversamento>");
        assert!(refused(&half).contains("without namespace"));
        assert!(refused("<p:FlussoRiversamento/>").contains("undeclared namespace prefix p"));
    }

    #[test]
    fn refuses_missing_repeated_misplaced_and_unknown_elements() {
        let missing = with("<dataRegolamento>2026-11-30</dataRegolamento>", "");
        assert_eq!(
            refused(&missing),
            "/FlussoRiversamento: missing <dataRegolamento>: found <istitutoMittente>"
        );
        let swapped = with(
            "<versioneOggetto>1.0</versioneOggetto>\n  <identificativoFlusso>2026-11-30ABI03069-0001</identificativoFlusso>",
            "<identificativoFlusso>2026-11-30ABI03069-0001</identificativoFlusso>\n  <versioneOggetto>1.0</versioneOggetto>",
        );
        assert!(
            refused(&swapped).contains("missing <versioneOggetto>: found <identificativoFlusso>")
        );
        let unknown = with("</istitutoMittente>", "<extra>x</extra></istitutoMittente>");
        assert_eq!(
            refused(&unknown),
            "/FlussoRiversamento/istitutoMittente: unexpected <extra>"
        );
        let repeated = with(
            "<versioneOggetto>1.0</versioneOggetto>",
            "<versioneOggetto>1.0</versioneOggetto><versioneOggetto>1.0</versioneOggetto>",
        );
        assert!(
            refused(&repeated).contains("missing <identificativoFlusso>: found <versioneOggetto>")
        );
        let nested = with("<versioneOggetto>1.0", "<versioneOggetto><b/>1.0");
        assert_eq!(
            refused(&nested),
            "/FlussoRiversamento/versioneOggetto: holds a value, not the element <b>"
        );
        let no_lines = SAMPLE[..SAMPLE.find("  <datiSingoliPagamenti>").unwrap()].to_owned()
            + "</FlussoRiversamento>";
        assert!(refused(&no_lines).contains("missing <datiSingoliPagamenti>: found the end"));
        let text = with("<istitutoMittente>", "<istitutoMittente>x");
        assert!(refused(&text).contains("text \"x\\n    \" is not allowed among elements"));
        let cdata = with("<istitutoMittente>", "<istitutoMittente><![CDATA[ ]]>");
        assert!(refused(&cdata).contains("CDATA"));
        let attribute = with("<versioneOggetto>", "<versioneOggetto a=\"1\">");
        assert_eq!(
            refused(&attribute),
            "/FlussoRiversamento/versioneOggetto: attribute a is not allowed"
        );
        let nil = with(
            "<versioneOggetto>",
            &format!("<versioneOggetto xmlns:xsi=\"{XSI}\" xsi:nil=\"false\">"),
        );
        assert!(refused(&nil).contains("attribute xsi:nil is not allowed"));
        let hint = with(
            "<FlussoRiversamento ",
            &format!("<FlussoRiversamento xmlns:xsi=\"{XSI}\" xsi:schemaLocation=\"a b\" "),
        );
        assert!(read(&hint).is_ok());
        let after = format!("{SAMPLE}<FlussoRiversamento/>");
        assert!(matches!(read(&after), Err(XmlError::IllFormed(_))));
    }

    #[test]
    fn refuses_values_outside_their_types() {
        let line = "/FlussoRiversamento/datiSingoliPagamenti[2]";
        assert_eq!(
            refused(&with(
                "<singoloImportoPagato>15.00",
                "<singoloImportoPagato>12.5"
            )),
            format!("{line}/singoloImportoPagato: \"12.5\" is not an amount with two decimals")
        );
        for bad in [
            "1.5", "-1.00", "+1.00", "1,00", "1.000", ".50", "1e2", "", "1 0.00",
        ] {
            let doc = with(
                "<singoloImportoPagato>15.00",
                &format!("<singoloImportoPagato>{bad}"),
            );
            assert!(
                refused(&doc).contains("is not an amount with two decimals"),
                "{bad}"
            );
        }
        let zero = with("<singoloImportoPagato>15.00", "<singoloImportoPagato>0.00");
        assert!(refused(&zero).contains("below the minimum 0.01"));
        let huge = with(
            "<singoloImportoPagato>15.00",
            "<singoloImportoPagato>1000000000.00",
        );
        assert!(refused(&huge).contains("above the maximum"));
        // The total may be zero, not more than the maximum.
        assert!(
            read(&with(
                "<importoTotalePagamenti>135.50",
                "<importoTotalePagamenti>0.00"
            ))
            .is_ok()
        );
        assert!(
            read(&with(
                "<importoTotalePagamenti>135.50",
                "<importoTotalePagamenti>999999999.99"
            ))
            .is_ok()
        );

        for bad in [
            "2026-02-29",
            "2026-11-31",
            "2026-13-01",
            "26-11-30",
            "2026-11-30T00:00:00",
            "30/11/2026",
            "0000-01-01",
            "2026-11-30+15:00",
        ] {
            let doc = with(
                "<dataRegolamento>2026-11-30",
                &format!("<dataRegolamento>{bad}"),
            );
            assert!(
                refused(&doc).starts_with("/FlussoRiversamento/dataRegolamento: "),
                "{bad}"
            );
        }
        for bad in [
            "2026-11-30",
            "2026-11-30T10:15",
            "2026-11-30T25:00:00",
            "2026-11-30T24:00:01",
            "2026-11-30T10:15:60",
            "2026-11-30T10:15:00.",
            "2026-11-30 10:15:00",
        ] {
            let doc = with(
                "<dataOraFlusso>2026-11-30T10:15:00",
                &format!("<dataOraFlusso>{bad}"),
            );
            assert!(
                refused(&doc).starts_with("/FlussoRiversamento/dataOraFlusso: "),
                "{bad}"
            );
        }
        for bad in ["1", "2", "5", "00", " 0", "0 ", "A"] {
            let doc = with(
                "<codiceEsitoSingoloPagamento>9",
                &format!("<codiceEsitoSingoloPagamento>{bad}"),
            );
            assert!(refused(&doc).contains("is not an outcome code"), "{bad}");
        }
        for bad in ["0", "6", "-1", "1.0", "+", "x"] {
            let doc = with(
                "<indiceDatiSingoloPagamento>1",
                &format!("<indiceDatiSingoloPagamento>{bad}"),
            );
            assert!(
                refused(&doc).contains("indiceDatiSingoloPagamento: "),
                "{bad}"
            );
        }
        for bad in ["0", "-1", "1.5", "1000000000000000", "x", ""] {
            let doc = with(
                "<numeroTotalePagamenti>2",
                &format!("<numeroTotalePagamenti>{bad}"),
            );
            assert!(refused(&doc).contains("numeroTotalePagamenti: "), "{bad}");
        }
        let long = "x".repeat(36);
        let iuv = with(
            "<identificativoUnivocoVersamento>01000000000105373",
            &format!("<identificativoUnivocoVersamento>{long}"),
        );
        assert!(refused(&iuv).ends_with("has 36 characters, not 1 to 35"));
        let empty = with(
            "<identificativoUnivocoRiscossione>IUR-1",
            "<identificativoUnivocoRiscossione>",
        );
        assert!(refused(&empty).contains("has 0 characters"));
        let short = with("Banca di prova", "BP");
        assert!(
            refused(&short).contains("denominazioneMittente: \"BP\" has 2 characters, not 3 to 70")
        );
        let version = with("<versioneOggetto>1.0", "<versioneOggetto> 1.0");
        assert!(refused(&version).contains("is not an object version"));
        let kind = with(
            "<tipoIdentificativoUnivoco>G",
            "<tipoIdentificativoUnivoco>A",
        );
        assert!(refused(&kind).contains(
            "istitutoRicevente/identificativoUnivocoRicevente/tipoIdentificativoUnivoco"
        ));
        let id = with(
            "<identificativoFlusso>2026-11-30ABI03069-0001",
            "<identificativoFlusso>2026/11/30",
        );
        assert!(refused(&id).contains("is not a flow id"));
    }

    #[test]
    fn accepts_what_the_types_accept() {
        for (from, to) in [
            // Numbers and dates collapse their whitespace; decimal and integer lexical forms.
            (
                "<singoloImportoPagato>15.00",
                "<singoloImportoPagato>\n  0015.00 ",
            ),
            (
                "<numeroTotalePagamenti>2",
                "<numeroTotalePagamenti> +2.000 ",
            ),
            (
                "<indiceDatiSingoloPagamento>1",
                "<indiceDatiSingoloPagamento>+0001",
            ),
            (
                "<dataRegolamento>2026-11-30",
                "<dataRegolamento> 2026-11-30Z ",
            ),
            (
                "<dataRegolamento>2026-11-30",
                "<dataRegolamento>2026-11-30-14:00",
            ),
            // Strings keep theirs (and count it).
            (
                "<identificativoUnivocoRiscossione>IUR-1",
                "<identificativoUnivocoRiscossione> ",
            ),
            ("<versioneOggetto>1.0", "<versioneOggetto>1.1"),
            (
                "<codiceEsitoSingoloPagamento>9",
                "<codiceEsitoSingoloPagamento>8",
            ),
            (
                "<codiceEsitoSingoloPagamento>9",
                "<codiceEsitoSingoloPagamento>4",
            ),
            (
                "<codiceEsitoSingoloPagamento>9",
                "<codiceEsitoSingoloPagamento>3",
            ),
        ] {
            let doc = with(from, to);
            assert!(read(&doc).is_ok(), "{to}: {:?}", read(&doc));
        }
        let (flusso, linee) = read(&with(
            "<numeroTotalePagamenti>2",
            "<numeroTotalePagamenti>+2.000",
        ))
        .unwrap();
        assert_eq!((flusso.numero_pagamenti, linee.len()), (2, 2));
        let leap = with("<dataRegolamento>2026-11-30", "<dataRegolamento>2024-02-29");
        assert_eq!(read(&leap).unwrap().0.data_regolamento, day(2024, 2, 29));
    }

    #[test]
    fn flow_date_times_are_rome_time_unless_they_say_otherwise() {
        let at = |text: &str| {
            let doc = with(
                "<dataOraFlusso>2026-11-30T10:15:00",
                &format!("<dataOraFlusso>{text}"),
            );
            read(&doc).map(|(f, _)| f.data_ora_flusso)
        };
        let utc = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        assert_eq!(at("2026-07-01T12:00:00"), Ok(utc(2026, 7, 1, 10, 0)));
        assert_eq!(at("2026-07-01T12:00:00Z"), Ok(utc(2026, 7, 1, 12, 0)));
        assert_eq!(at("2026-07-01T12:00:00-03:30"), Ok(utc(2026, 7, 1, 15, 30)));
        assert_eq!(at("2026-11-30T24:00:00"), Ok(utc(2026, 11, 30, 23, 0)));
        // The hour skipped in spring reads as standard time; the repeated one as summer time.
        assert_eq!(at("2026-03-29T02:30:00"), Ok(utc(2026, 3, 29, 1, 30)));
        assert_eq!(at("2026-10-25T02:30:00"), Ok(utc(2026, 10, 25, 0, 30)));
        assert_eq!(
            at("2026-07-01T12:00:00.123456789999"),
            Ok(utc(2026, 7, 1, 10, 0) + TimeDelta::nanoseconds(123_456_789))
        );
    }

    #[test]
    fn refuses_doctype_other_encodings_and_ill_formed_input() {
        let bomb = SAMPLE.replacen(
            "<FlussoRiversamento",
            "<!DOCTYPE FlussoRiversamento [<!ENTITY a \"aaaa\">]>\n<FlussoRiversamento",
            1,
        );
        assert_eq!(read(&bomb), Err(XmlError::Doctype));
        let entity = with("TRN-0001", "&a;");
        assert!(refused(&entity).contains("undeclared entity reference &a;"));
        let latin = SAMPLE.replace("UTF-8", "ISO-8859-1");
        assert_eq!(
            refused(&latin),
            "the document is encoded as ISO-8859-1: only UTF-8 is accepted"
        );
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend(SAMPLE.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            parse(&utf16, now()),
            Err(XmlError::Encoding("UTF-16".into()))
        );
        let mut latin_bytes = with("Banca di prova", "Banca di prova X").into_bytes();
        let at = latin_bytes.iter().position(|&b| b == b'X').unwrap();
        latin_bytes[at] = 0xe8; // 'è' in Latin-1
        assert_eq!(parse(&latin_bytes, now()), Err(XmlError::NotUtf8));
        let mismatched = format!(
            "<FlussoRiversamento xmlns=\"{NAMESPACE}\"><versioneOggetto></FlussoRiversamento>"
        );
        assert!(matches!(read(&mismatched), Err(XmlError::IllFormed(_))));
        assert!(matches!(read(""), Err(XmlError::IllFormed(_))));
        assert!(matches!(
            read(&SAMPLE[..SAMPLE.len() / 2]),
            Err(XmlError::IllFormed(_))
        ));
        assert!(matches!(
            read(&with("TRN-0001", "TRN\u{1}")),
            Err(XmlError::IllFormed(_))
        ));
        assert!(matches!(
            read(&with("TRN-0001", "TRN&#0;")),
            Err(XmlError::IllFormed(_))
        ));
        let late_decl = format!("\n{SAMPLE}");
        assert!(matches!(read(&late_decl), Err(XmlError::IllFormed(_))));
        let deep = "<a>".repeat(100_000);
        assert!(read(&deep).is_err());
        let big = vec![b' '; MAX_BYTES + 1];
        assert!(matches!(parse(&big, now()), Err(XmlError::TooLarge(_))));
    }

    #[test]
    fn the_psp_comes_from_the_flow_id_or_the_sender() {
        assert_eq!(psp_of_flow_id("2026-11-30ABI03069-0001"), Some("ABI03069"));
        assert_eq!(
            psp_of_flow_id("2025-01-0188888888888-0000001"),
            Some("88888888888")
        );
        assert_eq!(psp_of_flow_id("2026-11-30ABI03069"), None);
        assert_eq!(psp_of_flow_id("2026-11-30-0001"), None);
        assert_eq!(psp_of_flow_id("2026-02-30ABI03069-1"), None);
        assert_eq!(psp_of_flow_id("20261130ABI03069-0001"), None);
        assert_eq!(psp_of_flow_id("short"), None);
        let other = with("2026-11-30ABI03069-0001", "FLUSSO-X-1");
        let (flusso, _) = read(&other).unwrap();
        assert_eq!(
            (flusso.key.id_flusso.as_str(), flusso.key.psp.as_str()),
            ("FLUSSO-X-1", "03069")
        );
    }
}
