//! Renders payment notices (PDF avvisi) and reads them back as a person's tools would: the
//! text with `pdftotext`, the fonts with `pdffonts`, the page size with `pdfinfo` (poppler-utils),
//! the QR code with rqrr from the page rasterised by `pdftoppm -r 150`, and the Poste Data
//! Matrix with `dmtxread` (dmtx-utils), an independent decoder (libdmtx).
//!
//! Without those tools the tests fail, naming the missing one (`make tools` installs them).
//! Set `VARCO_NOTICE_OUT=DIR` to keep each rendered PDF and page PNG in DIR for a look.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use common::avviso::{demo_avviso as demo, demo_postal_part};
use varco::domain::NoticeNumber;
use varco::notice::{
    Avviso, AvvisoDocumento, Opzione, PdfError, format_amount, format_date,
    poste_datamatrix_payload, qr_payload, render, render_document,
};

const TOOLS: [(&str, &str); 5] = [
    ("pdftotext", "poppler-utils"),
    ("pdftoppm", "poppler-utils"),
    ("pdffonts", "poppler-utils"),
    ("pdfinfo", "poppler-utils"),
    ("dmtxread", "dmtx-utils"),
];

/// Fails, naming the tool, when one of the tools that read the notices back is missing.
fn require_tools() {
    for (tool, package) in TOOLS {
        common::require_tool(tool, package);
    }
}

/// A rendered notice on disk, with what the tools read from it.
struct Rendered {
    _dir: tempfile::TempDir,
    pdf: PathBuf,
    /// Every page rasterised at 150 dpi, in order.
    pngs: Vec<PathBuf>,
    /// The extracted text with every run of whitespace collapsed to one space.
    text: String,
    /// The same, page by page.
    page_texts: Vec<String>,
}

impl Rendered {
    /// Every QR code on every page: (page index, payload, width in pixels).
    fn qr_codes(&self) -> Vec<(usize, String, f64)> {
        self.pngs
            .iter()
            .enumerate()
            .flat_map(|(page, png)| {
                qr_codes(png)
                    .into_iter()
                    .map(move |(payload, width)| (page, payload, width))
            })
            .collect()
    }
}

fn render_and_read(name: &str, avviso: &Avviso) -> Rendered {
    read_back(name, &render(avviso).expect("renders"))
}

/// Writes the PDF, extracts its text (whole and per page) and rasterises every page.
fn read_back(name: &str, bytes: &[u8]) -> Rendered {
    assert!(bytes.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("avviso.pdf");
    std::fs::write(&pdf, bytes).unwrap();
    let path = pdf.to_str().unwrap();
    let collapse = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = collapse(run("pdftotext", &[path, "-"]));
    let stem = dir.path().join("page");
    run(
        "pdftoppm",
        &["-r", "150", "-png", path, stem.to_str().unwrap()],
    );
    // `page-1.png`, or `page-01.png` and on when there are ten pages or more.
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert!(!pngs.is_empty());
    let page_texts = (1..=pngs.len())
        .map(|k| {
            let k = k.to_string();
            collapse(run("pdftotext", &["-f", &k, "-l", &k, path, "-"]))
        })
        .collect();
    if let Some(keep) = std::env::var_os("VARCO_NOTICE_OUT") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&pdf, keep.join(format!("{name}.pdf"))).unwrap();
        for (i, png) in pngs.iter().enumerate() {
            std::fs::copy(png, keep.join(format!("{name}-{}.png", i + 1))).unwrap();
        }
    }
    Rendered {
        _dir: dir,
        pdf,
        pngs,
        text,
        page_texts,
    }
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect(tool);
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every QR code found on the rasterised page, decoded with rqrr, with its width in pixels.
fn qr_codes(png: &Path) -> Vec<(String, f64)> {
    let img = image::open(png).expect("PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    prepared
        .detect_grids()
        .into_iter()
        .map(|grid| {
            let [a, b, ..] = grid.bounds;
            let width = f64::from(b.x - a.x).hypot(f64::from(b.y - a.y));
            let (_, content) = grid.decode().expect("QR decodes");
            (content, width)
        })
        .collect()
}

/// The first Data Matrix found on the rasterised page, decoded with libdmtx's `dmtxread`
/// (it stops at the first symbol; looking for a second one scans until the time limit).
fn data_matrices(png: &Path) -> Vec<String> {
    let out = Command::new("dmtxread")
        .args(["-m", "20000", "-N", "1", "-n"])
        .arg(png)
        .output()
        .expect("dmtxread");
    String::from_utf8(out.stdout)
        .expect("ASCII")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in the text:\n{text}");
}

/// Fonts are embedded, subset and carry a Unicode map; the document has `pages` A4 pages.
fn assert_fonts_and_pages(pdf: &Path, pages: usize) {
    let fonts = run("pdffonts", &[pdf.to_str().unwrap()]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "no fonts:\n{fonts}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "{fonts}");
        assert!(cols[0].contains('+'), "subset fonts carry a tag: {fonts}");
    }
    let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
    assert_contains(&info, "(A4)");
    let pages = pages.to_string();
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().eq(["Pages:", pages.as_str()])),
        "{info}"
    );
}

