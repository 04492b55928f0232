//! `/guilds/{id}/roles[/{rid}]` (create, modify, delete) and
//! `/guilds/{id}/members/{uid}/roles/{rid}` (add, remove a member's role). All need
//! `MANAGE_ROLES` and respect the hierarchy: the bot acts only on roles below its highest one.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, FormErrors, Reply, max_length_error};
use super::guilds::{guild, require, top_position};
use crate::discord::world::{Guild, Role, World};

/// `MANAGE_ROLES`.
pub(super) const MANAGE_ROLES: u64 = 1 << 28;
/// Longest role name.
const MAX_ROLE_NAME: usize = 100;

/// Whether `actor` may manage `role`: the owner may; others need a higher top role.
fn can_manage(guild: &Guild, actor: u64, role: &Role) -> bool {
    actor == guild.owner_id || top_position(guild, actor) > role.position
}

/// The role, if it exists in the guild (10011).
fn role(guild: &Guild, role_id: u64) -> Result<&Role, ApiError> {
    guild
        .roles
        .iter()
        .find(|r| r.id == role_id)
        .ok_or_else(ApiError::unknown_role)
}

/// `GUILD_MEMBER_UPDATE` for a member as stored now.
pub(super) fn member_update(world: &World, guild_id: u64, user_id: u64) -> Option<Value> {
    let member = world.guilds.get(&guild_id)?.members.get(&user_id)?;
    let mut payload = member.to_json(world.users.get(&user_id)?);
    payload["guild_id"] = json!(guild_id.to_string());
    Some(payload)
}

/// The editable fields of a role body (`name`, `permissions`, `color`), validated.
struct RoleFields {
    name: Option<String>,
    permissions: Option<u64>,
    color: Option<u32>,
}

impl RoleFields {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut errors = FormErrors::default();
        let name = match &body["name"] {
            Value::Null => None,
            Value::String(s) if s.chars().count() > MAX_ROLE_NAME => {
                max_length_error(&mut errors, &["name"], MAX_ROLE_NAME);
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                errors.add(&["name"], "BASE_TYPE_STRING", "Must be a string.");
                None
            }
        };
        let permissions = match &body["permissions"] {
            Value::Null => None,
            value => {
                let parsed = crate::util::snowflake(value);
                if parsed.is_none() {
                    errors.add(
                        &["permissions"],
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{value}\" is not int."),
                    );
                }
                parsed
            }
        };
        let color = match &body["color"] {
            Value::Null => None,
            value => {
                let parsed = value.as_u64().and_then(|c| u32::try_from(c).ok());
                if parsed.is_none_or(|c| c > 0x00ff_ffff) {
                    errors.add(
                        &["color"],
                        "NUMBER_TYPE_MAX",
                        "int value should be less than or equal to 16777215.",
                    );
                }
                parsed
            }
        };
        errors.check()?;
        Ok(Self {
            name,
            permissions,
            color,
        })
    }

    /// 50013 if the bot would grant permissions it does not have itself.
    fn check_grant(&self, guild: &Guild, bot_id: u64) -> Result<(), ApiError> {
        let own = guild.base_permissions(bot_id);
        if self.permissions.is_some_and(|p| p & !own != 0) {
            return Err(ApiError::missing_permissions());
        }
        Ok(())
    }
}

/// `POST /guilds/{guild_id}/roles`: 200 with the role, created at position 1 (just above
/// `@everyone`; the roles above move up), as Discord does.
pub(super) fn create_role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let fields = RoleFields::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let id = ctx.shared.ids.next();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, MANAGE_ROLES)?;
    fields.check_grant(g, bot_id)?;
    let Some(g) = world.guilds.get_mut(&guild_id) else {
        return Err(ApiError::unknown_guild());
    };
    for role in g.roles.iter_mut().filter(|r| r.position >= 1) {
        role.position += 1;
    }
    let role = Role {
        id,
        name: fields.name.unwrap_or_else(|| "new role".to_owned()),
        permissions: fields.permissions.unwrap_or(0),
        position: 1,
        color: fields.color.unwrap_or(0),
    };
    let body = role.to_json();
    g.roles.push(role);
    g.roles.sort_by_key(|r| r.position);
    let payload = json!({"guild_id": guild_id.to_string(), "role": body});
    Ok(Reply::json(body).dispatch(Some(guild_id), "GUILD_ROLE_CREATE", payload))
}

