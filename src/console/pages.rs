//! The console's handlers: each reads what its page shows from the store (held to the
//! operator's domains) and renders its template; actions check the operator may act, change
//! the store, record the action in the journal and redirect to the page they came from.

use super::views::{self, *};
use super::{ConsoleState, Current, session};
use crate::api::dto::Patch;
use crate::api::error::ApiError;
use crate::domain::{
    Accredito, NoticeNumber, OutboxState, Pendenza, ReceiptStatus, Ricevuta, Stato, StatoEffettivo,
    rome_day_end, rome_day_start, rome_today,
};
use crate::journal::{Categoria, Esito, Evento, Filtro};
use crate::store::StoreError;
use crate::store::index::{DebtorTerm, Filter, StatoFiltro, name_tokens};
use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most results per page of a list.
const PER_PAGE: usize = 25;
/// Index entries a search with filters the index cannot apply (tipo, several words of a name)
/// walks at most before it says the result was cut.
const MAX_WALK: usize = 20_000;
/// Entries read per step of such a walk, and per round of a CSV export.
const CHUNK: usize = 500;
/// Journal events a receipts or anomalies page reads at most.
const MAX_EVENTS: usize = 5_000;

/// Why a page cannot be shown.
pub(super) enum Fail {
    /// A refusal with its status, title and text.
    Status(StatusCode, &'static str, String),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Status(e.status, "Operazione non riuscita", e.fault.descrizione)
    }
}

fn not_found(what: impl Into<String>) -> Fail {
    Fail::Status(StatusCode::NOT_FOUND, "Non trovato", what.into())
}

fn forbidden(what: impl Into<String>) -> Fail {
    Fail::Status(StatusCode::FORBIDDEN, "Accesso negato", what.into())
}

fn bad(what: impl Into<String>) -> Fail {
    Fail::Status(StatusCode::BAD_REQUEST, "Richiesta non valida", what.into())
}

/// The frame of a page for `current`.
fn chrome(current: &Current, titolo: &str, sezione: &'static str) -> Chrome {
    Chrome {
        titolo: titolo.to_owned(),
        sezione,
        operatore: current.op.username.clone(),
        csrf: current.csrf.clone(),
        agisce: current.acts(),
        avviso: None,
    }
}

/// A rendered template as the response.
fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console page not rendered");
            refuse_plain(StatusCode::INTERNAL_SERVER_ERROR, "Errore interno.")
        }
    }
}

/// A refusal as a page of the console.
pub(super) fn refuse(
    current: &Current,
    status: StatusCode,
    titolo: &'static str,
    messaggio: &str,
) -> Response {
    let page = Errore {
        c: chrome(current, titolo, ""),
        messaggio: messaggio.to_owned(),
    };
    (status, html(&page)).into_response()
}

/// A refusal as plain text (no session to frame it).
pub(super) fn refuse_plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// The answer of a handler: its page, or its failure as a page.
fn respond(current: &Current, r: Result<Response, Fail>) -> Response {
    match r {
        Ok(r) => r,
        Err(Fail::Status(status, titolo, text)) => refuse(current, status, titolo, &text),
        Err(Fail::Store(e)) => {
            tracing::error!(error = %e, "console: store failure");
            refuse(
                current,
                StatusCode::SERVICE_UNAVAILABLE,
                "Servizio non disponibile",
                "L'archivio non risponde: riprova tra poco.",
            )
        }
    }
}

/// Percent-encodes a query value.
pub(super) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `path?query` with `pagina` replaced by `page`.
fn with_page(path: &str, raw: Option<&str>, page: usize) -> String {
    crate::api::next_link(path, raw, &format!("pagina={page}"))
}

/// A Rome day typed in a form (`YYYY-MM-DD`), empty for none.
fn day(field: &str, v: &Option<String>) -> Result<Option<NaiveDate>, Fail> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| bad(format!("{field}: una data come 2026-12-31"))),
    }
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The choices of a select, `chosen` marked.
fn scelte<'a>(items: impl Iterator<Item = (&'a str, String)>, chosen: Option<&str>) -> Vec<Scelta> {
    items
        .map(|(v, label)| Scelta {
            valore: v.to_owned(),
            etichetta: label,
            scelta: chosen == Some(v),
        })
        .collect()
}

impl ConsoleState {
    fn now(&self) -> DateTime<Utc> {
        (self.api.nodo.clock)()
    }

    fn store(&self) -> &crate::store::Store {
        &self.api.nodo.store
    }

    fn config(&self) -> &crate::config::Config {
        &self.api.nodo.config
    }

