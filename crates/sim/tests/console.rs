//! The console routes the sandbox uses: typed `@name`/`#channel` resolved in `/_sim/say`,
//! the bot's messages rendered as text with their embeds and components (`/_sim/feed`,
//! `/_sim/say?format=text`), clicks and choices by number or label (`/_sim/click`), forms
//! (`/_sim/submit`) and the guild directory.

mod interaction_support;

use std::time::Duration;

use serde_json::{Value, json};
use swarmcord_sim::DiscordSim;
use swarmcord_sim::discord::control::{ClickSpec, CreatedInteraction, SubmitSpec};
use swarmcord_testkit::http;

use interaction_support::{button, callback, guild, id_of, post, row, sim};

/// The first pending interaction the simulator holds, once there is one.
async fn pending(sim: &DiscordSim) -> CreatedInteraction {
    swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        let world = sim.shared().world();
        world
            .interactions
            .values()
            .find(|i| i.state == swarmcord_sim::discord::world::InteractionState::Pending)
            .map(|i| CreatedInteraction {
                id: i.id,
                token: i.token.clone(),
            })
    })
    .await
    .expect("an interaction reaches the bot")
}

async fn feed_text(sim: &DiscordSim, since: u64) -> String {
    let answer = http::json(
        &sim.http_proxy(),
        "GET",
        &format!("/_sim/feed?since={since}&format=text"),
        "",
    )
    .await
    .expect("GET /_sim/feed");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.header("x-sim-next").is_some(), "the cursor travels");
    answer.text()
}

