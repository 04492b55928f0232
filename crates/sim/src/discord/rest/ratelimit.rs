//! Discord's REST rate limits: fixed-window per-route buckets keyed by route and major
//! parameter, plus a global per-second limit.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};

/// Length of the global window.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);
/// Bucket count above which expired buckets are dropped.
const GC_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
    length: Duration,
}

impl Window {
    fn new(now: Instant, length: Duration) -> Self {
        Self {
            started: now,
            count: 0,
            length,
        }
    }

    fn refresh(&mut self, now: Instant, length: Duration) {
        if now >= self.started + self.length || length != self.length {
            *self = Self::new(now, length);
        }
    }

    fn reset_after(&self, now: Instant) -> Duration {
        (self.started + self.length).saturating_duration_since(now)
    }
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, Window>,
    global: Option<Window>,
}

/// What a bucket looked like when a request was checked.
#[derive(Debug, Clone)]
pub(super) struct BucketInfo {
    /// Opaque per-route hash (`X-RateLimit-Bucket`).
    pub(super) bucket: String,
    /// Requests per window.
    pub(super) limit: u32,
    /// Requests left in the window after this one.
    pub(super) remaining: u32,
    /// Time until the window resets.
    pub(super) reset_after: Duration,
}

/// The limiter's verdict.
#[derive(Debug, Clone)]
pub(super) enum Decision {
    /// Go ahead; answer with these headers.
    Allowed(BucketInfo),
    /// The route bucket is exhausted.
    Route(BucketInfo, Duration),
    /// The global limit is exhausted.
    Global(BucketInfo, Duration),
}

/// What one request asks of the limiter.
#[derive(Debug, Clone)]
pub(super) struct Check<'a> {
    /// `METHOD template` of the route.
    pub(super) route: &'a str,
    /// The major parameter value.
    pub(super) major: &'a str,
    /// Route bucket limit and window.
    pub(super) limit: u32,
    pub(super) window: Duration,
    /// Global per-second limit, if this route counts towards it.
    pub(super) global: Option<u32>,
}

/// The bucket and global counters.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    state: Mutex<State>,
}

impl Limiter {
    /// Checks and, when allowed, consumes one request from the bucket and the global window.
    pub(super) fn check(&self, check: &Check<'_>) -> Decision {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.buckets.len() > GC_THRESHOLD {
            state.buckets.retain(|_, w| now < w.started + w.length);
        }
        let bucket = bucket_hash(check.route);
        let key = format!("{bucket}:{}", check.major);
        let limit = check.limit.max(1);
        let mut window = *state
            .buckets
            .entry(key.clone())
            .or_insert_with(|| Window::new(now, check.window));
        window.refresh(now, check.window);
        let info = |w: &Window| BucketInfo {
            bucket: bucket.clone(),
            limit,
            remaining: limit.saturating_sub(w.count),
            reset_after: w.reset_after(now),
        };
        if let Some(per_second) = check.global {
            let global = state
                .global
                .get_or_insert_with(|| Window::new(now, GLOBAL_WINDOW));
            global.refresh(now, GLOBAL_WINDOW);
            if global.count >= per_second.max(1) {
                let retry = global.reset_after(now);
                state.buckets.insert(key, window);
                return Decision::Global(info(&window), retry);
            }
        }
        if window.count >= limit {
            state.buckets.insert(key, window);
            return Decision::Route(info(&window), window.reset_after(now));
        }
        window.count += 1;
        if check.global.is_some()
            && let Some(global) = state.global.as_mut()
        {
            global.count += 1;
        }
        state.buckets.insert(key, window);
        Decision::Allowed(info(&window))
    }

    /// Number of buckets currently tracked.
    pub(super) fn bucket_count(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }

    /// Forgets every bucket and the global window.
    pub(super) fn clear(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = State::default();
    }
}

/// Length of Discord's invalid-request window.
const INVALID_WINDOW: Duration = Duration::from_secs(600);

/// Discord's invalid-request counter (401, 403 and 429 answers in the last 10 minutes) and the
/// Cloudflare ban it leads to.
#[derive(Debug, Default)]
pub(super) struct InvalidCounter {
    answers: Mutex<std::collections::VecDeque<Instant>>,
}

