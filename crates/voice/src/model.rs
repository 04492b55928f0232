//! The parts of Lavalink v4's JSON this crate reads: tracks, load results, players and the
//! WebSocket ops. Unknown fields are ignored; a frame that does not have the documented shape is
//! an error value, never a panic.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Lavalink track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// The encoded track (opaque).
    pub encoded: String,
    /// What is known about it.
    pub info: TrackInfo,
    /// Data the client attached in a player update (this crate sets `{"entry": "<id>"}`).
    #[serde(default)]
    pub user_data: Value,
}

impl Track {
    /// The queue entry id this crate attached to the track when it started it.
    pub fn entry_id(&self) -> Option<&str> {
        self.user_data.get("entry").and_then(Value::as_str)
    }
}

/// Lavalink's track info.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    /// Source-specific identifier.
    #[serde(default)]
    pub identifier: String,
    /// Whether seeking works.
    #[serde(default)]
    pub is_seekable: bool,
    /// Author.
    #[serde(default)]
    pub author: String,
    /// Length in milliseconds.
    #[serde(default)]
    pub length: u64,
    /// Whether it is a live stream.
    #[serde(default)]
    pub is_stream: bool,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// URI, if any.
    #[serde(default)]
    pub uri: Option<String>,
}

/// What `GET /v4/loadtracks` found.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LoadResult {
    /// One track (a URL).
    Track(Track),
    /// A playlist.
    Playlist {
        /// Its name.
        name: String,
        /// Its tracks.
        tracks: Vec<Track>,
    },
    /// Search results, best first.
    Search(Vec<Track>),
    /// Nothing matched.
    Empty,
    /// Loading failed; `message` is Lavalink's explanation.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl LoadResult {
    /// Parses Lavalink's `{"loadType": .., "data": ..}`.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        match value.get("loadType").and_then(Value::as_str) {
            Some("track") => Ok(Self::Track(parse(data)?)),
            Some("playlist") => Ok(Self::Playlist {
                name: data["info"]["name"].as_str().unwrap_or_default().to_owned(),
                tracks: parse(data.get("tracks").cloned().unwrap_or(Value::Null))?,
            }),
            Some("search") => Ok(Self::Search(parse(data)?)),
            Some("empty") => Ok(Self::Empty),
            Some("error") => Ok(Self::Error {
                message: data["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
            }),
            other => Err(format!("unknown loadType {other:?}")),
        }
    }
}

/// A player as `GET /v4/sessions/{id}/players/{guild}` returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Player {
    /// The guild (a string in Lavalink's JSON).
    pub guild_id: String,
    /// The current track.
    #[serde(default)]
    pub track: Option<Track>,
    /// Volume 0–1000.
    #[serde(default)]
    pub volume: u16,
    /// Whether paused.
    #[serde(default)]
    pub paused: bool,
    /// Position and connection.
    #[serde(default)]
    pub state: PlayerState,
}

/// A player's `state` object (also the body of `playerUpdate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerState {
    /// Node time, Unix ms.
    #[serde(default)]
    pub time: u64,
    /// Position in the track, ms.
    #[serde(default)]
    pub position: u64,
    /// Whether the voice connection is up.
    #[serde(default)]
    pub connected: bool,
}

/// The `stats` op (and `GET /v4/stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// Players on the node.
    #[serde(default)]
    pub players: u64,
    /// Players playing a track.
    #[serde(default)]
    pub playing_players: u64,
    /// CPU figures.
    #[serde(default)]
    pub cpu: Cpu,
}

/// The `cpu` object of [`NodeStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Cores.
    #[serde(default)]
    pub cores: u64,
    /// System load, 0–1.
    #[serde(default)]
    pub system_load: f64,
}

impl NodeStats {
    /// The load score used to pick a node (lower is better): playing players, plus half the
    /// idle ones, plus Lavalink's CPU penalty `1.05^(100·load)·10 − 10`.
    pub fn penalty(&self) -> f64 {
        let load = if self.cpu.system_load.is_finite() {
            self.cpu.system_load.clamp(0.0, 1.0)
        } else {
            0.0
        };
        #[allow(clippy::cast_precision_loss)]
        let players = self.playing_players as f64
            + self.players.saturating_sub(self.playing_players) as f64 / 2.0;
        players + 1.05_f64.powf(100.0 * load) * 10.0 - 10.0
    }
}

/// One WebSocket op from the node.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Incoming {
    /// `ready`.
    Ready {
        /// The session.
        session_id: String,
        /// Whether an existing session was resumed.
        resumed: bool,
    },
    /// `playerUpdate`.
    PlayerUpdate {
        /// The guild.
        guild_id: u64,
        /// Position and connection.
        state: PlayerState,
    },
    /// `stats`.
    Stats(NodeStats),
    /// `event`.
    Event {
        /// The guild.
        guild_id: u64,
        /// What happened.
        event: NodeEvent,
    },
}

/// A player event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A track started.
    TrackStart(Box<Track>),
    /// A track ended; `reason` is Lavalink's (`finished`, `loadFailed`, `stopped`, `replaced`,
    /// `cleanup`).
    TrackEnd {
        /// The track.
        track: Box<Track>,
        /// Why.
        reason: String,
    },
    /// Playback failed.
    TrackException {
        /// The track.
        track: Box<Track>,
        /// Lavalink's message.
        message: String,
    },
    /// The track got stuck.
    TrackStuck(Box<Track>),
    /// Discord closed the voice connection.
    WebSocketClosed {
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
}

