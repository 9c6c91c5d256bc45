//! Verification on the fly, Varco as the client of the gestionale ("API Ente Creditore v2"):
//! `api/ente/v2/avvisi/get/avvisi-get-sintattica.feature` and `avvisi-get-semantica.feature`.
//! The Nodo asks about a notice Varco does not hold; Varco asks the gestionale
//! (`GET /avvisi/{idDominio}/{numeroAvviso}`), which answers a `PendenzaVerificata` with one
//! field broken. Every rule of a REST load applies to the answer, and a broken answer is
//! `PAA_SYSTEM_ERROR` whose description names the field; nothing is stored.
//!
//! Not ported: "Numero avviso su multivoce" (GovPay refuses a position of several items on
//! the legacy nodoAttivaRPT path; paGetPayment carries up to five transfers).

use super::*;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};

/// A gestionale answering every request with `body` (200, JSON).
async fn gestionale(body: String) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(Mutex::new(body));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let answer = body.lock().unwrap().clone();
                    async move {
                        let resp = hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(bytes::Bytes::from(answer)))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// The notice the Nodo asks about: segregation code 09, kept by application `ENTE`'s
/// gestionale.
fn nav() -> String {
    varco::domain::NoticeNumber::aux3("09", 4321)
        .as_str()
        .to_owned()
}

/// `pendenza-put_monovoce_definito.json` as the gestionale gives it (API Ente Creditore v2:
/// `codiceTassonomicoPagoPA`), for notice [`nav`].
fn definito() -> Value {
    let mut p = monovoce_definito("ext-1");
    p["voci"][0] = json!({"idVocePendenza": "1", "importo": 10, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "codiceTassonomicoPagoPA": "9/CodiceContabilita"});
    enrich(p)
}

/// [`definito`] with the item's accounting as API Pendenze v2 gives it (`tipoContabilita` +
/// `codiceContabilita`): the rows about those two fields break one of them. (With
/// `codiceTassonomicoPagoPA` beside them, a null one leaves the item complete.)
fn contabilita_esplicita() -> Value {
    enrich(monovoce_definito("ext-1"))
}

/// The idA2A, idPendenza and notice number of an answer.
fn enrich(mut p: Value) -> Value {
    p["idA2A"] = json!("ENTE");
    p["idPendenza"] = json!("ext-1");
    p["numeroAvviso"] = json!(nav());
    p
}

fn contabilita() -> Value {
    enrich(super::put_sintattica::contabilita("ext-1"))
}

fn bollo() -> Value {
    let mut p = monovoce_bollo("ext-1");
    p["voci"][0]["codiceTassonomicoPagoPA"] = json!("9/MBT");
    enrich(p)
}

/// Varco with application `ENTE` whose gestionale answers `answer`; the Nodo's verify of
/// [`nav`].
async fn verify_with(answer: Value) -> (Gp, String) {
    let addr = gestionale(answer.to_string()).await;
    // The application claims segregation code 09: Varco asks its gestionale about those.
    let app = common::app::application_toml("ENTE", PASSWORD1_HASH, &format!("http://{addr}"))
        .replace(
            "[applicazioni.connettore]",
            "segregation_codes = [\"09\"]\n[applicazioni.connettore]\nverify_timeout_ms = 5000",
        );
    let gp = Gp::with(&app).await;
    let answer = gp
        .soap(
            "paVerifyPaymentNotice",
            qr_request("paVerifyPaymentNoticeReq", &nav(), ""),
        )
        .await;
    (gp, answer)
}

/// The answer `pendenza` (NON_ESEGUITA) with `value` at `pointer`: PAA_SYSTEM_ERROR naming
/// `field`, nothing stored.
async fn refused(base: fn() -> Value, pointer: &str, value: Value, field: &str) {
    let pendenza = with(base(), pointer, value);
    let (gp, answer) = verify_with(json!({"stato": "NON_ESEGUITA", "pendenza": pendenza})).await;
    assert_system_error(&answer, field);
    assert!(
        gp.0.store
            .pendenza(DOMINIO, &nav()[1..])
            .await
            .unwrap()
            .is_none()
    );
}

#[track_caller]
fn assert_system_error(answer: &str, field: &str) {
    assert_eq!(
        common::element(answer, "faultCode"),
        Some("PAA_SYSTEM_ERROR"),
        "{answer}"
    );
    assert_eq!(
        common::element(answer, "id"),
        Some(INTERMEDIARIO),
        "{answer}"
    );
    let description = common::element(answer, "description").unwrap_or_default();
    assert!(description.contains(field), "{field} not named: {answer}");
}

