//! Settlement flows (FdR, *flussi di rendicontazione*): what a PSP says it transferred to a
//! creditor for one day's payments, line by line, and what Varco concluded when it matched
//! each line to a stored receipt. The facts are pagoPA's (FdR 3 and the legacy
//! `FlussoRiversamento`); the anomaly codes are GovPay's, so a ragioneria reading both sees
//! the same numbers.

use super::Cents;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A line's outcome code (`payStatus` / `codiceEsitoSingoloPagamento`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Esito {
    /// 0: paid.
    Executed,
    /// 3: revoked (the amount goes back).
    Revoked,
    /// 4: paid while the Nodo ran in stand-in (the receipt follows).
    StandIn,
    /// 8: paid in stand-in without an RPT.
    StandInNoRpt,
    /// 9: paid without an RPT.
    NoRpt,
}

impl Esito {
    /// Every outcome, in code order.
    pub const ALL: [Esito; 5] = [
        Esito::Executed,
        Esito::Revoked,
        Esito::StandIn,
        Esito::StandInNoRpt,
        Esito::NoRpt,
    ];

    /// The legacy numeric code.
    pub fn code(self) -> u8 {
        match self {
            Esito::Executed => 0,
            Esito::Revoked => 3,
            Esito::StandIn => 4,
            Esito::StandInNoRpt => 8,
            Esito::NoRpt => 9,
        }
    }

    /// From the legacy numeric code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// FdR 3's name (`EXECUTED`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Esito::Executed => "EXECUTED",
            Esito::Revoked => "REVOKED",
            Esito::StandIn => "STAND_IN",
            Esito::StandInNoRpt => "STAND_IN_NO_RPT",
            Esito::NoRpt => "NO_RPT",
        }
    }

    /// From FdR 3's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the payment was made without a receipt ever being sent.
    pub fn without_receipt(self) -> bool {
        matches!(self, Esito::StandInNoRpt | Esito::NoRpt)
    }
}

/// The key a flow is stored under: pagoPA's own uniqueness (one flow id per PSP, revised by
/// publishing again), within a creditor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowKey {
    /// The creditor (receiver) fiscal code.
    pub dominio: String,
    /// `identificativoFlusso` / `fdr`.
    pub id_flusso: String,
    /// The PSP that sent it.
    pub psp: String,
    /// FdR 3's revision (1 for a flow known only from a file).
    pub revisione: u32,
}

/// Where a flow came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Fonte {
    /// pagoPA's FdR 3 REST API.
    Fdr3,
    /// A `FlussoRiversamento` XML file (SFTP, download, import).
    Xml,
}

/// The sender (`istitutoMittente` / `sender`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mittente {
    /// `G` (fiscal code), `A` (ABI code) or `B` (BIC).
    pub tipo: String,
    /// The identifier of that type.
    pub codice: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominazione: Option<String>,
}

/// A flow's state once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatoFlusso {
    /// Its totals agree with its lines.
    Acquisito,
    /// Its header disagrees with its lines (see its `segnalazioni`).
    Anomalo,
}

/// A line's state once matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatoLinea {
    /// Matched to a receipt (or, without a receipt by nature, to a position) and the amount agrees.
    Ok,
    /// Something does not agree (see its `segnalazioni`).
    Anomala,
    /// A notice Varco does not serve (another broker, another creditor's position).
    AltroIntermediario,
}

/// A coded remark on a flow or a line (GovPay's codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segnalazione {
    /// The code (`007101`, ...).
    pub codice: String,
    /// What it means.
    pub descrizione: String,
    /// The figures behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dettaglio: Option<String>,
}

/// The anomalies reconciliation finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomalia {
    /// No receipt for a notice Varco serves: the receipt is missing.
    RicevutaAssente,
    /// The line's IUR is none of the notice's receipts, and several could be it.
    PiuRicevute,
    /// The amount differs from the receipt's transfer.
    ImportoDiverso,
    /// The header's total differs from the sum of the lines.
    TotaleDiverso,
    /// The header's count differs from the number of lines.
    NumeroDiverso,
    /// A payment without receipt for a notice Varco holds no position of.
    PosizioneAssente,
    /// A revoked amount differs from the transfer it revokes.
    RevocaDiversa,
    /// The same (IUV, IUR, transfer) appears earlier in the flow.
    LineaDuplicata,
}

