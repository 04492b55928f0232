//! The scenario/control API: set up a world, make simulated users act, force gateway faults,
//! and read back everything the bot did.
//!
//! Available as Rust methods ([`Control`]) and over HTTP under `/_sim` on the simulator's
//! port:
//!
//! | method and path | body / query | answer |
//! |---|---|---|
//! | `POST /_sim/guilds` | [`GuildSpec`] | [`CreatedGuild`] |
//! | `GET /_sim/guilds/{id}` | | the guild as `GUILD_CREATE` would send it (ground truth) |
//! | `DELETE /_sim/guilds/{id}` | | removes the bot from the guild (`GUILD_DELETE`) |
//! | `POST /_sim/users` | `{"name": "alice"}` | `{"id": "…"}` |
//! | `POST /_sim/guilds/{id}/members` | `{"user_id": "…", "roles": ["…"]}` | `GUILD_MEMBER_ADD` sent |
//! | `POST /_sim/guilds/{id}/roles` | `{"name", "permissions"}` | `{"id": "…"}` |
//! | `POST /_sim/messages` | [`MessageSpec`] | `{"id": "…"}` (`MESSAGE_CREATE` sent) |
//! | `POST /_sim/say[?format=text]` | [`SaySpec`] | [`SayAnswer`] (or the reply's text) once the bot replied; 504 if it did not |
//! | `POST /_sim/interactions` | [`InteractionSpec`] | [`CreatedInteraction`] |
//! | `POST /_sim/components`, `/_sim/modals`, `/_sim/autocomplete`, `/_sim/context_menu`; `GET /_sim/modals?user_id=` | see [`interactions`] | [`CreatedInteraction`] |
//! | `POST /_sim/voice` | [`VoiceSpec`] | a user joins/leaves a voice channel |
//! | `POST /_sim/dispatch` | `{"guild_id"?, "event", "data"}` | a raw dispatch |
//! | `POST /_sim/blast` | [`BlastSpec`] | [`BlastReport`] when done |
//! | `POST /_sim/shards/{id}/{action}` | action: `reconnect`, `invalidate`, `invalidate_resumable`, `drop`, `zombie`, `unzombie` | `{"connections": n}` |
//! | `POST /_sim/shards/{id}/close/{code}` | | close frame with `code` |
//! | `GET /_sim/sessions` | | [`SessionInfo`] list |
//! | `GET /_sim/stats` | | [`GatewayStats`] + REST counters |
//! | `GET /_sim/log?since=N&kind=rest` | | [`Record`]s (`kind`: `rest`, `gateway`) |
//! | `PATCH /_sim/config` | [`ConfigPatch`] | changes limits at run time |
//! | `GET /_sim/feed`, `POST /_sim/click`, `/_sim/submit`, `GET /_sim/directory` | see [`console`] | a console's view: the bot's activity and guild as text, clicks by label or number |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;
use super::gateway::{GatewayStats, SessionInfo, ShardAction};
use super::world::{
    Channel, ChannelKind, DEFAULT_EVERYONE_PERMISSIONS, Guild, Member, Message, Role, User,
    VoiceState,
};
use crate::record::Record;
use crate::util::{random_hex, unix_ms};

mod changes;
pub mod console;
pub mod interactions;

pub use console::{ClickSpec, ConsoleAnswer, SubmitSpec};
pub use interactions::{ComponentSpec, ContextMenuKind, ContextMenuSpec, ModalSubmitSpec};

/// Serde helper: snowflakes travel as strings, as in Discord's JSON.
mod snowflake {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's `with` calls it with a reference"
    )]
    pub(super) fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(u64),
        }
        match Either::deserialize(d)? {
            Either::S(s) => s.parse().map_err(serde::de::Error::custom),
            Either::N(n) => Ok(n),
        }
    }

    pub(super) mod vec {
        use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

        pub(crate) fn serialize<S: Serializer>(ids: &[u64], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(ids.len()))?;
            for id in ids {
                seq.serialize_element(&id.to_string())?;
            }
            seq.end()
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
            let raw: Vec<serde_json::Value> = Vec::deserialize(d)?;
            raw.into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
                    serde_json::Value::Number(n) => {
                        n.as_u64().ok_or_else(|| serde::de::Error::custom("bad id"))
                    }
                    _ => Err(serde::de::Error::custom("bad id")),
                })
                .collect()
        }
    }

    pub(super) mod opt {
        use serde::{Deserialize, Deserializer, Serializer};

        #[allow(
            clippy::ref_option,
            reason = "serde's `with` calls it with a reference"
        )]
        pub(crate) fn serialize<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match id {
                Some(id) => s.serialize_str(&id.to_string()),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<u64>, D::Error> {
            let raw: Option<serde_json::Value> = Option::deserialize(d)?;
            match raw {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => {
                    s.parse().map(Some).map_err(serde::de::Error::custom)
                }
                Some(serde_json::Value::Number(n)) => Ok(n.as_u64()),
                Some(_) => Err(serde::de::Error::custom("bad id")),
            }
        }
    }
}

