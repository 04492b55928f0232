//! Shard leases: at most one owner per shard, cluster-wide.
//!
//! A lease is the key [`Keys::shard_lease`] holding the owning gateway's id, with a TTL. The
//! owner renews it every `ttl / 3`; if it dies (even `kill -9`), the lease expires after `ttl`
//! and another replica takes the shard. An owner that cannot renew (lease gone, taken over,
//! Redis unreachable until the lease may have expired) is told to stop using the shard.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use swarmcord_protocol::keys::Keys;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{CoordError, Result, jitter, millis};

/// Default lease TTL: a crashed gateway's shards are taken over after at most this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// Longest pause between two attempts of a replica waiting for a lease.
const MAX_POLL: Duration = Duration::from_secs(1);

/// Takes the lease if it is free or already ours (refreshing its TTL); returns the owner after
/// the attempt.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('GET', KEYS[1])
if (not owner) or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return owner
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
    ttl: Duration,
}

impl fmt::Debug for ShardLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardLeases")
            .field("prefix", &self.keys.prefix())
            .field("gateway_id", &self.gateway_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ShardLeases {
    /// Leases held in the name of `gateway_id`, with the [`DEFAULT_LEASE_TTL`].
    pub fn new(conn: ConnectionManager, keys: Keys, gateway_id: impl Into<String>) -> Self {
        Self {
            conn,
            keys,
            gateway_id: Arc::from(gateway_id.into()),
            ttl: DEFAULT_LEASE_TTL,
        }
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

    /// Tries to take the lease; returns its owner afterwards (us when it worked).
    async fn claim(&self, shard_id: u32) -> Result<String> {
        CLAIM
            .key(self.keys.shard_lease(shard_id))
            .arg(&*self.gateway_id)
            .arg(millis(self.ttl))
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
            invocation.key(self.keys.shard_lease(shard_id));
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
            invocation.key(self.keys.shard_lease(shard_id));
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
            .arg(self.keys.shard_lease(shard_id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("lease owner lookup", error))
    }

    /// The owners of several shards in one round trip; one entry per shard.
    pub async fn owners(&self, shard_ids: &[u32]) -> Result<Vec<Option<String>>> {
        if shard_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = shard_ids
            .iter()
            .map(|&id| self.keys.shard_lease(id))
            .collect();
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

/// One held lease.
struct Held {
    /// Cancelled when the lease ends for any reason.
    lost: CancellationToken,
    /// Until when the lease certainly exists (TTL counted from before the last renewal was
    /// sent).
    valid_until: Instant,
    /// Distinguishes a re-acquired lease from the one a renewal result is about.
    generation: u64,
    /// Notified when a renewal found the key gone (Redis lost its data) and took it again.
    vanished: Arc<Notify>,
}

struct KeeperShared {
    leases: ShardLeases,
    held: Mutex<HashMap<u32, Held>>,
    next_generation: Mutex<u64>,
}

impl KeeperShared {
    fn held(&self) -> MutexGuard<'_, HashMap<u32, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a lease we just took at `taken_at`; returns its loss token.
    fn insert(&self, shard_id: u32, taken_at: Instant) -> CancellationToken {
        let generation = {
            let mut next = self
                .next_generation
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            *next
        };
        let valid_until = taken_at + self.leases.ttl;
        let mut held = self.held();
        if let Some(existing) = held.get_mut(&shard_id) {
            existing.valid_until = existing.valid_until.max(valid_until);
            return existing.lost.clone();
        }
        let lost = CancellationToken::new();
        held.insert(
            shard_id,
            Held {
                lost: lost.clone(),
                valid_until,
                generation,
                vanished: Arc::new(Notify::new()),
            },
        );
        leases_held().increment(1.0);
        lost
    }

    /// Forgets a lease (without touching Redis) and cancels its token.
    fn forget(&self, shard_id: u32) -> bool {
        let removed = self.held().remove(&shard_id);
        match removed {
            Some(held) => {
                held.lost.cancel();
                leases_held().decrement(1.0);
                true
            }
            None => false,
        }
    }

    /// Forgets every lease and cancels their tokens; returns the shards.
    fn forget_all(&self) -> Vec<u32> {
        let drained: Vec<(u32, Held)> = self.held().drain().collect();
        for (_, held) in &drained {
            held.lost.cancel();
        }
        #[allow(clippy::cast_precision_loss)]
        leases_held().decrement(drained.len() as f64);
        drained.into_iter().map(|(id, _)| id).collect()
    }

    /// When the first held lease must be given up unless renewed before: `safety` before it
    /// may expire in Redis.
    fn give_up_at(&self, safety: Duration) -> Option<Instant> {
        self.held()
            .values()
            .map(|held| {
                held.valid_until
                    .checked_sub(safety)
                    .unwrap_or(held.valid_until)
            })
            .min()
    }

    /// Gives up every lease that may expire within `safety` (fail safe: we cannot prove we
    /// still own it).
    fn give_up_expiring(&self, safety: Duration, error: &CoordError) {
        let limit = Instant::now() + safety;
        let expiring: Vec<u32> = self
            .held()
            .iter()
            .filter(|(_, held)| held.valid_until <= limit)
            .map(|(&id, _)| id)
            .collect();
        for shard_id in expiring {
            if self.forget(shard_id) {
                tracing::error!(
                    shard_id,
                    %error,
                    "cannot reach Redis to renew the shard lease before it expires: giving the \
                     shard up (stop using it)"
                );
            }
        }
    }

    /// One renewal round, bounded by `timeout` and by the first give-up deadline; returns
    /// whether Redis answered.
    async fn renew_round(&self, timeout: Duration, safety: Duration) -> bool {
        let snapshot: Vec<(u32, u64)> = self
            .held()
            .iter()
            .map(|(&id, held)| (id, held.generation))
            .collect();
        if snapshot.is_empty() {
            return true;
        }
        let shard_ids: Vec<u32> = snapshot.iter().map(|&(id, _)| id).collect();
        let sent = Instant::now();
        let timeout = match self.give_up_at(safety) {
            // The renewal is so late that a lease may already have expired: the process did
            // not run (frozen, suspended) when it was due, so nothing used the shards
            // meanwhile. Redis decides (the script keeps what is still ours or free again and
            // reports what another gateway took) rather than a timeout too short to answer.
            Some(at) if sent > at + safety => timeout,
            Some(at) => timeout.min(at.saturating_duration_since(sent)),
            None => timeout,
        }
        .max(Duration::from_millis(1));
        let outcome = tokio::time::timeout(timeout, self.leases.renew_codes(&shard_ids)).await;
        let error = match outcome {
            Ok(Ok(renewed)) => {
                let mut lost = Vec::new();
                {
                    let mut held = self.held();
                    for (&(shard_id, generation), ok) in snapshot.iter().zip(renewed) {
                        let Some(entry) = held.get_mut(&shard_id) else {
                            continue;
                        };
                        if entry.generation != generation {
                            continue;
                        }
                        if ok >= 1 {
                            entry.valid_until = sent + self.leases.ttl;
                            if ok == 2 {
                                entry.vanished.notify_one();
                            }
                        } else {
                            lost.push(shard_id);
                        }
                    }
                }
                for shard_id in lost {
                    if self.forget(shard_id) {
                        tracing::error!(
                            shard_id,
                            gateway_id = %self.leases.gateway_id,
                            "shard lease lost (expired or taken by another gateway); \
                             stop using this shard"
                        );
                    }
                }
                return true;
            }
            Ok(Err(error)) => error,
            Err(_) => CoordError::Timeout {
                operation: "lease renewal",
                timeout,
            },
        };
        tracing::warn!(%error, held = snapshot.len(), "could not renew shard leases; retrying");
        self.give_up_expiring(safety, &error);
        false
    }
}

async fn renew_loop(shared: Arc<KeeperShared>, stop: CancellationToken) {
    let ttl = shared.leases.ttl;
    let period = ttl / 3;
    let retry = (ttl / 10).max(Duration::from_millis(10));
    // Leases are given up this long before they may expire in Redis.
    let safety = (ttl / 20).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut next = Instant::now() + period;
    loop {
        // Wake up for the next renewal, or earlier to give up a lease we could not renew.
        let wake = shared.give_up_at(safety).map_or(next, |at| at.min(next));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        let answered = shared.renew_round(period, safety).await;
        next = Instant::now() + if answered { period } else { retry };
    }
}

/// Holds many shard leases of one gateway and renews them together every `ttl / 3`.
///
/// Each held lease has a loss token (a [`CancellationToken`]) that is cancelled when the lease
/// ends for any reason: a renewal found it gone or owned by another gateway, Redis could not be
/// reached until the lease may have expired, or it was released. **A cancelled token means:
/// stop using the shard now** (another replica may already be connecting it).
///
/// Dropping the keeper stops the renewals and releases every held lease in the background;
/// [`abandon`](Self::abandon) stops without releasing (what a crash does).
pub struct LeaseKeeper {
    shared: Arc<KeeperShared>,
    stop: CancellationToken,
}

impl fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("leases", &self.shared.leases)
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl LeaseKeeper {
    fn new(leases: ShardLeases) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| CoordError::NoRuntime {
            what: "the lease keeper",
        })?;
        let shared = Arc::new(KeeperShared {
            leases,
            held: Mutex::new(HashMap::new()),
            next_generation: Mutex::new(0),
        });
        let stop = CancellationToken::new();
        runtime.spawn(renew_loop(shared.clone(), stop.clone()));
        Ok(Self { shared, stop })
    }

    /// The leases this keeper works with.
    pub fn leases(&self) -> &ShardLeases {
        &self.shared.leases
    }

    /// Takes the lease of `shard_id` if it is free (or already ours) and keeps it; returns its
    /// loss token, or `None` when another gateway holds it.
    pub async fn try_acquire(&self, shard_id: u32) -> Result<Option<CancellationToken>> {
        let taken_at = Instant::now();
        if self.shared.leases.try_acquire(shard_id).await? {
            Ok(Some(self.shared.insert(shard_id, taken_at)))
        } else {
            Ok(None)
        }
    }

    /// Waits until the lease of `shard_id` is ours, keeps it and returns its loss token.
    ///
    /// Returns [`CoordError::Cancelled`] if `cancel` fires first.
    pub async fn acquire(
        &self,
        shard_id: u32,
        cancel: &CancellationToken,
    ) -> Result<CancellationToken> {
        let taken_at = self.shared.leases.wait_for(shard_id, cancel).await?;
        Ok(self.shared.insert(shard_id, taken_at))
    }

    /// Stops keeping the lease of `shard_id` (cancelling its token) and deletes it if it is
    /// still ours; `false` when it was not ours any more.
    pub async fn release(&self, shard_id: u32) -> Result<bool> {
        self.shared.forget(shard_id);
        self.shared.leases.release(shard_id).await
    }

    /// Stops keeping every lease (cancelling their tokens) and deletes those still ours.
    pub async fn release_all(&self) -> Result<usize> {
        let shard_ids = self.shared.forget_all();
        self.shared.leases.release_many(&shard_ids).await
    }

    /// The shards whose leases are held, in ascending order.
    pub fn held(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.shared.held().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The loss token of a held lease.
    pub fn lost_token(&self, shard_id: u32) -> Option<CancellationToken> {
        self.shared
            .held()
            .get(&shard_id)
            .map(|held| held.lost.clone())
    }

    /// Stops renewing without releasing anything, as if the process had been killed: the
    /// leases stay in Redis until their TTL runs out. The loss tokens are cancelled.
    pub fn abandon(self) {
        self.stop.cancel();
        self.shared.forget_all();
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.stop.cancel();
        let shard_ids = self.shared.forget_all();
        if shard_ids.is_empty() {
            return;
        }
        let leases = self.shared.leases.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = leases.release_many(&shard_ids).await {
                    tracing::warn!(
                        %error,
                        ?shard_ids,
                        "could not release shard leases; they expire after their TTL"
                    );
                }
            });
        } else {
            tracing::warn!(
                ?shard_ids,
                "lease keeper dropped outside a runtime; leases expire after their TTL"
            );
        }
    }
}

/// The lease of one shard, renewed in the background while it lives.
///
/// Dropping it releases the lease in the background; [`release`](Self::release) does so and
/// reports the result.
#[derive(Debug)]
pub struct Lease {
    shard_id: u32,
    lost: CancellationToken,
    vanished: Arc<Notify>,
    keeper: LeaseKeeper,
}

impl Lease {
    /// The shard.
    pub fn shard_id(&self) -> u32 {
        self.shard_id
    }

    /// Cancelled when the lease ends: lost (gone, taken over, or Redis unreachable for the
    /// whole TTL) or released. Stop using the shard when it fires.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// Notified when a renewal found the lease key gone from Redis while nobody else owned
    /// the shard, and took it again: Redis lost its data (restarted empty, flushed). The lease
    /// is still ours; whatever else this replica keeps in Redis is gone too.
    pub fn vanished(&self) -> &Notify {
        &self.vanished
    }

    /// Whether the lease has ended.
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Releases the lease; `false` when it was not ours any more.
    pub async fn release(self) -> Result<bool> {
        self.keeper.release(self.shard_id).await
    }

    /// Stops renewing without releasing, as if the process had been killed: the lease stays
    /// in Redis until its TTL runs out.
    pub fn abandon(self) {
        self.keeper.abandon();
    }
}
