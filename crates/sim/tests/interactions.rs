//! Interactions beyond slash commands, end to end with a raw WebSocket and raw HTTP: a bot
//! sends components, users click, choose, submit modals, autocomplete and use context menus
//! through the control API, the gateway delivers `INTERACTION_CREATE` with Discord's payload
//! (twilight-model's `Interaction` parses it), the bot answers with every callback type.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use swarmcord_sim::discord::control::{
    ComponentSpec, ContextMenuKind, ContextMenuSpec, ControlError, CreatedGuild,
    CreatedInteraction, GuildSpec, InteractionSpec, MessageSpec, ModalSubmitSpec,
};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};

const WAIT: Duration = Duration::from_secs(10);

async fn sim() -> DiscordSim {
    DiscordSim::start(DiscordConfig {
        identify_interval: Duration::ZERO,
        ..DiscordConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn guild(sim: &DiscordSim) -> CreatedGuild {
    sim.control().create_guild(&GuildSpec {
        name: "interactions".to_owned(),
        members: 3,
        text_channels: 2,
        voice_channels: 1,
        announce: false,
        ..GuildSpec::default()
    })
}

struct Raw {
    status: u16,
    body: Value,
}

/// One HTTP/1.1 request under `/api/v10` on a fresh connection, read to the end.
async fn raw(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &Value) -> Raw {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut request =
        format!("{method} /api/v10{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        let _ = write!(request, "Authorization: Bot {token}\r\n");
    }
    let _ = write!(
        request,
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut bytes))
        .await
        .expect("in time")
        .expect("reads");
    let text = String::from_utf8(bytes).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header terminator");
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).expect("JSON body")
    };
    Raw { status, body }
}

/// A REST call as the bot.
async fn bot(sim: &DiscordSim, method: &str, path: &str, body: &Value) -> Raw {
    raw(sim.addr(), method, path, Some(&sim.token()), body).await
}

/// An interaction callback (authenticated by the token in the path).
async fn callback(sim: &DiscordSim, created: &CreatedInteraction, body: &Value) -> Raw {
    let path = format!("/interactions/{}/{}/callback", created.id, created.token);
    raw(sim.addr(), "POST", &path, None, body).await
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A raw gateway connection, identified (shard 0 of 1), after READY.
async fn gateway(sim: &DiscordSim) -> Ws {
    let url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let identify = json!({"op": 2, "d": {"token": sim.token(), "intents": 1 | 512 | 32768,
        "shard": [0, 1], "properties": {"os": "linux", "browser": "raw", "device": "raw"}}});
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .expect("identify");
    next_dispatch(&mut ws, "READY").await;
    ws
}

async fn next_dispatch(ws: &mut Ws, t: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let payload: Value = serde_json::from_str(&text).expect("json");
            if payload["t"] == t {
                return payload["d"].clone();
            }
        }
    }
}

/// The next `INTERACTION_CREATE`, its raw JSON and twilight's model of it.
async fn next_interaction(ws: &mut Ws) -> (Value, Interaction) {
    let raw = next_dispatch(ws, "INTERACTION_CREATE").await;
    let model: Interaction = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("twilight parses the interaction: {e}\n{raw:#}"));
    (raw, model)
}

fn button(custom_id: &str, label: &str) -> Value {
    json!({"type": 2, "style": 1, "custom_id": custom_id, "label": label})
}

fn row(components: Vec<Value>) -> Value {
    json!({"type": 1, "components": components})
}

