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
        // Without the shared REST proxy, twilight's limiter keeps this replica under its share
        // of the global limit and learns route buckets from Discord's headers. With it, the
        // proxy keeps every limit for all replicas (twilight's `proxy` mode sends the same
        // requests, token included, over plain HTTP), so the in-process limiter is off.
        let mut http = twilight_http::Client::builder().token(config.token.expose().to_owned());
        if let Some(proxy) = &config.rest_proxy {
            http = http.proxy(proxy.clone(), true).ratelimiter(None);
        } else {
            http = http.ratelimiter(Some(twilight_http_ratelimiting::RateLimiter::new(
                config.global_rate_limit,
            )));
            if let Some(proxy) = &config.api_proxy {
                http = http.proxy(proxy.clone(), true);
            }
        }
        let http = Arc::new(http.build());
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
            me,
            redis,
            store,
        })
    }
}
