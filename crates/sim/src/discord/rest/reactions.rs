//! `/channels/{id}/messages/{mid}/reactions…`: add and remove the bot's own reaction, remove
//! another user's, list who reacted, remove all or one emoji's reactions.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, Reply};
use super::messages::{MANAGE_MESSAGES, READ_MESSAGE_HISTORY, message_in_channel, visible_channel};
use crate::discord::world::{Reaction, World};

/// `ADD_REACTIONS`.
const ADD_REACTIONS: u64 = 1 << 6;

/// The route's message: 10003 / 50001 for the channel, 50013 without `READ_MESSAGE_HISTORY`,
/// 10008 if the message is not in the channel. Returns the bot's channel permissions.
fn target(ctx: &Ctx<'_>, world: &World) -> Result<(u64, u64, u64), ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let message_id = ctx.id("message_id")?;
    let perms = visible_channel(world, ctx.bot_id(), channel_id)?;
    if perms & READ_MESSAGE_HISTORY == 0 {
        return Err(ApiError::missing_permissions());
    }
    message_in_channel(world, channel_id, message_id)?;
    Ok((channel_id, message_id, perms))
}

/// The emoji path segment: a Unicode emoji, or `name:id` with a snowflake id (10014 otherwise).
fn emoji(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let raw = ctx.param("emoji");
    let valid = match raw.split_once(':') {
        Some((name, id)) => !name.is_empty() && id.parse::<u64>().is_ok(),
        None => !raw.is_empty() && !raw.is_ascii(),
    };
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::unknown_emoji())
    }
}

/// The `MESSAGE_REACTION_ADD` / `_REMOVE` payload.
fn event(world: &World, channel_id: u64, message_id: u64, user_id: u64, emoji: &Reaction) -> Value {
    let mut v = json!({
        "user_id": user_id.to_string(),
        "channel_id": channel_id.to_string(),
        "message_id": message_id.to_string(),
        "emoji": emoji.emoji_json(),
        "burst": false,
        "type": 0,
    });
    if let Some(guild_id) = world.channel_guild(channel_id) {
        v["guild_id"] = json!(guild_id.to_string());
    }
    v
}

/// `PUT …/reactions/{emoji}/@me`: 204; a new emoji needs `ADD_REACTIONS` (50013), an existing
/// one only `READ_MESSAGE_HISTORY`. Reacting twice is a no-op.
pub(super) fn add_own(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let emoji = emoji(ctx)?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let (channel_id, message_id, perms) = target(ctx, &world)?;
    let list = world.reactions.entry(message_id).or_default();
    let index = match list.iter().position(|r| r.emoji == emoji) {
        Some(i) => i,
        None if perms & ADD_REACTIONS == 0 => return Err(ApiError::missing_permissions()),
        None => {
            list.push(Reaction {
                emoji,
                users: Vec::new(),
            });
            list.len() - 1
        }
    };
    let reaction = &mut list[index];
    if reaction.users.contains(&bot_id) {
        return Ok(Reply::no_content());
    }
    reaction.users.push(bot_id);
    let reaction = reaction.clone();
    let (guild_id, payload) = add_event(&world, channel_id, message_id, bot_id, &reaction);
    Ok(Reply::no_content().dispatch(guild_id, "MESSAGE_REACTION_ADD", payload))
}

/// The `MESSAGE_REACTION_ADD` payload of `user_id`'s reaction (with the message's author and,
/// in a guild, the reacting member), and the guild it is dispatched to.
pub(crate) fn add_event(
    world: &World,
    channel_id: u64,
    message_id: u64,
    user_id: u64,
    reaction: &Reaction,
) -> (Option<u64>, Value) {
    let mut payload = event(world, channel_id, message_id, user_id, reaction);
    let guild_id = world.channel_guild(channel_id);
    if let Some(msg) = world.messages.get(&message_id) {
        payload["message_author_id"] = json!(msg.author_id.to_string());
    }
    let user = if user_id == world.bot.id {
        Some(&world.bot)
    } else {
        world.users.get(&user_id)
    };
    if let Some((member, user)) = guild_id
        .and_then(|g| world.guilds.get(&g))
        .and_then(|g| g.members.get(&user_id))
        .zip(user)
    {
        payload["member"] = member.to_json(user);
    }
    (guild_id, payload)
}

