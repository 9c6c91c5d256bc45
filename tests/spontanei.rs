//! Spontaneous payments (paDemandPaymentNotice) over SOAP, end to end on a running gateway: the
//! three ways a service's amount is found (fixed, a table, the gestionale), the position then
//! verified, activated and paid like any other with its receipt delivered to the gestionale,
//! invalid service data, unknown services, the gestionale down or slow, and the idempotent
//! repeat (also under concurrency). Every SOAP answer is checked against the official schema.

mod common;

use base64::Engine;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use varco::config::{Config, DEMO_TOML};
use varco::password::hash_password;

// ---- a gestionale on loopback: prices service 00040, takes receipts -----------------------

/// What `POST /servizi/00040` answers: (delay ms, status, body); None: a position computed
/// from the request (57.30 euro, the debtor named in the data).
type Script = Option<(u64, u16, String)>;

#[derive(Default)]
struct Gestionale {
    script: Mutex<Script>,
    /// Bodies of the pricing requests, in order.
    asked: Mutex<Vec<Value>>,
    /// Receipts delivered (`PUT /ricevute/...`): (path, body).
    receipts: Mutex<Vec<(String, Value)>>,
}

impl Gestionale {
    fn script(&self, s: Script) {
        *self.script.lock().unwrap() = s;
    }

    fn asked(&self) -> usize {
        self.asked.lock().unwrap().len()
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let reply = |status: u16, body: String| {
            hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if method == hyper::Method::POST && path == "/servizi/00040" {
            self.asked.lock().unwrap().push(parsed.clone());
            let script = self.script.lock().unwrap().clone();
            return match script {
                Some((delay, status, body)) => {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    reply(status, body)
                }
                None => reply(200, priced(&parsed, "57.30").to_string()),
            };
        }
        if method == hyper::Method::PUT && path.starts_with("/ricevute/") {
            self.receipts.lock().unwrap().push((path, parsed));
            return reply(201, "{}".into());
        }
        reply(404, "{}".into())
    }
}

/// The gestionale's answer for a pricing request: a position of `importo` for the idPendenza
/// Varco named, its debtor the data's `codiceFiscale`.
fn priced(request: &Value, importo: &str) -> Value {
    let dati = &request["dati"]["service"];
    json!({
        "stato": "NON_ESEGUITA",
        "pendenza": {
            "idA2A": "gest",
            "idPendenza": request["idPendenza"],
            "idDominio": request["idDominio"],
            "causale": format!("Diritti di segreteria pratica {}", dati["pratica"].as_str().unwrap_or("")),
            "soggettoPagatore": {"tipo": "F", "identificativo": dati["codiceFiscale"], "anagrafica": "Anna Bianchi"},
            "importo": importo.parse::<serde_json::Number>().unwrap(),
            "voci": [{"idVocePendenza": "diritti", "importo": importo.parse::<serde_json::Number>().unwrap(), "descrizione": "Diritti di segreteria", "codEntrata": "DIRITTI"}]
        }
    })
}

async fn serve(g: Arc<Gestionale>, addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    common::serve_http(addr, move |req| g.clone().handle(req)).await
}

// ---- Varco ---------------------------------------------------------------------------------

/// The demo (its three services given to application `gest`, whose connector is the mock)
/// and a fourth service, 00040, priced by the gestionale.
fn config(gestionale: SocketAddr, data_dir: &std::path::Path) -> Config {
    let tail = format!(
        r#"
[[applicazioni]]
id_a2a = "gest"
password_hash = "{}"
domini = ["*"]
tipi_pendenza = ["*"]
[applicazioni.connettore]
url = "http://{gestionale}/"
verify_timeout_ms = 400

[[servizi]]
id_servizio = "00040"
id_soggetto_servizio = "00004"
dominio = "77777777777"
tipo_pendenza = "LIBERO"
id_a2a = "gest"
descrizione = "Diritti di segreteria"
causale = "Diritti di segreteria"
xsd = "builtin:generico"
cod_entrata = "DIRITTI"
importo = {{ tipo = "gestionale" }}
validita_giorni = 2
"#,
        hash_password("una password del gestionale").unwrap()
    );
    let mut c = Config::parse(&format!("{DEMO_TOML}{tail}"), "test").unwrap();
    for s in &mut c.servizi {
        s.id_a2a = "gest".into();
    }
    c.store.data_dir = data_dir.to_owned();
    c.nodo.listen = "127.0.0.1:0".parse().unwrap();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.outbox.base_delay_ms = 50;
    c.outbox.max_delay_ms = 200;
    c
}

/// The gateway, and every SOAP answer it gave (for the schema check).
struct Running {
    gateway: common::InProcess,
    answers: Mutex<Vec<(String, String)>>,
}

async fn start(c: Config, clock: varco::domain::Clock) -> Running {
    Running {
        gateway: common::InProcess::start(c, clock).await,
        answers: Mutex::default(),
    }
}

impl Running {
    async fn soap(&self, action: &str, body: &str) -> String {
        let (status, answer) = common::soap(&self.gateway.nodo, action, body).await;
        assert_eq!(status, 200, "{answer}");
        let mut answers = self.answers.lock().unwrap();
        let name = format!("{action}-{}", answers.len());
        answers.push((name, answer.clone()));
        drop(answers);
        answer
    }

