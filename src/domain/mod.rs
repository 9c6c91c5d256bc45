//! Protocol-free types: positions (pendenze), their items (voci), receipts, activation
//! attempts and outbox entries. Money is integer cents; instants are UTC; the calendar days
//! of due dates are Europe/Rome days.

pub mod claims;
pub mod clock;
pub mod documento;
pub mod evento;
pub mod fdr;
pub mod fiscal;
pub mod iban;
pub mod money;
pub mod notice_number;

pub use clock::{Clock, system_clock};
pub use money::{Cents, MAX_CENTS};
pub use notice_number::{NoticeError, NoticeNumber, iuv_of};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Rome;
use serde::{Deserialize, Serialize};

/// The stored state of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stato {
    /// Open, payable.
    NonEseguita,
    /// Paid (a receipt closed it).
    Eseguita,
    /// Cancelled by the creditor.
    Annullata,
}

/// The state as seen at a given moment: SCADUTA is derived, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatoEffettivo {
    /// Payable.
    NonEseguita,
    /// Paid.
    Eseguita,
    /// Cancelled.
    Annullata,
    /// Open but past its due day (Europe/Rome).
    Scaduta,
}

impl StatoEffettivo {
    /// Every state, for parsing.
    pub const ALL: [StatoEffettivo; 4] = [
        StatoEffettivo::NonEseguita,
        StatoEffettivo::Eseguita,
        StatoEffettivo::Annullata,
        StatoEffettivo::Scaduta,
    ];

    /// The name the APIs use (`NON_ESEGUITA`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StatoEffettivo::NonEseguita => "NON_ESEGUITA",
            StatoEffettivo::Eseguita => "ESEGUITA",
            StatoEffettivo::Annullata => "ANNULLATA",
            StatoEffettivo::Scaduta => "SCADUTA",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Today's calendar day in Europe/Rome, the day the protocol's dates refer to.
pub fn rome_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Rome).date_naive()
}

/// The first instant of a Rome calendar day, in UTC.
pub fn rome_day_start(day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    // Midnight exists every day in Rome (the clocks change at 02:00 and 03:00).
    Rome.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// The last millisecond of a Rome calendar day, in UTC.
pub fn rome_day_end(day: NaiveDate) -> DateTime<Utc> {
    match day.succ_opt() {
        Some(next) => rome_day_start(next) - chrono::Duration::milliseconds(1),
        None => DateTime::<Utc>::MAX_UTC,
    }
}

/// `tipo_contabilita` values and their one-digit codes in transferCategory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TipoContabilita {
    /// 0
    Capitolo,
    /// 1
    Speciale,
    /// 2
    Siope,
    /// 9
    Altro,
}

impl TipoContabilita {
    /// The digit used in `transferCategory` (`<digit>/<codice>`).
    pub fn code(self) -> u8 {
        match self {
            TipoContabilita::Capitolo => 0,
            TipoContabilita::Speciale => 1,
            TipoContabilita::Siope => 2,
            TipoContabilita::Altro => 9,
        }
    }
}

/// Builds transferCategory from the accounting type and code.
pub fn transfer_category(tipo: TipoContabilita, codice: &str) -> String {
    format!("{}/{}", tipo.code(), codice)
}

/// The debtor (soggetto pagatore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Soggetto {
    /// `F` natural person, `G` legal person, empty when not given.
    pub tipo: String,
    /// Fiscal code or VAT number (`ANONIMO` when unknown).
    pub identificativo: String,
    /// Full name.
    pub anagrafica: String,
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirizzo: Option<String>,
    /// Civic number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civico: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localita: Option<String>,
    /// Province (two letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provincia: Option<String>,
    /// Country (two letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nazione: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Mobile phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cellulare: Option<String>,
}

impl Soggetto {
    /// The debtor of a position loaded without one, as GovPay reads it back.
    pub fn anonimo() -> Self {
        Self {
            tipo: String::new(),
            identificativo: ANONIMO.into(),
            anagrafica: ANONIMO.into(),
            indirizzo: None,
            civico: None,
            cap: None,
            localita: None,
            provincia: None,
            nazione: None,
            email: None,
            cellulare: None,
        }
    }
}

/// The identifier and name GovPay gives an unknown debtor.
pub const ANONIMO: &str = "ANONIMO";