    /// A turn among the listings running at once (the REST API's bound: a share of the cores,
    /// so searches never starve the Nodo's requests).
    async fn listing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Fail> {
        self.api.listings.acquire().await.map_err(|_| {
            Fail::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servizio non disponibile",
                "Il servizio si sta fermando.".into(),
            )
        })
    }

    /// The domains `current` sees, as choices.
    fn domini(&self, current: &Current, chosen: Option<&str>) -> Vec<Scelta> {
        scelte(
            self.config()
                .domini
                .iter()
                .filter(|d| current.sees(&d.id))
                .map(|d| (d.id.as_str(), format!("{} ({})", d.ragione_sociale, d.id))),
            chosen,
        )
    }

    /// The position `dominio`/`iuv`, when `current` sees its domain.
    async fn pendenza(
        &self,
        current: &Current,
        dominio: &str,
        iuv: &str,
    ) -> Result<Pendenza, Fail> {
        if !current.sees(dominio) {
            return Err(forbidden(format!(
                "Non sei abilitato a vedere le pendenze dell'ente {dominio}."
            )));
        }
        self.store()
            .pendenza(dominio, iuv)
            .await?
            .ok_or_else(|| not_found(format!("Nessuna pendenza {dominio} / {iuv}.")))
    }

    /// Records an operator's action in the journal (and waits until it is written, so the
    /// page the action returns to shows it).
    async fn record(&self, current: &Current, what: &str, fill: impl FnOnce(&mut Evento)) {
        let mut e = Evento::new(
            Categoria::Rest,
            format!("POST /console/{what}"),
            self.now(),
            Duration::ZERO,
            Esito::Ok,
        );
        e.componente = "CONSOLE".into();
        e.principal = Some(current.op.username.clone());
        fill(&mut e);
        self.journal.record(e);
        let journal = self.journal.clone();
        let _ = tokio::task::spawn_blocking(move || journal.barrier()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Login

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// Where to go after login: a console page, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.contains("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

fn login_page(state: &ConsoleState, next: &str, errore: Option<String>) -> Response {
    let token = session::token();
    let page = Login {
        csrf: token.clone(),
        errore,
        next: next.to_owned(),
    };
    let mut res = html(&page);
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(
        session::LOGIN_COOKIE,
        &token,
        state.secure,
        Some(Duration::from_secs(3600)),
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /console/login`
pub(super) async fn login_form(
    State(state): State<ConsoleState>,
    Query(q): Query<Next>,
) -> Response {
    login_page(&state, &safe_next(q.next.as_deref()), None)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(super) struct Credenziali {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// `POST /console/login`: the form's token must match its cookie; then the same checks as a
/// Basic header (argon2, failure limits).
pub(super) async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    client: Option<Extension<crate::edge::ClientAddr>>,
    Form(f): Form<Credenziali>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let cookie = session::cookie(&headers, session::LOGIN_COOKIE);
    if !cookie.is_some_and(|c| session::same_token(&c, &f.csrf)) {
        return (
            StatusCode::FORBIDDEN,
            login_page(
                &state,
                &next,
                Some("Il modulo è scaduto: inserisci di nuovo le credenziali.".into()),
            ),
        )
            .into_response();
    }
    let client = client.map(|Extension(c)| c.0);
    match state
        .api
        .auth
        .login_operator(&f.username, &f.password, client)
        .await
    {
        Ok(op) => {
            let id = state.sessions.open(&op.0);
            tracing::info!(operator = %op.0, "console login");
            let mut res = Redirect::to(&next).into_response();
            for c in [
                session::set_cookie(session::COOKIE, &id, state.secure, None),
                session::clear_cookie(session::LOGIN_COOKIE, state.secure),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(e) => {
            let (status, text) = if e.status == StatusCode::TOO_MANY_REQUESTS {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Troppi tentativi non riusciti: riprova tra qualche minuto.",
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    "Nome utente o password non corretti.",
                )
            };
            (status, login_page(&state, &next, Some(text.into()))).into_response()
        }
    }
}

/// `POST /console/logout`
pub(super) async fn logout(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
) -> Response {
    state.sessions.close(&current.session);
    let mut res = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(session::COOKIE, state.secure)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---------------------------------------------------------------------------------------------
// Dashboard

/// The dashboard's figures of the last [`DASHBOARD_TTL`], per set of visible domains.
#[derive(Debug, Default)]
pub struct DashboardCache(Mutex<HashMap<String, (Instant, Vec<Cifra>)>>);

/// How long the dashboard's figures are reused.
const DASHBOARD_TTL: Duration = Duration::from_secs(30);

/// `GET /console/`
pub(super) async fn dashboard(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
) -> Response {
    let r = async {
        let key = current.op.domini.join(",");
        let cached = state
            .dashboard
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|(at, _)| at.elapsed() < DASHBOARD_TTL);
        let cifre = match cached {
            Some((_, c)) => c,
            None => {
                let c = figures(&state, &current).await?;
                if let Ok(mut m) = state.dashboard.0.lock() {
                    m.insert(key, (Instant::now(), c.clone()));
                }
                c
            }
        };
        Ok(html(&Dashboard {
            c: chrome(&current, "Cruscotto", "dashboard"),
            cifre,
            oggi: giorno(rome_today(state.now())),
        }))
    }
    .await;
    respond(&current, r)
}

/// Index entries a dashboard count walks at most per application (past them the figure is a
/// lower bound, shown as such): a few tens of milliseconds on either engine.
const DASHBOARD_WALK: usize = 20_000;

/// How many positions of every application match `filter`: the sum and whether it is exact
/// (each application's count walks at most [`DASHBOARD_WALK`] index entries; past them the
/// sum is a lower bound).
async fn count(
    state: &ConsoleState,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<(usize, bool), Fail> {
    let (mut n, mut exact) = (0, true);
    let _turn = state.listing_turn().await?;
    for app in &state.config().applicazioni {
        let (found, whole) = state
            .store()
            .count_pendenze_upto(&app.id_a2a, filter, now, DASHBOARD_WALK)
            .await?;
        n += found;
        exact &= whole;
    }
    Ok((n, exact))
}

fn counted((n, exact): (usize, bool)) -> String {
    if exact {
        n.to_string()
    } else {
        format!("oltre {n}")
    }
}

async fn figures(state: &ConsoleState, current: &Current) -> Result<Vec<Cifra>, Fail> {
    let now = state.now();
    let today = rome_today(now);
    let visible = Filter {
        domini: current.op.allowlist(),
        ..Filter::default()
    };
    let (receipts, amount, cut) = receipts_between(
        state,
        current,
        (Some(rome_day_start(today)), None),
        None,
        MAX_EVENTS,
    )
    .await
    .map(|(rs, cut)| {
        let ok: Vec<&Ricevuta> = rs
            .iter()
            .filter(|r| r.esito_pagamento == crate::domain::EsitoPagamento::Ok)
            .collect();
        (ok.len(), ok.iter().map(|r| r.importo).sum::<i64>(), cut)
    })?;
    // The three counts walk the listing index (up to COUNT_WALK_LIMIT entries each): at once,
    // on the blocking threads, rather than one after the other.
    let week = today + chrono::Days::new(7);
    let open_filter = Filter {
        stato: Some(StatoFiltro::Stato(StatoEffettivo::NonEseguita)),
        ..visible.clone()
    };
    let expiring_filter = Filter {
        scadenza_tra: Some((today, week)),
        ..open_filter.clone()
    };
    let anomalous_filter = Filter {
        stato: Some(StatoFiltro::Anomala),
        ..visible.clone()
    };
    let (open, expiring, anomalous) = tokio::try_join!(
        count(state, &open_filter, now),
        count(state, &expiring_filter, now),
        count(state, &anomalous_filter, now),
    )?;
    let (failing, _) = state
        .store()
        .outbox_page(
            &|e| views::stato_outbox(e) == "failing" && current.sees(&e.dominio),
            0,
            100_000,
        )
        .await?;
    let (dead, _) = state
        .store()
        .outbox_page(
            &|e| e.stato == OutboxState::Dead && current.sees(&e.dominio),
            0,
            100_000,
        )
        .await?;
    let month_ago = (today - chrono::Days::new(30))
        .format("%Y-%m-%d")
        .to_string();
    let flows = flows_of(
        state,
        current,
        &FlussiForm {
            da: Some(month_ago.clone()),
            ..FlussiForm::default()
        },
    )
    .await?;
    let irregular = flows
        .iter()
        .filter(|f| !f.obsoleto)
        .filter(|f| f.stato == crate::domain::fdr::StatoFlusso::Anomalo || f.conteggi[1] > 0)
        .count();
    let oggi = today.format("%Y-%m-%d").to_string();
    let fine = week.format("%Y-%m-%d").to_string();
    Ok(vec![
        Cifra {
            etichetta: "Ricevute di oggi",
            valore: if cut {
                format!("oltre {receipts}")
            } else {
                receipts.to_string()
            },
            nota: format!("incassati {}", euro(amount)),
            link: format!("/console/ricevute?da={oggi}"),
            tono: "success",
        },
        Cifra {
            etichetta: "Pendenze da pagare",
            valore: counted(open),
            nota: String::new(),
            link: "/console/pendenze?stato=NON_ESEGUITA".into(),
            tono: "primary",
        },
        Cifra {
            etichetta: "In scadenza entro 7 giorni",
            valore: counted(expiring),
            nota: format!("fino al {}", giorno(week)),
            link: format!(
                "/console/pendenze?stato=NON_ESEGUITA&scadenza_da={oggi}&scadenza_a={fine}"
            ),
            tono: "warning",
        },
        Cifra {
            etichetta: "Pagamenti anomali",
            valore: counted(anomalous),
            nota: "pagati due volte, dopo l'annullamento, di importo diverso".into(),
            link: "/console/anomalie".into(),
            tono: "danger",
        },
        Cifra {
            etichetta: "Flussi con anomalie (30 giorni)",
            valore: irregular.to_string(),
            nota: format!("su {} flussi di rendicontazione", flows.len()),
            link: format!("/console/rendicontazioni?da={month_ago}"),
            tono: "danger",
        },
        Cifra {
            etichetta: "Notifiche in errore",
            valore: failing.len().to_string(),
            nota: "ricevute che il gestionale non ha ancora preso".into(),
            link: "/console/outbox?stato=failing".into(),
            tono: "warning",
        },
        Cifra {
            etichetta: "Notifiche abbandonate",
            valore: dead.len().to_string(),
            nota: "da reinviare a mano".into(),
            link: "/console/outbox?stato=dead".into(),
            tono: "danger",
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// Positions

/// The search form of the positions.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Ricerca {
    q: Option<String>,
    documento: Option<String>,
    dominio: Option<String>,
    applicazione: Option<String>,
    tipo: Option<String>,
    stato: Option<String>,
    da: Option<String>,
    a: Option<String>,
    scadenza_da: Option<String>,
    scadenza_a: Option<String>,
    pagina: Option<usize>,
}

impl Ricerca {
    fn asked(&self) -> bool {
        [
            &self.q,
            &self.documento,
            &self.dominio,
            &self.applicazione,
            &self.tipo,
            &self.stato,
            &self.da,
            &self.a,
            &self.scadenza_da,
            &self.scadenza_a,
        ]
        .iter()
        .any(|v| nonempty(v).is_some())
    }
}

/// Where a search reads its positions from.
enum Sorgente {
    /// Found directly (a notice number, an IUV, a document).
    Trovate(Vec<Pendenza>),
    /// The debtor index.
    Debitore(DebtorTerm),
    /// The listing index of these applications, merged newest first.
    Applicazioni(Vec<String>),
}

/// A search, planned: its source, the filters the index applies, and those it cannot.
struct Piano {
    sorgente: Sorgente,
    filter: Filter,
    tipo: Option<String>,
    applicazione: Option<String>,
    parole: Vec<String>,
    descrizione: String,
}

impl Piano {
    /// Whether a position passes the filters the index did not apply.
    fn keeps(&self, p: &Pendenza) -> bool {
        self.tipo.as_ref().is_none_or(|t| &p.id_tipo_pendenza == t)
            && self
                .applicazione
                .as_ref()
                .is_none_or(|a| p.id_a2a.as_ref() == Some(a))
            && (self.parole.is_empty() || {
                let name = name_tokens(&p.soggetto.anagrafica);
                self.parole.iter().all(|w| name.contains(w))
            })
    }

    /// Whether some filter is left to apply after the index.
    fn filters_after(&self) -> bool {
        self.tipo.is_some()
            || !self.parole.is_empty()
            || (self.applicazione.is_some() && !matches!(self.sorgente, Sorgente::Applicazioni(_)))
    }
}

fn stato_filtro(s: &str) -> Option<StatoFiltro> {
    Some(match s {
        "NON_ESEGUITA" => StatoFiltro::Stato(StatoEffettivo::NonEseguita),
        "ESEGUITA" => StatoFiltro::Stato(StatoEffettivo::Eseguita),
        "ANNULLATA" => StatoFiltro::Stato(StatoEffettivo::Annullata),
        "SCADUTA" => StatoFiltro::Stato(StatoEffettivo::Scaduta),
        "ANOMALA" => StatoFiltro::Anomala,
        _ => return None,
    })
}

const STATI: &[(&str, &str)] = &[
    ("NON_ESEGUITA", "Da pagare"),
    ("SCADUTA", "Scaduta"),
    ("ESEGUITA", "Pagata"),
    ("ANOMALA", "Pagata con anomalia"),
    ("ANNULLATA", "Annullata"),
];

/// Whether `q` looks like a fiscal code of a person (16 letters and digits, some of each).
fn fiscal_code_like(q: &str) -> bool {
    q.len() == 16
        && q.bytes().all(|b| b.is_ascii_alphanumeric())
        && q.bytes().any(|b| b.is_ascii_digit())
        && q.bytes().any(|b| b.is_ascii_alphabetic())
}

async fn plan(state: &ConsoleState, current: &Current, r: &Ricerca) -> Result<Piano, Fail> {
    let dominio = nonempty(&r.dominio).map(str::to_owned);
    if let Some(d) = &dominio
        && !current.sees(d)
    {
        return Err(forbidden(format!(
            "Non sei abilitato a vedere le pendenze dell'ente {d}."
        )));
    }
    let stato = match nonempty(&r.stato) {
        None => None,
        Some(s) => Some(stato_filtro(s).ok_or_else(|| bad(format!("stato {s} sconosciuto")))?),
    };
    let scadenza = match (
        day("scadenza dal", &r.scadenza_da)?,
        day("scadenza al", &r.scadenza_a)?,
    ) {
        (None, None) => None,
        (from, to) => Some((from.unwrap_or(NaiveDate::MIN), to.unwrap_or(NaiveDate::MAX))),
    };
    let filter = Filter {
        dominio: dominio.clone(),
        domini: current.op.allowlist(),
        stato,
        da: day("caricata dal", &r.da)?.map(rome_day_start),
        a: day("caricata al", &r.a)?.map(rome_day_end),
        scadenza_tra: scadenza,
        ..Filter::default()
    };
    let visible: Vec<String> = state
        .config()
        .domini
        .iter()
        .filter(|d| current.sees(&d.id) && dominio.as_ref().is_none_or(|x| x == &d.id))
        .map(|d| d.id.clone())
        .collect();
    let applicazione = nonempty(&r.applicazione).map(str::to_owned);
    let mut piano = Piano {
        sorgente: Sorgente::Applicazioni(Vec::new()),
        filter,
        tipo: nonempty(&r.tipo).map(str::to_owned),
        applicazione: applicazione.clone(),
        parole: Vec::new(),
        descrizione: String::new(),
    };
    if let Some(doc) = nonempty(&r.documento) {
        let mut found = Vec::new();
        for d in &visible {
            found.extend(state.store().documento(d, doc).await?);
        }
        piano.descrizione = format!("Documento «{doc}»");
        piano.sorgente = Sorgente::Trovate(found);
        return Ok(piano);
    }
    let q: String = nonempty(&r.q)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace() || !c.is_ascii())
        .collect();
    let q_words = nonempty(&r.q).unwrap_or("").to_owned();
    if q.is_empty() {
        let apps = match &applicazione {
            Some(a) => vec![a.clone()],
            None => state
                .config()
                .applicazioni
                .iter()
                .map(|a| a.id_a2a.clone())
                .collect(),
        };
        piano.descrizione = "Tutte le pendenze visibili, dalla più recente".into();
        piano.sorgente = Sorgente::Applicazioni(apps);
        piano.applicazione = None;
        return Ok(piano);
    }
    let digits = q.bytes().all(|b| b.is_ascii_digit());
    if digits && (q.len() == 18 || (15..=17).contains(&q.len())) {
        let iuv = if q.len() == 18 {
            NoticeNumber::parse(&q)
                .map_err(|e| bad(format!("numero avviso {q}: {e}")))?
                .iuv()
                .to_owned()
        } else {
            q.clone()
        };
        let mut found = Vec::new();
        for d in &visible {
            if let Some(p) = state.store().pendenza(d, &iuv).await?
                && (q.len() != 18 || p.numero_avviso == q)
            {
                found.push(p);
            }
        }
        piano.descrizione = if q.len() == 18 {
            format!("Numero avviso {q}")
        } else {
            format!("IUV {q}")
        };
        piano.sorgente = Sorgente::Trovate(found);
        return Ok(piano);
    }
    if fiscal_code_like(&q) || (digits && q.len() == 11) || q.eq_ignore_ascii_case("ANONIMO") {
        let cf = q.to_ascii_uppercase();
        piano.descrizione = format!("Debitore {cf}");
        piano.sorgente = Sorgente::Debitore(DebtorTerm::Fiscale(cf));
        return Ok(piano);
    }
    let mut words = name_tokens(&q_words);
    if words.is_empty() {
        return Err(bad(
            "Scrivi un numero avviso, uno IUV, un codice fiscale o almeno due lettere del nome.",
        ));
    }
    // The longest word walks the index (the rarest, as a rule); the others filter.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let first = words.remove(0);
    piano.descrizione = format!("Debitori di nome «{q_words}»");
    piano.sorgente = Sorgente::Debitore(DebtorTerm::Nome(first));
    piano.parole = words;
    Ok(piano)
}

/// Up to `n` positions of the plan's source from `offset` (before the filters the index
/// cannot apply), newest first, and whether more follow.
async fn chunk(
    state: &ConsoleState,
    piano: &Piano,
    now: DateTime<Utc>,
    offset: usize,
    n: usize,
) -> Result<(Vec<Pendenza>, bool), Fail> {
    let store = state.store();
    let _turn = state.listing_turn().await?;
    Ok(match &piano.sorgente {
        Sorgente::Trovate(all) => {
            let kept: Vec<&Pendenza> = all.iter().filter(|p| piano.filter.admits(p, now)).collect();
            let page = kept
                .iter()
                .skip(offset)
                .take(n)
                .map(|p| (*p).clone())
                .collect();
            (page, kept.len() > offset + n)
        }
        Sorgente::Debitore(term) => {
            let page = store
                .search_debtor(term, &piano.filter, now, offset, n, false)
                .await?;
            (page.pendenze, page.more)
        }
        Sorgente::Applicazioni(apps) if apps.len() == 1 => {
            let page = store
                .list_pendenze(&apps[0], &piano.filter, now, offset, n, false)
                .await?;
            (page.pendenze, page.more)
        }
        Sorgente::Applicazioni(apps) => {
            let (mut all, mut more) = (Vec::new(), false);
            for app in apps {
                let page = store
                    .list_pendenze(app, &piano.filter, now, 0, offset + n, false)
                    .await?;
                more |= page.more;
                all.extend(page.pendenze);
            }
            all.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then_with(|| b.dominio.cmp(&a.dominio))
                    .then_with(|| b.iuv.cmp(&a.iuv))
            });
            more |= all.len() > offset + n;
            (all.into_iter().skip(offset).take(n).collect(), more)
        }
    })
}

/// Page `(skip, take)` of a search: the positions, whether more follow, whether the walk was
/// cut at [`MAX_WALK`].
async fn find(
    state: &ConsoleState,
    piano: &Piano,
    now: DateTime<Utc>,
    (skip, take): (usize, usize),
) -> Result<(Vec<Pendenza>, bool, bool), Fail> {
    if !piano.filters_after() {
        let (page, more) = chunk(state, piano, now, skip, take).await?;
        return Ok((page, more, false));
    }
    let (mut matched, mut offset) = (Vec::new(), 0);
    loop {
        let (page, more) = chunk(state, piano, now, offset, CHUNK).await?;
        offset += page.len();
        matched.extend(page.into_iter().filter(|p| piano.keeps(p)));
        if matched.len() > skip + take {
            let rest: Vec<Pendenza> = matched.into_iter().skip(skip).collect();
            let more = rest.len() > take;
            return Ok((rest.into_iter().take(take).collect(), more, false));
        }
        if !more || offset >= MAX_WALK {
            let rest: Vec<Pendenza> = matched.into_iter().skip(skip).take(take).collect();
            return Ok((rest, false, more));
        }
    }
}

/// `GET /console/pendenze`
pub(super) async fn pendenze(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(r): Query<Ricerca>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let started = Instant::now();
        let now = state.now();
        let pagina = r.pagina.unwrap_or(1).max(1);
        let cercato = r.asked();
        let (righe, more, troncato, descrizione) = if cercato {
            let piano = plan(&state, &current, &r).await?;
            let (found, more, cut) =
                find(&state, &piano, now, ((pagina - 1) * PER_PAGE, PER_PAGE)).await?;
            let righe: Vec<RigaPendenza> = found.iter().map(|p| RigaPendenza::of(p, now)).collect();
            (righe, more, cut, piano.descrizione)
        } else {
            (Vec::new(), false, false, String::new())
        };
        let config = state.config();
        let page = Pendenze {
            c: chrome(&current, "Pendenze", "pendenze"),
            q: text(&r.q),
            documento: text(&r.documento),
            domini: state.domini(&current, nonempty(&r.dominio)),
            applicazioni: scelte(
                config
                    .applicazioni
                    .iter()
                    .map(|a| (a.id_a2a.as_str(), a.id_a2a.clone())),
                nonempty(&r.applicazione),
            ),
            tipi: scelte(
                config
                    .tipi_pendenza
                    .iter()
                    .map(|t| (t.id.as_str(), format!("{} ({})", t.descrizione, t.id))),
                nonempty(&r.tipo),
            ),
            stati: scelte(
                STATI.iter().map(|(v, l)| (*v, (*l).to_owned())),
                nonempty(&r.stato),
            ),
            da: text(&r.da),
            a: text(&r.a),
            cercato,
            descrizione,
            righe,
            pagina,
            precedente: (pagina > 1)
                .then(|| with_page("/console/pendenze", raw.as_deref(), pagina - 1)),
            successiva: more.then(|| with_page("/console/pendenze", raw.as_deref(), pagina + 1)),
            csv: format!("/console/pendenze.csv?{}", raw.as_deref().unwrap_or("")),
            troncato,
            durata_us: started.elapsed().as_micros(),
        };
        Ok(html(&page))
    }
    .await;
    respond(&current, result)
}

const PENDENZE_CSV: &[&str] = &[
    "idDominio",
    "ragioneSociale",
    "numeroAvviso",
    "iuv",
    "idA2A",
    "idPendenza",
    "idTipoPendenza",
    "causale",
    "debitore",
    "anagrafica",
    "importo",
    "stato",
    "dataScadenza",
    "dataCaricamento",
];

/// `GET /console/pendenze.csv`: the whole result of the search, streamed a round at a time.
pub(super) async fn pendenze_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(r): Query<Ricerca>,
) -> Response {
    let piano = match plan(&state, &current, &r).await {
        Ok(p) => std::sync::Arc::new(p),
        Err(e) => return respond(&current, Err(e)),
    };
    let names: HashMap<String, String> = state
        .config()
        .domini
        .iter()
        .map(|d| (d.id.clone(), d.ragione_sociale.clone()))
        .collect();
    let names = std::sync::Arc::new(names);
    let now = state.now();
    crate::api::ragioneria::csv_stream(
        "pendenze",
        PENDENZE_CSV,
        Some(0usize),
        move |offset: Option<usize>| {
            let (state, piano, names) = (state.clone(), piano.clone(), names.clone());
            async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let (page, more) = match chunk(&state, &piano, now, offset, CHUNK).await {
                    Ok(found) => found,
                    Err(Fail::Store(e)) => return Err(e),
                    Err(Fail::Status(..)) => return Ok(None),
                };
                let next = offset + page.len();
                let rows = page
                    .iter()
                    .filter(|p| piano.keeps(p))
                    .map(|p| {
                        let row = RigaPendenza::of(p, now);
                        vec![
                            p.dominio.clone(),
                            names.get(&p.dominio).cloned().unwrap_or_default(),
                            p.numero_avviso.clone(),
                            p.iuv.clone(),
                            p.id_a2a.clone().unwrap_or_default(),
                            p.id_pendenza.clone().unwrap_or_default(),
                            p.id_tipo_pendenza.clone(),
                            p.causale.clone(),
                            p.soggetto.identificativo.clone(),
                            p.soggetto.anagrafica.clone(),
                            crate::domain::money::format(p.importo),
                            row.stato.0.to_owned(),
                            p.data_scadenza.map(|d| d.to_string()).unwrap_or_default(),
                            p.created_at.to_rfc3339(),
                        ]
                    })
                    .collect();
                Ok(Some((rows, (more && !page.is_empty()).then_some(next))))
            }
        },
    )
}

/// The accounts of an item, in words.
fn accredito(a: &Accredito) -> String {
    match a {
        Accredito::Iban {
            iban,
            iban_appoggio,
            ..
        } => match iban_appoggio {
            Some(app) => format!("{iban} (appoggio {app})"),
            None => iban.clone(),
        },
        Accredito::Bollo { .. } => "Marca da bollo digitale".into(),
    }
}

/// `GET /console/pendenze/{dominio}/{iuv}`
pub(super) async fn pendenza(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path((dominio, iuv)): Path<(String, String)>,
) -> Response {
    let r = async {
        let p = state.pendenza(&current, &dominio, &iuv).await?;
        let now = state.now();
        detail(&state, &current, &p, now, None).await
    }
    .await;
    respond(&current, r)
}

async fn detail(
    state: &ConsoleState,
    current: &Current,
    p: &Pendenza,
    now: DateTime<Utc>,
    avviso: Option<(String, String)>,
) -> Result<Response, Fail> {
    let store = state.store();
    let ricevute = store.ricevute(&p.dominio, &p.iuv).await?;
    let tentativi = store.attempts(&p.dominio, &p.iuv).await?;
    let (outbox, _) = store
        .outbox_page(&|e| e.dominio == p.dominio && e.iuv == p.iuv, 0, 100)
        .await?;
    // The notice's events (SOAP, deliveries, the console's actions), and the application's
    // REST calls on the position (its load, its updates), which name it by its idPendenza.
    let mut eventi = store
        .eventi(
            &Filtro {
                id_dominio: Some(p.dominio.clone()),
                iuv: Some(p.iuv.clone()),
                ..Filtro::default()
            },
            1,
            100,
        )
        .await?
        .risultati;
    if let (Some(app), Some(id)) = (&p.id_a2a, &p.id_pendenza) {
        let rest = store
            .eventi(
                &Filtro {
                    id_a2a: Some(app.clone()),
                    id_pendenza: Some(id.clone()),
                    ..Filtro::default()
                },
                1,
                100,
            )
            .await?;
        eventi.extend(rest.risultati);
        eventi.sort_by(|a, b| b.data.cmp(&a.data).then_with(|| b.id.cmp(&a.id)));
        eventi.dedup_by(|a, b| a.id == b.id);
    }
    let s = &p.soggetto;
    let contatti = [
        ("E-mail", s.email.clone()),
        ("Cellulare", s.cellulare.clone()),
        (
            "Indirizzo",
            s.indirizzo.as_ref().map(|i| {
                [
                    Some(i.clone()),
                    s.civico.clone(),
                    s.cap.clone(),
                    s.localita.clone(),
                    s.provincia.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
            }),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect();
    let stato = p.stato_at(now);
    let mut c = chrome(current, &format!("Avviso {}", p.numero_avviso), "pendenze");
    c.avviso = avviso;
    let page = Dettaglio {
        c,
        p: RigaPendenza::of(p, now),
        ente: state
            .config()
            .domini
            .iter()
            .find(|d| d.id == p.dominio)
            .map(|d| d.ragione_sociale.clone())
            .unwrap_or_default(),
        contatti,
        voci: p
            .voci
            .iter()
            .map(|v| {
                (
                    v.descrizione.clone(),
                    euro(v.importo),
                    accredito(&v.accredito),
                )
            })
            .collect(),
        documento: p.dettagli.documento.as_ref().map(|d| match d.rata {
            Some(r) => format!("{} — rata {r}", d.identificativo),
            None => d.identificativo.clone(),
        }),
        documento_id: p
            .dettagli
            .documento
            .as_ref()
            .map(|d| encode(&d.identificativo))
            .unwrap_or_default(),
        descrizione_stato: p.dettagli.descrizione_stato.clone().unwrap_or_default(),
        anomalie: p.anomalie.clone(),
        ricevute: ricevute.iter().map(RigaRicevuta::of).collect(),
        tentativi: tentativi.iter().map(RigaTentativo::of).collect(),
        outbox: outbox.iter().map(RigaOutbox::of).collect(),
        eventi: eventi.iter().map(RigaEvento::of).collect(),
        annullabile: p.stato == Stato::NonEseguita,
        riapribile: p.stato == Stato::Annullata,
        stampabile: matches!(stato, StatoEffettivo::NonEseguita | StatoEffettivo::Scaduta)
            && NoticeNumber::parse(&p.numero_avviso).is_ok_and(|n| n.aux_digit() == 3),
    };
    Ok(html(&page))
}

/// `GET /console/pendenze/{dominio}/{iuv}/avviso.pdf`
pub(super) async fn avviso_pdf(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path((dominio, iuv)): Path<(String, String)>,
) -> Response {
    let r = async {
        let p = state.pendenza(&current, &dominio, &iuv).await?;
        let avviso = crate::api::avvisi::avviso_of(state.config(), &p)?;
        let pdf = tokio::task::spawn_blocking(move || crate::notice::render(&avviso))
            .await
            .map_err(|e| bad(e.to_string()))?
            .map_err(|e| bad(format!("L'avviso non si può stampare: {e}")))?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"avviso-{}.pdf\"", p.numero_avviso),
                ),
            ],
            pdf,
        )
            .into_response())
    }
    .await;
    respond(&current, r)
}

/// `GET /console/pendenze/{dominio}/{iuv}/ricevute/{id}.xml`: the receipt as the Nodo sent it.
pub(super) async fn ricevuta_xml(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path((dominio, iuv, file)): Path<(String, String, String)>,
) -> Response {
    let r = async {
        if !current.sees(&dominio) {
            return Err(forbidden(format!(
                "Non sei abilitato a vedere le ricevute dell'ente {dominio}."
            )));
        }
        let id = file.strip_suffix(".xml").unwrap_or(&file);
        let r = state
            .store()
            .ricevuta(&dominio, &iuv, id)
            .await?
            .ok_or_else(|| not_found(format!("Nessuna ricevuta {id}.")))?;
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "application/xml; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"ricevuta-{safe}.xml\""),
                ),
            ],
            r.xml,
        )
            .into_response())
    }
    .await;
    respond(&current, r)
}

/// The reason of a cancel or reopen.
#[derive(Debug, Deserialize)]
pub(super) struct Motivo {
    motivo: Option<String>,
}

async fn change_state(
    state: &ConsoleState,
    current: &Current,
    (dominio, iuv): (&str, &str),
    target: Stato,
    motivo: Option<String>,
) -> Result<Response, Fail> {
    if !current.acts() {
        return Err(forbidden("Il tuo profilo è in sola lettura."));
    }
    let p = state.pendenza(current, dominio, iuv).await?;
    let motivo = motivo
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("Scrivi il motivo."))?;
    let patch = Patch {
        stato: Some(target),
        descrizione_stato: Some(motivo.chars().take(255).collect()),
    };
    let now = state.now();
    let updated = state
        .store()
        .update_pendenza(dominio, iuv, &|current| patch.apply(current, now))
        .await?
        .ok_or_else(|| not_found(format!("Nessuna pendenza {dominio} / {iuv}.")))??;
    state.store().sync().await?;
    let what = if target == Stato::Annullata {
        "annulla"
    } else {
        "riapri"
    };
    state
        .record(current, &format!("pendenze/{what}"), |e| {
            e.id_dominio = Some(p.dominio.clone());
            e.iuv = Some(p.iuv.clone());
            e.numero_avviso = Some(p.numero_avviso.clone());
            e.id_a2a = p.id_a2a.clone();
            e.id_pendenza = p.id_pendenza.clone();
            e.dettaglio_esito = Some(motivo.clone());
        })
        .await;
    tracing::info!(operator = %current.op.username, action = what, "console: position state changed");
    let testo = if target == Stato::Annullata {
        "Pendenza annullata."
    } else {
        "Pendenza riaperta."
    };
    detail(
        state,
        current,
        &updated,
        now,
        Some(("ok".into(), testo.into())),
    )
    .await
}

/// `POST /console/pendenze/{dominio}/{iuv}/annulla` and `.../riapri`.
pub(super) async fn cambia_stato(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path((dominio, iuv, azione)): Path<(String, String, String)>,
    Form(f): Form<Motivo>,
) -> Response {
    let target = match azione.as_str() {
        "annulla" => Stato::Annullata,
        "riapri" => Stato::NonEseguita,
        _ => {
            return respond(
                &current,
                Err(not_found(format!("Nessuna azione {azione}."))),
            );
        }
    };
    let r = change_state(&state, &current, (&dominio, &iuv), target, f.motivo).await;
    respond(&current, r)
}

// ---------------------------------------------------------------------------------------------
// Receipts and anomalies

/// The receipts the journal saw arrive in `(from, to)` (SOAP paSendRT / paSendRTV2 calls),
/// newest first, of the domains `current` sees (and of `dominio` when given); at most `max`
/// events are read (then the flag is true).
async fn receipts_between(
    state: &ConsoleState,
    current: &Current,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    dominio: Option<&str>,
    max: usize,
) -> Result<(Vec<Ricevuta>, bool), Fail> {
    let store = state.store();
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    let mut read = 0;
    let mut cut = false;
    for tipo in ["paSendRTV2", "paSendRT"] {
        let mut filtro = Filtro {
            da: from,
            a: to,
            categoria: Some(Categoria::Soap),
            tipo_evento: Some(tipo.into()),
            id_dominio: dominio.map(str::to_owned),
            ..Filtro::default()
        };
        loop {
            let page = store.eventi(&filtro, 1, crate::journal::MAX_PAGE).await?;
            read += page.risultati.len();
            for e in &page.risultati {
                let (Some(d), Some(i), Some(id)) = (&e.id_dominio, &e.iuv, &e.id_ricevuta) else {
                    continue;
                };
                if !current.sees(d) || !seen.insert((d.clone(), i.clone(), id.clone())) {
                    continue;
                }
                if let Some(r) = store.ricevuta(d, i, id).await? {
                    found.push(r);
                }
            }
            match page.cursore.as_deref().and_then(crate::journal::parse_id) {
                Some(next) if read < max => filtro.cursore = Some(next),
                Some(_) => {
                    cut = true;
                    break;
                }
                None => break,
            }
        }
    }
    found.sort_by_key(|r| std::cmp::Reverse(r.received_at));
    Ok((found, cut))
}

/// The period and filters of the receipts and anomalies pages.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Periodo {
    da: Option<String>,
    a: Option<String>,
    dominio: Option<String>,
    verdetto: Option<String>,
    pagina: Option<usize>,
}

impl Periodo {
    /// The period, as instants; today (Rome) when no start is given.
    fn bounds(&self, now: DateTime<Utc>) -> Result<(NaiveDate, Option<NaiveDate>), Fail> {
        let from = day("dal", &self.da)?.unwrap_or_else(|| rome_today(now));
        Ok((from, day("al", &self.a)?))
    }

    fn domain<'a>(&'a self, current: &Current) -> Result<Option<&'a str>, Fail> {
        match nonempty(&self.dominio) {
            Some(d) if !current.sees(d) => {
                Err(forbidden(format!("Non sei abilitato a vedere l'ente {d}.")))
            }
            d => Ok(d),
        }
    }
}

fn verdetto_of(r: &Ricevuta) -> &'static str {
    match r.stato {
        ReceiptStatus::Accettata => "ACCETTATA",
        ReceiptStatus::Anomala { .. } => "ANOMALA",
        ReceiptStatus::Rifiutata { .. } => "RIFIUTATA",
    }
}

async fn receipts_of(
    state: &ConsoleState,
    current: &Current,
    p: &Periodo,
) -> Result<(Vec<Ricevuta>, bool), Fail> {
    let (from, to) = p.bounds(state.now())?;
    let (mut rs, cut) = receipts_between(
        state,
        current,
        (Some(rome_day_start(from)), to.map(rome_day_end)),
        p.domain(current)?,
        MAX_EVENTS * 4,
    )
    .await?;
    if let Some(v) = nonempty(&p.verdetto) {
        rs.retain(|r| verdetto_of(r) == v);
    }
    Ok((rs, cut))
}

/// `GET /console/ricevute`
pub(super) async fn ricevute(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(p): Query<Periodo>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = async {
        let (rs, cut) = receipts_of(&state, &current, &p).await?;
        let pagina = p.pagina.unwrap_or(1).max(1);
        let skip = (pagina - 1) * PER_PAGE;
        let (from, _) = p.bounds(state.now())?;
        let mut c = chrome(&current, "Ricevute", "ricevute");
        if cut {
            c.avviso = Some((
                "warning".into(),
                "Il periodo ha troppe ricevute: ne sono mostrate le più recenti. Restringi il periodo.".into(),
            ));
        }
        let page = Ricevute {
            c,
            da: from.format("%Y-%m-%d").to_string(),
            a: text(&p.a),
            domini: state.domini(&current, nonempty(&p.dominio)),
            verdetti: scelte(
                [
                    ("ACCETTATA", "Accettata"),
                    ("ANOMALA", "Anomala"),
                    ("RIFIUTATA", "Rifiutata (PAA_SEMANTICA)"),
                ]
                .into_iter()
                .map(|(v, l)| (v, l.to_owned())),
                nonempty(&p.verdetto),
            ),
            righe: rs.iter().skip(skip).take(PER_PAGE).map(RigaRicevuta::of).collect(),
            successiva: (rs.len() > skip + PER_PAGE)
                .then(|| with_page("/console/ricevute", raw.as_deref(), pagina + 1)),
            csv: format!("/console/ricevute.csv?{}", raw.as_deref().unwrap_or("")),
        };
        Ok(html(&page))
    }
    .await;
    respond(&current, r)
}

fn csv_body(name: &str, head: &[&str], rows: Vec<Vec<String>>) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(head);
    for r in rows {
        let _ = w.write_record(&r);
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /console/ricevute.csv`
pub(super) async fn ricevute_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(p): Query<Periodo>,
) -> Response {
    let r = async {
        let (rs, _) = receipts_of(&state, &current, &p).await?;
        let rows = rs
            .iter()
            .map(|r| {
                vec![
                    r.dominio.clone(),
                    r.iuv.clone(),
                    r.numero_avviso.clone(),
                    r.receipt_id.clone(),
                    crate::domain::money::format(r.importo),
                    RigaRicevuta::of(r).esito.to_owned(),
                    r.id_psp.clone(),
                    r.received_at.to_rfc3339(),
                    verdetto_of(r).to_owned(),
                ]
            })
            .collect();
        Ok(csv_body(
            "ricevute",
            &[
                "idDominio",
                "iuv",
                "numeroAvviso",
                "idRicevuta",
                "importo",
                "esito",
                "idPsp",
                "dataRicezione",
                "verifica",
            ],
            rows,
        ))
    }
    .await;
    respond(&current, r)
}

/// Where an anomaly was marked handled: by whom, when, the note; per (dominio, iuv, receipt).
async fn handled(
    state: &ConsoleState,
    from: DateTime<Utc>,
) -> Result<HashMap<(String, String, String), String>, Fail> {
    let mut marks = HashMap::new();
    let mut filtro = Filtro {
        da: Some(from - chrono::Duration::days(365)),
        tipo_evento: Some("POST /console/anomalie/gestita".into()),
        ..Filtro::default()
    };
    let mut read = 0;
    loop {
        let page = state
            .store()
            .eventi(&filtro, 1, crate::journal::MAX_PAGE)
            .await?;
        read += page.risultati.len();
        for e in page.risultati.iter().rev() {
            let key = (
                e.id_dominio.clone().unwrap_or_default(),
                e.iuv.clone().unwrap_or_default(),
                e.id_ricevuta.clone().unwrap_or_default(),
            );
            marks.insert(
                key,
                format!(
                    "{} il {}: {}",
                    e.principal.clone().unwrap_or_default(),
                    ora(e.data),
                    e.dettaglio_esito.clone().unwrap_or_default()
                ),
            );
        }
        match page.cursore.as_deref().and_then(crate::journal::parse_id) {
            Some(next) if read < MAX_EVENTS => filtro.cursore = Some(next),
            _ => break,
        }
    }
    Ok(marks)
}

async fn anomalies_of(
    state: &ConsoleState,
    current: &Current,
    p: &Periodo,
) -> Result<Vec<Anomalia>, Fail> {
    let (from, to) = p.bounds(state.now())?;
    let from = if nonempty(&p.da).is_none() {
        from - chrono::Days::new(30)
    } else {
        from
    };
    let (rs, _) = receipts_between(
        state,
        current,
        (Some(rome_day_start(from)), to.map(rome_day_end)),
        p.domain(current)?,
        MAX_EVENTS * 4,
    )
    .await?;
    let marks = handled(state, rome_day_start(from)).await?;
    let mut out = Vec::new();
    for r in rs {
        let motivo = match &r.stato {
            ReceiptStatus::Accettata => continue,
            ReceiptStatus::Anomala { motivo } => motivo.clone(),
            ReceiptStatus::Rifiutata { motivo } => format!("Rifiutata (PAA_SEMANTICA): {motivo}"),
        };
        let posizione = state.store().pendenza(&r.dominio, &r.iuv).await?.is_some();
        let key = (r.dominio.clone(), r.iuv.clone(), r.receipt_id.clone());
        out.push(Anomalia {
            motivo: if posizione {
                motivo
            } else {
                format!("Avviso mai caricato: {motivo}")
            },
            gestita: marks.get(&key).cloned(),
            dominio: r.dominio,
            iuv: r.iuv,
            ricevuta: r.receipt_id,
            data: ora(r.received_at),
            posizione,
        });
    }
    Ok(out)
}

/// `GET /console/anomalie`
pub(super) async fn anomalie(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(p): Query<Periodo>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = async {
        let righe = anomalies_of(&state, &current, &p).await?;
        let page = Anomalie {
            c: chrome(&current, "Anomalie", "anomalie"),
            da: text(&p.da),
            a: text(&p.a),
            righe,
            csv: format!("/console/anomalie.csv?{}", raw.as_deref().unwrap_or("")),
        };
        Ok(html(&page))
    }
    .await;
    respond(&current, r)
}

/// `GET /console/anomalie.csv`
pub(super) async fn anomalie_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(p): Query<Periodo>,
) -> Response {
    let r = async {
        let rows = anomalies_of(&state, &current, &p)
            .await?
            .into_iter()
            .map(|a| {
                vec![
                    a.dominio,
                    a.iuv,
                    a.ricevuta,
                    a.data,
                    a.motivo,
                    a.gestita.unwrap_or_default(),
                ]
            })
            .collect();
        Ok(csv_body(
            "anomalie",
            &[
                "idDominio",
                "iuv",
                "idRicevuta",
                "data",
                "motivo",
                "gestione",
            ],
            rows,
        ))
    }
    .await;
    respond(&current, r)
}

/// The form that marks an anomaly handled.
#[derive(Debug, Deserialize)]
pub(super) struct Gestita {
    dominio: String,
    iuv: String,
    ricevuta: Option<String>,
    nota: Option<String>,
}

/// `POST /console/anomalie/gestita`: the note goes to the journal.
pub(super) async fn anomalia_gestita(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Form(f): Form<Gestita>,
) -> Response {
    let r = async {
        if !current.acts() {
            return Err(forbidden("Il tuo profilo è in sola lettura."));
        }
        if !current.sees(&f.dominio) {
            return Err(forbidden(format!(
                "Non sei abilitato a gestire l'ente {}.",
                f.dominio
            )));
        }
        let nota = f
            .nota
            .map(|n| n.trim().chars().take(500).collect::<String>())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("Scrivi una nota."))?;
        state
            .record(&current, "anomalie/gestita", |e| {
                e.id_dominio = Some(f.dominio.clone());
                e.iuv = Some(f.iuv.clone());
                e.id_ricevuta = f.ricevuta.clone().filter(|r| !r.is_empty());
                e.dettaglio_esito = Some(nota);
            })
            .await;
        Ok(Redirect::to("/console/anomalie").into_response())
    }
    .await;
    respond(&current, r)
}

// ---------------------------------------------------------------------------------------------
// Reconciliation

/// The flows page's filters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FlussiForm {
    dominio: Option<String>,
    stato: Option<String>,
    da: Option<String>,
    a: Option<String>,
    pagina: Option<usize>,
}

