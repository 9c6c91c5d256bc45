//! The printable payment notice (avviso di pagamento): one A4 page, laid out in the pagoPA
//! module order (header, creditor and recipient, amount and due date, where to pay, payment
//! data with the QR code, and the Bollettino PA part when the position is paid to a postal
//! account).
//!
//! The parts of the page (and the drawing primitives under them) are shared with the notice of
//! a document with instalments ([`super::document`]), whose first page this page is.
//!
//! # Crates, and why
//! - **krilla 0.8.2** writes the PDF: pure Rust, embeds **subset** CID fonts so the text stays
//!   selectable and extractable (ToUnicode), PDF 1.7. The ecosystem survey measured it at
//!   about 11 ms and 37 KB per document against printpdf's 59 ms and 395 KB (printpdf embeds
//!   the whole font); here a notice is 18 KB (24 KB with the postal part). It is the PDF layer
//!   under typst, maintained, 0.x API, hence the exact pin. Only its `raster-images` feature
//!   is on (PNG/JPEG logos); text is laid out here, not by its `simple-text` shaper.
//! - **flate2** with the pure-Rust **zlib-rs** backend, not used directly: it replaces
//!   miniz_oxide under krilla's stream compression, which took a third of the rendering time;
//!   with it one core renders about 890 notices/s (470/s with the postal part) instead of
//!   about 490/s (270/s).
//! - **notosans 0.1.0** ships Noto Sans Regular and Bold (SIL OFL 1.1) as byte slices
//!   (0.5 MB crate), so no system font or file is read at run time; Noto Sans covers Italian
//!   accents and `€`. typst-assets ships only serif and monospaced faces (6.7 MB crate);
//!   dejavu 2.37 would also do, as a 5.5 MB crate.
//! - **skrifa 0.42** (the version krilla already uses) maps characters to glyphs and gives
//!   their advances, to measure, wrap and right-align text. No kerning: Latin text without it
//!   is fine at these sizes.
//! - **qrcode 0.14.1** and **datamatrix 0.3.3** only compute module matrices
//!   ([`super::qr`]); the symbols are drawn here as filled vector rectangles (runs of dark
//!   modules merged into rectangles, in module units).
//!
//! The "where to pay" texts are Varco's own Italian wording of what the pagoPA specification
//! asks for (pay with the IO app or home banking; pay in person at banks, ATMs and post
//! offices). The specification fixes official strings for them; swap them in verbatim when
//! the official wording is at hand.
//!
//! Logos: PNG and JPEG are drawn (fitted in 30×30 mm). **TODO**: SVG logos (vector, as the
//! specification prefers) need krilla-svg and usvg; [`render`] rejects them with
//! [`PdfError::Logo`] for now.

use std::sync::{Arc, LazyLock};

use chrono::{Datelike, NaiveDate};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::num::NormalizedF32;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::FontRef;
use skrifa::MetadataProvider;
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size as FontSize};
use skrifa::metrics::GlyphMetrics;

use super::qr::{CodeError, ModuleMatrix};
use crate::domain::NoticeNumber;

/// One printed notice, independent of any protocol or store: a header and one payable option.
#[derive(Debug, Clone, PartialEq)]
pub struct Avviso {
    /// Creditor, debtor and subject.
    pub intestazione: Intestazione,
    /// The amount, due date, notice number and postal part.
    pub opzione: Opzione,
}

/// The header of a notice: who asks whom for what (shared by every option of a document).
#[derive(Debug, Clone, PartialEq)]
pub struct Intestazione {
    /// What the payment is for (causale), shown in the header; the specification asks for
    /// at most 90 characters, longer subjects are wrapped on up to three lines.
    pub subject: String,
    /// The creditor (Ente Creditore) name.
    pub creditor_name: String,
    /// The creditor's organisational unit ("settore"), if any.
    pub creditor_office: Option<String>,
    /// An optional information line for the creditor (web site, phone).
    pub creditor_info: Option<String>,
    /// The creditor's fiscal code: 11 digits.
    pub creditor_fiscal_code: String,
    /// The creditor's CBILL (interbank) code, if it has one.
    pub cbill: Option<String>,
    /// The creditor's GLN. Kept for [`qr::gs1_payload`]: the current notice layout prints
    /// no linear barcode, so it is not drawn.
    pub gln: Option<String>,
    /// The creditor's logo: PNG or JPEG bytes.
    pub logo: Option<Arc<Vec<u8>>>,
    /// The debtor's full name.
    pub debtor_name: String,
    /// The debtor's fiscal code (16 characters) or VAT number (11 digits).
    pub debtor_fiscal_code: String,
    /// The debtor's address, on one line.
    pub debtor_address: Option<String>,
}

