//! paVerifyPaymentNotice: what is owed. Never changes the position.

use super::{Nodo, mapping};
use crate::soap::messages::{PaVerifyPaymentNoticeReq, PaVerifyPaymentNoticeRes};
use crate::soap::schema::{Outcome, Text140};
use crate::soap::{Fault, Response};

/// Answers a verify: one EQ payment option with the current amount.
pub async fn handle(nodo: &Nodo, r: &PaVerifyPaymentNoticeReq) -> Result<Response, Fault> {
    let (p, _nav) = nodo
        .payable(
            r.qr_code.fiscal_code.as_str(),
            r.qr_code.notice_number.as_str(),
        )
        .await?;
    let dominio = nodo.config.dominio(&p.dominio);
    Ok(Response::Verify(PaVerifyPaymentNoticeRes {
        outcome: Outcome::Ok,
        fault: None,
        payment_list: Some(mapping::payment_option(&p)),
        payment_description: Some(Text140::lossy(&p.causale)),
        fiscal_code_pa: Some(r.qr_code.fiscal_code.clone()),
        company_name: Some(Text140::lossy(
            dominio
                .map(|d| d.ragione_sociale.as_str())
                .unwrap_or(&p.dominio),
        )),
        office_name: dominio
            .and_then(|d| d.ufficio.as_deref())
            .map(Text140::lossy),
    }))
}