/// Where an item's money goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tipo", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Accredito {
    /// A bank or postal account.
    Iban {
        /// The crediting IBAN.
        iban: String,
        /// A postal-account IBAN to use when the PSP asks for POSTAL (the crediting IBAN
        /// itself when it is postal, else the support IBAN when that is postal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iban_postale: Option<String>,
        /// The support IBAN (ibanAppoggio), when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iban_appoggio: Option<String>,
    },
    /// A digital revenue stamp (marca da bollo digitale), paGetPaymentV2 only.
    Bollo {
        /// `01`.
        tipo_bollo: String,
        /// Base64 SHA-256 of the document.
        hash_documento: String,
        /// Payer's province (two letters).
        provincia_residenza: String,
    },
}

/// One item of a position: one transfer in paGetPayment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voce {
    /// The gestionale's id for the item.
    pub id_voce: String,
    /// Amount in cents (> 0).
    pub importo: Cents,
    /// Description.
    pub descrizione: String,
    /// Text for remittanceInformation, if different from `descrizione`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descrizione_causale_rpt: Option<String>,
    /// Beneficiary creditor's fiscal code (multi-beneficiary notices).
    pub dominio: String,
    /// Account or stamp.
    pub accredito: Accredito,
    /// The taxonomy code sent as transferCategory.
    pub transfer_category: String,
    /// Key/value pairs sent as transfer metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<(String, String)>,
    /// How the gestionale described where the money goes (echoed by the REST API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origine: Option<OrigineVoce>,
    /// Accounting quotas, as the gestionale sent them (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contabilita: Option<serde_json::Value>,
    /// Attached data, as the gestionale sent them (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dati_allegati: Option<serde_json::Value>,
}

/// The form in which an item's account was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "forma", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrigineVoce {
    /// A configured entrata (`codEntrata`).
    Entrata {
        /// The entrata's code.
        cod_entrata: String,
    },
    /// An explicit account and accounting (`ibanAccredito` + `tipoContabilita` + `codiceContabilita`).
    Iban {
        /// CAPITOLO / SPECIALE / SIOPE / ALTRO.
        tipo_contabilita: String,
        /// The accounting code.
        codice_contabilita: String,
    },
    /// An explicit account with pagoPA's taxonomy code as given (`ibanAccredito` +
    /// `codiceTassonomicoPagoPA`, API Ente Creditore v2).
    Tassonomia {
        /// The transferCategory, `<digit>/<code>`.
        codice_tassonomico: String,
    },
}

/// Optional REST-level details of a position, kept as the gestionale sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dettagli {
    /// Organisational unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_unita_operativa: Option<String>,
    /// Reference year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anno_riferimento: Option<i32>,
    /// Taxonomy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tassonomia: Option<String>,
    /// pagoPA notice taxonomy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tassonomia_avviso: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direzione: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisione: Option<String>,
    /// Opaque attached data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dati_allegati: Option<serde_json::Value>,
    /// The document this position is an option of (single payment, instalment, variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documento: Option<documento::Documento>,
    /// Printing and other properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proprieta: Option<serde_json::Value>,
    /// The position's short name (`nome`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nome: Option<String>,
    /// The payment folder it belongs to (`cartellaPagamento`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cartella_pagamento: Option<String>,
    /// When the gestionale wants the notice sent (`dataNotificaAvviso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_notifica_avviso: Option<NaiveDate>,
    /// When a reminder of the due date is wanted (`dataPromemoriaScadenza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_promemoria_scadenza: Option<NaiveDate>,
    /// Why the state was last changed (PATCH /descrizioneStato).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descrizione_stato: Option<String>,
    /// Public identifier returned at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// A receipt's outcome (`outcome`): the payment was made, or it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EsitoPagamento {
    /// Paid.
    #[serde(rename = "OK")]
    Ok,
    /// Not paid.
    #[serde(rename = "KO")]
    Ko,
}

impl EsitoPagamento {
    /// `OK` or `KO`.
    pub fn as_str(self) -> &'static str {
        match self {
            EsitoPagamento::Ok => "OK",
            EsitoPagamento::Ko => "KO",
        }
    }
}

/// Who a position belongs to: the owning application and its id for the position (both absent
/// for a position no application loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// Owning application.
    pub id_a2a: Option<String>,
    /// The application's id for the position.
    pub id_pendenza: Option<String>,
}