/// One payable option of a document: the single payment or one instalment.
#[derive(Debug, Clone, PartialEq)]
pub struct Opzione {
    /// The amount in euro cents: 1..=[`qr::MAX_CENTS`] ([`qr::MAX_POSTE_CENTS`] with a postal
    /// part).
    pub amount_cents: i64,
    /// The due date, or `None` for an option without one.
    pub due_date: Option<NaiveDate>,
    /// The option's own notice number (numero avviso).
    pub notice: NoticeNumber,
    /// The Bollettino PA part, when the option is paid to a postal account.
    pub postal: Option<PostalPart>,
}

/// The Poste "Bollettino PA" part of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalPart {
    /// The postal current account number (up to 12 digits, or the postal IBAN).
    pub account_number: String,
    /// The account holder (at most 50 characters are printed).
    pub holder: String,
    /// The Poste authorisation text (`AUT. DB/…`).
    pub authorisation: String,
}

/// Why a notice could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// A field cannot go into one of the codes (fiscal code, amount, postal account).
    #[error("invalid notice data: {0}")]
    Code(#[from] CodeError),
    /// The logo is not a PNG or JPEG image, or cannot be decoded.
    #[error("logo: {0}")]
    Logo(String),
    /// The PDF writer failed.
    #[error("PDF writer: {0}")]
    Pdf(String),
    /// The document cannot be laid out: no payment option, more than
    /// [`super::document::MAX_RATE`] instalments, one notice number on two options, or
    /// content that would run off a page.
    #[error("layout: {0}")]
    Layout(String),
}

/// Formats integer cents the Italian way: `1.020,99 €` (dot thousands, comma decimals).
pub fn format_amount(cents: i64) -> String {
    let abs = cents.unsigned_abs();
    let euros = (abs / 100).to_string();
    let mut grouped = String::with_capacity(euros.len() + euros.len() / 3);
    for (i, c) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{grouped},{:02} €", abs % 100)
}

/// Formats a date as `dd/mm/yyyy`.
pub fn format_date(date: NaiveDate) -> String {
    format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year())
}

pub(super) fn load_logo(bytes: &Arc<Vec<u8>>) -> Result<Image, PdfError> {
    let data: krilla::Data = bytes.clone().into();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Image::from_png(data, true).map_err(PdfError::Logo)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Image::from_jpeg(data, true).map_err(PdfError::Logo)
    } else if looks_like_svg(bytes) {
        Err(PdfError::Logo(
            "SVG logos are not supported yet: use PNG or JPEG".to_owned(),
        ))
    } else {
        Err(PdfError::Logo("not a PNG or JPEG image".to_owned()))
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    head.contains("<svg")
}

// ---------------------------------------------------------------------------------------------
// Geometry, colours, fonts.

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
pub(super) const PAGE_W: f32 = 210.0 * MM;
pub(super) const PAGE_H: f32 = 297.0 * MM;
pub(super) const MARGIN: f32 = 15.0 * MM;
pub(super) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Side of the QR code and of the Data Matrix: 25 mm.
const SYMBOL: f32 = 25.0 * MM;
/// Side of the logo box: 30 mm.
const LOGO: f32 = 30.0 * MM;

pub(super) type Rgb = (u8, u8, u8);
pub(super) const INK: Rgb = (0x17, 0x32, 0x4D);
pub(super) const ACCENT: Rgb = (0x00, 0x66, 0xCC);
pub(super) const MUTED: Rgb = (0x5C, 0x6F, 0x82);
pub(super) const BAND: Rgb = (0xEB, 0xF2, 0xFA);
pub(super) const RULE: Rgb = (0xC5, 0xD0, 0xDB);
const WHITE: Rgb = (0xFF, 0xFF, 0xFF);
const BLACK: Rgb = (0x00, 0x00, 0x00);

/// A font face: the krilla font to embed plus what measuring needs.
struct Face {
    font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    upem: f32,
}

impl Face {
    fn new(bytes: &'static [u8]) -> Self {
        let font_ref = FontRef::new(bytes).expect("the bundled font parses");
        let font = Font::new(bytes.into(), 0).expect("the bundled font loads");
        Face {
            upem: font.units_per_em(),
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(FontSize::unscaled(), LocationRef::default()),
        }
    }

    /// Glyphs for `text`, one per character, advances in em.
    fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let gid = self.charmap.map(c).unwrap_or_default();
                let advance = self.metrics.advance_width(gid).unwrap_or(0.0) / self.upem;
                KrillaGlyph::new(
                    GlyphId::new(gid.to_u32()),
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }

    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| {
                let gid = self.charmap.map(c).unwrap_or_default();
                self.metrics.advance_width(gid).unwrap_or(0.0)
            })
            .sum::<f32>()
            / self.upem
            * size
    }
}

struct Faces {
    regular: Face,
    bold: Face,
}

