//! Fidelity of the REST v10 simulator, proven with a real client (twilight-http 0.18 and its
//! models) and, for exact headers and bodies, plain HTTP requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swarmcord_sim::discord::control::{CreatedGuild, GuildSpec, InteractionSpec, MessageSpec};
use swarmcord_sim::discord::world::InteractionState;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::request::{AuditLogReason, Method, Request};
use twilight_http::{Client, Error};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::channel::message::MessageFlags;
use twilight_model::channel::message::MessageType;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

/// A started simulator.
async fn sim(config: DiscordConfig) -> DiscordSim {
    DiscordSim::start(config).await.expect("simulator starts")
}

/// A twilight client pointed at the simulator, with twilight's own rate limiter.
fn client(sim: &DiscordSim) -> Client {
    Client::builder()
        .proxy(sim.http_proxy(), true)
        .token(sim.token())
        .build()
}

/// A guild with three members and two text channels (not announced: no gateway here).
fn guild(sim: &DiscordSim, everyone_permissions: Option<u64>) -> CreatedGuild {
    sim.control().create_guild(&GuildSpec {
        name: "rest".to_owned(),
        members: 3,
        text_channels: 2,
        voice_channels: 0,
        everyone_permissions,
        announce: false,
        ..GuildSpec::default()
    })
}

fn channel(id: u64) -> Id<ChannelMarker> {
    Id::new(id)
}

fn guild_id(g: &CreatedGuild) -> Id<GuildMarker> {
    Id::new(g.id)
}

fn user(id: u64) -> Id<UserMarker> {
    Id::new(id)
}

/// Status and Discord error code of a twilight error (panics for other kinds of error).
fn api_error(error: &Error) -> (u16, u64, Value) {
    match error.kind() {
        ErrorType::Response {
            body,
            error,
            status,
        } => {
            let code = match error {
                ApiError::General(general) => general.code,
                other => panic!("unexpected API error shape: {other:?}"),
            };
            let body: Value = serde_json::from_slice(body).expect("error body is JSON");
            (status.get(), code, body)
        }
        other => panic!("expected an API error response, got {other:?}"),
    }
}

/// A raw HTTP response.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: HashMap<String, String>,
    body: Value,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// One request under `/api/v10` on a fresh connection, read to the end (a JSON content type
/// with any body, and with every method but `GET`).
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Raw {
    let body = body.unwrap_or("");
    let body = (!body.is_empty() || method != "GET").then_some(body);
    let answer = http::discord(&addr.to_string(), method, path, token, body)
        .await
        .expect("answers");
    Raw {
        status: answer.status,
        body: answer.json().expect("JSON body"),
        headers: answer.headers.into_iter().collect(),
    }
}

#[tokio::test]
async fn models_deserialize_into_twilight_types() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let http = client(&sim);

    let gateway = http
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("model");
    assert_eq!(gateway.url, sim.gateway_url());
    assert_eq!(gateway.shards, 1);
    assert_eq!(gateway.session_start_limit.total, 1000);
    assert_eq!(gateway.session_start_limit.max_concurrency, 1);

    let me = http
        .current_user()
        .await
        .expect("users/@me")
        .model()
        .await
        .expect("model");
    assert_eq!(me.id.get(), DiscordConfig::default().bot_id);
    assert!(me.bot);

    let guild = http
        .guild(guild_id(&g))
        .await
        .expect("guild")
        .model()
        .await
        .expect("model");
    assert_eq!(guild.name, "rest");
    assert_eq!(guild.owner_id.get(), g.owner_id);
    let channels = http
        .guild_channels(guild_id(&g))
        .await
        .expect("channels")
        .model()
        .await
        .expect("model");
    assert_eq!(channels.len(), 2);
    let roles = http
        .roles(guild_id(&g))
        .await
        .expect("roles")
        .model()
        .await
        .expect("model");
    assert!(roles.iter().any(|r| r.id.get() == g.moderator_role));
    let members = http
        .guild_members(guild_id(&g))
        .limit(100)
        .await
        .expect("members")
        .model()
        .await
        .expect("model");
    assert_eq!(members.len(), 5, "3 generated members + owner + bot");
    let member = http
        .guild_member(guild_id(&g), user(g.members[0]))
        .await
        .expect("member");
    assert_eq!(
        member.model().await.expect("model").user.id.get(),
        g.members[0]
    );
    let missing = http.guild(Id::new(42)).await.expect_err("unknown guild");
    assert_eq!(missing.status_code(), (404, 10004));

    let dm = http
        .create_private_channel(user(g.members[1]))
        .await
        .expect("dm")
        .model()
        .await
        .expect("model");
    let again = http
        .create_private_channel(user(g.members[1]))
        .await
        .expect("dm")
        .model()
        .await
        .expect("model");
    assert_eq!(dm.id, again.id, "the DM channel is reused");
    let sent = http
        .create_message(dm.id)
        .content("hi in DM")
        .await
        .expect("DM message")
        .model()
        .await
        .expect("model");
    assert_eq!(sent.channel_id, dm.id);
    assert!(sent.guild_id.is_none());
}