impl Anomalia {
    /// GovPay's code.
    pub fn codice(self) -> &'static str {
        match self {
            Anomalia::RicevutaAssente => "007101",
            Anomalia::PiuRicevute => "007102",
            Anomalia::ImportoDiverso => "007104",
            Anomalia::TotaleDiverso => "007106",
            Anomalia::NumeroDiverso => "007107",
            Anomalia::PosizioneAssente => "007111",
            Anomalia::RevocaDiversa => "007112",
            Anomalia::LineaDuplicata => "007115",
        }
    }

    /// What it means.
    pub fn descrizione(self) -> &'static str {
        match self {
            Anomalia::RicevutaAssente => "Ricevuta non presente: il pagamento non risulta a Varco",
            Anomalia::PiuRicevute => "La rendicontazione corrisponde a piu' ricevute",
            Anomalia::ImportoDiverso => "Importo rendicontato diverso da quello della ricevuta",
            Anomalia::TotaleDiverso => {
                "Importo totale del flusso diverso dalla somma dei pagamenti"
            }
            Anomalia::NumeroDiverso => "Numero di pagamenti del flusso diverso dalle righe",
            Anomalia::PosizioneAssente => "Pagamento senza RPT per una pendenza sconosciuta",
            Anomalia::RevocaDiversa => "Importo revocato diverso da quello del versamento",
            Anomalia::LineaDuplicata => "Rendicontazione duplicata nello stesso flusso",
        }
    }

    /// The remark, with its figures.
    pub fn segnalazione(self, dettaglio: Option<String>) -> Segnalazione {
        Segnalazione {
            codice: self.codice().to_owned(),
            descrizione: self.descrizione().to_owned(),
            dettaglio,
        }
    }
}

/// A flow's header, as sent and as checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flusso {
    /// Creditor, flow id, PSP, revision.
    pub key: FlowKey,
    /// `dataOraFlusso` / `fdrDate`.
    pub data_ora_flusso: DateTime<Utc>,
    /// When pagoPA published it (FdR 3 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubblicato: Option<DateTime<Utc>>,
    /// `identificativoUnivocoRegolamento` / `regulation`: the bank transfer's TRN.
    pub trn: String,
    /// `dataRegolamento` / `regulationDate`.
    pub data_regolamento: NaiveDate,
    /// `codiceBicBancaDiRiversamento` / `bicCodePouringBank`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic_riversamento: Option<String>,
    /// The sender.
    pub mittente: Mittente,
    /// `denominazioneRicevente` / `organizationName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominazione_ricevente: Option<String>,
    /// `numeroTotalePagamenti` / `totPayments`, as the header says.
    pub numero_pagamenti: u64,
    /// `importoTotalePagamenti` / `sumPayments`, as the header says.
    pub importo_totale: Cents,
    /// Where it came from.
    pub fonte: Fonte,
    /// When Varco stored it.
    pub acquisito: DateTime<Utc>,
    /// A later revision of the same flow replaced it.
    #[serde(default)]
    pub obsoleto: bool,
    /// Checked state.
    pub stato: StatoFlusso,
    /// Flow-level remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segnalazioni: Vec<Segnalazione>,
    /// Lines by state: OK, ANOMALA, ALTRO_INTERMEDIARIO.
    #[serde(default)]
    pub conteggi: [u64; 3],
    /// The treasury movement that collected it, once matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incasso: Option<String>,
}

/// One line of a flow, as sent and as matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linea {
    /// `identificativoUnivocoVersamento` / `iuv`.
    pub iuv: String,
    /// `identificativoUnivocoRiscossione` / `iur`: the receipt's `receiptId`.
    pub iur: String,
    /// `indiceDatiSingoloPagamento` / `idTransfer` (1..5), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indice: Option<u8>,
    /// `singoloImportoPagato` / `pay`.
    pub importo: Cents,
    /// Outcome.
    pub esito: Esito,
    /// `dataEsitoSingoloPagamento` / `payDate`.
    pub data: NaiveDate,
    /// Matched state.
    pub stato: StatoLinea,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segnalazioni: Vec<Segnalazione>,
    /// The receipt it was matched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ricevuta: Option<String>,
}

