//! Interaction callbacks (`/interactions/{id}/{token}/callback`) and the interaction webhook
//! (`/webhooks/{app}/{token}...`): follow-ups and the original response.

use std::time::Duration;

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, Dispatch, FormErrors, Reply};
use super::message::{self, FLAG_EPHEMERAL, FLAG_LOADING, INTERACTION_FLAGS, MessageBody, Origin};
use super::{components, modals};
use crate::discord::world::{Interaction, InteractionState, Message, OpenModal, World};

/// How long an interaction token can be used for follow-ups (Discord: 15 minutes).
pub(super) const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Interaction types.
const PING: u64 = 1;
const APPLICATION_COMMAND: u64 = 2;
const MESSAGE_COMPONENT: u64 = 3;
const AUTOCOMPLETE: u64 = 4;
const MODAL_SUBMIT: u64 = 5;

/// Callback types.
const PONG: u64 = 1;
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE: u64 = 5;
const DEFERRED_UPDATE_MESSAGE: u64 = 6;
const UPDATE_MESSAGE: u64 = 7;
const AUTOCOMPLETE_RESULT: u64 = 8;
const MODAL: u64 = 9;
const LAUNCH_ACTIVITY: u64 = 12;

fn interaction_type(interaction: &Interaction) -> u64 {
    interaction.payload["type"]
        .as_u64()
        .unwrap_or(APPLICATION_COMMAND)
}

/// Whether callback type `response` answers interaction type `kind`.
fn response_allowed(kind: u64, response: u64) -> bool {
    match response {
        PONG => kind == PING,
        CHANNEL_MESSAGE | DEFERRED_CHANNEL_MESSAGE => {
            matches!(kind, APPLICATION_COMMAND | MESSAGE_COMPONENT | MODAL_SUBMIT)
        }
        DEFERRED_UPDATE_MESSAGE | UPDATE_MESSAGE => {
            matches!(kind, MESSAGE_COMPONENT | MODAL_SUBMIT)
        }
        AUTOCOMPLETE_RESULT => kind == AUTOCOMPLETE,
        MODAL | LAUNCH_ACTIVITY => matches!(kind, APPLICATION_COMMAND | MESSAGE_COMPONENT),
        _ => false,
    }
}

