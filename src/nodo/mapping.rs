//! From a stored position to the paForNode data types. Every value is fitted to its facet here
//! (lengths cut on character boundaries, optional fields dropped when they cannot be valid), so
//! what Varco emits always validates against the official schema.

use crate::config::Config;
use crate::domain::{Accredito, Pendenza, Soggetto, Voce};
use crate::soap::messages::*;
use crate::soap::schema::*;
use chrono::NaiveDate;

/// Used as dueDate when a position has neither a validity nor a due date (the element is
/// mandatory in ctPaymentPA): GovPay's 2999-12-31.
pub fn far_due_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2999, 12, 31).expect("valid date")
}

/// dueDate: the validity date (the date printed on the notice) or else the due date.
pub fn due_date(p: &Pendenza) -> NaiveDate {
    p.data_validita
        .or(p.data_scadenza)
        .unwrap_or_else(far_due_date)
}

/// The one payment option of a verify answer.
pub fn payment_option(p: &Pendenza) -> PaymentOptionsList {
    PaymentOptionsList {
        options: vec![PaymentOptionDescription {
            amount: AmountNotZero(p.importo),
            options: AmountOption::Eq,
            due_date: Some(IsoDate(due_date(p))),
            detail_description: Some(Text140::lossy(&p.causale)),
            all_ccp: p.all_postal(),
        }],
    }
}

fn fit<T>(
    value: Option<&str>,
    max: usize,
    make: impl Fn(String) -> Result<T, SchemaError>,
) -> Option<T> {
    make(fit_text(value?, max)).ok()
}

/// The debtor as ctSubject.
pub fn subject(s: &Soggetto) -> Subject {
    let kind = if s.tipo == "G" {
        EntityType::G
    } else {
        EntityType::F
    };
    let value = EntityValue::new(fit_text(&s.identificativo, 16).to_uppercase())
        .unwrap_or_else(|_| EntityValue::new("ANONIMO").expect("valid"));
    Subject {
        unique_identifier: EntityUniqueIdentifier { kind, value },
        full_name: Text70::lossy(s.anagrafica.trim()),
        street_name: fit(s.indirizzo.as_deref(), 70, Text70::new),
        civic_number: fit(s.civico.as_deref(), 16, Text16::new),
        postal_code: fit(s.cap.as_deref(), 16, Text16::new),
        city: fit(s.localita.as_deref(), 35, Text35::new),
        state_province_region: fit(s.provincia.as_deref(), 35, Text35::new),
        country: s
            .nazione
            .as_deref()
            .and_then(|n| NazioneProvincia::new(n.trim().to_uppercase()).ok()),
        email: s.email.as_deref().and_then(|e| Email::new(e.trim()).ok()),
    }
}

/// A ctSubject (a receipt's payer) as the domain keeps a person.
pub fn soggetto(s: &Subject) -> Soggetto {
    let text = |t: Option<&str>| t.map(str::to_owned);
    Soggetto {
        tipo: s.unique_identifier.kind.as_str().to_owned(),
        identificativo: s.unique_identifier.value.as_str().to_owned(),
        anagrafica: s.full_name.as_str().to_owned(),
        indirizzo: text(s.street_name.as_ref().map(|t| t.as_str())),
        civico: text(s.civic_number.as_ref().map(|t| t.as_str())),
        cap: text(s.postal_code.as_ref().map(|t| t.as_str())),
        localita: text(s.city.as_ref().map(|t| t.as_str())),
        provincia: text(s.state_province_region.as_ref().map(|t| t.as_str())),
        nazione: text(s.country.as_ref().map(|t| t.as_str())),
        email: text(s.email.as_ref().map(|t| t.as_str())),
        cellulare: None,
    }
}

