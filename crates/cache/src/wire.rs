//! Discord's dispatch payloads, as far as the cache reads them. Unknown fields are ignored;
//! the entity structs of [`crate::model`] parse Discord's shapes directly where they can.

use serde::Deserialize;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker,
};

use crate::model::{
    CachedChannel, CachedEmoji, CachedGuild, CachedMember, CachedMessage, CachedPresence,
    CachedRole, CachedUser, CachedVoiceState,
};

/// `READY`.
#[derive(Debug, Deserialize)]
pub(crate) struct Ready {
    #[serde(default)]
    pub(crate) session_id: Option<String>,
    pub(crate) user: CachedUser,
    #[serde(default)]
    pub(crate) guilds: Vec<GuildId>,
}

/// Anything with an `id` that is a guild (`READY.guilds`, `GUILD_DELETE`).
#[derive(Debug, Deserialize)]
pub(crate) struct GuildId {
    pub(crate) id: Id<GuildMarker>,
    #[serde(default)]
    pub(crate) unavailable: Option<bool>,
}

/// Anything with a `guild_id` (to fail closed on a malformed payload).
#[derive(Debug, Deserialize)]
pub(crate) struct HasGuildId {
    pub(crate) guild_id: Id<GuildMarker>,
}

/// `GUILD_CREATE` (available or not).
#[derive(Debug, Deserialize)]
pub(crate) struct GuildCreate {
    pub(crate) id: Id<GuildMarker>,
    #[serde(default)]
    pub(crate) unavailable: Option<bool>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) owner_id: Option<Id<UserMarker>>,
    #[serde(default)]
    pub(crate) icon: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) features: Vec<String>,
    #[serde(default)]
    pub(crate) preferred_locale: Option<String>,
    #[serde(default)]
    pub(crate) premium_tier: u64,
    #[serde(default)]
    pub(crate) premium_subscription_count: Option<u64>,
    #[serde(default)]
    pub(crate) verification_level: u64,
    #[serde(default)]
    pub(crate) system_channel_id: Option<Id<ChannelMarker>>,
    #[serde(default)]
    pub(crate) afk_channel_id: Option<Id<ChannelMarker>>,
    #[serde(default)]
    pub(crate) joined_at: Option<String>,
    #[serde(default)]
    pub(crate) large: bool,
    #[serde(default)]
    pub(crate) member_count: Option<u64>,
    #[serde(default)]
    pub(crate) roles: Vec<CachedRole>,
    #[serde(default)]
    pub(crate) channels: Vec<CachedChannel>,
    #[serde(default)]
    pub(crate) members: Vec<Member>,
    #[serde(default)]
    pub(crate) emojis: Vec<CachedEmoji>,
    #[serde(default)]
    pub(crate) voice_states: Vec<CachedVoiceState>,
    #[serde(default)]
    pub(crate) presences: Vec<Presence>,
}

impl GuildCreate {
    /// The guild's own fields; `None` for an unavailable guild.
    pub(crate) fn guild(&self) -> Option<CachedGuild> {
        if self.unavailable == Some(true) {
            return None;
        }
        Some(CachedGuild {
            id: self.id,
            name: self.name.clone()?,
            owner_id: self.owner_id?,
            icon: self.icon.clone(),
            description: self.description.clone(),
            features: self.features.clone(),
            preferred_locale: self.preferred_locale.clone(),
            premium_tier: self.premium_tier,
            premium_subscription_count: self.premium_subscription_count.unwrap_or(0),
            verification_level: self.verification_level,
            system_channel_id: self.system_channel_id,
            afk_channel_id: self.afk_channel_id,
            joined_at: self.joined_at.clone(),
            large: self.large,
            member_count: None,
        })
    }
}

/// A guild member as Discord sends it (with its `user`).
#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    pub(crate) user: CachedUser,
    #[serde(default)]
    pub(crate) guild_id: Option<Id<GuildMarker>>,
    #[serde(default)]
    pub(crate) nick: Option<String>,
    #[serde(default)]
    pub(crate) roles: Vec<Id<RoleMarker>>,
    #[serde(default)]
    pub(crate) joined_at: Option<String>,
    #[serde(default)]
    pub(crate) avatar: Option<String>,
    #[serde(default)]
    pub(crate) premium_since: Option<String>,
    #[serde(default)]
    pub(crate) communication_disabled_until: Option<String>,
    #[serde(default)]
    pub(crate) pending: Option<bool>,
    #[serde(default)]
    pub(crate) flags: Option<u64>,
}

