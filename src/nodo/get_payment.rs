//! paGetPayment / paGetPaymentV2: activation. Answers the current data and records the
//! attempt; it never locks the position (the Nodo guards against concurrent payments).

use super::{Nodo, mapping, system_error};
use crate::domain::{Attivazione, Pendenza};
use crate::soap::messages::{PaGetPaymentReq, PaGetPaymentRes, PaGetPaymentV2Response};
use crate::soap::schema::Outcome;
use crate::soap::{Fault, FaultCode, Response};

fn record(nodo: &Nodo, p: &Pendenza, r: &PaGetPaymentReq, primitiva: &str) -> Result<(), Fault> {
    let attempt = Attivazione {
        at: (nodo.clock)(),
        primitiva: primitiva.into(),
        importo_richiesto: r.amount.map(|a| a.0),
        transfer_type: r.transfer_type.map(|t| t.as_str().to_owned()),
        payment_note: r.payment_note.as_ref().map(|n| n.as_str().to_owned()),
        id_stazione: r.id_station.as_str().to_owned(),
    };
    nodo.store
        .record_attempt(&p.dominio, &p.iuv, &attempt)
        .map_err(system_error)
}

/// paGetPayment (V1).
pub async fn handle_v1(nodo: &Nodo, r: &PaGetPaymentReq) -> Result<Response, Fault> {
    let (p, _) = nodo
        .payable(
            r.qr_code.fiscal_code.as_str(),
            r.qr_code.notice_number.as_str(),
        )
        .await?;
    let data = mapping::payment_v1(&nodo.config, &p, r.transfer_type)
        .map_err(|why| Fault::new(FaultCode::Semantica, why))?;
    record(nodo, &p, r, "paGetPayment")?;
    Ok(Response::GetPayment(PaGetPaymentRes {
        outcome: Outcome::Ok,
        fault: None,
        data: Some(data),
    }))
}

/// paGetPaymentV2.
pub async fn handle_v2(nodo: &Nodo, r: &PaGetPaymentReq) -> Result<Response, Fault> {
    let (p, _) = nodo
        .payable(
            r.qr_code.fiscal_code.as_str(),
            r.qr_code.notice_number.as_str(),
        )
        .await?;
    let data = mapping::payment_v2(&nodo.config, &p, r.transfer_type)
        .map_err(|why| Fault::new(FaultCode::Semantica, why))?;
    record(nodo, &p, r, "paGetPaymentV2")?;
    Ok(Response::GetPaymentV2(PaGetPaymentV2Response {
        outcome: Outcome::Ok,
        fault: None,
        data: Some(data),
    }))
}
