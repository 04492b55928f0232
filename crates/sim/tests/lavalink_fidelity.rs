//! Lavalink 4.0.8 behaviours that independent clients rely on, checked with a raw WebSocket and
//! raw HTTP (no client library smoothing things over): the first `stats` op, the close
//! handshake, `paused` on track updates, immediate `playerUpdate`s, `Lavalink-Api-Version`,
//! authorization statuses, partial voice states and `frameStats` omission.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use swarmcord_sim::lavalink::{LavalinkConfig, LavalinkSim};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const BOT_ID: u64 = 111_111_111_111_111_111;
const GUILD: u64 = 222_222_222_222_222_222;
const WAIT: Duration = Duration::from_secs(5);
const TRACK_A: &str = "https://sim.lavalink/track/a?length=600000";
const TRACK_B: &str = "https://sim.lavalink/track/b?length=600000";

mod lavalink_support;

use lavalink_support::http;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Connects a raw WebSocket session; returns the socket, its session id and the upgrade
/// response's `Lavalink-Api-Version` header.
async fn connect(sim: &LavalinkSim) -> (Ws, String, Option<String>) {
    let mut request = format!("ws://{}/v4/websocket", sim.addr())
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert("Authorization", sim.password().parse().expect("header"));
    headers.insert("User-Id", BOT_ID.to_string().parse().expect("header"));
    headers.insert("Client-Name", "raw-test/1.0".parse().expect("header"));
    let (mut ws, response) = within("connect", tokio_tungstenite::connect_async(request))
        .await
        .expect("websocket upgrade");
    let version = response
        .headers()
        .get("lavalink-api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ready = next_json(&mut ws, "ready").await;
    assert_eq!(ready["op"], "ready");
    let session = ready["sessionId"].as_str().expect("sessionId").to_owned();
    (ws, session, version)
}

/// The next text message, as JSON.
async fn next_json(ws: &mut Ws, what: &str) -> Value {
    within(what, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("JSON message");
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended while waiting for {what}: {other:?}"),
            }
        }
    })
    .await
}

/// The next message whose `op` is `op` (others are skipped).
async fn next_op(ws: &mut Ws, op: &str) -> Value {
    loop {
        let msg = next_json(ws, op).await;
        if msg["op"] == op {
            return msg;
        }
    }
}

/// Whether a message with `op` arrives within `wait`.
async fn op_within(ws: &mut Ws, op: &str, wait: Duration) -> Option<Value> {
    tokio::time::timeout(wait, next_op(ws, op)).await.ok()
}

/// `PATCH /v4/sessions/{session}/players/{GUILD}[?noReplace=true]`; asserts 200, returns the player.
async fn patch(sim: &LavalinkSim, session: &str, query: &str, body: &Value) -> Value {
    let path = format!("/v4/sessions/{session}/players/{GUILD}{query}");
    let response = http(sim.addr(), "PATCH", &path, Some(sim.password()), Some(body)).await;
    assert_eq!(response.status, 200, "PATCH {body}: {}", response.body);
    response.json()
}

fn config() -> LavalinkConfig {
    LavalinkConfig {
        // Long intervals: only the ops the behaviour under test sends arrive.
        stats_interval: Duration::from_secs(60),
        player_update_interval: Duration::from_secs(60),
        ..LavalinkConfig::default()
    }
}

#[tokio::test]
async fn stats_op_follows_ready_at_once_then_every_interval() {
    // Lavalink's per-session stats task runs at a fixed rate with no initial delay.
    let sim = LavalinkSim::start(config()).await.expect("start");
    let (mut ws, _, _) = connect(&sim).await;
    let first = op_within(&mut ws, "stats", Duration::from_secs(2))
        .await
        .expect("a stats op right after ready, not 60 s later");
    assert_eq!(first["players"], 0);
    assert!(first.get("frameStats").is_none(), "no players: {first}");

    let sim = LavalinkSim::start(LavalinkConfig {
        stats_interval: Duration::from_millis(400),
        ..config()
    })
    .await
    .expect("start");
    let (mut ws, _, _) = connect(&sim).await;
    let start = Instant::now();
    next_op(&mut ws, "stats").await;
    assert!(start.elapsed() < Duration::from_millis(200));
    next_op(&mut ws, "stats").await;
    let gap = start.elapsed();
    assert!(
        gap >= Duration::from_millis(300) && gap < Duration::from_millis(1500),
        "second stats after {gap:?}"
    );
}

#[tokio::test]
async fn client_close_gets_a_close_frame_back() {
    let sim = LavalinkSim::start(config()).await.expect("start");
    let (mut ws, _, _) = connect(&sim).await;
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .expect("send close");
    let reply = within("close reply", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return Ok(frame),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("{e}")),
                None => return Err("stream ended without a close frame".to_owned()),
            }
        }
    })
    .await;
    let frame = reply.expect("the server answers the close handshake");
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal));
}

