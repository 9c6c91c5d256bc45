//! The console's pages: one askama template per page (`templates/console/`), checked and
//! compiled with the binary, HTML-escaped by default; and the rows they show, formatted here
//! (amounts in euro the Italian way, times in Europe/Rome) so templates hold no logic.

pub use crate::api::backoffice::stato as stato_outbox;
use crate::domain::{
    Attivazione, OutboxEntry, OutboxState, Pendenza, ReceiptStatus, Ricevuta, StatoEffettivo,
};
use crate::journal::Evento;
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Rome;

/// What every page's frame shows: the operator, the menu entry, the form token.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The page's title.
    pub titolo: String,
    /// The menu entry to mark (`dashboard`, `pendenze`, ...).
    pub sezione: &'static str,
    /// The operator's username.
    pub operatore: String,
    /// The session's CSRF token, for the forms.
    pub csrf: String,
    /// The operator may act (not read-only).
    pub agisce: bool,
    /// A message for the operator after an action (`ok` or `errore`, text).
    pub avviso: Option<(String, String)>,
}

/// An amount the Italian way (`1.020,99 €`).
pub fn euro(cents: i64) -> String {
    crate::notice::pdf::format_amount(cents)
}

/// An instant as a Europe/Rome date and time.
pub fn ora(t: DateTime<Utc>) -> String {
    t.with_timezone(&Rome)
        .format("%d/%m/%Y %H:%M:%S")
        .to_string()
}

/// A day as `dd/mm/yyyy`.
pub fn giorno(d: chrono::NaiveDate) -> String {
    crate::notice::pdf::format_date(d)
}

/// A state's label and its badge class.
pub fn stato(s: StatoEffettivo, anomala: bool) -> (&'static str, &'static str) {
    match (s, anomala) {
        (StatoEffettivo::Eseguita, true) => ("Anomala", "badge-danger"),
        (StatoEffettivo::Eseguita, false) => ("Pagata", "badge-success"),
        (StatoEffettivo::NonEseguita, _) => ("Da pagare", "badge-primary"),
        (StatoEffettivo::Scaduta, _) => ("Scaduta", "badge-warning"),
        (StatoEffettivo::Annullata, _) => ("Annullata", "badge-secondary"),
    }
}

/// One position in a list.
#[derive(Debug, Clone)]
pub struct RigaPendenza {
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// Notice number.
    pub numero_avviso: String,
    /// Owning application and its id.
    pub applicazione: String,
    /// Tipo pendenza.
    pub tipo: String,
    /// Subject.
    pub causale: String,
    /// Debtor's identifier.
    pub debitore: String,
    /// Debtor's name.
    pub anagrafica: String,
    /// Amount.
    pub importo: String,
    /// State label and badge class.
    pub stato: (&'static str, &'static str),
    /// Due day.
    pub scadenza: String,
    /// Created.
    pub creata: String,
}

impl RigaPendenza {
    /// The row of `p` on `now`.
    pub fn of(p: &Pendenza, now: DateTime<Utc>) -> Self {
        Self {
            dominio: p.dominio.clone(),
            iuv: p.iuv.clone(),
            numero_avviso: p.numero_avviso.clone(),
            applicazione: match (&p.id_a2a, &p.id_pendenza) {
                (Some(a), Some(id)) => format!("{a} / {id}"),
                (Some(a), None) => a.clone(),
                _ => "—".into(),
            },
            tipo: p.id_tipo_pendenza.clone(),
            causale: p.causale.clone(),
            debitore: p.soggetto.identificativo.clone(),
            anagrafica: p.soggetto.anagrafica.clone(),
            importo: euro(p.importo),
            stato: stato(p.stato_at(now), p.anomala),
            scadenza: p.data_scadenza.map(giorno).unwrap_or_default(),
            creata: ora(p.created_at),
        }
    }
}

/// One receipt, as the detail and the lists show it.
#[derive(Debug, Clone)]
pub struct RigaRicevuta {
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// receiptId.
    pub id: String,
    /// Notice number.
    pub numero_avviso: String,
    /// Amount.
    pub importo: String,
    /// PSP.
    pub psp: String,
    /// OK / KO.
    pub esito: &'static str,
    /// Received at.
    pub ricevuta: String,
    /// Varco's verdict.
    pub verdetto: &'static str,
    /// Why it is irregular, if it is.
    pub motivo: String,
}

