//! End-to-end: the Discord simulator, the `gateway` and `worker` binaries, real RabbitMQ, Redis
//! and MongoDB (FerretDB). A simulated user types commands; the simulator records the bot's
//! REST replies.

use std::time::Duration;
use swarmcord_testkit::{
    cluster::{Cluster, Gateway, fast_identify},
    events::send_raw_to_exchange,
    talk::{WAIT, original_edit, say},
    worker::Worker,
};

use serde_json::json;
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{Control, MessageSpec};
use swarmcord_testkit::{mongo_url, unique_name};

/// The workers' MongoDB database, as the test reads it.
async fn store(database: &str) -> swarmcord_store::Store {
    swarmcord_store::Store::connect(
        &mongo_url(),
        database,
        swarmcord_store::StoreOptions::default(),
    )
    .await
    .expect("store")
}

/// A ready gateway owning the single shard, and a fresh database name.
async fn one_shard_gateway(cluster: &Cluster, gateway: &str, database: &str) -> (Gateway, String) {
    let gateway = cluster.gateway(gateway, &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    (gateway, unique_name(database).replace('-', "_"))
}

#[tokio::test]
async fn prefix_commands_answer_through_rest_and_settings_persist_in_mongodb() {
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (gateway, database) = one_shard_gateway(&cluster, "gw-worker", "worker_e2e").await;
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
    let store = store(&database).await;
    let settings = store
        .guild_settings()
        .get(guild.id)
        .await
        .expect("settings");
    assert_eq!(settings.prefix.as_deref(), Some("?"));

    // A malformed event on the queue does not stop the worker.
    send_raw_to_exchange(
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
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (gateway, database) = one_shard_gateway(&cluster, "gw-ban", "worker_ban").await;
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
    let since = control.log_len();
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
    let store = store(&database).await;
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
    let mut config = fast_identify();
    config.rest_limits.enabled = false;
    let cluster = Cluster::start(config).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (gateway, database) = one_shard_gateway(&cluster, "gw-burst", "worker_burst").await;
    let queue = format!("{}.work", cluster.prefix);
    // The members are owners: 1,000 commands in seconds from a few members would otherwise
    // meet the cooldowns (which this test is not about).
    let owners = guild
        .members
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let extra = [("OWNER_IDS", owners.as_str())];
    let filter = "info,swarmcord_bot=debug,swarmcord_stream=debug";
    let mut doomed = Some(Worker::start_with(&cluster, &database, &queue, filter, &extra).await);
    let survivor = Worker::start_with(&cluster, &database, &queue, filter, &extra).await;
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
    let store = store(&database).await;
    store.drop_database().await.ok();
    drop(survivor);
    gateway.terminate().await;
}

/// A user runs slash command `name`; returns the interaction and the first callback the bot
/// sent for it (type and data), with the time from creation to the callback.
async fn slash(
    control: &Control,
    guild_id: u64,
    channel_id: u64,
    user_id: u64,
    name: &str,
    options: serde_json::Value,
) -> (
    swarmcord_sim::discord::control::CreatedInteraction,
    swarmcord_sim::Record,
    Duration,
) {
    let since = control.log_len();
    let created_at = std::time::SystemTime::now();
    let interaction = control
        .create_interaction(&swarmcord_sim::discord::control::InteractionSpec {
            guild_id: Some(guild_id),
            channel_id,
            user_id,
            name: name.to_owned(),
            options,
        })
        .expect("interaction");
    let path = format!(
        "/interactions/{}/{}/callback",
        interaction.id, interaction.token
    );
    let callback = control
        .wait_for_record(since, WAIT, |r| {
            r.kind == "rest" && r.path.starts_with(&path)
        })
        .await
        .unwrap_or_else(|| panic!("no callback for /{name}"));
    let took = Duration::from_micros(
        callback.at_us.saturating_sub(
            created_at
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_micros()
                .try_into()
                .expect("µs fit in u64"),
        ),
    );
    (interaction, callback, took)
}

fn option(name: &str, kind: u8, value: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "type": kind, "value": value})
}

