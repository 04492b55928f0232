//! The control API over HTTP: the routes under `/_sim` (see the table in [`super`]), their
//! extractors and their error answers.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    BlastReport, BlastSpec, ConfigPatch, Control, ControlError, CreatedGuild, CreatedInteraction,
    GuildSpec, InteractionSpec, MessageSpec, SaySpec, VoiceSpec, console, interactions, snowflake,
};
use crate::discord::Shared;
use crate::discord::gateway::{SessionInfo, ShardAction};
use crate::record::Record;

/// The simulator's state, as every handler gets it.
pub(super) type St = State<Arc<Shared>>;

/// What a control request can fail with: 400 for a request that does not parse, else the
/// [`ControlError`]'s status (404 for an unknown entity, 400 for an impossible request), with
/// `{"error": "…"}`.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The body, a path segment or a query does not parse.
    BadRequest(String),
    /// The control API refused.
    Control(ControlError),
}

impl ApiError {
    /// The answer's status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Control(ControlError::Invalid(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::Control(ControlError::Unknown(..)) => StatusCode::NOT_FOUND,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRequest(message) => f.write_str(message),
            Self::Control(error) => error.fmt(f),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        Self::Control(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// A handler's answer: JSON, or an [`ApiError`].
pub(super) type Answer<T> = Result<Json<T>, ApiError>;

/// A JSON request body. Unlike [`axum::Json`], any `Content-Type` is accepted (scripts post
/// with `curl -d`), and a body that does not parse is an [`ApiError`].
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        parse(&bytes).map(Body)
    }
}

/// [`Body`], or `T::default()` when the body is empty.
pub(crate) struct BodyOrDefault<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for BodyOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        parse(&bytes).map(Self)
    }
}

async fn body_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {}", e.body_text())))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

/// Path parameters (ids, actions, codes), a segment that does not parse being an
/// [`ApiError`].
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The control routes, to be nested under `/_sim`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/guilds", post(create_guild))
        .route("/guilds/{id}", get(get_guild).delete(delete_guild))
        .route("/guilds/{id}/members", post(add_member))
        .route(
            "/guilds/{id}/members/{user_id}",
            patch(update_member).delete(remove_member),
        )
        .route("/guilds/{id}/roles", post(create_role))
        .route("/users", post(create_user))
        .route("/messages", post(post_message))
        .route("/say", post(say))
        .route("/interactions", post(create_interaction))
        .route("/voice", post(voice))
        .route("/dispatch", post(dispatch))
        .route("/blast", post(blast))
        .route("/shards/{id}/close/{code}", post(close_shard))
        .route("/shards/{id}/{action}", post(shard_action))
        .route("/sessions", get(sessions))
        .route("/stats", get(stats))
        .route("/log", get(log))
        .route("/config", patch(patch_config))
        .route("/rest_faults", post(rest_fault))
        .merge(interactions::router())
        .merge(console::router())
}

fn control(shared: Arc<Shared>) -> Control {
    Control::new(shared)
}

/// `{"id": "…"}`.
fn created(id: u64) -> Json<Value> {
    Json(json!({"id": id.to_string()}))
}

async fn create_guild(
    State(shared): St,
    BodyOrDefault(spec): BodyOrDefault<GuildSpec>,
) -> Json<CreatedGuild> {
    Json(control(shared).create_guild(&spec))
}

async fn get_guild(State(shared): St, Params(id): Params<u64>) -> Answer<Value> {
    let guild = control(shared)
        .guild_json(id)
        .ok_or(ControlError::Unknown("guild", id))?;
    Ok(Json(guild))
}

