//! `api/pendenza/v2/pendenze/put/pendenza-put-sintattica.feature` ("Validazione sintattica
//! inserimento pendenza"), and the syntax outlines of the contabilita, documento, metadata,
//! proprieta and allegati features: a field that breaks the API's syntax is a
//! `400 {RICHIESTA, SINTASSI, "Richiesta non valida"}` whose `dettaglio` names the field, and
//! nothing is stored.

use super::*;

/// The fixture `base` for a new position with `value` at `pointer`, PUT: refused as syntax
/// naming `field`, and not stored.
async fn refused(base: fn(&str) -> Value, pointer: &str, value: Value, field: &str) {
    let gp = Gp::new().await;
    let body = with(base("sintassi"), pointer, value);
    let (s, fault) = gp.put("sintassi", &body).await;
    assert_sintassi(s, &fault, field);
    assert!(
        gp.0.store
            .pendenza_of_app("IDA2A01", "sintassi")
            .await
            .unwrap()
            .is_none()
    );
}

/// One test per Examples row: `name: fixture, pointer => value, the field named`.
macro_rules! rows {
    ($($(#[$doc:meta])* $name:ident: $base:ident, $pointer:literal => $value:expr, $field:literal;)*) => {
        $(
            $(#[$doc])*
            #[tokio::test]
            async fn $name() {
                refused($base, $pointer, $value, $field).await;
            }
        )*
    };
}

fn documento(id: &str) -> Value {
    with(
        monovoce_riferimento(id),
        "/documento",
        json!({"identificativo": format!("{id}_DOC"), "descrizione": format!("Documento ({id})"), "rata": null, "soglia": null}),
    )
}

fn documento_soglia(id: &str) -> Value {
    with(
        documento(id),
        "/documento/soglia",
        json!({"tipo": "ENTRO", "giorni": 5}),
    )
}

fn metadata(id: &str) -> Value {
    with(
        monovoce_definito(id),
        "/voci/0/metadata",
        json!({"mapEntries": [{"key": "chiave1", "value": "valore1"}]}),
    )
}

/// `pendenza-put_monovoce_riferimento_contabilita.json`: no idTipoPendenza, one item by
/// entrata in two accounting quotas.
pub fn contabilita(id: &str) -> Value {
    let mut p = monovoce_riferimento(id);
    p.as_object_mut().unwrap().remove("idTipoPendenza");
    p["voci"][0]["contabilita"] = json!({"quote": [
        {"capitolo": "capitolo1", "annoEsercizio": 2020, "accertamento": null, "importo": 0.99, "proprietaCustom": null, "titolo": null, "tipologia": null, "categoria": null, "articolo": null},
        {"capitolo": "capitolo2", "annoEsercizio": 2020, "accertamento": null, "importo": 100.00, "proprietaCustom": null, "titolo": null, "tipologia": null, "categoria": null, "articolo": null}
    ], "proprietaCustom": null});
    p
}

fn allegato(id: &str) -> Value {
    with(
        monovoce_riferimento(id),
        "/allegati",
        json!([{"nome": "promemoria.ftl", "tipo": "application/json", "descrizione": "test allegato", "contenuto": "PCNzZXR0aW5nIGxvY2FsZT0iZW5fVVMiPg=="}]),
    )
}

// pendenza-put-sintattica.feature, Scenario Outline "<field> non valida" (fixture
// pendenza-put_multivoce_bollo.json), one test per Examples row.
rows! {
    nome_lorem: multivoce_bollo, "/nome" => json!(lorem()), "nome";
    causale_null: multivoce_bollo, "/causale" => Value::Null, "causale";
    causale_lorem: multivoce_bollo, "/causale" => json!(lorem()), "causale";
    causale_vuota: multivoce_bollo, "/causale" => json!(""), "causale";
    numero_avviso_lorem: multivoce_bollo, "/numeroAvviso" => json!(lorem()), "numeroAvviso";
    numero_avviso_lettere: multivoce_bollo, "/numeroAvviso" => json!("ABC000000000000000"), "numeroAvviso";
    data_validita_impossibile: multivoce_bollo, "/dataValidita" => json!("2030-19-40"), "dataValidita";
    data_scadenza_impossibile: multivoce_bollo, "/dataScadenza" => json!("2030-19-40"), "dataScadenza";
    anno_riferimento_lettere: multivoce_bollo, "/annoRiferimento" => json!("aaaa"), "annoRiferimento";
    tassonomia_avviso_fuori_elenco: multivoce_bollo, "/tassonomiaAvviso" => json!("xxxx"), "tassonomiaAvviso";
    identificativo_lorem: multivoce_bollo, "/soggettoPagatore/identificativo" => json!(lorem()), "identificativo";
    identificativo_17_caratteri: multivoce_bollo, "/soggettoPagatore/identificativo" => json!("12345678901234567"), "identificativo";
    anagrafica_lorem: multivoce_bollo, "/soggettoPagatore/anagrafica" => json!(lorem()), "anagrafica";
    indirizzo_vuoto: multivoce_bollo, "/soggettoPagatore/indirizzo" => json!(""), "indirizzo";
    indirizzo_lorem: multivoce_bollo, "/soggettoPagatore/indirizzo" => json!(lorem()), "indirizzo";
    civico_vuoto: multivoce_bollo, "/soggettoPagatore/civico" => json!(""), "civico";
    civico_lorem: multivoce_bollo, "/soggettoPagatore/civico" => json!(lorem()), "civico";
    cap_vuoto: multivoce_bollo, "/soggettoPagatore/cap" => json!(""), "cap";
    cap_lorem: multivoce_bollo, "/soggettoPagatore/cap" => json!(lorem()), "cap";
    localita_vuota: multivoce_bollo, "/soggettoPagatore/localita" => json!(""), "localita";
    localita_lorem: multivoce_bollo, "/soggettoPagatore/localita" => json!(lorem()), "localita";
    provincia_vuota: multivoce_bollo, "/soggettoPagatore/provincia" => json!(""), "provincia";
    provincia_lorem: multivoce_bollo, "/soggettoPagatore/provincia" => json!(lorem()), "provincia";
    nazione_tre_lettere: multivoce_bollo, "/soggettoPagatore/nazione" => json!("aaa"), "nazione";
    email_due_chiocciole: multivoce_bollo, "/soggettoPagatore/email" => json!("verdi@giuseppe@email"), "email";
    cellulare_senza_spazio_e_trattino: multivoce_bollo, "/soggettoPagatore/cellulare" => json!("+390000000000"), "cellulare";
    importo_null: multivoce_bollo, "/importo" => Value::Null, "importo";
    importo_tre_decimali: multivoce_bollo, "/importo" => json!("10.001"), "importo";
    importo_virgola: multivoce_bollo, "/importo" => json!("10,000"), "importo";
    importo_virgola_e_punto: multivoce_bollo, "/importo" => json!("10,00.0"), "importo";
    importo_lettere: multivoce_bollo, "/importo" => json!("aaaa"), "importo";
    importo_troppe_cifre: multivoce_bollo, "/importo" => json!("12345678901234567,89"), "importo";
    importo_oltre_il_massimo: multivoce_bollo, "/importo" => json!("1000000000.00"), "importo";
    tassonomia_lorem: multivoce_bollo, "/tassonomia" => json!(lorem()), "tassonomia";
    direzione_lorem: multivoce_bollo, "/direzione" => json!(lorem()), "direzione";
    divisione_lorem: multivoce_bollo, "/divisione" => json!(lorem()), "divisione";
    voci_null: multivoce_bollo, "/voci" => Value::Null, "voci";
    id_voce_null: multivoce_bollo, "/voci/0/idVocePendenza" => Value::Null, "idVocePendenza";
    id_voce_lorem: multivoce_bollo, "/voci/0/idVocePendenza" => json!(lorem()), "idVocePendenza";
    voce_importo_null: multivoce_bollo, "/voci/0/importo" => Value::Null, "importo";
    voce_importo_tre_decimali: multivoce_bollo, "/voci/0/importo" => json!("10.001"), "importo";
    voce_importo_virgola: multivoce_bollo, "/voci/0/importo" => json!("10,000"), "importo";
    voce_importo_virgola_e_punto: multivoce_bollo, "/voci/0/importo" => json!("10,00.0"), "importo";
    voce_importo_lettere: multivoce_bollo, "/voci/0/importo" => json!("aaaa"), "importo";
    voce_importo_troppe_cifre: multivoce_bollo, "/voci/0/importo" => json!("12345678901234567,89"), "importo";
    voce_descrizione_null: multivoce_bollo, "/voci/0/descrizione" => Value::Null, "descrizione";
    voce_descrizione_lorem: multivoce_bollo, "/voci/0/descrizione" => json!(lorem()), "descrizione";
    voce_cod_entrata_null: multivoce_bollo, "/voci/0/codEntrata" => Value::Null, "codEntrata";
    voce_iban_accredito_null: multivoce_bollo, "/voci/1/ibanAccredito" => Value::Null, "ibanAccredito";
    voce_tipo_contabilita_null: multivoce_bollo, "/voci/1/tipoContabilita" => Value::Null, "tipoContabilita";
    voce_tipo_contabilita_fuori_elenco: multivoce_bollo, "/voci/1/tipoContabilita" => json!("xxx"), "tipoContabilita";
    voce_codice_contabilita_null: multivoce_bollo, "/voci/1/codiceContabilita" => Value::Null, "codiceContabilita";
    voce_codice_contabilita_vuoto: multivoce_bollo, "/voci/1/codiceContabilita" => json!(""), "codiceContabilita";
    voce_codice_contabilita_corto: multivoce_bollo, "/voci/1/codiceContabilita" => json!("XX"), "codiceContabilita";
    voce_codice_contabilita_con_spazio: multivoce_bollo, "/voci/1/codiceContabilita" => json!("XXX X"), "codiceContabilita";
    voce_tipo_bollo_null: multivoce_bollo, "/voci/2/tipoBollo" => Value::Null, "tipoBollo";
    voce_tipo_bollo_fuori_elenco: multivoce_bollo, "/voci/2/tipoBollo" => json!("xxx"), "tipoBollo";
    voce_hash_documento_null: multivoce_bollo, "/voci/2/hashDocumento" => Value::Null, "hashDocumento";
    voce_hash_documento_lorem: multivoce_bollo, "/voci/2/hashDocumento" => json!(lorem()), "hashDocumento";
    voce_provincia_residenza_null: multivoce_bollo, "/voci/2/provinciaResidenza" => Value::Null, "provinciaResidenza";
    voce_provincia_residenza_tre_lettere: multivoce_bollo, "/voci/2/provinciaResidenza" => json!("xxx"), "provinciaResidenza";
    voce_causale_rpt_vuota: multivoce_bollo, "/voci/0/descrizioneCausaleRPT" => json!(""), "descrizioneCausaleRPT";
    voce_causale_rpt_lorem: multivoce_bollo, "/voci/0/descrizioneCausaleRPT" => json!(lorem()), "descrizioneCausaleRPT";
}

/// pendenza-put-sintattica.feature, "Numero voci eccessivo": six items.
#[tokio::test]
async fn numero_voci_eccessivo() {
    let mut p = multivoce_bollo("sei-voci");
    for n in 4..=6 {
        let mut voce = p["voci"][0].clone();
        voce["idVocePendenza"] = json!(n.to_string());
        p["voci"].as_array_mut().unwrap().push(voce);
    }
    let (s, fault) = Gp::new().await.put("sei-voci", &p).await;
    assert_sintassi(s, &fault, "voci");
}

/// pendenza-put-sintattica.feature, "caricamento pendenza con payload vuoto" (`{}`).
#[tokio::test]
async fn payload_oggetto_vuoto() {
    let (s, fault) = Gp::new().await.put("vuota", &json!({})).await;
    assert_sintassi(s, &fault, "");
}

/// pendenza-put-sintattica.feature, "caricamento pendenza con payload vuoto" (no body at all).
#[tokio::test]
async fn payload_assente() {
    let gp = Gp::new().await;
    let reply = gp
        .raw("PUT", "/pendenze/IDA2A01/vuota", Some(IDA2A01), None, &[])
        .await;
    assert_sintassi(reply.status, &reply.json(), "");
}

// pendenza-put-contabilita.feature, Scenario Outline "<field> non valida" (fixture
// pendenza-put_monovoce_riferimento_contabilita.json), one test per Examples row.
rows! {
    quota_importo_null: contabilita, "/voci/0/contabilita/quote/0/importo" => Value::Null, "importo";
    quota_importo_tre_decimali: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("10.001"), "importo";
    quota_importo_virgola: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("10,000"), "importo";
    quota_importo_virgola_e_punto: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("10,00.0"), "importo";
    quota_importo_lettere: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("aaaa"), "importo";
    quota_importo_troppe_cifre: contabilita, "/voci/0/contabilita/quote/0/importo" => json!("12345678901234567,89"), "importo";
    quota_capitolo_lorem: contabilita, "/voci/0/contabilita/quote/0/capitolo" => json!(lorem()), "capitolo";
    quota_capitolo_null: contabilita, "/voci/0/contabilita/quote/0/capitolo" => Value::Null, "capitolo";
    quota_accertamento_lorem: contabilita, "/voci/0/contabilita/quote/0/accertamento" => json!(lorem()), "accertamento";
    quota_anno_cinque_cifre: contabilita, "/voci/0/contabilita/quote/0/annoEsercizio" => json!(12345), "annoEsercizio";
    quota_anno_lorem: contabilita, "/voci/0/contabilita/quote/0/annoEsercizio" => json!(lorem()), "annoEsercizio";
    quota_anno_null: contabilita, "/voci/0/contabilita/quote/0/annoEsercizio" => Value::Null, "annoEsercizio";
    quota_titolo_lorem: contabilita, "/voci/0/contabilita/quote/0/titolo" => json!(lorem()), "titolo";
    quota_tipologia_lorem: contabilita, "/voci/0/contabilita/quote/0/tipologia" => json!(lorem()), "tipologia";
    quota_categoria_lorem: contabilita, "/voci/0/contabilita/quote/0/categoria" => json!(lorem()), "categoria";
    quota_articolo_lorem: contabilita, "/voci/0/contabilita/quote/0/articolo" => json!(lorem()), "articolo";
}

// pendenza-put-documento.feature, the three Scenario Outlines "<field> non valida".
rows! {
    documento_descrizione_null: documento, "/documento/descrizione" => Value::Null, "descrizione";
    documento_descrizione_lorem: documento, "/documento/descrizione" => json!(lorem()), "descrizione";
    documento_identificativo_null: documento, "/documento/identificativo" => Value::Null, "identificativo";
    documento_identificativo_lorem: documento, "/documento/identificativo" => json!(lorem()), "identificativo";
    documento_rata_lettere: documento, "/documento/rata" => json!("xxx"), "rata";
    documento_rata_zero: documento, "/documento/rata" => json!(0), "rata";
    soglia_tipo_null: documento_soglia, "/documento/soglia/tipo" => Value::Null, "tipo";
    soglia_tipo_fuori_elenco: documento_soglia, "/documento/soglia/tipo" => json!("xxx"), "tipo";
    soglia_giorni_null: documento_soglia, "/documento/soglia/giorni" => Value::Null, "giorni";
    soglia_giorni_zero: documento_soglia, "/documento/soglia/giorni" => json!(0), "giorni";
    soglia_giorni_lettere: documento_soglia, "/documento/soglia/giorni" => json!("xxx"), "giorni";
    /// RIDOTTO carries no days.
    soglia_ridotto_con_giorni: documento_soglia, "/documento/soglia/tipo" => json!("RIDOTTO"), "giorni";
    /// SCONTATO carries no days.
    soglia_scontato_con_giorni: documento_soglia, "/documento/soglia/tipo" => json!("SCONTATO"), "giorni";
}

// pendenza-put-metadata.feature, Scenario Outline "<field> non valida".
rows! {
    metadata_vuoto: metadata, "/voci/0/metadata" => json!({}), "mapEntries";
    map_entries_null: metadata, "/voci/0/metadata/mapEntries" => Value::Null, "mapEntries";
    map_entries_vuoto: metadata, "/voci/0/metadata/mapEntries" => json!([]), "mapEntries";
    map_entry_key_null: metadata, "/voci/0/metadata/mapEntries/0/key" => Value::Null, "key";
    map_entry_key_vuota: metadata, "/voci/0/metadata/mapEntries/0/key" => json!(""), "key";
    map_entry_key_lorem: metadata, "/voci/0/metadata/mapEntries/0/key" => json!(lorem()), "key";
    map_entry_value_null: metadata, "/voci/0/metadata/mapEntries/0/value" => Value::Null, "value";
    map_entry_value_vuoto: metadata, "/voci/0/metadata/mapEntries/0/value" => json!(""), "value";
    map_entry_value_lorem: metadata, "/voci/0/metadata/mapEntries/0/value" => json!(lorem()), "value";
}

// pendenza-put-allegati.feature, Scenario Outline "<field> non valida".
rows! {
    allegato_nome_null: allegato, "/allegati/0/nome" => Value::Null, "nome";
    allegato_nome_lorem: allegato, "/allegati/0/nome" => json!(lorem()), "nome";
    allegato_tipo_lorem: allegato, "/allegati/0/tipo" => json!(lorem()), "tipo";
    allegato_descrizione_lorem: allegato, "/allegati/0/descrizione" => json!(lorem()), "descrizione";
    allegato_contenuto_null: allegato, "/allegati/0/contenuto" => Value::Null, "contenuto";
}

// pendenza-put-proprieta.feature, "Caricamento pendenza con linguaSecondaria errata".
rows! {
    lingua_secondaria_errata: monovoce_riferimento, "/proprieta" => json!({"linguaSecondaria": "XXX"}), "linguaSecondaria";
}
