//! # swarmcord: your Discord bot as microservices
//!
//! Gateway replicas own the shards and forward every event through RabbitMQ; stateless
//! **worker** replicas — this crate builds yours — run your commands and event handlers and
//! reply through Discord REST. Scale workers with `docker service scale`; any replica handles
//! any event, prompts and cooldowns live in Redis, your data in MongoDB.
//!
//! ```no_run
//! use swarmcord::model::gateway::payload::incoming::MemberAdd;
//! use swarmcord::{CommandError, Context, EventContext, EventError, Reply};
//!
//! /// Rolls dice, like `2d6`.
//! #[swarmcord::command(slash, prefix, cooldown = "user:2/5s")]
//! async fn roll(_ctx: &Context, #[description = "dice like 2d6"] dice: String) -> Result<Reply, CommandError> {
//!     let (count, sides) = dice.split_once('d').and_then(|(n, s)| Some((n.parse::<u32>().ok()?, s.parse::<u32>().ok()?)))
//!         .filter(|&(n, s)| (1..=20).contains(&n) && (2..=1000).contains(&s))
//!         .ok_or_else(|| CommandError::user("Roll like `2d6`: 1-20 dice of 2-1000 sides."))?;
//!     let rolls: Vec<u32> = (0..count).map(|i| 1 + (i * 7919 + sides) % sides).collect();
//!     Ok(Reply::text(format!("{dice}: {rolls:?}")))
//! }
//!
//! async fn welcome(ctx: EventContext, member: MemberAdd) -> Result<(), EventError> {
//!     tracing::info!(user = member.user.id.get(), shard = ctx.shard_id(), "member joined");
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     swarmcord::Worker::from_env()
//!         .command(roll)
//!         .on::<MemberAdd>(welcome)
//!         .launch()
//!         .await
//! }
//! ```
//!
//! - [`command`]: an `async fn` becomes a prefix and slash command; its parameters are the
//!   typed arguments ([`ArgType`]), so a misspelled argument is a compile error;
//! - [`Worker`]: configuration from the environment, every service, your commands
//!   ([`Worker::command`]), event handlers ([`Worker::on`], [`Worker::on_raw`]), data
//!   ([`Worker::data`]) and plugins ([`Worker::plugin`], e.g. `swarmcord-builtins`);
//! - [`Context`] / [`EventContext`]: what handlers get — REST, the Discord-object cache, the
//!   store ([`Store::collection`](store::Store::collection) for your own data), gateway commands,
//!   your data;
//! - commands return a [`Reply`] value: the worker remembers it before sending, so a
//!   redelivered event re-sends the same answer instead of running the command twice.
//!
//! The guide (`docs/GUIDE.md` in the repository) goes from `cargo new` to a bot on Swarm.

pub mod args;
mod command;
pub mod components;
pub mod config;
mod context;
pub mod dlq;
pub mod events;
mod gateway;
mod plugin;
mod worker;

pub use args::{ArgType, ContextTarget};
pub use command::{CommandDef, IntoChoices, IntoCommandDef, IntoCommandResult, store_error};
pub use components::ComponentContext;
pub use config::WorkerConfig;
pub use context::{Context, EventContext, MissingData, Services};
pub use events::{DispatchEvent, EventError, EventHandler, RawEvent};
pub use gateway::{GatewayCommandError, GatewayCommandErrorType, GatewayCommands};
pub use plugin::{Plugin, Setup, SetupError};
pub use worker::{Worker, WorkerError};

pub use swarmcord_commands::{CommandError, Modal, ModalInput, PromptState, Reply};
pub use swarmcord_ops::config::Env;

