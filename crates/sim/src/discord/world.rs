//! The simulated Discord world: users, guilds, channels, roles, members, messages, bans,
//! interactions and application commands, with their documented JSON shapes.
//!
//! The world is plain data behind one lock ([`super::Shared::world`]); every mutation that
//! Discord would announce on the gateway is followed by a dispatch through the event bus by the
//! caller (REST handlers, the control API), never from inside this module.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Value, json};

mod channel;
mod guild;
mod interaction;
mod message;

pub use channel::{Channel, ChannelKind, Overwrite, Thread};
pub use guild::{Ban, Guild, Member, Role, VoiceState};
pub use interaction::{AppCommand, Interaction, InteractionState, OpenModal};
pub use message::{Message, Reaction};

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
