//! REST v10 simulator, nested under `/api/v10`.
//!
//! Every request goes through the same pipeline, in Discord's order: route resolution
//! (`404: Not Found` / `405: Method Not Allowed`), authentication (`Authorization: Bot <token>`,
//! or the interaction token in the path for interaction callbacks and follow-up webhooks),
//! rate limiting (per-route buckets keyed by route and major parameter, plus the global
//! per-second limit that interaction routes are exempt from), body parsing (50109 on invalid
//! JSON), then the handler. The result is recorded in [`crate::Recorder`] (kind `"rest"`,
//! path without `/api/v10` but with the query, request body as JSON or `null`) and the gateway
//! dispatches the change causes are sent, as Discord would.
//!
//! | route | handler |
//! |---|---|
//! | `GET /gateway`, `GET /gateway/bot` | gateway URL, shards, `session_start_limit` |
//! | `GET /users/@me`, `GET /users/{id}`, `POST /users/@me/channels` | users, DM channels |
//! | `GET /applications/@me`, `GET /oauth2/applications/@me` | the bot's application |
//! | `GET /channels/{id}`, `GET/POST /channels/{id}/messages`, `GET/PATCH/DELETE /channels/{id}/messages/{mid}`, `POST /channels/{id}/messages/bulk-delete` | channels and messages |
//! | `PATCH/DELETE /channels/{id}` (DELETE answers 200 with the channel), `PUT/DELETE /channels/{id}/permissions/{oid}` | channel edits and permission overwrites |
//! | `PUT/DELETE …/messages/{mid}/reactions/{emoji}/@me`, `DELETE …/reactions/{emoji}/{uid}`, `GET/DELETE …/reactions/{emoji}`, `DELETE …/reactions` | reactions |
//! | `GET /guilds/{id}[/channels\|/roles\|/members[/{uid}]\|/bans[/{uid}]]`, `PATCH/DELETE /guilds/{id}/members/{uid}`, `PUT/DELETE /guilds/{id}/bans/{uid}` | guilds, members, bans |
//! | `POST /guilds/{id}/roles`, `PATCH/DELETE /guilds/{id}/roles/{rid}`, `PUT/DELETE /guilds/{id}/members/{uid}/roles/{rid}` | roles |
//! | `GET/PUT/POST /applications/{app}[/guilds/{gid}]/commands`, `GET/PATCH/DELETE …/commands/{cid}` | application commands |
//! | `POST /interactions/{id}/{token}/callback` | interaction responses |
//! | `POST /webhooks/{app}/{token}`, `GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{mid\|@original}` | follow-ups and the original response |

mod attachments;
mod channels;
mod commands;
pub(crate) mod components;
mod ctx;
mod error;
mod guilds;
mod interactions;
mod members;
pub(crate) mod message;
mod messages;
mod modals;
mod ratelimit;
pub(crate) mod reactions;
mod roles;
mod routes;
mod stats;
mod threads;
mod users;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};

use super::Shared;
use ctx::Ctx;
use error::{ApiError, Reply};
use ratelimit::{Check, Decision};
use routes::{Auth, Endpoint, NoMatch};
pub use stats::{RestState, RestStats};

/// Largest request body read (Discord's attachment limit is far above what bots send here).
const MAX_BODY: usize = 25 * 1024 * 1024;

/// The REST routes, to be nested under `/api/v10`.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", any(handle))
        .route("/{*path}", any(handle))
}

/// What the pipeline produced for one request.
struct Outcome {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Value>,
    recorded_body: Value,
    reply: Option<Reply>,
}