#[tokio::test]
async fn message_create_edit_delete_round_trip() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let ch = channel(g.text_channels[0]);
    let bot_id = DiscordConfig::default().bot_id;
    let since = sim.shared().recorder.len();

    let content = format!("hello <@{}>", g.members[0]);
    let created = http
        .create_message(ch)
        .content(&content)
        .await
        .expect("create")
        .model()
        .await
        .expect("model");
    assert_eq!(created.content, content);
    assert_eq!(created.author.id.get(), bot_id);
    assert_eq!(created.channel_id, ch);
    assert_eq!(created.guild_id, Some(guild_id(&g)));
    assert_eq!(
        created
            .mentions
            .iter()
            .map(|m| m.id.get())
            .collect::<Vec<_>>(),
        vec![g.members[0]]
    );
    assert!(created.edited_timestamp.is_none());

    let records = sim.shared().recorder.since(since, Some("rest"));
    let record = records.last().expect("recorded");
    assert_eq!(record.method, "POST");
    assert_eq!(record.path, format!("/channels/{ch}/messages"));
    assert_eq!(record.status, 200);
    assert_eq!(record.body["content"], content);

    let edited = http
        .update_message(ch, created.id)
        .content(Some("edited"))
        .await
        .expect("edit")
        .model()
        .await
        .expect("model");
    assert_eq!(edited.content, "edited");
    assert!(edited.edited_timestamp.is_some());
    let fetched = http
        .message(ch, created.id)
        .await
        .expect("get")
        .model()
        .await
        .expect("model");
    assert_eq!(fetched.content, "edited");

    let user_message = sim
        .control()
        .post_message(&MessageSpec {
            channel_id: ch.get(),
            author_id: g.members[0],
            content: "mine".to_owned(),
        })
        .expect("user posts");
    let reply = http
        .create_message(ch)
        .content("a reply")
        .reply(Id::new(user_message))
        .await
        .expect("reply");
    let reply = reply.model().await.expect("model");
    assert_eq!(reply.kind, MessageType::Reply);
    assert_eq!(
        reply.reference.and_then(|r| r.message_id).map(Id::get),
        Some(user_message)
    );
    assert_eq!(
        reply.referenced_message.map(|m| m.content),
        Some("mine".to_owned())
    );
    let foreign = http
        .update_message(ch, Id::new(user_message))
        .content(Some("nope"))
        .await
        .expect_err("not mine");
    assert_eq!(foreign.status_code(), (403, 50005));

    let listed = http
        .channel_messages(ch)
        .limit(10)
        .await
        .expect("list")
        .model()
        .await
        .expect("model");
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![reply.id, Id::new(user_message), created.id]
    );

    http.delete_message(ch, created.id).await.expect("delete");
    let gone = http.message(ch, created.id).await.expect_err("deleted");
    let (status, code, body) = api_error(&gone);
    assert_eq!((status, code), (404, 10008));
    assert_eq!(body["message"], "Unknown Message");
    assert!(
        !sim.shared()
            .world()
            .messages
            .contains_key(&created.id.get())
    );
}

/// `(status, code)` of a twilight error.
trait StatusCode {
    fn status_code(&self) -> (u16, u64);
}

impl StatusCode for Error {
    fn status_code(&self) -> (u16, u64) {
        let (status, code, _) = api_error(self);
        (status, code)
    }
}

#[tokio::test]
async fn bans_and_kicks_with_reason() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let target = g.members[0];
    let old = sim
        .control()
        .post_message(&MessageSpec {
            channel_id: g.text_channels[0],
            author_id: target,
            content: "spam".to_owned(),
        })
        .expect("posted");

    http.create_ban(guild_id(&g), user(target))
        .delete_message_seconds(3600)
        .reason("spam and éggs / 100%")
        .await
        .expect("ban");
    assert!(
        !sim.shared().world().messages.contains_key(&old),
        "recent messages deleted"
    );
    let bans = http
        .bans(guild_id(&g))
        .await
        .expect("bans")
        .model()
        .await
        .expect("model");
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].user.id.get(), target);
    assert_eq!(bans[0].reason.as_deref(), Some("spam and éggs / 100%"));
    let ban = http
        .ban(guild_id(&g), user(target))
        .await
        .expect("ban")
        .model()
        .await
        .expect("model");
    assert_eq!(ban.user.id.get(), target);
    let not_member = http
        .guild_member(guild_id(&g), user(target))
        .await
        .expect_err("removed");
    assert_eq!(not_member.status_code(), (404, 10007));

    http.delete_ban(guild_id(&g), user(target))
        .await
        .expect("unban");
    assert!(
        http.bans(guild_id(&g))
            .await
            .expect("bans")
            .model()
            .await
            .expect("model")
            .is_empty()
    );
    let again = http
        .delete_ban(guild_id(&g), user(target))
        .await
        .expect_err("no ban");
    assert_eq!(again.status_code(), (404, 10026));

    http.remove_guild_member(guild_id(&g), user(g.members[1]))
        .await
        .expect("kick");
    assert!(
        !sim.shared().world().guilds[&g.id]
            .members
            .contains_key(&g.members[1])
    );
    let owner = http
        .remove_guild_member(guild_id(&g), user(g.owner_id))
        .await
        .expect_err("owner");
    assert_eq!(
        owner.status_code(),
        (403, 50013),
        "nobody outranks the owner"
    );
}

