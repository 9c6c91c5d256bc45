//! The station's behaviour: typed paForNode requests in, typed responses out.
//!
//! Handlers never see XML. Checks run in the order the issue fixes: (schema checks are done by
//! the decoder) → idBrokerPA → idStation of that broker → the creditor fiscal codes served
//! through that station → the operation's own rules.

mod get_payment;
mod mapping;
mod send_rt;
mod verify;

use crate::config::{Config, Topology};
use crate::domain::{Pendenza, StatoEffettivo};
use crate::notice::NoticeNumber;
use crate::soap::schema::Text35;
use crate::soap::{Fault, FaultCode, Request, Response};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Source of the current time (injected so tests can move it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Everything a handler needs.
#[derive(Clone)]
pub struct Nodo {
    /// Configuration.
    pub config: Arc<Config>,
    /// Station/domain tables.
    pub topology: Arc<Topology>,
    /// The store.
    pub store: Store,
    /// Current time.
    pub clock: Clock,
}

impl Nodo {
    /// Builds the handler context.
    pub fn new(config: Arc<Config>, store: Store, clock: Clock) -> Self {
        Self {
            topology: Arc::new(Topology::new(&config)),
            config,
            store,
            clock,
        }
    }

    /// Answers one decoded request. `raw` is the request body, kept with receipts.
    pub async fn handle(&self, request: Request, raw: &[u8]) -> Response {
        let op = operation_of(&request);
        let result = match request {
            Request::Verify(r) => self
                .check_caller(
                    &r.id_pa,
                    &r.id_broker_pa,
                    &r.id_station,
                    r.qr_code.fiscal_code.as_str(),
                )
                .and_then(|()| verify::handle(self, &r)),
            Request::GetPayment(r) => self
                .check_caller(
                    &r.id_pa,
                    &r.id_broker_pa,
                    &r.id_station,
                    r.qr_code.fiscal_code.as_str(),
                )
                .and_then(|()| get_payment::handle_v1(self, &r)),
            Request::GetPaymentV2(r) => self
                .check_caller(
                    &r.id_pa,
                    &r.id_broker_pa,
                    &r.id_station,
                    r.qr_code.fiscal_code.as_str(),
                )
                .and_then(|()| get_payment::handle_v2(self, &r)),
            Request::SendRt(r) => match self.check_caller(
                &r.id_pa,
                &r.id_broker_pa,
                &r.id_station,
                r.receipt.fiscal_code.as_str(),
            ) {
                Ok(()) => send_rt::handle(self, send_rt::Incoming::v1(&r, raw)).await,
                Err(f) => Err(f),
            },
            Request::SendRtV2(r) => match self.check_caller(
                &r.id_pa,
                &r.id_broker_pa,
                &r.id_station,
                r.receipt.fiscal_code.as_str(),
            ) {
                Ok(()) => send_rt::handle(self, send_rt::Incoming::v2(&r, raw)).await,
                Err(f) => Err(f),
            },
            Request::Demand(r) => self
                .check_caller(&r.id_pa, &r.id_broker_pa, &r.id_station, r.id_pa.as_str())
                .and_then(|()| {
                    Err(Fault::new(
                        FaultCode::PagamentoSconosciuto,
                        "spontaneous payment services are not offered by this station",
                    ))
                }),
        };
        result.unwrap_or_else(|fault| Response::ko(op, fault.bean(&self.topology.broker)))
    }

    /// Broker, station of that broker, and both creditor codes served through the station.
    fn check_caller(
        &self,
        id_pa: &Text35,
        id_broker: &Text35,
        id_station: &Text35,
        ec_fiscal_code: &str,
    ) -> Result<(), Fault> {
        let (id_pa, id_broker, id_station) =
            (id_pa.as_str(), id_broker.as_str(), id_station.as_str());
        if id_broker != self.topology.broker {
            return Err(Fault::new(
                FaultCode::IdIntermediarioErrato,
                format!("idBrokerPA {id_broker} is not the broker of this station"),
            ));
        }
        let Some(domains) = self.topology.stations.get(id_station) else {
            return Err(Fault::new(
                FaultCode::StazioneIntErrata,
                format!("idStation {id_station} is not a station of broker {id_broker}"),
            ));
        };
        for code in [id_pa, ec_fiscal_code] {
            if !domains.contains(code) {
                return Err(Fault::new(
                    FaultCode::IdDominioErrato,
                    format!("creditor {code} is not served through station {id_station}"),
                ));
            }
        }
        Ok(())
    }

    /// Finds a payable position for a notice, or the fault that says why it is not payable.
    fn payable(&self, fiscal_code: &str, notice: &str) -> Result<(Pendenza, NoticeNumber), Fault> {
        let unknown = || {
            Fault::new(
                FaultCode::PagamentoSconosciuto,
                format!("notice {notice} is unknown to creditor {fiscal_code}"),
            )
        };
        let nav = NoticeNumber::parse(notice).map_err(|_| unknown())?;
        let pendenza = self
            .store
            .pendenza(fiscal_code, nav.iuv())
            .map_err(system_error)?
            .filter(|p| p.numero_avviso == nav.as_str())
            .ok_or_else(unknown)?;
        match pendenza.stato_at((self.clock)()) {
            StatoEffettivo::NonEseguita => Ok((pendenza, nav)),
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
