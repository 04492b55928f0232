//! Discord gateway v10 over WebSocket.
//!
//! Follows the documented lifecycle: HELLO → IDENTIFY (validated: token, intents, shard) →
//! READY (with `resume_gateway_url` pointing back at this simulator) → one `GUILD_CREATE` per guild
//! of the shard; heartbeats and ACKs; RESUME replays every dispatch the session missed, then
//! RESUMED; RECONNECT (op 7) and `INVALID_SESSION` (op 9) on demand; the documented close codes;
//! identify rate limiting by `max_concurrency` bucket; `zlib-stream` and `zstd-stream` transport compression; a
//! proper close handshake (a client's close frame is always answered with a close frame).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flate2::{Compress, Compression, FlushCompress};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::world::{ChannelKind, VoiceState};
use super::{ALL_INTENTS, PRIVILEGED_INTENTS, Shared};
use crate::util::{random_hex, snowflake};

/// Gateway close codes, as documented.
pub mod close_code {
    /// Unknown error; reconnect and resume.
    pub const UNKNOWN_ERROR: u16 = 4000;
    /// Invalid opcode or payload for an opcode.
    pub const UNKNOWN_OPCODE: u16 = 4001;
    /// Payload could not be decoded.
    pub const DECODE_ERROR: u16 = 4002;
    /// A payload was sent before identifying.
    pub const NOT_AUTHENTICATED: u16 = 4003;
    /// The token in IDENTIFY or RESUME is wrong.
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    /// A second IDENTIFY on an identified connection.
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    /// RESUME with a sequence the session never reached.
    pub const INVALID_SEQ: u16 = 4007;
    /// More than 120 payloads in 60 seconds.
    pub const RATE_LIMITED: u16 = 4008;
    /// No heartbeat in time.
    pub const SESSION_TIMED_OUT: u16 = 4009;
    /// Invalid `shard` in IDENTIFY.
    pub const INVALID_SHARD: u16 = 4010;
    /// The shard would hold too many guilds.
    pub const SHARDING_REQUIRED: u16 = 4011;
    /// Invalid `v` query parameter.
    pub const INVALID_API_VERSION: u16 = 4012;
    /// Unknown intent bits.
    pub const INVALID_INTENTS: u16 = 4013;
    /// Privileged intents the application may not use.
    pub const DISALLOWED_INTENTS: u16 = 4014;
}

/// Client payloads allowed per minute before close 4008.
const CLIENT_PAYLOADS_PER_MINUTE: usize = 120;
/// Client payloads larger than this close with 4002 (Discord: 4096 bytes).
const MAX_CLIENT_PAYLOAD: usize = 4096;
/// Members per `GUILD_MEMBERS_CHUNK`.
const MEMBERS_PER_CHUNK: usize = 1000;

/// What the writer task of a connection should do next.
#[derive(Debug)]
enum Out {
    /// Send this JSON payload.
    Frame(Arc<str>),
    /// Send a close frame with this code and reason, then stop sending.
    Close(u16, String),
    /// Cut the TCP connection without a close frame.
    Drop,
}

/// A live WebSocket connection as seen by the session table.
#[derive(Debug, Clone)]
struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<Out>,
    zombie: Arc<AtomicBool>,
    /// Set when a forced op 9 invalidated the session: the connection becomes unauthenticated
    /// (its next payload sees no session), so RESUME or IDENTIFY on the same socket work.
    invalidated: Arc<AtomicBool>,
}

impl Conn {
    fn send(&self, out: Out) {
        let _ = self.tx.send(out);
    }
}

/// One gateway session (survives its connection until it expires or is invalidated).
#[derive(Debug)]
struct Session {
    id: String,
    shard: [u32; 2],
    intents: u64,
    seq: u64,
    buffer: VecDeque<(u64, Arc<str>)>,
    conn: Option<Conn>,
    disconnected_at: Option<Instant>,
}

/// One IDENTIFY as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct IdentifyRecord {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// `[shard_id, shard_count]`.
    pub shard: [u32; 2],
    /// `shard_id % max_concurrency`.
    pub bucket: u32,
    /// Whether it was accepted (false: rate limited or out of session starts).
    pub accepted: bool,
}

/// A session as reported by [`Gateway::sessions`].
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Session id.
    pub session_id: String,
    /// `[shard_id, shard_count]`.
    pub shard: [u32; 2],
    /// Intents it identified with.
    pub intents: u64,
    /// Last sequence number dispatched.
    pub seq: u64,
    /// Whether a connection is attached.
    pub connected: bool,
}

