//! `/channels/{id}` and its messages.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, FormErrors, Reply, max_length_error, snowflake_list};
use super::message::{self, CHANNEL_CREATE_FLAGS, FLAG_SUPPRESS_EMBEDS, MessageBody, Origin};
use super::threads;
use crate::discord::world::{ChannelKind, World};

/// `VIEW_CHANNEL`.
pub(super) const VIEW_CHANNEL: u64 = 1 << 10;
/// `SEND_MESSAGES`.
pub(super) const SEND_MESSAGES: u64 = 1 << 11;
/// `MANAGE_MESSAGES`.
pub(super) const MANAGE_MESSAGES: u64 = 1 << 13;
/// `READ_MESSAGE_HISTORY`.
pub(super) const READ_MESSAGE_HISTORY: u64 = 1 << 16;

/// The bot's permissions in a channel it can see: 10003 if the channel does not exist, 50001
/// (Missing Access) without `VIEW_CHANNEL`.
pub(super) fn visible_channel(
    world: &World,
    bot_id: u64,
    channel_id: u64,
) -> Result<u64, ApiError> {
    if !world.channels.contains_key(&channel_id) {
        return Err(ApiError::unknown_channel());
    }
    let perms = world.channel_permissions(bot_id, channel_id);
    if perms & VIEW_CHANNEL == 0 {
        return Err(ApiError::missing_access());
    }
    Ok(perms)
}

/// 10008 unless `message_id` is a message in `channel_id`.
pub(super) fn message_in_channel(
    world: &World,
    channel_id: u64,
    message_id: u64,
) -> Result<(), ApiError> {
    let in_channel = world
        .messages
        .get(&message_id)
        .is_some_and(|m| m.channel_id == channel_id);
    if in_channel {
        Ok(())
    } else {
        Err(ApiError::unknown_message())
    }
}

/// `GET /channels/{channel_id}`.
pub(super) fn get_channel(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let world = ctx.shared.world();
    visible_channel(&world, ctx.bot_id(), channel_id)?;
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    Ok(Reply::json(channel.to_json(&world.users)))
}

/// `POST /channels/{channel_id}/messages`.
/// How long an enforced nonce is remembered (Discord: "the past few minutes").
const NONCE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

pub(super) fn create_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let body = MessageBody::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let perms = visible_channel(&world, bot_id, channel_id)?;
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    if channel.kind == ChannelKind::Category {
        return Err(ApiError::non_text_channel());
    }
    let guild_id = channel.guild_id;
    // In a thread, `SEND_MESSAGES_IN_THREADS` replaces `SEND_MESSAGES`.
    let needed = if channel.thread.is_some() {
        threads::SEND_MESSAGES_IN_THREADS
    } else {
        SEND_MESSAGES
    };
    if perms & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    if body.is_empty() {
        return Err(ApiError::empty_message());
    }
    let reference = match &body.message_reference {
        Some(r) => reply_reference(&world, r, channel_id, guild_id)?,
        None => None,
    };
    // `enforce_nonce`: a retry of the same send returns the first message instead of a copy.
    let nonce_key = body
        .nonce
        .clone()
        .filter(|_| body.enforce_nonce)
        .map(|nonce| (bot_id, nonce));
    if let Some(key) = &nonce_key
        && let Some((existing, at)) = world.nonces.get(key)
        && at.elapsed() < NONCE_WINDOW
        && let Some(stored) = world.messages.get(existing)
    {
        return Ok(Reply::json(message::render(&world, stored, false)));
    }
    let id = ctx.shared.ids.next();
    if let Some(key) = nonce_key {
        // Expired entries are ignored on lookup; sweeping them every 4096 sends keeps the map
        // bounded without an O(n) scan per message (the benchmarks send thousands per second).
        if world.nonces.len() % 4096 == 4095 {
            world
                .nonces
                .retain(|_, (_, at)| at.elapsed() < NONCE_WINDOW);
        }
        world.nonces.insert(key, (id, std::time::Instant::now()));
    }
    let origin = Origin {
        channel_id,
        guild_id,
        author_id: bot_id,
        webhook_id: None,
        interaction_id: None,
    };
    let msg = message::build(&world, id, origin, &body, CHANNEL_CREATE_FLAGS, reference);
    world.messages.insert(id, msg);
    if let Some(channel) = world.channels.get_mut(&channel_id) {
        channel.last_message_id = Some(id);
        if let Some(thread) = channel.thread.as_mut() {
            thread.message_count += 1;
            thread.total_message_sent += 1;
        }
    }
    let stored = &world.messages[&id];
    let rest = message::render(&world, stored, false);
    let gateway = message::render(&world, stored, true);
    Ok(Reply::json(rest).dispatch(guild_id, "MESSAGE_CREATE", gateway))
}