#[tokio::test]
async fn auth_routes_and_methods() {
    let sim = sim(DiscordConfig::default()).await;
    let bad = Client::builder()
        .proxy(sim.http_proxy(), true)
        .token("not-the-token".to_owned())
        .build();
    let error = bad.current_user().await.expect_err("bad token");
    let (status, code, body) = api_error(&error);
    assert_eq!((status, code), (401, 0));
    assert_eq!(body["message"], "401: Unauthorized");

    let no_auth = raw(sim.addr(), "GET", "/users/@me", None, None).await;
    assert_eq!(no_auth.status, 401);
    assert_eq!(
        no_auth.body,
        json!({"message": "401: Unauthorized", "code": 0})
    );
    let gateway = raw(sim.addr(), "GET", "/gateway", None, None).await;
    assert_eq!(gateway.status, 200, "GET /gateway needs no authentication");
    assert_eq!(gateway.body["url"], sim.gateway_url());
    let token = sim.token();
    let unknown = raw(sim.addr(), "GET", "/nothing/here", Some(&token), None).await;
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (404, json!({"message": "404: Not Found", "code": 0}))
    );
    let method = raw(sim.addr(), "PUT", "/users/@me", Some(&token), Some("{}")).await;
    assert_eq!(method.status, 405);
    assert_eq!(
        method.body,
        json!({"message": "405: Method Not Allowed", "code": 0})
    );
    let statuses: Vec<u16> = sim
        .shared()
        .recorder
        .since(0, Some("rest"))
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![401, 401, 200, 404, 405]);
    assert_eq!(sim.shared().rest.stats().unauthorized, 2);
}