/// Counters of the gateway simulator.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayStats {
    /// WebSocket connections accepted.
    pub connections: u64,
    /// IDENTIFYs accepted (new sessions).
    pub identifies: u64,
    /// IDENTIFYs refused because their bucket identified less than `identify_interval` ago.
    pub identify_rate_limited: u64,
    /// Successful RESUMEs.
    pub resumes: u64,
    /// RESUMEs answered with `INVALID_SESSION`.
    pub failed_resumes: u64,
    /// Dispatches sent (including replays).
    pub dispatches: u64,
    /// Dispatches replayed on RESUME.
    pub replayed: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Close frames sent by the simulator, by code.
    pub closes_sent: HashMap<u16, u64>,
    /// Close frames received from clients, by code.
    pub closes_received: HashMap<u16, u64>,
    /// `session_start_limit.remaining`.
    pub session_start_remaining: u32,
    /// Every IDENTIFY, in order.
    pub identify_log: Vec<IdentifyRecord>,
    /// The largest number of accepted IDENTIFYs in one bucket within any `identify_interval`
    /// window (must stay ≤ 1 for a well-behaved cluster).
    pub max_identifies_per_bucket_window: u64,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    last_identify: HashMap<u32, Instant>,
    session_start_remaining: Option<u32>,
    stats: GatewayStats,
}

/// Gateway session table and dispatch bus.
#[derive(Debug)]
pub struct Gateway {
    inner: Mutex<Inner>,
    next_conn: AtomicU64,
    started: Instant,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

/// A gateway-side action the control API can force on a shard's live connection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShardAction {
    /// Send op 7 RECONNECT.
    Reconnect,
    /// Send op 9 `INVALID_SESSION` with `d: true`.
    InvalidateResumable,
    /// Send op 9 `INVALID_SESSION` with `d: false` and forget the session.
    Invalidate,
    /// Cut the TCP connection without a close frame (the session stays resumable).
    Drop,
    /// Stop answering heartbeats (a zombied connection).
    Zombie,
    /// Answer heartbeats again.
    Unzombie,
}

impl Gateway {
    /// An empty session table.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            next_conn: AtomicU64::new(1),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counters and the identify log.
    pub fn stats(&self, shared: &Shared) -> GatewayStats {
        let inner = self.lock();
        let mut stats = inner.stats.clone();
        stats.session_start_remaining = remaining(&inner, shared);
        stats
    }

