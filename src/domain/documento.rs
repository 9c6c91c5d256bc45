//! Documents: one debt offered as several payment options, each a position with its own
//! notice number (a single payment, instalments of one or more plans, deadline variants).
//!
//! The plan rules, after pagoPA's debt-position service: the options of a document are grouped
//! in *plans*. Every position without `rata` is a plan of its own (the single payment, or a
//! deadline variant with `soglia`); the instalments (`rata`) of one `piano` form one plan. The
//! first payment that counts commits the document to its plan: from then on the options of
//! every other plan are no longer payable. A payment that slips through anyway (two PSPs at the
//! same instant) is kept, flagged and marked [`Pendenza::fuori_piano`]: it does not count.

use super::{Pendenza, Stato};
use serde::{Deserialize, Serialize};

/// The document a position belongs to, in GovPay's shape (`NuovaPendenza.documento`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Documento {
    /// The document's id, unique per creditor (1..35).
    pub identificativo: String,
    /// What the document is for, printed as the notice's subject (1..80).
    pub descrizione: String,
    /// The instalment's number (from 1); absent for the single payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rata: Option<u32>,
    /// A deadline variant (`ENTRO`/`OLTRE` a number of days, `RIDOTTO`, `SCONTATO`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soglia: Option<Soglia>,
    /// Varco's extension: the instalment plan this instalment belongs to, when a document
    /// offers more than one (absent: the document's only plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piano: Option<String>,
}

/// A deadline variant of a document's option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Soglia {
    /// `ENTRO`, `OLTRE`, `RIDOTTO` or `SCONTATO`.
    pub tipo: String,
    /// Days (with `ENTRO` and `OLTRE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub giorni: Option<u32>,
}

/// The plan an option belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Piano {
    /// A single option (the single payment, or a deadline variant): its own IUV.
    Singolo(String),
    /// The instalments of the named plan (empty: the document's only plan).
    Rate(String),
}

impl Piano {
    /// The plan of `p` (None when `p` is in no document).
    pub fn of(p: &Pendenza) -> Option<Piano> {
        let d = p.dettagli.documento.as_ref()?;
        Some(match d.rata {
            Some(_) => Piano::Rate(d.piano.clone().unwrap_or_default()),
            None => Piano::Singolo(p.iuv.clone()),
        })
    }
}

/// Whether a position's payment counts for its document: paid, and not outside the plan the
/// document was committed to.
pub fn counts(p: &Pendenza) -> bool {
    p.stato == Stato::Eseguita && !p.fuori_piano
}

/// The option of another plan whose payment makes `me` no longer payable, if any: `siblings`
/// are the other positions of `me`'s document (`me` itself among them is ignored).
pub fn blocked_by<'a>(me: &Pendenza, siblings: &'a [Pendenza]) -> Option<&'a Pendenza> {
    let mine = Piano::of(me)?;
    siblings
        .iter()
        .filter(|s| s.iuv != me.iuv && counts(s))
        .find(|s| Piano::of(s).is_some_and(|p| p != mine))
}

/// Orders a document's options as they are listed and printed: single payments and variants
/// first (by IUV), then instalments by plan and number.
pub fn sort(options: &mut [Pendenza]) {
    sort_by(options, |p| p);
}

/// [`sort`] of items that each hold an option.
pub fn sort_by<T>(items: &mut [T], option: impl Fn(&T) -> &Pendenza) {
    items.sort_by_key(|item| {
        let p = option(item);
        let d = p.dettagli.documento.as_ref();
        (
            d.and_then(|d| d.rata).is_some(),
            d.and_then(|d| d.piano.clone()),
            d.and_then(|d| d.rata),
            p.iuv.clone(),
        )
    });
}

/// A document's state, from its options (`documento.stato` in the position detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatoDocumento {
    /// No payment counts yet.
    NonEseguito,
    /// The document is committed to a plan with options still to pay.
    ParzialmenteEseguito,
    /// Every option of the committed plan is paid (or cancelled).
    Eseguito,
}

