//! paDemandPaymentNotice: a citizen pays a service at a PSP without a notice. Varco reads the
//! service data, creates the position (stored before the answer) and answers its notice number
//! and amount; verify, activate and receipt then work on it as on any position.
//!
//! The same data asked again while the position it created is payable gets that position back:
//! a request's identity is a digest of creditor, service and data, and the positions made for
//! one identity are the application's idPendenza `SP<service>-<digest>-<k>`, k = 0, 1, 2...
//! (the next k once the previous one is paid, cancelled or expired). The store's upsert decides
//! atomically, so two identical requests at once get one position on either engine.

use super::{Nodo, mapping, system_error};
use crate::config::Servizio;
use crate::domain::{Owner, Pendenza, StatoEffettivo, rome_today};
use crate::gestionale::{Verifica, VerificaError};
use crate::govpay::validate::{self, Caller};
use crate::servizi::{self, Dati};
use crate::soap::messages::{PaDemandPaymentNoticeRequest, PaDemandPaymentNoticeResponse, QrCode};
use crate::soap::schema::{FiscalCodePa, NoticeNumberText, Outcome, Text140};
use crate::soap::{Fault, FaultCode, Response};
use crate::store::{Planned, Refused, UpsertItem, Upserted};
use chrono::{DateTime, Days, Utc};

/// Answers a demand: the service's position for this data, created when there is none payable.
pub async fn handle(
    nodo: &Nodo,
    r: &PaDemandPaymentNoticeRequest,
    owner: &mut Option<Owner>,
) -> Result<Response, Fault> {
    let dominio = r.id_pa.as_str();
    let id_servizio = r.id_servizio.as_str();
    let now = (nodo.clock)();
    let unknown = |why: String| Fault::new(FaultCode::PagamentoSconosciuto, why);
    let servizio = nodo.config.servizio(dominio, id_servizio).ok_or_else(|| {
        unknown(format!(
            "service {id_servizio} is not offered by creditor {dominio}"
        ))
    })?;
    if servizio.id_soggetto_servizio != r.id_soggetto_servizio.as_str() {
        return Err(unknown(format!(
            "idSoggettoServizio {} is not creditor {dominio}'s for service {id_servizio}",
            r.id_soggetto_servizio.as_str()
        )));
    }
    let today = rome_today(now);
    if servizio.data_inizio_validita.is_some_and(|d| today < d)
        || servizio.data_fine_validita.is_some_and(|d| today > d)
    {
        return Err(unknown(format!(
            "service {id_servizio} is not offered on {today}"
        )));
    }
    let dati = Dati::decode(servizio, &r.dati_specifici_servizio_request.0).map_err(|e| {
        let field = if e.path.is_empty() {
            "datiSpecificiServizioRequest".to_owned()
        } else {
            format!("datiSpecificiServizioRequest/{}", e.path)
        };
        Fault::new(FaultCode::SintassiXsd, format!("{field}: {}", e.problem))
    })?;
    let importo = servizi::importo(servizio, &dati).map_err(|e| {
        Fault::new(
            FaultCode::Semantica,
            format!("datiSpecificiServizioRequest/{e}"),
        )
    })?;
    let p = position(nodo, servizio, &dati, importo, now).await?;
    // Durable before it is answered, also when another request just created it and has not
    // synced yet (a position is visible to readers before its flush).
    nodo.store.sync().await.map_err(system_error)?;
    *owner = Some(p.owner());
    let (company_name, office_name) = mapping::creditor_names(&nodo.config, &p.dominio);
    let internal = |what: &str| {
        tracing::error!(what, "a stored position does not fit the answer");
        Fault::new(FaultCode::SystemError, "internal error; please retry")
    };
    let fiscal_code = FiscalCodePa::new(p.dominio.clone()).map_err(|_| internal("fiscalCode"))?;
    Ok(Response::Demand(PaDemandPaymentNoticeResponse {
        outcome: Outcome::Ok,
        fault: None,
        qr_code: Some(QrCode {
            fiscal_code: fiscal_code.clone(),
            notice_number: NoticeNumberText::new(p.numero_avviso.clone())
                .map_err(|_| internal("noticeNumber"))?,
        }),
        payment_list: Some(mapping::payment_option(&p)),
        payment_description: Some(Text140::lossy(&p.causale)),
        fiscal_code_pa: Some(fiscal_code),
        company_name: Some(company_name),
        office_name,
    }))
}

