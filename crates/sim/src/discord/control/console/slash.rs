//! Application commands typed at the console, as Discord's client offers them: `/slash` turns
//! a line such as `settings dj role=@DJ` into the options of the registered command (the
//! client knows each option's type from the registration, so typed values become integers,
//! booleans, user ids, …), `/menu` runs a context-menu command, and the list of registered
//! commands shows what the bot registered.
//!
//! The client refuses what Discord would never send (an unknown command or option, a missing
//! required option, a value of the wrong type or outside the registered choices and bounds);
//! so does the console, with a message naming the option.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ConsoleAnswer, candidates, default_place, invalid, typed_id};
use crate::discord::control::{
    ContextMenuKind, ContextMenuSpec, Control, ControlError, InteractionSpec, snowflake,
};
use crate::discord::world::World;

/// An application command typed at the console: for [`Control::slash`], the command as typed
/// after `/` (its name, its subcommand group and subcommand if it has them, then
/// `option=value` pairs: a value runs until the next ` name=`, so it may hold spaces; `@name`,
/// `@role` and `#channel` work for entity options); for [`Control::menu`], a context-menu
/// command's name, then, for a user command, the target (`@name` or an id; default: the user
/// running it) — a message command targets the newest message in the channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommandLine {
    /// What was typed.
    pub line: String,
    /// The channel; default: the first text channel of the guild with the lowest id.
    #[serde(default, with = "snowflake::opt")]
    pub channel_id: Option<u64>,
    /// The user; default: that guild's owner.
    #[serde(default, with = "snowflake::opt")]
    pub user_id: Option<u64>,
    /// How long to wait for the bot's answer, milliseconds (default 15000; 0: do not wait).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Option types of a chat-input command (Discord's `ApplicationCommandOptionType`).
const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;

/// Typed `name=value` pairs, in order.
type Pairs = Vec<(String, String)>;

/// `line` split into the leading words (command path) and the `name=value` pairs.
fn split_line(line: &str) -> Result<(Vec<&str>, Pairs), ControlError> {
    let mut path = Vec::new();
    let mut pairs: Pairs = Vec::new();
    for word in line.split_whitespace() {
        let pair = word.split_once('=').filter(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
        match (pair, pairs.last_mut()) {
            (Some((name, value)), _) => pairs.push((name.to_owned(), value.to_owned())),
            (None, Some((_, value))) => {
                value.push(' ');
                value.push_str(word);
            }
            (None, None) => path.push(word),
        }
    }
    if path.is_empty() {
        return Err(invalid("type the command's name (/commands lists them)"));
    }
    Ok((path, pairs))
}

/// The subcommands and subcommand groups among `options`.
fn subcommands(options: &[Value]) -> Vec<&Value> {
    options
        .iter()
        .filter(|o| matches!(o["type"].as_u64(), Some(SUB_COMMAND | SUB_COMMAND_GROUP)))
        .collect()
}

/// The names of `options` (for messages).
fn names(options: &[Value]) -> String {
    let names: Vec<&str> = options.iter().filter_map(|o| o["name"].as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// A typed value as the client sends it for `option` (its registered JSON), or why not.
fn typed_value(
    world: &World,
    guild_id: Option<u64>,
    option: &Value,
    raw: &str,
) -> Result<Value, String> {
    let kind = option["type"].as_u64().unwrap_or(3);
    if let Some(choices) = option["choices"].as_array().filter(|c| !c.is_empty()) {
        return choices
            .iter()
            .find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(raw))
                    || match &c["value"] {
                        Value::String(v) => v == raw,
                        v => *v == raw.parse::<Value>().unwrap_or(Value::Null),
                    }
            })
            .map(|c| c["value"].clone())
            .ok_or_else(|| format!("must be one of: {}", choice_names(choices)));
    }
    let value = match kind {
        3 => json!(raw),
        4 => json!(
            raw.parse::<i64>()
                .map_err(|_| "must be a whole number".to_owned())?
        ),
        10 => json!(
            raw.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| "must be a number".to_owned())?
        ),
        5 => match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" => json!(true),
            "false" | "no" => json!(false),
            _ => return Err("must be true or false".to_owned()),
        },
        6..=9 => json!(entity_id(world, guild_id, raw)?.to_string()),
        11 => return Err("attachments cannot be typed at the console".to_owned()),
        other => return Err(format!("has an unknown type {other}")),
    };
    check_bounds(option, &value)?;
    Ok(value)
}

