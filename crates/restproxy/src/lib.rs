//! The swarmcord REST proxy: Discord REST v10 for every worker (and any other client), with the
//! bot's rate limits shared by every proxy replica through Redis.
//!
//! Clients send plain Discord REST requests (`/api/v10/...`, their own `Authorization` header)
//! to the proxy instead of Discord; the proxy forwards them unchanged to `DISCORD_API_BASE` and
//! answers with Discord's response unchanged (status, headers, body). Before forwarding, each
//! request waits for its turn under the global limit and its route bucket (see [`limiter`]);
//! answers the proxy makes itself carry `X-Proxy-Refused` with the reason. See
//! `docs/ARCHITECTURE.md`, "The REST proxy".

pub mod config;
mod lease;
pub mod limiter;
mod proxy;
pub mod route;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use swarmcord_ops::http::Health;
use swarmcord_protocol::backoff::Backoff;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::ProxyConfig;
pub use proxy::{QUEUE_TIMEOUT_HEADER, REFUSED_HEADER};

/// Binds `config.http_addr` and serves the proxy (and `/healthz`, `/readyz`, `/metrics`) until
/// `stop` is cancelled; requests in flight finish first. Redis is connected in the background
/// with backoff: until it answers, `/readyz` fails and proxied requests get 503. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve(
    config: ProxyConfig,
    health: Health,
    metrics: PrometheusHandle,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(config.http_addr).await?;
    let bound = listener.local_addr()?;
    let config = Arc::new(config);
    health.fail("redis", "connecting");
    let proxy = proxy::Proxy::new(Arc::clone(&config), health.clone());
    tokio::spawn(connect(proxy.clone(), stop.clone()));
    let app: Router = swarmcord_ops::http::router(health, metrics)
        .merge(Router::new().fallback(proxy::handle).with_state(proxy));
    // Small request/response exchanges: no Nagle delay on the clients' connections.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(error) = server.await {
            tracing::error!(%error, "REST proxy server failed");
        }
    });
    tracing::info!(addr = %bound, api_base = %config.api_base, global_per_second = config.global_per_second, "REST proxy listening");
    Ok((bound, task))
}

/// Connects to Redis with exponential backoff (up to 10 s between attempts), then keeps the
/// invalid-request gauge fresh.
async fn connect(proxy: proxy::Proxy, stop: CancellationToken) {
    let config = Arc::clone(&proxy.config);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let redis = loop {
        let delay = backoff.next_delay();
        match open_redis(config.redis_url.expose()).await {
            Ok(redis) => break redis,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis(), "cannot connect to Redis");
                proxy.health.fail("redis", error.clone());
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    };
    let limiter = limiter::Limiter::new(
        redis,
        limiter::Limits {
            global_per_second: config.global_per_second,
            margin: config.margin,
            probe_ttl: config.upstream_timeout.min(Duration::from_secs(5)),
            invalid_threshold: config.invalid_threshold,
            breaker: config.breaker,
        },
    );
    let _ = proxy.limiter.set(limiter.clone());
    proxy.health.ok("redis");
    tracing::info!("connected to Redis");
    let keys = limiter::Keys::new(&config.redis_prefix, "", "", "");
    loop {
        if let Ok(count) = limiter.invalid_count(&keys).await {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("swarmcord_rest_invalid_requests").set(count as f64);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

async fn open_redis(url: &str) -> Result<redis::aio::ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|_| "invalid REDIS_URL".to_owned())?;
    let settings = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    redis::aio::ConnectionManager::new_with_config(client, settings)
        .await
        .map_err(|error| format!("Redis: {error}"))
}
