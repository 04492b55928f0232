//! The worker side: typed reads of the cache.

use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, EmojiMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker,
};

use crate::error::CacheError;
use crate::keys::CacheKeys;
use crate::model::{
    CachedChannel, CachedEmoji, CachedGuild, CachedMember, CachedMessage, CachedPresence,
    CachedRole, CachedUser, CachedVoiceState,
};
use crate::permissions::{Inputs, PermissionLookup, Unknown};

/// What the cache knows about a guild.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuildStatus {
    /// Cached and available.
    Available(Box<CachedGuild>),
    /// In an outage: Discord will send it again when it is back.
    Unavailable,
    /// Not cached.
    NotCached,
}

/// Reads the cache. Cheap to clone; every method is one round trip.
#[derive(Debug, Clone)]
pub struct CacheReader {
    redis: ConnectionManager,
    keys: CacheKeys,
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    raw: Option<Vec<u8>>,
) -> Result<Option<T>, CacheError> {
    raw.map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|source| CacheError::Decode { what, source })
}

fn decode_all<T: DeserializeOwned>(
    what: &'static str,
    raw: &[Vec<u8>],
) -> Result<Vec<T>, CacheError> {
    raw.iter()
        .map(|bytes| serde_json::from_slice(bytes))
        .collect::<Result<_, _>>()
        .map_err(|source| CacheError::Decode { what, source })
}

fn ids<M>(raw: Vec<u64>) -> Vec<Id<M>> {
    let mut ids: Vec<Id<M>> = raw.into_iter().filter_map(Id::new_checked).collect();
    ids.sort_unstable();
    ids
}

