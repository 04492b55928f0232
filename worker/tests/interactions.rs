//! End-to-end: message components across worker replicas and restarts. The simulator's users
//! click the bot's buttons (`INTERACTION_CREATE` type 3); the `worker` binaries answer through
//! real RabbitMQ, Redis and MongoDB.

#[path = "../../gateway/tests/common/mod.rs"]
mod common;
mod support;

use common::Cluster;
use support::{WAIT, Worker, fast_identify};
use swarmcord_sim::discord::control::{ComponentSpec, Control, MessageSpec};
use swarmcord_testkit::unique_name;

/// The bot's message answering `content` posted by `user`: its id and request body.
async fn ask(
    cluster: &Cluster,
    channel: u64,
    user: u64,
    content: &str,
) -> (u64, serde_json::Value) {
    let control = cluster.sim.control();
    let since = control.log_len();
    let posted = control
        .post_message(&MessageSpec {
            channel_id: channel,
            author_id: user,
            content: content.to_owned(),
        })
        .expect("post");
    let path = format!("/channels/{channel}/messages");
    let record = control
        .wait_for_record(since, WAIT, |r| {
            r.kind == "rest"
                && r.method == "POST"
                && r.path == path
                && r.body["message_reference"]["message_id"].as_str()
                    == Some(posted.to_string().as_str())
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {content:?}"));
    assert_eq!(record.status, 200, "{record:?}");
    let bot = swarmcord_sim::DiscordConfig::default().bot_id;
    let world = cluster.sim.shared().world();
    let id = world
        .messages
        .values()
        .find(|m| {
            m.author_id == bot
                && m.reference
                    .as_ref()
                    .is_some_and(|r| r["message_id"].as_str() == Some(posted.to_string().as_str()))
        })
        .map(|m| m.id)
        .expect("the reply is stored");
    (id, record.body)
}

/// The `custom_id`s of the buttons of a message body, in order.
fn buttons(body: &serde_json::Value) -> Vec<String> {
    body["components"][0]["components"]
        .as_array()
        .expect("a row of buttons")
        .iter()
        .map(|b| b["custom_id"].as_str().expect("custom_id").to_owned())
        .collect()
}

/// `user` clicks `custom_id` on `message`; returns the bot's callback (`type`, `data`).
async fn click(control: &Control, message: u64, user: u64, custom_id: &str) -> serde_json::Value {
    let since = control.log_len();
    let interaction = control
        .use_component(&ComponentSpec {
            message_id: message,
            user_id: user,
            custom_id: custom_id.to_owned(),
            values: Vec::new(),
        })
        .expect("the click is accepted");
    let path = format!(
        "/interactions/{}/{}/callback",
        interaction.id, interaction.token
    );
    let record = control
        .wait_for_record(since, WAIT, |r| {
            r.kind == "rest" && r.path.starts_with(&path)
        })
        .await
        .unwrap_or_else(|| panic!("no answer to a click on {custom_id}"));
    assert!(record.status < 300, "{record:?}");
    record.body
}

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
    let (question, body) = ask(&cluster, channel, owner, &format!("!ban <@{target}> spam")).await;
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
    let (question, body) = ask(&cluster, channel, owner, &format!("!kick <@{second}>")).await;
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
    let (question, body) = ask(&cluster, channel, owner, &format!("!kick <@{third}>")).await;
    let cancelled = click(&control, question, owner, &buttons(&body)[1]).await;
    assert_eq!(cancelled["type"], 7, "{cancelled}");
    assert_eq!(
        cancelled["data"]["content"],
        "Kick cancelled; nothing was done."
    );

    // A button whose state expired (Redis dropped it) says so instead of doing anything.
    let (question, body) = ask(&cluster, channel, owner, &format!("!kick <@{third}>")).await;
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
