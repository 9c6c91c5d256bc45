//! `api/pendenza/v2/pendenze/put/pendenza-put-aggiornamento.feature` ("Aggiornamento
//! avviso"): a PUT of a position that exists updates it by GovPay's rules, answering 200 with
//! the first answer's body.

use super::*;

/// "Aggiornamento pendenza non pagata senza modifiche".
#[tokio::test]
async fn senza_modifiche() {
    let gp = Gp::new().await;
    let body = monovoce_riferimento("agg-1");
    let first = gp.created("agg-1", &body).await;
    let before = gp.detail("agg-1").await;
    let (s, again) = gp.put("agg-1", &body).await;
    assert_eq!((s, &again), (StatusCode::OK, &first));
    assert_eq!(gp.detail("agg-1").await, before);
}

/// "Aggiornamento pendenza non pagata con modifica permessa".
#[tokio::test]
async fn con_modifica_permessa() {
    let gp = Gp::new().await;
    let mut body = monovoce_riferimento("agg-2");
    let first = gp.created("agg-2", &body).await;
    let mut expected = gp.detail("agg-2").await;
    body["importo"] = json!(110.99);
    body["voci"][0]["importo"] = json!(110.99);
    let causale = format!(
        "{} con importo maggiorato",
        body["causale"].as_str().unwrap()
    );
    body["causale"] = json!(causale);
    body["dataValidita"] = json!("2900-01-31");
    body["dataScadenza"] = json!("2999-01-31");
    let (s, again) = gp.put("agg-2", &body).await;
    assert_eq!((s, &again), (StatusCode::OK, &first));
    expected["importo"] = json!(110.99);
    expected["voci"][0]["importo"] = json!(110.99);
    expected["causale"] = json!(causale);
    expected["dataValidita"] = json!("2900-01-31");
    expected["dataScadenza"] = json!("2999-01-31");
    assert_eq!(gp.detail("agg-2").await, expected);
}

/// "Aggiornamento pendenza non pagata eliminazione data scadenza".
#[tokio::test]
async fn eliminazione_data_scadenza() {
    let gp = Gp::new().await;
    let mut body = monovoce_riferimento("agg-3");
    gp.created("agg-3", &body).await;
    body["importo"] = json!(110.99);
    body["voci"][0]["importo"] = json!(110.99);
    body["dataValidita"] = Value::Null;
    body["dataScadenza"] = Value::Null;
    let (s, _) = gp.put("agg-3", &body).await;
    assert_eq!(s, StatusCode::OK);
    let d = gp.detail("agg-3").await;
    assert!(
        d.get("dataValidita").is_none() && d.get("dataScadenza").is_none(),
        "{d}"
    );
}

/// "Aggiornamento pendenza non pagata con modifica dell'iban di accredito".
#[tokio::test]
async fn modifica_dell_iban_di_accredito() {
    let gp = Gp::new().await;
    let mut body = monovoce_riferimento("agg-4");
    body["voci"] = json!([{"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "XXXXX"}]);
    gp.created("agg-4", &body).await;
    body["voci"][0]["ibanAccredito"] = json!(IBAN_POSTALE);
    let (s, fault) = gp.put("agg-4", &body).await;
    assert_fault(
        s,
        &fault,
        "VER_023",
        "La pendenza (IdA2A:IDA2A01, Id:agg-4) ha la voce (1) con un iban di accredito diverso dall'originale.",
    );
}

/// "Aggiornamento pendenza annullata": cancelled by PATCH, loaded again, open again and
/// without the reason it was cancelled.
#[tokio::test]
async fn pendenza_annullata() {
    let gp = Gp::new().await;
    let body = monovoce_riferimento("agg-5");
    let first = gp.created("agg-5", &body).await;
    let before = gp.detail("agg-5").await;
    let ops = json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}, {"op": "REPLACE", "path": "/descrizioneStato", "value": "Test annullamento"}]);
    let (s, _) = gp
        .call("PATCH", "/pendenze/IDA2A01/agg-5", IDA2A01, Some(&ops))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, again) = gp.put("agg-5", &body).await;
    assert_eq!((s, &again), (StatusCode::OK, &first));
    assert_eq!(gp.detail("agg-5").await, before);
}

/// "Aggiornamento pendenza non pagata con aggiunta di una voce".
#[tokio::test]
async fn aggiunta_di_una_voce() {
    let gp = Gp::new().await;
    gp.created("agg-6", &multivoce("agg-6")).await;
    let (s, e) = gp.put("agg-6", &multivoce_update("agg-6")).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let d = gp.detail("agg-6").await;
    assert_eq!(d["voci"].as_array().unwrap().len(), 3);
    assert_eq!(d["importo"], json!(0.03));
}

/// "Aggiornamento pendenza non pagata con rimozione di una voce".
#[tokio::test]
async fn rimozione_di_una_voce() {
    let gp = Gp::new().await;
    gp.created("agg-7", &multivoce_update("agg-7")).await;
    let (s, fault) = gp.put("agg-7", &multivoce("agg-7")).await;
    assert_fault(
        s,
        &fault,
        "VER_005",
        "La pendenza (IdA2A:IDA2A01, Id:agg-7) inviata ha un numero di voci (2) diverso da quello originale (3)",
    );
}

/// "Aggiornamento pendenza non pagata con aggiunta di una voce e ordine diverso".
#[tokio::test]
async fn aggiunta_di_una_voce_e_ordine_diverso() {
    let gp = Gp::new().await;
    gp.created("agg-8", &multivoce("agg-8")).await;
    let mut body = multivoce_update("agg-8");
    for (i, id) in ["3", "2", "1"].into_iter().enumerate() {
        body["voci"][i]["idVocePendenza"] = json!(id);
        body["voci"][i]["descrizione"] = json!(format!("Importo {id}"));
    }
    let (s, e) = gp.put("agg-8", &body).await;
    assert_eq!(s, StatusCode::OK, "{e}");
}

/// "Aggiornamento pendenza non pagata con una voce non presente".
#[tokio::test]
async fn una_voce_non_presente() {
    let gp = Gp::new().await;
    gp.created("agg-9", &multivoce("agg-9")).await;
    let mut body = multivoce_update("agg-9");
    for (i, id) in ["3", "2", "4"].into_iter().enumerate() {
        body["voci"][i]["idVocePendenza"] = json!(id);
    }
    let (s, fault) = gp.put("agg-9", &body).await;
    assert_fault(
        s,
        &fault,
        "VER_006",
        "La pendenza (IdA2A:IDA2A01, Id:agg-9) inviata non contiene una voce con codSingoloVersamentoEnte (1) presente nell'originale",
    );
}
