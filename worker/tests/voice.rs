//! End-to-end voice: the Discord simulator, two Lavalink node simulators, the `gateway` and
//! `worker` binaries, real RabbitMQ and Redis. A simulated user joins a voice channel and runs
//! the music commands; the node simulators record what the bot asked for.

use std::time::{Duration, Instant};
use swarmcord_testkit::{
    cluster::{Cluster, fast_identify},
    talk::{WAIT, ask, buttons, click, say},
    worker::Worker,
};

use swarmcord_sim::discord::control::{Control, GuildSpec, VoiceSpec};
use swarmcord_sim::discord::gateway::ShardAction;
use swarmcord_sim::lavalink::{LavalinkConfig, LavalinkSim, PlayerSnapshot};
use swarmcord_testkit::unique_name;

async fn lavalink(name: &str, speed: f64) -> LavalinkSim {
    LavalinkSim::start(LavalinkConfig {
        stats_interval: Duration::from_millis(500),
        player_update_interval: Duration::from_millis(500),
        playback_speed: speed,
        node_name: name.to_owned(),
        ..LavalinkConfig::default()
    })
    .await
    .expect("lavalink simulator")
}

fn voice_env(nodes: &[&LavalinkSim]) -> Vec<(String, String)> {
    let list: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("n{i}={}", n.url()))
        .collect();
    vec![
        ("LAVALINK_NODES".to_owned(), list.join(",")),
        (
            "LAVALINK_PASSWORD".to_owned(),
            nodes[0].password().to_owned(),
        ),
    ]
}

async fn worker(cluster: &Cluster, queue: &str, env: &[(String, String)]) -> Worker {
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Worker::start_with(
        cluster,
        &unique_name("voice_db").replace('-', "_"),
        queue,
        "info,swarmcord_voice=debug,swarmcord_bot=debug",
        &extra,
    )
    .await
}

/// @everyone: View Channel, Send Messages, Read Message History, Connect, Speak.
const VOICE_EVERYONE: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 20) | (1 << 21);

/// A guild on shard 0 of 1 whose members (and the bot) may connect and speak, with exactly
/// the permissions the music commands need (nothing else granted by `@everyone`).
fn voice_guild(cluster: &Cluster) -> swarmcord_sim::discord::control::CreatedGuild {
    cluster.sim.control().create_guild(&GuildSpec {
        name: "music".to_owned(),
        members: 2,
        shard: Some((0, 1)),
        everyone_permissions: Some(VOICE_EVERYONE),
        ..GuildSpec::default()
    })
}

/// The worker's `/metrics` text (its address is in its log).
async fn metrics(worker: &Worker) -> String {
    let addr = worker
        .logs()
        .lines()
        .find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            (value["message"] == "serving /healthz, /readyz and /metrics")
                .then(|| value["addr"].as_str().map(str::to_owned))
                .flatten()
        })
        .expect("the worker's address");
    swarmcord_testkit::http::request(&addr, "GET", "/metrics", &[], None)
        .await
        .map(|a| a.text())
        .unwrap_or_default()
}

