//! One shard's task: wait for its lease, connect (RESUME a saved or held session, else
//! IDENTIFY), read and forward its dispatches (directly or through the cache stage), watch its
//! health, and on shutdown park until the final save, then close with 4000. A shard leaving
//! the replica's share is handed off: its events confirmed, its session saved, closed with
//! 4000 and its lease released, so that the next owner resumes it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use swarmcord_coord::{Lease, RedisQueue};

use super::monitor;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use twilight_gateway::{CloseFrame, ConfigBuilder, Message, Session, Shard, ShardId, ShardState};

use super::publish::{Dispatch, publish_dispatch};
use super::stage::{Sink, Staged, cache_stage};
use super::state::ShardStatus;
use super::{Ctx, RunError};
use crate::progress::Progress;
use crate::watchdog::AckWatch;
use crate::{frame, resume};

/// A watchdog tick this late means the process did not run meanwhile (see [`read_shard`]).
const WATCHDOG_STALL: Duration = Duration::from_secs(3);

/// Waits (briefly) until every shard task stopped reading.
pub(super) async fn wait_for_parked(ctx: &Ctx) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.reading.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The tokens a shard task obeys.
pub(super) struct Stops {
    /// The replica shuts down: stop reading, park until `close_now`.
    pub(super) shutdown: CancellationToken,
    /// The shard stops being read: the replica shuts down, or the shard leaves its share (a
    /// child of `shutdown`, or `shutdown` itself).
    pub(super) shard: CancellationToken,
    /// The final save is done: close with 4000 and release the lease.
    pub(super) close_now: CancellationToken,
}

impl Stops {
    /// For a shard that stays until shutdown.
    pub(super) fn fixed(shutdown: &CancellationToken, close_now: &CancellationToken) -> Self {
        Self {
            shutdown: shutdown.clone(),
            shard: shutdown.clone(),
            close_now: close_now.clone(),
        }
    }
}

