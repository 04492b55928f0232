//! The console routes the sandbox uses: typed `@name`/`#channel` resolved in `/_sim/say`,
//! the bot's messages rendered as text with their embeds and components (`/_sim/feed`,
//! `/_sim/say?format=text`), clicks and choices by number or label (`/_sim/click`), forms
//! (`/_sim/submit`), slash and context-menu commands typed as lines (`/_sim/slash`,
//! `/_sim/menu`, `/_sim/commands`) and the guild directory.

mod interaction_support;

use std::time::Duration;

use serde_json::{Value, json};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::DiscordSim;
use swarmcord_sim::discord::control::{ClickSpec, CommandLine, CreatedInteraction, SubmitSpec};
use swarmcord_testkit::http;

use interaction_support::{WAIT, bot, button, callback, guild, id_of, post, row, sim};

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

/// Runs `line` at the console without waiting; the interaction's payload, or the refusal.
async fn typed(sim: &DiscordSim, line: &str) -> Result<Value, String> {
    let spec = CommandLine {
        line: line.to_owned(),
        timeout_ms: Some(0),
        ..CommandLine::default()
    };
    let answer = sim
        .control()
        .slash(&spec)
        .await
        .map_err(|e| e.to_string())?;
    Ok(sim.shared().world().interactions[&answer.interaction.id]
        .payload
        .clone())
}

/// Registers a few application commands as a bot would: nested subcommands, entity options,
/// bounds, choices and the two kinds of context menu.
async fn register(sim: &DiscordSim) {
    let app = DiscordConfig::default().bot_id;
    let registered = bot(
        sim,
        "PUT",
        &format!("/applications/{app}/commands"),
        &json!([
            {"name": "settings", "description": "Settings", "options": [
                {"type": 2, "name": "roles", "description": "Roles", "options": [
                    {"type": 1, "name": "dj", "description": "DJ role", "options": [
                        {"type": 8, "name": "role", "description": "Role", "required": true},
                        {"type": 5, "name": "announce", "description": "Say it"}
                    ]}
                ]},
                {"type": 1, "name": "show", "description": "Show them"}
            ]},
            {"name": "ban", "description": "Ban a member", "options": [
                {"type": 6, "name": "user", "description": "Who", "required": true},
                {"type": 3, "name": "reason", "description": "Why", "max_length": 16},
                {"type": 4, "name": "days", "description": "Delete days", "min_value": 0, "max_value": 7}
            ]},
            {"name": "loop", "description": "Repeat", "options": [
                {"type": 3, "name": "mode", "description": "Mode", "required": true, "choices": [
                    {"name": "Off", "value": "off"}, {"name": "Track", "value": "track"}]}
            ]},
            {"name": "User info", "type": 2},
            {"name": "Quote", "type": 3}
        ]),
    )
    .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
}

