//! The gateway's configuration, read from environment variables (`docs/CONFIGURATION.md`,
//! Gateway; the variables are declared in [`declaration`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use swarmcord_cache::Resources;
use swarmcord_ops::Secret;
use swarmcord_ops::config::{
    ConfigError, Described, Env, MAX_IDENTIFIER, check_identifier, described, split_list,
};
use swarmcord_ops::telemetry::LogFormat;
use twilight_gateway::Intents;

mod declaration;

use declaration::{GatewayArgs, ShardArgs};

/// How many shards the whole bot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardCount {
    /// Discord's recommendation from `GET /gateway/bot`.
    Auto,
    /// A fixed number.
    Fixed(u32),
}

/// Which shards this replica runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardSelection {
    /// An explicit inclusive range, e.g. `GATEWAY_SHARDS=0-15`.
    Range(RangeInclusive<u32>),
    /// Group `index` (1-based, e.g. Swarm's `{{.Task.Slot}}`) of `count` equal groups.
    Group {
        /// 1-based group index.
        index: u32,
        /// Number of groups (the service's replica count).
        count: u32,
    },
    /// Every shard (a single gateway).
    All,
    /// `GATEWAY_SHARDS=auto`: the replicas registered in Redis share the shards among
    /// themselves (`swarmcord_coord::assign`) and move them when one joins or leaves.
    Claimed,
}

impl ShardSelection {
    /// The shard ids this replica owns, out of `total`. Groups split the shards into contiguous,
    /// near-equal ranges (the first `total % count` groups get one more).
    pub fn shards(&self, total: u32) -> Vec<u32> {
        match self {
            Self::All | Self::Claimed => (0..total).collect(),
            Self::Range(range) => range.clone().filter(|id| *id < total).collect(),
            Self::Group { index, count } => {
                let (count, index) = ((*count).max(1), index.saturating_sub(1));
                if index >= count {
                    return Vec::new();
                }
                let base = total / count;
                let extra = total % count;
                let start = index * base + index.min(extra);
                let len = base + u32::from(index < extra);
                (start..start + len).collect()
            }
        }
    }
}

/// Everything the gateway needs, validated.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// This replica's id (names its reply queue `gateway.<id>`).
    pub gateway_id: String,
    /// The bot token.
    pub token: Secret,
    /// Gateway intents.
    pub intents: Intents,
    /// Gateway URL override (`ws://…`), e.g. the simulator; `None` = Discord.
    pub gateway_url: Option<String>,
    /// Discord REST proxy (`host:port`, plain HTTP), e.g. the simulator; `None` = Discord.
    pub api_proxy: Option<String>,
    /// Total shards.
    pub shard_count: ShardCount,
    /// This replica's shards.
    pub shards: ShardSelection,
    /// Event types to forward; empty = all.
    pub events: BTreeSet<String>,
    /// AMQP URL.
    pub amqp_url: Secret,
    /// Topic exchange for events.
    pub events_exchange: String,
    /// Redis URL.
    pub redis_url: Secret,
    /// Prefix of every Redis key (one per bot).
    pub redis_prefix: String,
    /// Messages buffered while the broker is slow or away before shards stop being read.
    pub publish_buffer: usize,
    /// Bytes of events buffered before shards stop being read (and again in the cache stage).
    pub publish_buffer_bytes: usize,
    /// Publishes awaiting a confirm at once.
    pub publish_window: usize,
    /// Shard lease time-to-live.
    pub lease_ttl: Duration,
    /// How often sessions are persisted.
    pub persist_interval: Duration,
    /// Reconnect a shard when no event flowed for this long (`None` for never).
    pub idle_timeout: Option<Duration>,
    /// Reconnect a shard when a heartbeat is not acknowledged within this time.
    pub heartbeat_ack_timeout: Duration,
    /// Minimum time between identifies of one concurrency bucket (Discord: 5 s).
    pub identify_interval: Duration,
    /// Session starts kept in reserve: identifying stops when only this many remain.
    pub session_start_reserve: u32,
    /// Address of `/healthz`, `/readyz`, `/metrics`.
    pub http_addr: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// How long shutdown waits for the broker to confirm what was published.
    pub shutdown_flush_timeout: Duration,
    /// What the Redis cache of Discord objects keeps (empty: no cache).
    pub cache_resources: Resources,
    /// Attach an updated or deleted entity's previous state to the forwarded event.
    pub cache_previous_state: bool,
    /// How long cached messages live (when messages are cached).
    pub cache_message_ttl: Duration,
    /// Most events applied to the cache in one pipeline.
    pub cache_batch: usize,
}