/// The flows of the domains `current` sees that match `f`, newest first.
async fn flows_of(
    state: &ConsoleState,
    current: &Current,
    f: &FlussiForm,
) -> Result<Vec<crate::domain::fdr::Flusso>, Fail> {
    let dominio = nonempty(&f.dominio).map(str::to_owned);
    if let Some(d) = &dominio
        && !current.sees(d)
    {
        return Err(forbidden(format!("Non sei abilitato a vedere l'ente {d}.")));
    }
    let q = crate::api::ragioneria::FlussiQuery {
        id_dominio: dominio,
        stato_flusso_rendicontazione: nonempty(&f.stato).map(str::to_owned),
        data_da: nonempty(&f.da).map(str::to_owned),
        data_a: nonempty(&f.a).map(str::to_owned),
        ..Default::default()
    };
    let flows = crate::api::ragioneria::filtered_flows(&state.api, &q).await?;
    Ok(flows
        .into_iter()
        .filter(|fl| current.sees(&fl.key.dominio))
        .collect())
}

/// `GET /console/rendicontazioni`
pub(super) async fn rendicontazioni(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(f): Query<FlussiForm>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = async {
        let flows = flows_of(&state, &current, &f).await?;
        let pagina = f.pagina.unwrap_or(1).max(1);
        let skip = (pagina - 1) * PER_PAGE;
        Ok(html(&Rendicontazioni {
            c: chrome(&current, "Rendicontazioni", "rendicontazioni"),
            domini: state.domini(&current, nonempty(&f.dominio)),
            stati: scelte(
                [("Acquisito", "Acquisito"), ("Anomalo", "Anomalo")]
                    .into_iter()
                    .map(|(v, l)| (v, l.to_owned())),
                nonempty(&f.stato),
            ),
            da: text(&f.da),
            a: text(&f.a),
            righe: flows
                .iter()
                .skip(skip)
                .take(PER_PAGE)
                .map(RigaFlusso::of)
                .collect(),
            successiva: (flows.len() > skip + PER_PAGE)
                .then(|| with_page("/console/rendicontazioni", raw.as_deref(), pagina + 1)),
            csv: format!(
                "/console/rendicontazioni.csv?{}",
                raw.as_deref().unwrap_or("")
            ),
        }))
    }
    .await;
    respond(&current, r)
}