    /// Every live or resumable session.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let inner = self.lock();
        let mut out: Vec<SessionInfo> = inner
            .sessions
            .values()
            .map(|s| SessionInfo {
                session_id: s.id.clone(),
                shard: s.shard,
                intents: s.intents,
                seq: s.seq,
                connected: s.conn.is_some(),
            })
            .collect();
        out.sort_by_key(|s| (s.shard, s.session_id.clone()));
        out
    }

    /// Sets `session_start_limit.remaining`.
    pub fn set_session_start_remaining(&self, remaining: u32) {
        self.lock().session_start_remaining = Some(remaining);
    }

    /// `session_start_limit.remaining` as `GET /gateway/bot` reports it.
    pub fn session_start_remaining(&self, shared: &Shared) -> u32 {
        remaining(&self.lock(), shared)
    }

    /// Applies `action` to every connected session of shard `shard_id`; returns how many
    /// connections it reached.
    pub fn shard_action(&self, shard_id: u32, action: ShardAction) -> usize {
        let mut inner = self.lock();
        let mut forget = Vec::new();
        let mut reached = 0;
        for session in inner
            .sessions
            .values_mut()
            .filter(|s| s.shard[0] == shard_id)
        {
            let Some(conn) = session.conn.clone() else {
                continue;
            };
            reached += 1;
            match action {
                ShardAction::Reconnect => conn.send(Out::Frame(Arc::from(
                    r#"{"op":7,"d":null,"s":null,"t":null}"#,
                ))),
                // Op 9 ends the connection's authentication (Discord expects a RESUME or
                // IDENTIFY next, on this socket or a new one): the connection forgets its
                // session; a resumable session waits detached, as after a disconnect.
                ShardAction::InvalidateResumable => {
                    conn.invalidated.store(true, Ordering::SeqCst);
                    conn.send(Out::Frame(Arc::from(
                        r#"{"op":9,"d":true,"s":null,"t":null}"#,
                    )));
                    session.conn = None;
                    session.disconnected_at = Some(Instant::now());
                }
                ShardAction::Invalidate => {
                    conn.invalidated.store(true, Ordering::SeqCst);
                    conn.send(Out::Frame(Arc::from(
                        r#"{"op":9,"d":false,"s":null,"t":null}"#,
                    )));
                    forget.push(session.id.clone());
                }
                ShardAction::Drop => {
                    conn.send(Out::Drop);
                    session.conn = None;
                    session.disconnected_at = Some(Instant::now());
                }
                ShardAction::Zombie => conn.zombie.store(true, Ordering::SeqCst),
                ShardAction::Unzombie => conn.zombie.store(false, Ordering::SeqCst),
            }
        }
        for id in forget {
            inner.sessions.remove(&id);
        }
        reached
    }

    /// Sends a close frame with `code` to every connection of shard `shard_id`. Codes that end
    /// a session (everything but 4000–4003, 4005, 4008 and 1012) also forget the session.
    pub fn close_shard(&self, shard_id: u32, code: u16, reason: &str) -> usize {
        let mut inner = self.lock();
        let mut reached = 0;
        let mut forget = Vec::new();
        for session in inner
            .sessions
            .values_mut()
            .filter(|s| s.shard[0] == shard_id)
        {
            if let Some(conn) = session.conn.take() {
                reached += 1;
                conn.send(Out::Close(code, reason.to_owned()));
                session.disconnected_at = Some(Instant::now());
                if !resumable_close(code) {
                    forget.push(session.id.clone());
                }
            }
        }
        for id in forget {
            inner.sessions.remove(&id);
        }
        *inner.stats.closes_sent.entry(code).or_default() += reached as u64;
        reached
    }

    /// Cuts every connection (used on simulator shutdown).
    pub fn drop_all_connections(&self) {
        let mut inner = self.lock();
        for session in inner.sessions.values_mut() {
            if let Some(conn) = session.conn.take() {
                conn.send(Out::Drop);
                session.disconnected_at = Some(Instant::now());
            }
        }
    }

    /// Routes a dispatch to the sessions that should see it (see [`Shared::dispatch`]).
    pub(crate) fn dispatch(
        &self,
        shared: &Shared,
        guild_id: Option<u64>,
        event: &str,
        data: &Value,
    ) {
        self.dispatch_serialized(shared, guild_id, event, &data.to_string(), data);
    }

    /// [`Gateway::dispatch`] with the payload already serialised (`data_str`); `data` is only
    /// consulted to decide whether a session must get a content-stripped copy. Load tests use it
    /// to send one pre-built payload many times.
    pub(crate) fn dispatch_serialized(
        &self,
        shared: &Shared,
        guild_id: Option<u64>,
        event: &str,
        data_str: &str,
        data: &Value,
    ) {
        let (resume_window, bot_id, cap) = {
            let config = shared.config.lock().unwrap_or_else(PoisonError::into_inner);
            (config.resume_window, config.bot_id, config.replay_buffer)
        };
        let needed = intent_for(event, guild_id.is_some());
        let mut stripped: Option<String> = None;
        let mut inner = self.lock();
        let now = Instant::now();
        let mut sent = 0;
        let mut expired = Vec::new();
        for session in inner.sessions.values_mut() {
            let [shard_id, total] = session.shard;
            let owner = guild_id.map_or(0, |g| {
                u32::try_from((g >> 22) % u64::from(total.max(1))).unwrap_or(0)
            });
            if owner != shard_id {
                continue;
            }
            if session.conn.is_none()
                && session
                    .disconnected_at
                    .is_some_and(|at| now - at > resume_window)
            {
                expired.push(session.id.clone());
                continue;
            }
            if needed.is_some_and(|bit| session.intents & bit == 0) {
                continue;
            }
            let body = if needs_content_strip(event, guild_id, session.intents, data, bot_id) {
                stripped
                    .get_or_insert_with(|| strip_content(data).to_string())
                    .as_str()
            } else {
                data_str
            };
            push_dispatch(session, event, body, cap);
            sent += 1;
        }
        for id in expired {
            inner.sessions.remove(&id);
        }
        inner.stats.dispatches += sent;
    }

    fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn remaining(inner: &Inner, shared: &Shared) -> u32 {
    inner
        .session_start_remaining
        .unwrap_or_else(|| shared.config().session_start_total)
}

/// Whether a session survives a close frame with this code (the client may RESUME).
fn resumable_close(code: u16) -> bool {
    matches!(
        code,
        4000 | 4001 | 4002 | 4003 | 4005 | 4008 | 1006 | 1012 | 1011
    )
}

