//! What one replica remembers between requests, so that most requests need at most one Redis
//! round trip, and none at all on routes without a bucket when the global limit is large.
//!
//! - **Routes.** The last state of each route's `route` hash that Redis reported (limit, window,
//!   bucket, time to live). A response whose headers say what Redis already knows taught nothing:
//!   [`Local::taught_nothing`] lets the limiter skip the LEARN script.
//! - **Global leases.** With a global limit large enough ([`lease_cap`] ≥ 2), a request that
//!   reserves its global slot reserves `k` slots at once, all valid from the reserved send time
//!   for [`LEASE`]; the replica hands the other `k − 1` to the next requests of the same token:
//!   no Redis round trip on routes known to have no bucket, only the bucket's turn on the others
//!   (see `Limiter::acquire`). In the shared global log those
//!   slots are recorded at the lease's *end*, so every other reservation (any replica) counts
//!   them in every window they could fall in: the cluster-wide limit holds exactly, at the cost
//!   of each leased slot occupying the log [`LEASE`] longer. `k` follows demand: doubled when a
//!   lease ran out before its end, else the number actually used, so idle replicas lease 1.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long leased global slots stay usable.
pub(crate) const LEASE: Duration = Duration::from_millis(20);
/// Most global slots reserved at once.
const MAX_LEASE: u32 = 1000;
/// How long a route's state may be trusted to send without asking Redis.
const ROUTE_FRESH: Duration = Duration::from_secs(1);
/// A route hash with less time to live than this is refreshed by LEARN even when nothing changed.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// Routes remembered at most (beyond, the memory starts afresh).
const MAX_ROUTES: usize = 10_000;

/// The largest lease under `global_per_second` (with `window_ms`, margin included): the slots of
/// [`LEASE`], so a lease never holds more than that share of the budget (1: leasing off).
pub(crate) fn lease_cap(global_per_second: u32, window_ms: u64) -> u32 {
    let share = u64::from(global_per_second) * u64::try_from(LEASE.as_millis()).unwrap_or(0)
        / window_ms.max(1);
    u32::try_from(share)
        .unwrap_or(MAX_LEASE)
        .clamp(1, MAX_LEASE)
}

/// A route's hash as Redis reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    /// Requests per window (0: the route has no bucket).
    pub(crate) limit: u32,
    /// Window in milliseconds.
    pub(crate) window_ms: u64,
    /// Discord's bucket id.
    pub(crate) bucket: String,
    /// When Redis reported it.
    pub(crate) seen: Instant,
    /// When the hash expires in Redis.
    pub(crate) expires: Instant,
}

#[derive(Debug)]
struct Lease {
    left: u32,
    size: u32,
    used: u32,
    start: Instant,
    end: Instant,
}

