//! API Pendenze v2 through the router (no socket): every endpoint and every refusal, and a
//! position loaded over REST that is verified, activated and paid over SOAP, then read back.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use common::app::Who;
use common::{TestApp, basic};
use serde_json::{Value, json};
use tower::ServiceExt;
use varco::password::hash_password;

const DEMO: (&str, &str) = common::DEMO_APP;
const RESTRICTED: (&str, &str) = ("ristretta", "una password vera");
const SECOND: (&str, &str) = ("seconda", "un'altra password vera");

async fn setup() -> Api {
    Api(setup_with("").build().await)
}

/// The demo with a second creditor, a restricted application and a second one (and `tail`).
fn setup_with(tail: &str) -> common::app::TestAppBuilder {
    let extra = format!(
        r#"
[[tipi_pendenza]]
id = "ALTRO"

[[domini]]
id = "11111111111"
ragione_sociale = "Comune Vicino"
segregation_codes = ["02"]
legacy_notice_numbers = true

[[domini.iban]]
iban = "IT60X0542811101000000123456"

[[applicazioni]]
id_a2a = "ristretta"
password_hash = "{}"
domini = ["11111111111"]
tipi_pendenza = ["ALTRO"]

[[applicazioni]]
id_a2a = "seconda"
password_hash = "{}"
domini = ["*"]
tipi_pendenza = ["*"]
{tail}"#,
        hash_password(RESTRICTED.1).unwrap(),
        hash_password(SECOND.1).unwrap()
    );
    TestApp::with_toml_tail(&extra)
}

/// The application, with calls of API Pendenze v2 (paths below `/api/pendenze/v2`) answered
/// as JSON with the wire text under `_raw`.
struct Api(TestApp);

impl std::ops::Deref for Api {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Api {
    async fn call(&self, method: &str, path: &str, who: Who<'_>, body: Option<Value>) -> Answer {
        let raw = body.map(|b| b.to_string().into_bytes());
        self.call_raw(method, path, who, raw, "application/json")
            .await
    }

    async fn get(&self, path: &str, who: (&str, &str)) -> Answer {
        self.call("GET", path, Some(who), None).await
    }

    async fn put(&self, path: &str, who: (&str, &str), body: Value) -> Answer {
        self.call("PUT", path, Some(who), Some(body)).await
    }

    async fn patch(&self, path: &str, who: (&str, &str), body: Value) -> Answer {
        self.call("PATCH", path, Some(who), Some(body)).await
    }

    async fn call_raw(
        &self,
        method: &str,
        path: &str,
        who: Who<'_>,
        body: Option<Vec<u8>>,
        accept: &str,
    ) -> Answer {
        let mut req = common::app::request(method, &format!("/api/pendenze/v2{path}"), who);
        req.headers_mut()
            .unwrap()
            .insert("accept", accept.parse().unwrap());
        let req = req.body(common::app::body(body)).unwrap();
        let reply = self.send(req).await;
        let mut value: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|_| json!({}));
        if let Some(o) = value.as_object_mut() {
            // Keep the wire text: amounts must be written with two decimals.
            o.insert("_raw".into(), Value::String(reply.text()));
        }
        (reply.status, value)
    }
}

/// Status and JSON body (with `_raw`).
type Answer = (StatusCode, Value);

fn pendenza(importo: f64) -> Value {
    json!({
        "idTipoPendenza": "LIBERO",
        "idDominio": "77777777777",
        "causale": "Tassa rifiuti 2026 - rata unica",
        "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi", "email": "mario.rossi@example.org"},
        "importo": importo,
        "dataScadenza": "2099-12-31",
        "voci": [
            {"idVocePendenza": "tari", "importo": 100.00, "descrizione": "TARI", "codEntrata": "TARI"},
            {"idVocePendenza": "tefa", "importo": 20.50, "descrizione": "TEFA", "ibanAccredito": "IT60X0542811101000000123456", "tipoContabilita": "ALTRO", "codiceContabilita": "0101102IM",
             "metadata": {"mapEntries": [{"key": "anno", "value": "2026"}]}}
        ]
    })
}

/// [`pendenza`] of `importo` with `change` made to it.
fn changed(importo: f64, change: impl FnOnce(&mut Value)) -> Value {
    let mut p = pendenza(importo);
    change(&mut p);
    p
}

/// `pendenza(120.50)` with the member at `pointer` (its parent an object) set to `value`, or
/// removed when `value` is null.
fn set(pointer: &str, value: Value) -> Value {
    let mut p = pendenza(120.50);
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = p.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Value::Null => parent.remove(key),
        v => parent.insert(key.to_owned(), v),
    };
    p
}

fn field(v: &Value, name: &str) -> String {
    v[name]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v[name].to_string())
}

