//! GovPay's semantic refusals: each code with the `dettaglio` text GovPay gives for it. A
//! gestionale written for GovPay shows these texts to its operators, and some match on them,
//! so they are part of the interface: the codes, the parameters and the wording are GovPay's.
//! Every refusal is `422 {categoria: RICHIESTA, descrizione: "Richiesta non valida"}`.

/// Why a position is refused, in GovPay's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field does not fit the API's syntax (a type, a length, a pattern, an enumeration):
    /// GovPay's `400 SINTASSI`.
    #[error("{campo}: {motivo}")]
    Syntax {
        /// The field, as the JSON names it (`voci[1].ibanAccredito`).
        campo: String,
        /// Why.
        motivo: String,
    },
    /// A well-formed request that breaks one of GovPay's semantic rules: `422`, GovPay's code
    /// (`DOM_000`, `VER_020`, ...) and its own `dettaglio` text, which gestionali show.
    #[error("{codice}: {dettaglio}")]
    Rule {
        /// GovPay's code.
        codice: String,
        /// GovPay's text for it.
        dettaglio: String,
    },
    /// The application may not use this domain or tipo pendenza.
    #[error("{0}")]
    Forbidden(String),
}

impl Refusal {
    /// A field breaking the syntax.
    pub fn syntax(campo: &str, motivo: impl std::fmt::Display) -> Self {
        Self::Syntax {
            campo: campo.into(),
            motivo: motivo.to_string(),
        }
    }

    /// GovPay's rule `codice`, with its text.
    pub fn rule(codice: &str, dettaglio: impl Into<String>) -> Self {
        Self::Rule {
            codice: codice.into(),
            dettaglio: dettaglio.into(),
        }
    }

    /// GovPay's code, `SINTASSI` for a syntax refusal.
    pub fn codice(&self) -> &str {
        match self {
            Refusal::Syntax { .. } => "SINTASSI",
            Refusal::Rule { codice, .. } => codice,
            Refusal::Forbidden(_) => "403000",
        }
    }
}

/// The position a refusal is about: `(IdA2A:…, Id:…)` in GovPay's texts.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// idA2A.
    pub a2a: &'a str,
    /// idPendenza.
    pub id: &'a str,
}

/// An amount as GovPay prints the number it was sent: no trailing zeros (`120.5`, `120`).
pub fn amount(cents: i64) -> String {
    let text = crate::domain::money::format(cents);
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_owned()
}

/// `DOM_000`: the domain is not configured.
pub fn dominio_inesistente(dominio: &str) -> Refusal {
    Refusal::rule("DOM_000", format!("Dominio ({dominio}) inesistente"))
}

/// `UOP_000`: the organisational unit is not one of the domain's.
pub fn unita_inesistente(unita: &str, dominio: &str) -> Refusal {
    Refusal::rule(
        "UOP_000",
        format!("Unita' operativa ({unita}) del dominio ({dominio}) inesistente"),
    )
}

/// `TRB_000`: the entrata is not one of the domain's.
pub fn tributo_inesistente(entrata: &str, dominio: &str) -> Refusal {
    Refusal::rule(
        "TRB_000",
        format!("Tributo ({entrata}) inesistente per il dominio ({dominio})"),
    )
}

/// `TVR_000`: the tipo pendenza is not configured.
pub fn tipo_inesistente(tipo: &str) -> Refusal {
    Refusal::rule("TVR_000", format!("Tipo pendenza ({tipo}) inesistente"))
}

/// `VER_022`: the application may not use this tipo pendenza.
pub fn tipo_non_autorizzato() -> Refusal {
    Refusal::rule(
        "VER_022",
        "Applicazione non autorizzata alla gestione del tipo pendenza indicato",
    )
}

/// `VER_001`: an `idVocePendenza` appears twice.
pub fn voce_ripetuta(who: Who, voce: &str) -> Refusal {
    Refusal::rule(
        "VER_001",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) presenta il codSingoloVersamentoEnte ({voce}) piu' di una volta",
            who.a2a, who.id
        ),
    )
}

/// `VER_002`: `importo` is not the sum of the items.
pub fn importo_non_congruo(who: Who, importo: i64, somma: i64) -> Refusal {
    Refusal::rule(
        "VER_002",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) ha un importo totale ({}) diverso dalla somma dei singoli importi ({})",
            who.a2a,
            who.id,
            amount(importo),
            amount(somma)
        ),
    )
}

/// `VER_003`: a paid position cannot change.
pub fn non_aggiornabile(who: Who) -> Refusal {
    Refusal::rule(
        "VER_003",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) e' in uno stato che non consente l'aggiornamento (ESEGUITO)",
            who.a2a, who.id
        ),
    )
}

/// `VER_004`: an update names another creditor or organisational unit.
pub fn beneficiario_diverso(who: Who, new: (&str, &str), old: (&str, &str)) -> Refusal {
    Refusal::rule(
        "VER_004",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) presenta un beneficiario ({} / {}) diverso da quello originale ({} / {})",
            who.a2a, who.id, new.0, new.1, old.0, old.1
        ),
    )
}

/// `VER_005`: an update has another number of items.
pub fn numero_voci_diverso(who: Who, sent: usize, stored: usize) -> Refusal {
    Refusal::rule(
        "VER_005",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) inviata ha un numero di voci ({sent}) diverso da quello originale ({stored})",
            who.a2a, who.id
        ),
    )
}

/// `VER_006`: an update lacks one of the stored items.
pub fn voce_mancante(who: Who, voce: &str) -> Refusal {
    Refusal::rule(
        "VER_006",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) inviata non contiene una voce con codSingoloVersamentoEnte ({voce}) presente nell'originale",
            who.a2a, who.id
        ),
    )
}

