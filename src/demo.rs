//! The demo positions seeded on first start of the demo configuration: one per case a new user
//! (and the fixtures) will want to try. Notice numbers are aux 3 with the demo domain's first
//! segregation code and references 1, 2, 3...

use crate::config::Config;
use crate::domain::NoticeNumber;
use crate::domain::transfer_category;
use crate::domain::{Accredito, Pendenza, Soggetto, Stato, Voce, iban};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};

/// One demo case.
pub struct DemoCase {
    /// Reference number (the IUV base).
    pub reference: u64,
    /// What it demonstrates.
    pub what: &'static str,
}

/// The cases, in reference order.
pub const CASES: &[DemoCase] = &[
    DemoCase {
        reference: 1,
        what: "payable, one item (TARI 120.00)",
    },
    DemoCase {
        reference: 2,
        what: "payable, two items (150.00 + 20.50)",
    },
    DemoCase {
        reference: 3,
        what: "already paid",
    },
    DemoCase {
        reference: 4,
        what: "cancelled",
    },
    DemoCase {
        reference: 5,
        what: "expired (due 2020-01-31)",
    },
    DemoCase {
        reference: 6,
        what: "payable, with a digital stamp (paGetPaymentV2 only)",
    },
    DemoCase {
        reference: 7,
        what: "payable, paid by the paSendRT fixture",
    },
    DemoCase {
        reference: 8,
        what: "payable, paid by the paSendRTV2 fixture",
    },
    DemoCase {
        reference: 9,
        what: "payable, to a postal account",
    },
    DemoCase {
        reference: 10,
        what: "payable, for you to pay with the curl lines below",
    },
];

fn debtor() -> Soggetto {
    Soggetto {
        tipo: "F".into(),
        identificativo: "RSSMRA80A01H501U".into(),
        anagrafica: "Mario Rossi".into(),
        indirizzo: Some("Via Roma".into()),
        civico: Some("1".into()),
        cap: Some("00100".into()),
        localita: Some("Roma".into()),
        provincia: Some("RM".into()),
        nazione: Some("IT".into()),
        email: None,
        cellulare: None,
    }
}

/// The notice number of demo reference `n`.
pub fn notice(config: &Config, n: u64) -> Option<NoticeNumber> {
    let d = config.domini.first()?;
    let seg = d.segregation_codes.first()?;
    Some(NoticeNumber::aux3(seg, n))
}

/// Seeds the demo positions that are missing; returns how many were written.
pub async fn seed(config: &Config, store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let Some(dominio) = config
        .domini
        .iter()
        .find(|d| d.aux_digit == 3 && !d.entrate.is_empty())
    else {
        return Ok(0);
    };
    let entrata = |i: usize| &dominio.entrate[i.min(dominio.entrate.len() - 1)];
    let voce = |id: &str, cents: i64, descr: &str, e: usize| {
        let e = entrata(e);
        Voce {
            id_voce: id.into(),
            importo: cents,
            descrizione: descr.into(),
            descrizione_causale_rpt: None,
            dominio: dominio.id.clone(),
            accredito: Accredito::Iban {
                iban: e.iban.clone(),
                iban_postale: if iban::is_postal(&e.iban) {
                    Some(e.iban.clone())
                } else {
                    e.iban_appoggio.clone().filter(|a| iban::is_postal(a))
                },
                iban_appoggio: e.iban_appoggio.clone(),
            },
            transfer_category: transfer_category(e.tipo_contabilita, &e.codice_contabilita),
            metadata: vec![],
            origine: None,
            contabilita: None,
            dati_allegati: None,
        }
    };
    let postal_index = dominio
        .entrate
        .iter()
        .position(|e| iban::is_postal(&e.iban))
        .unwrap_or(0);
    let mut written = 0;
    for case in CASES {
        let Some(nav) = notice(config, case.reference) else {
            return Ok(written);
        };
        let (causale, voci, stato, scadenza): (&str, Vec<Voce>, Stato, Option<NaiveDate>) =
            match case.reference {
                2 => (
                    "Canone occupazione suolo pubblico 2026",
                    vec![
                        voce("canone", 15000, "Canone 2026", 0),
                        voce("diritti", 2050, "Diritti di istruttoria", 0),
                    ],
                    Stato::NonEseguita,
                    NaiveDate::from_ymd_opt(2099, 12, 31),
                ),
                3 => (
                    "Tassa rifiuti 2025",
                    vec![voce("tari", 9000, "TARI 2025", 0)],
                    Stato::Eseguita,
                    None,
                ),
                4 => (
                    "Sanzione annullata",
                    vec![voce("multa", 4200, "Sanzione", 0)],
                    Stato::Annullata,
                    None,
                ),
                5 => (
                    "Retta mensa gennaio 2020",
                    vec![voce("mensa", 3500, "Mensa", 0)],
                    Stato::NonEseguita,
                    NaiveDate::from_ymd_opt(2020, 1, 31),
                ),
                6 => {
                    let mut v = vec![voce("diritti", 5000, "Diritti di segreteria", 0)];
                    v.push(Voce {
                        id_voce: "bollo".into(),
                        importo: 1600,
                        descrizione: "Marca da bollo".into(),
                        descrizione_causale_rpt: None,
                        dominio: dominio.id.clone(),
                        accredito: Accredito::Bollo {
                            tipo_bollo: "01".into(),
                            hash_documento: "ZGVtby1kb2N1bWVudC1oYXNoLTMyLWJ5dGVzLWxvbmchIQ=="
                                .into(),
                            provincia_residenza: "RM".into(),
                        },
                        transfer_category: "9/0301116TS/".into(),
                        metadata: vec![],
                        origine: None,
                        contabilita: None,
                        dati_allegati: None,
                    });
                    ("Certificato con bollo", v, Stato::NonEseguita, None)
                }
                9 => (
                    "Servizio idrico 2026",
                    vec![voce("acqua", 8790, "Acqua", postal_index)],
                    Stato::NonEseguita,
                    None,
                ),
                7 | 8 | 10 => (
                    "Tassa rifiuti 2026",
                    vec![voce("tari", 12000, "TARI 2026", 0)],
                    Stato::NonEseguita,
                    None,
                ),
                _ => (
                    "Tassa rifiuti 2026",
                    vec![voce("tari", 12000, "TARI 2026", 0)],
                    Stato::NonEseguita,
                    NaiveDate::from_ymd_opt(2099, 12, 31),
                ),
            };
        let mut p = sample(config, &nav, now);
        p.id_a2a = config.applicazioni.first().map(|a| a.id_a2a.clone());
        p.id_pendenza = Some(format!("demo-{}", case.reference));
        p.id_tipo_pendenza =
            (config.tipi_pendenza.first()).map_or_else(|| "LIBERO".into(), |t| t.id.clone());
        p.causale = causale.into();
        p.importo = voci.iter().map(|v| v.importo).sum();
        p.data_scadenza = scadenza;
        p.voci = voci;
        p.stato = stato;
        if store.insert_pendenza(&p).await? {
            written += 1;
        }
    }
    store.flush_blocking()?;
    Ok(written)
}

