//! paSendRT / paSendRTV2: the receipt. Never lose one.
//!
//! The receipt, the position's new state and an outbox entry are written in one transaction,
//! then flushed (group commit) before `OK` goes back. The same receiptId again is answered as
//! before and stored once. A receipt Varco cannot match to an open position (already paid,
//! cancelled, unknown: stand-in, broadcast) is stored and flagged, and answered `OK`: the
//! money was collected and pagoPA will not send it again after its retries. Only a receipt that
//! contradicts itself (Σ transfers ≠ paymentAmount, creditorReferenceId ≠ the notice's IUV) is
//! answered `PAA_SEMANTICA`, and it is still kept for an operator.

use super::{Nodo, system_error};
use crate::domain::NoticeNumber;
use crate::domain::money::format as format_cents;
use crate::domain::{Pendenza, ReceiptStatus, ReceiptTransfer, ReceiptVersion, Ricevuta, Stato};
use crate::soap::messages::{PaSendRtReq, PaSendRtRes, PaSendRtV2Request};
use crate::soap::schema::Outcome;
use crate::soap::{Fault, FaultCode, Operation, Response};
use crate::store::ReceiptApplied;
use chrono::{DateTime, Utc};

/// A receipt of either version, reduced to what the rules need.
pub struct Incoming {
    op: Operation,
    ricevuta: Ricevuta,
}

fn build(
    op: Operation,
    id_station: &str,
    raw: &[u8],
    version: ReceiptVersion,
    common: Common<'_>,
    transfers: Vec<ReceiptTransfer>,
) -> Incoming {
    let notice = common.notice_number;
    // The IUV is the notice number's; when the number is not a valid NAV at all, fall back to
    // creditorReferenceId so the receipt is still stored (and then flagged).
    let iuv = NoticeNumber::parse(notice)
        .map(|n| n.iuv().to_owned())
        .unwrap_or_else(|_| common.creditor_reference_id.replace('/', "_"));
    Incoming {
        op,
        ricevuta: Ricevuta {
            dominio: common.fiscal_code.to_owned(),
            iuv,
            receipt_id: common.receipt_id.to_owned(),
            numero_avviso: notice.to_owned(),
            creditor_reference_id: common.creditor_reference_id.to_owned(),
            versione: version,
            esito_pagamento: common.outcome.as_str().to_owned(),
            importo: common.amount,
            id_psp: common.id_psp.to_owned(),
            psp_denominazione: common.psp_name.to_owned(),
            id_canale: common.id_channel.to_owned(),
            descrizione_canale: common.channel_description.to_owned(),
            metodo_pagamento: common.payment_method.map(str::to_owned),
            data_pagamento: common.payment_date_time.map(str::to_owned),
            commissioni: common.fee,
            stand_in: common.stand_in,
            transfers,
            id_stazione: id_station.to_owned(),
            versante: common.payer.map(super::mapping::soggetto),
            received_at: DateTime::<Utc>::MIN_UTC,
            stato: ReceiptStatus::Accettata,
            xml: String::from_utf8_lossy(raw).into_owned(),
        },
    }
}

struct Common<'a> {
    receipt_id: &'a str,
    notice_number: &'a str,
    fiscal_code: &'a str,
    outcome: Outcome,
    creditor_reference_id: &'a str,
    amount: i64,
    id_psp: &'a str,
    psp_name: &'a str,
    id_channel: &'a str,
    channel_description: &'a str,
    payment_method: Option<&'a str>,
    payment_date_time: Option<&'a str>,
    fee: Option<i64>,
    stand_in: bool,
    payer: Option<&'a crate::soap::messages::Subject>,
}

macro_rules! common {
    ($rc:expr) => {
        Common {
            receipt_id: &$rc.receipt_id.0,
            notice_number: $rc.notice_number.as_str(),
            fiscal_code: $rc.fiscal_code.as_str(),
            outcome: $rc.outcome,
            creditor_reference_id: $rc.creditor_reference_id.as_str(),
            amount: $rc.payment_amount.0,
            id_psp: $rc.id_psp.as_str(),
            psp_name: $rc.psp_company_name.as_str(),
            id_channel: $rc.id_channel.as_str(),
            channel_description: $rc.channel_description.as_str(),
            payment_method: $rc.payment_method.as_ref().map(|m| m.as_str()),
            payment_date_time: $rc.payment_date_time.as_ref().map(|d| d.0.as_str()),
            fee: $rc.fee.map(|f| f.0),
            stand_in: $rc.stand_in.unwrap_or(false),
            payer: $rc.payer.as_ref(),
        }
    };
}

impl Incoming {
    /// From a paSendRT request.
    pub fn v1(r: &PaSendRtReq, raw: &[u8]) -> Self {
        let rc = &r.receipt;
        let transfers = rc
            .transfer_list
            .transfers
            .iter()
            .map(|t| ReceiptTransfer {
                id_transfer: t.id_transfer.0,
                importo: t.transfer_amount.0,
                dominio: t.fiscal_code_pa.as_str().to_owned(),
                iban: Some(t.iban.as_str().to_owned()),
                causale: t.remittance_information.as_str().to_owned(),
                categoria: t.transfer_category.as_str().to_owned(),
            })
            .collect();
        build(
            Operation::SendRt,
            r.id_station.as_str(),
            raw,
            ReceiptVersion::V1,
            common!(rc),
            transfers,
        )
    }