impl Linea {
    /// A line as sent, not yet matched.
    pub fn new(
        iuv: String,
        iur: String,
        indice: Option<u8>,
        importo: Cents,
        esito: Esito,
        data: NaiveDate,
    ) -> Self {
        Self {
            iuv,
            iur,
            indice,
            importo,
            esito,
            data,
            stato: StatoLinea::Ok,
            segnalazioni: Vec::new(),
            ricevuta: None,
        }
    }

    /// The transfer it names (1 when it names none).
    pub fn transfer(&self) -> u8 {
        self.indice.unwrap_or(1)
    }
}

/// Whether a settlement has reached the treasury.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatoRiscossione {
    /// Paid (a receipt), settled by a flow or not yet.
    Riscossa,
    /// Matched to a treasury movement.
    Incassata,
}

/// The settlement of one transfer of one payment: which flow carried it, and whether the
/// treasury saw the money. Key: (dominio, iuv, iur, indice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Riscossione {
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// IUR (the receipt's `receiptId`).
    pub iur: String,
    /// Transfer (1..5).
    pub indice: u8,
    /// Amount (the flow line's; the receipt's transfer without a flow).
    pub importo: Cents,
    /// The receipt, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ricevuta: Option<String>,
    /// The flow line's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esito: Option<Esito>,
    /// The flow that settled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flusso: Option<FlowKey>,
    /// The flow's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_flusso: Option<DateTime<Utc>>,
    /// The payment's date (the line's, or the receipt's day).
    pub data: NaiveDate,
    /// State.
    pub stato: StatoRiscossione,
    /// The treasury movement, once collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incasso: Option<String>,
}

impl Riscossione {
    /// Its key's parts.
    pub fn key(&self) -> (&str, &str, &str, u8) {
        (&self.dominio, &self.iuv, &self.iur, self.indice)
    }
}

/// A treasury movement (one line of the bank's *giornale di cassa*) matched to flows or
/// payments: GovPay's *riconciliazione*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Riconciliazione {
    /// Creditor.
    pub dominio: String,
    /// The movement's id (the caller's; idempotency key).
    pub id: String,
    /// The bank transfer's description, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causale: Option<String>,
    /// The single payment it collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iuv: Option<String>,
    /// The flow it collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_flusso: Option<String>,
    /// Amount.
    pub importo: Cents,
    /// The SEPA credit transfer's reference.
    pub sct: String,
    /// The flow's TRN, when it collects a flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trn: Option<String>,
    /// Value date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_valuta: Option<NaiveDate>,
    /// Booking date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_contabile: Option<NaiveDate>,
    /// The account credited (IBAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conto_accredito: Option<String>,
    /// When Varco recorded it.
    pub data: DateTime<Utc>,
    /// The settlements it collected: (iuv, iur, indice).
    pub riscossioni: Vec<(String, String, u8)>,
}

/// What a treasury movement's causale names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Causale {
    /// `/PUR/LGPE-RIVERSAMENTO/URI/<idFlusso>`: a whole flow.
    Flusso(String),
    /// `/RFB/<IUV>` or `/RFS/<RFkk IUV>`: one payment.
    Iuv(String),
}

/// Reads a treasury causale (AgID's rules for the SCT's remittance information): a flow's
/// transfer `/PUR/LGPE-RIVERSAMENTO/URI/<idFlusso>` (optionally `/TXT/<n>/` before `URI`),
/// or one payment `/RFB/<IUV>[/<amount>][/TXT/...]` or `/RFS/<ISO 11649 reference>`. Spaces
/// the bank may have inserted around the separators are tolerated; anything else is `None`.
pub fn parse_causale(text: &str) -> Option<Causale> {
    let text = text.trim();
    let parts: Vec<&str> = text.split('/').map(str::trim).collect();
    let at = |tag: &str| parts.iter().position(|p| p.eq_ignore_ascii_case(tag));
    if let Some(pur) = at("PUR") {
        if !parts
            .get(pur + 1)
            .is_some_and(|p| p.eq_ignore_ascii_case("LGPE-RIVERSAMENTO"))
        {
            return None;
        }
        let mut i = pur + 2;
        if parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case("TXT")) {
            i += 2;
        }
        if !parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case("URI")) {
            return None;
        }
        let id = parts.get(i + 1)?;
        return flow_id_ok(id).then(|| Causale::Flusso((*id).to_owned()));
    }
    if let Some(rfb) = at("RFB") {
        let iuv = parts.get(rfb + 1)?;
        return iuv_ok(iuv).then(|| Causale::Iuv((*iuv).to_owned()));
    }
    if let Some(rfs) = at("RFS") {
        let reference = parts.get(rfs + 1)?.replace(' ', "");
        let iuv = creditor_reference_iuv(&reference)?;
        return Some(Causale::Iuv(iuv));
    }
    None
}

