//! Simulated users posting messages, and `say`: post, then wait for the bot's reply.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Control, ControlError, Lookup, console, snowflake};
use crate::discord::rest::reactions;
use crate::discord::world::{Message, Reaction};
use crate::util::unix_ms;

/// A message posted by a simulated user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageSpec {
    /// Channel.
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// Author.
    #[serde(with = "snowflake")]
    pub author_id: u64,
    /// Text.
    pub content: String,
}

/// A message to post as a simulated user, then wait for the bot's reply to it (the
/// `/_sim/say` route: the local sandbox and smoke tests talk to the bot through it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaySpec {
    /// Text.
    pub content: String,
    /// Channel; default: the first text channel of the guild with the lowest id.
    #[serde(default, with = "snowflake::opt")]
    pub channel_id: Option<u64>,
    /// Author; default: the owner of the channel's guild.
    #[serde(default, with = "snowflake::opt")]
    pub author_id: Option<u64>,
    /// How long to wait for the reply, milliseconds (default 15000; 0: post and answer at
    /// once, without a reply, with 202 over HTTP).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Replace typed `@name`, `@role` and `#channel` of the channel's guild with mentions
    /// first, as Discord's client does (default true; see [`Control::resolve_names`]).
    #[serde(default = "yes")]
    pub resolve_names: bool,
}

fn yes() -> bool {
    true
}

/// What [`Control::say`] saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SayAnswer {
    /// The posted message.
    #[serde(with = "snowflake")]
    pub message_id: u64,
    /// Its channel.
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// Its author.
    #[serde(with = "snowflake")]
    pub author_id: u64,
    /// The content of the bot's reply (a message created in the channel with a
    /// `message_reference` to the posted one), `None` if none came in time.
    pub reply: Option<String>,
    /// HTTP status the simulator answered the bot's reply with (0 without a reply).
    pub reply_status: u16,
    /// Milliseconds from posting to the reply.
    pub reply_ms: Option<u64>,
}

impl Control {
    /// A user posts a message (`MESSAGE_CREATE`). Mentions (`<@id>`) are resolved.
    pub fn post_message(&self, spec: &MessageSpec) -> Result<u64, ControlError> {
        let id = self.shared.ids.next();
        let mut world = self.shared.world();
        let channel = world.channels.found_mut("channel", spec.channel_id)?;
        channel.last_message_id = Some(id);
        let guild_id = channel.guild_id;
        if !world.users.contains_key(&spec.author_id) {
            return Err(ControlError::Unknown("user", spec.author_id));
        }
        let mentions = parse_mentions(&spec.content)
            .into_iter()
            .filter(|u| world.users.contains_key(u))
            .collect();
        let message = Message {
            id,
            channel_id: spec.channel_id,
            guild_id,
            author_id: spec.author_id,
            content: spec.content.clone(),
            embeds: Vec::new(),
            components: Vec::new(),
            attachments: Vec::new(),
            timestamp_ms: unix_ms(),
            edited_ms: None,
            mentions,
            flags: 0,
            webhook_id: None,
            interaction_id: None,
            reference: None,
        };
        let payload = message.to_gateway_json(&world, false);
        world.messages.insert(id, message);
        drop(world);
        self.shared.dispatch(guild_id, "MESSAGE_CREATE", payload);
        Ok(id)
    }

    /// A user reacts to a message with `emoji` (a Unicode emoji, or `name:id` for a custom
    /// one): `MESSAGE_REACTION_ADD` with the member, as Discord sends it. Reacting twice with
    /// the same emoji is a no-op, as in Discord.
    pub fn react(&self, user_id: u64, message_id: u64, emoji: &str) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        if !world.users.contains_key(&user_id) {
            return Err(ControlError::Unknown("user", user_id));
        }
        let channel_id = world.messages.found("message", message_id)?.channel_id;
        let list = world.reactions.entry(message_id).or_default();
        let index = list
            .iter()
            .position(|r| r.emoji == emoji)
            .unwrap_or_else(|| {
                list.push(Reaction {
                    emoji: emoji.to_owned(),
                    users: Vec::new(),
                });
                list.len() - 1
            });
        if list[index].users.contains(&user_id) {
            return Ok(());
        }
        list[index].users.push(user_id);
        let reaction = list[index].clone();
        let (guild_id, payload) =
            reactions::add_event(&world, channel_id, message_id, user_id, &reaction);
        drop(world);
        self.shared
            .dispatch(guild_id, "MESSAGE_REACTION_ADD", payload);
        Ok(())
    }

    /// Posts `spec.content` as a user (defaults: see [`SaySpec`]) and waits for the bot's reply
    /// to that message.
    pub async fn say(&self, spec: &SaySpec) -> Result<SayAnswer, ControlError> {
        let (channel_id, author_id) =
            console::default_place(&self.shared.world(), spec.channel_id, spec.author_id)?;
        let guild_id = self.shared.world().channel_guild(channel_id);
        let content = match guild_id {
            Some(guild_id) if spec.resolve_names => self.resolve_names(guild_id, &spec.content),
            _ => spec.content.clone(),
        };
        let since = self.shared.recorder.since(0, None).len() as u64;
        let started = Instant::now();
        let message_id = self.post_message(&MessageSpec {
            channel_id,
            author_id,
            content,
        })?;
        let path = format!("/channels/{channel_id}/messages");
        let posted = message_id.to_string();
        let timeout = Duration::from_millis(spec.timeout_ms.unwrap_or(15_000));
        let reply = if timeout.is_zero() {
            None
        } else {
            self.wait_for_record(since, timeout, |r| {
                r.kind == "rest"
                    && r.method == "POST"
                    && r.path == path
                    && r.body["message_reference"]["message_id"].as_str() == Some(posted.as_str())
            })
            .await
        };
        Ok(SayAnswer {
            message_id,
            channel_id,
            author_id,
            reply_status: reply.as_ref().map_or(0, |r| r.status),
            reply: reply
                .as_ref()
                .map(|r| r.body["content"].as_str().unwrap_or_default().to_owned()),
            reply_ms: reply
                .map(|_| u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        })
    }
}

/// User ids mentioned as `<@id>` or `<@!id>`.
fn parse_mentions(content: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let inner = rest.strip_prefix('!').unwrap_or(rest);
        if let Some(Ok(id)) = inner.find('>').map(|end| inner[..end].parse::<u64>())
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_parsed() {
        assert_eq!(
            parse_mentions("hi <@12> and <@!34> and <@12> <@x>"),
            vec![12, 34]
        );
        assert!(parse_mentions("no mentions <@").is_empty());
    }
}
