//! Application commands: `/applications/{app}/commands` and the guild variants
//! `/applications/{app}/guilds/{gid}/commands`.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::error::{ApiError, FormErrors, Reply, bad_length_error, max_length_error};
use crate::discord::world::{AppCommand, World};

/// `CHAT_INPUT`.
const CHAT_INPUT: u64 = 1;
/// Most options (and choices) a command or option may have.
const MAX_OPTIONS: usize = 25;
/// Most commands per type in one scope (chat input; user/message commands allow 15).
const MAX_CHAT_INPUT: usize = 100;
const MAX_CONTEXT_MENU: usize = 15;

/// Which command list a request is about.
#[derive(Debug, Clone, Copy)]
struct Scope {
    guild_id: Option<u64>,
}

/// Checks the application id (50001 for another application) and the guild (10004).
fn scope(ctx: &Ctx<'_>, world: &World) -> Result<Scope, ApiError> {
    let app = ctx.id("application_id")?;
    if app != ctx.bot_id() {
        return Err(ApiError::missing_access());
    }
    let guild_id = if ctx.route.param("guild_id").is_some() {
        let guild_id = ctx.id("guild_id")?;
        if !world.guilds.contains_key(&guild_id) {
            return Err(ApiError::unknown_guild());
        }
        Some(guild_id)
    } else {
        None
    };
    Ok(Scope { guild_id })
}

/// Discord's name rule: `^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$`, lowercase where a
/// lowercase form exists.
fn valid_chat_input_name(name: &str) -> bool {
    name.chars()
        .all(|c| (c == '-' || c == '_' || c.is_alphanumeric()) && !c.is_uppercase())
}

fn check_name(errors: &mut FormErrors, path: &[&str], value: &Value, strict: bool) {
    let Some(name) = value.as_str() else {
        if value.is_null() {
            errors.add(path, "BASE_TYPE_REQUIRED", "This field is required");
        } else {
            errors.add(
                path,
                "BASE_TYPE_STRING",
                "Could not interpret value as string.",
            );
        }
        return;
    };
    let len = name.chars().count();
    if !(1..=32).contains(&len) {
        bad_length_error(errors, path, 1, 32);
    } else if strict && !valid_chat_input_name(name) {
        errors.add(
            path,
            "APPLICATION_COMMAND_INVALID_NAME",
            "Command name is invalid",
        );
    }
}

fn check_description(errors: &mut FormErrors, path: &[&str], value: &Value) {
    match value.as_str() {
        Some(d) if (1..=100).contains(&d.chars().count()) => {}
        Some(_) => bad_length_error(errors, path, 1, 100),
        None if value.is_null() => errors.add(path, "BASE_TYPE_REQUIRED", "This field is required"),
        None => errors.add(
            path,
            "BASE_TYPE_STRING",
            "Could not interpret value as string.",
        ),
    }
}

