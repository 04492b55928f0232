//! Shard leases: at most one owner per shard, cluster-wide.
//!
//! A lease is the key [`Keys::shard_lease`] holding the owning gateway's id, with a TTL. The
//! owner renews it every `ttl / 3`; if it dies (even `kill -9`), the lease expires after `ttl`
//! and another replica takes the shard. An owner that cannot renew (lease gone, taken over,
//! Redis unreachable until the lease may have expired) is told to stop using the shard.
//!
//! A shard is one shard id of one shard count: a [`ShardLeases`] is for one shard count.
//!
//! **Upgrade from keys without the shard count.** Versions before kept a shard's lease,
//! session and cache bookkeeping under keys named by the shard id alone
//! ([`LegacyShardKeys`]). A lease is not taken while the shard's old lease key exists (an
//! older replica still owns the shard), and the claim that takes it moves the shard's old
//! session and cache bookkeeping to the current keys, in the same script, when the old session
//! was opened with this shard count and the current keys do not exist yet: the shard resumes
//! instead of identifying.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use swarmcord_protocol::keys::{Keys, LegacyShardKeys};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{CoordError, Result, jitter, millis};

mod keeper;

pub use keeper::{Lease, LeaseKeeper};

/// Default lease TTL: a crashed gateway's shards are taken over after at most this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// Longest pause between two attempts of a replica waiting for a lease.
const MAX_POLL: Duration = Duration::from_secs(1);

/// Takes the lease if it is free or already ours (refreshing its TTL); returns the owner after
/// the attempt.
///
/// KEYS: the lease, the old-format lease, the old-format then current session, then pairs of
/// old-format and current cache keys. ARGV: owner, TTL ms, shard count. A free lease is not
/// taken while the old-format lease exists (its owner is returned); once taken, the old-format
/// keys are renamed to the current ones that do not exist yet, if the old session's shard
/// count is this one.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return owner
end
if owner then return owner end
local legacy = redis.call('GET', KEYS[2])
if legacy then return legacy end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('HGET', KEYS[3], 'shard_count') == ARGV[3] then
  for i = 3, #KEYS, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('EXISTS', KEYS[i + 1]) == 0 then
      redis.call('RENAME', KEYS[i], KEYS[i + 1])
    end
  end
end
return ARGV[1]
",
    )
});

/// Renews every lease in KEYS that is still ours; returns 1 (renewed), 2 (the key was gone and
/// is ours again) or 0 (lost: another gateway owns it) per key.
///
/// A key that vanished while we held the lease (our renewals keep it alive for a whole TTL)
/// was lost by Redis itself (restarted empty, flushed): nobody else owns the shard, so the
/// lease is taken again rather than given up, and the shard's live session goes on.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
",
    )
});

/// Deletes every lease in KEYS that is still ours; returns how many were deleted.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
",
    )
});

fn leases_held() -> metrics::Gauge {
    metrics::gauge!("swarmcord_coord_leases_held")
}

/// Shard leases of one gateway replica, and the shard-ownership registry.
///
/// Cheap to clone. Services that only route commands (workers) may use any gateway id: the
/// read-only [`owner`](Self::owner) and [`owners`](Self::owners) do not use it.
#[derive(Clone)]
pub struct ShardLeases {
    conn: ConnectionManager,
    keys: Keys,
    gateway_id: Arc<str>,
    shard_count: u32,
    ttl: Duration,
}

