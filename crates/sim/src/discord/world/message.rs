//! Messages and their reactions.

use serde_json::{Value, json};

use super::{User, World};
use crate::util::iso_from_unix_ms;

/// A message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Snowflake.
    pub id: u64,
    /// Channel.
    pub channel_id: u64,
    /// Guild, if the channel is in one.
    pub guild_id: Option<u64>,
    /// Author's user id.
    pub author_id: u64,
    /// Text content.
    pub content: String,
    /// Embeds, as sent.
    pub embeds: Vec<Value>,
    /// Components, as sent.
    pub components: Vec<Value>,
    /// Attachment objects of the uploaded files.
    pub attachments: Vec<Value>,
    /// Creation time, Unix ms.
    pub timestamp_ms: u64,
    /// Last edit, Unix ms.
    pub edited_ms: Option<u64>,
    /// Mentioned user ids.
    pub mentions: Vec<u64>,
    /// Message flags.
    pub flags: u64,
    /// Webhook id for interaction responses and follow-ups.
    pub webhook_id: Option<u64>,
    /// Interaction that this message answers, if any.
    pub interaction_id: Option<u64>,
    /// Message reference (reply).
    pub reference: Option<Value>,
}

impl Message {
    /// The documented message object. `strip_content` blanks content, embeds, attachments and
    /// components, as Discord does for bots without the `MESSAGE_CONTENT` intent.
    pub fn to_json(&self, world: &World, strip_content: bool) -> Value {
        let author = world
            .users
            .get(&self.author_id)
            .map_or(Value::Null, User::to_json);
        let mut v = json!({
            "id": self.id.to_string(),
            "channel_id": self.channel_id.to_string(),
            "author": author,
            "content": if strip_content { "" } else { self.content.as_str() },
            "timestamp": iso_from_unix_ms(self.timestamp_ms),
            "edited_timestamp": self.edited_ms.map(iso_from_unix_ms),
            "tts": false,
            "mention_everyone": false,
            "mentions": self.mentions.iter().filter_map(|id| world.users.get(id).map(User::to_json)).collect::<Vec<_>>(),
            "mention_roles": [],
            "attachments": if strip_content { Vec::new() } else { self.attachments.clone() },
            "embeds": if strip_content { Vec::new() } else { self.embeds.clone() },
            "components": if strip_content { Vec::new() } else { self.components.clone() },
            "pinned": false,
            "type": if self.reference.is_some() { 19 } else { 0 },
            "flags": self.flags,
        });
        if let Some(reactions) = world.reactions.get(&self.id).filter(|r| !r.is_empty()) {
            v["reactions"] = reactions.iter().map(|r| r.to_json(world.bot.id)).collect();
        }
        if let Some(webhook_id) = self.webhook_id {
            v["webhook_id"] = json!(webhook_id.to_string());
            v["application_id"] = json!(world.bot.id.to_string());
        }
        if let Some(reference) = &self.reference {
            v["message_reference"] = reference.clone();
        }
        if let Some(thread) = world.channels.get(&self.id).filter(|c| c.thread.is_some()) {
            // A thread started from this message shares its id (flag `HAS_THREAD`).
            v["thread"] = thread.to_json(&world.users);
            v["flags"] = json!(self.flags | (1 << 5));
        }
        if let Some(guild_id) = self.guild_id {
            v["guild_id"] = json!(guild_id.to_string());
        }
        v
    }

    /// The `MESSAGE_CREATE` dispatch payload: the message plus `guild_id` and a partial `member`.
    pub fn to_gateway_json(&self, world: &World, strip_content: bool) -> Value {
        let mut v = self.to_json(world, strip_content);
        if let Some(member) = self
            .guild_id
            .and_then(|guild_id| world.guilds.get(&guild_id))
            .and_then(|g| g.members.get(&self.author_id))
        {
            v["member"] = member.to_json_without_user();
        }
        v
    }
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone)]
pub struct Reaction {
    /// The emoji as in the route: a Unicode emoji, or `name:id` for a custom one.
    pub emoji: String,
    /// Users who reacted, in order.
    pub users: Vec<u64>,
}

impl Reaction {
    /// The documented partial emoji object.
    pub fn emoji_json(&self) -> Value {
        match self.emoji.split_once(':') {
            Some((name, id)) => json!({"id": id, "name": name}),
            None => json!({"id": null, "name": self.emoji}),
        }
    }

    /// The documented reaction object, `me` relative to `viewer`.
    pub fn to_json(&self, viewer: u64) -> Value {
        json!({
            "count": self.users.len(),
            "count_details": {"burst": 0, "normal": self.users.len()},
            "me": self.users.contains(&viewer),
            "me_burst": false,
            "burst_colors": [],
            "emoji": self.emoji_json(),
        })
    }
}
