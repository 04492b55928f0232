//! Holding leases: one background task per [`LeaseKeeper`] renews its leases together and
//! tells each holder, through its loss token, when to stop using the shard.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ShardLeases, leases_held};
use crate::{CoordError, Result};

/// One held lease.
pub(super) struct Held {
    /// Cancelled when the lease ends for any reason.
    lost: CancellationToken,
    /// Until when the lease certainly exists (TTL counted from before the last renewal was
    /// sent).
    valid_until: Instant,
    /// Distinguishes a re-acquired lease from the one a renewal result is about.
    generation: u64,
    /// Notified when a renewal found the key gone (Redis lost its data) and took it again.
    pub(super) vanished: Arc<Notify>,
}

pub(super) struct KeeperShared {
    leases: ShardLeases,
    held: Mutex<HashMap<u32, Held>>,
    next_generation: Mutex<u64>,
}

impl KeeperShared {
    pub(super) fn held(&self) -> MutexGuard<'_, HashMap<u32, Held>> {
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
    pub(super) shared: Arc<KeeperShared>,
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
    pub(super) fn new(leases: ShardLeases) -> Result<Self> {
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
    pub(super) shard_id: u32,
    pub(super) lost: CancellationToken,
    pub(super) vanished: Arc<Notify>,
    pub(super) keeper: LeaseKeeper,
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
