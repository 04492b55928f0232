//! Cooldowns and rate limits stored in Redis, so they hold across every worker replica.
//!
//! Algorithm: a **sliding log**. Each bucket is a sorted set `{prefix}:cd:{command}:{scope}`
//! of the times (Redis server clock, ms) of the uses in the last window. One Lua script, run
//! atomically by Redis, drops the entries older than the window, admits the use if fewer than
//! `limit` remain (recording it), and otherwise answers how long until the oldest relevant
//! entry leaves the window. The clock is Redis's (`TIME`), so replicas with skewed clocks
//! agree. The set holds at most `limit` entries and expires one window after the last use.
//! Denied attempts are not recorded (spamming does not extend the wait), and the refusal is
//! said once per wait ([`Cooldowns::first_refusal`]).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

/// Sliding-log admission; returns 0 (admitted) or the wait in ms.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
",
    )
});

/// The bucket is exhausted: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry after {0:?}")]
pub struct RetryAfter(pub Duration);

/// A Redis failure (the dispatcher then runs the command without its cooldown).
#[derive(Debug, thiserror::Error)]
#[error("cooldown store unavailable: {0}")]
pub struct CooldownStoreError(#[from] redis::RedisError);

/// Outcome of [`Cooldowns::hit`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CooldownError {
    /// Over the limit.
    #[error(transparent)]
    RetryAfter(#[from] RetryAfter),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] CooldownStoreError),
}

/// Cluster-wide cooldown buckets. Cheap to clone.
#[derive(Clone)]
pub struct Cooldowns {
    conn: ConnectionManager,
    prefix: String,
    nonce: u64,
}

impl std::fmt::Debug for Cooldowns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cooldowns")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Cooldowns {
    /// Cooldowns under the key prefix `prefix` (e.g. `swarmcord`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            nonce: RandomState::new().build_hasher().finish(),
        }
    }

    /// The Redis key of a bucket.
    pub fn key(&self, command: &str, scope_key: &str) -> String {
        format!("{}:cd:{command}:{scope_key}", self.prefix)
    }

    /// Records one use of `command` in the bucket `scope_key` if fewer than `limit` uses
    /// happened in the last `per`; otherwise returns how long until the next use is allowed.
    /// A `limit` of 0 is treated as 1.
    pub async fn hit(
        &self,
        command: &str,
        scope_key: &str,
        limit: u32,
        per: Duration,
    ) -> Result<(), CooldownError> {
        let unique = format!(
            "{:x}-{}",
            self.nonce,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let wait: u64 = HIT
            .key(self.key(command, scope_key))
            .arg(limit.max(1))
            .arg(millis(per))
            .arg(unique)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(CooldownStoreError)?;
        if wait == 0 {
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_millis(wait)).into())
        }
    }

    /// Whether this is the first refusal in a bucket since its wait began. Remembers it in
    /// Redis (`{prefix}:cdn:{command}:{scope}`) for `wait`, so every replica says "slow down"
    /// once per wait instead of once per attempt.
    pub async fn first_refusal(
        &self,
        command: &str,
        scope_key: &str,
        wait: Duration,
    ) -> Result<bool, CooldownStoreError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}:cdn:{command}:{scope_key}", self.prefix))
            .arg(1)
            .arg("PX")
            .arg(millis(wait))
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Forgets every use in a bucket.
    pub async fn reset(&self, command: &str, scope_key: &str) -> Result<(), CooldownStoreError> {
        redis::cmd("DEL")
            .arg(self.key(command, scope_key))
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
