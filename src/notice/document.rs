//! The printed notice of a document: an optional single payment ("rata unica") and up to
//! [`MAX_RATE`] instalments ("rate"), after the pagoPA AVVISO 3.x base models "Rata unica"
//! and "Rate multiple". Every page is A4 portrait and drawn with the parts of the one-page
//! notice ([`super::pdf`]): same header, fonts, colours and QR codes.
//!
//! # Pages
//! - **Page 1**: the header (subject, logo), creditor and recipient, the "how much and when"
//!   band, then, when there is a single payment, its payment part (QR code) and its
//!   Bollettino PA part exactly as on the one-page notice: a document with a single payment
//!   and no instalment *is* the one-page notice of [`super::render`].
//!   - With N ≥ 2 instalments the band says "Puoi pagare per intero oppure in N rate" below
//!     the single payment's amount, or, without a single payment, "Puoi pagare in N rate" in
//!     place of an amount (nothing for N < 2: one instalment without a single payment shows
//!     that instalment's amount and due date there).
//!   - With 1 to 8 instalments a table below the band lists each instalment with its due date
//!     and amount. From [`MOLTE_RATE`] (9) instalments, the "avviso con molte rate" variant,
//!     the band says instead "Importi e scadenze sono riportati in ogni singola rata". The
//!     same sentence replaces the table when the table would not fit on page 1 (a logo, long
//!     names and a postal part together): the page is measured before it is drawn.
//! - **Instalment pages** follow, each with the same header, creditor and recipient, then the
//!   instalments' payment parts: title "RATA i di N", due date, amount, QR code (25 mm, the
//!   same symbol as the single payment's), notice code in groups of four, creditor fiscal
//!   code (and CBILL). The pages group the instalments the same way throughout a document,
//!   never mixed: **3 per page when N is a multiple of 3, else 2 per page when N is even,
//!   else one per page**.
//! - **Postal**: an option with a postal part gets its Bollettino PA part (account, holder,
//!   authorisation, Poste Data Matrix for that option's notice and amount) right after its
//!   payment part. When any instalment has one, every instalment page holds **one**
//!   instalment with its bollettino: the simplest layout that always fits, where the
//!   official model puts postal modules three in a row.
//! - A document of more than one page carries "Pagina k di P" at the foot of every page.
//!
//! A document is refused ([`PdfError::Layout`]) when it has no option, more than
//! [`MAX_RATE`] instalments, or the same notice number on two options; and, as a safety
//! net, when a page's content would run past the bottom margin.

use std::collections::HashSet;

use krilla::Document;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;

use super::pdf::{
    self, Avviso, BODY, BODY_BOLD, Band, CONTENT_W, Intestazione, LABEL, MARGIN, NOTE, Opzione,
    PAGE_H, PAGE_W, Payable, PdfError, Pen, Quanto, RULE, Sheet, format_amount,
};
use super::qr;

/// The most instalments a document can have.
pub const MAX_RATE: usize = 100;

/// From this many instalments page 1 lists no instalment ("avviso con molte rate").
pub const MOLTE_RATE: usize = 9;

/// A document's notice: an optional single payment ("rata unica") and 0..=100 instalments
/// in order.
#[derive(Debug, Clone, PartialEq)]
pub struct AvvisoDocumento {
    /// Creditor, debtor and subject, printed on every page.
    pub intestazione: Intestazione,
    /// The single payment, if the document can be paid in one go.
    pub unica: Option<Opzione>,
    /// The instalments, first to last: at most [`MAX_RATE`].
    pub rate: Vec<Opzione>,
}

/// A one-page notice is a document with a single payment and no instalment.
impl From<&Avviso> for AvvisoDocumento {
    fn from(avviso: &Avviso) -> Self {
        AvvisoDocumento {
            intestazione: avviso.intestazione.clone(),
            unica: Some(avviso.opzione.clone()),
            rate: Vec::new(),
        }
    }
}

/// Renders a notice of one notice number as a one-page A4 PDF with embedded subset fonts:
/// the first page of a document with only a single payment.
pub fn render(avviso: &Avviso) -> Result<Vec<u8>, PdfError> {
    render_document(&AvvisoDocumento::from(avviso))
}