/// `GET /console/rendicontazioni.csv`: the columns of the Ragioneria API's flow CSV.
pub(super) async fn rendicontazioni_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(f): Query<FlussiForm>,
) -> Response {
    let r = async {
        let flows = flows_of(&state, &current, &f).await?;
        Ok(csv_body(
            "flussi",
            crate::api::ragioneria::FLOW_CSV,
            flows.iter().map(crate::api::ragioneria::flow_row).collect(),
        ))
    }
    .await;
    respond(&current, r)
}

// ---------------------------------------------------------------------------------------------
// Outbox

/// The outbox page's filter.
#[derive(Debug, Default, Deserialize)]
pub(super) struct OutboxQuery {
    stato: Option<String>,
    pagina: Option<usize>,
    /// An entry just queued again (the re-send's redirect says so).
    reinviata: Option<u64>,
}

async fn outbox_entries(
    state: &ConsoleState,
    current: &Current,
    q: &OutboxQuery,
    (skip, take): (usize, usize),
) -> Result<(Vec<crate::domain::OutboxEntry>, bool), Fail> {
    let wanted = nonempty(&q.stato).map(str::to_owned);
    if let Some(s) = &wanted
        && !matches!(s.as_str(), "pending" | "failing" | "dead")
    {
        return Err(bad("stato: pending, failing o dead"));
    }
    Ok(state
        .store()
        .outbox_page(
            &|e| {
                current.sees(&e.dominio)
                    && match &wanted {
                        Some(s) => views::stato_outbox(e) == s,
                        None => e.stato != OutboxState::Delivered,
                    }
            },
            skip,
            take,
        )
        .await?)
}

