//! Sessions, players and simulated playback: the state behind the REST and WebSocket handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc, watch};

use super::LavalinkConfig;
use super::catalogue::{self, LoadResult, Track};
use crate::record::Recorder;
use crate::util::{random_hex, unix_ms};

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

impl Player {
    fn new(guild_id: u64) -> Self {
        Self {
            guild_id,
            playing: None,
            volume: 100,
            paused: false,
            filters: json!({}),
            voice: VoiceState::default(),
            next_update: None,
        }
    }

    fn connected(&self) -> bool {
        !self.voice.token.is_empty()
            && !self.voice.endpoint.is_empty()
            && !self.voice.session_id.is_empty()
    }

    fn position_f(&self, now: Instant, speed: f64) -> f64 {
        let Some(p) = &self.playing else { return 0.0 };
        let pos = if self.paused {
            p.anchor_pos
        } else {
            p.anchor_pos + now.saturating_duration_since(p.anchor_at).as_secs_f64() * 1000.0 * speed
        };
        pos.min(u64_to_f64(p.track.info.length))
    }

    fn position(&self, now: Instant, speed: f64) -> u64 {
        f64_to_u64(self.position_f(now, speed))
    }

    /// Re-anchors the position at `now` (before a pause change or a seek).
    fn rebase(&mut self, now: Instant, speed: f64) {
        let pos = self.position_f(now, speed);
        if let Some(p) = &mut self.playing {
            p.anchor_pos = pos;
            p.anchor_at = now;
        }
    }

    /// Where the current track stops by itself, and whether that is a failure.
    fn stop_point(&self) -> Option<(u64, bool)> {
        let p = self.playing.as_ref()?;
        let mut end = (p.track.info.length, false);
        if p.track.info.is_stream {
            end.0 = u64::MAX;
        }
        if let Some(t) = p.end_time {
            end.0 = end.0.min(t);
        }
        if let Some(f) = p.track.fail_at()
            && f <= end.0
        {
            end = (f, true);
        }
        Some(end)
    }

    fn state_json(&self, now: Instant, speed: f64) -> Value {
        let connected = self.connected();
        json!({
            "time": unix_ms(),
            "position": self.position(now, speed),
            "connected": connected,
            "ping": if connected { SIM_PING_MS } else { -1 },
        })
    }

    fn to_json(&self, now: Instant, speed: f64) -> Value {
        let position = self.position(now, speed);
        json!({
            "guildId": self.guild_id.to_string(),
            "track": self.playing.as_ref().map(|p| p.track.to_json_at(position)),
            "volume": self.volume,
            "paused": self.paused,
            "state": self.state_json(now, speed),
            "voice": self.voice,
            "filters": self.filters,
        })
    }

    fn snapshot(&self, session_id: &str, now: Instant, speed: f64) -> PlayerSnapshot {
        let position = self.position(now, speed);
        PlayerSnapshot {
            session_id: session_id.to_owned(),
            guild_id: self.guild_id,
            track: self.playing.as_ref().map(|p| {
                let mut t = p.track.clone();
                t.info.position = position;
                t
            }),
            position,
            paused: self.paused,
            volume: self.volume,
            connected: self.connected(),
            voice: self.voice.clone(),
            filters: self.filters.clone(),
            end_time: self.playing.as_ref().and_then(|p| p.end_time),
        }
    }
}

/// What a player update asks for, validated before anything changes.
#[derive(Debug, Default)]
// `end_time`: absent (unchanged), `null` (cleared) or a value, as in the JSON.
#[allow(clippy::option_option)]
struct Update {
    track: Option<TrackChange>,
    position: Option<u64>,
    end_time: Option<Option<u64>>,
    volume: Option<u16>,
    paused: Option<bool>,
    filters: Option<Value>,
    voice: Option<VoiceState>,
}

#[derive(Debug)]
enum TrackChange {
    Play(Box<Track>),
    Stop,
    UserData(Value),
}

#[derive(Debug)]
struct State {
    sessions: HashMap<String, Session>,
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

    // ---- WebSocket sessions -------------------------------------------------------------