/// A guild to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GuildSpec {
    /// Guild name.
    pub name: String,
    /// Number of generated members (besides the owner and the bot).
    pub members: usize,
    /// Number of text channels (at least one is always made).
    pub text_channels: usize,
    /// Number of voice channels.
    pub voice_channels: usize,
    /// Make the id land on this `(shard_id, shard_count)`.
    pub shard: Option<(u32, u32)>,
    /// Permissions of `@everyone` (Discord's defaults if absent).
    pub everyone_permissions: Option<u64>,
    /// Whether the guild is in an outage (`unavailable: true`).
    pub unavailable: bool,
    /// Whether to announce it with `GUILD_CREATE` (the bot "joins" now) — default true.
    pub announce: bool,
}

impl Default for GuildSpec {
    fn default() -> Self {
        Self {
            name: "Simulated Guild".to_owned(),
            members: 3,
            text_channels: 1,
            voice_channels: 1,
            shard: None,
            everyone_permissions: None,
            unavailable: false,
            announce: true,
        }
    }
}

/// What [`Control::create_guild`] made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedGuild {
    /// Guild id.
    #[serde(with = "snowflake")]
    pub id: u64,
    /// Owner (a generated user, not the bot).
    #[serde(with = "snowflake")]
    pub owner_id: u64,
    /// The `@everyone` role (same id as the guild).
    #[serde(with = "snowflake")]
    pub everyone_role: u64,
    /// A "Moderator" role with `BAN_MEMBERS | KICK_MEMBERS | MANAGE_GUILD`.
    #[serde(with = "snowflake")]
    pub moderator_role: u64,
    /// Text channel ids.
    #[serde(with = "snowflake::vec")]
    pub text_channels: Vec<u64>,
    /// Voice channel ids.
    #[serde(with = "snowflake::vec")]
    pub voice_channels: Vec<u64>,
    /// Generated member ids (without owner and bot).
    #[serde(with = "snowflake::vec")]
    pub members: Vec<u64>,
}

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

/// A slash command used by a simulated user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InteractionSpec {
    /// Guild (`None`: in a DM).
    #[serde(default, with = "snowflake::opt")]
    pub guild_id: Option<u64>,
    /// Channel.
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// Invoking user.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// Command name.
    pub name: String,
    /// `data.options` as Discord would send them (`[{"name", "type", "value"}]`).
    #[serde(default)]
    pub options: Value,
}

/// What [`Control::create_interaction`] made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedInteraction {
    /// Interaction id.
    #[serde(with = "snowflake")]
    pub id: u64,
    /// Interaction token.
    pub token: String,
}

/// A user joining (`channel_id` set) or leaving a voice channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoiceSpec {
    /// Guild.
    #[serde(with = "snowflake")]
    pub guild_id: u64,
    /// User.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// Voice channel, or `None` to leave.
    #[serde(default, with = "snowflake::opt")]
    pub channel_id: Option<u64>,
}

/// A load test: emit `count` synthetic events at `rate` per second.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BlastSpec {
    /// `MESSAGE_CREATE` (default), `TYPING_START`, `GUILD_CREATE` or any other name (sent with
    /// the `data` given).
    pub event: String,
    /// Events to send in total.
    pub count: u64,
    /// Events per second (0 = as fast as possible).
    pub rate: u64,
    /// Guilds to spread the events over (round robin); empty = every guild.
    #[serde(with = "snowflake::vec")]
    pub guilds: Vec<u64>,
    /// Payload for other event names.
    pub data: Value,
    /// Padding added to message content to reach a realistic payload size.
    pub content_len: usize,
}

impl Default for BlastSpec {
    fn default() -> Self {
        Self {
            event: "MESSAGE_CREATE".to_owned(),
            count: 1000,
            rate: 0,
            guilds: Vec::new(),
            data: Value::Null,
            content_len: 64,
        }
    }
}