/// `VER_007`: an update changes how an item is credited (entrata, IBAN, stamp).
pub fn tributo_diverso(who: Who, voce: &str, sent: &str, stored: &str) -> Refusal {
    Refusal::rule(
        "VER_007",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) ha il singolo versamento con codSingoloVersamentoEnte ({voce}) inviato ha un tipo tributo ({sent}) diverso dall'originale ({stored})",
            who.a2a, who.id
        ),
    )
}

/// `VER_009`: a paid position cannot be cancelled or reopened.
pub fn non_annullabile(who: Who) -> Refusal {
    Refusal::rule(
        "VER_009",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) e' in uno stato che non consente l'annullamento (ESEGUITO)",
            who.a2a, who.id
        ),
    )
}

/// `VER_017`: the notice number is not a pagoPA one.
pub fn iuv_non_conforme(numero: &str) -> Refusal {
    Refusal::rule(
        "VER_017",
        format!("Lo IUV ({numero}) non e' conforme alle specifiche agid"),
    )
}

/// `VER_020`: `ibanAccredito` is not an account of the domain.
pub fn iban_accredito_non_censito(dominio: &str, iban: &str) -> Refusal {
    Refusal::rule(
        "VER_020",
        format!("Iban di accredito ({iban}) non censito per il dominio ({dominio})"),
    )
}

/// `VER_023`: an update moves an item to another account.
pub fn iban_diverso(who: Who, voce: &str) -> Refusal {
    Refusal::rule(
        "VER_023",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) ha la voce ({voce}) con un iban di accredito diverso dall'originale.",
            who.a2a, who.id
        ),
    )
}

/// `VER_024`: an update changes the notice number.
pub fn numero_avviso_diverso(who: Who, sent: &str, stored: &str) -> Refusal {
    Refusal::rule(
        "VER_024",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) ha un numero avviso ({sent}) diverso dall'originale ({stored}).",
            who.a2a, who.id
        ),
    )
}

/// `VER_025`: the notice number belongs to another position.
pub fn numero_avviso_utilizzato(who: Who, numero: &str, other: Who) -> Refusal {
    Refusal::rule(
        "VER_025",
        format!(
            "La pendenza (IdA2A:{}, Id:{}) ha un numero avviso ({numero}) gia' utilizzato (IdA2A:{}, Id:{}).",
            who.a2a, who.id, other.a2a, other.id
        ),
    )
}

/// `VER_026`: the notice number's application code is not the station's.
pub fn application_code_non_valido(numero: &str, code: &str, stazione: &str) -> Refusal {
    Refusal::rule(
        "VER_026",
        format!(
            "Lo IUV ({numero}) non e' conforme alle specifiche agid, application code ({code}) non valido per la stazione ({stazione})"
        ),
    )
}

/// `VER_027`: the notice number's segregation code is not the domain's.
pub fn segregation_code_non_valido(numero: &str, code: &str, dominio: &str) -> Refusal {
    Refusal::rule(
        "VER_027",
        format!(
            "Lo IUV ({numero}) non e' conforme alle specifiche agid, segregaton code ({code}) non valido per il dominio ({dominio})"
        ),
    )
}

/// `VER_033`: `ibanAppoggio` is not an account of the domain.
pub fn iban_appoggio_non_censito(dominio: &str, iban: &str) -> Refusal {
    Refusal::rule(
        "VER_033",
        format!("Iban di appoggio ({iban}) non censito per il dominio ({dominio})"),
    )
}

/// `VER_035`: an item's amount is not the sum of its `contabilita.quote`.
pub fn quote_non_congrue(who: Who, voce: &str, importo: i64, somma: i64) -> Refusal {
    Refusal::rule(
        "VER_035",
        format!(
            "La voce ({voce}) della pendenza (IdA2A:{}, Id:{}) ha un importo ({}) diverso dalla somma dei singoli importi definiti nella lista delle contabilita' ({})",
            who.a2a,
            who.id,
            amount(importo),
            amount(somma)
        ),
    )
}

/// `VER_039`: the notice number's first digit is not the domain's aux digit.
pub fn aux_digit_diverso(who: Who, numero: &str, aux: u8, dominio: &str) -> Refusal {
    Refusal::rule(
        "VER_039",
        format!(
            "Il carattere iniziale del numero avviso ({numero}) indicato per la pendenza (IdA2A:{} Id:{}) non coincide con l'aux digit ({aux}) impostato per l'Ente Creditore ({dominio}).",
            who.a2a, who.id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_printed_as_govpay_prints_the_number_it_read() {
        assert_eq!(amount(12050), "120.5");
        assert_eq!(amount(12000), "120");
        assert_eq!(amount(12055), "120.55");
        assert_eq!(amount(1), "0.01");
    }

    #[test]
    fn texts_carry_the_position_and_the_values() {
        let who = Who {
            a2a: "A2A-1",
            id: "P-1",
        };
        let r = importo_non_congruo(who, 13050, 12050);
        assert_eq!(r.codice(), "VER_002");
        assert_eq!(
            r.to_string(),
            "VER_002: La pendenza (IdA2A:A2A-1, Id:P-1) ha un importo totale (130.5) diverso dalla somma dei singoli importi (120.5)"
        );
        let r = iban_accredito_non_censito("77777777777", "IT57X0306909606100000000001");
        assert_eq!(r.codice(), "VER_020");
        assert!(r.to_string().ends_with(
            "Iban di accredito (IT57X0306909606100000000001) non censito per il dominio (77777777777)"
        ));
    }
}
