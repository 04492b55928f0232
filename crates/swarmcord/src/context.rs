//! What handlers get: [`Services`] (shared by every handler of a worker), the command
//! [`Context`] (services plus who invoked the command, where) and the [`EventContext`]
//! (services plus where the event came from).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use swarmcord_bot::settings::SharedSettings;
use swarmcord_cache::{FallbackReader, HierarchyLookup};
use swarmcord_commands::{CommandError, EventSource, InvocationContext, Registry, Reply};
use swarmcord_store::Store;
use swarmcord_stream::HandlerError;
use twilight_http::Client;
use twilight_model::channel::Message;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use crate::gateway::GatewayCommands;

/// Author data registered with [`Worker::data`](crate::Worker::data), by type.
pub(crate) type DataMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// No data of the asked type was registered. Converts into a [`CommandError`] or an
/// [`EventError`](crate::EventError), so `ctx.data::<T>()?` works in every handler.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no data of type `{0}` was registered; add `.data(…)` to the worker")]
pub struct MissingData(&'static str);

impl From<MissingData> for CommandError {
    fn from(error: MissingData) -> Self {
        Self::internal(error)
    }
}

/// The services of one worker: Discord REST, the Discord-object cache, the store, gateway
/// commands, author data. Cheap to clone; every handler of the worker shares them.
#[derive(Clone)]
pub struct Services {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: Arc<Client>,
    pub(crate) cache: FallbackReader,
    pub(crate) store: Store,
    pub(crate) settings: SharedSettings,
    pub(crate) redis: redis::aio::ConnectionManager,
    pub(crate) redis_prefix: String,
    pub(crate) gateways: swarmcord_coord::GatewayRegistry,
    pub(crate) gateway: GatewayCommands,
    pub(crate) music: Option<swarmcord_voice::Music>,
    pub(crate) bot_id: Id<UserMarker>,
    pub(crate) default_prefix: String,
    pub(crate) data: DataMap,
    pub(crate) registry: OnceLock<Registry>,
    pub(crate) components: swarmcord_commands::ComponentStates,
    pub(crate) prompts: swarmcord_commands::Prompts,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services")
            .field("bot_id", &self.inner.bot_id)
            .field("redis_prefix", &self.inner.redis_prefix)
            .field("music", &self.inner.music.is_some())
            .field("data_types", &self.inner.data.len())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// The Discord REST client (rate-limited; through `DISCORD_API_PROXY` when set).
    pub fn http(&self) -> &Arc<Client> {
        &self.inner.http
    }

    /// The Discord-object cache the gateways keep in Redis, with Discord REST for what it
    /// lacks.
    pub fn cache(&self) -> &FallbackReader {
        &self.inner.cache
    }

    /// MongoDB: the built-in repositories, and [`Store::collection`] for your own data.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Guild settings (prefix, mod-log channel, locale, disabled commands) read through Redis.
    pub fn settings(&self) -> &SharedSettings {
        &self.inner.settings
    }

    /// A Redis connection (shared, reconnecting). Prefix your keys with
    /// [`redis_prefix`](Self::redis_prefix).
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.inner.redis.clone()
    }

    /// The prefix of every Redis key of this bot (`REDIS_PREFIX`).
    pub fn redis_prefix(&self) -> &str {
        &self.inner.redis_prefix
    }

    /// The live gateway replicas and the shards they own.
    pub fn gateways(&self) -> &swarmcord_coord::GatewayRegistry {
        &self.inner.gateways
    }

    /// Gateway commands (presence, voice, member requests), routed to the gateway that owns
    /// the guild's shard.
    pub fn gateway(&self) -> &GatewayCommands {
        &self.inner.gateway
    }

    /// Music through Lavalink, when `LAVALINK_NODES` is configured.
    pub fn music(&self) -> Option<&swarmcord_voice::Music> {
        self.inner.music.as_ref()
    }

    /// The bot's own user id.
    pub fn bot_id(&self) -> Id<UserMarker> {
        self.inner.bot_id
    }

    /// The prefix of servers that set none (`DEFAULT_PREFIX`).
    pub fn default_prefix(&self) -> &str {
        &self.inner.default_prefix
    }

    /// Every registered command (set once the worker has registered them all, before the
    /// first event is handled).
    pub fn commands(&self) -> Option<&Registry> {
        self.inner.registry.get()
    }

    /// The open conversations (prompts) of every user, in Redis: a component handler can
    /// close the one its button answers (`prompts().take(channel, user)`), so that a typed
    /// answer and a click never both count.
    pub fn prompts(&self) -> &swarmcord_commands::Prompts {
        &self.inner.prompts
    }

    /// The data of type `T` registered with [`Worker::data`](crate::Worker::data).
    pub fn data<T: Send + Sync + 'static>(&self) -> Result<&T, MissingData> {
        self.inner
            .data
            .get(&TypeId::of::<T>())
            .and_then(|data| data.downcast_ref::<T>())
            .ok_or(MissingData(std::any::type_name::<T>()))
    }

    /// Stores `state` in Redis for `ttl` and returns the `custom_id` for a component whose
    /// clicks go to the handler `handler` (registered with
    /// [`Worker::component`](crate::Worker::component)), which reads it back with
    /// [`ComponentContext::state`](crate::ComponentContext::state). Keep it small: it is
    /// JSON in Redis.
    pub async fn stash<T: serde::Serialize>(
        &self,
        handler: &str,
        state: &T,
        ttl: std::time::Duration,
    ) -> Result<String, CommandError> {
        let value = serde_json::to_value(state).map_err(CommandError::internal)?;
        self.inner
            .components
            .stash(handler, &value, ttl)
            .await
            .map_err(CommandError::internal)
    }

    /// Sends `reply` to `channel_id` exactly once per `idempotency_key` (Discord's
    /// `enforce_nonce`: a retried handler sending with the same key does not post twice).
    /// Mentions in the text ping nobody unless the reply allows them
    /// ([`Reply::allow_user_mentions`] and its siblings).
    pub async fn send(
        &self,
        channel_id: Id<ChannelMarker>,
        reply: &Reply,
        idempotency_key: &str,
    ) -> Result<Option<Message>, HandlerError> {
        swarmcord_bot::reply::send(&self.inner.http, channel_id, None, reply, idempotency_key).await
    }

    /// Whether `invoker` may have the bot act on `target` in `guild_id` under Discord's role
    /// hierarchy (ban, kick, timeout, role changes): nobody acts on the owner; the target's
    /// highest role must be below the invoker's (the owner is exempt) and below the bot's.
    /// `Ok` when allowed, otherwise the message to show — also when the roles cannot be read
    /// (it fails closed). Check before asking for confirmation *and* when the answer comes.
    pub async fn check_hierarchy(
        &self,
        guild_id: Id<GuildMarker>,
        invoker: Id<UserMarker>,
        target: Id<UserMarker>,
    ) -> Result<(), CommandError> {
        match self
            .inner
            .cache
            .moderation_hierarchy(guild_id, invoker, target, self.inner.bot_id)
            .await
        {
            Ok(HierarchyLookup::Allowed) => Ok(()),
            Ok(HierarchyLookup::Denied(denial)) => Err(CommandError::user(denial.message())),
            Ok(lookup) => {
                tracing::info!(?lookup, "role hierarchy unknown; refusing");
                Err(hierarchy_unknown())
            }
            Err(error) => {
                tracing::warn!(%error, "role hierarchy unreadable; refusing");
                Err(hierarchy_unknown())
            }
        }
    }

    /// [`check_hierarchy`](Self::check_hierarchy) for the user of `invocation` (refused in
    /// direct messages: there is nobody to act on).
    pub(crate) async fn check_hierarchy_of(
        &self,
        invocation: &InvocationContext,
        target: Id<UserMarker>,
    ) -> Result<(), CommandError> {
        let Some(guild_id) = invocation.guild_id else {
            return Err(CommandError::user("This only works in a server."));
        };
        self.check_hierarchy(guild_id, invocation.user_id, target)
            .await
    }

    /// A member's permissions in a channel, from the cache (Discord REST for what it lacks,
    /// see [`FallbackReader::known_permissions_in_channel`]); `None` when neither can tell
    /// (deny in that case).
    pub async fn permissions_in(
        &self,
        guild_id: Id<GuildMarker>,
        channel_id: Id<ChannelMarker>,
        user_id: Id<UserMarker>,
    ) -> Option<Permissions> {
        self.inner
            .cache
            .known_permissions_in_channel(guild_id, channel_id, user_id)
            .await
    }
}

