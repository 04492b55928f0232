//! The `/v4/websocket` endpoint: `ready`, then `stats`, `playerUpdate` and `event` ops.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;

use super::rest::{error_response, header_str};
use super::state::Node;

/// Upgrades to a Lavalink session (authorization was checked by the middleware).
///
/// `User-Id` is required (400 without). `Session-Id` resumes a disconnected session that has
/// resuming enabled and has not timed out; the upgrade response then carries
/// `Session-Resumed: true`, otherwise `Session-Resumed: false` and a new session.
pub(crate) async fn websocket(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(user_id) = header_str(&headers, "user-id").and_then(|v| v.trim().parse::<u64>().ok())
    else {
        // Lavalink's handshake interceptor answers a bare 400.
        return StatusCode::BAD_REQUEST.into_response();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return error_response(rejection.status().as_u16(), &rejection.body_text(), &uri);
        }
    };
    let client_name = header_str(&headers, "client-name")
        .unwrap_or_default()
        .to_owned();
    let resume = header_str(&headers, "session-id").map(str::to_owned);

    let (tx, rx) = mpsc::unbounded_channel();
    let conn_id = node.next_conn_id();
    let (session_id, resumed) = node.attach(user_id, &client_name, resume.as_deref(), conn_id, tx);
    node.recorder.push(
        "lavalink-ws",
        if resumed { "RESUME" } else { "CONNECT" },
        uri.path(),
        101,
        json!({
            "sessionId": session_id,
            "resumed": resumed,
            "requestedSessionId": resume,
            "userId": user_id.to_string(),
            "clientName": client_name,
        }),
    );
    tracing::debug!(%session_id, resumed, %client_name, "lavalink websocket connected");

    let failed_node = Arc::clone(&node);
    let failed_session = session_id.clone();
    let mut response = upgrade
        .on_failed_upgrade(move |_| {
            failed_node.detach(&failed_session, conn_id);
        })
        .on_upgrade(move |socket| run(node, socket, rx, session_id, conn_id));
    response.headers_mut().insert(
        "Session-Resumed",
        HeaderValue::from_static(if resumed { "true" } else { "false" }),
    );
    response
}

/// Pumps queued messages to the socket until it closes, is killed or the node shuts down.
async fn run(
    node: Arc<Node>,
    mut socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<String>,
    session_id: String,
    conn_id: u64,
) {
    let mut kill = node.kill_switch.subscribe();
    let mut shutdown = node.shutdown.subscribe();
    let reason = loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(text) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        break "send failed";
                    }
                }
                // The session was detached (kill) or destroyed: drop the socket abruptly.
                None => break "session gone",
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) => {
                    // tungstenite has queued the close reply (echoing the client's code); it is
                    // flushed by the next read, so keep reading until the stream ends (as the
                    // Discord simulator does) instead of dropping the socket with it unsent.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) = socket.recv().await {}
                    })
                    .await;
                    break "closed by client";
                }
                // Lavalink v4 ignores anything clients send on the socket.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break "connection lost",
            },
            _ = kill.changed() => break "killed",
            () = stopped(&mut shutdown) => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "Lavalink is shutting down".into(),
                    })))
                    .await;
                break "shutdown";
            }
        }
    };
    drop(socket);
    let was_attached = node.detach(&session_id, conn_id);
    node.recorder.push(
        "lavalink-ws",
        "DISCONNECT",
        "/v4/websocket",
        0,
        json!({"sessionId": session_id, "reason": reason, "wasAttached": was_attached}),
    );
    tracing::debug!(%session_id, reason, "lavalink websocket closed");
}

/// Resolves once the node shuts down (or its shutdown sender is gone).
pub(crate) async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
