//! The cluster-wide identify queue.
//!
//! Discord allows one IDENTIFY per `shard_id % max_concurrency` bucket every 5 seconds, per
//! bot, whichever process sends it, and a daily budget of session starts. [`RedisQueue`] is a
//! [`Queue`] that every gateway replica shares through Redis:
//!
//! - a bucket slot is the key [`Keys::identify_bucket`] set with `NX PX interval`: whoever sets
//!   it may identify, everybody else waits for its `PTTL` (plus jitter) and tries again;
//! - the session-start budget is the hash [`Keys::session_starts`], decremented in the same
//!   atomic script that takes the slot; at or below the reserve, the queue refuses to identify
//!   until the stored limit expires (when Discord resets it).
//!
//! Within one process, the shards of a bucket wait in FIFO order and only the first of them
//! polls Redis.

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::aio::ConnectionManager;
use swarmcord_protocol::backoff::Backoff;
use swarmcord_protocol::keys::Keys;
use tokio::sync::oneshot;
use tokio::time::Instant;
use twilight_gateway::queue::Queue;

use crate::{CoordError, Result, from_millis, jitter, millis};

/// Default identify interval per bucket: Discord's 5 seconds.
pub const DEFAULT_IDENTIFY_INTERVAL: Duration = twilight_gateway::queue::IDENTIFY_DELAY;

/// How often a refusal to identify is logged, per process.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Longest sleep while refusing, so a new limit stored by a gateway is noticed.
const REFUSAL_POLL: Duration = Duration::from_secs(10);

/// Extra wait of a process's next shard after the process itself took a bucket's slot, so
/// that waiters of other processes (which wait at most 10 ms of jitter) go first.
const COURTESY: Duration = Duration::from_millis(20);

/// Longest back-off after Redis errors.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Session starts kept in reserve when none is configured: `max(5, 5 % of total)`.
pub fn default_reserve(total: u32) -> u32 {
    (total / 20).max(5)
}

/// Takes a bucket slot, unless the session-start budget is at its reserve.
///
/// KEYS: bucket, `session_starts`. ARGV: slot value, interval ms, reserve (-1: default),
/// prefix of this process's slot values.
/// Returns `{status, wait_ms, remaining, reserve, ours}`: status 1 = granted (remaining after
/// this identify, -1 if unknown), 0 = bucket busy for `wait_ms` (`ours` = 1 when this process
/// holds the slot), 2 = refused (budget resets in `wait_ms`, -1 if never).
static IDENTIFY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local remaining = redis.call('HGET', KEYS[2], 'remaining')
local reserve = tonumber(ARGV[3])
if remaining then
  remaining = tonumber(remaining)
  if reserve < 0 then
    local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0') or 0
    reserve = math.max(5, math.floor(total / 20))
  end
  if remaining <= reserve then
    return {2, redis.call('PTTL', KEYS[2]), remaining, reserve}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local left = -1
  if remaining then left = redis.call('HINCRBY', KEYS[2], 'remaining', -1) end
  return {1, 0, left, reserve}
end
local wait = redis.call('PTTL', KEYS[1])
if wait == -1 then
  -- A slot without expiry would block the bucket forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  wait = tonumber(ARGV[2])
end
local holder = redis.call('GET', KEYS[1]) or ''
local ours = 0
if string.sub(holder, 1, string.len(ARGV[4])) == ARGV[4] then ours = 1 end
return {0, wait, -1, reserve, ours}
",
    )
});

/// Stores a session-start limit, keeping a lower count already stored for the same window.
///
/// KEYS: `session_starts`. ARGV: remaining, total, `reset_after` ms, reset time (Unix ms).
/// Returns the remaining count now stored.
static SET_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('HGET', KEYS[1], 'remaining')
local pttl = redis.call('PTTL', KEYS[1])
if current and pttl > 0 and tonumber(ARGV[3]) <= pttl + 60000
   and tonumber(current) <= tonumber(ARGV[1]) then
  return tonumber(current)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'total', ARGV[2], 'reset_at_ms', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tonumber(ARGV[1])
",
    )
});

/// The day's session-start budget as stored in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// Session starts left.
    pub remaining: u32,
    /// Session starts per window.
    pub total: u32,
    /// Time until the budget resets (the stored limit expires then).
    pub reset_after: Duration,
}

