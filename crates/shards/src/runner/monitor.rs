//! The replica's background duties: saving the shards' resumable sessions, readiness, gauges
//! and the gateway registry heartbeat.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use swarmcord_coord::{GatewayRegistry, SavedSession};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::state::ShardStatus;

/// Saves every shard's resumable session.
pub(super) async fn persist(ctx: &Ctx) {
    persist_where(ctx, |_| true).await;
}

/// Saves the resumable sessions of the shards `wanted` selects. A save lands only where this
/// replica still holds the shard's lease, checked atomically in Redis: a replica that lost a
/// shard (frozen, cut off) cannot overwrite what the shard's new owner saves.
pub(super) async fn persist_where(ctx: &Ctx, wanted: impl Fn(u32) -> bool) {
    let batch: Vec<(u32, SavedSession)> = ctx
        .progress()
        .iter()
        .filter(|(shard_id, _)| wanted(**shard_id) && !ctx.is_detached(**shard_id))
        .filter_map(|(shard_id, p)| {
            let session_id = p.session_id.clone()?;
            Some((
                *shard_id,
                SavedSession {
                    session_id,
                    sequence: p.resumable_seq(),
                    resume_url: p.resume_url.clone(),
                    shard_count: ctx.total,
                },
            ))
        })
        .collect();
    if batch.is_empty() {
        return;
    }
    match ctx
        .sessions
        .save_many_if_owner(
            &ctx.config.gateway_id,
            batch.iter().map(|(id, session)| (*id, session)),
        )
        .await
    {
        Ok(refused) if !refused.is_empty() => {
            tracing::warn!(
                ?refused,
                "sessions not saved: another gateway holds these shards' leases"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not persist shard sessions"),
    }
}

pub(super) async fn persist_loop(ctx: Arc<Ctx>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ctx.config.persist_interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => persist(&ctx).await,
        }
    }
}

/// The replica's gauges (set by its primary shard set only).
fn gauges(ctx: &Ctx) {
    metrics::gauge!("swarmcord_gateway_publish_buffer")
        .set(u32::try_from(ctx.publisher.buffered()).unwrap_or(u32::MAX));
    #[allow(clippy::cast_precision_loss, reason = "a gauge")]
    metrics::gauge!("swarmcord_gateway_publish_buffer_bytes")
        .set((ctx.publisher.buffered_bytes() + ctx.staged_bytes.held()) as f64);
    #[allow(clippy::cast_precision_loss, reason = "a gauge")]
    metrics::gauge!("swarmcord_gateway_shards_owned").set(ctx.held.len() as f64);
}

/// Readiness, gauges and the gateway registry heartbeat.
pub(super) async fn monitor(ctx: Arc<Ctx>, registry: GatewayRegistry, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_register = Instant::now();
    // Often enough that the entry outlives two missed heartbeats.
    let register_every = Duration::from_secs(5).min(registry.ttl() / 4);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let health = &ctx.checks;
        if ctx.publisher.is_connected() {
            health.ok("broker");
        } else {
            health.fail("broker", "disconnected from RabbitMQ");
        }
        if health.reports() {
            gauges(&ctx);
        }
        let target = ctx.target.get();
        for shard_id in &ctx.owned {
            let status = ctx.statuses.get(*shard_id);
            let name = format!("shard-{shard_id}");
            // Ready when every shard of the share is active (an empty share is ready).
            if !target.contains(shard_id) {
                health.remove(&name);
                if !ctx.held.contains(*shard_id) {
                    continue;
                }
            } else if status == ShardStatus::Active {
                health.ok(&name);
            } else {
                health.fail(&name, status.name());
            }
            if !health.reports() {
                continue;
            }
            metrics::gauge!("swarmcord_gateway_shard_state", "shard" => shard_id.to_string())
                .set(status.gauge());
            if let Some(latency) = ctx.latency_us.get(shard_id) {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "microseconds fit an f64 exactly"
                )]
                let seconds = latency.load(Ordering::Relaxed) as f64 / 1e6;
                metrics::gauge!("swarmcord_gateway_shard_latency_seconds", "shard" => shard_id.to_string()).set(seconds);
            }
        }
        if last_register.elapsed() > register_every {
            last_register = Instant::now();
            if let Err(error) = registry.register(&ctx.config.gateway_id, &ctx.info()).await {
                tracing::warn!(%error, "could not refresh the gateway registry entry");
            }
        }
    }
}
