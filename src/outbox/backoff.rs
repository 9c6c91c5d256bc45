//! The retry schedule: capped exponential backoff with jitter, as a pure function.

use std::time::Duration;

/// Delay before attempt `attempt + 1`, after `attempt` failed ones (attempt ≥ 1):
/// `base · 2^(attempt-1)`, capped at `cap`, then spread by ±`jitter` (a fraction, 0..1) using
/// `random` (uniform in 0..1) so that many receipts failing together do not retry together.
pub fn delay(attempt: u32, base: Duration, cap: Duration, jitter: f64, random: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let raw = base.saturating_mul(1u32 << exp.min(31)).min(cap);
    let spread = (random.clamp(0.0, 1.0) * 2.0 - 1.0) * jitter.clamp(0.0, 1.0);
    raw.mul_f64(1.0 + spread).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_from_base_up_to_the_cap() {
        let d = |n| delay(n, S(30), S(3600), 0.0, 0.5);
        assert_eq!([d(1), d(2), d(3), d(4)], [S(30), S(60), S(120), S(240)]);
        assert_eq!(d(7), S(1920));
        assert_eq!(d(8), S(3600));
        assert_eq!(d(1000), S(3600));
    }

    #[test]
    fn jitter_stays_within_its_band_and_under_the_cap() {
        for r in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let v = delay(3, S(30), S(3600), 0.2, r);
            assert!(v >= S(96) && v <= S(144), "{v:?}");
            assert!(delay(20, S(30), S(3600), 0.2, r) <= S(3600));
        }
        assert_eq!(delay(3, S(30), S(3600), 0.2, 0.0), S(96));
        assert_eq!(delay(3, S(30), S(3600), 0.2, 1.0), S(144));
    }
}
