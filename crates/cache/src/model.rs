//! The cached entities: compact, typed, and the same structs both ways.
//!
//! Each struct serialises with short field names and leaves out empty or default fields (the
//! Redis encoding), and deserialises from that encoding *or* from Discord's own JSON shape
//! (every short name has Discord's name as an alias), so the gateway turns a dispatch into the
//! stored value with one parse. Snowflakes are twilight [`Id`]s (strings in JSON), permissions
//! are twilight [`Permissions`].

use serde::{Deserialize, Serialize};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ChannelMarker, EmojiMarker, GenericMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker,
};

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A guild's own fields (its roles, channels, members… are cached apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedGuild {
    /// Guild id.
    pub id: Id<GuildMarker>,
    /// Name.
    #[serde(rename = "n", alias = "name")]
    pub name: String,
    /// Owner.
    #[serde(rename = "o", alias = "owner_id")]
    pub owner_id: Id<UserMarker>,
    /// Icon hash.
    #[serde(
        rename = "i",
        alias = "icon",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub icon: Option<String>,
    /// Description (community guilds).
    #[serde(
        rename = "d",
        alias = "description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Enabled guild features.
    #[serde(
        rename = "f",
        alias = "features",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub features: Vec<String>,
    /// Preferred locale.
    #[serde(
        rename = "l",
        alias = "preferred_locale",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub preferred_locale: Option<String>,
    /// Boost tier.
    #[serde(
        rename = "pt",
        alias = "premium_tier",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub premium_tier: u64,
    /// Number of boosts.
    #[serde(
        rename = "ps",
        alias = "premium_subscription_count",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub premium_subscription_count: u64,
    /// Verification level.
    #[serde(
        rename = "vl",
        alias = "verification_level",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub verification_level: u64,
    /// System channel.
    #[serde(
        rename = "sc",
        alias = "system_channel_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_channel_id: Option<Id<ChannelMarker>>,
    /// AFK voice channel.
    #[serde(
        rename = "ac",
        alias = "afk_channel_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub afk_channel_id: Option<Id<ChannelMarker>>,
    /// When the bot joined (ISO 8601, as Discord sent it).
    #[serde(
        rename = "j",
        alias = "joined_at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub joined_at: Option<String>,
    /// Whether Discord considers the guild large (members then arrive in chunks).
    #[serde(
        rename = "lg",
        alias = "large",
        default,
        skip_serializing_if = "is_false"
    )]
    pub large: bool,
    /// Member count: kept apart (`member_counts`) and filled in by the reader.
    #[serde(rename = "member_count", default, skip_serializing)]
    pub member_count: Option<u64>,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRole {
    /// Role id (`@everyone` has the guild's id).
    pub id: Id<RoleMarker>,
    /// Name.
    #[serde(rename = "n", alias = "name")]
    pub name: String,
    /// Permission bits.
    #[serde(rename = "p", alias = "permissions")]
    pub permissions: Permissions,
    /// Position in the role list.
    #[serde(rename = "o", alias = "position", default)]
    pub position: i64,
    /// RGB colour.
    #[serde(
        rename = "c",
        alias = "color",
        default,
        skip_serializing_if = "is_zero_u32"
    )]
    pub color: u32,
    /// Shown apart in the member list.
    #[serde(
        rename = "h",
        alias = "hoist",
        default,
        skip_serializing_if = "is_false"
    )]
    pub hoist: bool,
    /// Managed by an integration.
    #[serde(
        rename = "m",
        alias = "managed",
        default,
        skip_serializing_if = "is_false"
    )]
    pub managed: bool,
    /// Mentionable by everyone.
    #[serde(
        rename = "me",
        alias = "mentionable",
        default,
        skip_serializing_if = "is_false"
    )]
    pub mentionable: bool,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

/// A permission overwrite of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedOverwrite {
    /// Role or user id.
    pub id: Id<GenericMarker>,
    /// 0 = role, 1 = member.
    #[serde(rename = "t", alias = "type")]
    pub kind: u8,
    /// Allowed bits.
    #[serde(rename = "a", alias = "allow")]
    pub allow: Permissions,
    /// Denied bits.
    #[serde(rename = "d", alias = "deny")]
    pub deny: Permissions,
}

