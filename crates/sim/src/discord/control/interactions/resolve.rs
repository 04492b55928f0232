//! Resolved data (`data.resolved`) of interactions, and what Discord's client checks before it
//! sends a select menu choice or a modal.

use serde_json::{Map, Value, json};

use super::{ComponentSpec, invalid};
use crate::discord::control::ControlError;
use crate::discord::rest::components::{
    CHANNEL_SELECT, MENTIONABLE_SELECT, ROLE_SELECT, STRING_SELECT, USER_SELECT,
};
use crate::discord::world::World;

/// The member JSON of `user_id` in `guild_id` as resolved data carries it: without `user`, with
/// the member's `permissions` in `channel_id`.
pub(super) fn resolved_member(
    world: &World,
    guild_id: u64,
    user_id: u64,
    channel_id: u64,
) -> Option<Value> {
    let member = world.guilds.get(&guild_id)?.members.get(&user_id)?;
    let mut json = member.to_json_without_user();
    json["permissions"] = json!(world.channel_permissions(user_id, channel_id).to_string());
    Some(json)
}

/// The partial channel of resolved data.
pub(super) fn resolved_channel(world: &World, channel_id: u64, viewer: u64) -> Option<Value> {
    let channel = world.channels.get(&channel_id)?;
    let mut json = json!({
        "id": channel_id.to_string(),
        "type": channel.kind.code(),
        "name": channel.name.clone().unwrap_or_default(),
        "permissions": world.channel_permissions(viewer, channel_id).to_string(),
    });
    if let Some(parent) = channel.parent_id {
        json["parent_id"] = json!(parent.to_string());
    }
    Some(json)
}

/// Adds `kind`'s entry for `id` to `resolved` (`users` + `members`, `roles`, `channels`);
/// `false` if there is no such entity where the user is.
pub(super) fn resolve(
    world: &World,
    resolved: &mut Map<String, Value>,
    kind: &str,
    id: u64,
    guild_id: Option<u64>,
    channel_id: u64,
    user_id: u64,
) -> bool {
    let mut put = |key: &str, value: Value| {
        resolved
            .entry(key)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(id.to_string(), value));
    };
    match kind {
        "user" => {
            let Some(user) = world.users.get(&id) else {
                return false;
            };
            put("users", user.to_json());
            if let Some(member) = guild_id.and_then(|g| resolved_member(world, g, id, channel_id)) {
                put("members", member);
            }
            true
        }
        "role" => {
            let role = guild_id
                .and_then(|g| world.guilds.get(&g))
                .and_then(|g| g.roles.iter().find(|r| r.id == id));
            role.map(|role| put("roles", role.to_json())).is_some()
        }
        "channel" => {
            let visible = world
                .channels
                .get(&id)
                .is_some_and(|c| c.guild_id == guild_id || c.guild_id.is_none());
            visible
                && resolved_channel(world, id, user_id)
                    .map(|c| put("channels", c))
                    .is_some()
        }
        _ => false,
    }
}

/// What Discord's client enforces before it submits a text input.
pub(super) fn check_input(input: &Value, custom_id: &str, value: &str) -> Result<(), ControlError> {
    let len = u64::try_from(value.chars().count()).unwrap_or(u64::MAX);
    let required = input["required"].as_bool().unwrap_or(true);
    if value.is_empty() {
        return if required {
            Err(invalid(format!("text input {custom_id:?} is required")))
        } else {
            Ok(())
        };
    }
    let min = input["min_length"].as_u64().unwrap_or(0);
    let max = input["max_length"].as_u64().unwrap_or(4000);
    if len < min || len > max {
        return Err(invalid(format!(
            "text input {custom_id:?} takes {min} to {max} characters, got {len}"
        )));
    }
    Ok(())
}

/// Checks the chosen values against the select menu and resolves the entities they name.
pub(super) fn select_values(
    world: &World,
    select: &Value,
    kind: u64,
    spec: &ComponentSpec,
    guild_id: Option<u64>,
    channel_id: u64,
) -> Result<Map<String, Value>, ControlError> {
    let min = select["min_values"].as_u64().unwrap_or(1);
    let max = select["max_values"].as_u64().unwrap_or(1);
    let count = u64::try_from(spec.values.len()).unwrap_or(u64::MAX);
    if count < min || count > max {
        return Err(invalid(format!(
            "select {:?} takes {min} to {max} values, got {count}",
            spec.custom_id
        )));
    }
    let mut unique = spec.values.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != spec.values.len() {
        return Err(invalid("a value can be chosen once"));
    }
    let mut resolved = Map::new();
    for value in &spec.values {
        let ok = if kind == STRING_SELECT {
            select["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["value"] == value.as_str()))
        } else {
            let id = value
                .parse::<u64>()
                .map_err(|_| invalid(format!("{value:?} is not an id")))?;
            let kinds: &[&str] = match kind {
                USER_SELECT => &["user"],
                ROLE_SELECT => &["role"],
                MENTIONABLE_SELECT => &["user", "role"],
                _ => &["channel"],
            };
            let allowed_type = kind != CHANNEL_SELECT
                || select["channel_types"].as_array().is_none_or(|types| {
                    world.channels.get(&id).is_some_and(|c| {
                        types
                            .iter()
                            .any(|t| t.as_u64() == Some(u64::from(c.kind.code())))
                    })
                });
            allowed_type
                && kinds.iter().any(|k| {
                    resolve(
                        world,
                        &mut resolved,
                        k,
                        id,
                        guild_id,
                        channel_id,
                        spec.user_id,
                    )
                })
        };
        if !ok {
            return Err(invalid(format!(
                "{value:?} is not a choice of select {:?}",
                spec.custom_id
            )));
        }
    }
    Ok(resolved)
}
