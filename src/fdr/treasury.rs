//! Treasury matching (*riconciliazione*): one movement of the creditor's bank account, named by
//! its causale, a flow id or an IUV, checked against what Varco settled and recorded once;
//! the settlements it covers become collected (`INCASSATA`). Refusals carry GovPay's codes.

use super::settle::scope;
use crate::config::Config;
use crate::domain::fdr::{
    Causale, Riconciliazione, Riscossione, StatoFlusso, StatoRiscossione, parse_causale,
};
use crate::domain::{Cents, EsitoPagamento};
use crate::store::fdr::{FdrWrite, StoredFlow};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};

/// A movement as the caller describes it (GovPay's `NuovaRiconciliazione`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movimento {
    /// Creditor.
    pub dominio: String,
    /// The caller's id of the movement.
    pub id: String,
    /// The transfer's remittance information.
    pub causale: Option<String>,
    /// The single payment, when named directly.
    pub iuv: Option<String>,
    /// The flow, when named directly.
    pub id_flusso: Option<String>,
    /// Amount.
    pub importo: Cents,
    /// The SEPA credit transfer's reference.
    pub sct: String,
    /// Value date.
    pub data_valuta: Option<NaiveDate>,
    /// Booking date.
    pub data_contabile: Option<NaiveDate>,
    /// The account credited.
    pub conto_accredito: Option<String>,
}

/// Why a movement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rifiuto {
    /// 021401: the causale follows neither of AgID's forms.
    CausaleNonConforme,
    /// 021402: no payment for the IUV.
    PagamentoNonTrovato,
    /// 021403: several payments for the IUV.
    PiuPagamenti,
    /// 021404: the flow has anomalies in its header.
    FlussoAnomalo,
    /// 021405: no such flow.
    FlussoNonTrovato,
    /// 021406: the payment was already collected.
    GiaIncassato,
    /// 021407: the amounts differ (movement, expected).
    ImportoDiverso(Cents, Cents),
    /// 021408: the request names its target more than once, or not at all.
    Sintassi(String),
    /// 021409: the id is taken by a different movement.
    Duplicato,
    /// 021410: the creditor is not served here.
    DominioSconosciuto,
    /// 021412: the account is not the creditor's.
    IbanSconosciuto,
    /// 021413: the flow was already collected by another movement.
    FlussoGiaRiconciliato(String),
}

impl Rifiuto {
    /// GovPay's code.
    pub fn codice(&self) -> &'static str {
        match self {
            Rifiuto::CausaleNonConforme => "021401",
            Rifiuto::PagamentoNonTrovato => "021402",
            Rifiuto::PiuPagamenti => "021403",
            Rifiuto::FlussoAnomalo => "021404",
            Rifiuto::FlussoNonTrovato => "021405",
            Rifiuto::GiaIncassato => "021406",
            Rifiuto::ImportoDiverso(..) => "021407",
            Rifiuto::Sintassi(_) => "021408",
            Rifiuto::Duplicato => "021409",
            Rifiuto::DominioSconosciuto => "021410",
            Rifiuto::IbanSconosciuto => "021412",
            Rifiuto::FlussoGiaRiconciliato(_) => "021413",
        }
    }

    /// What went wrong, for the caller.
    pub fn descrizione(&self) -> String {
        use crate::domain::money::format;
        match self {
            Rifiuto::CausaleNonConforme => {
                "La causale non identifica un flusso (/PUR/LGPE-RIVERSAMENTO/URI/<idFlusso>) ne' un pagamento (/RFB/<IUV>, /RFS/<RF>)".into()
            }
            Rifiuto::PagamentoNonTrovato => "Nessun pagamento eseguito per lo IUV".into(),
            Rifiuto::PiuPagamenti => "Piu' pagamenti eseguiti per lo IUV".into(),
            Rifiuto::FlussoAnomalo => "Il flusso di rendicontazione e' anomalo".into(),
            Rifiuto::FlussoNonTrovato => "Flusso di rendicontazione non acquisito".into(),
            Rifiuto::GiaIncassato => "Il pagamento risulta gia' incassato".into(),
            Rifiuto::ImportoDiverso(got, due) => format!(
                "Importo del movimento {} diverso dall'atteso {}",
                format(*got),
                format(*due)
            ),
            Rifiuto::Sintassi(why) => why.clone(),
            Rifiuto::Duplicato => {
                "Identificativo gia' usato per un movimento con altri dati".into()
            }
            Rifiuto::DominioSconosciuto => "Dominio non servito da questa stazione".into(),
            Rifiuto::IbanSconosciuto => "Conto di accredito non censito per il dominio".into(),
            Rifiuto::FlussoGiaRiconciliato(by) => {
                format!("Flusso gia' riconciliato dal movimento {by}")
            }
        }
    }
}