static FACES: LazyLock<Faces> = LazyLock::new(|| Faces {
    regular: Face::new(notosans::REGULAR_TTF),
    bold: Face::new(notosans::BOLD_TTF),
});

/// A text style: face, size, colour.
#[derive(Clone, Copy)]
pub(super) struct Style {
    bold: bool,
    pub(super) size: f32,
    color: Rgb,
}

impl Style {
    pub(super) const fn new(bold: bool, size: f32, color: Rgb) -> Self {
        Style { bold, size, color }
    }

    fn face(&self) -> &'static Face {
        if self.bold {
            &FACES.bold
        } else {
            &FACES.regular
        }
    }

    pub(super) fn width(&self, text: &str) -> f32 {
        self.face().width(text, self.size)
    }

    /// Line height for this size.
    pub(super) fn leading(&self) -> f32 {
        self.size * 1.25
    }
}

pub(super) const LABEL: Style = Style::new(true, 7.5, ACCENT);
pub(super) const SMALL_LABEL: Style = Style::new(false, 7.0, MUTED);
pub(super) const BODY: Style = Style::new(false, 9.0, INK);
pub(super) const BODY_BOLD: Style = Style::new(true, 9.0, INK);
pub(super) const VALUE: Style = Style::new(true, 10.0, INK);
pub(super) const NAME: Style = Style::new(true, 12.0, INK);
pub(super) const NOTE: Style = Style::new(false, 8.0, MUTED);