/// Appends a dispatch to a session's replay buffer and sends it if connected.
fn push_dispatch(session: &mut Session, event: &str, data: &str, cap: usize) {
    session.seq += 1;
    let seq = session.seq;
    let mut frame = String::with_capacity(data.len() + event.len() + 40);
    let _ = write!(frame, r#"{{"op":0,"s":{seq},"t":"{event}","d":{data}}}"#);
    let frame: Arc<str> = Arc::from(frame);
    if session.buffer.len() >= cap.max(1) {
        session.buffer.pop_front();
    }
    session.buffer.push_back((seq, Arc::clone(&frame)));
    if let Some(conn) = &session.conn {
        conn.send(Out::Frame(frame));
    }
}

/// The intent a dispatch needs, as documented ("Gateway Intents"). `None`: always sent.
fn intent_for(event: &str, in_guild: bool) -> Option<u64> {
    let bit = match event {
        "GUILD_CREATE"
        | "GUILD_UPDATE"
        | "GUILD_DELETE"
        | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE"
        | "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "CHANNEL_PINS_UPDATE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_LIST_SYNC"
        | "THREAD_MEMBER_UPDATE"
        | "STAGE_INSTANCE_CREATE"
        | "STAGE_INSTANCE_UPDATE"
        | "STAGE_INSTANCE_DELETE" => 0,
        "GUILD_MEMBER_ADD"
        | "GUILD_MEMBER_UPDATE"
        | "GUILD_MEMBER_REMOVE"
        | "THREAD_MEMBERS_UPDATE" => 1,
        "GUILD_AUDIT_LOG_ENTRY_CREATE" | "GUILD_BAN_ADD" | "GUILD_BAN_REMOVE" => 2,
        "GUILD_EMOJIS_UPDATE" | "GUILD_STICKERS_UPDATE" | "GUILD_SOUNDBOARD_SOUND_CREATE" => 3,
        "GUILD_INTEGRATIONS_UPDATE"
        | "INTEGRATION_CREATE"
        | "INTEGRATION_UPDATE"
        | "INTEGRATION_DELETE" => 4,
        "WEBHOOKS_UPDATE" => 5,
        "INVITE_CREATE" | "INVITE_DELETE" => 6,
        "VOICE_STATE_UPDATE" | "VOICE_CHANNEL_EFFECT_SEND" => 7,
        "PRESENCE_UPDATE" => 8,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
            if in_guild {
                9
            } else {
                12
            }
        }
        "MESSAGE_REACTION_ADD"
        | "MESSAGE_REACTION_REMOVE"
        | "MESSAGE_REACTION_REMOVE_ALL"
        | "MESSAGE_REACTION_REMOVE_EMOJI" => {
            if in_guild {
                10
            } else {
                13
            }
        }
        "TYPING_START" => {
            if in_guild {
                11
            } else {
                14
            }
        }
        "GUILD_SCHEDULED_EVENT_CREATE"
        | "GUILD_SCHEDULED_EVENT_UPDATE"
        | "GUILD_SCHEDULED_EVENT_DELETE" => 16,
        "AUTO_MODERATION_RULE_CREATE"
        | "AUTO_MODERATION_RULE_UPDATE"
        | "AUTO_MODERATION_RULE_DELETE" => 20,
        "AUTO_MODERATION_ACTION_EXECUTION" => 21,
        _ => return None,
    };
    Some(1 << bit)
}

/// Whether Discord would blank the content of this message for this session: guild messages,
/// without `MESSAGE_CONTENT`, not mentioning the bot and not written by it.
fn needs_content_strip(
    event: &str,
    guild_id: Option<u64>,
    intents: u64,
    data: &Value,
    bot_id: u64,
) -> bool {
    if !matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE")
        || guild_id.is_none()
        || intents & (1 << 15) != 0
    {
        return false;
    }
    let bot = bot_id.to_string();
    let by_bot = data["author"]["id"].as_str() == Some(bot.as_str());
    let mentions_bot = data["mentions"]
        .as_array()
        .is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot.as_str())));
    !by_bot && !mentions_bot
}

fn strip_content(data: &Value) -> Value {
    let mut v = data.clone();
    if let Some(obj) = v.as_object_mut() {
        for key in ["embeds", "attachments", "components"] {
            if obj.contains_key(key) {
                obj.insert(key.to_owned(), json!([]));
            }
        }
        if obj.contains_key("content") {
            obj.insert("content".to_owned(), json!(""));
        }
        obj.remove("poll");
    }
    v
}