    /// Attaches a new socket: resumes `resume` if it names a resumable session, else creates
    /// a session. Queues `ready` (and, on resume, the buffered events) on `tx`. Returns the
    /// session id and whether it was resumed.
    pub(crate) fn attach(
        &self,
        user_id: u64,
        client_name: &str,
        resume: Option<&str>,
        conn_id: u64,
        tx: mpsc::UnboundedSender<String>,
    ) -> (String, bool) {
        let now = Instant::now();
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let mut st = self.lock();
        self.connections.fetch_add(1, Ordering::Relaxed);
        let resumable = resume.and_then(|id| st.sessions.get_mut(id)).filter(|s| {
            s.conn.is_none() && s.resuming && s.expires_at().is_some_and(|at| now < at)
        });
        if let Some(session) = resumable {
            self.resumes.fetch_add(1, Ordering::Relaxed);
            session.conn = Some(Conn { id: conn_id, tx });
            session.disconnected_at = None;
            let ready = json!({"op": "ready", "resumed": true, "sessionId": session.id});
            session.send(ready.to_string(), false);
            for msg in std::mem::take(&mut session.backlog) {
                session.send(msg, true);
            }
            let updates: Vec<String> = session
                .players
                .values_mut()
                .filter(|p| p.playing.is_some())
                .map(|p| {
                    p.next_update = update_interval.map(|i| now + i);
                    player_update_json(p, now, speed)
                })
                .collect();
            for msg in updates {
                session.send(msg, false);
            }
            let id = session.id.clone();
            drop(st);
            self.wake.notify_one();
            return (id, true);
        }
        let mut id = random_hex(16);
        while st.sessions.contains_key(&id) {
            id = random_hex(16);
        }
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
        let mut session = Session {
            id: id.clone(),
            user_id,
            client_name: client_name.to_owned(),
            resuming: false,
            timeout: 60,
            conn: Some(Conn { id: conn_id, tx }),
            disconnected_at: None,
            backlog: Vec::new(),
            players: BTreeMap::new(),
            next_stats: nonzero(self.config.stats_interval).map(|i| now + i),
        };
        let ready = json!({"op": "ready", "resumed": false, "sessionId": id});
        session.send(ready.to_string(), false);
        st.sessions.insert(id.clone(), session);
        // Lavalink's first `stats` follows the new session at once (then one per interval).
        if nonzero(self.config.stats_interval).is_some() {
            let stats = self.stats_from(&st, true).to_string();
            if let Some(session) = st.sessions.get_mut(&id) {
                session.send(stats, false);
            }
        }
        (id, false)
    }

    /// Detaches socket `conn_id` from its session: the session waits to be resumed if resuming
    /// is enabled, else it is destroyed with its players. Returns whether the socket was still
    /// attached.
    pub(crate) fn detach(&self, session_id: &str, conn_id: u64) -> bool {
        let mut st = self.lock();
        let Some(session) = st.sessions.get_mut(session_id) else {
            return false;
        };
        if session.conn.as_ref().is_none_or(|c| c.id != conn_id) {
            return false;
        }
        session.conn = None;
        if session.resuming {
            session.disconnected_at = Some(Instant::now());
        } else {
            st.sessions.remove(session_id);
        }
        drop(st);
        self.wake.notify_one();
        true
    }

    /// Drops every socket (sessions follow the normal close rules, or are all forgotten with
    /// `forget`) and refuses new connections until [`Node::revive`].
    pub(crate) fn kill(&self, forget: bool) {
        self.killed.store(true, Ordering::SeqCst);
        {
            let mut st = self.lock();
            let now = Instant::now();
            if forget {
                st.sessions.clear();
            } else {
                st.sessions.retain(|_, s| {
                    if s.conn.take().is_none() {
                        return true;
                    }
                    s.disconnected_at = Some(now);
                    s.resuming
                });
            }
        }
        self.kill_switch.send_modify(|generation| *generation += 1);
        self.wake.notify_one();
    }

    /// Accepts connections again after [`Node::kill`].
    pub(crate) fn revive(&self) {
        self.killed.store(false, Ordering::SeqCst);
    }

    // ---- REST ---------------------------------------------------------------------------

