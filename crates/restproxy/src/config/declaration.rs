//! The proxy's variables, declared: name, default, help text (the reference
//! `docs/CONFIGURATION.md`, REST proxy, is generated from it) and value parser.

use std::time::Duration;

use swarmcord_ops::config::common::CommonArgs;
use swarmcord_ops::config::{bounded, millis};

use super::parse_api_base;

/// Every variable of the REST proxy.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// where requests are forwarded: `scheme://host[:port]`, no path (the simulator's address
    /// in tests)
    #[arg(long, env = "DISCORD_API_BASE", default_value = "https://discord.com", value_parser = parse_api_base)]
    pub(crate) api_base: String,
    /// requests per second per bot token across all replicas (Discord: 50 unless raised);
    /// interaction callbacks and webhook routes with a token are exempt
    #[arg(long, env = "GLOBAL_RATE_LIMIT", default_value = "50", value_parser = bounded(1_u32..=100_000))]
    pub(crate) global_rate_limit: u32,
    /// added to every rate-limit window so that network jitter cannot squeeze more than the
    /// limit into one of Discord's windows
    #[arg(long, env = "RATE_LIMIT_MARGIN_MS", default_value = "50", value_parser = millis(0..=10_000))]
    pub(crate) rate_limit_margin: Duration,
    /// longest a request waits for its turn unless the client sends `X-Proxy-Queue-Timeout`;
    /// beyond it the proxy answers 429 (`X-Proxy-Refused: queue-timeout`, `retry_after`)
    #[arg(long, env = "QUEUE_TIMEOUT_MS", default_value = "10000", value_parser = millis(0..=3_600_000))]
    pub(crate) queue_timeout: Duration,
    /// upper bound of `X-Proxy-Queue-Timeout`
    #[arg(long, env = "MAX_QUEUE_TIMEOUT_MS", default_value = "60000", value_parser = millis(0..=3_600_000))]
    pub(crate) max_queue_timeout: Duration,
    /// requests waiting in one replica at most; more get 503 (`X-Proxy-Refused: queue-full`)
    #[arg(long, env = "MAX_QUEUED", default_value = "10000", value_parser = bounded(1_usize..=1_000_000))]
    pub(crate) max_queued: usize,
    /// timeout of one request to Discord (then 504)
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value = "30000", value_parser = millis(1..=600_000))]
    pub(crate) upstream_timeout: Duration,
    /// largest request body accepted (then 413)
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "26214400", value_parser = bounded(1_usize..=104_857_600))]
    pub(crate) max_body_bytes: usize,
    /// fraction of Discord's 10,000 invalid requests (401/403/429) per 10 minutes above which
    /// requests to buckets that recently answered one are refused (503, `X-Proxy-Refused:
    /// invalid-request-guard`); `0` disables
    #[arg(long, env = "INVALID_REQUEST_FRACTION", default_value = "0.8", value_parser = bounded(0.0_f64..=1.0))]
    pub(crate) invalid_request_fraction: f64,
    /// after a 401, how long every request with that token is answered 401 by the proxy
    /// (`X-Proxy-Refused: circuit-open`) instead of being sent
    #[arg(long, env = "CIRCUIT_BREAKER_MS", default_value = "60000", value_parser = millis(0..=86_400_000))]
    pub(crate) circuit_breaker: Duration,
}