/// The default of `CACHE_RESOURCES`.
pub const DEFAULT_CACHE_RESOURCES: &str = "guilds,channels,roles,members,users,emojis,voice_states";

/// Most shards a bot may run (`SHARD_COUNT`, `GATEWAY_GROUPS`, the end of `GATEWAY_SHARDS`).
pub const MAX_SHARDS: u32 = 65_535;

/// The event allow-list `GATEWAY_EVENTS`: Discord event types (any case), comma-separated.
pub(crate) fn parse_events(raw: &str) -> Result<BTreeSet<String>, String> {
    split_list(raw)
        .into_iter()
        .map(|e| e.to_ascii_uppercase())
        .map(|e| {
            if swarmcord_protocol::amqp::is_event_type(&e) {
                Ok(e)
            } else {
                Err(format!("{e:?} is not a Discord event type"))
            }
        })
        .collect()
}

/// Parses `GATEWAY_INTENTS`: a number, or intent names separated by commas or `|`
/// (`GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT`).
pub fn parse_intents(raw: &str) -> Result<Intents, String> {
    if let Ok(bits) = raw.trim().parse::<u64>() {
        return Intents::from_bits(bits).ok_or_else(|| format!("{bits} has unknown intent bits"));
    }
    let mut intents = Intents::empty();
    for name in raw
        .split([',', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let flag = Intents::from_name(&name.to_ascii_uppercase())
            .ok_or_else(|| format!("unknown intent {name:?}"))?;
        intents |= flag;
    }
    Ok(intents)
}

fn parse_range(raw: &str) -> Result<RangeInclusive<u32>, String> {
    let (start, end) = raw.split_once('-').unwrap_or((raw, raw));
    let start: u32 = start
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a range like 0-15"))?;
    let end: u32 = end
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a range like 0-15"))?;
    if start > end {
        return Err(format!("{raw:?}: the start is after the end"));
    }
    Ok(start..=end)
}

/// `GATEWAY_SHARDS`: `auto` (claimed), or an inclusive range of shard ids below [`MAX_SHARDS`].
pub(crate) fn shards() -> Described<impl Fn(&str) -> Result<ShardSelection, String> + Clone> {
    described(format!("ids below `{MAX_SHARDS}`, or `auto`"), parse_shards)
}

fn parse_shards(raw: &str) -> Result<ShardSelection, String> {
    if raw.trim() == "auto" {
        return Ok(ShardSelection::Claimed);
    }
    parse_range(raw).and_then(|range| {
        if *range.end() < MAX_SHARDS {
            Ok(ShardSelection::Range(range))
        } else {
            Err(format!("shard ids are below {MAX_SHARDS}"))
        }
    })
}

/// `SHARD_COUNT`: `auto`, or a number of shards.
pub(crate) fn shard_count() -> Described<impl Fn(&str) -> Result<ShardCount, String> + Clone> {
    described(format!("`1`–`{MAX_SHARDS}`"), parse_shard_count)
}

fn parse_shard_count(raw: &str) -> Result<ShardCount, String> {
    match raw.trim() {
        "auto" => Ok(ShardCount::Auto),
        raw => match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_SHARDS).contains(&n) => Ok(ShardCount::Fixed(n)),
            _ => Err(format!(
                "{raw:?} is not auto or a number between 1 and {MAX_SHARDS}"
            )),
        },
    }
}

/// `GATEWAY_ID`: it names the reply queue `gateway.<id>` and goes into Redis keys.
pub(crate) fn gateway_id() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(
        format!("at most {MAX_IDENTIFIER} letters, digits, `-`, `_`"),
        parse_gateway_id,
    )
}

