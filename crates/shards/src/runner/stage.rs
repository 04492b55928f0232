//! The cache stage of a shard (with `CACHE_RESOURCES` on): applies each batch of dispatches to
//! the Redis cache as one pipeline, then publishes them in order, so that a worker handling
//! an event reads a cache that includes it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use swarmcord_broker::{Outgoing, Reserved};
use swarmcord_cache::{CacheConfig, CacheWriter, Update};
use swarmcord_coord::ConnectionManager;
use swarmcord_protocol::amqp::EventHeaders;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::publish::{Dispatch, ReadyInfo, publish_dispatch};
use swarmcord_protocol::time::unix_ms;

use super::overlap::Mode;
use super::{Ctx, RunError};
use crate::config::GatewayConfig;

/// Where a shard's dispatches go: straight to the publisher, or through the cache stage.
pub(super) enum Sink {
    Direct,
    Cache(mpsc::Sender<Staged>),
}

/// A dispatch waiting in the cache stage.
pub(super) struct Staged {
    pub(super) seq: u64,
    pub(super) kind: String,
    pub(super) payload: Bytes,
    /// Its share of [`Ctx::staged_bytes`], given back once it is handed to the publisher.
    pub(super) _bytes: Reserved,
}

/// The cache writes of one dispatch: all of them, or only the shard's bookkeeping (which
/// guilds it holds, which session rebuilt them) while the shard set connects beside the
/// forwarding one, so that the cache is consistent for it once it forwards.
fn plan(ctx: &Ctx, writer: &CacheWriter, shard_id: u32, staged: &Staged) -> Update {
    if ctx.mode.get() == Mode::Shadow {
        writer.prepare_bookkeeping(shard_id, ctx.total, &staged.kind, &staged.payload)
    } else {
        writer.prepare(shard_id, ctx.total, &staged.kind, &staged.payload)
    }
}

/// The cache stage of one shard: takes the dispatches in order, applies a batch of them to
/// Redis as one pipeline, then publishes them in order. Events that change nothing in the
/// cache and come before the batch's first write are published at once.
///
/// When `abort` fires (shutdown could not wait any longer for Redis), the stage writes nothing
/// more to the cache but still publishes every event it holds ("orphans": not counted in the
/// shard's progress), so that none is lost; their replays carry the ordering guarantee. (When
/// the lease is lost, the stage is dropped instead: see [`forward`].)
pub(super) async fn cache_stage(
    ctx: Arc<Ctx>,
    writer: CacheWriter,
    shard_id: u32,
    mut rx: mpsc::Receiver<Staged>,
    abort: CancellationToken,
    rebuild: Arc<Notify>,
) {
    let shard_label = shard_id.to_string();
    let mut rebuild_requested = false;
    let max = ctx.config.cache_batch;
    let mut batch: Vec<Staged> = Vec::with_capacity(max);
    // The next batch, read and parsed while the current one is in flight.
    let mut next: Vec<Staged> = Vec::with_capacity(max);
    let mut next_updates: Vec<Update> = Vec::with_capacity(max);
    let mut closed = false;
    let mut session = String::new();
    loop {
        batch.clear();
        let mut updates: Vec<Update>;
        if next.is_empty() {
            if closed || rx.recv_many(&mut batch, max).await == 0 {
                return;
            }
            updates = if abort.is_cancelled() {
                Vec::new()
            } else {
                batch
                    .iter()
                    .map(|s| plan(&ctx, &writer, shard_id, s))
                    .collect()
            };
        } else {
            std::mem::swap(&mut batch, &mut next);
            updates = std::mem::take(&mut next_updates);
        }
        if !abort.is_cancelled() {
            // A resumed session is checked at once, even if nothing is written.
            let has_resumed = batch.iter().any(|s| s.kind == "RESUMED");
            let first_write = updates
                .iter()
                .position(|u| !u.is_empty())
                .unwrap_or(batch.len());
            // Events before the first write need nothing from Redis: publish them now.
            for staged in batch.drain(..first_write) {
                session = publish_staged(&ctx, shard_id, &shard_label, staged, None).await;
            }
            updates.drain(..first_write);
            if !batch.is_empty() || has_resumed {
                #[allow(clippy::cast_precision_loss, reason = "batch sizes are small")]
                metrics::histogram!("swarmcord_cache_batch_events").record(batch.len() as f64);
                // Unless the batch starts a new session, check that the cache still holds
                // this session's rebuild (it does not after Redis restarted empty).
                let has_ready = batch.iter().any(|s| s.kind == "READY");
                if has_ready {
                    rebuild_requested = false;
                }
                let expected = if has_ready || rebuild_requested {
                    None
                } else {
                    ctx.progress()
                        .get(&shard_id)
                        .and_then(|p| p.session_id.clone())
                };
                if expected.is_some() {
                    updates.insert(0, writer.session_check(shard_id, ctx.total));
                }
                let give_up = || abort.is_cancelled();
                // While Redis works on this batch, read and parse the next one (parsing is
                // pure: the order of writes and publishes is unchanged). An error means
                // `abort` fired: the events become orphans below.
                let applied = {
                    let apply = writer.apply_until(&mut updates, give_up);
                    tokio::pin!(apply);
                    loop {
                        tokio::select! {
                            biased;
                            result = &mut apply => break result.is_ok(),
                            item = rx.recv(), if !closed && next.len() < max => match item {
                                Some(staged) => {
                                    next_updates.push(plan(&ctx, &writer, shard_id, &staged));
                                    next.push(staged);
                                }
                                None => closed = true,
                            },
                        }
                    }
                };
                if let Some(expected) = expected {
                    let check = updates.remove(0);
                    if applied && check.previous() != Some(expected.as_bytes()) {
                        rebuild_requested = true;
                        rebuild.notify_one();
                    }
                }
            }
        }
        let mut updates = updates.into_iter();
        for staged in batch.drain(..) {
            let update = updates.next().unwrap_or_default();
            if abort.is_cancelled() {
                publish_orphan(&ctx, shard_id, &mut session, staged).await;
                continue;
            }
            let previous = if ctx.config.cache_previous_state {
                update
                    .previous()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
            } else {
                None
            };
            session = publish_staged(&ctx, shard_id, &shard_label, staged, previous).await;
        }
    }
}

