//! The station's behaviour: typed paForNode requests in, typed responses out.
//!
//! Handlers never see XML. Checks run in the order the issue fixes: (schema checks are done by
//! the decoder) → idBrokerPA → idStation of that broker → the creditor fiscal codes served
//! through that station → the operation's own rules.

mod call;
mod demand;
mod get_payment;
mod mapping;
pub mod options;
mod send_rt;
mod verify;

use crate::config::Config;
use crate::domain::NoticeNumber;
use crate::domain::{Clock, Owner, Pendenza, Stato, StatoEffettivo, rome_today};
use crate::gestionale::{Gestionale, Verifica, VerificaError};
use crate::soap::messages::QrCode;
use crate::soap::{Fault, FaultCode, Operation, Request, Response};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use call::{CallIds, check_caller};

/// One answered call: the response, and what the journal records about it.
#[derive(Debug, Clone)]
pub struct Handled {
    /// The answer to encode.
    pub response: Response,
    /// The ids the request names (none for a request the decoder refused: they could not be
    /// trusted).
    pub ids: Option<CallIds>,
    /// The owner of the position the call read, when it read one.
    pub owner: Option<Owner>,
}

/// Everything a handler needs.
#[derive(Clone)]
pub struct Nodo {
    /// Configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Store,
    /// Current time.
    pub clock: Clock,
    /// Gestionali to ask about notices Varco does not hold.
    pub gestionale: Arc<Gestionale>,
}

impl Nodo {
    /// Builds the handler context.
    pub fn new(config: Arc<Config>, store: Store, clock: Clock) -> Self {
        Self {
            gestionale: Arc::new(Gestionale::new(&config)),
            config,
            store,
            clock,
        }
    }

    /// Answers one decoded request. `raw` is the request body, kept with receipts.
    pub async fn handle(&self, request: Request, raw: &[u8]) -> Handled {
        let op = operation_of(&request);
        let ids = Some(CallIds::of(&request));
        let mut owner = None;
        let result = match check_caller(&self.config, &request) {
            Err(fault) => Err(fault),
            Ok(()) => self.dispatch(request, raw, &mut owner).await,
        };
        let response = result
            .unwrap_or_else(|fault| Response::ko(op, fault.bean(&self.config.intermediario.id)));
        Handled {
            response,
            ids,
            owner,
        }
    }

    /// The operation's own rules, once the caller checks passed.
    async fn dispatch(
        &self,
        request: Request,
        raw: &[u8],
        owner: &mut Option<Owner>,
    ) -> Result<Response, Fault> {
        match request {
            Request::Verify(r) => verify::handle(self, &r, owner).await,
            Request::GetPayment(r) => {
                get_payment::handle(self, &r, Operation::GetPayment, owner).await
            }
            Request::GetPaymentV2(r) => {
                get_payment::handle(self, &r, Operation::GetPaymentV2, owner).await
            }
            Request::SendRt(r) => send_rt::handle(self, send_rt::Incoming::v1(r, raw), owner).await,
            Request::SendRtV2(r) => {
                send_rt::handle(self, send_rt::Incoming::v2(r, raw), owner).await
            }
            Request::Demand(r) => demand::handle(self, &r, owner).await,
        }
    }

    /// pagoPA's payment-options verify: every option of the notice's document.
    pub async fn payment_options(
        &self,
        fiscal_code: &str,
        notice: &str,
        query: &options::OptionsQuery,
    ) -> Result<options::PaymentOptionsResponse, Fault> {
        let nav = options::check(&self.config, fiscal_code, notice, query)?;
        let now = (self.clock)();
        let all = match self.current(fiscal_code, &nav).await? {
            Some(p) => match &p.dettagli.documento {
                Some(d) => self
                    .store
                    .documento(fiscal_code, &d.identificativo)
                    .await
                    .map_err(system_error)?,
                None => vec![p],
            },
            None => Vec::new(),
        };
        options::answer(&self.config, fiscal_code, &nav, &all, now)
    }