async fn delete_guild(State(shared): St, Params(id): Params<u64>) -> Result<StatusCode, ApiError> {
    control(shared).remove_guild(id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AddMember {
    #[serde(with = "snowflake")]
    user_id: u64,
    #[serde(default, with = "snowflake::vec")]
    roles: Vec<u64>,
}

async fn add_member(
    State(shared): St,
    Params(id): Params<u64>,
    Body(req): Body<AddMember>,
) -> Result<StatusCode, ApiError> {
    control(shared).add_member(id, req.user_id, &req.roles)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct UpdateMember {
    #[serde(default)]
    nick: Option<String>,
    #[serde(default, with = "snowflake::vec")]
    roles: Vec<u64>,
}

async fn update_member(
    State(shared): St,
    Params((id, user_id)): Params<(u64, u64)>,
    Body(req): Body<UpdateMember>,
) -> Result<StatusCode, ApiError> {
    control(shared).update_member(id, user_id, req.nick.as_deref(), &req.roles)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(shared): St,
    Params((id, user_id)): Params<(u64, u64)>,
) -> Result<StatusCode, ApiError> {
    control(shared).remove_member(id, user_id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CreateRole {
    name: String,
    #[serde(default)]
    permissions: Value,
}

async fn create_role(
    State(shared): St,
    Params(id): Params<u64>,
    Body(req): Body<CreateRole>,
) -> Answer<Value> {
    let permissions = match &req.permissions {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    let role = control(shared).create_role(id, &req.name, permissions)?;
    Ok(created(role))
}

#[derive(Deserialize)]
struct CreateUser {
    name: String,
}

async fn create_user(State(shared): St, Body(req): Body<CreateUser>) -> Json<Value> {
    created(control(shared).create_user(&req.name))
}

async fn post_message(State(shared): St, Body(spec): Body<MessageSpec>) -> Answer<Value> {
    Ok(created(control(shared).post_message(&spec)?))
}

#[derive(Deserialize)]
struct SayQuery {
    format: Option<String>,
}

async fn say(
    State(shared): St,
    Query(q): Query<SayQuery>,
    Body(spec): Body<SaySpec>,
) -> Result<Response, ApiError> {
    let control = control(shared);
    let answer = control.say(&spec).await?;
    let status = match (&answer.reply, spec.timeout_ms) {
        (Some(_), _) => StatusCode::OK,
        (None, Some(0)) => StatusCode::ACCEPTED,
        (None, _) => StatusCode::GATEWAY_TIMEOUT,
    };
    if q.format.as_deref() == Some("text") {
        let text = match answer.reply {
            // The reply as a client shows it (embeds, components), the posted content if the
            // message is gone since.
            Some(content) => control
                .reply_text(answer.channel_id, answer.message_id)
                .unwrap_or(content),
            None if status == StatusCode::ACCEPTED => "(posted)".to_owned(),
            None => "(no reply from the bot)".to_owned(),
        };
        return Ok((
            status,
            [("content-type", "text/plain; charset=utf-8")],
            text,
        )
            .into_response());
    }
    Ok((status, Json(answer)).into_response())
}

async fn create_interaction(
    State(shared): St,
    Body(spec): Body<InteractionSpec>,
) -> Answer<CreatedInteraction> {
    Ok(Json(control(shared).create_interaction(&spec)?))
}

async fn voice(State(shared): St, Body(spec): Body<VoiceSpec>) -> Result<StatusCode, ApiError> {
    control(shared).set_voice(&spec)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct RawDispatch {
    #[serde(default, with = "snowflake::opt")]
    guild_id: Option<u64>,
    event: String,
    data: Value,
}

async fn dispatch(State(shared): St, Body(req): Body<RawDispatch>) -> StatusCode {
    control(shared).dispatch(req.guild_id, &req.event, req.data);
    StatusCode::NO_CONTENT
}

async fn blast(
    State(shared): St,
    BodyOrDefault(spec): BodyOrDefault<BlastSpec>,
) -> Answer<BlastReport> {
    Ok(Json(control(shared).blast(&spec).await?))
}

async fn shard_action(
    State(shared): St,
    Params((shard_id, action)): Params<(u32, String)>,
) -> Answer<Value> {
    let action = match action.as_str() {
        "reconnect" => ShardAction::Reconnect,
        "invalidate" => ShardAction::Invalidate,
        "invalidate_resumable" => ShardAction::InvalidateResumable,
        "drop" => ShardAction::Drop,
        "zombie" => ShardAction::Zombie,
        "unzombie" => ShardAction::Unzombie,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown shard action {other:?}"
            )));
        }
    };
    let connections = control(shared).shard_action(shard_id, action);
    Ok(Json(json!({"connections": connections})))
}

async fn close_shard(
    State(shared): St,
    Params((shard_id, code)): Params<(u32, u16)>,
) -> Json<Value> {
    Json(json!({"connections": control(shared).close_shard(shard_id, code)}))
}

async fn sessions(State(shared): St) -> Json<Vec<SessionInfo>> {
    Json(control(shared).sessions())
}

async fn stats(State(shared): St) -> Json<Value> {
    let gateway = control(Arc::clone(&shared)).gateway_stats();
    Json(json!({
        "gateway": gateway,
        "rest": shared.rest.stats(),
        "records": shared.recorder.len(),
    }))
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    since: u64,
    kind: Option<String>,
}

async fn log(State(shared): St, Query(q): Query<LogQuery>) -> Json<Vec<Record>> {
    Json(control(shared).log(q.since, q.kind.as_deref()))
}

async fn rest_fault(State(shared): St, Body(fault): Body<crate::discord::RestFault>) -> StatusCode {
    control(shared).fail_rest(&fault);
    StatusCode::NO_CONTENT
}

async fn patch_config(State(shared): St, Body(patch): Body<ConfigPatch>) -> StatusCode {
    control(shared).patch_config(&patch);
    StatusCode::NO_CONTENT
}