/// The id of the message a component interaction was used on.
fn component_message(interaction: &Interaction) -> Option<u64> {
    interaction.payload["message"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
}

fn origin(interaction: &Interaction, bot_id: u64) -> Origin {
    Origin {
        channel_id: interaction.channel_id,
        guild_id: interaction.guild_id,
        author_id: bot_id,
        webhook_id: Some(bot_id),
        interaction_id: Some(interaction.id),
    }
}

/// `MESSAGE_CREATE`/`MESSAGE_UPDATE` for a response message (none for ephemeral ones, which
/// only the invoking user sees).
fn message_dispatch(world: &World, message: &Message, event: &'static str) -> Option<Dispatch> {
    (message.flags & FLAG_EPHEMERAL == 0).then(|| Dispatch {
        guild_id: message.guild_id,
        event,
        data: message::render(world, message, true),
    })
}

/// Checks a callback's `data` for the callback types that carry one (message bodies are
/// checked by [`MessageBody::parse`]).
fn check_callback_data(response: u64, data: &Value) -> Result<(), ApiError> {
    let mut errors = FormErrors::default();
    match response {
        AUTOCOMPLETE_RESULT => modals::check_choices(&mut errors, data),
        MODAL => modals::check_modal(&mut errors, data),
        _ => {}
    }
    errors.check()
}

/// A callback's `data`, with the files uploaded beside it (a multipart callback's `files[n]`
/// parts belong to the message in `data`).
fn callback_data(body: &Value) -> Value {
    let mut data = body["data"].clone();
    if let (Some(files), Some(map)) = (body.get(super::attachments::UPLOADS), data.as_object_mut())
    {
        map.insert(super::attachments::UPLOADS.to_owned(), files.clone());
    }
    data
}

/// A callback's message errors sit under `data`, where the message is in the body.
fn under_data(mut error: ApiError) -> ApiError {
    if let Some(errors) = error.errors.take() {
        error.errors = Some(json!({"data": errors}));
    }
    error
}

/// `POST /interactions/{interaction_id}/{interaction_token}/callback[?with_response=true]`.
///
/// The first callback must come within `interaction_deadline` of the interaction's creation
/// (10062 afterwards); a second one gets 40060.
pub(super) fn callback(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let interaction_id = ctx
        .id("interaction_id")
        .map_err(|_| ApiError::unknown_interaction())?;
    let token = ctx.param("interaction_token");
    let body = ctx.body();
    let response = body["type"].as_u64();
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let interaction = world
        .interactions
        .get(&interaction_id)
        .filter(|i| i.token == token)
        .ok_or_else(ApiError::unknown_interaction)?
        .clone();
    if interaction.state != InteractionState::Pending {
        return Err(ApiError::already_acknowledged());
    }
    if interaction.created.elapsed() > ctx.config.interaction_deadline {
        return Err(ApiError::unknown_interaction());
    }
    let kind = interaction_type(&interaction);
    let Some(response) = response.filter(|r| response_allowed(kind, *r)) else {
        let (code, text) = if body["type"].is_null() {
            ("BASE_TYPE_REQUIRED", "This field is required")
        } else {
            (
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is invalid for this interaction",
            )
        };
        return Err(ApiError::form(&["type"], code, text));
    };
    let data = &callback_data(body);
    check_callback_data(response, data)?;
    if matches!(response, DEFERRED_UPDATE_MESSAGE | UPDATE_MESSAGE)
        && component_message(&interaction).is_none()
    {
        // A modal submitted from a slash command has no message to update.
        return Err(ApiError::form(
            &["type"],
            "INTERACTION_RESPONSE_TYPE_INVALID",
            "Interaction response type is invalid for this interaction",
        ));
    }
    let mut dispatches = Vec::new();
    let mut original = None;
    match response {
        CHANNEL_MESSAGE => {
            let parsed = MessageBody::parse(data).map_err(under_data)?;
            if parsed.is_empty() {
                return Err(ApiError::empty_message());
            }
            let id = ctx.shared.ids.next();
            let msg = message::build(
                &world,
                id,
                origin(&interaction, bot_id),
                &parsed,
                INTERACTION_FLAGS,
                None,
            );
            world.messages.insert(id, msg);
            original = Some(id);
        }
        DEFERRED_CHANNEL_MESSAGE => {
            let flags = data["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL;
            let id = ctx.shared.ids.next();
            let mut msg = message::build(
                &world,
                id,
                origin(&interaction, bot_id),
                &MessageBody::default(),
                0,
                None,
            );
            msg.flags = flags | FLAG_LOADING;
            world.messages.insert(id, msg);
            original = Some(id);
        }
        DEFERRED_UPDATE_MESSAGE => original = component_message(&interaction),
        MODAL => {
            let mut modal = data.clone();
            if let Some(rows) = modal["components"].as_array_mut() {
                components::assign_ids(rows);
            }
            world.modals.insert(
                interaction_id,
                OpenModal {
                    interaction_id,
                    user_id: interaction.user_id,
                    guild_id: interaction.guild_id,
                    channel_id: interaction.channel_id,
                    message_id: component_message(&interaction),
                    data: modal,
                },
            );
        }
        UPDATE_MESSAGE => {
            let parsed = MessageBody::parse(data).map_err(under_data)?;
            let target = component_message(&interaction)
                .filter(|id| world.messages.contains_key(id))
                .ok_or_else(ApiError::unknown_message)?;
            message::apply_edit(&mut world, target, &parsed, message::FLAG_SUPPRESS_EMBEDS)?;
            original = Some(target);
            dispatches.extend(message_dispatch(
                &world,
                &world.messages[&target],
                "MESSAGE_UPDATE",
            ));
        }
        _ => {}
    }
    if matches!(response, CHANNEL_MESSAGE | DEFERRED_CHANNEL_MESSAGE)
        && let Some(id) = original
        && let Some(channel) = world.channels.get_mut(&interaction.channel_id)
    {
        channel.last_message_id = Some(id);
    }
    if let Some(stored) = world.interactions.get_mut(&interaction_id) {
        stored.state = InteractionState::Responded(u8::try_from(response).unwrap_or(u8::MAX));
        if original.is_some() {
            stored.original_message = original;
        }
    }
    if matches!(response, CHANNEL_MESSAGE | DEFERRED_CHANNEL_MESSAGE)
        && let Some(msg) = original.and_then(|id| world.messages.get(&id))
    {
        dispatches.extend(message_dispatch(&world, msg, "MESSAGE_CREATE"));
    }
    let reply = if ctx.query_flag("with_response") {
        let mut summary = json!({"id": interaction_id.to_string(), "type": kind});
        let mut resource = json!({"type": response});
        if let Some(msg) = original.and_then(|id| world.messages.get(&id)) {
            summary["response_message_id"] = json!(msg.id.to_string());
            summary["response_message_loading"] = json!(msg.flags & FLAG_LOADING != 0);
            summary["response_message_ephemeral"] = json!(msg.flags & FLAG_EPHEMERAL != 0);
            if matches!(response, CHANNEL_MESSAGE | UPDATE_MESSAGE) {
                resource["message"] = message::render(&world, msg, false);
            }
        }
        Reply::json(json!({"interaction": summary, "resource": resource}))
    } else {
        Reply::no_content()
    };
    Ok(reply.dispatches(dispatches))
}

/// The interaction behind an interaction webhook: 10015 for an unknown application or token,
/// 50027 once the token expired.
fn interaction_for_webhook(ctx: &Ctx<'_>, world: &World) -> Result<Interaction, ApiError> {
    let app = ctx
        .param("webhook_id")
        .parse::<u64>()
        .map_err(|_| ApiError::unknown_webhook())?;
    if app != ctx.bot_id() {
        return Err(ApiError::unknown_webhook());
    }
    let token = ctx.param("webhook_token");
    let interaction = world
        .interactions
        .values()
        .find(|i| i.token == token)
        .ok_or_else(ApiError::unknown_webhook)?;
    if interaction.created.elapsed() > TOKEN_LIFETIME {
        return Err(ApiError::invalid_webhook_token());
    }
    Ok(interaction.clone())
}

/// `POST /webhooks/{application_id}/{token}` (follow-up; `wait` is always true for
/// interactions). The first follow-up after a deferred response replaces the loading message.
pub(super) fn execute_webhook(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body = MessageBody::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let interaction = interaction_for_webhook(ctx, &world)?;
    if interaction.state == InteractionState::Pending {
        return Err(ApiError::unknown_webhook());
    }
    if body.is_empty() {
        return Err(ApiError::empty_message());
    }
    let loading = interaction.original_message.filter(|id| {
        world
            .messages
            .get(id)
            .is_some_and(|m| m.flags & FLAG_LOADING != 0)
    });
    let (id, event) = if let Some(id) = loading {
        message::apply_edit(&mut world, id, &body, 0)?;
        (id, "MESSAGE_UPDATE")
    } else {
        let id = ctx.shared.ids.next();
        let msg = message::build(
            &world,
            id,
            origin(&interaction, bot_id),
            &body,
            INTERACTION_FLAGS,
            None,
        );
        world.messages.insert(id, msg);
        if let Some(channel) = world.channels.get_mut(&interaction.channel_id) {
            channel.last_message_id = Some(id);
        }
        (id, "MESSAGE_CREATE")
    };
    let stored = &world.messages[&id];
    let dispatch = message_dispatch(&world, stored, event);
    Ok(Reply::json(message::render(&world, stored, false))
        .dispatches(dispatch.into_iter().collect()))
}

/// The message `{message_id}` (or `@original`) of an interaction webhook.
fn webhook_message(
    ctx: &Ctx<'_>,
    world: &World,
    interaction: &Interaction,
) -> Result<u64, ApiError> {
    let raw = ctx.param("message_id");
    let id = if raw == "@original" {
        interaction
            .original_message
            .ok_or_else(ApiError::unknown_message)?
    } else {
        raw.parse::<u64>()
            .map_err(|_| ApiError::unknown_message())?
    };
    let belongs = world.messages.get(&id).is_some_and(|m| {
        m.interaction_id == Some(interaction.id) || interaction.original_message == Some(id)
    });
    if belongs {
        Ok(id)
    } else {
        Err(ApiError::unknown_message())
    }
}

/// `GET /webhooks/{application_id}/{token}/messages/{message_id|@original}`.
pub(super) fn get_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let world = ctx.shared.world();
    let interaction = interaction_for_webhook(ctx, &world)?;
    let id = webhook_message(ctx, &world, &interaction)?;
    Ok(Reply::json(message::render(
        &world,
        &world.messages[&id],
        false,
    )))
}

/// `PATCH /webhooks/{application_id}/{token}/messages/{message_id|@original}`: edits the
/// response (a deferred response stops loading).
pub(super) fn update_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body = MessageBody::parse(ctx.body())?;
    let mut world = ctx.shared.world();
    let interaction = interaction_for_webhook(ctx, &world)?;
    let id = webhook_message(ctx, &world, &interaction)?;
    message::apply_edit(&mut world, id, &body, message::FLAG_SUPPRESS_EMBEDS)?;
    let stored = &world.messages[&id];
    let dispatch = message_dispatch(&world, stored, "MESSAGE_UPDATE");
    Ok(Reply::json(message::render(&world, stored, false))
        .dispatches(dispatch.into_iter().collect()))
}

/// `DELETE /webhooks/{application_id}/{token}/messages/{message_id|@original}`.
pub(super) fn delete_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut world = ctx.shared.world();
    let interaction = interaction_for_webhook(ctx, &world)?;
    let id = webhook_message(ctx, &world, &interaction)?;
    let Some(msg) = world.messages.remove(&id) else {
        return Err(ApiError::unknown_message());
    };
    if let Some(stored) = world.interactions.get_mut(&interaction.id)
        && stored.original_message == Some(id)
    {
        stored.original_message = None;
    }
    let reply = Reply::no_content();
    Ok(if msg.flags & FLAG_EPHEMERAL == 0 {
        reply.dispatch(
            msg.guild_id,
            "MESSAGE_DELETE",
            message::delete_payload(&msg),
        )
    } else {
        reply
    })
}
