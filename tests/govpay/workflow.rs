//! The PSP-initiated payment ("modello 3") as GovPay's suite drives it through its Nodo
//! simulator: `workflow/modello3/v2/*.feature` and the payment scenarios of
//! `pendenza-put-contabilita.feature`, `pendenza-put-metadata.feature`,
//! `pendenza-put-pagamento-pendenza-mbt.feature` and
//! `pendenza-put-pagamento-pendenza-senza-scadenza.feature`: what paGetPayment(V2) answers
//! for a loaded position, and how a receipt reads back through API Pendenze v2.
//!
//! Not ported: the SANP 2.3 (nodoAttivaRPT) variants, which Varco does not serve, and the
//! notifications GovPay sends to its v1 connectors.

use super::*;

/// The notice number of position `id` (loaded as `body`).
async fn load(gp: &Gp, id: &str, body: &Value) -> String {
    let created = gp.created(id, body).await;
    created["numeroAvviso"].as_str().unwrap().to_owned()
}

/// paGetPaymentV2 of `nav`; the answer, checked against the official schema.
async fn get_payment_v2(gp: &Gp, nav: &str) -> String {
    let answer = gp
        .soap(
            "paGetPaymentV2",
            qr_request("paGetPaymentV2Request", nav, "<amount>1.00</amount>"),
        )
        .await;
    assert_valid(&answer);
    answer
}

/// An answer Varco wrote is valid for the official paForNode schema.
#[track_caller]
fn assert_valid(answer: &str) {
    common::require_schema_check();
    let doc = common::payload_document(answer).unwrap();
    let verdict = common::validate(&common::official_xsd(), &[("answer".into(), doc)]);
    assert!(verdict[0].1, "invalid for the official schema: {answer}");
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    common::element(xml, name)
}

/// The `(key, value)` of every mapEntry of the first transfer.
fn transfer_metadata(xml: &str) -> Vec<(String, String)> {
    let transfer = xml.split("<transfer>").nth(1).unwrap();
    let transfer = transfer.split("</transfer>").next().unwrap();
    transfer
        .split("<mapEntry>")
        .skip(1)
        .map(|e| {
            (
                element(e, "key").unwrap().to_owned(),
                element(e, "value").unwrap().to_owned(),
            )
        })
        .collect()
}

/// modello3-pagamento-eseguito.feature (v2): paGetPaymentV2 answers the whole position, as
/// the last payment; the receipt closes it and reads back paid, with its day.
#[tokio::test]
async fn pagamento_eseguito() {
    let gp = Gp::new().await;
    let nav = load(&gp, "pag", &monovoce_riferimento("pag")).await;
    let verify = gp
        .soap(
            "paVerifyPaymentNotice",
            qr_request("paVerifyPaymentNoticeReq", &nav, ""),
        )
        .await;
    assert_eq!(element(&verify, "outcome"), Some("OK"), "{verify}");
    let activate = get_payment_v2(&gp, &nav).await;
    assert_eq!(element(&activate, "outcome"), Some("OK"), "{activate}");
    assert_eq!(element(&activate, "paymentAmount"), Some("100.99"));
    assert_eq!(element(&activate, "lastPayment"), Some("true"));
    assert_eq!(
        element(&activate, "companyName"),
        Some("Ente Creditore Test")
    );
    assert_eq!(element(&activate, "idTransfer"), Some("1"));
    assert_eq!(element(&activate, "transferAmount"), Some("100.99"));
    assert_eq!(element(&activate, "fiscalCodePA"), Some(DOMINIO));
    assert_eq!(element(&activate, "IBAN"), Some(IBAN));
    assert_eq!(activate.matches("<transfer>").count(), 1);
    let sent = gp
        .soap("paSendRTV2", receipt(&nav, "rt-pag", "100.99"))
        .await;
    assert_eq!(element(&sent, "outcome"), Some("OK"), "{sent}");
    let d = gp.detail("pag").await;
    assert_eq!(d["stato"], "ESEGUITA");
    assert_eq!(d["dataPagamento"], "2026-03-15");
    assert_eq!(d["voci"][0]["stato"], "Eseguito");
}