#[test]
fn plain_notice() {
    require_tools();
    let r = render_and_read("plain", &demo());
    for needle in [
        "Tassa rifiuti 2026",
        "3010 0000 0000 0001 44",
        "120,00 €",
        "31/12/2026",
        "77777777777",
        "RSSMRA80A01H501U",
        "Comune di Demo",
        "Ufficio Tributi",
        "Mario Rossi",
        "Via Roma 1, 00100 Roma (RM)",
        "A0EDT",
    ] {
        assert_contains(&r.text, needle);
    }
    assert!(!r.text.contains("BOLLETTINO POSTALE"));
    assert_fonts_and_pages(&r.pdf, 1);
    let codes = r.qr_codes();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].1,
        "PAGOPA|002|301000000000000144|77777777777|12000"
    );
    // 25 mm at 150 dpi is 147.6 px.
    assert!((140.0..156.0).contains(&codes[0].2), "{codes:?}");
}

#[test]
fn notice_with_postal_part() {
    require_tools();
    let mut a = demo();
    a.opzione.notice = NoticeNumber::aux3("02", 1);
    a.opzione.amount_cents = 102_099;
    a.opzione.due_date = NaiveDate::from_ymd_opt(2027, 3, 5);
    a.opzione.postal = Some(demo_postal_part());
    let r = render_and_read("postal", &a);
    for needle in [
        "Tassa rifiuti 2026",
        "3020 0000 0000 0001 84",
        "1.020,99 €",
        "05/03/2027",
        "77777777777",
        "RSSMRA80A01H501U",
        "BOLLETTINO POSTALE PA",
        "1234567",
        "Comune di Demo - Servizio Tesoreria",
        "AUT. DB/SSIC/E 0000 del 01/01/2026",
    ] {
        assert_contains(&r.text, needle);
    }
    assert_fonts_and_pages(&r.pdf, 1);
    let codes = r.qr_codes();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].1,
        "PAGOPA|002|302000000000000184|77777777777|102099"
    );
    let expected = format!(
        "codfase=NBPA;18302000000000000184120000012345671000001020993896\
         1P177777777777RSSMRA80A01H501U{:<40}{:<110}{}A",
        "Mario Rossi",
        "Tassa rifiuti 2026",
        " ".repeat(12)
    );
    assert_eq!(expected.len(), 256);
    assert_eq!(data_matrices(&r.pngs[0]), [expected]);
}

#[test]
fn long_and_accented_texts() {
    require_tools();
    let mut a = demo();
    let subject = "Canone unico patrimoniale per l'occupazione di aree pubbliche: \
                   àèéìòù ÀÈÉÌÒÙ, € e altri caratteri accentati più qualche parola in più (2026)"
        .to_owned();
    assert_eq!(subject.chars().count(), 140);
    a.intestazione.subject = subject.clone();
    a.intestazione.creditor_name =
        "Comunità Montana dell'Alta Valle del Fiume Più Lungo d'Italia".to_owned();
    a.intestazione.creditor_office =
        Some("Settore Entrate, Tributi e Attività Produttive".to_owned());
    a.intestazione.creditor_info = Some("www.comunita.example.it - tel. 06 000000".to_owned());
    a.intestazione.debtor_name = "Niccolò Fabbrì D'Àngelo".to_owned();
    a.intestazione.debtor_address =
        Some("Piazza Università 10, 00100 Città di Prova (RM)".to_owned());
    a.opzione.amount_cents = 99_999_999_999;
    a.opzione.due_date = None;
    a.intestazione.logo = Some(Arc::new(png_logo()));
    let r = render_and_read("long", &a);
    for needle in [
        subject.as_str(),
        "Niccolò Fabbrì D'Àngelo",
        "Piazza Università 10, 00100 Città di Prova (RM)",
        "Settore Entrate, Tributi e Attività Produttive",
        "999.999.999,99 €",
        "senza scadenza",
        "3010 0000 0000 0001 44",
        "77777777777",
        "RSSMRA80A01H501U",
    ] {
        assert_contains(&r.text, needle);
    }
    // The whole subject fits both in the header (smaller type) and in the payment data.
    assert_eq!(r.text.matches(subject.as_str()).count(), 2, "{}", r.text);
    assert_eq!(format_amount(a.opzione.amount_cents), "999.999.999,99 €");
    assert_fonts_and_pages(&r.pdf, 1);
    let codes = r.qr_codes();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].1,
        "PAGOPA|002|301000000000000144|77777777777|99999999999"
    );
}

