//! The HTTP routes of the console control API.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ClickSpec, CommandLine, ConsoleAnswer, SubmitSpec};
use crate::discord::Shared;
use crate::discord::control::http::{ApiError, Body, St};
use crate::discord::control::{Control, ControlError};

/// Longest a feed request waits.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The console routes, merged into the control router.
pub(crate) fn router() -> axum::Router<Arc<Shared>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/feed", get(http_feed))
        .route("/click", post(http_click))
        .route("/submit", post(http_submit))
        .route("/slash", post(http_slash))
        .route("/menu", post(http_menu))
        .route("/commands", get(http_commands))
        .route("/directory", get(http_directory))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

#[derive(Deserialize)]
struct FeedQuery {
    since: Option<u64>,
    #[serde(default)]
    wait_ms: u64,
    channel_id: Option<u64>,
    format: Option<String>,
}

async fn http_feed(State(shared): St, Query(q): Query<FeedQuery>) -> Response {
    let control = Control::new(Arc::clone(&shared));
    let (entries, next) = match q.since {
        None => (Vec::new(), shared.feed.next_seq()),
        Some(since) => {
            shared
                .feed
                .wait(since, Duration::from_millis(q.wait_ms).min(MAX_WAIT))
                .await;
            let next = shared.feed.next_seq();
            let entries: Vec<_> = shared
                .feed
                .since(since)
                .into_iter()
                .filter(|e| e.seq < next)
                .collect();
            (entries, next)
        }
    };
    let mut response = if q.format.as_deref() == Some("text") {
        let channel = q.channel_id.or_else(|| {
            super::default_place(&shared.world(), None, None)
                .ok()
                .map(|(c, _)| c)
        });
        text(StatusCode::OK, control.feed_text(&entries, channel))
    } else {
        Json(json!({"next": next, "entries": entries})).into_response()
    };
    if let Ok(value) = next.to_string().parse() {
        response.headers_mut().insert("x-sim-next", value);
    }
    response
}

fn console_answer(
    result: Result<ConsoleAnswer, ControlError>,
    format: Option<&str>,
    waited: bool,
) -> Response {
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => {
            let error = ApiError::from(e);
            return match format {
                Some("text") => text(error.status(), error.to_string()),
                _ => error.into_response(),
            };
        }
    };
    let status = match (&answer.answer, waited) {
        (Some(_), _) => StatusCode::OK,
        (None, true) => StatusCode::GATEWAY_TIMEOUT,
        (None, false) => StatusCode::ACCEPTED,
    };
    if format == Some("text") {
        let body = answer
            .answer
            .unwrap_or_else(|| "(no answer from the bot yet)".to_owned());
        return text(status, body);
    }
    (status, Json(answer)).into_response()
}

async fn http_click(
    State(shared): St,
    Query(q): Query<FormatQuery>,
    Body(spec): Body<ClickSpec>,
) -> Response {
    let result = Control::new(shared).click(&spec).await;
    console_answer(result, q.format.as_deref(), spec.timeout_ms != Some(0))
}

async fn http_submit(
    State(shared): St,
    Query(q): Query<FormatQuery>,
    Body(spec): Body<SubmitSpec>,
) -> Response {
    let result = Control::new(shared).submit(&spec).await;
    console_answer(result, q.format.as_deref(), spec.timeout_ms != Some(0))
}

async fn http_slash(
    State(shared): St,
    Query(q): Query<FormatQuery>,
    Body(spec): Body<CommandLine>,
) -> Response {
    let result = Control::new(shared).slash(&spec).await;
    console_answer(result, q.format.as_deref(), spec.timeout_ms != Some(0))
}

async fn http_menu(
    State(shared): St,
    Query(q): Query<FormatQuery>,
    Body(spec): Body<CommandLine>,
) -> Response {
    let result = Control::new(shared).menu(&spec).await;
    console_answer(result, q.format.as_deref(), spec.timeout_ms != Some(0))
}

async fn http_commands(State(shared): St) -> Response {
    match Control::new(shared).commands_text() {
        Ok(body) => text(StatusCode::OK, body),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct DirectoryQuery {
    guild_id: Option<u64>,
}

async fn http_directory(State(shared): St, Query(q): Query<DirectoryQuery>) -> Response {
    match Control::new(shared).directory_text(q.guild_id) {
        Ok(body) => text(StatusCode::OK, body),
        Err(e) => ApiError::from(e).into_response(),
    }
}
