//! Unit tests of the node's state machine.

use serde_json::json;

use super::*;
use crate::lavalink::catalogue::{self, LoadResult};

fn node(speed: f64) -> Node {
    Node::new(LavalinkConfig {
        playback_speed: speed,
        ..LavalinkConfig::default()
    })
}

fn connect(node: &Node) -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (id, resumed) = node.attach(1, "test", None, node.next_conn_id(), tx);
    assert!(!resumed);
    (id, rx)
}

fn drain(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        out.push(serde_json::from_str(&msg).unwrap_or(Value::Null));
    }
    out
}

fn track_url(len: u64) -> String {
    let LoadResult::Track(t) =
        catalogue::load(&format!("https://sim.lavalink/track/t?length={len}"))
    else {
        return String::new();
    };
    t.encoded
}

#[test]
fn validation_errors_are_400() {
    let node = node(1.0);
    let (id, _rx) = connect(&node);
    for body in [
        json!([]),
        json!({"volume": 1001}),
        json!({"volume": -1}),
        json!({"position": -5}),
        json!({"endTime": 0}),
        json!({"paused": "yes"}),
        json!({"filters": 3}),
        json!({"voice": {"token": "t"}}),
        json!({"track": {"encoded": "garbage"}}),
        json!({"track": {"encoded": "x", "identifier": "y"}}),
        json!({"track": {"identifier": "ytsearch:abc"}}),
        json!({"track": {"encoded": null}, "encodedTrack": null}),
        json!({"encodedTrack": 5}),
    ] {
        let err = node.update_player(&id, 5, &body, false).err();
        assert_eq!(err.map(|e| e.status), Some(400), "{body}");
    }
    assert_eq!(
        node.update_player("nope", 5, &json!({}), false).err(),
        Some(ApiError::session_not_found())
    );
    // Nothing was created by the failed updates.
    assert_eq!(node.player_json(&id, 5).err().map(|e| e.status), Some(404));
}

