//! Channels (guild channels, DMs, threads) and their permission overwrites.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::User;
use crate::util::iso_from_unix_ms;

/// Channel types the simulator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `GUILD_TEXT` (0).
    Text,
    /// `DM` (1).
    Dm,
    /// `GUILD_VOICE` (2).
    Voice,
    /// `GUILD_CATEGORY` (4).
    Category,
    /// `ANNOUNCEMENT_THREAD` (10).
    AnnouncementThread,
    /// `PUBLIC_THREAD` (11).
    PublicThread,
    /// `PRIVATE_THREAD` (12).
    PrivateThread,
}

impl ChannelKind {
    /// Discord's numeric channel type.
    pub fn code(self) -> u8 {
        match self {
            Self::Text => 0,
            Self::Dm => 1,
            Self::Voice => 2,
            Self::Category => 4,
            Self::AnnouncementThread => 10,
            Self::PublicThread => 11,
            Self::PrivateThread => 12,
        }
    }

    /// Parses Discord's numeric channel type.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Text),
            1 => Some(Self::Dm),
            2 => Some(Self::Voice),
            4 => Some(Self::Category),
            10 => Some(Self::AnnouncementThread),
            11 => Some(Self::PublicThread),
            12 => Some(Self::PrivateThread),
            _ => None,
        }
    }
}

/// A permission overwrite on a channel.
#[derive(Debug, Clone)]
pub struct Overwrite {
    /// Role or user id.
    pub id: u64,
    /// 0 = role, 1 = member.
    pub kind: u8,
    /// Allowed bits.
    pub allow: u64,
    /// Denied bits.
    pub deny: u64,
}

/// A channel (guild channel or DM).
#[derive(Debug, Clone)]
pub struct Channel {
    /// Snowflake.
    pub id: u64,
    /// Type.
    pub kind: ChannelKind,
    /// Owning guild (`None` for DMs).
    pub guild_id: Option<u64>,
    /// Name (`None` for DMs).
    pub name: Option<String>,
    /// Sorting position.
    pub position: i64,
    /// Parent category.
    pub parent_id: Option<u64>,
    /// Permission overwrites.
    pub overwrites: Vec<Overwrite>,
    /// Recipients (DMs only).
    pub recipients: Vec<u64>,
    /// Id of the last message sent.
    pub last_message_id: Option<u64>,
    /// Thread state (thread channels only).
    pub thread: Option<Thread>,
}

/// What a thread channel has beyond a channel: its creator, metadata and members.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// The user who started it.
    pub owner_id: u64,
    /// Minutes of inactivity before it archives (60, 1440, 4320 or 10080).
    pub auto_archive_duration: u64,
    /// Whether non-moderators can add other members (private threads).
    pub invitable: bool,
    /// When it was created (Unix ms).
    pub created_ms: u64,
    /// Messages currently in it.
    pub message_count: u64,
    /// Messages ever sent in it.
    pub total_message_sent: u64,
    /// Members: user id → when they joined (Unix ms).
    pub members: BTreeMap<u64, u64>,
}

impl Thread {
    /// The documented thread member object of `user_id`, if a member.
    pub fn member_json(&self, thread_id: u64, user_id: u64) -> Option<Value> {
        self.members.get(&user_id).map(|joined| {
            json!({
                "id": thread_id.to_string(),
                "user_id": user_id.to_string(),
                "join_timestamp": iso_from_unix_ms(*joined),
                "flags": 0,
            })
        })
    }

    fn add_fields(&self, v: &mut Value, kind: ChannelKind) {
        v["owner_id"] = json!(self.owner_id.to_string());
        v["message_count"] = json!(self.message_count);
        v["total_message_sent"] = json!(self.total_message_sent);
        v["member_count"] = json!(self.members.len().min(50));
        v["rate_limit_per_user"] = json!(0);
        let mut meta = json!({
            "archived": false,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": iso_from_unix_ms(self.created_ms),
            "locked": false,
            "create_timestamp": iso_from_unix_ms(self.created_ms),
        });
        if kind == ChannelKind::PrivateThread {
            meta["invitable"] = json!(self.invitable);
        }
        v["thread_metadata"] = meta;
    }
}

impl Channel {
    /// The documented channel object. `users` resolves DM recipients.
    pub fn to_json(&self, users: &HashMap<u64, User>) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "type": self.kind.code(),
            "last_message_id": self.last_message_id.map(|id| id.to_string()),
            "flags": 0,
        });
        if let Some(guild_id) = self.guild_id {
            v["guild_id"] = json!(guild_id.to_string());
            v["name"] = json!(self.name);
            v["parent_id"] = json!(self.parent_id.map(|id| id.to_string()));
            if let Some(thread) = &self.thread {
                thread.add_fields(&mut v, self.kind);
                return v;
            }
            v["position"] = json!(self.position);
            v["nsfw"] = json!(false);
            v["permission_overwrites"] = Value::Array(
                self.overwrites
                    .iter()
                    .map(|o| {
                        json!({
                            "id": o.id.to_string(),
                            "type": o.kind,
                            "allow": o.allow.to_string(),
                            "deny": o.deny.to_string(),
                        })
                    })
                    .collect(),
            );
            match self.kind {
                ChannelKind::Text => {
                    v["topic"] = Value::Null;
                    v["rate_limit_per_user"] = json!(0);
                }
                ChannelKind::Voice => {
                    v["bitrate"] = json!(64_000);
                    v["user_limit"] = json!(0);
                    v["rtc_region"] = Value::Null;
                    v["rate_limit_per_user"] = json!(0);
                }
                _ => {}
            }
        } else {
            v["recipients"] = Value::Array(
                self.recipients
                    .iter()
                    .filter_map(|id| users.get(id).map(User::to_json))
                    .collect(),
            );
        }
        v
    }
}