/// `GET /console/outbox`
pub(super) async fn outbox(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(q): Query<OutboxQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = async {
        let pagina = q.pagina.unwrap_or(1).max(1);
        let (entries, more) =
            outbox_entries(&state, &current, &q, ((pagina - 1) * PER_PAGE, PER_PAGE)).await?;
        let mut connettori: Vec<String> = entries
            .iter()
            .filter(|e| e.stato != OutboxState::Delivered)
            .filter_map(|e| e.id_a2a.clone())
            .collect();
        connettori.sort();
        connettori.dedup();
        let mut c = chrome(&current, "Notifiche al gestionale", "outbox");
        if let Some(id) = q.reinviata {
            c.avviso = Some((
                "ok".into(),
                format!("Notifica {id} rimessa in coda: parte subito."),
            ));
        }
        let page = Outbox {
            c,
            stati: scelte(
                [
                    ("pending", "In attesa"),
                    ("failing", "In errore"),
                    ("dead", "Abbandonate"),
                ]
                .into_iter()
                .map(|(v, l)| (v, l.to_owned())),
                nonempty(&q.stato),
            ),
            righe: entries.iter().map(RigaOutbox::of).collect(),
            connettori,
            successiva: more.then(|| with_page("/console/outbox", raw.as_deref(), pagina + 1)),
            csv: format!("/console/outbox.csv?{}", raw.as_deref().unwrap_or("")),
        };
        Ok(html(&page))
    }
    .await;
    respond(&current, r)
}

