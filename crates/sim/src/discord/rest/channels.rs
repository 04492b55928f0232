//! `PATCH/DELETE /channels/{id}` and `PUT/DELETE /channels/{id}/permissions/{oid}`: renaming,
//! moving and deleting guild channels and editing their permission overwrites.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, FormErrors, Reply, bad_length_error};
use super::messages::visible_channel;
use super::roles::MANAGE_ROLES;
use crate::discord::world::{Channel, Overwrite, PERM_ADMINISTRATOR, World};

/// `MANAGE_CHANNELS`.
const MANAGE_CHANNELS: u64 = 1 << 4;

/// A guild channel the bot can see, with its permissions there: 10003, 50001, and 50003 for a
/// DM (the simulator has no group DMs to edit).
fn guild_channel(world: &World, bot_id: u64, channel_id: u64) -> Result<(u64, u64), ApiError> {
    let perms = visible_channel(world, bot_id, channel_id)?;
    let guild_id = world
        .channel_guild(channel_id)
        .ok_or_else(ApiError::dm_action)?;
    Ok((guild_id, perms))
}

fn require(perms: u64, permission: u64) -> Result<(), ApiError> {
    if perms & permission == 0 {
        return Err(ApiError::missing_permissions());
    }
    Ok(())
}

/// `CHANNEL_UPDATE` with the channel as stored now.
fn updated(world: &World, channel_id: u64) -> Result<(Value, Option<u64>), ApiError> {
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    Ok((channel.to_json(&world.users), channel.guild_id))
}

/// Validates `name` (1–100 characters) and `position` of a channel edit.
fn apply_fields(body: &Value, channel: &mut Channel) -> Result<(), ApiError> {
    let mut errors = FormErrors::default();
    let name = match &body["name"] {
        Value::Null => None,
        Value::String(s) if (1..=100).contains(&s.chars().count()) => Some(s.clone()),
        _ => {
            bad_length_error(&mut errors, &["name"], 1, 100);
            None
        }
    };
    let position = match &body["position"] {
        Value::Null => None,
        value => {
            let parsed = value.as_i64();
            if parsed.is_none() {
                errors.add(
                    &["position"],
                    "NUMBER_TYPE_COERCE",
                    &format!("Value \"{value}\" is not int."),
                );
            }
            parsed
        }
    };
    errors.check()?;
    if let Some(name) = name {
        channel.name = Some(name);
    }
    if let Some(position) = position {
        channel.position = position;
    }
    Ok(())
}

/// `PATCH /channels/{channel_id}`: `MANAGE_CHANNELS`; 200 with the channel, `CHANNEL_UPDATE`.
pub(super) fn update_channel(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let mut world = ctx.shared.world();
    let (_, perms) = guild_channel(&world, ctx.bot_id(), channel_id)?;
    require(perms, MANAGE_CHANNELS)?;
    let mut channel = world
        .channels
        .get(&channel_id)
        .cloned()
        .ok_or_else(ApiError::unknown_channel)?;
    apply_fields(ctx.body(), &mut channel)?;
    world.channels.insert(channel_id, channel);
    let (body, guild_id) = updated(&world, channel_id)?;
    Ok(Reply::json(body.clone()).dispatch(guild_id, "CHANNEL_UPDATE", body))
}

/// `DELETE /channels/{channel_id}`: `MANAGE_CHANNELS`; **200 with the deleted channel** (not
/// 204), `CHANNEL_DELETE`; its messages go with it.
pub(super) fn delete_channel(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let mut world = ctx.shared.world();
    let (guild_id, perms) = guild_channel(&world, ctx.bot_id(), channel_id)?;
    require(perms, MANAGE_CHANNELS)?;
    let (body, _) = updated(&world, channel_id)?;
    world.channels.remove(&channel_id);
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.channels.retain(|c| *c != channel_id);
    }
    let gone: Vec<u64> = world
        .messages
        .values()
        .filter(|m| m.channel_id == channel_id)
        .map(|m| m.id)
        .collect();
    for id in gone {
        world.messages.remove(&id);
        world.reactions.remove(&id);
    }
    Ok(Reply::json(body.clone()).dispatch(Some(guild_id), "CHANNEL_DELETE", body))
}

/// `PUT /channels/{channel_id}/permissions/{overwrite_id}` `{type, allow, deny}`: 204 and
/// `CHANNEL_UPDATE`. Needs `MANAGE_ROLES`, and the bot may only allow or deny permissions it
/// has itself in the channel (50013), unless it is an administrator.
pub(super) fn put_overwrite(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let overwrite_id = ctx.id("overwrite_id")?;
    let body = ctx.body();
    let mut errors = FormErrors::default();
    let kind = body["type"]
        .as_u64()
        .filter(|k| *k <= 1)
        .and_then(|k| u8::try_from(k).ok());
    if kind.is_none() {
        errors.add(
            &["type"],
            "BASE_TYPE_CHOICES",
            "Value must be one of (0, 1).",
        );
    }
    let mut bits = [0_u64; 2];
    for (slot, key) in bits.iter_mut().zip(["allow", "deny"]) {
        match &body[key] {
            Value::Null => {}
            value => match crate::util::snowflake(value) {
                Some(v) => *slot = v,
                None => errors.add(
                    &[key],
                    "NUMBER_TYPE_COERCE",
                    &format!("Value \"{value}\" is not int."),
                ),
            },
        }
    }
    errors.check()?;
    let kind = kind.unwrap_or(0);
    let [allow, deny] = bits;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let (_, perms) = guild_channel(&world, bot_id, channel_id)?;
    require(perms, MANAGE_ROLES)?;
    if perms & PERM_ADMINISTRATOR == 0 && (allow | deny) & !perms != 0 {
        return Err(ApiError::missing_permissions());
    }
    let Some(channel) = world.channels.get_mut(&channel_id) else {
        return Err(ApiError::unknown_channel());
    };
    channel.overwrites.retain(|o| o.id != overwrite_id);
    channel.overwrites.push(Overwrite {
        id: overwrite_id,
        kind,
        allow,
        deny,
    });
    let (body, guild_id) = updated(&world, channel_id)?;
    Ok(Reply::no_content().dispatch(guild_id, "CHANNEL_UPDATE", body))
}

/// `DELETE /channels/{channel_id}/permissions/{overwrite_id}`: 204 (also when there was none;
/// `CHANNEL_UPDATE` only when one went). Needs `MANAGE_ROLES`.
pub(super) fn delete_overwrite(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let overwrite_id = ctx.id("overwrite_id")?;
    let mut world = ctx.shared.world();
    let (_, perms) = guild_channel(&world, ctx.bot_id(), channel_id)?;
    require(perms, MANAGE_ROLES)?;
    let Some(channel) = world.channels.get_mut(&channel_id) else {
        return Err(ApiError::unknown_channel());
    };
    let before = channel.overwrites.len();
    channel.overwrites.retain(|o| o.id != overwrite_id);
    if channel.overwrites.len() == before {
        return Ok(Reply::no_content());
    }
    let (body, guild_id) = updated(&world, channel_id)?;
    Ok(Reply::no_content().dispatch(guild_id, "CHANNEL_UPDATE", json!(body)))
}
