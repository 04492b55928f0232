//! Resharding while running (claimed shards, `GATEWAY_SHARDS=auto`): the supervisor of a
//! replica's shard sets.
//!
//! The cluster's shard count is stored in Redis by the first replica ([`cluster_count`]);
//! `gateway reshard <count>` starts a change of it (`swarmcord_coord::Resharding`). Every
//! replica then runs, beside its set (the primary), a second [`Instance`] for the new count
//! (registry entry and reply queue `<GATEWAY_ID>+<count>`), which claims its share of the new
//! shards among the other replicas' new sets and drives the record's phases:
//!
//! 1. **overlap**: the new set connects (its identifies go through the cluster-wide queue, so
//!    `max_concurrency` and the session-start budget hold) and reads without forwarding
//!    ([`Mode::Shadow`]: sessions saved, the cache's shard bookkeeping kept);
//! 2. **tagging**, once every new shard is connected with all its guilds (the registry's
//!    `loaded`): both sets add the `content_id` header to what they forward;
//! 3. **both**, [`grace`] later (every replica has seen "tagging"): the new set forwards too;
//!    workers keep the first copy of each event;
//! 4. **switched**, [`grace`] later (every replica forwards the new set): the new count is the
//!    cluster's; each replica retires its old set (stop reading, wait for confirms, close with
//!    1000, release, delete its sessions) and the new set becomes its primary;
//! 5. once no old set is left in the registry, one replica removes the record and the old
//!    sets' cache bookkeeping; the new sets stop tagging.

use std::time::Duration;

use swarmcord_coord::{Phase, Reshard, Resharding};
use swarmcord_ops::http::Health;
use swarmcord_protocol::keys::Keys;
use tokio_util::sync::CancellationToken;

use super::overlap::Mode;
use super::{Deps, Instance, Role, RunError};
use crate::config::GatewayConfig;

/// The shard count the cluster runs: the one stored in Redis, or `configured` when this is the
/// first replica.
pub(super) async fn cluster_count(
    config: &GatewayConfig,
    deps: &Deps,
    configured: u32,
) -> Result<u32, RunError> {
    let count = resharding(config, deps).adopt(configured).await?;
    if count != configured {
        tracing::warn!(
            configured,
            count,
            "the cluster runs {count} shards (stored in Redis; change it with `gateway reshard`); the configured count is not used"
        );
    }
    Ok(count)
}

fn resharding(config: &GatewayConfig, deps: &Deps) -> Resharding {
    Resharding::new(deps.redis.clone(), Keys::new(config.redis_prefix.clone()))
}

/// How often the replicas look at the record (as often as they reconcile their shares).
fn period(config: &GatewayConfig) -> Duration {
    Duration::from_secs(1).min(config.lease_ttl / 4)
}

/// How long a phase lasts at least before the next: every replica has looked at the record
/// twice meanwhile.
fn grace(config: &GatewayConfig) -> Duration {
    period(config) * 2 + Duration::from_millis(500)
}

/// The configuration of the new shard set of this replica.
fn new_set_config(config: &GatewayConfig, count: u32) -> GatewayConfig {
    let mut config = config.clone();
    config.gateway_id = format!("{}+{count}", config.gateway_id);
    config
}

