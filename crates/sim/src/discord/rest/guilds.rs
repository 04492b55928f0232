//! `/guilds/{id}`: the guild, its channels, roles, members (kick) and bans.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, Dispatch, FormErrors, Reply};
use crate::discord::world::{Ban, Guild, World};
use crate::util::unix_ms;

/// `KICK_MEMBERS`.
const KICK_MEMBERS: u64 = 1 << 1;
/// `BAN_MEMBERS`.
const BAN_MEMBERS: u64 = 1 << 2;
/// The `GUILD_MEMBERS` privileged intent, needed to list members over REST.
const GUILD_MEMBERS_INTENT: u64 = 1 << 1;
/// Longest `delete_message_seconds` (7 days).
const MAX_DELETE_SECONDS: u64 = 604_800;

/// The guild, if it exists (10004) and the bot is in it (50001).
pub(super) fn guild(world: &World, guild_id: u64) -> Result<&Guild, ApiError> {
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    if !guild.members.contains_key(&world.bot.id) {
        return Err(ApiError::missing_access());
    }
    Ok(guild)
}

/// Highest role position of a member (`@everyone` is 0).
pub(super) fn top_position(guild: &Guild, user_id: u64) -> i64 {
    let Some(member) = guild.members.get(&user_id) else {
        return 0;
    };
    guild
        .roles
        .iter()
        .filter(|r| member.roles.contains(&r.id))
        .map(|r| r.position)
        .max()
        .unwrap_or(0)
}

/// Discord's role hierarchy: nobody acts on the owner; otherwise the actor's highest role must
/// be above the target's.
pub(super) fn outranks(guild: &Guild, actor: u64, target: u64) -> bool {
    if target == guild.owner_id {
        return false;
    }
    actor == guild.owner_id || top_position(guild, actor) > top_position(guild, target)
}

pub(super) fn require(guild: &Guild, user_id: u64, permission: u64) -> Result<(), ApiError> {
    if guild.base_permissions(user_id) & permission == 0 {
        return Err(ApiError::missing_permissions());
    }
    Ok(())
}

pub(super) fn user_json(world: &World, user_id: u64) -> Value {
    world.users.get(&user_id).map_or_else(
        || json!({"id": user_id.to_string(), "username": "Deleted User", "discriminator": "0", "avatar": null}),
        crate::discord::world::User::to_json,
    )
}

/// `GET /guilds/{guild_id}[?with_counts=true]`.
pub(super) fn get_guild(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let world = ctx.shared.world();
    let guild = guild(&world, guild_id)?;
    let mut v = guild.to_json();
    if ctx.query_flag("with_counts") {
        v["approximate_member_count"] = json!(guild.members.len());
        v["approximate_presence_count"] = json!(0);
    }
    Ok(Reply::json(v))
}

/// `GET /guilds/{guild_id}/channels`.
pub(super) fn get_channels(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let world = ctx.shared.world();
    let guild = guild(&world, guild_id)?;
    let list: Vec<Value> = guild
        .channels
        .iter()
        .filter_map(|id| world.channels.get(id))
        .map(|c| c.to_json(&world.users))
        .collect();
    Ok(Reply::json(Value::Array(list)))
}

/// `GET /guilds/{guild_id}/roles`.
pub(super) fn get_roles(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let world = ctx.shared.world();
    let guild = guild(&world, guild_id)?;
    Ok(Reply::json(Value::Array(
        guild
            .roles
            .iter()
            .map(crate::discord::world::Role::to_json)
            .collect(),
    )))
}

/// `GET /guilds/{guild_id}/members/{user_id}`.
pub(super) fn get_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let world = ctx.shared.world();
    let guild = guild(&world, guild_id)?;
    let member = guild
        .members
        .get(&user_id)
        .ok_or_else(ApiError::unknown_member)?;
    let user = world
        .users
        .get(&user_id)
        .ok_or_else(ApiError::unknown_member)?;
    Ok(Reply::json(member.to_json(user)))
}

/// `GET /guilds/{guild_id}/members?limit=1..1000&after=`: needs the `GUILD_MEMBERS` intent
/// enabled for the application (50001 otherwise).
pub(super) fn get_members(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let limit = usize::try_from(ctx.query_int("limit", 1, 1000, 1)?).unwrap_or(1);
    let after = ctx.query_id("after")?.unwrap_or(0);
    if ctx.config.allowed_privileged_intents & GUILD_MEMBERS_INTENT == 0 {
        return Err(ApiError::missing_access());
    }
    let world = ctx.shared.world();
    let guild = guild(&world, guild_id)?;
    let list: Vec<Value> = guild
        .members
        .range(after.saturating_add(1)..)
        .take(limit)
        .filter_map(|(id, m)| world.users.get(id).map(|u| m.to_json(u)))
        .collect();
    Ok(Reply::json(Value::Array(list)))
}

/// `DELETE /guilds/{guild_id}/members/{user_id}` (kick): `KICK_MEMBERS` and the role hierarchy.
pub(super) fn remove_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, KICK_MEMBERS)?;
    if !g.members.contains_key(&user_id) {
        return Err(ApiError::unknown_member());
    }
    if !outranks(g, bot_id, user_id) {
        return Err(ApiError::missing_permissions());
    }
    let user = user_json(&world, user_id);
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.members.remove(&user_id);
        g.voice_states.remove(&user_id);
    }
    let payload = json!({"guild_id": guild_id.to_string(), "user": user});
    Ok(Reply::no_content().dispatch(Some(guild_id), "GUILD_MEMBER_REMOVE", payload))
}

