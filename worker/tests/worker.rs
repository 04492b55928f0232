//! End-to-end: the Discord simulator, the `gateway` and `worker` binaries, real RabbitMQ, Redis
//! and MongoDB (FerretDB). A simulated user types commands; the simulator records the bot's
//! REST replies.

#[path = "../../gateway/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Cluster, spawn_service, wait_for_http_addr};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{Control, MessageSpec};
use swarmcord_testkit::{mongo_url, unique_name};

const WAIT: Duration = Duration::from_secs(15);

struct Worker {
    /// Killed when the value is dropped.
    _child: tokio::process::Child,
    log_path: std::path::PathBuf,
}

impl Worker {
    async fn start(cluster: &Cluster, database: &str, queue: &str) -> Self {
        let env: Vec<(String, String)> = [
            ("DISCORD_TOKEN", cluster.token.clone()),
            ("DISCORD_API_PROXY", cluster.sim.http_proxy()),
            ("AMQP_URL", cluster.amqp_url.clone()),
            ("REDIS_URL", swarmcord_testkit::redis_url()),
            ("REDIS_PREFIX", cluster.prefix.clone()),
            ("MONGO_URL", mongo_url()),
            ("MONGO_DATABASE", database.to_owned()),
            ("EVENTS_EXCHANGE", cluster.exchange.clone()),
            ("WORKER_QUEUE", queue.to_owned()),
            ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            (
                "RUST_LOG",
                "info,swarmcord_bot=debug,swarmcord_consumer=debug".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let log_path = cluster
            .log_dir
            .join(format!("{}.log", unique_name("worker")));
        let child = spawn_service("worker", &env, &log_path);
        let http = wait_for_http_addr(&log_path).await;
        let ready = swarmcord_testkit::eventually(WAIT, || async move {
            let answer =
                swarmcord_testkit::http::request(&http.to_string(), "GET", "/readyz", &[], None)
                    .await
                    .ok()?;
            (answer.status == 200).then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "worker not ready:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        Self {
            _child: child,
            log_path,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// Posts `content` and waits for the bot's reply to that very message; returns its content.
///
/// Only a reply referencing the new message counts: a worker may legitimately re-send an
/// earlier reply (a redelivered event whose command already ran) while we wait.
async fn say(control: &Control, channel_id: u64, author_id: u64, content: &str) -> String {
    let since = control.log(0, None).len() as u64;
    let posted = control
        .post_message(&MessageSpec {
            channel_id,
            author_id,
            content: content.to_owned(),
        })
        .expect("post")
        .to_string();
    let path = format!("/channels/{channel_id}/messages");
    let record = control
        .wait_for_record(since, WAIT + Duration::from_secs(5), |r| {
            r.kind == "rest"
                && r.method == "POST"
                && r.path == path
                && r.body["message_reference"]["message_id"].as_str() == Some(posted.as_str())
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {content:?}"));
    assert_eq!(record.status, 200, "{record:?}");
    record.body["content"].as_str().expect("content").to_owned()
}

#[tokio::test]
async fn prefix_commands_answer_through_rest_and_settings_persist_in_mongodb() {
    let cluster = Cluster::start(DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    })
    .await;
    let guilds = cluster.guilds_on_shards([0], 1);
    let guild = &guilds[&0];
    let gateway = cluster.gateway("gw-worker", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("worker_e2e").replace('-', "_");
    let worker = Worker::start(&cluster, &database, &format!("{}.work", cluster.prefix)).await;
    let control = cluster.sim.control();
    let channel = guild.text_channels[0];
    let (owner, member) = (guild.owner_id, guild.members[0]);

    let pong = say(&control, channel, member, "!ping").await;
    assert!(pong.starts_with("Pong! Discord REST round trip:"), "{pong}");
    assert_eq!(
        say(&control, channel, member, "!prefix").await,
        "The prefix here is `!`."
    );
    assert_eq!(
        say(&control, channel, member, "!prefix ?").await,
        "You need the Manage Server permission to change the prefix.",
        "permission checks fail closed for a plain member"
    );
    assert_eq!(
        say(&control, channel, owner, "!prefix ?").await,
        "The prefix is now `?`."
    );
    let pong = say(&control, channel, member, "?ping").await;
    assert!(pong.starts_with("Pong!"), "the new prefix works: {pong}");
    let bad = say(&control, channel, owner, "?prefix 12345678901234567").await;
    assert!(
        bad.contains("prefix"),
        "a helpful message for a bad value: {bad}"
    );
    let help = say(&control, channel, member, "?help").await;
    assert!(help.contains("ping") && help.contains("prefix"), "{help}");

    // The setting is in MongoDB.
    let store = swarmcord_store::Store::connect(
        &mongo_url(),
        &database,
        swarmcord_store::StoreOptions::default(),
    )
    .await
    .expect("store");
    let settings = store
        .guild_settings()
        .get(guild.id)
        .await
        .expect("settings");
    assert_eq!(settings.prefix.as_deref(), Some("?"));

    // A malformed event on the queue does not stop the worker.
    common::send_raw_to_exchange(
        &cluster.amqp_url,
        &cluster.exchange,
        "MESSAGE_CREATE",
        b"{not json",
    )
    .await;
    let pong = say(&control, channel, member, "?ping").await;
    assert!(pong.starts_with("Pong!"), "{pong}\n{}", worker.logs());
    assert!(
        worker.logs().contains("dead-lettering"),
        "the bad event was dead-lettered"
    );
    store.drop_database().await.expect("drop");
    drop(worker);
    gateway.terminate().await;
}

#[tokio::test]
async fn a_ban_confirmed_after_the_asking_worker_was_killed_is_completed_by_another() {
    let cluster = Cluster::start(DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    })
    .await;
    let guilds = cluster.guilds_on_shards([0], 1);
    let guild = &guilds[&0];
    let gateway = cluster.gateway("gw-ban", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("worker_ban").replace('-', "_");
    let queue = format!("{}.work", cluster.prefix);
    let control = cluster.sim.control();
    let channel = guild.text_channels[0];
    let (owner, member, target) = (guild.owner_id, guild.members[0], guild.members[1]);

    let first = Worker::start(&cluster, &database, &queue).await;
    let denied = say(&control, channel, member, &format!("!ban <@{owner}> nope")).await;
    assert!(
        denied.to_lowercase().contains("permission"),
        "a member without Ban Members is refused: {denied}"
    );
    let question = say(
        &control,
        channel,
        owner,
        &format!("!ban <@{target}> spamming"),
    )
    .await;
    assert!(
        question.starts_with(&format!("Ban <@{target}> for \"spamming\"?")),
        "{question}"
    );
    drop(first); // kill -9: the conversation lives in Redis, not in the worker

    let second = Worker::start(&cluster, &database, &queue).await;
    let since = control.log(0, None).len() as u64;
    let done = tokio::time::timeout(
        WAIT + Duration::from_secs(1),
        say(&control, channel, owner, "yes"),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to yes; worker B:\n{}", second.logs()));
    assert_eq!(done, format!("Banned <@{target}>."), "{}", second.logs());
    let ban = control
        .log(since, Some("rest"))
        .into_iter()
        .find(|r| r.method == "PUT" && r.path == format!("/guilds/{}/bans/{target}", guild.id))
        .expect("the ban reached Discord");
    assert_eq!(ban.status, 204);
    assert!(
        cluster.sim.shared().world().guilds[&guild.id]
            .bans
            .contains_key(&target)
    );
    let listed = say(&control, channel, owner, "!infractions").await;
    assert!(
        listed.contains(&format!("Ban <@{target}> by <@{owner}>: spamming")),
        "{listed}"
    );
    let store = swarmcord_store::Store::connect(
        &mongo_url(),
        &database,
        swarmcord_store::StoreOptions::default(),
    )
    .await
    .expect("store");
    assert_eq!(
        store
            .infractions()
            .count(guild.id, Some(target))
            .await
            .expect("count"),
        1
    );
    store.drop_database().await.expect("drop");

    // Cooldowns hold across replicas: ping allows 5 per 10 s per channel, with two workers.
    let third = Worker::start(&cluster, &database, &queue).await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(say(&control, channel, member, "!ping").await);
    }
    let pongs = answers.iter().filter(|a| a.starts_with("Pong!")).count();
    assert_eq!(pongs, 5, "{answers:?}");
    assert!(answers[5].starts_with("Slow down!"), "{answers:?}");
    drop((second, third));
    gateway.terminate().await;
}

#[tokio::test]
async fn a_burst_of_1000_commands_gets_exactly_one_reply_each_when_a_worker_is_killed() {
    let mut config = DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    };
    config.rest_limits.enabled = false;
    let cluster = Cluster::start(config).await;
    let guilds = cluster.guilds_on_shards([0], 1);
    let guild = &guilds[&0];
    let gateway = cluster.gateway("gw-burst", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("worker_burst").replace('-', "_");
    let queue = format!("{}.work", cluster.prefix);
    let mut doomed = Some(Worker::start(&cluster, &database, &queue).await);
    let survivor = Worker::start(&cluster, &database, &queue).await;
    let control = cluster.sim.control();
    let channel = guild.text_channels[0];
    let bot_id = DiscordConfig::default().bot_id;
    let replies = |world: &swarmcord_sim::discord::world::World| {
        let mut per_message: std::collections::HashMap<u64, usize> =
            std::collections::HashMap::new();
        for m in world.messages.values().filter(|m| m.author_id == bot_id) {
            if let Some(id) = m
                .reference
                .as_ref()
                .and_then(|r| r["message_id"].as_str())
                .and_then(|s| s.parse().ok())
            {
                *per_message.entry(id).or_default() += 1;
            }
        }
        per_message
    };

    let mut asked = Vec::with_capacity(1000);
    for i in 0..1000 {
        let author = guild.members[i % guild.members.len()];
        asked.push(
            control
                .post_message(&MessageSpec {
                    channel_id: channel,
                    author_id: author,
                    content: "!prefix".into(),
                })
                .expect("post"),
        );
        if i == 300 {
            // Kill one worker in the middle of the burst, with events in flight.
            let seen = swarmcord_testkit::eventually(WAIT, || async {
                (replies(&cluster.sim.shared().world()).len() >= 100).then_some(())
            })
            .await;
            assert!(seen.is_some(), "the workers started answering");
            drop(doomed.take());
        }
    }
    let done = swarmcord_testkit::eventually(Duration::from_secs(120), || async {
        (replies(&cluster.sim.shared().world()).len() >= 1000).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // time for any late duplicate
    let per_message = replies(&cluster.sim.shared().world());
    assert!(
        done.is_some(),
        "{} of 1000 commands answered\n{}",
        per_message.len(),
        survivor.logs()
    );
    let missing = asked
        .iter()
        .filter(|id| !per_message.contains_key(id))
        .count();
    let duplicated = per_message.values().filter(|n| **n > 1).count();
    let sends = control
        .log(0, Some("rest"))
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .count();
    eprintln!(
        "burst: 1000 commands, {missing} unanswered, {duplicated} answered twice, {sends} sends (retries deduplicated by nonce)"
    );
    assert_eq!(
        (missing, duplicated),
        (0, 0),
        "every command gets exactly one reply"
    );
    let store = swarmcord_store::Store::connect(
        &mongo_url(),
        &database,
        swarmcord_store::StoreOptions::default(),
    )
    .await
    .expect("store");
    store.drop_database().await.ok();
    drop(survivor);
    gateway.terminate().await;
}