/// `GET /console/outbox.csv`
pub(super) async fn outbox_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(q): Query<OutboxQuery>,
) -> Response {
    let r = async {
        let (entries, _) = outbox_entries(&state, &current, &q, (0, usize::MAX)).await?;
        let rows = entries
            .iter()
            .map(|e| {
                vec![
                    e.id.to_string(),
                    views::stato_outbox(e).to_owned(),
                    e.dominio.clone(),
                    e.iuv.clone(),
                    e.receipt_id.clone(),
                    e.id_a2a.clone().unwrap_or_default(),
                    e.tentativi.to_string(),
                    e.created_at.to_rfc3339(),
                    e.next_attempt_at.to_rfc3339(),
                    e.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        Ok(csv_body(
            "notifiche",
            &[
                "id",
                "stato",
                "idDominio",
                "iuv",
                "idRicevuta",
                "idA2A",
                "tentativi",
                "dataCreazione",
                "prossimoTentativo",
                "ultimoErrore",
            ],
            rows,
        ))
    }
    .await;
    respond(&current, r)
}

/// Queues entry `id` again now; its domain must be visible and its connector configured.
async fn requeue(state: &ConsoleState, current: &Current, id: u64) -> Result<(), Fail> {
    let now = state.now();
    let entry = state
        .store()
        .outbox_entry(id)
        .await?
        .ok_or_else(|| not_found(format!("Nessuna notifica {id}.")))?;
    if !current.sees(&entry.dominio) {
        return Err(forbidden(format!(
            "Non sei abilitato a gestire l'ente {}.",
            entry.dominio
        )));
    }
    if let Err(why) = state.config().connettore(entry.id_a2a.as_deref()) {
        return Err(bad(format!("La notifica {id} non si può inviare: {why}")));
    }
    crate::outbox::requeue(state.store(), id, now).await?;
    state
        .record(current, "outbox/reinvia", |e| {
            e.id_dominio = Some(entry.dominio.clone());
            e.iuv = Some(entry.iuv.clone());
            e.id_ricevuta = Some(entry.receipt_id.clone());
            e.id_a2a = entry.id_a2a.clone();
            e.id_outbox = Some(id);
        })
        .await;
    tracing::info!(outbox_id = id, operator = %current.op.username, "receipt queued again from the console");
    Ok(())
}

/// The connector of "re-send all".
#[derive(Debug, Deserialize)]
pub(super) struct Connettore {
    applicazione: Option<String>,
}

/// `POST /console/outbox/{id}/reinvia`
pub(super) async fn reinvia(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        if !current.acts() {
            return Err(forbidden("Il tuo profilo è in sola lettura."));
        }
        requeue(&state, &current, id).await?;
        state.store().sync().await?;
        state.store().wake_outbox();
        let to = crate::api::next_link("/console/outbox", None, &format!("reinviata={id}"));
        Ok(Redirect::to(&back(&headers, &to)).into_response())
    }
    .await;
    respond(&current, r)
}

/// The page a form was posted from (same origin, a console page), else `fallback`.
/// The page a form was posted from (same origin, a console page) with `fallback`'s query
/// added (`reinviata=ID`, which the page shows), else `fallback`.
fn back(headers: &HeaderMap, fallback: &str) -> String {
    let flag = fallback.split_once('?').map_or("", |(_, q)| q);
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/console").map(|at| r[at..].to_owned()))
        .filter(|p| !p.contains("//"))
        .map(|p| {
            let (path, query) = p.split_once('?').unwrap_or((&p, ""));
            let kept: Vec<&str> = query
                .split('&')
                .filter(|q| !q.is_empty() && !q.starts_with("reinviata="))
                .chain([flag])
                .collect();
            format!("{path}?{}", kept.join("&"))
        })
        .unwrap_or_else(|| fallback.to_owned())
}

/// `POST /console/outbox/reinvia-tutte`: every entry not delivered of one connector.
pub(super) async fn reinvia_tutte(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Form(f): Form<Connettore>,
) -> Response {
    let r = async {
        if !current.acts() {
            return Err(forbidden("Il tuo profilo è in sola lettura."));
        }
        let app = f
            .applicazione
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("Scegli l'applicazione."))?;
        let (entries, _) = state
            .store()
            .outbox_page(
                &|e| {
                    e.stato != OutboxState::Delivered
                        && e.id_a2a.as_deref() == Some(app.as_str())
                        && current.sees(&e.dominio)
                },
                0,
                usize::MAX,
            )
            .await?;
        for e in &entries {
            requeue(&state, &current, e.id).await?;
        }
        state.store().sync().await?;
        state.store().wake_outbox();
        Ok(Redirect::to("/console/outbox").into_response())
    }
    .await;
    respond(&current, r)
}

// ---------------------------------------------------------------------------------------------
// Journal

/// The journal page's filters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct GiornaleQuery {
    da: Option<String>,
    a: Option<String>,
    dominio: Option<String>,
    iuv: Option<String>,
    tipo: Option<String>,
    categoria: Option<String>,
    esito: Option<String>,
    ricevuta: Option<String>,
    applicazione: Option<String>,
    cursore: Option<String>,
}

