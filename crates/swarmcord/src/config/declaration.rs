//! The worker's variables, declared: name, default, help text (the reference
//! `docs/CONFIGURATION.md`, Worker, is generated from it) and value parser.

use std::collections::HashSet;
use std::time::Duration;

use swarmcord_ops::config::common::{BotArgs, CommonArgs};
use swarmcord_ops::config::{amqp_name, bounded, millis, parsed};
use swarmcord_voice::NodeConfig;

use super::{
    SlashCommands, default_prefix, mongo_database, parse_bindings, parse_nodes, parse_owners,
    parse_rest_proxy, retry_delays,
};

swarmcord_ops::secret_variable! {
    /// `MONGO_URL` or `MONGO_URL_FILE`.
    pub(crate) struct MongoUrl {
        env: "MONGO_URL",
        file_env: "MONGO_URL_FILE",
        long: "mongo-url",
        file_long: "mongo-url-file",
        required: true,
        help: "MongoDB URL; settings and infractions",
        valid: swarmcord_ops::config::schemes(super::MONGO_SCHEMES),
    }
}

swarmcord_ops::secret_variable! {
    /// `LAVALINK_PASSWORD` or `LAVALINK_PASSWORD_FILE`.
    pub(crate) struct LavalinkPassword {
        env: "LAVALINK_PASSWORD",
        file_env: "LAVALINK_PASSWORD_FILE",
        long: "lavalink-password",
        file_long: "lavalink-password-file",
        required: false,
        help: "the Lavalink nodes' password; required with `LAVALINK_NODES`",
    }
}

/// Every variable of the worker.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    pub(crate) bot: BotArgs,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) mongo_url: MongoUrl,
    /// MongoDB database
    #[arg(long, env = "MONGO_DATABASE", default_value = "swarmcord", value_parser = mongo_database())]
    pub(crate) mongo_database: String,
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    #[command(flatten)]
    pub(crate) commands: CommandArgs,
    /// Discord REST requests per second this replica may send: Discord's global limit is per
    /// bot (50/s unless raised), so divide it by the worker replicas (interaction responses are
    /// exempt)
    #[arg(long, env = "DISCORD_GLOBAL_RATE_LIMIT", default_value = "50", value_parser = bounded(1_u16..=u16::MAX))]
    pub(crate) global_rate_limit: u16,
    /// `http://host:port` of the shared REST proxy (section REST proxy), e.g.
    /// `http://rest:8080`: every request goes through it and the in-process limiter
    /// (`DISCORD_GLOBAL_RATE_LIMIT`) is off, because the proxy keeps the global limit, route
    /// buckets and invalid-request budget for all workers. Same twilight mechanism as
    /// `DISCORD_API_PROXY` (`Client::builder().proxy(host, true)`); not together with it
    #[arg(long, env = "DISCORD_REST_PROXY", value_parser = parse_rest_proxy)]
    pub(crate) rest_proxy: Option<String>,
    #[command(flatten)]
    pub(crate) voice: VoiceArgs,
}

/// The work queue and its retries.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct QueueArgs {
    /// the durable queue all worker replicas share
    #[arg(long = "worker-queue", env = "WORKER_QUEUE", default_value = "swarmcord.worker", value_parser = amqp_name())]
    pub(crate) name: String,
    /// event types bound to the queue, comma-separated; unset: the types the bot handles
    /// (`MESSAGE_CREATE`, `INTERACTION_CREATE`, the voice events with `LAVALINK_NODES`, and
    /// every type a handler is registered for); valid: Discord event type names, upper case,
    /// or `#` for every event
    #[arg(long = "worker-events", env = "WORKER_EVENTS", value_parser = parse_bindings)]
    pub(crate) bindings: Option<::std::vec::Vec<String>>,
    /// events in flight per worker replica
    #[arg(long = "worker-prefetch", env = "WORKER_PREFETCH", default_value = "32", value_parser = bounded(1_u16..=u16::MAX))]
    pub(crate) prefetch: u16,
    /// failed handling attempts before an event is dead-lettered
    #[arg(long = "worker-max-attempts", env = "WORKER_MAX_ATTEMPTS", default_value = "5", value_parser = bounded(1_u64..=1000))]
    pub(crate) max_attempts: u64,
    /// how long the retries after the 1st, 2nd, … failure wait, comma-separated milliseconds
    /// (the last repeats; `0` retries at once); each delay is a queue
    /// `<WORKER_QUEUE>.retry.<ms>ms` whose messages go back to the work queue when they
    /// expire
    #[arg(long = "worker-retry-delays-ms", env = "WORKER_RETRY_DELAYS_MS", default_value = "1000,5000,30000", value_parser = retry_delays())]
    pub(crate) retry_delays: ::std::vec::Vec<Duration>,
}

/// Commands: prefix, owners, limits, slash-command registration.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CommandArgs {
    /// command prefix of servers that set none
    #[arg(long = "default-prefix", env = "DEFAULT_PREFIX", default_value = "!", value_parser = default_prefix())]
    pub(crate) default_prefix: String,
    /// bot owners' user ids, comma-separated (bypass permission checks and cooldowns)
    #[arg(long = "owner-ids", env = "OWNER_IDS", value_parser = parse_owners)]
    pub(crate) owners: Option<HashSet<u64>>,
    /// commands one user may run per 10 s over all commands, counted in Redis across replicas
    /// (owners exempt; `0`: off). Each command also has a cooldown (10 uses per 10 s per user
    /// unless it declares its own); a refusal is said once per wait
    #[arg(long = "user-command-limit", env = "USER_COMMAND_LIMIT", default_value = "20", value_parser = bounded(0_u32..=1000))]
    pub(crate) user_command_limit: u32,
    /// where to register the slash commands at start-up: `global`, `off`, or guild ids,
    /// comma-separated (guild commands update instantly: handy in development)
    #[arg(long = "slash-commands", env = "SLASH_COMMANDS", default_value = "global", value_parser = parsed::<SlashCommands>)]
    pub(crate) slash_commands: SlashCommands,
    /// a slash command still running this long after the gateway received it is answered
    /// "thinking…" and edited when done (at most `2500`: Discord's deadline is 3 s)
    #[arg(long = "interaction-defer-after-ms", env = "INTERACTION_DEFER_AFTER_MS", default_value = "1500", value_parser = millis(0..=2500))]
    pub(crate) interaction_defer_after: Duration,
}

/// Lavalink (music commands).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct VoiceArgs {
    /// Lavalink v4 nodes, comma-separated `name=http://host:port` (names: letters, digits,
    /// `-`, `_`); empty disables the music commands. When set, `VOICE_STATE_UPDATE`,
    /// `VOICE_SERVER_UPDATE` and `READY` are bound to the queue as well (also when
    /// `WORKER_EVENTS` is set)
    #[arg(long = "lavalink-nodes", env = "LAVALINK_NODES", value_parser = parse_nodes)]
    pub(crate) nodes: Option<::std::vec::Vec<NodeConfig>>,
    #[command(flatten)]
    pub(crate) password: LavalinkPassword,
    /// how long a node may stay unreachable before its players move to another node (at least
    /// `1000`)
    #[arg(long = "lavalink-failover-after-ms", env = "LAVALINK_FAILOVER_AFTER_MS", default_value = "5000", value_parser = millis(1000..=3_600_000))]
    pub(crate) failover_after: Duration,
}
