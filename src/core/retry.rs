//! Retry timing shared by the state machines: exponential backoff with jitter, `Retry-After`
//! honoured, and whether a pause still fits a deadline. Pure: the jitter source is a seeded
//! xorshift, so every schedule is reproducible under test. Never sleeps or reads a clock.

/// Exponential backoff: `base << attempt`, capped, of which half is fixed and half is jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    rng: u64,
}

impl Backoff {
    /// `seed` feeds the jitter; any value works (zero is made odd).
    pub fn new(base_ms: u64, cap_ms: u64, seed: u64) -> Self {
        Backoff { base_ms, cap_ms, rng: seed | 1 }
    }

    /// The pause before retry number `attempt` (0 for the first retry): `Retry-After` when the
    /// server gave one, else between half and all of `min(base << attempt, cap)`.
    pub fn delay(&mut self, attempt: u32, retry_after_ms: Option<u64>) -> u64 {
        let backoff = self.base_ms.saturating_mul(1 << attempt.min(16)).min(self.cap_ms);
        let jitter = self.next_random() % (backoff / 2 + 1);
        retry_after_ms.unwrap_or(backoff / 2 + jitter)
    }

    /// xorshift64: plenty for jitter, and deterministic under test.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// Whether waiting `wait_ms` from `now_ms` still leaves `margin_ms` for the request itself
/// before `deadline_at_ms`.
pub fn fits(now_ms: u64, wait_ms: u64, margin_ms: u64, deadline_at_ms: u64) -> bool {
    now_ms.saturating_add(wait_ms).saturating_add(margin_ms) < deadline_at_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(250, 2_000, 7);
        for (attempt, full) in [(0, 250), (1, 500), (2, 1_000), (3, 2_000), (9, 2_000)] {
            let d = b.delay(attempt, None);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} not in [{}, {full}]", full / 2);
        }
    }

    #[test]
    fn retry_after_wins_and_schedules_repeat_per_seed() {
        assert_eq!(Backoff::new(250, 2_000, 1).delay(0, Some(3_000)), 3_000);
        let run = |seed| {
            let mut b = Backoff::new(100, 10_000, seed);
            (0..6).map(|a| b.delay(a, None)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(44));
    }

    #[test]
    fn deadline_fit_keeps_a_margin() {
        assert!(fits(1_000, 100, 50, 1_151));
        assert!(!fits(1_000, 100, 50, 1_150));
        assert!(!fits(u64::MAX - 1, 100, 50, u64::MAX));
    }
}