fn journal_filter(current: &Current, q: &GiornaleQuery) -> Result<Filtro, Fail> {
    let dominio = match nonempty(&q.dominio) {
        Some(d) if !current.sees(d) => {
            return Err(forbidden(format!("Non sei abilitato a vedere l'ente {d}.")));
        }
        Some(d) => Some(d.to_owned()),
        // An operator held to some domains reads one of them at a time: the first unless
        // they choose.
        None => current.op.allowlist().and_then(|l| l.first().cloned()),
    };
    let categoria = match nonempty(&q.categoria) {
        None => None,
        Some(c) => Some(Categoria::parse(c).ok_or_else(|| bad("categoria: SOAP, REST o OUTBOX"))?),
    };
    let esito = match nonempty(&q.esito) {
        None => None,
        Some(e) => Some(Esito::parse(e).ok_or_else(|| bad("esito: OK, KO o FAIL"))?),
    };
    let iuv = nonempty(&q.iuv).map(|v| {
        if v.len() == 18 {
            NoticeNumber::parse(v).map_or_else(|_| v.to_owned(), |n| n.iuv().to_owned())
        } else {
            v.to_owned()
        }
    });
    Ok(Filtro {
        da: day("dal", &q.da)?.map(rome_day_start),
        a: day("al", &q.a)?.map(rome_day_end),
        cursore: match nonempty(&q.cursore) {
            None => None,
            Some(c) => Some(crate::journal::parse_id(c).ok_or_else(|| bad("cursore non valido"))?),
        },
        categoria,
        tipo_evento: nonempty(&q.tipo).map(str::to_owned),
        esito,
        id_dominio: dominio,
        iuv,
        id_ricevuta: nonempty(&q.ricevuta).map(str::to_owned),
        id_a2a: nonempty(&q.applicazione).map(str::to_owned),
        id_pendenza: None,
    })
}

