//! Reading back: `api/pendenza/v2/pendenze/get/` (pendenze-find-applicazioni*,
//! pendenze-find-byMetadatiPaginazione, pendenze-find-byStato, pendenze-find-sintassi,
//! pendenze-get-applicazione-auth, pendenza-get-avvisi) and
//! `api/pendenza/v2/avvisi/get/avvisi-get-byNumeroAvviso.feature`.
//!
//! Not ported: pendenze-anonimo and pendenze-spid (GovPay's public and SPID front ends; Varco
//! serves applications with Basic credentials only, and answers 401 without them), and
//! pendenza-get-documenti (the instalment notices of a document, issue 15).

use super::*;

/// Positions `ids` of `app` (in this order), each a copy of the suite's fixture, loaded at
/// least a millisecond apart (listings are ordered by load time, to the millisecond).
async fn load(gp: &Gp, app: (&str, &str), ids: &[String]) {
    for id in ids {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let (s, e) = gp
            .call(
                "PUT",
                &format!("/pendenze/{}/{id}", app.0),
                app,
                Some(&monovoce_riferimento(id)),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

use common::app::listed_ids as listed;

/// pendenze-find-applicazioni.feature and ...-byMostraSpontaneiNonPagati.feature, "Ricerca
/// pendenze applicazione autorizzata filtrati per data": each application lists its own
/// positions of the period, newest first, on one page.
#[tokio::test]
async fn ricerca_pendenze_applicazione_filtrate_per_data() {
    let gp = Gp::new().await;
    let day = varco::domain::rome_today(chrono::Utc::now()).to_string();
    load(&gp, IDA2A01, &ids("a", 10)).await;
    load(&gp, IDA2A02, &ids("b", 10)).await;
    for (app, prefix) in [(IDA2A01, "a"), (IDA2A02, "b")] {
        for mostra in [
            "",
            "&mostraSpontaneiNonPagati=true",
            "&mostraSpontaneiNonPagati=false",
        ] {
            let (s, page) = gp
                .call(
                    "GET",
                    &format!("/pendenze?dataDa={day}&dataA={day}{mostra}"),
                    app,
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{page}");
            let mut newest_first = ids(prefix, 10);
            newest_first.reverse();
            assert_eq!(listed(&page), newest_first);
            assert_eq!(
                (
                    &page["numRisultati"],
                    &page["numPagine"],
                    &page["risultatiPerPagina"],
                    &page["pagina"]
                ),
                (&json!(10), &json!(1), &json!(25), &json!(1))
            );
            assert!(page.get("prossimiRisultati").is_none_or(Value::is_null));
        }
    }
}

/// pendenze-find-byMetadatiPaginazione.feature: the six scenarios, over 30 positions.
#[tokio::test]
async fn metadati_paginazione() {
    let gp = Gp::new().await;
    load(&gp, IDA2A01, &ids("m", 30)).await;
    let list = |query: &'static str| {
        let gp = &gp;
        async move {
            let (s, page) = gp
                .call("GET", &format!("/pendenze{query}"), IDA2A01, None)
                .await;
            assert_eq!(s, StatusCode::OK, "{query}: {page}");
            page
        }
    };
    // "senza filtri", "con metadatiPaginazione true", "con maxRisultati true|false".
    for query in [
        "",
        "?metadatiPaginazione=true",
        "?maxRisultati=true",
        "?maxRisultati=false",
    ] {
        let page = list(query).await;
        for key in [
            "numRisultati",
            "numPagine",
            "risultatiPerPagina",
            "pagina",
            "prossimiRisultati",
        ] {
            assert!(!page[key].is_null(), "{query}: {key} in {page}");
        }
        assert_eq!(page["risultati"].as_array().unwrap().len(), 25);
    }
    // "con metadatiPaginazione false": no count, the next page still linked.
    let page = list("?metadatiPaginazione=false").await;
    assert!(
        page.get("numRisultati").is_none() && page.get("numPagine").is_none(),
        "{page}"
    );
    assert!(page["prossimiRisultati"].is_string());
    assert!(page["risultatiPerPagina"].is_number() && page["pagina"].is_number());
    // "con metadatiPaginazione true e risultatiPerPagina = 0": the count alone.
    let page = list("?metadatiPaginazione=true&risultatiPerPagina=0").await;
    assert_eq!(page["numRisultati"], 30);
    assert!(
        page.get("numPagine").is_none() && page.get("prossimiRisultati").is_none(),
        "{page}"
    );
    assert_eq!(
        (&page["risultatiPerPagina"], &page["risultati"]),
        (&json!(0), &json!([]))
    );
}

/// pendenze-find-byStato.feature, "Controllo di sintassi sul valore del filtro per stato".
#[tokio::test]
async fn filtro_per_stato() {
    let gp = Gp::new().await;
    let (s, fault) = gp
        .call("GET", "/pendenze?stato=STATO_NON_VALIDO", IDA2A01, None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        (&fault["categoria"], &fault["codice"], &fault["descrizione"]),
        (
            &json!("RICHIESTA"),
            &json!("SINTASSI"),
            &json!("Richiesta non valida")
        )
    );
    assert!(
        fault["dettaglio"]
            .as_str()
            .unwrap()
            .contains("STATO_NON_VALIDO")
    );
    // INCASSATA is one of GovPay's states: a valid filter (Varco has no such position yet).
    load(&gp, IDA2A01, &ids("s", 2)).await;
    let (s, page) = gp
        .call("GET", "/pendenze?stato=INCASSATA", IDA2A01, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["risultati"], json!([]));
    let (_, page) = gp
        .call("GET", "/pendenze?stato=NON_ESEGUITA", IDA2A01, None)
        .await;
    assert_eq!(page["numRisultati"], 2);
}

/// pendenze-find-sintassi.feature, "Validazione sintattica filtri per data".
#[tokio::test]
async fn filtri_per_data() {
    let gp = Gp::new().await;
    for query in [
        "",
        "?dataDa=2020-01-01",
        "?dataA=2020-01-01",
        "?dataDa=2020-01-01T00:00:00.000",
        "?dataA=2020-01-01T23:59:59.999",
        "?dataDa=2020-01-01T25:00:00.000",
        "?dataA=2020-01-01T25:59:59.999",
    ] {
        let (s, page) = gp
            .call("GET", &format!("/pendenze{query}"), IDA2A01, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{query}: {page}");
        assert!(page["numRisultati"].is_number() && page["numPagine"].is_number());
        assert_eq!(
            (&page["risultatiPerPagina"], &page["pagina"]),
            (&json!(25), &json!(1))
        );
        assert!(page["risultati"].is_array());
    }
    for (param, value) in [
        ("dataDa", "2020-01-01TTT:00:00.000"),
        ("dataA", "2020-01-01TTT:59:59.999"),
    ] {
        let (s, fault) = gp
            .call("GET", &format!("/pendenze?{param}={value}"), IDA2A01, None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(fault["codice"], "SINTASSI");
        let expected = format!(
            "Il formato della data indicata [{value}] per il parametro [{param}] non e' valido."
        );
        assert!(
            fault["dettaglio"].as_str().unwrap().contains(&expected),
            "{fault}"
        );
    }
}

/// A time past its day rolls over, as GovPay reads it: `T25:00` of the 1st is 01:00 of the 2nd.
#[tokio::test]
async fn un_ora_oltre_la_fine_del_giorno_e_il_giorno_dopo() {
    let gp = Gp::new().await;
    load(&gp, IDA2A01, &ids("t", 1)).await;
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    // From 25:00 of the day before yesterday is from 01:00 of yesterday: today's position is in.
    let before = yesterday.pred_opt().unwrap();
    let (_, page) = gp
        .call(
            "GET",
            &format!("/pendenze?dataDa={before}T25:00:00.000"),
            IDA2A01,
            None,
        )
        .await;
    assert_eq!(page["numRisultati"], 1, "{page}");
    // Up to 25:00 two days ago: nothing.
    let (_, page) = gp
        .call(
            "GET",
            &format!("/pendenze?dataA={before}T25:00:00.000"),
            IDA2A01,
            None,
        )
        .await;
    assert_eq!(page["numRisultati"], 0, "{page}");
    // An instant with its offset is taken as it is.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let (_, page) = gp
        .call(
            "GET",
            &format!("/pendenze?dataDa={hour_ago}"),
            IDA2A01,
            None,
        )
        .await;
    assert_eq!(page["numRisultati"], 1, "{page}");
    let (_, page) = gp
        .call("GET", &format!("/pendenze?dataA={hour_ago}"), IDA2A01, None)
        .await;
    assert_eq!(page["numRisultati"], 0, "{page}");
}

/// pendenze-get-applicazione-auth.feature, "Lettura dettaglio applicazione [...] della
/// pendenza [...]": an application reads its own positions (also of a domain or kind it may
/// no longer load), and gets 403 for another application's.
#[tokio::test]
async fn lettura_dettaglio_propria_e_altrui() {
    let gp = Gp::new().await;
    load(&gp, IDA2A01, &ids("own", 1)).await;
    load(&gp, IDA2A02, &ids("other", 1)).await;
    let d = gp.detail("own0").await;
    for key in [
        "idTipoPendenza",
        "causale",
        "soggettoPagatore",
        "importo",
        "dataCaricamento",
        "tassonomia",
        "tassonomiaAvviso",
        "idA2A",
        "idPendenza",
        "dominio",
        "stato",
        "voci",
        "tipo",
        "UUID",
    ] {
        assert!(!d[key].is_null(), "{key} in {d}");
    }
    let (s, fault) = gp
        .call("GET", "/pendenze/IDA2A02/other0", IDA2A01, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        (&fault["categoria"], &fault["descrizione"]),
        (
            &json!("AUTORIZZAZIONE"),
            &json!("Operazione non autorizzata")
        )
    );
    assert!(fault["codice"].is_string() && fault["dettaglio"].is_string());
}

/// pendenza-get-avvisi.feature, its four scenarios: the PDF (printed at load or not), JSON,
/// and 406 without an Accept header; avvisi-get-byNumeroAvviso.feature, the PDF's content
/// type.
#[tokio::test]
async fn lettura_avviso_per_formato() {
    let gp = Gp::new().await;
    for (id, query) in [
        ("pdf-1", "?stampaAvviso=true"),
        ("pdf-2", "?stampaAvviso=false"),
        ("json", ""),
    ] {
        let (s, _) = gp
            .call(
                "PUT",
                &format!("/pendenze/IDA2A01/{id}{query}"),
                IDA2A01,
                Some(&monovoce_riferimento(id)),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let avviso = |id: &'static str| {
        let gp = &gp;
        async move {
            let nav = gp.detail(id).await["numeroAvviso"]
                .as_str()
                .unwrap()
                .to_owned();
            format!("/avvisi/{DOMINIO}/{nav}")
        }
    };
    let fetch = |path: String, accept: &'static str| {
        let gp = &gp;
        async move {
            gp.raw("GET", &path, Some(IDA2A01), None, &[("accept", accept)])
                .await
        }
    };
    for id in ["pdf-1", "pdf-2"] {
        let reply = fetch(avviso(id).await, "application/pdf").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["content-type"], "application/pdf");
        assert!(reply.body.starts_with(b"%PDF-"));
    }
    let path = avviso("json").await;
    let reply = fetch(path.clone(), "application/json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["stato"], "NON_ESEGUITA");
    // Without an Accept header at all: 406.
    let mut req = axum::http::Request::get(format!("/api/pendenze/v2{path}"))
        .header("authorization", common::basic(IDA2A01));
    req.headers_mut().unwrap().remove("accept");
    let reply = gp.0.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::NOT_ACCEPTABLE, "{}", reply.text());
}
