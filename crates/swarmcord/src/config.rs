//! The worker's configuration, read from environment variables (`docs/CONFIGURATION.md`,
//! section Worker). Every variable is validated at start-up; a bad one is reported by name.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use swarmcord_ops::Secret;
use swarmcord_ops::config::{
    ConfigError, Env, REDIS_SCHEMES, check_amqp_name, check_host_port, check_identifier, split_list,
};
use swarmcord_ops::telemetry::LogFormat;

/// Everything the worker needs, validated. Read it with [`WorkerConfig::from_env`]; secrets
/// never appear in its `Debug` output.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub(crate) token: Secret,
    pub(crate) api_proxy: Option<String>,
    /// `host:port` of the shared REST proxy (`DISCORD_REST_PROXY` without `http://`).
    pub(crate) rest_proxy: Option<String>,
    pub(crate) amqp_url: Secret,
    pub(crate) events_exchange: String,
    pub(crate) queue: String,
    /// `WORKER_EVENTS` when set; otherwise the bindings follow from the registered handlers.
    pub(crate) bindings: Option<Vec<String>>,
    pub(crate) prefetch: u16,
    pub(crate) max_attempts: u64,
    pub(crate) retry_delays: Vec<Duration>,
    pub(crate) redis_url: Secret,
    pub(crate) redis_prefix: String,
    pub(crate) mongo_url: Secret,
    pub(crate) mongo_database: String,
    pub(crate) default_prefix: String,
    pub(crate) owners: HashSet<u64>,
    pub(crate) interaction_defer_after: Duration,
    pub(crate) global_rate_limit: u16,
    /// `USER_COMMAND_LIMIT`: commands per user per 10 s over all commands (0: off).
    pub(crate) user_command_limit: u32,
    pub(crate) slash_commands: SlashCommands,
    pub(crate) http_addr: SocketAddr,
    pub(crate) log_format: LogFormat,
    pub(crate) voice: Option<VoiceConfig>,
}

/// Lavalink, when `LAVALINK_NODES` is set.
#[derive(Debug, Clone)]
pub(crate) struct VoiceConfig {
    pub(crate) nodes: Vec<swarmcord_voice::NodeConfig>,
    pub(crate) password: Secret,
    pub(crate) failover_after: Duration,
}

/// Where the worker registers the slash commands at start-up (`SLASH_COMMANDS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommands {
    /// As global commands (production).
    Global,
    /// As guild commands of these guilds (they update instantly: development).
    Guilds(Vec<u64>),
    /// Not at all (another process manages them).
    Off,
}

impl std::fmt::Display for SlashCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Global => f.write_str("global"),
            Self::Off => f.write_str("off"),
            Self::Guilds(ids) => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                f.write_str(&ids.join(","))
            }
        }
    }
}

impl std::str::FromStr for SlashCommands {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "global" => Ok(Self::Global),
            "off" => Ok(Self::Off),
            list => {
                let ids = split_list(list)
                    .into_iter()
                    .map(|id| {
                        id.parse::<u64>()
                            .ok()
                            .filter(|id| *id > 0)
                            .ok_or_else(|| format!("{id:?} is not a guild id"))
                    })
                    .collect::<Result<Vec<u64>, String>>()?;
                if ids.is_empty() {
                    return Err("expected global, off, or guild ids".to_owned());
                }
                Ok(Self::Guilds(ids))
            }
        }
    }
}

