//! Modals, autocomplete, context-menu commands and subcommand groups end to end with a raw
//! WebSocket and raw HTTP (twilight-model's `Interaction` parses every payload).

mod interaction_support;

use serde_json::{Value, json};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{
    ContextMenuKind, ContextMenuSpec, ControlError, MessageSpec, ModalSubmitSpec,
};
use twilight_model::application::interaction::{InteractionData, InteractionType};

use interaction_support::{
    assert_invalid, bot, button, callback, click, gateway, guild, id_of, next_dispatch,
    next_interaction, post, row, sim, slash,
};

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
    assert_eq!(
        data.target_id.map(twilight_model::id::Id::get),
        Some(target)
    );

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