/// Resolves `message_reference` of a reply: the stored reference, `None` when the target is
/// missing and `fail_if_not_exists` is false, 50035 when it is missing otherwise.
fn reply_reference(
    world: &World,
    reference: &Value,
    channel_id: u64,
    guild_id: Option<u64>,
) -> Result<Option<Value>, ApiError> {
    let target = match &reference["message_id"] {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    let ref_channel = match &reference["channel_id"] {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .unwrap_or(channel_id);
    let found = target
        .and_then(|id| world.messages.get(&id))
        .filter(|m| m.channel_id == ref_channel);
    match found {
        Some(m) => {
            let mut v = json!({
                "type": 0,
                "message_id": m.id.to_string(),
                "channel_id": m.channel_id.to_string(),
            });
            if let Some(g) = m.guild_id.or(guild_id) {
                v["guild_id"] = json!(g.to_string());
            }
            Ok(Some(v))
        }
        None if reference["fail_if_not_exists"] == Value::Bool(false) => Ok(None),
        None => Err(ApiError::form(
            &["message_reference"],
            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
            "Unknown message",
        )),
    }
}

/// `GET /channels/{channel_id}/messages?limit=&before=&after=&around=`, newest first.
pub(super) fn get_messages(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let limit = usize::try_from(ctx.query_int("limit", 1, 100, 50)?).unwrap_or(50);
    let before = ctx.query_id("before")?;
    let after = ctx.query_id("after")?;
    let around = ctx.query_id("around")?;
    let world = ctx.shared.world();
    let perms = visible_channel(&world, ctx.bot_id(), channel_id)?;
    if perms & READ_MESSAGE_HISTORY == 0 {
        return Ok(Reply::json(json!([])));
    }
    let mut ids: Vec<u64> = world
        .messages
        .values()
        .filter(|m| m.channel_id == channel_id && m.flags & message::FLAG_EPHEMERAL == 0)
        .map(|m| m.id)
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let selected: Vec<u64> = if let Some(around) = around {
        let newer: Vec<u64> = ids
            .iter()
            .rev()
            .copied()
            .filter(|&id| id > around)
            .take(limit / 2)
            .collect();
        let older: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&id| id <= around)
            .take(limit - newer.len())
            .collect();
        newer.into_iter().rev().chain(older).collect()
    } else if let Some(after) = after {
        let mut v: Vec<u64> = ids
            .iter()
            .rev()
            .copied()
            .filter(|&id| id > after)
            .take(limit)
            .collect();
        v.reverse();
        v
    } else {
        ids.into_iter()
            .filter(|&id| before.is_none_or(|b| id < b))
            .take(limit)
            .collect()
    };
    let list: Vec<Value> = selected
        .iter()
        .filter_map(|id| world.messages.get(id))
        .map(|m| message::render(&world, m, false))
        .collect();
    Ok(Reply::json(Value::Array(list)))
}

/// `GET /channels/{channel_id}/messages/{message_id}`.
pub(super) fn get_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let message_id = ctx.id("message_id")?;
    let world = ctx.shared.world();
    let perms = visible_channel(&world, ctx.bot_id(), channel_id)?;
    if perms & READ_MESSAGE_HISTORY == 0 {
        return Err(ApiError::missing_access());
    }
    let msg = world
        .messages
        .get(&message_id)
        .filter(|m| m.channel_id == channel_id && m.flags & message::FLAG_EPHEMERAL == 0)
        .ok_or_else(ApiError::unknown_message)?;
    Ok(Reply::json(message::render(&world, msg, false)))
}