impl WorkerConfig {
    /// Reads and validates the configuration; the error names the first bad variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.log_filter()?;
        let token = env
            .secret("DISCORD_TOKEN", true, "bot token (or DISCORD_TOKEN_FILE)")?
            .ok_or_else(|| ConfigError::new("DISCORD_TOKEN", "is required"))?;
        let amqp_url = env.secret_url(
            "AMQP_URL",
            &["amqp", "amqps"],
            "RabbitMQ URL (or AMQP_URL_FILE)",
        )?;
        let redis_url =
            env.secret_url("REDIS_URL", REDIS_SCHEMES, "Redis URL (or REDIS_URL_FILE)")?;
        let mongo_url = env.secret_url(
            "MONGO_URL",
            &["mongodb", "mongodb+srv"],
            "MongoDB URL (or MONGO_URL_FILE)",
        )?;
        let owners =
            split_list(&env.string("OWNER_IDS", "", "bot owner user ids, comma-separated"))
                .into_iter()
                .map(|id| {
                    id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                        ConfigError::new("OWNER_IDS", format!("{id:?} is not a user id"))
                    })
                })
                .collect::<Result<HashSet<u64>, _>>()?;
        let default_prefix = env.string("DEFAULT_PREFIX", "!", "prefix of servers that set none");
        // The rules of a prefix a server sets (length, no spaces, invisible characters or
        // backticks), with the store's reason.
        swarmcord_store::validate_prefix(&default_prefix)
            .map_err(|e| ConfigError::new("DEFAULT_PREFIX", e.to_string()))?;
        let bindings = Self::bindings(env)?;
        let voice = Self::voice(env)?;
        let api_proxy = env.optional(
            "DISCORD_API_PROXY",
            "Discord REST over plain HTTP through host:port, e.g. the simulator",
        );
        if let Some(proxy) = &api_proxy {
            check_host_port("DISCORD_API_PROXY", proxy)?;
        }
        let rest_proxy = Self::rest_proxy(env, api_proxy.is_some())?;
        let events_exchange = env.string(
            "EVENTS_EXCHANGE",
            swarmcord_protocol::amqp::EVENTS_EXCHANGE,
            "topic exchange of the events",
        );
        check_amqp_name("EVENTS_EXCHANGE", &events_exchange)?;
        let queue = env.string(
            "WORKER_QUEUE",
            "swarmcord.worker",
            "the workers' shared durable queue",
        );
        check_amqp_name("WORKER_QUEUE", &queue)?;
        let redis_prefix = env.string(
            "REDIS_PREFIX",
            "swarmcord",
            "prefix of every Redis key (one per bot)",
        );
        check_identifier("REDIS_PREFIX", &redis_prefix)?;
        let mongo_database = env.string("MONGO_DATABASE", "swarmcord", "MongoDB database");
        check_identifier("MONGO_DATABASE", &mongo_database)?;
        if mongo_database.contains(['/', '\\', '.', '"', '$']) {
            return Err(ConfigError::new(
                "MONGO_DATABASE",
                format!("{mongo_database:?} may not contain / \\ . \" or $"),
            ));
        }
        Ok(Self {
            token,
            api_proxy,
            rest_proxy,
            amqp_url,
            events_exchange,
            queue,
            bindings,
            prefetch: env.bounded(
                "WORKER_PREFETCH",
                32,
                1..=u16::MAX,
                "events in flight per worker",
            )?,
            max_attempts: env.bounded(
                "WORKER_MAX_ATTEMPTS",
                5,
                1..=1000,
                "failed attempts before an event is dead-lettered",
            )?,
            retry_delays: Self::retry_delays(env)?,
            redis_url,
            redis_prefix,
            mongo_url,
            mongo_database,
            default_prefix,
            owners,
            interaction_defer_after: env.millis(
                "INTERACTION_DEFER_AFTER_MS",
                1500,
                0..=2500,
                "slash commands still running this long after the gateway received them are deferred (at most 2500: Discord's deadline is 3000 ms)",
            )?,
            global_rate_limit: env.bounded(
                "DISCORD_GLOBAL_RATE_LIMIT",
                50,
                1..=u16::MAX,
                "Discord REST requests per second this replica may send (the bot's global limit divided by the replicas)",
            )?,
            user_command_limit: env.bounded(
                "USER_COMMAND_LIMIT",
                20,
                0..=1000,
                "commands one user may run per 10 s over all commands, on all replicas (0: no limit)",
            )?,
            slash_commands: env.parse::<SlashCommands>(
                "SLASH_COMMANDS",
                SlashCommands::Global,
                "register slash commands: global, off, or guild ids (comma-separated)",
            )?,
            http_addr: env.parse::<SocketAddr>(
                "HTTP_ADDR",
                SocketAddr::from(([0, 0, 0, 0], 8080)),
                "address of /healthz, /readyz, /metrics",
            )?,
            log_format: env.parse::<LogFormat>("LOG_FORMAT", LogFormat::Json, "json or text")?,
            voice,
        })
    }

    /// `WORKER_EVENTS`: Discord event types, comma-separated (`#`, the AMQP wildcard: every
    /// event).
    fn bindings(env: &Env) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(list) = env.optional(
            "WORKER_EVENTS",
            "event types the workers consume, comma-separated (default: those the bot has handlers for)",
        ) else {
            return Ok(None);
        };
        let bindings = split_list(&list);
        if bindings.is_empty() {
            return Err(ConfigError::new(
                "WORKER_EVENTS",
                "must name at least one event type",
            ));
        }
        if let Some(unknown) = bindings
            .iter()
            .find(|name| *name != "#" && !swarmcord_protocol::amqp::is_event_type(name))
        {
            return Err(ConfigError::new(
                "WORKER_EVENTS",
                format!(
                    "{unknown:?} is not a Discord event type (upper case, e.g. MESSAGE_CREATE)"
                ),
            ));
        }
        Ok(Some(bindings))
    }

    /// `WORKER_RETRY_DELAYS_MS`: the delays before the 1st, 2nd, … retry of a failed event.
    fn retry_delays(env: &Env) -> Result<Vec<Duration>, ConfigError> {
        let list = env.string(
            "WORKER_RETRY_DELAYS_MS",
            "1000,5000,30000",
            "delays before the retries of a failed event, comma-separated (the last repeats)",
        );
        let delays = split_list(&list)
            .into_iter()
            .map(|ms| ms.parse::<u64>().ok().filter(|ms| *ms <= 86_400_000))
            .collect::<Option<Vec<u64>>>()
            .filter(|delays| !delays.is_empty() && delays.len() <= 32)
            .ok_or_else(|| {
                ConfigError::new(
                    "WORKER_RETRY_DELAYS_MS",
                    "must be 1 to 32 delays in milliseconds (each at most a day), comma-separated",
                )
            })?;
        Ok(delays.into_iter().map(Duration::from_millis).collect())
    }

    /// `DISCORD_REST_PROXY`: `http://host:port` of the shared REST proxy, as `host:port`.
    fn rest_proxy(env: &Env, api_proxy: bool) -> Result<Option<String>, ConfigError> {
        let Some(url) = env.optional(
            "DISCORD_REST_PROXY",
            "http://host:port of the shared REST proxy; replaces the in-process rate limiter",
        ) else {
            return Ok(None);
        };
        let host = url.trim().trim_end_matches('/');
        let host = host.strip_prefix("http://").unwrap_or_default();
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "DISCORD_REST_PROXY",
                format!("{url:?} must be http://host:port (the proxy speaks plain HTTP)"),
            ));
        }
        if api_proxy {
            return Err(ConfigError::new(
                "DISCORD_REST_PROXY",
                "set either DISCORD_REST_PROXY or DISCORD_API_PROXY, not both (the REST proxy's DISCORD_API_BASE says where requests go)",
            ));
        }
        Ok(Some(host.to_owned()))
    }

    fn voice(env: &Env) -> Result<Option<VoiceConfig>, ConfigError> {
        let nodes = swarmcord_voice::parse_nodes(&env.string(
            "LAVALINK_NODES",
            "",
            "Lavalink nodes, comma-separated name=http://host:port (empty: no music commands)",
        ))
        .map_err(|e| ConfigError::new("LAVALINK_NODES", e.to_string()))?;
        let password = env.secret(
            "LAVALINK_PASSWORD",
            false,
            "Lavalink password (or LAVALINK_PASSWORD_FILE)",
        )?;
        let failover_after = env.millis(
            "LAVALINK_FAILOVER_AFTER_MS",
            5000,
            1000..=3_600_000,
            "how long a node may be unreachable before its players move to another node",
        )?;
        if nodes.is_empty() {
            return Ok(None);
        }
        let password = password.ok_or_else(|| {
            ConfigError::new(
                "LAVALINK_PASSWORD",
                "is required when LAVALINK_NODES is set",
            )
        })?;
        Ok(Some(VoiceConfig {
            nodes,
            password,
            failover_after,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DISCORD_TOKEN", "t"),
            ("AMQP_URL", "amqp://h"),
            ("REDIS_URL", "redis://h"),
            ("MONGO_URL", "mongodb://h"),
        ]
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (extra, variable) in [
            (("OWNER_IDS", "1,abc"), "OWNER_IDS"),
            (("DEFAULT_PREFIX", "a b"), "DEFAULT_PREFIX"),
            (("WORKER_PREFETCH", "0"), "WORKER_PREFETCH"),
            (("WORKER_EVENTS", " , "), "WORKER_EVENTS"),
            (
                ("WORKER_RETRY_DELAYS_MS", "1000,x"),
                "WORKER_RETRY_DELAYS_MS",
            ),
            (("WORKER_RETRY_DELAYS_MS", " , "), "WORKER_RETRY_DELAYS_MS"),
            (
                ("INTERACTION_DEFER_AFTER_MS", "3000"),
                "INTERACTION_DEFER_AFTER_MS",
            ),
            (("SLASH_COMMANDS", "global,1"), "SLASH_COMMANDS"),
            (("SLASH_COMMANDS", "0"), "SLASH_COMMANDS"),
            (("LAVALINK_NODES", "a=https://x:1"), "LAVALINK_NODES"),
            (("LAVALINK_NODES", "a=http://x:1"), "LAVALINK_PASSWORD"),
            (
                ("DISCORD_GLOBAL_RATE_LIMIT", "0"),
                "DISCORD_GLOBAL_RATE_LIMIT",
            ),
            (
                ("DISCORD_REST_PROXY", "https://rest:8080"),
                "DISCORD_REST_PROXY",
            ),
            (
                ("DISCORD_REST_PROXY", "http://rest:8080/api"),
                "DISCORD_REST_PROXY",
            ),
            (
                ("DISCORD_GLOBAL_RATE_LIMIT", "70000"),
                "DISCORD_GLOBAL_RATE_LIMIT",
            ),
        ] {
            let mut vars = base();
            vars.push(extra);
            let error = WorkerConfig::from_env(&Env::from_pairs(vars)).expect_err("invalid");
            assert_eq!(error.variable, variable, "{error}");
        }
        let error = WorkerConfig::from_env(&Env::from_pairs([("DISCORD_TOKEN", "t")]))
            .expect_err("missing");
        assert_eq!(error.variable, "AMQP_URL");
    }

    #[test]
    fn defaults_and_redaction() {
        let config = WorkerConfig::from_env(&Env::from_pairs(base())).expect("valid");
        assert_eq!(config.default_prefix, "!");
        assert_eq!(config.bindings, None);
        assert!(!format!("{config:?}").contains("mongodb://h"));
        assert_eq!(config.slash_commands, SlashCommands::Global);
        assert_eq!(config.interaction_defer_after, Duration::from_millis(1500));
        assert_eq!(
            config.retry_delays,
            [1, 5, 30].map(Duration::from_secs),
            "retries wait 1 s, 5 s, then 30 s"
        );
        let vars = [base(), vec![("SLASH_COMMANDS", "12, 34")]].concat();
        let config = WorkerConfig::from_env(&Env::from_pairs(vars)).expect("valid");
        assert_eq!(config.slash_commands, SlashCommands::Guilds(vec![12, 34]));
        assert!(config.voice.is_none());
        let vars = [
            base(),
            vec![
                ("LAVALINK_NODES", "a=http://x:1,b=http://y:2"),
                ("LAVALINK_PASSWORD", "hunter2"),
            ],
        ]
        .concat();
        let config = WorkerConfig::from_env(&Env::from_pairs(vars)).expect("valid");
        let voice = config.voice.as_ref().expect("voice");
        assert_eq!(voice.nodes.len(), 2);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn the_rest_proxy_replaces_the_api_proxy() {
        let mut vars = base();
        vars.push(("DISCORD_REST_PROXY", "http://rest:8080/"));
        let config = WorkerConfig::from_env(&Env::from_pairs(vars.clone())).expect("valid");
        assert_eq!(config.rest_proxy.as_deref(), Some("rest:8080"));
        vars.push(("DISCORD_API_PROXY", "sim:8090"));
        let error = WorkerConfig::from_env(&Env::from_pairs(vars)).expect_err("both");
        assert_eq!(error.variable, "DISCORD_REST_PROXY");
    }

    /// One or more bad values for every variable of the Worker reference (issue 11, item 6).
    const BAD: &[(&str, &str)] = &[
        ("RUST_LOG", "swarmcord=loud"),
        ("DISCORD_TOKEN", "   "),
        ("AMQP_URL", "redis://h/"),
        ("REDIS_URL", "redis//h"),
        ("MONGO_URL", "localhost:27017"),
        ("MONGO_DATABASE", "a.b"),
        ("MONGO_DATABASE", "a b"),
        ("REDIS_PREFIX", "a\tb"),
        ("EVENTS_EXCHANGE", "amq.direct"),
        ("WORKER_QUEUE", "amq.gen-1"),
        ("WORKER_QUEUE", "queue/with/slashes"),
        ("WORKER_EVENTS", "MESSAGE_CREATE,MESAGE_DELETE"),
        ("WORKER_EVENTS", " , "),
        ("WORKER_RETRY_DELAYS_MS", "5,x"),
        ("WORKER_RETRY_DELAYS_MS", "86400001"),
        ("USER_COMMAND_LIMIT", "1001"),
        ("USER_COMMAND_LIMIT", "-1"),
        ("WORKER_PREFETCH", "0"),
        ("WORKER_MAX_ATTEMPTS", "0"),
        ("DEFAULT_PREFIX", "a b"),
        ("DEFAULT_PREFIX", "`!"),
        ("DEFAULT_PREFIX", "!\u{200b}"),
        ("OWNER_IDS", "1,abc"),
        ("DISCORD_GLOBAL_RATE_LIMIT", "70000"),
        ("SLASH_COMMANDS", "global,1"),
        ("INTERACTION_DEFER_AFTER_MS", "3000"),
        ("HTTP_ADDR", "8080"),
        ("LOG_FORMAT", "yaml"),
        ("DISCORD_API_PROXY", "http://sim:8090/"),
        ("DISCORD_REST_PROXY", "https://rest:8080"),
        ("LAVALINK_NODES", "a=https://x:1"),
        ("LAVALINK_PASSWORD", "   "),
        ("LAVALINK_FAILOVER_AFTER_MS", "999"),
    ];

    /// Fuzz-style over `docs/CONFIGURATION.md`: every documented worker variable refuses a bad
    /// value with an error naming it, and the documented defaults parse.
    #[test]
    fn every_documented_variable_refuses_a_bad_value() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/CONFIGURATION.md"
        ))
        .expect("docs/CONFIGURATION.md");
        let base = [
            ("DISCORD_TOKEN", "t"),
            ("AMQP_URL", "amqp://h"),
            ("REDIS_URL", "redis://h"),
            ("MONGO_URL", "mongodb://h"),
            ("LAVALINK_NODES", "a=http://x:1"),
            ("LAVALINK_PASSWORD", "pw"),
        ];
        let parse = |env: &Env| WorkerConfig::from_env(env).map(drop);
        if let Err(problems) =
            swarmcord_ops::config::check_bad_values(&doc, "Worker", &base, BAD, parse)
        {
            panic!("{problems}");
        }
    }

    /// Every variable the worker reads is in `docs/CONFIGURATION.md` (Worker), and nothing else.
    #[test]
    fn configuration_reference_matches_the_code() {
        let env = Env::from_pairs(base());
        WorkerConfig::from_env(&env).expect("valid");
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/CONFIGURATION.md"
        ))
        .expect("docs/CONFIGURATION.md");
        if let Err(problems) = env.check_reference(&doc, "Worker") {
            panic!(
                "docs/CONFIGURATION.md (Worker) and WorkerConfig::from_env disagree:\n{problems}"
            );
        }
    }
}
