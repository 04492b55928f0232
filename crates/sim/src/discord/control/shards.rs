//! The gateway side: raw dispatches, load tests (blasts), forced shard faults, sessions and
//! gateway counters.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, ControlError, snowflake};
use crate::discord::gateway::{GatewayStats, SessionInfo, ShardAction};
use crate::discord::world::Message;
use crate::util::unix_ms;

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

impl Control {
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

    /// Forces a gateway fault or message on the connections of shard id `shard_id` (of every
    /// shard count).
    pub fn shard_action(&self, shard_id: u32, action: ShardAction) -> usize {
        self.shared.gateway.shard_action(shard_id, action)
    }

    /// Closes the connections of shard id `shard_id` (of every shard count) with a close frame
    /// carrying `code`.
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
}