/// A channel (guild channel or DM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedChannel {
    /// Channel id.
    pub id: Id<ChannelMarker>,
    /// Discord's channel type (0 text, 2 voice, 4 category, 1 DM, …).
    #[serde(rename = "t", alias = "type")]
    pub kind: u8,
    /// Guild (`None` for DMs).
    #[serde(
        rename = "g",
        alias = "guild_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub guild_id: Option<Id<GuildMarker>>,
    /// Name.
    #[serde(
        rename = "n",
        alias = "name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Sorting position.
    #[serde(
        rename = "o",
        alias = "position",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub position: Option<i64>,
    /// Parent category.
    #[serde(
        rename = "p",
        alias = "parent_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_id: Option<Id<ChannelMarker>>,
    /// Permission overwrites.
    #[serde(
        rename = "w",
        alias = "permission_overwrites",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub overwrites: Vec<CachedOverwrite>,
    /// Topic.
    #[serde(
        rename = "tp",
        alias = "topic",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub topic: Option<String>,
    /// Age-restricted.
    #[serde(
        rename = "ns",
        alias = "nsfw",
        default,
        skip_serializing_if = "is_false"
    )]
    pub nsfw: bool,
    /// Slow mode, seconds.
    #[serde(
        rename = "rl",
        alias = "rate_limit_per_user",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit_per_user: Option<u64>,
    /// Voice bitrate.
    #[serde(
        rename = "b",
        alias = "bitrate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bitrate: Option<u64>,
    /// Voice user limit.
    #[serde(
        rename = "ul",
        alias = "user_limit",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_limit: Option<u64>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedUser {
    /// User id.
    pub id: Id<UserMarker>,
    /// Unique username.
    #[serde(rename = "n", alias = "username")]
    pub name: String,
    /// Display name.
    #[serde(
        rename = "g",
        alias = "global_name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub global_name: Option<String>,
    /// Avatar hash.
    #[serde(
        rename = "a",
        alias = "avatar",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar: Option<String>,
    /// Legacy discriminator (`"0"` for migrated users: not stored).
    #[serde(
        rename = "d",
        alias = "discriminator",
        default,
        skip_serializing_if = "discriminator_is_default"
    )]
    pub discriminator: Option<String>,
    /// A bot account.
    #[serde(rename = "b", alias = "bot", default, skip_serializing_if = "is_false")]
    pub bot: bool,
}

#[allow(
    clippy::ref_option,
    reason = "serde's skip_serializing_if passes &Option"
)]
fn discriminator_is_default(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|d| d == "0")
}

/// A guild member (the user itself is cached apart, in `users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMember {
    /// The member's user id.
    #[serde(rename = "u")]
    pub user_id: Id<UserMarker>,
    /// Guild nickname.
    #[serde(
        rename = "n",
        alias = "nick",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nick: Option<String>,
    /// Role ids (without `@everyone`).
    #[serde(
        rename = "r",
        alias = "roles",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<Id<RoleMarker>>,
    /// Join time (ISO 8601).
    #[serde(
        rename = "j",
        alias = "joined_at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub joined_at: Option<String>,
    /// Guild avatar hash.
    #[serde(
        rename = "a",
        alias = "avatar",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar: Option<String>,
    /// Boosting since (ISO 8601).
    #[serde(
        rename = "ps",
        alias = "premium_since",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub premium_since: Option<String>,
    /// Timed out until (ISO 8601).
    #[serde(
        rename = "cd",
        alias = "communication_disabled_until",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub communication_disabled_until: Option<String>,
    /// Has not passed membership screening yet.
    #[serde(
        rename = "pe",
        alias = "pending",
        default,
        skip_serializing_if = "is_false"
    )]
    pub pending: bool,
    /// Member flags.
    #[serde(
        rename = "f",
        alias = "flags",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub flags: u64,
}

/// A custom emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedEmoji {
    /// Emoji id.
    pub id: Id<EmojiMarker>,
    /// Name.
    #[serde(
        rename = "n",
        alias = "name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Animated.
    #[serde(
        rename = "an",
        alias = "animated",
        default,
        skip_serializing_if = "is_false"
    )]
    pub animated: bool,
    /// Roles allowed to use it (empty: everyone).
    #[serde(
        rename = "r",
        alias = "roles",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<Id<RoleMarker>>,
    /// Managed by an integration.
    #[serde(
        rename = "m",
        alias = "managed",
        default,
        skip_serializing_if = "is_false"
    )]
    pub managed: bool,
    /// Usable (false when boosts were lost).
    #[serde(rename = "av", alias = "available", default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