impl fmt::Debug for ShardLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardLeases")
            .field("prefix", &self.keys.prefix())
            .field("gateway_id", &self.gateway_id)
            .field("shard_count", &self.shard_count)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ShardLeases {
    /// The leases of the shards of `shard_count`, held in the name of `gateway_id`, with the
    /// [`DEFAULT_LEASE_TTL`].
    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        gateway_id: impl Into<String>,
        shard_count: u32,
    ) -> Self {
        Self {
            conn,
            keys,
            gateway_id: Arc::from(gateway_id.into()),
            shard_count,
            ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// The same leases for the shards of `shard_count` (another cohort while resharding).
    #[must_use]
    pub fn with_shard_count(mut self, shard_count: u32) -> Self {
        self.shard_count = shard_count;
        self
    }

    /// The shard count whose shards these leases are for.
    pub fn shard_count(&self) -> u32 {
        self.shard_count
    }

    fn lease_key(&self, shard_id: u32) -> String {
        self.keys.shard_lease(shard_id, self.shard_count)
    }

    /// Uses `ttl` for the leases (at least 30 ms): how long a crashed owner blocks its shards.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// The gateway id written into the leases.
    pub fn gateway_id(&self) -> &str {
        &self.gateway_id
    }

    /// The lease TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease of `shard_id` if it is free or already ours (then its TTL is refreshed).
    ///
    /// This only takes the lease: nothing renews it. Use [`acquire`](Self::acquire) or a
    /// [`LeaseKeeper`] to hold it.
    pub async fn try_acquire(&self, shard_id: u32) -> Result<bool> {
        Ok(self.claim(shard_id).await? == *self.gateway_id)
    }

    /// Tries to take the lease; returns its owner afterwards (us when it worked). Taking it
    /// moves the shard's old-format keys (see the module documentation).
    async fn claim(&self, shard_id: u32) -> Result<String> {
        let LegacyShardKeys {
            lease,
            session,
            cache,
        } = self.keys.legacy_shard(shard_id, self.shard_count);
        let mut invocation = CLAIM.prepare_invoke();
        invocation
            .key(self.lease_key(shard_id))
            .key(lease)
            .key(session.0)
            .key(session.1);
        for (old, new) in cache {
            invocation.key(old).key(new);
        }
        invocation
            .arg(&*self.gateway_id)
            .arg(millis(self.ttl))
            .arg(self.shard_count)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease claim", error))
    }

    /// Extends the lease of `shard_id` by a full TTL if it is still ours (or was lost by Redis
    /// and nobody took it since: then it is taken again); `false` when another gateway owns it.
    ///
    /// Only for a lease this replica holds: it re-creates a missing key.
    pub async fn renew(&self, shard_id: u32) -> Result<bool> {
        Ok(self
            .renew_many(&[shard_id])
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// [`renew`](Self::renew) for several shards in one round trip; one result per shard.
    pub async fn renew_many(&self, shard_ids: &[u32]) -> Result<Vec<bool>> {
        Ok(self
            .renew_codes(shard_ids)
            .await?
            .into_iter()
            .map(|r| r >= 1)
            .collect())
    }

    /// [`renew_many`](Self::renew_many) with the script's codes: 1 renewed, 2 taken again
    /// after Redis lost the key, 0 lost.
    async fn renew_codes(&self, shard_ids: &[u32]) -> Result<Vec<i64>> {
        if shard_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = RENEW.prepare_invoke();
        for &shard_id in shard_ids {
            invocation.key(self.lease_key(shard_id));
        }
        let renewed: Vec<i64> = invocation
            .arg(&*self.gateway_id)
            .arg(millis(self.ttl))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease renewal", error))?;
        if renewed.contains(&2) {
            tracing::warn!(
                gateway_id = %self.gateway_id,
                "shard leases had vanished from Redis (restarted empty?); taken again"
            );
        }
        Ok(renewed)
    }

    /// Deletes the lease of `shard_id` if it is ours; `false` when it was not.
    pub async fn release(&self, shard_id: u32) -> Result<bool> {
        Ok(self.release_many(&[shard_id]).await? == 1)
    }

    /// [`release`](Self::release) for several shards in one round trip; returns how many
    /// leases were ours and are now deleted.
    pub async fn release_many(&self, shard_ids: &[u32]) -> Result<usize> {
        if shard_ids.is_empty() {
            return Ok(0);
        }
        let mut invocation = RELEASE.prepare_invoke();
        for &shard_id in shard_ids {
            invocation.key(self.lease_key(shard_id));
        }
        invocation
            .arg(&*self.gateway_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease release", error))
    }

    /// The gateway that owns `shard_id`, if any.
    pub async fn owner(&self, shard_id: u32) -> Result<Option<String>> {
        redis::cmd("GET")
            .arg(self.lease_key(shard_id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease owner lookup", error))
    }

    /// The owners of several shards in one round trip; one entry per shard.
    pub async fn owners(&self, shard_ids: &[u32]) -> Result<Vec<Option<String>>> {
        if shard_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = shard_ids.iter().map(|&id| self.lease_key(id)).collect();
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease owner lookup", error))
    }

    /// Waits until the lease of `shard_id` is ours (without keeping it alive afterwards).
    ///
    /// Polls every `ttl / 4` (at most every second, with jitter), logging who holds the lease
    /// whenever that changes. Redis errors are logged and retried: only `cancel` ends the wait
    /// without the lease.
    /// Returns when the successful attempt was sent: the lease lasts at least `ttl` from then.
    async fn wait_for(&self, shard_id: u32, cancel: &CancellationToken) -> Result<Instant> {
        let poll = (self.ttl / 4).min(MAX_POLL);
        let mut last_holder: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(CoordError::Cancelled { shard_id });
            }
            let sent = Instant::now();
            match self.claim(shard_id).await {
                Ok(holder) if holder == *self.gateway_id => return Ok(sent),
                Ok(holder) => {
                    if last_holder.as_deref() != Some(holder.as_str()) {
                        tracing::info!(
                            shard_id,
                            holder = %holder,
                            "shard lease is held by another gateway; waiting for it"
                        );
                        last_holder = Some(holder);
                    }
                }
                Err(error) => {
                    tracing::warn!(shard_id, %error, "could not try the shard lease; retrying");
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(CoordError::Cancelled { shard_id }),
                () = tokio::time::sleep(poll + jitter(poll_jitter_ms(poll))) => {}
            }
        }
    }

    /// Waits until the lease of `shard_id` is ours, then keeps it alive in the background.
    ///
    /// Returns [`CoordError::Cancelled`] if `cancel` fires first. Must be called within a
    /// Tokio runtime.
    pub async fn acquire(&self, shard_id: u32, cancel: CancellationToken) -> Result<Lease> {
        let keeper = self.keeper()?;
        let lost = keeper.acquire(shard_id, &cancel).await?;
        let vanished = keeper.shared.held().get(&shard_id).map_or_else(
            || Arc::new(Notify::new()),
            |held| Arc::clone(&held.vanished),
        );
        Ok(Lease {
            shard_id,
            lost,
            vanished,
            keeper,
        })
    }

    /// A keeper that holds and renews many leases of this gateway with one background task.
    ///
    /// Must be called within a Tokio runtime.
    pub fn keeper(&self) -> Result<LeaseKeeper> {
        LeaseKeeper::new(self.clone())
    }
}

fn poll_jitter_ms(poll: Duration) -> u64 {
    u64::try_from(poll.as_millis() / 10).unwrap_or(100).max(1)
}
