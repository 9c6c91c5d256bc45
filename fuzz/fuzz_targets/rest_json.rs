//! The REST bodies a gestionale sends, through the same code the handlers use.
//!
//! The bytes are read as a `NuovaPendenza` (PUT), as a tracciato (POST, an array of
//! `{idA2A, idPendenza, ...NuovaPendenza}`) and as a patch (`[PatchOp]`) with
//! `api::json_body`; what parses is validated with `govpay::validate::nuova_pendenza` for the demo
//! application on the demo configuration. For every position that validates:
//! - it survives the store's encoding (JSON) unchanged, so a position accepted is readable;
//! - the same request again is "unchanged" by GovPay's update rules;
//! - stored, it is verified and activated over SOAP (V1 and V2, every transfer type) and every
//!   answer is read back by the strict schema reader; only expiry or a stamp in V1 is a KO;
//! - its QR payload is built when its fields check, and the Poste Data Matrix payload is 256
//!   characters when it can be built.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::sync::OnceLock;
use varco::api::dto::{NuovaPendenza, PatchOp, PendenzaTracciato};
use varco::api::json_body;
use varco::govpay::validate::{self, Caller, Validated};
use varco::config::Config;
use varco::domain::{Accredito, Pendenza};
use varco::nodo::Nodo;
use varco::domain::NoticeNumber;
use varco::soap::messages::*;
use varco::soap::schema::{Outcome, XmlType};
use varco::soap::{Response, encode};
use varco::store::Store;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(Config::demo)
}

fn caller() -> Caller {
    Caller {
        id_a2a: "demo".into(),
        domini: vec!["*".into()],
        tipi_pendenza: vec!["*".into()],
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = json_body::<NuovaPendenza>(data) {
        check(&request, "fuzz-1");
    }
    if let Ok(items) = json_body::<Vec<PendenzaTracciato>>(data) {
        for item in &items {
            if validate::identifier("idA2A", &item.id_a2a).is_ok() {
                check(&item.pendenza, &item.id_pendenza);
            }
        }
    }
    let _ = json_body::<Vec<PatchOp>>(data);
});

fn check(request: &NuovaPendenza, id_pendenza: &str) {
    let Ok(validated) = validate::nuova_pendenza(config(), &caller(), id_pendenza, request, now())
    else {
        return;
    };
    let stored = created(&validated);
    // The store writes JSON and must read every accepted position back.
    let bytes = serde_json::to_vec(&stored).expect("a position serialises");
    let back: Pendenza = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("an accepted position cannot be read back: {e}"));
    assert_eq!(back, stored, "the store's encoding changed the position");
    // The same PUT again changes nothing.
    let again = validate::update(&stored, &validated, now())
        .unwrap_or_else(|e| panic!("the same request refused as an update: {e:?}"));
    assert!(again.is_none(), "the same request changed the position");
    answers(&stored);
    codes(&stored);
}

/// The position as the store creates it (a notice number drawn when the request had none).
fn created(validated: &Validated) -> Pendenza {
    let mut p = validated.pendenza.clone();
    p.dettagli.uuid = Some("00000000000000000000000000000000".into());
    if let Some(seg) = &validated.generate {
        let nav = NoticeNumber::aux3(seg, 1234);
        p.iuv = nav.iuv().to_owned();
        p.numero_avviso = nav.as_str().to_owned();
    }
    p
}

/// The gateway over one store kept for the whole run (under fuzz/target, a fixed clock).
fn nodo() -> &'static (Nodo, tokio::runtime::Runtime) {
    static NODO: OnceLock<(Nodo, tokio::runtime::Runtime)> = OnceLock::new();
    NODO.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("rest_json-store-{}", std::process::id()));
        let store = Store::open(&dir, 16).expect("the fuzz store opens");
        let clock: varco::domain::Clock = Arc::new(now);
        let nodo = Nodo::new(Arc::new(config().clone()), store, clock);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (nodo, rt)
    })
}