/// Why [`riconcilia`] did not record a movement.
#[derive(Debug, thiserror::Error)]
pub enum TreasuryError {
    /// Refused, with GovPay's code.
    #[error("{}: {}", .0.codice(), .0.descrizione())]
    Refused(Rifiuto),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Rifiuto> for TreasuryError {
    fn from(r: Rifiuto) -> Self {
        TreasuryError::Refused(r)
    }
}

/// Records `m`, or returns the movement already recorded under its id when it is the same
/// one (`false`: nothing written).
pub async fn riconcilia(
    store: &Store,
    config: &Config,
    m: Movimento,
    now: DateTime<Utc>,
) -> Result<(Riconciliazione, bool), TreasuryError> {
    let dominio = config
        .dominio(&m.dominio)
        .ok_or(Rifiuto::DominioSconosciuto)?;
    if let Some(iban) = &m.conto_accredito {
        let known = dominio.has_account(iban)
            || dominio
                .entrate
                .iter()
                .any(|e| &e.iban == iban || e.iban_appoggio.as_ref() == Some(iban));
        if !known {
            return Err(Rifiuto::IbanSconosciuto.into());
        }
    }
    let target = target(&m)?;
    let guard = store
        .fdr_lock(&scope(&m.dominio), true)
        .await?
        .ok_or_else(|| StoreError::Unavailable("reconciliation scope not granted".into()))?;
    let outcome = decide(store, m, target, now).await;
    guard.release().await;
    outcome
}

/// What a movement collects: named directly, or read from its causale.
fn target(m: &Movimento) -> Result<Causale, Rifiuto> {
    match (&m.iuv, &m.id_flusso, &m.causale) {
        (Some(_), Some(_), _) => Err(Rifiuto::Sintassi(
            "indicare iuv oppure idFlussoRendicontazione, non entrambi".into(),
        )),
        (Some(iuv), None, _) => Ok(Causale::Iuv(
            crate::domain::fdr::creditor_reference_iuv(iuv).unwrap_or_else(|| iuv.clone()),
        )),
        (None, Some(id), _) => Ok(Causale::Flusso(id.clone())),
        (None, None, Some(causale)) => parse_causale(causale).ok_or(Rifiuto::CausaleNonConforme),
        (None, None, None) => Err(Rifiuto::Sintassi(
            "indicare causale, iuv o idFlussoRendicontazione".into(),
        )),
    }
}

fn same_request(stored: &Riconciliazione, m: &Movimento) -> bool {
    stored.causale == m.causale
        && (m.iuv.is_none() || stored.iuv == m.iuv)
        && (m.id_flusso.is_none() || stored.id_flusso == m.id_flusso)
        && stored.importo == m.importo
        && stored.sct == m.sct
}

async fn decide(
    store: &Store,
    m: Movimento,
    target: Causale,
    now: DateTime<Utc>,
) -> Result<(Riconciliazione, bool), TreasuryError> {
    if let Some(stored) = store.riconciliazione(&m.dominio, &m.id).await? {
        return if same_request(&stored, &m) {
            Ok((stored, false))
        } else {
            Err(Rifiuto::Duplicato.into())
        };
    }
    let mut movement = Riconciliazione {
        dominio: m.dominio.clone(),
        id: m.id.clone(),
        causale: m.causale.clone(),
        iuv: None,
        id_flusso: None,
        importo: m.importo,
        sct: m.sct.clone(),
        trn: None,
        data_valuta: m.data_valuta,
        data_contabile: m.data_contabile,
        conto_accredito: m.conto_accredito.clone(),
        data: now,
        riscossioni: Vec::new(),
    };
    let mut write = FdrWrite::default();
    match target {
        Causale::Flusso(id) => {
            let mut flows: Vec<_> = store
                .flussi_by_id(&m.dominio, &id)
                .await?
                .into_iter()
                .filter(|f| !f.obsoleto)
                .collect();
            let Some(mut flusso) = flows.pop() else {
                return Err(Rifiuto::FlussoNonTrovato.into());
            };
            if flusso.stato == StatoFlusso::Anomalo {
                return Err(Rifiuto::FlussoAnomalo.into());
            }
            if let Some(by) = &flusso.incasso {
                return Err(Rifiuto::FlussoGiaRiconciliato(by.clone()).into());
            }
            if flusso.importo_totale != m.importo {
                return Err(Rifiuto::ImportoDiverso(m.importo, flusso.importo_totale).into());
            }
            let linee = store.flusso_linee(&flusso.key).await?.unwrap_or_default();
            let iuvs: std::collections::BTreeSet<&str> =
                linee.iter().map(|l| l.iuv.as_str()).collect();
            for iuv in iuvs {
                for mut r in store.riscossioni(&m.dominio, iuv).await? {
                    if r.flusso.as_ref() == Some(&flusso.key) {
                        collect(&mut r, &m.id);
                        movement
                            .riscossioni
                            .push((r.iuv.clone(), r.iur.clone(), r.indice));
                        write.riscossioni.push(r);
                    }
                }
            }
            movement.id_flusso = Some(id);
            movement.trn = Some(flusso.trn.clone());
            flusso.incasso = Some(m.id.clone());
            write.flows.push(StoredFlow {
                flusso,
                linee: None,
                raw: None,
            });
        }
        Causale::Iuv(iuv) => {
            let paid: Vec<_> = store
                .ricevute(&m.dominio, &iuv)
                .await?
                .into_iter()
                .filter(|r| r.esito_pagamento == EsitoPagamento::Ok)
                .collect();
            let receipt = match paid.as_slice() {
                [] => return Err(Rifiuto::PagamentoNonTrovato.into()),
                [one] => one,
                _ => return Err(Rifiuto::PiuPagamenti.into()),
            };
            let settled = store.riscossioni(&m.dominio, &iuv).await?;
            let mine: Vec<_> = receipt
                .transfers
                .iter()
                .filter(|t| t.dominio == m.dominio)
                .collect();
            let due: Cents = mine.iter().map(|t| t.importo).sum();
            let before = |indice: u8| {
                settled
                    .iter()
                    .find(|r| r.iur == receipt.receipt_id && r.indice == indice)
            };
            if mine.iter().any(|t| {
                before(t.id_transfer).is_some_and(|r| r.stato == StatoRiscossione::Incassata)
            }) {
                return Err(Rifiuto::GiaIncassato.into());
            }
            if due != m.importo {
                return Err(Rifiuto::ImportoDiverso(m.importo, due).into());
            }
            for t in mine {
                let mut r = before(t.id_transfer)
                    .cloned()
                    .unwrap_or_else(|| Riscossione {
                        dominio: m.dominio.clone(),
                        iuv: iuv.clone(),
                        iur: receipt.receipt_id.clone(),
                        indice: t.id_transfer,
                        importo: t.importo,
                        ricevuta: Some(receipt.receipt_id.clone()),
                        esito: None,
                        flusso: None,
                        data_flusso: None,
                        data: crate::domain::rome_today(receipt.received_at),
                        stato: StatoRiscossione::Riscossa,
                        incasso: None,
                    });
                collect(&mut r, &m.id);
                movement
                    .riscossioni
                    .push((r.iuv.clone(), r.iur.clone(), r.indice));
                write.riscossioni.push(r);
            }
            movement.iuv = Some(iuv);
        }
    }
    write.riconciliazioni.push(movement.clone());
    store.fdr_write(&write).await?;
    store.sync().await?;
    Ok((movement, true))
}

fn collect(r: &mut Riscossione, id: &str) {
    r.stato = StatoRiscossione::Incassata;
    r.incasso = Some(id.to_owned());
}
