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
use crate::domain::documento;
use crate::domain::money::format as format_cents;
use crate::domain::{
    EsitoPagamento, NoticeNumber, Owner, Pendenza, ReceiptStatus, ReceiptTransfer, ReceiptVersion,
    Ricevuta, Stato, iuv_of,
};
use crate::soap::messages::{PaSendRtReq, PaSendRtRes, PaSendRtV2Request, ReceiptV2};
use crate::soap::schema::{Outcome, Text35};
use crate::soap::{Fault, FaultCode, Operation, Response};
use chrono::{DateTime, Utc};

/// A receipt of either version, reduced to what the rules need.
pub struct Incoming {
    op: Operation,
    ricevuta: Ricevuta,
}

impl Incoming {
    /// From a paSendRT request (read as the V2 receipt it is a subset of).
    pub fn v1(r: PaSendRtReq, raw: &[u8]) -> Self {
        let receipt = ReceiptV2::from(*r.receipt);
        Self::new(
            Operation::SendRt,
            ReceiptVersion::V1,
            &r.id_station,
            &receipt,
            raw,
        )
    }

    /// From a paSendRTV2 request.
    pub fn v2(r: PaSendRtV2Request, raw: &[u8]) -> Self {
        Self::new(
            Operation::SendRtV2,
            ReceiptVersion::V2,
            &r.id_station,
            &r.receipt,
            raw,
        )
    }

    fn new(
        op: Operation,
        versione: ReceiptVersion,
        id_station: &Text35,
        rc: &ReceiptV2,
        raw: &[u8],
    ) -> Self {
        let notice = rc.notice_number.as_str();
        let creditor_reference_id = rc.creditor_reference_id.as_str();
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
        let ricevuta = Ricevuta {
            dominio: rc.fiscal_code.as_str().to_owned(),
            // A receipt for a number that is not a valid notice number is still stored (and
            // flagged), under its creditorReferenceId.
            iuv: iuv_of(notice, Some(creditor_reference_id)).unwrap_or_default(),
            receipt_id: rc.receipt_id.0.clone(),
            numero_avviso: notice.to_owned(),
            creditor_reference_id: creditor_reference_id.to_owned(),
            versione,
            esito_pagamento: match rc.outcome {
                Outcome::Ok => EsitoPagamento::Ok,
                Outcome::Ko => EsitoPagamento::Ko,
            },
            importo: rc.payment_amount.0,
            id_psp: rc.id_psp.as_str().to_owned(),
            psp_denominazione: rc.psp_company_name.as_str().to_owned(),
            id_canale: rc.id_channel.as_str().to_owned(),
            descrizione_canale: rc.channel_description.as_str().to_owned(),
            metodo_pagamento: rc.payment_method.as_ref().map(|m| m.as_str().to_owned()),
            data_pagamento: rc.payment_date_time.as_ref().map(|d| d.0.clone()),
            commissioni: rc.fee.map(|f| f.0),
            stand_in: rc.stand_in.unwrap_or(false),
            transfers,
            id_stazione: id_station.as_str().to_owned(),
            versante: rc.payer.as_ref().map(super::mapping::soggetto),
            received_at: DateTime::<Utc>::MIN_UTC,
            stato: ReceiptStatus::Accettata,
            xml: String::from_utf8_lossy(raw).into_owned(),
        };
        Incoming { op, ricevuta }
    }
}

