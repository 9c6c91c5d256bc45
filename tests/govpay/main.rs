//! A port of GovPay's own integration suite to Varco: what a gestionale written for GovPay
//! sees when it calls API Pendenze v2 (and what the Nodo sees when Varco asks a gestionale),
//! case by case. The source is link-it/govpay, `integration-test/src/test/java/test/...`:
//! Karate features with their `msg/*.json` fixtures. Each test names its feature file and
//! scenario (and, for a Scenario Outline, its Examples row); the cases are written here in our
//! own words, on GovPay's registry ([`fixtures/govpay/anagrafica.toml`]).
//!
//! Where Varco answers differently on purpose, the README lists the case and why; those
//! cases assert Varco's answer and say so.

#[path = "../common/mod.rs"]
mod common;

mod ente;
mod get;
mod patch;
mod put_aggiornamento;
mod put_campi;
mod put_semantica;
mod put_sintattica;
mod workflow;

use axum::body::Body;
use axum::http::StatusCode;
use common::app::{Reply, TestApp, request};
use serde_json::{Value, json};
use std::sync::LazyLock;
use varco::config::Config;

/// GovPay's registry as Varco's configuration.
static ANAGRAFICA: LazyLock<String> = LazyLock::new(|| {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/govpay/anagrafica.toml"),
    )
    .unwrap()
});

/// The argon2 hash of `Password1!` (as in the registry), for applications a test adds.
pub const PASSWORD1_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$G1r50XKh2GcdDL1INV452g$ZC9ZPxSaXr07htP6qtq4WvIrK6fsoNeva7sALX5BUbw";

/// `IDA2A01`, the suite's application.
pub const IDA2A01: (&str, &str) = ("IDA2A01", "Password1!");
/// `IDA2A02`, the second one.
pub const IDA2A02: (&str, &str) = ("IDA2A02", "Password2!");
/// The suite's creditor.
pub const DOMINIO: &str = "12345678901";
/// Its second creditor (anagrafica_estesa.feature).
pub const DOMINIO_2: &str = "12345678902";
/// The creditor's ordinary account (GovPay's `ibanAccredito`, with valid check digits).
pub const IBAN: &str = "IT10L1234512345123451111111";
/// Its postal account (`ibanAccreditoPostale`).
pub const IBAN_POSTALE: &str = "IT57L0760112345123452222222";
/// The second creditor's account (`ibanAccredito_2`).
pub const IBAN_2: &str = "IT42L1234512345123456789012";
/// The station.
pub const STAZIONE: &str = "11111111113_01";
/// The broker.
pub const INTERMEDIARIO: &str = "11111111113";

/// A long text, past every length limit of the API (the suite's `loremIpsum`, 730 characters).
pub fn lorem() -> String {
    "Testo di prova, lungo oltre ogni limite di lunghezza dei campi dell'API. ".repeat(10)
}

/// Varco on GovPay's registry, with `tail` appended to it.
pub struct Gp(pub TestApp);

impl Gp {
    /// Varco on the suite's registry.
    pub async fn new() -> Gp {
        Gp::with("").await
    }

    /// Varco on the suite's registry with `tail` appended.
    pub async fn with(tail: &str) -> Gp {
        let config = Config::parse(&format!("{}{tail}", *ANAGRAFICA), "govpay anagrafica").unwrap();
        Gp(TestApp::with_config(config).seed(false).build().await)
    }

    /// A call of API Pendenze v2 (`path` below `/api/pendenze/v2`) as `who`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        who: (&str, &str),
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let reply = self.raw(method, path, Some(who), body, &[]).await;
        (reply.status, reply.json())
    }

    /// A call with extra headers (or without credentials), answered whole.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        who: Option<(&str, &str)>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = request(method, &format!("/api/pendenze/v2{path}"), who);
        for (name, value) in headers {
            let name: axum::http::HeaderName = name.parse().unwrap();
            req.headers_mut()
                .unwrap()
                .insert(name, value.parse().unwrap());
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.0.send(req.body(body).unwrap()).await
    }

    /// `PUT /pendenze/IDA2A01/{id}` as IDA2A01.
    pub async fn put(&self, id: &str, body: &Value) -> (StatusCode, Value) {
        self.call(
            "PUT",
            &format!("/pendenze/IDA2A01/{id}"),
            IDA2A01,
            Some(body),
        )
        .await
    }

    /// `PUT` that must create: the answer's body.
    pub async fn created(&self, id: &str, body: &Value) -> Value {
        let (s, created) = self.put(id, body).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        created
    }

    /// `GET /pendenze/IDA2A01/{id}` as IDA2A01: the detail.
    pub async fn detail(&self, id: &str) -> Value {
        let (s, d) = self
            .call("GET", &format!("/pendenze/IDA2A01/{id}"), IDA2A01, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{d}");
        d
    }

    /// A SOAP call to the Nodo's endpoint.
    pub async fn soap(&self, action: &str, body: String) -> String {
        self.0.soap(action, body).await
    }
}