#[tokio::test]
async fn form_errors_and_permissions() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let ch = channel(g.text_channels[0]);

    let empty = http.create_message(ch).await.expect_err("empty");
    let (status, code, body) = api_error(&empty);
    assert_eq!((status, code), (400, 50006));
    assert_eq!(body["message"], "Cannot send an empty message");

    // twilight validates content length itself, so bypass its builder with a raw request.
    let long = Request::builder(&twilight_http::routing::Route::CreateMessage {
        channel_id: ch.get(),
    })
    .json(&json!({"content": "a".repeat(2001)}))
    .build()
    .expect("request");
    let too_long = http
        .request::<twilight_model::channel::Message>(long)
        .await
        .expect_err("too long");
    let (status, code, body) = api_error(&too_long);
    assert_eq!((status, code), (400, 50035));
    assert_eq!(body["message"], "Invalid Form Body");
    assert_eq!(
        body["errors"],
        json!({"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
    );

    let token = sim.token();
    let path = format!("/channels/{ch}/messages");
    let malformed = raw(
        sim.addr(),
        "POST",
        &path,
        Some(&token),
        Some("{\"content\": "),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.body,
        json!({"message": "The request body contains invalid JSON.", "code": 50109})
    );
    let unknown = http
        .create_message(Id::new(1234))
        .content("x")
        .await
        .expect_err("no channel");
    assert_eq!(unknown.status_code(), (404, 10003));

    let read_only = guild(&sim, Some(1 << 10));
    let denied = http
        .create_message(channel(read_only.text_channels[0]))
        .content("x")
        .await
        .expect_err("no send");
    assert_eq!(denied.status_code(), (403, 50013));
    let hidden = guild(&sim, Some(0));
    let denied = http
        .create_message(channel(hidden.text_channels[0]))
        .content("x")
        .await
        .expect_err("no view");
    assert_eq!(denied.status_code(), (403, 50001));
    assert_eq!(
        sim.shared().world().messages.len(),
        0,
        "nothing was created"
    );
}

fn limited(messages_per_window: u32, global_per_second: u32) -> DiscordConfig {
    let mut config = DiscordConfig::default();
    config.rest_limits.messages_per_window = messages_per_window;
    config.rest_limits.messages_window = Duration::from_secs(1);
    config.rest_limits.global_per_second = global_per_second;
    config.interaction_deadline = Duration::from_millis(400);
    config
}

#[tokio::test]
async fn route_429_headers_and_body() {
    let sim = sim(limited(2, 50)).await;
    let g = guild(&sim, None);
    let token = sim.token();
    let path = format!("/channels/{}/messages", g.text_channels[0]);
    let body = r#"{"content": "burst"}"#;

    let first = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), "2");
    assert_eq!(first.header("x-ratelimit-remaining"), "1");
    let bucket = first.header("x-ratelimit-bucket").to_owned();
    assert_eq!(bucket.len(), 32);
    let reset_after: f64 = first
        .header("x-ratelimit-reset-after")
        .parse()
        .expect("decimal seconds");
    assert!(reset_after > 0.0 && reset_after <= 1.0, "{reset_after}");
    let reset: f64 = first
        .header("x-ratelimit-reset")
        .parse()
        .expect("epoch seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!((reset - now).abs() < 2.0, "reset {reset} vs now {now}");

    let second = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-ratelimit-remaining"), "0");

    let third = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    assert_eq!(third.status, 429);
    assert_eq!(third.header("retry-after"), "1");
    assert_eq!(third.header("x-ratelimit-scope"), "user");
    assert_eq!(third.header("x-ratelimit-bucket"), bucket);
    assert_eq!(third.header("x-ratelimit-remaining"), "0");
    assert!(!third.headers.contains_key("x-ratelimit-global"));
    assert_eq!(third.body["message"], "You are being rate limited.");
    assert_eq!(third.body["global"], false);
    let retry_after = third.body["retry_after"].as_f64().expect("float");
    assert!(retry_after > 0.0 && retry_after <= 1.0, "{retry_after}");
    assert_eq!(
        sim.shared().world().messages.len(),
        2,
        "the limited request was not executed"
    );

    let other_channel = format!("/channels/{}/messages", g.text_channels[1]);
    let other = raw(sim.addr(), "POST", &other_channel, Some(&token), Some(body)).await;
    assert_eq!(other.status, 200, "another channel is another bucket");
    assert_eq!(
        other.header("x-ratelimit-bucket"),
        bucket,
        "same route, same bucket hash"
    );
    assert_eq!(other.header("x-ratelimit-remaining"), "1");

    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    let after = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    assert_eq!(after.status, 200, "the window reset");
    assert_eq!(after.header("x-ratelimit-remaining"), "1");

    let stats = sim.shared().rest.stats();
    assert_eq!(
        (stats.rate_limited_route, stats.rate_limited_global),
        (1, 0)
    );
    let statuses: Vec<u16> = sim
        .shared()
        .recorder
        .since(0, Some("rest"))
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 200, 429, 200, 200]);
}

