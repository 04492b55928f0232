//! A worker replica for end-to-end tests and benchmarks.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a part")]

use std::time::Duration;

use crate::common::{Cluster, spawn_service, wait_for_http_addr};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{ComponentSpec, Control, MessageSpec};
use swarmcord_testkit::{mongo_url, unique_name};

/// How long tests wait for an answer.
pub const WAIT: Duration = Duration::from_secs(15);

/// A running `worker` binary; killed (SIGKILL) when dropped.
pub struct Worker {
    /// Killed when the value is dropped.
    child: tokio::process::Child,
    log_path: std::path::PathBuf,
}

impl Worker {
    /// Starts a replica with test logging (debug for the bot and the consumer).
    pub async fn start(cluster: &Cluster, database: &str, queue: &str) -> Self {
        Self::start_with(
            cluster,
            database,
            queue,
            "info,swarmcord_bot=debug,swarmcord_consumer=debug",
            &[],
        )
        .await
    }

    /// Starts a replica logging at `log_filter` (`RUST_LOG`), with `extra` variables.
    pub async fn start_with(
        cluster: &Cluster,
        database: &str,
        queue: &str,
        log_filter: &str,
        extra: &[(&str, &str)],
    ) -> Self {
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
            ("RUST_LOG", log_filter.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
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
        Self { child, log_path }
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the replica logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// A simulator that lets shards identify every 100 ms.
pub fn fast_identify() -> DiscordConfig {
    DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    }
}

/// Posts `content` and waits for the bot's reply to that very message; returns its content.
///
/// Only a reply referencing the new message counts: a worker may legitimately re-send an
/// earlier reply (a redelivered event whose command already ran) while we wait.
pub async fn say(control: &Control, channel_id: u64, author_id: u64, content: &str) -> String {
    let since = control.log_len();
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

/// The bot's message answering `content` posted by `user`: its id and request body.
pub async fn ask(
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
    let bot = DiscordConfig::default().bot_id;
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

/// The bot's edit of an interaction's original response (its answer after a deferral); panics
/// with the worker's logs when none arrives within [`WAIT`].
pub async fn original_edit(
    control: &Control,
    since: u64,
    token: &str,
    worker: &Worker,
) -> swarmcord_sim::Record {
    let bot_id = DiscordConfig::default().bot_id;
    let path = format!("/webhooks/{bot_id}/{token}/messages/@original");
    control
        .wait_for_record(since, WAIT, |r| {
            r.kind == "rest" && r.method == "PATCH" && r.path == path
        })
        .await
        .unwrap_or_else(|| panic!("the deferred response was never edited\n{}", worker.logs()))
}

/// The `custom_id`s of the buttons of a message body, in order.
pub fn buttons(body: &serde_json::Value) -> Vec<String> {
    body["components"][0]["components"]
        .as_array()
        .expect("a row of buttons")
        .iter()
        .map(|b| b["custom_id"].as_str().expect("custom_id").to_owned())
        .collect()
}

/// `user` clicks `custom_id` on `message`; returns the bot's callback (`type`, `data`).
pub async fn click(
    control: &Control,
    message: u64,
    user: u64,
    custom_id: &str,
) -> serde_json::Value {
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
