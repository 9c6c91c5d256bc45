//! The PAA_* fault codes and their official fault strings, and the one place where an error
//! becomes an `outcome=KO` body.

use super::messages::FaultBean;
use super::schema::Str;

/// The fault codes an Ente Creditore returns on paForNode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FaultCode {
    /// The notice is unknown.
    PagamentoSconosciuto,
    /// The notice is already paid.
    PagamentoDuplicato,
    /// A payment is in progress on the EC's own channels.
    PagamentoInCorso,
    /// The notice is past its due date.
    PagamentoScaduto,
    /// The notice was cancelled.
    PagamentoAnnullato,
    /// idPA / fiscalCode is not served by this station.
    IdDominioErrato,
    /// idBrokerPA is not this broker.
    IdIntermediarioErrato,
    /// idStation is not a station of this broker.
    StazioneIntErrata,
    /// The message breaks a schema rule.
    SintassiXsd,
    /// The message is not well-formed SOAP.
    SintassiExtraxsd,
    /// A semantic error.
    Semantica,
    /// Anything else.
    SystemError,
    /// A different receipt for an already closed position (not used: Varco accepts and flags).
    ReceiptDuplicata,
}

impl FaultCode {
    /// The `faultCode` text.
    pub fn code(self) -> &'static str {
        match self {
            FaultCode::PagamentoSconosciuto => "PAA_PAGAMENTO_SCONOSCIUTO",
            FaultCode::PagamentoDuplicato => "PAA_PAGAMENTO_DUPLICATO",
            FaultCode::PagamentoInCorso => "PAA_PAGAMENTO_IN_CORSO",
            FaultCode::PagamentoScaduto => "PAA_PAGAMENTO_SCADUTO",
            FaultCode::PagamentoAnnullato => "PAA_PAGAMENTO_ANNULLATO",
            FaultCode::IdDominioErrato => "PAA_ID_DOMINIO_ERRATO",
            FaultCode::IdIntermediarioErrato => "PAA_ID_INTERMEDIARIO_ERRATO",
            FaultCode::StazioneIntErrata => "PAA_STAZIONE_INT_ERRATA",
            FaultCode::SintassiXsd => "PAA_SINTASSI_XSD",
            FaultCode::SintassiExtraxsd => "PAA_SINTASSI_EXTRAXSD",
            FaultCode::Semantica => "PAA_SEMANTICA",
            FaultCode::SystemError => "PAA_SYSTEM_ERROR",
            FaultCode::ReceiptDuplicata => "PAA_RECEIPT_DUPLICATA",
        }
    }

    /// The official `faultString` bound to the code (pagoPA's error dictionary).
    pub fn fault_string(self) -> &'static str {
        match self {
            FaultCode::PagamentoSconosciuto => {
                "Pagamento in attesa risulta sconosciuto all'Ente Creditore"
            }
            FaultCode::PagamentoDuplicato => {
                "Pagamento in attesa risulta concluso all'Ente Creditore"
            }
            FaultCode::PagamentoInCorso => {
                "Pagamento in attesa risulta in corso all'Ente Creditore"
            }
            FaultCode::PagamentoScaduto => "Pagamento in attesa risulta scaduto all'Ente Creditore",
            FaultCode::PagamentoAnnullato => {
                "Pagamento in attesa risulta annullato all'Ente Creditore"
            }
            FaultCode::IdDominioErrato => "La PAA non corrisponde al Dominio indicato",
            FaultCode::IdIntermediarioErrato => "Identificativo intermediario non corrispondente",
            FaultCode::StazioneIntErrata => "Stazione intermediario non corrispondente",
            FaultCode::SintassiXsd => "Errore di sintassi XSD",
            FaultCode::SintassiExtraxsd => "Errore di sintassi extra XSD",
            FaultCode::Semantica => "Errore semantico",
            FaultCode::SystemError => "Errore generico",
            FaultCode::ReceiptDuplicata => "Ricevuta duplicata",
        }
    }
}

/// A refusal: the code and a free-text description for the Nodo's logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.code())]
pub struct Fault {
    /// Which PAA_* code.
    pub code: FaultCode,
    /// Detail (never personal data).
    pub description: String,
}

/// Longest fault description sent back, in characters: a parser's message may quote the
/// request, and the answer should not grow with it.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The description as sent: cut to [`MAX_DESCRIPTION_CHARS`] (with `…`), and characters XML
/// cannot carry shown as U+FFFD instead of silently dropped by the writer.
fn description_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_DESCRIPTION_CHARS)
        .map(|c| {
            if super::schema::is_xml_char(c) {
                c
            } else {
                '\u{fffd}'
            }
        })
        .collect();
    if text.chars().nth(MAX_DESCRIPTION_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl Fault {
    /// A fault with a description.
    pub fn new(code: FaultCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// The `fault` element; `id` is the issuer (the broker Varco runs for).
    pub fn bean(&self, id: &str) -> FaultBean {
        FaultBean {
            fault_code: Str(self.code.code().into()),
            fault_string: Str(self.code.fault_string().into()),
            id: Str(id.into()),
            description: Some(Str(description_text(&self.description))),
            serial: None,
            original_fault_code: None,
            original_fault_string: None,
            original_description: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_capped_and_carry_only_xml_characters() {
        let long = Fault::new(FaultCode::SintassiExtraxsd, "x".repeat(5000)).bean("b");
        let text = long.description.unwrap().0;
        assert_eq!(text.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(text.ends_with('…'));
        let odd = Fault::new(FaultCode::SintassiXsd, "a\u{2}\0b\r\n").bean("b");
        assert_eq!(odd.description.unwrap().0, "a\u{fffd}\u{fffd}b\r\n");
    }
}