/// The gateway route (`GET /` with a WebSocket upgrade).
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/", get(upgrade))
}

#[derive(Debug, Deserialize)]
struct ConnectQuery {
    v: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ConnectQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| connection(shared, query, socket))
        .into_response()
}

/// How a connection handler ended.
enum Ending {
    /// The simulator cut the connection without a close frame.
    Dropped,
    /// The client closed with this code (or the stream ended without one).
    ClientClosed(Option<u16>),
    /// The simulator closed with this code.
    ServerClosed(u16),
}

#[allow(clippy::too_many_lines)]
async fn connection(shared: Arc<Shared>, query: ConnectQuery, socket: WebSocket) {
    let conn_id = shared.gateway.next_conn_id();
    shared.gateway.lock().stats.connections += 1;
    let (tx, rx) = mpsc::unbounded_channel();
    let zombie = Arc::new(AtomicBool::new(false));
    let conn = Conn {
        id: conn_id,
        tx,
        zombie: Arc::clone(&zombie),
        invalidated: Arc::new(AtomicBool::new(false)),
    };
    let compress = match query.compress.as_deref() {
        Some("zlib-stream") => Transport::Zlib,
        Some("zstd-stream") => Transport::Zstd,
        _ => Transport::Plain,
    };
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(writer(sink, rx, compress));

    let config = shared.config();
    let mut state = ConnState {
        shared: Arc::clone(&shared),
        conn: conn.clone(),
        session_id: None,
        recent: VecDeque::new(),
        last_heartbeat: Instant::now(),
    };

    let ending = 'outer: {
        if query.v.as_deref() != Some("10") {
            break 'outer state.close(close_code::INVALID_API_VERSION, "Invalid API version.");
        }
        if query
            .encoding
            .as_deref()
            .is_some_and(|encoding| encoding != "json")
        {
            break 'outer state.close(
                close_code::DECODE_ERROR,
                "Only the json encoding is simulated.",
            );
        }
        if let Some(other) = query
            .compress
            .as_deref()
            .filter(|c| !matches!(*c, "zlib-stream" | "zstd-stream"))
        {
            tracing::debug!(
                compress = other,
                "unsupported transport compression requested"
            );
            break 'outer state.close(close_code::DECODE_ERROR, "Unsupported compression.");
        }
        let interval = u64::try_from(config.heartbeat_interval.as_millis()).unwrap_or(41_250);
        conn.send(Out::Frame(Arc::from(
            json!({"op": 10, "d": {"heartbeat_interval": interval, "_trace": ["[\"swarmcord-sim\"]"]}, "s": null, "t": null})
                .to_string(),
        )));
        let timeout =
            config.heartbeat_interval + config.heartbeat_interval / 2 + Duration::from_secs(2);
        loop {
            let deadline = tokio::time::sleep_until((state.last_heartbeat + timeout).into());
            let message = tokio::select! {
                message = stream.next() => message,
                () = deadline => break 'outer state.close(close_code::SESSION_TIMED_OUT, "Session timed out."),
                end = &mut writer => match end {
                    Ok(WriterEnd::Closed(code)) => break 'outer Ending::ServerClosed(code),
                    Ok(WriterEnd::Dropped | WriterEnd::Failed) | Err(_) => break 'outer Ending::Dropped,
                },
            };
            let text = match message {
                None | Some(Err(_)) => break 'outer Ending::ClientClosed(None),
                Some(Ok(Message::Close(frame))) => {
                    // Keep polling so that tungstenite flushes its automatic close reply.
                    let code = frame.map(|f| f.code);
                    while let Some(Ok(_)) = stream.next().await {}
                    break 'outer Ending::ClientClosed(code);
                }
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => text,
                    Err(_) => {
                        break 'outer state
                            .close(close_code::DECODE_ERROR, "Error while decoding payload.");
                    }
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            };
            if let Some(ending) = state.handle(&text) {
                break 'outer ending;
            }
        }
    };

    // Detach from the session (it stays resumable unless the close ended it).
    {
        let mut inner = shared.gateway.lock();
        let mut forget = None;
        if let Some(id) = &state.session_id
            && let Some(session) = inner.sessions.get_mut(id)
        {
            let attached = session.conn.as_ref().is_some_and(|c| c.id == conn_id);
            if attached {
                session.conn = None;
                session.disconnected_at = Some(Instant::now());
            }
            // Only the connection a session is attached to can end it (not one a forced op 9
            // or a RESUME elsewhere detached it from).
            let ends_session = attached
                && match ending {
                    Ending::ClientClosed(Some(code)) => matches!(code, 1000 | 1001),
                    Ending::ClientClosed(None) | Ending::Dropped => false,
                    Ending::ServerClosed(code) => !resumable_close(code),
                };
            if ends_session {
                forget = Some(id.clone());
            }
        }
        if let Some(id) = forget {
            inner.sessions.remove(&id);
        }
        match ending {
            Ending::ClientClosed(Some(code)) => {
                *inner.stats.closes_received.entry(code).or_default() += 1;
            }
            Ending::ServerClosed(code) => *inner.stats.closes_sent.entry(code).or_default() += 1,
            Ending::ClientClosed(None) | Ending::Dropped => {}
        }
    }
    if let Ending::Dropped = ending {
        // Dropping both halves of the socket closes the TCP connection.
        writer.abort();
        return;
    }
    if let Ending::ServerClosed(_) = ending {
        // Wait (briefly) for the client's close reply so the handshake completes.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    drop(conn);
    drop(state);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Why a connection's writer task stopped.
enum WriterEnd {
    /// It sent a close frame with this code.
    Closed(u16),
    /// It was told to cut the connection.
    Dropped,
    /// The socket failed or every sender is gone.
    Failed,
}

/// The transport compression a connection asked for (`compress=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Plain,
    Zlib,
    Zstd,
}

