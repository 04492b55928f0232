//! `swarmcord-voice` against the Lavalink simulator and a real Redis: the voice flow, the
//! queue played to its end, exactly-once advancement, a new owner resuming the session, and
//! failover to another node.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarmcord_sim::lavalink::{LavalinkConfig, LavalinkSim};
use swarmcord_voice::gateway::{BoxFuture, GatewayCommandError};
use swarmcord_voice::model::LoadResult;
use swarmcord_voice::store::{Advance, now_ms};
use swarmcord_voice::{
    Enqueued, Music, MusicError, NodeConfig, NodeManager, NodeManagerConfig, Rest, VoiceGateway,
    VoiceStore,
};
use tokio_util::sync::CancellationToken;

const BOT: u64 = 111_111_111_111_111_111;
const USER: u64 = 555_555_555_555_555_555;
const VOICE_CHANNEL: u64 = 444_444_444_444_444_444;
const TEXT_CHANNEL: u64 = 666_666_666_666_666_666;

/// Records op-4 calls, like a gateway would send them.
#[derive(Default)]
struct FakeGateway {
    calls: Mutex<Vec<(u64, Option<u64>)>>,
}

impl VoiceGateway for FakeGateway {
    fn update_voice_state(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
        _via: Option<String>,
    ) -> BoxFuture<'_, Result<(), GatewayCommandError>> {
        self.calls
            .lock()
            .expect("lock")
            .push((guild_id, channel_id));
        Box::pin(async { Ok(()) })
    }
}

fn sim_config(name: &str, speed: f64) -> LavalinkConfig {
    LavalinkConfig {
        stats_interval: Duration::from_millis(300),
        player_update_interval: Duration::from_millis(300),
        playback_speed: speed,
        node_name: name.to_owned(),
        ..LavalinkConfig::default()
    }
}

struct Setup {
    music: Music,
    store: VoiceStore,
    gateway: Arc<FakeGateway>,
    rest: Rest,
    nodes: Vec<NodeConfig>,
}

async fn setup(sims: &[&LavalinkSim]) -> Setup {
    swarmcord_testkit::init_tracing();
    let conn = swarmcord_coord::connect(&swarmcord_testkit::redis_url())
        .await
        .expect("redis");
    let store = VoiceStore::new(conn, swarmcord_testkit::unique_name("voice-test"));
    let rest = Rest::new("youshallnotpass");
    let nodes: Vec<NodeConfig> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| NodeConfig::new(format!("n{i}"), s.addr().to_string()))
        .collect();
    let gateway = Arc::new(FakeGateway::default());
    let music = Music::new(
        store.clone(),
        rest.clone(),
        nodes.clone(),
        Arc::clone(&gateway) as Arc<dyn VoiceGateway>,
    );
    Setup {
        music,
        store,
        gateway,
        rest,
        nodes,
    }
}

impl Setup {
    fn manager(&self, owner: &str, lease_ttl: Duration) -> NodeManager {
        let mut config = NodeManagerConfig::new(owner, BOT);
        config.lease_ttl = lease_ttl;
        config.failover_after = Duration::from_secs(3);
        NodeManager::new(
            self.music.clone(),
            self.rest.clone(),
            self.nodes.clone(),
            config,
        )
    }

    /// Starts a manager; returns its cancel token and task.
    fn start(
        &self,
        owner: &str,
        lease_ttl: Duration,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(self.manager(owner, lease_ttl).run(cancel.clone()));
        (cancel, task)
    }

    async fn wait_healthy(&self, node: &str) {
        wait_for(
            &format!("node {node} healthy"),
            Duration::from_secs(10),
            || async {
                matches!(self.store.node_alive(node).await, Ok(true))
                    && self.store.node_session(node).await.ok().flatten().is_some()
            },
        )
        .await;
    }

