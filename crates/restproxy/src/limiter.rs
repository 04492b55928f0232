//! The limits every proxy replica shares, kept in Redis and changed only by Lua scripts (each
//! decision is atomic and costs one round trip).
//!
//! - **Reservations in sliding logs.** The global limit (per bot token) and each learnt route
//!   bucket (per token, route and major parameter) are sorted sets of send times. A request
//!   reserves the earliest time at which every window of the limit's length holds at most
//!   `limit` sends, counting the reservations already made by any replica; it then sleeps until
//!   that time and sends. Discord's windows are fixed but start whenever the first request
//!   arrives, so "at most `limit` in *any* window" (plus a margin for network jitter) is what
//!   guarantees zero 429s. Times come from Redis (`TIME`), one clock for every replica.
//! - **Learning.** A route's limit and window come from the `X-RateLimit-Limit` and
//!   `X-RateLimit-Reset-After` headers; until a route is known, one request at a time probes it.
//!   `X-RateLimit-Remaining: 0` and real 429s block the bucket (or, for a global 429, the token)
//!   until Discord's reset. A response repeating what Redis already knows skips LEARN.
//! - **Leases.** With a large global limit, global slots are reserved several at a time and
//!   handed out by the replica (see [`crate::lease`]); a leased slot is logged at the lease's
//!   end, the latest time it can be sent, so the log stays exact for every other reservation.
//! - **Invalid requests.** 401, 403 and 429 (except `X-RateLimit-Scope: shared`) responses go into
//!   one cluster-wide sorted set covering the last 10 minutes; a bucket that produced one is
//!   marked suspect, and suspect buckets are refused while the count is above the threshold. A
//!   401 opens the token's circuit breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;

use crate::lease::{self, Known, Local};

/// A bucket's turn taken with a leased global slot must fall this long before the lease ends
/// (the round trip to Redis and the timer's tick).
const SLACK: Duration = Duration::from_millis(3);

/// Length of Discord's invalid-request window.
pub const INVALID_WINDOW: Duration = Duration::from_secs(600);

const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local glimit, gwindow = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxwait, member, margin = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local probe_ttl, threshold, use_global = ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1'
local breaker = redis.call('PTTL', KEYS[6])
if breaker > 0 then return {{3, breaker}, ''} end
if threshold > 0 and redis.call('EXISTS', KEYS[8]) == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - 600000)
  if redis.call('ZCARD', KEYS[7]) >= threshold then return {{4, 0}, ''} end
end
local count, lease = tonumber(ARGV[9]), tonumber(ARGV[10])
local function slot(key, limit, window, at, k)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n + k <= limit then return at end
  local e = redis.call('ZRANGE', key, n - limit + k - 1, n - limit + k - 1, 'WITHSCORES')
  local s = tonumber(e[2]) + window
  if s > at then return s end
  return at
end
local at = now + tonumber(ARGV[11])
if use_global then
  local blocked = redis.call('PTTL', KEYS[5])
  if blocked > 0 then at = now + blocked end
  at = slot(KEYS[1], glimit, gwindow, at, count)
end
local meta = redis.call('HMGET', KEYS[3], 'limit', 'window', 'bucket')
local limit, window = tonumber(meta[1]), tonumber(meta[2])
local probing = 0
if limit == nil then
  if not redis.call('SET', KEYS[4], member, 'NX', 'PX', probe_ttl) then return {{2, 20}, ''} end
  probing = 1
elseif limit > 0 then
  local blocked = redis.call('PTTL', KEYS[9])
  if blocked > 0 and now + blocked > at then at = now + blocked end
  at = slot(KEYS[2], limit, window + margin, at, 1)
end
if at - now > maxwait then
  if probing == 1 then redis.call('DEL', KEYS[4]) end
  return {{1, at - now}, ''}
end
if use_global then
  if count == 1 then
    redis.call('ZADD', KEYS[1], at + lease, member)
  else
    local entries = {}
    for i = 1, count do
      entries[2 * i - 1] = at + lease
      entries[2 * i] = member .. ':' .. i
    end
    redis.call('ZADD', KEYS[1], unpack(entries))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(glimit + 1))
  redis.call('PEXPIRE', KEYS[1], at - now + lease + gwindow)
end
if limit ~= nil and limit > 0 then
  redis.call('ZADD', KEYS[2], at, member)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(limit + 1))
  redis.call('PEXPIRE', KEYS[2], at - now + window + margin)
elseif probing == 1 then
  redis.call('ZADD', KEYS[2], at, member)
  redis.call('PEXPIRE', KEYS[2], 3600000)