async fn writer(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    transport: Transport,
) -> WriterEnd {
    let mut zlib = (transport == Transport::Zlib).then(|| Compress::new(Compression::fast(), true));
    let mut zstd = (transport == Transport::Zstd).then(ZstdStream::default);
    while let Some(out) = rx.recv().await {
        let result = match out {
            Out::Frame(text) => match (zlib.as_mut(), zstd.as_mut()) {
                (Some(z), _) => {
                    sink.send(Message::Binary(deflate_sync(z, text.as_bytes()).into()))
                        .await
                }
                (None, Some(z)) => {
                    sink.send(Message::Binary(z.encode(text.as_bytes()).into()))
                        .await
                }
                (None, None) => sink.send(Message::Text(text.as_ref().into())).await,
            },
            Out::Close(code, reason) => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                // Nothing may follow a close frame.
                return WriterEnd::Closed(code);
            }
            Out::Drop => return WriterEnd::Dropped,
        };
        if result.is_err() {
            return WriterEnd::Failed;
        }
    }
    WriterEnd::Failed
}

/// Discord's `zstd-stream`: one zstd frame per connection that never ends; every payload is
/// appended to it as whole blocks (what `ZSTD_e_flush` produces), so a streaming decoder yields
/// each payload as soon as its message arrives. Blocks come from the pure-Rust `ruzstd` encoder
/// compressing each payload on its own (it never uses repeat offsets or tables from earlier
/// frames, so its blocks decode the same inside the long frame); matches never reach back into
/// earlier payloads, which costs ratio compared with Discord's, not correctness.
#[derive(Debug, Default)]
struct ZstdStream {
    started: bool,
}

/// Frame header of the connection's stream: magic, no content size, not single-segment, no
/// checksum, no dictionary; window 128 KiB (`ruzstd`'s match window, so every match fits).
const ZSTD_STREAM_HEADER: [u8; 6] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38];

impl ZstdStream {
    fn encode(&mut self, input: &[u8]) -> Vec<u8> {
        let frame =
            ruzstd::encoding::compress_to_vec(input, ruzstd::encoding::CompressionLevel::Fastest);
        let mut out = Vec::with_capacity(frame.len() + ZSTD_STREAM_HEADER.len());
        if !self.started {
            out.extend_from_slice(&ZSTD_STREAM_HEADER);
            self.started = true;
        }
        let mut pos = zstd_first_block(&frame).unwrap_or(frame.len());
        while let Some(header) = frame.get(pos..pos + 3) {
            let h = u32::from(header[0]) | u32::from(header[1]) << 8 | u32::from(header[2]) << 16;
            let last = h & 1 == 1;
            let size = usize::try_from(h >> 3).unwrap_or(usize::MAX);
            // Raw and compressed blocks carry `size` bytes, RLE blocks one.
            let len = if (h >> 1) & 3 == 1 { 1 } else { size };
            let Some(body) = frame.get(pos + 3..pos + 3 + len) else {
                break;
            };
            let open = h & !1;
            out.extend_from_slice(&open.to_le_bytes()[..3]);
            out.extend_from_slice(body);
            pos += 3 + len;
            if last {
                break;
            }
        }
        out
    }
}