/// Verify and activate (V1, V2, each transfer type) the position over SOAP: every answer, OK
/// or KO, is read back by the strict schema reader.
fn answers(p: &Pendenza) {
    let (nodo, rt) = nodo();
    nodo.store.put_pendenza(p).expect("the position is stored");
    let calls = [
        ("paVerifyPaymentNotice", "paVerifyPaymentNoticeReq", ""),
        ("paGetPayment", "paGetPaymentReq", "<amount>1.00</amount>"),
        (
            "paGetPayment",
            "paGetPaymentReq",
            "<amount>1.00</amount><transferType>POSTAL</transferType>",
        ),
        (
            "paGetPaymentV2",
            "paGetPaymentV2Request",
            "<amount>1.00</amount>",
        ),
        (
            "paGetPaymentV2",
            "paGetPaymentV2Request",
            "<amount>1.00</amount><transferType>POSTAL</transferType>",
        ),
        (
            "paGetPaymentV2",
            "paGetPaymentV2Request",
            "<amount>1.00</amount><transferType>PAGOPA</transferType>",
        ),
    ];
    for (action, element, extra) in calls {
        let body = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:{element} xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA>{d}</idPA><idBrokerPA>77777777777</idBrokerPA><idStation>77777777777_01</idStation><qrCode><fiscalCode>{d}</fiscalCode><noticeNumber>{n}</noticeNumber></qrCode>{extra}</p:{element}></s:Body></s:Envelope>"#,
            d = p.dominio,
            n = p.numero_avviso
        );
        let request = varco::soap::decode(Some(action), body.as_bytes())
            .unwrap_or_else(|e| panic!("{action} request refused: {e:?}\n{body}"));
        let response = rt.block_on(nodo.handle(request, body.as_bytes())).response;
        let xml = encode(&response);
        let (_, payload) = varco::soap::envelope::decode_response(xml.as_bytes())
            .unwrap_or_else(|e| panic!("answer unreadable: {e}\n{xml}"));
        let read = match response {
            Response::Verify(_) => PaVerifyPaymentNoticeRes::read(&payload).err(),
            Response::GetPayment(_) => PaGetPaymentRes::read(&payload).err(),
            Response::GetPaymentV2(_) => PaGetPaymentV2Response::read(&payload).err(),
            _ => None,
        };
        if let Some(e) = read {
            panic!("{action} answer breaks the schema: {e}\n{xml}");
        }
        // Whatever the position holds, a stored position that is payable is answered OK
        // (V1 refuses a digital stamp with PAA_SEMANTICA).
        let (outcome, fault) = response.outcome();
        if outcome == Outcome::Ko {
            let expected = ["PAA_PAGAMENTO_SCADUTO", "PAA_SEMANTICA"];
            assert!(
                fault.is_some_and(|f| expected.contains(&f)),
                "{action} answered {fault:?} for a valid position\n{xml}"
            );
        }
    }
}

fn codes(p: &Pendenza) {
    use varco::notice::qr;
    let nav = NoticeNumber::parse(&p.numero_avviso).expect("a stored notice number parses");
    if qr::check_qr_fields(&p.dominio, p.importo).is_ok() {
        let payload = qr::qr_payload(&nav, &p.dominio, p.importo);
        assert!(payload.len() <= 60, "{payload}");
    }
    let postal = p.voci.iter().find_map(|v| match &v.accredito {
        Accredito::Iban {
            iban_postale: Some(postal),
            ..
        } => Some(postal.clone()),
        _ => None,
    });
    if let Some(account) = postal
        && let Ok(payload) = qr::poste_datamatrix_payload(
            &nav,
            &p.dominio,
            &account,
            p.importo,
            &p.soggetto.identificativo,
            &p.soggetto.anagrafica,
            &p.causale,
        )
    {
        assert_eq!(payload.len(), 256, "{payload:?}");
        assert!(
            payload.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{payload:?}"
        );
    }
}
