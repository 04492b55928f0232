//! Message components end to end with a raw WebSocket and raw HTTP: a bot sends components,
//! users click buttons and choose in select menus through the control API, the gateway delivers
//! `INTERACTION_CREATE` with Discord's payload (twilight-model's `Interaction` parses it), the
//! bot answers with callbacks 6 and 7.

mod interaction_support;

use serde_json::{Value, json};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{ComponentSpec, ControlError, MessageSpec};
use twilight_model::application::interaction::{InteractionData, InteractionType};

use interaction_support::{
    assert_invalid, bot, button, callback, click, gateway, guild, id_of, next_dispatch,
    next_interaction, post, row, sim, slash,
};

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

#[tokio::test]
async fn a_click_answered_after_the_deadline_is_unknown() {
    let sim = swarmcord_sim::DiscordSim::start(DiscordConfig {
        interaction_deadline: std::time::Duration::from_millis(200),
        ..DiscordConfig::default()
    })
    .await
    .expect("simulator starts");
    let g = guild(&sim);
    let sent = post(
        &sim,
        g.text_channels[0],
        &json!({"content": "late", "components": [row(vec![button("late", "Late")])]}),
    )
    .await;
    let created = sim
        .control()
        .use_component(&click(id_of(&sent), g.members[0], "late"))
        .expect("click");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let late = callback(&sim, &created, &json!({"type": 6})).await;
    assert_eq!(
        (late.status, late.body),
        (
            404,
            json!({"code": 10062, "message": "Unknown interaction"})
        )
    );
}