/// `value` put at `pointer` (`/voci/0/importo`), creating missing object members; `null` is
/// sent as JSON null, as Karate's `set` does.
pub fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut *doc
    } else {
        doc.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent} is not in the request"))
    };
    match target {
        Value::Array(items) => {
            let i: usize = last.parse().unwrap();
            if i == items.len() {
                items.push(value);
            } else {
                items[i] = value;
            }
        }
        Value::Object(fields) => {
            fields.insert(last.to_owned(), value);
        }
        other => panic!("{parent} is {other}, not a container"),
    }
}

/// `doc` with `value` at `pointer`.
pub fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    set(&mut doc, pointer, value);
    doc
}

/// 400 `{RICHIESTA, SINTASSI, "Richiesta non valida"}` whose `dettaglio` names `field`.
#[track_caller]
pub fn assert_sintassi(status: StatusCode, fault: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{fault}");
    assert_eq!(fault["categoria"], "RICHIESTA", "{fault}");
    assert_eq!(fault["codice"], "SINTASSI", "{fault}");
    assert_eq!(fault["descrizione"], "Richiesta non valida", "{fault}");
    let dettaglio = fault["dettaglio"].as_str().unwrap_or_default();
    assert!(dettaglio.contains(field), "{field} not named: {fault}");
}

/// 422 with GovPay's `codice` and exactly its `dettaglio`.
#[track_caller]
pub fn assert_fault(status: StatusCode, fault: &Value, codice: &str, dettaglio: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fault}");
    assert_eq!(
        fault,
        &json!({"categoria": "RICHIESTA", "codice": codice, "descrizione": "Richiesta non valida", "dettaglio": dettaglio})
    );
}

/// The debtor of the suite's fixtures.
fn rossi() -> Value {
    json!({"tipo": "F", "identificativo": "RSSMRA30A01H501I", "anagrafica": "Mario Rossi", "email": "mario.rossi@testmail.it", "cellulare": "+39 000-0000000"})
}

/// `pendenza-put_monovoce_riferimento.json`: one item by entrata (SEGRETERIA, 100.99).
pub fn monovoce_riferimento(id: &str) -> Value {
    json!({
        "idTipoPendenza": "SEGRETERIA",
        "idDominio": DOMINIO,
        "causale": format!("Pagamento dovuto n.{id}"),
        "soggettoPagatore": rossi(),
        "importo": 100.99,
        "dataValidita": "2900-12-31",
        "dataScadenza": "2999-12-31",
        "tassonomia": "Servizi erogati dal comune",
        "tassonomiaAvviso": "Servizi erogati dal comune",
        "voci": [{"idVocePendenza": "1", "importo": 100.99, "descrizione": "Diritti e segreteria", "codEntrata": "SEGRETERIA"}]
    })
}

/// `pendenza-put_monovoce_definito.json`: one item with its own account (10.00).
pub fn monovoce_definito(id: &str) -> Value {
    json!({
        "idTipoPendenza": "SEGRETERIA",
        "idDominio": DOMINIO,
        "causale": format!("Pagamento dovuto n.{id}"),
        "soggettoPagatore": rossi(),
        "importo": 10.00,
        "dataValidita": "2900-12-31",
        "dataScadenza": "2999-12-31",
        "tassonomiaAvviso": "Servizi erogati dal comune",
        "voci": [{"idVocePendenza": "1", "importo": 10, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "CodiceContabilita"}]
    })
}

/// The digital stamp item of the fixtures.
fn bollo(id: &str) -> Value {
    json!({"idVocePendenza": id, "importo": 16.00, "descrizione": "Marca da bollo", "tipoBollo": "01", "hashDocumento": "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", "provinciaResidenza": "RO"})
}