/// What `make run` prints: the demo cases and the curl lines that pay one.
pub fn instructions(
    config: &Config,
    nodo: std::net::SocketAddr,
    api: std::net::SocketAddr,
) -> String {
    let mut out = String::new();
    out.push_str(&format!("\nVarco is running.\n  nodo (pagoPA SOAP): http://{nodo}/paForNode   WSDL: http://{nodo}/paForNode?wsdl\n  api: http://{api}/healthz\n\nDemo notices of {}:\n",
        config.domini.first().map(|d| d.ragione_sociale.as_str()).unwrap_or("-")));
    for case in CASES {
        if let Some(n) = notice(config, case.reference) {
            out.push_str(&format!("  {}  {}\n", n.grouped(), case.what));
        }
    }
    let url = format!("http://{nodo}/paForNode");
    out.push_str("\nPay notice 3010 0000 0000 0010 ..: verify, activate, send the receipt (from the repository root):\n");
    for (action, file) in [
        ("paVerifyPaymentNotice", "fixtures/demo/verify.xml"),
        ("paGetPaymentV2", "fixtures/demo/get-payment-v2.xml"),
        ("paSendRTV2", "fixtures/demo/send-rt-v2.xml"),
    ] {
        out.push_str(&format!(
            "  curl -s -H 'Content-Type: text/xml' -H 'SOAPAction: {action}' --data-binary @{file} {url}; echo\n"
        ));
    }
    out.push_str("Then verify again: the answer is PAA_PAGAMENTO_DUPLICATO.\n");
    if !config.servizi.is_empty() {
        out.push_str("\nServices paid at a PSP without a notice (paDemandPaymentNotice):\n");
        for s in &config.servizi {
            out.push_str(&format!("  {}  {}\n", s.id_servizio, s.descrizione));
        }
        if config.servizio(&config.domini[0].id, "00010").is_some() {
            out.push_str(&format!(
                "The car tax of car AB123CD (a new notice, 120.00; the same one if asked again):\n  curl -s -H 'Content-Type: text/xml' -H 'SOAPAction: paDemandPaymentNotice' --data-binary @fixtures/demo/demand.xml {url}; echo\n"
            ));
        }
    }
    out
}

/// A payable single-item position (120.00) of the first domain for `nav`, for tests and
/// benchmarks.
pub fn sample(config: &Config, nav: &NoticeNumber, now: DateTime<Utc>) -> Pendenza {
    let dominio = &config.domini[0];
    let e = &dominio.entrate[0];
    Pendenza {
        dominio: dominio.id.clone(),
        iuv: nav.iuv().to_owned(),
        numero_avviso: nav.as_str().to_owned(),
        id_a2a: None,
        id_pendenza: Some(format!("sample-{nav}")),
        id_tipo_pendenza: "LIBERO".into(),
        causale: "Tassa rifiuti 2026".into(),
        soggetto: debtor(),
        importo: 12000,
        data_validita: None,
        data_scadenza: None,
        voci: vec![Voce {
            id_voce: "tari".into(),
            importo: 12000,
            descrizione: "TARI 2026".into(),
            descrizione_causale_rpt: None,
            dominio: dominio.id.clone(),
            accredito: Accredito::Iban {
                iban: e.iban.clone(),
                iban_postale: None,
                iban_appoggio: None,
            },
            transfer_category: transfer_category(e.tipo_contabilita, &e.codice_contabilita),
            metadata: vec![],
            origine: None,
            contabilita: None,
            dati_allegati: None,
        }],
        stato: Stato::NonEseguita,
        anomala: false,
        anomalie: vec![],
        fuori_piano: false,
        dettagli: Default::default(),
        ricevute: vec![],
        created_at: now,
        updated_at: now,
    }
}
