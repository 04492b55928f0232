//! The worker's configuration, read from environment variables (`docs/CONFIGURATION.md`,
//! section Worker; the variables are declared in [`declaration`]). Every variable is validated
//! at start-up; a bad one is reported by name.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use swarmcord_ops::Secret;
use swarmcord_ops::config::{
    ConfigError, Described, Env, MAX_IDENTIFIER, check_identifier, check_url, described, split_list,
};
use swarmcord_ops::telemetry::LogFormat;

mod declaration;

use declaration::{VoiceArgs, WorkerArgs};

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
        Self::from_args(env.load::<WorkerArgs>()?)
    }

    fn from_args(args: WorkerArgs) -> Result<Self, ConfigError> {
        if args.rest_proxy.is_some() && args.bot.api_proxy.is_some() {
            return Err(ConfigError::new(
                "DISCORD_REST_PROXY",
                "set either DISCORD_REST_PROXY or DISCORD_API_PROXY, not both (the REST proxy's DISCORD_API_BASE says where requests go)",
            ));
        }
        let mongo_url = args.mongo_url.required()?;
        check_url("MONGO_URL", mongo_url.expose(), MONGO_SCHEMES)?;
        Ok(Self {
            token: args.bot.token()?,
            api_proxy: args.bot.api_proxy.clone(),
            rest_proxy: args.rest_proxy,
            amqp_url: args.bot.amqp_url()?,
            events_exchange: args.bot.events_exchange,
            queue: args.queue.name,
            bindings: args.queue.bindings,
            prefetch: args.queue.prefetch,
            max_attempts: args.queue.max_attempts,
            retry_delays: args.queue.retry_delays,
            redis_url: args.common.redis_url()?,
            redis_prefix: args.common.redis_prefix,
            mongo_url,
            mongo_database: args.mongo_database,
            default_prefix: args.commands.default_prefix,
            owners: args.commands.owners.unwrap_or_default(),
            interaction_defer_after: args.commands.interaction_defer_after,
            global_rate_limit: args.global_rate_limit,
            user_command_limit: args.commands.user_command_limit,
            slash_commands: args.commands.slash_commands,
            http_addr: args.common.http_addr,
            log_format: args.common.log_format,
            voice: Self::voice(args.voice)?,
        })
    }

    fn voice(args: VoiceArgs) -> Result<Option<VoiceConfig>, ConfigError> {
        let nodes = args.nodes.unwrap_or_default();
        if nodes.is_empty() {
            return Ok(None);
        }
        let password = args.password.get().ok_or_else(|| {
            ConfigError::new(
                "LAVALINK_PASSWORD",
                "is required when LAVALINK_NODES is set",
            )
        })?;
        Ok(Some(VoiceConfig {
            nodes,
            password,
            failover_after: args.failover_after,
        }))
    }
}

/// `OWNER_IDS`: user ids, comma-separated.
fn parse_owners(raw: &str) -> Result<HashSet<u64>, String> {
    split_list(raw)
        .into_iter()
        .map(|id| {
            id.parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| format!("{id:?} is not a user id"))
        })
        .collect()
}

/// `DEFAULT_PREFIX`: the rules of a prefix a server sets (length, no spaces, invisible
/// characters or backticks), with the store's reason.
fn default_prefix() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(
        format!(
            "1–{} characters without whitespace, control or invisible characters or backticks (the rules of `!prefix`)",
            swarmcord_store::MAX_PREFIX_CHARS
        ),
        parse_default_prefix,
    )
}

fn parse_default_prefix(raw: &str) -> Result<String, String> {
    swarmcord_store::validate_prefix(raw).map_err(|e| e.to_string())?;
    Ok(raw.to_owned())
}

/// The schemes of `MONGO_URL`.
const MONGO_SCHEMES: &[&str] = &["mongodb", "mongodb+srv"];

/// `MONGO_DATABASE`: an identifier MongoDB accepts as a database name.
fn mongo_database() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(
        format!("1–{MAX_IDENTIFIER} bytes, none of `/\\. \"$`"),
        parse_mongo_database,
    )
}

fn parse_mongo_database(raw: &str) -> Result<String, String> {
    check_identifier("MONGO_DATABASE", raw).map_err(|e| e.problem)?;
    if raw.contains(['/', '\\', '.', '"', '$']) {
        return Err(format!("{raw:?} may not contain / \\ . \" or $"));
    }
    Ok(raw.to_owned())
}

/// `WORKER_EVENTS`: Discord event types, comma-separated (`#`, the AMQP wildcard: every
/// event).
fn parse_bindings(list: &str) -> Result<Vec<String>, String> {
    let bindings = split_list(list);
    if bindings.is_empty() {
        return Err("must name at least one event type".to_owned());
    }
    if let Some(unknown) = bindings
        .iter()
        .find(|name| *name != "#" && !swarmcord_protocol::amqp::is_event_type(name))
    {
        return Err(format!(
            "{unknown:?} is not a Discord event type (upper case, e.g. MESSAGE_CREATE)"
        ));
    }
    Ok(bindings)
}

/// Most retry delays in `WORKER_RETRY_DELAYS_MS`.
const MAX_RETRY_DELAYS: usize = 32;
/// Longest retry delay, in milliseconds (a day).
const MAX_RETRY_DELAY_MS: u64 = 86_400_000;

/// `WORKER_RETRY_DELAYS_MS`: the delays before the 1st, 2nd, … retry of a failed event.
fn retry_delays() -> Described<impl Fn(&str) -> Result<Vec<Duration>, String> + Clone> {
    described(
        format!("1–{MAX_RETRY_DELAYS} delays of `0`–`{MAX_RETRY_DELAY_MS}`"),
        parse_retry_delays,
    )
}

fn parse_retry_delays(list: &str) -> Result<Vec<Duration>, String> {
    let delays = split_list(list)
        .into_iter()
        .map(|ms| ms.parse::<u64>().ok().filter(|ms| *ms <= MAX_RETRY_DELAY_MS))
        .collect::<Option<Vec<u64>>>()
        .filter(|delays| !delays.is_empty() && delays.len() <= MAX_RETRY_DELAYS)
        .ok_or_else(|| {
            format!(
                "must be 1 to {MAX_RETRY_DELAYS} delays in milliseconds (each at most a day), comma-separated"
            )
        })?;
    Ok(delays.into_iter().map(Duration::from_millis).collect())
}

/// `DISCORD_REST_PROXY`: `http://host:port` of the shared REST proxy, as `host:port`.
fn parse_rest_proxy(url: &str) -> Result<String, String> {
    let host = url.trim().trim_end_matches('/');
    let host = host.strip_prefix("http://").unwrap_or_default();
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(format!(
            "{url:?} must be http://host:port (the proxy speaks plain HTTP)"
        ));
    }
    Ok(host.to_owned())
}

/// `LAVALINK_NODES`: `name=http://host:port`, comma-separated.
fn parse_nodes(raw: &str) -> Result<Vec<swarmcord_voice::NodeConfig>, String> {
    swarmcord_voice::parse_nodes(raw).map_err(|e| e.to_string())
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

    /// The table under "Worker" of `docs/CONFIGURATION.md` is generated from the declaration
    /// (what all services read is under "All services").
    #[test]
    fn configuration_reference_matches_the_code() {
        if let Err(problems) =
            swarmcord_ops::config::reference::check_service::<WorkerArgs>("Worker")
        {
            panic!("{problems}");
        }
    }
}