/// modello3-pagamento-duplicato.feature: a paid notice is verified as
/// PAA_PAGAMENTO_DUPLICATO.
#[tokio::test]
async fn pagamento_duplicato() {
    let gp = Gp::new().await;
    let nav = load(&gp, "dup", &monovoce_riferimento("dup")).await;
    gp.soap("paSendRTV2", receipt(&nav, "rt-dup", "100.99"))
        .await;
    let verify = gp
        .soap(
            "paVerifyPaymentNotice",
            qr_request("paVerifyPaymentNoticeReq", &nav, ""),
        )
        .await;
    assert_eq!(
        element(&verify, "faultCode"),
        Some("PAA_PAGAMENTO_DUPLICATO")
    );
}

/// modello3-pagamento-eseguito.feature with notifica-terminazione-eseguito-rt-importo-modificato:
/// a receipt for another amount is kept, and the position reads back ANOMALA (its item
/// Anomalo), listed under that state and not under ESEGUITA.
#[tokio::test]
async fn pagamento_con_importo_modificato_e_anomalo() {
    let gp = Gp::new().await;
    let nav = load(&gp, "anom", &monovoce_riferimento("anom")).await;
    let sent = gp
        .soap("paSendRTV2", receipt(&nav, "rt-anom", "200.99"))
        .await;
    assert_eq!(element(&sent, "outcome"), Some("OK"), "{sent}");
    let d = gp.detail("anom").await;
    assert_eq!(d["stato"], "ANOMALA");
    assert_eq!(d["voci"][0]["stato"], "Anomalo");
    let (_, anomale) = gp
        .call("GET", "/pendenze?stato=ANOMALA", IDA2A01, None)
        .await;
    assert_eq!(anomale["numRisultati"], 1, "{anomale}");
    let (_, eseguite) = gp
        .call("GET", "/pendenze?stato=ESEGUITA", IDA2A01, None)
        .await;
    assert_eq!(eseguite["numRisultati"], 0, "{eseguite}");
}

/// modello3-standin-acquisizione-rt.feature: a receipt for a notice never verified nor
/// activated (a stand-in payment) is accepted.
#[tokio::test]
async fn acquisizione_rt_stand_in() {
    let gp = Gp::new().await;
    let nav = load(&gp, "standin", &monovoce_riferimento("standin")).await;
    let sent = gp
        .soap(
            "paSendRTV2",
            receipt(&nav, "rt-standin", "100.99")
                .replace("<standIn>false</standIn>", "<standIn>true</standIn>"),
        )
        .await;
    assert_eq!(element(&sent, "outcome"), Some("OK"), "{sent}");
    assert_eq!(gp.detail("standin").await["stato"], "ESEGUITA");
}

/// pendenza-put-pagamento-pendenza-senza-scadenza.feature: without dates, paGetPayment's
/// dueDate is 2999-12-31.
#[tokio::test]
async fn pagamento_pendenza_senza_scadenza() {
    let gp = Gp::new().await;
    let mut body = monovoce_riferimento("nodate");
    body["dataValidita"] = Value::Null;
    body["dataScadenza"] = Value::Null;
    let nav = load(&gp, "nodate", &body).await;
    let activate = gp
        .soap(
            "paGetPayment",
            qr_request("paGetPaymentReq", &nav, "<amount>100.99</amount>"),
        )
        .await;
    assert_eq!(element(&activate, "outcome"), Some("OK"), "{activate}");
    assert_valid(&activate);
    assert_eq!(element(&activate, "dueDate"), Some("2999-12-31"));
    assert_eq!(element(&activate, "lastPayment"), Some("true"));
    assert_eq!(element(&activate, "paymentAmount"), Some("100.99"));
}

