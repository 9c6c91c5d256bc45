//! paGetPayment / paGetPaymentV2: activation. Answers the current data and records the
//! attempt; it never locks the position (the Nodo guards against concurrent payments).

use super::{Nodo, mapping, system_error};
use crate::domain::{Attivazione, Owner, Pendenza};
use crate::soap::messages::{PaGetPaymentReq, PaGetPaymentRes, PaGetPaymentV2Response};
use crate::soap::schema::Outcome;
use crate::soap::{Fault, FaultCode, Operation, Response};

async fn record(
    nodo: &Nodo,
    p: &Pendenza,
    r: &PaGetPaymentReq,
    primitiva: &str,
) -> Result<(), Fault> {
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
        .await
        .map_err(system_error)
}

/// paGetPayment or paGetPaymentV2 (`op`); `owner` gets the owner of the position read.
pub async fn handle(
    nodo: &Nodo,
    r: &PaGetPaymentReq,
    op: Operation,
    owner: &mut Option<Owner>,
) -> Result<Response, Fault> {
    let p = nodo.payable(&r.qr_code, owner).await?;
    let semantica = |why| Fault::new(FaultCode::Semantica, why);
    let response = if op == Operation::GetPaymentV2 {
        let data = mapping::payment_v2(&nodo.config, &p, r.transfer_type).map_err(semantica)?;
        Response::GetPaymentV2(PaGetPaymentV2Response {
            outcome: Outcome::Ok,
            fault: None,
            data: Some(data),
        })
    } else {
        let data = mapping::payment_v1(&nodo.config, &p, r.transfer_type).map_err(semantica)?;
        Response::GetPayment(PaGetPaymentRes {
            outcome: Outcome::Ok,
            fault: None,
            data: Some(data),
        })
    };
    record(nodo, &p, r, op.name()).await?;
    Ok(response)
}