/// The valid answer is taken: the position is stored and the Nodo answered from it.
#[tokio::test]
async fn risposta_valida() {
    let (gp, answer) = verify_with(json!({"stato": "NON_ESEGUITA", "pendenza": definito()})).await;
    assert_eq!(common::element(&answer, "outcome"), Some("OK"), "{answer}");
    assert_eq!(common::element(&answer, "amount"), Some("10.00"));
    let p =
        gp.0.store
            .pendenza(DOMINIO, &nav()[1..])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(p.voci[0].transfer_category, "9/CodiceContabilita");
}

macro_rules! rows {
    ($($name:ident: $base:ident, $pointer:literal => $value:expr, $field:literal;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                refused($base, $pointer, $value, $field).await;
            }
        )*
    };
}

fn voce_con(extra: Value) -> Value {
    let mut voce = json!({"idVocePendenza": 1, "importo": 10.00, "descrizione": "descrizione"});
    voce.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    voce
}

// avvisi-get-sintattica.feature, Scenario Outline "<field> non valida" (base
// pendenza-put_monovoce_definito.json), one test per Examples row.
rows! {
    nome_lorem: definito, "/nome" => json!(lorem()), "nome";
    causale_null: definito, "/causale" => Value::Null, "causale";
    causale_lorem: definito, "/causale" => json!(lorem()), "causale";
    causale_vuota: definito, "/causale" => json!(""), "causale";
    numero_avviso_lorem: definito, "/numeroAvviso" => json!(lorem()), "numeroAvviso";
    numero_avviso_lettere: definito, "/numeroAvviso" => json!("ABC000000000000000"), "numeroAvviso";
    data_validita_impossibile: definito, "/dataValidita" => json!("2030-19-40"), "dataValidita";
    data_scadenza_impossibile: definito, "/dataScadenza" => json!("2030-19-40"), "dataScadenza";
    anno_riferimento_lettere: definito, "/annoRiferimento" => json!("aaaa"), "annoRiferimento";
    tassonomia_avviso_fuori_elenco: definito, "/tassonomiaAvviso" => json!("xxxx"), "tassonomiaAvviso";
    identificativo_lorem: definito, "/soggettoPagatore/identificativo" => json!(lorem()), "identificativo";
    anagrafica_lorem: definito, "/soggettoPagatore/anagrafica" => json!(lorem()), "anagrafica";
    indirizzo_vuoto: definito, "/soggettoPagatore/indirizzo" => json!(""), "indirizzo";
    indirizzo_lorem: definito, "/soggettoPagatore/indirizzo" => json!(lorem()), "indirizzo";
    civico_vuoto: definito, "/soggettoPagatore/civico" => json!(""), "civico";
    civico_lorem: definito, "/soggettoPagatore/civico" => json!(lorem()), "civico";
    cap_vuoto: definito, "/soggettoPagatore/cap" => json!(""), "cap";
    cap_lorem: definito, "/soggettoPagatore/cap" => json!(lorem()), "cap";
    localita_vuota: definito, "/soggettoPagatore/localita" => json!(""), "localita";
    localita_lorem: definito, "/soggettoPagatore/localita" => json!(lorem()), "localita";
    provincia_vuota: definito, "/soggettoPagatore/provincia" => json!(""), "provincia";
    provincia_lorem: definito, "/soggettoPagatore/provincia" => json!(lorem()), "provincia";
    nazione_tre_lettere: definito, "/soggettoPagatore/nazione" => json!("aaa"), "nazione";
    email_due_chiocciole: definito, "/soggettoPagatore/email" => json!("verdi@giuseppe@email"), "email";
    cellulare_senza_spazio_e_trattino: definito, "/soggettoPagatore/cellulare" => json!("+390000000000"), "cellulare";
    importo_null: definito, "/importo" => Value::Null, "importo";
    importo_tre_decimali: definito, "/importo" => json!("10.001"), "importo";
    importo_virgola: definito, "/importo" => json!("10,000"), "importo";
    importo_virgola_e_punto: definito, "/importo" => json!("10,00.0"), "importo";
    importo_lettere: definito, "/importo" => json!("aaaa"), "importo";
    voci_null: definito, "/voci" => Value::Null, "voci";
    id_voce_null: definito, "/voci/0/idVocePendenza" => Value::Null, "idVocePendenza";
    id_voce_lorem: definito, "/voci/0/idVocePendenza" => json!(lorem()), "idVocePendenza";
    voce_importo_null: definito, "/voci/0/importo" => Value::Null, "importo";
    voce_importo_tre_decimali: definito, "/voci/0/importo" => json!("10.001"), "importo";
    voce_importo_virgola: definito, "/voci/0/importo" => json!("10,000"), "importo";
    voce_importo_virgola_e_punto: definito, "/voci/0/importo" => json!("10,00.0"), "importo";
    voce_importo_lettere: definito, "/voci/0/importo" => json!("aaaa"), "importo";
    voce_descrizione_null: definito, "/voci/0/descrizione" => Value::Null, "descrizione";
    voce_descrizione_lorem: definito, "/voci/0/descrizione" => json!(lorem()), "descrizione";
    voce_entrata_inesistente: definito, "/voci/0" => voce_con(json!({"codEntrata": "xxxxx"})), "xxxxx";
    voce_entrata_null: definito, "/voci/0" => voce_con(json!({"codEntrata": null})), "codEntrata";
    voce_iban_accredito_null: definito, "/voci/0/ibanAccredito" => Value::Null, "ibanAccredito";
    voce_tipo_contabilita_null: contabilita_esplicita, "/voci/0/tipoContabilita" => Value::Null, "tipoContabilita";
    voce_tipo_contabilita_fuori_elenco: contabilita_esplicita, "/voci/0/tipoContabilita" => json!("xxx"), "tipoContabilita";
    voce_codice_contabilita_null: contabilita_esplicita, "/voci/0/codiceContabilita" => Value::Null, "codiceContabilita";
    voce_codice_contabilita_vuoto: contabilita_esplicita, "/voci/0/codiceContabilita" => json!(""), "codiceContabilita";
    voce_tipo_bollo_null: definito, "/voci/0" => voce_con(json!({"tipoBollo": null, "hashDocumento": "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", "provinciaResidenza": "RO"})), "tipoBollo";
    voce_tipo_bollo_09: definito, "/voci/0" => voce_con(json!({"tipoBollo": "09", "hashDocumento": "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", "provinciaResidenza": "RO"})), "tipoBollo";
    voce_hash_documento_null: definito, "/voci/0" => voce_con(json!({"tipoBollo": "01", "hashDocumento": null, "provinciaResidenza": "RO"})), "hashDocumento";
    voce_hash_documento_lorem: definito, "/voci/0" => voce_con(json!({"tipoBollo": "01", "hashDocumento": lorem(), "provinciaResidenza": "RO"})), "hashDocumento";
    voce_provincia_residenza_null: definito, "/voci/0" => voce_con(json!({"tipoBollo": "01", "hashDocumento": "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", "provinciaResidenza": null})), "provinciaResidenza";
    voce_provincia_residenza_tre_lettere: definito, "/voci/0" => voce_con(json!({"tipoBollo": "01", "hashDocumento": "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", "provinciaResidenza": "xxx"})), "provinciaResidenza";
    voce_causale_rpt_vuota: definito, "/voci/0/descrizioneCausaleRPT" => json!(""), "descrizioneCausaleRPT";
    voce_causale_rpt_lorem: definito, "/voci/0/descrizioneCausaleRPT" => json!(lorem()), "descrizioneCausaleRPT";
    allegato_nome_null: definito, "/allegati" => json!([{"nome": null, "contenuto": "AAAA"}]), "nome";
    allegato_nome_lorem: definito, "/allegati" => json!([{"nome": lorem(), "contenuto": "AAAA"}]), "nome";
    allegato_contenuto_null: definito, "/allegati" => json!([{"nome": "a.txt", "contenuto": null}]), "contenuto";
    map_entries_vuoto: definito, "/voci/0/metadata" => json!({}), "mapEntries";
    map_entries_lista_vuota: definito, "/voci/0/metadata" => json!({"mapEntries": []}), "mapEntries";
    map_entry_key_vuota: definito, "/voci/0/metadata" => json!({"mapEntries": [{"key": "", "value": "v"}]}), "key";
    map_entry_value_lorem: definito, "/voci/0/metadata" => json!({"mapEntries": [{"key": "k", "value": lorem()}]}), "value";
}