/// pendenza-put-contabilita.feature, "Pagamento pendenza con 2 voci di contabilita attraverso
/// le API V2": one metadata entry per quota.
#[tokio::test]
async fn contabilita_in_due_quote_nei_metadata() {
    let gp = Gp::new().await;
    let body = super::put_sintattica::contabilita("q2");
    let nav = load(&gp, "q2", &body).await;
    let activate = get_payment_v2(&gp, &nav).await;
    let key = "CAPITOLOBILANCIO,ARTICOLOBILANCIO,CODICEACCERTAMENTO,ANNORIFERIMENTO,TITOLOBILANCIO,CATEGORIABILANCIO,TIPOLOGIABILANCIO,IMPORTOEUROCENT";
    assert_eq!(
        transfer_metadata(&activate),
        [
            (key.to_owned(), "capitolo1,,,2020,,,,99".to_owned()),
            (key.to_owned(), "capitolo2,,,2020,,,,10000".to_owned())
        ]
    );
}

/// pendenza-put-contabilita.feature, "Pagamento pendenza con singola voce di contabilita
/// attraverso le API V2": one entry per field, then the quota's custom properties.
#[tokio::test]
async fn contabilita_in_una_quota_nei_metadata() {
    let gp = Gp::new().await;
    let mut body = super::put_sintattica::contabilita("q1");
    let quota = &mut body["voci"][0]["contabilita"]["quote"];
    quota.as_array_mut().unwrap().truncate(1);
    quota[0]["importo"] = json!(100.99);
    quota[0]["titolo"] = json!("Titolo");
    quota[0]["tipologia"] = json!("Tipologia");
    quota[0]["proprietaCustom"] =
        json!({"test1": 1, "test2": "test", "test3": false, "test4": {"test1": 1}});
    let nav = load(&gp, "q1", &body).await;
    let activate = get_payment_v2(&gp, &nav).await;
    let expected: Vec<(String, String)> = [
        ("CAPITOLOBILANCIO", "capitolo1"),
        ("ANNORIFERIMENTO", "2020"),
        ("TITOLOBILANCIO", "Titolo"),
        ("TIPOLOGIABILANCIO", "Tipologia"),
        ("test1", "1"),
        ("test2", "test"),
        ("test3", "false"),
        ("test4", "{test1=1}"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(transfer_metadata(&activate), expected);
}

/// pendenza-put-metadata.feature, "Pagamento di una pendenza con metadata definiti": the
/// item's metadata go with its transfer.
#[tokio::test]
async fn metadata_nel_trasferimento() {
    let gp = Gp::new().await;
    let body = with(
        monovoce_definito("meta"),
        "/voci/0/metadata",
        json!({"mapEntries": [{"key": "chiave1", "value": "valore1"}]}),
    );
    let nav = load(&gp, "meta", &body).await;
    let activate = get_payment_v2(&gp, &nav).await;
    assert_eq!(
        transfer_metadata(&activate),
        [("chiave1".to_owned(), "valore1".to_owned())]
    );
}

/// pendenza-put-pagamento-pendenza-mbt.feature, "... Sanp 2.4.0" and "... Sanp 3.2.1": a
/// digital stamp cannot be activated with paGetPayment, and is with paGetPaymentV2.
#[tokio::test]
async fn pagamento_marca_da_bollo() {
    let gp = Gp::new().await;
    let nav = load(
        &gp,
        "mbt",
        &with(
            monovoce_bollo("mbt"),
            "/numeroAvviso",
            json!(numero_avviso(991)),
        ),
    )
    .await;
    let v1 = gp
        .soap(
            "paGetPayment",
            qr_request("paGetPaymentReq", &nav, "<amount>16.00</amount>"),
        )
        .await;
    assert_eq!(element(&v1, "faultCode"), Some("PAA_SEMANTICA"), "{v1}");
    let v2 = get_payment_v2(&gp, &nav).await;
    assert_eq!(element(&v2, "outcome"), Some("OK"), "{v2}");
    assert_eq!(element(&v2, "paymentAmount"), Some("16.00"));
    assert_eq!(
        element(&v2, "hashDocumento"),
        Some("a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=")
    );
}

/// pendenza-put-multibeneficiario.feature, paid: the other creditor's transfer names it, with
/// its account and name; the notice and the position stay the primary creditor's. The TEFA
/// case: a beneficiary with accounts and no station.
#[tokio::test]
async fn multibeneficiario_nel_pagamento() {
    let gp = Gp::new().await;
    let mut body = multivoce("tefa");
    body["voci"][1]["idDominio"] = json!("80000000001");
    body["voci"][1]["ibanAccredito"] = json!("IT26X0200801600000000012345");
    let nav = load(&gp, "tefa", &body).await;
    let activate = get_payment_v2(&gp, &nav).await;
    assert_eq!(element(&activate, "outcome"), Some("OK"), "{activate}");
    let transfers: Vec<&str> = activate.split("<transfer>").skip(1).collect();
    assert_eq!(transfers.len(), 2);
    assert_eq!(element(transfers[0], "fiscalCodePA"), Some(DOMINIO));
    assert_eq!(element(transfers[1], "fiscalCodePA"), Some("80000000001"));
    assert_eq!(element(transfers[1], "companyName"), Some("Provincia Test"));
    assert_eq!(
        element(transfers[1], "IBAN"),
        Some("IT26X0200801600000000012345")
    );
    assert_eq!(element(&activate, "creditorReferenceId"), Some(&nav[1..]));
    // Another creditor's account on the beneficiary's item: refused.
    body["voci"][1]["ibanAccredito"] = json!(IBAN);
    let (s, fault) = gp.put("tefa-2", &body).await;
    assert_eq!(
        (s, fault["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_020"))
    );
}

/// check-sonda-pagopa.feature, "Verifica sonda pagoPA": pagoPA's probe asks about notice
/// 000000000000000000, which is unknown.
#[tokio::test]
async fn verifica_sonda_pagopa() {
    let gp = Gp::new().await;
    let answer = gp
        .soap(
            "paVerifyPaymentNotice",
            qr_request("paVerifyPaymentNoticeReq", "000000000000000000", ""),
        )
        .await;
    assert_eq!(
        element(&answer, "faultCode"),
        Some("PAA_PAGAMENTO_SCONOSCIUTO"),
        "{answer}"
    );
    assert_valid(&answer);
}

/// modello3-pagamento-eseguito.feature, "Pagamento eseguito dovuto precaricato con verifica,
/// dopo un pagamento non eseguito" (and modello3-pagamento-non-eseguito.feature): a receipt
/// with outcome KO leaves the position payable and its item not paid; the next payment
/// closes it.
#[tokio::test]
async fn pagamento_non_eseguito_poi_eseguito() {
    let gp = Gp::new().await;
    let nav = load(&gp, "ko", &monovoce_riferimento("ko")).await;
    let ko =
        receipt(&nav, "rt-ko", "100.99").replace("<outcome>OK</outcome>", "<outcome>KO</outcome>");
    let sent = gp.soap("paSendRTV2", ko).await;
    assert_eq!(element(&sent, "outcome"), Some("OK"), "{sent}");
    let d = gp.detail("ko").await;
    assert_eq!(
        (d["stato"].as_str(), d["voci"][0]["stato"].as_str()),
        (Some("NON_ESEGUITA"), Some("Non eseguito"))
    );
    assert!(d.get("dataPagamento").is_none(), "{d}");
    let verify = gp
        .soap(
            "paVerifyPaymentNotice",
            qr_request("paVerifyPaymentNoticeReq", &nav, ""),
        )
        .await;
    assert_eq!(
        element(&verify, "outcome"),
        Some("OK"),
        "still payable: {verify}"
    );
    gp.soap("paSendRTV2", receipt(&nav, "rt-ok", "100.99"))
        .await;
    let d = gp.detail("ko").await;
    assert_eq!(
        (d["stato"].as_str(), d["voci"][0]["stato"].as_str()),
        (Some("ESEGUITA"), Some("Eseguito"))
    );
    assert_eq!(d["dataPagamento"], "2026-03-15");
}
