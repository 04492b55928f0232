//! `/gateway`, `/gateway/bot`, `/users/...` and DM channel creation.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, Reply};
use crate::discord::world::{Channel, ChannelKind};

/// `GET /gateway`.
pub(super) fn get_gateway(ctx: &Ctx<'_>) -> Reply {
    Reply::json(json!({"url": ctx.shared.gateway_url}))
}

/// `GET /gateway/bot`.
pub(super) fn get_gateway_bot(ctx: &Ctx<'_>) -> Reply {
    let remaining = ctx.shared.gateway.session_start_remaining(ctx.shared);
    // Discord's session start limit resets daily.
    let reset_after_ms: u64 = if remaining < ctx.config.session_start_total {
        86_400_000
    } else {
        0
    };
    Reply::json(json!({
        "url": ctx.shared.gateway_url,
        "shards": ctx.config.recommended_shards,
        "session_start_limit": {
            "total": ctx.config.session_start_total,
            "remaining": remaining,
            "reset_after": reset_after_ms,
            "max_concurrency": ctx.config.max_concurrency,
        },
    }))
}

/// `GET /users/@me`: the bot's user with the current-user-only fields.
pub(super) fn get_current_user(ctx: &Ctx<'_>) -> Reply {
    let mut user = ctx.shared.world().bot.to_json();
    user["mfa_enabled"] = json!(false);
    user["verified"] = json!(true);
    user["locale"] = json!("en-US");
    user["premium_type"] = json!(0);
    user["email"] = Value::Null;
    Reply::json(user)
}

/// `GET /applications/@me` and `GET /oauth2/applications/@me`: the bot's application (its id
/// is the bot's user id). `flags` carries the `GATEWAY_*_LIMITED` bits of the privileged intents
/// the application may use; the owner is the owner of the first guild, if any.
pub(super) fn get_current_application(ctx: &Ctx<'_>) -> Reply {
    const PRESENCES: u64 = 1 << 8;
    const MEMBERS: u64 = 1 << 1;
    const MESSAGE_CONTENT: u64 = 1 << 15;
    let allowed = ctx.config.allowed_privileged_intents;
    let flags = [
        (PRESENCES, 1_u64 << 13),
        (MEMBERS, 1 << 15),
        (MESSAGE_CONTENT, 1 << 19),
    ]
    .iter()
    .filter(|(intent, _)| allowed & intent != 0)
    .fold(0, |acc, (_, flag)| acc | flag);
    let world = ctx.shared.world();
    let bot = world.bot.to_json();
    let mut app = json!({
        "id": world.bot.id.to_string(),
        "name": world.bot.username,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": format!("{:064x}", world.bot.id),
        "flags": flags,
        "hook": true,
        "team": null,
        "bot": bot,
        "approximate_guild_count": world.guilds.len(),
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "integration_types_config": {"0": {}},
    });
    let owner = world
        .guilds
        .values()
        .next()
        .and_then(|g| world.users.get(&g.owner_id));
    if let Some(owner) = owner {
        app["owner"] = owner.to_json();
    }
    Reply::json(app)
}

/// `GET /users/{user_id}`.
pub(super) fn get_user(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.id("user_id")?;
    let world = ctx.shared.world();
    let user = world.users.get(&id).ok_or_else(ApiError::unknown_user)?;
    Ok(Reply::json(user.to_json()))
}

/// `POST /users/@me/channels` (`{"recipient_id"}`): the existing DM channel or a new one.
pub(super) fn create_dm(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let raw = &ctx.body()["recipient_id"];
    let recipient = match raw {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        Value::Null => {
            return Err(ApiError::form(
                &["recipient_id"],
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ));
        }
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::form(
            &["recipient_id"],
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not snowflake."),
        )
    })?;
    let mut world = ctx.shared.world();
    if !world.users.contains_key(&recipient) {
        return Err(ApiError::unknown_user());
    }
    if let Some(existing) = world
        .channels
        .values()
        .find(|c| c.kind == ChannelKind::Dm && c.recipients == [recipient])
    {
        return Ok(Reply::json(existing.to_json(&world.users)));
    }
    let channel = Channel {
        id: ctx.shared.ids.next(),
        kind: ChannelKind::Dm,
        guild_id: None,
        name: None,
        position: 0,
        parent_id: None,
        overwrites: Vec::new(),
        recipients: vec![recipient],
        last_message_id: None,
        thread: None,
    };
    let json = channel.to_json(&world.users);
    world.channels.insert(channel.id, channel);
    Ok(Reply::json(json))
}