fn choice_names(choices: &[Value]) -> String {
    choices
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The registered `min_value`/`max_value` and `min_length`/`max_length`, as the client
/// enforces them.
fn check_bounds(option: &Value, value: &Value) -> Result<(), String> {
    if let Some(n) = value.as_f64() {
        if let Some(min) = option["min_value"].as_f64().filter(|min| n < *min) {
            return Err(format!("must be at least {min}"));
        }
        if let Some(max) = option["max_value"].as_f64().filter(|max| n > *max) {
            return Err(format!("must be at most {max}"));
        }
    }
    if let Some(s) = value.as_str().filter(|_| option["type"] == 3) {
        let length = s.chars().count() as u64;
        if let Some(min) = option["min_length"].as_u64().filter(|min| length < *min) {
            return Err(format!("must be at least {min} characters long"));
        }
        if let Some(max) = option["max_length"].as_u64().filter(|max| length > *max) {
            return Err(format!("must be at most {max} characters long"));
        }
    }
    Ok(())
}

/// A user, role or channel typed as an id, a mention or `@name`/`#name`.
fn entity_id(world: &World, guild_id: Option<u64>, raw: &str) -> Result<u64, String> {
    let names = guild_id.map(|g| candidates(world, g)).unwrap_or_default();
    typed_id(raw, &names)
        .parse()
        .map_err(|_| format!("names nobody here: {raw} (/guild lists the names)"))
}

/// The options JSON for the leaf `options` of a command from the typed `pairs`.
fn leaf_options(
    world: &World,
    guild_id: Option<u64>,
    options: &[Value],
    pairs: &[(String, String)],
) -> Result<Vec<Value>, ControlError> {
    let mut out = Vec::new();
    for (name, raw) in pairs {
        let option = options
            .iter()
            .find(|o| o["name"] == name.as_str())
            .ok_or_else(|| invalid(format!("no option {name} (options: {})", names(options))))?;
        if out.iter().any(|o: &Value| o["name"] == name.as_str()) {
            return Err(invalid(format!("option {name} is given twice")));
        }
        let value = typed_value(world, guild_id, option, raw)
            .map_err(|problem| invalid(format!("option {name} {problem}")))?;
        out.push(json!({"name": name, "type": option["type"], "value": value}));
    }
    if let Some(missing) = options
        .iter()
        .find(|o| o["required"] == true && !out.iter().any(|given| given["name"] == o["name"]))
    {
        return Err(invalid(format!(
            "option {} is required",
            missing["name"].as_str().unwrap_or_default()
        )));
    }
    Ok(out)
}

/// `data.options` for the registered `command` from the typed path (after the command's name)
/// and pairs, nesting subcommand groups and subcommands as Discord does.
fn command_options(
    world: &World,
    guild_id: Option<u64>,
    command: &Value,
    path: &[&str],
    pairs: &[(String, String)],
) -> Result<Vec<Value>, ControlError> {
    let name = command["name"].as_str().unwrap_or_default();
    let options = command["options"].as_array().cloned().unwrap_or_default();
    let nested = subcommands(&options);
    if nested.is_empty() {
        if let Some(extra) = path.first() {
            return Err(invalid(format!(
                "/{name} has no subcommand {extra}: give options as name=value"
            )));
        }
        return leaf_options(world, guild_id, &options, pairs);
    }
    let Some((&first, rest)) = path.split_first() else {
        return Err(invalid(format!(
            "/{name} needs one of: {}",
            names(&options)
        )));
    };
    let sub = nested.iter().find(|o| o["name"] == first).ok_or_else(|| {
        invalid(format!(
            "/{name} has no {first} (it has: {})",
            names(&options)
        ))
    })?;
    let inner = command_options(world, guild_id, sub, rest, pairs)?;
    Ok(vec![
        json!({"name": first, "type": sub["type"], "options": inner}),
    ])
}

/// A one-line summary of a registered option, for the command list.
fn option_summary(option: &Value) -> String {
    let name = option["name"].as_str().unwrap_or_default();
    let kind = match option["type"].as_u64().unwrap_or(3) {
        3 => "text",
        4 => "integer",
        5 => "true/false",
        6 => "user",
        7 => "channel",
        8 => "role",
        9 => "user or role",
        10 => "number",
        11 => "attachment",
        _ => "?",
    };
    let mut kind = kind.to_owned();
    if let Some(choices) = option["choices"].as_array().filter(|c| !c.is_empty()) {
        kind = choice_names(choices).replace(", ", "|");
    }
    if option["required"] == true {
        format!("{name}=<{kind}>")
    } else {
        format!("[{name}=<{kind}>]")
    }
}

/// The lines of one command (one per subcommand) for the command list.
fn command_lines(prefix: &str, command: &Value, out: &mut String) {
    let name = command["name"].as_str().unwrap_or_default();
    let path = if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix} {name}")
    };
    let options = command["options"].as_array().cloned().unwrap_or_default();
    let subs = subcommands(&options);
    if subs.is_empty() {
        let mut line = format!("  /slash {path}");
        for option in &options {
            line.push(' ');
            line.push_str(&option_summary(option));
        }
        let description = command["description"].as_str().unwrap_or_default();
        let _ = writeln!(out, "{line} — {description}");
    } else {
        for sub in subs {
            command_lines(&path, sub, out);
        }
    }
}

