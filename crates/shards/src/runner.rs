//! The gateway replica: owns a group of shards, forwards their dispatches to RabbitMQ with
//! publisher confirms, persists resumable sessions, and executes gateway commands.
//!
//! Life of a replica:
//!
//! 1. read `GET /gateway/bot` (shard count when `SHARD_COUNT=auto`, `max_concurrency`, the
//!    session-start budget) and work out the shards this replica owns;
//! 2. for each shard: wait for its lease in Redis, load its saved session, connect (RESUME if
//!    there is a session, else IDENTIFY through the cluster-wide identify queue);
//! 3. forward every dispatch's raw `d` to the events exchange (routing key = event type); the
//!    publisher's bounded buffer makes shard reading wait when the broker is slow or away;
//! 4. every `persist_interval`, save each shard's session with the last sequence number whose
//!    publish the broker confirmed;
//! 5. consume the reply queue `gateway.<id>`: dead-letter malformed commands and those Discord
//!    would refuse (payload over 4096 bytes, field limits); run the others on owned shards or
//!    re-route them to their shard's owner, one lane per shard so that a command waiting for an
//!    owner delays no other shard's commands;
//! 6. on shutdown: stop reading shards, wait for every confirm, persist, close the shards with
//!    4000 (resumable), release the leases.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use swarmcord_broker::{ByteBudget, Incoming, Outgoing, Publisher, PublisherConfig, Reserved};
use swarmcord_cache::{CacheConfig, CacheWriter, Update};
use swarmcord_coord::{
    ConnectionManager, GatewayInfo, GatewayRegistry, Lease, RedisQueue, SavedSession, SessionStore,
    ShardLeases,
};
use swarmcord_ops::http::Health;
use swarmcord_protocol::amqp::{self, EventHeaders, HeaderValue};
use swarmcord_protocol::command::CommandEnvelope;
use swarmcord_protocol::keys::Keys;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, Message, MessageSender, Session, Shard, ShardId, ShardState,
};

use crate::command::{ExecuteError, execute};
use crate::config::{GatewayConfig, ShardCount};
use crate::confirms::ConfirmRouter;
use crate::frame;
use crate::progress::{Progress, ticket};
use crate::resume;
use crate::startup::{Attempt, wait_for};
use crate::watchdog::AckWatch;

/// Why the gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Discord's REST API could not tell the shard count or limits.
    #[error("cannot read GET /gateway/bot: {0}")]
    GatewayInfo(String),
    /// This replica's selection contains no shard.
    #[error(
        "this replica owns no shards (shard count {total}; check GATEWAY_SHARDS / GATEWAY_GROUP)"
    )]
    NoShards {
        /// Total shards.
        total: u32,
    },
    /// Redis could not be reached at start-up.
    #[error("redis: {0}")]
    Redis(#[from] swarmcord_coord::CoordError),
    /// RabbitMQ could not be reached at start-up.
    #[error("rabbitmq: {0}")]
    Broker(#[from] swarmcord_broker::BrokerError),
    /// Discord closed a shard with a code that forbids reconnecting (bad token, intents…).
    #[error(
        "shard {shard_id} was closed by Discord with code {code:?}, which forbids reconnecting (check the token and intents)"
    )]
    FatallyClosed {
        /// The shard.
        shard_id: u32,
        /// The close code.
        code: Option<u16>,
    },
}

/// Shard states as numbers for the `swarmcord_gateway_shard_state` gauge.
fn state_code(state: ShardState) -> u8 {
    match state {
        ShardState::Active => 0,
        ShardState::Disconnected { .. } => 1,
        ShardState::Identifying => 2,
        ShardState::Resuming => 3,
        ShardState::FatallyClosed => 4,
    }
}

/// Added to the identify interval: the slot is timed in Redis, Discord times the IDENTIFY's
/// arrival, and network jitter between the two must not make an identify look early.
const IDENTIFY_MARGIN: Duration = Duration::from_millis(100);