/// Breaks `text` into lines no wider than `width`, at most `max_lines`; the last line ends
/// with `…` when text is left over. Words longer than a line are split.
pub(super) fn wrap(style: Style, text: &str, width: f32, max_lines: usize) -> Vec<String> {
    // Pieces to place: whole words, or chunks of a word too long for one line. `true` marks
    // a piece preceded by a space.
    let mut pieces: Vec<(&str, bool)> = Vec::new();
    for word in text.split_whitespace() {
        let mut rest = word;
        let mut spaced = true;
        while style.width(rest) > width {
            let mut cut = 0;
            for (idx, c) in rest.char_indices() {
                if style.width(&rest[..idx + c.len_utf8()]) > width {
                    break;
                }
                cut = idx + c.len_utf8();
            }
            if cut == 0 {
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            pieces.push((&rest[..cut], spaced));
            rest = &rest[cut..];
            spaced = false;
            if rest.is_empty() {
                break;
            }
        }
        if !rest.is_empty() {
            pieces.push((rest, spaced));
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for &(piece, spaced) in &pieces {
        let candidate = if current.is_empty() {
            piece.to_owned()
        } else if spaced {
            format!("{current} {piece}")
        } else {
            format!("{current}{piece}")
        };
        if current.is_empty() || style.width(&candidate) <= width {
            current = candidate;
            continue;
        }
        lines.push(std::mem::replace(&mut current, piece.to_owned()));
        if lines.len() == max_lines {
            if let Some(last) = lines.last_mut() {
                *last = ellipsize(style, last, width);
            }
            return lines;
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// `text` shortened to end with `…` within `width`.
fn ellipsize(style: Style, text: &str, width: f32) -> String {
    let mut out = text.trim_end().to_owned();
    loop {
        let candidate = format!("{out}…");
        if style.width(&candidate) <= width || out.is_empty() {
            return candidate;
        }
        out.pop();
        out.truncate(out.trim_end().len());
    }
}

/// `text` on one line within `width` (ellipsized when too long).
pub(super) fn fit(style: Style, text: &str, width: f32) -> String {
    wrap(style, text, width, 1).pop().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Drawing primitives.

/// Draws on a page, or only measures: a pen without a surface draws nothing but returns the
/// same positions, so a layout can be tried before it is drawn.
pub(super) struct Pen<'a, 'b> {
    surface: Option<&'a mut Surface<'b>>,
}

fn paint_fill(color: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

impl<'a, 'b> Pen<'a, 'b> {
    /// A pen drawing on `surface`.
    pub(super) fn new(surface: &'a mut Surface<'b>) -> Self {
        Pen {
            surface: Some(surface),
        }
    }

    /// A pen that draws nothing: it only measures.
    pub(super) fn measuring() -> Self {
        Pen { surface: None }
    }
}

impl Pen<'_, '_> {
    /// Draws one line of text with its baseline at `y`; returns its width.
    pub(super) fn text(&mut self, style: Style, x: f32, y: f32, text: &str) -> f32 {
        if text.is_empty() {
            return 0.0;
        }
        let face = style.face();
        if let Some(surface) = self.surface.as_deref_mut() {
            let glyphs = face.glyphs(text);
            surface.set_stroke(None);
            surface.set_fill(Some(paint_fill(style.color)));
            surface.draw_glyphs(
                Point::from_xy(x, y),
                &glyphs,
                face.font.clone(),
                text,
                style.size,
                false,
            );
        }
        face.width(text, style.size)
    }

    /// Draws one line of text ending at `right`.
    pub(super) fn text_right(&mut self, style: Style, right: f32, y: f32, text: &str) {
        let w = style.width(text);
        self.text(style, right - w, y, text);
    }

    /// Draws wrapped text whose first baseline is at `y`; returns the baseline after the
    /// last line (i.e. `y` + lines × leading).
    pub(super) fn paragraph(
        &mut self,
        style: Style,
        x: f32,
        y: f32,
        width: f32,
        max_lines: usize,
        text: &str,
    ) -> f32 {
        let mut y = y;
        for line in wrap(style, text, width, max_lines) {
            self.text(style, x, y, &line);
            y += style.leading();
        }
        y
    }

    pub(super) fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        let Some(surface) = self.surface.as_deref_mut() else {
            return;
        };
        let mut pb = PathBuilder::new();
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            pb.push_rect(rect);
        }
        if let Some(path) = pb.finish() {
            surface.set_stroke(None);
            surface.set_fill(Some(paint_fill(color)));
            surface.draw_path(&path);
        }
    }

    pub(super) fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb, width: f32) {
        let mut pb = PathBuilder::new();
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            pb.push_rect(rect);
        }
        if let Some(path) = pb.finish() {
            self.stroke_path(&path, color, width);
        }
    }

    pub(super) fn hline(&mut self, x: f32, y: f32, w: f32, color: Rgb, width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(x, y);
        pb.line_to(x + w, y);
        if let Some(path) = pb.finish() {
            self.stroke_path(&path, color, width);
        }
    }

    fn stroke_path(&mut self, path: &krilla::geom::Path, color: Rgb, width: f32) {
        let Some(surface) = self.surface.as_deref_mut() else {
            return;
        };
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(color.0, color.1, color.2).into(),
            width,
            ..Stroke::default()
        }));
        surface.draw_path(path);
        surface.set_stroke(None);
    }

    /// Draws a module matrix as black rectangles in a `side`×`side` square at (`x`, `y`),
    /// over a white background that includes the quiet zone (`quiet` modules).
    pub(super) fn symbol(&mut self, m: &ModuleMatrix, x: f32, y: f32, side: f32, quiet: usize) {
        let module = side / m.width().max(m.height()) as f32;
        let q = quiet as f32 * module;
        self.fill_rect(x - q, y - q, side + 2.0 * q, side + 2.0 * q, WHITE);
        let Some(surface) = self.surface.as_deref_mut() else {
            return;
        };
        // Drawn in module units (integer coordinates keep the content stream small).
        let mut pb = PathBuilder::new();
        for (mx, my, mw, mh) in m.dark_rects() {
            if let Some(rect) = Rect::from_xywh(mx as f32, my as f32, mw as f32, mh as f32) {
                pb.push_rect(rect);
            }
        }
        if let Some(path) = pb.finish() {
            surface.push_transform(&Transform::from_row(module, 0.0, 0.0, module, x, y));
            surface.set_stroke(None);
            surface.set_fill(Some(paint_fill(BLACK)));
            surface.draw_path(&path);
            surface.pop();
        }
    }

    /// Draws `image` fitted (aspect ratio kept) in a `box_side` square at (`x`, `y`),
    /// aligned to the right edge of the square.
    pub(super) fn image(&mut self, image: Image, x: f32, y: f32, box_side: f32) {
        let Some(surface) = self.surface.as_deref_mut() else {
            return;
        };
        let (w, h) = image.size();
        let (w, h) = (w.max(1) as f32, h.max(1) as f32);
        let scale = (box_side / w).min(box_side / h);
        let (dw, dh) = (w * scale, h * scale);
        if let Some(size) = Size::from_wh(dw, dh) {
            surface.push_transform(&Transform::from_translate(
                x + box_side - dw,
                y + (box_side - dh) / 2.0,
            ));
            surface.draw_image(image, size);
            surface.pop();
        }
    }

    /// A small label above a bold value; returns the baseline below the value.
    pub(super) fn field(&mut self, x: f32, y: f32, width: f32, label: &str, value: &str) -> f32 {
        self.text(SMALL_LABEL, x, y, &fit(SMALL_LABEL, label, width));
        let y = y + SMALL_LABEL.leading() + 1.5;
        self.text(VALUE, x, y, &fit(VALUE, value, width));
        y + VALUE.leading()
    }
}

// ---------------------------------------------------------------------------------------------
// The parts of a page.

/// One payable option ready to draw: its data, its QR code and, when paid to a postal
/// account, its Bollettino PA part with the Data Matrix.
pub(super) struct Payable<'a> {
    pub(super) option: &'a Opzione,
    pub(super) qr: ModuleMatrix,
    pub(super) postal: Option<(&'a PostalPart, ModuleMatrix)>,
    /// What the option is called on the page: "Rata unica", "Rata 2 di 3".
    pub(super) name: String,
    /// The title of its payment part: "BANCHE E ALTRI CANALI", "RATA 2 di 3".
    pub(super) title: String,
    /// Whether the option is the single payment (else an instalment).
    pub(super) unica: bool,
}

impl Payable<'_> {
    /// "entro il dd/mm/yyyy", or "senza scadenza".
    pub(super) fn due_text(&self) -> String {
        due_text(self.option.due_date)
    }
}

