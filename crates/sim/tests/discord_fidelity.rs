//! Discord behaviours that independent client libraries (not twilight) trip over, checked with
//! a raw WebSocket and raw HTTP: the application endpoints, integer snowflakes, the connection
//! state after a forced op 9, the headers on every REST response and `zstd-stream`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use swarmcord_sim::discord::control::{CreatedGuild, GuildSpec};
use swarmcord_sim::discord::gateway::ShardAction;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

async fn sim() -> DiscordSim {
    DiscordSim::start(DiscordConfig {
        identify_interval: Duration::ZERO,
        ..DiscordConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn guild(sim: &DiscordSim) -> CreatedGuild {
    sim.control().create_guild(&GuildSpec {
        name: "fidelity".to_owned(),
        members: 3,
        text_channels: 1,
        voice_channels: 1,
        announce: false,
        ..GuildSpec::default()
    })
}

struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request under `/api/v10` on a fresh connection, read to the end.
async fn raw(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Raw {
    let addr = addr.to_string();
    let request = http::discord(&addr, method, path, token, Some(body));
    let answer = tokio::time::timeout(WAIT, request)
        .await
        .expect("in time")
        .expect("answers");
    Raw {
        status: answer.status,
        body: answer.json().expect("JSON body"),
        headers: answer.headers,
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(sim: &DiscordSim) -> Ws {
    let url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    assert_eq!(next(&mut ws).await["op"], 10);
    ws
}

/// The next payload, or `{"close": code}` for a close frame.
async fn next(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out")
            .expect("open")
            .expect("frame")
        {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Close(frame) => return json!({"close": frame.map(|f| u16::from(f.code))}),
            _ => {}
        }
    }
}

/// The next dispatch named `t` (other payloads are skipped).
async fn next_dispatch(ws: &mut Ws, t: &str) -> Value {
    loop {
        let payload = next(ws).await;
        assert!(
            payload.get("close").is_none(),
            "closed waiting for {t}: {payload}"
        );
        if payload["t"] == t {
            return payload;
        }
    }
}

async fn send(ws: &mut Ws, value: &Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .expect("send");
}

fn identify(token: &str) -> Value {
    // GUILDS | GUILD_MEMBERS | GUILD_VOICE_STATES; shard 0 of 1.
    json!({"op": 2, "d": {"token": token, "intents": 1 | 2 | 128, "shard": [0, 1],
        "properties": {"os": "linux", "browser": "raw", "device": "raw"}}})
}

/// Connects and identifies; returns the socket and the READY payload.
async fn ready(sim: &DiscordSim) -> (Ws, Value) {
    let mut ws = connect(sim).await;
    send(&mut ws, &identify(&sim.token())).await;
    let ready = next_dispatch(&mut ws, "READY").await;
    (ws, ready)
}

#[tokio::test]
async fn current_application_on_both_paths() {
    let sim = sim().await;
    let g = guild(&sim);
    let token = sim.token();
    for path in ["/oauth2/applications/@me", "/applications/@me"] {
        let app = raw(sim.addr(), "GET", path, Some(&token), "").await;
        assert_eq!(app.status, 200, "{path}: {}", app.body);
        let body = &app.body;
        assert_eq!(body["id"], sim.config_bot_id().to_string(), "{path}");
        assert_eq!(body["bot"]["id"], body["id"]);
        assert!(body["name"].is_string() && body["verify_key"].is_string());
        assert_eq!(body["bot_public"], true);
        assert_eq!(body["bot_require_code_grant"], false);
        assert!(body["flags"].is_u64());
        assert_eq!(body["owner"]["id"], g.owner_id.to_string());
        let unauthorized = raw(sim.addr(), "GET", path, None, "").await;
        assert_eq!(
            (unauthorized.status, unauthorized.body["code"].clone()),
            (401, json!(0))
        );
    }
    // And twilight's model of it.
    let client = twilight_http::Client::builder()
        .proxy(sim.http_proxy(), true)
        .token(token)
        .build();
    let app = client
        .current_user_application()
        .await
        .expect("request")
        .model()
        .await
        .expect("twilight's Application model");
    assert_eq!(app.id.get(), sim.config_bot_id());
}

trait BotId {
    fn config_bot_id(&self) -> u64;
}

impl BotId for DiscordSim {
    fn config_bot_id(&self) -> u64 {
        self.shared().config().bot_id
    }
}

#[tokio::test]
async fn integer_snowflakes_in_voice_and_member_requests() {
    let sim = sim().await;
    let g = guild(&sim);
    let (mut ws, _) = ready(&sim).await;
    next_dispatch(&mut ws, "GUILD_CREATE").await;
    // Op 4 with integer ids: answered like the string form, not closed with 4002.
    send(
        &mut ws,
        &json!({"op": 4, "d": {"guild_id": g.id, "channel_id": g.voice_channels[0],
            "self_mute": false, "self_deaf": true}}),
    )
    .await;
    let state = next_dispatch(&mut ws, "VOICE_STATE_UPDATE").await;
    assert_eq!(state["d"]["channel_id"], g.voice_channels[0].to_string());
    next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await;
    // Op 8 with an integer guild id and integer user ids.
    send(
        &mut ws,
        &json!({"op": 8, "d": {"guild_id": g.id, "user_ids": [g.members[0], g.members[1]],
            "limit": 0, "nonce": "n1"}}),
    )
    .await;
    let chunk = next_dispatch(&mut ws, "GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["nonce"], "n1");
    assert_eq!(chunk["d"]["members"].as_array().map(Vec::len), Some(2));
    // A single integer user id.
    send(
        &mut ws,
        &json!({"op": 8, "d": {"guild_id": g.id, "user_ids": g.members[2], "limit": 0, "nonce": "n2"}}),
    )
    .await;
    let chunk = next_dispatch(&mut ws, "GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["members"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn integer_snowflakes_in_allowed_mentions() {
    let sim = sim().await;
    let g = guild(&sim);
    let target = g.members[0];
    let body = json!({
        "content": format!("hi <@{target}>"),
        "allowed_mentions": {"parse": [], "users": [target]},
    })
    .to_string();
    let path = format!("/channels/{}/messages", g.text_channels[0]);
    let sent = raw(sim.addr(), "POST", &path, Some(&sim.token()), &body).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mentions = sent.body["mentions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(mentions.len(), 1, "{}", sent.body);
    assert_eq!(mentions[0]["id"], target.to_string());
}

#[tokio::test]
async fn forced_op9_leaves_the_socket_unauthenticated() {
    let sim = sim().await;
    let token = sim.token();

    // d: false, then a fresh IDENTIFY on the same socket: a new session, not 4005.
    let (mut ws, first) = ready(&sim).await;
    assert_eq!(sim.control().shard_action(0, ShardAction::Invalidate), 1);
    let op9 = next(&mut ws).await;
    assert_eq!(
        (op9["op"].clone(), op9["d"].clone()),
        (json!(9), json!(false))
    );
    send(&mut ws, &identify(&token)).await;
    let second = next_dispatch(&mut ws, "READY").await;
    assert_ne!(second["d"]["session_id"], first["d"]["session_id"]);

    // d: true, then RESUME on the same socket: RESUMED, not 4005.
    let session_id = second["d"]["session_id"].clone();
    let seq = second["s"].as_u64().expect("seq");
    assert_eq!(
        sim.control()
            .shard_action(0, ShardAction::InvalidateResumable),
        1
    );
    let op9 = next(&mut ws).await;
    assert_eq!(
        (op9["op"].clone(), op9["d"].clone()),
        (json!(9), json!(true))
    );
    send(
        &mut ws,
        &json!({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}}),
    )
    .await;
    next_dispatch(&mut ws, "RESUMED").await;
    // The resumed session is attached to this socket again: heartbeats and ops work.
    send(&mut ws, &json!({"op": 1, "d": seq})).await;
    assert_eq!(next(&mut ws).await["op"], 11);
    assert_eq!(sim.control().sessions().len(), 1);
}

#[tokio::test]
async fn every_rest_response_has_via_date_and_json_content_type() {
    let sim = sim().await;
    let g = guild(&sim);
    let token = sim.token();
    let channel = format!("/channels/{}", g.text_channels[0]);
    for (method, path, token, status) in [
        ("GET", "/gateway", None, 200),
        ("GET", "/users/@me", Some(token.as_str()), 200),
        ("GET", channel.as_str(), Some(token.as_str()), 200),
        ("GET", "/users/@me", None, 401),
        ("GET", "/nope", Some(token.as_str()), 404),
        ("PUT", "/users/@me", Some(token.as_str()), 405),
    ] {
        let response = raw(sim.addr(), method, path, token, "").await;
        assert_eq!(response.status, status, "{method} {path}");
        assert_eq!(
            response.header("via"),
            Some("1.1 google"),
            "{method} {path}"
        );
        assert!(
            response.header("date").is_some_and(|d| d.ends_with(" GMT")),
            "{method} {path}"
        );
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
    }
}

/// The next binary message (transport-compressed payload).
async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out")
            .expect("open")
            .expect("frame")
        {
            Message::Binary(bytes) => return bytes.to_vec(),
            Message::Text(text) => panic!("uncompressed payload: {text}"),
            _ => {}
        }
    }
}

/// Decodes the messages of a `zstd-stream` received so far: they must form one frame that a
/// streaming decoder can stop at after any message (closed here with an empty last block).
fn zstd_decode(messages: &[Vec<u8>]) -> String {
    use std::io::Read as _;
    let mut bytes = messages.concat();
    bytes.extend_from_slice(&[1, 0, 0]);
    let mut decoder =
        ruzstd::decoding::StreamingDecoder::new(bytes.as_slice()).expect("a zstd frame header");
    let mut out = String::new();
    decoder.read_to_string(&mut out).expect("decodes");
    out
}

#[tokio::test]
async fn zstd_stream_is_one_frame_flushed_per_payload() {
    let sim = sim().await;
    let g = guild(&sim);
    let url = format!(
        "{}/?v=10&encoding=json&compress=zstd-stream",
        sim.gateway_url()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut messages = vec![next_binary(&mut ws).await];
    send(&mut ws, &identify(&sim.token())).await;
    // READY, then GUILD_CREATE (large: several kilobytes, compresses well).
    messages.push(next_binary(&mut ws).await);
    messages.push(next_binary(&mut ws).await);
    let mut decoded = String::new();
    let mut payloads = Vec::new();
    for k in 1..=messages.len() {
        let all = zstd_decode(&messages[..k]);
        let new = all
            .strip_prefix(decoded.as_str())
            .expect("earlier payloads decode the same");
        payloads.push(serde_json::from_str::<Value>(new).expect("exactly one JSON payload"));
        decoded = all;
    }
    assert_eq!(payloads[0]["op"], 10);
    assert_eq!(payloads[1]["t"], "READY");
    assert_eq!(payloads[2]["t"], "GUILD_CREATE");
    assert_eq!(payloads[2]["d"]["id"], g.id.to_string());
    let compressed = messages[2].len();
    let plain = payloads[2].to_string().len();
    assert!(compressed < plain, "{compressed} bytes for {plain}");
}