/// Code for "no connection yet" (waiting for the lease).
const STATE_WAITING: u8 = 5;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What every task of the replica shares.
struct Ctx {
    /// When this replica started (Unix ms): identifies its registry entry.
    started_at_ms: u64,
    config: GatewayConfig,
    total: u32,
    owned: Vec<u32>,
    reply_queue: String,
    publisher: Publisher,
    leases: ShardLeases,
    sessions: SessionStore,
    queue: RedisQueue,
    progress: Mutex<HashMap<u32, Progress>>,
    /// Shards whose lease this replica lost: their progress stays in `progress` (to resume
    /// from if the lease comes back, see `resume.rs`) but is not saved to Redis.
    detached: Mutex<BTreeSet<u32>>,
    senders: RwLock<HashMap<u32, MessageSender>>,
    states: HashMap<u32, AtomicU8>,
    latency_us: HashMap<u32, AtomicU64>,
    /// Shard tasks currently reading their shard.
    reading: AtomicUsize,
    /// The Redis cache writer (`None` when `CACHE_RESOURCES=none`).
    cache: Option<CacheWriter>,
    /// Applies the broker's confirms to `progress`.
    confirms: ConfirmRouter,
    /// Bytes of events held by the cache stages of all shards (`PUBLISH_BUFFER_BYTES`).
    staged_bytes: ByteBudget,
}

impl Ctx {
    fn progress(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Progress>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sender(&self, shard_id: u32) -> Option<MessageSender> {
        self.senders
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&shard_id)
            .cloned()
    }

    fn set_sender(&self, shard_id: u32, sender: Option<MessageSender>) {
        let mut senders = self.senders.write().unwrap_or_else(PoisonError::into_inner);
        match sender {
            Some(sender) => senders.insert(shard_id, sender),
            None => senders.remove(&shard_id),
        };
    }

    /// Marks the shard's progress as held without the lease (not saved) or owned again.
    fn detach(&self, shard_id: u32, detached: bool) {
        let mut set = self.detached.lock().unwrap_or_else(PoisonError::into_inner);
        if detached {
            set.insert(shard_id);
        } else {
            set.remove(&shard_id);
        }
    }

    fn is_detached(&self, shard_id: u32) -> bool {
        self.detached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&shard_id)
    }

    fn set_state(&self, shard_id: u32, code: u8) {
        if let Some(state) = self.states.get(&shard_id) {
            state.store(code, Ordering::Relaxed);
        }
    }
}

