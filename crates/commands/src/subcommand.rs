//! Which subcommand an invocation names — from the words after a prefix command
//! (`!settings modlog set #log`) or from the nested options of a slash command (types 2 and 1)
//! — and the check of the bot's own permissions before a command runs.

use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::guild::Permissions;

use crate::precondition::{InvocationContext, permission_names};
use crate::spec::CommandSpec;

/// The subcommand an invocation names, below its top-level command.
#[derive(Debug)]
pub struct Resolved<'a, T: ?Sized> {
    /// The subcommands from the top-level command's child down to the invoked one (empty
    /// when the command itself is invoked).
    pub chain: Vec<&'a CommandSpec>,
    /// What is left for the arguments: the rest of the line or the subcommand's options.
    pub rest: &'a T,
}

impl<T: ?Sized> Resolved<'_, T> {
    /// The invoked names below the command (`["modlog", "set"]`).
    pub fn path(&self) -> Vec<String> {
        self.chain.iter().map(|spec| spec.name.clone()).collect()
    }

    /// The spec the arguments are parsed with: the invoked subcommand, named by its full
    /// path (`settings modlog set`) for usage lines; the command itself without a chain.
    pub fn spec(&self, top: &CommandSpec) -> CommandSpec {
        match self.chain.last() {
            None => top.clone(),
            Some(leaf) => {
                let mut spec = (*leaf).clone();
                let names: Vec<&str> = std::iter::once(top.name.as_str())
                    .chain(self.chain.iter().map(|s| s.name.as_str()))
                    .collect();
                spec.name = names.join(" ");
                spec
            }
        }
    }

    /// The bot permissions the command and the chain require together.
    pub fn bot_permissions(&self, top: &CommandSpec) -> Permissions {
        self.chain
            .iter()
            .fold(top.bot_permissions, |all, spec| all | spec.bot_permissions)
    }
}

/// "Use one of …" for a command or group invoked without (a known) subcommand.
fn choose(prefix: &str, path: &str, spec: &CommandSpec, given: Option<&str>) -> String {
    let names: Vec<String> = spec
        .subcommands
        .iter()
        .map(|s| format!("`{prefix}{path} {}`", s.name))
        .collect();
    let start = given.map_or_else(String::new, |word| {
        let word: String = word.chars().take(32).collect();
        format!("There is no `{}` here. ", word.replace('`', "'"))
    });
    format!("{start}Use one of: {}.", names.join(", "))
}

/// The subcommand named by the words at the start of `rest`. A top-level command whose
/// words name no subcommand runs itself (an empty chain: its prefix-only overview), unless a
/// word was given that is not a subcommand; a group always needs one of its subcommands.
pub fn resolve_prefix<'a>(
    top: &'a CommandSpec,
    prefix: &str,
    rest: &'a str,
) -> Result<Resolved<'a, str>, String> {
    let mut resolved = Resolved {
        chain: Vec::new(),
        rest,
    };
    let mut path = top.name.clone();
    let mut current = top;
    while !current.subcommands.is_empty() {
        let trimmed = resolved.rest.trim_start();
        let word = trimmed.split_whitespace().next();
        match word.and_then(|w| current.subcommand(w)) {
            Some(sub) => {
                resolved.chain.push(sub);
                resolved.rest = &trimmed[word.map_or(0, str::len)..];
                path = format!("{path} {}", sub.name);
                current = sub;
            }
            None if word.is_none() && resolved.chain.is_empty() => break,
            None => return Err(choose(prefix, &path, current, word)),
        }
    }
    Ok(resolved)
}

/// The subcommand named by a slash command's nested options (a group of type 2 holding a
/// subcommand of type 1, or a subcommand alone), with the subcommand's own options.
pub fn resolve_slash<'a>(
    top: &'a CommandSpec,
    options: &'a [CommandDataOption],
) -> Result<Resolved<'a, [CommandDataOption]>, String> {
    let mut resolved = Resolved {
        chain: Vec::new(),
        rest: options,
    };
    let mut path = top.name.clone();
    let mut current = top;
    while !current.subcommands.is_empty() {
        let nested = resolved.rest.iter().find_map(|option| match &option.value {
            CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
                Some((option.name.as_str(), inner.as_slice()))
            }
            _ => None,
        });
        let Some((name, inner)) = nested else {
            return Err(choose("/", &path, current, None));
        };
        let Some(sub) = current.subcommands.iter().find(|s| s.name == name) else {
            return Err(choose("/", &path, current, Some(name)));
        };
        resolved.chain.push(sub);
        resolved.rest = inner;
        path = format!("{path} {}", sub.name);
        current = sub;
    }
    Ok(resolved)
}

/// Refuses (with the message to show) when the bot lacks some of `needed` in the channel:
/// names the missing permissions, or says they could not be checked. Nothing is needed in
/// direct messages.
pub fn check_bot_permissions(ctx: &InvocationContext, needed: Permissions) -> Result<(), String> {
    if needed.is_empty() || ctx.guild_id.is_none() {
        return Ok(());
    }
    match ctx.bot_permissions {
        Some(have) if have.contains(Permissions::ADMINISTRATOR) || have.contains(needed) => Ok(()),
        Some(have) => {
            let missing = needed - have;
            let plural = if missing.bits().count_ones() > 1 {
                "permissions"
            } else {
                "permission"
            };
            Err(format!(
                "I can't do that here: I need the {} {plural} in this channel.",
                permission_names(missing)
            ))
        }
        None => Err(
            "I could not check my own permissions in this channel; try again in a moment."
                .to_owned(),
        ),
    }
}
