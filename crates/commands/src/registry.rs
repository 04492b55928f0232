//! The set of declared commands: lookup by name or alias, slash command registration bodies and
//! generated help.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandOptionValue, CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::id::Id;

use crate::args::format_duration;
use crate::precondition::permission_names;
use crate::spec::{ArgKind, CommandSpec, CooldownScope};

/// Why a command could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name or an alias is already the name or an alias of another command.
    #[error("`{name}` of command `{command}` is already used by command `{existing}`")]
    Duplicate {
        /// The clashing name or alias.
        name: String,
        /// The command being registered.
        command: String,
        /// The command that already uses it.
        existing: String,
    },
}

/// Declared commands, looked up case-insensitively by name or alias.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    commands: Vec<CommandSpec>,
    /// Lowercase name or alias → index into `commands`.
    index: HashMap<String, usize>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a command; rejects it if its name or an alias is already taken (by a name or an
    /// alias), or if it repeats one of its own names.
    pub fn register(&mut self, spec: CommandSpec) -> Result<(), RegistryError> {
        let names: Vec<String> = std::iter::once(&spec.name)
            .chain(&spec.aliases)
            .map(|n| n.to_lowercase())
            .collect();
        for (i, name) in names.iter().enumerate() {
            let existing = self
                .index
                .get(name)
                .map(|&idx| self.commands[idx].name.clone())
                .or_else(|| names[..i].contains(name).then(|| spec.name.clone()));
            if let Some(existing) = existing {
                return Err(RegistryError::Duplicate {
                    name: name.clone(),
                    command: spec.name.clone(),
                    existing,
                });
            }
        }
        let idx = self.commands.len();
        for name in names {
            self.index.insert(name, idx);
        }
        self.commands.push(spec);
        Ok(())
    }

    /// The command called `name_or_alias` (case-insensitive).
    pub fn get(&self, name_or_alias: &str) -> Option<&CommandSpec> {
        let idx = self.index.get(&name_or_alias.to_lowercase())?;
        self.commands.get(*idx)
    }

    /// Every command, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec> {
        self.commands.iter()
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command is registered.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The slash commands (chat input) for `PUT /applications/{id}/commands` (twilight-http's
    /// `set_global_commands`), one per command declared with `slash(true)`. Aliases are not
    /// registered. Durations and rest-of-line arguments become strings; guild-only commands are
    /// limited to the guild context; required permissions become
    /// `default_member_permissions` (so Discord hides the command from members without them).
    pub fn to_application_commands(&self) -> Vec<Command> {
        self.commands
            .iter()
            .filter(|spec| spec.slash)
            .map(application_command)
            .collect()
    }

    /// The help text: commands grouped by category (alphabetical), each with its usage line
    /// and description.
    pub fn help(&self, prefix: &str) -> String {
        let mut out = String::new();
        for category in self.categories() {
            out.push_str(&self.category_block(prefix, &category));
            out.push('\n');
        }
        let _ = write!(
            out,
            "Type `{prefix}help <command>` for details on a command."
        );
        out
    }

    /// The help categories, alphabetical.
    pub fn categories(&self) -> Vec<String> {
        let categories: BTreeSet<&str> =
            self.commands.iter().map(|s| s.category.as_str()).collect();
        categories.into_iter().map(str::to_owned).collect()
    }

    /// The help of one category (`None` when no command has it).
    pub fn help_category(&self, prefix: &str, category: &str) -> Option<String> {
        self.commands
            .iter()
            .any(|s| s.category == category)
            .then(|| {
                format!(
                    "{}\nType `{prefix}help <command>` for details on a command.",
                    self.category_block(prefix, category)
                )
            })
    }

    /// `**Category**` and a line per command (usage — description), sorted by name.
    fn category_block(&self, prefix: &str, category: &str) -> String {
        let mut specs: Vec<&CommandSpec> = self
            .commands
            .iter()
            .filter(|s| s.category == category)
            .collect();
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = format!("**{category}**\n");
        for spec in specs {
            let _ = writeln!(out, "`{}` — {}", spec.usage(prefix), spec.description);
        }
        out
    }

    /// Detailed help for one command (by name or alias): usage, description, arguments,
    /// aliases, requirements and cooldown. `None` if there is no such command.
    pub fn help_for(&self, prefix: &str, name: &str) -> Option<String> {
        let spec = self.get(name)?;
        let mut out = format!("`{}`\n{}\n", spec.usage(prefix), spec.description);
        if !spec.args.is_empty() {
            out.push_str("**Arguments**\n");
            for arg in &spec.args {
                let _ = write!(
                    out,
                    "`{}` — {} ({})",
                    arg.name,
                    arg.description,
                    crate::args::expected(&arg.kind)
                );
                if !arg.required {
                    out.push_str(", optional");
                }
                out.push('\n');
            }
        }
        if !spec.aliases.is_empty() {
            let aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
            let _ = writeln!(out, "**Aliases:** {}", aliases.join(", "));
        }
        if !spec.required_permissions.is_empty() {
            let _ = writeln!(
                out,
                "**Permissions:** {}",
                permission_names(spec.required_permissions)
            );
        }
        if spec.guild_only {
            out.push_str("**Servers only**\n");
        }
        if spec.owner_only {
            out.push_str("**Bot owner only**\n");
        }
        if let Some(cooldown) = spec.cooldown {
            let scope = match cooldown.scope {
                CooldownScope::User => "per user",
                CooldownScope::Guild => "per server",
                CooldownScope::Channel => "per channel",
            };
            let _ = writeln!(
                out,
                "**Cooldown:** {} use(s) every {}, {scope}",
                cooldown.limit,
                format_duration(cooldown.per)
            );
        }
        Some(out.trim_end().to_owned())
    }
}

fn application_command(spec: &CommandSpec) -> Command {
    let options = spec
        .args
        .iter()
        .map(|arg| {
            let (kind, min, max) = match &arg.kind {
                ArgKind::Integer { min, max } => (
                    CommandOptionType::Integer,
                    min.map(CommandOptionValue::Integer),
                    max.map(CommandOptionValue::Integer),
                ),
                ArgKind::Number { min, max } => (
                    CommandOptionType::Number,
                    min.map(CommandOptionValue::Number),
                    max.map(CommandOptionValue::Number),
                ),
                ArgKind::String | ArgKind::Rest | ArgKind::Duration { .. } => {
                    (CommandOptionType::String, None, None)
                }
                ArgKind::Boolean => (CommandOptionType::Boolean, None, None),
                ArgKind::User => (CommandOptionType::User, None, None),
                ArgKind::Channel => (CommandOptionType::Channel, None, None),
                ArgKind::Role => (CommandOptionType::Role, None, None),
            };
            CommandOption {
                autocomplete: arg.autocomplete.then_some(true),
                channel_types: None,
                choices: None,
                description: arg.description.clone(),
                description_localizations: None,
                kind,
                max_length: None,
                max_value: max,
                min_length: None,
                min_value: min,
                name: arg.name.clone(),
                name_localizations: None,
                options: None,
                file_types: None,
                required: Some(arg.required),
            }
        })
        .collect();
    #[allow(deprecated)]
    Command {
        application_id: None,
        contexts: spec.guild_only.then(|| vec![InteractionContextType::Guild]),
        default_member_permissions: (!spec.required_permissions.is_empty())
            .then_some(spec.required_permissions),
        description: spec.description.clone(),
        description_localizations: None,
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: spec.name.clone(),
        name_localizations: None,
        nsfw: None,
        options,
        version: Id::new(1),
    }
}
