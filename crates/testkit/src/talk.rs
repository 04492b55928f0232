//! Talking to a bot as its users do, through the simulator: post a message and wait for the
//! bot's reply to it, click a component, wait for an interaction's answer.
//!
//! Only a reply that references the posted message counts: a worker may legitimately re-send
//! an earlier reply (a redelivered event whose command already ran) while a test waits.

use std::time::Duration;

use serde_json::Value;
use swarmcord_sim::discord::control::{ComponentSpec, Control, CreatedInteraction, MessageSpec};
use swarmcord_sim::{DiscordSim, Record};

use crate::worker::Worker;

/// How long the helpers wait for the bot.
pub const WAIT: Duration = Duration::from_secs(15);

/// Posts `content` as `author_id` in `channel_id` and waits up to `wait` for the bot's reply
/// to that very message: the posted message's id and the reply's request record (`None`: no
/// reply in time).
///
/// # Panics
/// When the simulator refuses the message (an unknown channel or author).
pub async fn post_and_wait(
    control: &Control,
    channel_id: u64,
    author_id: u64,
    content: &str,
    wait: Duration,
) -> Option<(u64, Record)> {
    let since = control.log_len();
    let posted = control
        .post_message(&MessageSpec {
            channel_id,
            author_id,
            content: content.to_owned(),
        })
        .expect("the simulator accepts the message");
    let posted_text = posted.to_string();
    let path = format!("/channels/{channel_id}/messages");
    let record = control
        .wait_for_record(since, wait, |r| {
            r.kind == "rest"
                && r.method == "POST"
                && r.path == path
                && r.body["message_reference"]["message_id"].as_str() == Some(posted_text.as_str())
        })
        .await?;
    Some((posted, record))
}

/// The id of the bot's stored message that replies to the message `posted`.
pub fn reply_id(sim: &DiscordSim, posted: u64) -> Option<u64> {
    let bot = sim.shared().config().bot_id;
    let posted = posted.to_string();
    sim.shared()
        .world()
        .messages
        .values()
        .find(|m| {
            m.author_id == bot
                && m.reference
                    .as_ref()
                    .is_some_and(|r| r["message_id"].as_str() == Some(posted.as_str()))
        })
        .map(|m| m.id)
}

/// Posts `content` and returns the content of the bot's reply to it.
///
/// # Panics
/// When no reply comes within [`WAIT`] plus 5 s, or the simulator refused it.
pub async fn say(control: &Control, channel_id: u64, author_id: u64, content: &str) -> String {
    let (_, record) = post_and_wait(
        control,
        channel_id,
        author_id,
        content,
        WAIT + Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|| panic!("no reply to {content:?}"));
    assert_eq!(record.status, 200, "{record:?}");
    record.body["content"].as_str().expect("content").to_owned()
}

/// Posts `content` as `user` and returns the bot's reply to it: its id and request body.
///
/// # Panics
/// When no reply comes within [`WAIT`], the simulator refused it, or it was not stored.
pub async fn ask(sim: &DiscordSim, channel: u64, user: u64, content: &str) -> (u64, Value) {
    let (posted, record) = post_and_wait(&sim.control(), channel, user, content, WAIT)
        .await
        .unwrap_or_else(|| panic!("no reply to {content:?}"));
    assert_eq!(record.status, 200, "{record:?}");
    let id = reply_id(sim, posted).expect("the reply is stored");
    (id, record.body)
}

/// The first response (since the log position `since`) to `interaction`: the request
/// record of its callback, or `None` when none comes within `wait`.
pub async fn callback(
    control: &Control,
    since: u64,
    interaction: &CreatedInteraction,
    wait: Duration,
) -> Option<Record> {
    let path = format!(
        "/interactions/{}/{}/callback",
        interaction.id, interaction.token
    );
    control
        .wait_for_record(since, wait, |r| {
            r.kind == "rest" && r.path.starts_with(&path)
        })
        .await
}

/// `user` clicks `custom_id` on `message`; returns the bot's callback (`type`, `data`).
///
/// # Panics
/// When the simulator refuses the click, or the bot does not answer successfully within
/// [`WAIT`].
pub async fn click(control: &Control, message: u64, user: u64, custom_id: &str) -> Value {
    let since = control.log_len();
    let interaction = control
        .use_component(&ComponentSpec {
            message_id: message,
            user_id: user,
            custom_id: custom_id.to_owned(),
            values: Vec::new(),
        })
        .expect("the click is accepted");
    let record = callback(control, since, &interaction, WAIT)
        .await
        .unwrap_or_else(|| panic!("no answer to a click on {custom_id}"));
    assert!(record.status < 300, "{record:?}");
    record.body
}

/// The `custom_id`s of the buttons of a message body, in order.
///
/// # Panics
/// When the body has no row of buttons.
pub fn buttons(body: &Value) -> Vec<String> {
    body["components"][0]["components"]
        .as_array()
        .expect("a row of buttons")
        .iter()
        .map(|b| b["custom_id"].as_str().expect("custom_id").to_owned())
        .collect()
}

/// The bot's edit of an interaction's original response (its answer after a deferral), for
/// the bot of a simulator with the default configuration.
///
/// # Panics
/// With the worker's logs, when none arrives within [`WAIT`].
pub async fn original_edit(control: &Control, since: u64, token: &str, worker: &Worker) -> Record {
    let bot_id = swarmcord_sim::DiscordConfig::default().bot_id;
    let path = format!("/webhooks/{bot_id}/{token}/messages/@original");
    control
        .wait_for_record(since, WAIT, |r| {
            r.kind == "rest" && r.method == "PATCH" && r.path == path
        })
        .await
        .unwrap_or_else(|| panic!("the deferred response was never edited\n{}", worker.logs()))
}