/// `/RFB/<iuv>/<amount>[/TXT/<text>]`, at most 140 characters.
pub fn remittance_information(iuv: &str, voce: &Voce) -> Text140 {
    let text = voce
        .descrizione_causale_rpt
        .as_deref()
        .unwrap_or(&voce.descrizione)
        .trim();
    let mut s = format!("/RFB/{iuv}/{}", crate::domain::money::format(voce.importo));
    if !text.is_empty() {
        s.push_str("/TXT/");
        s.push_str(text);
    }
    Text140::lossy(&s)
}

/// A value of free-form data as a metadata text, as GovPay writes it (a nested object as
/// `{key=value, ...}`).
fn data_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", data_text(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(data_text).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// The accounting of an item (`contabilita.quote`) as transfer metadata, GovPay's way: one
/// quota gives an entry per field it has (`CAPITOLOBILANCIO`, ..., then its custom
/// properties); several give one entry each, the fields comma-separated under a key naming
/// them, with the quota's amount in cents.
fn contabilita_metadata(v: &Voce) -> Vec<(String, String)> {
    const FIELDS: [(&str, &str); 7] = [
        ("capitolo", "CAPITOLOBILANCIO"),
        ("articolo", "ARTICOLOBILANCIO"),
        ("accertamento", "CODICEACCERTAMENTO"),
        ("annoEsercizio", "ANNORIFERIMENTO"),
        ("titolo", "TITOLOBILANCIO"),
        ("categoria", "CATEGORIABILANCIO"),
        ("tipologia", "TIPOLOGIABILANCIO"),
    ];
    let Some(quote) = v
        .contabilita
        .as_ref()
        .and_then(|c| c.get("quote"))
        .and_then(|q| q.as_array())
    else {
        return Vec::new();
    };
    let field = |q: &serde_json::Value, name: &str| q.get(name).map(data_text).unwrap_or_default();
    match quote.as_slice() {
        [] => Vec::new(),
        [q] => {
            let mut out: Vec<(String, String)> = FIELDS
                .iter()
                .map(|(name, key)| ((*key).to_owned(), field(q, name)))
                .filter(|(_, value)| !value.is_empty())
                .collect();
            if let Some(custom) = q.get("proprietaCustom").and_then(|c| c.as_object()) {
                out.extend(custom.iter().map(|(k, v)| (k.clone(), data_text(v))));
            }
            out
        }
        many => {
            let mut key: Vec<&str> = FIELDS.iter().map(|(_, key)| *key).collect();
            key.push("IMPORTOEUROCENT");
            let key = key.join(",");
            many.iter()
                .map(|q| {
                    let mut values: Vec<String> =
                        FIELDS.iter().map(|(name, _)| field(q, name)).collect();
                    let cents = q
                        .get("importo")
                        .and_then(|i| crate::domain::money::parse_decimal(&i.to_string()))
                        .unwrap_or_default();
                    values.push(cents.to_string());
                    (key.clone(), values.join(","))
                })
                .collect()
        }
    }
}

/// An item's transfer metadata: what the gestionale gave, then its accounting.
fn voce_metadata(v: &Voce) -> Vec<(String, String)> {
    let mut meta = v.metadata.clone();
    meta.extend(contabilita_metadata(v));
    meta
}

fn metadata(entries: &[(String, String)]) -> Option<Metadata> {
    let entries: Vec<MapEntry> = entries
        .iter()
        .take(15)
        .map(|(k, v)| MapEntry {
            key: Text140::lossy(k),
            value: Text140::lossy(v),
        })
        .collect();
    (!entries.is_empty()).then_some(Metadata { entries })
}

/// The IBAN to credit for a transfer: its postal account when the PSP asked for POSTAL and the
/// item has one (on every transfer, as pagoPA's own debt-position service does: a notice that
/// verify announced with `allCCP=true` then credits postal accounts only), else its IBAN.
fn iban_for(accredito: &Accredito, transfer_type: Option<TransferType>) -> Option<String> {
    match accredito {
        Accredito::Iban {
            iban, iban_postale, ..
        } => Some(match (transfer_type, iban_postale) {
            (Some(TransferType::Postal), Some(postal)) => postal.clone(),
            _ => iban.clone(),
        }),
        Accredito::Bollo { .. } => None,
    }
}