/// Problems that make a receipt contradict itself (answered PAA_SEMANTICA).
fn fatal_problem(r: &Ricevuta) -> Option<String> {
    let sum: i64 = r.transfers.iter().map(|t| t.importo).sum();
    if r.esito_pagamento == EsitoPagamento::Ok && sum != r.importo {
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

/// The receipt rule: the position's new content and the receipt's verdict, given the other
/// options of its document (the plan rules of [`crate::domain::documento`]).
fn rule(
    now: DateTime<Utc>,
) -> impl Fn(Option<&Pendenza>, &[Pendenza], &Ricevuta) -> (Option<Pendenza>, ReceiptStatus) {
    move |stored, siblings, r| {
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
        if r.esito_pagamento != EsitoPagamento::Ok {
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
        if p.stato != Stato::Eseguita
            && let Some(other) = documento::blocked_by(&p, siblings)
        {
            // Activation locks nothing: two PSPs may collect two options of one document at
            // the same instant. The first receipt commits the document to its plan; this
            // payment is kept, and does not count.
            problems.push(format!(
                "document {}: another payment option (notice {}) was already paid; this payment does not count for the document",
                p.dettagli
                    .documento
                    .as_ref()
                    .map(|d| d.identificativo.as_str())
                    .unwrap_or_default(),
                other.numero_avviso
            ));
            p.fuori_piano = true;
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

/// Stores the receipt durably and answers; `owner` gets the owner of the notice's position.
pub async fn handle(
    nodo: &Nodo,
    incoming: Incoming,
    owner: &mut Option<Owner>,
) -> Result<Response, Fault> {
    let Incoming { op, mut ricevuta } = incoming;
    let now = (nodo.clock)();
    ricevuta.received_at = now;
    let notice = ricevuta.numero_avviso.clone();
    let receipt_rule = rule(now);
    let config = &nodo.config;
    // sled runs the transaction off the async workers (it may retry it under contention).
    let applied = nodo
        .store
        .apply_receipt(
            ricevuta,
            &receipt_rule,
            &|app| config.connettore(app).err(),
            now,
        )
        .await
        .map_err(system_error)?;
    // Also for a receipt already stored: the earlier write may not have reached the disk yet.
    nodo.store.sync().await.map_err(system_error)?;
    // Persist, then notify: the outbox worker delivers it to the gestionale.
    if !applied.repeated {
        nodo.store.wake_outbox();
    }
    owner.clone_from(&applied.owner);
    let repeated = applied.repeated;
    match &applied.status {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const RECEIPT: &str = include_str!("../../fixtures/demo/send-rt-v2.xml");

    /// The demo receipt (120.00 for notice 301000000000001053) and an open position for it.
    fn receipt_and_position() -> (Ricevuta, Pendenza) {
        let request = crate::soap::decode(Some("paSendRTV2"), RECEIPT.as_bytes()).unwrap();
        let crate::soap::Request::SendRtV2(r) = request else {
            panic!("not a paSendRTV2");
        };
        let ricevuta = Incoming::v2(r, RECEIPT.as_bytes()).ricevuta;
        let nav = NoticeNumber::parse(&ricevuta.numero_avviso).unwrap();
        let mut p = crate::demo::sample(&Config::demo(), &nav, Utc::now());
        p.importo = ricevuta.importo;
        (ricevuta, p)
    }

    fn anomaly(status: &ReceiptStatus) -> &str {
        match status {
            ReceiptStatus::Anomala { motivo } => motivo,
            other => panic!("expected an anomaly, got {other:?}"),
        }
    }

    #[test]
    fn a_receipt_closes_its_open_position() {
        let (r, p) = receipt_and_position();
        let (next, status) = rule(Utc::now())(Some(&p), &[], &r);
        assert_eq!(status, ReceiptStatus::Accettata);
        let next = next.unwrap();
        assert_eq!(next.stato, Stato::Eseguita);
        assert_eq!(next.ricevute, vec![r.receipt_id.clone()]);
        assert!(!next.anomala);
    }

    #[test]
    fn a_receipt_that_cannot_close_its_position_is_kept_as_an_anomaly() {
        let (r, p) = receipt_and_position();
        let now = Utc::now();
        // Unknown notice (stand-in, broadcast): stored, position untouched.
        let (next, status) = rule(now)(None, &[], &r);
        assert!(next.is_none());
        assert!(anomaly(&status).contains("does not hold"));
        // A position of another notice under the same IUV is not this one.
        let mut other = p.clone();
        other.numero_avviso = "301000000000009999".into();
        assert!(rule(now)(Some(&other), &[], &r).0.is_none());
        // KO outcome: the position is unchanged.
        let mut ko = r.clone();
        ko.esito_pagamento = EsitoPagamento::Ko;
        let (next, status) = rule(now)(Some(&p), &[], &ko);
        assert!(next.is_none());
        assert!(anomaly(&status).contains("KO"));
    }

    #[test]
    fn a_second_payment_a_cancelled_position_or_another_amount_is_flagged_but_recorded() {
        let (r, p) = receipt_and_position();
        let now = Utc::now();
        let mut paid = p.clone();
        paid.stato = Stato::Eseguita;
        paid.ricevute = vec!["first".into()];
        let (next, status) = rule(now)(Some(&paid), &[], &r);
        assert!(anomaly(&status).contains("already paid by receipt first"));
        let next = next.unwrap();
        assert_eq!(
            next.ricevute,
            vec!["first".to_owned(), r.receipt_id.clone()]
        );
        assert!(next.anomala);

        let mut cancelled = p.clone();
        cancelled.stato = Stato::Annullata;
        let (next, status) = rule(now)(Some(&cancelled), &[], &r);
        assert!(anomaly(&status).contains("cancelled"));
        assert_eq!(next.unwrap().stato, Stato::Eseguita);

        let mut dearer = p.clone();
        dearer.importo = r.importo + 1;
        let (next, status) = rule(now)(Some(&dearer), &[], &r);
        assert!(anomaly(&status).contains("paid 120.00"));
        assert_eq!(next.unwrap().stato, Stato::Eseguita);
    }

    #[test]
    fn a_receipt_that_contradicts_itself_is_refused() {
        let (r, p) = receipt_and_position();
        let refused = |r: &Ricevuta| match rule(Utc::now())(Some(&p), &[], r) {
            (None, ReceiptStatus::Rifiutata { motivo }) => motivo,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let mut sum = r.clone();
        sum.importo += 100;
        assert!(refused(&sum).contains("sum of transferAmount"));
        let mut reference = r.clone();
        reference.creditor_reference_id = "01000000000009999".into();
        assert!(refused(&reference).contains("is not the IUV"));
        let mut repeated = r.clone();
        repeated.transfers.push(repeated.transfers[0].clone());
        repeated.importo *= 2;
        assert!(refused(&repeated).contains("repeated"));
        let mut number = r.clone();
        number.numero_avviso = "12".into();
        assert!(refused(&number).contains("noticeNumber 12"));
    }
}