/// Whether a journal list shows `e` to `current`: an event of a creditor they see; one that
/// names no creditor (a REST call by idA2A / idPendenza, a bulk load) only to an operator who
/// sees every creditor, since it may carry another creditor's data.
fn lists_event(current: &Current, e: &Evento) -> bool {
    match &e.id_dominio {
        Some(d) => current.sees(d),
        None => current.op.allowlist().is_none(),
    }
}

/// Whether `current` may open event `e`: as [`lists_event`], and also an event without a
/// creditor that names a position (idA2A, idPendenza) of a creditor they see (a position's
/// page lists its REST calls).
async fn may_open_event(state: &ConsoleState, current: &Current, e: &Evento) -> Result<bool, Fail> {
    if lists_event(current, e) {
        return Ok(true);
    }
    if e.id_dominio.is_some() {
        return Ok(false);
    }
    let (Some(app), Some(id)) = (&e.id_a2a, &e.id_pendenza) else {
        return Ok(false);
    };
    Ok(state
        .store()
        .pendenza_of_app(app, id)
        .await?
        .is_some_and(|p| current.sees(&p.dominio)))
}

/// `GET /console/giornale`
pub(super) async fn giornale(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(q): Query<GiornaleQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = async {
        let filtro = journal_filter(&current, &q)?;
        let page = state.store().eventi(&filtro, 1, 50).await?;
        let successiva = page.cursore.as_ref().map(|c| {
            crate::api::next_link("/console/giornale", raw.as_deref(), &format!("cursore={c}"))
        });
        let page = Giornale {
            c: chrome(&current, "Giornale degli eventi", "giornale"),
            filtri: vec![
                ("da", "Dal", text(&q.da), "date"),
                ("a", "Al", text(&q.a), "date"),
                ("iuv", "IUV o numero avviso", text(&q.iuv), "text"),
                ("tipo", "Operazione", text(&q.tipo), "text"),
                ("ricevuta", "Ricevuta", text(&q.ricevuta), "text"),
                (
                    "applicazione",
                    "Applicazione",
                    text(&q.applicazione),
                    "text",
                ),
            ],
            domini: state.domini(&current, filtro.id_dominio.as_deref()),
            categorie: scelte(
                ["SOAP", "REST", "OUTBOX"]
                    .into_iter()
                    .map(|v| (v, v.to_owned())),
                nonempty(&q.categoria),
            ),
            esiti: scelte(
                ["OK", "KO", "FAIL"].into_iter().map(|v| (v, v.to_owned())),
                nonempty(&q.esito),
            ),
            righe: page
                .risultati
                .iter()
                .filter(|e| lists_event(&current, e))
                .map(RigaEvento::of)
                .collect(),
            successiva,
            csv: format!("/console/giornale.csv?{}", raw.as_deref().unwrap_or("")),
        };
        Ok(html(&page))
    }
    .await;
    respond(&current, r)
}

/// `GET /console/giornale.csv`: the events of the filters (at most [`MAX_EVENTS`]).
pub(super) async fn giornale_csv(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Query(q): Query<GiornaleQuery>,
) -> Response {
    let r = async {
        let mut filtro = journal_filter(&current, &q)?;
        let mut rows = Vec::new();
        loop {
            let page = state
                .store()
                .eventi(&filtro, 1, crate::journal::MAX_PAGE)
                .await?;
            for e in page.risultati.iter().filter(|e| lists_event(&current, e)) {
                rows.push(vec![
                    e.id.clone(),
                    e.data.to_rfc3339(),
                    e.componente.clone(),
                    e.categoria_evento.as_str().to_owned(),
                    e.tipo_evento.clone(),
                    e.esito.as_str().to_owned(),
                    e.sottotipo_esito.clone().unwrap_or_default(),
                    e.dettaglio_esito.clone().unwrap_or_default(),
                    e.durata_evento.to_string(),
                    e.id_dominio.clone().unwrap_or_default(),
                    e.iuv.clone().unwrap_or_default(),
                    e.id_ricevuta.clone().unwrap_or_default(),
                    e.id_a2a.clone().unwrap_or_default(),
                    e.id_pendenza.clone().unwrap_or_default(),
                ]);
            }
            match page.cursore.as_deref().and_then(crate::journal::parse_id) {
                Some(next) if rows.len() < MAX_EVENTS => filtro.cursore = Some(next),
                _ => break,
            }
        }
        Ok(csv_body(
            "eventi",
            &[
                "id",
                "data",
                "componente",
                "categoria",
                "tipo",
                "esito",
                "sottotipoEsito",
                "dettaglioEsito",
                "durataMs",
                "idDominio",
                "iuv",
                "idRicevuta",
                "idA2A",
                "idPendenza",
            ],
            rows,
        ))
    }
    .await;
    respond(&current, r)
}

/// `GET /console/giornale/{id}`
pub(super) async fn evento(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let e = state
            .store()
            .evento(&id)
            .await?
            .ok_or_else(|| not_found(format!("Nessun evento {id}.")))?;
        if !may_open_event(&state, &current, &e).await? {
            return Err(forbidden(
                "Non sei abilitato a vedere questo evento: riguarda un ente che non segui.",
            ));
        }
        let json = serde_json::to_string_pretty(&e).unwrap_or_default();
        Ok(html(&EventoPagina {
            c: chrome(&current, "Evento", "giornale"),
            e: RigaEvento::of(&e),
            json,
        }))
    }
    .await;
    respond(&current, r)
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// `GET /console/configurazione`: what the station answers, no secret shown.
pub(super) async fn configurazione(
    State(state): State<ConsoleState>,
    Extension(current): Extension<Current>,
) -> Response {
    let c = state.config();
    let mut sezioni = vec![Sezione {
        titolo: "Intermediario e stazioni".into(),
        righe: std::iter::once((
            "Intermediario".to_owned(),
            format!("{} {}", c.intermediario.id, c.intermediario.denominazione),
        ))
        .chain(
            c.stazioni
                .iter()
                .map(|s| (format!("Stazione {}", s.id), s.domini.join(", "))),
        )
        .collect(),
    }];
    for d in c.domini.iter().filter(|d| current.sees(&d.id)) {
        let mut righe = vec![
            ("Codice fiscale".to_owned(), d.id.clone()),
            ("Cifra ausiliaria".to_owned(), d.aux_digit.to_string()),
            (
                "Codici di segregazione".to_owned(),
                d.segregation_codes.join(", "),
            ),
        ];
        righe.extend(
            d.iban
                .iter()
                .map(|a| ("Conto di accredito".to_owned(), a.iban.clone())),
        );
        righe.extend(d.entrate.iter().map(|e| {
            (
                format!("Entrata {}", e.id),
                format!(
                    "{} · IBAN {} · {}",
                    e.descrizione, e.iban, e.codice_contabilita
                ),
            )
        }));
        sezioni.push(Sezione {
            titolo: format!("Ente {}", d.ragione_sociale),
            righe,
        });
    }
    sezioni.push(Sezione {
        titolo: "Tipi pendenza".into(),
        righe: c
            .tipi_pendenza
            .iter()
            .map(|t| {
                (
                    t.id.clone(),
                    format!(
                        "{}{}",
                        t.descrizione,
                        t.cod_entrata
                            .as_ref()
                            .map(|e| format!(" · entrata {e}"))
                            .unwrap_or_default()
                    ),
                )
            })
            .collect(),
    });
    sezioni.push(Sezione {
        titolo: "Applicazioni".into(),
        righe: c
            .applicazioni
            .iter()
            .map(|a| {
                (
                    a.id_a2a.clone(),
                    format!(
                        "enti {} · tipi {} · {}",
                        a.domini.join(", "),
                        a.tipi_pendenza.join(", "),
                        a.connettore.as_ref().map_or_else(
                            || "nessun connettore".to_owned(),
                            |k| format!("connettore {}", k.url)
                        )
                    ),
                )
            })
            .collect(),
    });
    sezioni.push(Sezione {
        titolo: "Servizi (pagamenti spontanei)".into(),
        righe: c
            .servizi
            .iter()
            .map(|s| {
                (
                    s.id_servizio.clone(),
                    format!(
                        "{} · ente {} · tipo {}",
                        s.descrizione, s.dominio, s.tipo_pendenza
                    ),
                )
            })
            .collect(),
    });
    html(&Configurazione {
        c: chrome(&current, "Configurazione", "configurazione"),
        sezioni,
    })
}