/// ctPaymentPA (V1). Fails when a voce is a stamp (V1 cannot carry one).
pub fn payment_v1(
    config: &Config,
    p: &Pendenza,
    transfer_type: Option<TransferType>,
) -> Result<PaymentPa, String> {
    let mut transfers = Vec::with_capacity(p.voci.len());
    for (i, v) in p.voci.iter().enumerate() {
        let iban = iban_for(&v.accredito, transfer_type).ok_or_else(|| {
            "a digital stamp (marca da bollo) can only be paid through paGetPaymentV2".to_string()
        })?;
        transfers.push(TransferPa {
            id_transfer: IdTransfer(i as u8 + 1),
            transfer_amount: AmountNotZero(v.importo),
            fiscal_code_pa: FiscalCodePa::new(v.dominio.clone()).map_err(|e| e.to_string())?,
            iban: Iban::new(iban).map_err(|e| e.to_string())?,
            remittance_information: remittance_information(&p.iuv, v),
            transfer_category: Text140::lossy(&v.transfer_category),
            metadata: metadata(&voce_metadata(v)),
        });
    }
    let dominio = config.dominio(&p.dominio);
    Ok(PaymentPa {
        creditor_reference_id: Text35::new(p.iuv.clone()).map_err(|e| e.to_string())?,
        payment_amount: AmountNotZero(p.voci.iter().map(|v| v.importo).sum()),
        due_date: IsoDate(due_date(p)),
        retention_date: None,
        // One payment option, so this payment is the last one (as GovPay answers).
        last_payment: Some(true),
        description: Text140::lossy(&p.causale),
        company_name: dominio.map(|d| Text140::lossy(&d.ragione_sociale)),
        office_name: dominio
            .and_then(|d| d.ufficio.as_deref())
            .map(Text140::lossy),
        debtor: subject(&p.soggetto),
        transfer_list: TransferListPa { transfers },
        metadata: None,
    })
}

/// ctPaymentPAV2: per-transfer companyName, stamps as richiestaMarcaDaBollo.
pub fn payment_v2(
    config: &Config,
    p: &Pendenza,
    transfer_type: Option<TransferType>,
) -> Result<PaymentPaV2, String> {
    let mut transfers = Vec::with_capacity(p.voci.len());
    for (i, v) in p.voci.iter().enumerate() {
        let (iban, stamp) = match &v.accredito {
            Accredito::Iban { .. } => (
                Some(
                    Iban::new(iban_for(&v.accredito, transfer_type).unwrap_or_default())
                        .map_err(|e| e.to_string())?,
                ),
                None,
            ),
            Accredito::Bollo {
                tipo_bollo: _,
                hash_documento,
                provincia_residenza,
            } => (
                None,
                Some(RichiestaMarcaDaBollo {
                    hash_documento: Base64Binary72(hash_documento.clone()),
                    tipo_bollo: TipoBollo::Bollo01,
                    provincia_residenza: NazioneProvincia::new(provincia_residenza.clone())
                        .map_err(|e| e.to_string())?,
                }),
            ),
        };
        let mut meta = voce_metadata(v);
        // SANP best practice: with transferType=PAGOPA name the postal alternative account.
        if transfer_type == Some(TransferType::Pagopa)
            && let Accredito::Iban {
                iban_postale: Some(postal),
                iban,
                ..
            } = &v.accredito
            && postal != iban
            && !meta.iter().any(|(k, _)| k == "IBANAPPOGGIO")
        {
            meta.push(("IBANAPPOGGIO".into(), postal.clone()));
        }
        transfers.push(TransferPaV2 {
            id_transfer: IdTransfer(i as u8 + 1),
            transfer_amount: AmountNotZero(v.importo),
            fiscal_code_pa: FiscalCodePa::new(v.dominio.clone()).map_err(|e| e.to_string())?,
            // The creditor of this transfer: the position's, or a beneficiary's.
            company_name: config
                .creditore(&v.dominio)
                .map(|c| Text140::lossy(c.ragione_sociale())),
            iban,
            richiesta_marca_da_bollo: stamp,
            remittance_information: remittance_information(&p.iuv, v),
            transfer_category: Text140::lossy(&v.transfer_category),
            metadata: metadata(&meta),
        });
    }
    let (company_name, office_name) = creditor_names(config, &p.dominio);
    Ok(PaymentPaV2 {
        creditor_reference_id: Text35::new(p.iuv.clone()).map_err(|e| e.to_string())?,
        payment_amount: AmountNotZero(p.voci.iter().map(|v| v.importo).sum()),
        due_date: IsoDate(due_date(p)),
        retention_date: None,
        // One payment option, so this payment is the last one (as GovPay answers).
        last_payment: Some(true),
        description: Text140::lossy(&p.causale),
        company_name,
        office_name,
        debtor: subject(&p.soggetto),
        transfer_list: TransferListPaV2 { transfers },
        metadata: None,
    })
}