/// A flow id as pagoPA allows it: `[a-zA-Z0-9\-_]{1,35}`.
pub fn flow_id_ok(id: &str) -> bool {
    (1..=35).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An IUV as a causale may carry it: 1 to 35 letters and digits.
fn iuv_ok(iuv: &str) -> bool {
    (1..=35).contains(&iuv.len()) && iuv.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The IUV inside an ISO 11649 creditor reference (`RF` + 2 check digits + up to 21
/// characters), when its check digits hold.
pub fn creditor_reference_iuv(reference: &str) -> Option<String> {
    let reference = reference.to_ascii_uppercase();
    if !(5..=25).contains(&reference.len()) || !reference.starts_with("RF") {
        return None;
    }
    let (check, body) = (&reference[2..4], &reference[4..]);
    if !check.bytes().all(|b| b.is_ascii_digit()) || !iuv_ok(body) {
        return None;
    }
    // ISO 7064 mod 97-10 over body + "RF" + check digits, letters as 10..35.
    let mut remainder: u32 = 0;
    for c in body.chars().chain("RF".chars()).chain(check.chars()) {
        let value = c.to_digit(36)?;
        let digits = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * digits + value) % 97;
    }
    (remainder == 1).then(|| body.to_owned())
}

/// What Varco knows of one IUV of the flow's creditor when it matches a line.
#[derive(Debug, Clone, Default)]
pub struct Known<'a> {
    /// Whether Varco holds a position for the IUV.
    pub posizione: bool,
    /// The position's transfers, when there is one: (index, amount).
    pub voci: Vec<(u8, Cents)>,
    /// Its receipts with a positive outcome.
    pub ricevute: Vec<&'a super::Ricevuta>,
}

/// Matches every line of a flow to what Varco knows of its IUV (`known`), and checks the
/// header against the lines. Sets each line's state, remarks and receipt, the flow's state,
/// remarks and counts. Pure: the same lines and knowledge give the same verdicts.
pub fn reconcile<'a>(flusso: &mut Flusso, linee: &mut [Linea], known: &dyn Fn(&str) -> Known<'a>) {
    let mut seen = std::collections::HashSet::new();
    for linea in linee.iter_mut() {
        linea.segnalazioni.clear();
        linea.ricevuta = None;
        let key = (linea.iuv.clone(), linea.iur.clone(), linea.transfer());
        if !seen.insert(key) {
            linea.stato = StatoLinea::Anomala;
            linea
                .segnalazioni
                .push(Anomalia::LineaDuplicata.segnalazione(None));
            continue;
        }
        match_line(linea, &known(&linea.iuv));
    }
    let mut flow = Vec::new();
    let sum: i128 = linee.iter().map(|l| i128::from(l.importo)).sum();
    if sum != i128::from(flusso.importo_totale) {
        flow.push(Anomalia::TotaleDiverso.segnalazione(Some(format!(
            "testata {} righe {}",
            super::money::format(flusso.importo_totale),
            super::money::format(sum as Cents)
        ))));
    }
    if linee.len() as u64 != flusso.numero_pagamenti {
        flow.push(Anomalia::NumeroDiverso.segnalazione(Some(format!(
            "testata {} righe {}",
            flusso.numero_pagamenti,
            linee.len()
        ))));
    }
    flusso.stato = if flow.is_empty() {
        StatoFlusso::Acquisito
    } else {
        StatoFlusso::Anomalo
    };
    flusso.segnalazioni = flow;
    let mut counts = [0u64; 3];
    for l in linee.iter() {
        counts[match l.stato {
            StatoLinea::Ok => 0,
            StatoLinea::Anomala => 1,
            StatoLinea::AltroIntermediario => 2,
        }] += 1;
    }
    flusso.conteggi = counts;
}