/// Creates `demo/tari-1` (120.50) and returns its notice number.
async fn create_tari(api: &Api) -> String {
    let (s, created) = api
        .put("/pendenze/demo/tari-1", DEMO, pendenza(120.50))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    field(&created, "numeroAvviso")
}

/// Creates `demo/tari-1` and updates its causale; returns its number and the updated body.
async fn create_and_update_tari(api: &Api) -> (String, Value) {
    let nav = create_tari(api).await;
    let mut changed = pendenza(120.50);
    changed["causale"] = json!("Tassa rifiuti 2026 - aggiornata");
    let (s, _) = api
        .put("/pendenze/demo/tari-1", DEMO, changed.clone())
        .await;
    assert_eq!(s, StatusCode::OK);
    (nav, changed)
}

/// Create: 201, a generated aux-3 number with good check digits, skipping the demo's 1..10.
#[tokio::test]
async fn a_position_is_created_with_a_generated_number() {
    let api = setup().await;
    let (s, created) = api
        .put("/pendenze/demo/tari-1", DEMO, pendenza(120.50))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let nav = field(&created, "numeroAvviso");
    assert_eq!(nav, "301000000000001154");
    varco::domain::NoticeNumber::parse_checked(&nav).unwrap();
    assert_eq!(created["idDominio"], "77777777777");
    assert!(!field(&created, "UUID").is_empty());
}

/// The same PUT again: 200, same number, nothing changed.
#[tokio::test]
async fn the_same_put_again_changes_nothing() {
    let api = setup().await;
    let nav = create_tari(&api).await;
    let before = api
        .store
        .pendenza_of_app("demo", "tari-1")
        .await
        .unwrap()
        .unwrap();
    let (s, again) = api
        .put("/pendenze/demo/tari-1", DEMO, pendenza(120.50))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(field(&again, "numeroAvviso"), nav);
    assert_eq!(
        api.store
            .pendenza_of_app("demo", "tari-1")
            .await
            .unwrap()
            .unwrap(),
        before
    );
}

/// An update keeps number and voci identity, and reads back.
#[tokio::test]
async fn an_update_keeps_the_number_and_reads_back() {
    let api = setup().await;
    let (nav, _) = create_and_update_tari(&api).await;
    let (s, detail) = api.get("/pendenze/demo/tari-1", DEMO).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["causale"], "Tassa rifiuti 2026 - aggiornata");
    assert_eq!(detail["numeroAvviso"], nav.as_str());
    assert_eq!(detail["stato"], "NON_ESEGUITA");
    assert!(
        detail["_raw"]
            .as_str()
            .unwrap()
            .contains(r#""importo":120.50,"#),
        "{detail}"
    );
    assert_eq!(detail["voci"][1]["tassonomiaTransfer"], "9/0101102IM");
    assert_eq!(detail["voci"][0]["codEntrata"], "TARI");
}

/// Removing a voce, changing its account or its notice number is refused.
#[tokio::test]
async fn an_update_cannot_remove_a_voce_move_its_account_or_renumber() {
    let api = setup().await;
    let (_nav, changed) = create_and_update_tari(&api).await;
    // Removing a voce or changing its account is refused.
    let mut removed = changed.clone();
    removed["voci"] = json!([changed["voci"][0]]);
    removed["importo"] = json!(100.00);
    let (s, e) = api.put("/pendenze/demo/tari-1", DEMO, removed).await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_005")),
        "{e}"
    );
    let mut moved = changed.clone();
    moved["voci"][1]["ibanAccredito"] = json!("IT70X0760101600000012345678");
    let (s, e) = api.put("/pendenze/demo/tari-1", DEMO, moved).await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_023")),
        "{e}"
    );
    let mut renumbered = changed.clone();
    renumbered["numeroAvviso"] = json!("301000000000001255");
    let (s, e) = api.put("/pendenze/demo/tari-1", DEMO, renumbered).await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_024")),
        "{e}"
    );
}