/// What a blast did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlastReport {
    /// Events emitted.
    pub sent: u64,
    /// Wall time, milliseconds.
    pub elapsed_ms: u64,
    /// Achieved rate.
    pub per_second: f64,
}

/// Run-time configuration changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigPatch {
    /// `session_start_limit.remaining`.
    pub session_start_remaining: Option<u32>,
    /// `session_start_limit.max_concurrency`.
    pub max_concurrency: Option<u32>,
    /// Identify bucket interval, milliseconds.
    pub identify_interval_ms: Option<u64>,
    /// Shards recommended by `GET /gateway/bot`.
    pub recommended_shards: Option<u32>,
    /// Turn REST rate limiting on or off.
    pub rest_rate_limits: Option<bool>,
    /// Replace the artificial REST latencies.
    pub rest_delays: Option<Vec<super::RestDelay>>,
    /// Invalid answers in 10 minutes before the simulated Cloudflare ban (`0`: never).
    pub invalid_request_limit: Option<u32>,
}

/// Rust handle on the control API.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

/// A control API error (an unknown entity or an impossible request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The named entity does not exist.
    #[error("unknown {0} {1}")]
    Unknown(&'static str, u64),
    /// The request makes no sense.
    #[error("{0}")]
    Invalid(String),
}

impl Control {
    /// A handle on `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// A snowflake whose guild shard is `shard_id` of `total`.
    fn id_on_shard(&self, shard: Option<(u32, u32)>) -> u64 {
        loop {
            let id = self.shared.ids.next();
            match shard {
                Some((shard_id, total))
                    if (id >> 22) % u64::from(total.max(1)) != u64::from(shard_id) => {}
                _ => return id,
            }
        }
    }

    /// Creates a user.
    pub fn create_user(&self, name: &str) -> u64 {
        let id = self.shared.ids.next();
        let user = User {
            id,
            username: name.to_owned(),
            global_name: Some(name.to_owned()),
            bot: false,
        };
        self.shared.world().users.insert(id, user);
        id
    }

    /// Creates a guild with an owner, generated members, the bot as a member, an `@everyone` and
    /// a "Moderator" role, and channels; announces it with `GUILD_CREATE` if `spec.announce`.
    pub fn create_guild(&self, spec: &GuildSpec) -> CreatedGuild {
        let id = self.id_on_shard(spec.shard);
        let now = unix_ms();
        let owner_id = self.create_user(&format!("owner-{id}"));
        let members: Vec<u64> = (0..spec.members)
            .map(|i| self.create_user(&format!("user{i}-{id}")))
            .collect();
        let moderator_role = self.shared.ids.next();
        let text: Vec<u64> = (0..spec.text_channels.max(1))
            .map(|_| self.shared.ids.next())
            .collect();
        let voice: Vec<u64> = (0..spec.voice_channels)
            .map(|_| self.shared.ids.next())
            .collect();
        let mut world = self.shared.world();
        let bot_id = world.bot.id;
        let mut guild = Guild {
            id,
            name: spec.name.clone(),
            owner_id,
            roles: vec![
                Role {
                    id,
                    name: "@everyone".to_owned(),
                    permissions: spec
                        .everyone_permissions
                        .unwrap_or(DEFAULT_EVERYONE_PERMISSIONS),
                    position: 0,
                    color: 0,
                },
                Role {
                    id: moderator_role,
                    name: "Moderator".to_owned(),
                    permissions: (1 << 1) | (1 << 2) | (1 << 5),
                    position: 1,
                    color: 0x0034_98db,
                },
            ],
            channels: Vec::new(),
            members: BTreeMap::new(),
            bans: BTreeMap::new(),
            voice_states: BTreeMap::new(),
            unavailable: spec.unavailable,
            joined_at_ms: now,
        };
        for user in std::iter::once(owner_id)
            .chain(members.iter().copied())
            .chain(std::iter::once(bot_id))
        {
            let roles = if user == bot_id {
                vec![moderator_role]
            } else {
                Vec::new()
            };
            guild.members.insert(
                user,
                Member {
                    user_id: user,
                    nick: None,
                    roles,
                    joined_at_ms: now,
                    timeout_until: None,
                    mute: false,
                    deaf: false,
                },
            );
        }
        for (i, channel_id) in text.iter().enumerate() {
            guild.channels.push(*channel_id);
            world.channels.insert(
                *channel_id,
                guild_channel(*channel_id, id, ChannelKind::Text, &format!("text-{i}"), i),
            );
        }
        for (i, channel_id) in voice.iter().enumerate() {
            guild.channels.push(*channel_id);
            world.channels.insert(
                *channel_id,
                guild_channel(
                    *channel_id,
                    id,
                    ChannelKind::Voice,
                    &format!("voice-{i}"),
                    i,
                ),
            );
        }
        let payload = guild.to_gateway_json(&world, true);
        world.guilds.insert(id, guild);
        drop(world);
        if spec.announce {
            self.dispatch_guild_create(id, payload);
        }
        CreatedGuild {
            id,
            owner_id,
            everyone_role: id,
            moderator_role,
            text_channels: text,
            voice_channels: voice,
            members,
        }
    }

