//! The simulated Discord world: users, guilds, channels, roles, members, messages, bans,
//! interactions and application commands, with their documented JSON shapes.
//!
//! The world is plain data behind one lock ([`super::Shared::world`]); every mutation that
//! Discord would announce on the gateway is followed by a dispatch through the event bus by the
//! caller (REST handlers, the control API), never from inside this module.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Value, json};

use crate::util::iso_from_unix_ms;

/// Discord's `ADMINISTRATOR` permission bit.
pub const PERM_ADMINISTRATOR: u64 = 1 << 3;
/// `VIEW_CHANNEL`.
pub const PERM_VIEW_CHANNEL: u64 = 1 << 10;
/// `MANAGE_THREADS`.
pub const PERM_MANAGE_THREADS: u64 = 1 << 34;
/// The permissions `@everyone` gets in a new simulated guild, as in a new Discord server:
/// Create Invite, Add Reactions, Video, View Channels, Send Messages, Embed Links, Attach Files,
/// Read Message History, Use External Emojis, Connect, Speak, Use Voice Activity, Change
/// Nickname, Use Application Commands, Request to Speak, Create Public/Private Threads, Use
/// External Stickers, Send Messages in Threads, Use Activities, Use Soundboard, Create
/// Expressions, Create Events, Use External Sounds, Send Voice Messages, Create Polls, Use
/// External Apps — and no moderation or management permission.
pub const DEFAULT_EVERYONE_PERMISSIONS: u64 = {
    const BITS: [u32; 27] = [
        0, 6, 9, 10, 11, 14, 15, 16, 18, 20, 21, 25, 26, 31, 32, 35, 36, 37, 38, 39, 42, 43, 44,
        45, 46, 49, 50,
    ];
    let mut bits = 0;
    let mut i = 0;
    while i < BITS.len() {
        bits |= 1 << BITS[i];
        i += 1;
    }
    bits
};

/// A Discord user.
#[derive(Debug, Clone)]
pub struct User {
    /// Snowflake.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Whether the user is a bot.
    pub bot: bool,
}

impl User {
    /// The documented user object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": null,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": null,
            "banner": null,
            "accent_color": null,
        });
        if self.bot {
            v["bot"] = Value::Bool(true);
        }
        v
    }
}

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

/// What happened to an interaction so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InteractionState {
    /// Created, no callback yet.
    Pending,
    /// Answered with a callback of this type (4 = message, 5 = deferred, ...).
    Responded(u8),
}

/// An interaction created by a simulated user.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// Snowflake.
    pub id: u64,
    /// The secret token for callbacks and follow-ups.
    pub token: String,
    /// The `INTERACTION_CREATE` payload as sent.
    pub payload: Value,
    /// Guild, if any.
    pub guild_id: Option<u64>,
    /// Channel the interaction was used in.
    pub channel_id: u64,
    /// Invoking user.
    pub user_id: u64,
    /// When it was created (the 3-second callback deadline starts here).
    pub created: Instant,
    /// Callback state.
    pub state: InteractionState,
    /// The original response message, once there is one.
    pub original_message: Option<u64>,
}

/// A modal a bot opened (interaction callback type 9), shown to the interaction's user until
/// they submit it.
#[derive(Debug, Clone)]
pub struct OpenModal {
    /// The interaction the modal answered.
    pub interaction_id: u64,
    /// The user who sees it.
    pub user_id: u64,
    /// Guild of the interaction, if any.
    pub guild_id: Option<u64>,
    /// Channel of the interaction.
    pub channel_id: u64,
    /// The message whose component opened it (for a modal opened from a button or select).
    pub message_id: Option<u64>,
    /// The callback's `data` (`custom_id`, `title`, `components`, with component ids).
    pub data: Value,
}

/// A registered application command.
#[derive(Debug, Clone)]
pub struct AppCommand {
    /// Snowflake.
    pub id: u64,
    /// Guild for guild commands, `None` for global commands.
    pub guild_id: Option<u64>,
    /// The command object as stored (with `id`, `application_id`, `version` filled in).
    pub json: Value,
}

/// The whole simulated world.
#[derive(Debug)]
pub struct World {
    /// The bot's own user (its id is also the application id).
    pub bot: User,
    /// Users by id.
    pub users: HashMap<u64, User>,
    /// Guilds by id.
    pub guilds: BTreeMap<u64, Guild>,
    /// Channels by id (guild channels and DMs).
    pub channels: HashMap<u64, Channel>,
    /// Messages by id.
    pub messages: HashMap<u64, Message>,
    /// Interactions by id.
    pub interactions: HashMap<u64, Interaction>,
    /// Application commands by id.
    pub commands: BTreeMap<u64, AppCommand>,
    /// Modals open on users' screens, by the id of the interaction they answered.
    pub modals: BTreeMap<u64, OpenModal>,
    /// Message nonces sent with `enforce_nonce`, by (author, nonce): the message made and when.
    pub nonces: HashMap<(u64, String), (u64, Instant)>,
    /// Reactions by message id, in the order the emojis were first added.
    pub reactions: HashMap<u64, Vec<Reaction>>,
}