// ---------------------------------------------------------------------------------------------
// Documents: a single payment ("rata unica") and instalments.

/// The demo notice's header, its single payment when `unica` (120,00 € by 31/12/2026, notice
/// 301000000000000144) and `n` instalments: 1.234,56 € plus 10,01 € per instalment, due on
/// the last day of each month from January 2027, notices 301000000000100…
fn demo_document(unica: bool, n: usize) -> AvvisoDocumento {
    let a = demo();
    let first_due = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
    AvvisoDocumento {
        intestazione: a.intestazione,
        unica: unica.then_some(a.opzione),
        rate: (0..n)
            .map(|i| Opzione {
                amount_cents: 123_456 + i as i64 * 1_001,
                due_date: first_due.checked_add_months(Months::new(i as u32)),
                notice: NoticeNumber::aux3("01", 1_000 + i as u64),
                postal: None,
            })
            .collect(),
    }
}

/// Renders `d` and checks what every option needs on paper: the document has `pages` A4
/// pages; every amount, due date and grouped notice code is in the text, with "RATA i di N"
/// for each instalment; and the QR codes found on the pages are exactly one per option
/// (payload [`qr_payload`], about 25 mm wide), the single payment's on page 1 and the
/// instalments' `per_page` a page from page 2.
fn check_document(name: &str, d: &AvvisoDocumento, pages: usize, per_page: usize) -> Rendered {
    let r = read_back(name, &render_document(d).expect("renders"));
    assert_fonts_and_pages(&r.pdf, pages);
    assert_eq!(r.pngs.len(), pages);
    let fiscal_code = &d.intestazione.creditor_fiscal_code;
    for o in d.unica.iter().chain(&d.rate) {
        assert_contains(&r.text, &format_amount(o.amount_cents));
        assert_contains(&r.text, &format_date(o.due_date.unwrap()));
        assert_contains(&r.text, &o.notice.grouped());
    }
    let n = d.rate.len();
    for i in 1..=n {
        assert_contains(&r.text, &format!("RATA {i} di {n}"));
    }
    let payload = |o: &Opzione| qr_payload(&o.notice, fiscal_code, o.amount_cents);
    let expected: BTreeSet<(usize, String)> = d
        .unica
        .iter()
        .map(|o| (0, payload(o)))
        .chain(
            d.rate
                .iter()
                .enumerate()
                .map(|(i, o)| (1 + i / per_page, payload(o))),
        )
        .collect();
    let codes = r.qr_codes();
    for (_, _, width) in &codes {
        // 25 mm at 150 dpi is 147.6 px.
        assert!((140.0..156.0).contains(width), "{codes:?}");
    }
    let found: BTreeSet<(usize, String)> = codes.iter().map(|(p, c, _)| (*p, c.clone())).collect();
    assert_eq!(codes.len(), found.len(), "a QR code twice: {codes:?}");
    assert_eq!(found, expected);
    r
}

/// Page 1 lists every instalment with its amount and due date.
fn assert_page_one_lists_instalments(r: &Rendered, d: &AvvisoDocumento) {
    for o in &d.rate {
        assert_contains(&r.page_texts[0], &format_amount(o.amount_cents));
        assert_contains(&r.page_texts[0], &format_date(o.due_date.unwrap()));
    }
    assert!(!r.text.contains("Importi e scadenze"), "{}", r.text);
}