/// Renders the document's notice as an A4 PDF with embedded subset fonts: page 1, then the
/// instalment pages (see the module documentation for the layout).
pub fn render_document(d: &AvvisoDocumento) -> Result<Vec<u8>, PdfError> {
    let n = d.rate.len();
    if d.unica.is_none() && n == 0 {
        return Err(PdfError::Layout(
            "a document needs a single payment or at least one instalment".to_owned(),
        ));
    }
    if n > MAX_RATE {
        return Err(PdfError::Layout(format!(
            "{n} instalments: a document has at most {MAX_RATE}"
        )));
    }
    let mut seen = HashSet::new();
    for option in d.unica.iter().chain(&d.rate) {
        if !seen.insert(&option.notice) {
            return Err(PdfError::Layout(format!(
                "notice number {} is on two options",
                option.notice
            )));
        }
    }

    let head = &d.intestazione;
    let unica = d
        .unica
        .as_ref()
        .map(|o| {
            let name = "Rata unica".to_owned();
            payable(head, o, name, "BANCHE E ALTRI CANALI".to_owned(), true)
        })
        .transpose()?;
    let rate = d
        .rate
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (i, name) = (i + 1, format!("Rata {} di {n}", i + 1));
            payable(head, o, name, format!("RATA {i} di {n}"), false)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let logo = head.logo.as_ref().map(pdf::load_logo).transpose()?;
    let sheet = Sheet { head, logo };

    let first = unica.as_ref().or(rate.first()).expect("checked above");
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!(
                "Avviso di pagamento {}",
                first.option.notice.grouped()
            ))
            .description(head.subject.clone())
            .language("it".to_owned())
            .creator("Varco".to_owned()),
    );

    let per_page = rate_per_page(n, rate.iter().any(|p| p.postal.is_some()));
    let groups: Vec<&[Payable<'_>]> = rate.chunks(per_page).collect();
    let pages = 1 + groups.len();

    // The instalment table on page 1 when there are few instalments and it fits.
    let mut table = (1..MOLTE_RATE).contains(&n) && !(unica.is_none() && n == 1);
    if table {
        let bottom = first_page(&sheet, &mut Pen::measuring(), unica.as_ref(), &rate, true);
        table = bottom <= CONTENT_BOTTOM;
    }
    draw_page(&mut document, 1, pages, |pen| {
        first_page(&sheet, pen, unica.as_ref(), &rate, table)
    })?;
    for (i, group) in groups.iter().enumerate() {
        draw_page(&mut document, i + 2, pages, |pen| {
            instalment_page(&sheet, pen, group)
        })?;
    }
    document
        .finish()
        .map_err(|e| PdfError::Pdf(format!("{e:?}")))
}

/// How many instalments go on one page: 3 when `n` is a multiple of 3, else 2 when it is
/// even, else 1; always 1 with postal parts.
fn rate_per_page(n: usize, postal: bool) -> usize {
    if postal {
        1
    } else if n.is_multiple_of(3) {
        3
    } else if n.is_multiple_of(2) {
        2
    } else {
        1
    }
}

/// The lowest a page's content may reach: the bottom margin.
const CONTENT_BOTTOM: f32 = PAGE_H - MARGIN;

/// Checks an option's codes and builds its QR code and Data Matrix.
fn payable<'a>(
    head: &Intestazione,
    option: &'a Opzione,
    name: String,
    title: String,
    unica: bool,
) -> Result<Payable<'a>, PdfError> {
    qr::check_qr_fields(&head.creditor_fiscal_code, option.amount_cents)?;
    let qr_text = qr::qr_payload(
        &option.notice,
        &head.creditor_fiscal_code,
        option.amount_cents,
    );
    let qr_symbol = qr::qr_matrix(&qr_text)?;
    let postal = match &option.postal {
        Some(p) => {
            let payload = qr::poste_datamatrix_payload(
                &option.notice,
                &head.creditor_fiscal_code,
                &p.account_number,
                option.amount_cents,
                &head.debtor_fiscal_code,
                &head.debtor_name,
                &head.subject,
            )?;
            Some((p, qr::datamatrix_matrix(&payload)?))
        }
        None => None,
    };
    Ok(Payable {
        option,
        qr: qr_symbol,
        postal,
        name,
        title,
        unica,
    })
}

/// Adds an A4 page drawn by `draw` (which returns how low its content reaches), with
/// "Pagina k di P" at its foot when the document has more than one page.
fn draw_page(
    document: &mut Document,
    number: usize,
    pages: usize,
    draw: impl FnOnce(&mut Pen<'_, '_>) -> f32,
) -> Result<(), PdfError> {
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).expect("A4 is a valid page size");
    let mut page = document.start_page_with(settings);
    let bottom;
    {
        let mut surface = page.surface();
        let mut pen = Pen::new(&mut surface);
        bottom = draw(&mut pen);
        if pages > 1 {
            let footer = format!("Pagina {number} di {pages}");
            pen.text_right(NOTE, PAGE_W - MARGIN, PAGE_H - MARGIN / 2.0, &footer);
        }
    }
    page.finish();
    if bottom > CONTENT_BOTTOM {
        return Err(PdfError::Layout(format!(
            "the content of page {number} does not fit on the page"
        )));
    }
    Ok(())
}

