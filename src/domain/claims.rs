//! Which IUVs an application claims as its own (verification on the fly: `iuv_pattern`, a
//! regular expression searched in the IUV, and `segregation_codes`, the first two digits of an
//! aux-3 IUV), and a decision procedure for whether two claims overlap.
//!
//! Two applications that both claim an IUV make its owner a matter of configuration order, and
//! a refresh from one could be taken for the other's position. So overlapping claims are a
//! configuration error. IUVs are strings of 15 or 17 digits, so the question is decidable and
//! small: each claim becomes a DFA, and the product of the two is walked over the ten digits for
//! 17 steps, looking for a string of length 15 or 17 that both accept.

use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::{Anchored, util::start};
use std::collections::HashMap;

/// The IUVs one application claims.
#[derive(Debug, Clone, Default)]
pub struct Claim<'a> {
    /// A regular expression searched in the IUV (`iuv_pattern`).
    pub pattern: Option<&'a str>,
    /// Segregation codes: 17-digit IUVs starting with one of them.
    pub segregation_codes: &'a [String],
}

impl Claim<'_> {
    /// One regular expression accepting exactly the claimed IUVs (searched, not anchored).
    fn regex(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = self.pattern {
            parts.push(format!("(?:{p})"));
        }
        let codes: Vec<&str> = self
            .segregation_codes
            .iter()
            .map(String::as_str)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        if !codes.is_empty() {
            parts.push(format!("(?:^(?:{})[0-9]{{15}}$)", codes.join("|")));
        }
        (!parts.is_empty()).then(|| parts.join("|"))
    }
}

/// Why two claims could not be compared.
#[derive(Debug, thiserror::Error)]
#[error("cannot analyse the claim {0:?}: {1}")]
pub struct ClaimError(String, String);

/// A claim as a DFA with its unanchored start state.
struct Machine {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Machine {
    fn new(regex: &str) -> Result<Self, ClaimError> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .unicode_word_boundary(true)
                    .dfa_size_limit(Some(16 << 20))
                    .determinize_size_limit(Some(16 << 20)),
            )
            .build(regex)
            .map_err(|e| ClaimError(regex.to_owned(), e.to_string()))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::No))
            .map_err(|e| ClaimError(regex.to_owned(), e.to_string()))?;
        Ok(Self { dfa, start })
    }

    /// After one more digit: the state and whether a match has been seen.
    fn step(&self, (s, seen): (StateID, bool), digit: u8) -> (StateID, bool) {
        let next = self.dfa.next_state(s, digit);
        (next, seen || self.dfa.is_match_state(next))
    }

    /// Whether the input read so far is accepted (a match seen, or one ending at its end).
    fn accepts(&self, (s, seen): (StateID, bool)) -> bool {
        seen || self.dfa.is_match_state(self.dfa.next_eoi_state(s))
    }

    /// Whether nothing read after this point can make the input accepted.
    fn hopeless(&self, (s, seen): (StateID, bool)) -> bool {
        !seen && (self.dfa.is_dead_state(s) || self.dfa.is_quit_state(s))
    }
}

/// An IUV (15 or 17 digits) both claims take, if there is one.
pub fn overlap(a: &Claim<'_>, b: &Claim<'_>) -> Result<Option<String>, ClaimError> {
    let (Some(ra), Some(rb)) = (a.regex(), b.regex()) else {
        return Ok(None);
    };
    let (ma, mb) = (Machine::new(&ra)?, Machine::new(&rb)?);
    type Pair = ((StateID, bool), (StateID, bool));
    // Each pair of states reached, with one input that reaches it.
    let mut level: HashMap<Pair, String> = HashMap::new();
    level.insert(((ma.start, false), (mb.start, false)), String::new());
    for length in 1..=17 {
        let mut next: HashMap<Pair, String> = HashMap::new();
        for ((sa, sb), input) in &level {
            for digit in b'0'..=b'9' {
                let (na, nb) = (ma.step(*sa, digit), mb.step(*sb, digit));
                if ma.hopeless(na) || mb.hopeless(nb) {
                    continue;
                }
                next.entry((na, nb)).or_insert_with(|| {
                    let mut s = input.clone();
                    s.push(char::from(digit));
                    s
                });
            }
        }
        level = next;
        if length == 15 || length == 17 {
            let mut found: Vec<&String> = level
                .iter()
                .filter(|((sa, sb), _)| ma.accepts(*sa) && mb.accepts(*sb))
                .map(|(_, input)| input)
                .collect();
            found.sort();
            if let Some(first) = found.first() {
                return Ok(Some((*first).clone()));
            }
        }
        if level.is_empty() {
            break;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> Claim<'_> {
        Claim {
            pattern: Some(p),
            segregation_codes: &[],
        }
    }

    #[test]
    fn overlapping_claims_are_found_with_an_example() {
        let codes = ["09".to_string()];
        let by_code = Claim {
            pattern: None,
            segregation_codes: &codes,
        };
        // A pattern that takes some IUVs starting with 09.
        let w = overlap(&pattern("^0[0-9]{16}$"), &by_code)
            .unwrap()
            .unwrap();
        assert!(w.starts_with("09") && w.len() == 17, "{w}");
        // Searched, not anchored: "55" anywhere.
        let w = overlap(&pattern("55"), &pattern("^1[0-9]{14}$"))
            .unwrap()
            .unwrap();
        assert!(
            w.contains("55") && w.starts_with('1') && w.len() == 15,
            "{w}"
        );
        assert!(overlap(&by_code, &by_code).unwrap().is_some());
    }

    #[test]
    fn disjoint_claims_are_proved_disjoint() {
        let (nine, ten) = (["09".to_string()], ["10".to_string()]);
        let a = Claim {
            pattern: None,
            segregation_codes: &nine,
        };
        let b = Claim {
            pattern: None,
            segregation_codes: &ten,
        };
        assert_eq!(overlap(&a, &b).unwrap(), None);
        assert_eq!(overlap(&pattern("^77"), &pattern("^78")).unwrap(), None);
        // 15 digits only against 17 digits only.
        assert_eq!(
            overlap(&pattern(r"^\d{15}$"), &pattern(r"^\d{17}$")).unwrap(),
            None
        );
        // A pattern no IUV can match.
        assert_eq!(overlap(&pattern("[a-z]"), &pattern(".")).unwrap(), None);
        assert_eq!(overlap(&Claim::default(), &pattern(".")).unwrap(), None);
    }
}