/// The bot posts `body` in `channel`; the created message.
async fn post(sim: &DiscordSim, channel: u64, body: &Value) -> Value {
    let created = bot(sim, "POST", &format!("/channels/{channel}/messages"), body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    created.body
}

fn id_of(message: &Value) -> u64 {
    message["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("snowflake")
}

fn click(message_id: u64, user_id: u64, custom_id: &str) -> ComponentSpec {
    ComponentSpec {
        message_id,
        user_id,
        custom_id: custom_id.to_owned(),
        values: Vec::new(),
    }
}

fn slash(g: &CreatedGuild, name: &str, options: Value) -> InteractionSpec {
    InteractionSpec {
        guild_id: Some(g.id),
        channel_id: g.text_channels[0],
        user_id: g.members[0],
        name: name.to_owned(),
        options,
    }
}

fn assert_invalid(result: Result<CreatedInteraction, ControlError>, needle: &str) {
    match result {
        Err(ControlError::Invalid(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn button_click_update_and_second_response() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "Ban?", "components": [row(vec![button("ban:yes", "Yes"), button("ban:no", "No")])]}),
    )
    .await;
    let message_id = id_of(&sent);
    // Discord numbers the components and stores them: GET returns them.
    let fetched = bot(
        &sim,
        "GET",
        &format!("/channels/{}/messages/{message_id}", g.text_channels[0]),
        &Value::Null,
    )
    .await;
    assert_eq!(fetched.body["components"][0]["id"], 1);
    assert_eq!(
        fetched.body["components"][0]["components"][1]["custom_id"],
        "ban:no"
    );
    assert_eq!(fetched.body["components"][0]["components"][1]["id"], 3);

    let user = g.members[0];
    let created = sim
        .control()
        .use_component(&click(message_id, user, "ban:yes"))
        .expect("click");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["type"], 3);
    assert_eq!(raw["token"], created.token);
    assert_eq!(raw["guild_id"], g.id.to_string());
    assert_eq!(raw["channel_id"], g.text_channels[0].to_string());
    assert_eq!(raw["member"]["user"]["id"], user.to_string());
    assert!(raw["app_permissions"].is_string());
    assert_eq!(
        raw["data"],
        json!({"custom_id": "ban:yes", "component_type": 2})
    );
    assert_eq!(raw["message"]["id"], message_id.to_string());
    assert_eq!(model.kind, InteractionType::MessageComponent);
    assert_eq!(model.message.as_ref().map(|m| m.id.get()), Some(message_id));
    let Some(InteractionData::MessageComponent(data)) = &model.data else {
        panic!("component data: {:?}", model.data);
    };
    assert_eq!(data.custom_id, "ban:yes");

    // Type 7 edits the component's message: the buttons are disabled.
    let mut disabled = button("ban:yes", "Yes");
    disabled["disabled"] = json!(true);
    let update = callback(
        &sim,
        &created,
        &json!({"type": 7, "data": {"content": "Banned.", "components": [row(vec![disabled])]}}),
    )
    .await;
    assert_eq!(update.status, 204, "{}", update.body);
    let update_event = next_dispatch(&mut ws, "MESSAGE_UPDATE").await;
    assert_eq!(update_event["id"], message_id.to_string());
    assert_eq!(update_event["content"], "Banned.");
    let again = callback(&sim, &created, &json!({"type": 6})).await;
    assert_eq!(
        (again.status, again.body.clone()),
        (
            400,
            json!({"code": 40060, "message": "Interaction has already been acknowledged."})
        )
    );
    // The disabled button can no longer be clicked, the removed one is gone.
    assert_invalid(
        sim.control()
            .use_component(&click(message_id, user, "ban:yes")),
        "disabled",
    );
    assert_invalid(
        sim.control()
            .use_component(&click(message_id, user, "ban:no")),
        "no component",
    );
}

#[tokio::test]
async fn deferred_update_then_original_edit_changes_the_components_message() {
    let sim = sim().await;
    let g = guild(&sim);
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "page 1", "components": [row(vec![button("page:2", "Next")])]}),
    )
    .await;
    let message_id = id_of(&sent);
    let created = sim
        .control()
        .use_component(&click(message_id, g.members[1], "page:2"))
        .expect("click");
    let deferred = callback(&sim, &created, &json!({"type": 6})).await;
    assert_eq!(deferred.status, 204, "{}", deferred.body);
    let app = DiscordConfig::default().bot_id;
    let edit = bot(
        &sim,
        "PATCH",
        &format!("/webhooks/{app}/{}/messages/@original", created.token),
        &json!({"content": "page 2"}),
    )
    .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(edit.body["id"], message_id.to_string());
    assert_eq!(edit.body["content"], "page 2");
    assert!(edit.body["edited_timestamp"].is_string());
    // A follow-up after a deferred update is a new message.
    let followup = bot(
        &sim,
        "POST",
        &format!("/webhooks/{app}/{}", created.token),
        &json!({"content": "moved"}),
    )
    .await;
    assert_eq!(followup.status, 200, "{}", followup.body);
    assert_ne!(followup.body["id"], message_id.to_string());
}