/// A user connected to a voice channel.
#[allow(
    clippy::struct_excessive_bools,
    reason = "Discord's voice state is these flags"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedVoiceState {
    /// The user.
    #[serde(rename = "u", alias = "user_id")]
    pub user_id: Id<UserMarker>,
    /// The voice channel (`None` only in a disconnect event; never stored).
    #[serde(rename = "c", alias = "channel_id", default)]
    pub channel_id: Option<Id<ChannelMarker>>,
    /// Voice session id.
    #[serde(
        rename = "s",
        alias = "session_id",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub session_id: String,
    /// Server-deafened.
    #[serde(
        rename = "d",
        alias = "deaf",
        default,
        skip_serializing_if = "is_false"
    )]
    pub deaf: bool,
    /// Server-muted.
    #[serde(
        rename = "m",
        alias = "mute",
        default,
        skip_serializing_if = "is_false"
    )]
    pub mute: bool,
    /// Self-deafened.
    #[serde(
        rename = "sd",
        alias = "self_deaf",
        default,
        skip_serializing_if = "is_false"
    )]
    pub self_deaf: bool,
    /// Self-muted.
    #[serde(
        rename = "sm",
        alias = "self_mute",
        default,
        skip_serializing_if = "is_false"
    )]
    pub self_mute: bool,
    /// Streaming.
    #[serde(
        rename = "ss",
        alias = "self_stream",
        default,
        skip_serializing_if = "is_false"
    )]
    pub self_stream: bool,
    /// Camera on.
    #[serde(
        rename = "sv",
        alias = "self_video",
        default,
        skip_serializing_if = "is_false"
    )]
    pub self_video: bool,
    /// Suppressed (stage channels).
    #[serde(
        rename = "su",
        alias = "suppress",
        default,
        skip_serializing_if = "is_false"
    )]
    pub suppress: bool,
}

/// A user's presence in a guild (cached only when presences are switched on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPresence {
    /// The user.
    #[serde(rename = "u")]
    pub user_id: Id<UserMarker>,
    /// `online`, `idle`, `dnd` or `offline`.
    #[serde(rename = "s")]
    pub status: String,
    /// Names of the current activities.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<String>,
}

/// A message (cached only when messages are switched on, for `CACHE_MESSAGE_TTL_MS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMessage {
    /// Message id.
    pub id: Id<MessageMarker>,
    /// Channel.
    #[serde(rename = "c")]
    pub channel_id: Id<ChannelMarker>,
    /// Guild, if any.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<Id<GuildMarker>>,
    /// Author.
    #[serde(rename = "a")]
    pub author_id: Id<UserMarker>,
    /// Text content.
    #[serde(rename = "t", default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    /// Creation time (ISO 8601).
    #[serde(rename = "ts", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Last edit (ISO 8601).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub edited_timestamp: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_json_parses_and_reencodes_compactly() {
        let discord = serde_json::json!({
            "id": "200", "name": "Moderator", "color": 3_447_003, "hoist": false,
            "icon": null, "position": 1, "permissions": "38", "managed": false,
            "mentionable": false, "flags": 0,
            "colors": {"primary_color": 1, "secondary_color": null, "tertiary_color": null}
        });
        let role: CachedRole = serde_json::from_value(discord).expect("discord shape");
        let stored = serde_json::to_string(&role).expect("encode");
        assert_eq!(
            stored,
            r#"{"id":"200","n":"Moderator","p":"38","o":1,"c":3447003}"#
        );
        let back: CachedRole = serde_json::from_str(&stored).expect("stored shape");
        assert_eq!(back, role);
    }

    #[test]
    fn member_and_user_are_small() {
        let user: CachedUser = serde_json::from_value(serde_json::json!({
            "id": "81384788765712384", "username": "someone", "discriminator": "0",
            "global_name": "Some One", "avatar": null, "public_flags": 0, "flags": 0
        }))
        .expect("user");
        assert_eq!(
            serde_json::to_string(&user).expect("encode"),
            r#"{"id":"81384788765712384","n":"someone","g":"Some One"}"#
        );
        let member = CachedMember {
            user_id: user.id,
            nick: None,
            roles: vec![Id::new(5)],
            joined_at: Some("2024-01-01T00:00:00.000+00:00".to_owned()),
            avatar: None,
            premium_since: None,
            communication_disabled_until: None,
            pending: false,
            flags: 0,
        };
        let stored = serde_json::to_string(&member).expect("encode");
        assert_eq!(
            stored,
            r#"{"u":"81384788765712384","r":["5"],"j":"2024-01-01T00:00:00.000+00:00"}"#
        );
        assert_eq!(
            serde_json::from_str::<CachedMember>(&stored).expect("decode"),
            member
        );
    }
}