/// The sentence of the "avviso con molte rate" variant.
const MOLTE_RATE_TEXT: &str = "Importi e scadenze sono riportati in ogni singola rata.";

/// Page 1: header, parties, the band, the instalment table (`table`), and the single
/// payment's parts. Returns how low the content reaches.
fn first_page(
    sheet: &Sheet<'_>,
    pen: &mut Pen<'_, '_>,
    unica: Option<&Payable<'_>>,
    rate: &[Payable<'_>],
    table: bool,
) -> f32 {
    let n = rate.len();
    let y = sheet.header(pen, MARGIN);
    let y = sheet.parties(pen, y + 16.0);
    let (quanto, info) = match (unica, rate) {
        (Some(u), _) => (
            Quanto::Amount {
                cents: u.option.amount_cents,
                due: u.option.due_date,
            },
            (n >= 2).then(|| format!("Puoi pagare per intero oppure in {n} rate")),
        ),
        (None, [only]) => (
            Quanto::Amount {
                cents: only.option.amount_cents,
                due: only.option.due_date,
            },
            None,
        ),
        (None, _) => (Quanto::Headline(format!("Puoi pagare in {n} rate")), None),
    };
    let listed_in_band = unica.is_none() && n == 1;
    let note = (n >= 1 && !table && !listed_in_band).then(|| MOLTE_RATE_TEXT.to_owned());
    let band = Band { quanto, info, note };
    let mut y = sheet.amount_and_where(pen, y + 14.0, &band);
    if table {
        y = instalment_table(pen, y + 14.0, rate);
    }
    match unica {
        Some(u) => {
            let top = y + 22.0;
            pen.text(
                NOTE,
                MARGIN,
                top - 6.0,
                "Per pagare usa la parte di avviso del canale che preferisci.",
            );
            let y = sheet.bank_part(pen, top, u);
            if u.postal.is_some() {
                sheet.postal_part(pen, y + 14.0, u)
            } else {
                y
            }
        }
        None => {
            let text = if n == 1 {
                "Per pagare usa la parte di avviso della rata, nella pagina seguente."
            } else {
                "Ogni rata ha il suo codice avviso e il suo codice QR: per pagarla usa la sua \
                 parte di avviso, nelle pagine seguenti."
            };
            pen.paragraph(NOTE, MARGIN, y + 14.0 + NOTE.size, CONTENT_W, 2, text)
        }
    }
}

/// The instalments with due date and amount, in two columns; returns the bottom.
fn instalment_table(pen: &mut Pen<'_, '_>, top: f32, rate: &[Payable<'_>]) -> f32 {
    const ROW: f32 = 15.0;
    let rows = rate.len().div_ceil(2);
    let gap = 24.0;
    let col_w = (CONTENT_W - gap) / 2.0;
    let label = if rate.len() == 1 {
        "PAGAMENTO IN UNA RATA"
    } else {
        "PAGAMENTO A RATE"
    };
    pen.text(LABEL, MARGIN, top + LABEL.size, label);
    let first = top + LABEL.size + 6.0 + BODY.size;
    for (i, p) in rate.iter().enumerate() {
        let x = MARGIN + (i / rows) as f32 * (col_w + gap);
        let y = first + (i % rows) as f32 * ROW;
        pen.text(BODY_BOLD, x, y, &p.name);
        pen.text(BODY, x + 72.0, y, &p.due_text());
        let amount = format_amount(p.option.amount_cents);
        pen.text_right(BODY_BOLD, x + col_w, y, &amount);
        pen.hline(x, y + 5.0, col_w, RULE, 0.5);
    }
    first + (rows - 1) as f32 * ROW + 5.0
}

/// An instalment page: header, parties, and the group's payment parts (each followed by
/// its Bollettino PA part, if any). Returns how low the content reaches.
fn instalment_page(sheet: &Sheet<'_>, pen: &mut Pen<'_, '_>, group: &[Payable<'_>]) -> f32 {
    let y = sheet.header(pen, MARGIN);
    let y = sheet.parties(pen, y + 16.0);
    let mut y = y + 22.0;
    let note = if group.len() == 1 {
        "Per pagare la rata usa la sua parte di avviso, con il suo codice avviso e il suo codice QR."
    } else {
        "Per pagare una rata usa la sua parte di avviso, con il suo codice avviso e il suo codice QR."
    };
    pen.text(NOTE, MARGIN, y - 6.0, note);
    for (i, p) in group.iter().enumerate() {
        if i > 0 {
            y += 14.0;
        }
        y = sheet.bank_part(pen, y, p);
        if p.postal.is_some() {
            y = sheet.postal_part(pen, y + 14.0, p);
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NoticeNumber;
    use crate::notice::PostalPart;
    use chrono::NaiveDate;
    use std::sync::Arc;

    fn head() -> Intestazione {
        Intestazione {
            subject: "Tassa rifiuti 2026".into(),
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
        }
    }

    fn option(reference: u64, cents: i64) -> Opzione {
        Opzione {
            amount_cents: cents,
            due_date: NaiveDate::from_ymd_opt(2027, 1, 31),
            notice: NoticeNumber::aux3("01", reference),
            postal: None,
        }
    }

    fn pages(pdf: &[u8]) -> usize {
        // Each page object is `/Type/Page` (the page tree is `/Type/Pages`).
        let text = String::from_utf8_lossy(pdf);
        text.matches("/Type/Page").count() - text.matches("/Type/Pages").count()
    }

    #[test]
    fn instalments_per_page() {
        let cases = [
            (1, 1),
            (2, 2),
            (3, 3),
            (4, 2),
            (5, 1),
            (6, 3),
            (7, 1),
            (8, 2),
        ];
        for (n, per_page) in cases {
            assert_eq!(rate_per_page(n, false), per_page, "{n}");
            assert_eq!(rate_per_page(n, true), 1, "{n}");
        }
        assert_eq!(rate_per_page(9, false), 3);
        assert_eq!(rate_per_page(10, false), 2);
        assert_eq!(rate_per_page(100, false), 2);
        assert_eq!(rate_per_page(99, false), 3);
        assert_eq!(rate_per_page(97, false), 1);
    }

    #[test]
    fn a_one_page_notice_is_a_document_with_only_a_single_payment() {
        let mut a = crate::notice::pdf::sample_avviso();
        let d = AvvisoDocumento::from(&a);
        assert_eq!(d.intestazione, a.intestazione);
        assert_eq!(d.unica.as_ref(), Some(&a.opzione));
        assert!(d.rate.is_empty());
        assert_eq!(
            render_document(&d).unwrap(),
            crate::notice::render(&a).unwrap()
        );
        a.opzione.postal = Some(PostalPart {
            account_number: "1234567".into(),
            holder: "Comune di Demo".into(),
            authorisation: "AUT. DB/SSIC/E 0000 del 01/01/2026".into(),
        });
        let pdf = render_document(&AvvisoDocumento::from(&a)).unwrap();
        assert_eq!(pages(&pdf), 1);
        assert_eq!(pdf, crate::notice::render(&a).unwrap());
    }

    #[test]
    fn refuses_empty_documents_too_many_instalments_and_repeated_notices() {
        let mut d = AvvisoDocumento {
            intestazione: head(),
            unica: None,
            rate: Vec::new(),
        };
        assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
        d.rate = (1..=101).map(|i| option(i, 100)).collect();
        assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
        d.rate.truncate(100);
        let pdf = render_document(&d).unwrap();
        assert_eq!(pages(&pdf), 1 + 50);
        d.rate.truncate(2);
        d.unica = Some(option(1, 200));
        assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
        // A bad amount on any option is refused like on a one-page notice.
        d.unica = Some(option(3, 200));
        d.rate[1].amount_cents = 0;
        assert!(matches!(
            render_document(&d),
            Err(PdfError::Code(qr::CodeError::Amount(0)))
        ));
    }

    #[test]
    fn page_counts_follow_the_grouping() {
        let mut d = AvvisoDocumento {
            intestazione: head(),
            unica: Some(option(100, 12_000)),
            rate: Vec::new(),
        };
        for (n, expected) in [(1, 2), (2, 2), (3, 2), (4, 3), (5, 6), (6, 3), (9, 4)] {
            d.rate = (1..=n).map(|i| option(i, 4_000)).collect();
            let pdf = render_document(&d).unwrap();
            assert_eq!(pages(&pdf), expected, "{n} instalments");
        }
        d.rate[0].postal = Some(PostalPart {
            account_number: "1234567".into(),
            holder: "Comune di Demo".into(),
            authorisation: String::new(),
        });
        assert_eq!(pages(&render_document(&d).unwrap()), 1 + 9);
    }

    fn png_logo() -> Arc<Vec<u8>> {
        let img = image::RgbImage::from_pixel(60, 40, image::Rgb([0, 102, 204]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        Arc::new(out.into_inner())
    }

    fn postal() -> PostalPart {
        PostalPart {
            account_number: "123456789012".into(),
            holder: "Comune di Demo - Servizio Tesoreria".into(),
            authorisation: "AUT. DB/SSIC/E 0000 del 01/01/2026".into(),
        }
    }

    /// Every text at its longest (wrapped or cut to its most lines), and a logo.
    fn longest_head() -> Intestazione {
        let long = "Parola ".repeat(40);
        Intestazione {
            subject: long.clone(),
            creditor_name: long.clone(),
            creditor_office: Some(long.clone()),
            creditor_info: Some(long.clone()),
            cbill: Some("A0EDT".into()),
            debtor_name: long.clone(),
            debtor_address: Some(long),
            logo: Some(png_logo()),
            ..head()
        }
    }

    fn payables<'a>(head: &Intestazione, options: &'a [Opzione]) -> Vec<Payable<'a>> {
        let n = options.len();
        (options.iter().enumerate())
            .map(|(i, o)| {
                let name = format!("Rata {} di {n}", i + 1);
                payable(head, o, name.clone(), name.to_uppercase(), false).unwrap()
            })
            .collect()
    }

    /// How low page 1 and the instalment pages reach for a postal single payment and eight
    /// postal instalments of the largest amount: (page 1 with the table, without it, a page
    /// of three instalments without postal parts, a page of one with its bollettino).
    fn bottoms(head: &Intestazione) -> (f32, f32, f32, f32) {
        let logo = head.logo.as_ref().map(pdf::load_logo).transpose().unwrap();
        let sheet = Sheet { head, logo };
        let option = |i: u64, postal: Option<PostalPart>| Opzione {
            amount_cents: qr::MAX_POSTE_CENTS,
            postal,
            ..option(i, 0)
        };
        let unica = option(100, Some(postal()));
        let unica = payable(head, &unica, "Rata unica".into(), "BANCHE".into(), true).unwrap();
        let rate: Vec<Opzione> = (1..=8).map(|i| option(i, Some(postal()))).collect();
        let plain: Vec<Opzione> = (1..=3).map(|i| option(i, None)).collect();
        let (rate, plain) = (payables(head, &rate), payables(head, &plain));
        let mut pen = Pen::measuring();
        (
            first_page(&sheet, &mut pen, Some(&unica), &rate, true),
            first_page(&sheet, &mut pen, Some(&unica), &rate, false),
            instalment_page(&sheet, &mut pen, &plain),
            instalment_page(&sheet, &mut pen, &rate[..1]),
        )
    }

    /// The demo texts with a logo, a postal single payment and eight instalments keep the
    /// table on page 1; the longest texts leave no room for it, and page 1 says instead that
    /// each instalment carries its amount and due date. Every page still fits.
    #[test]
    fn page_one_keeps_the_table_while_it_fits() {
        let demo = Intestazione {
            creditor_office: Some("Ufficio Tributi".into()),
            cbill: Some("A0EDT".into()),
            debtor_address: Some("Via Roma 1, 00100 Roma (RM)".into()),
            logo: Some(png_logo()),
            ..head()
        };
        let (table, no_table, three, one) = bottoms(&demo);
        assert!(table <= CONTENT_BOTTOM, "{table}");
        assert!(no_table < table && three <= CONTENT_BOTTOM && one <= CONTENT_BOTTOM);
        let (table, no_table, three, one) = bottoms(&longest_head());
        assert!(table > CONTENT_BOTTOM, "{table}");
        for bottom in [no_table, three, one] {
            assert!(bottom <= CONTENT_BOTTOM, "{bottom}");
        }
    }

    /// The longest content renders, on every page: with the molte-rate variant, with the
    /// table falling back to its sentence, with postal parts on every option.
    #[test]
    fn the_largest_content_renders() {
        let mut d = AvvisoDocumento {
            intestazione: longest_head(),
            unica: Some(option(100, qr::MAX_CENTS)),
            rate: (1..=9).map(|i| option(i, qr::MAX_CENTS)).collect(),
        };
        for n in [9, 8, 2] {
            d.rate.truncate(n);
            render_document(&d).unwrap();
        }
        d.rate = (1..=8).map(|i| option(i, qr::MAX_POSTE_CENTS)).collect();
        for o in d.unica.iter_mut().chain(&mut d.rate) {
            o.amount_cents = qr::MAX_POSTE_CENTS;
            o.postal = Some(postal());
        }
        assert_eq!(pages(&render_document(&d).unwrap()), 1 + 8);
        d.unica = None;
        assert_eq!(pages(&render_document(&d).unwrap()), 1 + 8);
    }
}
