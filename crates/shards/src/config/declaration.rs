//! The gateway's variables, declared: name, default, help text (the reference
//! `docs/CONFIGURATION.md`, Gateway, is generated from it) and value parser.

use std::collections::BTreeSet;
use std::time::Duration;

use swarmcord_cache::Resources;
use swarmcord_ops::config::common::{BotArgs, CommonArgs};
use swarmcord_ops::config::{bounded, millis, parsed, url};
use twilight_gateway::Intents;

use super::{
    DEFAULT_CACHE_RESOURCES, gateway_id, parse_events, parse_intents, shard_count, shards,
};
use crate::{ShardCount, ShardSelection};

/// Every variable of the gateway.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    pub(crate) bot: BotArgs,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) shards: ShardArgs,
    /// intents by name (comma or `\|` separated) or as a number
    #[arg(long, env = "GATEWAY_INTENTS", default_value = "GUILDS,GUILD_MEMBERS,GUILD_MODERATION,GUILD_VOICE_STATES,GUILD_MESSAGES,DIRECT_MESSAGES,MESSAGE_CONTENT", value_parser = parse_intents)]
    pub(crate) intents: Intents,
    /// allow-list of event types to forward, comma-separated; empty forwards every event;
    /// valid: Discord event type names, any case
    #[arg(long, env = "GATEWAY_EVENTS", value_parser = parse_events)]
    pub(crate) events: Option<BTreeSet<String>>,
    #[command(flatten)]
    pub(crate) publish: PublishArgs,
    #[command(flatten)]
    pub(crate) timers: TimerArgs,
    /// gateway URL override, e.g. the simulator's `ws://sim:8090`
    #[arg(long, env = "DISCORD_GATEWAY_URL", value_parser = url(&["ws", "wss"]))]
    pub(crate) gateway_url: Option<String>,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// Which shards the bot and this replica run.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ShardArgs {
    /// total shards of the bot; `auto` takes Discord's recommendation from `GET /gateway/bot`
    /// (all gateways must agree: set a number in production); with `GATEWAY_SHARDS=auto`, only
    /// the first gateway's count is used: it is stored in Redis, and `gateway reshard` changes
    /// it
    #[arg(long, env = "SHARD_COUNT", default_value = "auto", value_parser = shard_count())]
    pub(crate) count: ShardCount,
    /// this replica's 1-based shard group (contiguous slices of the shards, e.g.
    /// `{{.Task.Slot}}` in a Swarm service; `GATEWAY_SHARDS=auto` needs no group)
    #[arg(long = "gateway-group", env = "GATEWAY_GROUP")]
    pub(crate) group: Option<String>,
    /// number of shard groups = the gateway service's replica count
    #[arg(long = "gateway-groups", env = "GATEWAY_GROUPS", default_value = "1", value_parser = bounded(1_u32..=super::MAX_SHARDS))]
    pub(crate) groups: u32,
    /// instead of a group: an explicit inclusive range such as `0-15`, or `auto`: the replicas
    /// share the shards among themselves (each claims a fair share of the live replicas in
    /// Redis and hands shards over when one joins or leaves; scale with `docker service
    /// scale`, no `GATEWAY_GROUP(S)`; set `SHARD_COUNT` to a number)
    #[arg(long = "gateway-shards", env = "GATEWAY_SHARDS", value_parser = shards())]
    pub(crate) range: Option<ShardSelection>,
    /// replica id, names the reply queue `gateway.<id>`; random when unset
    #[arg(long = "gateway-id", env = "GATEWAY_ID", value_parser = gateway_id())]
    pub(crate) id: Option<String>,
}

/// The publishing buffers.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PublishArgs {
    /// events held while RabbitMQ is slow or away; when full, shards are not read (nothing is
    /// dropped)
    #[arg(long = "publish-buffer", env = "PUBLISH_BUFFER", default_value = "10000", value_parser = bounded(1_usize..=1_000_000))]
    pub(crate) buffer: usize,
    /// bytes (64 MiB) of events held while RabbitMQ is slow or away (and as much again in the
    /// cache stage); when full, shards are not read
    #[arg(long = "publish-buffer-bytes", env = "PUBLISH_BUFFER_BYTES", default_value = "67108864", value_parser = bounded(65_536_usize..=16 << 30))]
    pub(crate) buffer_bytes: usize,
    /// publishes awaiting a broker confirm at once
    #[arg(long = "publish-window", env = "PUBLISH_WINDOW", default_value = "1024", value_parser = bounded(1_usize..=65_535))]
    pub(crate) window: usize,
}

