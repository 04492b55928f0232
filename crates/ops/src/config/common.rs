//! The declarations the services share: [`CommonArgs`] (every service) and [`BotArgs`] (the
//! gateway and the worker), and [`secret_variable!`](crate::secret_variable) for secrets.

use std::net::SocketAddr;

use super::{ConfigError, REDIS_SCHEMES, check_url};
use crate::Secret;
use crate::telemetry::LogFormat;

/// Declares a secret read from `NAME` or from the file named by `NAME_FILE` (Docker secrets):
/// a `clap::Args` struct of two variables, one of which may be set (with `required: true`, one
/// must be), and `get()` for the value. Flatten it into a service's declaration with
/// `#[command(flatten)]`; its check (a URL's scheme, say) goes where the secret is used, so that
/// the error names `NAME` whichever variable was set. An optional `valid:` (a `String`, e.g.
/// [`schemes`](crate::config::schemes) of the URL schemes the check takes) is what the
/// reference says the variable accepts.
#[macro_export]
macro_rules! secret_variable {
    (@parser) => {
        $crate::config::secret_value
    };
    (@parser $valid:expr) => {
        $crate::config::described($valid, $crate::config::secret_value)
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            env: $env:tt,
            file_env: $file_env:tt,
            long: $long:tt,
            file_long: $file_long:tt,
            required: $required:tt,
            help: $help:tt
            $(, valid: $valid:expr)? $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, ::clap::Args)]
        #[group(required = $required, multiple = false)]
        $vis struct $name {
            #[arg(id = $env, long = $long, env = $env, help = $help,
                  value_parser = $crate::secret_variable!(@parser $($valid)?))]
            value: Option<$crate::Secret>,
            #[arg(id = $file_env, long = $file_long, env = $file_env, hide = true,
                  value_parser = $crate::config::secret_file)]
            file: Option<$crate::Secret>,
        }

        impl $name {
            /// The secret, from the variable or the file.
            #[allow(dead_code)]
            $vis fn get(&self) -> Option<$crate::Secret> {
                self.value.clone().or_else(|| self.file.clone())
            }

            /// The secret, which the declaration requires.
            #[allow(dead_code)]
            $vis fn required(&self) -> Result<$crate::Secret, $crate::config::ConfigError> {
                self.get()
                    .ok_or_else(|| $crate::config::ConfigError::new($env, "is required"))
            }
        }
    };
}

crate::secret_variable! {
    /// `REDIS_URL` or `REDIS_URL_FILE`.
    pub struct RedisUrl {
        env: "REDIS_URL",
        file_env: "REDIS_URL_FILE",
        long: "redis-url",
        file_long: "redis-url-file",
        required: true,
        help: "Redis URL, e.g. `redis://redis:6379/`; every service of a bot uses the same server (the gateways' sessions and cache, the workers' cooldowns, prompts and de-duplication, the REST proxy's limits)",
        valid: super::schemes(REDIS_SCHEMES),
    }
}

crate::secret_variable! {
    /// `DISCORD_TOKEN` or `DISCORD_TOKEN_FILE`.
    pub struct DiscordToken {
        env: "DISCORD_TOKEN",
        file_env: "DISCORD_TOKEN_FILE",
        long: "discord-token",
        file_long: "discord-token-file",
        required: true,
        help: "bot token",
    }
}

crate::secret_variable! {
    /// `AMQP_URL` or `AMQP_URL_FILE`.
    pub struct AmqpUrl {
        env: "AMQP_URL",
        file_env: "AMQP_URL_FILE",
        long: "amqp-url",
        file_long: "amqp-url-file",
        required: true,
        help: "RabbitMQ URL, e.g. `amqp://user:pass@rabbitmq:5672/%2f`",
        valid: super::schemes(AMQP_SCHEMES),
    }
}

/// The schemes of `AMQP_URL`.
pub const AMQP_SCHEMES: &[&str] = &["amqp", "amqps"];

impl AmqpUrl {
    /// `AMQP_URL`, checked.
    pub fn checked(&self) -> Result<Secret, ConfigError> {
        let url = self.required()?;
        check_url("AMQP_URL", url.expose(), AMQP_SCHEMES)?;
        Ok(url)
    }
}

/// What every service reads (`docs/CONFIGURATION.md`, All services).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// log filter (`tracing` `EnvFilter` syntax, e.g. `info,swarmcord_shards=debug`); an
    /// invalid filter stops the service
    #[arg(long, env = "RUST_LOG", default_value = "info", value_parser = super::log_filter)]
    pub rust_log: String,
    /// `json` (one object per line) or `text`
    #[arg(long, env = "LOG_FORMAT", default_value = "json", value_parser = super::parsed::<LogFormat>)]
    pub log_format: LogFormat,
    /// address of `/healthz`, `/readyz` and `/metrics` (and of the REST proxy's API). All
    /// interfaces on purpose: in a container the orchestrator and Prometheus reach it over the
    /// overlay network (the port is not published). Outside a container set `127.0.0.1:8080`
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080", value_parser = super::parsed::<SocketAddr>)]
    pub http_addr: SocketAddr,
    #[command(flatten)]
    redis_url: RedisUrl,
    /// prefix of every Redis key; one per bot sharing a Redis, the same in all its services
    #[arg(long, env = "REDIS_PREFIX", default_value = "swarmcord", value_parser = super::identifier())]
    pub redis_prefix: String,
}

impl CommonArgs {
    /// `REDIS_URL`, checked.
    pub fn redis_url(&self) -> Result<Secret, ConfigError> {
        let url = self.redis_url.required()?;
        check_url("REDIS_URL", url.expose(), REDIS_SCHEMES)?;
        Ok(url)
    }
}

/// What the gateway and the worker both read: the bot, RabbitMQ and Discord's REST API.
#[derive(Debug, Clone, clap::Args)]
pub struct BotArgs {
    #[command(flatten)]
    token: DiscordToken,
    #[command(flatten)]
    amqp_url: AmqpUrl,
    /// topic exchange the gateways publish the events to (routing key = event type)
    #[arg(long, env = "EVENTS_EXCHANGE", default_value = swarmcord_protocol::amqp::EVENTS_EXCHANGE, value_parser = super::amqp_name())]
    pub events_exchange: String,
    /// send Discord REST over plain HTTP to this `host:port`, e.g. the simulator; the
    /// in-process rate limiter stays on
    #[arg(long, env = "DISCORD_API_PROXY", value_parser = super::host_port())]
    pub api_proxy: Option<String>,
}

impl BotArgs {
    /// `DISCORD_TOKEN`.
    pub fn token(&self) -> Result<Secret, ConfigError> {
        self.token.required()
    }

    /// `AMQP_URL`, checked.
    pub fn amqp_url(&self) -> Result<Secret, ConfigError> {
        self.amqp_url.checked()
    }
}
