//! The proxy's configuration, read from environment variables (`docs/CONFIGURATION.md`,
//! section REST proxy; the variables are declared in [`declaration`]). Every variable is
//! validated at start-up; a bad one is reported by name.

use std::net::SocketAddr;
use std::time::Duration;

use swarmcord_ops::Secret;
use swarmcord_ops::config::{ConfigError, Env};
use swarmcord_ops::telemetry::LogFormat;

mod declaration;

use declaration::ProxyArgs;

/// Discord's invalid-request limit per 10 minutes (a Cloudflare ban beyond it).
pub const DISCORD_INVALID_LIMIT: u64 = 10_000;

/// Everything the proxy needs, validated. Secrets never appear in its `Debug` output.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where requests go: scheme, host and port, no path (`https://discord.com`).
    pub api_base: String,
    /// Redis URL.
    pub redis_url: Secret,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// Address of the proxy, `/healthz`, `/readyz` and `/metrics`.
    pub http_addr: SocketAddr,
    /// Requests per second per bot token.
    pub global_per_second: u32,
    /// Added to every rate-limit window (latency jitter).
    pub margin: Duration,
    /// Longest a request waits for its turn unless the client says otherwise.
    pub queue_timeout: Duration,
    /// Upper bound of the client's `X-Proxy-Queue-Timeout`.
    pub max_queue_timeout: Duration,
    /// Requests waiting in this replica at most; more are answered 503.
    pub max_queued: usize,
    /// Timeout of one request to Discord.
    pub upstream_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Invalid responses per 10 minutes above which suspect requests are refused.
    pub invalid_threshold: u64,
    /// How long a 401 stops requests with its token.
    pub breaker: Duration,
    /// Log output format.
    pub log_format: LogFormat,
}

impl ProxyConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let args = env.load::<ProxyArgs>()?;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let invalid_threshold =
            (args.invalid_request_fraction * DISCORD_INVALID_LIMIT as f64).round() as u64;
        Ok(Self {
            redis_url: args.common.redis_url()?,
            api_base: args.api_base,
            redis_prefix: args.common.redis_prefix,
            http_addr: args.common.http_addr,
            global_per_second: args.global_rate_limit,
            margin: args.rate_limit_margin,
            queue_timeout: args.queue_timeout,
            max_queue_timeout: args.max_queue_timeout.max(args.queue_timeout),
            max_queued: args.max_queued,
            upstream_timeout: args.upstream_timeout,
            max_body_bytes: args.max_body_bytes,
            invalid_threshold,
            breaker: args.circuit_breaker,
            log_format: args.common.log_format,
        })
    }
}

/// `DISCORD_API_BASE`: `http(s)://host[:port]` without a path (a trailing `/` is dropped).
fn parse_api_base(raw: &str) -> Result<String, String> {
    let api_base = raw.trim_end_matches('/');
    let authority = api_base
        .strip_prefix("https://")
        .or_else(|| api_base.strip_prefix("http://"));
    if authority.is_none_or(|a| a.is_empty() || a.contains('/')) {
        return Err(format!(
            "{api_base:?} must be http:// or https:// and a host, without a path"
        ));
    }
    Ok(api_base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(pairs: &[(&str, &str)]) -> ConfigError {
        let mut all = vec![("REDIS_URL", "redis://127.0.0.1/")];
        all.extend_from_slice(pairs);
        ProxyConfig::from_env(&Env::from_pairs(all.iter().copied())).expect_err("invalid")
    }

    #[test]
    fn defaults_are_discord_and_errors_name_the_variable() {
        let env = Env::from_pairs([("REDIS_URL", "redis://127.0.0.1/")]);
        let config = ProxyConfig::from_env(&env).expect("valid");
        assert_eq!(config.api_base, "https://discord.com");
        assert_eq!(config.global_per_second, 50);
        assert_eq!(config.invalid_threshold, 8000);
        assert!(!format!("{config:?}").contains("127.0.0.1/"));
        let missing = ProxyConfig::from_env(&Env::from_pairs([("X", "y")])).expect_err("no redis");
        assert_eq!(missing.variable, "REDIS_URL");
        for (name, value) in [
            ("DISCORD_API_BASE", "ftp://x"),
            ("DISCORD_API_BASE", "https://discord.com/api"),
            ("GLOBAL_RATE_LIMIT", "0"),
            ("INVALID_REQUEST_FRACTION", "1.5"),
            ("MAX_QUEUED", "0"),
            ("HTTP_ADDR", "nowhere"),
        ] {
            assert_eq!(error(&[(name, value)]).variable, name, "{name}={value}");
        }
    }

    /// One or more bad values for every variable of the REST proxy reference (issue 11, item 6).
    const BAD: &[(&str, &str)] = &[
        ("RUST_LOG", "swarmcord=loud"),
        ("REDIS_URL", "http://redis/"),
        ("REDIS_PREFIX", "a b"),
        ("DISCORD_API_BASE", "ftp://x"),
        ("HTTP_ADDR", "nowhere"),
        ("GLOBAL_RATE_LIMIT", "0"),
        ("RATE_LIMIT_MARGIN_MS", "99999999999"),
        ("QUEUE_TIMEOUT_MS", "18446744073709551615"),
        ("MAX_QUEUE_TIMEOUT_MS", "99999999999"),
        ("MAX_QUEUED", "0"),
        ("UPSTREAM_TIMEOUT_MS", "0"),
        ("MAX_BODY_BYTES", "99999999999"),
        ("INVALID_REQUEST_FRACTION", "NaN"),
        ("CIRCUIT_BREAKER_MS", "-1"),
        ("LOG_FORMAT", "xml"),
    ];

    /// Fuzz-style over `docs/CONFIGURATION.md`: every documented proxy variable refuses a bad
    /// value with an error naming it, and the documented defaults parse.
    #[test]
    fn every_documented_variable_refuses_a_bad_value() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md"),
        )
        .expect("docs/CONFIGURATION.md");
        let base = [("REDIS_URL", "redis://127.0.0.1/")];
        let parse = |env: &Env| ProxyConfig::from_env(env).map(drop);
        if let Err(problems) =
            swarmcord_ops::config::check_bad_values(&doc, "REST proxy", &base, BAD, parse)
        {
            panic!("{problems}");
        }
    }

    /// The table under "REST proxy" of `docs/CONFIGURATION.md` is generated from the
    /// declaration (what all services read is under "All services").
    #[test]
    fn configuration_reference_matches_the_code() {
        if let Err(problems) =
            swarmcord_ops::config::reference::check_service::<ProxyArgs>("REST proxy")
        {
            panic!("{problems}");
        }
    }
}
