//! The connections a worker opens at start-up (Discord REST, Redis, MongoDB), waited for while
//! the services do not answer yet.

use std::sync::Arc;
use std::time::Duration;

use swarmcord_ops::http::Health;
use swarmcord_protocol::backoff::Backoff;
use swarmcord_store::{Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use super::WorkerError;
use crate::config::WorkerConfig;

/// Why a dependency could not be reached.
enum Unreachable {
    /// Try again later.
    Retry(WorkerError),
    /// Waiting cannot help.
    Fatal(WorkerError),
}

/// The connections a worker opens at start-up.
pub(super) struct Connections {
    pub(super) http: Arc<twilight_http::Client>,
    /// For interaction callbacks (see [`rest_clients`]).
    pub(super) callbacks: Arc<twilight_http::Client>,
    pub(super) me: twilight_model::user::CurrentUser,
    pub(super) redis: swarmcord_coord::ConnectionManager,
    pub(super) store: Store,
}

impl Connections {
    /// Opens the connections, waiting for the services with growing delays (up to 10 s) while
    /// they do not answer; `/readyz` says which one is awaited. `None` when stopped meanwhile;
    /// an error when waiting cannot help (Discord refuses the token).
    pub(super) async fn wait(
        config: &WorkerConfig,
        health: &Health,
        stop: &CancellationToken,
    ) -> Result<Option<Self>, WorkerError> {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        loop {
            let delay = backoff.next_delay();
            match Self::open(config).await {
                Ok(connections) => {
                    health.ok("dependencies");
                    return Ok(Some(connections));
                }
                Err(Unreachable::Fatal(error)) => return Err(error),
                Err(Unreachable::Retry(error)) => {
                    tracing::warn!(%error, retry_in = ?delay, "waiting for a dependency");
                    health.fail("dependencies", error.to_string());
                }
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(None),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn open(config: &WorkerConfig) -> Result<Self, Unreachable> {
        let startup = |what: &str, error: &dyn std::fmt::Display| {
            Unreachable::Retry(WorkerError::Startup(format!("{what}: {error}")))
        };
        let (http, callbacks) = rest_clients(config);
        let me = http
            .current_user()
            .await
            .map_err(|error| match error.kind() {
                twilight_http::error::ErrorType::Response { status, .. }
                    if status.is_client_error() =>
                {
                    Unreachable::Fatal(WorkerError::Startup(format!(
                        "Discord REST refused the bot token (DISCORD_TOKEN): {error}"
                    )))
                }
                _ => startup("Discord REST", &error),
            })?
            .model()
            .await
            .map_err(|e| startup("Discord REST", &e))?;
        tracing::info!(bot_id = me.id.get(), "connected to Discord REST");

        // Commands must answer during a Redis outage: every Redis call fails fast instead.
        let redis = swarmcord_coord::connect_failing_fast(config.redis_url.expose())
            .await
            .map_err(|e| startup("Redis", &e))?;
        let store = Store::connect(
            config.mongo_url.expose(),
            &config.mongo_database,
            StoreOptions::default(),
        )
        .await
        .map_err(|e| startup("MongoDB", &e))?;
        if let Err(error) = store.ensure_indexes().await {
            // Commands that need no settings keep working; indexes are created on a later start.
            tracing::warn!(%error, "MongoDB unavailable at start-up; settings commands will answer that");
        }
        Ok(Self {
            http,
            callbacks,
            me,
            redis,
            store,
        })
    }
}

/// The replica's Discord REST clients: one for every request, and one for the interaction
/// callbacks.
///
/// Without the shared REST proxy, twilight's limiter keeps this replica under its share of the
/// global limit and learns route buckets from Discord's headers. With it, the proxy keeps every
/// limit for all replicas (twilight's `proxy` mode sends the same requests, token included, over
/// plain HTTP), so the in-process limiter is off.
///
/// Callbacks skip twilight's limiter: it queues every request to a path whose bucket it has not
/// learnt and that starts with no channel, guild or webhook (every callback: each interaction
/// has its own path; a first `GET /users/{id}`) in *one* queue, one request at a time until
/// its response is read. A "thinking…" would wait there behind the command's own slow REST
/// call and miss Discord's 3 s, and the callbacks of simultaneous interactions would wait for
/// each other. Callbacks are not bound to the global limit and each path is used once, so
/// there is nothing for the limiter to keep; the proxy keys them by interaction.
fn rest_clients(config: &WorkerConfig) -> (Arc<twilight_http::Client>, Arc<twilight_http::Client>) {
    let client = |limiter: Option<twilight_http_ratelimiting::RateLimiter>| {
        let builder = twilight_http::Client::builder()
            .token(config.token.expose().to_owned())
            .ratelimiter(limiter);
        match config.rest_proxy.as_ref().or(config.api_proxy.as_ref()) {
            Some(proxy) => builder.proxy(proxy.clone(), true),
            None => builder,
        }
        .build()
    };
    if config.rest_proxy.is_some() {
        let http = Arc::new(client(None));
        return (Arc::clone(&http), http);
    }
    let limiter = twilight_http_ratelimiting::RateLimiter::new(config.global_rate_limit);
    (Arc::new(client(Some(limiter))), Arc::new(client(None)))
}
