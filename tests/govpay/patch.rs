//! `api/pendenza/v2/pendenze/patch/pendenza-patch-annullamento.feature` and
//! `pendenza-patch-sintassi.feature`.

use super::*;

fn annullamento() -> Value {
    json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}, {"op": "REPLACE", "path": "/descrizioneStato", "value": "Test annullamento"}])
}

/// pendenza-patch-annullamento.feature, "Annullamento pendenza non eseguita".
#[tokio::test]
async fn annullamento_pendenza_non_eseguita() {
    let gp = Gp::new().await;
    gp.created("ann", &monovoce_riferimento("ann")).await;
    let mut expected = gp.detail("ann").await;
    let (s, patched) = gp
        .call(
            "PATCH",
            "/pendenze/IDA2A01/ann",
            IDA2A01,
            Some(&annullamento()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    expected["stato"] = json!("ANNULLATA");
    expected["descrizioneStato"] = json!("Test annullamento");
    assert_eq!(gp.detail("ann").await, expected);
}

/// pendenza-patch-sintassi.feature, "<field> non valida": the first operation with `value` at
/// `field`, refused with GovPay's exact text.
async fn refused(field: &str, value: Value, dettaglio: &str) {
    let gp = Gp::new().await;
    gp.created("p", &monovoce_riferimento("p")).await;
    let mut ops = annullamento();
    ops[0][field] = value;
    let (s, fault) = gp
        .call("PATCH", "/pendenze/IDA2A01/p", IDA2A01, Some(&ops))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{fault}");
    assert_eq!(
        fault,
        json!({"categoria": "RICHIESTA", "codice": "SINTASSI", "descrizione": "Richiesta non valida", "dettaglio": dettaglio})
    );
    assert_eq!(gp.detail("p").await["stato"], "NON_ESEGUITA");
}

#[tokio::test]
async fn op_null() {
    refused("op", Value::Null, "Il campo op non deve essere vuoto.").await;
}

#[tokio::test]
async fn op_non_valida() {
    refused("op", json!("xxx"), "Il campo op non e' valido.").await;
}

#[tokio::test]
async fn path_null() {
    refused("path", Value::Null, "Il campo path non deve essere vuoto.").await;
}

#[tokio::test]
async fn path_non_valido() {
    refused("path", json!("xxx"), "Il campo path non e' valido.").await;
}

#[tokio::test]
async fn value_null() {
    refused(
        "value",
        Value::Null,
        "Il campo value non e' valido per il path indicato.",
    )
    .await;
}

#[tokio::test]
async fn value_non_valido() {
    refused(
        "value",
        json!("xxx"),
        "Il campo value indicato per il path '/stato' non e' valido.",
    )
    .await;
}