#[tokio::test]
async fn typed_names_become_mentions_and_the_directory_lists_ids() {
    let sim = sim().await;
    let g = guild(&sim);
    let addr = sim.http_proxy();
    let user1 = g.members[1];
    let posted = http::json(
        &addr,
        "POST",
        "/_sim/say",
        r#"{"content":"!ban @user1 spam in #text-1 `@user1` @everyone @Moderator a@user1 @user","timeout_ms":0}"#,
    )
    .await
    .expect("POST /_sim/say");
    assert_eq!(posted.status, 202, "no wait: {}", posted.text());
    let body: Value = serde_json::from_slice(&posted.body).expect("json");
    let id: u64 = body["message_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("snowflake");
    let content = sim.shared().world().messages[&id].content.clone();
    assert_eq!(
        content,
        format!(
            "!ban <@{user1}> spam in <#{}> `@user1` @everyone <@&{}> a@user1 @user",
            g.text_channels[1], g.moderator_role
        ),
        "unique names and prefixes resolve; code, @everyone, words and ambiguous names do not"
    );
    assert_eq!(
        sim.shared().world().messages[&id].mentions,
        vec![user1],
        "the mention is a real one"
    );
    let verbatim = sim.control().resolve_names(g.id, "@nobody #nowhere");
    assert_eq!(verbatim, "@nobody #nowhere");

    let directory = http::json(&addr, "GET", "/_sim/directory", "")
        .await
        .expect("GET /_sim/directory")
        .text();
    assert!(
        directory.starts_with(&format!("guild interactions ({})", g.id)),
        "{directory}"
    );
    assert!(
        directory.contains(&format!("  {}  @owner-{} (owner)", g.owner_id, g.id)),
        "{directory}"
    );
    assert!(
        directory.contains(&format!("  {}  #text-1 (text)", g.text_channels[1])),
        "{directory}"
    );
    assert!(
        directory.contains(&format!("  {}  Moderator", g.moderator_role)),
        "{directory}"
    );
}

#[tokio::test]
async fn messages_render_as_text_and_clicks_go_by_number_or_label() {
    let sim = sim().await;
    let g = guild(&sim);
    let channel = g.text_channels[0];
    let start = sim.shared().feed.next_seq();
    let message = post(
        &sim,
        channel,
        &json!({
            "content": "Ban <@{}>?".replace("{}", &g.members[0].to_string()),
            "embeds": [{"title": "Sandbox", "description": "a guild",
                "fields": [{"name": "Members", "value": "5"}, {"name": "Owner", "value": "me"}],
                "footer": {"text": "since today"}}],
            "components": [
                row(vec![
                    button("ban:confirm:0123456789abcdef0123456789", "Confirm"),
                    json!({"type": 2, "style": 4, "custom_id": "ban:cancel", "label": "Cancel", "disabled": true}),
                    json!({"type": 2, "style": 5, "url": "https://example.com", "label": "Docs"}),
                ]),
                row(vec![json!({"type": 3, "custom_id": "pick", "placeholder": "Pick a track",
                    "options": [{"label": "lofi", "value": "t1"}, {"label": "jazz", "value": "t2", "description": "calm"}]})]),
            ],
        }),
    )
    .await;
    let text = feed_text(&sim, start).await;
    let user0 = format!("user0-{}", g.id);
    let expected = [
        format!("bot> Ban @{user0}?"),
        "     │ **Sandbox**".to_owned(),
        "     │ a guild".to_owned(),
        "     │ Members: 5".to_owned(),
        "     │ Owner: me".to_owned(),
        "     │ — since today".to_owned(),
        "     [1 Confirm] [2 Cancel, disabled] [Docs](https://example.com)".to_owned(),
        "       ids: 1 ban:confirm:0123456…23456789, 2 ban:cancel".to_owned(),
        "     <3 Pick a track> (select, choose 1; id pick)".to_owned(),
        "        1. lofi = t1".to_owned(),
        "        2. jazz = t2 — calm".to_owned(),
    ]
    .join("\n");
    assert_eq!(text, expected);

    // A click by label, answered with an update (type 7): the answer is the edited message.
    let control = sim.control();
    let spec = ClickSpec {
        component: "conf".to_owned(),
        timeout_ms: Some(5000),
        ..ClickSpec::default()
    };
    let clicking = control.click(&spec);
    let answering = async {
        let created = pending(&sim).await;
        let raw = callback(
            &sim,
            &created,
            &json!({"type": 7, "data": {"content": "Banned.", "components": []}}),
        )
        .await;
        assert_eq!(raw.status, 204, "{}", raw.body);
    };
    let (answer, ()) = tokio::join!(clicking, answering);
    let answer = answer.expect("the click is accepted");
    assert_eq!(answer.custom_id, "ban:confirm:0123456789abcdef0123456789");
    assert_eq!(answer.message_id, Some(id_of(&message)));
    assert_eq!(
        answer.answer.as_deref(),
        Some(
            "bot (edited)> Banned.\n     │ **Sandbox**\n     │ a guild\n     │ Members: 5\n     │ Owner: me\n     │ — since today"
        )
    );

    // The buttons are gone with the update: nothing left to click.
    let gone = ClickSpec {
        component: "1".to_owned(),
        ..ClickSpec::default()
    };
    assert!(
        control.click(&gone).await.is_err(),
        "no components any more"
    );
}

#[tokio::test]
async fn choices_by_label_and_forms_submitted_by_key() {
    let sim = sim().await;
    let g = guild(&sim);
    let channel = g.text_channels[0];
    post(
        &sim,
        channel,
        &json!({"content": "pick", "components": [row(vec![json!({"type": 3, "custom_id": "pick",
            "options": [{"label": "lofi", "value": "t1"}, {"label": "jazz", "value": "t2"}]})])]}),
    )
    .await;
    let control = sim.control();
    let answered = control
        .click(&ClickSpec {
            component: "1".to_owned(),
            values: vec!["jazz".to_owned()],
            timeout_ms: Some(0),
            ..ClickSpec::default()
        })
        .await
        .expect("chosen");
    let world_payload = sim.shared().world().interactions[&answered.interaction.id]
        .payload
        .clone();
    assert_eq!(
        world_payload["data"]["values"],
        json!(["t2"]),
        "the label became its value"
    );

    // The bot answers with a form; the feed shows it; /submit fills it by key.
    let start = sim.shared().feed.next_seq();
    let modal = json!({"type": 9, "data": {"custom_id": "report", "title": "Report", "components": [
        row(vec![json!({"type": 4, "custom_id": "reason", "label": "Reason", "style": 2})]),
        row(vec![json!({"type": 4, "custom_id": "note", "label": "Note", "style": 1, "required": false, "value": "none"})]),
    ]}});
    let raw = callback(&sim, &answered.interaction, &modal).await;
    assert_eq!(raw.status, 204, "{}", raw.body);
    assert_eq!(
        feed_text(&sim, start).await,
        "bot opened a form \"Report\" (id report)\n       reason: Reason [paragraph, required]\n       note: Note = \"none\""
    );
    let spec = SubmitSpec {
        values: [("reason".to_owned(), "spam and more".to_owned())].into(),
        timeout_ms: Some(5000),
        ..SubmitSpec::default()
    };
    let submitting = control.submit(&spec);
    let answering = async {
        let created = pending(&sim).await;
        let payload = sim.shared().world().interactions[&created.id]
            .payload
            .clone();
        assert_eq!(
            payload["data"]["components"][0]["components"][0]["value"],
            "spam and more"
        );
        let raw = callback(
            &sim,
            &created,
            &json!({"type": 4, "data": {"content": "Thanks", "flags": 64}}),
        )
        .await;
        assert_eq!(raw.status, 204, "{}", raw.body);
    };
    let (answer, ()) = tokio::join!(submitting, answering);
    assert_eq!(
        answer.expect("submitted").answer.as_deref(),
        Some("bot> Thanks\n     (only you can see this)")
    );
}