#[tokio::test]
async fn select_menus_send_values_and_resolved_entities() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let options: Vec<Value> = ["music", "moderation", "general"]
        .iter()
        .map(|v| json!({"label": v, "value": v}))
        .collect();
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "help", "components": [
            row(vec![json!({"type": 3, "custom_id": "help:cat", "options": options, "min_values": 1, "max_values": 2})]),
            row(vec![json!({"type": 5, "custom_id": "pick:user"})]),
            row(vec![json!({"type": 6, "custom_id": "pick:role"})]),
            row(vec![json!({"type": 8, "custom_id": "pick:channel", "channel_types": [0]})]),
            row(vec![json!({"type": 7, "custom_id": "pick:any", "max_values": 2})]),
        ]}),
    )
    .await;
    let message_id = id_of(&sent);
    let user = g.members[0];
    let choose = |custom_id: &str, values: &[String]| ComponentSpec {
        message_id,
        user_id: user,
        custom_id: custom_id.to_owned(),
        values: values.to_vec(),
    };
    let control = sim.control();

    control
        .use_component(&choose(
            "help:cat",
            &["music".to_owned(), "general".to_owned()],
        ))
        .expect("string select");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(
        raw["data"],
        json!({"custom_id": "help:cat", "component_type": 3, "values": ["music", "general"]})
    );
    let Some(InteractionData::MessageComponent(data)) = &model.data else {
        panic!("component data");
    };
    assert_eq!(data.values, vec!["music", "general"]);

    let target = g.members[2].to_string();
    control
        .use_component(&choose("pick:user", std::slice::from_ref(&target)))
        .expect("user select");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["data"]["resolved"]["users"][&target]["id"], target);
    assert!(raw["data"]["resolved"]["members"][&target]["permissions"].is_string());
    let Some(InteractionData::MessageComponent(data)) = &model.data else {
        panic!("component data");
    };
    let resolved = data.resolved.as_ref().expect("resolved");
    assert!(resolved.users.keys().any(|id| id.get() == g.members[2]));
    assert!(resolved.members.keys().any(|id| id.get() == g.members[2]));

    let role = g.moderator_role.to_string();
    control
        .use_component(&choose("pick:role", std::slice::from_ref(&role)))
        .expect("role select");
    let (raw, _) = next_interaction(&mut ws).await;
    assert_eq!(raw["data"]["resolved"]["roles"][&role]["name"], "Moderator");

    let channel = g.text_channels[1].to_string();
    control
        .use_component(&choose("pick:channel", std::slice::from_ref(&channel)))
        .expect("channel select");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["data"]["resolved"]["channels"][&channel]["type"], 0);
    assert!(matches!(
        model.data,
        Some(InteractionData::MessageComponent(_))
    ));

    control
        .use_component(&choose("pick:any", &[role.clone(), target.clone()]))
        .expect("mentionable select");
    let (raw, _) = next_interaction(&mut ws).await;
    assert!(raw["data"]["resolved"]["roles"][&role].is_object());
    assert!(raw["data"]["resolved"]["users"][&target].is_object());

    // What the client does not let a user send.
    assert_invalid(
        control.use_component(&choose("help:cat", &["nsfw".to_owned()])),
        "not a choice",
    );
    assert_invalid(
        control.use_component(&choose(
            "help:cat",
            &[
                "music".to_owned(),
                "general".to_owned(),
                "moderation".to_owned(),
            ],
        )),
        "takes 1 to 2 values",
    );
    assert_invalid(
        control.use_component(&choose("help:cat", &[])),
        "takes 1 to 2",
    );
    let voice = g.voice_channels[0].to_string();
    assert_invalid(
        control.use_component(&choose("pick:channel", &[voice])),
        "not a choice",
    );
    assert_invalid(
        control.use_component(&choose("pick:role", std::slice::from_ref(&target))),
        "not a choice",
    );
}