impl RigaRicevuta {
    /// The row of `r`.
    pub fn of(r: &Ricevuta) -> Self {
        let (verdetto, motivo) = match &r.stato {
            ReceiptStatus::Accettata => ("Accettata", String::new()),
            ReceiptStatus::Anomala { motivo } => ("Anomala", motivo.clone()),
            ReceiptStatus::Rifiutata { motivo } => ("Rifiutata (PAA_SEMANTICA)", motivo.clone()),
        };
        Self {
            dominio: r.dominio.clone(),
            iuv: r.iuv.clone(),
            id: r.receipt_id.clone(),
            numero_avviso: r.numero_avviso.clone(),
            importo: euro(r.importo),
            psp: if r.psp_denominazione.is_empty() {
                r.id_psp.clone()
            } else {
                r.psp_denominazione.clone()
            },
            esito: match r.esito_pagamento {
                crate::domain::EsitoPagamento::Ok => "OK",
                crate::domain::EsitoPagamento::Ko => "KO",
            },
            ricevuta: ora(r.received_at),
            verdetto,
            motivo,
        }
    }
}

/// One outbox entry.
#[derive(Debug, Clone)]
pub struct RigaOutbox {
    /// Entry id.
    pub id: u64,
    /// In attesa / in errore / abbandonata / consegnata.
    pub stato: &'static str,
    /// Badge class.
    pub classe: &'static str,
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// Receipt.
    pub ricevuta: String,
    /// Connector (application).
    pub applicazione: String,
    /// Attempts.
    pub tentativi: u32,
    /// Next attempt.
    pub prossimo: String,
    /// Last error.
    pub errore: String,
    /// Whether a re-send makes sense (not delivered).
    pub reinviabile: bool,
}

impl RigaOutbox {
    /// The row of `e`.
    pub fn of(e: &OutboxEntry) -> Self {
        let (stato, classe) = match stato_outbox(e) {
            "dead" => ("Abbandonata", "badge-danger"),
            "delivered" => ("Consegnata", "badge-success"),
            "failing" => ("In errore", "badge-warning"),
            _ => ("In attesa", "badge-primary"),
        };
        Self {
            id: e.id,
            stato,
            classe,
            dominio: e.dominio.clone(),
            iuv: e.iuv.clone(),
            ricevuta: e.receipt_id.clone(),
            applicazione: e.id_a2a.clone().unwrap_or_else(|| "—".into()),
            tentativi: e.tentativi,
            prossimo: if e.stato == OutboxState::Pending {
                ora(e.next_attempt_at)
            } else {
                String::new()
            },
            errore: e.last_error.clone().unwrap_or_default(),
            reinviabile: e.stato != OutboxState::Delivered,
        }
    }
}

/// One journal event.
#[derive(Debug, Clone)]
pub struct RigaEvento {
    /// Event id.
    pub id: String,
    /// When.
    pub data: String,
    /// SOAP / REST / OUTBOX.
    pub categoria: String,
    /// The operation.
    pub tipo: String,
    /// OK / KO / FAIL.
    pub esito: String,
    /// Fault code or status.
    pub dettaglio: String,
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// Milliseconds.
    pub durata: u64,
}