/// Where the first block of a single zstd frame starts (after magic and frame header).
fn zstd_first_block(frame: &[u8]) -> Option<usize> {
    let descriptor = *frame.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    let dict_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let fcs_len = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    Some(5 + usize::from(!single_segment) + dict_len + fcs_len)
}

/// Compresses one payload into the connection's zlib stream, ending with a sync flush
/// (`00 00 ff ff`), as Discord's `zlib-stream` does.
fn deflate_sync(z: &mut Compress, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start_in = z.total_in();
    loop {
        let consumed = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        if z.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .is_err()
        {
            break;
        }
        let consumed = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        if consumed >= input.len()
            && out.ends_with(&[0, 0, 0xff, 0xff])
            && out.capacity() > out.len()
        {
            break;
        }
    }
    out
}

struct ConnState {
    shared: Arc<Shared>,
    conn: Conn,
    session_id: Option<String>,
    recent: VecDeque<Instant>,
    last_heartbeat: Instant,
}

impl ConnState {
    fn close(&self, code: u16, reason: &str) -> Ending {
        self.conn.send(Out::Close(code, reason.to_owned()));
        Ending::ServerClosed(code)
    }

    fn send_json(&self, value: &Value) {
        self.conn.send(Out::Frame(Arc::from(value.to_string())));
    }

    fn record(&self, op: &str, body: Value) {
        let shard = self
            .session_id
            .as_ref()
            .and_then(|id| self.shared.gateway.lock().sessions.get(id).map(|s| s.shard));
        let path = shard.map_or_else(
            || "shard/?".to_owned(),
            |[id, total]| format!("shard/{id}/{total}"),
        );
        self.shared.recorder.push("gateway", op, path, 0, body);
    }