/// `PATCH /channels/{channel_id}/messages/{message_id}`: only the bot's own messages can change
/// content (50005 otherwise).
pub(super) fn update_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let message_id = ctx.id("message_id")?;
    let body = MessageBody::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    visible_channel(&world, bot_id, channel_id)?;
    let msg = world
        .messages
        .get(&message_id)
        .filter(|m| m.channel_id == channel_id)
        .ok_or_else(ApiError::unknown_message)?;
    if msg.author_id != bot_id {
        return Err(ApiError::edit_foreign_message());
    }
    let guild_id = msg.guild_id;
    message::apply_edit(&mut world, message_id, &body, FLAG_SUPPRESS_EMBEDS)?;
    let stored = &world.messages[&message_id];
    let rest = message::render(&world, stored, false);
    let gateway = message::render(&world, stored, true);
    Ok(Reply::json(rest).dispatch(guild_id, "MESSAGE_UPDATE", gateway))
}

/// `DELETE /channels/{channel_id}/messages/{message_id}`: own messages always, others with
/// `MANAGE_MESSAGES` (never in DMs).
pub(super) fn delete_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let message_id = ctx.id("message_id")?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let perms = visible_channel(&world, bot_id, channel_id)?;
    let msg = world
        .messages
        .get(&message_id)
        .filter(|m| m.channel_id == channel_id)
        .ok_or_else(ApiError::unknown_message)?;
    if msg.author_id != bot_id {
        if msg.guild_id.is_none() {
            return Err(ApiError::dm_action());
        }
        if perms & MANAGE_MESSAGES == 0 {
            return Err(ApiError::missing_permissions());
        }
    }
    let payload = message::delete_payload(msg);
    let guild_id = msg.guild_id;
    world.messages.remove(&message_id);
    world.reactions.remove(&message_id);
    Ok(Reply::no_content().dispatch(guild_id, "MESSAGE_DELETE", payload))
}

/// Oldest message `bulk-delete` accepts (Discord: 2 weeks).
const BULK_DELETE_MAX_AGE_MS: u64 = 14 * 24 * 3600 * 1000;

/// `POST /channels/{channel_id}/messages/bulk-delete` with `{"messages": [2..=100 ids]}`:
/// `MANAGE_MESSAGES` (50013, even for the bot's own messages), 50034 if one is older than two
/// weeks; unknown ids are skipped. 204 and one `MESSAGE_DELETE_BULK`.
pub(super) fn bulk_delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let Some(list) = ctx.body()["messages"].as_array() else {
        return Err(ApiError::form(
            &["messages"],
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ));
    };
    let mut errors = FormErrors::default();
    if list.len() < 2 {
        errors.add(
            &["messages"],
            "BASE_TYPE_MIN_LENGTH",
            "Must be 2 or more in length.",
        );
    } else if list.len() > 100 {
        max_length_error(&mut errors, &["messages"], 100);
    }
    let mut ids = snowflake_list(&mut errors, "messages", list);
    errors.check()?;
    ids.sort_unstable();
    ids.dedup();
    let mut world = ctx.shared.world();
    let perms = visible_channel(&world, ctx.bot_id(), channel_id)?;
    if world.channel_guild(channel_id).is_none() {
        return Err(ApiError::dm_action());
    }
    if perms & MANAGE_MESSAGES == 0 {
        return Err(ApiError::missing_permissions());
    }
    let oldest = crate::util::unix_ms().saturating_sub(BULK_DELETE_MAX_AGE_MS);
    ids.retain(|id| {
        world
            .messages
            .get(id)
            .is_some_and(|m| m.channel_id == channel_id)
    });
    if ids
        .iter()
        .any(|id| world.messages[id].timestamp_ms < oldest)
    {
        return Err(ApiError::too_old_to_bulk_delete());
    }
    for id in &ids {
        world.messages.remove(id);
        world.reactions.remove(id);
    }
    let guild_id = world.channel_guild(channel_id);
    let mut payload = json!({
        "ids": ids.iter().map(u64::to_string).collect::<Vec<_>>(),
        "channel_id": channel_id.to_string(),
    });
    if let Some(guild_id) = guild_id {
        payload["guild_id"] = json!(guild_id.to_string());
    }
    Ok(Reply::no_content().dispatch(guild_id, "MESSAGE_DELETE_BULK", payload))
}