fn parse_gateway_id(raw: &str) -> Result<String, String> {
    check_identifier("GATEWAY_ID", raw).map_err(|e| e.problem)?;
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("may contain only letters, digits, '-' and '_'".to_owned());
    }
    Ok(raw.to_owned())
}

impl GatewayConfig {
    /// Reads and validates the configuration; the error names the first bad variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::from_args(env.load::<GatewayArgs>()?)
    }

    fn from_args(args: GatewayArgs) -> Result<Self, ConfigError> {
        let GatewayArgs {
            common,
            bot,
            shards,
            intents,
            events,
            publish,
            timers,
            gateway_url,
            cache,
        } = args;
        let redis_url = common.redis_url()?;
        let (shard_count, selection) = Self::shards(&shards)?;
        Ok(Self {
            gateway_id: shards
                .id
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()),
            token: bot.token()?,
            intents,
            gateway_url,
            api_proxy: bot.api_proxy.clone(),
            shard_count,
            shards: selection,
            events: events.unwrap_or_default(),
            amqp_url: bot.amqp_url()?,
            events_exchange: bot.events_exchange,
            redis_url,
            redis_prefix: common.redis_prefix,
            publish_buffer: publish.buffer,
            publish_buffer_bytes: publish.buffer_bytes,
            publish_window: publish.window,
            lease_ttl: timers.lease_ttl,
            persist_interval: timers.persist_interval,
            idle_timeout: (!timers.idle_timeout.is_zero()).then_some(timers.idle_timeout),
            heartbeat_ack_timeout: timers.heartbeat_ack_timeout,
            identify_interval: timers.identify_interval,
            session_start_reserve: timers.session_start_reserve,
            http_addr: common.http_addr,
            log_format: common.log_format,
            shutdown_flush_timeout: timers.shutdown_flush_timeout,
            cache_resources: cache.resources,
            cache_previous_state: cache.previous_state,
            cache_message_ttl: cache.message_ttl,
            cache_batch: cache.batch,
        })
    }

    /// `SHARD_COUNT`, and this replica's shards from `GATEWAY_SHARDS` or `GATEWAY_GROUP` of
    /// `GATEWAY_GROUPS`.
    fn shards(args: &ShardArgs) -> Result<(ShardCount, ShardSelection), ConfigError> {
        let groups = args.groups;
        let shards = match (&args.range, &args.group) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "GATEWAY_SHARDS",
                    "set either GATEWAY_SHARDS or GATEWAY_GROUP, not both",
                ));
            }
            (Some(selection), None) => selection.clone(),
            (None, Some(raw)) => {
                let index = raw
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|i| *i >= 1 && *i <= groups)
                    .ok_or_else(|| {
                        ConfigError::new(
                            "GATEWAY_GROUP",
                            format!(
                                "{raw:?} is not a group between 1 and GATEWAY_GROUPS ({groups})"
                            ),
                        )
                    })?;
                ShardSelection::Group {
                    index,
                    count: groups,
                }
            }
            (None, None) => ShardSelection::All,
        };
        Ok((args.count, shards))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DISCORD_TOKEN", "t0ken"),
            ("AMQP_URL", "amqp://u:p@h/%2f"),
            ("REDIS_URL", "redis://h/"),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Result<GatewayConfig, ConfigError> {
        let mut vars = base();
        vars.extend_from_slice(extra);
        GatewayConfig::from_env(&Env::from_pairs(vars))
    }

    #[test]
    fn groups_split_shards_contiguously_and_completely() {
        for (total, count) in [(8, 2), (10, 3), (1, 1), (3, 4), (1000, 7)] {
            let mut all = Vec::new();
            for index in 1..=count {
                let shards = ShardSelection::Group { index, count }.shards(total);
                if let (Some(first), Some(last)) = (shards.first(), shards.last()) {
                    assert_eq!(
                        last - first + 1,
                        u32::try_from(shards.len()).expect("len"),
                        "contiguous"
                    );
                }
                all.extend(shards);
            }
            assert_eq!(
                all,
                (0..total).collect::<Vec<_>>(),
                "{total} shards in {count} groups"
            );
        }
        assert_eq!(
            ShardSelection::Group { index: 2, count: 2 }.shards(8),
            [4, 5, 6, 7]
        );
        assert_eq!(ShardSelection::Range(2..=5).shards(4), [2, 3]);
    }

    #[test]
    fn auto_shards_are_claimed_from_every_shard() {
        let config = with(&[("GATEWAY_SHARDS", " auto ")]).expect("valid");
        assert_eq!(config.shards, ShardSelection::Claimed);
        assert_eq!(ShardSelection::Claimed.shards(3), [0, 1, 2]);
        let both = with(&[("GATEWAY_SHARDS", "auto"), ("GATEWAY_GROUP", "1")]);
        assert_eq!(both.expect_err("exclusive").variable, "GATEWAY_SHARDS");
    }

    #[test]
    fn defaults_are_sane_and_secrets_redacted() {
        let config = with(&[]).expect("valid");
        assert_eq!(config.shard_count, ShardCount::Auto);
        assert_eq!(config.shards, ShardSelection::All);
        assert!(
            config
                .intents
                .contains(Intents::GUILDS | Intents::MESSAGE_CONTENT)
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("t0ken") && !debug.contains("u:p"),
            "{debug}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&'static str, &'static str)], &str)] = &[
            (&[("SHARD_COUNT", "zero")], "SHARD_COUNT"),
            (
                &[("GATEWAY_GROUP", "3"), ("GATEWAY_GROUPS", "2")],
                "GATEWAY_GROUP",
            ),
            (
                &[("GATEWAY_GROUP", "1"), ("GATEWAY_SHARDS", "0-1")],
                "GATEWAY_SHARDS",
            ),
            (&[("GATEWAY_SHARDS", "5-2")], "GATEWAY_SHARDS"),
            (&[("GATEWAY_INTENTS", "GUILDS,NOPE")], "GATEWAY_INTENTS"),
            (&[("PUBLISH_WINDOW", "0")], "PUBLISH_WINDOW"),
            (&[("HTTP_ADDR", "localhost")], "HTTP_ADDR"),
            (&[("GATEWAY_ID", "a b")], "GATEWAY_ID"),
            (&[("CACHE_RESOURCES", "guilds,nope")], "CACHE_RESOURCES"),
            (&[("CACHE_BATCH", "0")], "CACHE_BATCH"),
            (&[("CACHE_PREVIOUS_STATE", "maybe")], "CACHE_PREVIOUS_STATE"),
            (&[("CACHE_MESSAGE_TTL_MS", "0")], "CACHE_MESSAGE_TTL_MS"),
        ];
        for (extra, variable) in cases {
            let error = with(extra).expect_err("invalid");
            assert_eq!(error.variable, *variable, "{error}");
        }
        let missing =
            GatewayConfig::from_env(&Env::from_pairs([("AMQP_URL", "x")])).expect_err("no token");
        assert_eq!(missing.variable, "DISCORD_TOKEN");
    }

    #[test]
    fn intents_parse_from_names_or_bits() {
        assert_eq!(
            parse_intents("guilds | GUILD_MESSAGES").expect("names"),
            Intents::GUILDS | Intents::GUILD_MESSAGES
        );
        assert_eq!(
            parse_intents("513").expect("bits"),
            Intents::GUILDS | Intents::GUILD_MESSAGES
        );
        assert!(parse_intents(&(1u64 << 40).to_string()).is_err());
    }

    #[test]
    fn explicit_settings_are_used() {
        let config = with(&[
            ("SHARD_COUNT", "8"),
            ("GATEWAY_GROUP", "2"),
            ("GATEWAY_GROUPS", "2"),
            ("GATEWAY_EVENTS", "message_create, READY"),
            ("SHARD_IDLE_TIMEOUT_MS", "30000"),
        ])
        .expect("valid");
        assert_eq!(config.shard_count, ShardCount::Fixed(8));
        assert_eq!(config.shards.shards(8), [4, 5, 6, 7]);
        assert_eq!(
            config.events.iter().map(String::as_str).collect::<Vec<_>>(),
            ["MESSAGE_CREATE", "READY"]
        );
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            with(&[]).expect("valid").cache_resources,
            Resources::default_set()
        );
        let off = with(&[("CACHE_RESOURCES", "none")]).expect("valid");
        assert!(off.cache_resources.is_empty());
    }
}