#[tokio::test]
async fn track_updates_set_paused_to_the_request_or_false() {
    let sim = LavalinkSim::start(config()).await.expect("start");
    let (_ws, session, _) = connect(&sim).await;
    let play = |id: &str| json!({"track": {"identifier": id}});

    let p = patch(
        &sim,
        &session,
        "",
        &json!({"track": {"identifier": TRACK_A}, "paused": true}),
    )
    .await;
    assert_eq!(p["paused"], true);
    // A new track without `paused` unpauses (a skip while paused must not stall the queue).
    let p = patch(&sim, &session, "", &play(TRACK_B)).await;
    assert_eq!(
        (p["paused"].clone(), p["track"]["info"]["title"].clone()),
        (json!(false), json!("b"))
    );
    assert!(sim.player(GUILD).expect("player").is_playing());

    // A stop without `paused` unpauses too.
    patch(&sim, &session, "", &json!({"paused": true})).await;
    let p = patch(&sim, &session, "", &json!({"track": {"encoded": null}})).await;
    assert_eq!(p["paused"], false);
    assert_eq!(p["track"], Value::Null);

    // `paused` given with the track wins.
    let p = patch(
        &sim,
        &session,
        "",
        &json!({"track": {"identifier": TRACK_A}, "paused": true}),
    )
    .await;
    assert_eq!(p["paused"], true);

    // noReplace with a track loaded returns before applying `paused` or the track.
    let p = patch(
        &sim,
        &session,
        "?noReplace=true",
        &json!({"track": {"identifier": TRACK_B}, "paused": false}),
    )
    .await;
    assert_eq!(p["paused"], true, "noReplace must not apply paused");
    assert_eq!(p["track"]["info"]["title"], "a");
    // Without a track update, `paused` applies as given.
    let p = patch(&sim, &session, "", &json!({"paused": false})).await;
    assert_eq!(p["paused"], false);
}

#[tokio::test]
async fn seek_and_filter_changes_send_a_player_update_at_once() {
    let sim = LavalinkSim::start(config()).await.expect("start");
    let (mut ws, session, _) = connect(&sim).await;
    patch(
        &sim,
        &session,
        "",
        &json!({"track": {"identifier": TRACK_A}}),
    )
    .await;
    // The update that comes with a new track (the interval is 60 s, so nothing else).
    next_op(&mut ws, "playerUpdate").await;

    patch(&sim, &session, "", &json!({"position": 120_000})).await;
    let update = op_within(&mut ws, "playerUpdate", Duration::from_secs(1))
        .await
        .expect("a playerUpdate right after the seek");
    assert_eq!(update["guildId"], GUILD.to_string());
    let position = update["state"]["position"].as_u64().expect("position");
    assert!((120_000..125_000).contains(&position), "{update}");

    patch(&sim, &session, "", &json!({"filters": {"volume": 0.5}})).await;
    let update = op_within(&mut ws, "playerUpdate", Duration::from_secs(1))
        .await
        .expect("a playerUpdate right after the filter change");
    assert!(
        update["state"]["position"]
            .as_u64()
            .is_some_and(|p| p >= 120_000)
    );
}

#[tokio::test]
async fn api_version_header_and_auth_statuses() {
    let sim = LavalinkSim::start(config()).await.expect("start");
    let addr = sim.addr();
    let pw = sim.password().to_owned();
    let (_ws, _, upgrade_version) = connect(&sim).await;
    assert_eq!(
        upgrade_version.as_deref(),
        Some("4"),
        "on the WebSocket upgrade"
    );
    for (path, auth, status) in [
        ("/v4/info", Some(pw.as_str()), 200),
        ("/version", Some(pw.as_str()), 200),
        ("/v4/nope", Some(pw.as_str()), 404),
        ("/v4/info", None, 401),
        ("/v4/info", Some("wrong"), 403),
        ("/v4/sessions/x/players", Some("wrong"), 403),
        ("/v4/websocket", Some("wrong"), 401),
    ] {
        let response = http(addr, "GET", path, auth, None).await;
        assert_eq!(response.status, status, "GET {path} with {auth:?}");
        assert_eq!(
            response.header("lavalink-api-version"),
            Some("4"),
            "GET {path} with {auth:?}"
        );
        if matches!(status, 401 | 403) {
            assert_eq!(response.body, "", "GET {path} with {auth:?}: empty body");
        }
    }
}

#[tokio::test]
async fn partial_voice_state_closed_voice_and_stats_shape() {
    let sim = LavalinkSim::start(config()).await.expect("start");
    let (mut ws, session, _) = connect(&sim).await;
    let path = format!("/v4/sessions/{session}/players/{GUILD}");
    let partial = json!({"voice": {"token": "t", "endpoint": "", "sessionId": "s"}});
    let response = http(
        sim.addr(),
        "PATCH",
        &path,
        Some(sim.password()),
        Some(&partial),
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    let message = response.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("Partial Lavalink voice state"),
        "{message}"
    );

    let voice =
        json!({"voice": {"token": "t", "endpoint": "e.discord.media:443", "sessionId": "s"}});
    patch(&sim, &session, "", &voice).await;
    assert!(sim.player(GUILD).expect("player").connected);
    assert!(sim.voice_closed(GUILD, 4006, "Session is no longer valid.", true));
    let event = next_op(&mut ws, "event").await;
    assert_eq!(event["type"], "WebSocketClosedEvent");
    let update = op_within(&mut ws, "playerUpdate", Duration::from_secs(1))
        .await
        .expect("a playerUpdate after WebSocketClosedEvent");
    assert_eq!(update["state"]["connected"], false);
    assert_eq!(update["state"]["ping"], -1);

    let stats = http(sim.addr(), "GET", "/v4/stats", Some(sim.password()), None)
        .await
        .json();
    assert_eq!(stats["players"], 1);
    assert!(
        stats.get("frameStats").is_none(),
        "omitted, not null: {stats}"
    );
}