impl Outcome {
    fn error(error: &ApiError, headers: HeaderMap, recorded_body: Value) -> Self {
        Self {
            status: error.status,
            headers,
            body: Some(error.body()),
            recorded_body,
            reply: None,
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let delay = {
        let config = shared
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let api_path = path.strip_prefix("/api/v10").unwrap_or(&path);
        config
            .rest_delays
            .iter()
            .filter(|d| d.matches(parts.method.as_str(), api_path))
            .map(|d| d.delay_ms)
            .max()
    };
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let recorded_path = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let api_path = path.strip_prefix("/api/v10").unwrap_or(&path);
    let ban_at = shared.config().rest_limits.invalid_request_limit;
    if ban_at.is_some_and(|limit| shared.rest.invalid.count() >= limit as usize) {
        // Cloudflare, not Discord: no `Via`, no JSON, not counted as a request.
        shared
            .rest
            .cloudflare_banned
            .fetch_add(1, Ordering::Relaxed);
        let mut response = Response::new(Body::from("error code: 1015"));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
        return response;
    }
    if let Some(status) = shared.rest.take_fault(parts.method.as_str(), api_path) {
        let body = json!({"message": "simulated fault", "code": 0});
        shared.rest.count(status);
        shared.recorder.push(
            "rest",
            parts.method.as_str(),
            recorded_path,
            status.as_u16(),
            parse_body(&parts.headers, &bytes).unwrap_or(Value::Null),
        );
        let mut response = Response::new(Body::from(body.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *response.status_mut() = status;
        return response;
    }
    let outcome = process(
        &shared,
        &parts.method,
        &path,
        parts.uri.query(),
        &parts.headers,
        &bytes,
    );
    shared.rest.count(outcome.status);
    shared.recorder.push_with_reason(
        "rest",
        parts.method.to_string(),
        recorded_path,
        outcome.status.as_u16(),
        outcome.recorded_body,
        audit_reason(&parts.headers),
    );
    if outcome.status.is_success() {
        crate::discord::feed::observe(
            &shared,
            parts.method.as_str(),
            api_path,
            outcome.body.as_ref(),
        );
    }
    if let Some(reply) = outcome.reply {
        for d in reply.dispatches {
            shared.dispatch(d.guild_id, d.event, d.data);
        }
    }
    let mut response = match outcome.body {
        Some(body) => {
            let mut r = Response::new(Body::from(body.to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = outcome.status;
    response.headers_mut().extend(outcome.headers);
    // Every response from Discord's API passes Google's load balancer (`Via: 1.1 google`) and
    // carries a `Date`; clients tell a Cloudflare ban (a 429 without `Via`) from a rate limit by
    // the former, and some correct their clocks with the latter.
    response
        .headers_mut()
        .insert(header::VIA, HeaderValue::from_static("1.1 google"));
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
    {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// Parses the request body: JSON, or the `payload_json` part of a multipart body with the
/// uploaded files listed under [`attachments::UPLOADS`]. `Ok(Value::Null)` for an empty body;
/// `Err` for invalid JSON.
fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (json_bytes, files) = if content_type.starts_with("multipart/form-data") {
        match attachments::parse_multipart(content_type, bytes) {
            Some(parts) => (parts.payload_json.unwrap_or_default(), parts.files),
            None => return Ok(Value::Null),
        }
    } else {
        (bytes, Vec::new())
    };
    let mut body = if json_bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(json_bytes).map_err(|_| ())?
    };
    if !files.is_empty() {
        if body.is_null() {
            body = json!({});
        }
        if let Some(map) = body.as_object_mut() {
            map.insert(attachments::UPLOADS.to_owned(), Value::Array(files));
        }
    }
    Ok(body)
}

fn process(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Outcome {
    let mut out_headers = HeaderMap::new();
    let parsed_body = parse_body(headers, bytes);
    let recorded_body = parsed_body.clone().unwrap_or(Value::Null);
    let route = match routes::resolve(method, path) {
        Ok(route) => route,
        Err(NoMatch::NotFound) => {
            return Outcome::error(&ApiError::not_found(), out_headers, recorded_body);
        }
        Err(NoMatch::MethodNotAllowed) => {
            return Outcome::error(&ApiError::method_not_allowed(), out_headers, recorded_body);
        }
    };
    let config = shared.config();
    if route.endpoint.auth() == Auth::Bot {
        let expected = format!("Bot {}", config.token);
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return Outcome::error(&ApiError::unauthorized(), out_headers, recorded_body);
        }
    }
    if config.rest_limits.enabled {
        let limits = &config.rest_limits;
        let (limit, window) = if route.endpoint == Endpoint::CreateMessage {
            (limits.messages_per_window, limits.messages_window)
        } else {
            (limits.default_per_window, limits.default_window)
        };
        let route_key = format!("{} {}", route.method, route.template);
        let major = route.major();
        let decision = shared.rest.limiter.check(&Check {
            route: &route_key,
            major: &major,
            limit,
            window,
            global: route
                .endpoint
                .global_limited()
                .then_some(limits.global_per_second),
        });
        let global = matches!(decision, Decision::Global(..));
        match decision {
            Decision::Allowed(info) => ratelimit::bucket_headers(&mut out_headers, &info),
            Decision::Route(info, retry) | Decision::Global(info, retry) => {
                ratelimit::bucket_headers(&mut out_headers, &info);
                ratelimit::limited_headers(&mut out_headers, retry, global);
                let counter = if global {
                    &shared.rest.rate_limited_global
                } else {
                    &shared.rest.rate_limited_route
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let body = json!({
                    "message": "You are being rate limited.",
                    "retry_after": ratelimit::retry_after_secs(retry),
                    "global": global,
                });
                return Outcome {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    headers: out_headers,
                    body: Some(body),
                    recorded_body,
                    reply: None,
                };
            }
        }
    }
    let takes_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    let body = match parsed_body {
        Ok(body) => body,
        Err(()) if takes_body => {
            return Outcome::error(&ApiError::invalid_json(), out_headers, Value::Null);
        }
        Err(()) => Value::Null,
    };
    let reason = audit_reason(headers);
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_AUDIT_LOG_REASON)
    {
        let mut errors = error::FormErrors::default();
        error::max_length_error(&mut errors, &["audit_log_reason"], MAX_AUDIT_LOG_REASON);
        return Outcome::error(&errors.into_error(), out_headers, recorded_body);
    }
    let ctx = Ctx {
        shared,
        route: &route,
        config,
        query: query.map(routes::parse_query).unwrap_or_default(),
        body,
        reason,
    };
    match execute(&ctx) {
        Ok(reply) => Outcome {
            status: reply.status,
            headers: out_headers,
            body: reply.body.clone(),
            recorded_body,
            reply: Some(reply),
        },
        Err(error) => Outcome::error(&error, out_headers, recorded_body),
    }
}

/// Longest `X-Audit-Log-Reason` Discord accepts (characters, after percent-decoding).
const MAX_AUDIT_LOG_REASON: usize = 512;

/// The percent-decoded `X-Audit-Log-Reason` header, if sent.
fn audit_reason(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-audit-log-reason")
        .map(|v| routes::percent_decode(&String::from_utf8_lossy(v.as_bytes())))
}

fn execute(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    match ctx.route.endpoint {
        Endpoint::GetGateway => Ok(users::get_gateway(ctx)),
        Endpoint::GetGatewayBot => Ok(users::get_gateway_bot(ctx)),
        Endpoint::GetCurrentUser => Ok(users::get_current_user(ctx)),
        Endpoint::GetCurrentApplication => Ok(users::get_current_application(ctx)),
        Endpoint::GetUser => users::get_user(ctx),
        Endpoint::CreateDm => users::create_dm(ctx),
        Endpoint::GetChannel => messages::get_channel(ctx),
        Endpoint::UpdateChannel => channels::update_channel(ctx),
        Endpoint::DeleteChannel => channels::delete_channel(ctx),
        Endpoint::PutOverwrite => channels::put_overwrite(ctx),
        Endpoint::DeleteOverwrite => channels::delete_overwrite(ctx),
        Endpoint::GetMessages => messages::get_messages(ctx),
        Endpoint::CreateMessage => messages::create_message(ctx),
        Endpoint::GetMessage => messages::get_message(ctx),
        Endpoint::UpdateMessage => messages::update_message(ctx),
        Endpoint::DeleteMessage => messages::delete_message(ctx),
        Endpoint::BulkDeleteMessages => messages::bulk_delete(ctx),
        Endpoint::AddOwnReaction => reactions::add_own(ctx),
        Endpoint::RemoveOwnReaction => reactions::remove_own(ctx),
        Endpoint::RemoveUserReaction => reactions::remove_user(ctx),
        Endpoint::GetReactions => reactions::list_users(ctx),
        Endpoint::RemoveAllReactions => reactions::remove_all(ctx),
        Endpoint::StartThreadFromMessage => threads::start_from_message(ctx),
        Endpoint::StartThread => threads::start_without_message(ctx),
        Endpoint::JoinThread => threads::join(ctx),
        Endpoint::LeaveThread => threads::leave(ctx),
        Endpoint::AddThreadMember => threads::add_member(ctx),
        Endpoint::RemoveThreadMember => threads::remove_member(ctx),
        Endpoint::GetThreadMember => threads::get_member(ctx),
        Endpoint::GetThreadMembers => threads::list_members(ctx),
        Endpoint::GetGuild => guilds::get_guild(ctx),
        Endpoint::GetGuildChannels => guilds::get_channels(ctx),
        Endpoint::GetGuildRoles => guilds::get_roles(ctx),
        Endpoint::GetMembers => guilds::get_members(ctx),
        Endpoint::GetMember => guilds::get_member(ctx),
        Endpoint::RemoveMember => guilds::remove_member(ctx),
        Endpoint::UpdateMember => members::update_member(ctx),
        Endpoint::AddMemberRole => roles::add_member_role(ctx),
        Endpoint::RemoveMemberRole => roles::remove_member_role(ctx),
        Endpoint::CreateRole => roles::create_role(ctx),
        Endpoint::UpdateRole => roles::update_role(ctx),
        Endpoint::DeleteRole => roles::delete_role(ctx),
        Endpoint::GetBans => guilds::get_bans(ctx),
        Endpoint::GetBan => guilds::get_ban(ctx),
        Endpoint::CreateBan => guilds::create_ban(ctx),
        Endpoint::DeleteBan => guilds::delete_ban(ctx),
        Endpoint::GetCommands => commands::get_commands(ctx),
        Endpoint::SetCommands => commands::set_commands(ctx),
        Endpoint::CreateCommand => commands::create_command(ctx),
        Endpoint::GetCommand => commands::get_command(ctx),
        Endpoint::UpdateCommand => commands::update_command(ctx),
        Endpoint::DeleteCommand => commands::delete_command(ctx),
        Endpoint::InteractionCallback => interactions::callback(ctx),
        Endpoint::ExecuteWebhook => interactions::execute_webhook(ctx),
        Endpoint::GetWebhookMessage => interactions::get_webhook_message(ctx),
        Endpoint::UpdateWebhookMessage => interactions::update_webhook_message(ctx),
        Endpoint::DeleteWebhookMessage => interactions::delete_webhook_message(ctx),
    }
}