end
return {{0, at - now, probing, limit or -1, window or 0, redis.call('PTTL', KEYS[3])}, meta[3] or ''}
";

const LEARN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local status, has_headers = tonumber(ARGV[1]), ARGV[2] == '1'
local limit, remaining, reset_after = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local invalid, breaker_ms, scope = ARGV[7] == '1', tonumber(ARGV[8]), ARGV[9]
local retry_after, margin = tonumber(ARGV[10]), tonumber(ARGV[11])
if has_headers then
  local window = tonumber(redis.call('HGET', KEYS[1], 'window') or '0') or 0
  if reset_after > window then window = reset_after end
  redis.call('HSET', KEYS[1], 'limit', limit, 'window', window, 'bucket', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], 3600000)
  if remaining == 0 and reset_after > 0 then
    redis.call('SET', KEYS[7], 1, 'PX', reset_after + margin)
  end
elseif status < 400 then
  redis.call('HSET', KEYS[1], 'limit', 0, 'window', 0)
  redis.call('PEXPIRE', KEYS[1], 600000)
end
if redis.call('GET', KEYS[2]) == ARGV[12] then redis.call('DEL', KEYS[2]) end
if status == 429 and retry_after > 0 then
  if scope == 'global' then
    redis.call('SET', KEYS[6], 1, 'PX', retry_after + margin)
  else
    redis.call('SET', KEYS[7], 1, 'PX', retry_after + margin)
  end
end
if status == 401 and breaker_ms > 0 then
  redis.call('SET', KEYS[5], 1, 'PX', breaker_ms)
end
if invalid then
  redis.call('ZADD', KEYS[3], now, ARGV[12] .. ':' .. now)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 600000)
  redis.call('PEXPIRE', KEYS[3], 600000)
  redis.call('SET', KEYS[4], 1, 'PX', 600000)
end
return redis.call('ZCOUNT', KEYS[3], now - 600000, '+inf')
";

/// Limits of the shared limiter.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per second per token (Discord: 50).
    pub global_per_second: u32,
    /// Added to every window, for the spread of network latency.
    pub margin: Duration,
    /// How long the first request of an unknown route may hold its probe.
    pub probe_ttl: Duration,
    /// Invalid responses in 10 minutes above which suspect buckets are refused (0: never).
    pub invalid_threshold: u64,
    /// How long a 401 stops requests with its token.
    pub breaker: Duration,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send after this wait; `probe` when this request is the one learning the route.
    Go {
        /// Time until the reserved send time.
        wait: Duration,
        /// Whether this request probes an unknown route.
        probe: bool,
    },
    /// The earliest send time is further away than the client accepts.
    TooLong(Duration),
    /// Another request is probing this unknown route; ask again after this.
    Busy(Duration),
    /// The token's circuit breaker is open for this long.
    CircuitOpen(Duration),
    /// Refused by the invalid-request guard.
    Invalid,
}

