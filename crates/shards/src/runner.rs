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
//!    4000 (resumable), release the leases; then stop consuming the reply queue, once the
//!    commands that waited for their shard's next owner were forwarded to it.
//!
//! With `GATEWAY_SHARDS=auto` the shards are claimed rather than configured (`claim.rs`): the
//! replica's share follows the live replicas in the registry, and a shard leaving the share is
//! handed off (stop reading, wait for its confirms, save, close 4000, release) to its new owner,
//! which resumes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use swarmcord_broker::{ByteBudget, Confirmed, Publisher};
use swarmcord_cache::CacheWriter;
use swarmcord_coord::{GatewayInfo, GatewayRegistry, RedisQueue, SessionStore, ShardLeases};
use swarmcord_ops::http::Health;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{GatewayConfig, ShardCount, ShardSelection};
use crate::confirms::ConfirmRouter;
use crate::progress::Progress;

mod claim;
mod commands;
mod instance;
mod monitor;
mod overlap;
mod publish;
mod reshard;
mod shard;
mod stage;
mod state;

use commands::{Router, Senders};
use instance::{Deps, Instance, Role};
use overlap::{Loading, Mode, ModeCell};
use state::{Checks, ShardSet, ShardStatus, Statuses};

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

/// Added to the identify interval: the slot is timed in Redis, Discord times the IDENTIFY's
/// arrival, and network jitter between the two must not make an identify look early.
const IDENTIFY_MARGIN: Duration = Duration::from_millis(100);

/// What the shard tasks, the cache stages and the monitor share (the command consumer gets
/// the narrower [`Router`]).
struct Ctx {
    /// When this replica started (Unix ms): identifies its registry entry.
    started_at_ms: u64,
    config: GatewayConfig,
    total: u32,
    /// The shards this replica may run: its selection, or every shard when it claims them.
    owned: Vec<u32>,
    /// The shards it should run now: `owned`, or its share when it claims shards (shared with
    /// the [`Router`]).
    target: Arc<ShardSet>,
    /// The shards whose lease it holds.
    held: ShardSet,
    reply_queue: String,
    publisher: Publisher,
    leases: ShardLeases,
    sessions: SessionStore,
    queue: RedisQueue,
    progress: Mutex<HashMap<u32, Progress>>,
    /// Shards whose lease this replica lost: their progress stays in `progress` (to resume
    /// from if the lease comes back, see `resume.rs`) but is not saved to Redis.
    detached: ShardSet,
    /// The command senders of the shards being read (shared with the [`Router`]).
    senders: Arc<Senders>,
    statuses: Statuses,
    latency_us: HashMap<u32, AtomicU64>,
    /// Shard tasks currently reading their shard.
    reading: AtomicUsize,
    /// The Redis cache writer (`None` when `CACHE_RESOURCES=none`).
    cache: Option<CacheWriter>,
    /// Applies the broker's confirms to `progress`.
    confirms: ConfirmRouter,
    /// Bytes of events held by the cache stages of all shards (`PUBLISH_BUFFER_BYTES`).
    staged_bytes: ByteBudget,
    /// How the set forwards (it changes while the cluster reshards, `reshard.rs`).
    mode: ModeCell,
    /// The shards of a set in [`Mode::Shadow`] waiting for their guilds.
    loading: Loading,
    /// The set's `/readyz` checks (written while it is the replica's primary).
    checks: Checks,
    /// The cluster's shard count and resharding record.
    resharding: swarmcord_coord::Resharding,
    /// The set retires (the cluster resharded away from its count): its shards close with
    /// 1000, ending their sessions, instead of 4000.
    retiring: AtomicBool,
}

