//! End-to-end: message components across worker replicas and restarts. The simulator's users
//! click the bot's buttons (`INTERACTION_CREATE` type 3); the `worker` binaries answer through
//! real RabbitMQ, Redis and MongoDB.

use swarmcord_sim::discord::control::InteractionSpec;
use swarmcord_testkit::unique_name;
use swarmcord_testkit::{
    cluster::{Cluster, fast_identify},
    talk::{WAIT, ask, buttons, click},
    worker::Worker,
};

#[tokio::test]
async fn buttons_work_on_any_replica_after_every_worker_restarted_and_expire_clearly() {
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let gateway = cluster.gateway("gw-buttons", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("worker_buttons").replace('-', "_");
    let queue = format!("{}.work", cluster.prefix);
    let control = cluster.sim.control();
    let channel = guild.text_channels[0];
    let owner = guild.owner_id;
    let (member, target) = (guild.members[0], guild.members[1]);
    let [second, third] = ["second", "third"].map(|name| {
        let user = control.create_user(name);
        control.add_member(guild.id, user, &[]).expect("member");
        user
    });

    // Worker A asks, then dies; worker B handles the click.
    let a = Worker::start(&cluster, &database, &queue).await;
    let (question, body) = ask(
        &cluster.sim,
        channel,
        owner,
        &format!("!ban <@{target}> spam"),
    )
    .await;
    let ids = buttons(&body);
    assert!(
        ids[0].starts_with("sanction-yes:") && ids[1].starts_with("sanction-no:"),
        "{ids:?}"
    );
    let b = Worker::start(&cluster, &database, &queue).await;
    drop(a); // kill -9

    // Only the moderator who asked may answer; others are told, privately.
    let refused = click(&control, question, member, &ids[0]).await;
    assert_eq!(refused["type"], 4, "{refused}");
    assert_eq!(refused["data"]["flags"], 64, "ephemeral: {refused}");
    assert_eq!(
        refused["data"]["content"],
        format!("Only <@{owner}> can answer this.")
    );

    let done = click(&control, question, owner, &ids[0]).await;
    assert_eq!(done["type"], 7, "the question is updated in place: {done}");
    assert_eq!(done["data"]["content"], format!("Banned <@{target}>."));
    assert_eq!(
        done["data"]["components"][0]["components"][0]["disabled"], true,
        "the buttons are disabled: {done}"
    );
    assert!(
        cluster.sim.shared().world().guilds[&guild.id]
            .bans
            .contains_key(&target),
        "worker B banned: {}",
        b.logs()
    );

    // A question asked by B, clicked after every worker was replaced.
    let (question, body) = ask(&cluster.sim, channel, owner, &format!("!kick <@{second}>")).await;
    let ids = buttons(&body);
    drop(b);
    let c = Worker::start(&cluster, &database, &queue).await;
    let done = click(&control, question, owner, &ids[0]).await;
    assert_eq!(done["type"], 7, "{done}\n{}", c.logs());
    assert_eq!(done["data"]["content"], format!("Kicked <@{second}>."));
    assert!(
        !cluster.sim.shared().world().guilds[&guild.id]
            .members
            .contains_key(&second)
    );

    // Cancel leaves the member alone.
    let (question, body) = ask(&cluster.sim, channel, owner, &format!("!kick <@{third}>")).await;
    let cancelled = click(&control, question, owner, &buttons(&body)[1]).await;
    assert_eq!(cancelled["type"], 7, "{cancelled}");
    assert_eq!(
        cancelled["data"]["content"],
        "Kick cancelled; nothing was done."
    );

    // A button whose state expired (Redis dropped it) says so instead of doing anything.
    let (question, body) = ask(&cluster.sim, channel, owner, &format!("!kick <@{third}>")).await;
    let mut redis = swarmcord_coord::connect(&swarmcord_testkit::redis_url())
        .await
        .expect("redis");
    let key = buttons(&body)[0]
        .split_once(':')
        .map(|(_, key)| format!("{}:component:{key}", cluster.prefix))
        .expect("a state key");
    let deleted: u64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("del");
    assert_eq!(deleted, 1, "the state lived under {key}");
    let expired = click(&control, question, owner, &buttons(&body)[0]).await;
    assert_eq!(expired["type"], 4, "{expired}");
    assert_eq!(expired["data"]["flags"], 64);
    assert_eq!(
        expired["data"]["content"],
        "This has expired; use the command again."
    );
    assert!(
        cluster.sim.shared().world().guilds[&guild.id]
            .members
            .contains_key(&third),
        "nothing was done"
    );
    drop(c);
    gateway.terminate().await;
}

#[tokio::test]
async fn a_timed_out_question_gets_its_buttons_disabled_by_a_replica_started_later() {
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let gateway = cluster.gateway("gw-expiry", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("worker_expiry").replace('-', "_");
    let queue = format!("{}.work", cluster.prefix);
    let control = cluster.sim.control();
    let channel = guild.text_channels[0];
    let (owner, target) = (guild.owner_id, guild.members[1]);

    // Worker A asks with buttons, then dies before the prompt times out.
    let a = Worker::start(&cluster, &database, &queue).await;
    let (question, body) = ask(&cluster.sim, channel, owner, &format!("!ban <@{target}>")).await;
    assert_eq!(buttons(&body).len(), 2, "{body}");
    // A records where it asked right after sending; kill it once it has.
    let mut redis = swarmcord_coord::connect(&swarmcord_testkit::redis_url())
        .await
        .expect("redis");
    let state: String = redis::cmd("GET")
        .arg(format!("{}:prompt:{channel}:{owner}", cluster.prefix))
        .query_async(&mut redis)
        .await
        .expect("the open prompt");
    let state: serde_json::Value = serde_json::from_str(&state).expect("prompt json");
    let asked = format!(
        "{}:prompt:asked:{channel}:{owner}:{}",
        cluster.prefix, state["state"]["expires_at"]
    );
    let recorded = swarmcord_testkit::eventually(WAIT, || {
        let (mut redis, asked) = (redis.clone(), asked.clone());
        async move {
            let exists: u64 = redis::cmd("EXISTS")
                .arg(&asked)
                .query_async(&mut redis)
                .await
                .ok()?;
            (exists == 1).then_some(())
        }
    })
    .await;
    assert!(
        recorded.is_some(),
        "where the question went is recorded\n{}",
        a.logs()
    );
    drop(a); // kill -9
    let b = Worker::start(&cluster, &database, &queue).await;

    // Time passes: the prompt's deadline is moved to now (it is 60 s otherwise).
    let now = swarmcord::commands::prompt::now_ms();
    let _: u64 = redis::cmd("ZADD")
        .arg(format!("{}:prompt:deadlines", cluster.prefix))
        .arg("XX")
        .arg(now)
        .arg(format!("{channel}:{owner}"))
        .query_async(&mut redis)
        .await
        .expect("zadd");

    // B's sweeper tells the user and disables the question's buttons.
    let edit = format!("/channels/{channel}/messages/{question}");
    let record = control
        .wait_for_record(0, WAIT, |r| {
            r.kind == "rest" && r.method == "PATCH" && r.path == edit
        })
        .await
        .unwrap_or_else(|| panic!("the question was not edited\n{}", b.logs()));
    assert_eq!(record.status, 200, "{record:?}");
    let stored = cluster.sim.shared().world().messages[&question].clone();
    let disabled: Vec<bool> = stored.components[0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| b["disabled"] == true)
        .collect();
    assert_eq!(disabled, [true, true], "{:?}", stored.components);
    assert_eq!(stored.content, body["content"], "only the buttons change");

    // The same through a slash command: its original response is edited through the token.
    let slash = control
        .create_interaction(&InteractionSpec {
            guild_id: Some(guild.id),
            channel_id: channel,
            user_id: owner,
            name: "ban".to_owned(),
            options: serde_json::json!([{"name": "user", "type": 6, "value": target.to_string()}]),
        })
        .expect("interaction");
    let callback = format!("/interactions/{}/{}/callback", slash.id, slash.token);
    let asked = control
        .wait_for_record(0, WAIT, |r| {
            r.kind == "rest" && r.path.starts_with(&callback)
        })
        .await
        .expect("the slash question");
    assert_eq!(
        asked.body["data"]["components"][0]["components"][0]["disabled"],
        serde_json::Value::Null,
        "{:?}",
        asked.body
    );
    let _: u64 = redis::cmd("ZADD")
        .arg(format!("{}:prompt:deadlines", cluster.prefix))
        .arg("XX")
        .arg(swarmcord::commands::prompt::now_ms())
        .arg(format!("{channel}:{owner}"))
        .query_async(&mut redis)
        .await
        .expect("zadd");
    let original = control
        .wait_for_record(0, WAIT, |r| {
            r.kind == "rest"
                && r.method == "PATCH"
                && r.path.contains(&slash.token)
                && r.path.ends_with("/messages/@original")
        })
        .await
        .unwrap_or_else(|| panic!("the slash question was not edited\n{}", b.logs()));
    assert_eq!(original.status, 200, "{original:?}");
    assert_eq!(
        original.body["components"][0]["components"][1]["disabled"], true,
        "{:?}",
        original.body
    );
    assert!(
        !cluster.sim.shared().world().guilds[&guild.id]
            .bans
            .contains_key(&target),
        "nothing was done"
    );
    drop(b);
    gateway.terminate().await;
}
