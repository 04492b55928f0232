//! One shard set of a replica (one shard count): what its shards share ([`Deps`]), how it is
//! set up ([`start`]) and run ([`Instance`]). A replica runs one set, and a second one while
//! the cluster reshards (`reshard.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use swarmcord_broker::{ByteBudget, Confirmed, Publisher, PublisherConfig};
use swarmcord_coord::{GatewayRegistry, RedisQueue, SessionStore, ShardLeases};
use swarmcord_ops::http::Health;
use swarmcord_protocol::amqp;
use swarmcord_protocol::keys::Keys;
use swarmcord_protocol::time::unix_ms;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::commands::Senders;
use super::overlap::{Loading, Mode, ModeCell};
use super::state::{Checks, ShardSet, ShardStatus, Statuses};
use super::{Ctx, IDENTIFY_MARGIN, RunError, Tasks, claim, shut_down, stage};
use crate::config::{GatewayConfig, ShardSelection};
use crate::confirms::ConfirmRouter;
use crate::startup::{Attempt, wait_for};

/// What every shard set of the replica shares: Discord's limits and the Redis connection.
pub(super) struct Deps {
    pub(super) info: twilight_model::gateway::connection_info::BotConnectionInfo,
    pub(super) redis: swarmcord_coord::ConnectionManager,
}

impl Deps {
    /// Reads Discord's limits and connects to Redis; waits (with backoff, said in `/readyz`)
    /// for both. `None`: `shutdown` came first.
    pub(super) async fn connect(
        config: &GatewayConfig,
        health: &Health,
        shutdown: &CancellationToken,
    ) -> Result<Option<Self>, RunError> {
        let mut http = twilight_http::Client::builder().token(config.token.expose().to_owned());
        if let Some(proxy) = &config.api_proxy {
            http = http.proxy(proxy.clone(), true);
        }
        let http = http.build();
        let Some(info) = wait_for("Discord REST (GET /gateway/bot)", health, shutdown, || {
            gateway_info(&http)
        })
        .await?
        else {
            return Ok(None);
        };
        let Some(redis) = wait_for("Redis", health, shutdown, || async {
            swarmcord_coord::connect(config.redis_url.expose())
                .await
                .map_err(|error| match error {
                    swarmcord_coord::CoordError::InvalidUrl => {
                        Attempt::Fatal(RunError::from(error))
                    }
                    error => Attempt::Retry(RunError::from(error)),
                })
        })
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Self { info, redis }))
    }
}

/// Which shard set of the replica an [`Instance`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The set the replica runs: reports to `/readyz`, sets the gauges.
    Primary,
    /// The new set connecting beside it while the cluster reshards (`reshard.rs`): its own
    /// registry entry and reply queue (`<GATEWAY_ID>+<count>`), reports nothing until it
    /// becomes the primary.
    Resharding,
}

/// One shard set of the replica (one shard count): its context, registry entry and tasks.
pub(super) struct Instance {
    pub(super) ctx: Arc<Ctx>,
    pub(super) registry: GatewayRegistry,
    pub(super) tasks: Tasks,
}

impl Instance {
    /// Connects to RabbitMQ (in the background), registers and starts the set's tasks.
    pub(super) async fn start(
        config: GatewayConfig,
        total: u32,
        deps: &Deps,
        role: Role,
        health: &Health,
    ) -> Result<Self, RunError> {
        let (ctx, registry, confirmed) = start(config, total, deps, role, health).await?;
        // Not ready until every check has passed once.
        ctx.checks.fail("broker", "connecting to RabbitMQ");
        for shard_id in ctx.target.get() {
            ctx.checks.fail(
                &format!("shard-{shard_id}"),
                ShardStatus::WaitingForLease.name(),
            );
        }
        let tasks = Tasks::spawn(&ctx, &registry, confirmed);
        Ok(Self {
            ctx,
            registry,
            tasks,
        })
    }