/// "entro il dd/mm/yyyy", or "senza scadenza".
pub(super) fn due_text(due: Option<NaiveDate>) -> String {
    match due {
        Some(d) => format!("entro il {}", format_date(d)),
        None => "senza scadenza".to_owned(),
    }
}

/// The left column of the "how much and when" band.
pub(super) enum Quanto {
    /// An amount in large type and its due date below it.
    Amount { cents: i64, due: Option<NaiveDate> },
    /// A sentence in large type instead of an amount ("Puoi pagare in 4 rate").
    Headline(String),
}

/// What the band says on the left, besides the title.
pub(super) struct Band {
    pub(super) quanto: Quanto,
    /// A bold line below ("Puoi pagare per intero oppure in 3 rate").
    pub(super) info: Option<String>,
    /// A plain line below that ("Importi e scadenze sono riportati in ogni singola rata").
    pub(super) note: Option<String>,
}

/// The parts every page of a notice is made of, for one header (creditor, debtor, subject).
pub(super) struct Sheet<'a> {
    pub(super) head: &'a Intestazione,
    pub(super) logo: Option<Image>,
}

/// The width of the left column of the band.
const BAND_LEFT_W: f32 = 170.0;
/// Large type for a sentence in place of an amount.
const HEADLINE: Style = Style::new(true, 15.0, INK);