/// Seconds of messages to delete from a ban body (`delete_message_seconds`, or the deprecated
/// `delete_message_days`).
fn delete_seconds(body: &Value) -> Result<u64, ApiError> {
    let mut errors = FormErrors::default();
    let mut seconds = 0;
    for (key, max, factor) in [
        ("delete_message_seconds", MAX_DELETE_SECONDS, 1),
        ("delete_message_days", 7, 86_400),
    ] {
        match &body[key] {
            Value::Null => {}
            Value::Number(n) => match n.as_u64() {
                Some(v) if v <= max => seconds = v * factor,
                Some(_) => errors.add(
                    &[key],
                    "NUMBER_TYPE_MAX",
                    &format!("int value should be less than or equal to {max}."),
                ),
                None => errors.add(
                    &[key],
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 0.",
                ),
            },
            other => errors.add(
                &[key],
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{other}\" is not int."),
            ),
        }
    }
    errors.check()?;
    Ok(seconds)
}

/// `PUT /guilds/{guild_id}/bans/{user_id}`: bans with the `X-Audit-Log-Reason`, removes the
/// member, deletes their recent messages; dispatches `MESSAGE_DELETE_BULK` per channel,
/// `GUILD_BAN_ADD` and `GUILD_MEMBER_REMOVE`.
pub(super) fn create_ban(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let seconds = delete_seconds(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, BAN_MEMBERS)?;
    if !world.users.contains_key(&user_id) {
        return Err(ApiError::unknown_user());
    }
    if user_id == g.owner_id || (g.members.contains_key(&user_id) && !outranks(g, bot_id, user_id))
    {
        return Err(ApiError::missing_permissions());
    }
    if g.bans.contains_key(&user_id) {
        return Ok(Reply::no_content());
    }
    let user = user_json(&world, user_id);
    let mut dispatches = Vec::new();
    if seconds > 0 {
        let since = unix_ms().saturating_sub(seconds * 1000);
        let mut by_channel: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for m in world.messages.values() {
            if m.guild_id == Some(guild_id) && m.author_id == user_id && m.timestamp_ms >= since {
                by_channel.entry(m.channel_id).or_default().push(m.id);
            }
        }
        for (channel_id, mut ids) in by_channel {
            ids.sort_unstable();
            for id in &ids {
                world.messages.remove(id);
            }
            dispatches.push(Dispatch {
                guild_id: Some(guild_id),
                event: "MESSAGE_DELETE_BULK",
                data: json!({
                    "ids": ids.iter().map(u64::to_string).collect::<Vec<_>>(),
                    "channel_id": channel_id.to_string(),
                    "guild_id": guild_id.to_string(),
                }),
            });
        }
    }
    let Some(g) = world.guilds.get_mut(&guild_id) else {
        return Err(ApiError::unknown_guild());
    };
    g.bans.insert(
        user_id,
        Ban {
            user_id,
            reason: ctx.reason.clone(),
        },
    );
    let was_member = g.members.remove(&user_id).is_some();
    g.voice_states.remove(&user_id);
    let payload = json!({"guild_id": guild_id.to_string(), "user": user});
    let mut reply = Reply::no_content().dispatches(dispatches).dispatch(
        Some(guild_id),
        "GUILD_BAN_ADD",
        payload.clone(),
    );
    if was_member {
        reply = reply.dispatch(Some(guild_id), "GUILD_MEMBER_REMOVE", payload);
    }
    Ok(reply)
}

/// `DELETE /guilds/{guild_id}/bans/{user_id}`.
pub(super) fn delete_ban(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, ctx.bot_id(), BAN_MEMBERS)?;
    if !g.bans.contains_key(&user_id) {
        return Err(ApiError::unknown_ban());
    }
    let user = user_json(&world, user_id);
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.bans.remove(&user_id);
    }
    let payload = json!({"guild_id": guild_id.to_string(), "user": user});
    Ok(Reply::no_content().dispatch(Some(guild_id), "GUILD_BAN_REMOVE", payload))
}

fn ban_json(world: &World, ban: &Ban) -> Value {
    json!({"reason": ban.reason, "user": user_json(world, ban.user_id)})
}

/// `GET /guilds/{guild_id}/bans?limit=1..1000&before=&after=`.
pub(super) fn get_bans(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let limit = usize::try_from(ctx.query_int("limit", 1, 1000, 1000)?).unwrap_or(1000);
    let before = ctx.query_id("before")?;
    let after = ctx.query_id("after")?;
    let world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, ctx.bot_id(), BAN_MEMBERS)?;
    let list: Vec<Value> = if let (Some(before), None) = (before, after) {
        let mut v: Vec<Value> = g
            .bans
            .range(..before)
            .rev()
            .take(limit)
            .map(|(_, b)| ban_json(&world, b))
            .collect();
        v.reverse();
        v
    } else {
        g.bans
            .range(after.map_or(0, |a| a.saturating_add(1))..)
            .take(limit)
            .map(|(_, b)| ban_json(&world, b))
            .collect()
    };
    Ok(Reply::json(Value::Array(list)))
}

/// `GET /guilds/{guild_id}/bans/{user_id}`.
pub(super) fn get_ban(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, ctx.bot_id(), BAN_MEMBERS)?;
    let ban = g.bans.get(&user_id).ok_or_else(ApiError::unknown_ban)?;
    Ok(Reply::json(ban_json(&world, ban)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_body_limits() {
        assert_eq!(delete_seconds(&Value::Null).expect("valid"), 0);
        assert_eq!(
            delete_seconds(&json!({"delete_message_seconds": 60})).expect("valid"),
            60
        );
        assert_eq!(
            delete_seconds(&json!({"delete_message_days": 1})).expect("valid"),
            86_400
        );
        let err =
            delete_seconds(&json!({"delete_message_seconds": 604_801})).expect_err("too long");
        assert_eq!(err.code, 50035);
    }
}
