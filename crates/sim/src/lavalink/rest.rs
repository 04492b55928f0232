//! Lavalink's REST API (`/version`, `/v4/...`), its authorization and its error bodies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::catalogue;
use super::state::{ApiError, Node};
use crate::util::unix_ms;

/// Lavalink's error body: `{timestamp, status, error, [trace,] message, path}`. The `trace` is
/// only included when the request has `?trace=true`, as Lavalink does.
pub(crate) fn error_response(status: u16, message: &str, uri: &Uri) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "timestamp": unix_ms(),
        "status": code.as_u16(),
        "error": code.canonical_reason().unwrap_or("Unknown"),
        "message": message,
        "path": uri.path(),
    });
    let trace = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.eq_ignore_ascii_case("trace=true")));
    if trace {
        body["trace"] = json!(format!(
            "dev.arbjerg.lavalink.server.SimulatedException: {message}\n\tat sim.lavalink.Rest.handle(Rest.kt:1)\n"
        ));
    }
    (code, Json(body)).into_response()
}

fn api_error(error: &ApiError, uri: &Uri) -> Response {
    error_response(error.status, &error.message, uri)
}

/// Rejects requests without the right `Authorization` header and every request while the node
/// is killed (503, Lavalink's error body). As Lavalink 4.0.8: REST answers 401 without the
/// header and 403 with a wrong password (`RequestAuthorizationFilter`), the WebSocket upgrade 401
/// in both cases (`HandshakeInterceptorImpl`), all with empty bodies. Rejected `PATCH`/`DELETE`
/// requests are recorded too.
pub(crate) async fn auth(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION);
    let uri = request.uri().clone();
    let (status, response) = if node.is_killed() {
        (
            503,
            error_response(503, "Lavalink node is unavailable", &uri),
        )
    } else if given.is_some_and(|v| v.as_bytes() == node.config.password.as_bytes()) {
        return next.run(request).await;
    } else {
        let status = if given.is_none() || uri.path() == "/v4/websocket" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        (status.as_u16(), status.into_response())
    };
    let method = request.method().clone();
    if method == Method::PATCH || method == Method::DELETE {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        node.recorder.push(
            "lavalink",
            method.as_str(),
            uri.path(),
            status,
            body_for_record(&body),
        );
    }
    response
}

/// Adds `Lavalink-Api-Version: 4` to every response, as Lavalink's `ResponseHeaderFilter` does
/// (REST, errors and the WebSocket upgrade alike).
pub(crate) async fn api_version(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("Lavalink-Api-Version", HeaderValue::from_static("4"));
    response
}

/// Any unknown path: 404 with Lavalink's error body.
pub(crate) async fn not_found(uri: Uri) -> Response {
    error_response(404, "Not Found", &uri)
}

/// A known path with the wrong method: 405 with Lavalink's error body.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        405,
        &format!("Request method '{method}' is not supported"),
        &uri,
    )
}

/// `GET /version`: the version as plain text.
pub(crate) async fn version(State(node): State<Arc<Node>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        node.config.version.clone(),
    )
        .into_response()
}

/// `GET /v4/info`.
pub(crate) async fn info(State(node): State<Arc<Node>>) -> Json<Value> {
    Json(info_json(&node.config.version))
}

pub(crate) fn info_json(version: &str) -> Value {
    let (core, build) = version.split_once('+').unwrap_or((version, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let mut parts = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    json!({
        "version": {
            "semver": version,
            "major": major,
            "minor": minor,
            "patch": patch,
            "preRelease": if pre.is_empty() { Value::Null } else { json!(pre) },
            "build": if build.is_empty() { Value::Null } else { json!(build) },
        },
        "buildTime": 1_717_000_000_000_u64,
        "git": {"branch": "main", "commit": "5ed6cc3", "commitTime": 1_716_990_000_000_u64},
        "jvm": "17.0.11",
        "lavaplayer": "2.2.1",
        "sourceManagers": ["youtube", "soundcloud", "http"],
        "filters": [
            "volume", "equalizer", "karaoke", "timescale", "tremolo", "vibrato",
            "distortion", "rotation", "channelMix", "lowPass"
        ],
        "plugins": [],
    })
}

/// `GET /v4/stats`.
pub(crate) async fn stats(State(node): State<Arc<Node>>) -> Json<Value> {
    Json(node.stats_json())
}

/// `GET /v4/loadtracks?identifier=`.
pub(crate) async fn load_tracks(
    uri: Uri,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_response(400, "Invalid query string", &uri);
    };
    match query.get("identifier") {
        Some(identifier) => Json(catalogue::load(identifier).to_json()).into_response(),
        None => error_response(
            400,
            "Required request parameter 'identifier' is not present",
            &uri,
        ),
    }
}

/// `GET /v4/decodetrack?encodedTrack=`.
pub(crate) async fn decode_track(
    uri: Uri,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_response(400, "Invalid query string", &uri);
    };
    let Some(encoded) = query.get("encodedTrack").or_else(|| query.get("track")) else {
        return error_response(
            400,
            "Required request parameter 'encodedTrack' is not present",
            &uri,
        );
    };
    match catalogue::decode_track(encoded) {
        Some(track) => Json(track).into_response(),
        None => error_response(400, &format!("Failed to decode track '{encoded}'"), &uri),
    }
}