#[tokio::test]
async fn slash_commands_answer_in_time_and_a_slow_one_is_deferred() {
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (gateway, database) = one_shard_gateway(&cluster, "gw-slash", "worker_slash").await;
    let control = cluster.sim.control();
    let worker = Worker::start(&cluster, &database, &format!("{}.work", cluster.prefix)).await;
    let channel = guild.text_channels[0];
    let (owner, member, target) = (guild.owner_id, guild.members[0], guild.members[1]);
    let bot_id = DiscordConfig::default().bot_id;

    // The command list was published at start-up.
    let registered = control
        .log(0, Some("rest"))
        .into_iter()
        .find(|r| r.method == "PUT" && r.path == format!("/applications/{bot_id}/commands"))
        .expect("slash commands registered");
    assert_eq!(registered.status, 200);
    let names: Vec<&str> = registered
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in [
        "ping",
        "prefix",
        "ban",
        "kick",
        "help",
        "serverinfo",
        "setup",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    let (_, pong, took) = slash(&control, guild.id, channel, member, "ping", json!([])).await;
    assert_eq!(pong.status, 204, "{pong:?}");
    assert_eq!(pong.body["type"], 4);
    let content = pong.body["data"]["content"].as_str().expect("content");
    assert!(content.starts_with("Pong!"), "{content}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    let (_, denied, _) = slash(
        &control,
        guild.id,
        channel,
        member,
        "prefix",
        json!([option("new", 3, "?")]),
    )
    .await;
    assert_eq!(
        denied.body["data"]["content"],
        "You need the Manage Server permission to change the prefix."
    );
    assert_eq!(denied.body["data"]["flags"], 64, "errors are ephemeral");
    // Invisible characters and backticks are refused with a message naming the problem.
    for (bad, problem) in [("?\u{200B}", "invisible"), ("x`@everyone`x", "backtick")] {
        let (_, refused, _) = slash(
            &control,
            guild.id,
            channel,
            owner,
            "prefix",
            json!([option("new", 3, bad)]),
        )
        .await;
        let content = refused.body["data"]["content"].as_str().unwrap_or_default();
        assert!(content.contains(problem), "{bad:?}: {refused:?}");
    }
    let (_, changed, _) = slash(
        &control,
        guild.id,
        channel,
        owner,
        "prefix",
        json!([option("new", 3, "?")]),
    )
    .await;
    assert_eq!(changed.body["data"]["content"], "The prefix is now `?`.");
    let pong = say(&control, channel, member, "?ping").await;
    assert!(
        pong.starts_with("Pong!"),
        "the new prefix works at once: {pong}"
    );

    // A slash ban asks; the answer is an ordinary message.
    let (_, question, _) = slash(
        &control,
        guild.id,
        channel,
        owner,
        "ban",
        json!([
            option("user", 6, &target.to_string()),
            option("reason", 3, "spamming")
        ]),
    )
    .await;
    assert_eq!(
        question.body["data"]["content"],
        format!(
            "Ban <@{target}> for \"spamming\"? Click **Ban** or answer `yes` to confirm (anything else, or `cancel`, aborts)."
        )
    );
    // The question carries the two buttons (confirming by typing is the other way).
    let buttons = &question.body["data"]["components"][0]["components"];
    assert_eq!(buttons[0]["label"], "Ban", "{question:?}");
    assert_eq!(buttons[1]["label"], "Cancel", "{question:?}");
    assert_eq!(
        say(&control, channel, owner, "yes").await,
        format!("Banned <@{target}>.")
    );
    assert!(
        cluster.sim.shared().world().guilds[&guild.id]
            .bans
            .contains_key(&target)
    );

    slow_ping_is_deferred_then_edited(&control, guild.id, channel, owner, &worker).await;
    drop(worker);
    gateway.terminate().await;
}

#[tokio::test]
async fn setup_wizard_settings_and_moderation_commands() {
    let cluster = Cluster::start(DiscordConfig {
        heartbeat_interval: Duration::from_millis(500),
        ..fast_identify()
    })
    .await;
    let control = cluster.sim.control();
    let guild = control.create_guild(&swarmcord_sim::discord::control::GuildSpec {
        name: "wizardry".to_owned(),
        members: 3,
        text_channels: 2,
        ..Default::default()
    });
    let (gateway, database) = one_shard_gateway(&cluster, "gw-setup", "worker_setup").await;
    let _worker = Worker::start(&cluster, &database, &format!("{}.work", cluster.prefix)).await;
    let (channel, log_channel) = (guild.text_channels[0], guild.text_channels[1]);
    let (owner, member, target) = (guild.owner_id, guild.members[0], guild.members[1]);

    let refused = say(&control, channel, member, "!setup").await;
    assert!(
        refused.contains("Manage Server"),
        "a plain member cannot run setup: {refused}"
    );
    let step1 = say(&control, channel, owner, "!setup").await;
    assert!(step1.contains("Step 1/3"), "{step1}");
    let retry = say(&control, channel, owner, "no spaces please").await;
    assert!(
        retry.contains("Which prefix?"),
        "a bad prefix is asked again: {retry}"
    );
    let step2 = say(&control, channel, owner, "$").await;
    assert!(step2.contains("Step 2/3"), "{step2}");
    let step3 = say(&control, channel, owner, &format!("<#{log_channel}>")).await;
    assert_eq!(
        step3,
        format!("Step 3/3: save prefix `$` and mod-log <#{log_channel}>? Answer `yes` to save.")
    );
    let done = say(&control, channel, owner, "yes").await;
    assert!(
        done.starts_with("All set!") && done.contains("Prefix: `$`"),
        "{done}"
    );

    let saved = say(&control, channel, owner, "$settings disable ping").await;
    assert!(saved.contains("Disabled commands: `ping`"), "{saved}");
    assert_eq!(
        say(&control, channel, member, "$ping").await,
        "The `ping` command is disabled on this server."
    );
    assert_eq!(
        say(&control, channel, owner, "$settings disable help").await,
        "`help` can't be disabled."
    );
    let bogus = say(&control, channel, owner, "$settings bogus").await;
    assert!(
        bogus.starts_with("There is no `bogus` here. Use one of: `$settings show`"),
        "{bogus}"
    );
    say(&control, channel, owner, "$settings enable ping").await;
    assert!(
        say(&control, channel, member, "$ping")
            .await
            .starts_with("Pong!")
    );

    // Kick, confirmed; the mod-log channel hears about it.
    let bad = say(&control, channel, owner, "$kick nobody").await;
    assert!(bad.contains("user"), "a helpful argument error: {bad}");
    let question = say(&control, channel, owner, &format!("$kick <@{target}> rude")).await;
    assert!(
        question.starts_with(&format!("Kick <@{target}> for \"rude\"?")),
        "{question}"
    );
    let since = control.log_len();
    assert_eq!(
        say(&control, channel, owner, "yes").await,
        format!("Kicked <@{target}>.")
    );
    assert!(
        !cluster.sim.shared().world().guilds[&guild.id]
            .members
            .contains_key(&target)
    );
    let logged = control
        .wait_for_record(since, WAIT, |r| {
            r.method == "POST" && r.path == format!("/channels/{log_channel}/messages")
        })
        .await
        .expect("a mod-log entry");
    assert_eq!(
        logged.body["content"],
        format!("**kick** <@{target}> by <@{owner}>: rude")
    );
    assert_eq!(
        say(&control, channel, owner, &format!("$unban <@{member}>")).await,
        format!("<@{member}> is not banned.")
    );

    // Permissions come from the gateways' cache: no REST lookups.
    let since = control.log_len();
    assert!(
        say(&control, channel, owner, "$settings")
            .await
            .starts_with("Prefix: `$`")
    );
    let lookups: Vec<String> = control
        .log(since, Some("rest"))
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect();
    assert!(lookups.is_empty(), "permissions from REST: {lookups:?}");
    let refused = say(&control, channel, member, "$settings").await;
    assert!(refused.contains("Manage Server"), "{refused}");

    info_commands_read_the_cache(&control, channel, log_channel, owner, member).await;

    // ping reports the shard's heartbeat, which its gateway publishes in the registry.
    let mut pong = String::new();
    for _ in 0..5 {
        pong = say(&control, channel, member, "$ping").await;
        if pong.contains(" ms. Event delivery: ") && !pong.contains("not measured") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        pong.starts_with("Pong! Discord REST round trip: ")
            && pong.contains("Gateway heartbeat (shard 0): ")
            && !pong.contains("not measured"),
        "{pong}"
    );
    gateway.terminate().await;
}

/// `/ping` while Discord takes 2.5 s to answer its REST round trip: deferred within the
/// deadline, then the original response is edited with the result.
async fn slow_ping_is_deferred_then_edited(
    control: &Control,
    guild_id: u64,
    channel: u64,
    owner: u64,
    worker: &Worker,
) {
    // A slow command: Discord takes 2.5 s to answer the REST round trip of /ping.
    control.patch_config(&swarmcord_sim::discord::control::ConfigPatch {
        rest_delays: Some(vec![swarmcord_sim::discord::RestDelay {
            method: "GET".to_owned(),
            path_prefix: "/users/@me".to_owned(),
            delay_ms: 2500,
        }]),
        ..Default::default()
    });
    let since = control.log_len();
    let (interaction, deferred, took) =
        slash(control, guild_id, channel, owner, "ping", json!([])).await;
    assert_eq!(deferred.status, 204, "{deferred:?}");
    assert_eq!(deferred.body["type"], 5, "deferred: {deferred:?}");
    assert!(
        took < Duration::from_millis(2500),
        "deferred {took:?} after the interaction was created"
    );
    let edited = original_edit(control, since, &interaction.token, worker).await;
    assert_eq!(edited.status, 200, "{edited:?}");
    let round_trip: u64 = edited.body["content"]
        .as_str()
        .and_then(|c| c.strip_prefix("Pong! Discord REST round trip: "))
        .and_then(|c| c.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{edited:?}"));
    assert!(round_trip >= 2500, "{edited:?}");
    let callbacks = control
        .log(since, Some("rest"))
        .into_iter()
        .filter(|r| {
            r.path
                .contains(&format!("/interactions/{}/", interaction.id))
        })
        .count();
    assert_eq!(callbacks, 1, "one callback, then an edit");
    control.patch_config(&swarmcord_sim::discord::control::ConfigPatch {
        rest_delays: Some(Vec::new()),
        ..Default::default()
    });
    assert!(
        worker.logs().contains("deferring the response"),
        "{}",
        worker.logs()
    );
}

/// `userinfo`, `serverinfo` and `channelinfo` answer from the gateways' cache.
async fn info_commands_read_the_cache(
    control: &Control,
    channel: u64,
    log_channel: u64,
    owner: u64,
    member: u64,
) {
    // Information commands (from the cache).
    let since = control.log_len();
    say(control, channel, member, &format!("$userinfo <@{owner}>")).await;
    let info = control
        .log(since, Some("rest"))
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{channel}/messages"))
        .expect("userinfo reply");
    let fields = info.body["embeds"][0]["fields"].as_array().expect("fields");
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "ID" && f["value"].as_str() == Some(owner.to_string().as_str())),
        "{fields:?}"
    );
    assert!(fields.iter().any(|f| f["name"] == "Joined"), "{fields:?}");
    assert_eq!(
        say(control, channel, member, "$serverinfo").await,
        "**wizardry**"
    );
    let since = control.log_len();
    say(
        control,
        channel,
        member,
        &format!("$channelinfo <#{log_channel}>"),
    )
    .await;
    let info = control
        .log(since, Some("rest"))
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{channel}/messages"))
        .expect("channelinfo reply");
    let fields = info.body["embeds"][0]["fields"].as_array().expect("fields");
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Type" && f["value"] == "text"),
        "{fields:?}"
    );
    let gets = control
        .log(since, Some("rest"))
        .into_iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 0, "channelinfo read the cache");
}