#[tokio::test]
async fn global_429_spares_interaction_routes() {
    let sim = sim(limited(5, 3)).await;
    let g = guild(&sim, None);
    let token = sim.token();
    for _ in 0..3 {
        assert_eq!(
            raw(sim.addr(), "GET", "/users/@me", Some(&token), None)
                .await
                .status,
            200
        );
    }
    let limited = raw(
        sim.addr(),
        "GET",
        &format!("/guilds/{}", g.id),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-global"), "true");
    assert_eq!(limited.header("x-ratelimit-scope"), "global");
    assert!(!limited.header("retry-after").is_empty());
    assert_eq!(limited.body["global"], true);
    assert_eq!(limited.body["message"], "You are being rate limited.");

    let interaction = sim
        .control()
        .create_interaction(&InteractionSpec {
            guild_id: Some(g.id),
            channel_id: g.text_channels[0],
            user_id: g.members[0],
            name: "ping".to_owned(),
            options: Value::Null,
        })
        .expect("interaction");
    let callback = raw(
        sim.addr(),
        "POST",
        &format!(
            "/interactions/{}/{}/callback",
            interaction.id, interaction.token
        ),
        None,
        Some(r#"{"type": 4, "data": {"content": "pong"}}"#),
    )
    .await;
    assert_eq!(
        callback.status, 204,
        "interaction callbacks are exempt from the global limit"
    );
    assert_eq!(sim.shared().rest.stats().rate_limited_global, 1);
}

#[tokio::test]
async fn twilight_waits_for_buckets_instead_of_hammering() {
    let sim = sim(limited(2, 50)).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let ch = channel(g.text_channels[0]);
    let started = Instant::now();
    let sends = (0..6).map(|i| {
        let http = &http;
        async move {
            let content = format!("burst {i}");
            http.create_message(ch)
                .content(&content)
                .await
                .expect("eventually sent")
                .model()
                .await
                .expect("model")
        }
    });
    let sent = futures_util::future::join_all(sends).await;
    let elapsed = started.elapsed();
    assert_eq!(sent.len(), 6);
    assert_eq!(sim.shared().world().messages.len(), 6);
    // Three windows of 2: the third window opens at least 2 s after the first request.
    assert!(elapsed >= Duration::from_millis(1950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    let records = sim.shared().recorder.since(0, Some("rest"));
    let limited = records.iter().filter(|r| r.status == 429).count();
    assert_eq!(limited as u64, sim.shared().rest.stats().rate_limited_route);
    assert_eq!(
        limited, 0,
        "twilight follows the bucket headers instead of hitting 429s"
    );
}

fn message_response(content: &str) -> InteractionResponse {
    InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some(content.to_owned()),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn interaction_callbacks_and_followups() {
    let sim = sim(limited(5, 50)).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let bot_id = DiscordConfig::default().bot_id;
    let app = http.interaction(Id::new(bot_id));
    let spec = InteractionSpec {
        guild_id: Some(g.id),
        channel_id: g.text_channels[0],
        user_id: g.members[0],
        name: "ping".to_owned(),
        options: Value::Null,
    };

    let first = sim
        .control()
        .create_interaction(&spec)
        .expect("interaction");
    app.create_response(Id::new(first.id), &first.token, &message_response("pong"))
        .await
        .expect("callback");
    let twice = app
        .create_response(Id::new(first.id), &first.token, &message_response("again"))
        .await
        .expect_err("second callback");
    let (status, code, body) = api_error(&twice);
    assert_eq!((status, code), (400, 40060));
    assert_eq!(
        body["message"],
        "Interaction has already been acknowledged."
    );
    let original = app
        .response(&first.token)
        .await
        .expect("original")
        .model()
        .await
        .expect("model");
    assert_eq!(original.content, "pong");
    assert_eq!(original.webhook_id.map(Id::get), Some(bot_id));
    assert_eq!(original.kind, MessageType::ChatInputCommand);
    let metadata = original
        .interaction_metadata
        .as_ref()
        .expect("interaction metadata");
    assert_eq!(
        (metadata.id.get(), metadata.user.id.get()),
        (first.id, g.members[0])
    );

    let followup = app
        .create_followup(&first.token)
        .content("more")
        .await
        .expect("followup");
    let followup = followup.model().await.expect("model");
    assert_eq!(followup.content, "more");
    assert_eq!(
        followup
            .interaction_metadata
            .and_then(|m| m.original_response_message_id),
        Some(original.id)
    );
    let fetched = app
        .followup(&first.token, followup.id)
        .await
        .expect("get")
        .model()
        .await
        .expect("model");
    assert_eq!(fetched.id, followup.id);
    let edited = app
        .update_response(&first.token)
        .content(Some("pong!"))
        .await
        .expect("edit");
    assert_eq!(edited.model().await.expect("model").content, "pong!");
    app.delete_followup(&first.token, followup.id)
        .await
        .expect("delete followup");
    let gone = app
        .followup(&first.token, followup.id)
        .await
        .expect_err("deleted");
    assert_eq!(gone.status_code(), (404, 10008));
}

#[tokio::test]
async fn deferred_and_late_interaction_callbacks() {
    let sim = sim(limited(5, 50)).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let app = http.interaction(Id::new(DiscordConfig::default().bot_id));
    let spec = InteractionSpec {
        guild_id: Some(g.id),
        channel_id: g.text_channels[0],
        user_id: g.members[0],
        name: "ping".to_owned(),
        options: Value::Null,
    };

    let deferred = sim
        .control()
        .create_interaction(&spec)
        .expect("interaction");
    let early = app
        .create_followup(&deferred.token)
        .content("too early")
        .await
        .expect_err("not acknowledged");
    assert_eq!(early.status_code(), (404, 10015));
    let defer = InteractionResponse {
        kind: InteractionResponseType::DeferredChannelMessageWithSource,
        data: Some(InteractionResponseData {
            flags: Some(MessageFlags::EPHEMERAL),
            ..Default::default()
        }),
    };
    let callback = app
        .create_response(Id::new(deferred.id), &deferred.token, &defer)
        .with_response()
        .await
        .expect("deferred")
        .model()
        .await
        .expect("callback response");
    assert_eq!(callback.interaction.id.get(), deferred.id);
    assert_eq!(callback.interaction.response_message_loading, Some(true));
    assert_eq!(callback.interaction.response_message_ephemeral, Some(true));
    let loading = app
        .response(&deferred.token)
        .await
        .expect("loading")
        .model()
        .await
        .expect("model");
    assert!(
        loading
            .flags
            .is_some_and(|f| f.contains(MessageFlags::LOADING | MessageFlags::EPHEMERAL))
    );
    let done = app
        .update_response(&deferred.token)
        .content(Some("done"))
        .await
        .expect("edit deferred");
    let done = done.model().await.expect("model");
    assert_eq!(done.content, "done");
    assert!(
        done.flags
            .is_some_and(|f| !f.contains(MessageFlags::LOADING))
    );
    assert_eq!(
        done.id, loading.id,
        "the deferred message became the response"
    );

    let late = sim
        .control()
        .create_interaction(&spec)
        .expect("interaction");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let error = app
        .create_response(Id::new(late.id), &late.token, &message_response("late"))
        .await
        .expect_err("late");
    let (status, code, body) = api_error(&error);
    assert_eq!((status, code), (404, 10062));
    assert_eq!(body["message"], "Unknown interaction");
    assert_eq!(
        sim.shared().world().interactions[&late.id].state,
        InteractionState::Pending
    );
}

fn command(name: &str, description: &str) -> Command {
    Command {
        application_id: None,
        contexts: None,
        default_member_permissions: None,
        description: description.to_owned(),
        description_localizations: None,
        #[allow(deprecated)]
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: name.to_owned(),
        name_localizations: None,
        nsfw: None,
        options: Vec::new(),
        version: Id::new(1),
    }
}

#[tokio::test]
async fn application_commands_bulk_overwrite() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let bot_id = DiscordConfig::default().bot_id;
    let app = http.interaction(Id::new(bot_id));

    let first = [
        command("play", "Play a track"),
        command("skip", "Skip the track"),
    ];
    let set = app
        .set_global_commands(&first)
        .await
        .expect("overwrite")
        .model()
        .await
        .expect("model");
    assert_eq!(
        set.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["play", "skip"]
    );
    assert!(
        set.iter()
            .all(|c| c.id.is_some() && c.application_id.map(Id::get) == Some(bot_id))
    );
    let listed = app
        .global_commands()
        .await
        .expect("list")
        .model()
        .await
        .expect("model");
    assert_eq!(listed.len(), 2);
    let play_id = set[0].id;

    let second = [
        command("play", "Play a track"),
        command("queue", "Show the queue"),
    ];
    let set = app
        .set_global_commands(&second)
        .await
        .expect("overwrite")
        .model()
        .await
        .expect("model");
    assert_eq!(set[0].id, play_id, "same name and type keeps the id");
    let mut names: Vec<String> = app
        .global_commands()
        .await
        .expect("list")
        .model()
        .await
        .expect("model")
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["play", "queue"], "skip was deleted");

    let guild_set = app
        .set_guild_commands(guild_id(&g), &[command("admin", "Admin tools")])
        .await
        .expect("guild");
    let guild_set = guild_set.model().await.expect("model");
    assert_eq!(guild_set[0].guild_id, Some(guild_id(&g)));
    let guild_list = app
        .guild_commands(guild_id(&g))
        .await
        .expect("list")
        .model()
        .await
        .expect("model");
    assert_eq!(
        guild_list
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["admin"]
    );

    let token = sim.token();
    let invalid = raw(
        sim.addr(),
        "PUT",
        &format!("/applications/{bot_id}/commands"),
        Some(&token),
        Some(r#"[{"name": "Bad Name", "description": "x"}, {"name": "ok", "description": ""}]"#),
    )
    .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["code"], 50035);
    assert_eq!(
        invalid.body["errors"]["0"]["name"]["_errors"][0]["code"],
        "APPLICATION_COMMAND_INVALID_NAME"
    );
    assert_eq!(
        invalid.body["errors"]["1"]["description"]["_errors"][0]["code"],
        "BASE_TYPE_BAD_LENGTH"
    );
    assert_eq!(
        app.global_commands()
            .await
            .expect("list")
            .model()
            .await
            .expect("model")
            .len(),
        2,
        "unchanged"
    );

    let raw_delete = Request::builder(&twilight_http::routing::Route::DeleteGlobalCommand {
        application_id: bot_id,
        command_id: play_id.expect("id").get(),
    })
    .build()
    .expect("request");
    assert_eq!(raw_delete.method(), Method::Delete);
    http.request::<twilight_http::response::marker::EmptyBody>(raw_delete)
        .await
        .expect("deleted");
    let missing = app
        .global_command(play_id.expect("id"))
        .await
        .expect_err("deleted");
    assert_eq!(missing.status_code(), (404, 10063));
}

/// The next dispatch a shard receives, within 5 s.
async fn next_event(shard: &mut Shard) -> Event {
    tokio::time::timeout(
        Duration::from_secs(5),
        shard.next_event(EventTypeFlags::all()),
    )
    .await
    .expect("an event within 5 s")
    .expect("shard open")
    .expect("event parses")
}

/// The next event other than heartbeat acknowledgements and guild creation.
async fn next_dispatch(shard: &mut Shard) -> Event {
    loop {
        match next_event(shard).await {
            Event::GatewayHeartbeatAck | Event::GatewayHello(_) | Event::GuildCreate(_) => {}
            event => return event,
        }
    }
}

/// A twilight shard connected to the simulator, past READY.
async fn ready_shard(sim: &DiscordSim) -> Shard {
    let intents = Intents::GUILDS
        | Intents::GUILD_MEMBERS
        | Intents::GUILD_MODERATION
        | Intents::GUILD_MESSAGES
        | Intents::MESSAGE_CONTENT;
    let config = ConfigBuilder::new(sim.token(), intents)
        .proxy_url(sim.gateway_url())
        .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    loop {
        if matches!(next_event(&mut shard).await, Event::Ready(_)) {
            return shard;
        }
    }
}

#[tokio::test]
async fn rest_changes_are_dispatched_on_the_gateway() {
    let sim = sim(DiscordConfig::default()).await;
    let mut shard = ready_shard(&sim).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let ch = channel(g.text_channels[0]);

    let sent = http
        .create_message(ch)
        .content("seen?")
        .await
        .expect("create");
    let sent = sent.model().await.expect("model");
    match next_dispatch(&mut shard).await {
        Event::MessageCreate(m) => assert_eq!((m.id, m.content.as_str()), (sent.id, "seen?")),
        other => panic!("expected MESSAGE_CREATE, got {other:?}"),
    }
    http.update_message(ch, sent.id)
        .content(Some("seen!"))
        .await
        .expect("edit");
    match next_dispatch(&mut shard).await {
        Event::MessageUpdate(m) => assert_eq!(m.content, "seen!"),
        other => panic!("expected MESSAGE_UPDATE, got {other:?}"),
    }
    http.delete_message(ch, sent.id).await.expect("delete");
    match next_dispatch(&mut shard).await {
        Event::MessageDelete(m) => assert_eq!(m.id, sent.id),
        other => panic!("expected MESSAGE_DELETE, got {other:?}"),
    }
    http.create_ban(guild_id(&g), user(g.members[0]))
        .await
        .expect("ban");
    match next_dispatch(&mut shard).await {
        Event::BanAdd(ban) => assert_eq!(
            (ban.guild_id, ban.user.id.get()),
            (guild_id(&g), g.members[0])
        ),
        other => panic!("expected GUILD_BAN_ADD, got {other:?}"),
    }
    match next_dispatch(&mut shard).await {
        Event::MemberRemove(m) => assert_eq!(m.user.id.get(), g.members[0]),
        other => panic!("expected GUILD_MEMBER_REMOVE, got {other:?}"),
    }
    http.delete_ban(guild_id(&g), user(g.members[0]))
        .await
        .expect("unban");
    match next_dispatch(&mut shard).await {
        Event::BanRemove(ban) => assert_eq!(ban.user.id.get(), g.members[0]),
        other => panic!("expected GUILD_BAN_REMOVE, got {other:?}"),
    }
}

#[tokio::test]
async fn disabled_limits_neither_limit_nor_send_headers() {
    let mut config = limited(1, 1);
    config.rest_limits.enabled = false;
    let sim = sim(config).await;
    let g = guild(&sim, None);
    let token = sim.token();
    let path = format!("/channels/{}/messages", g.text_channels[0]);
    for _ in 0..4 {
        let sent = raw(
            sim.addr(),
            "POST",
            &path,
            Some(&token),
            Some(r#"{"content": "x"}"#),
        )
        .await;
        assert_eq!(sent.status, 200);
        assert!(!sent.headers.contains_key("x-ratelimit-bucket"));
    }
    let stats = sim.shared().rest.stats();
    assert_eq!(
        (stats.requests, stats.succeeded, stats.rate_limited_route),
        (4, 4, 0)
    );
}

#[tokio::test]
async fn enforce_nonce_makes_a_retried_send_return_the_first_message() {
    let sim = sim(DiscordConfig::default()).await;
    let g = guild(&sim, None);
    let token = sim.token();
    let path = format!("/channels/{}/messages", g.text_channels[0]);
    let since = sim.shared().recorder.len();
    let body = r#"{"content":"once","nonce":"evt-42","enforce_nonce":true}"#;
    let first = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    let second = raw(sim.addr(), "POST", &path, Some(&token), Some(body)).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(
        first.body["id"], second.body["id"],
        "the retry returned the first message"
    );
    let other = raw(
        sim.addr(),
        "POST",
        &path,
        Some(&token),
        Some(r#"{"content":"twice","nonce":"evt-42"}"#),
    )
    .await;
    assert_ne!(
        other.body["id"], first.body["id"],
        "without enforce_nonce a new message"
    );
    let created = sim
        .shared()
        .world()
        .messages
        .values()
        .filter(|m| m.content == "once")
        .count();
    assert_eq!(created, 1);
    let too_long = raw(
        sim.addr(),
        "POST",
        &path,
        Some(&token),
        Some(r#"{"content":"x","nonce":"12345678901234567890123456"}"#),
    )
    .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(sim.control().log(since, Some("rest")).len(), 4);
}

#[tokio::test]
async fn threads_work_with_twilight_and_are_dispatched_on_the_gateway() {
    use twilight_model::channel::ChannelType;
    use twilight_model::channel::thread::AutoArchiveDuration;

    let sim = sim(DiscordConfig::default()).await;
    let mut shard = ready_shard(&sim).await;
    let g = guild(&sim, None);
    let http = client(&sim);
    let ch = channel(g.text_channels[0]);
    let bot = http
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("model")
        .id;
    let sent = http
        .create_message(ch)
        .content("start here")
        .await
        .expect("create")
        .model()
        .await
        .expect("model");
    let _ = next_dispatch(&mut shard).await; // MESSAGE_CREATE

    let thread = http
        .create_thread_from_message(ch, sent.id, "talk")
        .auto_archive_duration(AutoArchiveDuration::Day)
        .await
        .expect("thread from message")
        .model()
        .await
        .expect("channel model");
    assert_eq!(thread.id.get(), sent.id.get());
    assert_eq!(thread.kind, ChannelType::PublicThread);
    assert_eq!(thread.parent_id, Some(ch));
    let meta = thread.thread_metadata.expect("thread_metadata");
    assert_eq!(meta.auto_archive_duration, AutoArchiveDuration::Day);
    match next_dispatch(&mut shard).await {
        Event::ThreadCreate(t) => {
            assert_eq!((t.id, t.kind), (thread.id, ChannelType::PublicThread));
            assert_eq!(t.newly_created, Some(true));
        }
        other => panic!("expected THREAD_CREATE, got {other:?}"),
    }

    let private = http
        .create_thread(ch, "quiet", ChannelType::PrivateThread)
        .invitable(true)
        .await
        .expect("private thread")
        .model()
        .await
        .expect("model");
    assert_eq!(private.kind, ChannelType::PrivateThread);
    let _ = next_dispatch(&mut shard).await; // THREAD_CREATE

    let in_thread = http
        .create_message(thread.id)
        .content("inside")
        .await
        .expect("post in thread")
        .model()
        .await
        .expect("model");
    assert_eq!(in_thread.channel_id, thread.id);
    let _ = next_dispatch(&mut shard).await; // MESSAGE_CREATE

    http.add_thread_member(thread.id, user(g.members[0]))
        .await
        .expect("add member");
    match next_dispatch(&mut shard).await {
        Event::ThreadMembersUpdate(u) => {
            assert_eq!(
                (u.id, u.guild_id, u.member_count),
                (thread.id, guild_id(&g), 2)
            );
            let added = &u.added_members[0];
            let member = added.member.as_ref().expect("guild member");
            assert_eq!(member.user.id.get(), g.members[0]);
        }
        other => panic!("expected THREAD_MEMBERS_UPDATE, got {other:?}"),
    }
    let members = http
        .thread_members(thread.id)
        .await
        .expect("list")
        .model()
        .await
        .expect("thread member models");
    assert_eq!(members.len(), 2);
    let one = http
        .thread_member(thread.id, user(g.members[0]))
        .await
        .expect("get")
        .model()
        .await
        .expect("model");
    assert_eq!(one.user_id.map(Id::get), Some(g.members[0]));

    http.leave_thread(thread.id).await.expect("leave");
    match next_dispatch(&mut shard).await {
        Event::ThreadMembersUpdate(u) => assert_eq!(u.removed_member_ids, vec![bot]),
        other => panic!("expected THREAD_MEMBERS_UPDATE, got {other:?}"),
    }
    http.join_thread(thread.id).await.expect("join");
    match next_dispatch(&mut shard).await {
        Event::ThreadMemberUpdate(u) => {
            assert_eq!((u.member.user_id, u.guild_id), (Some(bot), guild_id(&g)));
        }
        other => panic!("expected THREAD_MEMBER_UPDATE, got {other:?}"),
    }
    match next_dispatch(&mut shard).await {
        Event::ThreadMembersUpdate(u) => assert_eq!(u.member_count, 2),
        other => panic!("expected THREAD_MEMBERS_UPDATE, got {other:?}"),
    }
    http.remove_thread_member(thread.id, user(g.members[0]))
        .await
        .expect_err("removing another member needs MANAGE_THREADS");
}