/// `POST /v4/decodetracks` with a JSON array of encoded tracks.
pub(crate) async fn decode_tracks(uri: Uri, body: Bytes) -> Response {
    let Ok(list) = serde_json::from_slice::<Vec<String>>(&body) else {
        return error_response(
            400,
            "Request body must be a JSON array of encoded tracks",
            &uri,
        );
    };
    let mut tracks = Vec::with_capacity(list.len());
    for encoded in &list {
        match catalogue::decode_track(encoded) {
            Some(track) => tracks.push(track),
            None => {
                return error_response(400, &format!("Failed to decode track '{encoded}'"), &uri);
            }
        }
    }
    Json(tracks).into_response()
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(400, "Required request body is missing"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::new(400, format!("JSON parse error: {e}")))
}

fn body_for_record(body: &Bytes) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn respond(
    node: &Node,
    method: &str,
    uri: &Uri,
    body: &Bytes,
    result: Result<Response, ApiError>,
) -> Response {
    let response = result.unwrap_or_else(|e| api_error(&e, uri));
    node.recorder.push(
        "lavalink",
        method,
        uri.path(),
        response.status().as_u16(),
        body_for_record(body),
    );
    response
}

/// `PATCH /v4/sessions/{sessionId}`.
pub(crate) async fn update_session(
    State(node): State<Arc<Node>>,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let result = path
        .map_err(|e| ApiError::new(400, e.body_text()))
        .and_then(|Path(session_id)| {
            let json = parse_body(&body)?;
            node.update_session(&session_id, &json)
        })
        .map(|v| Json(v).into_response());
    respond(&node, "PATCH", &uri, &body, result)
}

/// `GET /v4/sessions/{sessionId}/players`.
pub(crate) async fn list_players(
    State(node): State<Arc<Node>>,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = path
        .map_err(|e| ApiError::new(400, e.body_text()))
        .and_then(|Path(session_id)| node.players_json(&session_id));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(&e, &uri),
    }
}

fn player_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, u64), ApiError> {
    let Path((session_id, guild_id)) = path.map_err(|e| ApiError::new(400, e.body_text()))?;
    let guild_id = guild_id
        .parse::<u64>()
        .map_err(|_| ApiError::new(400, format!("Invalid guild id '{guild_id}'")))?;
    Ok((session_id, guild_id))
}

/// `GET /v4/sessions/{sessionId}/players/{guildId}`.
pub(crate) async fn get_player(
    State(node): State<Arc<Node>>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    match player_path(path).and_then(|(s, g)| node.player_json(&s, g)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(&e, &uri),
    }
}

/// `PATCH /v4/sessions/{sessionId}/players/{guildId}[?noReplace=true]`.
pub(crate) async fn update_player(
    State(node): State<Arc<Node>>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> Response {
    let result = patch_player(&node, path, query, &body).map(|v| Json(v).into_response());
    respond(&node, "PATCH", &uri, &body, result)
}

fn patch_player(
    node: &Node,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let (session_id, guild_id) = player_path(path)?;
    let Ok(Query(query)) = query else {
        return Err(ApiError::new(400, "Invalid query string"));
    };
    let no_replace = query
        .get("noReplace")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let json = parse_body(body)?;
    node.update_player(&session_id, guild_id, &json, no_replace)
}

/// `DELETE /v4/sessions/{sessionId}/players/{guildId}`: 204.
pub(crate) async fn destroy_player(
    State(node): State<Arc<Node>>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Response {
    let result = player_path(path)
        .and_then(|(s, g)| node.destroy_player(&s, g))
        .map(|()| StatusCode::NO_CONTENT.into_response());
    respond(&node, "DELETE", &uri, &body, result)
}

/// A header as a string, if present and valid UTF-8.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_parses_semver() {
        let info = info_json("4.0.8");
        assert_eq!(
            info["version"],
            json!({"semver": "4.0.8", "major": 4, "minor": 0, "patch": 8, "preRelease": null, "build": null})
        );
        let info = info_json("4.1.0-rc.1+abc");
        assert_eq!(info["version"]["minor"], 1);
        assert_eq!(info["version"]["preRelease"], "rc.1");
        assert_eq!(info["version"]["build"], "abc");
    }

    #[test]
    fn error_bodies_have_lavalink_shape() {
        let uri: Uri = "/v4/sessions/x/players?trace=true"
            .parse()
            .unwrap_or_default();
        let response = error_response(404, "Session not found", &uri);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let uri: Uri = "/v4/info".parse().unwrap_or_default();
        assert_eq!(error_response(401, "Unauthorized", &uri).status(), 401);
    }
}