/// Leases, sessions, watchdogs, identify pacing and shutdown.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TimerArgs {
    /// shard lease lifetime; a killed replica's shards move after at most this long (with
    /// `GATEWAY_SHARDS=auto`, also how long a dead replica stays in the registry)
    #[arg(long = "shard-lease-ttl-ms", env = "SHARD_LEASE_TTL_MS", default_value = "10000", value_parser = millis(300..=600_000))]
    pub(crate) lease_ttl: Duration,
    /// how often each shard's session (with the last confirmed sequence) is saved
    #[arg(long = "session-persist-interval-ms", env = "SESSION_PERSIST_INTERVAL_MS", default_value = "1000", value_parser = millis(10..=600_000))]
    pub(crate) persist_interval: Duration,
    /// minimum time between identifies of one concurrency bucket across the cluster (Discord:
    /// 5000; 100 ms of margin are added)
    #[arg(long = "identify-interval-ms", env = "IDENTIFY_INTERVAL_MS", default_value = "5000", value_parser = millis(0..=600_000))]
    pub(crate) identify_interval: Duration,
    /// session starts kept in reserve: below this, shards do not identify (resuming still
    /// works)
    #[arg(long = "session-start-reserve", env = "SESSION_START_RESERVE", default_value = "10", value_parser = bounded(0_u32..=1_000_000))]
    pub(crate) session_start_reserve: u32,
    /// watchdog: reconnect (resume) a shard whose heartbeat is not acknowledged in this time
    #[arg(long = "heartbeat-ack-timeout-ms", env = "HEARTBEAT_ACK_TIMEOUT_MS", default_value = "60000", value_parser = millis(1000..=3_600_000))]
    pub(crate) heartbeat_ack_timeout: Duration,
    /// watchdog: reconnect (resume) a shard when no event arrived for this long; `0` disables
    #[arg(long = "shard-idle-timeout-ms", env = "SHARD_IDLE_TIMEOUT_MS", default_value = "0", value_parser = millis(0..=86_400_000))]
    pub(crate) idle_timeout: Duration,
    /// on SIGTERM, how long to wait for broker confirms before saving sessions
    #[arg(long = "shutdown-flush-timeout-ms", env = "SHUTDOWN_FLUSH_TIMEOUT_MS", default_value = "10000", value_parser = millis(0..=600_000))]
    pub(crate) shutdown_flush_timeout: Duration,
}

/// The Redis cache of Discord objects.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CacheArgs {
    /// what the Redis cache of Discord objects keeps, comma-separated: `guilds`, `channels`,
    /// `roles`, `members`, `users`, `emojis`, `voice_states`, `presences`, `messages` (or
    /// `default`, `all`); `none` turns the cache off. Permission lookups need
    /// `guilds,channels,roles,members`
    #[arg(long = "cache-resources", env = "CACHE_RESOURCES", default_value = DEFAULT_CACHE_RESOURCES, value_parser = Resources::parse)]
    pub(crate) resources: Resources,
    /// attach an updated or deleted entity's previous state (cache encoding) to the forwarded
    /// event in the `cache_previous` header
    #[arg(long = "cache-previous-state", env = "CACHE_PREVIOUS_STATE", default_value = "false", action = clap::ArgAction::Set, value_parser = parsed::<bool>)]
    pub(crate) previous_state: bool,
    /// how long a cached message lives (only with `messages` in `CACHE_RESOURCES`)
    #[arg(long = "cache-message-ttl-ms", env = "CACHE_MESSAGE_TTL_MS", default_value = "600000", value_parser = millis(1..=2_592_000_000))]
    pub(crate) message_ttl: Duration,
    /// most events of one shard applied to the cache in one Redis pipeline (larger batches:
    /// more throughput under load; the stage holds twice this many before the shard stops
    /// being read)
    #[arg(long = "cache-batch", env = "CACHE_BATCH", default_value = "512", value_parser = bounded(1_usize..=16_384))]
    pub(crate) batch: usize,
}
