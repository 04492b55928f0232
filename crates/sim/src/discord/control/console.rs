//! Control API for a person at a console (the sandbox): what a Discord client does for its
//! user, over HTTP, in text.
//!
//! | method and path | body / query | answer |
//! |---|---|---|
//! | `GET /_sim/feed?since=N&wait_ms=M[&channel_id=][&format=text]` | | the bot's activity since `N` ([`FeedEntry`]s, or text, `bot> …` per entry), waiting up to `M` ms for some; the next cursor in `x-sim-next` (and `next` in JSON); without `since`, none and the current cursor |
//! | `POST /_sim/click[?format=text]` | [`ClickSpec`] | clicks a button or chooses in a select of the bot's latest message with components, then waits for the bot's answer |
//! | `POST /_sim/submit[?format=text]` | [`SubmitSpec`] | submits the latest form the bot opened for the user, then waits for the answer |
//! | `POST /_sim/slash[?format=text]` | [`CommandLine`] | runs a registered slash command typed as a line (`settings dj role=@DJ`), then waits for the answer |
//! | `POST /_sim/menu[?format=text]` | [`CommandLine`] | runs a registered context-menu command on a user or the newest message, then waits for the answer |
//! | `GET /_sim/commands` | | the registered application commands as the console types them, as text |
//! | `GET /_sim/directory[?guild_id=]` | | the guild's members, channels and roles with their ids, as text |
//!
//! `POST /_sim/say` resolves typed `@name`, `@role` and `#channel` with
//! [`Control::resolve_names`] (as Discord's client does) unless `"resolve_names": false`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Control, ControlError, CreatedInteraction, Lookup, snowflake};
use crate::discord::feed::{FeedEntry, FeedKind};
use crate::discord::rest::message;
use crate::discord::text::{self, Candidate, Mention};
use crate::discord::world::{ChannelKind, World};

mod http;
mod slash;

pub(super) use http::router;
pub use slash::CommandLine;

/// A click or a choice by a user on the bot's latest message with components (or on
/// `message_id`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClickSpec {
    /// Which component: its number as [`text::render_message`] shows it (`1` is the first
    /// usable one), its label (or a select's placeholder; a unique prefix will do) or its
    /// `custom_id`.
    pub component: String,
    /// For a select: the choices, each an option's number, label or value (string select),
    /// or an id or `@name`/`#name` (user, role, mentionable, channel select).
    #[serde(default)]
    pub values: Vec<String>,
    /// The message; default: the newest message of the bot the user sees with such a
    /// component.
    #[serde(default, with = "snowflake::opt")]
    pub message_id: Option<u64>,
    /// The user; default: the owner of the guild with the lowest id.
    #[serde(default, with = "snowflake::opt")]
    pub user_id: Option<u64>,
    /// How long to wait for the bot's answer, milliseconds (default 15000; 0: do not wait).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A user submits the latest form (modal) the bot opened for them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubmitSpec {
    /// Text input `custom_id` → value (inputs left out keep their prefilled value).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The modal's `custom_id`; default: the latest one open for the user.
    #[serde(default)]
    pub custom_id: Option<String>,
    /// The user; default: the owner of the guild with the lowest id.
    #[serde(default, with = "snowflake::opt")]
    pub user_id: Option<u64>,
    /// How long to wait for the bot's answer, milliseconds (default 15000; 0: do not wait).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// What a click or a submit did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleAnswer {
    /// The interaction sent to the bot.
    pub interaction: CreatedInteraction,
    /// The message the component was on (for a form opened from one: that message).
    #[serde(with = "snowflake::opt")]
    pub message_id: Option<u64>,
    /// The component's or the modal's `custom_id`.
    pub custom_id: String,
    /// The bot's answer as the feed shows it (`bot> …`), `None` if none came in time.
    pub answer: Option<String>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    ControlError::Invalid(message.into())
}

/// The default place a console speaks in: the first text channel of the guild with the lowest
/// id, and that guild's owner.
pub(super) fn default_place(
    world: &World,
    channel_id: Option<u64>,
    author_id: Option<u64>,
) -> Result<(u64, u64), ControlError> {
    let channel_id = match channel_id {
        Some(id) => id,
        None => world
            .guilds
            .values()
            .find_map(|g| {
                g.channels.iter().copied().find(|c| {
                    world
                        .channels
                        .get(c)
                        .is_some_and(|c| c.kind == ChannelKind::Text)
                })
            })
            .ok_or_else(|| invalid("no guild with a text channel"))?,
    };
    let author_id = match author_id {
        Some(id) => id,
        None => world
            .channel_guild(channel_id)
            .and_then(|g| world.guilds.get(&g))
            .map(|g| g.owner_id)
            .ok_or(ControlError::Unknown("guild channel", channel_id))?,
    };
    Ok((channel_id, author_id))
}

