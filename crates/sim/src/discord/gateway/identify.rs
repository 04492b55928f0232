//! IDENTIFY and RESUME: session start (validated, rate limited by bucket) and replay.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::DiscordConfig;

use super::{
    ALL_INTENTS, ConnState, Ending, IdentifyRecord, Inner, Out, PRIVILEGED_INTENTS, Session,
    close_code, note_attached, push_dispatch, random_hex, remaining,
};

impl ConnState {
    pub(super) fn identify(&mut self, d: &Value) -> Option<Ending> {
        if self.session_id.is_some() {
            return Some(self.close(close_code::ALREADY_AUTHENTICATED, "Already authenticated."));
        }
        let mut redacted = d.clone();
        if redacted.get("token").is_some() {
            redacted["token"] = json!("[redacted]");
        }
        self.record("IDENTIFY", redacted);
        let (shard, intents, guild_ids) = match self.check_identify(d) {
            Ok(accepted) => accepted,
            Err(ending) => return Some(ending),
        };
        let config = self.shared.config();
        let mut inner = self.shared.gateway.lock();
        if !self.admit_identify(&mut inner, shard, &config) {
            drop(inner);
            self.send_json(&json!({"op": 9, "d": false, "s": null, "t": null}));
            return None;
        }
        let session = self.start_session(shard, intents, &guild_ids, &config);
        self.session_id = Some(session.id.clone());
        inner.stats.dispatches += session.seq;
        inner.sessions.insert(session.id.clone(), session);
        note_attached(&mut inner, shard);
        None
    }