/// Publishes a staged dispatch (see [`publish_dispatch`]); returns the shard's session id.
async fn publish_staged(
    ctx: &Ctx,
    shard_id: u32,
    shard_label: &str,
    staged: Staged,
    previous: Option<String>,
) -> String {
    let dispatch = Dispatch {
        shard_id,
        shard_label,
        seq: staged.seq,
        kind: &staged.kind,
        payload: staged.payload,
        previous,
    };
    publish_dispatch(ctx, dispatch).await
}

/// Publishes an event of a shard this replica no longer reads (see [`cache_stage`]), without
/// touching the shard's progress (ticket 0: its confirm is ignored).
async fn publish_orphan(ctx: &Ctx, shard_id: u32, session: &mut String, staged: Staged) {
    let events = &ctx.config.events;
    if staged.kind == "READY"
        && let Ok(ready) = serde_json::from_slice::<ReadyInfo>(&staged.payload)
    {
        *session = ready.session_id;
    }
    if !(events.is_empty() || events.contains(&staged.kind)) {
        return;
    }
    metrics::counter!("swarmcord_gateway_events_orphaned_total", "shard" => shard_id.to_string())
        .increment(1);
    let headers = EventHeaders {
        gateway_id: ctx.config.gateway_id.clone(),
        shard_id,
        shard_count: ctx.total,
        seq: staged.seq,
        session_id: session.clone(),
        received_at_ms: unix_ms(),
        content_id: None,
    };
    let outgoing = Outgoing {
        exchange: ctx.config.events_exchange.clone(),
        routing_key: staged.kind.clone(),
        body: staged.payload,
        headers: headers.to_map().into_iter().collect(),
        reply_to: Some(ctx.reply_queue.clone()),
        kind: Some(staged.kind),
        content_type: Some("application/json".to_owned()),
        ticket: 0,
    };
    if ctx.publisher.publish(outgoing).await.is_err() {
        tracing::error!(shard_id, "the publisher is closed; event not forwarded");
    }
}

/// Opens the cache's own Redis connection (large pipelines must not delay lease renewals) and
/// loads its scripts; `None` when the cache is off.
pub(super) async fn cache_writer(config: &GatewayConfig) -> Result<Option<CacheWriter>, RunError> {
    if config.cache_resources.is_empty() {
        tracing::info!("the Redis cache is off (CACHE_RESOURCES=none)");
        return Ok(None);
    }
    let client = redis::Client::open(config.redis_url.expose())
        .map_err(|_| RunError::Redis(swarmcord_coord::CoordError::InvalidUrl))?;
    let settings = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_max_delay(Duration::from_millis(500));
    let redis = ConnectionManager::new_with_config(client, settings)
        .await
        .map_err(|error| {
            RunError::Redis(swarmcord_coord::CoordError::Redis {
                operation: "connect (cache)",
                error,
            })
        })?;
    let mut cache_config = CacheConfig::new(config.redis_prefix.clone());
    cache_config.resources = config.cache_resources;
    cache_config.message_ttl = config.cache_message_ttl;
    cache_config.previous_state = config.cache_previous_state;
    let writer = CacheWriter::new(redis, cache_config);
    if let Err(error) = writer.load_scripts().await {
        tracing::warn!(%error, "cannot load the cache scripts yet (retried on the first write)");
    }
    tracing::info!(resources = ?config.cache_resources, previous_state = config.cache_previous_state, "the Redis cache is on");
    Ok(Some(writer))
}