    fn dispatch_guild_create(&self, guild_id: u64, payload: Value) {
        self.shared
            .dispatch(Some(guild_id), "GUILD_CREATE", payload);
    }

    /// Removes the bot from a guild (`GUILD_DELETE` without `unavailable`).
    pub fn remove_guild(&self, guild_id: u64) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let guild = world
            .guilds
            .remove(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
        for channel in &guild.channels {
            world.channels.remove(channel);
        }
        drop(world);
        self.shared.dispatch(
            Some(guild_id),
            "GUILD_DELETE",
            json!({"id": guild_id.to_string()}),
        );
        Ok(())
    }

    /// Creates a role.
    pub fn create_role(
        &self,
        guild_id: u64,
        name: &str,
        permissions: u64,
    ) -> Result<u64, ControlError> {
        let id = self.shared.ids.next();
        let mut world = self.shared.world();
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
        let position = i64::try_from(guild.roles.len()).unwrap_or(i64::MAX);
        let role = Role {
            id,
            name: name.to_owned(),
            permissions,
            position,
            color: 0,
        };
        let json = role.to_json();
        guild.roles.push(role);
        drop(world);
        self.shared.dispatch(
            Some(guild_id),
            "GUILD_ROLE_CREATE",
            json!({"guild_id": guild_id.to_string(), "role": json}),
        );
        Ok(id)
    }

    /// Adds a user to a guild (`GUILD_MEMBER_ADD`).
    pub fn add_member(
        &self,
        guild_id: u64,
        user_id: u64,
        roles: &[u64],
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let user = world
            .users
            .get(&user_id)
            .cloned()
            .ok_or(ControlError::Unknown("user", user_id))?;
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
        let member = Member {
            user_id,
            nick: None,
            roles: roles.to_vec(),
            joined_at_ms: unix_ms(),
            timeout_until: None,
            mute: false,
            deaf: false,
        };
        let mut payload = member.to_json(&user);
        payload["guild_id"] = json!(guild_id.to_string());
        guild.members.insert(user_id, member);
        drop(world);
        self.shared
            .dispatch(Some(guild_id), "GUILD_MEMBER_ADD", payload);
        Ok(())
    }

    /// A user posts a message (`MESSAGE_CREATE`). Mentions (`<@id>`) are resolved.
    pub fn post_message(&self, spec: &MessageSpec) -> Result<u64, ControlError> {
        let id = self.shared.ids.next();
        let mut world = self.shared.world();
        let channel = world
            .channels
            .get_mut(&spec.channel_id)
            .ok_or(ControlError::Unknown("channel", spec.channel_id))?;
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

    /// A user invokes a slash command (`INTERACTION_CREATE`, type 2 `APPLICATION_COMMAND`).
    /// `spec.options` may nest subcommands and subcommand groups as Discord does (checked);
    /// user, channel, role and mentionable options get their `data.resolved` entries.
    pub fn create_interaction(
        &self,
        spec: &InteractionSpec,
    ) -> Result<CreatedInteraction, ControlError> {
        self.command_interaction(spec, false)
    }

    /// A user joins or leaves a voice channel (`VOICE_STATE_UPDATE`).
    pub fn set_voice(&self, spec: &VoiceSpec) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        if let Some(channel_id) = spec.channel_id {
            let ok = world
                .channels
                .get(&channel_id)
                .is_some_and(|c| c.kind == ChannelKind::Voice && c.guild_id == Some(spec.guild_id));
            if !ok {
                return Err(ControlError::Invalid(format!(
                    "{channel_id} is not a voice channel of guild {}",
                    spec.guild_id
                )));
            }
        }
        let user = world
            .users
            .get(&spec.user_id)
            .cloned()
            .ok_or(ControlError::Unknown("user", spec.user_id))?;
        let guild = world
            .guilds
            .get_mut(&spec.guild_id)
            .ok_or(ControlError::Unknown("guild", spec.guild_id))?;
        let member = guild
            .members
            .get(&spec.user_id)
            .cloned()
            .ok_or(ControlError::Unknown("member", spec.user_id))?;
        let state = VoiceState {
            user_id: spec.user_id,
            channel_id: spec.channel_id,
            session_id: random_hex(32),
            self_mute: false,
            self_deaf: false,
        };
        let payload = state.to_json(spec.guild_id, Some((&member, &user)));
        if spec.channel_id.is_some() {
            guild.voice_states.insert(spec.user_id, state);
        } else {
            guild.voice_states.remove(&spec.user_id);
        }
        drop(world);
        self.shared
            .dispatch(Some(spec.guild_id), "VOICE_STATE_UPDATE", payload);
        Ok(())
    }