#[test]
fn play_replace_stop_and_no_replace() {
    let node = node(1.0);
    let (id, mut rx) = connect(&node);
    let first = track_url(60_000);
    let p = node
        .update_player(&id, 7, &json!({"track": {"encoded": first, "userData": {"k": 1}}, "position": 1000, "volume": 50}), false)
        .unwrap_or(Value::Null);
    assert_eq!(p["guildId"], "7");
    assert_eq!(p["volume"], 50);
    assert_eq!(p["track"]["userData"], json!({"k": 1}));
    assert!(p["state"]["position"].as_u64().is_some_and(|x| x >= 1000));
    assert_eq!(p["state"]["connected"], false);
    assert_eq!(p["state"]["ping"], -1);
    // noReplace keeps the first track.
    let second = track_url(90_000);
    let p = node
        .update_player(&id, 7, &json!({"encodedTrack": second}), true)
        .unwrap_or(Value::Null);
    assert_eq!(p["track"]["info"]["length"], 60_000);
    let p = node
        .update_player(&id, 7, &json!({"encodedTrack": second}), false)
        .unwrap_or(Value::Null);
    assert_eq!(p["track"]["info"]["length"], 90_000);
    let p = node
        .update_player(&id, 7, &json!({"track": {"encoded": null}}), false)
        .unwrap_or(Value::Null);
    assert_eq!(p["track"], Value::Null);
    let events: Vec<(String, String)> = drain(&mut rx)
        .into_iter()
        .filter(|m| m["op"] == "event")
        .map(|m| {
            (
                m["type"].as_str().unwrap_or_default().to_owned(),
                m["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("TrackStartEvent", ""),
        ("TrackEndEvent", "replaced"),
        ("TrackStartEvent", ""),
        ("TrackEndEvent", "stopped"),
    ];
    assert_eq!(
        events,
        expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_new_track_or_a_stop_sets_paused_to_the_request_or_false() {
    let node = node(1.0);
    let (id, _rx) = connect(&node);
    let paused = |body: Value, no_replace: bool| {
        node.update_player(&id, 3, &body, no_replace)
            .map_or(Value::Null, |p| p["paused"].clone())
    };
    assert_eq!(
        paused(
            json!({"encodedTrack": track_url(60_000), "paused": true}),
            false
        ),
        true
    );
    // A new track without `paused` plays: Lavalink resets it to false.
    assert_eq!(
        paused(json!({"encodedTrack": track_url(60_000)}), false),
        false
    );
    assert_eq!(paused(json!({"paused": true}), false), true);
    // noReplace with a track playing: the request's `paused` is ignored with the track.
    assert_eq!(
        paused(
            json!({"encodedTrack": track_url(1_000), "paused": false}),
            true
        ),
        true
    );
    // A stop without `paused` un-pauses too; with it, keeps the request's value.
    assert_eq!(paused(json!({"track": {"encoded": null}}), false), false);
    assert_eq!(
        paused(json!({"track": {"encoded": null}, "paused": true}), false),
        true
    );
}

#[test]
fn stats_follow_ready_at_once_then_each_interval_per_session() {
    let second = Duration::from_secs(1);
    let node = Node::new(LavalinkConfig {
        stats_interval: second,
        ..LavalinkConfig::default()
    });
    let ops = |rx: &mut mpsc::UnboundedReceiver<String>| -> Vec<String> {
        drain(rx)
            .iter()
            .map(|m| m["op"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (_, mut a) = connect(&node);
    let a_at = Instant::now();
    assert_eq!(ops(&mut a), ["ready", "stats"]);
    std::thread::sleep(Duration::from_millis(300));
    let (_, mut b) = connect(&node);
    let b_at = Instant::now();
    assert_eq!(ops(&mut b), ["ready", "stats"]);
    node.tick(a_at + Duration::from_millis(500));
    assert!(ops(&mut a).is_empty(), "not due yet");
    // One interval after each session's start, that session (only) gets its stats.
    node.tick(a_at + second + Duration::from_millis(50));
    assert_eq!(
        (ops(&mut a), ops(&mut b)),
        (vec!["stats".to_owned()], vec![])
    );
    node.tick(b_at + second + Duration::from_millis(50));
    assert_eq!(
        (ops(&mut a), ops(&mut b)),
        (vec![], vec!["stats".to_owned()])
    );
}

#[test]
fn pause_freezes_position_and_seek_moves_it() {
    let node = node(1000.0);
    let (id, _rx) = connect(&node);
    node.update_player(
        &id,
        1,
        &json!({"encodedTrack": track_url(10_000_000), "paused": true}),
        false,
    )
    .ok();
    std::thread::sleep(Duration::from_millis(20));
    let snap = node.players();
    assert_eq!(snap[0].position, 0);
    assert!(snap[0].paused && !snap[0].is_playing());
    node.update_player(&id, 1, &json!({"position": 5000}), false)
        .ok();
    assert_eq!(node.players()[0].position, 5000);
    node.update_player(&id, 1, &json!({"paused": false}), false)
        .ok();
    std::thread::sleep(Duration::from_millis(20));
    // 20 ms at 1000x is 20 s of track.
    assert!(node.players()[0].position >= 25_000);
}

#[test]
fn tick_ends_tracks_and_fails_broken_ones() {
    let node = node(1.0);
    let (id, mut rx) = connect(&node);
    node.update_player(
        &id,
        1,
        &json!({"encodedTrack": track_url(100_000), "position": 100_000}),
        false,
    )
    .ok();
    let LoadResult::Track(broken) = catalogue::load("https://sim.lavalink/broken/b") else {
        return;
    };
    node.update_player(&id, 2, &json!({"encodedTrack": broken.encoded}), false)
        .ok();
    node.tick(Instant::now());
    let ends: Vec<(String, String, String)> = drain(&mut rx)
        .into_iter()
        .filter(|m| m["op"] == "event" && m["type"] != "TrackStartEvent")
        .map(|m| {
            (
                m["guildId"].as_str().unwrap_or_default().to_owned(),
                m["type"].as_str().unwrap_or_default().to_owned(),
                m["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            (
                "1".to_owned(),
                "TrackEndEvent".to_owned(),
                "finished".to_owned()
            ),
            (
                "2".to_owned(),
                "TrackExceptionEvent".to_owned(),
                String::new()
            ),
            (
                "2".to_owned(),
                "TrackEndEvent".to_owned(),
                "loadFailed".to_owned()
            ),
        ]
    );
    assert!(node.players().iter().all(|p| p.track.is_none()));
}

#[test]
fn sessions_resume_only_when_enabled() {
    let node = node(1.0);
    let (id, rx) = connect(&node);
    drop(rx);
    node.update_session(&id, &json!({"resuming": true, "timeout": 30}))
        .ok();
    node.update_player(&id, 3, &json!({"encodedTrack": track_url(100_000)}), false)
        .ok();
    assert!(node.detach(&id, 1));
    node.update_player(&id, 3, &json!({"track": {"encoded": null}}), false)
        .ok();
    assert_eq!(node.sessions()[0].buffered_events, 2);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (again, resumed) = node.attach(1, "test", Some(&id), node.next_conn_id(), tx);
    assert!(resumed);
    assert_eq!(again, id);
    let msgs = drain(&mut rx);
    assert_eq!(
        msgs[0],
        json!({"op": "ready", "resumed": true, "sessionId": id})
    );
    assert_eq!(msgs[1]["type"], "TrackStartEvent");
    assert_eq!(msgs[2]["reason"], "stopped");
    // Without resuming, closing destroys the session.
    node.update_session(&id, &json!({"resuming": false})).ok();
    assert!(node.detach(&id, 2));
    assert!(node.sessions().is_empty());
    let (tx, _rx) = mpsc::unbounded_channel();
    let (_, resumed) = node.attach(1, "test", Some(&id), node.next_conn_id(), tx);
    assert!(!resumed);
}

#[test]
fn injected_voice_close_and_stuck_events() {
    let node = node(1.0);
    let (id, mut rx) = connect(&node);
    let voice = json!({"voice": {"token": "t", "endpoint": "e", "sessionId": "s"}});
    node.update_player(&id, 9, &voice, false).ok();
    assert!(node.players()[0].connected);
    assert!(!node.track_stuck(9, 1000));
    node.update_player(&id, 9, &json!({"encodedTrack": track_url(60_000)}), false)
        .ok();
    assert!(node.track_stuck(9, 1000));
    assert!(node.voice_closed(9, 4006, "Session is no longer valid.", true));
    assert!(!node.voice_closed(10, 4006, "", true));
    assert!(!node.players()[0].connected);
    assert!(node.players()[0].track.is_some());
    let events: Vec<Value> = drain(&mut rx)
        .into_iter()
        .filter(|m| m["op"] == "event")
        .collect();
    assert_eq!(events[1]["type"], "TrackStuckEvent");
    assert_eq!(events[1]["thresholdMs"], 1000);
    assert_eq!(
        events[2],
        json!({"op": "event", "type": "WebSocketClosedEvent", "guildId": "9",
               "code": 4006, "reason": "Session is no longer valid.", "byRemote": true})
    );
}