#[tokio::test]
async fn only_the_bots_enabled_components_can_be_used() {
    let sim = sim().await;
    let g = guild(&sim);
    let control = sim.control();
    let user_message = control
        .post_message(&MessageSpec {
            channel_id: g.text_channels[0],
            author_id: g.members[0],
            content: "not the bot".to_owned(),
        })
        .expect("user message");
    assert_invalid(
        control.use_component(&click(user_message, g.members[1], "anything")),
        "not sent by the bot",
    );
    assert!(matches!(
        control.use_component(&click(user_message + 999, g.members[1], "x")),
        Err(ControlError::Unknown("message", _))
    ));
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "links", "components": [row(vec![
            json!({"type": 2, "style": 5, "label": "Docs", "url": "https://discord.com"}),
            json!({"type": 2, "style": 4, "label": "Off", "custom_id": "off", "disabled": true}),
        ])]}),
    )
    .await;
    let message_id = id_of(&sent);
    assert_invalid(
        control.use_component(&click(message_id, g.members[0], "off")),
        "disabled",
    );
    let outsider = control.create_user("outsider");
    assert!(matches!(
        control.use_component(&click(message_id, outsider, "off")),
        Err(ControlError::Unknown("member", _))
    ));

    // An ephemeral response's components belong to its interaction's user.
    let command = control
        .create_interaction(&slash(&g, "menu", Value::Null))
        .expect("slash");
    let answered = callback(
        &sim,
        &command,
        &json!({"type": 4, "data": {"content": "only you", "flags": 64, "components": [row(vec![button("mine", "Mine")])]}}),
    )
    .await;
    assert_eq!(answered.status, 204, "{}", answered.body);
    let ephemeral = sim.shared().world().interactions[&command.id]
        .original_message
        .expect("response message");
    assert_invalid(
        control.use_component(&click(ephemeral, g.members[1], "mine")),
        "ephemeral",
    );
    control
        .use_component(&click(ephemeral, g.members[0], "mine"))
        .expect("its user clicks");
}

fn modal(custom_id: &str) -> Value {
    json!({"type": 9, "data": {"custom_id": custom_id, "title": "Set up", "components": [
        row(vec![json!({"type": 4, "custom_id": "prefix", "label": "Prefix", "style": 1, "min_length": 1, "max_length": 3})]),
        row(vec![json!({"type": 4, "custom_id": "welcome", "label": "Welcome", "style": 2, "required": false, "value": "Hi!"})]),
        json!({"type": 18, "label": "Reason", "component": {"type": 4, "custom_id": "reason", "style": 1, "required": false}}),
    ]}})
}

