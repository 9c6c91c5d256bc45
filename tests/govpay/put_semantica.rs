//! `api/pendenza/v2/pendenze/put/pendenza-put-semantica.feature` ("Validazione semantica
//! inserimento pendenza"), `pendenza-put-autorizzazione.feature` and
//! `pendenza-put-tipoPendenza.feature`: a well-formed request that breaks one of GovPay's
//! rules is a `422 {RICHIESTA, <code>, "Richiesta non valida", <GovPay's text>}`; rights are
//! `403 {AUTORIZZAZIONE, 403000}` and `400 APP_002`.
//!
//! Not ported: the scenarios that disable an application, a domain, an organisational unit,
//! an entrata, an account or a tipo pendenza (`DOM_001`, `UOP_001`, `TRB_001`, `VER_032`,
//! `TVR_001`, `TVD_*`): Varco's registry is its configuration file, where an entity is present
//! or not (see the README).

use super::*;

/// 422 for `body` PUT as `id`, with GovPay's code and text.
async fn refused_as(gp: &Gp, id: &str, body: &Value, codice: &str, dettaglio: &str) {
    let (s, fault) = gp.put(id, body).await;
    assert_fault(s, &fault, codice, dettaglio);
    assert!(
        gp.0.store
            .pendenza_of_app("IDA2A01", id)
            .await
            .unwrap()
            .is_none()
    );
}