#[cfg(test)]
mod reference {
    use super::*;

    /// One or more bad values for every variable of the Gateway reference (issue 11, item 6).
    const BAD: &[(&str, &str)] = &[
        ("RUST_LOG", "swarmcord=loud"),
        ("DISCORD_TOKEN", "   "),
        ("AMQP_URL", "http://rabbit/"),
        ("AMQP_URL", "amqp://u:p@"),
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "not a url"),
        ("SHARD_COUNT", "100000"),
        ("SHARD_COUNT", "0"),
        ("GATEWAY_GROUP", "0"),
        ("GATEWAY_GROUPS", "0"),
        ("GATEWAY_GROUPS", "70000"),
        ("GATEWAY_SHARDS", "0-70000"),
        (
            "GATEWAY_ID",
            "an-id-that-is-far-too-long-for-a-queue-name-and-every-redis-key-x",
        ),
        ("GATEWAY_ID", "a.b"),
        ("GATEWAY_INTENTS", "GUILDS,NOPE"),
        ("GATEWAY_EVENTS", "MESSAGE_CREATE,MESSAGE_CRATE"),
        ("EVENTS_EXCHANGE", "amq.topic"),
        ("EVENTS_EXCHANGE", "with space"),
        ("EVENTS_EXCHANGE", LONG_NAME),
        ("REDIS_PREFIX", "a b"),
        ("PUBLISH_BUFFER", "0"),
        ("PUBLISH_BUFFER", "99999999999"),
        ("PUBLISH_BUFFER_BYTES", "65535"),
        ("PUBLISH_BUFFER_BYTES", "17179869185"),
        ("PUBLISH_WINDOW", "0"),
        ("SHARD_LEASE_TTL_MS", "18446744073709551615"),
        ("SHARD_LEASE_TTL_MS", "100"),
        ("SESSION_PERSIST_INTERVAL_MS", "0"),
        ("IDENTIFY_INTERVAL_MS", "-1"),
        ("SESSION_START_RESERVE", "many"),
        ("HEARTBEAT_ACK_TIMEOUT_MS", "0"),
        ("SHARD_IDLE_TIMEOUT_MS", "99999999999999"),
        ("SHUTDOWN_FLUSH_TIMEOUT_MS", "9999999999"),
        ("HTTP_ADDR", "localhost"),
        ("LOG_FORMAT", "xml"),
        ("DISCORD_GATEWAY_URL", "not a url"),
        ("DISCORD_GATEWAY_URL", "http://sim:8090"),
        ("DISCORD_API_PROXY", "http://sim:8090"),
        ("DISCORD_API_PROXY", "sim"),
        ("CACHE_RESOURCES", "guilds,nope"),
        ("CACHE_PREVIOUS_STATE", "maybe"),
        ("CACHE_MESSAGE_TTL_MS", "0"),
        ("CACHE_BATCH", "99999999999"),
    ];

    /// An exchange name over the 200 bytes the services accept.
    const LONG_NAME: &str = concat!(
        "swarmcord.events.0123456789012345678901234567890123456789012345678901234567890123456789",
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567",
        "890123456789012345678901234567890123456789"
    );

    /// Fuzz-style over `docs/CONFIGURATION.md`: every documented gateway variable refuses a bad
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
            ("AMQP_URL", "amqp://u:p@h/%2f"),
            ("REDIS_URL", "redis://h/"),
        ];
        let parse = |env: &Env| GatewayConfig::from_env(env).map(drop);
        if let Err(problems) =
            swarmcord_ops::config::check_bad_values(&doc, "Gateway", &base, BAD, parse)
        {
            panic!("{problems}");
        }
    }

    /// The table under "Gateway" of `docs/CONFIGURATION.md` is generated from the
    /// declaration (what all services read is under "All services").
    #[test]
    fn configuration_reference_matches_the_code() {
        if let Err(problems) =
            swarmcord_ops::config::reference::check_service::<GatewayArgs>("Gateway")
        {
            panic!("{problems}");
        }
    }
}