/// Validates `options` of a chat input command or of a subcommand (group), recursively.
fn check_options(errors: &mut FormErrors, options: &Value, depth: usize) {
    let Some(options) = options.as_array() else {
        if !options.is_null() {
            errors.add(
                &[],
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            );
        }
        return;
    };
    if options.len() > MAX_OPTIONS {
        max_length_error(errors, &[], MAX_OPTIONS);
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, option) in options.iter().enumerate() {
        let index = i.to_string();
        let mut sub = FormErrors::default();
        let kind = option["type"].as_u64().unwrap_or(0);
        if !(1..=11).contains(&kind) {
            sub.add(
                &["type"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.",
            );
        }
        check_name(&mut sub, &["name"], &option["name"], true);
        if let Some(name) = option["name"].as_str() {
            if seen.contains(&name) {
                sub.add(
                    &["name"],
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                );
            }
            seen.push(name);
        }
        check_description(&mut sub, &["description"], &option["description"]);
        if option["choices"]
            .as_array()
            .is_some_and(|c| c.len() > MAX_OPTIONS)
        {
            max_length_error(&mut sub, &["choices"], MAX_OPTIONS);
        }
        if (kind == 1 || kind == 2) && depth < 2 {
            let mut nested = FormErrors::default();
            check_options(&mut nested, &option["options"], depth + 1);
            sub.nest(&["options"], nested);
        }
        errors.nest(&[&index], sub);
    }
}

/// Validates a command body and returns its normalized stored JSON (without `id`, `version`).
fn normalize(body: &Value, scope: Scope, app_id: u64) -> Result<Value, FormErrors> {
    let mut errors = FormErrors::default();
    let Some(map) = body.as_object() else {
        errors.add(
            &[],
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return Err(errors);
    };
    let kind = match map.get("type") {
        None | Some(Value::Null) => CHAT_INPUT,
        Some(v) => {
            if let Some(k @ 1..=4) = v.as_u64() {
                k
            } else {
                errors.add(
                    &["type"],
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 2, 3, 4}.",
                );
                CHAT_INPUT
            }
        }
    };
    let null = Value::Null;
    let field = |key: &str| map.get(key).unwrap_or(&null);
    check_name(&mut errors, &["name"], field("name"), kind == CHAT_INPUT);
    let description = if kind == CHAT_INPUT {
        check_description(&mut errors, &["description"], field("description"));
        field("description").clone()
    } else {
        json!("")
    };
    if kind == CHAT_INPUT {
        let mut nested = FormErrors::default();
        check_options(&mut nested, field("options"), 0);
        errors.nest(&["options"], nested);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let permissions = match field("default_member_permissions") {
        Value::Number(n) => json!(n.to_string()),
        other => other.clone(),
    };
    let mut out = Map::new();
    out.insert("application_id".to_owned(), json!(app_id.to_string()));
    out.insert("type".to_owned(), json!(kind));
    out.insert("name".to_owned(), field("name").clone());
    out.insert(
        "name_localizations".to_owned(),
        field("name_localizations").clone(),
    );
    out.insert("description".to_owned(), description);
    out.insert(
        "description_localizations".to_owned(),
        field("description_localizations").clone(),
    );
    out.insert("default_member_permissions".to_owned(), permissions);
    out.insert(
        "nsfw".to_owned(),
        json!(field("nsfw").as_bool().unwrap_or(false)),
    );
    out.insert(
        "integration_types".to_owned(),
        if field("integration_types").is_array() {
            field("integration_types").clone()
        } else {
            json!([0])
        },
    );
    out.insert("contexts".to_owned(), field("contexts").clone());
    if kind == CHAT_INPUT {
        let options = if field("options").is_array() {
            field("options").clone()
        } else {
            json!([])
        };
        out.insert("options".to_owned(), options);
    }
    match scope.guild_id {
        Some(guild_id) => {
            out.insert("guild_id".to_owned(), json!(guild_id.to_string()));
        }
        None => {
            out.insert(
                "dm_permission".to_owned(),
                json!(field("dm_permission").as_bool().unwrap_or(true)),
            );
        }
    }
    Ok(Value::Object(out))
}

fn name_key(json: &Value) -> (u64, String) {
    (
        json["type"].as_u64().unwrap_or(CHAT_INPUT),
        json["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Stores `draft` in `scope` as the command `id` at `version` (replacing one with that id) and
/// returns its JSON, `id` and `version` set.
fn store(world: &mut World, scope: Scope, mut draft: Value, id: u64, version: u64) -> Value {
    draft["id"] = json!(id.to_string());
    draft["version"] = json!(version.to_string());
    world.commands.insert(
        id,
        AppCommand {
            id,
            guild_id: scope.guild_id,
            json: draft.clone(),
        },
    );
    draft
}

/// Everything but `id` and `version`, to tell whether an overwrite changed a command.
fn content(json: &Value) -> Value {
    let mut v = json.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("id");
        map.remove("version");
    }
    v
}

fn in_scope(command: &AppCommand, scope: Scope) -> bool {
    command.guild_id == scope.guild_id
}

/// `GET .../commands`.
pub(super) fn get_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let list: Vec<Value> = world
        .commands
        .values()
        .filter(|c| in_scope(c, scope))
        .map(|c| c.json.clone())
        .collect();
    Ok(Reply::json(Value::Array(list)))
}

/// `PUT .../commands`: bulk overwrite. Commands keep their id when a command of the same name
/// and type existed; the others are deleted.
pub(super) fn set_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let Some(items) = ctx.body().as_array() else {
        return Err(ApiError::form(
            &[],
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType",
        ));
    };
    let mut errors = FormErrors::default();
    let mut drafts = Vec::new();
    let mut seen: Vec<(u64, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let index = i.to_string();
        match normalize(item, scope, ctx.bot_id()) {
            Ok(json) => {
                let key = name_key(&json);
                if seen.contains(&key) {
                    errors.add(
                        &[&index, "name"],
                        "APPLICATION_COMMANDS_DUPLICATE_NAME",
                        "Application command names must be unique",
                    );
                }
                seen.push(key);
                drafts.push(json);
            }
            Err(e) => errors.nest(&[&index], e),
        }
    }
    let chat_inputs = seen.iter().filter(|(k, _)| *k == CHAT_INPUT).count();
    let per_menu = |kind: u64| seen.iter().filter(|(k, _)| *k == kind).count();
    if chat_inputs > MAX_CHAT_INPUT
        || per_menu(2) > MAX_CONTEXT_MENU
        || per_menu(3) > MAX_CONTEXT_MENU
    {
        errors.add(
            &[],
            "APPLICATION_COMMANDS_TOO_MANY",
            "Maximum number of application commands reached",
        );
    }
    errors.check()?;
    let existing: Vec<AppCommand> = world
        .commands
        .values()
        .filter(|c| in_scope(c, scope))
        .cloned()
        .collect();
    for command in &existing {
        world.commands.remove(&command.id);
    }
    let mut out = Vec::new();
    for draft in drafts {
        let old = existing
            .iter()
            .find(|c| name_key(&c.json) == name_key(&draft));
        let (id, version) = match old {
            Some(c) if content(&c.json) == draft => (
                c.id,
                c.json["version"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(c.id),
            ),
            Some(c) => (c.id, ctx.shared.ids.next()),
            None => {
                let id = ctx.shared.ids.next();
                (id, id)
            }
        };
        let json = store(&mut world, scope, draft, id, version);
        out.push(json);
    }
    Ok(Reply::json(Value::Array(out)))
}

/// `POST .../commands`: creates a command (201), or overwrites the one with the same name and
/// type (200).
pub(super) fn create_command(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let draft = normalize(ctx.body(), scope, ctx.bot_id()).map_err(FormErrors::into_error)?;
    let existing = world
        .commands
        .values()
        .find(|c| in_scope(c, scope) && name_key(&c.json) == name_key(&draft))
        .map(|c| c.id);
    let version = ctx.shared.ids.next();
    let id = existing.unwrap_or(version);
    let json = store(&mut world, scope, draft, id, version);
    Ok(if existing.is_some() {
        Reply::json(json)
    } else {
        Reply::created(json)
    })
}

fn find(world: &World, scope: Scope, command_id: u64) -> Result<&AppCommand, ApiError> {
    world
        .commands
        .get(&command_id)
        .filter(|c| in_scope(c, scope))
        .ok_or_else(ApiError::unknown_command)
}

/// `GET .../commands/{command_id}`.
pub(super) fn get_command(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let command_id = ctx.id("command_id")?;
    Ok(Reply::json(find(&world, scope, command_id)?.json.clone()))
}

/// `PATCH .../commands/{command_id}`: the given fields replace the stored ones (the type
/// cannot change).
pub(super) fn update_command(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let command_id = ctx.id("command_id")?;
    let current = find(&world, scope, command_id)?.json.clone();
    let Some(patch) = ctx.body().as_object() else {
        return Err(ApiError::form(
            &[],
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        ));
    };
    let mut merged = current.clone();
    for (key, value) in patch {
        if key != "type" && key != "id" && key != "application_id" && key != "version" {
            merged[key.as_str()] = value.clone();
        }
    }
    let draft = normalize(&merged, scope, ctx.bot_id()).map_err(FormErrors::into_error)?;
    let clash = world
        .commands
        .values()
        .any(|c| c.id != command_id && in_scope(c, scope) && name_key(&c.json) == name_key(&draft));
    if clash {
        return Err(ApiError::form(
            &["name"],
            "APPLICATION_COMMANDS_DUPLICATE_NAME",
            "Application command names must be unique",
        ));
    }
    let json = store(&mut world, scope, draft, command_id, ctx.shared.ids.next());
    Ok(Reply::json(json))
}

/// `DELETE .../commands/{command_id}`.
pub(super) fn delete_command(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut world = ctx.shared.world();
    let scope = scope(ctx, &world)?;
    let command_id = ctx.id("command_id")?;
    find(&world, scope, command_id)?;
    world.commands.remove(&command_id);
    Ok(Reply::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_discord_rules() {
        assert!(valid_chat_input_name("play"));
        assert!(valid_chat_input_name("skip-to_2"));
        assert!(valid_chat_input_name("ß"));
        assert!(!valid_chat_input_name("Play"));
        assert!(!valid_chat_input_name("two words"));
    }

    #[test]
    fn normalize_reports_nested_errors() {
        let scope = Scope { guild_id: None };
        let body = json!({"name": "x", "description": "", "options": [{"type": 3, "name": "Bad", "description": "d"}]});
        let errors = normalize(&body, scope, 1).expect_err("invalid");
        let body = errors.into_error().body();
        assert_eq!(
            body["errors"]["description"]["_errors"][0]["code"],
            "BASE_TYPE_BAD_LENGTH"
        );
        assert_eq!(
            body["errors"]["options"]["0"]["name"]["_errors"][0]["code"],
            "APPLICATION_COMMAND_INVALID_NAME"
        );
        let ok =
            normalize(&json!({"name": "Ban User", "type": 2}), scope, 1).expect("context menu");
        assert_eq!(ok["description"], "");
    }
}