/// Removes `user_id`'s reaction (204 whether or not there was one).
fn remove(ctx: &Ctx<'_>, user_id: u64, need_manage: bool) -> Result<Reply, ApiError> {
    let emoji = emoji(ctx)?;
    let mut world = ctx.shared.world();
    let (channel_id, message_id, perms) = target(ctx, &world)?;
    if need_manage && perms & MANAGE_MESSAGES == 0 {
        return Err(ApiError::missing_permissions());
    }
    let Some(list) = world.reactions.get_mut(&message_id) else {
        return Ok(Reply::no_content());
    };
    let Some(index) = list.iter().position(|r| r.emoji == emoji) else {
        return Ok(Reply::no_content());
    };
    let before = list[index].users.len();
    list[index].users.retain(|u| *u != user_id);
    if list[index].users.len() == before {
        return Ok(Reply::no_content());
    }
    let reaction = if list[index].users.is_empty() {
        list.remove(index)
    } else {
        list[index].clone()
    };
    let payload = event(&world, channel_id, message_id, user_id, &reaction);
    let guild_id = world.channel_guild(channel_id);
    Ok(Reply::no_content().dispatch(guild_id, "MESSAGE_REACTION_REMOVE", payload))
}

/// `DELETE …/reactions/{emoji}/@me`.
pub(super) fn remove_own(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    remove(ctx, ctx.bot_id(), false)
}

/// `DELETE …/reactions/{emoji}/{user_id}`: needs `MANAGE_MESSAGES` (50013).
pub(super) fn remove_user(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let user_id = ctx.id("user_id")?;
    remove(ctx, user_id, user_id != ctx.bot_id())
}

/// `GET …/reactions/{emoji}?after=&limit=1..100` (default 25): the users, by id.
pub(super) fn list_users(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let emoji = emoji(ctx)?;
    let limit = usize::try_from(ctx.query_int("limit", 1, 100, 25)?).unwrap_or(25);
    let after = ctx.query_id("after")?.unwrap_or(0);
    let world = ctx.shared.world();
    let (_, message_id, _) = target(ctx, &world)?;
    let mut ids: Vec<u64> = world
        .reactions
        .get(&message_id)
        .and_then(|list| list.iter().find(|r| r.emoji == emoji))
        .map(|r| r.users.clone())
        .unwrap_or_default();
    ids.sort_unstable();
    let users: Vec<Value> = ids
        .into_iter()
        .filter(|id| *id > after)
        .take(limit)
        .filter_map(|id| {
            world
                .users
                .get(&id)
                .map(crate::discord::world::User::to_json)
        })
        .collect();
    Ok(Reply::json(Value::Array(users)))
}

/// `DELETE …/reactions` (all) and `DELETE …/reactions/{emoji}` (one emoji): `MANAGE_MESSAGES`.
pub(super) fn remove_all(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let one = match ctx.route.param("emoji") {
        Some(_) => Some(emoji(ctx)?),
        None => None,
    };
    let mut world = ctx.shared.world();
    let (channel_id, message_id, perms) = target(ctx, &world)?;
    if perms & MANAGE_MESSAGES == 0 {
        return Err(ApiError::missing_permissions());
    }
    let guild_id = world.channel_guild(channel_id);
    let mut payload = json!({
        "channel_id": channel_id.to_string(),
        "message_id": message_id.to_string(),
    });
    if let Some(guild_id) = guild_id {
        payload["guild_id"] = json!(guild_id.to_string());
    }
    let list = world.reactions.entry(message_id).or_default();
    let event = if let Some(emoji) = one {
        let Some(index) = list.iter().position(|r| r.emoji == emoji) else {
            return Ok(Reply::no_content());
        };
        payload["emoji"] = list.remove(index).emoji_json();
        "MESSAGE_REACTION_REMOVE_EMOJI"
    } else {
        list.clear();
        "MESSAGE_REACTION_REMOVE_ALL"
    };
    Ok(Reply::no_content().dispatch(guild_id, event, payload))
}