impl InvalidCounter {
    /// Counts `status` if Discord would.
    pub(super) fn note(&self, status: u16) {
        if matches!(status, 401 | 403 | 429) {
            self.lock().push_back(Instant::now());
        }
    }

    /// Invalid answers in the last 10 minutes.
    pub(super) fn count(&self) -> usize {
        let mut answers = self.lock();
        let now = Instant::now();
        while answers
            .front()
            .is_some_and(|at| now.duration_since(*at) >= INVALID_WINDOW)
        {
            answers.pop_front();
        }
        answers.len()
    }

    /// Forgets every answer.
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Instant>> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An opaque, stable 32-hex-digit hash of a route template (same for every major parameter).
pub(super) fn bucket_hash(route: &str) -> String {
    let fnv = |seed: u64| {
        route.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// Seconds with millisecond decimals, as Discord writes them.
fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Adds the `X-RateLimit-*` headers of a bucket.
///
/// `X-RateLimit-Scope: user` is sent on every limited response, not only on 429s: Discord's
/// documentation lists it for 429s, but twilight-http 0.18 only reads bucket headers when the
/// scope header is present.
pub(super) fn bucket_headers(headers: &mut HeaderMap, info: &BucketInfo) {
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .saturating_add(info.reset_after);
    insert(headers, "x-ratelimit-limit", &info.limit.to_string());
    insert(
        headers,
        "x-ratelimit-remaining",
        &info.remaining.to_string(),
    );
    insert(headers, "x-ratelimit-reset", &secs(reset_at));
    insert(headers, "x-ratelimit-reset-after", &secs(info.reset_after));
    insert(headers, "x-ratelimit-bucket", &info.bucket);
    insert(headers, "x-ratelimit-scope", "user");
}

/// Adds the 429-only headers: `Retry-After` (whole seconds, rounded up), the scope and, for
/// global limits, `X-RateLimit-Global`.
pub(super) fn limited_headers(headers: &mut HeaderMap, retry_after: Duration, global: bool) {
    let whole = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    insert(headers, "retry-after", &whole.max(1).to_string());
    if global {
        insert(headers, "x-ratelimit-global", "true");
        insert(headers, "x-ratelimit-scope", "global");
    } else {
        insert(headers, "x-ratelimit-scope", "user");
    }
}

/// The rate-limit body's `retry_after`: seconds, millisecond precision, never 0.
pub(super) fn retry_after_secs(retry_after: Duration) -> f64 {
    let ms = u32::try_from(retry_after.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    f64::from(ms) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limiter: &Limiter, major: &str, global: Option<u32>) -> Decision {
        limiter.check(&Check {
            route: "POST channels/{channel_id}/messages",
            major,
            limit: 2,
            window: Duration::from_secs(60),
            global,
        })
    }

    #[test]
    fn buckets_are_per_major_parameter() {
        let limiter = Limiter::default();
        assert!(matches!(check(&limiter, "1", None), Decision::Allowed(ref i) if i.remaining == 1));
        assert!(matches!(check(&limiter, "1", None), Decision::Allowed(ref i) if i.remaining == 0));
        assert!(matches!(check(&limiter, "1", None), Decision::Route(_, _)));
        assert!(matches!(check(&limiter, "2", None), Decision::Allowed(_)));
    }

    #[test]
    fn invalid_answers_are_counted() {
        let counter = InvalidCounter::default();
        for status in [200, 401, 403, 404, 429] {
            counter.note(status);
        }
        assert_eq!(counter.count(), 3);
        counter.clear();
        assert_eq!(counter.count(), 0);
    }

    #[test]
    fn global_limit_counts_every_route() {
        let limiter = Limiter::default();
        assert!(matches!(
            check(&limiter, "1", Some(2)),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            check(&limiter, "2", Some(2)),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            check(&limiter, "3", Some(2)),
            Decision::Global(_, _)
        ));
        assert_eq!(bucket_hash("a").len(), 32);
        assert_ne!(bucket_hash("a"), bucket_hash("b"));
    }
}
