//! What a paForNode request is about before any rule runs: who calls (the caller checks) and
//! which creditor, notice and receipt it names (the ids the journal records).

use crate::config::Config;
use crate::domain::evento::{DatiPagoPa, Evento};
use crate::domain::{Owner, iuv_of};
use crate::soap::{Fault, FaultCode, Request};

/// The ids a paForNode request names, as the journal records them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallIds {
    /// The creditor (the notice's or receipt's fiscal code; idPA for a demand).
    pub dominio: String,
    /// The notice number, when the request names one.
    pub numero_avviso: Option<String>,
    /// The IUV the position is stored under ([`iuv_of`]).
    pub iuv: Option<String>,
    /// The receiptId of a receipt.
    pub id_ricevuta: Option<String>,
    /// Broker, station, and for a receipt the PSP and channel.
    pub dati: DatiPagoPa,
}

impl CallIds {
    /// The ids `request` names.
    pub fn of(request: &Request) -> Self {
        let (_, broker, station) = request.header();
        let mut dati = DatiPagoPa {
            id_intermediario: Some(broker.to_owned()),
            id_stazione: Some(station.to_owned()),
            ..DatiPagoPa::default()
        };
        // Both receipt versions carry these fields: receiptId, noticeNumber, idPSP, idChannel,
        // creditorReferenceId.
        let receipt = match request {
            Request::SendRt(r) => Some([
                r.receipt.receipt_id.0.as_str(),
                r.receipt.notice_number.as_str(),
                r.receipt.id_psp.as_str(),
                r.receipt.id_channel.as_str(),
                r.receipt.creditor_reference_id.as_str(),
            ]),
            Request::SendRtV2(r) => Some([
                r.receipt.receipt_id.0.as_str(),
                r.receipt.notice_number.as_str(),
                r.receipt.id_psp.as_str(),
                r.receipt.id_channel.as_str(),
                r.receipt.creditor_reference_id.as_str(),
            ]),
            _ => None,
        };
        let (notice, id_ricevuta, reference) = match (request, receipt) {
            (_, Some([id, notice, psp, channel, reference])) => {
                dati.id_psp = Some(psp.to_owned());
                dati.id_canale = Some(channel.to_owned());
                (notice, Some(id.to_owned()), Some(reference))
            }
            (Request::Verify(r), None) => (r.qr_code.notice_number.as_str(), None, None),
            (Request::GetPayment(r) | Request::GetPaymentV2(r), None) => {
                (r.qr_code.notice_number.as_str(), None, None)
            }
            _ => ("", None, None),
        };
        Self {
            dominio: request.creditor().to_owned(),
            numero_avviso: (!notice.is_empty()).then(|| notice.to_owned()),
            iuv: iuv_of(notice, reference),
            id_ricevuta,
            dati,
        }
    }

    /// Writes the ids, and the owner of the position the call read, into a journal event.
    pub fn fill(self, owner: Option<Owner>, e: &mut Evento) {
        e.id_dominio = Some(self.dominio);
        e.numero_avviso = self.numero_avviso;
        e.iuv = self.iuv;
        e.id_ricevuta = self.id_ricevuta;
        e.dati_pago_pa = Some(self.dati);
        if let Some(owner) = owner {
            e.id_a2a = owner.id_a2a;
            e.id_pendenza = owner.id_pendenza;
        }
    }
}

/// The caller checks, in the order pagoPA gives them: idBrokerPA is this station's broker,
/// idStation is one of its stations, and both idPA and the creditor the request is about are
/// served through that station.
pub fn check_caller(config: &Config, request: &Request) -> Result<(), Fault> {
    let (id_pa, id_broker, id_station) = request.header();
    check_ids(config, id_pa, id_broker, id_station, request.creditor())
}

