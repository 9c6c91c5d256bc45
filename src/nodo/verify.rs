//! paVerifyPaymentNotice: what is owed. Never changes the position.

use super::{Nodo, mapping};
use crate::domain::Owner;
use crate::soap::messages::{PaVerifyPaymentNoticeReq, PaVerifyPaymentNoticeRes};
use crate::soap::schema::{Outcome, Text140};
use crate::soap::{Fault, Response};

/// Answers a verify: one EQ payment option with the current amount; `owner` gets the owner of
/// the position read.
pub async fn handle(
    nodo: &Nodo,
    r: &PaVerifyPaymentNoticeReq,
    owner: &mut Option<Owner>,
) -> Result<Response, Fault> {
    let p = nodo.payable(&r.qr_code, owner).await?;
    let (company_name, office_name) = mapping::creditor_names(&nodo.config, &p.dominio);
    Ok(Response::Verify(PaVerifyPaymentNoticeRes {
        outcome: Outcome::Ok,
        fault: None,
        payment_list: Some(mapping::payment_option(&p)),
        payment_description: Some(Text140::lossy(&p.causale)),
        fiscal_code_pa: Some(r.qr_code.fiscal_code.clone()),
        company_name: Some(company_name),
        office_name,
    }))
}