    /// `PATCH /v4/sessions/{id}`.
    pub(crate) fn update_session(&self, session_id: &str, body: &Value) -> Result<Value, ApiError> {
        let Value::Object(map) = body else {
            return Err(ApiError::bad("Request body must be a JSON object"));
        };
        let resuming = match map.get("resuming") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(ApiError::bad("resuming must be a boolean")),
        };
        let timeout = match map.get("timeout") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| ApiError::bad("timeout must be a non-negative integer"))?,
            ),
        };
        let mut st = self.lock();
        let session = st
            .sessions
            .get_mut(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        if let Some(r) = resuming {
            session.resuming = r;
        }
        if let Some(t) = timeout {
            session.timeout = t;
        }
        Ok(json!({"resuming": session.resuming, "timeout": session.timeout}))
    }

    /// `GET /v4/sessions/{id}/players`.
    pub(crate) fn players_json(&self, session_id: &str) -> Result<Value, ApiError> {
        let now = Instant::now();
        let st = self.lock();
        let session = st
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        Ok(Value::Array(
            session
                .players
                .values()
                .map(|p| p.to_json(now, self.speed()))
                .collect(),
        ))
    }

    /// `GET /v4/sessions/{id}/players/{guild}`.
    pub(crate) fn player_json(&self, session_id: &str, guild_id: u64) -> Result<Value, ApiError> {
        let now = Instant::now();
        let st = self.lock();
        let session = st
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        let player = session
            .players
            .get(&guild_id)
            .ok_or_else(|| ApiError::new(404, "Player not found"))?;
        Ok(player.to_json(now, self.speed()))
    }

    /// `DELETE /v4/sessions/{id}/players/{guild}`. A playing track ends with reason `stopped`
    /// (what Lavaplayer's `AudioPlayer.destroy()` reports).
    pub(crate) fn destroy_player(&self, session_id: &str, guild_id: u64) -> Result<(), ApiError> {
        let now = Instant::now();
        let speed = self.speed();
        let mut st = self.lock();
        let session = st
            .sessions
            .get_mut(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        if let Some(player) = session.players.remove(&guild_id)
            && let Some(p) = &player.playing
        {
            let pos = player.position(now, speed);
            let msg = track_end_json(guild_id, &p.track, pos, "stopped");
            session.send(msg, true);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// `PATCH /v4/sessions/{id}/players/{guild}[?noReplace=true]`.
    pub(crate) fn update_player(
        &self,
        session_id: &str,
        guild_id: u64,
        body: &Value,
        no_replace: bool,
    ) -> Result<Value, ApiError> {
        let update = parse_update(body)?;
        let now = Instant::now();
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let mut st = self.lock();
        let session = st
            .sessions
            .get_mut(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        let player = session
            .players
            .entry(guild_id)
            .or_insert_with(|| Player::new(guild_id));
        let mut outbox = Vec::new();

        if let Some(voice) = update.voice {
            player.voice = voice;
        }
        if let Some(filters) = update.filters {
            player.filters = filters;
        }
        if let Some(volume) = update.volume {
            player.volume = volume;
        }
        let mut paused = update.paused;
        match update.track {
            Some(TrackChange::Play(_) | TrackChange::Stop)
                if no_replace && player.playing.is_some() =>
            {
                // noReplace: the current track stays, and so do its position, end time and
                // pause (Lavalink answers before looking at them).
                paused = None;
            }
            Some(TrackChange::Play(track)) => {
                if let Some(old) = &player.playing {
                    let pos = player.position(now, speed);
                    outbox.push(track_end_json(guild_id, &old.track, pos, "replaced"));
                }
                // Lavalink: a new track sets `paused` to the request's value, false if absent.
                player.paused = paused.take().unwrap_or(false);
                let start = update.position.unwrap_or(0).min(track.info.length);
                outbox.push(event_json(
                    guild_id,
                    "TrackStartEvent",
                    &track.to_json_at(start),
                    None,
                ));
                player.playing = Some(Playing {
                    track: *track,
                    anchor_pos: u64_to_f64(start),
                    anchor_at: now,
                    end_time: update.end_time.flatten(),
                });
                player.next_update = update_interval.map(|_| now);
            }
            Some(TrackChange::Stop) => {
                let pos = player.position(now, speed);
                if let Some(old) = player.playing.take() {
                    outbox.push(track_end_json(guild_id, &old.track, pos, "stopped"));
                }
                // As for a new track: `paused` becomes the request's value, false if absent.
                player.paused = paused.take().unwrap_or(false);
                player.next_update = None;
            }
            Some(TrackChange::UserData(data)) => {
                if let Some(p) = &mut player.playing {
                    p.track.user_data = data;
                }
                apply_seek_and_end(player, update.position, update.end_time, now);
            }
            None => apply_seek_and_end(player, update.position, update.end_time, now),
        }
        if let Some(p) = paused
            && p != player.paused
        {
            player.rebase(now, speed);
            player.paused = p;
        }
        let response = player.to_json(now, speed);
        for msg in outbox {
            session.send(msg, true);
        }
        drop(st);
        self.wake.notify_one();
        Ok(response)
    }

    /// Simulates Discord closing the voice WebSocket of `guild_id`'s player: the voice state is
    /// cleared (`connected: false`) and a `WebSocketClosedEvent` is emitted. Returns whether a
    /// player was found (the first session having one for that guild).
    pub(crate) fn voice_closed(
        &self,
        guild_id: u64,
        code: u16,
        reason: &str,
        by_remote: bool,
    ) -> bool {
        let mut st = self.lock();
        for session in st.sessions.values_mut() {
            if let Some(player) = session.players.get_mut(&guild_id) {
                player.voice = VoiceState::default();
                let msg = json!({
                    "op": "event",
                    "type": "WebSocketClosedEvent",
                    "guildId": guild_id.to_string(),
                    "code": code,
                    "reason": reason,
                    "byRemote": by_remote,
                });
                session.send(msg.to_string(), true);
                return true;
            }
        }
        false
    }

    /// Emits a `TrackStuckEvent` for the track `guild_id`'s player is playing (the track keeps
    /// playing, as in Lavalink). Returns whether such a track was found.
    pub(crate) fn track_stuck(&self, guild_id: u64, threshold_ms: u64) -> bool {
        let now = Instant::now();
        let speed = self.speed();
        let mut st = self.lock();
        for session in st.sessions.values_mut() {
            if let Some(player) = session.players.get(&guild_id)
                && let Some(p) = &player.playing
            {
                let track = p.track.to_json_at(player.position(now, speed));
                let msg = event_json(
                    guild_id,
                    "TrackStuckEvent",
                    &track,
                    Some(("thresholdMs", json!(threshold_ms))),
                );
                session.send(msg, true);
                return true;
            }
        }
        false
    }

    // ---- stats and snapshots ------------------------------------------------------------

    fn counts(st: &State) -> (usize, usize) {
        let players = st.sessions.values().map(|s| s.players.len()).sum();
        let playing = st
            .sessions
            .values()
            .flat_map(|s| s.players.values())
            .filter(|p| p.playing.is_some() && !p.paused)
            .count();
        (players, playing)
    }

    fn stats_from(&self, st: &State, op: bool) -> Value {
        let (players, playing) = Self::counts(st);
        let players_u64 = u64::try_from(players).unwrap_or(u64::MAX);
        let used = 96 * MIB + players_u64 * MIB;
        let allocated = 512 * MIB;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut stats = json!({
            "players": players,
            "playingPlayers": playing,
            "uptime": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "memory": {
                "free": allocated.saturating_sub(used),
                "used": used,
                "allocated": allocated,
                "reservable": 4096 * MIB,
            },
            "cpu": {
                "cores": cores,
                "systemLoad": 0.05,
                "lavalinkLoad": 0.01 + 0.001 * u64_to_f64(players_u64),
            },
            "frameStats": Value::Null,
        });
        if op {
            stats["op"] = json!("stats");
            if players > 0 {
                // Lavalink's per-minute averages per player: 3000 frames for a healthy player.
                stats["frameStats"] = json!({"sent": 3000, "nulled": 0, "deficit": 0});
            }
        }
        stats
    }

    /// `GET /v4/stats` (no `op`, `frameStats` null).
    pub(crate) fn stats_json(&self) -> Value {
        let st = self.lock();
        self.stats_from(&st, false)
    }

    pub(crate) fn sim_stats(&self) -> SimStats {
        let st = self.lock();
        let (players, playing_players) = Self::counts(&st);
        SimStats {
            connections: self.connections.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
            sessions: self.sessions_created.load(Ordering::Relaxed),
            active_sessions: st.sessions.len(),
            players,
            playing_players,
            killed: self.is_killed(),
        }
    }

    pub(crate) fn players(&self) -> Vec<PlayerSnapshot> {
        let now = Instant::now();
        let st = self.lock();
        let mut out: Vec<PlayerSnapshot> = st
            .sessions
            .values()
            .flat_map(|s| {
                s.players
                    .values()
                    .map(|p| p.snapshot(&s.id, now, self.speed()))
            })
            .collect();
        out.sort_by(|a, b| (&a.session_id, a.guild_id).cmp(&(&b.session_id, b.guild_id)));
        out
    }

    pub(crate) fn sessions(&self) -> Vec<SessionSnapshot> {
        let st = self.lock();
        let mut out: Vec<SessionSnapshot> = st
            .sessions
            .values()
            .map(|s| SessionSnapshot {
                id: s.id.clone(),
                user_id: s.user_id,
                client_name: s.client_name.clone(),
                resuming: s.resuming,
                timeout: s.timeout,
                connected: s.conn.is_some(),
                players: s.players.len(),
                buffered_events: s.backlog.len(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    // ---- playback engine ----------------------------------------------------------------

    /// Runs the engine until shutdown: track ends and failures, `playerUpdate` and `stats`
    /// ops, resume timeouts.
    pub(crate) async fn run_engine(&self) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let next = self.tick(Instant::now());
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = self.wake.notified() => {}
                () = super::ws::stopped(&mut shutdown) => return,
            }
        }
    }

    /// Does everything due at `now`; returns when to look again.
    fn tick(&self, now: Instant) -> Instant {
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let stats_interval = nonzero(self.config.stats_interval);
        let mut st = self.lock();
        let mut next = now + MAX_SLEEP;

        if let Some(interval) = stats_interval {
            let due_now = st
                .sessions
                .values()
                .any(|s| s.next_stats.is_some_and(|due| due <= now));
            let stats = due_now.then(|| self.stats_from(&st, true).to_string());
            for session in st.sessions.values_mut() {
                let Some(due) = session.next_stats else {
                    continue;
                };
                if due <= now {
                    // Sent only while connected (not buffered for resuming), on the
                    // session's own cadence either way.
                    if session.conn.is_some()
                        && let Some(stats) = &stats
                    {
                        session.send(stats.clone(), false);
                    }
                    let mut due = due + interval;
                    if due <= now {
                        due = now + interval;
                    }
                    session.next_stats = Some(due);
                }
                if let Some(due) = session.next_stats {
                    next = next.min(due);
                }
            }
        }

        st.sessions
            .retain(|_, s| s.conn.is_some() || s.expires_at().is_some_and(|at| now < at));

        for session in st.sessions.values_mut() {
            if let Some(at) = session.expires_at() {
                next = next.min(at);
            }
            let connected = session.conn.is_some();
            let mut outbox = Vec::new();
            for player in session.players.values_mut() {
                let Some((stop_at, failed)) = player.stop_point() else {
                    continue;
                };
                let position = player.position_f(now, speed);
                if position >= u64_to_f64(stop_at) {
                    if let Some(p) = player.playing.take() {
                        let pos = stop_at.min(p.track.info.length);
                        if failed {
                            outbox.push(track_exception_json(player.guild_id, &p.track, pos));
                            outbox.push(track_end_json(
                                player.guild_id,
                                &p.track,
                                pos,
                                "loadFailed",
                            ));
                        } else {
                            outbox.push(track_end_json(player.guild_id, &p.track, pos, "finished"));
                        }
                    }
                    player.next_update = None;
                    continue;
                }
                if !player.paused {
                    let ms_left = (u64_to_f64(stop_at) - position) / speed;
                    next = next.min(after(now, ms_left));
                }
                if let (Some(due), Some(interval)) = (player.next_update, update_interval)
                    && due <= now
                {
                    if connected {
                        outbox.push(player_update_json(player, now, speed));
                    }
                    let mut due = due + interval;
                    if due <= now {
                        due = now + interval;
                    }
                    player.next_update = Some(due);
                }
                if let Some(due) = player.next_update {
                    next = next.min(due);
                }
            }
            for msg in outbox {
                let replay = !msg.starts_with(r#"{"op":"playerUpdate""#);
                session.send(msg, replay);
            }
        }
        next
    }
}

const MIB: u64 = 1024 * 1024;

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `now` plus `ms` milliseconds (clamped to `[0, MAX_SLEEP]`).
fn after(now: Instant, ms: f64) -> Instant {
    let secs = (ms / 1000.0).clamp(0.0, MAX_SLEEP.as_secs_f64());
    now + Duration::try_from_secs_f64(secs).unwrap_or(MAX_SLEEP)
}

#[allow(clippy::cast_precision_loss)]
fn u64_to_f64(x: u64) -> f64 {
    x as f64
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn f64_to_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX.
        x as u64
    }
}

#[allow(clippy::option_option)]
fn apply_seek_and_end(
    player: &mut Player,
    position: Option<u64>,
    end_time: Option<Option<u64>>,
    now: Instant,
) {
    let Some(p) = &mut player.playing else { return };
    if let Some(end) = end_time {
        p.end_time = end;
    }
    if let Some(pos) = position
        && p.track.info.is_seekable
    {
        p.anchor_pos = u64_to_f64(pos.min(p.track.info.length));
        p.anchor_at = now;
    }
}

fn load_single(identifier: &str) -> Result<Track, ApiError> {
    match catalogue::load(identifier) {
        LoadResult::Track(track) => Ok(track),
        LoadResult::Error { message, .. } => Err(ApiError::bad(format!(
            "Failed to load track for identifier '{identifier}': {message}"
        ))),
        LoadResult::Empty | LoadResult::Search(_) | LoadResult::Playlist { .. } => {
            Err(ApiError::bad(format!(
                "No single track found for identifier '{identifier}'"
            )))
        }
    }
}

fn decode_encoded(encoded: &str) -> Result<Track, ApiError> {
    catalogue::decode_track(encoded)
        .ok_or_else(|| ApiError::bad(format!("Failed to decode track '{encoded}'")))
}

fn parse_track_change(map: &Map<String, Value>) -> Result<Option<TrackChange>, ApiError> {
    if let Some(track) = map.get("track") {
        if map.contains_key("encodedTrack") || map.contains_key("identifier") {
            return Err(ApiError::bad(
                "Cannot specify both track and the deprecated encodedTrack/identifier",
            ));
        }
        let Value::Object(track) = track else {
            return Err(ApiError::bad("track must be an object"));
        };
        let user_data = match track.get("userData") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err(ApiError::bad("track.userData must be an object")),
        };
        let change = match (track.get("encoded"), track.get("identifier")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(
                    "Cannot specify both track.encoded and track.identifier",
                ));
            }
            (Some(Value::Null), None) => TrackChange::Stop,
            (Some(Value::String(s)), None) => TrackChange::Play(Box::new(decode_encoded(s)?)),
            (None, Some(Value::String(id))) => TrackChange::Play(Box::new(load_single(id)?)),
            (Some(_), None) => {
                return Err(ApiError::bad("track.encoded must be a string or null"));
            }
            (None, Some(_)) => return Err(ApiError::bad("track.identifier must be a string")),
            (None, None) => match user_data {
                Some(data) => return Ok(Some(TrackChange::UserData(data))),
                None => return Ok(None),
            },
        };
        return Ok(Some(match change {
            TrackChange::Play(mut t) => {
                t.user_data = user_data.unwrap_or_else(|| json!({}));
                TrackChange::Play(t)
            }
            other => other,
        }));
    }
    if let Some(encoded) = map.get("encodedTrack") {
        if map.contains_key("identifier") {
            return Err(ApiError::bad(
                "Cannot specify both encodedTrack and identifier",
            ));
        }
        return match encoded {
            Value::Null => Ok(Some(TrackChange::Stop)),
            Value::String(s) => Ok(Some(TrackChange::Play(Box::new(decode_encoded(s)?)))),
            _ => Err(ApiError::bad("encodedTrack must be a string or null")),
        };
    }
    match map.get("identifier") {
        None => Ok(None),
        Some(Value::String(id)) => Ok(Some(TrackChange::Play(Box::new(load_single(id)?)))),
        Some(_) => Err(ApiError::bad("identifier must be a string")),
    }
}

fn parse_update(body: &Value) -> Result<Update, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad("Request body must be a JSON object"));
    };
    let mut update = Update {
        track: parse_track_change(map)?,
        ..Update::default()
    };
    match map.get("position") {
        None | Some(Value::Null) => {}
        Some(v) => {
            update.position = Some(
                v.as_u64()
                    .ok_or_else(|| ApiError::bad("position must be a non-negative integer"))?,
            );
        }
    }
    match map.get("endTime") {
        None => {}
        Some(Value::Null) => update.end_time = Some(None),
        Some(v) => match v.as_u64() {
            Some(t) if t > 0 => update.end_time = Some(Some(t)),
            _ => return Err(ApiError::bad("endTime must be an integer greater than 0")),
        },
    }
    match map.get("volume") {
        None | Some(Value::Null) => {}
        Some(v) => {
            update.volume = Some(
                v.as_u64()
                    .filter(|&v| v <= 1000)
                    .and_then(|v| u16::try_from(v).ok())
                    .ok_or_else(|| ApiError::bad("Volume must be between 0 and 1000"))?,
            );
        }
    }
    match map.get("paused") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => update.paused = Some(*b),
        Some(_) => return Err(ApiError::bad("paused must be a boolean")),
    }
    match map.get("filters") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => update.filters = Some(v.clone()),
        Some(_) => return Err(ApiError::bad("filters must be an object")),
    }
    match map.get("voice") {
        None | Some(Value::Null) => {}
        Some(Value::Object(v)) => {
            let field = |name: &str| match v.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(ApiError::bad(format!(
                    "voice.{name} is required and must be a string"
                ))),
            };
            let channel_id = match v.get("channelId") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(ApiError::bad("voice.channelId must be a string")),
            };
            update.voice = Some(VoiceState {
                token: field("token")?,
                endpoint: field("endpoint")?,
                session_id: field("sessionId")?,
                channel_id,
            });
        }
        Some(_) => return Err(ApiError::bad("voice must be an object")),
    }
    Ok(update)
}

