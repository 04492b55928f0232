//! Users, guild members and voice states: creation, joins, nickname and role changes,
//! removal, renames, voice channel joins and leaves.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, ControlError, Lookup, snowflake};
use crate::discord::world::{ChannelKind, Member, User, VoiceState};
use crate::util::{random_hex, unix_ms};

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

impl Control {
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

    /// Adds a user to a guild (`GUILD_MEMBER_ADD`).
    pub fn add_member(
        &self,
        guild_id: u64,
        user_id: u64,
        roles: &[u64],
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let user = world.users.found("user", user_id)?.clone();
        let guild = world.guilds.found_mut("guild", guild_id)?;
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

    /// Changes a member's nickname and roles (`GUILD_MEMBER_UPDATE`).
    pub fn update_member(
        &self,
        guild_id: u64,
        user_id: u64,
        nick: Option<&str>,
        roles: &[u64],
    ) -> Result<(), ControlError> {
        let mut world = self.shared.world();
        let user = world.users.found("user", user_id)?.clone();
        let member = world
            .guilds
            .found_mut("guild", guild_id)?
            .members
            .found_mut("member", user_id)?;
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
        let user = world.users.found("user", user_id)?.clone();
        let guild = world.guilds.found_mut("guild", guild_id)?;
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
        let user = world.users.found_mut("user", user_id)?;
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
        let user = world.users.found("user", spec.user_id)?.clone();
        let guild = world.guilds.found_mut("guild", spec.guild_id)?;
        let member = guild.members.found("member", spec.user_id)?.clone();
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
}