    /// Sends any dispatch, verbatim.
    pub fn dispatch(&self, guild_id: Option<u64>, event: &str, data: Value) {
        self.shared.dispatch(guild_id, event, data);
    }

    /// Emits `spec.count` events at `spec.rate` per second and reports the achieved rate.
    pub async fn blast(&self, spec: &BlastSpec) -> Result<BlastReport, ControlError> {
        let (guilds, templates) = {
            let world = self.shared.world();
            let guilds: Vec<u64> = if spec.guilds.is_empty() {
                world.guilds.keys().copied().collect()
            } else {
                spec.guilds.clone()
            };
            if guilds.is_empty() {
                return Err(ControlError::Invalid(
                    "blast needs at least one guild".to_owned(),
                ));
            }
            let mut templates = Vec::with_capacity(guilds.len());
            for g in &guilds {
                let guild = world
                    .guilds
                    .get(g)
                    .ok_or(ControlError::Unknown("guild", *g))?;
                let channel = guild.channels.first().copied().unwrap_or(*g);
                let author = guild
                    .members
                    .keys()
                    .copied()
                    .find(|u| *u != world.bot.id)
                    .unwrap_or(guild.owner_id);
                let template = match spec.event.as_str() {
                    "MESSAGE_CREATE" => {
                        let message = Message {
                            id: 0,
                            channel_id: channel,
                            guild_id: Some(*g),
                            author_id: author,
                            content: "x".repeat(spec.content_len),
                            embeds: Vec::new(),
                            components: Vec::new(),
                            attachments: Vec::new(),
                            timestamp_ms: unix_ms(),
                            edited_ms: None,
                            mentions: Vec::new(),
                            flags: 0,
                            webhook_id: None,
                            interaction_id: None,
                            reference: None,
                        };
                        message.to_gateway_json(&world, false)
                    }
                    "TYPING_START" => {
                        json!({"guild_id": g.to_string(), "channel_id": channel.to_string(), "user_id": author.to_string(), "timestamp": unix_ms() / 1000})
                    }
                    "GUILD_CREATE" => guild.to_gateway_json(&world, true),
                    _ => spec.data.clone(),
                };
                templates.push(template);
            }
            (guilds, templates)
        };
        // Serialise each template once; a MESSAGE_CREATE only gets its fresh id spliced in.
        let serialized: Vec<String> = templates.iter().map(Value::to_string).collect();
        let started = Instant::now();
        let mut sent = 0u64;
        let batch = if spec.rate == 0 {
            spec.count
        } else {
            (spec.rate / 100).max(1)
        };
        while sent < spec.count {
            let n = batch.min(spec.count - sent);
            for _ in 0..n {
                let i = usize::try_from(sent).unwrap_or(0) % guilds.len();
                let fresh;
                let body = if spec.event == "MESSAGE_CREATE" {
                    let id = format!(r#""id":"{}""#, self.shared.ids.next());
                    fresh = serialized[i].replacen(r#""id":"0""#, &id, 1);
                    fresh.as_str()
                } else {
                    serialized[i].as_str()
                };
                self.shared.gateway.dispatch_serialized(
                    &self.shared,
                    Some(guilds[i]),
                    &spec.event,
                    body,
                    &templates[i],
                );
                sent += 1;
            }
            if spec.rate > 0 {
                #[allow(clippy::cast_precision_loss)]
                let due = Duration::from_secs_f64(sent as f64 / spec.rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            } else if sent.is_multiple_of(10_000) {
                tokio::task::yield_now().await;
            }
        }
        let elapsed = started.elapsed();
        #[allow(clippy::cast_precision_loss)]
        let per_second = sent as f64 / elapsed.as_secs_f64().max(1e-9);
        Ok(BlastReport {
            sent,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            per_second,
        })
    }

    /// Forces a gateway fault or message on shard `shard_id`'s connections.
    pub fn shard_action(&self, shard_id: u32, action: ShardAction) -> usize {
        self.shared.gateway.shard_action(shard_id, action)
    }

    /// Closes shard `shard_id`'s connections with a close frame carrying `code`.
    pub fn close_shard(&self, shard_id: u32, code: u16) -> usize {
        self.shared
            .gateway
            .close_shard(shard_id, code, "closed by the simulator's control API")
    }

    /// Gateway counters and the identify log.
    pub fn gateway_stats(&self) -> GatewayStats {
        self.shared.gateway.stats(&self.shared)
    }

    /// Live and resumable sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.gateway.sessions()
    }

    /// Number of records so far: the index the next one gets (a `since` for [`Self::log`] and
    /// [`Self::wait_for_record`] that skips everything recorded before), without copying the log.
    pub fn log_len(&self) -> u64 {
        self.shared.recorder.len()
    }

    /// Recorded requests since `since`, optionally of one kind (`rest`, `gateway`).
    pub fn log(&self, since: u64, kind: Option<&str>) -> Vec<Record> {
        self.shared.recorder.since(since, kind)
    }

    /// Waits until a record matching `pred` appears (from index `since` on) or `timeout` passes.
    pub async fn wait_for_record(
        &self,
        since: u64,
        timeout: Duration,
        pred: impl Fn(&Record) -> bool,
    ) -> Option<Record> {
        let mut live = self.shared.recorder.subscribe();
        if let Some(found) = self
            .shared
            .recorder
            .since(since, None)
            .into_iter()
            .find(|r| pred(r))
        {
            return Some(found);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(record)) if record.index >= since && pred(&record) => return Some(record),
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    if let Some(found) = self
                        .shared
                        .recorder
                        .since(since, None)
                        .into_iter()
                        .find(|r| pred(r))
                    {
                        return Some(found);
                    }
                }
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// The ground-truth `GUILD_CREATE` payload of a guild.
    pub fn guild_json(&self, guild_id: u64) -> Option<Value> {
        let world = self.shared.world();
        world
            .guilds
            .get(&guild_id)
            .map(|g| g.to_gateway_json(&world, true))
    }

    /// Arms a one-shot REST fault: the next `fault.count` matching requests fail with
    /// `fault.status` (recorded in the log like any request) and change nothing.
    pub fn fail_rest(&self, fault: &super::RestFault) {
        self.shared.rest.add_fault(fault.clone());
    }

    /// Applies run-time configuration changes.
    pub fn patch_config(&self, patch: &ConfigPatch) {
        if let Some(remaining) = patch.session_start_remaining {
            self.shared.gateway.set_session_start_remaining(remaining);
        }
        let mut config = self
            .shared
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = patch.max_concurrency {
            config.max_concurrency = v.max(1);
        }
        if let Some(v) = patch.identify_interval_ms {
            config.identify_interval = Duration::from_millis(v);
        }
        if let Some(v) = patch.recommended_shards {
            config.recommended_shards = v.max(1);
        }
        if let Some(v) = patch.rest_rate_limits {
            config.rest_limits.enabled = v;
        }
        if let Some(v) = patch.invalid_request_limit {
            config.rest_limits.invalid_request_limit = (v > 0).then_some(v);
        }
        if let Some(delays) = &patch.rest_delays {
            config.rest_delays.clone_from(delays);
        }
        drop(config);
        if patch.rest_rate_limits.is_some() {
            // Outside the config lock: REST handlers take the two locks in the other order.
            self.shared.rest.reset();
        }
    }
}

fn guild_channel(
    id: u64,
    guild_id: u64,
    kind: ChannelKind,
    name: &str,
    position: usize,
) -> Channel {
    Channel {
        id,
        kind,
        guild_id: Some(guild_id),
        name: Some(name.to_owned()),
        position: i64::try_from(position).unwrap_or(0),
        parent_id: None,
        overwrites: Vec::new(),
        recipients: Vec::new(),
        last_message_id: None,
        thread: None,
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

// ---------------------------------------------------------------------------------------------
// HTTP

type St = State<Arc<Shared>>;

fn control(shared: &Arc<Shared>) -> Control {
    Control::new(Arc::clone(shared))
}

fn error_response(error: &ControlError) -> Response {
    let status = match error {
        ControlError::Unknown(..) => StatusCode::NOT_FOUND,
        ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({"error": error.to_string()}))).into_response()
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.to_string()})),
    )
        .into_response()
}