#[tokio::test]
async fn modals_open_on_the_users_screen_and_submit() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let control = sim.control();
    let user = g.members[0];
    let command = control
        .create_interaction(&slash(&g, "setup", Value::Null))
        .expect("slash");
    next_interaction(&mut ws).await;
    let opened = callback(&sim, &command, &modal("setup:1")).await;
    assert_eq!(opened.status, 204, "{}", opened.body);
    let open = control.open_modals(user);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["custom_id"], "setup:1");
    assert!(control.open_modals(g.members[1]).is_empty());

    let submit = |user_id: u64, values: &[(&str, &str)]| ModalSubmitSpec {
        user_id,
        custom_id: "setup:1".to_owned(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    // What Discord's client refuses to submit.
    assert_invalid(
        control.submit_modal(&submit(user, &[])),
        "\"prefix\" is required",
    );
    assert_invalid(
        control.submit_modal(&submit(user, &[("prefix", "!!!!")])),
        "takes 1 to 3 characters",
    );
    assert_invalid(
        control.submit_modal(&submit(user, &[("prefix", "!"), ("colour", "red")])),
        "no text input \"colour\"",
    );
    assert_invalid(
        control.submit_modal(&submit(g.members[1], &[("prefix", "!")])),
        "no modal",
    );

    let submitted = control
        .submit_modal(&submit(user, &[("prefix", "?")]))
        .expect("submit");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["type"], 5);
    assert_eq!(raw["member"]["user"]["id"], user.to_string());
    assert_eq!(raw["data"]["custom_id"], "setup:1");
    let rows = &raw["data"]["components"];
    assert_eq!(rows[0]["type"], 1);
    assert_eq!(rows[0]["components"][0]["custom_id"], "prefix");
    assert_eq!(rows[0]["components"][0]["value"], "?");
    assert_eq!(
        rows[1]["components"][0]["value"], "Hi!",
        "prefilled value kept"
    );
    assert_eq!(rows[2]["type"], 18);
    assert_eq!(rows[2]["component"]["value"], "");
    assert!(raw.get("message").is_none(), "opened from a slash command");
    let Some(InteractionData::ModalSubmit(data)) = &model.data else {
        panic!("modal data: {:?}", model.data);
    };
    assert_eq!(data.custom_id, "setup:1");
    assert!(control.open_modals(user).is_empty(), "the modal closed");
    assert_invalid(
        control.submit_modal(&submit(user, &[("prefix", "!")])),
        "no modal",
    );
    // A modal submitted from a slash command has no message to update.
    let update = callback(
        &sim,
        &submitted,
        &json!({"type": 7, "data": {"content": "x"}}),
    )
    .await;
    assert_eq!(update.status, 400);
    assert_eq!(
        update.body["errors"]["type"]["_errors"][0]["code"],
        "INTERACTION_RESPONSE_TYPE_INVALID"
    );
    let reply = callback(
        &sim,
        &submitted,
        &json!({"type": 4, "data": {"content": "Saved."}}),
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);

    // Opened from a button: the submit carries the message, and may update it.
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "configure", "components": [row(vec![button("open", "Open")])]}),
    )
    .await;
    let clicked = control
        .use_component(&click(id_of(&sent), user, "open"))
        .expect("click");
    next_interaction(&mut ws).await;
    assert_eq!(
        callback(&sim, &clicked, &modal("setup:2")).await.status,
        204
    );
    let from_button = control
        .submit_modal(&ModalSubmitSpec {
            user_id: user,
            custom_id: "setup:2".to_owned(),
            values: [("prefix".to_owned(), "$".to_owned())].into(),
        })
        .expect("submit");
    let (raw, _) = next_interaction(&mut ws).await;
    assert_eq!(raw["message"]["id"], sent["id"]);
    let update = callback(
        &sim,
        &from_button,
        &json!({"type": 7, "data": {"content": "configured", "components": []}}),
    )
    .await;
    assert_eq!(update.status, 204, "{}", update.body);
    let stored = &sim.shared().world().messages[&id_of(&sent)];
    assert_eq!(stored.content, "configured");
    assert!(stored.components.is_empty());
}

#[tokio::test]
async fn autocomplete_round_trip() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let app = DiscordConfig::default().bot_id;
    let registered = bot(
        &sim,
        "PUT",
        &format!("/applications/{app}/commands"),
        &json!([{"name": "music", "description": "Music", "options": [
            {"type": 1, "name": "play", "description": "Play", "options": [
                {"type": 3, "name": "track", "description": "Track", "required": true, "autocomplete": true},
                {"type": 4, "name": "volume", "description": "Volume"}
            ]}
        ]}]),
    )
    .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    let control = sim.control();
    let typed = json!([{"type": 1, "name": "play", "options": [
        {"type": 3, "name": "track", "value": "never gonna", "focused": true}
    ]}]);
    let created = control
        .autocomplete(&slash(&g, "music", typed.clone()))
        .expect("autocomplete");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["type"], 4);
    assert_eq!(raw["data"]["name"], "music");
    assert_eq!(raw["data"]["id"], registered.body[0]["id"]);
    assert_eq!(raw["data"]["options"], typed);
    assert_eq!(model.kind, InteractionType::ApplicationCommandAutocomplete);
    assert!(matches!(
        model.data,
        Some(InteractionData::ApplicationCommand(_))
    ));

    let wrong_type = callback(
        &sim,
        &created,
        &json!({"type": 4, "data": {"content": "no"}}),
    )
    .await;
    assert_eq!(wrong_type.status, 400);
    let choices: Vec<Value> = (0..25)
        .map(|i| json!({"name": "n".repeat(100), "value": format!("{i}")}))
        .collect();
    let answered = callback(
        &sim,
        &created,
        &json!({"type": 8, "data": {"choices": choices}}),
    )
    .await;
    assert_eq!(answered.status, 204, "{}", answered.body);

    let not_autocompleted = json!([{"type": 1, "name": "play", "options": [
        {"type": 3, "name": "track", "value": "x"},
        {"type": 4, "name": "volume", "value": "1", "focused": true}
    ]}]);
    assert_invalid(
        control.autocomplete(&slash(&g, "music", not_autocompleted)),
        "not registered with \"autocomplete\": true",
    );
    let nothing_focused = json!([{"type": 1, "name": "play", "options": [{"type": 3, "name": "track", "value": "x"}]}]);
    assert_invalid(
        control.autocomplete(&slash(&g, "music", nothing_focused)),
        "\"focused\": true",
    );
    assert_invalid(
        control.create_interaction(&slash(&g, "music", typed)),
        "only sent with autocomplete",
    );
}

