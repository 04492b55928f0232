//! Discord gateway v10 over WebSocket.
//!
//! Follows the documented lifecycle: HELLO → IDENTIFY (validated: token, intents, shard) →
//! READY (with `resume_gateway_url` pointing back at this simulator) → one `GUILD_CREATE` per guild
//! of the shard; heartbeats and ACKs; RESUME replays every dispatch the session missed, then
//! RESUMED; RECONNECT (op 7) and `INVALID_SESSION` (op 9) on demand; the documented close codes;
//! identify rate limiting by `max_concurrency` bucket; `zlib-stream` and `zstd-stream` transport compression; a
//! proper close handshake (a client's close frame is always answered with a close frame).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    /// Per shard (`[shard_id, shard_count]`: shard 3 of 4 and shard 3 of 8 are different
    /// shards, connected at once while a bot reshards): the largest number of connections
    /// attached to its sessions at once (must stay 1 while shards move between gateways).
    /// Serialized as a map keyed `"{shard_id}/{shard_count}"`.
    #[serde(serialize_with = "by_shard_name")]
    pub max_connections_per_shard: BTreeMap<[u32; 2], u64>,
    /// RESUMEs of a session that was still attached to another connection (which is dropped):
    /// a client taking a session over from a live (or frozen) one.
    pub resumes_replacing_a_connection: u64,
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

    /// Applies `action` to every connected session of shard id `shard_id`, whatever its shard
    /// count (a bot that reshards is connected with two); returns how many connections it
    /// reached.
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

    /// Sends a close frame with `code` to every connection of shard id `shard_id` (of every
    /// shard count). Codes that end a session (everything but 4000–4003, 4005, 4008 and 1012)
    /// also forget the session.
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

/// Records how many connections the sessions of `shard` (`[shard_id, shard_count]`) have
/// attached now (called when a connection is attached: IDENTIFY or RESUME).
fn note_attached(inner: &mut Inner, shard: [u32; 2]) {
    let attached = inner
        .sessions
        .values()
        .filter(|s| s.shard == shard && s.conn.is_some())
        .count() as u64;
    let max = inner
        .stats
        .max_connections_per_shard
        .entry(shard)
        .or_default();
    *max = (*max).max(attached);
}

/// Serializes a map keyed by `[shard_id, shard_count]` as a JSON object keyed
/// `"{shard_id}/{shard_count}"` (JSON keys are strings).
fn by_shard_name<S: serde::Serializer>(
    map: &BTreeMap<[u32; 2], u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        map.iter()
            .map(|([id, count], n)| (format!("{id}/{count}"), n)),
    )
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

/// How a connection handler ended.
enum Ending {
    /// The simulator cut the connection without a close frame.
    Dropped,
    /// The client closed with this code (or the stream ended without one).
    ClientClosed(Option<u16>),
    /// The simulator closed with this code.
    ServerClosed(u16),
}

/// The transport compression a connection asked for (`compress=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Plain,
    Zlib,
    Zstd,
}

struct ConnState {
    shared: Arc<Shared>,
    conn: Conn,
    session_id: Option<String>,
    recent: VecDeque<Instant>,
    last_heartbeat: Instant,
}

mod compression;
mod connection;
mod identify;
mod intents;
mod ops;

use intents::{intent_for, needs_content_strip, strip_content};

pub use connection::router;