impl NodeEvent {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TrackStart(_) => "track_start",
            Self::TrackEnd { .. } => "track_end",
            Self::TrackException { .. } => "track_exception",
            Self::TrackStuck(_) => "track_stuck",
            Self::WebSocketClosed { .. } => "websocket_closed",
        }
    }
}

/// Parses one text frame; `Ok(None)` for an op this crate does not use.
pub fn parse_incoming(text: &str) -> Result<Option<Incoming>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let guild = || {
        value
            .get("guildId")
            .and_then(Value::as_str)
            .and_then(|g| g.parse::<u64>().ok())
            .ok_or_else(|| "missing or invalid guildId".to_owned())
    };
    let track = || -> Result<Box<Track>, String> {
        serde_json::from_value(value.get("track").cloned().unwrap_or(Value::Null))
            .map(Box::new)
            .map_err(|e| format!("invalid track: {e}"))
    };
    let op = value.get("op").and_then(Value::as_str).unwrap_or_default();
    Ok(Some(match op {
        "ready" => Incoming::Ready {
            session_id: value
                .get("sessionId")
                .and_then(Value::as_str)
                .ok_or("ready without sessionId")?
                .to_owned(),
            resumed: value
                .get("resumed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        "playerUpdate" => Incoming::PlayerUpdate {
            guild_id: guild()?,
            state: serde_json::from_value(value.get("state").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("invalid state: {e}"))?,
        },
        "stats" => Incoming::Stats(
            serde_json::from_value(value.clone()).map_err(|e| format!("invalid stats: {e}"))?,
        ),
        "event" => {
            let event = match value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "TrackStartEvent" => NodeEvent::TrackStart(track()?),
                "TrackEndEvent" => NodeEvent::TrackEnd {
                    track: track()?,
                    reason: value["reason"].as_str().unwrap_or_default().to_owned(),
                },
                "TrackExceptionEvent" => NodeEvent::TrackException {
                    track: track()?,
                    message: value["exception"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                },
                "TrackStuckEvent" => NodeEvent::TrackStuck(track()?),
                "WebSocketClosedEvent" => NodeEvent::WebSocketClosed {
                    code: value["code"]
                        .as_u64()
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(0),
                    reason: value["reason"].as_str().unwrap_or_default().to_owned(),
                },
                _ => return Ok(None),
            };
            Incoming::Event {
                guild_id: guild()?,
                event,
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_malformed_ones_are_errors() {
        let ready = parse_incoming(r#"{"op":"ready","resumed":true,"sessionId":"abc"}"#);
        assert_eq!(
            ready,
            Ok(Some(Incoming::Ready {
                session_id: "abc".into(),
                resumed: true
            }))
        );
        let update = parse_incoming(
            r#"{"op":"playerUpdate","guildId":"5","state":{"time":1,"position":42,"connected":true,"ping":0}}"#,
        );
        assert!(matches!(
            update,
            Ok(Some(Incoming::PlayerUpdate { guild_id: 5, state })) if state.position == 42
        ));
        let end = parse_incoming(
            r#"{"op":"event","type":"TrackEndEvent","guildId":"7","reason":"finished","track":{"encoded":"x","info":{"title":"t","length":10},"userData":{"entry":"3"}}}"#,
        )
        .unwrap();
        match end {
            Some(Incoming::Event {
                guild_id: 7,
                event: NodeEvent::TrackEnd { track, reason },
            }) => {
                assert_eq!(reason, "finished");
                assert_eq!(track.entry_id(), Some("3"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_incoming(r#"{"op":"other"}"#), Ok(None));
        for bad in [
            "not json",
            r#"{"op":"ready"}"#,
            r#"{"op":"playerUpdate","guildId":"x","state":{}}"#,
            r#"{"op":"event","type":"TrackEndEvent","guildId":"1","track":5}"#,
            r#"{"op":"stats","players":"many"}"#,
        ] {
            assert!(parse_incoming(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_results_parse() {
        let search =
            serde_json::json!({"loadType":"search","data":[{"encoded":"e","info":{"title":"a"}}]});
        assert!(
            matches!(LoadResult::from_json(&search), Ok(LoadResult::Search(t)) if t.len() == 1)
        );
        let error = serde_json::json!({"loadType":"error","data":{"message":"nope"}});
        assert_eq!(
            LoadResult::from_json(&error),
            Ok(LoadResult::Error {
                message: "nope".into()
            })
        );
        assert!(LoadResult::from_json(&serde_json::json!({"loadType":"weird"})).is_err());
        assert!(LoadResult::from_json(&serde_json::json!({"loadType":"track","data":3})).is_err());
    }

    #[test]
    fn busier_nodes_have_higher_penalties() {
        let idle = NodeStats::default();
        let busy = NodeStats {
            players: 4,
            playing_players: 3,
            cpu: Cpu {
                cores: 2,
                system_load: 0.5,
            },
        };
        assert!(idle.penalty() < busy.penalty());
        assert!(idle.penalty().abs() < f64::EPSILON);
    }
}
