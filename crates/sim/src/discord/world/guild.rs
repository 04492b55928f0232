//! Guilds and what belongs to them: roles, members, bans, voice states.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{PERM_ADMINISTRATOR, User, World};
use crate::util::iso_from_unix_ms;

/// A guild role.
#[derive(Debug, Clone)]
pub struct Role {
    /// Snowflake (the `@everyone` role has the guild's id).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Permission bit set.
    pub permissions: u64,
    /// Position in the role list.
    pub position: i64,
    /// RGB colour.
    pub color: u32,
}

impl Role {
    /// The documented role object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": self.position,
            "permissions": self.permissions.to_string(),
            "managed": false,
            "mentionable": false,
            "flags": 0,
        })
    }
}

/// A guild member.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member's user id.
    pub user_id: u64,
    /// Guild nickname.
    pub nick: Option<String>,
    /// Role ids (without `@everyone`).
    pub roles: Vec<u64>,
    /// Join time, Unix milliseconds.
    pub joined_at_ms: u64,
    /// Timeout end (`communication_disabled_until`, ISO 8601 as sent), if timed out.
    pub timeout_until: Option<String>,
    /// Server-muted in voice.
    pub mute: bool,
    /// Server-deafened in voice.
    pub deaf: bool,
}

impl Member {
    /// The documented guild member object, with its `user`.
    pub fn to_json(&self, user: &User) -> Value {
        let mut v = self.to_json_without_user();
        v["user"] = user.to_json();
        v
    }

    /// The member object without `user` (as embedded in `MESSAGE_CREATE`).
    pub fn to_json_without_user(&self) -> Value {
        json!({
            "nick": self.nick,
            "avatar": null,
            "banner": null,
            "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": iso_from_unix_ms(self.joined_at_ms),
            "premium_since": null,
            "deaf": self.deaf,
            "mute": self.mute,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": self.timeout_until,
        })
    }
}

/// A ban in a guild.
#[derive(Debug, Clone)]
pub struct Ban {
    /// Banned user.
    pub user_id: u64,
    /// Audit-log reason.
    pub reason: Option<String>,
}

/// A voice state of a user in a guild.
#[derive(Debug, Clone)]
pub struct VoiceState {
    /// The user.
    pub user_id: u64,
    /// The voice channel (`None` = disconnected).
    pub channel_id: Option<u64>,
    /// Voice session id.
    pub session_id: String,
    /// Self-muted.
    pub self_mute: bool,
    /// Self-deafened.
    pub self_deaf: bool,
}

impl VoiceState {
    /// The documented voice state object.
    pub fn to_json(&self, guild_id: u64, member: Option<(&Member, &User)>) -> Value {
        let mut v = json!({
            "guild_id": guild_id.to_string(),
            "channel_id": self.channel_id.map(|id| id.to_string()),
            "user_id": self.user_id.to_string(),
            "session_id": self.session_id,
            "deaf": false,
            "mute": false,
            "self_deaf": self.self_deaf,
            "self_mute": self.self_mute,
            "self_video": false,
            "suppress": false,
            "request_to_speak_timestamp": null,
        });
        if let Some((member, user)) = member {
            v["member"] = member.to_json(user);
        }
        v
    }
}

/// A guild and everything in it.
#[derive(Debug, Clone)]
pub struct Guild {
    /// Snowflake.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner's user id.
    pub owner_id: u64,
    /// Roles, including `@everyone` (id = guild id).
    pub roles: Vec<Role>,
    /// Channel ids, in creation order.
    pub channels: Vec<u64>,
    /// Members by user id.
    pub members: BTreeMap<u64, Member>,
    /// Bans by user id.
    pub bans: BTreeMap<u64, Ban>,
    /// Voice states by user id.
    pub voice_states: BTreeMap<u64, VoiceState>,
    /// An unavailable guild (outage): sent as `{id, unavailable: true}`.
    pub unavailable: bool,
    /// When the bot joined, Unix milliseconds.
    pub joined_at_ms: u64,
}

impl Guild {
    /// The `@everyone` role.
    pub fn everyone(&self) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == self.id)
    }

    /// The REST guild object (`GET /guilds/{id}`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "name": self.name,
            "icon": null,
            "icon_hash": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": self.owner_id.to_string(),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self.roles.iter().map(Role::to_json).collect::<Vec<_>>(),
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500_000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
        })
    }

    /// The gateway `GUILD_CREATE` payload: the guild object plus the gateway-only fields.
    /// `include_members` is false when the `GUILD_MEMBERS` intent is missing (only the bot itself
    /// is sent then, as Discord does).
    pub fn to_gateway_json(&self, world: &World, include_members: bool) -> Value {
        if self.unavailable {
            return json!({"id": self.id.to_string(), "unavailable": true});
        }
        let mut v = self.to_json();
        v["joined_at"] = json!(iso_from_unix_ms(self.joined_at_ms));
        v["large"] = json!(self.members.len() > 250);
        v["unavailable"] = json!(false);
        v["member_count"] = json!(self.members.len());
        v["channels"] = Value::Array(
            self.channels
                .iter()
                .filter_map(|id| world.channels.get(id))
                .map(|c| c.to_json(&world.users))
                .collect(),
        );
        v["members"] = Value::Array(
            self.members
                .values()
                .filter(|m| include_members || m.user_id == world.bot.id)
                .filter_map(|m| world.users.get(&m.user_id).map(|u| m.to_json(u)))
                .collect(),
        );
        v["voice_states"] = Value::Array(
            self.voice_states
                .values()
                .filter(|s| s.channel_id.is_some())
                .map(|s| {
                    let mut j = s.to_json(self.id, None);
                    if let Some(obj) = j.as_object_mut() {
                        obj.remove("guild_id");
                    }
                    j
                })
                .collect(),
        );
        v["threads"] = json!([]);
        v["presences"] = json!([]);
        v["stage_instances"] = json!([]);
        v["guild_scheduled_events"] = json!([]);
        v["soundboard_sounds"] = json!([]);
        v
    }

    /// The computed guild-level permissions of a member (roles OR'ed, owner and administrator
    /// get everything).
    pub fn base_permissions(&self, user_id: u64) -> u64 {
        if user_id == self.owner_id {
            return u64::MAX >> 12;
        }
        let Some(member) = self.members.get(&user_id) else {
            return 0;
        };
        let mut perms = self.everyone().map_or(0, |r| r.permissions);
        for role in &self.roles {
            if member.roles.contains(&role.id) {
                perms |= role.permissions;
            }
        }
        if perms & PERM_ADMINISTRATOR != 0 {
            return u64::MAX >> 12;
        }
        perms
    }
}