    async fn demand(&self, servizio: &str, soggetto: &str, dati: &str) -> String {
        self.soap(
            "paDemandPaymentNotice",
            &demand(servizio, soggetto, &b64(dati)),
        )
        .await
    }

    /// Stops the gateway and checks every SOAP answer it gave against the official schema.
    async fn stop(self) {
        self.gateway.stop().await;
        common::require_schema_check();
        let docs: Vec<(String, String)> = self
            .answers
            .lock()
            .unwrap()
            .iter()
            .map(|(name, env)| (name.clone(), common::payload_document(env).unwrap()))
            .collect();
        assert!(!docs.is_empty());
        for (name, valid) in common::validate(&common::official_xsd(), &docs) {
            assert!(valid, "{name} is not valid against paForNode.xsd");
        }
    }

    async fn position(&self, id_pendenza: &str) -> Value {
        let (status, body) = http(
            "GET",
            &format!(
                "{}/api/pendenze/v2/pendenze/gest/{id_pendenza}",
                self.gateway.api
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

async fn http(method: &str, url: &str) -> (u16, Value) {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("gest:una password del gestionale")
    );
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A paDemandPaymentNoticeRequest of the demo station for service `servizio` (its
/// idSoggettoServizio `soggetto`) with base64 data `dati`.
fn demand(servizio: &str, soggetto: &str, dati: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns2:paDemandPaymentNoticeRequest xmlns:ns2="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA>77777777777</idPA><idBrokerPA>77777777777</idBrokerPA><idStation>77777777777_01</idStation><idServizio>{servizio}</idServizio><idSoggettoServizio>{soggetto}</idSoggettoServizio><datiSpecificiServizioRequest>{dati}</datiSpecificiServizioRequest></ns2:paDemandPaymentNoticeRequest></soap:Body></soap:Envelope>"#
    )
}

fn tassa_auto(tipo: &str, targa: &str) -> String {
    format!(
        r#"<ta:tassaAuto xmlns:ta="http://PuntoAccessoPSP.spcoop.gov.it/TassaAuto"><ta:veicoloConTarga><ta:tipoVeicoloTarga>{tipo}</ta:tipoVeicoloTarga><ta:veicoloTarga>{targa}</ta:veicoloTarga></ta:veicoloConTarga></ta:tassaAuto>"#
    )
}

fn pesca(cf: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<praticaPagamentoCanoni xmlns="http://PuntoAccessoPSP.spcoop.gov.it/praticaPagamentoCanoni">
  <codicePratica>D847</codicePratica>
  <pagatore><codiceFiscalePagatore>{cf}</codiceFiscalePagatore><denominazionePagatore>Luca Verdi</denominazionePagatore></pagatore>
  <intestatario><codiceFiscaleIntestatario>{cf}</codiceFiscaleIntestatario><denominazioneIntestatario>Luca Verdi</denominazioneIntestatario></intestatario>
</praticaPagamentoCanoni>"#
    )
}

fn generico(pratica: &str) -> String {
    format!(
        r#"<service xmlns="http://PuntoAccessoPSP.spcoop.gov.it/GeneralService"><pratica>{pratica}</pratica><codiceFiscale>BNCNNA85M41F205X</codiceFiscale></service>"#
    )
}

fn outcome(answer: &str) -> &str {
    common::element(answer, "outcome").unwrap()
}

fn fault_code(answer: &str) -> &str {
    common::element(answer, "faultCode").unwrap_or("")
}

fn notice(answer: &str) -> String {
    common::element(answer, "noticeNumber").unwrap().to_owned()
}

/// A paSendRTV2 for a position of one item to the DIRITTI entrata.
fn receipt(nav: &str, receipt_id: &str, amount: &str) -> String {
    common::receipt_v2(nav, receipt_id)
        .replace("120.00", amount)
        .replace("9/0101101IM", "9/0301109IM")
}

fn clock_at(y: i32, m: u32, d: u32) -> (varco::domain::Clock, Arc<Mutex<chrono::DateTime<Utc>>>) {
    common::app::manual_clock(Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap())
}

async fn setup() -> (
    tempfile::TempDir,
    Arc<Gestionale>,
    tokio::task::JoinHandle<()>,
    SocketAddr,
) {
    let dir = tempfile::tempdir().unwrap();
    let g = Arc::new(Gestionale::default());
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let server = serve(g.clone(), addr).await;
    (dir, g, server, addr)
}

async fn wait_for_receipts(g: &Gestionale, n: usize) {
    for _ in 0..500 {
        if g.receipts.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} receipts were not delivered to the gestionale");
}

// ---- the tests -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_price_service_is_created_verified_activated_paid_and_delivered() {
    let (dir, g, _server, addr) = setup().await;
    let (clock, _) = clock_at(2026, 12, 2);
    let v = start(config(addr, dir.path()), clock).await;

    let answer = v.demand("00020", "00002", &pesca("VRDLCU80A01H501X")).await;
    assert_eq!(outcome(&answer), "OK", "{answer}");
    let nav = notice(&answer);
    assert!(nav.starts_with("301") && nav.len() == 18, "{nav}");
    assert_eq!(common::element(&answer, "fiscalCode"), Some("77777777777"));
    assert_eq!(common::element(&answer, "amount"), Some("34.00"));
    assert_eq!(common::element(&answer, "options"), Some("EQ"));
    // Payable today and tomorrow (validita_giorni = 1, Europe/Rome).
    assert_eq!(common::element(&answer, "dueDate"), Some("2026-12-03"));
    assert_eq!(
        common::element(&answer, "paymentDescription"),
        Some("Licenza di pesca, pratica D847")
    );
    assert_eq!(
        common::element(&answer, "companyName"),
        Some("Comune di Demo")
    );

    // Then it is a position like any other.
    let verify = v
        .soap(
            "paVerifyPaymentNotice",
            &common::qr_request("paVerifyPaymentNoticeReq", &nav, ""),
        )
        .await;
    assert_eq!(outcome(&verify), "OK", "{verify}");
    assert_eq!(common::element(&verify, "amount"), Some("34.00"));
    let activation = v
        .soap(
            "paGetPaymentV2",
            &common::qr_request("paGetPaymentV2Request", &nav, "<amount>34.00</amount>"),
        )
        .await;
    assert_eq!(outcome(&activation), "OK", "{activation}");
    assert_eq!(
        common::element(&activation, "IBAN"),
        Some("IT60X0542811101000000123456")
    );
    assert_eq!(
        common::element(&activation, "transferCategory"),
        Some("9/0301109IM")
    );
    // The debtor is the one the service data names.
    assert_eq!(
        common::element(&activation, "entityUniqueIdentifierValue"),
        Some("VRDLCU80A01H501X")
    );
    let sent = v
        .soap(
            "paSendRTV2",
            &receipt(&nav, "sp0000000000000000000000000001", "34.00"),
        )
        .await;
    assert_eq!(outcome(&sent), "OK", "{sent}");

    // Paid, and the receipt reaches the owning application's gestionale.
    wait_for_receipts(&g, 1).await;
    let (path, body) = g.receipts.lock().unwrap()[0].clone();
    assert!(path.contains(&nav[1..]), "{path}");
    assert_eq!(body["idRicevuta"], "sp0000000000000000000000000001");
    let (status, list) = http(
        "GET",
        &format!(
            "{}/api/pendenze/v2/pendenze?idA2A=gest&stato=ESEGUITA",
            v.gateway.api
        ),
    )
    .await;
    assert_eq!(status, 200);
    let paid = list["risultati"].as_array().unwrap();
    assert_eq!(paid.len(), 1, "{list}");
    let id_pendenza = paid[0]["idPendenza"].as_str().unwrap().to_owned();
    assert!(id_pendenza.starts_with("SP00020-"), "{id_pendenza}");
    let p = v.position(&id_pendenza).await;
    assert_eq!(p["numeroAvviso"], nav.as_str());
    assert_eq!(p["importo"], json!(34.0));
    assert_eq!(p["soggettoPagatore"]["identificativo"], "VRDLCU80A01H501X");
    assert_eq!(p["soggettoPagatore"]["anagrafica"], "Luca Verdi");
    assert_eq!(
        p["datiAllegati"]["pagamentoSpontaneo"]["dati"]["praticaPagamentoCanoni"]["intestatario"]["codiceFiscaleIntestatario"],
        "VRDLCU80A01H501X"
    );

    // The same data after payment: a new position, not the paid one.
    let again = v.demand("00020", "00002", &pesca("VRDLCU80A01H501X")).await;
    assert_eq!(outcome(&again), "OK", "{again}");
    assert_ne!(notice(&again), nav);
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_prices_by_the_vehicle_and_refuses_values_the_schema_or_table_lacks() {
    let (dir, _g, _server, addr) = setup().await;
    let (clock, _) = clock_at(2026, 12, 2);
    let v = start(config(addr, dir.path()), clock).await;

    let car = v
        .demand("00010", "00001", &tassa_auto("1", "AB123CD"))
        .await;
    assert_eq!(outcome(&car), "OK", "{car}");
    assert_eq!(common::element(&car, "amount"), Some("120.00"));
    assert_eq!(
        common::element(&car, "paymentDescription"),
        Some("Tassa automobilistica targa AB123CD")
    );
    let moto = v
        .demand("00010", "00001", &tassa_auto("4", "AB12345"))
        .await;
    assert_eq!(common::element(&moto, "amount"), Some("45.00"), "{moto}");
    assert_ne!(notice(&car), notice(&moto));

    // A value the schema does not allow: PAA_SINTASSI_XSD naming the element.
    let three = v
        .demand("00010", "00001", &tassa_auto("3", "AB123CD"))
        .await;
    assert_eq!(outcome(&three), "KO");
    assert_eq!(fault_code(&three), "PAA_SINTASSI_XSD", "{three}");
    let description = common::element(&three, "description").unwrap();
    assert!(
        description
            .contains("datiSpecificiServizioRequest/tassaAuto/veicoloConTarga/tipoVeicoloTarga"),
        "{description}"
    );
    // Too long a plate.
    let long = v
        .demand("00010", "00001", &tassa_auto("1", "AB123CDEF"))
        .await;
    assert_eq!(fault_code(&long), "PAA_SINTASSI_XSD", "{long}");
    assert!(
        common::element(&long, "description")
            .unwrap()
            .contains("veicoloTarga"),
        "{long}"
    );
    v.stop().await;

    // A table without the value: the data is valid, but there is no price (PAA_SEMANTICA).
    let (dir, _g, _server, addr) = setup().await;
    let mut c = config(addr, dir.path());
    if let varco::config::Importo::Tabella { valori, .. } = &mut c.servizi[0].importo {
        valori.remove("2");
    }
    let (clock, _) = clock_at(2026, 12, 2);
    let v = start(c, clock).await;
    let trailer = v
        .demand("00010", "00001", &tassa_auto("2", "XA123BC"))
        .await;
    assert_eq!(fault_code(&trailer), "PAA_SEMANTICA", "{trailer}");
    assert!(
        common::element(&trailer, "description")
            .unwrap()
            .contains("veicoloConTarga/tipoVeicoloTarga"),
        "{trailer}"
    );
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_service_data_is_refused_with_the_field_named() {
    let (dir, _g, _server, addr) = setup().await;
    let (clock, _) = clock_at(2026, 12, 2);
    let v = start(config(addr, dir.path()), clock).await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("not base64", "@@@@".into(), "PAA_SINTASSI_XSD"),
        ("not XML", b64("targa AB123CD"), "PAA_SINTASSI_XSD"),
        (
            "a DOCTYPE",
            b64(
                r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><tassaAuto xmlns="http://PuntoAccessoPSP.spcoop.gov.it/TassaAuto">&a;</tassaAuto>"#,
            ),
            "PAA_SINTASSI_XSD",
        ),
        (
            "another namespace",
            b64(&tassa_auto("1", "AB123CD").replace("TassaAuto\"", "TassaMoto\"")),
            "PAA_SINTASSI_XSD",
        ),
        (
            "another service's data",
            b64(&pesca("VRDLCU80A01H501X")),
            "PAA_SINTASSI_XSD",
        ),
        (
            "a missing element",
            b64(
                r#"<tassaAuto xmlns="http://PuntoAccessoPSP.spcoop.gov.it/TassaAuto"><veicoloConTarga><tipoVeicoloTarga>1</tipoVeicoloTarga></veicoloConTarga></tassaAuto>"#,
            ),
            "PAA_SINTASSI_XSD",
        ),
        (
            "an unknown element",
            b64(
                r#"<tassaAuto xmlns="http://PuntoAccessoPSP.spcoop.gov.it/TassaAuto"><veicoloConTarga><tipoVeicoloTarga>1</tipoVeicoloTarga><veicoloTarga>AB123CD</veicoloTarga><colore>rosso</colore></veicoloConTarga></tassaAuto>"#,
            ),
            "PAA_SINTASSI_XSD",
        ),
    ];
    for (what, data, code) in cases {
        let answer = v
            .soap("paDemandPaymentNotice", &demand("00010", "00001", &data))
            .await;
        assert_eq!(outcome(&answer), "KO", "{what}: {answer}");
        assert_eq!(fault_code(&answer), code, "{what}: {answer}");
        assert!(
            common::element(&answer, "description")
                .unwrap()
                .contains("datiSpecificiServizioRequest"),
            "{what}: {answer}"
        );
    }
    // Nothing was created.
    let (_, list) = http(
        "GET",
        &format!("{}/api/pendenze/v2/pendenze?idA2A=gest", v.gateway.api),
    )
    .await;
    assert_eq!(list["risultati"].as_array().unwrap().len(), 0, "{list}");
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_services_and_callers_are_refused() {
    let (dir, _g, _server, addr) = setup().await;
    let (clock, _) = clock_at(2026, 12, 2);
    let mut c = config(addr, dir.path());
    // Service 00030 is offered from 2027 only.
    c.servizi[2].data_inizio_validita = chrono::NaiveDate::from_ymd_opt(2027, 1, 1);
    let v = start(c, clock).await;
    let data = b64(&tassa_auto("1", "AB123CD"));
    let unknown = v
        .soap("paDemandPaymentNotice", &demand("99999", "00001", &data))
        .await;
    assert_eq!(
        fault_code(&unknown),
        "PAA_PAGAMENTO_SCONOSCIUTO",
        "{unknown}"
    );
    let wrong_subject = v
        .soap("paDemandPaymentNotice", &demand("00010", "00009", &data))
        .await;
    assert_eq!(
        fault_code(&wrong_subject),
        "PAA_PAGAMENTO_SCONOSCIUTO",
        "{wrong_subject}"
    );
    let not_yet = v
        .demand(
            "00030",
            "00003",
            r#"<pagamentoPratica xmlns="http://PuntoAccessoPSP.spcoop.gov.it/pagamentoPratica"><codicePratica>A001</codicePratica><pagatore><codiceFiscalePagatore>VRDLCU80A01H501X</codiceFiscalePagatore><denominazionePagatore>Luca Verdi</denominazionePagatore></pagatore><intestatario><codiceFiscaleIntestatario>VRDLCU80A01H501X</codiceFiscaleIntestatario><denominazioneIntestatario>Luca Verdi</denominazioneIntestatario></intestatario></pagamentoPratica>"#,
        )
        .await;
    assert_eq!(
        fault_code(&not_yet),
        "PAA_PAGAMENTO_SCONOSCIUTO",
        "{not_yet}"
    );
    let wrong_station = v
        .soap(
            "paDemandPaymentNotice",
            &demand("00010", "00001", &data).replace("77777777777_01", "77777777777_99"),
        )
        .await;
    assert_eq!(
        fault_code(&wrong_station),
        "PAA_STAZIONE_INT_ERRATA",
        "{wrong_station}"
    );
    let wrong_creditor = v
        .soap(
            "paDemandPaymentNotice",
            &demand("00010", "00001", &data)
                .replace("<idPA>77777777777</idPA>", "<idPA>12345678901</idPA>"),
        )
        .await;
    assert_eq!(
        fault_code(&wrong_creditor),
        "PAA_ID_DOMINIO_ERRATO",
        "{wrong_creditor}"
    );
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_data_gets_the_same_position_until_it_is_paid_or_expires() {
    let (dir, _g, _server, addr) = setup().await;
    let (clock, now) = clock_at(2026, 12, 2);
    let v = Arc::new(start(config(addr, dir.path()), clock).await);
    let data = tassa_auto("1", "ZZ999ZZ");

    // Eight identical requests at once: one position.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let v = v.clone();
        let data = data.clone();
        calls.spawn(async move { v.demand("00010", "00001", &data).await });
    }
    let mut notices = std::collections::HashSet::new();
    while let Some(answer) = calls.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(outcome(&answer), "OK", "{answer}");
        notices.insert(notice(&answer));
    }
    assert_eq!(notices.len(), 1, "{notices:?}");
    let first = notices.into_iter().next().unwrap();
    let (_, list) = http(
        "GET",
        &format!("{}/api/pendenze/v2/pendenze?idA2A=gest", v.gateway.api),
    )
    .await;
    assert_eq!(list["risultati"].as_array().unwrap().len(), 1, "{list}");

    // Other data: another position. Whitespace and prefixes do not change the identity.
    let other = v
        .demand("00010", "00001", &tassa_auto("1", "ZZ999ZY"))
        .await;
    assert_ne!(notice(&other), first);
    let reformatted = v
        .demand(
            "00010",
            "00001",
            &format!(
                "<?xml version=\"1.0\"?>\n{}\n",
                data.replace("ta:", "auto:").replace(":ta=", ":auto=")
            ),
        )
        .await;
    assert_eq!(notice(&reformatted), first, "{reformatted}");

    // Still the same tomorrow (payable until 2026-12-03)...
    *now.lock().unwrap() = Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
    let tomorrow = v.demand("00010", "00001", &data).await;
    assert_eq!(notice(&tomorrow), first);
    // ...and a new one once it has expired.
    *now.lock().unwrap() = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
    let later = v.demand("00010", "00001", &data).await;
    assert_eq!(outcome(&later), "OK", "{later}");
    assert_ne!(notice(&later), first);
    assert_eq!(common::element(&later, "dueDate"), Some("2026-12-05"));
    let expired = v
        .soap(
            "paVerifyPaymentNotice",
            &common::qr_request("paVerifyPaymentNoticeReq", &first, ""),
        )
        .await;
    assert_eq!(fault_code(&expired), "PAA_PAGAMENTO_SCADUTO", "{expired}");
    let Ok(v) = Arc::try_unwrap(v) else {
        panic!("the gateway is still shared")
    };
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gestionale_prices_its_service_and_its_silence_is_a_system_error() {
    let (dir, g, server, addr) = setup().await;
    let (clock, _) = clock_at(2026, 12, 2);
    let v = start(config(addr, dir.path()), clock).await;

    let answer = v.demand("00040", "00004", &generico("PR-2026-118")).await;
    assert_eq!(outcome(&answer), "OK", "{answer}");
    assert_eq!(common::element(&answer, "amount"), Some("57.30"));
    assert_eq!(
        common::element(&answer, "paymentDescription"),
        Some("Diritti di segreteria pratica PR-2026-118")
    );
    // validita_giorni = 2, as the gestionale named no due date.
    assert_eq!(common::element(&answer, "dueDate"), Some("2026-12-04"));
    let nav = notice(&answer);
    let asked = g.asked.lock().unwrap()[0].clone();
    assert_eq!(asked["idDominio"], "77777777777");
    assert_eq!(asked["idServizio"], "00040");
    assert_eq!(asked["idSoggettoServizio"], "00004");
    assert_eq!(asked["idA2A"], "gest");
    assert_eq!(asked["dati"]["service"]["pratica"], "PR-2026-118");
    let id_pendenza = asked["idPendenza"].as_str().unwrap().to_owned();
    assert!(id_pendenza.starts_with("SP00040-"), "{id_pendenza}");
    assert_eq!(v.position(&id_pendenza).await["numeroAvviso"], nav.as_str());

    // The repeat is answered from the store: the gestionale is not asked again.
    let repeat = v.demand("00040", "00004", &generico("PR-2026-118")).await;
    assert_eq!(notice(&repeat), nav);
    assert_eq!(g.asked(), 1);

    // What the gestionale says, as the PSP hears it.
    let refusals: Vec<(Script, &str)> = vec![
        (
            Some((
                0,
                200,
                json!({"stato": "SCONOSCIUTA", "descrizioneStato": "pratica inesistente"})
                    .to_string(),
            )),
            "PAA_PAGAMENTO_SCONOSCIUTO",
        ),
        (Some((0, 503, "{}".into())), "PAA_SYSTEM_ERROR"),
        (Some((0, 200, "<html/>".into())), "PAA_SYSTEM_ERROR"),
        // Slower than verify_timeout_ms (400).
        (Some((1500, 200, "{}".into())), "PAA_SYSTEM_ERROR"),
    ];
    for (i, (script, code)) in refusals.into_iter().enumerate() {
        g.script(script);
        let answer = v
            .demand("00040", "00004", &generico(&format!("PR-2026-2{i:02}")))
            .await;
        assert_eq!(fault_code(&answer), code, "case {i}: {answer}");
    }
    // An answer for another idPendenza, or with a notice number of its own, is refused.
    let request_for = |pratica: &str| json!({"idDominio": "77777777777", "idPendenza": "SP00040-someone-else-0", "dati": {"service": {"pratica": pratica}}});
    g.script(Some((
        0,
        200,
        priced(&request_for("x"), "10.00").to_string(),
    )));
    let other_id = v.demand("00040", "00004", &generico("PR-2026-300")).await;
    assert_eq!(fault_code(&other_id), "PAA_SYSTEM_ERROR", "{other_id}");
    assert!(
        common::element(&other_id, "description")
            .unwrap()
            .contains("idPendenza"),
        "{other_id}"
    );
    let unpaid = v.position(&id_pendenza).await;
    assert_eq!(unpaid["stato"], "NON_ESEGUITA");

    // The gestionale down: known data is still answered from the store, new data is not.
    g.script(None);
    server.abort();
    let _ = server.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let known = v.demand("00040", "00004", &generico("PR-2026-118")).await;
    assert_eq!(outcome(&known), "OK", "{known}");
    assert_eq!(notice(&known), nav);
    let new = v.demand("00040", "00004", &generico("PR-2026-999")).await;
    assert_eq!(fault_code(&new), "PAA_SYSTEM_ERROR", "{new}");
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_and_answers_its_spontaneous_payment() {
    let config = Config::demo();
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let printed = varco::demo::instructions(&config, addr, addr);
    assert!(
        printed.contains("00010  Tassa automobilistica"),
        "{printed}"
    );
    assert!(printed.contains("@fixtures/demo/demand.xml"), "{printed}");
    let v = common::TestApp::demo().await;
    let request = common::fixture("demo/demand.xml");
    let first = v.soap("paDemandPaymentNotice", request.clone()).await;
    assert_eq!(outcome(&first), "OK", "{first}");
    assert_eq!(common::element(&first, "amount"), Some("120.00"));
    assert_eq!(
        common::element(&first, "paymentDescription"),
        Some("Tassa automobilistica targa AB123CD")
    );
    let again = v.soap("paDemandPaymentNotice", request).await;
    assert_eq!(notice(&again), notice(&first));
}

#[test]
fn service_configuration_errors_name_the_key() {
    let demo = |tail: &str| Config::parse(&format!("{DEMO_TOML}{tail}"), "test");
    let service = |fields: &str| {
        format!(
            r#"
[[servizi]]
id_servizio = "00050"
id_soggetto_servizio = "00005"
dominio = "77777777777"
tipo_pendenza = "LIBERO"
id_a2a = "demo"
descrizione = "Prova"
causale = "Prova"
cod_entrata = "DIRITTI"
{fields}
"#
        )
    };
    let ok = demo(&service(
        r#"xsd = "builtin:generico"
importo = { tipo = "fisso", importo = "1.50" }"#,
    ));
    assert!(ok.is_ok(), "{ok:?}");
    let cases = [
        (
            r#"xsd = "builtin:nessuno"
importo = { tipo = "fisso", importo = "1.50" }"#,
            "no built-in schema",
        ),
        (
            r#"xsd = "/nonexistent/servizio.xsd"
importo = { tipo = "fisso", importo = "1.50" }"#,
            "cannot read",
        ),
        (
            r#"xsd = "builtin:generico"
importo = { tipo = "fisso", importo = "1.505" }"#,
            "is not an amount",
        ),
        (
            r#"xsd = "builtin:generico"
importo = { tipo = "gestionale" }"#,
            "needs a connettore",
        ),
        (
            r#"xsd = "builtin:generico"
importo = { tipo = "tabella", campo = "a//b", valori = { "1" = "2.00" } }"#,
            "importo.campo",
        ),
        (
            r#"xsd = "builtin:generico"
causale = "x"
importo = { tipo = "fisso", importo = "1.50" }"#,
            "duplicate key",
        ),
    ];
    for (fields, expected) in cases {
        let err = format!("{:#}", demo(&service(fields)).unwrap_err());
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let twice = demo(&format!(
        "{}{}",
        service(
            r#"xsd = "builtin:generico"
importo = { tipo = "fisso", importo = "1.50" }"#
        ),
        service(
            r#"xsd = "builtin:generico"
importo = { tipo = "fisso", importo = "1.50" }"#
        )
    ));
    assert!(
        format!("{:#}", twice.unwrap_err()).contains("configured twice"),
        "a service twice"
    );
    let bad_tipo = demo(
        &service(
            r#"xsd = "builtin:generico"
importo = { tipo = "fisso", importo = "1.50" }"#,
        )
        .replace("\"LIBERO\"", "\"NESSUNO\""),
    );
    assert!(format!("{:#}", bad_tipo.unwrap_err()).contains("servizi[3].tipo_pendenza"));
    // A schema file is read relative to the configuration file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schemi")).unwrap();
    std::fs::write(
        dir.path().join("schemi/prova.xsd"),
        varco::config::servizi::BUILTIN_SCHEMAS[3].1,
    )
    .unwrap();
    let path = dir.path().join("varco.toml");
    std::fs::write(
        &path,
        format!(
            "{DEMO_TOML}{}",
            service(
                r#"xsd = "schemi/prova.xsd"
importo = { tipo = "fisso", importo = "1.50" }"#
            )
        ),
    )
    .unwrap();
    let loaded = Config::load(Some(&path), &Default::default()).unwrap();
    assert!(loaded.servizi[3].schema().is_some());
}