/// Runs the replica until `shutdown` is cancelled (then shuts down gracefully) or a fatal error.
#[allow(
    clippy::too_many_lines,
    reason = "the start-up and shutdown order is the point; it reads best in one place"
)]
pub async fn run(
    config: GatewayConfig,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    health.fail("startup", "starting");
    let mut http = twilight_http::Client::builder().token(config.token.expose().to_owned());
    if let Some(proxy) = &config.api_proxy {
        http = http.proxy(proxy.clone(), true);
    }
    let http = http.build();
    let Some(info) = wait_for(
        "Discord REST (GET /gateway/bot)",
        &health,
        &shutdown,
        || gateway_info(&http),
    )
    .await?
    else {
        return Ok(());
    };
    let total = match config.shard_count {
        ShardCount::Auto => info.shards,
        ShardCount::Fixed(n) => n,
    };
    let owned = config.shards.shards(total);
    if owned.is_empty() {
        return Err(RunError::NoShards { total });
    }
    crate::counters::register_at_zero(&owned);
    tracing::info!(
        gateway_id = %config.gateway_id,
        total,
        first = owned.first().copied(),
        last = owned.last().copied(),
        max_concurrency = info.session_start_limit.max_concurrency,
        session_starts_remaining = info.session_start_limit.remaining,
        "starting gateway replica"
    );

    let Some(redis) = wait_for("Redis", &health, &shutdown, || async {
        swarmcord_coord::connect(config.redis_url.expose())
            .await
            .map_err(|error| match error {
                swarmcord_coord::CoordError::InvalidUrl => Attempt::Fatal(RunError::from(error)),
                error => Attempt::Retry(RunError::from(error)),
            })
    })
    .await?
    else {
        return Ok(());
    };
    let keys = Keys::new(config.redis_prefix.clone());
    let leases = ShardLeases::new(redis.clone(), keys.clone(), config.gateway_id.clone())
        .with_ttl(config.lease_ttl);
    let queue = RedisQueue::new(
        redis.clone(),
        keys.clone(),
        info.session_start_limit.max_concurrency.max(1),
        config.identify_interval + IDENTIFY_MARGIN,
    )
    .with_owner(config.gateway_id.clone())
    .with_reserve(config.session_start_reserve);
    queue
        .set_session_start_limit(
            info.session_start_limit.remaining,
            info.session_start_limit.total,
            Duration::from_millis(info.session_start_limit.reset_after),
        )
        .await?;
    let sessions = SessionStore::new(redis.clone(), keys.clone());
    let registry = GatewayRegistry::new(redis.clone(), keys.clone());
    let reply_queue = amqp::gateway_queue(&config.gateway_id);
    let cache = cache_writer(&config).await?;

    let (publisher, confirmed) = Publisher::start(
        PublisherConfig::new(
            config.amqp_url.expose(),
            format!("gateway {} events", config.gateway_id),
        )
        .buffer(config.publish_buffer)
        .buffer_bytes(config.publish_buffer_bytes)
        .window(config.publish_window)
        .declare_exchange(config.events_exchange.clone()),
    );

    let config_bytes = config.publish_buffer_bytes;
    let ctx = Arc::new(Ctx {
        started_at_ms: unix_ms(),
        states: owned
            .iter()
            .map(|s| (*s, AtomicU8::new(STATE_WAITING)))
            .collect(),
        latency_us: owned.iter().map(|s| (*s, AtomicU64::new(0))).collect(),
        config,
        total,
        owned,
        reply_queue,
        publisher,
        leases,
        sessions,
        queue,
        progress: Mutex::new(HashMap::new()),
        detached: Mutex::new(BTreeSet::new()),
        senders: RwLock::new(HashMap::new()),
        reading: AtomicUsize::new(0),
        cache,
        confirms: ConfirmRouter::new(),
        staged_bytes: ByteBudget::new(config_bytes),
    });
    registry
        .register(
            &ctx.config.gateway_id,
            &GatewayInfo {
                reply_queue: ctx.reply_queue.clone(),
                shards: ctx.owned.clone(),
                started_at_ms: ctx.started_at_ms,
                heartbeat_latency_ms: std::collections::BTreeMap::new(),
            },
        )
        .await?;

    // Not ready until every check has passed once.
    health.fail("broker", "connecting to RabbitMQ");
    for shard_id in &ctx.owned {
        health.fail(&format!("shard-{shard_id}"), state_name(STATE_WAITING));
    }
    health.remove("startup");

    let stop_reading = CancellationToken::new();
    let close_now = CancellationToken::new();
    let stop_commands = CancellationToken::new();
    let mut background = JoinSet::new();
    background.spawn({
        let ctx = Arc::clone(&ctx);
        async move { ctx.confirms.run(&ctx.progress, confirmed).await }
    });
    let persisting = tokio::spawn(persist_loop(Arc::clone(&ctx), stop_reading.clone()));
    background.spawn(monitor(
        Arc::clone(&ctx),
        health.clone(),
        registry.clone(),
        stop_reading.clone(),
    ));
    let commands = tokio::spawn(consume_commands(
        Arc::clone(&ctx),
        health.clone(),
        stop_commands.clone(),
    ));

    let mut shards = JoinSet::new();
    for shard_id in ctx.owned.clone() {
        shards.spawn(run_shard(
            Arc::clone(&ctx),
            shard_id,
            stop_reading.clone(),
            close_now.clone(),
        ));
    }

    // Run until asked to stop or a shard fails fatally.
    let mut outcome = Ok(());
    tokio::select! {
        () = shutdown.cancelled() => {}
        Some(result) = shards.join_next() => {
            if let Ok(Err(error)) = result {
                tracing::error!(%error, "stopping the replica");
                outcome = Err(error);
            }
        }
    }

    // Graceful shutdown: the order matters for "zero events lost".
    tracing::info!("shutting down: stop reading shards");
    health.fail("shutdown", "shutting down");
    stop_commands.cancel();
    stop_reading.cancel();
    let _ = commands.await;
    // Wait until every shard task stopped reading (they park until `close_now`).
    wait_for_parked(&ctx).await;
    tracing::info!(
        buffered = ctx.publisher.buffered(),
        "waiting for the broker to confirm every forwarded event"
    );
    if ctx
        .publisher
        .flush(ctx.config.shutdown_flush_timeout)
        .await
        .is_err()
    {
        tracing::warn!(
            "not every event was confirmed in time; the saved sessions resume before them"
        );
    }
    // The confirms reach the shards' progress through their own task: the saved sequence
    // numbers must include every confirm the flush saw, or the RESUME replays those events.
    // The periodic save must not land after the final one either.
    if !ctx
        .confirms
        .caught_up(ctx.publisher.confirmed_count(), Duration::from_secs(2))
        .await
    {
        tracing::warn!("confirms were not applied in time; the saved sessions resume before them");
    }
    let _ = persisting.await;
    persist(&ctx).await;
    close_now.cancel();
    while let Some(result) = shards.join_next().await {
        if let Ok(Err(error)) = result {
            tracing::warn!(%error, "shard ended with an error during shutdown");
        }
    }
    // Only our own entry: a replacement started with the same GATEWAY_ID keeps its entry.
    if let Err(error) = registry
        .deregister_instance(&ctx.config.gateway_id, ctx.started_at_ms)
        .await
    {
        tracing::warn!(%error, "could not deregister the gateway");
    }
    background.abort_all();
    ctx.publisher.close().await;
    tracing::info!("gateway stopped");
    outcome
}