/// A debt position (pendenza).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pendenza {
    /// Creditor's fiscal code.
    pub dominio: String,
    /// IUV (creditorReferenceId).
    pub iuv: String,
    /// 18-digit notice number.
    pub numero_avviso: String,
    /// Owning application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// The application's id for the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_pendenza: Option<String>,
    /// Tipo pendenza.
    pub id_tipo_pendenza: String,
    /// Subject of the payment (no personal data, it is shown to the PSP).
    pub causale: String,
    /// Debtor.
    pub soggetto: Soggetto,
    /// Total in cents = Σ voci.
    pub importo: Cents,
    /// After this Rome day the amount must be refreshed (dueDate of the notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_validita: Option<NaiveDate>,
    /// After this Rome day the position is SCADUTA (the day itself is payable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_scadenza: Option<NaiveDate>,
    /// 1..5 items.
    pub voci: Vec<Voce>,
    /// Stored state.
    pub stato: Stato,
    /// Set when something irregular happened (duplicate payment, amount mismatch...).
    #[serde(default)]
    pub anomala: bool,
    /// What was irregular, one line per event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalie: Vec<String>,
    /// Paid outside the plan its document was committed to: the payment does not count for
    /// the document (see [`documento`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fuori_piano: bool,
    /// REST-level details.
    #[serde(default)]
    pub dettagli: Dettagli,
    /// Receipts accepted for this position (receiptId), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ricevute: Vec<String>,
    /// When the position was created.
    pub created_at: DateTime<Utc>,
    /// When the position last changed.
    pub updated_at: DateTime<Utc>,
}

impl Pendenza {
    /// The position's owner.
    pub fn owner(&self) -> Owner {
        Owner {
            id_a2a: self.id_a2a.clone(),
            id_pendenza: self.id_pendenza.clone(),
        }
    }

    /// The state at `now` (SCADUTA derived from `data_scadenza` on the Rome calendar).
    pub fn stato_at(&self, now: DateTime<Utc>) -> StatoEffettivo {
        match self.stato {
            Stato::Eseguita => StatoEffettivo::Eseguita,
            Stato::Annullata => StatoEffettivo::Annullata,
            Stato::NonEseguita => match self.data_scadenza {
                Some(day) if rome_today(now) > day => StatoEffettivo::Scaduta,
                _ => StatoEffettivo::NonEseguita,
            },
        }
    }

    /// Whether every item can be credited to a postal account (allCCP).
    pub fn all_postal(&self) -> bool {
        self.voci.iter().all(|v| {
            matches!(
                &v.accredito,
                Accredito::Iban {
                    iban_postale: Some(_),
                    ..
                }
            )
        })
    }

    /// Records an irregularity.
    pub fn flag(&mut self, note: impl Into<String>) {
        self.anomala = true;
        self.anomalie.push(note.into());
    }
}

/// Which receipt primitive delivered a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptVersion {
    /// paSendRT (ctReceipt)
    V1,
    /// paSendRTV2 (ctReceiptV2)
    V2,
}

/// What Varco decided about a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "esito", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReceiptStatus {
    /// Accepted and applied to its position.
    Accettata,
    /// Accepted, but irregular: kept for an operator (the money was collected).
    Anomala {
        /// Why.
        motivo: String,
    },
    /// Refused with PAA_SEMANTICA (fatal mismatch); kept for an operator.
    Rifiutata {
        /// Why.
        motivo: String,
    },
}

/// One transfer of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptTransfer {
    /// 1..5
    pub id_transfer: u8,
    /// Cents.
    pub importo: Cents,
    /// Beneficiary.
    pub dominio: String,
    /// IBAN, when not a stamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// remittanceInformation.
    pub causale: String,
    /// transferCategory.
    pub categoria: String,
}

/// A stored receipt: the facts Varco needs, plus the request exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ricevuta {
    /// Creditor (receipt fiscalCode).
    pub dominio: String,
    /// IUV derived from the notice number.
    pub iuv: String,
    /// receiptId (the payment token): the idempotency key.
    pub receipt_id: String,
    /// Notice number.
    pub numero_avviso: String,
    /// creditorReferenceId as sent.
    pub creditor_reference_id: String,
    /// Primitive version.
    pub versione: ReceiptVersion,
    /// `OK` or `KO` as sent.
    pub esito_pagamento: EsitoPagamento,
    /// paymentAmount.
    pub importo: Cents,
    /// PSP id.
    pub id_psp: String,
    /// PSP name.
    pub psp_denominazione: String,
    /// Channel id.
    pub id_canale: String,
    /// Channel description.
    pub descrizione_canale: String,
    /// paymentMethod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metodo_pagamento: Option<String>,
    /// paymentDateTime as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_pagamento: Option<String>,
    /// fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commissioni: Option<Cents>,
    /// standIn.
    #[serde(default)]
    pub stand_in: bool,
    /// Transfers.
    pub transfers: Vec<ReceiptTransfer>,
    /// The station it came through.
    pub id_stazione: String,
    /// Who paid (`payer`), when the receipt names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versante: Option<Soggetto>,
    /// When Varco stored it.
    pub received_at: DateTime<Utc>,
    /// Varco's verdict.
    pub stato: ReceiptStatus,
    /// The whole SOAP request as received (UTF-8), for the gestionale and for audits.
    pub xml: String,
}