    /// Checks an IDENTIFY payload as Discord does (token, shard, intents, guilds per shard):
    /// the shard, the intents and the shard's guilds, or the close that refuses it.
    fn check_identify(&self, d: &Value) -> Result<([u32; 2], u64, Vec<u64>), Ending> {
        let config = self.shared.config();
        let (Some(token), Some(intents), Some(_properties)) = (
            d["token"].as_str(),
            d["intents"].as_u64(),
            d["properties"].as_object(),
        ) else {
            return Err(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        if token.strip_prefix("Bot ").unwrap_or(token) != config.token {
            return Err(self.close(close_code::AUTHENTICATION_FAILED, "Authentication failed."));
        }
        let shard = match &d["shard"] {
            Value::Null => [0, 1],
            Value::Array(a) if a.len() == 2 => {
                match (
                    a[0].as_u64().and_then(|v| u32::try_from(v).ok()),
                    a[1].as_u64().and_then(|v| u32::try_from(v).ok()),
                ) {
                    (Some(id), Some(total)) => [id, total],
                    _ => return Err(self.close(close_code::INVALID_SHARD, "Invalid shard.")),
                }
            }
            _ => return Err(self.close(close_code::INVALID_SHARD, "Invalid shard.")),
        };
        if shard[1] == 0 || shard[0] >= shard[1] {
            return Err(self.close(close_code::INVALID_SHARD, "Invalid shard."));
        }
        if intents & !ALL_INTENTS != 0 {
            return Err(self.close(close_code::INVALID_INTENTS, "Invalid intent(s)."));
        }
        if intents & PRIVILEGED_INTENTS & !config.allowed_privileged_intents != 0 {
            return Err(self.close(close_code::DISALLOWED_INTENTS, "Disallowed intent(s)."));
        }
        let guild_ids: Vec<u64> = {
            let world = self.shared.world();
            world
                .guilds
                .keys()
                .copied()
                .filter(|g| (g >> 22) % u64::from(shard[1]) == u64::from(shard[0]))
                .collect()
        };
        if guild_ids.len() > config.max_guilds_per_shard {
            return Err(self.close(close_code::SHARDING_REQUIRED, "Sharding required."));
        }
        Ok((shard, intents, guild_ids))
    }

    /// Whether the identify bucket of `shard` and the session start budget admit a session
    /// now (counted in the identify log either way).
    fn admit_identify(&self, inner: &mut Inner, shard: [u32; 2], config: &DiscordConfig) -> bool {
        let gateway = &self.shared.gateway;
        let bucket = shard[0] % config.max_concurrency.max(1);
        let now = Instant::now();
        let too_fast = inner
            .last_identify
            .get(&bucket)
            .is_some_and(|last| now - *last < config.identify_interval);
        let out_of_starts = remaining(inner, &self.shared) == 0;
        let accepted = !too_fast && !out_of_starts;
        let at_ms = gateway.elapsed_ms();
        inner.stats.identify_log.push(IdentifyRecord {
            at_ms,
            shard,
            bucket,
            accepted,
        });
        if !accepted {
            if too_fast {
                inner.stats.identify_rate_limited += 1;
                tracing::warn!(shard = ?shard, bucket, "identify rate limited (max_concurrency bucket busy)");
            } else {
                tracing::warn!(shard = ?shard, "identify refused: no session starts remaining");
            }
            return false;
        }
        inner.last_identify.insert(bucket, now);
        let left = remaining(inner, &self.shared).saturating_sub(1);
        inner.session_start_remaining = Some(left);
        inner.stats.identifies += 1;
        let window = u64::try_from(config.identify_interval.as_millis()).unwrap_or(5000);
        let in_window = inner
            .stats
            .identify_log
            .iter()
            .filter(|r| r.accepted && r.bucket == bucket && at_ms.saturating_sub(r.at_ms) < window)
            .count() as u64;
        inner.stats.max_identifies_per_bucket_window =
            inner.stats.max_identifies_per_bucket_window.max(in_window);
        true
    }

    /// A new session for `shard`, with READY and (with the `GUILDS` intent) one
    /// `GUILD_CREATE` per guild queued.
    fn start_session(
        &self,
        shard: [u32; 2],
        intents: u64,
        guild_ids: &[u64],
        config: &DiscordConfig,
    ) -> Session {
        let session_id = random_hex(32);
        let mut session = Session {
            id: session_id.clone(),
            shard,
            intents,
            seq: 0,
            buffer: VecDeque::new(),
            conn: Some(self.conn.clone()),
            disconnected_at: None,
        };

        let world = self.shared.world();
        let mut user = world.bot.to_json();
        user["bot"] = json!(true);
        user["verified"] = json!(true);
        user["mfa_enabled"] = json!(false);
        user["email"] = Value::Null;
        let ready = json!({
            "v": 10,
            "user": user,
            "guilds": guild_ids.iter().map(|id| json!({"id": id.to_string(), "unavailable": true})).collect::<Vec<_>>(),
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": self.shared.gateway_url,
            "shard": shard,
            "application": {"id": world.bot.id.to_string(), "flags": 0},
            "user_settings": {},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["simulated"],
            "auth": {},
            "_trace": ["[\"swarmcord-sim\"]"],
        });
        push_dispatch(
            &mut session,
            "READY",
            &ready.to_string(),
            config.replay_buffer,
        );
        let include_members = intents & (1 << 1) != 0;
        if intents & 1 != 0 {
            for id in guild_ids {
                if let Some(guild) = world.guilds.get(id) {
                    let body = guild.to_gateway_json(&world, include_members).to_string();
                    push_dispatch(&mut session, "GUILD_CREATE", &body, config.replay_buffer);
                }
            }
        }
        drop(world);
        session
    }

    pub(super) fn resume(&mut self, d: &Value) -> Option<Ending> {
        if self.session_id.is_some() {
            return Some(self.close(close_code::ALREADY_AUTHENTICATED, "Already authenticated."));
        }
        let mut redacted = d.clone();
        if redacted.get("token").is_some() {
            redacted["token"] = json!("[redacted]");
        }
        self.record("RESUME", redacted);
        let config = self.shared.config();
        let (Some(token), Some(session_id), Some(seq)) = (
            d["token"].as_str(),
            d["session_id"].as_str(),
            d["seq"].as_u64(),
        ) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        if token.strip_prefix("Bot ").unwrap_or(token) != config.token {
            return Some(self.close(close_code::AUTHENTICATION_FAILED, "Authentication failed."));
        }
        let mut inner = self.shared.gateway.lock();
        let now = Instant::now();
        let valid = inner.sessions.get(session_id).is_some_and(|s| {
            s.conn.is_some()
                || s.disconnected_at
                    .is_none_or(|at| now - at <= config.resume_window)
        });
        if !valid {
            inner.sessions.remove(session_id);
            inner.stats.failed_resumes += 1;
            drop(inner);
            self.send_json(&json!({"op": 9, "d": false, "s": null, "t": null}));
            return None;
        }
        let session = inner.sessions.get_mut(session_id)?;
        if seq > session.seq {
            drop(inner);
            return Some(self.close(close_code::INVALID_SEQ, "Invalid seq."));
        }
        let covered = seq == session.seq
            || session
                .buffer
                .front()
                .is_some_and(|(first, _)| *first <= seq + 1);
        if !covered {
            inner.sessions.remove(session_id);
            inner.stats.failed_resumes += 1;
            drop(inner);
            self.send_json(&json!({"op": 9, "d": false, "s": null, "t": null}));
            return None;
        }
        let took_over = session.conn.take().map(|old| old.send(Out::Drop)).is_some();
        let mut replayed = 0;
        for (s, frame) in &session.buffer {
            if *s > seq {
                self.conn.send(Out::Frame(Arc::clone(frame)));
                replayed += 1;
            }
        }
        session.conn = Some(self.conn.clone());
        session.disconnected_at = None;
        push_dispatch(
            session,
            "RESUMED",
            r#"{"_trace":["[\"swarmcord-sim\"]"]}"#,
            config.replay_buffer,
        );
        let shard = session.shard;
        inner.stats.resumes += 1;
        inner.stats.resumes_replacing_a_connection += u64::from(took_over);
        note_attached(&mut inner, shard);
        inner.stats.replayed += replayed;
        inner.stats.dispatches += replayed + 1;
        self.session_id = Some(session_id.to_owned());
        None
    }
}
