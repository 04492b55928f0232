//! Guilds, their roles and channels: creation (the bot joins), changes Discord announces
//! (`GUILD_UPDATE`, `GUILD_ROLE_*`, `CHANNEL_*`), outages and removal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, ControlError, Lookup, snowflake};
use crate::discord::world::{
    Channel, ChannelKind, DEFAULT_EVERYONE_PERMISSIONS, Guild, Member, Overwrite, Role,
};
use crate::util::unix_ms;

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

impl Control {
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
            self.dispatch_guild(id, "GUILD_CREATE", payload);
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

    /// The ground-truth `GUILD_CREATE` payload of a guild.
    pub fn guild_json(&self, guild_id: u64) -> Option<Value> {
        let world = self.shared.world();
        world
            .guilds
            .get(&guild_id)
            .map(|g| g.to_gateway_json(&world, true))
    }

    /// Renames a guild (`GUILD_UPDATE`).
    pub fn update_guild(&self, guild_id: u64, name: &str) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let guild = world.guilds.found_mut("guild", guild_id)?;
        name.clone_into(&mut guild.name);
        let payload = guild.to_json();
        drop(world);
        self.dispatch_guild(guild_id, "GUILD_UPDATE", payload);
        Ok(())
    }

    /// Puts a guild into an outage (`GUILD_DELETE` with `unavailable: true`) or ends it (a
    /// full `GUILD_CREATE`).
    pub fn set_guild_unavailable(
        &self,
        guild_id: u64,
        unavailable: bool,
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let guild = world.guilds.found_mut("guild", guild_id)?;
        guild.unavailable = unavailable;
        let payload = if unavailable {
            json!({"id": guild_id.to_string(), "unavailable": true})
        } else {
            let guild = guild.clone();
            guild.to_gateway_json(&world, true)
        };
        drop(world);
        let event = if unavailable {
            "GUILD_DELETE"
        } else {
            "GUILD_CREATE"
        };
        self.dispatch_guild(guild_id, event, payload);
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
        let guild = world.guilds.found_mut("guild", guild_id)?;
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

    /// Renames a role and sets its permissions (`GUILD_ROLE_UPDATE`).
    pub fn update_role(
        &self,
        guild_id: u64,
        role_id: u64,
        name: &str,
        permissions: u64,
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let role = world
            .guilds
            .found_mut("guild", guild_id)?
            .roles
            .iter_mut()
            .find(|r| r.id == role_id)
            .ok_or(ControlError::Unknown("role", role_id))?;
        name.clone_into(&mut role.name);
        role.permissions = permissions;
        let payload = json!({"guild_id": guild_id.to_string(), "role": role.to_json()});
        drop(world);
        self.dispatch_guild(guild_id, "GUILD_ROLE_UPDATE", payload);
        Ok(())
    }

    /// Deletes a role (`GUILD_ROLE_DELETE`). As on Discord, members lose the role without a
    /// `GUILD_MEMBER_UPDATE` each.
    pub fn delete_role(&self, guild_id: u64, role_id: u64) -> Result<(), ControlError> {
        if role_id == guild_id {
            return Err(ControlError::Invalid(
                "@everyone cannot be deleted".to_owned(),
            ));
        }
        let mut world = self.shared.world();
        let guild = world.guilds.found_mut("guild", guild_id)?;
        let before = guild.roles.len();
        guild.roles.retain(|r| r.id != role_id);
        if guild.roles.len() == before {
            return Err(ControlError::Unknown("role", role_id));
        }
        for member in guild.members.values_mut() {
            member.roles.retain(|r| *r != role_id);
        }
        drop(world);
        self.dispatch_guild(
            guild_id,
            "GUILD_ROLE_DELETE",
            json!({"guild_id": guild_id.to_string(), "role_id": role_id.to_string()}),
        );
        Ok(())
    }

    /// Creates a text or voice channel (`CHANNEL_CREATE`).
    pub fn create_channel(
        &self,
        guild_id: u64,
        kind: ChannelKind,
        name: &str,
    ) -> Result<u64, ControlError> {
        if !matches!(
            kind,
            ChannelKind::Text | ChannelKind::Voice | ChannelKind::Category
        ) {
            return Err(ControlError::Invalid("not a guild channel type".to_owned()));
        }
        let id = self.shared.ids.next();
        let mut world = self.shared.world();
        let guild = world.guilds.found_mut("guild", guild_id)?;
        let position = i64::try_from(guild.channels.len()).unwrap_or(i64::MAX);
        guild.channels.push(id);
        let channel = Channel {
            id,
            kind,
            guild_id: Some(guild_id),
            name: Some(name.to_owned()),
            position,
            parent_id: None,
            overwrites: Vec::new(),
            recipients: Vec::new(),
            last_message_id: None,
            thread: None,
        };
        let payload = channel.to_json(&world.users);
        world.channels.insert(id, channel);
        drop(world);
        self.dispatch_guild(guild_id, "CHANNEL_CREATE", payload);
        Ok(id)
    }

    /// Renames a guild channel and replaces its permission overwrites (`CHANNEL_UPDATE`).
    pub fn update_channel(
        &self,
        channel_id: u64,
        name: &str,
        overwrites: Vec<Overwrite>,
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let channel = world.channels.found_mut("channel", channel_id)?;
        let guild_id = channel
            .guild_id
            .ok_or_else(|| ControlError::Invalid("not a guild channel".to_owned()))?;
        channel.name = Some(name.to_owned());
        channel.overwrites = overwrites;
        let channel = channel.clone();
        let payload = channel.to_json(&world.users);
        drop(world);
        self.dispatch_guild(guild_id, "CHANNEL_UPDATE", payload);
        Ok(())
    }

    /// Deletes a guild channel (`CHANNEL_DELETE`); users connected to it are disconnected
    /// first (`VOICE_STATE_UPDATE` with no channel).
    pub fn delete_channel(&self, channel_id: u64) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let channel = world
            .channels
            .remove(&channel_id)
            .ok_or(ControlError::Unknown("channel", channel_id))?;
        let guild_id = channel
            .guild_id
            .ok_or_else(|| ControlError::Invalid("not a guild channel".to_owned()))?;
        let payload = channel.to_json(&world.users);
        let mut disconnects = Vec::new();
        if let Some(guild) = world.guilds.get_mut(&guild_id) {
            guild.channels.retain(|c| *c != channel_id);
            let gone: Vec<u64> = guild
                .voice_states
                .values()
                .filter(|s| s.channel_id == Some(channel_id))
                .map(|s| s.user_id)
                .collect();
            for user_id in gone {
                if let Some(mut state) = guild.voice_states.remove(&user_id) {
                    state.channel_id = None;
                    disconnects.push(state.to_json(guild_id, None));
                }
            }
        }
        drop(world);
        for state in disconnects {
            self.dispatch_guild(guild_id, "VOICE_STATE_UPDATE", state);
        }
        self.dispatch_guild(guild_id, "CHANNEL_DELETE", payload);
        Ok(())
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