/// Names a user may type after `@`/`#` in `guild_id`: members (nickname, display name and
/// username), roles other than `@everyone`, channels.
fn candidates(world: &World, guild_id: u64) -> Vec<Candidate> {
    let Some(guild) = world.guilds.get(&guild_id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add = |sigil, name: &str, mention: String| {
        out.push(Candidate {
            sigil,
            name: name.to_owned(),
            mention,
        });
    };
    for member in guild.members.values() {
        let mention = format!("<@{}>", member.user_id);
        if let Some(nick) = &member.nick {
            add('@', nick, mention.clone());
        }
        if let Some(user) = world.users.get(&member.user_id) {
            if let Some(global) = &user.global_name {
                add('@', global, mention.clone());
            }
            add('@', &user.username, mention);
        }
    }
    for role in guild.roles.iter().filter(|r| r.id != guild_id) {
        add('@', &role.name, format!("<@&{}>", role.id));
    }
    for channel in guild.channels.iter().filter_map(|c| world.channels.get(c)) {
        if let Some(name) = &channel.name {
            add('#', name, format!("<#{}>", channel.id));
        }
    }
    out
}

/// A user, role or channel typed as an id, a mention or `@name`/`#name`, as the id's text
/// (what does not resolve stays as typed).
fn typed_id(typed: &str, names: &[Candidate]) -> String {
    text::resolve_names(typed, names)
        .trim_start_matches("<@&")
        .trim_start_matches("<@")
        .trim_start_matches("<#")
        .trim_end_matches('>')
        .to_owned()
}

/// How a client names a mention in `guild_id`.
fn mention_name(world: &World, guild_id: Option<u64>, mention: Mention) -> Option<String> {
    let guild = guild_id.and_then(|g| world.guilds.get(&g));
    match mention {
        Mention::User(id) => {
            let user = world.users.get(&id)?;
            let nick = guild
                .and_then(|g| g.members.get(&id))
                .and_then(|m| m.nick.clone());
            Some(nick.unwrap_or_else(|| user.username.clone()))
        }
        Mention::Role(id) => guild?
            .roles
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.clone()),
        Mention::Channel(id) => world.channels.get(&id)?.name.clone(),
    }
}

/// A stored message as text (see [`text::render_message`]).
pub(super) fn message_text(world: &World, message_id: u64) -> Option<String> {
    let msg = world.messages.get(&message_id)?;
    let json = message::render(world, msg, false);
    let mut text = text::render_message(&json, &|m| mention_name(world, msg.guild_id, m));
    if msg.flags & message::FLAG_EPHEMERAL != 0 {
        text.push_str("\n(only you can see this)");
    }
    Some(text)
}

/// `header` then `body`, continuation lines indented to line up.
fn block(header: &str, body: &str) -> String {
    let mut lines = body.lines();
    let mut out = format!("{header}{}", lines.next().unwrap_or_default());
    for line in lines {
        out.push_str("\n     ");
        out.push_str(line);
    }
    out
}

/// One feed entry as a console prints it, `None` for one that shows nothing (a message gone
/// since).
fn entry_text(world: &World, entry: &FeedEntry, console_channel: Option<u64>) -> Option<String> {
    let place = match entry.channel_id {
        Some(c) if Some(c) != console_channel && console_channel.is_some() => {
            match world.channels.get(&c) {
                Some(ch) if ch.kind == ChannelKind::Dm => " in a DM".to_owned(),
                Some(ch) => format!(" in #{}", ch.name.as_deref().unwrap_or("?")),
                None => String::new(),
            }
        }
        _ => String::new(),
    };
    let text = match entry.kind {
        FeedKind::Created => block(
            &format!("bot{place}> "),
            &message_text(world, entry.message_id?)?,
        ),
        FeedKind::Edited => block(
            &format!("bot{place} (edited)> "),
            &message_text(world, entry.message_id?)?,
        ),
        FeedKind::Deleted => format!("bot{place} deleted a message"),
        FeedKind::Thinking => format!("bot{place} is thinking…"),
        FeedKind::Modal => block(
            &format!("bot{place} opened a "),
            &text::render_modal(&entry.modal),
        ),
    };
    Some(text)
}

impl Control {
    /// `content` with typed `@name`, `@role` and `#channel` of `guild_id` replaced by mentions,
    /// as Discord's client does before sending (see [`text::resolve_names`]).
    pub fn resolve_names(&self, guild_id: u64, content: &str) -> String {
        let world = self.shared.world();
        text::resolve_names(content, &candidates(&world, guild_id))
    }