/// Parses a JSON body into `T`, answering 400 with the reason otherwise.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad_request(format!("invalid body: {e}"))))
}

fn parse_id(raw: &str, what: &str) -> Result<u64, Box<Response>> {
    raw.parse()
        .map_err(|_| Box::new(bad_request(format!("invalid {what} id {raw:?}"))))
}

/// The control routes, to be nested under `/_sim`.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/guilds", post(http_create_guild))
        .route(
            "/guilds/{id}",
            get(http_get_guild).delete(http_delete_guild),
        )
        .route("/guilds/{id}/members", post(http_add_member))
        .route("/guilds/{id}/roles", post(http_create_role))
        .route("/users", post(http_create_user))
        .route("/messages", post(http_post_message))
        .route("/say", post(http_say))
        .route("/interactions", post(http_create_interaction))
        .route("/voice", post(http_voice))
        .route("/dispatch", post(http_dispatch))
        .route("/blast", post(http_blast))
        .route("/shards/{id}/close/{code}", post(http_close_shard))
        .route("/shards/{id}/{action}", post(http_shard_action))
        .route("/sessions", get(http_sessions))
        .route("/stats", get(http_stats))
        .route("/log", get(http_log))
        .route("/config", patch(http_patch_config))
        .route("/rest_faults", post(http_rest_fault))
        .merge(interactions::router())
        .merge(console::router())
}