// avvisi-get-sintattica.feature, the outline on pendenza-put_monovoce_riferimento_contabilita.json.
rows! {
    quota_importo_tre_decimali: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("10.001"), "importo";
    quota_capitolo_null: contabilita, "/voci/0/contabilita/quote/0/capitolo" => Value::Null, "capitolo";
    quota_capitolo_lorem: contabilita, "/voci/0/contabilita/quote/0/capitolo" => json!(lorem()), "capitolo";
    quota_anno_cinque_cifre: contabilita, "/voci/0/contabilita/quote/0/annoEsercizio" => json!(12345), "annoEsercizio";
    quota_accertamento_lorem: contabilita, "/voci/0/contabilita/quote/0/accertamento" => json!(lorem()), "accertamento";
}

// avvisi-get-sintattica.feature, the outline on pendenza-put_monovoce_bollo.json.
rows! {
    bollo_tipo_null: bollo, "/voci/0/tipoBollo" => Value::Null, "tipoBollo";
    bollo_tipo_fuori_elenco: bollo, "/voci/0/tipoBollo" => json!("xxx"), "tipoBollo";
    bollo_hash_null: bollo, "/voci/0/hashDocumento" => Value::Null, "hashDocumento";
    bollo_hash_lorem: bollo, "/voci/0/hashDocumento" => json!(lorem()), "hashDocumento";
    bollo_provincia_null: bollo, "/voci/0/provinciaResidenza" => Value::Null, "provinciaResidenza";
    bollo_provincia_tre_lettere: bollo, "/voci/0/provinciaResidenza" => json!("xxx"), "provinciaResidenza";
}