    /// Waits until one of the set's shards fails fatally (never, if none does).
    pub(super) async fn failed(&mut self) -> RunError {
        loop {
            match self.tasks.shards.join_next().await {
                Some(Ok(Err(error))) => return error,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Runs the set until `shutdown` or a fatal shard, then shuts it down.
    pub(super) async fn run(
        mut self,
        health: &Health,
        shutdown: &CancellationToken,
    ) -> Result<(), RunError> {
        let mut outcome = Ok(());
        tokio::select! {
            () = shutdown.cancelled() => {}
            error = self.failed() => {
                tracing::error!(%error, "stopping the replica");
                outcome = Err(error);
            }
        }
        health.fail("shutdown", "shutting down");
        self.stop().await;
        outcome
    }

    /// Shuts the set down gracefully (see [`shut_down`]).
    pub(super) async fn stop(self) {
        shut_down(&self.ctx, &self.registry, self.tasks).await;
    }
}

/// What [`start`] sets up.
type Started = (
    Arc<Ctx>,
    GatewayRegistry,
    mpsc::UnboundedReceiver<Confirmed>,
);

/// Sets up one shard set: the identify queue, the session store, the registry entry, the
/// publisher (it connects in the background) and the cache writer.
async fn start(
    config: GatewayConfig,
    total: u32,
    deps: &Deps,
    role: Role,
    health: &Health,
) -> Result<Started, RunError> {
    let info = &deps.info;
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
    let redis = deps.redis.clone();
    let keys = Keys::new(config.redis_prefix.clone());
    let leases = ShardLeases::new(
        redis.clone(),
        keys.clone(),
        config.gateway_id.clone(),
        total,
    )
    .with_ttl(config.lease_ttl);
    let queue = RedisQueue::new(
        redis.clone(),
        keys.clone(),
        info.session_start_limit.max_concurrency.max(1),
        config.identify_interval + IDENTIFY_MARGIN,
    )
    .with_owner(config.gateway_id.clone())
    .with_reserve(config.session_start_reserve);
    if role == Role::Primary {
        // The budget Discord reported at start-up (a set started later must not reset what
        // the cluster spent since).
        queue
            .set_session_start_limit(
                info.session_start_limit.remaining,
                info.session_start_limit.total,
                Duration::from_millis(info.session_start_limit.reset_after),
            )
            .await?;
    }
    let sessions = SessionStore::new(redis.clone(), keys.clone());
    let resharding = swarmcord_coord::Resharding::new(redis.clone(), keys.clone());
    let mut registry = GatewayRegistry::new(redis, keys);
    if config.shards == ShardSelection::Claimed {
        // The registry is the membership the shares are computed from: a dead replica must
        // leave it about as fast as its leases expire.
        registry = registry.with_ttl(config.lease_ttl);
    }
    let reply_queue = amqp::gateway_queue(&config.gateway_id);
    let cache = stage::cache_writer(&config).await?;

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

    let staged_bytes = ByteBudget::new(config.publish_buffer_bytes);
    let ctx = Arc::new(Ctx {
        started_at_ms: unix_ms(),
        statuses: Statuses::new(&owned),
        latency_us: owned.iter().map(|s| (*s, AtomicU64::new(0))).collect(),
        target: Arc::new(ShardSet::new(if config.shards == ShardSelection::Claimed {
            Vec::new()
        } else {
            owned.clone()
        })),
        held: ShardSet::default(),
        config,
        total,
        owned,
        reply_queue,
        publisher,
        leases,
        sessions,
        queue,
        progress: Mutex::new(HashMap::new()),
        detached: ShardSet::default(),
        senders: Arc::new(Senders::default()),
        reading: AtomicUsize::new(0),
        cache,
        confirms: ConfirmRouter::new(),
        staged_bytes,
        mode: ModeCell::new(match role {
            Role::Primary => Mode::Plain,
            Role::Resharding => Mode::Shadow,
        }),
        loading: Loading::default(),
        checks: Checks::new(health.clone(), role == Role::Primary),
        resharding,
        retiring: AtomicBool::new(false),
    });
    registry
        .register(&ctx.config.gateway_id, &ctx.info())
        .await?;
    if ctx.claims() {
        ctx.target.set(claim::share(&ctx, &registry).await?);
    }
    Ok((ctx, registry, confirmed))
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