impl Control {
    /// Runs the slash command `spec` types, then waits for the bot's answer.
    pub async fn slash(&self, spec: &CommandLine) -> Result<ConsoleAnswer, ControlError> {
        let (interaction, custom_id) = {
            let world = self.shared.world();
            let (channel_id, user_id) = default_place(&world, spec.channel_id, spec.user_id)?;
            let guild_id = world.channel_guild(channel_id);
            let (path, pairs) = split_line(&spec.line)?;
            let name = path[0];
            let (_, _, command) =
                Self::find_command(&world, name, 1, guild_id).ok_or_else(|| {
                    invalid(format!(
                        "the bot registered no slash command /{name} (/commands lists them)"
                    ))
                })?;
            let options = command_options(&world, guild_id, &command, &path[1..], &pairs)?;
            drop(world);
            let spec = InteractionSpec {
                guild_id,
                channel_id,
                user_id,
                name: name.to_owned(),
                options: Value::Array(options),
            };
            (spec, format!("/{}", path.join(" ")))
        };
        let since = self.shared.feed.next_seq();
        let created = self.create_interaction(&interaction)?;
        self.console_answer(created, since, None, custom_id, spec.timeout_ms)
            .await
    }

    /// Runs the context-menu command `spec` names, then waits for the bot's answer.
    pub async fn menu(&self, spec: &CommandLine) -> Result<ConsoleAnswer, ControlError> {
        let menu = {
            let world = self.shared.world();
            let (channel_id, user_id) = default_place(&world, spec.channel_id, spec.user_id)?;
            let guild_id = world.channel_guild(channel_id);
            let line = spec.line.trim();
            let registered = |name: &str, kind| Self::find_command(&world, name, kind, guild_id);
            let (name, kind, target_id) = if registered(line, 2).is_some() {
                (line, ContextMenuKind::User, user_id)
            } else if registered(line, 3).is_some() {
                let newest = world
                    .messages
                    .values()
                    .filter(|m| m.channel_id == channel_id)
                    .map(|m| m.id)
                    .max()
                    .ok_or_else(|| invalid("the channel has no message to run it on"))?;
                (line, ContextMenuKind::Message, newest)
            } else {
                let (name, target) = line
                    .rsplit_once(' ')
                    .filter(|(name, _)| registered(name, 2).is_some())
                    .ok_or_else(|| {
                        invalid(format!(
                            "the bot registered no context-menu command {line:?} (/commands lists them)"
                        ))
                    })?;
                let target = entity_id(&world, guild_id, target).map_err(invalid)?;
                (name, ContextMenuKind::User, target)
            };
            ContextMenuSpec {
                guild_id,
                channel_id,
                user_id,
                name: name.to_owned(),
                kind,
                target_id,
            }
        };
        let since = self.shared.feed.next_seq();
        let created = self.context_menu(&menu)?;
        let custom_id = menu.name.clone();
        self.console_answer(created, since, None, custom_id, spec.timeout_ms)
            .await
    }

    /// The application commands the bot registered (global and for the console's guild), as
    /// the console types them.
    pub fn commands_text(&self) -> Result<String, ControlError> {
        let world = self.shared.world();
        let (channel_id, _) = default_place(&world, None, None)?;
        let guild_id = world.channel_guild(channel_id);
        let mut chat = String::new();
        let mut menus = String::new();
        for command in world
            .commands
            .values()
            .filter(|c| c.guild_id.is_none() || c.guild_id == guild_id)
        {
            match command.json["type"].as_u64().unwrap_or(1) {
                1 => command_lines("", &command.json, &mut chat),
                kind => {
                    let name = command.json["name"].as_str().unwrap_or_default();
                    let on = if kind == 2 {
                        "@user"
                    } else {
                        "the newest message"
                    };
                    let _ = writeln!(menus, "  /menu {name} (on {on})");
                }
            }
        }
        if chat.is_empty() && menus.is_empty() {
            return Ok("The bot registered no application commands.".to_owned());
        }
        Ok(format!("{chat}{menus}").trim_end().to_owned())
    }

    /// Waits (see `timeout_ms`, default 15 s) for the answer to `interaction`.
    pub(super) async fn console_answer(
        &self,
        interaction: super::CreatedInteraction,
        since: u64,
        message_id: Option<u64>,
        custom_id: String,
        timeout_ms: Option<u64>,
    ) -> Result<ConsoleAnswer, ControlError> {
        let timeout = Duration::from_millis(timeout_ms.unwrap_or(15_000));
        let answer = if timeout.is_zero() {
            None
        } else {
            self.answer_to(interaction.id, since, timeout).await
        };
        Ok(ConsoleAnswer {
            interaction,
            message_id,
            custom_id,
            answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split_line;

    #[test]
    fn the_line_splits_into_the_path_and_pairs_whose_values_may_hold_spaces() {
        let (path, pairs) = split_line("settings prefix value=a b  c note=x=y").expect("parses");
        assert_eq!(path, ["settings", "prefix"]);
        assert_eq!(
            pairs,
            [
                ("value".to_owned(), "a b c".to_owned()),
                ("note".to_owned(), "x=y".to_owned())
            ]
        );
        assert!(split_line("  ").is_err(), "a command name is needed");
        let (path, pairs) = split_line("say text==).").expect("parses");
        assert_eq!(path, ["say"]);
        assert_eq!(pairs, [("text".to_owned(), "=).".to_owned())]);
    }
}