    /// Handles one client payload; `Some` ends the connection.
    fn handle(&mut self, text: &str) -> Option<Ending> {
        let now = Instant::now();
        if self.conn.invalidated.swap(false, Ordering::SeqCst) {
            self.session_id = None;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now - *t > Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > CLIENT_PAYLOADS_PER_MINUTE {
            return Some(self.close(close_code::RATE_LIMITED, "You are being rate limited."));
        }
        if text.len() > MAX_CLIENT_PAYLOAD {
            return Some(self.close(close_code::DECODE_ERROR, "Payload too large."));
        }
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        match op {
            1 => {
                self.last_heartbeat = now;
                self.shared.gateway.lock().stats.heartbeats += 1;
                if !self.conn.zombie.load(Ordering::SeqCst) {
                    self.send_json(&json!({"op": 11, "d": null, "s": null, "t": null}));
                }
                None
            }
            2 => self.identify(&d),
            6 => self.resume(&d),
            3 | 4 | 8 | 31 if self.session_id.is_none() => {
                Some(self.close(close_code::NOT_AUTHENTICATED, "Not authenticated."))
            }
            3 => self.presence_update(d),
            4 => self.voice_state_update(d),
            8 => self.request_members(&d),
            31 => {
                self.record("REQUEST_SOUNDBOARD_SOUNDS", d);
                None
            }
            _ => Some(self.close(close_code::UNKNOWN_OPCODE, "Unknown opcode.")),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn identify(&mut self, d: &Value) -> Option<Ending> {
        if self.session_id.is_some() {
            return Some(self.close(close_code::ALREADY_AUTHENTICATED, "Already authenticated."));
        }
        let mut redacted = d.clone();
        if redacted.get("token").is_some() {
            redacted["token"] = json!("[redacted]");
        }
        self.record("IDENTIFY", redacted);
        let config = self.shared.config();
        let (Some(token), Some(intents), Some(_properties)) = (
            d["token"].as_str(),
            d["intents"].as_u64(),
            d["properties"].as_object(),
        ) else {
            return Some(self.close(close_code::DECODE_ERROR, "Error while decoding payload."));
        };
        if token.strip_prefix("Bot ").unwrap_or(token) != config.token {
            return Some(self.close(close_code::AUTHENTICATION_FAILED, "Authentication failed."));
        }
        let shard = match &d["shard"] {
            Value::Null => [0, 1],
            Value::Array(a) if a.len() == 2 => {
                match (
                    a[0].as_u64().and_then(|v| u32::try_from(v).ok()),
                    a[1].as_u64().and_then(|v| u32::try_from(v).ok()),
                ) {
                    (Some(id), Some(total)) => [id, total],
                    _ => return Some(self.close(close_code::INVALID_SHARD, "Invalid shard.")),
                }
            }
            _ => return Some(self.close(close_code::INVALID_SHARD, "Invalid shard.")),
        };
        if shard[1] == 0 || shard[0] >= shard[1] {
            return Some(self.close(close_code::INVALID_SHARD, "Invalid shard."));
        }
        if intents & !ALL_INTENTS != 0 {
            return Some(self.close(close_code::INVALID_INTENTS, "Invalid intent(s)."));
        }
        if intents & PRIVILEGED_INTENTS & !config.allowed_privileged_intents != 0 {
            return Some(self.close(close_code::DISALLOWED_INTENTS, "Disallowed intent(s)."));
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
            return Some(self.close(close_code::SHARDING_REQUIRED, "Sharding required."));
        }

        let gateway = &self.shared.gateway;
        let mut inner = gateway.lock();
        let bucket = shard[0] % config.max_concurrency.max(1);
        let now = Instant::now();
        let too_fast = inner
            .last_identify
            .get(&bucket)
            .is_some_and(|last| now - *last < config.identify_interval);
        let out_of_starts = remaining(&inner, &self.shared) == 0;
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
            drop(inner);
            self.send_json(&json!({"op": 9, "d": false, "s": null, "t": null}));
            return None;
        }
        inner.last_identify.insert(bucket, now);
        let left = remaining(&inner, &self.shared).saturating_sub(1);
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
        self.session_id = Some(session_id.clone());

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
            for id in &guild_ids {
                if let Some(guild) = world.guilds.get(id) {
                    let body = guild.to_gateway_json(&world, include_members).to_string();
                    push_dispatch(&mut session, "GUILD_CREATE", &body, config.replay_buffer);
                }
            }
        }
        drop(world);
        inner.stats.dispatches += session.seq;
        inner.sessions.insert(session_id, session);
        None
    }

    fn resume(&mut self, d: &Value) -> Option<Ending> {
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
        if let Some(old) = session.conn.take() {
            old.send(Out::Drop);
        }
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
        inner.stats.resumes += 1;
        inner.stats.replayed += replayed;
        inner.stats.dispatches += replayed + 1;
        self.session_id = Some(session_id.to_owned());
        None
    }

    fn presence_update(&self, d: Value) -> Option<Ending> {
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

    fn voice_state_update(&self, d: Value) -> Option<Ending> {
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

    fn request_members(&self, d: &Value) -> Option<Ending> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    #[test]
    fn zlib_stream_frames_end_with_sync_marker_and_inflate_in_sequence() {
        let mut z = Compress::new(Compression::fast(), true);
        let mut d = Decompress::new(true);
        for i in 0..50 {
            let payload = format!(
                r#"{{"op":0,"s":{i},"t":"X","d":{{"k":"{}"}}}}"#,
                "v".repeat(i * 100)
            );
            let frame = deflate_sync(&mut z, payload.as_bytes());
            assert!(frame.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::with_capacity(payload.len() + 64);
            d.decompress_vec(&frame, &mut out, FlushDecompress::Sync)
                .expect("inflate");
            assert_eq!(String::from_utf8(out).expect("utf8"), payload);
        }
    }

    #[test]
    fn intents_match_documentation() {
        assert_eq!(intent_for("MESSAGE_CREATE", true), Some(1 << 9));
        assert_eq!(intent_for("MESSAGE_CREATE", false), Some(1 << 12));
        assert_eq!(intent_for("GUILD_MEMBER_ADD", true), Some(1 << 1));
        assert_eq!(intent_for("INTERACTION_CREATE", true), None);
        assert_eq!(intent_for("READY", false), None);
    }

    #[test]
    fn content_is_stripped_without_message_content_intent() {
        let data = json!({"author": {"id": "5"}, "content": "hi", "embeds": [{}], "mentions": []});
        assert!(needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            1 << 9,
            &data,
            9
        ));
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            (1 << 9) | (1 << 15),
            &data,
            9
        ));
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            None,
            1 << 12,
            &data,
            9
        ));
        let mention = json!({"author": {"id": "5"}, "content": "hi", "mentions": [{"id": "9"}]});
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            1 << 9,
            &mention,
            9
        ));
        assert_eq!(strip_content(&data)["content"], "");
        assert_eq!(strip_content(&data)["embeds"], json!([]));
    }
}
