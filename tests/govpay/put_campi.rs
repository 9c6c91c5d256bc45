//! What a gestionale loads and reads back: `pendenza-put-campiOpzionali.feature`,
//! `pendenza-put-datiAllegati.feature`, `pendenza-put-documento.feature` (its first
//! outline), `pendenza-put-metadata.feature`, `pendenza-put-proprieta.feature`,
//! `pendenza-put-proprieta-informativa-importo-avviso.feature`,
//! `pendenza-put-contabilita.feature`, `pendenza-put-monovoce.feature`,
//! `pendenza-put-multivoce.feature`, `pendenza-put-multibeneficiario.feature` and
//! `pendenza-put-stampaAvviso.feature`.
//!
//! Not ported: `pendenza-put-iuv-custom.feature` (GovPay's IUV prefixes `%(a)`, `%(t)`, `%(y)`;
//! Varco draws numbers from a counter per segregation code), the allegati scenarios that read
//! an attachment back (Varco checks attachments and keeps none), and the datiAllegati row
//! written `[ datoAllegato1: 10 , datoAllegato2: 20 ]`, which is not JSON.

use super::*;

/// `base` with `value` at `pointer`, loaded, and the detail read back.
async fn loaded(base: fn(&str) -> Value, id: &str, pointer: &str, value: Value) -> Value {
    let gp = Gp::new().await;
    gp.created(id, &with(base(id), pointer, value)).await;
    gp.detail(id).await
}

/// One test per Examples row: the field as sent, and what GET gives back at `read` (`None`:
/// absent).
macro_rules! read_back {
    ($($name:ident: $base:ident, $pointer:literal = $value:expr => $read:literal == $expected:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let d = loaded($base, "campo", $pointer, $value).await;
                let expected: Option<Value> = $expected;
                assert_eq!(d.pointer($read).cloned(), expected, "{d}");
            }
        )*
    };
}

// pendenza-put-campiOpzionali.feature, both outlines "Caricamento pendenza con controllo del
// campo opzionale <field>" (fixture pendenza-put_multivoce_bollo.json).
read_back! {
    cartella_pagamento: multivoce_bollo, "/cartellaPagamento" = json!("ABC00000001") => "/cartellaPagamento" == Some(json!("ABC00000001"));
    cartella_pagamento_null: multivoce_bollo, "/cartellaPagamento" = Value::Null => "/cartellaPagamento" == None;
    anno_riferimento: multivoce_bollo, "/annoRiferimento" = json!(2020) => "/annoRiferimento" == Some(json!(2020));
    anno_riferimento_null: multivoce_bollo, "/annoRiferimento" = Value::Null => "/annoRiferimento" == None;
    tassonomia: multivoce_bollo, "/tassonomia" = json!("Tassonomia Custom") => "/tassonomia" == Some(json!("Tassonomia Custom"));
    tassonomia_null: multivoce_bollo, "/tassonomia" = Value::Null => "/tassonomia" == None;
    direzione: multivoce_bollo, "/direzione" = json!("Direzione_Test") => "/direzione" == Some(json!("Direzione_Test"));
    direzione_null: multivoce_bollo, "/direzione" = Value::Null => "/direzione" == None;
    divisione: multivoce_bollo, "/divisione" = json!("Divisione_Test") => "/divisione" == Some(json!("Divisione_Test"));
    divisione_null: multivoce_bollo, "/divisione" = Value::Null => "/divisione" == None;
    soggetto_pagatore_null: multivoce_bollo, "/soggettoPagatore" = Value::Null => "/soggettoPagatore" == Some(json!({"identificativo": "ANONIMO", "anagrafica": "ANONIMO"}));
    identificativo_null: multivoce_bollo, "/soggettoPagatore/identificativo" = Value::Null => "/soggettoPagatore/identificativo" == Some(json!("ANONIMO"));
    identificativo_vuoto: multivoce_bollo, "/soggettoPagatore/identificativo" = json!("") => "/soggettoPagatore/identificativo" == Some(json!("ANONIMO"));
    identificativo_spazio: multivoce_bollo, "/soggettoPagatore/identificativo" = json!(" ") => "/soggettoPagatore/identificativo" == Some(json!("ANONIMO"));
    identificativo_anonimo: multivoce_bollo, "/soggettoPagatore/identificativo" = json!("ANONIMO") => "/soggettoPagatore/identificativo" == Some(json!("ANONIMO"));
    anagrafica_null: multivoce_bollo, "/soggettoPagatore/anagrafica" = Value::Null => "/soggettoPagatore/anagrafica" == Some(json!("ANONIMO"));
    anagrafica_vuota: multivoce_bollo, "/soggettoPagatore/anagrafica" = json!("") => "/soggettoPagatore/anagrafica" == Some(json!("ANONIMO"));
    anagrafica_spazio: multivoce_bollo, "/soggettoPagatore/anagrafica" = json!(" ") => "/soggettoPagatore/anagrafica" == Some(json!("ANONIMO"));
    anagrafica_anonimo: multivoce_bollo, "/soggettoPagatore/anagrafica" = json!("ANONIMO") => "/soggettoPagatore/anagrafica" == Some(json!("ANONIMO"));
    tipo_soggetto_null: multivoce_bollo, "/soggettoPagatore/tipo" = Value::Null => "/soggettoPagatore/tipo" == None;
}

