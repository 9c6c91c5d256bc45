//! The demo payment notice (PDF avviso) and its postal part, shared by the notice tests
//! (tests/notice_pdf.rs) and the timing example (examples/notice_timing.rs, through `#[path]`).

use chrono::NaiveDate;
use varco::domain::NoticeNumber;
use varco::notice::{Avviso, Intestazione, Opzione, PostalPart};

/// The demo notice: 120.00 € for notice 301000000000000144, no postal part.
pub fn demo_avviso() -> Avviso {
    Avviso {
        intestazione: Intestazione {
            subject: "Tassa rifiuti 2026".to_owned(),
            creditor_name: "Comune di Demo".to_owned(),
            creditor_office: Some("Ufficio Tributi".to_owned()),
            creditor_info: None,
            creditor_fiscal_code: "77777777777".to_owned(),
            cbill: Some("A0EDT".to_owned()),
            gln: None,
            logo: None,
            debtor_name: "Mario Rossi".to_owned(),
            debtor_fiscal_code: "RSSMRA80A01H501U".to_owned(),
            debtor_address: Some("Via Roma 1, 00100 Roma (RM)".to_owned()),
        },
        opzione: Opzione {
            amount_cents: 12_000,
            due_date: NaiveDate::from_ymd_opt(2026, 12, 31),
            notice: NoticeNumber::parse("301000000000000144").expect("valid demo notice"),
            postal: None,
        },
    }
}

/// The demo's Bollettino PA part (Data Matrix).
pub fn demo_postal_part() -> PostalPart {
    PostalPart {
        account_number: "1234567".to_owned(),
        holder: "Comune di Demo - Servizio Tesoreria".to_owned(),
        authorisation: "AUT. DB/SSIC/E 0000 del 01/01/2026".to_owned(),
    }
}
