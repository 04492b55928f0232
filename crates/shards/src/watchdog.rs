//! Heartbeat ACK tracking for the watchdog.
//!
//! twilight's `Latency` only tells when the *latest* heartbeat was sent and whether *it* was
//! acknowledged; every new heartbeat resets both. A zombied connection (Discord stopped
//! acknowledging, dispatches may still arrive, so twilight's own check does not fire) therefore
//! never shows a heartbeat older than one interval. [`AckWatch`] remembers since when
//! heartbeats have gone unacknowledged, across heartbeats.

use std::time::{Duration, Instant};

/// Since when the heartbeats of one connection have gone unacknowledged.
#[derive(Debug, Default)]
pub(crate) struct AckWatch {
    /// `Latency::periods` at the previous observation (completed heartbeat round trips).
    periods: u32,
    /// When the oldest heartbeat still without an ACK was sent.
    unacked_since: Option<Instant>,
    /// Time before this does not count (the process did not run then, see [`Self::restart`]).
    not_before: Option<Instant>,
}

impl AckWatch {
    /// Observes the shard's latency (`Latency::periods`, `sent`, `received`) and returns for
    /// how long heartbeats have gone unacknowledged (zero when the latest one was).
    pub(crate) fn observe(
        &mut self,
        periods: u32,
        sent: Option<Instant>,
        received: Option<Instant>,
    ) -> Duration {
        if sent.is_none() {
            // A new connection (twilight resets its latency) that has not heartbeated yet.
            *self = Self::default();
            return Duration::ZERO;
        }
        if periods != self.periods {
            // An ACK arrived since the last look: only the current heartbeat may be pending.
            self.periods = periods;
            self.unacked_since = None;
        }
        if received.is_none() {
            self.unacked_since = self.unacked_since.or(sent);
        } else {
            self.unacked_since = None;
        }
        self.unacked_since
            .map(|since| self.not_before.map_or(since, |floor| since.max(floor)))
            .map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Counts only from now on: the process did not run for a while (frozen, suspended), so
    /// the ACKs that arrived meanwhile are still unread in the socket.
    pub(crate) fn restart(&mut self) {
        self.not_before = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unacknowledged_time_spans_several_heartbeats() {
        let mut watch = AckWatch::default();
        let start = Instant::now().checked_sub(Duration::from_secs(10)).unwrap();
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(watch.observe(0, None, None), Duration::ZERO);
        // Heartbeat at 0 s acknowledged.
        assert_eq!(watch.observe(1, Some(at(0)), Some(at(0))), Duration::ZERO);
        // Heartbeats at 2, 4, 6 s: none acknowledged, each resets twilight's `sent`.
        assert!(watch.observe(1, Some(at(2)), None) >= Duration::from_secs(8));
        assert!(watch.observe(1, Some(at(4)), None) >= Duration::from_secs(8));
        assert!(watch.observe(1, Some(at(6)), None) >= Duration::from_secs(8));
        // An ACK, then a new heartbeat before the next look: only that one is pending.
        let pending = watch.observe(2, Some(at(8)), None);
        assert!(pending < Duration::from_secs(3), "{pending:?}");
        // A reconnect resets twilight's latency.
        assert_eq!(watch.observe(0, None, None), Duration::ZERO);
        let fresh = watch.observe(0, Some(Instant::now()), None);
        assert!(fresh < Duration::from_secs(1));
    }

    #[test]
    fn time_the_process_did_not_run_does_not_count() {
        let mut watch = AckWatch::default();
        let frozen_at = Instant::now().checked_sub(Duration::from_secs(40)).unwrap();
        assert!(watch.observe(1, Some(frozen_at), None) >= Duration::from_secs(40));
        watch.restart();
        let after = watch.observe(1, Some(frozen_at), None);
        assert!(after < Duration::from_secs(1), "{after:?}");
        // Still unacknowledged later: counted from the restart.
        assert_eq!(
            watch.observe(1, Some(frozen_at), Some(Instant::now())),
            Duration::ZERO
        );
    }
}