/// One shard: lease, connect, forward; park on shutdown and close with 4000, or hand the
/// shard off when it leaves the replica's share.
pub(super) async fn run_shard(ctx: Arc<Ctx>, shard_id: u32, stops: Stops) -> Result<(), RunError> {
    loop {
        let lease = match ctx.leases.acquire(shard_id, stops.shard.clone()).await {
            Ok(lease) => lease,
            Err(error) => {
                if stops.shard.is_cancelled() {
                    return Ok(());
                }
                tracing::warn!(shard_id, %error, "cannot take the shard lease; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        tracing::info!(shard_id, "shard lease acquired");
        ctx.held.mark(shard_id, true);
        let mut shard = connect_shard(&ctx, shard_id).await;
        ctx.senders.set(shard_id, Some(shard.sender()));
        ctx.reading.fetch_add(1, Ordering::SeqCst);
        let ended = forward(&ctx, &mut shard, &lease, &stops.shard).await;
        ctx.reading.fetch_sub(1, Ordering::SeqCst);
        ctx.senders.set(shard_id, None);
        match ended {
            Forwarding::LeaseLost => {
                // Someone else may own the shard now: drop the connection without a close
                // frame (the session stays resumable for the new owner) and start over. The
                // progress is kept, unsaved, in case the lease comes back to us and Redis lost
                // the session (see `resume.rs`).
                tracing::error!(
                    shard_id,
                    "shard lease lost; disconnecting and waiting for it again"
                );
                drop(shard);
                ctx.loading.forget(shard_id);
                ctx.held.mark(shard_id, false);
                ctx.detach(shard_id, true);
                ctx.statuses.set(shard_id, ShardStatus::WaitingForLease);
            }
            Forwarding::Fatal(code) => {
                ctx.statuses.set(shard_id, ShardStatus::FatallyClosed);
                let _ = lease.release().await;
                ctx.held.mark(shard_id, false);
                return Err(RunError::FatallyClosed { shard_id, code });
            }
            Forwarding::Stopped if !stops.shutdown.is_cancelled() => {
                hand_off(&ctx, &mut shard, lease).await;
                return Ok(());
            }
            Forwarding::Stopped => {
                stops.close_now.cancelled().await;
                if ctx.retiring.load(Ordering::Acquire) {
                    // The cluster resharded away from this shard count: end the session.
                    close(&mut shard, shard_id, CloseFrame::NORMAL).await;
                } else {
                    close(&mut shard, shard_id, CloseFrame::RESUME).await;
                }
                ctx.loading.forget(shard_id);
                ctx.progress().remove(&shard_id);
                release(&ctx, shard_id, lease).await;
                return Ok(());
            }
        }
    }
}

/// Hands a shard that left the replica's share to its next owner: its events confirmed (the
/// shard is no longer read), its session saved, closed with 4000 (resumable), its lease
/// released. The next owner resumes from the saved sequence: nothing is lost, and only events
/// whose confirm did not come within `SHUTDOWN_FLUSH_TIMEOUT_MS` are delivered twice.
async fn hand_off(ctx: &Ctx, shard: &mut Shard<RedisQueue>, lease: Lease) {
    let shard_id = shard.id().number();
    let started = Instant::now();
    let unconfirmed = || ctx.progress().get(&shard_id).map_or(0, |p| p.inflight);
    while unconfirmed() > 0 && started.elapsed() < ctx.config.shutdown_flush_timeout {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if unconfirmed() > 0 {
        tracing::warn!(
            shard_id,
            unconfirmed = unconfirmed(),
            "handing off before every event was confirmed; the next owner resumes before them"
        );
    }
    monitor::persist_where(ctx, |id| id == shard_id).await;
    close(shard, shard_id, CloseFrame::RESUME).await;
    ctx.loading.forget(shard_id);
    ctx.progress().remove(&shard_id);
    ctx.statuses.set(shard_id, ShardStatus::WaitingForLease);
    release(ctx, shard_id, lease).await;
    metrics::counter!("swarmcord_gateway_handoffs_total").increment(1);
    tracing::info!(
        shard_id,
        took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "shard handed off"
    );
}

async fn release(ctx: &Ctx, shard_id: u32, lease: Lease) {
    if let Err(error) = lease.release().await {
        tracing::warn!(shard_id, %error, "could not release the shard lease (it expires on its own)");
    }
    ctx.held.mark(shard_id, false);
}

/// Whether another gateway holds the shard's lease now (asked from Redis, not from the lease
/// keeper, which may not have renewed since the process was frozen). Unknown counts as no.
async fn lease_taken(ctx: &Ctx, shard_id: u32) -> bool {
    matches!(
        ctx.leases.owner(shard_id).await,
        Ok(Some(owner)) if owner != ctx.config.gateway_id
    )
}

/// Builds the twilight shard, resuming the saved session when there is one.
async fn connect_shard(ctx: &Ctx, shard_id: u32) -> Shard<RedisQueue> {
    let config = &ctx.config;
    let mut builder = ConfigBuilder::new(config.token.expose().to_owned(), config.intents)
        .queue(ctx.queue.clone());
    if let Some(url) = &config.gateway_url {
        builder = builder.proxy_url(url.clone());
    }
    let saved = match ctx.sessions.load(shard_id, ctx.total).await {
        Ok(saved) => saved.filter(|s| s.shard_count == ctx.total),
        Err(error) => {
            tracing::warn!(shard_id, %error, "cannot load the saved session");
            None
        }
    };
    let held = ctx.progress().remove(&shard_id);
    let progress = if let Some(chosen) = resume::choose(saved, held.as_ref()) {
        tracing::info!(
            shard_id,
            sequence = chosen.sequence,
            from_memory = chosen.from_memory,
            "resuming the session"
        );
        builder = builder.session(Session::new(chosen.sequence, chosen.session_id.clone()));
        if let Some(url) = &chosen.resume_url {
            builder = builder.resume_url(url.clone());
        }
        Progress::restored(chosen.session_id, chosen.resume_url, chosen.sequence)
    } else {
        Progress::default()
    };
    ctx.progress().insert(shard_id, progress);
    ctx.detach(shard_id, false);
    Shard::with_config(ShardId::new(shard_id, ctx.total), builder.build())
}

/// Why a shard stopped being read.
enum Forwarding {
    Stopped,
    LeaseLost,
    Fatal(Option<u16>),
}

/// Reads the shard and forwards its dispatches until stopped. With the cache on, dispatches go
/// through a per-shard stage that applies them to Redis (pipelined, in order) before it
/// publishes them, so that a worker handling an event reads a cache that includes it.
async fn forward(
    ctx: &Arc<Ctx>,
    shard: &mut Shard<RedisQueue>,
    lease: &Lease,
    stop: &CancellationToken,
) -> Forwarding {
    let shard_id = shard.id().number();
    let rebuild = Arc::new(Notify::new());
    let Some(writer) = ctx.cache.clone() else {
        return read_shard(ctx, shard, lease, stop, &Sink::Direct, &rebuild).await;
    };
    let (tx, rx) = mpsc::channel(ctx.config.cache_batch.saturating_mul(2));
    let abort = CancellationToken::new();
    let stage = tokio::spawn(cache_stage(
        Arc::clone(ctx),
        writer,
        shard_id,
        rx,
        abort.clone(),
        Arc::clone(&rebuild),
    ));
    let ended = read_shard(ctx, shard, lease, stop, &Sink::Cache(tx), &rebuild).await;
    let mut stage = stage;
    if matches!(ended, Forwarding::LeaseLost) {
        // Someone else may own the shard: the stage stops at once, writing nothing more to the
        // cache and publishing nothing more. What it held was never counted as received, so
        // the next owner's RESUME (or ours, see `resume.rs`) replays it with its cache writes;
        // publishing it here too would deliver it twice.
        stage.abort();
        let _ = stage.await;
    } else if tokio::time::timeout(ctx.config.shutdown_flush_timeout, &mut stage)
        .await
        .is_err()
    {
        // Stopped or fatal: the sender is gone and the stage finishes what it holds, unless
        // Redis is away for longer than the flush timeout; then it publishes the rest as
        // orphans, without cache writes and not counted in the saved session, so a RESUME
        // replays them.
        tracing::warn!(
            shard_id,
            "the cache stage could not finish in time; its events are published without cache writes and will be replayed"
        );
        abort.cancel();
        let _ = stage.await;
    }
    ended
}

async fn read_shard(
    ctx: &Ctx,
    shard: &mut Shard<RedisQueue>,
    lease: &Lease,
    stop: &CancellationToken,
    sink: &Sink,
    rebuild: &Notify,
) -> Forwarding {
    let shard_id = shard.id().number();
    let shard_label = shard_id.to_string();
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_event = Instant::now();
    let mut acks = AckWatch::default();
    let mut last_close = None;
    let mut last_tick = Instant::now();
    loop {
        let message = tokio::select! {
            biased;
            () = lease.lost().cancelled() => return Forwarding::LeaseLost,
            () = stop.cancelled() => return Forwarding::Stopped,
            _ = watchdog.tick() => {
                let stalled = last_tick.elapsed();
                last_tick = Instant::now();
                if stalled > WATCHDOG_STALL {
                    // The process did not run (frozen, suspended): what Discord sent meanwhile,
                    // ACKs included, waits unread in the socket. Read it before judging the
                    // connection rather than dropping it with its buffered frames.
                    tracing::warn!(shard_id, stalled_ms = u64::try_from(stalled.as_millis()).unwrap_or(u64::MAX), "the process did not run for a while; reading what the connection buffered");
                    // Unless another gateway took the shard meanwhile: then stand down before
                    // reading, reconnecting or saving anything.
                    if lease_taken(ctx, shard_id).await {
                        return Forwarding::LeaseLost;
                    }
                    last_event = Instant::now();
                    acks.restart();
                }
                check_health(ctx, shard, &mut last_event, &mut acks);
                continue;
            }
            () = lease.vanished().notified(), if ctx.cache.is_some() => {
                // The lease key vanished and was taken again. If Redis lost its data, the cache
                // lost this shard's guilds too (the stage would only notice on its next write);
                // if only the key went (a same-id predecessor released it), nothing is lost.
                if let Some(writer) = &ctx.cache
                    && resume::cache_lost(writer, shard_id, ctx.total).await
                {
                    rebuild.notify_one();
                }
                continue;
            }
            () = rebuild.notified() => {
                // The cache lost this shard's data (Redis restarted empty) while the session
                // went on: end the session (1000) so that READY and GUILD_CREATE rebuild it.
                tracing::warn!(shard_id, "the cache lost this shard's guilds; re-identifying to rebuild them");
                metrics::counter!("swarmcord_cache_rebuilds_total", "shard" => shard_label.clone()).increment(1);
                shard.close(CloseFrame::NORMAL);
                continue;
            }
            message = shard.next() => message,
        };
        ctx.statuses.set(shard_id, shard.state());
        match message {
            Some(Ok(Message::Text(text))) => {
                last_event = Instant::now();
                match frame::dispatch(&text) {
                    Ok(Some(dispatch)) => match sink {
                        Sink::Direct => {
                            let payload = Bytes::copy_from_slice(dispatch.payload.as_bytes());
                            let dispatch = Dispatch {
                                shard_id,
                                shard_label: &shard_label,
                                seq: dispatch.seq,
                                kind: dispatch.kind,
                                payload,
                                previous: None,
                            };
                            publish_dispatch(ctx, dispatch).await;
                        }
                        Sink::Cache(tx) => {
                            // Waits while the stage is full, in events or in bytes (Redis slow
                            // or away): the shard is simply not read. An event dropped here was
                            // never counted as received, so a RESUME replays it.
                            let stage = async {
                                let bytes =
                                    ctx.staged_bytes.reserve(dispatch.payload.len()).await?;
                                let staged = Staged {
                                    seq: dispatch.seq,
                                    kind: dispatch.kind.to_owned(),
                                    payload: Bytes::copy_from_slice(dispatch.payload.as_bytes()),
                                    _bytes: bytes,
                                };
                                tx.send(staged).await.ok()
                            };
                            tokio::select! {
                                biased;
                                () = lease.lost().cancelled() => return Forwarding::LeaseLost,
                                () = stop.cancelled() => return Forwarding::Stopped,
                                sent = stage => if sent.is_none() {
                                    tracing::error!(shard_id, "the cache stage stopped; event not forwarded");
                                },
                            }
                        }
                    },
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(shard_id, %error, "undecodable gateway payload skipped");
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => {
                last_close = frame.as_ref().map(|f| f.code);
                tracing::info!(shard_id, code = ?last_close, "gateway connection closed");
                // The next read reconnects: not if another gateway owns the shard now (a
                // woken replica whose session the new owner resumed).
                if lease_taken(ctx, shard_id).await {
                    return Forwarding::LeaseLost;
                }
            }
            Some(Err(error)) => {
                tracing::warn!(shard_id, %error, "gateway receive error");
                if lease_taken(ctx, shard_id).await {
                    return Forwarding::LeaseLost;
                }
            }
            None => return Forwarding::Fatal(last_close),
        }
    }
}

/// The watchdog: reconnect (resuming) a shard whose heartbeats go unanswered or whose events
/// stopped flowing.
fn check_health(
    ctx: &Ctx,
    shard: &Shard<RedisQueue>,
    last_event: &mut Instant,
    acks: &mut AckWatch,
) {
    let shard_id = shard.id().number();
    ctx.statuses.set(shard_id, shard.state());
    let latency = shard.latency();
    if let (Some(average), Some(slot)) = (latency.average(), ctx.latency_us.get(&shard_id)) {
        slot.store(
            u64::try_from(average.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    // Time since heartbeats stopped being acknowledged, across heartbeats (twilight resets
    // its own `sent` every interval).
    let unacked = acks.observe(latency.periods(), latency.sent(), latency.received());
    if shard.state() != ShardState::Active {
        return;
    }
    let unanswered = unacked > ctx.config.heartbeat_ack_timeout;
    let idle = ctx
        .config
        .idle_timeout
        .is_some_and(|limit| last_event.elapsed() > limit);
    if unanswered || idle {
        tracing::warn!(
            shard_id,
            unanswered,
            idle,
            "watchdog: reconnecting the shard (resume)"
        );
        metrics::counter!("swarmcord_gateway_watchdog_reconnects_total", "shard" => shard_id.to_string()).increment(1);
        shard.close(CloseFrame::RESUME);
        *last_event = Instant::now();
        *acks = AckWatch::default();
    }
}

/// Closes with `frame` (4000: the session stays resumable; 1000: it ends) and waits until the
/// frame is sent.
async fn close(shard: &mut Shard<RedisQueue>, shard_id: u32, frame: CloseFrame<'static>) {
    let code = frame.code;
    shard.close(frame);
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(message) = shard.next().await {
            if let Ok(Message::Close(_)) = message {
                return true;
            }
        }
        false
    })
    .await;
    tracing::info!(
        shard_id,
        code,
        sent = matches!(closed, Ok(true)),
        "shard closed"
    );
}
