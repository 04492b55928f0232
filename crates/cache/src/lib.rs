//! The Redis cache of Discord objects that every worker reads, kept by the gateways in shard
//! order.
//!
//! - **Model** ([`model`]): guilds, channels, roles, members, users, emojis, voice states, and
//!   (behind switches) presences and messages, as compact typed structs that parse Discord's
//!   JSON directly and are stored as short-named JSON. What is cached is configurable per
//!   [`Resource`].
//! - **Key layout** ([`CacheKeys`]): one hash per entity kind (per guild where entities belong
//!   to one), sets as indexes: channels of a guild, guilds of a user, occupants of a voice
//!   channel, guilds of a shard. The table is in `docs/ARCHITECTURE.md` ("Cache").
//! - **Writes** ([`CacheWriter`]): the gateway turns each dispatch into an [`Update`] and
//!   applies the updates of many events as one ordered pipeline *before* it publishes them, so
//!   a worker that handles event E reads a cache that includes E. `READY` purges what the shard
//!   cached in its previous session; `GUILD_CREATE` rebuilds a guild from scratch; a malformed
//!   payload purges the guild it names. Updates optionally yield the entity's previous state.
//! - **Reads** ([`CacheReader`]): typed getters, indexes, and
//!   [`CacheReader::member_permissions_in_channel`], which answers
//!   [`PermissionLookup::Unknown`] instead of guessing whenever a piece is missing.
//!   [`FallbackReader`] asks Discord's REST API for missing members, users, channels and
//!   guilds (owner and roles) and keeps the answers for a short time-to-live; its
//!   [`FallbackReader::member_permissions_in_channel`] is the one REST permission path.
//! - **Permissions** ([`permissions`]): [`permissions::compute`], Discord's algorithm over
//!   plain inputs, used by both readers.
//! - **Role hierarchy** ([`hierarchy`]): [`may_act_on`], Discord's rule for acting on a member
//!   (kick, ban, timeout, roles), over plain inputs, and
//!   [`FallbackReader::moderation_hierarchy`], which reads its inputs and fails closed.
//!
//! ```no_run
//! # async fn example(redis: redis::aio::ConnectionManager) -> Result<(), swarmcord_cache::CacheError> {
//! use swarmcord_cache::{CacheReader, PermissionLookup};
//! use twilight_model::guild::Permissions;
//! use twilight_model::id::Id;
//!
//! let cache = CacheReader::new(redis, "swarmcord");
//! let lookup = cache
//!     .member_permissions_in_channel(Id::new(1), Id::new(2), Id::new(3))
//!     .await?;
//! if !lookup.allows(Permissions::BAN_MEMBERS) {
//!     // denied, or unknown: fail closed
//! }
//! # Ok(()) }
//! ```

mod config;
mod error;
pub mod hierarchy;
mod keys;
pub mod model;
pub mod permissions;
mod reader;
mod rest;
mod scripts;
mod wire;
mod writer;

pub use config::{CacheConfig, Resource, Resources};
pub use error::CacheError;
pub use hierarchy::{
    HierarchyDenial, HierarchyLookup, HierarchyUnknown, Ranked, RoleRank, highest_role, may_act_on,
};
pub use keys::CacheKeys;
pub use model::{
    CachedChannel, CachedEmoji, CachedGuild, CachedMember, CachedMessage, CachedOverwrite,
    CachedPresence, CachedRole, CachedUser, CachedVoiceState,
};
pub use permissions::{PermissionInputs, PermissionLookup, Unknown};
pub use reader::{CacheReader, GuildStatus, granted};
pub use rest::{DEFAULT_REST_TTL, FallbackReader, Source};
pub use writer::{Applied, CacheWriter, Update};

/// AMQP header that carries an updated or deleted entity's previous state (in the cache's
/// encoding: deserialise it as the entity's `Cached*` type) when the gateway runs with
/// `CACHE_PREVIOUS_STATE=true`.
pub const PREVIOUS_STATE_HEADER: &str = "cache_previous";