impl CacheReader {
    /// A reader of the cache kept under the cluster prefix `prefix` (`REDIS_PREFIX`, the same
    /// as the gateways').
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            keys: CacheKeys::new(prefix),
        }
    }

    /// The key layout.
    pub fn keys(&self) -> &CacheKeys {
        &self.keys
    }

    pub(crate) fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    async fn hget<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: String,
        field: u64,
    ) -> Result<Option<T>, CacheError> {
        let raw: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("HGET", e))?;
        decode(what, raw)
    }

    async fn hvals<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: String,
    ) -> Result<Vec<T>, CacheError> {
        let raw: Vec<Vec<u8>> = redis::cmd("HVALS")
            .arg(key)
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("HVALS", e))?;
        decode_all(what, &raw)
    }

    async fn smembers(&self, key: String) -> Result<Vec<u64>, CacheError> {
        redis::cmd("SMEMBERS")
            .arg(key)
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("SMEMBERS", e))
    }

    /// A guild's own fields with its member count, if cached and available.
    pub async fn guild(&self, id: Id<GuildMarker>) -> Result<Option<CachedGuild>, CacheError> {
        match self.guild_status(id).await? {
            GuildStatus::Available(guild) => Ok(Some(*guild)),
            _ => Ok(None),
        }
    }

    /// Whether a guild is cached, unavailable, or unknown.
    pub async fn guild_status(&self, id: Id<GuildMarker>) -> Result<GuildStatus, CacheError> {
        let (raw, count, unavailable): (Option<Vec<u8>>, Option<u64>, bool) = redis::pipe()
            .cmd("HGET")
            .arg(self.keys.guilds())
            .arg(id.get())
            .cmd("HGET")
            .arg(self.keys.member_counts())
            .arg(id.get())
            .cmd("SISMEMBER")
            .arg(self.keys.unavailable())
            .arg(id.get())
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("read guild", e))?;
        Ok(match decode::<CachedGuild>("guild", raw)? {
            Some(mut guild) => {
                guild.member_count = count;
                GuildStatus::Available(Box::new(guild))
            }
            None if unavailable => GuildStatus::Unavailable,
            None => GuildStatus::NotCached,
        })
    }

    /// Ids of every cached guild (available ones).
    pub async fn guild_ids(&self) -> Result<Vec<Id<GuildMarker>>, CacheError> {
        let raw: Vec<u64> = redis::cmd("HKEYS")
            .arg(self.keys.guilds())
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("HKEYS", e))?;
        Ok(ids(raw))
    }

    /// A channel (guild channel or DM).
    pub async fn channel(
        &self,
        id: Id<ChannelMarker>,
    ) -> Result<Option<CachedChannel>, CacheError> {
        self.hget("channel", self.keys.channels(), id.get()).await
    }

    /// Every cached channel of a guild, by position then id.
    pub async fn guild_channels(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Vec<CachedChannel>, CacheError> {
        let channel_ids = self.smembers(self.keys.guild_channels(guild)).await?;
        if channel_ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(self.keys.channels())
            .arg(&channel_ids)
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("HMGET", e))?;
        let mut channels: Vec<CachedChannel> =
            decode_all("channel", &raw.into_iter().flatten().collect::<Vec<_>>())?;
        channels.sort_by_key(|c| (c.position, c.id));
        Ok(channels)
    }

    /// Every role of a guild, by position then id.
    pub async fn roles(&self, guild: Id<GuildMarker>) -> Result<Vec<CachedRole>, CacheError> {
        let mut roles: Vec<CachedRole> = self.hvals("role", self.keys.roles(guild)).await?;
        roles.sort_by_key(|r| (r.position, r.id));
        Ok(roles)
    }

    /// One role.
    pub async fn role(
        &self,
        guild: Id<GuildMarker>,
        role: Id<RoleMarker>,
    ) -> Result<Option<CachedRole>, CacheError> {
        self.hget("role", self.keys.roles(guild), role.get()).await
    }

    /// A member of a guild.
    pub async fn member(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<CachedMember>, CacheError> {
        self.hget("member", self.keys.members(guild), user.get())
            .await
    }

    /// Every cached member of a guild (one `HVALS`: mind large guilds).
    pub async fn members(&self, guild: Id<GuildMarker>) -> Result<Vec<CachedMember>, CacheError> {
        self.hvals("member", self.keys.members(guild)).await
    }

    /// Ids of the cached members of a guild.
    pub async fn member_ids(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Vec<Id<UserMarker>>, CacheError> {
        let raw: Vec<u64> = redis::cmd("HKEYS")
            .arg(self.keys.members(guild))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("HKEYS", e))?;
        Ok(ids(raw))
    }

    /// A user.
    pub async fn user(&self, id: Id<UserMarker>) -> Result<Option<CachedUser>, CacheError> {
        self.hget("user", self.keys.users(), id.get()).await
    }

    /// The cached guilds a user is a member of.
    pub async fn user_guilds(
        &self,
        user: Id<UserMarker>,
    ) -> Result<Vec<Id<GuildMarker>>, CacheError> {
        Ok(ids(self.smembers(self.keys.user_guilds(user)).await?))
    }

    /// The custom emojis of a guild.
    pub async fn emojis(&self, guild: Id<GuildMarker>) -> Result<Vec<CachedEmoji>, CacheError> {
        self.hvals("emoji", self.keys.emojis(guild)).await
    }

    /// One emoji.
    pub async fn emoji(
        &self,
        guild: Id<GuildMarker>,
        emoji: Id<EmojiMarker>,
    ) -> Result<Option<CachedEmoji>, CacheError> {
        self.hget("emoji", self.keys.emojis(guild), emoji.get())
            .await
    }

    /// A user's voice state in a guild (`None`: not connected).
    pub async fn voice_state(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<CachedVoiceState>, CacheError> {
        self.hget("voice state", self.keys.voice_states(guild), user.get())
            .await
    }

    /// Every voice state of a guild (connected users).
    pub async fn voice_states(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Vec<CachedVoiceState>, CacheError> {
        self.hvals("voice state", self.keys.voice_states(guild))
            .await
    }

    /// The users connected to a voice channel.
    pub async fn voice_channel_occupants(
        &self,
        channel: Id<ChannelMarker>,
    ) -> Result<Vec<Id<UserMarker>>, CacheError> {
        Ok(ids(self.smembers(self.keys.voice_channel(channel)).await?))
    }

    /// A user's presence in a guild (only with presences switched on).
    pub async fn presence(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<CachedPresence>, CacheError> {
        self.hget("presence", self.keys.presences(guild), user.get())
            .await
    }

    /// A message (only with messages switched on, within their time-to-live).
    pub async fn message(
        &self,
        id: Id<MessageMarker>,
    ) -> Result<Option<CachedMessage>, CacheError> {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.message(id))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("GET", e))?;
        decode("message", raw)
    }

    /// Reads what a permission computation needs in one round trip; `Err(Unknown)` when
    /// something is missing. `member` short-circuits the member read (REST fallback).
    pub(crate) async fn permission_inputs(
        &self,
        guild: Id<GuildMarker>,
        channel: Option<Id<ChannelMarker>>,
        user: Id<UserMarker>,
    ) -> Result<Result<Inputs, (Unknown, Option<Inputs>)>, CacheError> {
        type Raw = (
            Option<Vec<u8>>,
            bool,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Vec<Vec<u8>>,
        );
        let (raw_guild, unavailable, raw_channel, raw_member, raw_roles): Raw = redis::pipe()
            .cmd("HGET")
            .arg(self.keys.guilds())
            .arg(guild.get())
            .cmd("SISMEMBER")
            .arg(self.keys.unavailable())
            .arg(guild.get())
            .cmd("HGET")
            .arg(self.keys.channels())
            .arg(channel.map_or(0, Id::get))
            .cmd("HGET")
            .arg(self.keys.members(guild))
            .arg(user.get())
            .cmd("HVALS")
            .arg(self.keys.roles(guild))
            .query_async(&mut self.connection())
            .await
            .map_err(|e| CacheError::redis("read permissions", e))?;
        let Some(guild_entry) = decode::<CachedGuild>("guild", raw_guild)? else {
            let reason = if unavailable {
                Unknown::GuildUnavailable
            } else {
                Unknown::GuildNotCached
            };
            return Ok(Err((reason, None)));
        };
        let roles: Vec<CachedRole> = decode_all("role", &raw_roles)?;
        let everyone: Id<RoleMarker> = guild.cast();
        if !roles.iter().any(|r| r.id == everyone) {
            return Ok(Err((Unknown::RolesIncomplete, None)));
        }
        let channel_entry = match channel {
            None => None,
            Some(_) => match decode::<CachedChannel>("channel", raw_channel)? {
                None => return Ok(Err((Unknown::ChannelNotCached, None))),
                Some(c) if c.guild_id != Some(guild) => {
                    return Ok(Err((Unknown::ChannelNotInGuild, None)));
                }
                Some(c) => Some(c),
            },
        };
        let member = decode::<CachedMember>("member", raw_member)?;
        let placeholder = CachedMember {
            user_id: user,
            nick: None,
            roles: Vec::new(),
            joined_at: None,
            avatar: None,
            premium_since: None,
            communication_disabled_until: None,
            pending: false,
            flags: 0,
        };
        let missing = member.is_none();
        let inputs = Inputs {
            guild: guild_entry,
            roles,
            channel: channel_entry,
            member: member.unwrap_or(placeholder),
        };
        if missing {
            // Everything but the member is known: the REST fallback can complete it.
            return Ok(Err((Unknown::MemberNotCached, Some(inputs))));
        }
        Ok(Ok(inputs))
    }

    /// A member's permissions in a channel of their guild: [`PermissionLookup::Unknown`]
    /// whenever the cache lacks any piece (guild, `@everyone`, channel, member) — never a
    /// guess. `Err` means Redis could not be read: deny as well.
    pub async fn member_permissions_in_channel(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Result<PermissionLookup, CacheError> {
        Ok(
            match self.permission_inputs(guild, Some(channel), user).await? {
                Ok(inputs) => PermissionLookup::Known(inputs.compute()),
                Err((reason, _)) => PermissionLookup::Unknown(reason),
            },
        )
    }

    /// A member's guild-level permissions (roles only, no channel overwrites).
    pub async fn member_permissions(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<PermissionLookup, CacheError> {
        Ok(match self.permission_inputs(guild, None, user).await? {
            Ok(inputs) => PermissionLookup::Known(inputs.guild_permissions()),
            Err((reason, _)) => PermissionLookup::Unknown(reason),
        })
    }
}

/// Convenience for inhibitors: `true` only if `lookup` is known and contains `required`.
pub fn granted(lookup: &Result<PermissionLookup, CacheError>, required: Permissions) -> bool {
    matches!(lookup, Ok(l) if l.allows(required))
}
