//! Sessions, players and simulated playback: the state behind the REST and WebSocket handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, watch};

use super::LavalinkConfig;
use super::catalogue::Track;
use crate::record::Recorder;

/// Most events kept for a disconnected, resumable session.
const MAX_BACKLOG: usize = 100_000;

/// Ping reported for a player with a voice connection.
const SIM_PING_MS: i64 = 12;

/// The longest the playback engine sleeps without re-checking.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// A REST failure: HTTP status and Lavalink's `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    fn session_not_found() -> Self {
        Self::new(404, "Session not found")
    }
}

/// A player's voice connection details, as given by the client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceState {
    /// The Discord voice token.
    pub token: String,
    /// The Discord voice endpoint.
    pub endpoint: String,
    /// The Discord voice session id.
    pub session_id: String,
    /// The voice channel id, if the client sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

/// A copy of one player's state, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerSnapshot {
    /// The Lavalink session owning the player.
    pub session_id: String,
    /// The guild of the player.
    #[serde(serialize_with = "as_string")]
    pub guild_id: u64,
    /// The current track (with `info.position` set), if any.
    pub track: Option<Track>,
    /// Current position in milliseconds (0 without a track).
    pub position: u64,
    /// Whether the player is paused.
    pub paused: bool,
    /// Volume, 0 to 1000.
    pub volume: u16,
    /// Whether a complete voice state was given.
    pub connected: bool,
    /// The voice state given by the client.
    pub voice: VoiceState,
    /// The filters object given by the client.
    pub filters: Value,
    /// The end time of the current track, if set.
    pub end_time: Option<u64>,
}

impl PlayerSnapshot {
    /// Whether a track is loaded and not paused.
    pub fn is_playing(&self) -> bool {
        self.track.is_some() && !self.paused
    }
}

/// A copy of one session's state, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// The session id.
    pub id: String,
    /// The `User-Id` the session was opened with.
    #[serde(serialize_with = "as_string")]
    pub user_id: u64,
    /// The `Client-Name` the session was opened with (empty if none).
    pub client_name: String,
    /// Whether resuming is enabled.
    pub resuming: bool,
    /// Resume timeout in seconds.
    pub timeout: u64,
    /// Whether a WebSocket is attached.
    pub connected: bool,
    /// Number of players.
    pub players: usize,
    /// Events buffered while disconnected, to replay on resume.
    pub buffered_events: usize,
}

/// Counters of the simulator, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// WebSocket connections accepted (new and resumed).
    pub connections: u64,
    /// Sessions resumed.
    pub resumes: u64,
    /// Sessions created.
    pub sessions: u64,
    /// Sessions that exist now (connected or waiting to be resumed).
    pub active_sessions: usize,
    /// Players that exist now.
    pub players: usize,
    /// Players with a track that are not paused.
    pub playing_players: usize,
    /// Whether the node is "killed" (refusing connections).
    pub killed: bool,
}

// Serde's `serialize_with` hands the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn as_string<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<String>,
}

#[derive(Debug)]
struct Session {
    id: String,
    user_id: u64,
    client_name: String,
    resuming: bool,
    timeout: u64,
    conn: Option<Conn>,
    disconnected_at: Option<Instant>,
    backlog: Vec<String>,
    players: BTreeMap<u64, Player>,
    /// When this session's next `stats` op is due (Lavalink schedules one per session: right
    /// after it is created, then every [`LavalinkConfig::stats_interval`]).
    next_stats: Option<Instant>,
}

impl Session {
    /// Sends a message to the attached socket; events (`replay`) are buffered while a resumable
    /// session is disconnected.
    fn send(&mut self, msg: String, replay: bool) {
        let msg = match &self.conn {
            Some(conn) => match conn.tx.send(msg) {
                Ok(()) => return,
                Err(mpsc::error::SendError(msg)) => msg,
            },
            None => msg,
        };
        if replay && self.resuming && self.backlog.len() < MAX_BACKLOG {
            self.backlog.push(msg);
        }
    }

    fn expires_at(&self) -> Option<Instant> {
        let at = self.disconnected_at?;
        Some(
            at.checked_add(Duration::from_secs(self.timeout))
                .unwrap_or(at + MAX_SLEEP),
        )
    }
}

#[derive(Debug)]
struct Player {
    guild_id: u64,
    playing: Option<Playing>,
    volume: u16,
    paused: bool,
    filters: Value,
    voice: VoiceState,
    next_update: Option<Instant>,
}

#[derive(Debug)]
struct Playing {
    track: Track,
    /// Position at `anchor_at`, in milliseconds.
    anchor_pos: f64,
    anchor_at: Instant,
    end_time: Option<u64>,
}

#[derive(Debug)]
struct State {
    sessions: HashMap<String, Session>,
}

impl State {
    /// The session `id`, or Lavalink's 404.
    fn session(&self, id: &str) -> Result<&Session, ApiError> {
        self.sessions
            .get(id)
            .ok_or_else(ApiError::session_not_found)
    }

    /// [`session`](Self::session), to change it.
    fn session_mut(&mut self, id: &str) -> Result<&mut Session, ApiError> {
        self.sessions
            .get_mut(id)
            .ok_or_else(ApiError::session_not_found)
    }
}

/// The simulated node: every session, player and counter, and the playback engine.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) config: LavalinkConfig,
    pub(crate) recorder: Recorder,
    started: Instant,
    state: Mutex<State>,
    wake: Notify,
    killed: AtomicBool,
    /// Bumped to make every WebSocket task drop its socket without a close frame.
    pub(crate) kill_switch: watch::Sender<u64>,
    /// Set to `true` to stop every task.
    pub(crate) shutdown: watch::Sender<bool>,
    connections: AtomicU64,
    resumes: AtomicU64,
    sessions_created: AtomicU64,
    next_conn: AtomicU64,
}

impl Node {
    pub(crate) fn new(config: LavalinkConfig) -> Self {
        let now = Instant::now();
        Self {
            config,
            recorder: Recorder::new(),
            started: now,
            state: Mutex::new(State {
                sessions: HashMap::new(),
            }),
            wake: Notify::new(),
            killed: AtomicBool::new(false),
            kill_switch: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            connections: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn speed(&self) -> f64 {
        self.config.playback_speed
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

mod playback;
mod player;
mod requests;
mod sessions;
mod stats;
#[cfg(test)]
mod tests;