impl StatoDocumento {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StatoDocumento::NonEseguito => "NON_ESEGUITO",
            StatoDocumento::ParzialmenteEseguito => "PARZIALMENTE_ESEGUITO",
            StatoDocumento::Eseguito => "ESEGUITO",
        }
    }
}

/// The state of the document whose options are `options` (all of them).
pub fn stato(options: &[Pendenza]) -> StatoDocumento {
    let Some(committed) = options.iter().filter(|p| counts(p)).find_map(Piano::of) else {
        return StatoDocumento::NonEseguito;
    };
    let done = options
        .iter()
        .filter(|p| Piano::of(p).as_ref() == Some(&committed))
        .all(|p| counts(p) || p.stato == Stato::Annullata);
    if done {
        StatoDocumento::Eseguito
    } else {
        StatoDocumento::ParzialmenteEseguito
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn option(n: u64, rata: Option<u32>, piano: Option<&str>) -> Pendenza {
        let config = crate::config::Config::demo();
        let nav = crate::domain::NoticeNumber::aux3("01", n);
        let mut p = crate::demo::sample(&config, &nav, Utc::now());
        p.dettagli.documento = Some(Documento {
            identificativo: "TARI-2026".into(),
            descrizione: "TARI 2026".into(),
            rata,
            soglia: None,
            piano: piano.map(str::to_owned),
        });
        p
    }

    fn paid(mut p: Pendenza) -> Pendenza {
        p.stato = Stato::Eseguita;
        p
    }

    #[test]
    fn the_first_payment_commits_the_document_to_its_plan() {
        let single = option(1, None, None);
        let rate: Vec<Pendenza> = (1..=3)
            .map(|i| option(1 + u64::from(i), Some(i), None))
            .collect();
        let mut all = vec![single.clone()];
        all.extend(rate.iter().cloned());
        assert!(all.iter().all(|p| blocked_by(p, &all).is_none()));
        assert_eq!(stato(&all), StatoDocumento::NonEseguito);

        // The single payment paid: every instalment is blocked by it.
        let with_single = [vec![paid(single.clone())], rate.clone()].concat();
        for r in &rate {
            assert_eq!(blocked_by(r, &with_single).unwrap().iuv, single.iuv);
        }
        assert_eq!(stato(&with_single), StatoDocumento::Eseguito);

        // Instalment 1 paid: the single payment is blocked, instalments 2 and 3 are not.
        let with_first = vec![
            single.clone(),
            paid(rate[0].clone()),
            rate[1].clone(),
            rate[2].clone(),
        ];
        assert_eq!(blocked_by(&single, &with_first).unwrap().iuv, rate[0].iuv);
        assert!(blocked_by(&rate[1], &with_first).is_none());
        assert!(blocked_by(&rate[2], &with_first).is_none());
        assert_eq!(stato(&with_first), StatoDocumento::ParzialmenteEseguito);

        // A payment outside the plan does not count: instalments stay payable.
        let mut slipped = paid(single.clone());
        slipped.fuori_piano = true;
        let mixed = vec![
            slipped,
            paid(rate[0].clone()),
            rate[1].clone(),
            rate[2].clone(),
        ];
        assert!(blocked_by(&rate[1], &mixed).is_none());
        let mut rest = mixed.clone();
        rest[2].stato = Stato::Eseguita;
        rest[3].stato = Stato::Annullata;
        assert_eq!(stato(&rest), StatoDocumento::Eseguito);
    }

    #[test]
    fn instalments_of_two_plans_exclude_each_other() {
        let a1 = option(1, Some(1), Some("A"));
        let a2 = option(2, Some(2), Some("A"));
        let b1 = option(3, Some(1), Some("B"));
        let all = vec![paid(a1.clone()), a2.clone(), b1.clone()];
        assert!(blocked_by(&a2, &all).is_none());
        assert_eq!(blocked_by(&b1, &all).unwrap().iuv, a1.iuv);
        // A position in no document is never blocked.
        let mut loose = option(4, None, None);
        loose.dettagli.documento = None;
        assert!(blocked_by(&loose, &all).is_none());
    }
}