#[tokio::test]
async fn slash_commands_are_typed_as_lines_with_the_registered_option_types() {
    let sim = sim().await;
    let g = guild(&sim);
    register(&sim).await;

    // Nested subcommands, a role by name and a boolean: what Discord's client sends.
    let payload = typed(&sim, "settings roles dj role=@Moderator announce=yes")
        .await
        .expect("typed");
    assert_eq!(payload["type"], 2);
    assert_eq!(payload["data"]["name"], "settings");
    assert_eq!(
        payload["data"]["options"],
        json!([{"name": "roles", "type": 2, "options": [{"name": "dj", "type": 1, "options": [
            {"name": "role", "type": 8, "value": g.moderator_role.to_string()},
            {"name": "announce", "type": 5, "value": true}]}]}])
    );
    assert_eq!(
        payload["data"]["resolved"]["roles"][g.moderator_role.to_string()]["name"],
        "Moderator"
    );
    // A user by name, a reason with spaces, an integer; a choice by its name.
    let user1 = g.members[1];
    let payload = typed(&sim, "ban user=@user1 reason=spam and more days=2")
        .await
        .expect("typed");
    assert_eq!(
        payload["data"]["options"],
        json!([{"name": "user", "type": 6, "value": user1.to_string()},
            {"name": "reason", "type": 3, "value": "spam and more"},
            {"name": "days", "type": 4, "value": 2}])
    );
    let payload = typed(&sim, "loop mode=track").await.expect("typed");
    assert_eq!(payload["data"]["options"][0]["value"], "track");
    let payload = typed(&sim, "loop mode=OFF").await.expect("typed");
    assert_eq!(payload["data"]["options"][0]["value"], "off");

    // What the client would not send is refused, naming the option.
    for (line, needle) in [
        ("nope", "no slash command /nope"),
        ("settings", "needs one of: roles, show"),
        ("settings roles dj", "option role is required"),
        ("settings show extra", "has no subcommand extra"),
        (
            "ban user=@user1 colour=red",
            "no option colour (options: user, reason, days)",
        ),
        (
            "ban user=@user1 days=two",
            "option days must be a whole number",
        ),
        ("ban user=@user1 days=9", "option days must be at most 7"),
        (
            "ban user=@user1 reason=far too long a reason",
            "at most 16 characters",
        ),
        ("ban user=@nobody", "option user names nobody here"),
        ("loop mode=queue", "option mode must be one of: Off, Track"),
        (
            "settings roles dj role=@Moderator announce=maybe",
            "must be true or false",
        ),
        ("User info", "no slash command /User"),
    ] {
        let refused = typed(&sim, line).await.expect_err(line);
        assert!(refused.contains(needle), "{line}: {refused}");
    }
}

#[tokio::test]
async fn context_menus_run_on_a_user_or_the_newest_message_and_the_commands_are_listed() {
    let sim = sim().await;
    let g = guild(&sim);
    register(&sim).await;
    let user1 = g.members[1];
    // Context menus: on a user by name, on the newest message; the answer is waited for.
    let control = sim.control();
    let menu = CommandLine {
        line: "User info @user1".to_owned(),
        timeout_ms: Some(5000),
        ..CommandLine::default()
    };
    let running = control.menu(&menu);
    let answering = async {
        // The slash commands above are still pending: find the menu's interaction.
        let (created, payload) = swarmcord_testkit::eventually(WAIT, || async {
            let world = sim.shared().world();
            world
                .interactions
                .values()
                .find(|i| i.payload["data"]["name"] == "User info")
                .map(|i| {
                    let created = CreatedInteraction {
                        id: i.id,
                        token: i.token.clone(),
                    };
                    (created, i.payload.clone())
                })
        })
        .await
        .expect("the menu's interaction reaches the bot");
        assert_eq!(payload["data"]["type"], 2);
        assert_eq!(payload["data"]["target_id"], user1.to_string());
        let raw = callback(
            &sim,
            &created,
            &json!({"type": 4, "data": {"content": "user1 joined today"}}),
        )
        .await;
        assert_eq!(raw.status, 204, "{}", raw.body);
    };
    let (answer, ()) = tokio::join!(running, answering);
    assert_eq!(
        answer.expect("ran").answer.as_deref(),
        Some("bot> user1 joined today")
    );
    let newest = post(&sim, g.text_channels[0], &json!({"content": "quote me"})).await;
    let quoted = control
        .menu(&CommandLine {
            line: "Quote".to_owned(),
            timeout_ms: Some(0),
            ..CommandLine::default()
        })
        .await
        .expect("ran");
    let payload = sim.shared().world().interactions[&quoted.interaction.id]
        .payload
        .clone();
    assert_eq!(payload["data"]["type"], 3);
    assert_eq!(payload["data"]["target_id"], id_of(&newest).to_string());

    // The list the console shows, as the lines to type.
    let listed = http::json(&sim.http_proxy(), "GET", "/_sim/commands", "")
        .await
        .expect("GET /_sim/commands")
        .text();
    for line in [
        "  /slash settings roles dj role=<role> [announce=<true/false>] — DJ role",
        "  /slash settings show — Show them",
        "  /slash ban user=<user> [reason=<text>] [days=<integer>] — Ban a member",
        "  /slash loop mode=<Off|Track> — Repeat",
        "  /menu User info (on @user)",
        "  /menu Quote (on the newest message)",
    ] {
        assert!(listed.contains(line), "{line:?} in\n{listed}");
    }
}
