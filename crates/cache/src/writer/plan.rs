//! From one dispatch to the Redis commands that bring the cache up to date with it, one
//! function per event and entity (the order of the commands within an update matters: see
//! [`CacheWriter::guild_create`]).

use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;

use super::{CacheWriter, Update, cmd, json};
use crate::config::Resource;
use crate::model::{CachedChannel, CachedGuild, CachedUser, CachedVoiceState};
use crate::wire;

type Parsed = Result<(), serde_json::Error>;

impl CacheWriter {
    /// The update of one dispatch, or the error if its payload cannot be read.
    pub(super) fn plan(
        &self,
        shard_id: u32,
        shard_count: u32,
        kind: &str,
        payload: &[u8],
    ) -> Result<Update, serde_json::Error> {
        let mut u = Update::default();
        match kind {
            "READY" => {
                let ready = serde_json::from_slice(payload)?;
                self.ready(&mut u, shard_id, shard_count, &ready);
            }
            "GUILD_CREATE" => {
                let create = serde_json::from_slice(payload)?;
                self.guild_create(&mut u, shard_id, shard_count, &create);
            }
            "GUILD_UPDATE" => self.guild_update(&mut u, serde_json::from_slice(payload)?),
            "GUILD_DELETE" => {
                let deleted = serde_json::from_slice(payload)?;
                self.guild_delete(&mut u, shard_id, shard_count, &deleted);
            }
            "GUILD_EMOJIS_UPDATE" => self.emojis_update(&mut u, &serde_json::from_slice(payload)?),
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" => {
                self.channel_set(&mut u, &serde_json::from_slice(payload)?);
            }
            "CHANNEL_DELETE" => self.channel_delete(&mut u, &serde_json::from_slice(payload)?),
            "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" => {
                self.role_set(&mut u, &serde_json::from_slice(payload)?);
            }
            "GUILD_ROLE_DELETE" => self.role_delete(&mut u, &serde_json::from_slice(payload)?),
            "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" => {
                let added = kind == "GUILD_MEMBER_ADD";
                self.member_set(&mut u, added, &serde_json::from_slice(payload)?)?;
            }
            "GUILD_MEMBER_REMOVE" => self.member_remove(&mut u, &serde_json::from_slice(payload)?),
            "GUILD_MEMBERS_CHUNK" => self.members_chunk(&mut u, &serde_json::from_slice(payload)?),
            "USER_UPDATE" => self.user_update(&mut u, &serde_json::from_slice(payload)?),
            "VOICE_STATE_UPDATE" => {
                let event: wire::VoiceStateUpdate = serde_json::from_slice(payload)?;
                // Voice states outside guilds (DM calls) are not cached.
                if let Some(guild) = event.guild_id {
                    u.push_previous(self.voice(guild, &event.state));
                }
            }
            "PRESENCE_UPDATE" => {
                let presence: wire::Presence = serde_json::from_slice(payload)?;
                if let Some(guild) = presence.guild_id {
                    self.put_presences(&mut u, guild, std::slice::from_ref(&presence));
                }
            }
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" => {
                let updated = kind == "MESSAGE_UPDATE";
                self.message_set(&mut u, updated, &serde_json::from_slice(payload)?);
            }
            "MESSAGE_DELETE" => {
                let event: wire::MessageDelete = serde_json::from_slice(payload)?;
                u.push(cmd("DEL").arg(self.keys.message(event.id)).clone());
            }
            "MESSAGE_DELETE_BULK" => {
                self.messages_delete(&mut u, &serde_json::from_slice(payload)?);
            }
            _ => {}
        }
        Ok(u)
    }

    /// A new session: whatever this shard cached before may have missed events.
    fn ready(&self, u: &mut Update, shard_id: u32, shard_count: u32, ready: &wire::Ready) {
        let keys = &self.keys;
        let mut purge = self.scripts.purge_shard.call(0);
        purge
            .arg(keys.base())
            .arg(keys.shard_guilds(shard_id, shard_count));
        u.push(purge);
        if !ready.guilds.is_empty() {
            let ids: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
            u.push(cmd("SADD").arg(keys.unavailable()).arg(&ids).clone());
        }
        if self.on(Resource::Users) {
            self.put_users(u, std::slice::from_ref(&ready.user));
        }
        self.record_ready(u, shard_id, shard_count, ready);
    }

    /// A guild, complete: everything cached about it before is replaced.
    fn guild_create(
        &self,
        u: &mut Update,
        shard_id: u32,
        shard_count: u32,
        create: &wire::GuildCreate,
    ) {
        let keys = &self.keys;
        let guild = create.id;
        // Start from nothing: what was cached may have missed events.
        u.push(self.purge(guild));
        let Some(cached) = create.guild() else {
            u.push(cmd("SADD").arg(keys.unavailable()).arg(guild.get()).clone());
            self.record_guild(u, shard_id, shard_count, guild, true);
            return;
        };
        if self.on(Resource::Roles) && !create.roles.is_empty() {
            let mut c = cmd("HSET");
            c.arg(keys.roles(guild));
            for role in &create.roles {
                c.arg(role.id.get()).arg(json(role));
            }
            u.push(c);
        }
        if self.on(Resource::Channels) && !create.channels.is_empty() {
            let mut c = cmd("HSET");
            c.arg(keys.channels());
            let mut index = cmd("SADD");
            index.arg(keys.guild_channels(guild));
            for channel in &create.channels {
                let mut channel = channel.clone();
                channel.guild_id = Some(guild);
                c.arg(channel.id.get()).arg(json(&channel));
                index.arg(channel.id.get());
            }
            u.push(c);
            u.push(index);
        }
        if self.on(Resource::Emojis) && !create.emojis.is_empty() {
            let mut c = cmd("HSET");
            c.arg(keys.emojis(guild));
            for emoji in &create.emojis {
                c.arg(emoji.id.get()).arg(json(emoji));
            }
            u.push(c);
        }
        self.put_members(u, guild, &create.members);
        if self.on(Resource::VoiceStates) {
            for state in &create.voice_states {
                if state.channel_id.is_some() {
                    u.push(self.voice(guild, state));
                }
            }
        }
        if self.on(Resource::Presences) {
            self.put_presences(u, guild, &create.presences);
        }
        if let Some(count) = create.member_count {
            u.push(
                cmd("HSET")
                    .arg(keys.member_counts())
                    .arg(guild.get())
                    .arg(count)
                    .clone(),
            );
        }
        self.record_guild(u, shard_id, shard_count, guild, true);
        if self.on(Resource::Guilds) {
            // Last: the guild entry says "roles and channels are complete".
            u.push(
                cmd("HSET")
                    .arg(keys.guilds())
                    .arg(guild.get())
                    .arg(json(&cached))
                    .clone(),
            );
        }
    }

    fn guild_update(&self, u: &mut Update, mut guild: CachedGuild) {
        guild.joined_at = None;
        guild.large = false;
        let mut c = self.scripts.guild_update.call(0);
        c.arg(self.keys.base())
            .arg(guild.id.get())
            .arg(json(&guild));
        u.push_previous(c);
    }

    fn guild_delete(
        &self,
        u: &mut Update,
        shard_id: u32,
        shard_count: u32,
        deleted: &wire::GuildId,
    ) {
        u.push(self.purge(deleted.id));
        if deleted.unavailable == Some(true) {
            // An outage: the guild comes back with a GUILD_CREATE.
            u.push(
                cmd("SADD")
                    .arg(self.keys.unavailable())
                    .arg(deleted.id.get())
                    .clone(),
            );
        } else {
            self.record_guild(u, shard_id, shard_count, deleted.id, false);
        }
    }

    fn emojis_update(&self, u: &mut Update, event: &wire::EmojisUpdate) {
        let key = self.keys.emojis(event.guild_id);
        u.push(cmd("DEL").arg(&key).clone());
        if !event.emojis.is_empty() {
            let mut c = cmd("HSET");
            c.arg(&key);
            for emoji in &event.emojis {
                c.arg(emoji.id.get()).arg(json(emoji));
            }
            u.push(c);
        }
    }

    fn channel_set(&self, u: &mut Update, channel: &CachedChannel) {
        let keys = &self.keys;
        let mut c = self.set_field();
        c.arg(keys.channels())
            .arg(channel.id.get())
            .arg(json(channel));
        u.push_previous(c);
        if let Some(guild) = channel.guild_id {
            u.push(
                cmd("SADD")
                    .arg(keys.guild_channels(guild))
                    .arg(channel.id.get())
                    .clone(),
            );
        }
    }

    fn channel_delete(&self, u: &mut Update, channel: &wire::ChannelRef) {
        let keys = &self.keys;
        let mut c = self.del_field();
        c.arg(keys.channels()).arg(channel.id.get());
        u.push_previous(c);
        if let Some(guild) = channel.guild_id {
            u.push(
                cmd("SREM")
                    .arg(keys.guild_channels(guild))
                    .arg(channel.id.get())
                    .clone(),
            );
        }
        u.push(cmd("DEL").arg(keys.voice_channel(channel.id)).clone());
    }

    fn role_set(&self, u: &mut Update, event: &wire::RoleEvent) {
        let mut c = self.set_field();
        c.arg(self.keys.roles(event.guild_id))
            .arg(event.role.id.get())
            .arg(json(&event.role));
        u.push_previous(c);
    }

    fn role_delete(&self, u: &mut Update, event: &wire::RoleDelete) {
        let mut c = self.del_field();
        c.arg(self.keys.roles(event.guild_id))
            .arg(event.role_id.get());
        u.push_previous(c);
    }

    /// `GUILD_MEMBER_ADD` (`added`) or `GUILD_MEMBER_UPDATE`.
    fn member_set(&self, u: &mut Update, added: bool, member: &wire::Member) -> Parsed {
        let Some(guild) = member.guild_id else {
            return Err(serde::de::Error::missing_field("guild_id"));
        };
        if self.on(Resource::Members) {
            let user = member.user.id;
            if added {
                // Counted once, however often the event is replayed.
                let mut c = self.scripts.member_add.call(0);
                c.arg(self.keys.base())
                    .arg(guild.get())
                    .arg(user.get())
                    .arg(json(&member.cached()));
                u.push_previous(c);
            } else {
                let mut c = self.set_field();
                c.arg(self.keys.members(guild))
                    .arg(user.get())
                    .arg(json(&member.cached()));
                u.push_previous(c);
                u.push(
                    cmd("SADD")
                        .arg(self.keys.user_guilds(user))
                        .arg(guild.get())
                        .clone(),
                );
            }
        }
        if self.on(Resource::Users) {
            self.put_users(u, std::slice::from_ref(&member.user));
        }
        Ok(())
    }

    fn member_remove(&self, u: &mut Update, event: &wire::MemberRemove) {
        let mut c = self.scripts.member_remove.call(0);
        c.arg(self.keys.base())
            .arg(event.guild_id.get())
            .arg(event.user.id.get());
        u.push_previous(c);
    }

    fn members_chunk(&self, u: &mut Update, chunk: &wire::MembersChunk) {
        self.put_members(u, chunk.guild_id, &chunk.members);
        if self.on(Resource::Presences) {
            self.put_presences(u, chunk.guild_id, &chunk.presences);
        }
    }

    fn user_update(&self, u: &mut Update, user: &CachedUser) {
        let mut c = self.set_field();
        c.arg(self.keys.users()).arg(user.id.get()).arg(json(user));
        u.push_previous(c);
    }

    /// `MESSAGE_CREATE`, or `MESSAGE_UPDATE` (`updated`: only a message still cached).
    fn message_set(&self, u: &mut Update, updated: bool, message: &wire::Message) {
        if let Some(cached) = message.cached() {
            let mut c = cmd("SET");
            c.arg(self.keys.message(message.id))
                .arg(json(&cached))
                .arg("PX")
                .arg(
                    u64::try_from(self.config.message_ttl.as_millis())
                        .unwrap_or(u64::MAX)
                        .max(1),
                );
            if updated {
                c.arg("XX");
            }
            u.push(c);
        }
    }

    fn messages_delete(&self, u: &mut Update, event: &wire::MessageDeleteBulk) {
        if !event.ids.is_empty() {
            let mut c = cmd("DEL");
            for id in &event.ids {
                c.arg(self.keys.message(*id));
            }
            u.push(c);
        }
    }

    fn voice(&self, guild: Id<GuildMarker>, state: &CachedVoiceState) -> redis::Cmd {
        let mut c = self.scripts.voice.call(0);
        c.arg(self.keys.base())
            .arg(guild.get())
            .arg(state.user_id.get());
        match state.channel_id {
            Some(channel) => c.arg(json(state)).arg(channel.get()),
            None => c.arg("").arg(""),
        };
        c
    }

    fn put_members(&self, u: &mut Update, guild: Id<GuildMarker>, members: &[wire::Member]) {
        if members.is_empty() {
            return;
        }
        if self.on(Resource::Members) {
            let mut c = cmd("HSET");
            c.arg(self.keys.members(guild));
            for member in members {
                c.arg(member.user.id.get()).arg(json(&member.cached()));
            }
            u.push(c);
            for member in members {
                u.push(
                    cmd("SADD")
                        .arg(self.keys.user_guilds(member.user.id))
                        .arg(guild.get())
                        .clone(),
                );
            }
        }
        if self.on(Resource::Users) {
            let users: Vec<&CachedUser> = members.iter().map(|m| &m.user).collect();
            self.put_user_refs(u, &users);
        }
    }

    fn put_users(&self, u: &mut Update, users: &[CachedUser]) {
        let refs: Vec<&CachedUser> = users.iter().collect();
        self.put_user_refs(u, &refs);
    }

    fn put_user_refs(&self, u: &mut Update, users: &[&CachedUser]) {
        if users.is_empty() {
            return;
        }
        let mut c = cmd("HSET");
        c.arg(self.keys.users());
        for user in users {
            c.arg(user.id.get()).arg(json(user));
        }
        u.push(c);
    }

    fn put_presences(&self, u: &mut Update, guild: Id<GuildMarker>, presences: &[wire::Presence]) {
        if presences.is_empty() {
            return;
        }
        let mut c = cmd("HSET");
        c.arg(self.keys.presences(guild));
        for presence in presences {
            c.arg(presence.user.id.get()).arg(json(&presence.cached()));
        }
        u.push(c);
    }
}