#[test]
fn document_single_payment_and_two_instalments() {
    require_tools();
    let d = demo_document(true, 2);
    let r = check_document("doc-1+2", &d, 2, 2);
    assert_contains(&r.page_texts[0], "Puoi pagare per intero oppure in 2 rate");
    assert_contains(&r.page_texts[0], "BANCHE E ALTRI CANALI");
    assert_page_one_lists_instalments(&r, &d);
    assert_contains(&r.page_texts[1], "Pagina 2 di 2");
}

#[test]
fn document_single_payment_and_three_instalments() {
    require_tools();
    let d = demo_document(true, 3);
    let r = check_document("doc-1+3", &d, 2, 3);
    assert_contains(&r.page_texts[0], "Puoi pagare per intero oppure in 3 rate");
    assert_page_one_lists_instalments(&r, &d);
    for i in 1..=3 {
        assert_contains(&r.page_texts[1], &format!("RATA {i} di 3"));
    }
}

#[test]
fn document_four_instalments_without_single_payment() {
    require_tools();
    let d = demo_document(false, 4);
    let r = check_document("doc-4", &d, 3, 2);
    assert_contains(&r.page_texts[0], "Puoi pagare in 4 rate");
    assert!(!r.text.contains("per intero"), "{}", r.text);
    assert!(!r.text.contains("BANCHE E ALTRI CANALI"), "{}", r.text);
    assert_page_one_lists_instalments(&r, &d);
}

#[test]
fn document_with_many_instalments() {
    require_tools();
    let d = demo_document(false, 10);
    let r = check_document("doc-10", &d, 6, 2);
    let first = &r.page_texts[0];
    assert_contains(first, "Puoi pagare in 10 rate");
    assert_contains(
        first,
        "Importi e scadenze sono riportati in ogni singola rata",
    );
    // Page 1 gives no instalment's amount, due date or code.
    for o in &d.rate {
        for needle in [
            format_amount(o.amount_cents),
            format_date(o.due_date.unwrap()),
            o.notice.grouped(),
        ] {
            assert!(!first.contains(&needle), "{needle:?} on page 1: {first}");
        }
    }
    assert_contains(&r.page_texts[5], "RATA 10 di 10");
    assert_contains(&r.page_texts[5], "Pagina 6 di 6");
}

#[test]
fn document_with_postal_parts() {
    require_tools();
    let mut d = demo_document(true, 2);
    for o in d.unica.iter_mut().chain(&mut d.rate) {
        o.postal = Some(demo_postal_part());
    }
    // One instalment a page, each with its bollettino.
    let r = check_document("doc-postal-1+2", &d, 3, 1);
    assert_contains(&r.page_texts[0], "Puoi pagare per intero oppure in 2 rate");
    for page in &r.page_texts {
        assert_contains(page, "BOLLETTINO POSTALE PA");
        assert_contains(page, "1234567");
        assert_contains(page, "Comune di Demo - Servizio Tesoreria");
        assert_contains(page, "AUT. DB/SSIC/E 0000 del 01/01/2026");
    }
    for i in 1..=2 {
        assert_contains(&r.page_texts[i], &format!("Rata {i} di 2"));
    }
    let h = &d.intestazione;
    let expected: Vec<Vec<String>> = d
        .unica
        .iter()
        .chain(&d.rate)
        .map(|o| {
            let payload = poste_datamatrix_payload(
                &o.notice,
                &h.creditor_fiscal_code,
                "1234567",
                o.amount_cents,
                &h.debtor_fiscal_code,
                &h.debtor_name,
                &h.subject,
            )
            .unwrap();
            assert_eq!(payload.len(), 256);
            vec![payload]
        })
        .collect();
    let found: Vec<Vec<String>> = r.pngs.iter().map(|png| data_matrices(png)).collect();
    assert_eq!(found, expected);
}

#[test]
fn document_refuses_no_option_and_too_many_instalments() {
    let mut d = demo_document(false, 0);
    assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
    d = demo_document(false, 101);
    assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
    d = demo_document(true, 101);
    assert!(matches!(render_document(&d), Err(PdfError::Layout(_))));
}

/// A 60×40 two-colour PNG, made here.
fn png_logo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(60, 40, |x, y| {
        if (x / 10 + y / 10) % 2 == 0 {
            image::Rgb([0, 102, 204])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
