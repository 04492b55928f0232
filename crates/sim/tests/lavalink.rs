//! The Lavalink v4 simulator driven by a real client, `twilight-lavalink` 0.18, plus raw HTTP
//! checks of the REST API, its authorization and its error bodies.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use swarmcord_sim::lavalink::{LavalinkConfig, LavalinkSim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use twilight_lavalink::Lavalink;
use twilight_lavalink::http::{LoadResultData, LoadedTracks};
use twilight_lavalink::model::incoming::{Event, EventData, EventType, TrackEndReason};
use twilight_lavalink::model::{Destroy, IncomingEvent, Pause, Play, Seek, Stop, Volume};
use twilight_lavalink::node::{IncomingEvents, NodeErrorType};
use twilight_model::gateway::event::Event as GatewayEvent;
use twilight_model::gateway::payload::incoming::{VoiceServerUpdate, VoiceStateUpdate};
use twilight_model::id::Id;
use twilight_model::voice::VoiceState;

mod lavalink_support;

use lavalink_support::{HttpResponse, http, http_text};

const BOT_ID: u64 = 111_111_111_111_111_111;
const GUILD: u64 = 222_222_222_222_222_222;
const OTHER_GUILD: u64 = 333_333_333_333_333_333;
const CHANNEL: u64 = 444_444_444_444_444_444;
const WAIT: Duration = Duration::from_secs(5);