async fn http_create_guild(State(shared): St, body: axum::body::Bytes) -> Response {
    let spec: GuildSpec = if body.is_empty() {
        GuildSpec::default()
    } else {
        match parse(&body) {
            Ok(spec) => spec,
            Err(response) => return *response,
        }
    };
    Json(control(&shared).create_guild(&spec)).into_response()
}

async fn http_get_guild(State(shared): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id, "guild") {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match control(&shared).guild_json(id) {
        Some(guild) => Json(guild).into_response(),
        None => error_response(&ControlError::Unknown("guild", id)),
    }
}

async fn http_delete_guild(State(shared): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id, "guild") {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match control(&shared).remove_guild(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct AddMember {
    #[serde(with = "snowflake")]
    user_id: u64,
    #[serde(default, with = "snowflake::vec")]
    roles: Vec<u64>,
}

async fn http_add_member(
    State(shared): St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (id, req) = match (parse_id(&id, "guild"), parse::<AddMember>(&body)) {
        (Ok(id), Ok(req)) => (id, req),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    match control(&shared).add_member(id, req.user_id, &req.roles) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct CreateRole {
    name: String,
    #[serde(default)]
    permissions: Value,
}

async fn http_create_role(
    State(shared): St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (id, req) = match (parse_id(&id, "guild"), parse::<CreateRole>(&body)) {
        (Ok(id), Ok(req)) => (id, req),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let permissions = match &req.permissions {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    match control(&shared).create_role(id, &req.name, permissions) {
        Ok(role) => Json(json!({"id": role.to_string()})).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct CreateUser {
    name: String,
}

async fn http_create_user(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<CreateUser>(&body) {
        Ok(req) => {
            Json(json!({"id": control(&shared).create_user(&req.name).to_string()})).into_response()
        }
        Err(r) => *r,
    }
}

async fn http_post_message(State(shared): St, body: axum::body::Bytes) -> Response {
    let spec = match parse::<MessageSpec>(&body) {
        Ok(spec) => spec,
        Err(r) => return *r,
    };
    match control(&shared).post_message(&spec) {
        Ok(id) => Json(json!({"id": id.to_string()})).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct SayQuery {
    format: Option<String>,
}

async fn http_say(
    State(shared): St,
    Query(q): Query<SayQuery>,
    body: axum::body::Bytes,
) -> Response {
    let spec = match parse::<SaySpec>(&body) {
        Ok(spec) => spec,
        Err(r) => return *r,
    };
    let answer = match control(&shared).say(&spec).await {
        Ok(answer) => answer,
        Err(e) => return error_response(&e),
    };
    let status = match (&answer.reply, spec.timeout_ms) {
        (Some(_), _) => StatusCode::OK,
        (None, Some(0)) => StatusCode::ACCEPTED,
        (None, _) => StatusCode::GATEWAY_TIMEOUT,
    };
    if q.format.as_deref() == Some("text") {
        let text = match answer.reply {
            // The reply as a client shows it (embeds, components), the posted content if the
            // message is gone since.
            Some(content) => control(&shared)
                .reply_text(answer.channel_id, answer.message_id)
                .unwrap_or(content),
            None if status == StatusCode::ACCEPTED => "(posted)".to_owned(),
            None => "(no reply from the bot)".to_owned(),
        };
        return (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            text,
        )
            .into_response();
    }
    (status, Json(answer)).into_response()
}

async fn http_create_interaction(State(shared): St, body: axum::body::Bytes) -> Response {
    let spec = match parse::<InteractionSpec>(&body) {
        Ok(spec) => spec,
        Err(r) => return *r,
    };
    match control(&shared).create_interaction(&spec) {
        Ok(created) => Json(created).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn http_voice(State(shared): St, body: axum::body::Bytes) -> Response {
    let spec = match parse::<VoiceSpec>(&body) {
        Ok(spec) => spec,
        Err(r) => return *r,
    };
    match control(&shared).set_voice(&spec) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct RawDispatch {
    #[serde(default, with = "snowflake::opt")]
    guild_id: Option<u64>,
    event: String,
    data: Value,
}

async fn http_dispatch(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<RawDispatch>(&body) {
        Ok(req) => {
            control(&shared).dispatch(req.guild_id, &req.event, req.data);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn http_blast(State(shared): St, body: axum::body::Bytes) -> Response {
    let spec: BlastSpec = if body.is_empty() {
        BlastSpec::default()
    } else {
        match parse(&body) {
            Ok(spec) => spec,
            Err(r) => return *r,
        }
    };
    match control(&shared).blast(&spec).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn http_shard_action(
    State(shared): St,
    Path((raw_shard, action)): Path<(String, String)>,
) -> Response {
    let Ok(shard_id) = raw_shard.parse::<u32>() else {
        return bad_request(format!("invalid shard id {raw_shard:?}"));
    };
    let action = match action.as_str() {
        "reconnect" => ShardAction::Reconnect,
        "invalidate" => ShardAction::Invalidate,
        "invalidate_resumable" => ShardAction::InvalidateResumable,
        "drop" => ShardAction::Drop,
        "zombie" => ShardAction::Zombie,
        "unzombie" => ShardAction::Unzombie,
        other => return bad_request(format!("unknown shard action {other:?}")),
    };
    Json(json!({"connections": control(&shared).shard_action(shard_id, action)})).into_response()
}

async fn http_close_shard(
    State(shared): St,
    Path((raw_shard, raw_code)): Path<(String, String)>,
) -> Response {
    let (Ok(shard_id), Ok(code)) = (raw_shard.parse::<u32>(), raw_code.parse::<u16>()) else {
        return bad_request("invalid shard id or close code");
    };
    Json(json!({"connections": control(&shared).close_shard(shard_id, code)})).into_response()
}

async fn http_sessions(State(shared): St) -> Response {
    Json(control(&shared).sessions()).into_response()
}

async fn http_stats(State(shared): St) -> Response {
    let gateway = control(&shared).gateway_stats();
    Json(json!({
        "gateway": gateway,
        "rest": shared.rest.stats(),
        "records": shared.recorder.len(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    since: u64,
    kind: Option<String>,
}

async fn http_log(State(shared): St, Query(q): Query<LogQuery>) -> Response {
    Json(control(&shared).log(q.since, q.kind.as_deref())).into_response()
}

async fn http_rest_fault(State(shared): St, body: axum::body::Bytes) -> Response {
    let fault: super::RestFault = match parse(&body) {
        Ok(fault) => fault,
        Err(response) => return *response,
    };
    control(&shared).fail_rest(&fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn http_patch_config(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<ConfigPatch>(&body) {
        Ok(patch) => {
            control(&shared).patch_config(&patch);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
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
