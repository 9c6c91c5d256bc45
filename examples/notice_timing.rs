//! Renders N demo payment notices (PDF avvisi) on one thread and prints notices per second.
//!
//! `cargo run --release --example notice_timing -- [N] [--postal] [--pdf FILE]`
//!
//! `--postal` adds the Bollettino PA part (Data Matrix); `--pdf FILE` also writes the demo
//! notice to FILE (used for `docs/avviso-demo.png`).

use std::time::Instant;

use varco::domain::NoticeNumber;
use varco::notice::{qr, render};

#[path = "../tests/common/avviso.rs"]
mod avviso;

fn demo(postal: bool) -> varco::notice::Avviso {
    let mut a = avviso::demo_avviso();
    a.opzione.postal = postal.then(avviso::demo_postal_part);
    a
}

fn main() {
    let mut count = 500usize;
    let mut postal = false;
    let mut pdf_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postal" => postal = true,
            "--pdf" => pdf_out = args.next(),
            n => count = n.parse().expect("N must be a number"),
        }
    }
    let avviso = demo(postal);
    let first = render(&avviso).expect("the demo notice renders");
    if let Some(path) = pdf_out {
        std::fs::write(&path, &first).expect("write the PDF");
        eprintln!("wrote {path} ({} bytes)", first.len());
    }
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..count {
        let mut a = avviso.clone();
        a.opzione.notice = NoticeNumber::aux3("01", i as u64 + 1);
        bytes += render(&a).expect("renders").len();
    }
    let secs = start.elapsed().as_secs_f64();
    // How much of that is the symbols alone.
    let symbols = Instant::now();
    for i in 0..count {
        let notice = NoticeNumber::aux3("01", i as u64 + 1);
        let payload = qr::qr_payload(&notice, "77777777777", avviso.opzione.amount_cents);
        qr::qr_matrix(&payload).expect("QR");
        if let Some(p) = &avviso.opzione.postal {
            let payload = qr::poste_datamatrix_payload(
                &notice,
                "77777777777",
                &p.account_number,
                avviso.opzione.amount_cents,
                &avviso.intestazione.debtor_fiscal_code,
                &avviso.intestazione.debtor_name,
                &avviso.intestazione.subject,
            )
            .expect("payload");
            qr::datamatrix_matrix(&payload).expect("Data Matrix");
        }
    }
    let symbol_ms = symbols.elapsed().as_secs_f64() * 1000.0 / count as f64;
    println!(
        "{count} notices{} in {secs:.3} s on one thread: {:.0} notices/s, {:.2} ms/notice \
         ({symbol_ms:.2} ms of it the QR/Data Matrix encoding), {} bytes/notice",
        if postal {
            " (with the postal part)"
        } else {
            ""
        },
        count as f64 / secs,
        secs * 1000.0 / count as f64,
        bytes / count.max(1),
    );
}
