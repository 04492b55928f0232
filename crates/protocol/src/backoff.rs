//! [`Backoff`]: the one retry delay policy of every swarmcord loop that waits for a service
//! to come back (reconnects, Redis retries, start-up waits).
//!
//! The delay starts at `initial`, doubles after every failure up to `max`, may get a random
//! extra of up to `jitter` (so that replicas do not retry in lockstep), and goes back to
//! `initial` with [`Backoff::reset`] as soon as an attempt succeeded: a loop that forgets to
//! reset waits the maximum after every later failure, however long things went well.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Growing delays between attempts (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: Duration,
    current: Duration,
}

impl Backoff {
    /// Delays from `initial`, doubling up to `max`, without jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Self {
            initial,
            max,
            jitter: Duration::ZERO,
            current: initial,
        }
    }

    /// Adds a random extra of up to `jitter` to every delay.
    #[must_use]
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay to wait before the next attempt (plus jitter); the one after it doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = self.current.saturating_mul(2).min(self.max);
        delay + random_up_to(self.jitter)
    }

    /// The delay [`Self::next_delay`] returns next, without jitter.
    pub fn peek(&self) -> Duration {
        self.current
    }

    /// Back to the initial delay (call it after every success).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// A random duration in `0..=max` (millisecond resolution), without a random-number crate:
/// `RandomState` is seeded randomly per process and the counter varies every call.
fn random_up_to(max: Duration) -> Duration {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    Duration::from_millis(hasher.finish() % max_ms.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_maximum() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        let delays: Vec<Duration> = (0..6).map(|_| backoff.next_delay()).collect();
        assert_eq!(
            delays,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
    }

    #[test]
    fn reset_goes_back_to_the_initial_delay() {
        let mut backoff = Backoff::new(250 * MS, 10_000 * MS);
        for _ in 0..10 {
            backoff.next_delay();
        }
        assert_eq!(backoff.peek(), 10_000 * MS);
        backoff.reset();
        assert_eq!(backoff.next_delay(), 250 * MS);
        assert_eq!(backoff.next_delay(), 500 * MS);
    }

    #[test]
    fn an_initial_delay_above_the_maximum_is_capped() {
        let mut backoff = Backoff::new(5000 * MS, 1000 * MS);
        assert_eq!(backoff.next_delay(), 1000 * MS);
        backoff.reset();
        assert_eq!(backoff.next_delay(), 1000 * MS);
    }

    #[test]
    fn jitter_stays_within_its_bound_and_varies() {
        let mut backoff = Backoff::new(50 * MS, 50 * MS).with_jitter(50 * MS);
        let delays: Vec<Duration> = (0..200).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|d| (50 * MS..=100 * MS).contains(d)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "{} distinct delays", distinct.len());
    }

    #[test]
    fn huge_delays_saturate_instead_of_overflowing() {
        let mut backoff = Backoff::new(Duration::MAX / 2 + MS, Duration::MAX);
        backoff.next_delay();
        assert_eq!(backoff.next_delay(), Duration::MAX);
    }
}