/// Runs the replica's shard sets until `shutdown` or a fatal shard of the primary.
pub(super) async fn supervise(
    primary: Instance,
    deps: &Deps,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let config = primary.ctx.config.clone();
    let mut sets = Sets {
        primary,
        next: None,
        config: config.clone(),
        resharding: resharding(&config, deps),
        warned: None,
    };
    let mut tick = tokio::time::interval(period(&config));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            error = sets.primary.failed() => {
                tracing::error!(%error, "stopping the replica");
                break Err(error);
            }
            error = next_failed(&mut sets.next) => {
                tracing::error!(%error, "a shard of the new set failed fatally; cancelling the resharding");
                if let Err(error) = sets.resharding.cancel().await {
                    tracing::warn!(%error, "could not cancel the resharding");
                }
                if let Some(next) = sets.next.take() {
                    retire(next, health).await;
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        match sets.resharding.current().await {
            Ok(record) => sets.step(record, deps, health).await,
            Err(error) => tracing::warn!(%error, "cannot read the resharding record"),
        }
    };
    health.fail("shutdown", "shutting down");
    let Sets { primary, next, .. } = sets;
    match next {
        // Both resumable: a resharding in progress goes on with the next replicas.
        Some(next) => {
            tokio::join!(primary.stop(), next.stop());
        }
        None => primary.stop().await,
    }
    outcome
}

/// Waits until a shard of the new set fails fatally (never, without a new set).
async fn next_failed(next: &mut Option<Instance>) -> RunError {
    match next {
        Some(next) => next.failed().await,
        None => std::future::pending().await,
    }
}

/// The replica's shard sets.
struct Sets {
    primary: Instance,
    /// The new set while the cluster reshards.
    next: Option<Instance>,
    config: GatewayConfig,
    resharding: Resharding,
    /// The record last warned about (a resharding this replica takes no part in).
    warned: Option<(u32, u32)>,
}

impl Sets {
    /// One look at the record: start, switch or retire sets, set their modes, and move the
    /// record to its next phase when it is time.
    async fn step(&mut self, record: Option<Reshard>, deps: &Deps, health: &Health) {
        let total = self.primary.ctx.total;
        let Some(record) = record else {
            if let Some(next) = self.next.take() {
                tracing::warn!("the resharding was cancelled; disconnecting the new shard set");
                retire(next, health).await;
            }
            set_mode(&self.primary, Mode::Plain).await;
            self.catch_up(deps, health).await;
            return;
        };
        if record.to == total {
            // This set is the new one: it tags until the record is gone.
            set_mode(&self.primary, Mode::Tagged).await;
            if record.phase == Phase::Switched && record.age >= grace(&self.config) {
                self.finish(record).await;
            }
            return;
        }
        if record.from != total {
            if self.warned != Some((record.from, record.to)) {
                self.warned = Some((record.from, record.to));
                tracing::warn!(
                    from = record.from,
                    to = record.to,
                    total,
                    "a resharding is in progress for other shard counts than this replica's; it claims no shard and catches up once the resharding is done"
                );
            }
            return;
        }
        if record.phase == Phase::Switched {
            self.switch(record, deps, health).await;
            return;
        }
        if self.next.is_none() {
            let config = new_set_config(&self.config, record.to);
            tracing::info!(
                from = record.from,
                to = record.to,
                "resharding: starting the new shard set"
            );
            match Instance::start(config, record.to, deps, Role::Resharding, health).await {
                Ok(next) => self.next = Some(next),
                Err(error) => {
                    tracing::warn!(%error, "cannot start the new shard set; retrying");
                    return;
                }
            }
        }
        set_mode(
            &self.primary,
            if record.phase >= Phase::Tagging {
                Mode::Tagged
            } else {
                Mode::Plain
            },
        )
        .await;
        if let Some(next) = &self.next {
            set_mode(
                next,
                if record.phase >= Phase::Both {
                    Mode::Tagged
                } else {
                    Mode::Shadow
                },
            )
            .await;
        }
        self.advance(record).await;
    }

    /// Moves the record on when its phase has lasted long enough.
    async fn advance(&self, record: Reshard) {
        let next = match record.phase {
            Phase::Overlap => {
                if !self.all_loaded(record.to).await {
                    return;
                }
                Phase::Tagging
            }
            Phase::Tagging if record.age >= grace(&self.config) => Phase::Both,
            Phase::Both if record.age >= grace(&self.config) => Phase::Switched,
            _ => return,
        };
        match self.resharding.advance(record.phase, next).await {
            Ok(true) => {
                tracing::info!(from = record.from, to = record.to, phase = %next, "resharding: next phase");
            }
            Ok(false) => {} // another replica moved it first
            Err(error) => tracing::warn!(%error, "cannot move the resharding on"),
        }
    }

    /// Whether every shard of the new count is connected with all its guilds, on some replica.
    async fn all_loaded(&self, count: u32) -> bool {
        let Ok(gateways) = self.primary.registry.gateways().await else {
            return false;
        };
        let mut loaded = std::collections::BTreeSet::new();
        for (_, info) in gateways {
            if info.claims == Some(count) {
                loaded.extend(info.loaded);
            }
        }
        (0..count).all(|shard| loaded.contains(&shard))
    }

    /// The new count is the cluster's: the old set retires, the new one becomes the primary.
    async fn switch(&mut self, record: Reshard, deps: &Deps, health: &Health) {
        tracing::info!(
            from = record.from,
            to = record.to,
            "resharding: switched; retiring the old shard set"
        );
        if self.replace_primary(record.to, deps, health).await {
            metrics::counter!("swarmcord_gateway_reshards_total").increment(1);
        }
    }

    /// A replica that missed a whole resharding (frozen or cut off from Redis meanwhile) runs
    /// a count the cluster left: its set claims nothing (`claim.rs`) and is replaced by one
    /// for the cluster's count, which takes its share by handoff.
    async fn catch_up(&mut self, deps: &Deps, health: &Health) {
        match self.resharding.count().await {
            Ok(Some(count)) if count != self.primary.ctx.total => {
                tracing::warn!(
                    count,
                    total = self.primary.ctx.total,
                    "the cluster was resharded meanwhile; replacing this replica's shard set"
                );
                self.replace_primary(count, deps, health).await;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the cluster's shard count"),
        }
    }

    /// Retires the primary set and makes the new set (started now if there is none) the
    /// primary; false if it could not be started (tried again on the next look).
    async fn replace_primary(&mut self, count: u32, deps: &Deps, health: &Health) -> bool {
        let next = match self.next.take() {
            Some(next) => next,
            None => match Instance::start(
                new_set_config(&self.config, count),
                count,
                deps,
                Role::Resharding,
                health,
            )
            .await
            {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "cannot start the new shard set; retrying");
                    return false;
                }
            },
        };
        set_mode(&next, Mode::Tagged).await;
        let old = std::mem::replace(&mut self.primary, next);
        retire(old, health).await;
        self.primary.ctx.checks.set_primary(true);
        true
    }

    /// Removes the record once no old set is left, with the old sets' cache bookkeeping.
    async fn finish(&self, record: Reshard) {
        let Ok(gateways) = self.primary.registry.gateways().await else {
            return;
        };
        if gateways
            .iter()
            .any(|(_, info)| info.claims == Some(record.from))
        {
            return; // an old set is still retiring
        }
        match self.resharding.finish().await {
            Ok(true) => {
                if let Some(cache) = &self.primary.ctx.cache {
                    let mut updates: Vec<_> = (0..record.from)
                        .map(|shard| cache.forget_shard(shard, record.from))
                        .collect();
                    if let Err(error) = cache.apply(&mut updates).await {
                        tracing::warn!(%error, "cannot remove the old shards' cache bookkeeping");
                    }
                }
                tracing::info!(from = record.from, to = record.to, "resharding: done");
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "cannot remove the resharding record"),
        }
    }
}