fn event_json(guild_id: u64, kind: &str, track: &Value, extra: Option<(&str, Value)>) -> String {
    let mut event = json!({
        "op": "event",
        "type": kind,
        "guildId": guild_id.to_string(),
        "track": track,
    });
    if let Some((key, value)) = extra {
        event[key] = value;
    }
    event.to_string()
}

fn track_end_json(guild_id: u64, track: &Track, position: u64, reason: &str) -> String {
    event_json(
        guild_id,
        "TrackEndEvent",
        &track.to_json_at(position),
        Some(("reason", json!(reason))),
    )
}

fn track_exception_json(guild_id: u64, track: &Track, position: u64) -> String {
    let exception = json!({
        "message": "Something broke when playing the track.",
        "severity": "fault",
        "cause": "java.lang.IllegalStateException: simulated playback failure",
        "causeStackTrace": "java.lang.IllegalStateException: simulated playback failure\n\tat sim.lavalink.Playback.fail(Playback.kt:1)\n",
    });
    event_json(
        guild_id,
        "TrackExceptionEvent",
        &track.to_json_at(position),
        Some(("exception", exception)),
    )
}

fn player_update_json(player: &Player, now: Instant, speed: f64) -> String {
    json!({
        "op": "playerUpdate",
        "guildId": player.guild_id.to_string(),
        "state": player.state_json(now, speed),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(speed: f64) -> Node {
        Node::new(LavalinkConfig {
            playback_speed: speed,
            ..LavalinkConfig::default()
        })
    }

    fn connect(node: &Node) -> (String, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (id, resumed) = node.attach(1, "test", None, node.next_conn_id(), tx);
        assert!(!resumed);
        (id, rx)
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            out.push(serde_json::from_str(&msg).unwrap_or(Value::Null));
        }
        out
    }

    fn track_url(len: u64) -> String {
        let LoadResult::Track(t) =
            catalogue::load(&format!("https://sim.lavalink/track/t?length={len}"))
        else {
            return String::new();
        };
        t.encoded
    }

    #[test]
    fn validation_errors_are_400() {
        let node = node(1.0);
        let (id, _rx) = connect(&node);
        for body in [
            json!([]),
            json!({"volume": 1001}),
            json!({"volume": -1}),
            json!({"position": -5}),
            json!({"endTime": 0}),
            json!({"paused": "yes"}),
            json!({"filters": 3}),
            json!({"voice": {"token": "t"}}),
            json!({"track": {"encoded": "garbage"}}),
            json!({"track": {"encoded": "x", "identifier": "y"}}),
            json!({"track": {"identifier": "ytsearch:abc"}}),
            json!({"track": {"encoded": null}, "encodedTrack": null}),
            json!({"encodedTrack": 5}),
        ] {
            let err = node.update_player(&id, 5, &body, false).err();
            assert_eq!(err.map(|e| e.status), Some(400), "{body}");
        }
        assert_eq!(
            node.update_player("nope", 5, &json!({}), false).err(),
            Some(ApiError::session_not_found())
        );
        // Nothing was created by the failed updates.
        assert_eq!(node.player_json(&id, 5).err().map(|e| e.status), Some(404));
    }

    #[test]
    fn play_replace_stop_and_no_replace() {
        let node = node(1.0);
        let (id, mut rx) = connect(&node);
        let first = track_url(60_000);
        let p = node
            .update_player(&id, 7, &json!({"track": {"encoded": first, "userData": {"k": 1}}, "position": 1000, "volume": 50}), false)
            .unwrap_or(Value::Null);
        assert_eq!(p["guildId"], "7");
        assert_eq!(p["volume"], 50);
        assert_eq!(p["track"]["userData"], json!({"k": 1}));
        assert!(p["state"]["position"].as_u64().is_some_and(|x| x >= 1000));
        assert_eq!(p["state"]["connected"], false);
        assert_eq!(p["state"]["ping"], -1);
        // noReplace keeps the first track.
        let second = track_url(90_000);
        let p = node
            .update_player(&id, 7, &json!({"encodedTrack": second}), true)
            .unwrap_or(Value::Null);
        assert_eq!(p["track"]["info"]["length"], 60_000);
        let p = node
            .update_player(&id, 7, &json!({"encodedTrack": second}), false)
            .unwrap_or(Value::Null);
        assert_eq!(p["track"]["info"]["length"], 90_000);
        let p = node
            .update_player(&id, 7, &json!({"track": {"encoded": null}}), false)
            .unwrap_or(Value::Null);
        assert_eq!(p["track"], Value::Null);
        let events: Vec<(String, String)> = drain(&mut rx)
            .into_iter()
            .filter(|m| m["op"] == "event")
            .map(|m| {
                (
                    m["type"].as_str().unwrap_or_default().to_owned(),
                    m["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("TrackStartEvent", ""),
            ("TrackEndEvent", "replaced"),
            ("TrackStartEvent", ""),
            ("TrackEndEvent", "stopped"),
        ];
        assert_eq!(
            events,
            expected
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_new_track_or_a_stop_sets_paused_to_the_request_or_false() {
        let node = node(1.0);
        let (id, _rx) = connect(&node);
        let paused = |body: Value, no_replace: bool| {
            node.update_player(&id, 3, &body, no_replace)
                .map_or(Value::Null, |p| p["paused"].clone())
        };
        assert_eq!(
            paused(
                json!({"encodedTrack": track_url(60_000), "paused": true}),
                false
            ),
            true
        );
        // A new track without `paused` plays: Lavalink resets it to false.
        assert_eq!(
            paused(json!({"encodedTrack": track_url(60_000)}), false),
            false
        );
        assert_eq!(paused(json!({"paused": true}), false), true);
        // noReplace with a track playing: the request's `paused` is ignored with the track.
        assert_eq!(
            paused(
                json!({"encodedTrack": track_url(1_000), "paused": false}),
                true
            ),
            true
        );
        // A stop without `paused` un-pauses too; with it, keeps the request's value.
        assert_eq!(paused(json!({"track": {"encoded": null}}), false), false);
        assert_eq!(
            paused(json!({"track": {"encoded": null}, "paused": true}), false),
            true
        );
    }

    #[test]
    fn stats_follow_ready_at_once_then_each_interval_per_session() {
        let second = Duration::from_secs(1);
        let node = Node::new(LavalinkConfig {
            stats_interval: second,
            ..LavalinkConfig::default()
        });
        let ops = |rx: &mut mpsc::UnboundedReceiver<String>| -> Vec<String> {
            drain(rx)
                .iter()
                .map(|m| m["op"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let (_, mut a) = connect(&node);
        let a_at = Instant::now();
        assert_eq!(ops(&mut a), ["ready", "stats"]);
        std::thread::sleep(Duration::from_millis(300));
        let (_, mut b) = connect(&node);
        let b_at = Instant::now();
        assert_eq!(ops(&mut b), ["ready", "stats"]);
        node.tick(a_at + Duration::from_millis(500));
        assert!(ops(&mut a).is_empty(), "not due yet");
        // One interval after each session's start, that session (only) gets its stats.
        node.tick(a_at + second + Duration::from_millis(50));
        assert_eq!(
            (ops(&mut a), ops(&mut b)),
            (vec!["stats".to_owned()], vec![])
        );
        node.tick(b_at + second + Duration::from_millis(50));
        assert_eq!(
            (ops(&mut a), ops(&mut b)),
            (vec![], vec!["stats".to_owned()])
        );
    }

    #[test]
    fn pause_freezes_position_and_seek_moves_it() {
        let node = node(1000.0);
        let (id, _rx) = connect(&node);
        node.update_player(
            &id,
            1,
            &json!({"encodedTrack": track_url(10_000_000), "paused": true}),
            false,
        )
        .ok();
        std::thread::sleep(Duration::from_millis(20));
        let snap = node.players();
        assert_eq!(snap[0].position, 0);
        assert!(snap[0].paused && !snap[0].is_playing());
        node.update_player(&id, 1, &json!({"position": 5000}), false)
            .ok();
        assert_eq!(node.players()[0].position, 5000);
        node.update_player(&id, 1, &json!({"paused": false}), false)
            .ok();
        std::thread::sleep(Duration::from_millis(20));
        // 20 ms at 1000x is 20 s of track.
        assert!(node.players()[0].position >= 25_000);
    }

    #[test]
    fn tick_ends_tracks_and_fails_broken_ones() {
        let node = node(1.0);
        let (id, mut rx) = connect(&node);
        node.update_player(
            &id,
            1,
            &json!({"encodedTrack": track_url(100_000), "position": 100_000}),
            false,
        )
        .ok();
        let LoadResult::Track(broken) = catalogue::load("https://sim.lavalink/broken/b") else {
            return;
        };
        node.update_player(&id, 2, &json!({"encodedTrack": broken.encoded}), false)
            .ok();
        node.tick(Instant::now());
        let ends: Vec<(String, String, String)> = drain(&mut rx)
            .into_iter()
            .filter(|m| m["op"] == "event" && m["type"] != "TrackStartEvent")
            .map(|m| {
                (
                    m["guildId"].as_str().unwrap_or_default().to_owned(),
                    m["type"].as_str().unwrap_or_default().to_owned(),
                    m["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            ends,
            vec![
                (
                    "1".to_owned(),
                    "TrackEndEvent".to_owned(),
                    "finished".to_owned()
                ),
                (
                    "2".to_owned(),
                    "TrackExceptionEvent".to_owned(),
                    String::new()
                ),
                (
                    "2".to_owned(),
                    "TrackEndEvent".to_owned(),
                    "loadFailed".to_owned()
                ),
            ]
        );
        assert!(node.players().iter().all(|p| p.track.is_none()));
    }

    #[test]
    fn sessions_resume_only_when_enabled() {
        let node = node(1.0);
        let (id, rx) = connect(&node);
        drop(rx);
        node.update_session(&id, &json!({"resuming": true, "timeout": 30}))
            .ok();
        node.update_player(&id, 3, &json!({"encodedTrack": track_url(100_000)}), false)
            .ok();
        assert!(node.detach(&id, 1));
        node.update_player(&id, 3, &json!({"track": {"encoded": null}}), false)
            .ok();
        assert_eq!(node.sessions()[0].buffered_events, 2);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (again, resumed) = node.attach(1, "test", Some(&id), node.next_conn_id(), tx);
        assert!(resumed);
        assert_eq!(again, id);
        let msgs = drain(&mut rx);
        assert_eq!(
            msgs[0],
            json!({"op": "ready", "resumed": true, "sessionId": id})
        );
        assert_eq!(msgs[1]["type"], "TrackStartEvent");
        assert_eq!(msgs[2]["reason"], "stopped");
        // Without resuming, closing destroys the session.
        node.update_session(&id, &json!({"resuming": false})).ok();
        assert!(node.detach(&id, 2));
        assert!(node.sessions().is_empty());
        let (tx, _rx) = mpsc::unbounded_channel();
        let (_, resumed) = node.attach(1, "test", Some(&id), node.next_conn_id(), tx);
        assert!(!resumed);
    }

    #[test]
    fn injected_voice_close_and_stuck_events() {
        let node = node(1.0);
        let (id, mut rx) = connect(&node);
        let voice = json!({"voice": {"token": "t", "endpoint": "e", "sessionId": "s"}});
        node.update_player(&id, 9, &voice, false).ok();
        assert!(node.players()[0].connected);
        assert!(!node.track_stuck(9, 1000));
        node.update_player(&id, 9, &json!({"encodedTrack": track_url(60_000)}), false)
            .ok();
        assert!(node.track_stuck(9, 1000));
        assert!(node.voice_closed(9, 4006, "Session is no longer valid.", true));
        assert!(!node.voice_closed(10, 4006, "", true));
        assert!(!node.players()[0].connected);
        assert!(node.players()[0].track.is_some());
        let events: Vec<Value> = drain(&mut rx)
            .into_iter()
            .filter(|m| m["op"] == "event")
            .collect();
        assert_eq!(events[1]["type"], "TrackStuckEvent");
        assert_eq!(events[1]["thresholdMs"], 1000);
        assert_eq!(
            events[2],
            json!({"op": "event", "type": "WebSocketClosedEvent", "guildId": "9",
                   "code": 4006, "reason": "Session is no longer valid.", "byRemote": true})
        );
    }
}