/// Whether a position made for a request identity answers a repeat of it.
fn reusable(p: &Pendenza, now: DateTime<Utc>) -> bool {
    p.stato_at(now) == StatoEffettivo::NonEseguita
}

/// Why an upsert did not take the planned position: the slot holds one that no longer answers.
#[derive(Debug, Clone)]
struct SlotSpent;

/// The payable position for this data: one made earlier, or a new one (the caller syncs).
async fn position(
    nodo: &Nodo,
    servizio: &Servizio,
    dati: &Dati,
    importo: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Pendenza, Fault> {
    let digest = dati.digest(&servizio.dominio, &servizio.id_servizio);
    for k in 0..servizi::MAX_POSITIONS_PER_IDENTITY {
        let id_pendenza = servizi::id_pendenza(&servizio.id_servizio, &digest, k);
        match nodo
            .store
            .pendenza_of_app(&servizio.id_a2a, &id_pendenza)
            .await
            .map_err(system_error)?
        {
            Some(p) if reusable(&p, now) => return Ok(p),
            Some(_) => continue,
            None => {}
        }
        let (pendenza, generate) = build(nodo, servizio, dati, importo, &id_pendenza, now).await?;
        let rule = |stored: Option<&Pendenza>| match stored {
            None => Ok(Planned::Create {
                pendenza: pendenza.clone(),
                generate: Some(generate.clone()),
            }),
            Some(p) if reusable(p, now) => Ok(Planned::Unchanged),
            Some(_) => Err(SlotSpent),
        };
        let outcome = nodo
            .store
            .upsert_batch(&[UpsertItem {
                id_a2a: &servizio.id_a2a,
                id_pendenza: &id_pendenza,
                rule: &rule,
            }])
            .await
            .map_err(system_error)?
            .pop();
        match outcome {
            Some(Ok(Upserted::Created(p))) => {
                tracing::info!(
                    notice = %p.numero_avviso,
                    id_servizio = %servizio.id_servizio,
                    id_a2a = %servizio.id_a2a,
                    "spontaneous payment position created"
                );
                return Ok(p);
            }
            Some(Ok(Upserted::Unchanged(p) | Upserted::Updated(p))) => return Ok(p),
            Some(Err(Refused::Rule(SlotSpent))) => continue,
            Some(Err(Refused::NoticeTaken { numero_avviso, .. })) => {
                tracing::error!(notice = %numero_avviso, "a drawn notice number is taken");
                return Err(Fault::new(
                    FaultCode::SystemError,
                    "internal error; please retry",
                ));
            }
            None => {
                return Err(system_error(crate::store::StoreError::Invariant(
                    "empty upsert result".into(),
                )));
            }
        }
    }
    Err(Fault::new(
        FaultCode::Semantica,
        format!(
            "this service data has had {} positions already; the creditor must be contacted",
            servizi::MAX_POSITIONS_PER_IDENTITY
        ),
    ))
}

/// The new position for `id_pendenza` and the segregation code its notice number is drawn
/// with: from the service's amount, or from the gestionale.
async fn build(
    nodo: &Nodo,
    servizio: &Servizio,
    dati: &Dati,
    importo: Option<i64>,
    id_pendenza: &str,
    now: DateTime<Utc>,
) -> Result<(Pendenza, String), Fault> {
    let config = &nodo.config;
    let scadenza = rome_today(now)
        .checked_add_days(Days::new(u64::from(servizio.validita_giorni)))
        .ok_or_else(|| Fault::new(FaultCode::SystemError, "internal error; please retry"))?;
    let (mut pendenza, generate) = match importo {
        Some(cents) => {
            let request = servizi::nuova_pendenza(config, servizio, dati, cents, scadenza);
            let app = config.applicazione(&servizio.id_a2a).ok_or_else(|| {
                Fault::new(FaultCode::SystemError, "internal error; please retry")
            })?;
            let v = validate::nuova_pendenza(config, &Caller::of(app), id_pendenza, &request, now)
                .map_err(|e| {
                    // The configuration made a position the rules refuse (an entrata gone,
                    // a causale too long): the creditor's to fix, not the PSP's.
                    tracing::error!(id_servizio = %servizio.id_servizio, error = %e, "the service's position is refused by the rules");
                    Fault::new(
                        FaultCode::SystemError,
                        "the creditor's configuration of this service is invalid",
                    )
                })?;
            (v.pendenza, v.generate)
        }
        None => ask_gestionale(nodo, servizio, dati, id_pendenza, now).await?,
    };
    if pendenza.data_scadenza.is_none() {
        pendenza.data_scadenza = Some(scadenza);
    }
    if pendenza.dettagli.dati_allegati.is_none() {
        pendenza.dettagli.dati_allegati = Some(servizi::dati_allegati(servizio, dati));
    }
    pendenza.dettagli.uuid = Some(uuid::Uuid::new_v4().simple().to_string());
    let generate = generate
        .ok_or_else(|| Fault::new(FaultCode::SystemError, "internal error; please retry"))?;
    Ok((pendenza, generate))
}

/// The gestionale's position for this data, or the fault its answer (or silence) means.
async fn ask_gestionale(
    nodo: &Nodo,
    servizio: &Servizio,
    dati: &Dati,
    id_pendenza: &str,
    now: DateTime<Utc>,
) -> Result<(Pendenza, Option<String>), Fault> {
    let richiesta = serde_json::json!({
        "idDominio": servizio.dominio,
        "idServizio": servizio.id_servizio,
        "idSoggettoServizio": servizio.id_soggetto_servizio,
        "idTipoPendenza": servizio.tipo_pendenza,
        "idA2A": servizio.id_a2a,
        "idPendenza": id_pendenza,
        "dati": dati.json(),
    });
    let answer = nodo
        .gestionale
        .price(&nodo.config, servizio, &richiesta, id_pendenza, now)
        .await;
    let with_why = |text: String, why: &str| {
        if why.trim().is_empty() {
            text
        } else {
            format!("{text} ({})", why.trim())
        }
    };
    match answer {
        Ok((Verifica::Pendenza(p), generate)) => Ok((*p, generate)),
        Ok((Verifica::Sconosciuta(why), _)) => Err(Fault::new(
            FaultCode::PagamentoSconosciuto,
            with_why(
                format!(
                    "the creditor's system knows no payment of service {} for this data",
                    servizio.id_servizio
                ),
                &why,
            ),
        )),
        Ok((Verifica::Annullata(why), _)) => Err(Fault::new(
            FaultCode::PagamentoAnnullato,
            with_why("the creditor's system cancelled this payment".into(), &why),
        )),
        Ok((Verifica::Scaduta(why), _)) => Err(Fault::new(
            FaultCode::PagamentoScaduto,
            with_why(
                "the creditor's system says this payment expired".into(),
                &why,
            ),
        )),
        Err(e) => {
            tracing::warn!(id_servizio = %servizio.id_servizio, id_a2a = %servizio.id_a2a, error = %e, "gestionale pricing failed");
            Err(Fault::new(
                FaultCode::SystemError,
                match &e {
                    VerificaError::Invalid(why) | VerificaError::Contradiction(why) => why.clone(),
                    _ => "the creditor's system could not be reached; please retry".to_owned(),
                },
            ))
        }
    }
}