/// Refusal when the role hierarchy cannot be read (fail closed).
fn hierarchy_unknown() -> CommandError {
    CommandError::user(
        "I can't check the role hierarchy right now, so I won't do that; try again in a moment.",
    )
}

/// The context of a command: the [`Services`] (through `Deref`) and the invocation.
#[derive(Clone)]
pub struct Context {
    services: Services,
    invocation: InvocationContext,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("invocation", &self.invocation)
            .finish_non_exhaustive()
    }
}

impl Deref for Context {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Context {
    pub(crate) fn new(services: Services, invocation: InvocationContext) -> Self {
        Self {
            services,
            invocation,
        }
    }

    /// The services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Everything known about the invocation.
    pub fn invocation(&self) -> &InvocationContext {
        &self.invocation
    }

    /// The invoking user.
    pub fn user_id(&self) -> Id<UserMarker> {
        self.invocation.user_id
    }

    /// The guild, or `None` in direct messages.
    pub fn guild_id(&self) -> Option<Id<GuildMarker>> {
        self.invocation.guild_id
    }

    /// The channel the command was used in.
    pub fn channel_id(&self) -> Id<ChannelMarker> {
        self.invocation.channel_id
    }

    /// Whether the user is one of the bot's owners (`OWNER_IDS`).
    pub fn is_owner(&self) -> bool {
        self.invocation.is_owner
    }

