//! Many activations and receipts on the same notice at once leave one consistent state.

mod common;

use axum::body::Body;
use common::TestApp;
use varco::domain::{ReceiptStatus, Stato};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_activations_and_receipts_on_one_notice() {
    let app = TestApp::demo().await;
    let store = &app.store;
    let nav = "301000000000001053";
    let activate = common::qr_request("paGetPaymentV2Request", nav, "");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let router = app.nodo.clone();
        let (action, body) = if i % 2 == 0 {
            ("paGetPaymentV2", activate.clone())
        } else {
            (
                "paSendRTV2",
                common::fixture("demo/send-rt-v2.xml").replace(
                    "d3m0000000000000000000000000000a",
                    &format!("same-notice-{i}"),
                ),
            )
        };
        tasks.push(tokio::spawn(async move {
            let req = axum::http::Request::post("/paForNode")
                .header("soapaction", action)
                .body(Body::from(body))
                .unwrap();
            let reply = common::app::send(&router, req).await;
            let text = String::from_utf8(reply.body.to_vec()).unwrap();
            (action, text)
        }));
    }
    let (mut ok_receipts, mut ok_activations) = (0, 0);
    for t in tasks {
        let (action, text) = t.await.unwrap();
        let outcome = common::element(&text, "outcome").unwrap().to_owned();
        match action {
            // Receipts are always accepted (the second and later ones as anomalies).
            "paSendRTV2" => {
                assert_eq!(outcome, "OK", "{text}");
                ok_receipts += 1;
            }
            // An activation answers OK before the first receipt lands, DUPLICATO after.
            _ if outcome == "OK" => ok_activations += 1,
            _ => assert!(text.contains("PAA_PAGAMENTO_DUPLICATO"), "{text}"),
        }
    }
    assert_eq!(ok_receipts, 32);
    let p = store
        .pendenza("77777777777", &nav[1..])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stato, Stato::Eseguita);
    assert_eq!(
        p.ricevute.len(),
        32,
        "every receipt is recorded once on the position"
    );
    let receipts = store.ricevute("77777777777", &nav[1..]).await.unwrap();
    assert_eq!(receipts.len(), 32);
    let accepted = receipts
        .iter()
        .filter(|r| r.stato == ReceiptStatus::Accettata)
        .count();
    assert_eq!(
        accepted, 1,
        "exactly one receipt closed the position; the others are anomalies"
    );
    assert_eq!(store.outbox().await.unwrap().len(), 32);
    let attempts = store
        .attempts("77777777777", &nav[1..])
        .await
        .unwrap()
        .len();
    // One attempt per activation answered OK: how many ran before the first receipt is the
    // scheduler's choice (all of them, none, or some).
    assert_eq!(attempts, ok_activations, "attempts recorded");
}