/// [`check_caller`] on the ids themselves (the REST payment-options call carries them as
/// query parameters).
pub fn check_ids(
    config: &Config,
    id_pa: &str,
    id_broker: &str,
    id_station: &str,
    creditor: &str,
) -> Result<(), Fault> {
    if id_broker != config.intermediario.id {
        return Err(Fault::new(
            FaultCode::IdIntermediarioErrato,
            format!("idBrokerPA {id_broker} is not the broker of this station"),
        ));
    }
    let Some(domains) = config.station_domains(id_station) else {
        return Err(Fault::new(
            FaultCode::StazioneIntErrata,
            format!("idStation {id_station} is not a station of broker {id_broker}"),
        ));
    };
    for code in [id_pa, creditor] {
        if !domains.contains(code) {
            return Err(Fault::new(
                FaultCode::IdDominioErrato,
                format!("creditor {code} is not served through station {id_station}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NoticeNumber;

    /// A decoded paVerifyPaymentNotice with these header fields and notice.
    fn verify(id_pa: &str, broker: &str, station: &str, ec: &str, notice: &str) -> Request {
        let body = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:paVerifyPaymentNoticeReq xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA>{id_pa}</idPA><idBrokerPA>{broker}</idBrokerPA><idStation>{station}</idStation><qrCode><fiscalCode>{ec}</fiscalCode><noticeNumber>{notice}</noticeNumber></qrCode></p:paVerifyPaymentNoticeReq></s:Body></s:Envelope>"#
        );
        crate::soap::decode(Some("paVerifyPaymentNotice"), body.as_bytes()).unwrap()
    }

    fn code(r: Result<(), Fault>) -> Option<String> {
        r.err().map(|f| f.bean("77777777777").fault_code.0.clone())
    }

    #[test]
    fn caller_checks_run_broker_then_station_then_both_creditors() {
        let config = Config::demo();
        let nav = NoticeNumber::aux3("01", 5);
        let n = nav.as_str();
        let (ec, broker, station) = ("77777777777", "77777777777", "77777777777_01");
        assert_eq!(
            code(check_caller(&config, &verify(ec, broker, station, ec, n))),
            None
        );
        // Each wrong field gets its own fault, and the broker is checked before the station.
        let wrong_broker = verify(ec, "11111111111", "nope", ec, n);
        assert_eq!(
            code(check_caller(&config, &wrong_broker)).as_deref(),
            Some("PAA_ID_INTERMEDIARIO_ERRATO")
        );
        let wrong_station = verify(ec, broker, "77777777777_99", ec, n);
        assert_eq!(
            code(check_caller(&config, &wrong_station)).as_deref(),
            Some("PAA_STAZIONE_INT_ERRATA")
        );
        let wrong_id_pa = verify("11111111111", broker, station, ec, n);
        assert_eq!(
            code(check_caller(&config, &wrong_id_pa)).as_deref(),
            Some("PAA_ID_DOMINIO_ERRATO")
        );
        // The notice's creditor must be served too, not only the caller's idPA.
        let wrong_creditor = verify(ec, broker, station, "11111111111", n);
        let fault = check_caller(&config, &wrong_creditor).unwrap_err();
        assert_eq!(fault.bean(broker).fault_code.0, "PAA_ID_DOMINIO_ERRATO");
        assert!(format!("{:?}", fault).contains("11111111111"));
    }

    #[test]
    fn the_ids_of_a_call_use_the_one_iuv_rule() {
        let nav = NoticeNumber::aux3("01", 5);
        let ec = "77777777777";
        let ids = CallIds::of(&verify(ec, ec, "77777777777_01", ec, nav.as_str()));
        assert_eq!(ids.dominio, ec);
        assert_eq!(ids.numero_avviso.as_deref(), Some(nav.as_str()));
        assert_eq!(ids.iuv.as_deref(), Some(nav.iuv()));
        assert_eq!(ids.dati.id_stazione.as_deref(), Some("77777777777_01"));
        assert_eq!(ids.id_ricevuta, None);
        let mut e = Evento::new(
            crate::domain::evento::Categoria::Soap,
            "paVerifyPaymentNotice",
            chrono::Utc::now(),
            std::time::Duration::ZERO,
            crate::domain::evento::Esito::Ok,
        );
        let owner = Owner {
            id_a2a: Some("demo".into()),
            id_pendenza: Some("p-1".into()),
        };
        ids.fill(Some(owner), &mut e);
        assert_eq!(e.id_a2a.as_deref(), Some("demo"));
        assert_eq!(e.id_pendenza.as_deref(), Some("p-1"));
        assert_eq!(e.iuv.as_deref(), Some(nav.iuv()));
    }
}
