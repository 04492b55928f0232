//! The simulator's control API under `/_sim` (no authorization).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::state::{Node, PlayerSnapshot, SessionSnapshot, SimStats};
use crate::record::Record;

/// Routes, to nest under `/_sim`.
pub(crate) fn router() -> Router<Arc<Node>> {
    Router::new()
        .route("/players", get(players))
        .route("/sessions", get(sessions))
        .route("/stats", get(stats))
        .route("/log", get(log))
        .route("/kill", post(kill))
        .route("/crash", post(crash))
        .route("/revive", post(revive))
        .route("/players/{guild_id}/voice-closed", post(voice_closed))
        .route("/players/{guild_id}/stuck", post(stuck))
}

async fn players(State(node): State<Arc<Node>>) -> Json<Vec<PlayerSnapshot>> {
    Json(node.players())
}

async fn sessions(State(node): State<Arc<Node>>) -> Json<Vec<SessionSnapshot>> {
    Json(node.sessions())
}

async fn stats(State(node): State<Arc<Node>>) -> Json<SimStats> {
    Json(node.sim_stats())
}

async fn log(
    State(node): State<Arc<Node>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Vec<Record>> {
    let since = query.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    Json(
        node.recorder
            .since(since, query.get("kind").map(String::as_str)),
    )
}

async fn kill(State(node): State<Arc<Node>>) -> Json<SimStats> {
    node.kill(false);
    Json(node.sim_stats())
}

async fn crash(State(node): State<Arc<Node>>) -> Json<SimStats> {
    node.kill(true);
    Json(node.sim_stats())
}

async fn revive(State(node): State<Arc<Node>>) -> Json<SimStats> {
    node.revive();
    Json(node.sim_stats())
}

/// `POST /_sim/players/{guildId}/voice-closed?code=4006&reason=..&byRemote=true`: 204, or 404
/// without such a player.
async fn voice_closed(
    State(node): State<Arc<Node>>,
    Path(guild_id): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    let code = query
        .get("code")
        .and_then(|c| c.parse().ok())
        .unwrap_or(4006);
    let reason = query.get("reason").map_or("", String::as_str);
    let by_remote = query.get("byRemote").is_none_or(|b| b != "false");
    if node.voice_closed(guild_id, code, reason, by_remote) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `POST /_sim/players/{guildId}/stuck?thresholdMs=10000`: 204, or 404 without a playing track.
async fn stuck(
    State(node): State<Arc<Node>>,
    Path(guild_id): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    let threshold = query
        .get("thresholdMs")
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    if node.track_stuck(guild_id, threshold) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}
