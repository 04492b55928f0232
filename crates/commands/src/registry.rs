//! The set of declared commands: lookup by name or alias, slash command registration bodies and
//! generated help.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType,
    CommandOptionValue, CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::id::Id;

use crate::args::format_duration;
use crate::precondition::permission_names;
use crate::spec::{ArgKind, ArgSpec, CommandKind, CommandSpec, CooldownScope};

/// Why a command could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// Lowercase name or alias → index into `commands` (chat input commands).
    index: HashMap<String, usize>,
    /// Kind and exact name → index into `commands` (context-menu commands).
    menus: HashMap<(CommandKind, String), usize>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a command; rejects it if its name or an alias is already taken (by a name or an
    /// alias), or if it repeats one of its own names.
    pub fn register(&mut self, spec: CommandSpec) -> Result<(), RegistryError> {
        if spec.kind != CommandKind::ChatInput {
            let key = (spec.kind, spec.name.clone());
            if let Some(&idx) = self.menus.get(&key) {
                return Err(RegistryError::Duplicate {
                    name: spec.name.clone(),
                    command: spec.name.clone(),
                    existing: self.commands[idx].name.clone(),
                });
            }
            self.menus.insert(key, self.commands.len());
            self.commands.push(spec);
            return Ok(());
        }
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

    /// The context-menu command of `kind` called exactly `name`.
    pub fn menu(&self, kind: CommandKind, name: &str) -> Option<&CommandSpec> {
        let idx = self.menus.get(&(kind, name.to_owned()))?;
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

    /// The application commands for `PUT /applications/{id}/commands` (twilight-http's
    /// `set_global_commands`): one per command declared with `slash(true)` (chat input, with
    /// its subcommands and groups as options of types 1 and 2) and one per context-menu
    /// command (types 2 and 3, without a description). Aliases are not registered. Durations
    /// and rest-of-line arguments become strings; guild-only commands are limited to the guild
    /// context unless `contexts` says otherwise; required permissions become
    /// `default_member_permissions` unless it is declared (so Discord hides the command from
    /// members without them).
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
        if !spec.subcommands.is_empty() {
            out.push_str("**Subcommands**\n");
            for sub in &spec.subcommands {
                for (usage, description) in subcommand_lines(prefix, &spec.name, sub) {
                    let _ = writeln!(out, "`{usage}` — {description}");
                }
            }
        }
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

/// `(usage, description)` of a subcommand, or of each subcommand of a group.
fn subcommand_lines(prefix: &str, parent: &str, sub: &CommandSpec) -> Vec<(String, String)> {
    let path = format!("{parent} {}", sub.name);
    if sub.subcommands.is_empty() {
        let mut usage = format!("{prefix}{path}");
        for arg in &sub.args {
            usage.push(' ');
            usage.push_str(&arg.usage());
        }
        return vec![(usage, sub.description.clone())];
    }
    sub.subcommands
        .iter()
        .flat_map(|inner| subcommand_lines(prefix, &path, inner))
        .collect()
}

fn localizations(
    map: &std::collections::BTreeMap<String, String>,
) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn option(arg: &ArgSpec) -> CommandOption {
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
        ArgKind::String | ArgKind::Rest | ArgKind::Duration { .. } | ArgKind::Choice(_) => {
            (CommandOptionType::String, None, None)
        }
        ArgKind::Boolean => (CommandOptionType::Boolean, None, None),
        ArgKind::User => (CommandOptionType::User, None, None),
        ArgKind::Channel => (CommandOptionType::Channel, None, None),
        ArgKind::Role => (CommandOptionType::Role, None, None),
    };
    let choices = match &arg.kind {
        ArgKind::Choice(choices) => Some(
            choices
                .iter()
                .map(|choice| CommandOptionChoice {
                    name: choice.name.clone(),
                    name_localizations: None,
                    value: CommandOptionChoiceValue::String(choice.value.clone()),
                })
                .collect(),
        ),
        _ => None,
    };
    CommandOption {
        autocomplete: arg.autocomplete.then_some(true),
        channel_types: None,
        choices,
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
}

/// A subcommand (type 1) or a group (type 2) with its subcommands.
fn subcommand_option(sub: &CommandSpec) -> CommandOption {
    let (kind, options) = if sub.subcommands.is_empty() {
        (
            CommandOptionType::SubCommand,
            sub.args.iter().map(option).collect(),
        )
    } else {
        (
            CommandOptionType::SubCommandGroup,
            sub.subcommands.iter().map(subcommand_option).collect(),
        )
    };
    CommandOption {
        autocomplete: None,
        channel_types: None,
        choices: None,
        description: sub.description.clone(),
        description_localizations: localizations(&sub.description_localizations),
        kind,
        max_length: None,
        max_value: None,
        min_length: None,
        min_value: None,
        name: sub.name.clone(),
        name_localizations: localizations(&sub.name_localizations),
        options: Some(options),
        file_types: None,
        required: None,
    }
}

fn application_command(spec: &CommandSpec) -> Command {
    let options = if spec.subcommands.is_empty() {
        spec.args.iter().map(option).collect()
    } else {
        spec.subcommands.iter().map(subcommand_option).collect()
    };
    let (kind, description, description_localizations) = match spec.kind {
        CommandKind::ChatInput => (
            CommandType::ChatInput,
            spec.description.clone(),
            localizations(&spec.description_localizations),
        ),
        // Discord wants an empty description for context-menu commands.
        CommandKind::User => (CommandType::User, String::new(), None),
        CommandKind::Message => (CommandType::Message, String::new(), None),
    };
    let contexts = spec
        .contexts
        .clone()
        .or_else(|| spec.guild_only.then(|| vec![InteractionContextType::Guild]));
    let default_member_permissions = spec
        .default_member_permissions
        .or_else(|| (!spec.required_permissions.is_empty()).then_some(spec.required_permissions));
    #[allow(deprecated)]
    Command {
        application_id: None,
        contexts,
        default_member_permissions,
        description,
        description_localizations,
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: spec.integration_types.clone(),
        kind,
        name: spec.name.clone(),
        name_localizations: localizations(&spec.name_localizations),
        nsfw: spec.nsfw.then_some(true),
        options,
        version: Id::new(1),
    }
}