#[tokio::test]
async fn context_menu_commands_carry_target_and_resolved() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let control = sim.control();
    let target = g.members[2];
    control
        .context_menu(&ContextMenuSpec {
            guild_id: Some(g.id),
            channel_id: g.text_channels[0],
            user_id: g.members[0],
            name: "Ban".to_owned(),
            kind: ContextMenuKind::User,
            target_id: target,
        })
        .expect("user command");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["type"], 2);
    assert_eq!(raw["data"]["type"], 2);
    assert_eq!(raw["data"]["target_id"], target.to_string());
    assert_eq!(
        raw["data"]["resolved"]["users"][target.to_string()]["id"],
        target.to_string()
    );
    assert!(raw["data"]["resolved"]["members"][target.to_string()].is_object());
    let Some(InteractionData::ApplicationCommand(data)) = &model.data else {
        panic!("command data");
    };
    assert_eq!(data.target_id.map(|id| id.get()), Some(target));

    let message = control
        .post_message(&MessageSpec {
            channel_id: g.text_channels[0],
            author_id: target,
            content: "report me".to_owned(),
        })
        .expect("message");
    next_dispatch(&mut ws, "MESSAGE_CREATE").await;
    control
        .context_menu(&ContextMenuSpec {
            guild_id: Some(g.id),
            channel_id: g.text_channels[0],
            user_id: g.members[0],
            name: "Report".to_owned(),
            kind: ContextMenuKind::Message,
            target_id: message,
        })
        .expect("message command");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["data"]["type"], 3);
    assert_eq!(
        raw["data"]["resolved"]["messages"][message.to_string()]["content"],
        "report me"
    );
    let Some(InteractionData::ApplicationCommand(data)) = &model.data else {
        panic!("command data");
    };
    assert!(
        data.resolved
            .as_ref()
            .is_some_and(|r| !r.messages.is_empty())
    );
    assert!(matches!(
        control.context_menu(&ContextMenuSpec {
            guild_id: Some(g.id),
            channel_id: g.text_channels[1],
            user_id: g.members[0],
            name: "Report".to_owned(),
            kind: ContextMenuKind::Message,
            target_id: message,
        }),
        Err(ControlError::Unknown(..))
    ));
}

#[tokio::test]
async fn subcommand_groups_and_resolved_options() {
    let sim = sim().await;
    let g = guild(&sim);
    let mut ws = gateway(&sim).await;
    let control = sim.control();
    let options = json!([{"type": 2, "name": "prefix", "options": [
        {"type": 1, "name": "set", "options": [
            {"type": 3, "name": "value", "value": "?"},
            {"type": 6, "name": "for", "value": g.members[1].to_string()},
            {"type": 8, "name": "role", "value": g.moderator_role.to_string()}
        ]}
    ]}]);
    control
        .create_interaction(&slash(&g, "settings", options.clone()))
        .expect("group");
    let (raw, model) = next_interaction(&mut ws).await;
    assert_eq!(raw["data"]["options"], options);
    let member = g.members[1].to_string();
    assert!(raw["data"]["resolved"]["users"][&member].is_object());
    assert!(raw["data"]["resolved"]["members"][&member].is_object());
    assert!(raw["data"]["resolved"]["roles"][g.moderator_role.to_string()].is_object());
    let Some(InteractionData::ApplicationCommand(data)) = &model.data else {
        panic!("command data");
    };
    assert_eq!(data.options[0].name, "prefix");

    let group_in_subcommand =
        json!([{"type": 1, "name": "set", "options": [{"type": 2, "name": "x", "options": []}]}]);
    assert_invalid(
        control.create_interaction(&slash(&g, "settings", group_in_subcommand)),
        "must be at the top level",
    );
    let unknown_user = json!([{"type": 6, "name": "user", "value": "42"}]);
    assert_invalid(
        control.create_interaction(&slash(&g, "ban", unknown_user)),
        "resolves to nothing",
    );
}