impl Sheet<'_> {
    /// 1. Header: the subject (and the logo on the right).
    pub(super) fn header(&self, pen: &mut Pen<'_, '_>, top: f32) -> f32 {
        let mut text_w = CONTENT_W;
        let mut bottom = top;
        if let Some(logo) = self.logo.clone() {
            text_w -= LOGO + 14.0;
            pen.image(logo, PAGE_W - MARGIN - LOGO, top, LOGO);
            bottom = top + LOGO;
        }
        let mut y = top + 9.0;
        pen.text(LABEL, MARGIN, y, "AVVISO DI PAGAMENTO");
        // The largest size that holds the whole subject in three lines (ellipsized below that).
        let words = self
            .head
            .subject
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let subject = [17.0, 15.0, 13.0, 11.5]
            .map(|size| Style::new(true, size, INK))
            .into_iter()
            .find(|style| wrap(*style, &words, text_w, 3).join(" ") == words)
            .unwrap_or(Style::new(true, 11.5, INK));
        y += 8.0 + subject.size;
        y = pen.paragraph(subject, MARGIN, y, text_w, 3, &words);
        bottom = bottom.max(y - subject.leading() + 8.0);
        pen.hline(MARGIN, bottom + 8.0, CONTENT_W, RULE, 0.8);
        bottom + 8.0
    }

    /// 2. Creditor (left) and recipient (right).
    pub(super) fn parties(&self, pen: &mut Pen<'_, '_>, top: f32) -> f32 {
        let a = self.head;
        let gap = 24.0;
        let col_w = (CONTENT_W - gap) / 2.0;
        let left = MARGIN;
        let right = MARGIN + col_w + gap;

        let mut y = top + LABEL.size;
        pen.text(LABEL, left, y, "ENTE CREDITORE");
        y += 6.0 + NAME.size;
        y = pen.paragraph(NAME, left, y, col_w, 2, &a.creditor_name);
        if let Some(office) = a
            .creditor_office
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            y = pen.paragraph(BODY, left, y, col_w, 2, office);
        }
        if let Some(info) = a.creditor_info.as_deref().filter(|s| !s.trim().is_empty()) {
            y = pen.paragraph(BODY, left, y, col_w, 2, info);
        }
        y = self.fiscal_code(pen, left, y + 2.0, &a.creditor_fiscal_code);
        let left_bottom = y;

        let mut y = top + LABEL.size;
        pen.text(LABEL, right, y, "DESTINATARIO AVVISO");
        y += 6.0 + NAME.size;
        y = pen.paragraph(NAME, right, y, col_w, 2, &a.debtor_name);
        if let Some(address) = a.debtor_address.as_deref().filter(|s| !s.trim().is_empty()) {
            y = pen.paragraph(BODY, right, y, col_w, 2, address);
        }
        y = self.fiscal_code(pen, right, y + 2.0, &a.debtor_fiscal_code);
        left_bottom.max(y)
    }

    /// "Codice fiscale <code>" on one baseline; returns the next baseline.
    fn fiscal_code(&self, pen: &mut Pen<'_, '_>, x: f32, y: f32, code: &str) -> f32 {
        let w = pen.text(BODY, x, y, "Codice fiscale");
        pen.text(BODY_BOLD, x + w + 4.0, y, code);
        y + BODY.leading()
    }

    /// 3. How much and when (left), where to pay (right), on a tinted band.
    pub(super) fn amount_and_where(&self, pen: &mut Pen<'_, '_>, top: f32, band: &Band) -> f32 {
        let pad = 14.0;
        let left_w = BAND_LEFT_W;
        let right_x = MARGIN + pad + left_w + 16.0;
        let right_w = MARGIN + CONTENT_W - pad - right_x;
        let amount = match &band.quanto {
            Quanto::Amount { cents, .. } => {
                let amount_text = format_amount(*cents);
                let mut amount = Style::new(true, 22.0, INK);
                amount.size = amount.size.min(22.0 * left_w / amount.width(&amount_text));
                Some(amount)
            }
            Quanto::Headline(_) => None,
        };
        let info = band
            .info
            .as_deref()
            .map(|t| wrap(BODY_BOLD, t, left_w, 3))
            .unwrap_or_default();
        let note = band
            .note
            .as_deref()
            .map(|t| wrap(BODY, t, left_w, 3))
            .unwrap_or_default();

        // Measure both columns first to size the band.
        let heading = Style::new(true, 9.0, INK);
        let app = wrap(BODY, APP_TEXT, right_w, 3);
        let territory = wrap(BODY, TERRITORY_TEXT, right_w, 3);
        // Label, gap, two headings (each followed by its body), gap between the two.
        let right_h = LABEL.size
            + 8.0
            + heading.size
            + 2.0 * (heading.leading() + 1.0)
            + (app.len() + territory.len() - 1) as f32 * BODY.leading()
            + 7.0;
        let mut left_h = match (&band.quanto, amount) {
            (Quanto::Amount { .. }, Some(amount)) => LABEL.size + 10.0 + amount.size + 17.0,
            (Quanto::Headline(text), _) => {
                let lines = wrap(HEADLINE, text, left_w, 2).len().max(1);
                LABEL.size + 10.0 + HEADLINE.size + (lines - 1) as f32 * HEADLINE.leading()
            }
            (Quanto::Amount { .. }, None) => unreachable!("an amount has a style"),
        };
        if !info.is_empty() {
            left_h += 10.0 + BODY_BOLD.size + (info.len() - 1) as f32 * BODY_BOLD.leading();
        }
        if !note.is_empty() {
            left_h += 6.0 + BODY.size + (note.len() - 1) as f32 * BODY.leading();
        }
        let height = right_h.max(left_h) + 2.0 * pad;
        pen.fill_rect(MARGIN, top, CONTENT_W, height, BAND);

        let mut y = top + pad + LABEL.size;
        pen.text(LABEL, MARGIN + pad, y, "QUANTO E QUANDO PAGARE?");
        match (&band.quanto, amount) {
            (Quanto::Amount { cents, due }, Some(amount)) => {
                y += 10.0 + amount.size;
                pen.text(amount, MARGIN + pad, y, &format_amount(*cents));
                y += 6.0 + 11.0;
                pen.text(
                    Style::new(false, 11.0, INK),
                    MARGIN + pad,
                    y,
                    &due_text(*due),
                );
            }
            (Quanto::Headline(text), _) => {
                y += 10.0 + HEADLINE.size;
                y = pen.paragraph(HEADLINE, MARGIN + pad, y, left_w, 2, text) - HEADLINE.leading();
            }
            (Quanto::Amount { .. }, None) => unreachable!("an amount has a style"),
        }
        if !info.is_empty() {
            y += 10.0 + BODY_BOLD.size;
            for line in &info {
                pen.text(BODY_BOLD, MARGIN + pad, y, line);
                y += BODY_BOLD.leading();
            }
            y -= BODY_BOLD.leading();
        }
        if !note.is_empty() {
            y += 6.0 + BODY.size;
            for line in &note {
                pen.text(BODY, MARGIN + pad, y, line);
                y += BODY.leading();
            }
        }

        let mut y = top + pad + LABEL.size;
        pen.text(LABEL, right_x, y, "DOVE PAGARE?");
        y += 8.0 + heading.size;
        pen.text(heading, right_x, y, "PAGA CON L'APP IO O ONLINE");
        y += heading.leading() + 1.0;
        for line in &app {
            pen.text(BODY, right_x, y, line);
            y += BODY.leading();
        }
        y += 7.0;
        pen.text(heading, right_x, y, "PAGA SUL TERRITORIO");
        y += heading.leading() + 1.0;
        for line in &territory {
            pen.text(BODY, right_x, y, line);
            y += BODY.leading();
        }
        top + height
    }

    /// The heading row of a payment part: title on the left, due date and amount on the right.
    fn part_heading(
        &self,
        pen: &mut Pen<'_, '_>,
        top: f32,
        title: &str,
        due: &str,
        cents: i64,
    ) -> f32 {
        let pad = 12.0;
        let y = top + pad + 11.0;
        pen.text(Style::new(true, 11.0, ACCENT), MARGIN + pad, y, title);
        let amount = Style::new(true, 13.0, INK);
        let amount_text = format_amount(cents);
        let right = MARGIN + CONTENT_W - pad;
        pen.text_right(amount, right, y, &amount_text);
        pen.text_right(BODY, right - amount.width(&amount_text) - 14.0, y, due);
        let y = y + 8.0;
        pen.hline(MARGIN + pad, y, CONTENT_W - 2.0 * pad, RULE, 0.6);
        y
    }

    /// 4. Payment data for banks and the other channels: QR code and codes.
    ///
    /// The single payment's part also repeats the subject; an instalment's part, titled with
    /// the instalment ("RATA 2 di 3"), leaves it to the page header.
    pub(super) fn bank_part(&self, pen: &mut Pen<'_, '_>, top: f32, p: &Payable<'_>) -> f32 {
        let a = self.head;
        let o = p.option;
        let pad = 12.0;
        let due = if p.unica {
            format!("{} {}", p.name, p.due_text())
        } else {
            p.due_text()
        };
        let y0 = self.part_heading(pen, top, &p.title, &due, o.amount_cents);
        let qr_x = MARGIN + pad + 6.0;
        let qr_y = y0 + 14.0;
        pen.symbol(&p.qr, qr_x, qr_y, SYMBOL, 4);

        let x = qr_x + SYMBOL + 22.0;
        let w = MARGIN + CONTENT_W - pad - x;
        let mut y = y0 + 14.0 + NOTE.size;
        y = pen.paragraph(NOTE, x, y, w, 2, BANK_TEXT) + 4.0;
        let half = (w - 12.0) / 2.0;
        pen.field(x, y, half, "Destinatario", &a.debtor_name);
        y = pen.field(x + half + 12.0, y, half, "Ente creditore", &a.creditor_name) + 2.0;
        if p.unica {
            pen.text(SMALL_LABEL, x, y, "Oggetto del pagamento");
            y += SMALL_LABEL.leading() + 1.5;
            y = pen.paragraph(BODY_BOLD, x, y, w, 2, &a.subject) + 2.0;
        }
        let c1 = 70.0;
        let c2 = 150.0;
        if let Some(cbill) = a.cbill.as_deref().filter(|s| !s.trim().is_empty()) {
            pen.field(x, y, c1 - 8.0, "Codice CBILL", cbill);
        }
        pen.field(x + c1, y, c2 - 8.0, "Codice avviso", &o.notice.grouped());
        y = pen.field(
            x + c1 + c2,
            y,
            w - c1 - c2,
            "Cod. fiscale ente creditore",
            &a.creditor_fiscal_code,
        );
        let bottom = (y - VALUE.leading() + 14.0).max(qr_y + SYMBOL + 14.0);
        pen.stroke_rect(MARGIN, top, CONTENT_W, bottom - top, RULE, 0.8);
        bottom
    }

    /// The Bollettino PA part of `p` (which must have one): account, holder, Data Matrix and
    /// codes. Returns `top` when `p` has no postal part.
    pub(super) fn postal_part(&self, pen: &mut Pen<'_, '_>, top: f32, p: &Payable<'_>) -> f32 {
        let Some((postal, matrix)) = &p.postal else {
            return top;
        };
        let a = self.head;
        let o = p.option;
        let pad = 12.0;
        let due = format!("{} {}", p.name, p.due_text());
        let y0 = self.part_heading(pen, top, "BOLLETTINO POSTALE PA", &due, o.amount_cents);
        let dm_x = MARGIN + pad + 6.0;
        let dm_y = y0 + 14.0;
        pen.symbol(matrix, dm_x, dm_y, SYMBOL, 2);

        let x = dm_x + SYMBOL + 22.0;
        let w = MARGIN + CONTENT_W - pad - x;
        let mut y = y0 + 14.0 + VALUE.size;
        let lead = pen.text(BODY, x, y, "sul C/C n.");
        let account = postal.account_number.trim();
        pen.text(VALUE, x + lead + 4.0, y, account);
        y += VALUE.leading();
        let lead = pen.text(BODY, x, y, "intestato a");
        let holder: String = postal.holder.trim().chars().take(50).collect();
        pen.text(
            BODY_BOLD,
            x + lead + 4.0,
            y,
            &fit(BODY_BOLD, &holder, w - lead - 4.0),
        );
        y += BODY.leading() + 6.0;
        let half = (w - 12.0) / 2.0;
        pen.field(x, y, half, "Destinatario", &a.debtor_name);
        y = pen.field(
            x + half + 12.0,
            y,
            half,
            "Oggetto del pagamento",
            &a.subject,
        ) + 2.0;
        pen.field(x, y, half, "Codice avviso", &o.notice.grouped());
        y = pen.field(
            x + half + 12.0,
            y,
            half,
            "Cod. fiscale ente creditore",
            &a.creditor_fiscal_code,
        );
        let mut bottom = (y - VALUE.leading() + 6.0).max(dm_y + SYMBOL + 6.0);
        if !postal.authorisation.trim().is_empty() {
            bottom += NOTE.size;
            pen.text(
                NOTE,
                MARGIN + pad,
                bottom,
                &fit(NOTE, postal.authorisation.trim(), CONTENT_W - 2.0 * pad),
            );
        }
        bottom += 12.0;
        pen.stroke_rect(MARGIN, top, CONTENT_W, bottom - top, RULE, 0.8);
        bottom
    }
}