/// The replica's memory (shared by its requests).
#[derive(Debug, Default)]
pub(crate) struct Local {
    routes: Mutex<HashMap<String, Known>>,
    leases: Mutex<HashMap<String, Lease>>,
    /// Held while a lease is being renewed, so that one request renews it and the others wait.
    pub(crate) refill: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Local {
    /// Remembers what Redis reported about the route hash `meta`.
    pub(crate) fn note_route(&self, meta: &str, known: Known) {
        let mut routes = lock(&self.routes);
        if routes.len() >= MAX_ROUTES && !routes.contains_key(meta) {
            routes.clear();
        }
        routes.insert(meta.to_owned(), known);
    }

    /// Forgets the route hash `meta` (it changed).
    pub(crate) fn forget_route(&self, meta: &str) {
        lock(&self.routes).remove(meta);
    }

    /// Whether the route hash `meta` is known, recently, to have no bucket.
    pub(crate) fn unlimited(&self, meta: &str, now: Instant) -> bool {
        lock(&self.routes)
            .get(meta)
            .is_some_and(|k| k.limit == 0 && now.saturating_duration_since(k.seen) < ROUTE_FRESH)
    }

    /// Whether LEARN would change nothing: not a probe, a success, headers equal to the known
    /// state (or absent on a route known to have none), the bucket not exhausted, and the hash
    /// not about to expire.
    pub(crate) fn taught_nothing(
        &self,
        meta: &str,
        status: u16,
        bucket: Option<&(u32, u32, u64, String)>,
        probe: bool,
        now: Instant,
    ) -> bool {
        if probe || status >= 400 {
            return false;
        }
        let routes = lock(&self.routes);
        let Some(known) = routes.get(meta) else {
            return false;
        };
        if known.expires.saturating_duration_since(now) < REFRESH_BEFORE {
            return false;
        }
        match bucket {
            None => known.limit == 0,
            Some((limit, remaining, reset_after, id)) => {
                *remaining > 0
                    && *limit == known.limit
                    && *reset_after <= known.window_ms
                    && *id == known.bucket
            }
        }
    }

    /// Takes one leased global slot of `global` (the token's global log key) usable at `now`;
    /// returns when it may be sent: not before the first instant, not after the second.
    pub(crate) fn take(&self, global: &str, now: Instant) -> Option<(Instant, Instant)> {
        let mut leases = lock(&self.leases);
        let lease = leases.get_mut(global)?;
        if lease.left == 0 || now > lease.end {
            return None;
        }
        lease.left -= 1;
        lease.used += 1;
        Some((lease.start, lease.end))
    }

    /// Returns an unused slot taken from the lease of `global` starting at `start` (if that
    /// lease is still the current one; otherwise the slot stays unused, which is safe).
    pub(crate) fn give_back(&self, global: &str, start: Instant) {
        if let Some(lease) = lock(&self.leases).get_mut(global)
            && lease.start == start
            && lease.used > 0
        {
            lease.left += 1;
            lease.used -= 1;
        }
    }

    /// How many slots the next reservation of `global` should take, at most `cap`.
    pub(crate) fn want(&self, global: &str, now: Instant, cap: u32) -> u32 {
        let leases = lock(&self.leases);
        let size = match leases.get(global) {
            None => 1,
            Some(lease) if lease.left == 0 && now <= lease.end => lease.size.saturating_mul(2),
            Some(lease) => lease.used,
        };
        size.clamp(1, cap)
    }

    /// Records a reservation of `size` slots of `global`, one of them used by the caller, usable
    /// from `start` until `end`.
    pub(crate) fn lease(&self, global: &str, size: u32, start: Instant, end: Instant) {
        let mut leases = lock(&self.leases);
        if leases.len() >= MAX_ROUTES && !leases.contains_key(global) {
            leases.clear();
        }
        leases.insert(
            global.to_owned(),
            Lease {
                left: size.saturating_sub(1),
                size,
                used: 1,
                start,
                end,
            },
        );
    }

    /// Drops the leased slots of `global` (a 401 or a global 429: stop at once).
    pub(crate) fn revoke(&self, global: &str) {
        if let Some(lease) = lock(&self.leases).get_mut(global) {
            lease.left = 0;
            lease.end = lease.start.min(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(limit: u32, ttl: Duration) -> Known {
        let now = Instant::now();
        Known {
            limit,
            window_ms: 5000,
            bucket: "abc".to_owned(),
            seen: now,
            expires: now + ttl,
        }
    }

    #[test]
    fn leasing_needs_a_large_global_limit() {
        assert_eq!(lease_cap(50, 1050), 1);
        assert_eq!(lease_cap(1000, 1050), 19);
        assert_eq!(lease_cap(1_000_000, 1050), MAX_LEASE);
    }

    #[test]
    fn only_responses_repeating_the_known_state_skip_learning() {
        let local = Local::default();
        let now = Instant::now();
        let same = (5, 3, 4000, "abc".to_owned());
        assert!(!local.taught_nothing("r", 200, Some(&same), false, now));
        local.note_route("r", known(5, Duration::from_secs(3600)));
        assert!(local.taught_nothing("r", 200, Some(&same), false, now));
        assert!(!local.taught_nothing("r", 200, Some(&same), true, now));
        assert!(!local.taught_nothing("r", 429, Some(&same), false, now));
        assert!(!local.taught_nothing("r", 403, None, false, now));
        for changed in [
            (5, 0, 4000, "abc".to_owned()),
            (6, 3, 4000, "abc".to_owned()),
            (5, 3, 6000, "abc".to_owned()),
            (5, 3, 4000, "other".to_owned()),
        ] {
            assert!(!local.taught_nothing("r", 200, Some(&changed), false, now));
        }
        assert!(!local.taught_nothing("r", 200, None, false, now));
        local.note_route("r", known(0, Duration::from_secs(600)));
        assert!(local.taught_nothing("r", 200, None, false, now));
        assert!(local.unlimited("r", now));
        assert!(!local.unlimited("r", now + ROUTE_FRESH * 2));
        local.note_route("r", known(0, Duration::from_secs(200)));
        assert!(!local.taught_nothing("r", 200, None, false, now));
        local.forget_route("r");
        assert!(!local.unlimited("r", now));
    }

    #[test]
    fn leases_follow_demand_and_expire() {
        let local = Local::default();
        let now = Instant::now();
        assert_eq!(local.want("g", now, 100), 1);
        local.lease("g", 1, now, now + LEASE);
        assert_eq!(local.take("g", now), None);
        assert_eq!(local.want("g", now, 100), 2, "ran out before its end");
        local.lease("g", 4, now, now + LEASE);
        assert_eq!(local.take("g", now), Some((now, now + LEASE)));
        local.give_back("g", now);
        assert_eq!(local.take("g", now), Some((now, now + LEASE)));
        assert_eq!(local.take("g", now + LEASE * 2), None, "expired");
        assert_eq!(local.want("g", now + LEASE * 2, 100), 2, "the two used");
        assert!(local.take("g", now).is_some());
        assert!(local.take("g", now).is_some());
        assert_eq!(local.take("g", now), None, "all four used");
        assert_eq!(local.want("g", now, 100), 8);
        assert_eq!(local.want("g", now, 3), 3, "capped");
        local.lease("g", 3, now, now + LEASE);
        local.revoke("g");
        assert_eq!(local.take("g", now), None);
    }
}