/// What the response taught (see [`Limiter::learn`]).
#[derive(Debug, Clone, Default)]
pub struct Learnt {
    /// Response status.
    pub status: u16,
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset-After` (ms) and `-Bucket`, when all present.
    pub bucket: Option<(u32, u32, u64, String)>,
    /// `X-RateLimit-Scope`.
    pub scope: String,
    /// A 429's `Retry-After` in milliseconds.
    pub retry_after_ms: u64,
}

impl Learnt {
    /// Whether Discord counts this response as invalid (401, 403, 429 other than `shared`).
    pub fn is_invalid(&self) -> bool {
        matches!(self.status, 401 | 403) || (self.status == 429 && self.scope != "shared")
    }
}

/// Redis key names of one request.
#[derive(Debug, Clone)]
pub struct Keys {
    global: String,
    global_block: String,
    bucket: String,
    bucket_block: String,
    meta: String,
    probe: String,
    breaker: String,
    invalid: String,
    suspect: String,
}

impl Keys {
    /// The keys of `route`/`major` for the token whose hash is `token`, under `prefix`.
    pub fn new(prefix: &str, token: &str, route: &str, major: &str) -> Self {
        let bucket = format!("{prefix}:rest:bucket:{token}:{route}:{major}");
        Self {
            global: format!("{prefix}:rest:global:{token}"),
            global_block: format!("{prefix}:rest:global:{token}:blocked"),
            bucket_block: format!("{bucket}:blocked"),
            suspect: format!("{prefix}:rest:suspect:{token}:{route}:{major}"),
            bucket,
            meta: format!("{prefix}:rest:route:{route}"),
            probe: format!("{prefix}:rest:probe:{route}"),
            breaker: format!("{prefix}:rest:breaker:{token}"),
            invalid: format!("{prefix}:rest:invalid"),
        }
    }
}

/// The shared limiter: a Redis connection, the two scripts and this replica's memory (see
/// [`crate::lease`]).
#[derive(Clone)]
pub struct Limiter {
    redis: ConnectionManager,
    limits: Limits,
    acquire: Script,
    learn: Script,
    local: Arc<Local>,
    lease_cap: u32,
    calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Limiter {
    /// A limiter over `redis`.
    pub fn new(redis: ConnectionManager, limits: Limits) -> Self {
        let lease_cap = lease::lease_cap(
            limits.global_per_second.max(1),
            1000 + millis(limits.margin),
        );
        Self {
            redis,
            limits,
            acquire: Script::new(ACQUIRE),
            learn: Script::new(LEARN),
            local: Arc::new(Local::default()),
            lease_cap,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Scripts run on Redis so far by this limiter (and its clones).
    pub fn redis_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Reserves a send time for one request (`member` unique per request). With a large global
    /// limit, the global slot comes from the replica's lease when there is one: a route known to
    /// have no bucket then needs no Redis round trip, another route only its bucket's part.
    pub async fn acquire(
        &self,
        keys: &Keys,
        global: bool,
        max_wait: Duration,
        member: &str,
    ) -> redis::RedisResult<Verdict> {
        if !global || self.lease_cap < 2 {
            return self
                .reserve(keys, global, None, (Duration::ZERO, max_wait), member)
                .await;
        }
        if let Some(slot) = self.local.take(&keys.global, Instant::now()) {
            return self.with_slot(keys, slot, max_wait, member).await;
        }
        // One request renews the lease; the others wait for it and take its slots.
        let renewing = self.local.refill.lock().await;
        if let Some(slot) = self.local.take(&keys.global, Instant::now()) {
            drop(renewing);
            return self.with_slot(keys, slot, max_wait, member).await;
        }
        let size = self
            .local
            .want(&keys.global, Instant::now(), self.lease_cap);
        self.reserve(keys, true, Some(size), (Duration::ZERO, max_wait), member)
            .await
    }

    /// Sends with the leased global slot `(start, end)`: at once on a route known to have no
    /// bucket; else after reserving the bucket's turn alone, if that turn falls within the lease
    /// (otherwise the slot goes back to the lease and the request reserves both together).
    async fn with_slot(
        &self,
        keys: &Keys,
        (start, end): (Instant, Instant),
        max_wait: Duration,
        member: &str,
    ) -> redis::RedisResult<Verdict> {
        let now = Instant::now();
        if self.local.unlimited(&keys.meta, now) {
            return Ok(Verdict::Go {
                wait: start.saturating_duration_since(now),
                probe: false,
            });
        }
        let within = end.saturating_duration_since(now).saturating_sub(SLACK);
        if within.is_zero() {
            self.local.give_back(&keys.global, start);
            return self
                .reserve(keys, true, None, (Duration::ZERO, max_wait), member)
                .await;
        }
        // The bucket's turn, not before the lease starts nor after it ends.
        let not_before = start.saturating_duration_since(now);
        let verdict = self
            .reserve(
                keys,
                false,
                None,
                (not_before, max_wait.min(within)),
                member,
            )
            .await?;
        let late = match verdict {
            Verdict::Go { wait, .. } => Instant::now() + wait > end,
            Verdict::TooLong(_) => within < max_wait,
            _ => false,
        };
        match verdict {
            Verdict::Go { .. } if !late => Ok(verdict),
            _ if late => {
                // The bucket's turn is after the lease (a turn it reserved stays unused:
                // conservative). Reserve both together.
                self.local.give_back(&keys.global, start);
                self.reserve(keys, true, None, (Duration::ZERO, max_wait), member)
                    .await
            }
            other => {
                self.local.give_back(&keys.global, start);
                Ok(other)
            }
        }
    }

    /// Runs ACQUIRE; with `lease`, reserves that many global slots and records the lease (also
    /// of one slot: the next lease's size follows how fast it was used).
    async fn reserve(
        &self,
        keys: &Keys,
        global: bool,
        lease_size: Option<u32>,
        (not_before, max_wait): (Duration, Duration),
        member: &str,
    ) -> redis::RedisResult<Verdict> {
        let limits = &self.limits;
        let size = lease_size.unwrap_or(1);
        let global_window = 1000 + millis(limits.margin);
        let lease = if size > 1 {
            lease::LEASE
        } else {
            Duration::ZERO
        };
        let sent = Instant::now();
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (answer, bucket): (Vec<i64>, String) = self
            .acquire
            .key(&keys.global)
            .key(&keys.bucket)
            .key(&keys.meta)
            .key(&keys.probe)
            .key(&keys.global_block)
            .key(&keys.breaker)
            .key(&keys.invalid)
            .key(&keys.suspect)
            .key(&keys.bucket_block)
            .arg(limits.global_per_second.max(1))
            .arg(global_window)
            .arg(millis(max_wait))
            .arg(member)
            .arg(millis(limits.margin))
            .arg(millis(limits.probe_ttl).max(1))
            .arg(limits.invalid_threshold)
            .arg(if global { "1" } else { "0" })
            .arg(size)
            .arg(millis(lease))
            .arg(millis(not_before + Duration::from_nanos(999_999)))
            .invoke_async(&mut self.redis.clone())
            .await?;
        let received = Instant::now();
        let int = |i: usize| answer.get(i).copied().and_then(|v| u64::try_from(v).ok());
        let ms = |i: usize| Duration::from_millis(int(i).unwrap_or(0));
        Ok(match answer.first().copied().unwrap_or(-1) {
            0 => {
                let wait = ms(1);
                if let (Some(limit), Some(ttl)) =
                    (int(3).and_then(|l| u32::try_from(l).ok()), int(5))
                {
                    self.local.note_route(
                        &keys.meta,
                        Known {
                            limit,
                            window_ms: int(4).unwrap_or(0),
                            bucket,
                            seen: received,
                            expires: received + Duration::from_millis(ttl),
                        },
                    );
                }
                if global && lease_size.is_some() {
                    // Redis's now is after `sent` and before `received`: the lease starts no
                    // earlier than Redis reserved it and ends no later. (A lease of one slot
                    // has nothing left to hand out; its end only measures demand.)
                    self.local.lease(
                        &keys.global,
                        size,
                        received + wait,
                        sent + wait + lease::LEASE,
                    );
                }
                Verdict::Go {
                    wait,
                    probe: int(2) == Some(1),
                }
            }
            1 => Verdict::TooLong(ms(1)),
            2 => Verdict::Busy(ms(1)),
            3 => Verdict::CircuitOpen(ms(1)),
            _ => Verdict::Invalid,
        })
    }

    /// Records what a response taught; returns the invalid responses of the last 10 minutes, or
    /// `None` when the response only repeated what Redis already knows (no round trip).
    pub async fn learn(
        &self,
        keys: &Keys,
        learnt: &Learnt,
        member: &str,
        probe: bool,
    ) -> redis::RedisResult<Option<u64>> {
        if self.local.taught_nothing(
            &keys.meta,
            learnt.status,
            learnt.bucket.as_ref(),
            probe,
            Instant::now(),
        ) {
            return Ok(None);
        }
        self.local.forget_route(&keys.meta);
        if learnt.status == 401 || (learnt.status == 429 && learnt.scope == "global") {
            self.local.revoke(&keys.global);
        }
        let (limit, remaining, reset_after, bucket) = learnt
            .bucket
            .clone()
            .map_or((0, 0, 0, String::new()), |(l, r, a, b)| (l, r, a, b));
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.learn
            .key(&keys.meta)
            .key(&keys.probe)
            .key(&keys.invalid)
            .key(&keys.suspect)
            .key(&keys.breaker)
            .key(&keys.global_block)
            .key(&keys.bucket_block)
            .arg(learnt.status)
            .arg(if learnt.bucket.is_some() { "1" } else { "0" })
            .arg(limit)
            .arg(remaining)
            .arg(reset_after)
            .arg(bucket)
            .arg(if learnt.is_invalid() { "1" } else { "0" })
            .arg(millis(self.limits.breaker))
            .arg(&learnt.scope)
            .arg(learnt.retry_after_ms)
            .arg(millis(self.limits.margin))
            .arg(member)
            .invoke_async(&mut self.redis.clone())
            .await
            .map(Some)
    }

    /// Releases an unused probe (the request failed before Discord answered).
    pub async fn release_probe(&self, keys: &Keys, member: &str) -> redis::RedisResult<()> {
        let learnt = Learnt {
            status: 502,
            ..Learnt::default()
        };
        self.learn(keys, &learnt, member, true).await.map(|_| ())
    }

    /// Invalid responses counted in the last 10 minutes.
    pub async fn invalid_count(&self, keys: &Keys) -> redis::RedisResult<u64> {
        redis::cmd("ZCOUNT")
            .arg(&keys.invalid)
            .arg(format!(
                "({}",
                swarmcord_protocol::time::unix_ms().saturating_sub(millis(INVALID_WINDOW))
            ))
            .arg("+inf")
            .query_async(&mut self.redis.clone())
            .await
    }
}
