//! Control API additions for the cache's tests: the guild changes Discord announces with
//! `GUILD_UPDATE`, `CHANNEL_*`, `GUILD_ROLE_UPDATE`/`DELETE`, `GUILD_MEMBER_UPDATE`/`REMOVE`,
//! `USER_UPDATE` and outages. Each mutates the world, then dispatches what Discord would.

use serde_json::{Value, json};

use super::{Control, ControlError};
use crate::discord::world::{Channel, ChannelKind, Overwrite};

impl Control {
    fn dispatch_guild(&self, guild_id: u64, event: &str, data: Value) {
        self.shared.dispatch(Some(guild_id), event, data);
    }

    /// Renames a guild (`GUILD_UPDATE`).
    pub fn update_guild(&self, guild_id: u64, name: &str) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
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
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
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

    /// Changes a member's nickname and roles (`GUILD_MEMBER_UPDATE`).
    pub fn update_member(
        &self,
        guild_id: u64,
        user_id: u64,
        nick: Option<&str>,
        roles: &[u64],
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let user = world
            .users
            .get(&user_id)
            .cloned()
            .ok_or(ControlError::Unknown("user", user_id))?;
        let member = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?
            .members
            .get_mut(&user_id)
            .ok_or(ControlError::Unknown("member", user_id))?;
        member.nick = nick.map(str::to_owned);
        member.roles = roles.to_vec();
        let mut payload = member.to_json(&user);
        payload["guild_id"] = json!(guild_id.to_string());
        drop(world);
        self.dispatch_guild(guild_id, "GUILD_MEMBER_UPDATE", payload);
        Ok(())
    }

    /// Removes a member from a guild (`GUILD_MEMBER_REMOVE`); their voice state goes too.
    pub fn remove_member(&self, guild_id: u64, user_id: u64) -> Result<(), ControlError> {
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
        guild
            .members
            .remove(&user_id)
            .ok_or(ControlError::Unknown("member", user_id))?;
        guild.voice_states.remove(&user_id);
        drop(world);
        self.dispatch_guild(
            guild_id,
            "GUILD_MEMBER_REMOVE",
            json!({"guild_id": guild_id.to_string(), "user": user.to_json()}),
        );
        Ok(())
    }

    /// Renames a user: `GUILD_MEMBER_UPDATE` in every guild they are in, and `USER_UPDATE`
    /// when the user is the bot.
    pub fn rename_user(&self, user_id: u64, name: &str) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let user = world
            .users
            .get_mut(&user_id)
            .ok_or(ControlError::Unknown("user", user_id))?;
        name.clone_into(&mut user.username);
        user.global_name = Some(name.to_owned());
        let user = user.clone();
        if world.bot.id == user_id {
            world.bot = user.clone();
        }
        let updates: Vec<(u64, Value)> = world
            .guilds
            .values()
            .filter_map(|g| {
                let mut payload = g.members.get(&user_id)?.to_json(&user);
                payload["guild_id"] = json!(g.id.to_string());
                Some((g.id, payload))
            })
            .collect();
        let is_bot = world.bot.id == user_id;
        drop(world);
        if is_bot {
            self.shared.dispatch(None, "USER_UPDATE", user.to_json());
        }
        for (guild_id, payload) in updates {
            self.dispatch_guild(guild_id, "GUILD_MEMBER_UPDATE", payload);
        }
        Ok(())
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
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?
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
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
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
        let guild = world
            .guilds
            .get_mut(&guild_id)
            .ok_or(ControlError::Unknown("guild", guild_id))?;
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
        let channel = world
            .channels
            .get_mut(&channel_id)
            .ok_or(ControlError::Unknown("channel", channel_id))?;
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