// pendenza-put-datiAllegati.feature, "Caricamento pendenza con dati allegati" and "... nella
// voce": any JSON value, read back as sent.
read_back! {
    dati_allegati_stringa: multivoce_bollo, "/datiAllegati" = json!("datoAllegato") => "/datiAllegati" == Some(json!("datoAllegato"));
    dati_allegati_numero: multivoce_bollo, "/datiAllegati" = json!(10) => "/datiAllegati" == Some(json!(10));
    dati_allegati_stringhe: multivoce_bollo, "/datiAllegati" = json!(["datoAllegato1", "datoAllegato2"]) => "/datiAllegati" == Some(json!(["datoAllegato1", "datoAllegato2"]));
    dati_allegati_numeri: multivoce_bollo, "/datiAllegati" = json!([10, 20]) => "/datiAllegati" == Some(json!([10, 20]));
    dati_allegati_oggetto: multivoce_bollo, "/datiAllegati" = json!({"datoAllegato1": 10, "datoAllegato2": 20}) => "/datiAllegati" == Some(json!({"datoAllegato1": 10, "datoAllegato2": 20}));
    voce_dati_allegati_stringa: multivoce_bollo, "/voci/0/datiAllegati" = json!("datoAllegato") => "/voci/0/datiAllegati" == Some(json!("datoAllegato"));
    voce_dati_allegati_numero: multivoce_bollo, "/voci/0/datiAllegati" = json!(10) => "/voci/0/datiAllegati" == Some(json!(10));
    voce_dati_allegati_stringhe: multivoce_bollo, "/voci/0/datiAllegati" = json!(["datoAllegato1", "datoAllegato2"]) => "/voci/0/datiAllegati" == Some(json!(["datoAllegato1", "datoAllegato2"]));
    voce_dati_allegati_numeri: multivoce_bollo, "/voci/0/datiAllegati" = json!([10, 20]) => "/voci/0/datiAllegati" == Some(json!([10, 20]));
    voce_dati_allegati_oggetto: multivoce_bollo, "/voci/0/datiAllegati" = json!({"datoAllegato1": 10, "datoAllegato2": 20}) => "/voci/0/datiAllegati" == Some(json!({"datoAllegato1": 10, "datoAllegato2": 20}));
}

fn documento(id: &str) -> Value {
    with(
        monovoce_riferimento(id),
        "/documento",
        json!({"identificativo": format!("{id}_DOC"), "descrizione": format!("Documento ({id})"), "rata": null, "soglia": null}),
    )
}