/// What one attempt at a bucket slot gave.
enum Attempt {
    Granted {
        remaining: Option<u32>,
    },
    Busy {
        wait: Duration,
        ours: bool,
    },
    Refused {
        remaining: u32,
        reserve: u32,
        reset_in: Option<Duration>,
    },
}

/// State shared by every clone of a queue in this process.
struct Shared {
    /// Local FIFO per bucket: only its head polls Redis.
    buckets: Vec<tokio::sync::Mutex<()>>,
    /// When a refusal was last logged.
    last_refusal_log: Mutex<Option<Instant>>,
}

/// A cluster-wide identify [`Queue`] backed by Redis.
///
/// Clones share their state; give every shard of a process the same queue (or clones of it).
/// [`Queue::enqueue`] must be called within a Tokio runtime (twilight shards always are).
#[derive(Clone)]
pub struct RedisQueue {
    conn: ConnectionManager,
    keys: Keys,
    max_concurrency: u32,
    interval: Duration,
    owner: Arc<str>,
    reserve: Option<u32>,
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.keys.prefix())
            .field("max_concurrency", &self.max_concurrency)
            .field("interval", &self.interval)
            .field("owner", &self.owner)
            .field("reserve", &self.reserve)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// A queue allowing one identify per `shard_id % max_concurrency` bucket per `interval`
    /// across every process sharing `keys`' prefix ([`DEFAULT_IDENTIFY_INTERVAL`] in
    /// production). A `max_concurrency` of 0 is treated as 1.
    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        max_concurrency: u16,
        interval: Duration,
    ) -> Self {
        let max_concurrency = u32::from(max_concurrency.max(1));
        Self {
            conn,
            keys,
            max_concurrency,
            interval: interval.max(Duration::from_millis(1)),
            owner: Arc::from("unknown"),
            reserve: None,
            shared: Arc::new(Shared {
                buckets: (0..max_concurrency)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                last_refusal_log: Mutex::new(None),
            }),
        }
    }

    /// Names this process (typically the gateway id) in the bucket keys, for debugging.
    #[must_use]
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Arc::from(owner.into());
        self
    }

    /// Keeps `reserve` session starts unused (default: [`default_reserve`] of the stored
    /// total), so an operator can still start a few shards by hand.
    #[must_use]
    pub fn with_reserve(mut self, reserve: u32) -> Self {
        self.reserve = Some(reserve);
        self
    }

    /// `max_concurrency` (at least 1).
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// The identify interval per bucket.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Stores the session-start limit read from `GET /gateway/bot`; it expires after
    /// `reset_after`, when Discord resets the budget. Every identify decrements it.
    ///
    /// A lower count already stored for the same window is kept (several gateways read the
    /// limit at different moments; the lowest reading is the newest). Returns the remaining
    /// count now stored.
    pub async fn set_session_start_limit(
        &self,
        remaining: u32,
        total: u32,
        reset_after: Duration,
    ) -> Result<u32> {
        let reset_at = SystemTime::now() + reset_after;
        let reset_at_ms = reset_at.duration_since(UNIX_EPOCH).map_or(0, millis);
        let stored: i64 = SET_LIMIT
            .key(self.keys.session_starts())
            .arg(remaining)
            .arg(total)
            .arg(millis(reset_after))
            .arg(reset_at_ms)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session start limit update", error))?;
        let stored = u32::try_from(stored).unwrap_or(0);
        metrics::gauge!("swarmcord_coord_session_starts_remaining").set(f64::from(stored));
        Ok(stored)
    }

    /// The stored session-start limit, if any.
    pub async fn session_start_limit(&self) -> Result<Option<SessionStartLimit>> {
        let key = self.keys.session_starts();
        let (remaining, total, pttl): (Option<u32>, Option<u32>, i64) = redis::pipe()
            .hget(&key, "remaining")
            .hget(&key, "total")
            .pttl(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session start limit read", error))?;
        Ok(match (remaining, total) {
            (Some(remaining), Some(total)) => Some(SessionStartLimit {
                remaining,
                total,
                reset_after: from_millis(pttl),
            }),
            _ => None,
        })
    }

    /// One atomic attempt at the slot of `bucket`.
    async fn attempt(&self, shard_id: u32, bucket: u32) -> Result<Attempt> {
        let reserve = self.reserve.map_or(-1, i64::from);
        let reply: Vec<i64> = IDENTIFY
            .key(self.keys.identify_bucket(bucket))
            .key(self.keys.session_starts())
            .arg(format!("{}:{shard_id}", self.owner))
            .arg(millis(self.interval))
            .arg(reserve)
            .arg(format!("{}:", self.owner))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("identify slot", error))?;
        let field = |i: usize| reply.get(i).copied().unwrap_or(-1);
        let as_u32 = |v: i64| u32::try_from(v).unwrap_or(0);
        match field(0) {
            1 => Ok(Attempt::Granted {
                remaining: u32::try_from(field(2)).ok(),
            }),
            0 => Ok(Attempt::Busy {
                wait: from_millis(field(1)),
                ours: field(4) == 1,
            }),
            2 => Ok(Attempt::Refused {
                remaining: as_u32(field(2)),
                reserve: as_u32(field(3)),
                reset_in: (field(1) >= 0).then(|| from_millis(field(1))),
            }),
            other => Err(CoordError::malformed(
                "identify script reply",
                format!("unknown status {other}"),
            )),
        }
    }

    /// Logs a refusal, at most once per [`REFUSAL_LOG_EVERY`] per process.
    fn log_refusal(&self, shard_id: u32, remaining: u32, reserve: u32, reset_in: Option<Duration>) {
        let now = Instant::now();
        {
            let mut last = self
                .shared
                .last_refusal_log
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let until = reset_in.map_or_else(
            || "an unknown time (the stored limit has no expiry)".to_owned(),
            |d| httpdate::fmt_http_date(SystemTime::now() + d),
        );
        tracing::error!(
            shard_id,
            remaining,
            reserve,
            "refusing to identify shard {shard_id}: only {remaining} session starts remain \
             (reserve {reserve}) until {until}; resuming is unaffected"
        );
    }

    /// Resolves `tx` once this shard may identify; gives up silently if the shard stops
    /// waiting.
    async fn run(self, shard_id: u32, mut tx: oneshot::Sender<()>) {
        let bucket = shard_id % self.max_concurrency;
        let Some(slot) = usize::try_from(bucket)
            .ok()
            .and_then(|i| self.shared.buckets.get(i))
        else {
            return;
        };
        let _turn = tokio::select! {
            turn = slot.lock() => turn,
            () = tx.closed() => return,
        };
        let mut backoff = Backoff::new(Duration::from_millis(50), MAX_BACKOFF)
            .with_jitter(Duration::from_millis(50));
        loop {
            if tx.is_closed() {
                return;
            }
            let wait = match self.attempt(shard_id, bucket).await {
                Ok(Attempt::Granted { remaining }) => {
                    metrics::counter!("swarmcord_coord_identifies_total").increment(1);
                    if let Some(remaining) = remaining {
                        metrics::gauge!("swarmcord_coord_session_starts_remaining")
                            .set(f64::from(remaining));
                    }
                    tracing::debug!(shard_id, bucket, ?remaining, "identify slot granted");
                    if tx.send(()).is_err() {
                        tracing::debug!(shard_id, "shard stopped waiting for its identify slot");
                    }
                    return;
                }
                Ok(Attempt::Busy { wait, ours }) => {
                    backoff.reset();
                    // Courtesy towards other processes: when we hold the slot, their waiters
                    // (which only add jitter) get the next one first.
                    let courtesy = if ours { COURTESY } else { Duration::ZERO };
                    wait + courtesy + jitter(10)
                }
                Ok(Attempt::Refused {
                    remaining,
                    reserve,
                    reset_in,
                }) => {
                    backoff.reset();
                    metrics::gauge!("swarmcord_coord_session_starts_remaining")
                        .set(f64::from(remaining));
                    self.log_refusal(shard_id, remaining, reserve, reset_in);
                    reset_in.unwrap_or(REFUSAL_POLL).min(REFUSAL_POLL) + jitter(20)
                }
                Err(error) => {
                    tracing::warn!(
                        shard_id,
                        %error,
                        retry_in = ?backoff.peek(),
                        "identify queue cannot reach Redis; retrying"
                    );
                    backoff.next_delay()
                }
            };
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Queue for RedisQueue {
    fn enqueue(&self, id: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(self.clone().run(id, tx));
            }
            Err(_) => {
                // Dropping `tx` makes the shard enqueue again.
                tracing::error!(shard_id = id, "identify queue used outside a Tokio runtime");
            }
        }
        rx
    }
}