/// "Pay with the IO app or online": Varco's wording, see the module documentation.
const APP_TEXT: &str = "Con l'app IO, oppure con l'Home Banking della tua banca e gli altri \
                        canali online abilitati a pagoPA.";
/// "Pay in person": Varco's wording, see the module documentation.
const TERRITORY_TEXT: &str = "In banca e agli sportelli ATM, negli uffici postali e negli \
                              altri punti di pagamento abilitati a pagoPA.";
/// What the payment data next to the QR code is for.
const BANK_TEXT: &str = "Inquadra il codice QR, oppure indica il codice avviso e il codice \
                         fiscale dell'ente creditore (o il codice CBILL) al canale che usi.";

#[cfg(test)]
/// A minimal notice: 1,00 € for notice 301000000000000144, no logo, no postal part.
pub(crate) fn sample_avviso() -> Avviso {
    Avviso {
        intestazione: Intestazione {
            subject: "Prova".into(),
            creditor_name: "Comune di Demo".into(),
            creditor_office: None,
            creditor_info: None,
            creditor_fiscal_code: "77777777777".into(),
            cbill: None,
            gln: None,
            logo: None,
            debtor_name: "Mario Rossi".into(),
            debtor_fiscal_code: "RSSMRA80A01H501U".into(),
            debtor_address: None,
        },
        opzione: Opzione {
            amount_cents: 100,
            due_date: None,
            notice: NoticeNumber::parse("301000000000000144").unwrap(),
            postal: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::render;

    #[test]
    fn amounts_in_italian_format() {
        assert_eq!(format_amount(102_099), "1.020,99 €");
        assert_eq!(format_amount(12_000), "120,00 €");
        assert_eq!(format_amount(5), "0,05 €");
        assert_eq!(format_amount(0), "0,00 €");
        assert_eq!(format_amount(100_000), "1.000,00 €");
        assert_eq!(format_amount(99_999_999_999), "999.999.999,99 €");
        assert_eq!(format_amount(-150), "-1,50 €");
        assert_eq!(format_amount(i64::MIN), "-92.233.720.368.547.758,08 €");
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(format_date(d), "05/01/2026");
    }

    #[test]
    fn wrapping_keeps_every_word_and_width() {
        let text = "Tassa sui rifiuti àèéìòù € con un oggetto molto lungo che va a capo più volte";
        let lines = wrap(BODY, text, 120.0, 10);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(BODY.width(l) <= 120.0, "{l}");
        }
        assert_eq!(lines.join(" "), text);
        // Truncated with an ellipsis when the lines run out.
        let short = wrap(BODY, text, 120.0, 2);
        assert_eq!(short.len(), 2);
        assert!(short[1].ends_with('…'));
        assert!(BODY.width(&short[1]) <= 120.0);
        // A word longer than a line is split.
        let long = "x".repeat(200);
        let parts = wrap(BODY, &long, 100.0, 10);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), long);
    }

    #[test]
    fn rejects_bad_input_and_svg_logos() {
        let mut a = sample_avviso();
        let pdf = render(&a).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        a.intestazione.logo = Some(Arc::new(b"<?xml version=\"1.0\"?><svg></svg>".to_vec()));
        assert!(matches!(render(&a), Err(PdfError::Logo(_))));
        a.intestazione.logo = None;
        a.opzione.amount_cents = 0;
        assert!(matches!(
            render(&a),
            Err(PdfError::Code(CodeError::Amount(0)))
        ));
        a.opzione.amount_cents = 100;
        a.intestazione.creditor_fiscal_code = "123".into();
        assert!(matches!(
            render(&a),
            Err(PdfError::Code(CodeError::EcFiscalCode(_)))
        ));
    }
}