/// "Caricamento idA2A diverso dal chiamante": 400 APP_002.
#[tokio::test]
async fn id_a2a_diverso_dal_chiamante() {
    let gp = Gp::new().await;
    let (s, fault) = gp
        .call(
            "PUT",
            "/pendenze/ALTRO/app-002",
            IDA2A01,
            Some(&monovoce_riferimento("app-002")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        fault,
        json!({"categoria": "RICHIESTA", "codice": "APP_002", "descrizione": "Richiesta non valida", "dettaglio": "Applicazione autenticata (IDA2A01) diversa dalla chiamante (ALTRO)"})
    );
}

/// pendenza-put-autorizzazione.feature, "Caricamento a nome di un'altra applicazione".
#[tokio::test]
async fn caricamento_a_nome_di_un_altra_applicazione() {
    let gp = Gp::new().await;
    let (s, fault) = gp
        .call(
            "PUT",
            "/pendenze/IDA2A02/altra",
            IDA2A01,
            Some(&monovoce_riferimento("altra")),
        )
        .await;
    assert_eq!(
        (s, fault["codice"].as_str()),
        (StatusCode::BAD_REQUEST, Some("APP_002"))
    );
    assert!(
        gp.0.store
            .pendenza_of_app("IDA2A02", "altra")
            .await
            .unwrap()
            .is_none()
    );
}

/// pendenza-put-autorizzazione.feature, "Caricamento dominio non autorizzato".
#[tokio::test]
async fn caricamento_dominio_non_autorizzato() {
    // The application of this scenario may use the second creditor only.
    let gp = Gp::with(&limitata(r#"["12345678902"]"#, r#"["*"]"#)).await;
    let (s, fault) = gp
        .call(
            "PUT",
            "/pendenze/LIMITATA/p1",
            ("LIMITATA", "Password1!"),
            Some(&monovoce_riferimento("p1")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{fault}");
    assert_eq!(fault["categoria"], "AUTORIZZAZIONE");
    assert_eq!(fault["codice"], "403000");
    assert_eq!(fault["descrizione"], "Operazione non autorizzata");
    assert!(
        fault["dettaglio"].as_str().unwrap().contains(DOMINIO),
        "{fault}"
    );
}

/// pendenza-put-autorizzazione.feature, "Caricamento avviso con voce autodeterminata senza
/// autorizzazione": the application may load SEGRETERIA only.
#[tokio::test]
async fn voce_autodeterminata_senza_autorizzazione() {
    let gp = Gp::with(&limitata(r#"["*"]"#, r#"["SEGRETERIA"]"#)).await;
    let mut body = monovoce_riferimento("vr-022");
    body["idTipoPendenza"] = json!("LIBERO");
    body["voci"] = json!([{"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "XXXXX"}]);
    let (s, fault) = gp
        .call(
            "PUT",
            "/pendenze/LIMITATA/vr-022",
            ("LIMITATA", "Password1!"),
            Some(&body),
        )
        .await;
    assert_fault(
        s,
        &fault,
        "VER_022",
        "Applicazione non autorizzata alla gestione del tipo pendenza indicato",
    );
}

/// An application `LIMITATA` (password `Password1!`) with these domains and tipi pendenza.
fn limitata(domini: &str, tipi: &str) -> String {
    format!(
        "\n[[applicazioni]]\nid_a2a = \"LIMITATA\"\npassword_hash = \"{PASSWORD1_HASH}\"\ndomini = {domini}\ntipi_pendenza = {tipi}\n"
    )
}

/// "Caricamento idDominio inesistente".
#[tokio::test]
async fn id_dominio_inesistente() {
    let body = with(
        monovoce_riferimento("dom"),
        "/idDominio",
        json!("00000000000"),
    );
    refused_as(
        &Gp::new().await,
        "dom",
        &body,
        "DOM_000",
        "Dominio (00000000000) inesistente",
    )
    .await;
}

/// "Caricamento idUnitaOperativa inesistente".
#[tokio::test]
async fn id_unita_operativa_inesistente() {
    let body = with(
        monovoce_riferimento("uop"),
        "/idUnitaOperativa",
        json!("00000000000_00"),
    );
    refused_as(
        &Gp::new().await,
        "uop",
        &body,
        "UOP_000",
        "Unita' operativa (00000000000_00) del dominio (12345678901) inesistente",
    )
    .await;
}

/// "Caricamento entrata inesistente".
#[tokio::test]
async fn entrata_inesistente() {
    let body = with(
        monovoce_riferimento("trb"),
        "/voci/0/codEntrata",
        json!("XXX"),
    );
    refused_as(
        &Gp::new().await,
        "trb",
        &body,
        "TRB_000",
        "Tributo (XXX) inesistente per il dominio (12345678901)",
    )
    .await;
}

/// "Caricamento multivoce con numeroAvviso": a supplied number, also with a stamp among
/// the items.
#[tokio::test]
async fn multivoce_con_numero_avviso() {
    let gp = Gp::new().await;
    let nav = numero_avviso(4242);
    let body = with(multivoce_bollo("mv"), "/numeroAvviso", json!(nav));
    let created = gp.created("mv", &body).await;
    assert_eq!(created["numeroAvviso"], nav);
    assert_eq!(gp.detail("mv").await["numeroAvviso"], nav);
}

/// "Caricamento multivoce con idVocePendenza non univoco".
#[tokio::test]
async fn id_voce_pendenza_non_univoco() {
    let body = with(
        multivoce_bollo("ver-001"),
        "/voci/1/idVocePendenza",
        json!("1"),
    );
    refused_as(
        &Gp::new().await,
        "ver-001",
        &body,
        "VER_001",
        "La pendenza (IdA2A:IDA2A01, Id:ver-001) presenta il codSingoloVersamentoEnte (1) piu' di una volta",
    )
    .await;
}

/// "Caricamento pendenza con importo non congruo alle voci".
#[tokio::test]
async fn importo_non_congruo_alle_voci() {
    let body = with(multivoce_bollo("ver-002"), "/importo", json!(135.99));
    refused_as(
        &Gp::new().await,
        "ver-002",
        &body,
        "VER_002",
        "La pendenza (IdA2A:IDA2A01, Id:ver-002) ha un importo totale (135.99) diverso dalla somma dei singoli importi (125.99)",
    )
    .await;
}

/// "Caricamento conto accredito inesistente": money never goes to an account that is not the
/// creditor's.
#[tokio::test]
async fn conto_accredito_inesistente() {
    let body = with(
        monovoce_riferimento("ver-020"),
        "/voci",
        json!([{"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "ibanAccredito": "IT02L9999999999123456789012", "tipoContabilita": "ALTRO", "codiceContabilita": "XXXXX"}]),
    );
    refused_as(
        &Gp::new().await,
        "ver-020",
        &body,
        "VER_020",
        "Iban di accredito (IT02L9999999999123456789012) non censito per il dominio (12345678901)",
    )
    .await;
}

/// "Caricamento con iuv non univoco".
#[tokio::test]
async fn iuv_non_univoco() {
    let gp = Gp::new().await;
    let first = gp.created("primo", &monovoce_riferimento("primo")).await;
    let nav = first["numeroAvviso"].as_str().unwrap();
    let body = with(monovoce_riferimento("secondo"), "/numeroAvviso", json!(nav));
    refused_as(
        &gp,
        "secondo",
        &body,
        "VER_025",
        &format!(
            "La pendenza (IdA2A:IDA2A01, Id:secondo) ha un numero avviso ({nav}) gia' utilizzato (IdA2A:IDA2A01, Id:primo)."
        ),
    )
    .await;
}

/// "Caricamento con iuv non confome agid".
#[tokio::test]
async fn iuv_non_conforme_agid() {
    let body = with(
        monovoce_riferimento("ver-026"),
        "/numeroAvviso",
        json!("000000000000000000"),
    );
    refused_as(
        &Gp::new().await,
        "ver-026",
        &body,
        "VER_026",
        "Lo IUV (000000000000000000) non e' conforme alle specifiche agid, application code (00) non valido per la stazione (11111111113_01)",
    )
    .await;
}

/// "Caricamento conto appoggio inesistente".
#[tokio::test]
async fn conto_appoggio_inesistente() {
    let body = with(
        monovoce_riferimento("ver-033"),
        "/voci",
        json!([{"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "ibanAppoggio": "IT02L9999999999123456789012", "tipoContabilita": "ALTRO", "codiceContabilita": "XXXXX"}]),
    );
    refused_as(
        &Gp::new().await,
        "ver-033",
        &body,
        "VER_033",
        "Iban di appoggio (IT02L9999999999123456789012) non censito per il dominio (12345678901)",
    )
    .await;
}

/// "Caricamento con numero avviso con cifra iniziale non coincidente con auxdigit dominio".
#[tokio::test]
async fn numero_avviso_con_altra_cifra_iniziale() {
    let body = with(
        monovoce_riferimento("ver-039"),
        "/numeroAvviso",
        json!("123456789248953761"),
    );
    refused_as(
        &Gp::new().await,
        "ver-039",
        &body,
        "VER_039",
        "Il carattere iniziale del numero avviso (123456789248953761) indicato per la pendenza (IdA2A:IDA2A01 Id:ver-039) non coincide con l'aux digit (3) impostato per l'Ente Creditore (12345678901).",
    )
    .await;
}

/// pendenza-put-tipoPendenza.feature, "Caricamento pendenza dovuta con Tipo pendenza non
/// esistente".
#[tokio::test]
async fn tipo_pendenza_non_esistente() {
    let body = with(
        monovoce_riferimento("tvr"),
        "/idTipoPendenza",
        json!("codLibero"),
    );
    refused_as(
        &Gp::new().await,
        "tvr",
        &body,
        "TVR_000",
        "Tipo pendenza (codLibero) inesistente",
    )
    .await;
}

/// pendenza-put-tipoPendenza.feature, "Caricamento pendenza dovuta".
#[tokio::test]
async fn pendenza_dovuta_libera() {
    let gp = Gp::new().await;
    let body = with(
        monovoce_riferimento("libera"),
        "/idTipoPendenza",
        json!("LIBERO"),
    );
    let created = gp.created("libera", &body).await;
    let d = gp.detail("libera").await;
    assert_eq!(d["numeroAvviso"], created["numeroAvviso"]);
    assert_eq!(d["stato"], "NON_ESEGUITA");
    assert_eq!(d["voci"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            d["voci"][0]["indice"].as_u64(),
            d["voci"][0]["stato"].as_str()
        ),
        (Some(1), Some("Non eseguito"))
    );
}

/// pendenza-put-tipoPendenza.feature, "Caricamento pendenza con entrata definita, riferita e
/// marca da bollo"; pendenza-put-multivoce.feature, the same scenario.
#[tokio::test]
async fn entrata_definita_riferita_e_marca_da_bollo() {
    let gp = Gp::new().await;
    let body = with(multivoce_bollo("tre"), "/idTipoPendenza", json!("LIBERO"));
    gp.created("tre", &body).await;
    let d = gp.detail("tre").await;
    assert!(d["numeroAvviso"].is_string());
    assert_eq!(d["stato"], "NON_ESEGUITA");
}