    /// What Discord does after op 4: the bot's voice state and voice server.
    async fn discord_answers_join(&self, guild: u64) {
        self.music
            .on_voice_state(
                guild,
                BOT,
                Some(VOICE_CHANNEL),
                "discord-voice-session",
                true,
            )
            .await
            .expect("voice state");
        self.music
            .on_voice_server(guild, "voice-token", Some("sim-voice.discord.media:443"))
            .await
            .expect("voice server");
    }

    async fn tracks(&self, guild: u64, query: &str) -> Vec<swarmcord_voice::model::Track> {
        match self.music.load(guild, query).await.expect("load") {
            LoadResult::Track(t) => vec![t],
            LoadResult::Playlist { tracks, .. } | LoadResult::Search(tracks) => tracks,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !cond().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn guild() -> u64 {
    // A random snowflake-sized guild id, so parallel tests never share one.
    (u64::from(rand_u32()) << 22) | 1
}

fn rand_u32() -> u32 {
    let name = swarmcord_testkit::unique_name("g");
    u32::from_str_radix(&name[2..10], 16).unwrap_or(7) | 1
}

#[tokio::test]
async fn play_queue_skip_pause_and_the_queue_plays_to_the_end() {
    let sim = LavalinkSim::start(sim_config("a", 10.0))
        .await
        .expect("sim");
    let s = setup(&[&sim]).await;
    let (cancel, task) = s.start("w1", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    let g = guild();

    // Bad input: nothing joined yet, an unknown track, an empty search.
    assert!(matches!(
        s.music.skip(g).await,
        Err(MusicError::NotConnected)
    ));
    assert!(matches!(
        s.music.load(g, "sim:empty nothing").await,
        Err(MusicError::NoResults(_))
    ));
    assert!(matches!(
        s.music.load(g, "https://sim.lavalink/error?message=gone").await,
        Err(MusicError::LoadFailed(m)) if m == "gone"
    ));
    assert!(matches!(
        s.music.load(g, "  ").await,
        Err(MusicError::NoResults(_))
    ));

    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join");
    assert_eq!(
        s.gateway.calls.lock().expect("lock").as_slice(),
        &[(g, Some(VOICE_CHANNEL))]
    );
    s.discord_answers_join(g).await;
    assert!(matches!(
        s.music.skip(g).await,
        Err(MusicError::NothingPlaying)
    ));

    // Four tracks of 20 s at 10× speed: 2 s each.
    let mut titles = Vec::new();
    for name in ["one", "two", "three", "four"] {
        let tracks = s
            .tracks(
                g,
                &format!("https://sim.lavalink/track/{name}?length=20000"),
            )
            .await;
        titles.push(tracks[0].info.title.clone());
        let done = s.music.enqueue(g, tracks, USER).await.expect("enqueue");
        match (name, &done[..]) {
            ("one", [Enqueued::Playing(_)]) => {}
            (_, [Enqueued::Queued(_, _)]) if name != "one" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let (queue, len) = s.music.queue(g, 1).await.expect("queue");
    assert_eq!(len, 3);
    assert_eq!(queue[0].track.info.title, titles[1]);

    // The player got the voice connection (with channelId) and the first track.
    let player = sim.player(g).expect("player");
    assert!(player.connected, "{player:?}");
    assert_eq!(player.voice.token, "voice-token");
    assert_eq!(player.voice.session_id, "discord-voice-session");
    assert_eq!(player.voice.channel_id, Some(VOICE_CHANNEL.to_string()));
    assert_eq!(
        player.track.as_ref().map(|t| t.info.title.clone()),
        Some(titles[0].clone())
    );

    // Skip → "two"; pause; resume.
    let next = s.music.skip(g).await.expect("skip").expect("next");
    assert_eq!(next.track.info.title, titles[1]);
    s.music.set_paused(g, true).await.expect("pause");
    assert!(sim.player(g).expect("player").paused);
    let paused_at = sim.player(g).expect("player").position;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.player(g).expect("player").position, paused_at);
    s.music.set_paused(g, false).await.expect("resume");
    s.music.set_volume(g, 50).await.expect("volume");
    assert_eq!(sim.player(g).expect("player").volume, 50);
    let now = s.music.now_playing(g).await.expect("now playing");
    assert_eq!(now.entry.track.info.title, titles[1]);

    // The node plays two, three and four to their ends; each end advances once.
    wait_for("the queue to finish", Duration::from_secs(20), || async {
        let state = s.store.guild(g).await.expect("state").expect("exists");
        state.current.is_none() && sim.player(g).is_some_and(|p| p.track.is_none())
    })
    .await;
    let patches: Vec<String> = sim
        .recorder()
        .since(0, Some("lavalink"))
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/players/{g}")))
        .filter_map(|r| r.body["track"]["encoded"].as_str().map(str::to_owned))
        .collect();
    let started: Vec<String> = patches
        .iter()
        .map(|e| {
            swarmcord_sim::lavalink::catalogue::decode(e)
                .map_or_else(String::new, |info| info.title)
        })
        .collect();
    assert_eq!(started, titles, "each track started exactly once, in order");
    assert!(matches!(
        s.music.now_playing(g).await,
        Err(MusicError::NothingPlaying)
    ));

    // Leave: op 4 without a channel, player destroyed, state gone.
    s.music.leave(g).await.expect("leave");
    assert!(sim.player(g).is_none());
    assert!(s.store.guild(g).await.expect("state").is_none());
    cancel.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_track_end_advances_the_queue_once_even_when_seen_twice() {
    let sim = LavalinkSim::start(sim_config("a", 1.0)).await.expect("sim");
    let s = setup(&[&sim]).await;
    // No manager: the test plays the owner's part, twice.
    let g = guild();
    s.store
        .set(g, &[("node", "n0".to_owned())])
        .await
        .expect("set");
    let tracks = |n: &str| swarmcord_voice::model::Track {
        encoded: n.to_owned(),
        info: swarmcord_voice::model::TrackInfo {
            identifier: n.to_owned(),
            is_seekable: true,
            author: String::new(),
            length: 1000,
            is_stream: false,
            title: n.to_owned(),
            uri: None,
        },
        user_data: serde_json::Value::Null,
    };
    let mut ids = Vec::new();
    for n in ["a", "b", "c"] {
        let entry = s.store.new_entry(g, tracks(n), USER).await.expect("entry");
        s.store.enqueue(g, &entry).await.expect("enqueue");
        ids.push(entry.id);
    }
    // Ten concurrent handlers of the end of "a": exactly one advances.
    let results =
        futures_util::future::join_all((0..10).map(|_| s.store.advance(g, &ids[0], false))).await;
    let advanced = results
        .iter()
        .filter(|r| matches!(r, Ok(Advance::Next(e)) if e.track.encoded == "b"))
        .count();
    let stale = results
        .iter()
        .filter(|r| matches!(r, Ok(Advance::Stale)))
        .count();
    assert_eq!((advanced, stale), (1, 9));
    // Loop modes: track repeats with a new id; queue re-appends.
    s.store
        .set(g, &[("loop", "track".to_owned())])
        .await
        .expect("loop");
    let Ok(Advance::Next(again)) = s.store.advance(g, &ids[1], false).await else {
        panic!("loop track")
    };
    assert_eq!(again.track.encoded, "b");
    assert_ne!(again.id, ids[1]);
    s.store
        .set(g, &[("loop", "queue".to_owned())])
        .await
        .expect("loop");
    let Ok(Advance::Next(c)) = s.store.advance(g, &again.id, false).await else {
        panic!("loop queue")
    };
    assert_eq!(c.track.encoded, "c");
    let (queue, _) = s.store.queue(g, 0, 10).await.expect("queue");
    assert_eq!(
        queue
            .iter()
            .map(|e| e.track.encoded.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    s.store
        .set(g, &[("loop", "off".to_owned())])
        .await
        .expect("loop");
    let Ok(Advance::Next(b)) = s.store.advance(g, &c.id, false).await else {
        panic!("b")
    };
    assert_eq!(
        s.store.advance(g, &b.id, false).await.expect("end"),
        Advance::Finished
    );
    assert_eq!(
        s.store.advance(g, &b.id, false).await.expect("end"),
        Advance::Stale
    );
    s.store.delete(g).await.expect("delete");
    let _ = now_ms();
}

#[tokio::test]
async fn a_new_owner_resumes_the_session_and_the_players_keep_playing() {
    let sim = LavalinkSim::start(sim_config("a", 10.0))
        .await
        .expect("sim");
    let s = setup(&[&sim]).await;
    let (_cancel_a, task_a) = s.start("owner-a", Duration::from_secs(2));
    s.wait_healthy("n0").await;
    let session = s
        .store
        .node_session("n0")
        .await
        .expect("redis")
        .expect("session");
    let g = guild();
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join");
    s.discord_answers_join(g).await;
    let first = s
        .tracks(g, "https://sim.lavalink/track/long?length=30000")
        .await;
    let second = s
        .tracks(g, "https://sim.lavalink/track/next?length=20000")
        .await;
    s.music.enqueue(g, first, USER).await.expect("play");
    s.music.enqueue(g, second, USER).await.expect("queue");

    // The owner dies without a word (its task is aborted: the socket drops, the lease stays).
    task_a.abort();
    let _ = task_a.await;
    let before = sim.player(g).expect("player").position;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sim.player(g).expect("player").position > before,
        "still playing"
    );

    // Another replica takes the lease over once it expires and resumes the same session.
    let (cancel_b, task_b) = s.start("owner-b", Duration::from_secs(2));
    wait_for(
        "the session to be resumed",
        Duration::from_secs(10),
        || async { sim.stats().resumes >= 1 },
    )
    .await;
    assert_eq!(
        s.store.node_session("n0").await.expect("redis"),
        Some(session)
    );
    assert_eq!(sim.stats().sessions, 1, "no second session");
    // The first track ends under the new owner: the queue advances to the second.
    wait_for("the second track", Duration::from_secs(10), || async {
        sim.player(g)
            .and_then(|p| p.track)
            .is_some_and(|t| t.info.title.contains("next"))
    })
    .await;
    cancel_b.cancel();
    let _ = task_b.await;
    s.store.delete(g).await.expect("cleanup");
}

#[tokio::test]
async fn when_a_node_dies_its_players_resume_on_the_other_at_their_position() {
    let a = LavalinkSim::start(sim_config("a", 1.0))
        .await
        .expect("sim a");
    let b = LavalinkSim::start(sim_config("b", 1.0))
        .await
        .expect("sim b");
    let s = setup(&[&a, &b]).await;
    let (cancel, task) = s.start("owner", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    s.wait_healthy("n1").await;
    let g = guild();
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join");
    s.discord_answers_join(g).await;
    let node = s
        .store
        .guild(g)
        .await
        .expect("redis")
        .expect("state")
        .node
        .expect("node");
    let (dead, alive) = if node == "n0" { (&a, &b) } else { (&b, &a) };
    let tracks = s
        .tracks(g, "https://sim.lavalink/track/long?length=600000")
        .await;
    s.music.enqueue(g, tracks, USER).await.expect("play");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let position_at_kill = dead.player(g).expect("player").position;
    let killed = Instant::now();
    dead.crash();
    wait_for(
        "the player on the other node",
        Duration::from_secs(15),
        || async { alive.player(g).is_some_and(|p| p.track.is_some()) },
    )
    .await;
    let moved_after = killed.elapsed();
    let player = alive.player(g).expect("player");
    let expected = position_at_kill + u64::try_from(moved_after.as_millis()).unwrap_or(0);
    let error = player.position.abs_diff(expected);
    println!(
        "failover: player resumed after {moved_after:?}, position {} ms, expected {expected} ms, error {error} ms",
        player.position
    );
    assert!(moved_after < Duration::from_secs(15));
    assert!(error <= 2_000, "position error {error} ms");
    assert!(player.connected, "voice connection handed over: {player:?}");
    assert_eq!(player.volume, 100);
    let state = s.store.guild(g).await.expect("redis").expect("state");
    assert_ne!(state.node.as_deref(), Some(node.as_str()));
    cancel.cancel();
    let _ = task.await;
    s.store.delete(g).await.expect("cleanup");
}

#[tokio::test]
async fn a_track_the_node_could_not_start_leaves_no_stuck_state() {
    let sim = LavalinkSim::start(sim_config("a", 1.0)).await.expect("sim");
    let s = setup(&[&sim]).await;
    let (cancel, task) = s.start("w", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    let g = guild();
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join");
    let tracks = s
        .tracks(g, "https://sim.lavalink/track/x?length=60000")
        .await;
    sim.kill();
    let error = s
        .music
        .enqueue(g, tracks.clone(), USER)
        .await
        .expect_err("the node refuses");
    assert!(matches!(error, MusicError::NodeUnavailable(_)), "{error:?}");
    assert!(error.is_user_error());
    let state = s.store.guild(g).await.expect("redis").expect("state");
    assert!(state.current.is_none(), "nothing claims to play");
    assert!(matches!(
        s.music.now_playing(g).await,
        Err(MusicError::NothingPlaying)
    ));
    // Once the node is back, the same request works.
    sim.revive();
    s.wait_healthy("n0").await;
    let done = s.music.enqueue(g, tracks, USER).await.expect("play");
    assert!(matches!(done[..], [Enqueued::Playing(_)]));
    cancel.cancel();
    let _ = task.await;
    s.store.delete(g).await.expect("cleanup");
}

/// Lavalink sends `stats` once a minute: a node is available all through that minute, on the
/// strength of its owner's open WebSocket (the heartbeat), however old its stats are.
#[tokio::test]
async fn a_new_guild_plays_a_minute_after_the_node_became_ready() {
    // A stats cadence longer than the wait: after the first `stats` (right after `ready`), none
    // comes for the whole test.
    let sim = LavalinkSim::start(LavalinkConfig {
        stats_interval: Duration::from_secs(90),
        ..sim_config("a", 1.0)
    })
    .await
    .expect("sim");
    let s = setup(&[&sim]).await;
    let (cancel, task) = s.start("w", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    let ready_at = Instant::now();
    wait_for("the first stats", Duration::from_secs(5), || async {
        matches!(s.store.load("n0").await, Ok(Some(_)))
    })
    .await;
    let stats_at = s.store.load("n0").await.expect("redis").expect("load");

    tokio::time::sleep(Duration::from_secs(61).saturating_sub(ready_at.elapsed())).await;
    let load = s.store.load("n0").await.expect("redis").expect("load");
    assert_eq!(load, stats_at, "no stats since the first");
    assert!(now_ms() - load.updated_at_ms >= 60_000, "{load:?}");

    let g = guild();
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join a minute after ready");
    s.discord_answers_join(g).await;
    let tracks = s
        .tracks(g, "https://sim.lavalink/track/late?length=60000")
        .await;
    let done = s.music.enqueue(g, tracks, USER).await.expect("play");
    assert!(matches!(done[..], [Enqueued::Playing(_)]), "{done:?}");
    assert!(
        sim.player(g)
            .is_some_and(|p| p.track.is_some() && !p.paused)
    );
    cancel.cancel();
    let _ = task.await;
    s.store.delete(g).await.expect("cleanup");
}

/// The owner's socket drops: the node is out of the choice at once, not when the heartbeat
/// would expire; back in as soon as the owner is connected again.
#[tokio::test]
async fn a_node_whose_socket_drops_is_unavailable_at_once() {
    let sim = LavalinkSim::start(sim_config("a", 1.0)).await.expect("sim");
    let s = setup(&[&sim]).await;
    let manager = s.manager("w", Duration::from_secs(5));
    let (cancel, task) = s.start("w", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    assert!(s.music.best_node(None).await.expect("redis").is_some());

    let killed = Instant::now();
    sim.kill();
    wait_for("the node marked down", Duration::from_secs(2), || async {
        !s.store.node_alive("n0").await.expect("redis")
    })
    .await;
    let down_after = killed.elapsed();
    println!("node marked down {down_after:?} after its socket dropped");
    let config = NodeManagerConfig::new("w", BOT);
    assert!(
        down_after < config.heartbeat_every,
        "marked down in {down_after:?}, not by the heartbeat's expiry ({:?})",
        config.heartbeat_ttl()
    );
    drop(manager);
    let g = guild();
    assert!(matches!(
        s.music.join(g, VOICE_CHANNEL, TEXT_CHANNEL).await,
        Err(MusicError::NoNode)
    ));
    assert!(s.store.guild(g).await.expect("redis").is_none());

    sim.revive();
    s.wait_healthy("n0").await;
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join once the node is back");
    cancel.cancel();
    let _ = task.await;
    s.store.delete(g).await.expect("cleanup");
}

/// Skip while paused plays the next track; stop while paused leaves nothing paused for the next
/// `play`; a track that ends by itself keeps the pause the user set. Redis and the node agree
/// each time.
#[tokio::test]
async fn skip_and_stop_while_paused_play_the_next_track() {
    let sim = LavalinkSim::start(sim_config("a", 1.0)).await.expect("sim");
    let s = setup(&[&sim]).await;
    let (cancel, task) = s.start("w", Duration::from_secs(5));
    s.wait_healthy("n0").await;
    let g = guild();
    s.music
        .join(g, VOICE_CHANNEL, TEXT_CHANNEL)
        .await
        .expect("join");
    s.discord_answers_join(g).await;
    for name in ["one", "two", "three"] {
        let tracks = s
            .tracks(
                g,
                &format!("https://sim.lavalink/track/{name}?length=60000"),
            )
            .await;
        s.music.enqueue(g, tracks, USER).await.expect("enqueue");
    }
    let (store, sim_ref) = (&s.store, &sim);
    let paused = |g| async move {
        let stored = store.guild(g).await.expect("redis").expect("state").paused;
        let node = sim_ref.player(g).expect("player").paused;
        assert_eq!(stored, node, "Redis and the node agree");
        node
    };

    s.music.set_paused(g, true).await.expect("pause");
    assert!(paused(g).await);
    let next = s.music.skip(g).await.expect("skip").expect("next");
    assert!(next.track.info.title.contains("two"));
    assert!(!paused(g).await, "skip plays the next track");
    assert!(!s.music.now_playing(g).await.expect("np").paused);

    // The owner's own advance (a track that ended) keeps a pause set meanwhile.
    s.music.set_paused(g, true).await.expect("pause");
    let next = s
        .music
        .start_after(g, &next.id, false)
        .await
        .expect("advance")
        .expect("three");
    assert!(next.track.info.title.contains("three"));
    assert!(paused(g).await, "the pause the user set stays");

    s.music.stop(g).await.expect("stop");
    assert!(!paused(g).await, "a stopped player is not paused");
    let tracks = s
        .tracks(g, "https://sim.lavalink/track/after-stop?length=60000")
        .await;
    s.music.enqueue(g, tracks, USER).await.expect("play");
    assert!(!paused(g).await, "play after stop plays");
    assert!(sim.player(g).expect("player").is_playing());
    cancel.cancel();
    let _ = task.await;
    s.store.delete(g).await.expect("cleanup");
}