    /// Finds a payable position for a notice, or the fault that says why it is not payable.
    /// A notice Varco does not hold, or whose validity day has passed, is first asked of the
    /// gestionale that owns it (verification on the fly), when one does.
    /// `owner` gets the owner of the position read.
    async fn payable(&self, qr: &QrCode, owner: &mut Option<Owner>) -> Result<Pendenza, Fault> {
        let (fiscal_code, notice) = (qr.fiscal_code.as_str(), qr.notice_number.as_str());
        let unknown = || {
            Fault::new(
                FaultCode::PagamentoSconosciuto,
                format!("notice {notice} is unknown to creditor {fiscal_code}"),
            )
        };
        let nav = NoticeNumber::parse(notice).map_err(|_| unknown())?;
        let now = (self.clock)();
        let stored = self.current(fiscal_code, &nav).await?;
        let stale = match &stored {
            None => true,
            Some(p) => {
                p.stato == Stato::NonEseguita
                    && p.data_validita.is_some_and(|d| rome_today(now) > d)
            }
        };
        // Only a notice Varco cannot answer alone costs a look at the gestionale owners, and a
        // gestionale is asked only about a position that is its own (or none yet).
        let gestionale = if stale {
            self.gestionale
                .owner(&self.config, fiscal_code, &nav)
                .filter(|app| {
                    stored
                        .as_ref()
                        .is_none_or(|p| p.id_a2a.as_deref() == Some(app.id_a2a.as_str()))
                })
        } else {
            None
        };
        let pendenza = match gestionale {
            Some(app) => self.refresh(app, fiscal_code, &nav, stored, now).await?,
            None => stored.ok_or_else(unknown)?,
        };
        *owner = Some(pendenza.owner());
        match pendenza.stato_at(now) {
            StatoEffettivo::NonEseguita => match &pendenza.dettagli.documento {
                None => Ok(pendenza),
                Some(d) => {
                    // An option of a document: payable while no option of another plan was
                    // paid (a read only: the receipts decide, under the store's lock).
                    let options = self
                        .store
                        .documento(fiscal_code, &d.identificativo)
                        .await
                        .map_err(system_error)?;
                    match crate::domain::documento::blocked_by(&pendenza, &options) {
                        None => Ok(pendenza),
                        Some(other) => Err(Fault::new(
                            FaultCode::PagamentoDuplicato,
                            format!(
                                "notice {notice} is no longer payable: its debt is being paid with notice {}",
                                other.numero_avviso
                            ),
                        )),
                    }
                }
            },
            StatoEffettivo::Eseguita => Err(Fault::new(
                FaultCode::PagamentoDuplicato,
                format!("notice {notice} is already paid"),
            )),
            StatoEffettivo::Annullata => Err(Fault::new(
                FaultCode::PagamentoAnnullato,
                format!("notice {notice} was cancelled by the creditor"),
            )),
            StatoEffettivo::Scaduta => Err(Fault::new(
                FaultCode::PagamentoScaduto,
                format!(
                    "notice {notice} expired on {}",
                    pendenza
                        .data_scadenza
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// Asks the gestionale; stores and returns what it says, or falls back to the stored copy.
    ///
    /// The answer may take up to `verify_timeout_ms`, and a receipt may close the position in
    /// the meantime. So every write here is a compare-and-set on the current row (see
    /// [`Nodo::refreshed`]), and every answer is given from the row as it is after the call:
    /// a position paid meanwhile answers `PAA_PAGAMENTO_DUPLICATO`, whatever the gestionale said.
    async fn refresh(
        &self,
        app: &crate::config::Applicazione,
        dominio: &str,
        nav: &NoticeNumber,
        stored: Option<Pendenza>,
        now: DateTime<Utc>,
    ) -> Result<Pendenza, Fault> {
        let unknown = |why: &str| {
            Fault::new(
                FaultCode::PagamentoSconosciuto,
                format!("notice {nav} is unknown to creditor {dominio}{why}"),
            )
        };
        let answer = self
            .gestionale
            .verify(&self.config, app, dominio, nav, now)
            .await;
        let paid =
            |p: &Option<Pendenza>| p.as_ref().filter(|p| p.stato == Stato::Eseguita).cloned();
        match answer {
            Ok(Verifica::Pendenza(fresh)) => {
                self.take_fresh(app, dominio, nav, stored, *fresh).await
            }
            Ok(Verifica::Annullata(why)) => {
                let current = match &stored {
                    Some(old) => {
                        self.refreshed(app, old, &|cur| {
                            let mut next = cur.clone();
                            next.stato = Stato::Annullata;
                            next.updated_at = now;
                            next
                        })
                        .await?
                    }
                    None => None,
                };
                match paid(&current) {
                    Some(p) => Ok(p),
                    None => Err(Fault::new(
                        FaultCode::PagamentoAnnullato,
                        format!("notice {nav} was cancelled by the creditor {why}")
                            .trim_end()
                            .to_owned(),
                    )),
                }
            }
            Ok(Verifica::Scaduta(why)) => match paid(&self.current(dominio, nav).await?) {
                Some(p) => Ok(p),
                None => Err(Fault::new(
                    FaultCode::PagamentoScaduto,
                    format!("notice {nav} expired {why}").trim_end().to_owned(),
                )),
            },
            // The owner does not know it: the stored copy (if any) is not answered from.
            Ok(Verifica::Sconosciuta(why)) => match paid(&self.current(dominio, nav).await?) {
                Some(p) => Ok(p),
                None if why.trim().is_empty() => Err(unknown("")),
                None => Err(unknown(&format!(" ({})", why.trim()))),
            },
            Err(e) => {
                tracing::warn!(notice = %nav, id_a2a = %app.id_a2a, error = %e, "gestionale verification failed");
                match self.current(dominio, nav).await? {
                    Some(p) if p.stato == Stato::Eseguita => Ok(p),
                    Some(_) if app.verifica_obbligatoria => Err(Fault::new(
                        FaultCode::SystemError,
                        "the creditor's system could not confirm the position; please retry",
                    )),
                    Some(p) => Ok(p),
                    // Nothing to answer from: the creditor's system failed, which is not the
                    // same as the notice being unknown (GovPay answers the same).
                    None => Err(Fault::new(
                        FaultCode::SystemError,
                        match &e {
                            // The fault of the answer itself, as GovPay words it.
                            VerificaError::Invalid(why) | VerificaError::Contradiction(why) => {
                                why.clone()
                            }
                            _ => "the creditor's system could not be reached; please retry"
                                .to_owned(),
                        },
                    )),
                }
            }
        }
    }

    /// Stores what the gestionale answered for a position: over the stored copy (keeping
    /// what Varco knows of it: owner, receipts, anomalies, state), or as a new position.
    async fn take_fresh(
        &self,
        app: &crate::config::Applicazione,
        dominio: &str,
        nav: &NoticeNumber,
        stored: Option<Pendenza>,
        mut fresh: Pendenza,
    ) -> Result<Pendenza, Fault> {
        let unknown = |why: &str| {
            Fault::new(
                FaultCode::PagamentoSconosciuto,
                format!("notice {nav} is unknown to creditor {dominio}{why}"),
            )
        };
        let Some(old) = stored else {
            fresh.dettagli.uuid = Some(uuid::Uuid::new_v4().simple().to_string());
            if !self
                .store
                .insert_pendenza(&fresh)
                .await
                .map_err(system_error)?
            {
                // Another request stored it meanwhile, or the gestionale reused an idPendenza
                // of another notice: answer from what is stored.
                return self
                    .current(dominio, nav)
                    .await?
                    .ok_or_else(|| unknown(" (the gestionale's idPendenza is already used)"));
            }
            tracing::info!(notice = %nav, id_a2a = %app.id_a2a, "position verified at the gestionale");
            return Ok(fresh);
        };
        let current = self
            .refreshed(app, &old, &|cur| {
                let mut next = fresh.clone();
                next.id_a2a = cur.id_a2a.clone();
                next.id_pendenza = cur.id_pendenza.clone();
                next.created_at = cur.created_at;
                next.dettagli.uuid = cur.dettagli.uuid.clone();
                next.ricevute = cur.ricevute.clone();
                next.anomala = cur.anomala;
                next.anomalie = cur.anomalie.clone();
                next.stato = cur.stato;
                next
            })
            .await?;
        tracing::info!(notice = %nav, id_a2a = %app.id_a2a, "position verified at the gestionale");
        current.ok_or_else(|| unknown(""))
    }

    /// The stored position of a notice, as it is now.
    async fn current(&self, dominio: &str, nav: &NoticeNumber) -> Result<Option<Pendenza>, Fault> {
        Ok(self
            .store
            .pendenza(dominio, nav.iuv())
            .await
            .map_err(system_error)?
            .filter(|p| p.numero_avviso == nav.as_str()))
    }

    /// Applies what `app`'s gestionale said to the stored position `read` (as read before the
    /// call), atomically, and returns the position as stored afterwards. The write happens only
    /// if the row is still exactly `read` (nothing was paid, patched or refreshed meanwhile),
    /// is still open, and belongs to `app`: otherwise the current row is left as it is.
    async fn refreshed(
        &self,
        app: &crate::config::Applicazione,
        read: &Pendenza,
        next: &(dyn Fn(&Pendenza) -> Pendenza + Sync),
    ) -> Result<Option<Pendenza>, Fault> {
        let change = |cur: &Pendenza| -> Result<Option<Pendenza>, std::convert::Infallible> {
            let untouched = cur == read
                && cur.stato == Stato::NonEseguita
                && cur.id_a2a.as_deref() == Some(app.id_a2a.as_str());
            if !untouched {
                return Ok(None);
            }
            let candidate = next(cur);
            Ok((candidate != *cur).then_some(candidate))
        };
        let outcome = self
            .store
            .update_pendenza(&read.dominio, &read.iuv, &change)
            .await
            .map_err(system_error)?;
        Ok(match outcome {
            Some(Ok(p)) => Some(p).filter(|p| p.numero_avviso == read.numero_avviso),
            Some(Err(never)) => match never {},
            None => None,
        })
    }
}

/// A store failure as the Nodo sees it.
fn system_error(e: crate::store::StoreError) -> Fault {
    tracing::error!(error = %e, "store failure");
    Fault::new(FaultCode::SystemError, "internal error; please retry")
}

/// The operation a request belongs to.
pub fn operation_of(request: &Request) -> crate::soap::Operation {
    use crate::soap::Operation;
    match request {
        Request::Verify(_) => Operation::VerifyPaymentNotice,
        Request::GetPayment(_) => Operation::GetPayment,
        Request::GetPaymentV2(_) => Operation::GetPaymentV2,
        Request::SendRt(_) => Operation::SendRt,
        Request::SendRtV2(_) => Operation::SendRtV2,
        Request::Demand(_) => Operation::DemandPaymentNotice,
    }
}