/// One `GET /gateway/bot`: a refused token is fatal, anything else is worth waiting for.
async fn gateway_info(
    http: &twilight_http::Client,
) -> Result<twilight_model::gateway::connection_info::BotConnectionInfo, Attempt<RunError>> {
    let retry =
        |error: &dyn std::fmt::Display| Attempt::Retry(RunError::GatewayInfo(error.to_string()));
    match http.gateway().authed().await {
        Ok(response) => response.model().await.map_err(|error| retry(&error)),
        Err(error) => {
            if let twilight_http::error::ErrorType::Response { status, .. } = error.kind()
                && status.get() == 401
            {
                return Err(Attempt::Fatal(RunError::GatewayInfo(
                    "401 Unauthorized: the bot token is invalid".to_owned(),
                )));
            }
            Err(retry(&error))
        }
    }
}

/// Waits (briefly) until every shard task stopped reading.
async fn wait_for_parked(ctx: &Ctx) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.reading.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One shard: lease, connect, forward, park on shutdown, close with 4000.
async fn run_shard(
    ctx: Arc<Ctx>,
    shard_id: u32,
    stop_reading: CancellationToken,
    close_now: CancellationToken,
) -> Result<(), RunError> {
    loop {
        let lease = match ctx.leases.acquire(shard_id, stop_reading.clone()).await {
            Ok(lease) => lease,
            Err(error) => {
                if stop_reading.is_cancelled() {
                    return Ok(());
                }
                tracing::warn!(shard_id, %error, "cannot take the shard lease; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        tracing::info!(shard_id, "shard lease acquired");
        let mut shard = connect_shard(&ctx, shard_id).await;
        ctx.set_sender(shard_id, Some(shard.sender()));
        ctx.reading.fetch_add(1, Ordering::SeqCst);
        let ended = forward(&ctx, &mut shard, &lease, &stop_reading).await;
        ctx.reading.fetch_sub(1, Ordering::SeqCst);
        ctx.set_sender(shard_id, None);
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
                ctx.detach(shard_id, true);
                ctx.set_state(shard_id, STATE_WAITING);
            }
            Forwarding::Fatal(code) => {
                ctx.set_state(shard_id, state_code(ShardState::FatallyClosed));
                let _ = lease.release().await;
                return Err(RunError::FatallyClosed { shard_id, code });
            }
            Forwarding::Stopped => {
                close_now.cancelled().await;
                close_resumable(&mut shard, shard_id).await;
                ctx.progress().remove(&shard_id);
                if let Err(error) = lease.release().await {
                    tracing::warn!(shard_id, %error, "could not release the shard lease (it expires on its own)");
                }
                return Ok(());
            }
        }
    }
}

/// Builds the twilight shard, resuming the saved session when there is one.
async fn connect_shard(ctx: &Ctx, shard_id: u32) -> Shard<RedisQueue> {
    let config = &ctx.config;
    let mut builder = ConfigBuilder::new(config.token.expose().to_owned(), config.intents)
        .queue(ctx.queue.clone());
    if let Some(url) = &config.gateway_url {
        builder = builder.proxy_url(url.clone());
    }
    let saved = match ctx.sessions.load(shard_id).await {
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

enum Forwarding {
    Stopped,
    LeaseLost,
    Fatal(Option<u16>),
}

#[derive(serde::Deserialize)]
struct ReadyInfo {
    session_id: String,
    resume_gateway_url: Option<String>,
}

/// Where a shard's dispatches go: straight to the publisher, or through the cache stage.
enum Sink {
    Direct,
    Cache(mpsc::Sender<Staged>),
}

/// A dispatch waiting in the cache stage.
struct Staged {
    seq: u64,
    kind: String,
    payload: Bytes,
    /// Its share of [`Ctx::staged_bytes`], given back once it is handed to the publisher.
    _bytes: Reserved,
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
    let events = &ctx.config.events;
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_event = Instant::now();
    let mut acks = AckWatch::default();
    let mut last_close = None;
    loop {
        let message = tokio::select! {
            biased;
            () = lease.lost().cancelled() => return Forwarding::LeaseLost,
            () = stop.cancelled() => return Forwarding::Stopped,
            _ = watchdog.tick() => {
                check_health(ctx, shard, &mut last_event, &mut acks);
                continue;
            }
            () = lease.vanished().notified(), if ctx.cache.is_some() => {
                // The lease key vanished and was taken again. If Redis lost its data, the cache
                // lost this shard's guilds too (the stage would only notice on its next write);
                // if only the key went (a same-id predecessor released it), nothing is lost.
                if let Some(writer) = &ctx.cache
                    && resume::cache_lost(writer, shard_id).await
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
        ctx.set_state(shard_id, state_code(shard.state()));
        match message {
            Some(Ok(Message::Text(text))) => {
                last_event = Instant::now();
                match frame::dispatch(&text) {
                    Ok(Some(dispatch)) => match sink {
                        Sink::Direct => {
                            let payload = Bytes::copy_from_slice(dispatch.payload.as_bytes());
                            publish_dispatch(
                                ctx,
                                shard_id,
                                &shard_label,
                                events,
                                dispatch.seq,
                                dispatch.kind,
                                payload,
                                None,
                            )
                            .await;
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
            }
            Some(Err(error)) => tracing::warn!(shard_id, %error, "gateway receive error"),
            None => return Forwarding::Fatal(last_close),
        }
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
async fn cache_stage(
    ctx: Arc<Ctx>,
    writer: CacheWriter,
    shard_id: u32,
    mut rx: mpsc::Receiver<Staged>,
    abort: CancellationToken,
    rebuild: Arc<Notify>,
) {
    let shard_label = shard_id.to_string();
    let mut rebuild_requested = false;
    let events = &ctx.config.events;
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
                    .map(|s| writer.prepare(shard_id, &s.kind, &s.payload))
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
                session = publish_dispatch(
                    &ctx,
                    shard_id,
                    &shard_label,
                    events,
                    staged.seq,
                    &staged.kind,
                    staged.payload,
                    None,
                )
                .await;
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
                    updates.insert(0, writer.session_check(shard_id));
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
                                    next_updates.push(writer.prepare(shard_id, &staged.kind, &staged.payload));
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
            session = publish_dispatch(
                &ctx,
                shard_id,
                &shard_label,
                events,
                staged.seq,
                &staged.kind,
                staged.payload,
                previous,
            )
            .await;
        }
    }
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

/// Counts a dispatch as received and publishes it (unless filtered by `GATEWAY_EVENTS`).
#[allow(clippy::too_many_arguments, reason = "the parts of one dispatch")]
async fn publish_dispatch(
    ctx: &Ctx,
    shard_id: u32,
    shard_label: &str,
    events: &BTreeSet<String>,
    seq: u64,
    kind: &str,
    payload: Bytes,
    previous: Option<String>,
) -> String {
    let forwarded = events.is_empty() || events.contains(kind);
    let (generation, session_id) = {
        let mut all = ctx.progress();
        let progress = all.entry(shard_id).or_default();
        match kind {
            "READY" => {
                if let Ok(ready) = serde_json::from_slice::<ReadyInfo>(&payload) {
                    progress.new_session(ready.session_id, ready.resume_gateway_url);
                }
                metrics::counter!("swarmcord_gateway_identifies_total", "shard" => shard_label.to_owned()).increment(1);
            }
            "RESUMED" => {
                metrics::counter!("swarmcord_gateway_resumes_total", "shard" => shard_label.to_owned()).increment(1);
            }
            _ => {}
        }
        progress.received(seq, forwarded);
        (
            progress.generation,
            progress.session_id.clone().unwrap_or_default(),
        )
    };
    if !forwarded {
        metrics::counter!("swarmcord_gateway_events_filtered_total", "event" => kind.to_owned())
            .increment(1);
        return session_id;
    }
    metrics::counter!("swarmcord_gateway_events_total", "shard" => shard_label.to_owned(), "event" => kind.to_owned())
        .increment(1);
    let headers = EventHeaders {
        gateway_id: ctx.config.gateway_id.clone(),
        shard_id,
        shard_count: ctx.total,
        seq,
        session_id: session_id.clone(),
        received_at_ms: unix_ms(),
    };
    let mut headers: Vec<_> = headers.to_map().into_iter().collect();
    if let Some(previous) = previous {
        headers.push((
            swarmcord_cache::PREVIOUS_STATE_HEADER,
            HeaderValue::Str(previous),
        ));
    }
    let outgoing = Outgoing {
        exchange: ctx.config.events_exchange.clone(),
        routing_key: kind.to_owned(),
        body: payload,
        headers,
        reply_to: Some(ctx.reply_queue.clone()),
        kind: Some(kind.to_owned()),
        content_type: Some("application/json".to_owned()),
        ticket: ticket(shard_id, generation, seq),
    };
    // Waits while the publish buffer is full: the shard is not read until the broker catches up.
    if ctx.publisher.publish(outgoing).await.is_err() {
        tracing::error!(
            shard_id,
            seq,
            "the publisher is closed; event not forwarded"
        );
    }
    session_id
}

/// Opens the cache's own Redis connection (large pipelines must not delay lease renewals) and
/// loads its scripts; `None` when the cache is off.
async fn cache_writer(config: &GatewayConfig) -> Result<Option<CacheWriter>, RunError> {
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

/// The watchdog: reconnect (resuming) a shard whose heartbeats go unanswered or whose events
/// stopped flowing.
fn check_health(
    ctx: &Ctx,
    shard: &Shard<RedisQueue>,
    last_event: &mut Instant,
    acks: &mut AckWatch,
) {
    let shard_id = shard.id().number();
    ctx.set_state(shard_id, state_code(shard.state()));
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

/// Closes with 4000 so the session stays resumable, and waits until the frame is sent.
async fn close_resumable(shard: &mut Shard<RedisQueue>, shard_id: u32) {
    shard.close(CloseFrame::RESUME);
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
        sent = matches!(closed, Ok(true)),
        "shard closed with 4000 (resumable)"
    );
}

/// Saves every shard's resumable session.
async fn persist(ctx: &Ctx) {
    let batch: Vec<(u32, SavedSession)> = ctx
        .progress()
        .iter()
        .filter(|(shard_id, _)| !ctx.is_detached(**shard_id))
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
    if let Err(error) = ctx
        .sessions
        .save_many(batch.iter().map(|(id, session)| (*id, session)))
        .await
    {
        tracing::warn!(%error, "could not persist shard sessions");
    }
}

async fn persist_loop(ctx: Arc<Ctx>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ctx.config.persist_interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => persist(&ctx).await,
        }
    }
}

/// Readiness, gauges and the gateway registry heartbeat.
async fn monitor(
    ctx: Arc<Ctx>,
    health: Health,
    registry: GatewayRegistry,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_register = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if ctx.publisher.is_connected() {
            health.ok("broker");
        } else {
            health.fail("broker", "disconnected from RabbitMQ");
        }
        metrics::gauge!("swarmcord_gateway_publish_buffer")
            .set(u32::try_from(ctx.publisher.buffered()).unwrap_or(u32::MAX));
        #[allow(clippy::cast_precision_loss, reason = "a gauge")]
        metrics::gauge!("swarmcord_gateway_publish_buffer_bytes")
            .set((ctx.publisher.buffered_bytes() + ctx.staged_bytes.held()) as f64);
        for shard_id in &ctx.owned {
            let code = ctx
                .states
                .get(shard_id)
                .map_or(STATE_WAITING, |s| s.load(Ordering::Relaxed));
            let name = format!("shard-{shard_id}");
            if code == 0 {
                health.ok(&name);
            } else {
                health.fail(&name, state_name(code));
            }
            metrics::gauge!("swarmcord_gateway_shard_state", "shard" => shard_id.to_string())
                .set(f64::from(code));
            if let Some(latency) = ctx.latency_us.get(shard_id) {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "microseconds fit an f64 exactly"
                )]
                let seconds = latency.load(Ordering::Relaxed) as f64 / 1e6;
                metrics::gauge!("swarmcord_gateway_shard_latency_seconds", "shard" => shard_id.to_string()).set(seconds);
            }
        }
        if last_register.elapsed() > Duration::from_secs(5) {
            last_register = Instant::now();
            let info = GatewayInfo {
                reply_queue: ctx.reply_queue.clone(),
                shards: ctx.owned.clone(),
                started_at_ms: ctx.started_at_ms,
                heartbeat_latency_ms: ctx
                    .latency_us
                    .iter()
                    // Rounded up: a measured sub-millisecond round trip shows as 1 ms.
                    .map(|(shard, us)| (*shard, us.load(Ordering::Relaxed).div_ceil(1000)))
                    .filter(|(_, ms)| *ms > 0)
                    .collect(),
            };
            if let Err(error) = registry.register(&ctx.config.gateway_id, &info).await {
                tracing::warn!(%error, "could not refresh the gateway registry entry");
            }
        }
    }
}

fn state_name(code: u8) -> &'static str {
    match code {
        0 => "active",
        1 => "disconnected",
        2 => "identifying",
        3 => "resuming",
        4 => "fatally closed",
        _ => "waiting for the shard lease",
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway commands

async fn consume_commands(ctx: Arc<Ctx>, health: Health, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    health.fail("commands", "reply queue not consumed yet");
    while !stop.is_cancelled() {
        match open_reply_queue(&ctx).await {
            Ok((_connection, mut consumer)) => {
                delay = Duration::from_millis(200);
                health.ok("commands");
                tracing::info!(queue = %ctx.reply_queue, "consuming gateway commands");
                // Dropping the lanes aborts them; their unsettled deliveries are redelivered.
                let mut lanes = Lanes::default();
                loop {
                    let delivery = tokio::select! {
                        () = stop.cancelled() => return,
                        delivery = consumer.next() => delivery,
                    };
                    match delivery {
                        Some(Ok(delivery)) => {
                            if let Some(pending) = accept_command(delivery).await {
                                lanes.push(&ctx, pending);
                            }
                        }
                        Some(Err(error)) => {
                            tracing::warn!(%error, "command consumer error; reconnecting");
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot consume the reply queue; retrying"),
        }
        health.fail("commands", "reply queue consumer disconnected");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Declares this replica's reply queue (it lives as long as the connection) and consumes it.
async fn open_reply_queue(
    ctx: &Ctx,
) -> Result<(lapin::Connection, swarmcord_broker::Deliveries), swarmcord_broker::BrokerError> {
    let name = format!("gateway {} commands", ctx.config.gateway_id);
    let connection = swarmcord_broker::connect(ctx.config.amqp_url.expose(), &name).await?;
    let channel = connection.create_channel().await.map_err(|source| {
        swarmcord_broker::BrokerError::Amqp {
            operation: "channel.open".to_owned(),
            source,
        }
    })?;
    swarmcord_broker::declare_dead_letters(&channel).await?;
    let queue = swarmcord_broker::declare_reply_queue(&channel, &ctx.config.gateway_id).await?;
    let deliveries = swarmcord_broker::consume(&channel, &queue, 64, "gateway").await?;
    Ok((connection, deliveries))
}

/// How long a command waits for its shard to have an owner, counted from its arrival.
const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// A decoded, valid command waiting in its lane.
struct Pending {
    delivery: Incoming,
    envelope: CommandEnvelope,
    /// When it is dead-lettered if its shard still has no owner.
    deadline: Instant,
}

/// One task per target shard (and one for the commands to every shard): a command waiting for
/// an owner of its shard delays only the later commands for that shard, which stay in order.
/// How many commands wait in all is bounded by the consumer's prefetch.
#[derive(Default)]
struct Lanes {
    senders: HashMap<Option<u32>, mpsc::UnboundedSender<Pending>>,
    tasks: JoinSet<()>,
}

impl Lanes {
    fn push(&mut self, ctx: &Arc<Ctx>, pending: Pending) {
        let lane = pending.envelope.command.target_shard(ctx.total);
        let sender = self.senders.entry(lane).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
            let ctx = Arc::clone(ctx);
            self.tasks.spawn(async move {
                while let Some(pending) = rx.recv().await {
                    handle_command(&ctx, pending).await;
                }
            });
            tx
        });
        // The lane tasks only end when `self` is dropped, so the send cannot fail; if it
        // did, the delivery would be redelivered when the channel closes.
        let _ = sender.send(pending);
    }
}

/// Decodes and validates a command; dead-letters (with the reason) what must not reach a shard.
async fn accept_command(delivery: Incoming) -> Option<Pending> {
    let deadline = Instant::now() + COMMAND_WAIT;
    let envelope = match CommandEnvelope::from_bytes(delivery.body()) {
        Ok(envelope) => envelope,
        Err(error) => {
            let reason = error.to_string();
            tracing::warn!(%reason, "rejecting a gateway command to the dead-letter queue");
            finish(
                delivery.dead_letter(&reason, "gateway").await,
                "dead_lettered",
                "malformed",
            );
            return None;
        }
    };
    let kind = envelope.command.kind();
    if let Err(error) = envelope.command.validate() {
        let reason = format!("invalid gateway command: {error}");
        tracing::warn!(%reason, id = %envelope.id, kind, "rejecting a gateway command to the dead-letter queue");
        finish(
            delivery.dead_letter(&reason, "gateway").await,
            "dead_lettered",
            kind,
        );
        return None;
    }
    Some(Pending {
        delivery,
        envelope,
        deadline,
    })
}

async fn handle_command(ctx: &Ctx, pending: Pending) {
    let Pending {
        delivery,
        envelope,
        deadline,
    } = pending;
    let kind = envelope.command.kind();
    let targets: Vec<u32> = match envelope.command.target_shard(ctx.total) {
        Some(shard) => vec![shard],
        None => ctx.owned.clone(),
    };
    let mut failure = None;
    for shard_id in targets {
        if let Err(reason) = route(ctx, shard_id, &envelope, deadline).await {
            failure = Some(reason);
        }
    }
    match failure {
        None => finish(delivery.ack().await, "executed", kind),
        Some(reason) => {
            tracing::warn!(%reason, id = %envelope.id, kind, "gateway command could not be delivered; dead-lettering");
            finish(
                delivery.dead_letter(&reason, "gateway").await,
                "dead_lettered",
                kind,
            );
        }
    }
}

fn finish(
    result: Result<(), swarmcord_broker::BrokerError>,
    outcome: &'static str,
    kind: &'static str,
) {
    metrics::counter!("swarmcord_gateway_commands_total", "outcome" => outcome, "kind" => kind)
        .increment(1);
    if let Err(error) = result {
        tracing::warn!(%error, "could not settle a command delivery (it will be redelivered)");
    }
}

/// Executes a command on `shard_id` here, or forwards it to the shard's owner.
async fn route(
    ctx: &Ctx,
    shard_id: u32,
    envelope: &CommandEnvelope,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        if let Some(sender) = ctx.sender(shard_id) {
            match execute(&sender, &envelope.command) {
                Ok(()) => return Ok(()),
                Err(ExecuteError::ShardGone) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        if !ctx.owned.contains(&shard_id) || ctx.sender(shard_id).is_none() {
            match ctx.leases.owner(shard_id).await {
                Ok(Some(owner)) if owner != ctx.config.gateway_id => {
                    return forward_command(ctx, &owner, envelope).await;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, shard_id, "cannot read the shard owner"),
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no gateway owns shard {shard_id} (waited {} s)",
                COMMAND_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn forward_command(ctx: &Ctx, owner: &str, envelope: &CommandEnvelope) -> Result<(), String> {
    let mut forwarded = envelope.clone();
    forwarded.hops = forwarded.hops.saturating_add(1);
    if forwarded.hops > swarmcord_protocol::command::MAX_HOPS {
        return Err(format!("re-routed {} times; giving up", envelope.hops));
    }
    tracing::debug!(id = %envelope.id, owner, "re-routing a gateway command to the shard's owner");
    let outgoing = Outgoing {
        exchange: String::new(),
        routing_key: amqp::gateway_queue(owner),
        body: Bytes::from(forwarded.to_bytes()),
        headers: Vec::new(),
        reply_to: None,
        kind: Some(envelope.command.kind().to_owned()),
        content_type: Some("application/json".to_owned()),
        ticket: 0,
    };
    ctx.publisher
        .publish(outgoing)
        .await
        .map_err(|_| "the publisher is closed".to_owned())?;
    metrics::counter!("swarmcord_gateway_commands_total", "outcome" => "rerouted", "kind" => envelope.command.kind()).increment(1);
    Ok(())
}
