//! One WebSocket connection: the upgrade, the reader loop, the writer task, and the
//! dispatch of client payloads to their handlers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flate2::{Compress, Compression};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::compression::{ZstdStream, deflate_sync};
use std::sync::atomic::AtomicBool;

use super::{
    CLIENT_PAYLOADS_PER_MINUTE, Conn, ConnState, Ending, MAX_CLIENT_PAYLOAD, Out, Shared,
    Transport, close_code, resumable_close,
};

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
        if let Some(ending) = refuse_query(&state, &query) {
            break 'outer ending;
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

    detach(&shared, &state, conn_id, &ending);
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

/// The close for a connection whose query asks for what the simulator does not serve (an
/// API version other than 10, an encoding other than JSON, an unknown compression).
fn refuse_query(state: &ConnState, query: &ConnectQuery) -> Option<Ending> {
    if query.v.as_deref() != Some("10") {
        return Some(state.close(close_code::INVALID_API_VERSION, "Invalid API version."));
    }
    if query
        .encoding
        .as_deref()
        .is_some_and(|encoding| encoding != "json")
    {
        return Some(state.close(
            close_code::DECODE_ERROR,
            "Only the json encoding is simulated.",
        ));
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
        return Some(state.close(close_code::DECODE_ERROR, "Unsupported compression."));
    }
    None
}

/// Detaches the connection from its session when it ended: the session stays resumable
/// unless the close ended it; counts the close codes.
fn detach(shared: &Shared, state: &ConnState, conn_id: u64, ending: &Ending) {
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
            && match *ending {
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
    match *ending {
        Ending::ClientClosed(Some(code)) => {
            *inner.stats.closes_received.entry(code).or_default() += 1;
        }
        Ending::ServerClosed(code) => *inner.stats.closes_sent.entry(code).or_default() += 1,
        Ending::ClientClosed(None) | Ending::Dropped => {}
    }
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

impl ConnState {
    pub(super) fn close(&self, code: u16, reason: &str) -> Ending {
        self.conn.send(Out::Close(code, reason.to_owned()));
        Ending::ServerClosed(code)
    }

    pub(super) fn send_json(&self, value: &Value) {
        self.conn.send(Out::Frame(Arc::from(value.to_string())));
    }

    pub(super) fn record(&self, op: &str, body: Value) {
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
}