/// No player was moved: every replica shows the counter at zero, not no series.
async fn no_player_moved(replicas: &[&Worker]) {
    for replica in replicas {
        let text = metrics(replica).await;
        assert!(
            text.contains("swarmcord_voice_players_moved_total{node=\"n0\"} 0"),
            "{text}"
        );
    }
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

fn player(nodes: &[&LavalinkSim], guild: u64) -> Option<PlayerSnapshot> {
    nodes.iter().find_map(|n| n.player(guild))
}

fn title(p: &PlayerSnapshot) -> String {
    p.track
        .as_ref()
        .map(|t| t.info.title.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_user_plays_queues_skips_and_pauses_and_the_queue_plays_to_the_end() {
    let cluster = Cluster::start(fast_identify()).await;
    let node = lavalink("a", 10.0).await;
    let guild = &voice_guild(&cluster);
    // @everyone may read and write but not connect: the bot cannot join there.
    let locked = cluster.sim.control().create_guild(&GuildSpec {
        name: "locked".to_owned(),
        members: 1,
        shard: Some((0, 1)),
        everyone_permissions: Some((1 << 10) | (1 << 11)),
        ..GuildSpec::default()
    });
    let gateway = cluster.gateway("gw-voice", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let queue = format!("{}.work", cluster.prefix);
    let env = voice_env(&[&node]);
    let w = worker(&cluster, &queue, &env).await;
    // A second replica: commands and events land on either; one of them owns the node session.
    let w2 = worker(&cluster, &queue, &env).await;
    let control = cluster.sim.control();
    let (text, voice) = (guild.text_channels[0], guild.voice_channels[0]);
    let user = guild.members[0];

    // Bad input: not in a voice channel; nothing playing.
    let answer = say(&control, text, user, "!play https://sim.lavalink/track/x").await;
    assert_eq!(answer, "Join a voice channel first.", "{}", w.logs());
    let answer = say(&control, text, user, "!skip").await;
    assert!(answer.contains("not in a voice channel"), "{answer}");

    control
        .set_voice(&VoiceSpec {
            guild_id: guild.id,
            user_id: user,
            channel_id: Some(voice),
        })
        .expect("user joins voice");
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/first?length=60000",
    )
    .await;
    assert!(
        answer.starts_with("Now playing **"),
        "{answer}\n{}",
        w.logs()
    );
    // One track playing, none after it: the queue says so, naming the current one.
    let answer = say(&control, text, user, "!queue").await;
    assert!(answer.starts_with("Nothing is queued after **"), "{answer}");
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/second?length=60000",
    )
    .await;
    assert!(answer.contains("at position 1"), "{answer}");
    // A search asks which result; the answer queues it.
    let question = say(&control, text, user, "!play lofi beats").await;
    assert!(question.starts_with("Pick a track"), "{question}");
    let answer = say(&control, text, user, "2").await;
    assert!(answer.contains("at position 2"), "{answer}");
    let listed = say(&control, text, user, "!queue").await;
    assert!(listed.starts_with("Queue (2 tracks, page 1/1)"), "{listed}");
    let answer = say(&control, text, user, "!play sim:empty").await;
    assert_eq!(answer, "No results for `sim:empty`.");
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/error?message=gone",
    )
    .await;
    assert_eq!(answer, "I could not load that: gone");

    // The bot's op 4 went through the gateway; Discord's answer reached the player.
    wait_until("the player's voice", WAIT, || {
        node.player(guild.id).is_some_and(|p| p.connected)
    })
    .await;
    let p = node.player(guild.id).expect("player");
    assert_eq!(p.voice.channel_id, Some(voice.to_string()));
    assert!(!p.voice.token.is_empty() && !p.voice.session_id.is_empty());
    assert!(title(&p).contains("first"), "{p:?}");

    let answer = say(&control, text, user, "!skip").await;
    assert!(answer.starts_with("Skipped. Now playing **"), "{answer}");
    assert!(title(&node.player(guild.id).expect("player")).contains("second"));
    assert_eq!(say(&control, text, user, "!pause").await, "Paused.");
    assert!(node.player(guild.id).expect("player").paused);
    let np = say(&control, text, user, "!np").await;
    assert!(np.contains("(paused)"), "{np}");
    assert_eq!(say(&control, text, user, "!resume").await, "Resumed.");
    assert_eq!(
        say(&control, text, user, "!volume 80").await,
        "Volume set to 80."
    );
    let answer = say(&control, text, user, "!volume 5000").await;
    assert!(
        answer.contains("1000"),
        "bad argument, clear answer: {answer}"
    );

    // second (60 s) and the chosen search result (length from the catalogue) play to the end
    // at 10× speed; each end advances the queue once, with two replicas.
    wait_until(
        "the queue to play to its end",
        Duration::from_secs(60),
        || node.player(guild.id).is_some_and(|p| p.track.is_none()),
    )
    .await;
    let starts: Vec<String> = node
        .recorder()
        .since(0, Some("lavalink"))
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/players/{}", guild.id)))
        .filter_map(|r| r.body["track"]["encoded"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        starts.len(),
        3,
        "first, second, the search result: {starts:?}"
    );
    let answer = say(&control, text, user, "!np").await;
    assert_eq!(answer, "Nothing is playing.");

    // The bot lacks Connect in the locked guild.
    control
        .set_voice(&VoiceSpec {
            guild_id: locked.id,
            user_id: locked.members[0],
            channel_id: Some(locked.voice_channels[0]),
        })
        .expect("user joins voice");
    let answer = say(
        &control,
        locked.text_channels[0],
        locked.members[0],
        "!join",
    )
    .await;
    assert!(answer.starts_with("I can't join"), "{answer}");

    // Players per node and node health are exported by the worker holding the session.
    let mut text_metrics = metrics(&w).await;
    if !text_metrics.contains("swarmcord_voice_node_owned{node=\"n0\"} 1") {
        text_metrics = metrics(&w2).await;
    }
    assert!(
        text_metrics.contains("swarmcord_voice_node_connected{node=\"n0\"} 1"),
        "{text_metrics}"
    );
    assert!(
        text_metrics.contains("swarmcord_voice_players{node=\"n0\"}"),
        "{text_metrics}"
    );
    assert!(text_metrics.contains("swarmcord_voice_node_events_total{"));
    no_player_moved(&[&w, &w2]).await;

    assert_eq!(
        say(&control, text, user, "!leave").await,
        "Left the voice channel."
    );
    assert!(node.player(guild.id).is_none());
    drop((w, w2));
    gateway.terminate().await;
}

#[tokio::test]
async fn playback_survives_a_killed_worker_a_gateway_restart_and_a_dead_node() {
    let cluster = Cluster::start(fast_identify()).await;
    let (a, b) = (lavalink("a", 1.0).await, lavalink("b", 1.0).await);
    let nodes = [&a, &b];
    let guild = &voice_guild(&cluster);
    let gateway = cluster.gateway("gw-voice2", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let queue = format!("{}.work", cluster.prefix);
    let env = voice_env(&nodes);
    let control = cluster.sim.control();
    let (text, voice) = (guild.text_channels[0], guild.voice_channels[0]);
    let user = guild.members[0];
    // The user joins before any worker runs: the gateway's cache has the voice state.
    control
        .set_voice(&VoiceSpec {
            guild_id: guild.id,
            user_id: user,
            channel_id: Some(voice),
        })
        .expect("user joins voice");

    // Worker 1 starts playback (it is the only replica, so it also owns both node sessions).
    let first = worker(&cluster, &queue, &env).await;
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/long?length=600000",
    )
    .await;
    assert!(
        answer.starts_with("Now playing"),
        "{answer}\n{}",
        first.logs()
    );
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/after?length=600000",
    )
    .await;
    assert!(answer.contains("position 1"), "{answer}");
    wait_until("the voice connection", WAIT, || {
        player(&nodes, guild.id).is_some_and(|p| p.connected)
    })
    .await;

    // kill -9 the worker: playback continues; another replica answers the next command.
    let second = worker(&cluster, &queue, &env).await;
    drop(first);
    let before = player(&nodes, guild.id).expect("player").position;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = player(&nodes, guild.id).expect("player");
    assert!(
        after.position > before && after.track.is_some(),
        "still playing"
    );
    assert_eq!(
        say(&control, text, user, "!pause").await,
        "Paused.",
        "{}",
        second.logs()
    );
    assert_eq!(say(&control, text, user, "!resume").await, "Resumed.");
    // The new replica resumes the node sessions (lease TTL 10 s): sessions are not recreated.
    wait_until(
        "the sessions to be resumed",
        Duration::from_secs(20),
        || a.stats().resumes + b.stats().resumes >= 2,
    )
    .await;
    assert_eq!(a.stats().sessions + b.stats().sessions, 2, "no new session");
    // `skip` through the second worker advances the queue.
    let answer = say(&control, text, user, "!skip").await;
    assert!(answer.contains("after"), "{answer}");

    // Gateway restart (SIGTERM, resume): the voice connection is kept, no new op 4 is needed.
    let voice_ops = |c: &Control| {
        c.log(0, Some("gateway"))
            .into_iter()
            .filter(|r| r.method == "VOICE_STATE_UPDATE")
            .count()
    };
    let ops_before = voice_ops(&control);
    // The replacement starts first and waits for the shard's lease (a rolling update).
    let replacement = gateway.respawn().await;
    gateway.terminate().await;
    replacement.wait_ready(WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let p = player(&nodes, guild.id).expect("player");
    assert!(p.connected && p.track.is_some() && !p.paused, "{p:?}");
    assert_eq!(
        voice_ops(&control),
        ops_before,
        "resumed: no re-join needed"
    );
    assert_eq!(say(&control, text, user, "!pause").await, "Paused.");
    assert_eq!(say(&control, text, user, "!resume").await, "Resumed.");

    // A new identify (the session is invalidated): Discord forgot the bot's voice connection,
    // so the worker that handles READY joins again and the player gets the new connection.
    let session_before = player(&nodes, guild.id).expect("player").voice.session_id;
    control.shard_action(0, ShardAction::Invalidate);
    wait_until(
        "a re-join after the identify",
        Duration::from_secs(20),
        || {
            voice_ops(&control) > ops_before
                && player(&nodes, guild.id)
                    .is_some_and(|p| p.connected && p.voice.session_id != session_before)
        },
    )
    .await;
    assert!(player(&nodes, guild.id).is_some_and(|p| p.track.is_some() && !p.paused));

    // Kill the node holding the player: it moves to the other node at its position.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (dead, alive) = if a.player(guild.id).is_some() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let position = dead.player(guild.id).expect("player").position;
    dead.crash();
    let took = wait_until(
        "the player on the other node",
        Duration::from_secs(15),
        || alive.player(guild.id).is_some_and(|p| p.track.is_some()),
    )
    .await;
    let moved = alive.player(guild.id).expect("player");
    let expected = position + u64::try_from(took.as_millis()).unwrap_or(0);
    let error = moved.position.abs_diff(expected);
    println!(
        "node failover: {took:?}, position {} ms, expected {expected} ms, error {error} ms",
        moved.position
    );
    assert!(error <= 2_000, "position error {error} ms");
    assert!(moved.connected, "{moved:?}");
    assert!(title(&moved).contains("after"));
    let np = say(&control, text, user, "!np").await;
    assert!(np.contains("after"), "{np}");
    drop(second);
    replacement.terminate().await;
}

#[tokio::test]
async fn the_queue_pages_with_buttons_on_any_replica_and_seek_takes_a_clock() {
    // Many messages in one channel quickly: no per-channel send limit in the way.
    let mut config = fast_identify();
    config.rest_limits.enabled = false;
    let cluster = Cluster::start(config).await;
    let node = lavalink("a", 1.0).await;
    let guild = &voice_guild(&cluster);
    let gateway = cluster.gateway("gw-queue", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let queue = format!("{}.work", cluster.prefix);
    let env = voice_env(&[&node]);
    let first = worker(&cluster, &queue, &env).await;
    let control = cluster.sim.control();
    let (text, voice) = (guild.text_channels[0], guild.voice_channels[0]);
    let user = guild.members[0];
    control
        .set_voice(&VoiceSpec {
            guild_id: guild.id,
            user_id: user,
            channel_id: Some(voice),
        })
        .expect("user joins voice");

    // One track playing, one queued: "1 track", one page, no buttons.
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/opener?length=4000000",
    )
    .await;
    assert!(
        answer.starts_with("Now playing"),
        "{answer}\n{}",
        first.logs()
    );
    say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/track/one?length=600000",
    )
    .await;
    let (_, one) = ask(&cluster.sim, text, user, "!queue").await;
    assert!(
        one["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("Queue (1 track, page 1/1)")),
        "{one}"
    );
    assert!(
        one.get("components").is_none(),
        "one page, no buttons: {one}"
    );

    // 1 + 12 = 13 queued tracks: two pages.
    let answer = say(
        &control,
        text,
        user,
        "!play https://sim.lavalink/playlist/mix?tracks=12",
    )
    .await;
    assert_eq!(answer, "Queued 12 tracks from **mix**.");
    let (message, page_one) = ask(&cluster.sim, text, user, "!queue").await;
    let content = page_one["content"].as_str().expect("content");
    assert!(
        content.starts_with("Queue (13 tracks, page 1/2)"),
        "{content}"
    );
    assert!(
        content.contains("\n10. ") && !content.contains("\n11. "),
        "{content}"
    );
    let ids = buttons(&page_one);
    assert_eq!(ids.len(), 2, "{page_one}");
    assert_eq!(page_one["components"][0]["components"][0]["disabled"], true);

    // A second replica; the first dies: the click's state is in Redis, any replica pages.
    let second = worker(&cluster, &queue, &env).await;
    drop(first);
    let next = click(&control, message, user, &ids[1]).await;
    assert_eq!(next["type"], 7, "the message is edited in place: {next}");
    let content = next["data"]["content"].as_str().expect("content");
    assert!(
        content.starts_with("Queue (13 tracks, page 2/2)"),
        "{content}\n{}",
        second.logs()
    );
    assert!(
        content.contains("\n11. ") && content.contains("\n13. "),
        "{content}"
    );
    let back_ids = buttons(&next["data"]);
    assert_eq!(
        next["data"]["components"][0]["components"][1]["disabled"],
        true
    );
    let back = click(&control, message, user, &back_ids[0]).await;
    let content = back["data"]["content"].as_str().expect("content");
    assert!(
        content.starts_with("Queue (13 tracks, page 1/2)"),
        "{content}"
    );

    // `!np` shows m:ss; `!seek` takes it.
    let answer = say(&control, text, user, "!seek 0:27").await;
    assert_eq!(answer, "Seeked to 0:27.", "{}", second.logs());
    let answer = say(&control, text, user, "!seek 1:02:05").await;
    assert_eq!(answer, "Seeked to 1:02:05.");
    let answer = say(&control, text, user, "!seek 0:7").await;
    assert!(
        answer.contains("`1:30`"),
        "a bad clock is refused clearly: {answer}"
    );
    drop(second);
    gateway.terminate().await;
}

#[tokio::test]
async fn only_listeners_djs_and_channel_managers_control_someone_elses_music() {
    let cluster = Cluster::start(fast_identify()).await;
    let node = lavalink("a", 1.0).await;
    let guild = &voice_guild(&cluster);
    let gateway = cluster.gateway("gw-dj", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let queue = format!("{}.work", cluster.prefix);
    let w = worker(&cluster, &queue, &voice_env(&[&node])).await;
    let control = cluster.sim.control();
    let (text, voice) = (guild.text_channels[0], guild.voice_channels[0]);
    let (listener, stranger) = (guild.members[0], guild.members[1]);
    let in_voice = |user, channel_id| {
        control
            .set_voice(&VoiceSpec {
                guild_id: guild.id,
                user_id: user,
                channel_id,
            })
            .expect("voice state");
    };
    in_voice(listener, Some(voice));
    let answer = say(
        &control,
        text,
        listener,
        "!play https://sim.lavalink/track/mine?length=4000000",
    )
    .await;
    assert!(answer.starts_with("Now playing"), "{answer}\n{}", w.logs());
    wait_until("the player", WAIT, || node.player(guild.id).is_some()).await;

    // A member with no roles, not in voice: refused, the player untouched; looking is open.
    let refusal = format!("To control the music, join <#{voice}>");
    for command in ["!volume 1000", "!pause", "!stop", "!skip", "!leave"] {
        let answer = say(&control, text, stranger, command).await;
        assert!(answer.starts_with(&refusal), "{command}: {answer}");
        assert!(answer.contains("Manage Channels"), "{answer}");
    }
    let p = node.player(guild.id).expect("still playing");
    assert!(
        p.volume == 100 && !p.paused && title(&p).contains("mine"),
        "{p:?}"
    );
    let np = say(&control, text, stranger, "!np").await;
    assert!(np.starts_with("Now playing **"), "{np}");

    // In the bot's voice channel, the same member may.
    in_voice(stranger, Some(voice));
    let answer = say(&control, text, stranger, "!volume 150").await;
    assert_eq!(answer, "Volume set to 150.", "{}", w.logs());
    in_voice(stranger, None);
    let answer = say(&control, text, stranger, "!volume 1000").await;
    assert!(answer.starts_with(&refusal), "left the channel: {answer}");

    // With the guild's DJ role, from outside the channel.
    let dj = control.create_role(guild.id, "DJ", 0).expect("role");
    control
        .update_member(guild.id, stranger, None, &[dj])
        .expect("member update");
    let saved = say(
        &control,
        text,
        guild.owner_id,
        &format!("!settings dj set <@&{dj}>"),
    )
    .await;
    assert!(saved.contains(&format!("DJ role: <@&{dj}>")), "{saved}");
    let answer = say(&control, text, stranger, "!pause").await;
    assert_eq!(answer, "Paused.", "{}", w.logs());
    assert!(node.player(guild.id).expect("player").paused);
    let saved = say(&control, text, guild.owner_id, "!settings dj reset").await;
    assert!(saved.contains("DJ role: none"), "{saved}");
    let answer = say(&control, text, stranger, "!resume").await;
    assert!(answer.starts_with(&refusal), "DJ role removed: {answer}");

    // The owner (every permission, so Manage Channels) may from anywhere.
    let answer = say(&control, text, guild.owner_id, "!stop").await;
    assert_eq!(answer, "Stopped and cleared the queue.");
    drop(w);
    gateway.terminate().await;
}