impl Member {
    pub(crate) fn cached(&self) -> CachedMember {
        CachedMember {
            user_id: self.user.id,
            nick: self.nick.clone(),
            roles: self.roles.clone(),
            joined_at: self.joined_at.clone(),
            avatar: self.avatar.clone(),
            premium_since: self.premium_since.clone(),
            communication_disabled_until: self.communication_disabled_until.clone(),
            pending: self.pending.unwrap_or(false),
            flags: self.flags.unwrap_or(0),
        }
    }
}

/// `GUILD_MEMBER_REMOVE`.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberRemove {
    pub(crate) guild_id: Id<GuildMarker>,
    pub(crate) user: UserId,
}

/// A partial user: only its id is read.
#[derive(Debug, Deserialize)]
pub(crate) struct UserId {
    pub(crate) id: Id<UserMarker>,
}

/// `GUILD_MEMBERS_CHUNK`.
#[derive(Debug, Deserialize)]
pub(crate) struct MembersChunk {
    pub(crate) guild_id: Id<GuildMarker>,
    #[serde(default)]
    pub(crate) members: Vec<Member>,
    #[serde(default)]
    pub(crate) presences: Vec<Presence>,
}

/// `GUILD_ROLE_CREATE` / `GUILD_ROLE_UPDATE`.
#[derive(Debug, Deserialize)]
pub(crate) struct RoleEvent {
    pub(crate) guild_id: Id<GuildMarker>,
    pub(crate) role: CachedRole,
}

/// `GUILD_ROLE_DELETE`.
#[derive(Debug, Deserialize)]
pub(crate) struct RoleDelete {
    pub(crate) guild_id: Id<GuildMarker>,
    pub(crate) role_id: Id<RoleMarker>,
}

/// `GUILD_EMOJIS_UPDATE`.
#[derive(Debug, Deserialize)]
pub(crate) struct EmojisUpdate {
    pub(crate) guild_id: Id<GuildMarker>,
    #[serde(default)]
    pub(crate) emojis: Vec<CachedEmoji>,
}

/// `VOICE_STATE_UPDATE`.
#[derive(Debug, Deserialize)]
pub(crate) struct VoiceStateUpdate {
    #[serde(default)]
    pub(crate) guild_id: Option<Id<GuildMarker>>,
    #[serde(flatten)]
    pub(crate) state: CachedVoiceState,
}

/// A presence (`PRESENCE_UPDATE`, `GUILD_CREATE.presences`, chunks).
#[derive(Debug, Deserialize)]
pub(crate) struct Presence {
    pub(crate) user: UserId,
    #[serde(default)]
    pub(crate) guild_id: Option<Id<GuildMarker>>,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) activities: Vec<Activity>,
}

impl Presence {
    pub(crate) fn cached(&self) -> CachedPresence {
        CachedPresence {
            user_id: self.user.id,
            status: self.status.clone(),
            activities: self.activities.iter().map(|a| a.name.clone()).collect(),
        }
    }
}

/// An activity: only its name is kept.
#[derive(Debug, Deserialize)]
pub(crate) struct Activity {
    #[serde(default)]
    pub(crate) name: String,
}

/// `MESSAGE_CREATE` / `MESSAGE_UPDATE`.
#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub(crate) id: Id<MessageMarker>,
    pub(crate) channel_id: Id<ChannelMarker>,
    #[serde(default)]
    pub(crate) guild_id: Option<Id<GuildMarker>>,
    #[serde(default)]
    pub(crate) author: Option<UserId>,
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) timestamp: Option<String>,
    #[serde(default)]
    pub(crate) edited_timestamp: Option<String>,
}

impl Message {
    /// The cached form; `None` for a partial update without an author.
    pub(crate) fn cached(&self) -> Option<CachedMessage> {
        Some(CachedMessage {
            id: self.id,
            channel_id: self.channel_id,
            guild_id: self.guild_id,
            author_id: self.author.as_ref()?.id,
            content: self.content.clone().unwrap_or_default(),
            timestamp: self.timestamp.clone(),
            edited_timestamp: self.edited_timestamp.clone(),
        })
    }
}

/// `MESSAGE_DELETE`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageDelete {
    pub(crate) id: Id<MessageMarker>,
}

/// `MESSAGE_DELETE_BULK`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageDeleteBulk {
    pub(crate) ids: Vec<Id<MessageMarker>>,
}

/// `CHANNEL_DELETE` needs only these.
#[derive(Debug, Deserialize)]
pub(crate) struct ChannelRef {
    pub(crate) id: Id<ChannelMarker>,
    #[serde(default)]
    pub(crate) guild_id: Option<Id<GuildMarker>>,
}