/// The creditor's name (its fiscal code when the registry has none) and office, as verify and
/// paGetPaymentV2 carry them.
pub fn creditor_names(config: &Config, dominio: &str) -> (Text140, Option<Text140>) {
    let d = config.dominio(dominio);
    (
        Text140::lossy(d.map_or(dominio, |d| d.ragione_sociale.as_str())),
        d.and_then(|d| d.ufficio.as_deref()).map(Text140::lossy),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NoticeNumber;

    const POSTAL: &str = "IT70X0760101600000012345678";
    const BANK: &str = "IT60X0542811101000000123456";

    /// A position of two items, both crediting a bank account with a postal alternative.
    fn two_postal_items() -> (Config, Pendenza) {
        let config = Config::demo();
        let mut p = crate::demo::sample(&config, &NoticeNumber::aux3("01", 7), chrono::Utc::now());
        p.voci[0].accredito = Accredito::Iban {
            iban: BANK.into(),
            iban_postale: Some(POSTAL.into()),
            iban_appoggio: Some(POSTAL.into()),
        };
        p.voci[0].importo = 7000;
        let mut second = p.voci[0].clone();
        second.id_voce = "seconda".into();
        second.importo = 5000;
        p.voci.push(second);
        (config, p)
    }

    #[test]
    fn postal_is_honoured_on_every_transfer_that_verify_announced_as_postal() {
        let (config, mut p) = two_postal_items();
        assert!(payment_option(&p).options[0].all_ccp);
        let v1 = payment_v1(&config, &p, Some(TransferType::Postal)).unwrap();
        let ibans: Vec<&str> = v1
            .transfer_list
            .transfers
            .iter()
            .map(|t| t.iban.as_str())
            .collect();
        assert_eq!(ibans, [POSTAL, POSTAL]);
        let v2 = payment_v2(&config, &p, Some(TransferType::Postal)).unwrap();
        for t in &v2.transfer_list.transfers {
            assert_eq!(t.iban.as_ref().map(|i| i.as_str()), Some(POSTAL));
        }
        // Without POSTAL the bank account is credited.
        let plain = payment_v1(&config, &p, None).unwrap();
        assert!(
            plain
                .transfer_list
                .transfers
                .iter()
                .all(|t| t.iban.as_str() == BANK)
        );
        // One item without a postal account: verify does not announce allCCP, and that item
        // keeps its bank account under POSTAL.
        p.voci[1].accredito = Accredito::Iban {
            iban: BANK.into(),
            iban_postale: None,
            iban_appoggio: None,
        };
        assert!(!payment_option(&p).options[0].all_ccp);
        let mixed = payment_v1(&config, &p, Some(TransferType::Postal)).unwrap();
        let ibans: Vec<&str> = mixed
            .transfer_list
            .transfers
            .iter()
            .map(|t| t.iban.as_str())
            .collect();
        assert_eq!(ibans, [POSTAL, BANK]);
    }
}