/// Turns an `async fn` into a command: `fn name() -> CommandDef`, registered with
/// [`Worker::command`].
///
/// ```no_run
/// use std::time::Duration;
/// use swarmcord::model::id::{Id, marker::UserMarker};
/// use swarmcord::{CommandError, Context, Reply};
///
/// /// Mutes a member for a while.
/// #[swarmcord::command(
///     slash, prefix,                 // both when neither is given
///     guild_only,
///     permissions(MODERATE_MEMBERS), // the invoking member's; the bot owner bypasses them
///     cooldown = "user:3/10s",       // user, guild or channel : uses / window
///     category = "Moderation",       // in help
///     aliases("shush"),              // prefix only
/// )]
/// async fn mute(
///     ctx: &Context,
///     #[description = "who"] user: Id<UserMarker>,
///     #[description = "how long"] #[min = 60] #[max = 2419200] duration: Option<Duration>,
///     #[description = "why"] #[rest] reason: Option<String>,
/// ) -> Result<Reply, CommandError> {
///     let duration = duration.unwrap_or(Duration::from_secs(600));
///     Ok(Reply::text(format!("<@{user}> muted for {}s: {}", duration.as_secs(), reason.unwrap_or_default())))
/// }
/// ```
///
/// - The description is the first paragraph of the doc comment (or `description = "…"`).
/// - The first parameter is the [`Context`] (`&Context` or `Context`); every other parameter
///   is an argument whose name is the parameter's (`#[rename = "…"]` to change it), whose kind
///   follows from its type ([`ArgType`]), optional when it is an `Option`.
/// - `#[rest]` takes the rest of the line (prefix commands); `#[min]`/`#[max]` bound numbers
///   (seconds for durations).
/// - The function returns anything [`IntoCommandResult`]: a [`Reply`], a `String`, or a
///   `Result` of either with a [`CommandError`].
/// - `on_answer = handler` continues a conversation started with [`Reply::ask`]:
///   `async fn handler(ctx: &Context, state: PromptState, answer: String) -> …`.
/// - Names and descriptions are checked against Discord's rules at compile time.
/// - `subcommands(show, log)` lists the functions of its subcommands (each a `#[command]`; one
///   with subcommands of its own is a group, whose own body is never run); the parent takes
///   no arguments, and its body answers the prefix form without a subcommand.
/// - `user_context = "User info"` / `message_context = "Quote"` make it a context-menu
///   command whose one parameter after the context is its target ([`ContextTarget`]).
/// - `bot_permissions = "BAN_MEMBERS | KICK_MEMBERS"` (or `bot_permissions(BAN_MEMBERS)`) are
///   checked before running, the refusal naming the missing ones; `default_member_permissions =
///   "…"`, `contexts(guild, bot_dm, private_channel)`, `integration_types(guild_install,
///   user_install)`, `nsfw` and `localize(locale = "fr", name = "…", description = "…")` go
///   into the registration.
///
/// ```no_run
/// use swarmcord::model::user::User;
/// use swarmcord::Context;
///
/// /// Shows the settings.
/// #[swarmcord::command]
/// async fn show(_ctx: &Context) -> &'static str { "All default." }
///
/// /// Server settings.
/// #[swarmcord::command(subcommands(show), guild_only, default_member_permissions = "MANAGE_GUILD")]
/// async fn settings(_ctx: &Context) -> &'static str { "Use `settings show`." }
///
/// /// Greets a user.
/// #[swarmcord::command(user_context = "Say hi", bot_permissions = "SEND_MESSAGES")]
/// async fn say_hi(_ctx: &Context, user: User) -> String { format!("Hi {}!", user.name) }
/// ```
pub use swarmcord_macros::command;

/// Makes a field-less enum an argument with a fixed list of choices: Discord shows a menu for
/// the slash option; after a prefix the user types a choice's value or name, in any case
/// (a wrong word lists the values).
///
/// Each variant's menu name is its identifier in words (`ExtraLarge` → "Extra large") and its
/// value in snake case (`extra_large`); `#[choice(name = "…", value = "…")]` sets them. At most
/// 25 variants, names and values of 1–100 characters, checked at compile time.
///
/// ```no_run
/// use swarmcord::Context;
///
/// #[derive(swarmcord::Choice)]
/// enum Size {
///     Small,
///     Medium,
///     #[choice(name = "Extra large (500 ml)", value = "xl")]
///     ExtraLarge,
/// }
///
/// /// Orders a coffee.
/// #[swarmcord::command]
/// async fn coffee(_ctx: &Context, #[description = "how much"] size: Option<Size>) -> &'static str {
///     match size.unwrap_or(Size::Medium) {
///         Size::Small => "A small one, coming up.",
///         Size::Medium => "A medium one, coming up.",
///         Size::ExtraLarge => "Half a litre, coming up.",
///     }
/// }
/// ```
pub use swarmcord_macros::Choice;

/// The command framework (declarations, argument parsing, preconditions, cooldowns, prompts).
pub mod commands {
    pub use swarmcord_commands::spec::CommandSpecBuilder;
    pub use swarmcord_commands::*;
}

/// Discord's data model (twilight-model).
pub use twilight_model as model;

/// The Discord REST client (twilight-http).
pub use twilight_http as http;

/// Builders of embeds, application commands and interaction responses (twilight-util).
pub use twilight_util as util;

/// The Discord-object cache the gateways keep in Redis.
pub use swarmcord_cache as cache;

/// MongoDB: settings, infractions, and your own collections.
pub use swarmcord_store as store;

/// The MongoDB driver the store uses, for your own collections' operations:
/// `swarmcord::mongodb::bson::doc!`, `swarmcord::mongodb::options::ReturnDocument` (no direct
/// dependency to keep at the same version and features).
pub use mongodb;

/// The Redis client behind [`Services::redis`], for your own keys:
/// `use swarmcord::redis::AsyncCommands;`.
pub use redis;

/// Music through Lavalink v4.
pub use swarmcord_voice as voice;

/// Guild settings read through Redis, permissions, idempotent replies: the runtime's pieces
/// that plugins reuse.
pub mod runtime {
    pub use swarmcord_bot::{reply, settings};
    pub use swarmcord_cache::permissions;
}

/// Gateway coordination: the registry of live gateways and their shards.
pub use swarmcord_coord as coord;

#[doc(hidden)]
pub mod __private {
    pub use crate::args::{bound, rest};
}