/// Sets a shard set's mode; a change is published in the registry at once (voice commands
/// skip sets that do not forward).
async fn set_mode(set: &Instance, mode: Mode) {
    if set.ctx.mode.set(mode) {
        tracing::info!(
            count = set.ctx.total,
            ?mode,
            "shard set forwarding mode changed"
        );
        if let Err(error) = set
            .registry
            .register(&set.ctx.config.gateway_id, &set.ctx.info())
            .await
        {
            tracing::warn!(%error, "could not refresh the gateway registry entry");
        }
    }
}

/// Stops a shard set for good: its shards close with 1000 (their sessions end), its saved
/// sessions are deleted and its `/readyz` checks removed.
async fn retire(set: Instance, health: &Health) {
    set.ctx
        .retiring
        .store(true, std::sync::atomic::Ordering::Release);
    let ctx = std::sync::Arc::clone(&set.ctx);
    set.stop().await;
    if let Err(error) = ctx.sessions.delete_many(ctx.total, &ctx.owned).await {
        tracing::warn!(%error, "cannot delete the retired shard set's sessions (they expire)");
    }
    if ctx.checks.reports() {
        ctx.checks.set_primary(false);
        health.remove("broker");
        health.remove("commands");
        for shard in &ctx.owned {
            health.remove(&format!("shard-{shard}"));
        }
    }
}