fn match_line(linea: &mut Linea, known: &Known<'_>) {
    let anomala = |linea: &mut Linea, a: Anomalia, detail: Option<String>| {
        linea.stato = StatoLinea::Anomala;
        linea.segnalazioni.push(a.segnalazione(detail));
    };
    if linea.esito.without_receipt() {
        // Settled without a receipt: the position's transfer is what it settles.
        if !known.posizione {
            return anomala(linea, Anomalia::PosizioneAssente, None);
        }
        let due = known
            .voci
            .iter()
            .find(|(i, _)| *i == linea.transfer())
            .map(|(_, a)| *a);
        return match due {
            Some(a) if a == linea.importo => linea.stato = StatoLinea::Ok,
            other => {
                let detail = amounts(linea.importo, other);
                anomala(linea, Anomalia::ImportoDiverso, Some(detail))
            }
        };
    }
    let by_iur = known
        .ricevute
        .iter()
        .find(|r| !linea.iur.is_empty() && r.receipt_id == linea.iur);
    let ricevuta = match (by_iur, known.ricevute.as_slice()) {
        (Some(r), _) => *r,
        (None, []) if !known.posizione => {
            linea.stato = StatoLinea::AltroIntermediario;
            return;
        }
        (None, []) => return anomala(linea, Anomalia::RicevutaAssente, None),
        // The PSP's IUR is not the receiptId (legacy IURs), and the notice was paid once.
        (None, [only]) => *only,
        (None, several) => {
            let detail = format!("{} ricevute per lo IUV", several.len());
            return anomala(linea, Anomalia::PiuRicevute, Some(detail));
        }
    };
    linea.ricevuta = Some(ricevuta.receipt_id.clone());
    let transfer = ricevuta
        .transfers
        .iter()
        .find(|t| t.id_transfer == linea.transfer())
        .map(|t| t.importo);
    let (anomaly, ok) = match linea.esito {
        Esito::Revoked => (Anomalia::RevocaDiversa, transfer == Some(linea.importo)),
        _ => (Anomalia::ImportoDiverso, transfer == Some(linea.importo)),
    };
    if ok {
        linea.stato = StatoLinea::Ok;
    } else {
        anomala(linea, anomaly, Some(amounts(linea.importo, transfer)));
    }
}

fn amounts(line: Cents, due: Option<Cents>) -> String {
    format!(
        "rendicontato {} atteso {}",
        super::money::format(line),
        due.map_or_else(|| "nessun versamento".to_owned(), super::money::format)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causali_name_a_flow_or_a_payment() {
        assert_eq!(
            parse_causale("/PUR/LGPE-RIVERSAMENTO/URI/2026-11-30ABI03069-S123"),
            Some(Causale::Flusso("2026-11-30ABI03069-S123".into()))
        );
        assert_eq!(
            parse_causale("/PUR/LGPE-RIVERSAMENTO/TXT/1/URI/2026-11-30PSP-1"),
            Some(Causale::Flusso("2026-11-30PSP-1".into()))
        );
        assert_eq!(
            parse_causale("/RFB/310000000000012345/12.50/TXT/TARI"),
            Some(Causale::Iuv("310000000000012345".into()))
        );
        assert_eq!(parse_causale("/PUR/ALTRO/URI/x"), None);
        assert_eq!(parse_causale("bonifico per la TARI"), None);
        assert_eq!(parse_causale("/RFB/"), None);
        assert_eq!(parse_causale("/PUR/LGPE-RIVERSAMENTO/URI/has space"), None);
    }

    #[test]
    fn rfs_references_are_checked_with_iso_11649() {
        // RF18539007547034 is the standard's own example.
        assert_eq!(
            creditor_reference_iuv("RF18539007547034"),
            Some("539007547034".into())
        );
        assert_eq!(creditor_reference_iuv("RF19539007547034"), None);
        assert_eq!(
            parse_causale("/RFS/RF18 5390 0754 7034/TXT/x"),
            Some(Causale::Iuv("539007547034".into()))
        );
    }

    #[test]
    fn outcome_codes_and_names_go_both_ways() {
        for e in Esito::ALL {
            assert_eq!(Esito::from_code(e.code()), Some(e));
            assert_eq!(Esito::from_name(e.name()), Some(e));
        }
        assert_eq!(Esito::from_code(1), None);
    }
}