// pendenza-put-documento.feature, "Caricamento pendenza con controllo del campo opzionale
// <field>".
read_back! {
    documento_rata: documento, "/documento/rata" = json!(1) => "/documento/rata" == Some(json!(1));
    documento_rata_null: documento, "/documento/rata" = Value::Null => "/documento/rata" == None;
    documento_soglia_entro: documento, "/documento/soglia" = json!({"tipo": "ENTRO", "giorni": 5}) => "/documento/soglia" == Some(json!({"tipo": "ENTRO", "giorni": 5}));
    documento_soglia_oltre: documento, "/documento/soglia" = json!({"tipo": "OLTRE", "giorni": 5}) => "/documento/soglia" == Some(json!({"tipo": "OLTRE", "giorni": 5}));
    documento_soglia_ridotto: documento, "/documento/soglia" = json!({"tipo": "RIDOTTO"}) => "/documento/soglia" == Some(json!({"tipo": "RIDOTTO"}));
    documento_soglia_scontato: documento, "/documento/soglia" = json!({"tipo": "SCONTATO"}) => "/documento/soglia" == Some(json!({"tipo": "SCONTATO"}));
    documento_soglia_null: documento, "/documento/soglia" = Value::Null => "/documento/soglia" == None;
}

// pendenza-put-proprieta.feature and pendenza-put-proprieta-informativa-importo-avviso.feature:
// each accepted `proprieta` is read back as sent.
read_back! {
    lingua_secondaria_false: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "false"}) => "/proprieta" == Some(json!({"linguaSecondaria": "false"}));
    lingua_secondaria_en: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "en"}) => "/proprieta" == Some(json!({"linguaSecondaria": "en"}));
    lingua_secondaria_causale: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "de", "linguaSecondariaCausale": "TEST Causale"}) => "/proprieta" == Some(json!({"linguaSecondaria": "de", "linguaSecondariaCausale": "TEST Causale"}));
    data_scadenza_avviso: monovoce_riferimento, "/proprieta" = json!({"dataScandenzaAvviso": "2023-12-31"}) => "/proprieta" == Some(json!({"dataScandenzaAvviso": "2023-12-31"}));
    informativa_importo_avviso: monovoce_riferimento, "/proprieta" = json!({"informativaImportoAvviso": "Informativa personalizzata", "linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"informativaImportoAvviso": "Informativa personalizzata", "linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    nascondi_informativa_importo_avviso: monovoce_riferimento, "/proprieta" = json!({"informativaImportoAvviso": "", "linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"informativaImportoAvviso": "", "linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    informativa_importo_avviso_trad: monovoce_riferimento, "/proprieta" = json!({"linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    informativa_importo_avviso_no_trad: monovoce_riferimento, "/proprieta" = json!({"informativaImportoAvviso": "Informativa personalizzata"}) => "/proprieta" == Some(json!({"informativaImportoAvviso": "Informativa personalizzata"}));
    informativa_importo_avviso_de: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "de", "informativaImportoAvviso": "Informativa personalizzata", "linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"linguaSecondaria": "de", "informativaImportoAvviso": "Informativa personalizzata", "linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    nascondi_informativa_importo_avviso_de: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "de", "informativaImportoAvviso": "", "linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"linguaSecondaria": "de", "informativaImportoAvviso": "", "linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    informativa_importo_avviso_trad_de: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "de", "linguaSecondariaInformativaImportoAvviso": "Custom info"}) => "/proprieta" == Some(json!({"linguaSecondaria": "de", "linguaSecondariaInformativaImportoAvviso": "Custom info"}));
    informativa_importo_avviso_no_trad_de: monovoce_riferimento, "/proprieta" = json!({"linguaSecondaria": "de", "informativaImportoAvviso": "Informativa personalizzata"}) => "/proprieta" == Some(json!({"linguaSecondaria": "de", "informativaImportoAvviso": "Informativa personalizzata"}));
}

/// pendenza-put-metadata.feature, "Caricamento pendenza con metadata definiti".
#[tokio::test]
async fn metadata_definiti() {
    let metadata = json!({"mapEntries": [{"key": "chiave1", "value": "valore1"}]});
    let d = loaded(
        monovoce_definito,
        "meta",
        "/voci/0/metadata",
        metadata.clone(),
    )
    .await;
    assert_eq!(d["voci"][0]["metadata"], metadata);
    assert_eq!(d["stato"], "NON_ESEGUITA");
}

/// pendenza-put-contabilita.feature, "Caricamento pendenza con contabilita definita" (and
/// the two scenarios with `proprietaCustom`, on the item's accounting and on a quota).
#[tokio::test]
async fn contabilita_definita() {
    let custom = json!({"test1": 1, "test2": "test", "test3": false, "test4": {"test1": 1}});
    for pointer in [
        None,
        Some("/voci/0/contabilita/proprietaCustom"),
        Some("/voci/0/contabilita/quote/0/proprietaCustom"),
    ] {
        let mut body = super::put_sintattica::contabilita("cont");
        if let Some(p) = pointer {
            set(&mut body, p, custom.clone());
        }
        let gp = Gp::new().await;
        gp.created("cont", &body).await;
        let d = gp.detail("cont").await;
        assert_eq!(d["voci"][0]["contabilita"], body["voci"][0]["contabilita"]);
        assert_eq!(d["stato"], "NON_ESEGUITA");
        assert_eq!(d["idTipoPendenza"], "SEGRETERIA", "named after the entrata");
    }
}

/// pendenza-put-contabilita.feature, "Caricamento pendenza con contabilita errore validazione
/// importi": the item's amount is not the sum of its quotas (`VER_035`, reported before the
/// position's own total).
#[tokio::test]
async fn contabilita_errore_validazione_importi() {
    let body = with(
        super::put_sintattica::contabilita("ver-035"),
        "/voci/0/importo",
        json!(110.99),
    );
    let (s, fault) = Gp::new().await.put("ver-035", &body).await;
    assert_fault(
        s,
        &fault,
        "VER_035",
        "La voce (1) della pendenza (IdA2A:IDA2A01, Id:ver-035) ha un importo (110.99) diverso dalla somma dei singoli importi definiti nella lista delle contabilita' (100.99)",
    );
}

/// pendenza-put-monovoce.feature, "Caricamento avviso senza numeroAvviso con voce riferita".
#[tokio::test]
async fn senza_numero_avviso_con_voce_riferita() {
    let gp = Gp::new().await;
    let created = gp.created("mono-1", &monovoce_riferimento("mono-1")).await;
    assert_eq!(created.as_object().unwrap().len(), 3, "{created}");
    assert_eq!(created["idDominio"], DOMINIO);
    assert!(created["UUID"].is_string());
    let nav = created["numeroAvviso"].as_str().unwrap();
    assert!(nav.len() == 18 && nav.bytes().all(|b| b.is_ascii_digit()));
    let d = gp.detail("mono-1").await;
    assert_eq!(d["numeroAvviso"], nav);
    assert_eq!(d["stato"], "NON_ESEGUITA");
    assert_eq!(
        (
            d["voci"][0]["indice"].as_u64(),
            d["voci"][0]["stato"].as_str()
        ),
        (Some(1), Some("Non eseguito"))
    );
    let caricamento = d["dataCaricamento"].as_str().unwrap();
    assert!(
        chrono::NaiveDate::parse_from_str(caricamento, "%Y-%m-%d").is_ok(),
        "{caricamento}"
    );
    assert_eq!(d["tipo"], "dovuto");
    assert!(d["UUID"].is_string() && d["idTipoPendenza"].is_string());
}

/// pendenza-put-monovoce.feature, "Caricamento avviso senza numeroAvviso con voce
/// autodeterminata": the item reads back with every field sent.
#[tokio::test]
async fn senza_numero_avviso_con_voce_autodeterminata() {
    let voce = json!({"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "XXXXX"});
    let d = loaded(
        monovoce_riferimento,
        "mono-2",
        "/voci",
        json!([voce.clone()]),
    )
    .await;
    for (k, v) in voce.as_object().unwrap() {
        assert_eq!(&d["voci"][0][k], v, "{k}");
    }
    assert_eq!(d["voci"][0]["stato"], "Non eseguito");
}

/// pendenza-put-monovoce.feature, "Caricamento avviso senza numeroAvviso con voce riferita e
/// voce con idDominio" (the position's own creditor named on the item).
#[tokio::test]
async fn voce_riferita_con_id_dominio() {
    let d = loaded(
        monovoce_riferimento,
        "mono-3",
        "/voci/0/idDominio",
        json!(DOMINIO),
    )
    .await;
    assert_eq!(d["stato"], "NON_ESEGUITA");
    assert_eq!(d["voci"][0]["idDominio"], DOMINIO);
}

/// pendenza-put-multivoce.feature, "Caricamento pendenza multivoce definita" and "... con
/// numero avviso".
#[tokio::test]
async fn multivoce_definita() {
    let gp = Gp::new().await;
    gp.created("multi-1", &multivoce("multi-1")).await;
    let nav = numero_avviso(777);
    gp.created(
        "multi-2",
        &with(multivoce("multi-2"), "/numeroAvviso", json!(nav)),
    )
    .await;
    assert_eq!(gp.detail("multi-2").await["numeroAvviso"], nav);
}

/// pendenza-put-multibeneficiario.feature, "Caricamento pendenza multivoce definita con numero
/// avviso, due iban accredito distinti".
#[tokio::test]
async fn due_iban_accredito_distinti() {
    let gp = Gp::new().await;
    let nav = numero_avviso(778);
    let mut body = with(multivoce("mb-1"), "/numeroAvviso", json!(nav));
    body["voci"][1]["ibanAccredito"] = json!(IBAN_POSTALE);
    gp.created("mb-1", &body).await;
    assert_eq!(gp.detail("mb-1").await["numeroAvviso"], nav);
}

/// pendenza-put-multibeneficiario.feature, "Caricamento pendenza multibeneficiariovoce
/// definita con numero avviso": the second item goes to another creditor, on its account.
#[tokio::test]
async fn multibeneficiario() {
    let gp = Gp::new().await;
    let nav = numero_avviso(779);
    let mut body = with(multivoce("mb-2"), "/numeroAvviso", json!(nav));
    body["voci"][1]["idDominio"] = json!(DOMINIO_2);
    body["voci"][1]["ibanAccredito"] = json!(IBAN_2);
    gp.created("mb-2", &body).await;
    let d = gp.detail("mb-2").await;
    assert_eq!(d["numeroAvviso"], nav);
    assert_eq!(d["voci"][1]["idDominio"], DOMINIO_2);
    // The other creditor's account is checked against that creditor's accounts.
    body["voci"][1]["ibanAccredito"] = json!(IBAN);
    let (s, fault) = gp
        .put(
            "mb-3",
            &with(body, "/numeroAvviso", json!(numero_avviso(780))),
        )
        .await;
    assert_fault(
        s,
        &fault,
        "VER_020",
        &format!("Iban di accredito ({IBAN}) non censito per il dominio ({DOMINIO_2})"),
    );
}

/// pendenza-put-stampaAvviso.feature, "Caricamento pendenza con stampa avviso", "... con
/// soglia ..." and "... senza date ...": the answer carries the printed notice.
#[tokio::test]
async fn stampa_avviso() {
    let gp = Gp::new().await;
    let libero = with(
        monovoce_riferimento("st"),
        "/idTipoPendenza",
        json!("LIBERO"),
    );
    let soglia = with(
        libero.clone(),
        "/documento",
        json!({"identificativo": "st_DOC", "descrizione": "Documento (st)", "soglia": {"tipo": "ENTRO", "giorni": 5}}),
    );
    let mut senza_date = libero.clone();
    senza_date["dataScadenza"] = Value::Null;
    senza_date["dataValidita"] = Value::Null;
    for (id, body) in [("st-1", libero), ("st-2", soglia), ("st-3", senza_date)] {
        let (s, created) = gp
            .call(
                "PUT",
                &format!("/pendenze/IDA2A01/{id}?stampaAvviso=true"),
                IDA2A01,
                Some(&body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let pdf = created["pdf"].as_str().unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(pdf)
            .unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{id}");
    }
}

/// pendenza-put-stampaAvviso.feature, "Caricamento pendenza con MBT con stampa avviso": no
/// notice is printed for a position with a digital stamp.
#[tokio::test]
async fn stampa_avviso_con_marca_da_bollo() {
    let gp = Gp::new().await;
    let mut body = with(multivoce_bollo("st-4"), "/idTipoPendenza", json!("LIBERO"));
    body["dataScadenza"] = Value::Null;
    body["dataValidita"] = Value::Null;
    let (s, created) = gp
        .call(
            "PUT",
            "/pendenze/IDA2A01/st-4?stampaAvviso=true",
            IDA2A01,
            Some(&body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert!(created["numeroAvviso"].is_string() && created["UUID"].is_string());
    assert!(created.get("pdf").is_none_or(Value::is_null), "{created}");
}

/// The suite's data set (utils/api/v2/pendenze/bunch-pendenze.feature) sends
/// `idVocePendenza` as a JSON number: read back as its text.
#[tokio::test]
async fn id_voce_pendenza_numerico() {
    let d = loaded(
        monovoce_riferimento,
        "num",
        "/voci/0/idVocePendenza",
        json!(1),
    )
    .await;
    assert_eq!(d["voci"][0]["idVocePendenza"], "1");
}

/// workflow/modello3 "pagamento scaduto" fixtures: a validity day after the due date is
/// accepted (the notice is simply expired), and a debtor's fiscal code is kept as sent even
/// when its check character is wrong (tax offices' data).
#[tokio::test]
async fn date_invertite_e_codice_fiscale_come_inviato() {
    let mut body = monovoce_riferimento("scad");
    body["dataValidita"] = json!("2020-12-31");
    body["dataScadenza"] = json!("2020-01-31");
    body["soggettoPagatore"]["identificativo"] = json!("RSSMRA30A01H501X");
    let gp = Gp::new().await;
    gp.created("scad", &body).await;
    let d = gp.detail("scad").await;
    assert_eq!(d["stato"], "SCADUTA");
    assert_eq!(d["soggettoPagatore"]["identificativo"], "RSSMRA30A01H501X");
}

/// A bulk load is held to the same rules: an item crediting an account that is not the
/// creditor's is refused (`VER_020`) and the others are stored.
#[tokio::test]
async fn tracciato_con_iban_non_censito() {
    let gp = Gp::new().await;
    let mut good = monovoce_definito("t1");
    good["idA2A"] = json!("IDA2A01");
    good["idPendenza"] = json!("t1");
    let mut bad = with(
        good.clone(),
        "/voci/0/ibanAccredito",
        json!("IT60X0542811101000000123456"),
    );
    bad["idPendenza"] = json!("t2");
    let (s, out) = gp
        .call(
            "POST",
            "/pendenze/tracciati",
            IDA2A01,
            Some(&json!([good, bad])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["risultati"][0]["esito"], "CREATA");
    assert_eq!(out["risultati"][1]["esito"], "ERRORE");
    assert_eq!(out["risultati"][1]["errore"]["codice"], "VER_020");
    assert!(
        gp.0.store
            .pendenza_of_app("IDA2A01", "t2")
            .await
            .unwrap()
            .is_none()
    );
}