    /// From a paSendRTV2 request.
    pub fn v2(r: &PaSendRtV2Request, raw: &[u8]) -> Self {
        let rc = &r.receipt;
        let transfers = rc
            .transfer_list
            .transfers
            .iter()
            .map(|t| ReceiptTransfer {
                id_transfer: t.id_transfer.0,
                importo: t.transfer_amount.0,
                dominio: t.fiscal_code_pa.as_str().to_owned(),
                iban: t.iban.as_ref().map(|i| i.as_str().to_owned()),
                causale: t.remittance_information.as_str().to_owned(),
                categoria: t.transfer_category.as_str().to_owned(),
            })
            .collect();
        build(
            Operation::SendRtV2,
            r.id_station.as_str(),
            raw,
            ReceiptVersion::V2,
            common!(rc),
            transfers,
        )
    }
}

/// Problems that make a receipt contradict itself (answered PAA_SEMANTICA).
fn fatal_problem(r: &Ricevuta) -> Option<String> {
    let sum: i64 = r.transfers.iter().map(|t| t.importo).sum();
    if r.esito_pagamento == "OK" && sum != r.importo {
        return Some(format!(
            "sum of transferAmount {} differs from paymentAmount {}",
            format_cents(sum),
            format_cents(r.importo)
        ));
    }
    let mut ids: Vec<u8> = r.transfers.iter().map(|t| t.id_transfer).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != r.transfers.len() {
        return Some("idTransfer values are repeated".into());
    }
    match NoticeNumber::parse(&r.numero_avviso) {
        Ok(n) if n.iuv() != r.creditor_reference_id => Some(format!(
            "creditorReferenceId {} is not the IUV {} of notice {}",
            r.creditor_reference_id,
            n.iuv(),
            r.numero_avviso
        )),
        Ok(_) => None,
        Err(e) => Some(format!("noticeNumber {}: {e}", r.numero_avviso)),
    }
}

/// The receipt rule: the position's new content and the receipt's verdict.
fn rule(
    now: DateTime<Utc>,
) -> impl Fn(Option<&Pendenza>, &Ricevuta) -> (Option<Pendenza>, ReceiptStatus) {
    move |stored, r| {
        if let Some(why) = fatal_problem(r) {
            return (None, ReceiptStatus::Rifiutata { motivo: why });
        }
        let Some(p) = stored.filter(|p| p.numero_avviso == r.numero_avviso) else {
            return (
                None,
                ReceiptStatus::Anomala {
                    motivo:
                        "receipt for a notice this creditor does not hold (stand-in or broadcast)"
                            .into(),
                },
            );
        };
        if r.esito_pagamento != "OK" {
            return (
                None,
                ReceiptStatus::Anomala {
                    motivo: "receipt with outcome KO: the position is unchanged".into(),
                },
            );
        }
        let mut p = p.clone();
        let mut problems = Vec::new();
        match p.stato {
            Stato::NonEseguita => {}
            Stato::Eseguita => problems.push(format!(
                "second payment: the position was already paid by receipt {}",
                p.ricevute
                    .first()
                    .map(String::as_str)
                    .unwrap_or("(unknown)")
            )),
            Stato::Annullata => problems.push("paid after the position was cancelled".to_string()),
        }
        if r.importo != p.importo {
            problems.push(format!(
                "paid {} but the position amounts to {}",
                format_cents(r.importo),
                format_cents(p.importo)
            ));
        }
        for note in &problems {
            p.flag(format!("receipt {}: {note}", r.receipt_id));
        }
        p.stato = Stato::Eseguita;
        p.ricevute.push(r.receipt_id.clone());
        p.updated_at = now;
        let status = if problems.is_empty() {
            ReceiptStatus::Accettata
        } else {
            ReceiptStatus::Anomala {
                motivo: problems.join("; "),
            }
        };
        (Some(p), status)
    }
}

/// Stores the receipt durably and answers.
pub async fn handle(nodo: &Nodo, incoming: Incoming) -> Result<Response, Fault> {
    let Incoming { op, mut ricevuta } = incoming;
    let now = (nodo.clock)();
    ricevuta.received_at = now;
    let notice = ricevuta.numero_avviso.clone();
    let receipt_rule = rule(now);
    let store = nodo.store.clone();
    let config = nodo.config.clone();
    // The transaction runs on a blocking thread: sled may retry it under contention.
    let applied = tokio::task::spawn_blocking(move || {
        store.apply_receipt(
            ricevuta,
            &receipt_rule,
            &|app| config.connettore(app).err(),
            now,
        )
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "receipt task failed");
        Fault::new(FaultCode::SystemError, "internal error; please retry")
    })?
    .map_err(system_error)?;
    // Also for a receipt already stored: the earlier write may not have reached the disk yet.
    nodo.store.sync().await.map_err(system_error)?;
    // Persist, then notify: the outbox worker delivers it to the gestionale.
    if matches!(applied, ReceiptApplied::Stored(_)) {
        nodo.store.wake_outbox();
    }
    let status = match &applied {
        ReceiptApplied::Stored(s) | ReceiptApplied::AlreadyStored(s) => s,
    };
    let repeated = matches!(applied, ReceiptApplied::AlreadyStored(_));
    match status {
        ReceiptStatus::Accettata => {
            tracing::info!(notice = %notice, repeated, "receipt stored");
        }
        ReceiptStatus::Anomala { motivo } => {
            tracing::warn!(notice = %notice, repeated, anomaly = %motivo, "receipt stored with an anomaly");
        }
        ReceiptStatus::Rifiutata { motivo } => {
            tracing::warn!(notice = %notice, repeated, reason = %motivo, "receipt kept but refused");
            return Err(Fault::new(FaultCode::Semantica, motivo.clone()));
        }
    }
    Ok(Response::SendRt(
        op,
        PaSendRtRes {
            outcome: Outcome::Ok,
            fault: None,
        },
    ))
}
