//! `POST /_sim/say` (post as a user, wait for the bot's reply) and `public_url`, the two things
//! the local sandbox and the containerised simulator rely on.

use std::time::Duration;

use serde_json::Value;
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use twilight_model::id::Id;

/// A stand-in bot: reads the channel through REST and replies to the first message that is not
/// its own, referencing it, as the real worker does.
async fn reply_once(sim: &DiscordSim, channel: u64, text: &str) {
    let client = twilight_http::Client::builder()
        .proxy(sim.http_proxy(), true)
        .token(sim.token())
        .build();
    let channel = Id::new(channel);
    let found = swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        let messages = client
            .channel_messages(channel)
            .await
            .ok()?
            .model()
            .await
            .ok()?;
        messages.into_iter().find(|m| !m.author.bot)
    })
    .await
    .expect("the user's message is visible through REST");
    client
        .create_message(channel)
        .reply(found.id)
        .content(&format!("{text}: {}", found.content))
        .await
        .expect("reply");
}

#[tokio::test]
async fn say_posts_as_the_guild_owner_and_returns_the_bots_reply() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let guild = sim.control().create_guild(&GuildSpec::default());
    let addr = sim.http_proxy();

    let bot = async { reply_once(&sim, guild.text_channels[0], "echo").await };
    let (answer, ()) = tokio::join!(
        http::json(&addr, "POST", "/_sim/say", r#"{"content":"!ping"}"#),
        bot
    );
    let answer = answer.expect("POST /_sim/say");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(body["reply"], "echo: !ping");
    assert_eq!(body["reply_status"], 200);
    assert_eq!(body["channel_id"], guild.text_channels[0].to_string());
    assert_eq!(
        body["author_id"],
        guild.owner_id.to_string(),
        "the owner speaks"
    );
    assert!(body["reply_ms"].as_u64().is_some());
}

#[tokio::test]
async fn say_without_a_reply_is_a_504_and_text_format_is_plain() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let addr = sim.http_proxy();
    let empty = http::json(&addr, "POST", "/_sim/say", r#"{"content":"hi"}"#)
        .await
        .expect("POST");
    assert_eq!(empty.status, 400, "no guild yet: {}", empty.text());

    let guild = sim.control().create_guild(&GuildSpec::default());
    let silent = http::json(
        &addr,
        "POST",
        "/_sim/say?format=text",
        r#"{"content":"anyone?","timeout_ms":300}"#,
    )
    .await
    .expect("POST");
    assert_eq!(silent.status, 504);
    assert_eq!(silent.text(), "(no reply from the bot)");

    let member = guild.members[0];
    let request = format!(
        r#"{{"content":"hello","author_id":"{member}","channel_id":"{}"}}"#,
        guild.text_channels[0]
    );
    let bot = async { reply_once(&sim, guild.text_channels[0], "hi").await };
    let (answer, ()) = tokio::join!(
        http::json(&addr, "POST", "/_sim/say?format=text", &request),
        bot
    );
    let answer = answer.expect("POST");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(answer.text(), "hi: hello");
}

#[tokio::test]
async fn public_url_is_what_clients_are_told_to_connect_and_resume_to() {
    let sim = DiscordSim::start(DiscordConfig {
        public_url: Some("ws://sim:8090".to_owned()),
        ..DiscordConfig::default()
    })
    .await
    .expect("sim");
    let client = twilight_http::Client::builder()
        .proxy(sim.http_proxy(), true)
        .token(sim.token())
        .build();
    let info = client
        .gateway()
        .authed()
        .await
        .expect("GET /gateway/bot")
        .model()
        .await
        .expect("model");
    assert_eq!(info.url, "ws://sim:8090");
    assert_eq!(sim.gateway_url(), "ws://sim:8090");
}