/// `pendenza-put_monovoce_bollo.json`: a digital stamp (16.00).
pub fn monovoce_bollo(id: &str) -> Value {
    json!({
        "idTipoPendenza": "BOLLOT",
        "idDominio": DOMINIO,
        "causale": format!("Pagamento dovuto n.{id}"),
        "soggettoPagatore": rossi(),
        "importo": 16.00,
        "dataValidita": "2900-12-31",
        "dataScadenza": "2999-12-31",
        "tassonomiaAvviso": "Servizi erogati dal comune",
        "voci": [bollo("1")]
    })
}

/// `pendenza-put_multivoce_bollo.json`: by entrata, with an account, and a stamp (125.99).
pub fn multivoce_bollo(id: &str) -> Value {
    json!({
        "idTipoPendenza": "SEGRETERIA",
        "idDominio": DOMINIO,
        "causale": format!("Pagamento dovuto n.{id}"),
        "soggettoPagatore": rossi(),
        "importo": 125.99,
        "dataValidita": "2900-12-31",
        "dataScadenza": "2999-12-31",
        "tassonomiaAvviso": "Servizi erogati dal comune",
        "voci": [
            {"idVocePendenza": "1", "importo": 99.99, "descrizione": "Diritti e segreteria", "codEntrata": "SEGRETERIA"},
            {"idVocePendenza": "2", "importo": 10, "descrizione": "Diritti e segreteria", "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "CodiceContabilita"},
            bollo("3")
        ]
    })
}

/// `pendenza-put_multivoce.json`: two items on the account (0.01 + 0.02).
pub fn multivoce(id: &str) -> Value {
    let voce = |n: u32, importo: f64| json!({"idVocePendenza": n.to_string(), "importo": importo, "descrizione": format!("Importo {n}"), "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "TEST"});
    json!({
        "idTipoPendenza": "LIBERO",
        "idDominio": DOMINIO,
        "causale": format!("Test {id}"),
        "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRO00X00X000X", "anagrafica": "Mario Rossi", "email": null},
        "importo": 0.03,
        "dataScadenza": "2030-12-31",
        "voci": [voce(1, 0.01), voce(2, 0.02)]
    })
}

/// `pendenza-put_multivoce_update.json`: three items of 0.01.
pub fn multivoce_update(id: &str) -> Value {
    let mut p = multivoce(id);
    let voce = |n: u32| json!({"idVocePendenza": n.to_string(), "importo": 0.01, "descrizione": format!("Importo {n}"), "ibanAccredito": IBAN, "tipoContabilita": "ALTRO", "codiceContabilita": "TEST"});
    p["voci"] = json!([voce(1), voce(2), voce(3)]);
    p["importo"] = json!(0.03);
    p
}

/// A notice number of the suite's creditor (segregation code 01) with reference `n`.
pub fn numero_avviso(n: u64) -> String {
    varco::domain::NoticeNumber::aux3("01", n)
        .as_str()
        .to_owned()
}

/// A paForNode request about notice `nav` of the suite's creditor, through its station.
pub fn qr_request(element: &str, nav: &str, extra: &str) -> String {
    common::qr_request(element, nav, extra)
        .replace(
            "<idPA>77777777777</idPA>",
            &format!("<idPA>{DOMINIO}</idPA>"),
        )
        .replace(
            "<idBrokerPA>77777777777</idBrokerPA>",
            &format!("<idBrokerPA>{INTERMEDIARIO}</idBrokerPA>"),
        )
        .replace(
            "<idStation>77777777777_01</idStation>",
            &format!("<idStation>{STAZIONE}</idStation>"),
        )
        .replace(
            "<fiscalCode>77777777777</fiscalCode>",
            &format!("<fiscalCode>{DOMINIO}</fiscalCode>"),
        )
}

/// A paSendRTV2 for notice `nav` of the suite's creditor, paying `importo` (e.g. `100.99`) in
/// one transfer to `iban`.
pub fn receipt(nav: &str, receipt_id: &str, importo: &str) -> String {
    common::receipt_v2(nav, receipt_id)
        .replace("77777777777_01", STAZIONE)
        .replace(
            "<idBrokerPA>77777777777</idBrokerPA>",
            &format!("<idBrokerPA>{INTERMEDIARIO}</idBrokerPA>"),
        )
        .replace("77777777777", DOMINIO)
        .replace("120.00", importo)
}
