//! The other client payloads: presence updates, voice state updates, member requests.

use serde_json::{Value, json};

use super::{
    ChannelKind, ConnState, Ending, MEMBERS_PER_CHUNK, VoiceState, close_code, random_hex,
    snowflake,
};

impl ConnState {
    pub(super) fn presence_update(&self, d: Value) -> Option<Ending> {
        let valid = d["status"]
            .as_str()
            .is_some_and(|s| matches!(s, "online" | "dnd" | "idle" | "invisible" | "offline"))
            && d["activities"].is_array()
            && d["afk"].is_boolean();
        if !valid {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        }
        self.record("PRESENCE_UPDATE", d);
        None
    }

    pub(super) fn voice_state_update(&self, d: Value) -> Option<Ending> {
        // Snowflakes may be strings or integers (Discord's ID serialization).
        let guild_id = snowflake(&d["guild_id"]);
        let channel_id = match &d["channel_id"] {
            Value::Null => Some(None),
            other => snowflake(other).map(Some),
        };
        let (Some(guild_id), Some(channel_id), Some(self_mute), Some(self_deaf)) = (
            guild_id,
            channel_id,
            d["self_mute"].as_bool(),
            d["self_deaf"].as_bool(),
        ) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        self.record("VOICE_STATE_UPDATE", d);
        let events = {
            let mut world = self.shared.world();
            let bot_id = world.bot.id;
            let valid_channel = channel_id.is_none_or(|c| {
                world.channels.get(&c).is_some_and(|ch| {
                    ch.guild_id == Some(guild_id) && ch.kind == ChannelKind::Voice
                })
            });
            if !valid_channel || !world.guilds.contains_key(&guild_id) {
                return None;
            }
            let session_id = random_hex(32);
            let state = VoiceState {
                user_id: bot_id,
                channel_id,
                session_id,
                self_mute,
                self_deaf,
            };
            let member = world
                .guilds
                .get(&guild_id)
                .and_then(|g| g.members.get(&bot_id))
                .cloned();
            let bot = world.bot.clone();
            let state_json = state.to_json(guild_id, member.as_ref().map(|m| (m, &bot)));
            if let Some(guild) = world.guilds.get_mut(&guild_id) {
                if channel_id.is_some() {
                    guild.voice_states.insert(bot_id, state);
                } else {
                    guild.voice_states.remove(&bot_id);
                }
            }
            let mut events = vec![("VOICE_STATE_UPDATE", state_json)];
            if channel_id.is_some() {
                let endpoint = self
                    .shared
                    .gateway_url
                    .trim_start_matches("ws://")
                    .to_owned();
                events.push((
                    "VOICE_SERVER_UPDATE",
                    json!({"token": random_hex(16), "guild_id": guild_id.to_string(), "endpoint": endpoint}),
                ));
            }
            events
        };
        for (event, data) in events {
            self.shared.dispatch(Some(guild_id), event, data);
        }
        None
    }

    pub(super) fn request_members(&self, d: &Value) -> Option<Ending> {
        let Some(guild_id) = snowflake(&d["guild_id"]) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        self.record("REQUEST_GUILD_MEMBERS", d.clone());
        let query = d["query"].as_str().map(str::to_lowercase);
        let user_ids: Option<Vec<u64>> = match &d["user_ids"] {
            Value::Array(a) => Some(a.iter().filter_map(snowflake).collect()),
            one => snowflake(one).map(|id| vec![id]),
        };
        let limit = d["limit"]
            .as_u64()
            .filter(|l| *l > 0)
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let nonce = d["nonce"].clone();
        let chunks: Vec<Value> = {
            let world = self.shared.world();
            let guild = world.guilds.get(&guild_id)?;
            let mut not_found = Vec::new();
            let members: Vec<Value> = if let Some(ids) = &user_ids {
                ids.iter()
                    .filter_map(|id| {
                        let found = guild.members.get(id).zip(world.users.get(id));
                        if found.is_none() {
                            not_found.push(id.to_string());
                        }
                        found.map(|(m, u)| m.to_json(u))
                    })
                    .collect()
            } else {
                guild
                    .members
                    .values()
                    .filter_map(|m| world.users.get(&m.user_id).map(|u| (m, u)))
                    .filter(|(_, u)| {
                        query
                            .as_deref()
                            .is_none_or(|q| u.username.to_lowercase().starts_with(q))
                    })
                    .take(limit)
                    .map(|(m, u)| m.to_json(u))
                    .collect()
            };
            let count = members.len().div_ceil(MEMBERS_PER_CHUNK).max(1);
            let mut chunks: Vec<Value> = members
                .chunks(MEMBERS_PER_CHUNK)
                .enumerate()
                .map(|(i, c)| json!({"guild_id": guild_id.to_string(), "members": c, "chunk_index": i, "chunk_count": count}))
                .collect();
            if chunks.is_empty() {
                chunks.push(json!({"guild_id": guild_id.to_string(), "members": [], "chunk_index": 0, "chunk_count": 1}));
            }
            for chunk in &mut chunks {
                if !nonce.is_null() {
                    chunk["nonce"] = nonce.clone();
                }
            }
            if !not_found.is_empty() {
                chunks[0]["not_found"] = json!(not_found);
            }
            chunks
        };
        for chunk in chunks {
            self.shared
                .dispatch(Some(guild_id), "GUILD_MEMBERS_CHUNK", chunk);
        }
        None
    }
}