/// An activation (paGetPayment/V2) attempt: recorded, never a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attivazione {
    /// When.
    pub at: DateTime<Utc>,
    /// `paGetPayment` or `paGetPaymentV2`.
    pub primitiva: String,
    /// The amount the PSP asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importo_richiesto: Option<Cents>,
    /// `POSTAL` / `PAGOPA`, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<String>,
    /// paymentNote (the cart id for Checkout payments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_note: Option<String>,
    /// The station it came through.
    pub id_stazione: String,
}

/// Delivery state of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxState {
    /// Waiting to be delivered (or retried).
    Pending,
    /// Delivered (a 2xx from the gestionale).
    Delivered,
    /// Given up after the retry horizon; re-sent only on request.
    Dead,
}

/// A receipt waiting to be forwarded to the owning application's gestionale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Monotonic id (also the store key: oldest first).
    pub id: u64,
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// The receipt to forward.
    pub receipt_id: String,
    /// The application that owns the position (none for receipts of unknown positions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// State.
    pub stato: OutboxState,
    /// Delivery attempts so far.
    pub tentativi: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Earliest next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When an operator last asked for it to be sent again (restarts the retry horizon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pendenza(scadenza: Option<NaiveDate>) -> Pendenza {
        let config = crate::config::Config::demo();
        let nav = crate::domain::NoticeNumber::aux3("01", 1);
        let mut p = crate::demo::sample(&config, &nav, Utc::now());
        p.data_scadenza = scadenza;
        p
    }

    #[test]
    fn rome_days_begin_and_end_at_rome_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        assert_eq!(
            rome_day_start(day),
            Utc.with_ymd_and_hms(2026, 7, 14, 22, 0, 0).unwrap()
        );
        assert_eq!(
            rome_day_end(day),
            Utc.with_ymd_and_hms(2026, 7, 15, 21, 59, 59).unwrap()
                + chrono::Duration::milliseconds(999)
        );
        let winter = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        assert_eq!(
            rome_day_start(winter),
            Utc.with_ymd_and_hms(2026, 1, 14, 23, 0, 0).unwrap()
        );
        // The day the clocks go forward is 23 hours long.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(
            rome_day_end(spring) - rome_day_start(spring),
            chrono::Duration::hours(23) - chrono::Duration::milliseconds(1)
        );
    }

    #[test]
    fn due_day_is_a_rome_calendar_day_and_is_still_payable() {
        let due = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let p = pendenza(Some(due));
        // 31 March 23:30 Rome (CEST, UTC+2) = 21:30 UTC: still the due day.
        let late_evening = Utc.with_ymd_and_hms(2026, 3, 31, 21, 30, 0).unwrap();
        assert_eq!(p.stato_at(late_evening), StatoEffettivo::NonEseguita);
        // 22:30 UTC is already 1 April in Rome, while still 31 March in UTC.
        let after_midnight_rome = Utc.with_ymd_and_hms(2026, 3, 31, 22, 30, 0).unwrap();
        assert_eq!(p.stato_at(after_midnight_rome), StatoEffettivo::Scaduta);
        // Winter time (UTC+1): 31 Jan 23:30 UTC is 1 Feb 00:30 in Rome.
        let p = pendenza(NaiveDate::from_ymd_opt(2026, 1, 31));
        assert_eq!(
            p.stato_at(Utc.with_ymd_and_hms(2026, 1, 31, 22, 59, 0).unwrap()),
            StatoEffettivo::NonEseguita
        );
        assert_eq!(
            p.stato_at(Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap()),
            StatoEffettivo::Scaduta
        );
        assert_eq!(
            pendenza(None).stato_at(Utc::now()),
            StatoEffettivo::NonEseguita
        );
    }
}
