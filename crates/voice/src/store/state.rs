//! What the voice store keeps per guild and per node: the loop mode, queue entries, the
//! voice connection, the player state, and node load.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Result, VoiceStoreError};
use crate::model::Track;

/// What repeats when a track ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopMode {
    /// Nothing: the queue plays once.
    #[default]
    Off,
    /// The current track.
    Track,
    /// The whole queue (a finished track goes to its end).
    Queue,
}

impl LoopMode {
    /// `off`, `track` or `queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Track => "track",
            Self::Queue => "queue",
        }
    }

    /// Parses `off`/`track`/`queue` (and `none`, `song`, `all`).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Some(Self::Off),
            "track" | "song" | "one" => Some(Self::Track),
            "queue" | "all" => Some(Self::Queue),
            _ => None,
        }
    }
}

/// One queued track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique per guild (a counter); attached to the track as `userData.entry`.
    #[serde(skip)]
    pub id: String,
    /// The track.
    pub track: Track,
    /// Who asked for it.
    #[serde(default)]
    pub requester: String,
}

impl Entry {
    pub(super) fn encode(&self) -> String {
        format!(
            "{}|{}",
            self.id,
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    pub(super) fn decode(raw: &str) -> Result<Self> {
        let (id, json) = raw
            .split_once('|')
            .ok_or_else(|| VoiceStoreError::Corrupt("queue entry without id".to_owned()))?;
        let mut entry: Self =
            serde_json::from_str(json).map_err(|e| VoiceStoreError::Corrupt(e.to_string()))?;
        id.clone_into(&mut entry.id);
        Ok(entry)
    }

    /// The track as Lavalink's `track` update object, tagged with this entry's id.
    pub fn track_update(&self) -> serde_json::Value {
        serde_json::json!({"encoded": self.track.encoded, "userData": {"entry": self.id}})
    }
}

/// The bot's voice connection in a guild, as Discord gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceConnection {
    /// `VOICE_STATE_UPDATE.session_id`.
    pub session_id: Option<String>,
    /// `VOICE_SERVER_UPDATE.token`.
    pub token: Option<String>,
    /// `VOICE_SERVER_UPDATE.endpoint`.
    pub endpoint: Option<String>,
    /// The channel the bot is in.
    pub channel_id: Option<u64>,
}

impl VoiceConnection {
    /// Lavalink's `voice` object (≥ 4.2 wants `channelId` too), when everything is known.
    pub fn lavalink_voice(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "token": self.token.as_ref()?,
            "endpoint": self.endpoint.as_ref()?,
            "sessionId": self.session_id.as_ref()?,
            "channelId": self.channel_id?.to_string(),
        }))
    }
}

/// A guild's player, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuildVoice {
    /// The guild.
    pub guild_id: u64,
    /// The Lavalink node (by name) holding the player.
    pub node: Option<String>,
    /// Where the music commands were used.
    pub text_channel: Option<u64>,
    /// The voice channel the bot was asked to join.
    pub voice_channel: Option<u64>,
    /// 0–1000.
    pub volume: u16,
    /// Whether paused.
    pub paused: bool,
    /// Loop mode.
    pub loop_mode: LoopMode,
    /// What plays now.
    pub current: Option<Entry>,
    /// Last known position, ms.
    pub position_ms: u64,
    /// When `position_ms` was true, Unix ms.
    pub position_at_ms: u64,
    /// The bot's Discord voice connection.
    pub voice: VoiceConnection,
}

impl GuildVoice {
    /// The position now: the last known one plus the time since, unless paused; capped at
    /// the track's length.
    pub fn position_now(&self, now_ms: u64) -> u64 {
        let Some(current) = &self.current else {
            return 0;
        };
        let elapsed = if self.paused {
            0
        } else {
            now_ms.saturating_sub(self.position_at_ms)
        };
        let position = self.position_ms.saturating_add(elapsed);
        if current.track.info.is_stream {
            position
        } else {
            position.min(current.track.info.length)
        }
    }

    /// Lavalink's full player update: track at its position, pause, volume and voice. Used
    /// to (re)create the player on a node.
    pub fn full_update(&self, now_ms: u64) -> serde_json::Value {
        let mut update = serde_json::json!({
            "volume": self.volume,
            "paused": self.paused,
        });
        if let Some(current) = &self.current {
            update["track"] = current.track_update();
            update["position"] = self.position_now(now_ms).into();
        }
        if let Some(voice) = self.voice.lavalink_voice() {
            update["voice"] = voice;
        }
        update
    }

    pub(super) fn from_hash(guild_id: u64, map: &HashMap<String, String>) -> Result<Self> {
        let num = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok());
        let text = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        let current = match (map.get("current_id"), map.get("current")) {
            (Some(_), Some(raw)) => Some(Entry::decode(raw)?),
            _ => None,
        };
        Ok(Self {
            guild_id,
            node: text("node"),
            text_channel: num("text_channel"),
            voice_channel: num("voice_channel"),
            volume: num("volume")
                .and_then(|v| u16::try_from(v).ok())
                .unwrap_or(100),
            paused: map.get("paused").is_some_and(|v| v == "1"),
            loop_mode: map
                .get("loop")
                .and_then(|v| LoopMode::parse(v))
                .unwrap_or_default(),
            current,
            position_ms: num("position_ms").unwrap_or(0),
            position_at_ms: num("position_at_ms").unwrap_or(0),
            voice: VoiceConnection {
                session_id: text("vs_session"),
                token: text("vs_token"),
                endpoint: text("vs_endpoint"),
                channel_id: num("vs_channel"),
            },
        })
    }
}

/// What [`VoiceStore::advance`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Advance {
    /// The current entry was not the expected one: someone else advanced already.
    Stale,
    /// The queue is empty: nothing plays now.
    Finished,
    /// This entry plays now.
    Next(Box<Entry>),
}

/// Load figures of a node, from its last `stats` op. They say how busy the node is, never
/// whether it is up (Lavalink sends `stats` once a minute): see [`VoiceStore::node_alive`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeLoad {
    /// Players on the node.
    pub players: u64,
    /// Load score (lower is better).
    pub penalty: f64,
    /// When written, Unix ms.
    pub updated_at_ms: u64,
}