fn config(speed: f64) -> LavalinkConfig {
    LavalinkConfig {
        stats_interval: Duration::from_millis(200),
        player_update_interval: Duration::from_millis(200),
        playback_speed: speed,
        ..LavalinkConfig::default()
    }
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `cond` until it holds.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The next incoming event matching `pred` (others are skipped).
async fn next_matching(
    rx: &mut IncomingEvents,
    what: &str,
    mut pred: impl FnMut(&IncomingEvent) -> bool,
) -> IncomingEvent {
    within(what, async {
        loop {
            let event = rx.next().await.expect("incoming events ended");
            if pred(&event) {
                return event;
            }
        }
    })
    .await
}

async fn ready(rx: &mut IncomingEvents) -> (String, bool) {
    match next_matching(rx, "ready", |e| matches!(e, IncomingEvent::Ready(_))).await {
        IncomingEvent::Ready(ready) => (ready.session_id, ready.resumed),
        _ => unreachable!(),
    }
}

/// The next track event (start/end/exception/stuck), skipping stats and player updates.
async fn next_track_event(rx: &mut IncomingEvents) -> Event {
    match next_matching(rx, "track event", |e| matches!(e, IncomingEvent::Event(_))).await {
        IncomingEvent::Event(event) => event,
        _ => unreachable!(),
    }
}

fn end_reason(event: &Event) -> Option<TrackEndReason> {
    match &event.data {
        EventData::TrackEndEvent(end) => Some(end.reason),
        _ => None,
    }
}

fn event_title(event: &Event) -> String {
    match &event.data {
        EventData::TrackStartEvent(e) => e.track.info.title.clone(),
        EventData::TrackEndEvent(e) => e.track.info.title.clone(),
        EventData::TrackExceptionEvent(e) => e.track.info.title.clone(),
        _ => String::new(),
    }
}

/// Feeds the two voice events Discord sends when the bot joins a channel.
async fn join_voice(lavalink: &Lavalink, guild: u64, discord_session: &str) {
    let state = VoiceState {
        channel_id: Some(Id::new(CHANNEL)),
        deaf: false,
        guild_id: Some(Id::new(guild)),
        member: None,
        mute: false,
        self_deaf: true,
        self_mute: false,
        self_stream: false,
        self_video: false,
        session_id: discord_session.to_owned(),
        suppress: false,
        user_id: Id::new(BOT_ID),
        request_to_speak_timestamp: None,
    };
    lavalink
        .process(&GatewayEvent::VoiceStateUpdate(Box::new(VoiceStateUpdate(
            state,
        ))))
        .await
        .expect("voice state update");
    lavalink
        .process(&GatewayEvent::VoiceServerUpdate(VoiceServerUpdate {
            endpoint: Some("sim-voice.discord.media:443".to_owned()),
            guild_id: Id::new(guild),
            token: format!("voice-token-{guild}"),
        }))
        .await
        .expect("voice server update");
}

/// Waits until the simulator recorded `n` REST updates (kind `lavalink`) and returns them.
async fn lavalink_records(sim: &LavalinkSim, n: usize) -> Vec<swarmcord_sim::Record> {
    wait_until(&format!("{n} recorded updates"), || {
        sim.recorder().since(0, Some("lavalink")).len() >= n
    })
    .await;
    sim.recorder().since(0, Some("lavalink"))
}

/// A raw WebSocket upgrade request (`head`, then `Host`): returns after the response head, as
/// the connection of a successful upgrade stays open.
async fn upgrade(addr: SocketAddr, head: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}Host: {addr}\r\nContent-Length: 0\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut buf = Vec::new();
    within("http response", async {
        loop {
            let mut chunk = [0_u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read response");
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: rest.to_owned(),
    }
}

fn ws_upgrade_head(extra: &str) -> String {
    format!(
        "GET /v4/websocket HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}"
    )
}

fn assert_lavalink_error(response: &HttpResponse, status: u16, path: &str) {
    assert_eq!(response.status, status, "body: {}", response.body);
    let body = response.json();
    assert_eq!(body["status"], status);
    assert_eq!(body["path"], path);
    assert!(
        body["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn twilight_connects_gets_ready_and_stats() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (node, mut rx) = lavalink
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    let (session_id, resumed) = ready(&mut rx).await;
    assert!(!resumed);
    assert_eq!(session_id.len(), 16);
    let sessions = sim.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, session_id);
    assert_eq!(sessions[0].user_id, BOT_ID);
    assert!(sessions[0].client_name.starts_with("twilight-lavalink/"));
    assert!(sessions[0].connected && !sessions[0].resuming);
    assert_eq!(sessions[0].timeout, 60);

    let IncomingEvent::Stats(stats) =
        next_matching(&mut rx, "stats", |e| matches!(e, IncomingEvent::Stats(_))).await
    else {
        unreachable!()
    };
    assert_eq!(stats.players, 0);
    assert!(stats.cpu.cores >= 1);
    assert!(stats.memory.reservable > 0);
    assert!(stats.frame_stats.is_none());
    // The node task stored them too (twilight uses them for its penalty score).
    assert!(node.stats().await.memory.allocated > 0);

    let counters = sim.stats();
    assert_eq!((counters.connections, counters.sessions), (1, 1));
    let ws_log = sim.recorder().since(0, Some("lavalink-ws"));
    assert_eq!(ws_log[0].method, "CONNECT");
    assert_eq!(ws_log[0].body["sessionId"], session_id);
}

#[tokio::test]
async fn player_commands_become_recorded_patches() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (node, mut rx) = lavalink
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    let (session_id, _) = ready(&mut rx).await;
    let player_path = format!("/v4/sessions/{session_id}/players/{GUILD}");

    // Load a track with twilight's own request builder and response model.
    let request = twilight_lavalink::http::load_track(
        sim.addr(),
        "https://sim.lavalink/track/song?length=200000",
        sim.password(),
    )
    .expect("load request");
    let path = request
        .uri()
        .path_and_query()
        .expect("path")
        .as_str()
        .to_owned();
    let loaded = http(sim.addr(), "GET", &path, Some(sim.password()), None).await;
    assert_eq!(loaded.status, 200);
    let loaded: LoadedTracks = serde_json::from_str(&loaded.body).expect("LoadedTracks");
    let LoadResultData::Track(track) = loaded.data else {
        panic!("expected a track, got {:?}", loaded.data);
    };
    assert_eq!(track.info.length, 200_000);

    // Voice: both halves must reach twilight before it sends the voice update.
    join_voice(&lavalink, GUILD, "discord-voice-session").await;
    let records = lavalink_records(&sim, 1).await;
    assert_eq!(records[0].method, "PATCH");
    assert_eq!(records[0].path, player_path);
    assert_eq!(records[0].status, 200);
    assert_eq!(
        records[0].body,
        json!({"voice": {
            "token": format!("voice-token-{GUILD}"),
            "endpoint": "sim-voice.discord.media:443",
            "sessionId": "discord-voice-session",
            "channelId": CHANNEL.to_string(),
        }})
    );
    let snapshot = sim.player(GUILD).expect("player exists");
    assert!(snapshot.connected);
    assert_eq!(snapshot.voice.session_id, "discord-voice-session");

    let player = lavalink.player(Id::new(GUILD)).await.expect("player");
    player
        .send(Play::from((Id::new(GUILD), track.encoded.clone())))
        .expect("play");
    let records = lavalink_records(&sim, 2).await;
    assert_eq!(records[1].path, player_path);
    assert_eq!(records[1].body["track"]["encoded"], track.encoded);
    assert_eq!(records[1].body["endTime"], Value::Null);
    let start = next_track_event(&mut rx).await;
    assert_eq!(start.r#type, EventType::TrackStartEvent);
    assert_eq!(start.guild_id, GUILD.to_string());
    assert_eq!(event_title(&start), "song");
    assert!(sim.player(GUILD).expect("player").is_playing());

    player
        .send(Pause::from((Id::new(GUILD), true)))
        .expect("pause");
    let records = lavalink_records(&sim, 3).await;
    assert_eq!(records[2].body["paused"], true);
    assert!(sim.player(GUILD).expect("player").paused);

    player
        .send(Volume::from((Id::new(GUILD), 50)))
        .expect("volume");
    let records = lavalink_records(&sim, 4).await;
    assert_eq!(records[3].body, json!({"volume": 50}));
    assert_eq!(sim.player(GUILD).expect("player").volume, 50);

    player
        .send(Seek::from((Id::new(GUILD), 10_000)))
        .expect("seek");
    let records = lavalink_records(&sim, 5).await;
    assert_eq!(records[4].body, json!({"position": 10_000}));
    // Paused, so the position stays exactly where the seek put it.
    assert_eq!(sim.player(GUILD).expect("player").position, 10_000);
    let rest = http(sim.addr(), "GET", &player_path, Some(sim.password()), None).await;
    let rest = rest.json();
    assert_eq!(rest["state"]["position"], 10_000);
    assert_eq!(rest["volume"], 50);
    assert_eq!(rest["paused"], true);
    assert_eq!(rest["track"]["info"]["position"], 10_000);
    assert_eq!(rest["voice"]["token"], format!("voice-token-{GUILD}"));

    player
        .send(Pause::from((Id::new(GUILD), false)))
        .expect("resume");
    let _ = lavalink_records(&sim, 6).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let playing = sim.player(GUILD).expect("player");
    assert!(playing.is_playing());
    assert!(playing.position > 10_000, "position {}", playing.position);

    player.send(Stop::from(Id::new(GUILD))).expect("stop");
    let records = lavalink_records(&sim, 7).await;
    assert_eq!(records[6].body, json!({"track": {"encoded": null}}));
    let end = next_track_event(&mut rx).await;
    assert_eq!(end_reason(&end), Some(TrackEndReason::Stopped));
    assert!(sim.player(GUILD).expect("player").track.is_none());

    node.send(Destroy::from(Id::new(GUILD)).into())
        .expect("destroy");
    let records = lavalink_records(&sim, 8).await;
    assert_eq!(records[7].method, "DELETE");
    assert_eq!(records[7].path, player_path);
    assert_eq!(records[7].status, 204);
    assert!(sim.player(GUILD).is_none());
    // Every update went to this session's path, in order, and succeeded.
    assert!(records.iter().all(|r| r.path == player_path));
    assert!(records[..7].iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn fast_playback_emits_start_end_replace_and_failure_events() {
    let sim = LavalinkSim::start(config(20.0)).await.expect("start sim");
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = lavalink
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    ready(&mut rx).await;
    join_voice(&lavalink, GUILD, "dv").await;
    let player = lavalink.player(Id::new(GUILD)).await.expect("player");
    let load = |id: &str| {
        let LoadResultData::Track(track) = serde_json::from_value::<LoadedTracks>(
            swarmcord_sim::lavalink::catalogue::load(id).to_json(),
        )
        .expect("LoadedTracks")
        .data
        else {
            panic!("{id} is not a track");
        };
        track.encoded
    };

    // 20 s of track at 20x: about one second.
    let started = Instant::now();
    player
        .send(Play::from((
            Id::new(GUILD),
            load("https://sim.lavalink/track/quick?length=20000"),
        )))
        .expect("play");
    let start = next_track_event(&mut rx).await;
    assert_eq!(start.r#type, EventType::TrackStartEvent);
    let IncomingEvent::PlayerUpdate(update) = next_matching(
        &mut rx,
        "player update",
        |e| matches!(e, IncomingEvent::PlayerUpdate(u) if u.state.position > 0),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(update.guild_id, Id::new(GUILD));
    assert!(update.state.connected);
    assert!(update.state.time > 1_600_000_000_000);
    let end = next_track_event(&mut rx).await;
    let took = started.elapsed();
    assert_eq!(end_reason(&end), Some(TrackEndReason::Finished));
    assert_eq!(event_title(&end), "quick");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "took {took:?}"
    );

    // A new track replaces the current one (twilight's `Play::from` sets noReplace=true, so
    // use the full constructor).
    player
        .send(Play::from((
            Id::new(GUILD),
            load("https://sim.lavalink/track/a?length=600000"),
        )))
        .expect("play a");
    assert_eq!(event_title(&next_track_event(&mut rx).await), "a");
    player
        .send(Play::new(
            Id::new(GUILD),
            load("https://sim.lavalink/track/b?length=600000"),
            None,
            None,
            false,
        ))
        .expect("play b");
    let replaced = next_track_event(&mut rx).await;
    assert_eq!(end_reason(&replaced), Some(TrackEndReason::Replaced));
    assert_eq!(event_title(&replaced), "a");
    assert_eq!(event_title(&next_track_event(&mut rx).await), "b");
    // noReplace=true while b plays: ignored.
    player
        .send(Play::from((
            Id::new(GUILD),
            load("https://sim.lavalink/track/c?length=1000"),
        )))
        .expect("play c");
    let records = lavalink_records(&sim, 5).await;
    assert_eq!(records[4].status, 200);
    let snapshot = sim.player(GUILD).expect("player");
    assert_eq!(snapshot.track.expect("track").info.title, "b");

    // endTime: b stops at 2 s of track (0.1 s at 20x) with reason finished.
    player
        .send(Play::new(
            Id::new(GUILD),
            load("https://sim.lavalink/track/d?length=600000"),
            None,
            Some(2_000),
            false,
        ))
        .expect("play d");
    assert_eq!(
        end_reason(&next_track_event(&mut rx).await),
        Some(TrackEndReason::Replaced)
    );
    assert_eq!(event_title(&next_track_event(&mut rx).await), "d");
    let end = next_track_event(&mut rx).await;
    assert_eq!(end_reason(&end), Some(TrackEndReason::Finished));
    match &end.data {
        EventData::TrackEndEvent(e) => assert_eq!(e.track.info.position, 2_000),
        _ => unreachable!(),
    }

    // A broken track: start, exception, end with loadFailed.
    player
        .send(Play::from((
            Id::new(GUILD),
            load("https://sim.lavalink/broken/oops"),
        )))
        .expect("play broken");
    assert_eq!(
        next_track_event(&mut rx).await.r#type,
        EventType::TrackStartEvent
    );
    let exception = next_track_event(&mut rx).await;
    assert_eq!(exception.r#type, EventType::TrackExceptionEvent);
    match &exception.data {
        EventData::TrackExceptionEvent(e) => {
            assert!(e.exception.cause.contains("simulated"));
            assert_eq!(e.track.info.title, "oops");
        }
        other => panic!("expected an exception, got {other:?}"),
    }
    assert_eq!(
        end_reason(&next_track_event(&mut rx).await),
        Some(TrackEndReason::LoadFailed)
    );
}

#[tokio::test]
async fn resumed_session_keeps_its_players_and_replays_events() {
    let sim = LavalinkSim::start(config(10.0)).await.expect("start sim");
    let first = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = first
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    let (session_id, _) = ready(&mut rx).await;

    let response = http(
        sim.addr(),
        "PATCH",
        &format!("/v4/sessions/{session_id}"),
        Some(sim.password()),
        Some(&json!({"resuming": true, "timeout": 30})),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"resuming": true, "timeout": 30}));

    let long =
        swarmcord_sim::lavalink::catalogue::load("https://sim.lavalink/track/long?length=3600000");
    let short =
        swarmcord_sim::lavalink::catalogue::load("https://sim.lavalink/track/short?length=5000");
    let (
        swarmcord_sim::lavalink::LoadResult::Track(long),
        swarmcord_sim::lavalink::LoadResult::Track(short),
    ) = (long, short)
    else {
        panic!("catalogue");
    };
    join_voice(&first, GUILD, "dv1").await;
    join_voice(&first, OTHER_GUILD, "dv2").await;
    first
        .player(Id::new(GUILD))
        .await
        .expect("player")
        .send(Play::from((Id::new(GUILD), long.encoded.clone())))
        .expect("play long");
    first
        .player(Id::new(OTHER_GUILD))
        .await
        .expect("player")
        .send(Play::from((Id::new(OTHER_GUILD), short.encoded.clone())))
        .expect("play short");
    lavalink_records(&sim, 5).await;

    // The network drops; the short track (0.5 s at 10x) ends while nobody is connected.
    sim.kill();
    let before = sim.player(GUILD).expect("player kept").position;
    wait_until("short track to end while disconnected", || {
        sim.sessions()
            .iter()
            .any(|s| s.id == session_id && !s.connected && s.buffered_events >= 1)
    })
    .await;
    let refused = http(sim.addr(), "GET", "/v4/info", Some(sim.password()), None).await;
    assert_eq!(refused.status, 503);
    sim.revive();

    // A new process resumes the session by id.
    let second = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node2, mut rx2) = second
        .add(sim.addr(), sim.password(), Some(session_id.clone()))
        .await
        .expect("resume (twilight checks Session-Resumed: true)");
    let (resumed_id, resumed) = ready(&mut rx2).await;
    assert!(resumed);
    assert_eq!(resumed_id, session_id);
    // The event buffered while disconnected comes right after ready: the short track's end.
    let replay_end = next_track_event(&mut rx2).await;
    assert_eq!(replay_end.guild_id, OTHER_GUILD.to_string());
    assert_eq!(end_reason(&replay_end), Some(TrackEndReason::Finished));

    let kept = sim.player(GUILD).expect("player survived");
    assert!(kept.is_playing());
    assert!(kept.position > before, "{} <= {before}", kept.position);
    assert_eq!(kept.track.expect("track").info.title, "long");
    assert_eq!(sim.stats().resumes, 1);
    let players = http(
        sim.addr(),
        "GET",
        &format!("/v4/sessions/{session_id}/players"),
        Some(sim.password()),
        None,
    )
    .await
    .json();
    assert_eq!(players.as_array().map(Vec::len), Some(2));

    // The resumed client controls the same player through the same session.
    second
        .player(Id::new(GUILD))
        .await
        .expect("player")
        .send(Pause::from((Id::new(GUILD), true)))
        .expect("pause");
    let records = lavalink_records(&sim, 6).await;
    assert_eq!(
        records[5].path,
        format!("/v4/sessions/{session_id}/players/{GUILD}")
    );
    assert!(sim.player(GUILD).expect("player").paused);
    let ws_log = sim.recorder().since(0, Some("lavalink-ws"));
    assert!(
        ws_log
            .iter()
            .any(|r| r.method == "RESUME" && r.body["sessionId"] == session_id)
    );
}

#[tokio::test]
async fn without_resuming_the_session_and_players_are_gone() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let first = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = first
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    let (session_id, _) = ready(&mut rx).await;
    join_voice(&first, GUILD, "dv").await;
    lavalink_records(&sim, 1).await;
    assert_eq!(sim.players().len(), 1);

    sim.kill();
    assert!(sim.sessions().is_empty());
    assert!(sim.players().is_empty());
    sim.revive();

    let second = Lavalink::new(Id::new(BOT_ID), 1);
    let Err(error) = second
        .add(sim.addr(), sim.password(), Some(session_id.clone()))
        .await
    else {
        panic!("resuming a destroyed session must fail");
    };
    assert!(
        matches!(error.kind(), NodeErrorType::Connecting),
        "{error:?}"
    );

    let gone = http(
        sim.addr(),
        "GET",
        &format!("/v4/sessions/{session_id}/players"),
        Some(sim.password()),
        None,
    )
    .await;
    assert_lavalink_error(&gone, 404, &format!("/v4/sessions/{session_id}/players"));
    assert_eq!(gone.json()["message"], "Session not found");

    // A raw upgrade naming the dead session gets a new one and says so.
    let head = ws_upgrade_head(&format!(
        "Authorization: {}\r\nUser-Id: {BOT_ID}\r\nSession-Id: {session_id}\r\n",
        sim.password()
    ));
    let upgrade = upgrade(sim.addr(), &head).await;
    assert_eq!(upgrade.status, 101);
    assert_eq!(upgrade.header("session-resumed"), Some("false"));
}

#[tokio::test]
async fn resume_timeout_expires_and_twilight_reconnects_after_revive() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = lavalink
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    let (session_id, _) = ready(&mut rx).await;
    let response = http(
        sim.addr(),
        "PATCH",
        &format!("/v4/sessions/{session_id}"),
        Some(sim.password()),
        Some(&json!({"resuming": true, "timeout": 1})),
    )
    .await;
    assert_eq!(response.json(), json!({"resuming": true, "timeout": 1}));

    sim.kill();
    assert_eq!(sim.sessions().len(), 1);
    assert!(!sim.sessions()[0].connected);
    let killed_at = Instant::now();
    wait_until("resume timeout", || sim.sessions().is_empty()).await;
    assert!(killed_at.elapsed() >= Duration::from_millis(900));

    // twilight's node task reconnects by itself (with backoff) once the node is back.
    sim.revive();
    let (new_id, resumed) = ready(&mut rx).await;
    assert!(!resumed);
    assert_ne!(new_id, session_id);
    assert_eq!(sim.stats().connections, 2);
    assert_eq!(sim.stats().sessions, 2);
}

#[tokio::test]
async fn rest_auth_errors_and_catalogue() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let addr = sim.addr();
    let pw = sim.password().to_owned();
    authorization_is_enforced(addr, &pw).await;
    info_version_and_stats(addr, &pw).await;
    let tracks = catalogue_loads(addr, &pw).await;
    decoding_round_trips(addr, &pw, &tracks).await;
    unknown_sessions_are_404s(addr, &pw).await;
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = lavalink.add(addr, &pw, None).await.expect("connect");
    let (session_id, _) = ready(&mut rx).await;
    player_errors_and_creation(addr, &pw, &session_id).await;

    // The log saw the failed and the successful PATCHes, with their statuses.
    let statuses: Vec<u16> = sim
        .recorder()
        .since(0, Some("lavalink"))
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![404, 404, 400, 400, 200]);

    control_api_over_http(&sim).await;
    sim.shutdown().await;
}

/// Authorization on REST (401 without the header, 403 with a wrong one, empty bodies, as
/// Lavalink 4.0.8's `RequestAuthorizationFilter`) and on the WebSocket (401 either way).
async fn authorization_is_enforced(addr: SocketAddr, pw: &str) {
    let missing = http(addr, "GET", "/v4/info", None, None).await;
    assert_eq!((missing.status, missing.body.as_str()), (401, ""));
    let wrong = http(addr, "GET", "/v4/stats", Some("wrong"), None).await;
    assert_eq!((wrong.status, wrong.body.as_str()), (403, ""));
    assert_eq!(wrong.header("lavalink-api-version"), Some("4"));
    let refused = upgrade(addr, &ws_upgrade_head(&format!("User-Id: {BOT_ID}\r\n"))).await;
    assert_eq!(refused.status, 401);
    let refused = upgrade(addr, &ws_upgrade_head(&format!("Authorization: {pw}\r\n"))).await;
    assert_eq!(refused.status, 400);
    let wrong = Lavalink::new(Id::new(BOT_ID), 1);
    let Err(error) = wrong.add(addr, "not-the-password", None).await else {
        panic!("a bad password must be refused");
    };
    assert!(
        matches!(error.kind(), NodeErrorType::Unauthorized { .. }),
        "{error:?}"
    );
}

/// Info, version, stats.
async fn info_version_and_stats(addr: SocketAddr, pw: &str) {
    let version = http(addr, "GET", "/version", Some(pw), None).await;
    assert_eq!((version.status, version.body.as_str()), (200, "4.0.8"));
    let info = http(addr, "GET", "/v4/info", Some(pw), None).await.json();
    assert_eq!(info["version"]["semver"], "4.0.8");
    assert_eq!(info["version"]["major"], 4);
    assert!(
        info["sourceManagers"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let stats = http(addr, "GET", "/v4/stats", Some(pw), None).await.json();
    assert_eq!(stats["players"], 0);
    assert!(
        stats.get("frameStats").is_none(),
        "omitted, not null: {stats}"
    );
    assert!(stats.get("op").is_none());
}

/// Catalogue, parsed with twilight's models: a search, an empty search, an error and a
/// playlist. Returns the search results.
async fn catalogue_loads(addr: SocketAddr, pw: &str) -> Vec<twilight_lavalink::model::Track> {
    let search = http(
        addr,
        "GET",
        "/v4/loadtracks?identifier=ytsearch%3Alofi%20beats",
        Some(pw),
        None,
    )
    .await;
    let search: LoadedTracks = serde_json::from_str(&search.body).expect("search");
    let LoadResultData::Search(tracks) = search.data else {
        panic!("expected search results");
    };
    assert_eq!(tracks.len(), 5);
    assert_eq!(tracks[0].info.title, "lofi beats (result 1)");
    let empty = http(
        addr,
        "GET",
        "/v4/loadtracks?identifier=ytsearch%3A",
        Some(pw),
        None,
    )
    .await;
    assert_eq!(empty.json(), json!({"loadType": "empty", "data": {}}));
    let error = http(
        addr,
        "GET",
        "/v4/loadtracks?identifier=https%3A%2F%2Fsim.lavalink%2Ferror",
        Some(pw),
        None,
    )
    .await;
    let error: LoadedTracks = serde_json::from_str(&error.body).expect("error result");
    assert!(matches!(error.data, LoadResultData::Error(_)));
    let playlist = http(
        addr,
        "GET",
        "/v4/loadtracks?identifier=https%3A%2F%2Fsim.lavalink%2Fplaylist%2Fmix%3Ftracks%3D3%26selected%3D1",
        Some(pw),
        None,
    )
    .await;
    let playlist: LoadedTracks = serde_json::from_str(&playlist.body).expect("playlist");
    let LoadResultData::Playlist(playlist) = playlist.data else {
        panic!("expected a playlist");
    };
    assert_eq!(playlist.info.name, "mix");
    assert_eq!(playlist.info.selected_track, Some(1));
    assert_eq!(playlist.tracks.len(), 3);
    tracks
}

/// Decoding round-trips; garbage is a 400.
async fn decoding_round_trips(
    addr: SocketAddr,
    pw: &str,
    tracks: &[twilight_lavalink::model::Track],
) {
    let request = twilight_lavalink::http::decode_track(addr, &tracks[2].encoded, pw)
        .expect("decode request");
    let path = request
        .uri()
        .path_and_query()
        .expect("path")
        .as_str()
        .to_owned();
    let decoded = http(addr, "GET", &path, Some(pw), None).await;
    let decoded: twilight_lavalink::model::Track =
        serde_json::from_str(&decoded.body).expect("track");
    assert_eq!(decoded, tracks[2]);
    let many = http(
        addr,
        "POST",
        "/v4/decodetracks",
        Some(pw),
        Some(&json!([tracks[0].encoded, tracks[1].encoded])),
    )
    .await
    .json();
    assert_eq!(many[1]["info"]["identifier"], tracks[1].info.identifier);
    assert_lavalink_error(
        &http(
            addr,
            "GET",
            "/v4/decodetrack?encodedTrack=garbage",
            Some(pw),
            None,
        )
        .await,
        400,
        "/v4/decodetrack",
    );
    assert_lavalink_error(
        &http(
            addr,
            "POST",
            "/v4/decodetracks",
            Some(pw),
            Some(&json!(["garbage"])),
        )
        .await,
        400,
        "/v4/decodetracks",
    );
}

/// An unknown session and a player in it are 404s.
async fn unknown_sessions_are_404s(addr: SocketAddr, pw: &str) {
    assert_lavalink_error(
        &http(
            addr,
            "PATCH",
            "/v4/sessions/nope",
            Some(pw),
            Some(&json!({"resuming": true})),
        )
        .await,
        404,
        "/v4/sessions/nope",
    );
    assert_lavalink_error(
        &http(
            addr,
            "PATCH",
            "/v4/sessions/nope/players/1",
            Some(pw),
            Some(&json!({})),
        )
        .await,
        404,
        "/v4/sessions/nope/players/1",
    );
}

/// Players in a live session: malformed JSON and validation 400s, a 404 before the player
/// exists, its creation with defaults; then a trace on request and an unknown route.
async fn player_errors_and_creation(addr: SocketAddr, pw: &str, session_id: &str) {
    let player = format!("/v4/sessions/{session_id}/players/{GUILD}");
    let bad = http_text(addr, "PATCH", &player, Some(pw), "{not json").await;
    assert_lavalink_error(&bad, 400, &player);
    assert_lavalink_error(
        &http(
            addr,
            "PATCH",
            &player,
            Some(pw),
            Some(&json!({"volume": 1001})),
        )
        .await,
        400,
        &player,
    );
    assert_lavalink_error(
        &http(addr, "GET", &player, Some(pw), None).await,
        404,
        &player,
    );
    let created = http(
        addr,
        "PATCH",
        &format!("{player}?noReplace=true"),
        Some(pw),
        Some(&json!({"volume": 1000, "filters": {"volume": 0.5}})),
    )
    .await;
    assert_eq!(created.status, 200);
    let created = created.json();
    assert_eq!(created["guildId"], GUILD.to_string());
    assert_eq!(created["track"], Value::Null);
    assert_eq!(created["volume"], 1000);
    assert_eq!(created["filters"], json!({"volume": 0.5}));
    assert_eq!(created["state"]["connected"], false);
    assert_eq!(
        created["voice"],
        json!({"token": "", "endpoint": "", "sessionId": ""})
    );
    let with_trace = http(
        addr,
        "GET",
        "/v4/sessions/nope/players?trace=true",
        Some(pw),
        None,
    )
    .await
    .json();
    assert!(with_trace["trace"].is_string());
    assert_lavalink_error(
        &http(addr, "GET", "/v4/nothing", Some(pw), None).await,
        404,
        "/v4/nothing",
    );
}

/// Control API over HTTP: players, counters, the log, kill and revive.
async fn control_api_over_http(sim: &LavalinkSim) {
    let addr = sim.addr();
    let players = http(addr, "GET", "/_sim/players", None, None).await.json();
    assert_eq!(players[0]["guildId"], GUILD.to_string());
    assert_eq!(players[0]["volume"], 1000);
    let counters = http(addr, "GET", "/_sim/stats", None, None).await.json();
    assert_eq!(counters["sessions"], 1);
    assert_eq!(counters["players"], 1);
    let last = sim.recorder().len() - 1;
    let log = http(
        addr,
        "GET",
        &format!("/_sim/log?since={last}&kind=lavalink"),
        None,
        None,
    )
    .await
    .json();
    assert_eq!(log.as_array().map(Vec::len), Some(1));
    assert_eq!(log[0]["status"], 200);
    let killed = http(addr, "POST", "/_sim/kill", None, None).await.json();
    assert_eq!(killed["killed"], true);
    assert_eq!(killed["activeSessions"], 0);
    let revived = http(addr, "POST", "/_sim/revive", None, None).await.json();
    assert_eq!(revived["killed"], false);
}

#[tokio::test]
async fn injected_stuck_and_voice_closed_events_reach_twilight() {
    let sim = LavalinkSim::start(config(1.0)).await.expect("start sim");
    let lavalink = Lavalink::new(Id::new(BOT_ID), 1);
    let (_node, mut rx) = lavalink
        .add(sim.addr(), sim.password(), None)
        .await
        .expect("connect");
    ready(&mut rx).await;
    join_voice(&lavalink, GUILD, "dv").await;
    lavalink_records(&sim, 1).await;
    let stuck_path = format!("/_sim/players/{GUILD}/stuck?thresholdMs=2500");
    // No track yet: nothing to be stuck.
    assert_eq!(
        http(sim.addr(), "POST", &stuck_path, None, None)
            .await
            .status,
        404
    );
    let swarmcord_sim::lavalink::LoadResult::Track(track) =
        swarmcord_sim::lavalink::catalogue::load("https://sim.lavalink/track/s?length=600000")
    else {
        panic!("catalogue");
    };
    lavalink
        .player(Id::new(GUILD))
        .await
        .expect("player")
        .send(Play::from((Id::new(GUILD), track.encoded)))
        .expect("play");
    assert_eq!(
        next_track_event(&mut rx).await.r#type,
        EventType::TrackStartEvent
    );

    assert_eq!(
        http(sim.addr(), "POST", &stuck_path, None, None)
            .await
            .status,
        204
    );
    let stuck = next_track_event(&mut rx).await;
    match &stuck.data {
        EventData::TrackStuckEvent(e) => {
            assert_eq!(e.threshold_ms, 2500);
            assert_eq!(e.track.info.title, "s");
        }
        other => panic!("expected TrackStuckEvent, got {other:?}"),
    }

    let closed_path =
        format!("/_sim/players/{GUILD}/voice-closed?code=4014&reason=Disconnected&byRemote=true");
    assert_eq!(
        http(sim.addr(), "POST", &closed_path, None, None)
            .await
            .status,
        204
    );
    let closed = next_track_event(&mut rx).await;
    assert_eq!(closed.r#type, EventType::WebSocketClosedEvent);
    match &closed.data {
        EventData::WebSocketClosedEvent(e) => {
            assert_eq!(
                (e.code, e.reason.as_str(), e.by_remote),
                (4014, "Disconnected", true)
            );
        }
        other => panic!("expected WebSocketClosedEvent, got {other:?}"),
    }
    let player = sim.player(GUILD).expect("player");
    assert!(!player.connected);
    assert!(player.is_playing());
}