    /// The invoking member's permissions in the channel: known already when the command
    /// declares permissions (or `reads_permissions`), otherwise looked up now. `None` when they
    /// cannot be determined: deny in that case.
    pub async fn member_permissions(&self) -> Option<Permissions> {
        if let Some(permissions) = self.invocation.member_permissions {
            return Some(permissions);
        }
        let guild_id = self.invocation.guild_id?;
        self.services
            .permissions_in(
                guild_id,
                self.invocation.channel_id,
                self.invocation.user_id,
            )
            .await
    }

    /// The bot's own permissions in the channel (`None` when they cannot be determined).
    pub async fn bot_permissions(&self) -> Option<Permissions> {
        let Some(guild_id) = self.invocation.guild_id else {
            return Some(Permissions::all() - Permissions::ADMINISTRATOR);
        };
        self.services
            .permissions_in(guild_id, self.invocation.channel_id, self.services.bot_id())
            .await
    }

    /// Whether the invoking member may have the bot act on `target` (see
    /// [`Services::check_hierarchy`]); in direct messages there is nobody to act on.
    pub async fn check_hierarchy(&self, target: Id<UserMarker>) -> Result<(), CommandError> {
        self.services
            .check_hierarchy_of(&self.invocation, target)
            .await
    }

    /// The gateway event behind the invocation (shard, gateway, when it was received).
    pub fn source(&self) -> Option<&EventSource> {
        self.invocation.source.as_ref()
    }
}

/// The context of an event handler: the [`Services`] (through `Deref`) and where the event
/// came from.
#[derive(Clone)]
pub struct EventContext {
    services: Services,
    event: swarmcord_stream::Event,
}

impl fmt::Debug for EventContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("kind", &self.event.kind)
            .field("shard_id", &self.event.headers.shard_id)
            .finish_non_exhaustive()
    }
}

impl Deref for EventContext {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl EventContext {
    pub(crate) fn new(services: Services, event: swarmcord_stream::Event) -> Self {
        Self { services, event }
    }

    /// The services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The event type, e.g. `GUILD_MEMBER_ADD`.
    pub fn kind(&self) -> &str {
        &self.event.kind
    }

    /// The shard that received the event.
    pub fn shard_id(&self) -> u32 {
        self.event.headers.shard_id
    }

    /// The event's guild, when it has one.
    pub fn guild_id(&self) -> Option<Id<GuildMarker>> {
        self.event.guild_id.and_then(Id::new_checked)
    }

    /// A key unique to this event and stable across its redeliveries: use it to make side
    /// effects idempotent (for example as the key of [`Services::send`]).
    pub fn event_id(&self) -> String {
        self.event.headers.event_id()
    }

    /// Whether this delivery is a retry or a redelivery of the event.
    pub fn redelivered(&self) -> bool {
        self.event.redelivered
    }

    /// The raw JSON payload (Discord's `d`).
    pub fn raw(&self) -> &[u8] {
        &self.event.body
    }
}