impl RigaEvento {
    /// The row of `e`.
    pub fn of(e: &Evento) -> Self {
        Self {
            id: e.id.clone(),
            data: ora(e.data),
            categoria: e.categoria_evento.as_str().to_owned(),
            tipo: e.tipo_evento.clone(),
            esito: e.esito.as_str().to_owned(),
            dettaglio: [e.sottotipo_esito.clone(), e.dettaglio_esito.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            dominio: e.id_dominio.clone().unwrap_or_default(),
            iuv: e.iuv.clone().unwrap_or_default(),
            durata: e.durata_evento,
        }
    }
}

/// One activation attempt.
#[derive(Debug, Clone)]
pub struct RigaTentativo {
    /// When.
    pub data: String,
    /// paGetPayment / V2.
    pub primitiva: String,
    /// The amount asked for.
    pub importo: String,
}

impl RigaTentativo {
    /// The row of `a`.
    pub fn of(a: &Attivazione) -> Self {
        Self {
            data: ora(a.at),
            primitiva: a.primitiva.clone(),
            importo: a.importo_richiesto.map(euro).unwrap_or_default(),
        }
    }
}

/// A figure of the dashboard, linking to its list.
#[derive(Debug, Clone)]
pub struct Cifra {
    /// What it counts.
    pub etichetta: &'static str,
    /// The figure.
    pub valore: String,
    /// A line under it.
    pub nota: String,
    /// The list it links to.
    pub link: String,
    /// Card accent (`primary`, `warning`, `danger`, `success`).
    pub tono: &'static str,
}

/// `GET /console/login`
#[derive(Template)]
#[template(path = "console/login.html")]
pub struct Login {
    /// The login form's token (also in its cookie).
    pub csrf: String,
    /// Why the last attempt failed.
    pub errore: Option<String>,
    /// Where to go after login.
    pub next: String,
}

/// `GET /console`
#[derive(Template)]
#[template(path = "console/dashboard.html")]
pub struct Dashboard {
    /// Frame.
    pub c: Chrome,
    /// The figures.
    pub cifre: Vec<Cifra>,
    /// Rome day the figures are of.
    pub oggi: String,
}

/// A choice of a `<select>`.
#[derive(Debug, Clone)]
pub struct Scelta {
    /// Value sent.
    pub valore: String,
    /// Label shown.
    pub etichetta: String,
    /// Selected now.
    pub scelta: bool,
}

/// `GET /console/pendenze`
#[derive(Template)]
#[template(path = "console/pendenze.html")]
pub struct Pendenze {
    /// Frame.
    pub c: Chrome,
    /// The search text.
    pub q: String,
    /// The document searched, if any.
    pub documento: String,
    /// Domains to choose.
    pub domini: Vec<Scelta>,
    /// Applications to choose.
    pub applicazioni: Vec<Scelta>,
    /// Tipi to choose.
    pub tipi: Vec<Scelta>,
    /// States to choose.
    pub stati: Vec<Scelta>,
    /// From day (YYYY-MM-DD).
    pub da: String,
    /// To day.
    pub a: String,
    /// Whether a search was made.
    pub cercato: bool,
    /// What was searched, in words.
    pub descrizione: String,
    /// The results.
    pub righe: Vec<RigaPendenza>,
    /// This page (from 1).
    pub pagina: usize,
    /// The previous page's URL.
    pub precedente: Option<String>,
    /// The next page's URL.
    pub successiva: Option<String>,
    /// The CSV of the whole result.
    pub csv: String,
    /// The result was cut (too many entries walked for the filters).
    pub troncato: bool,
    /// Microseconds the search took at the server.
    pub durata_us: u128,
}

/// `GET /console/pendenze/{dominio}/{iuv}`
#[derive(Template)]
#[template(path = "console/pendenza.html")]
pub struct Dettaglio {
    /// Frame.
    pub c: Chrome,
    /// The summary row.
    pub p: RigaPendenza,
    /// Creditor's name.
    pub ente: String,
    /// Debtor's e-mail, address.
    pub contatti: Vec<(String, String)>,
    /// Items: description, amount, account.
    pub voci: Vec<(String, String, String)>,
    /// Document and instalment, when an option of one.
    pub documento: Option<String>,
    /// The document's identifier (for the link to its options), URL-encoded.
    pub documento_id: String,
    /// Reason of the last state change.
    pub descrizione_stato: String,
    /// Irregularities.
    pub anomalie: Vec<String>,
    /// Receipts.
    pub ricevute: Vec<RigaRicevuta>,
    /// Activation attempts.
    pub tentativi: Vec<RigaTentativo>,
    /// The outbox entries of its receipts.
    pub outbox: Vec<RigaOutbox>,
    /// The notice's events.
    pub eventi: Vec<RigaEvento>,
    /// Cancel allowed now.
    pub annullabile: bool,
    /// Reopen allowed now.
    pub riapribile: bool,
    /// A notice PDF can be printed (open, with a notice number of aux digit 3).
    pub stampabile: bool,
}

/// `GET /console/ricevute`
#[derive(Template)]
#[template(path = "console/ricevute.html")]
pub struct Ricevute {
    /// Frame.
    pub c: Chrome,
    /// Day from.
    pub da: String,
    /// Day to.
    pub a: String,
    /// Domains to choose.
    pub domini: Vec<Scelta>,
    /// Verdicts to choose.
    pub verdetti: Vec<Scelta>,
    /// The rows.
    pub righe: Vec<RigaRicevuta>,
    /// Next page.
    pub successiva: Option<String>,
    /// The CSV link.
    pub csv: String,
}

/// An irregular position or receipt to look at.
#[derive(Debug, Clone)]
pub struct Anomalia {
    /// Creditor.
    pub dominio: String,
    /// IUV.
    pub iuv: String,
    /// Receipt, when a receipt is the anomaly.
    pub ricevuta: String,
    /// What happened.
    pub motivo: String,
    /// When.
    pub data: String,
    /// Whether the position exists (for a link).
    pub posizione: bool,
    /// Handled: by whom, when and the note.
    pub gestita: Option<String>,
}

/// `GET /console/anomalie`
#[derive(Template)]
#[template(path = "console/anomalie.html")]
pub struct Anomalie {
    /// Frame.
    pub c: Chrome,
    /// Day from.
    pub da: String,
    /// Day to.
    pub a: String,
    /// The anomalies.
    pub righe: Vec<Anomalia>,
    /// The CSV link.
    pub csv: String,
}

/// `GET /console/outbox`
#[derive(Template)]
#[template(path = "console/outbox.html")]
pub struct Outbox {
    /// Frame.
    pub c: Chrome,
    /// States to choose.
    pub stati: Vec<Scelta>,
    /// The entries.
    pub righe: Vec<RigaOutbox>,
    /// Connectors with entries not delivered, for "retry all".
    pub connettori: Vec<String>,
    /// Next page.
    pub successiva: Option<String>,
    /// The CSV link.
    pub csv: String,
}

/// `GET /console/giornale`
#[derive(Template)]
#[template(path = "console/giornale.html")]
pub struct Giornale {
    /// Frame.
    pub c: Chrome,
    /// Filters, as typed: name, label, value, input type.
    pub filtri: Vec<(&'static str, &'static str, String, &'static str)>,
    /// Categories to choose.
    pub categorie: Vec<Scelta>,
    /// Outcomes to choose.
    pub esiti: Vec<Scelta>,
    /// Domains to choose.
    pub domini: Vec<Scelta>,
    /// The events.
    pub righe: Vec<RigaEvento>,
    /// Next page (cursor).
    pub successiva: Option<String>,
    /// The CSV link.
    pub csv: String,
}

/// `GET /console/giornale/{id}`
#[derive(Template)]
#[template(path = "console/evento.html")]
pub struct EventoPagina {
    /// Frame.
    pub c: Chrome,
    /// The row.
    pub e: RigaEvento,
    /// Every field, as the REST API shows it (JSON, indented).
    pub json: String,
}

/// A section of the configuration page: a title and rows of (key, value).
#[derive(Debug, Clone)]
pub struct Sezione {
    /// Title.
    pub titolo: String,
    /// Rows.
    pub righe: Vec<(String, String)>,
}

/// `GET /console/configurazione`
#[derive(Template)]
#[template(path = "console/configurazione.html")]
pub struct Configurazione {
    /// Frame.
    pub c: Chrome,
    /// The sections.
    pub sezioni: Vec<Sezione>,
}

/// An error page (403, 404).
#[derive(Template)]
#[template(path = "console/errore.html")]
pub struct Errore {
    /// Frame.
    pub c: Chrome,
    /// What went wrong.
    pub messaggio: String,
}

/// One settlement flow.
#[derive(Debug, Clone)]
pub struct RigaFlusso {
    /// Flow date.
    pub data: String,
    /// Creditor.
    pub dominio: String,
    /// Flow id.
    pub id: String,
    /// PSP (id and name).
    pub psp: String,
    /// Settlement day.
    pub regolamento: String,
    /// Bank transfer reference.
    pub trn: String,
    /// Payments in it.
    pub pagamenti: u64,
    /// Total.
    pub importo: String,
    /// Acquisito / Anomalo, and its badge class.
    pub stato: (&'static str, &'static str),
    /// Lines matched, irregular, of another broker.
    pub linee: [u64; 3],
    /// The treasury movement it was matched to, if any.
    pub incasso: String,
    /// What is wrong with it.
    pub segnalazioni: Vec<String>,
    /// A later revision replaced it.
    pub obsoleto: bool,
}

impl RigaFlusso {
    /// The row of `f`.
    pub fn of(f: &crate::domain::fdr::Flusso) -> Self {
        let anomalo = f.stato == crate::domain::fdr::StatoFlusso::Anomalo;
        Self {
            data: ora(f.data_ora_flusso),
            dominio: f.key.dominio.clone(),
            id: f.key.id_flusso.clone(),
            psp: match &f.mittente.denominazione {
                Some(n) => format!("{n} ({})", f.key.psp),
                None => f.key.psp.clone(),
            },
            regolamento: giorno(f.data_regolamento),
            trn: f.trn.clone(),
            pagamenti: f.numero_pagamenti,
            importo: euro(f.importo_totale),
            stato: if anomalo {
                ("Anomalo", "badge-danger")
            } else {
                ("Acquisito", "badge-success")
            },
            linee: f.conteggi,
            incasso: f.incasso.clone().unwrap_or_default(),
            segnalazioni: f
                .segnalazioni
                .iter()
                .map(|s| format!("{} {}", s.codice, s.descrizione))
                .collect(),
            obsoleto: f.obsoleto,
        }
    }
}

/// `GET /console/rendicontazioni`
#[derive(Template)]
#[template(path = "console/rendicontazioni.html")]
pub struct Rendicontazioni {
    /// Frame.
    pub c: Chrome,
    /// Domains to choose.
    pub domini: Vec<Scelta>,
    /// States to choose.
    pub stati: Vec<Scelta>,
    /// Day from.
    pub da: String,
    /// Day to.
    pub a: String,
    /// The flows.
    pub righe: Vec<RigaFlusso>,
    /// Next page.
    pub successiva: Option<String>,
    /// The CSV link.
    pub csv: String,
}