impl World {
    /// A world with only the bot user in it.
    pub fn new(bot: User) -> Self {
        let mut users = HashMap::new();
        users.insert(bot.id, bot.clone());
        Self {
            bot,
            users,
            guilds: BTreeMap::new(),
            channels: HashMap::new(),
            messages: HashMap::new(),
            interactions: HashMap::new(),
            nonces: HashMap::new(),
            commands: BTreeMap::new(),
            modals: BTreeMap::new(),
            reactions: HashMap::new(),
        }
    }

    /// The guild a channel belongs to.
    pub fn channel_guild(&self, channel_id: u64) -> Option<u64> {
        self.channels.get(&channel_id).and_then(|c| c.guild_id)
    }

    /// Permissions of `user_id` in `channel_id`, computed as Discord documents (base permissions,
    /// then `@everyone`, role and member overwrites). DMs grant the usual DM set.
    pub fn channel_permissions(&self, user_id: u64, channel_id: u64) -> u64 {
        let Some(channel) = self.channels.get(&channel_id) else {
            return 0;
        };
        if let (Some(thread), Some(parent)) = (&channel.thread, channel.parent_id) {
            // A thread has the parent channel's permissions; a private one is hidden from
            // non-members without MANAGE_THREADS.
            let perms = self.channel_permissions(user_id, parent);
            let hidden = channel.kind == ChannelKind::PrivateThread
                && !thread.members.contains_key(&user_id)
                && perms & (PERM_MANAGE_THREADS | PERM_ADMINISTRATOR) == 0;
            return if hidden {
                perms & !PERM_VIEW_CHANNEL
            } else {
                perms
            };
        }
        let Some(guild) = channel.guild_id.and_then(|g| self.guilds.get(&g)) else {
            return DEFAULT_EVERYONE_PERMISSIONS;
        };
        let base = guild.base_permissions(user_id);
        if base & PERM_ADMINISTRATOR != 0 || user_id == guild.owner_id {
            return base;
        }
        let member_roles = guild
            .members
            .get(&user_id)
            .map(|m| m.roles.as_slice())
            .unwrap_or_default();
        let mut perms = base;
        if let Some(o) = channel.overwrites.iter().find(|o| o.id == guild.id) {
            perms = (perms & !o.deny) | o.allow;
        }
        let (mut allow, mut deny) = (0, 0);
        for o in channel
            .overwrites
            .iter()
            .filter(|o| o.kind == 0 && member_roles.contains(&o.id))
        {
            allow |= o.allow;
            deny |= o.deny;
        }
        perms = (perms & !deny) | allow;
        if let Some(o) = channel
            .overwrites
            .iter()
            .find(|o| o.kind == 1 && o.id == user_id)
        {
            perms = (perms & !o.deny) | o.allow;
        }
        perms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64) -> User {
        User {
            id,
            username: format!("u{id}"),
            global_name: None,
            bot: false,
        }
    }

    #[test]
    fn overwrites_apply_in_documented_order() {
        let mut world = World::new(User {
            id: 1,
            username: "bot".into(),
            global_name: None,
            bot: true,
        });
        let guild_id = 100;
        let role = Role {
            id: 200,
            name: "mods".into(),
            permissions: 1 << 2,
            position: 1,
            color: 0,
        };
        let everyone = Role {
            id: guild_id,
            name: "@everyone".into(),
            permissions: 1 << 11,
            position: 0,
            color: 0,
        };
        let mut members = BTreeMap::new();
        members.insert(
            5,
            Member {
                user_id: 5,
                nick: None,
                roles: vec![200],
                joined_at_ms: 0,
                timeout_until: None,
                mute: false,
                deaf: false,
            },
        );
        world.users.insert(5, user(5));
        world.guilds.insert(
            guild_id,
            Guild {
                id: guild_id,
                name: "g".into(),
                owner_id: 9,
                roles: vec![everyone, role],
                channels: vec![300],
                members,
                bans: BTreeMap::new(),
                voice_states: BTreeMap::new(),
                unavailable: false,
                joined_at_ms: 0,
            },
        );
        world.channels.insert(
            300,
            Channel {
                id: 300,
                kind: ChannelKind::Text,
                guild_id: Some(guild_id),
                name: Some("general".into()),
                position: 0,
                parent_id: None,
                overwrites: vec![
                    Overwrite {
                        id: guild_id,
                        kind: 0,
                        allow: 0,
                        deny: 1 << 11,
                    },
                    Overwrite {
                        id: 200,
                        kind: 0,
                        allow: 1 << 11,
                        deny: 0,
                    },
                    Overwrite {
                        id: 5,
                        kind: 1,
                        allow: 0,
                        deny: 1 << 2,
                    },
                ],
                recipients: vec![],
                last_message_id: None,
                thread: None,
            },
        );
        let perms = world.channel_permissions(5, 300);
        assert_eq!(perms & (1 << 11), 1 << 11, "role overwrite re-allows send");
        assert_eq!(perms & (1 << 2), 0, "member overwrite denies ban");
        assert_eq!(
            world.channel_permissions(6, 300),
            0,
            "non-member has nothing"
        );
    }
}
