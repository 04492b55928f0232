//! Claimed shards (`GATEWAY_SHARDS=auto`): the replica's share follows the live replicas.
//!
//! Every replica registers in the gateway registry (heartbeat TTL = the lease TTL) with the
//! shard count it runs, and computes, from the sorted set of live replicas with that count,
//! the same assignment (`swarmcord_coord::assign`: rendezvous hashing bounded to
//! `ceil(shards / replicas)` per replica). Every `min(1 s, lease TTL / 4)` it reconciles:
//!
//! - a shard that joined its share gets a shard task, which waits for the lease (the previous
//!   owner hands it off, or its lease expires when that owner died or froze), then RESUMEs the
//!   saved session;
//! - a shard that left its share is handed off (`shard.rs`: stop reading, wait for its
//!   confirms, save, close 4000, release the lease).
//!
//! The leases still guarantee one owner per shard while the replicas' views of the membership
//! differ for a moment: the new owner waits until the old one released or lost the lease.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use swarmcord_coord::GatewayRegistry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::shard::{self, Stops};
use super::state::ShardStatus;
use super::{Ctx, RunError};

/// This replica's share, from the live replicas claiming the same shard count (itself
/// included, even before its own entry is visible).
pub(super) async fn share(
    ctx: &Ctx,
    registry: &GatewayRegistry,
) -> Result<BTreeSet<u32>, RunError> {
    let me = ctx.config.gateway_id.as_str();
    if !claims_its_count(ctx).await? {
        return Ok(BTreeSet::new());
    }
    let mut members: Vec<String> = registry
        .gateways()
        .await?
        .into_iter()
        .filter(|(_, info)| info.claims == Some(ctx.total))
        .map(|(id, _)| id)
        .collect();
    members.push(me.to_owned());
    Ok(swarmcord_coord::assign::share_of(&members, ctx.total, me)
        .into_iter()
        .collect())
}

/// Whether the cluster runs this set's shard count, or reshards from or to it. A set that
/// missed a whole resharding (its replica was frozen or cut off meanwhile) claims nothing:
/// its shards were retired, and the supervisor replaces it (`reshard.rs`).
async fn claims_its_count(ctx: &Ctx) -> Result<bool, RunError> {
    match ctx.resharding.count().await? {
        Some(count) if count != ctx.total => Ok(ctx
            .resharding
            .current()
            .await?
            .is_some_and(|r| r.from == ctx.total || r.to == ctx.total)),
        _ => Ok(true),
    }
}

/// Runs the shards of the replica's share until `shutdown`, then waits for their tasks (they
/// park until `close_now`, close with 4000 and release their leases). A shard that fails
/// fatally ends the replica, as with configured shards.
pub(super) async fn claim_shards(
    ctx: Arc<Ctx>,
    registry: GatewayRegistry,
    shutdown: CancellationToken,
    close_now: CancellationToken,
) -> Result<(), RunError> {
    let period = Duration::from_secs(1).min(ctx.config.lease_ttl / 4);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The stop token of each shard task, until the task ended.
    let mut running: HashMap<u32, CancellationToken> = HashMap::new();
    let mut tasks: JoinSet<(u32, Result<(), RunError>)> = JoinSet::new();
    let mut started = false;
    let outcome = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            Some(ended) = tasks.join_next() => {
                match ended {
                    Ok((shard_id, Ok(()))) => { running.remove(&shard_id); }
                    Ok((_, Err(error))) => break Err(error),
                    Err(error) => tracing::error!(%error, "a shard task panicked"),
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let target = match share(&ctx, &registry).await {
            Ok(target) => target,
            Err(error) => {
                // Keep the current share: a Redis outage must not drop every shard.
                tracing::warn!(%error, "cannot read the gateway registry; keeping the current shards");
                continue;
            }
        };
        if ctx.target.get() != target {
            tracing::info!(shards = ?target, "this replica's share of the shards changed");
        }
        ctx.target.set(target.clone());
        for (shard_id, stop) in &running {
            // A shard still identifying is handed off once it has a session to hand over
            // (stopping it now would waste the identify).
            let identifying = ctx.statuses.get(*shard_id) == ShardStatus::Identifying;
            if !target.contains(shard_id) && !stop.is_cancelled() && !identifying {
                tracing::info!(
                    shard_id,
                    "the shard left this replica's share; handing it off"
                );
                stop.cancel();
            }
        }
        for &shard_id in &target {
            if running.contains_key(&shard_id) {
                continue; // running, or still handing off (started again once it ended)
            }
            if started {
                metrics::counter!("swarmcord_gateway_takeovers_total").increment(1);
            }
            let stops = Stops {
                shutdown: shutdown.clone(),
                shard: shutdown.child_token(),
                close_now: close_now.clone(),
            };
            running.insert(shard_id, stops.shard.clone());
            let ctx = Arc::clone(&ctx);
            tasks.spawn(async move { (shard_id, shard::run_shard(ctx, shard_id, stops).await) });
        }
        started = true;
    };
    let finish = async move {
        while let Some(ended) = tasks.join_next().await {
            if let Ok((shard_id, Err(error))) = ended {
                tracing::warn!(shard_id, %error, "shard ended with an error");
            }
        }
    };
    if outcome.is_ok() {
        // Shutting down: the tasks park until `close_now`, then close and release.
        finish.await;
    } else {
        // A fatal shard stops the replica: the other tasks go on until its shutdown stops
        // them (they must not be aborted before their final save).
        tokio::spawn(finish);
    }
    outcome
}
