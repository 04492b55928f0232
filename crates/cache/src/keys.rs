//! The cache's Redis key layout (see `docs/ARCHITECTURE.md`, "Cache").
//!
//! Every key starts with `{prefix}:cache`, where `prefix` is the cluster prefix shared with the
//! rest of swarmcord (`REDIS_PREFIX`, default `swarmcord`). Entities looked up by their id alone
//! (guilds, channels, users) live in one hash each; entities that belong to a guild live in a
//! hash per guild. Sets are the indexes.

use swarmcord_protocol::keys::{Keys, shard_key};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};

/// Key builder for one cluster prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKeys {
    base: String,
}

impl CacheKeys {
    /// Keys under the cluster prefix `prefix` (the same `REDIS_PREFIX` every service uses).
    pub fn new(prefix: &str) -> Self {
        Self {
            base: Keys::new(prefix).cache_base(),
        }
    }

    /// `{prefix}:cache`: the prefix of every cache key (the Lua scripts build keys from it).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Hash: guild id → [`CachedGuild`](crate::CachedGuild). Only `GUILD_CREATE` adds an entry:
    /// its presence means the guild's roles and channels are complete.
    pub fn guilds(&self) -> String {
        format!("{}:guilds", self.base)
    }

    /// Set: ids of guilds that are unavailable (outage), announced by `READY` or
    /// `GUILD_DELETE` with `unavailable: true`.
    pub fn unavailable(&self) -> String {
        format!("{}:unavailable", self.base)
    }

    /// Hash: guild id → member count (kept by `GUILD_MEMBER_ADD`/`REMOVE`).
    pub fn member_counts(&self) -> String {
        format!("{}:member_counts", self.base)
    }

    /// Hash: role id → [`CachedRole`](crate::CachedRole).
    pub fn roles(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:roles", self.base)
    }

    /// Hash: user id → [`CachedMember`](crate::CachedMember).
    pub fn members(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:members", self.base)
    }

    /// Set: channel ids of a guild (index).
    pub fn guild_channels(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:channels", self.base)
    }

    /// Hash: emoji id → [`CachedEmoji`](crate::CachedEmoji).
    pub fn emojis(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:emojis", self.base)
    }

    /// Hash: user id → [`CachedVoiceState`](crate::CachedVoiceState) (connected users only).
    pub fn voice_states(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:voice", self.base)
    }

    /// Hash: user id → [`CachedPresence`](crate::CachedPresence) (only with presences on).
    pub fn presences(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:g:{guild}:presences", self.base)
    }

    /// Hash: channel id → [`CachedChannel`](crate::CachedChannel) (guild channels and DMs).
    pub fn channels(&self) -> String {
        format!("{}:channels", self.base)
    }

    /// Set: user ids connected to a voice channel (index).
    pub fn voice_channel(&self, channel: Id<ChannelMarker>) -> String {
        format!("{}:vc:{channel}", self.base)
    }

    /// Hash: user id → [`CachedUser`](crate::CachedUser).
    pub fn users(&self) -> String {
        format!("{}:users", self.base)
    }

    /// Set: ids of the cached guilds a user is a member of (index).
    pub fn user_guilds(&self, user: Id<UserMarker>) -> String {
        format!("{}:u:{user}:guilds", self.base)
    }

    /// Set: ids of the guilds cached from shard `shard_id` of `shard_count` (purged when it
    /// re-identifies).
    pub fn shard_guilds(&self, shard_id: u32, shard_count: u32) -> String {
        shard_key(&self.base, shard_id, shard_count, "guilds")
    }

    /// String: the gateway session whose `READY` last rebuilt the guilds of shard `shard_id` of
    /// `shard_count`. A gateway that finds a different value (or none: Redis restarted empty)
    /// while it resumes that session knows the cache lost data, and re-identifies the shard to
    /// rebuild it.
    pub fn shard_session(&self, shard_id: u32, shard_count: u32) -> String {
        shard_key(&self.base, shard_id, shard_count, "session")
    }

    /// String with a TTL: [`CachedMessage`](crate::CachedMessage) (only with messages on).
    pub fn message(&self, message: Id<MessageMarker>) -> String {
        format!("{}:m:{message}", self.base)
    }

    /// String with a TTL: a member fetched over REST by the fallback reader. Kept apart from
    /// the gateway-fed hash so that a slow REST answer can never overwrite newer gateway data.
    pub fn rest_member(&self, guild: Id<GuildMarker>, user: Id<UserMarker>) -> String {
        format!("{}:rest:member:{guild}:{user}", self.base)
    }

    /// String with a TTL: a user fetched over REST.
    pub fn rest_user(&self, user: Id<UserMarker>) -> String {
        format!("{}:rest:user:{user}", self.base)
    }

    /// String with a TTL: a guild's owner and roles fetched over REST.
    pub fn rest_guild(&self, guild: Id<GuildMarker>) -> String {
        format!("{}:rest:guild:{guild}", self.base)
    }

    /// String with a TTL: a channel fetched over REST.
    pub fn rest_channel(&self, channel: Id<ChannelMarker>) -> String {
        format!("{}:rest:channel:{channel}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let keys = CacheKeys::new("bot");
        let g = Id::new(10);
        assert_eq!(keys.guilds(), "bot:cache:guilds");
        assert_eq!(keys.members(g), "bot:cache:g:10:members");
        assert_eq!(keys.roles(g), "bot:cache:g:10:roles");
        assert_eq!(keys.guild_channels(g), "bot:cache:g:10:channels");
        assert_eq!(keys.voice_channel(Id::new(3)), "bot:cache:vc:3");
        assert_eq!(keys.user_guilds(Id::new(4)), "bot:cache:u:4:guilds");
        assert_eq!(keys.shard_guilds(2, 4), "bot:cache:shard:4:2:guilds");
        assert_eq!(keys.shard_session(2, 4), "bot:cache:shard:4:2:session");
        assert_eq!(keys.message(Id::new(5)), "bot:cache:m:5");
        assert_eq!(
            keys.rest_member(g, Id::new(4)),
            "bot:cache:rest:member:10:4"
        );
    }
}