/// avvisi-get-sintattica.feature, "Numero voci eccessivo".
#[tokio::test]
async fn numero_voci_eccessivo() {
    let mut p = bollo();
    for n in 2..=6 {
        let mut voce = p["voci"][0].clone();
        voce["idVocePendenza"] = json!(n.to_string());
        p["voci"].as_array_mut().unwrap().push(voce);
    }
    p["importo"] = json!(96.00);
    let (_, answer) = verify_with(json!({"stato": "NON_ESEGUITA", "pendenza": p})).await;
    assert_system_error(&answer, "voci");
}

/// avvisi-get-sintattica.feature, the outline on the answer's `stato` (null, a long text, a
/// number, an unknown state).
#[tokio::test]
async fn stato_non_valido() {
    for (stato, field) in [
        (Value::Null, "Stato"),
        (json!(lorem()), "stato"),
        (json!(1), "stato"),
        (json!("XXX"), "stato"),
    ] {
        let (_, answer) = verify_with(json!({"stato": stato, "pendenza": definito()})).await;
        assert_system_error(&answer, field);
    }
}

/// avvisi-get-semantica.feature, "<field> non valida": an answer about another notice or
/// another creditor, or whose total is not the sum of its items.
#[tokio::test]
async fn risposta_su_altro_avviso_altro_dominio_o_importo() {
    let other = varco::domain::NoticeNumber::aux3("09", 9999)
        .as_str()
        .to_owned();
    for (pointer, value, field) in [
        ("/numeroAvviso", json!(other), "NumeroAvviso"),
        ("/idDominio", json!(DOMINIO_2), "IdDominio"),
        ("/importo", json!(0.01), "importo"),
    ] {
        let (gp, answer) = verify_with(
            json!({"stato": "NON_ESEGUITA", "pendenza": with(definito(), pointer, value)}),
        )
        .await;
        assert_system_error(&answer, field);
        assert!(
            gp.0.store
                .pendenza(DOMINIO, &nav()[1..])
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// avvisi-get-semantica.feature, "Caricamento pendenza con contabilita errore validazione
/// importi": GovPay's text, exactly.
#[tokio::test]
async fn contabilita_errore_validazione_importi() {
    let p = with(contabilita(), "/voci/0/importo", json!(110.99));
    let (_, answer) = verify_with(json!({"stato": "NON_ESEGUITA", "pendenza": p})).await;
    assert_eq!(
        common::element(&answer, "faultCode"),
        Some("PAA_SYSTEM_ERROR")
    );
    let description = common::element(&answer, "description").unwrap();
    let unescaped = description.replace("&apos;", "'").replace("&#39;", "'");
    assert_eq!(
        unescaped,
        "La voce (1) della pendenza (IdA2A:ENTE, Id:ext-1) ha un importo (110.99) diverso dalla somma dei singoli importi definiti nella lista delle contabilita' (100.99)"
    );
}
