//! Renders payment notices (PDF avvisi) and reads them back as a person's tools would: the
//! text with `pdftotext`, the fonts with `pdffonts`, the page size with `pdfinfo` (poppler-utils),
//! the QR code with rqrr from the page rasterised by `pdftoppm -r 150`, and the Poste Data
//! Matrix with `dmtxread` (dmtx-utils), an independent decoder (libdmtx).
//!
//! Without those tools the tests fail, naming the missing one (`make tools` installs them).
//! Set `VARCO_NOTICE_OUT=DIR` to keep each rendered PDF and page PNG in DIR for a look.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::NaiveDate;
use common::avviso::{demo_avviso as demo, demo_postal_part};
use varco::domain::NoticeNumber;
use varco::notice::{Avviso, format_amount, render};

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
    png: PathBuf,
    /// The extracted text with every run of whitespace collapsed to one space.
    text: String,
}

fn render_and_read(name: &str, avviso: &Avviso) -> Rendered {
    let bytes = render(avviso).expect("renders");
    assert!(bytes.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("avviso.pdf");
    std::fs::write(&pdf, &bytes).unwrap();
    let text = run("pdftotext", &[pdf.to_str().unwrap(), "-"]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let stem = dir.path().join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            pdf.to_str().unwrap(),
            stem.to_str().unwrap(),
        ],
    );
    let png = dir.path().join("page.png");
    assert!(png.exists());
    if let Some(keep) = std::env::var_os("VARCO_NOTICE_OUT") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&pdf, keep.join(format!("{name}.pdf"))).unwrap();
        std::fs::copy(&png, keep.join(format!("{name}.png"))).unwrap();
    }
    Rendered {
        _dir: dir,
        pdf,
        png,
        text,
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

/// Fonts are embedded, subset and carry a Unicode map; the page is A4.
fn assert_fonts_and_page(pdf: &Path) {
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
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().eq(["Pages:", "1"])),
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
    assert_fonts_and_page(&r.pdf);
    let codes = qr_codes(&r.png);
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].0,
        "PAGOPA|002|301000000000000144|77777777777|12000"
    );
    // 25 mm at 150 dpi is 147.6 px.
    assert!((140.0..156.0).contains(&codes[0].1), "{codes:?}");
}

#[test]
fn notice_with_postal_part() {
    require_tools();
    let mut a = demo();
    a.notice = NoticeNumber::aux3("02", 1);
    a.amount_cents = 102_099;
    a.due_date = NaiveDate::from_ymd_opt(2027, 3, 5);
    a.postal = Some(demo_postal_part());
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
    assert_fonts_and_page(&r.pdf);
    let codes = qr_codes(&r.png);
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].0,
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
    assert_eq!(data_matrices(&r.png), [expected]);
}

#[test]
fn long_and_accented_texts() {
    require_tools();
    let mut a = demo();
    let subject = "Canone unico patrimoniale per l'occupazione di aree pubbliche: \
                   àèéìòù ÀÈÉÌÒÙ, € e altri caratteri accentati più qualche parola in più (2026)"
        .to_owned();
    assert_eq!(subject.chars().count(), 140);
    a.subject = subject.clone();
    a.creditor_name = "Comunità Montana dell'Alta Valle del Fiume Più Lungo d'Italia".to_owned();
    a.creditor_office = Some("Settore Entrate, Tributi e Attività Produttive".to_owned());
    a.creditor_info = Some("www.comunita.example.it - tel. 06 000000".to_owned());
    a.debtor_name = "Niccolò Fabbrì D'Àngelo".to_owned();
    a.debtor_address = Some("Piazza Università 10, 00100 Città di Prova (RM)".to_owned());
    a.amount_cents = 99_999_999_999;
    a.due_date = None;
    a.logo = Some(Arc::new(png_logo()));
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
    assert_eq!(format_amount(a.amount_cents), "999.999.999,99 €");
    assert_fonts_and_page(&r.pdf);
    let codes = qr_codes(&r.png);
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        codes[0].0,
        "PAGOPA|002|301000000000000144|77777777777|99999999999"
    );
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
