//! The REST simulator's counters, rate-limit buckets and armed faults ([`RestState`]), and their
//! snapshot for the control API ([`RestStats`]).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ratelimit::{self, Limiter};
use crate::discord::RestFault;

/// Counters and rate-limit buckets of the REST simulator.
#[derive(Debug, Default)]
pub struct RestState {
    pub(super) limiter: Limiter,
    pub(super) requests: AtomicU64,
    pub(super) succeeded: AtomicU64,
    pub(super) client_errors: AtomicU64,
    pub(super) unauthorized: AtomicU64,
    pub(super) rate_limited_route: AtomicU64,
    pub(super) rate_limited_global: AtomicU64,
    pub(super) invalid: ratelimit::InvalidCounter,
    pub(super) cloudflare_banned: AtomicU64,
    /// Armed one-shot faults (see [`RestFault`]).
    faults: std::sync::Mutex<Vec<RestFault>>,
}

/// A snapshot of the REST counters, for the control API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestStats {
    /// Requests received (every status).
    pub requests: u64,
    /// Requests answered with a 2xx status.
    pub succeeded: u64,
    /// Requests answered with a 4xx status other than 401 and 429.
    pub client_errors: u64,
    /// Requests answered with 401.
    pub unauthorized: u64,
    /// 429s from a per-route bucket.
    pub rate_limited_route: u64,
    /// 429s from the global limit.
    pub rate_limited_global: u64,
    /// Rate-limit buckets currently tracked.
    pub buckets: usize,
    /// 401, 403 and 429 answers in the last 10 minutes (Discord's invalid-request counter).
    #[serde(default)]
    pub invalid_requests: usize,
    /// Requests refused by the simulated Cloudflare ban.
    #[serde(default)]
    pub cloudflare_banned: u64,
}

impl RestState {
    /// The counters so far.
    pub fn stats(&self) -> RestStats {
        RestStats {
            requests: self.requests.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            client_errors: self.client_errors.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            rate_limited_route: self.rate_limited_route.load(Ordering::Relaxed),
            rate_limited_global: self.rate_limited_global.load(Ordering::Relaxed),
            buckets: self.limiter.bucket_count(),
            invalid_requests: self.invalid.count(),
            cloudflare_banned: self.cloudflare_banned.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters and empties every rate-limit bucket.
    pub fn reset(&self) {
        self.limiter.clear();
        self.invalid.clear();
        for counter in [
            &self.cloudflare_banned,
            &self.requests,
            &self.succeeded,
            &self.client_errors,
            &self.unauthorized,
            &self.rate_limited_route,
            &self.rate_limited_global,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Arms a one-shot fault (added to those still armed).
    pub fn add_fault(&self, fault: RestFault) {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(fault);
    }

    /// Uses up one matching armed fault, if any: the status to answer with.
    pub(super) fn take_fault(&self, method: &str, path: &str) -> Option<StatusCode> {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = faults
            .iter()
            .position(|f| f.count > 0 && f.matches(method, path))?;
        let fault = &mut faults[index];
        fault.count -= 1;
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
        faults.retain(|f| f.count > 0);
        Some(status)
    }

    pub(super) fn count(&self, status: StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.invalid.note(status.as_u16());
        let counter = match status.as_u16() {
            200..=299 => &self.succeeded,
            401 => &self.unauthorized,
            429 => return,
            400..=499 => &self.client_errors,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