impl Ctx {
    fn progress(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Progress>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the shard's progress as held without the lease (not saved) or owned again.
    fn detach(&self, shard_id: u32, detached: bool) {
        self.detached.mark(shard_id, detached);
    }

    fn is_detached(&self, shard_id: u32) -> bool {
        self.detached.contains(shard_id)
    }

    /// Whether the replica claims its shards (`GATEWAY_SHARDS=auto`).
    fn claims(&self) -> bool {
        self.config.shards == ShardSelection::Claimed
    }

    /// What the registry says about this replica.
    fn info(&self) -> GatewayInfo {
        let shards = if self.claims() {
            self.held.get().into_iter().collect()
        } else {
            self.owned.clone()
        };
        GatewayInfo {
            reply_queue: self.reply_queue.clone(),
            started_at_ms: self.started_at_ms,
            heartbeat_latency_ms: self
                .latency_us
                .iter()
                // Not for shards handed to another replica.
                .filter(|(shard, _)| !self.claims() || self.held.contains(**shard))
                // Rounded up: a measured sub-millisecond round trip shows as 1 ms.
                .map(|(shard, us)| (*shard, us.load(Ordering::Relaxed).div_ceil(1000)))
                .filter(|(_, ms)| *ms > 0)
                .collect(),
            shards,
            claims: self.claims().then_some(self.total),
            loaded: self
                .held
                .get()
                .into_iter()
                .filter(|shard| {
                    self.loading.loaded(*shard) && self.statuses.get(*shard) == ShardStatus::Active
                })
                .collect(),
            shadow: self.mode.get() == Mode::Shadow,
        }
    }

    /// The command consumer's view.
    fn router(&self) -> Router {
        Router {
            gateway_id: self.config.gateway_id.clone(),
            amqp_url: self.config.amqp_url.clone(),
            reply_queue: self.reply_queue.clone(),
            total: self.total,
            target: Arc::clone(&self.target),
            leases: self.leases.clone(),
            publisher: self.publisher.clone(),
            senders: Arc::clone(&self.senders),
        }
    }
}

/// Runs the replica until `shutdown` is cancelled (then shuts down gracefully) or a fatal error.
pub async fn run(
    config: GatewayConfig,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    health.fail("startup", "starting");
    let Some(deps) = Deps::connect(&config, &health, &shutdown).await? else {
        return Ok(()); // asked to stop while waiting for a dependency
    };
    let claims = config.shards == ShardSelection::Claimed;
    let configured = match config.shard_count {
        ShardCount::Auto => deps.info.shards,
        ShardCount::Fixed(n) => n,
    };
    let total = if claims {
        reshard::cluster_count(&config, &deps, configured).await?
    } else {
        configured
    };
    let primary = Instance::start(config, total, &deps, Role::Primary, &health).await?;
    health.remove("startup");
    if claims {
        reshard::supervise(primary, &deps, &health, &shutdown).await
    } else {
        primary.run(&health, &shutdown).await
    }
}

/// The replica's tasks and the tokens that stop them, in shutdown order.
struct Tasks {
    stop_commands: CancellationToken,
    stop_reading: CancellationToken,
    close_now: CancellationToken,
    commands: JoinHandle<()>,
    persisting: JoinHandle<()>,
    shards: JoinSet<Result<(), RunError>>,
    /// Confirm routing and the monitor: aborted at the end.
    background: JoinSet<()>,
}

impl Tasks {
    fn spawn(
        ctx: &Arc<Ctx>,
        registry: &GatewayRegistry,
        confirmed: mpsc::UnboundedReceiver<Confirmed>,
    ) -> Self {
        let stop_reading = CancellationToken::new();
        let close_now = CancellationToken::new();
        let stop_commands = CancellationToken::new();
        let mut background = JoinSet::new();
        background.spawn({
            let ctx = Arc::clone(ctx);
            async move { ctx.confirms.run(&ctx.progress, confirmed).await }
        });
        let persisting = tokio::spawn(monitor::persist_loop(Arc::clone(ctx), stop_reading.clone()));
        background.spawn(monitor::monitor(
            Arc::clone(ctx),
            registry.clone(),
            stop_reading.clone(),
        ));
        let commands = tokio::spawn(commands::consume_commands(
            Arc::new(ctx.router()),
            ctx.checks.clone(),
            stop_commands.clone(),
        ));
        let mut shards = JoinSet::new();
        if ctx.claims() {
            shards.spawn(claim::claim_shards(
                Arc::clone(ctx),
                registry.clone(),
                stop_reading.clone(),
                close_now.clone(),
            ));
        } else {
            for shard_id in ctx.owned.clone() {
                shards.spawn(shard::run_shard(
                    Arc::clone(ctx),
                    shard_id,
                    shard::Stops::fixed(&stop_reading, &close_now),
                ));
            }
        }
        Self {
            stop_commands,
            stop_reading,
            close_now,
            commands,
            persisting,
            shards,
            background,
        }
    }
}

/// Graceful shutdown: the order matters for "zero events lost".
async fn shut_down(ctx: &Ctx, registry: &GatewayRegistry, mut tasks: Tasks) {
    tracing::info!("shutting down: stop reading shards");
    tasks.stop_reading.cancel();
    if ctx.claims() {
        // Leave the membership at once: the others start waiting for our shards' leases.
        deregister(ctx, registry).await;
    }
    // Wait until every shard task stopped reading (they park until `close_now`).
    shard::wait_for_parked(ctx).await;
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
    let _ = tasks.persisting.await;
    monitor::persist(ctx).await;
    tasks.close_now.cancel();
    while let Some(result) = tasks.shards.join_next().await {
        if let Ok(Err(error)) = result {
            tracing::warn!(%error, "shard ended with an error during shutdown");
        }
    }
    // The reply queue is consumed until now: a command for a shard this replica no longer
    // reads waits for the shard's next owner and is forwarded there, instead of vanishing
    // with this replica's queue. Then the commands still waiting get their turn (each at most
    // COMMAND_WAIT) and the forwarded ones their confirms.
    tasks.stop_commands.cancel();
    let _ = tasks.commands.await;
    if ctx
        .publisher
        .flush(ctx.config.shutdown_flush_timeout)
        .await
        .is_err()
    {
        tracing::warn!("forwarded commands were not all confirmed in time");
    }
    deregister(ctx, registry).await;
    tasks.background.abort_all();
    ctx.publisher.close().await;
    tracing::info!("gateway stopped");
}

/// Removes this replica's registry entry (only its own: a replacement started with the same
/// `GATEWAY_ID` keeps its entry).
async fn deregister(ctx: &Ctx, registry: &GatewayRegistry) {
    if let Err(error) = registry
        .deregister_instance(&ctx.config.gateway_id, ctx.started_at_ms)
        .await
    {
        tracing::warn!(%error, "could not deregister the gateway");
    }
}