/// `PATCH /guilds/{guild_id}/roles/{role_id}`: 200 with the role.
pub(super) fn update_role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let role_id = ctx.id("role_id")?;
    let fields = RoleFields::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, MANAGE_ROLES)?;
    if !can_manage(g, bot_id, role(g, role_id)?) {
        return Err(ApiError::missing_permissions());
    }
    fields.check_grant(g, bot_id)?;
    let Some(role) = world
        .guilds
        .get_mut(&guild_id)
        .and_then(|g| g.roles.iter_mut().find(|r| r.id == role_id))
    else {
        return Err(ApiError::unknown_role());
    };
    if let Some(name) = fields.name {
        role.name = name;
    }
    if let Some(permissions) = fields.permissions {
        role.permissions = permissions;
    }
    if let Some(color) = fields.color {
        role.color = color;
    }
    let body = role.to_json();
    let payload = json!({"guild_id": guild_id.to_string(), "role": body});
    Ok(Reply::json(body).dispatch(Some(guild_id), "GUILD_ROLE_UPDATE", payload))
}

/// `DELETE /guilds/{guild_id}/roles/{role_id}`: 204; `@everyone` cannot go (50028 Invalid
/// Role). Members lose the role without a `GUILD_MEMBER_UPDATE` each, as on Discord.
pub(super) fn delete_role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let role_id = ctx.id("role_id")?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, MANAGE_ROLES)?;
    if role_id == guild_id {
        return Err(ApiError::invalid_role());
    }
    if !can_manage(g, bot_id, role(g, role_id)?) {
        return Err(ApiError::missing_permissions());
    }
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.roles.retain(|r| r.id != role_id);
        for member in g.members.values_mut() {
            member.roles.retain(|r| *r != role_id);
        }
    }
    let payload = json!({"guild_id": guild_id.to_string(), "role_id": role_id.to_string()});
    Ok(Reply::no_content().dispatch(Some(guild_id), "GUILD_ROLE_DELETE", payload))
}

/// `PUT` (`add`) or `DELETE` `/guilds/{guild_id}/members/{user_id}/roles/{role_id}`: 204 and a
/// `GUILD_MEMBER_UPDATE` when the member's roles changed. 10007 / 10011 for an unknown member
/// or role, 50013 without `MANAGE_ROLES` or for a role at or above the bot's highest.
fn change_member_role(ctx: &Ctx<'_>, add: bool) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let role_id = ctx.id("role_id")?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    require(g, bot_id, MANAGE_ROLES)?;
    if !g.members.contains_key(&user_id) {
        return Err(ApiError::unknown_member());
    }
    let target = role(g, role_id)?;
    if role_id == guild_id || !can_manage(g, bot_id, target) {
        return Err(ApiError::missing_permissions());
    }
    let Some(member) = world
        .guilds
        .get_mut(&guild_id)
        .and_then(|g| g.members.get_mut(&user_id))
    else {
        return Err(ApiError::unknown_member());
    };
    let had = member.roles.contains(&role_id);
    if had == add {
        return Ok(Reply::no_content());
    }
    if add {
        member.roles.push(role_id);
    } else {
        member.roles.retain(|r| *r != role_id);
    }
    let reply = Reply::no_content();
    Ok(match member_update(&world, guild_id, user_id) {
        Some(payload) => reply.dispatch(Some(guild_id), "GUILD_MEMBER_UPDATE", payload),
        None => reply,
    })
}

/// `PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}`.
pub(super) fn add_member_role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    change_member_role(ctx, true)
}

/// `DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}`.
pub(super) fn remove_member_role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    change_member_role(ctx, false)
}