/// By notice, and the notice as JSON.
#[tokio::test]
async fn a_position_is_read_by_notice_and_as_a_notice() {
    let api = setup().await;
    let nav = create_tari(&api).await;
    let (s, by) = api
        .get(&format!("/pendenze/byAvviso/77777777777/{nav}"), DEMO)
        .await;
    assert_eq!(
        (s, by["idPendenza"].as_str()),
        (StatusCode::OK, Some("tari-1"))
    );
    let (s, avviso) = api.get(&format!("/avvisi/77777777777/{nav}"), DEMO).await;
    assert_eq!(s, StatusCode::OK, "{avviso}");
    assert_eq!(
        avviso["qrcode"],
        format!("PAGOPA|002|{nav}|77777777777|12050")
    );
    assert!(
        avviso["_raw"]
            .as_str()
            .unwrap()
            .contains(r#""importo":120.50"#),
        "{avviso}"
    );
    assert_eq!(avviso["stato"], "NON_ESEGUITA");
    let (s, _) = api
        .get("/avvisi/77777777777/301000000000099919", DEMO)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A supplied number: accepted once, `422 VER_025` for another position (GovPay's
/// pendenza-put-semantica.feature, "Caricamento con iuv non univoco").
#[tokio::test]
async fn a_supplied_number_is_accepted_once() {
    let api = setup().await;
    let mut supplied = pendenza(120.50);
    supplied["numeroAvviso"] = json!("301000000000050078");
    varco::domain::NoticeNumber::parse_checked("301000000000050078").unwrap();
    let (s, e) = api
        .put("/pendenze/demo/own-number", DEMO, supplied.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = api
        .put("/pendenze/demo/own-number-2", DEMO, supplied.clone())
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(
        e["dettaglio"],
        "La pendenza (IdA2A:demo, Id:own-number-2) ha un numero avviso (301000000000050078) gia' utilizzato (IdA2A:demo, Id:own-number)."
    );
    assert!(
        api.store
            .pendenza_of_app("demo", "own-number-2")
            .await
            .unwrap()
            .is_none()
    );
}

/// Refusals name the field; nothing half-written is stored.
#[tokio::test]
async fn refusals_name_the_field_and_store_nothing() {
    let api = setup().await;
    // (a JSON pointer into pendenza(120.50), its new value or null to remove it, the code, the
    // field the refusal names)
    // Syntax refusals are 400 SINTASSI, GovPay's semantic rules 422 with its code; the
    // dettaglio names the field or says GovPay's text.
    #[rustfmt::skip]
    let changes = [
        ("/importo", json!(99.00), "VER_002", "importo totale (99)"),
        ("/numeroAvviso", json!("301000000000050033"), "VER_017", "301000000000050033"),
        ("/numeroAvviso", json!("302000000000000184"), "VER_027", "segregaton code (02)"),
        ("/idDominio", json!("99999999999"), "DOM_000", "Dominio (99999999999) inesistente"),
        ("/idTipoPendenza", json!("NESSUNO"), "TVR_000", "Tipo pendenza (NESSUNO) inesistente"),
        ("/voci/0/codEntrata", json!("NESSUNA"), "TRB_000", "Tributo (NESSUNA)"),
        ("/voci/1/ibanAccredito", json!("IT60X0542811101000000123457"), "VER_020", "Iban di accredito (IT60X0542811101000000123457) non censito"),
        ("/voci/1/ibanAccredito", json!("IT60-0542811101000000123457"), "SINTASSI", "voci[1].ibanAccredito"),
        ("/voci/1/ibanAccredito", json!("IT57X0306909606100000000001"), "VER_020", "Iban di accredito (IT57X0306909606100000000001) non censito"),
        ("/soggettoPagatore/identificativo", json!("RSSMRA80A01H501XX"), "SINTASSI", "soggettoPagatore.identificativo"),
        ("/causale", json!("x".repeat(141)), "SINTASSI", "causale"),
        ("/importo", json!(120.505), "SINTASSI", "importo"),
        ("/voci/0/ibanAccredito", json!("IT60X0542811101000000123456"), "SINTASSI", "voci[0].ibanAccredito"),
        ("/causale", Value::Null, "SINTASSI", "causale"),
    ];
    let mut cases: Vec<(Value, &str, &str)> = changes
        .into_iter()
        .map(|(pointer, value, codice, field)| (set(pointer, value), codice, field))
        .collect();
    // No voci, and more than five.
    cases.push((changed(0.0, |p| p["voci"] = json!([])), "SINTASSI", "voci"));
    let six = (0..6).map(|i| json!({"idVocePendenza": format!("v{i}"), "importo": 1.0, "descrizione": "x", "codEntrata": "TARI"}));
    let six = json!(six.collect::<Vec<_>>());
    cases.push((changed(6.0, |p| p["voci"] = six), "SINTASSI", "voci"));
    for (body, codice, named) in cases {
        let (s, e) = api.put("/pendenze/demo/refused", DEMO, body).await;
        let status = if codice == "SINTASSI" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(s, status, "{named}: {e}");
        assert_eq!(e["codice"], codice, "{e}");
        assert_eq!(e["categoria"], "RICHIESTA", "{e}");
        assert_eq!(e["descrizione"], "Richiesta non valida", "{e}");
        assert!(
            e["dettaglio"].as_str().unwrap().contains(named),
            "{named}: {e}"
        );
        assert!(
            api.store
                .pendenza_of_app("demo", "refused")
                .await
                .unwrap()
                .is_none()
        );
    }
    let (s, e) = api
        .call_raw(
            "PUT",
            "/pendenze/demo/refused",
            Some(DEMO),
            Some(b"{not json".to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["categoria"], "RICHIESTA");
}

/// Without credentials, or with a wrong password: 401.
#[tokio::test]
async fn calls_without_valid_credentials_are_refused() {
    let api = setup().await;
    create_tari(&api).await;
    let (s, _) = api.call("GET", "/pendenze/demo/tari-1", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api.get("/pendenze/demo/tari-1", ("demo", "wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// An application reaches only its own positions, domains and kinds of position.
#[tokio::test]
async fn applications_are_held_to_their_domains_kinds_and_positions() {
    let api = setup().await;
    let nav = create_tari(&api).await;
    // Reading another application's position: 403 (GovPay's pendenze-get-applicazione-*).
    let (s, e) = api.get("/pendenze/demo/tari-1", RESTRICTED).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(e["codice"], "403000", "{e}");
    // Writing under another application's idA2A: 400 APP_002.
    let (s, e) = api
        .put("/pendenze/demo/p1", RESTRICTED, pendenza(120.50))
        .await;
    assert_eq!(
        (s, e["codice"].as_str(), e["dettaglio"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("APP_002"),
            Some("Applicazione autenticata (ristretta) diversa dalla chiamante (demo)")
        )
    );
    let (s, e) = api
        .put("/pendenze/ristretta/p1", RESTRICTED, pendenza(120.50))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "domain not allowed");
    assert_eq!(
        (
            e["categoria"].as_str(),
            e["codice"].as_str(),
            e["descrizione"].as_str()
        ),
        (
            Some("AUTORIZZAZIONE"),
            Some("403000"),
            Some("Operazione non autorizzata")
        )
    );
    assert!(
        e["dettaglio"].as_str().unwrap().contains("77777777777"),
        "{e}"
    );
    let mut other = pendenza(120.50);
    other["idDominio"] = json!("11111111111");
    other["voci"] = json!([{"idVocePendenza": "a", "importo": 120.50, "descrizione": "x", "ibanAccredito": "IT60X0542811101000000123456", "tipoContabilita": "ALTRO", "codiceContabilita": "XXX"}]);
    let (s, e) = api
        .put("/pendenze/ristretta/p1", RESTRICTED, other.clone())
        .await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_022")),
        "tipo pendenza not allowed: {e}"
    );
    other["idTipoPendenza"] = json!("ALTRO");
    other["numeroAvviso"] = json!("302000000000000199"); // wrong check digits: the domain allows legacy numbers
    let (s, e) = api.put("/pendenze/ristretta/p1", RESTRICTED, other).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, list) = api.get("/pendenze", RESTRICTED).await;
    assert_eq!(
        (s, list["numRisultati"].as_u64()),
        (StatusCode::OK, Some(1)),
        "an application sees only its own"
    );
    let (s, _) = api.get("/pendenze?idA2A=demo", RESTRICTED).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .get(&format!("/pendenze/byAvviso/77777777777/{nav}"), RESTRICTED)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_patch_and_pay_over_soap() {
    let api = setup().await;
    for i in 0..7 {
        let (s, _) = api
            .put(&format!("/pendenze/demo/p{i}"), DEMO, pendenza(120.50))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    // The demo seed's ten positions belong to `demo` too.
    let (s, page) = api
        .get("/pendenze?risultatiPerPagina=5&pagina=2", DEMO)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["numRisultati"], 17);
    assert_eq!(page["numPagine"], 4);
    assert_eq!(page["risultati"].as_array().unwrap().len(), 5);
    let (_, paid) = api.get("/pendenze?stato=ESEGUITA", DEMO).await;
    assert_eq!(paid["numRisultati"], 1);
    let (_, expired) = api
        .get("/pendenze?stato=SCADUTA&idDominio=77777777777", DEMO)
        .await;
    assert_eq!(expired["numRisultati"], 1);
    let (_, mine) = api
        .get(
            "/pendenze?idDebitore=RSSMRA80A01H501U&dataDa=2000-01-01",
            DEMO,
        )
        .await;
    assert_eq!(mine["numRisultati"], 17);
    let (s, _) = api.get("/pendenze?stato=BOH", DEMO).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Cancel: the Nodo is told ANNULLATO; reopen; then pay over SOAP.
    let (_, p0) = api.get("/pendenze/demo/p0", DEMO).await;
    let nav = p0["numeroAvviso"].as_str().unwrap().to_owned();
    let verify = common::qr_request("paVerifyPaymentNoticeReq", &nav, "");
    let patch = json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}, {"op": "REPLACE", "path": "/descrizioneStato", "value": "Sgravio"}]);
    let (s, d) = api.patch("/pendenze/demo/p0", DEMO, patch).await;
    assert_eq!(
        (s, d["stato"].as_str(), d["descrizioneStato"].as_str()),
        (StatusCode::OK, Some("ANNULLATA"), Some("Sgravio"))
    );
    assert!(
        api.soap("paVerifyPaymentNotice", verify.clone())
            .await
            .contains("PAA_PAGAMENTO_ANNULLATO")
    );
    let (s, _) = api
        .patch(
            "/pendenze/demo/p0",
            DEMO,
            json!([{"op": "REPLACE", "path": "/stato", "value": "NON_ESEGUITA"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .patch(
            "/pendenze/demo/p0",
            DEMO,
            json!([{"op": "REPLACE", "path": "/importo", "value": 1}]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .patch(
            "/pendenze/demo/nessuna",
            DEMO,
            json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}]),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let answer = api.soap("paVerifyPaymentNotice", verify.clone()).await;
    assert!(
        answer.contains("<outcome>OK</outcome>") && answer.contains("<amount>120.50</amount>"),
        "{answer}"
    );
    let activate = verify.replace("paVerifyPaymentNoticeReq", "paGetPaymentV2Request");
    let answer = api.soap("paGetPaymentV2", activate).await;
    assert!(
        answer.contains("<paymentAmount>120.50</paymentAmount>")
            && answer.contains("<IBAN>IT60X0542811101000000123456</IBAN>"),
        "{answer}"
    );
    let iuv = &nav[1..];
    let receipt = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/demo/send-rt-v2.xml"
    ))
    .unwrap()
    .replace("301000000000001053", &nav)
    .replace("01000000000001053", iuv)
    .replace("120.00", "120.50")
    .replace("d3m0000000000000000000000000000a", "rest-flow-receipt");
    let answer = api.soap("paSendRTV2", receipt).await;
    assert!(answer.contains("<outcome>OK</outcome>"), "{answer}");

    let (_, d) = api.get("/pendenze/demo/p0", DEMO).await;
    assert_eq!(d["stato"], "ESEGUITA");
    assert_eq!(d["ricevute"][0]["idRicevuta"], "rest-flow-receipt");
    assert_eq!(d["ricevute"][0]["stato"], "ACCETTATA");
    assert!(
        d["_raw"]
            .as_str()
            .unwrap()
            .contains(r#""idRicevuta":"rest-flow-receipt","importo":120.50"#),
        "{d}"
    );
    assert_eq!(d["tentativi"][0]["primitiva"], "paGetPaymentV2");
    // A paid position can no longer be cancelled or changed.
    let (s, e) = api
        .patch(
            "/pendenze/demo/p0",
            DEMO,
            json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}]),
        )
        .await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_009"))
    );
    let mut changed = pendenza(120.50);
    changed["causale"] = json!("altro");
    let (s, e) = api.put("/pendenze/demo/p0", DEMO, changed).await;
    assert_eq!(
        (s, e["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VER_003"))
    );
}

#[tokio::test]
async fn bulk_load_answers_per_item() {
    let api = setup().await;
    let mut items = Vec::new();
    for i in 0..250 {
        let mut p = pendenza(120.50);
        p["idA2A"] = json!("demo");
        p["idPendenza"] = json!(format!("bulk-{i}"));
        if i == 7 {
            p["importo"] = json!(1.0);
        }
        if i == 8 {
            p["idA2A"] = json!("ristretta");
        }
        items.push(p);
    }
    let (s, out) = api
        .call(
            "POST",
            "/pendenze/tracciati",
            Some(DEMO),
            Some(Value::Array(items)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["numPendenze"], 250);
    assert_eq!(out["numErrori"], 2);
    assert_eq!(out["risultati"][7]["errore"]["codice"], "VER_002");
    assert_eq!(out["risultati"][8]["errore"]["codice"], "APP_002");
    assert_eq!(out["risultati"][9]["esito"], "CREATA");
    let navs: std::collections::HashSet<String> = out["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["numeroAvviso"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        navs.len(),
        248,
        "every stored position has its own notice number"
    );
    assert!(
        api.store
            .pendenza_of_app("demo", "bulk-249")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        api.store
            .pendenza_of_app("demo", "bulk-7")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let api = setup().await;
    let (s, doc) = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    let routes = [
        ("put", "/pendenze/{idA2A}/{idPendenza}"),
        ("get", "/pendenze/{idA2A}/{idPendenza}"),
        ("patch", "/pendenze/{idA2A}/{idPendenza}"),
        ("get", "/pendenze"),
        ("get", "/pendenze/byAvviso/{idDominio}/{numeroAvviso}"),
        ("post", "/pendenze/tracciati"),
        ("get", "/avvisi/{idDominio}/{numeroAvviso}"),
        ("get", "/pendenze/{idA2A}/{idPendenza}/tentativi"),
        ("patch", "/documenti/{idDominio}/{identificativo}"),
        ("get", "/documenti/{idDominio}/{identificativo}/avvisi"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in routes {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    // And every documented operation is a route (unauthenticated → 401, never 404/405).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{idA2A}", "demo").replace(['{', '}'], "");
            let (s, _) = api
                .call(&method.to_uppercase(), &concrete, None, None)
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    assert_eq!(paths.len(), 8);
}

#[tokio::test]
async fn notices_are_served_as_pdf() {
    let api = setup().await;
    let (s, created) = api
        .put(
            "/pendenze/demo/stampa?stampaAvviso=true",
            DEMO,
            pendenza(120.50),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(created["pdf"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let nav = created["numeroAvviso"].as_str().unwrap().to_owned();
    let req = Request::get(format!("/api/pendenze/v2/avvisi/77777777777/{nav}"))
        .header("accept", "application/pdf")
        .header("authorization", basic(DEMO))
        .body(Body::empty())
        .unwrap();
    let resp = api.api.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let served = common::app::read_body(resp).await;
    assert!(served.starts_with(b"%PDF-"));
    let (s, _) = api
        .call_raw(
            "GET",
            &format!("/avvisi/77777777777/{nav}"),
            Some(DEMO),
            None,
            "image/png",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    // What a citizen reads on it (poppler's pdftotext).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("avviso.pdf");
    std::fs::write(&file, &served).unwrap();
    let pdftotext = common::require_tool("pdftotext", "poppler-utils");
    let out = std::process::Command::new(pdftotext)
        .arg("-layout")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let grouped = varco::domain::NoticeNumber::parse(&nav).unwrap().grouped();
    for expected in [
        grouped.as_str(),
        "120,50 €",
        "77777777777",
        "RSSMRA80A01H501U",
        "Tassa rifiuti 2026 - rata unica",
        "31/12/2099",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn credentials_come_before_the_body_and_single_calls_are_capped() {
    let api = setup().await;
    let big = vec![b' '; 5 * 1024 * 1024];
    let put = |who: Option<(&str, &str)>, declared: bool| {
        let mut req = Request::put("/api/pendenze/v2/pendenze/demo/grande")
            .header("content-type", "application/json");
        if declared {
            req = req.header("content-length", big.len());
        }
        if let Some(w) = who {
            req = req.header("authorization", basic(w));
        }
        req.body(Body::from(big.clone())).unwrap()
    };
    // No credentials: 401, whatever the body.
    let resp = api.api.clone().oneshot(put(None, true)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = api
        .api
        .clone()
        .oneshot(put(Some(("demo", "wrong")), false))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Credentials, but one position of 5 MiB: 413 from the declared length, and from the
    // bytes when no length is declared.
    for declared in [true, false] {
        let resp = api
            .api
            .clone()
            .oneshot(put(Some(DEMO), declared))
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared={declared}"
        );
    }
    let resp = api
        .api
        .clone()
        .oneshot(put(Some(DEMO), true))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&common::app::read_body(resp).await).unwrap();
    assert_eq!(body["categoria"], "RICHIESTA", "{body}");
    // The bulk endpoint takes more than the single-call cap (5 MiB of whitespace around an
    // empty list is a valid, if odd, load).
    let mut bulk = big.clone();
    bulk.extend_from_slice(b"[]");
    let req = Request::post("/api/pendenze/v2/pendenze/tracciati")
        .header("content-type", "application/json")
        .header("authorization", basic(DEMO))
        .body(Body::from(bulk))
        .unwrap();
    let resp = api.api.clone().oneshot(req).await.unwrap();
    assert_ne!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_ne!(resp.status(), StatusCode::UNAUTHORIZED);
}

// ---- hardening (issue 11) ------------------------------------------------------------------

/// A request body that never ends: a handler that reads it waits forever.
struct NeverEnding;

impl hyper::body::Body for NeverEnding {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Issue 11, item 3: another application can read neither a notice's JSON nor its PDF (with
/// the debtor's name, fiscal code and address), and cannot tell that it exists.
#[tokio::test]
async fn notices_of_another_application_are_not_revealed() {
    let api = setup().await;
    let (s, created) = api.put("/pendenze/demo/mia", DEMO, pendenza(120.50)).await;
    assert_eq!(s, StatusCode::CREATED);
    let path = format!(
        "/avvisi/77777777777/{}",
        created["numeroAvviso"].as_str().unwrap()
    );
    for accept in ["application/json", "application/pdf"] {
        let (s, body) = api.call_raw("GET", &path, Some(SECOND), None, accept).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{accept}: {body}");
        let (s, _) = api.call_raw("GET", &path, Some(DEMO), None, accept).await;
        assert_eq!(s, StatusCode::OK, "{accept}");
    }
    let (s, missing) = api
        .get("/avvisi/77777777777/301000000000999945", SECOND)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, hidden) = api.get(&path, SECOND).await;
    assert_eq!(hidden["codice"], missing["codice"]);
}

/// Issue 11, items 7 and 8: no route reads a body before the caller is known: not one whose
/// path ends in `/openapi.json`, and not the journal when it keeps payloads. An anonymous
/// request with a body that never ends is answered 401 at once.
#[tokio::test]
async fn an_anonymous_body_is_never_read() {
    for tail in ["", "\n[journal]\npayloads = true\n"] {
        let api = Api(setup_with(tail).build().await);
        for (method, path) in [
            ("PUT", "/api/pendenze/v2/pendenze/demo/openapi.json"),
            ("PUT", "/api/pendenze/v2/pendenze/demo/x"),
            ("POST", "/api/pendenze/v2/pendenze/tracciati"),
            ("PATCH", "/api/pendenze/v2/pendenze/demo/openapi.json"),
            ("POST", "/api/backoffice/v1/outbox/1/retry"),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(Body::new(NeverEnding))
                .unwrap();
            let answered = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                api.api.clone().oneshot(req),
            )
            .await
            .unwrap_or_else(|_| panic!("{method} {path} ({tail:?}) read the body first"))
            .unwrap();
            assert_eq!(
                answered.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
        // The documents themselves stay public.
        let (s, _) = api.call("GET", "/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

/// Issue 11, item 6: a notice number Varco has seen only in a receipt (stand-in) is never handed
/// out to a new position.
#[tokio::test]
async fn a_number_seen_in_a_receipt_is_never_generated() {
    let api = setup().await;
    // The demo seeds references 1 to 10: the counter's next is 11.
    let next = varco::domain::NoticeNumber::aux3("01", 11);
    let receipt = common::receipt_v2(next.as_str(), "stand-in-11");
    let answer = api.soap("paSendRTV2", receipt).await;
    assert_eq!(common::element(&answer, "outcome"), Some("OK"), "{answer}");
    let (s, created) = api.put("/pendenze/demo/dopo", DEMO, pendenza(120.50)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        created["numeroAvviso"],
        varco::domain::NoticeNumber::aux3("01", 12).as_str()
    );
    // Its outbox entry is parked (no application owns it), and re-sending it is refused with
    // the reason rather than queued where nothing would deliver it.
    let entry = api.store.outbox().await.unwrap().pop().unwrap();
    let req = Request::post(format!("/api/backoffice/v1/outbox/{}/retry", entry.id))
        .header("authorization", basic(common::DEMO_OPERATOR))
        .body(Body::empty())
        .unwrap();
    let resp = api.api.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // And the receipt's notice stays unknown to the Nodo, not payable.
    let verify = common::qr_request("paVerifyPaymentNoticeReq", next.as_str(), "");
    let answer = api.soap("paVerifyPaymentNotice", verify).await;
    assert_eq!(
        common::element(&answer, "faultCode"),
        Some("PAA_PAGAMENTO_SCONOSCIUTO")
    );
}

/// Issue 11, items 9 and 17: wrong passwords cost one argon2 each at most once per pair, are
/// limited per user with 429 and Retry-After, an unknown user costs the same as a known one,
/// and a user whose password is already verified is not locked out by somebody else.
#[tokio::test]
async fn wrong_passwords_are_bounded_remembered_and_limited() {
    let api = setup().await;
    // The right password, once: remembered.
    let (s, _) = api.get("/pendenze", SECOND).await;
    assert_eq!(s, StatusCode::OK);
    let before = api.state.auth.verifications();
    let (s, _) = api.get("/pendenze", ("seconda", "sbagliata")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(api.state.auth.verifications(), before + 1);
    // The same wrong pair again: remembered, no second argon2.
    let (s, _) = api.get("/pendenze", ("seconda", "sbagliata")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(api.state.auth.verifications(), before + 1);
    // An unknown user costs an argon2 too: timing does not tell.
    let (s, _) = api.get("/pendenze", ("nessuno", "sbagliata")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(api.state.auth.verifications(), before + 2);
    // Past the burst of failures for one user: 429 with Retry-After, before any argon2.
    let mut limited = None;
    for i in 0..12 {
        let req = Request::get("/api/pendenze/v2/pendenze")
            .header(
                "authorization",
                basic(("seconda", &format!("tentativo-{i}"))),
            )
            .body(Body::empty())
            .unwrap();
        let resp = api.api.clone().oneshot(req).await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = limited.expect("429 after the burst");
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = serde_json::from_slice(&common::app::read_body(limited).await).unwrap();
    assert_eq!(body["categoria"], "AUTORIZZAZIONE", "{body}");
    let argon2_runs = api.state.auth.verifications();
    let (s, _) = api.get("/pendenze", ("seconda", "ancora-un'altra")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        api.state.auth.verifications(),
        argon2_runs,
        "no argon2 while limited"
    );
    // The real gestionale, whose password was verified before, carries on.
    let (s, _) = api.get("/pendenze", SECOND).await;
    assert_eq!(s, StatusCode::OK);
    // Other users are not held back; the scheme name is case-insensitive (RFC 7617).
    let req = Request::get("/api/pendenze/v2/pendenze")
        .header("authorization", basic(DEMO).replacen("Basic", "BASIC", 1))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        api.api.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
}

/// Issue 11, items 12 and 18: listings come newest first through the index, filtered by Rome
/// calendar days, with `prossimiRisultati`, and `metadatiPaginazione=false` does not count.
#[tokio::test]
async fn listings_page_newest_first_on_rome_days() {
    use chrono::TimeZone;
    let start = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let api = Api(setup_with("").manual_clock(start).build().await);
    // Loaded at 23:30 UTC on 9 June, which is already 10 June in Rome (CEST, UTC+2).
    let times = [
        (
            "early",
            chrono::Utc.with_ymd_and_hms(2026, 6, 9, 21, 30, 0).unwrap(),
        ),
        (
            "late",
            chrono::Utc.with_ymd_and_hms(2026, 6, 9, 23, 30, 0).unwrap(),
        ),
        (
            "next",
            chrono::Utc.with_ymd_and_hms(2026, 6, 10, 10, 0, 0).unwrap(),
        ),
    ];
    for (id, at) in times {
        api.set_now(at);
        let (s, _) = api
            .put(&format!("/pendenze/seconda/{id}"), SECOND, pendenza(120.50))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let ids = common::app::listed_ids;
    let (_, day10) = api
        .get("/pendenze?dataDa=2026-06-10&dataA=2026-06-10", SECOND)
        .await;
    assert_eq!(ids(&day10), ["next", "late"], "{day10}");
    let (_, day9) = api.get("/pendenze?dataA=2026-06-09", SECOND).await;
    assert_eq!(ids(&day9), ["early"], "{day9}");
    let (_, first) = api.get("/pendenze?risultatiPerPagina=2", SECOND).await;
    assert_eq!(ids(&first), ["next", "late"]);
    assert_eq!(
        (first["numRisultati"].as_u64(), first["numPagine"].as_u64()),
        (Some(3), Some(2))
    );
    let next = first["prossimiRisultati"].as_str().unwrap();
    assert!(next.ends_with("risultatiPerPagina=2&pagina=2"), "{next}");
    let (_, uncounted) = api
        .get(
            "/pendenze?risultatiPerPagina=2&pagina=2&metadatiPaginazione=false",
            SECOND,
        )
        .await;
    assert_eq!(ids(&uncounted), ["early"]);
    assert!(uncounted.get("numRisultati").is_none(), "{uncounted}");
    assert!(uncounted.get("prossimiRisultati").is_none(), "{uncounted}");
}

/// Issue 11, item 22: a position's activation attempts are listed a page at a time; its detail
/// carries only the most recent ones.
#[tokio::test]
async fn activation_attempts_are_paged() {
    let api = setup().await;
    let (s, created) = api
        .put("/pendenze/seconda/molte", SECOND, pendenza(120.50))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let nav = created["numeroAvviso"].as_str().unwrap().to_owned();
    for _ in 0..30 {
        let activate = common::qr_request("paGetPaymentV2Request", &nav, "<amount>120.50</amount>");
        let answer = api.soap("paGetPaymentV2", activate).await;
        assert_eq!(common::element(&answer, "outcome"), Some("OK"), "{answer}");
    }
    let (_, detail) = api.get("/pendenze/seconda/molte", SECOND).await;
    assert_eq!(detail["tentativi"].as_array().unwrap().len(), 25);
    assert_eq!(detail["altriTentativi"], true);
    let (s, page) = api
        .get(
            "/pendenze/seconda/molte/tentativi?risultatiPerPagina=20&pagina=2",
            SECOND,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["risultati"].as_array().unwrap().len(), 10);
    assert!(page.get("prossimiRisultati").is_none());
    let (s, _) = api.get("/pendenze/demo/molte/tentativi", SECOND).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Issue 11, item 15: an amount is read from its decimal text: more than two decimals is
/// refused, even when a float would round it to two.
#[tokio::test]
async fn amounts_with_more_than_two_decimals_are_refused() {
    let api = setup().await;
    for importo in ["120.499999999999999", "120.505"] {
        let body = serde_json::to_string(&pendenza(120.50))
            .unwrap()
            .replacen("120.5", importo, 1);
        let (s, refused) = api
            .call_raw(
                "PUT",
                "/pendenze/demo/decimali",
                Some(DEMO),
                Some(body.into_bytes()),
                "application/json",
            )
            .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{importo}: {s} {refused}"
        );
        assert_eq!(refused["categoria"], "RICHIESTA", "{refused}");
    }
    let (s, _) = api.get("/pendenze/demo/decimali", DEMO).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