    /// A stored message as a client shows it, in text (see [`text::render_message`]).
    pub fn message_text(&self, message_id: u64) -> Option<String> {
        message_text(&self.shared.world(), message_id)
    }

    /// The bot's reply to message `posted` in `channel_id` as text, if there is one.
    pub fn reply_text(&self, channel_id: u64, posted: u64) -> Option<String> {
        let world = self.shared.world();
        let posted = posted.to_string();
        let reply = world
            .messages
            .values()
            .filter(|m| {
                m.author_id == world.bot.id
                    && m.channel_id == channel_id
                    && m.reference
                        .as_ref()
                        .is_some_and(|r| r["message_id"] == posted.as_str())
            })
            .map(|m| m.id)
            .min()?;
        message_text(&world, reply)
    }

    /// The feed's entries since `since`, as a console prints them (`bot> …`), entries outside
    /// `console_channel` naming their channel.
    pub fn feed_text(&self, entries: &[FeedEntry], console_channel: Option<u64>) -> String {
        let world = self.shared.world();
        entries
            .iter()
            .filter_map(|e| entry_text(&world, e, console_channel))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The guild's members, channels and roles with their ids, as text.
    pub fn directory_text(&self, guild_id: Option<u64>) -> Result<String, ControlError> {
        let world = self.shared.world();
        let guild_id = if let Some(id) = guild_id {
            id
        } else {
            let (channel, _) = default_place(&world, None, None)?;
            world
                .channel_guild(channel)
                .ok_or(ControlError::Unknown("guild channel", channel))?
        };
        let guild = world.guilds.found("guild", guild_id)?;
        let mut out = vec![
            format!("guild {} ({guild_id})", guild.name),
            "members:".to_owned(),
        ];
        for member in guild.members.values() {
            let Some(user) = world.users.get(&member.user_id) else {
                continue;
            };
            let mut notes = Vec::new();
            if member.user_id == guild.owner_id {
                notes.push("owner".to_owned());
            }
            if user.bot {
                notes.push("bot".to_owned());
            }
            if let Some(nick) = &member.nick {
                notes.push(format!("nick {nick}"));
            }
            for role in &member.roles {
                if let Some(r) = guild.roles.iter().find(|r| r.id == *role) {
                    notes.push(format!("@{}", r.name));
                }
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            out.push(format!("  {}  @{}{notes}", user.id, user.username));
        }
        out.push("channels:".to_owned());
        for channel in guild.channels.iter().filter_map(|c| world.channels.get(c)) {
            let kind = match channel.kind {
                ChannelKind::Text => "text",
                ChannelKind::Voice => "voice",
                ChannelKind::Category => "category",
                ChannelKind::Dm => "dm",
                ChannelKind::AnnouncementThread
                | ChannelKind::PublicThread
                | ChannelKind::PrivateThread => "thread",
            };
            let name = channel.name.as_deref().unwrap_or("?");
            out.push(format!("  {}  #{name} ({kind})", channel.id));
        }
        out.push("roles:".to_owned());
        for role in &guild.roles {
            out.push(format!("  {}  {}", role.id, role.name));
        }
        Ok(out.join("\n"))
    }

    /// The message and component a [`ClickSpec`] designates, and the values it chooses.
    fn pick_component(
        world: &World,
        spec: &ClickSpec,
        user_id: u64,
    ) -> Result<(u64, String, Vec<String>), ControlError> {
        let wanted = spec.component.trim();
        let visible = |m: &&crate::discord::world::Message| {
            m.author_id == world.bot.id
                && (m.flags & message::FLAG_EPHEMERAL == 0
                    || m.interaction_id
                        .and_then(|i| world.interactions.get(&i))
                        .is_some_and(|i| i.user_id == user_id))
                && m.guild_id.is_none_or(|g| {
                    world
                        .guilds
                        .get(&g)
                        .is_some_and(|g| g.members.contains_key(&user_id))
                })
        };
        let mut messages: Vec<_> = match spec.message_id {
            Some(id) => vec![world.messages.found("message", id)?],
            None => world.messages.values().filter(visible).collect(),
        };
        messages.sort_by_key(|m| std::cmp::Reverse(m.id));
        let number = wanted.parse::<usize>().ok();
        for msg in messages {
            let numbered = text::numbered_components(&msg.components);
            let label_of = |c: &Value| {
                c["label"]
                    .as_str()
                    .or_else(|| c["placeholder"].as_str())
                    .unwrap_or_default()
                    .to_lowercase()
            };
            let lower = wanted.to_lowercase();
            let found = match number {
                Some(n) if n >= 1 => numbered.get(n - 1).copied(),
                _ => numbered
                    .iter()
                    .find(|c| c["custom_id"] == wanted)
                    .or_else(|| numbered.iter().find(|c| label_of(c) == lower))
                    .or_else(|| {
                        let mut prefixed = numbered
                            .iter()
                            .filter(|c| !lower.is_empty() && label_of(c).starts_with(&lower));
                        let first = prefixed.next();
                        first.filter(|_| prefixed.next().is_none())
                    })
                    .copied(),
            };
            let Some(component) = found else {
                if spec.message_id.is_some() || (number.is_some() && !numbered.is_empty()) {
                    return Err(invalid(format!(
                        "message {} has no component {wanted:?} ({} usable)",
                        msg.id,
                        numbered.len()
                    )));
                }
                continue;
            };
            let custom_id = component["custom_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let values = Self::choose_values(world, msg.guild_id, component, &spec.values);
            return Ok((msg.id, custom_id, values));
        }
        Err(invalid(format!(
            "no message of the bot has a component {wanted:?}"
        )))
    }

    /// Select values as typed (option numbers, labels, `@name`s) turned into what the client
    /// sends.
    fn choose_values(
        world: &World,
        guild_id: Option<u64>,
        component: &Value,
        typed: &[String],
    ) -> Vec<String> {
        let options = component["options"].as_array();
        let names = guild_id.map(|g| candidates(world, g)).unwrap_or_default();
        typed
            .iter()
            .map(|t| {
                if let Some(options) = options {
                    let value_of = |o: &Value| o["value"].as_str().unwrap_or_default().to_owned();
                    if let Some(o) = options.iter().find(|o| o["value"] == t.as_str()) {
                        return value_of(o);
                    }
                    if let Some(o) = t
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| options.get(i))
                    {
                        return value_of(o);
                    }
                    if let Some(o) = options.iter().find(|o| {
                        o["label"]
                            .as_str()
                            .is_some_and(|l| l.eq_ignore_ascii_case(t))
                    }) {
                        return value_of(o);
                    }
                    return t.clone();
                }
                typed_id(t, &names)
            })
            .collect()
    }

    /// Waits for the bot's answer to `interaction_id` (anything but "thinking…") in the feed
    /// from `since`, as text.
    async fn answer_to(
        &self,
        interaction_id: u64,
        since: u64,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = self.shared.feed.next_seq();
            let entries = self.shared.feed.since(since);
            if let Some(entry) = entries
                .iter()
                .find(|e| e.interaction_id == Some(interaction_id) && e.kind != FeedKind::Thinking)
            {
                let world = self.shared.world();
                return entry_text(&world, entry, None);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            self.shared.feed.wait(next, deadline - now).await;
        }
    }

    /// Clicks a button or chooses in a select as [`ClickSpec`] says, then waits for the bot's
    /// answer (see [`ClickSpec::timeout_ms`]).
    pub async fn click(&self, spec: &ClickSpec) -> Result<ConsoleAnswer, ControlError> {
        let (message_id, custom_id, values, user_id) = {
            let world = self.shared.world();
            let (_, user_id) = default_place(&world, None, spec.user_id)?;
            let (message_id, custom_id, values) = Self::pick_component(&world, spec, user_id)?;
            (message_id, custom_id, values, user_id)
        };
        let since = self.shared.feed.next_seq();
        let interaction = self.use_component(&super::ComponentSpec {
            message_id,
            user_id,
            custom_id: custom_id.clone(),
            values,
        })?;
        self.console_answer(
            interaction,
            since,
            Some(message_id),
            custom_id,
            spec.timeout_ms,
        )
        .await
    }

    /// Submits the form [`SubmitSpec`] designates, then waits for the bot's answer.
    pub async fn submit(&self, spec: &SubmitSpec) -> Result<ConsoleAnswer, ControlError> {
        let (custom_id, message_id, user_id) = {
            let world = self.shared.world();
            let (_, user_id) = default_place(&world, None, spec.user_id)?;
            let modal = world
                .modals
                .values()
                .rev()
                .find(|m| {
                    m.user_id == user_id
                        && spec
                            .custom_id
                            .as_ref()
                            .is_none_or(|id| m.data["custom_id"] == id.as_str())
                })
                .ok_or_else(|| invalid(format!("no form is open for user {user_id}")))?;
            let custom_id = modal.data["custom_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (custom_id, modal.message_id, user_id)
        };
        let since = self.shared.feed.next_seq();
        let interaction = self.submit_modal(&super::ModalSubmitSpec {
            user_id,
            custom_id: custom_id.clone(),
            values: spec.values.clone(),
        })?;
        self.console_answer(interaction, since, message_id, custom_id, spec.timeout_ms)
            .await
    }
}
