//! Command declarations: [`CommandSpec`], its arguments ([`ArgSpec`]) and cooldown
//! ([`CooldownSpec`]), validated once when they are built.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_model::oauth::ApplicationIntegrationType;

mod arg;

pub use arg::{ArgKind, ArgSpec, Bound, Choice};

use crate::precondition::{BoxPrecondition, Precondition, guild_only, has_permissions, owner_only};
use arg::bounds_ok;

/// Longest command, alias or argument name Discord accepts.
pub const MAX_NAME_LEN: usize = 32;
/// Longest command or option description Discord accepts.
pub const MAX_DESCRIPTION_LEN: usize = 100;
/// Most options a slash command may have.
pub const MAX_OPTIONS: usize = 25;

/// Most subcommands (and groups) a command or group may have.
pub const MAX_SUBCOMMANDS: usize = 25;

/// The locales Discord accepts in name and description localizations.
pub const LOCALES: [&str; 34] = [
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th",
    "zh-CN", "ja", "zh-TW", "ko", "he", "ar",
];

/// Where a command is invoked from: the chat input (slash and prefix), or the "Apps" context
/// menu of a user or of a message (application command types 1, 2 and 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `/name` and `!name`.
    #[default]
    ChatInput,
    /// Right-click on a user → Apps → name; the handler gets the user.
    User,
    /// Right-click on a message → Apps → name; the handler gets the message.
    Message,
}

/// Which bucket a cooldown counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CooldownScope {
    /// One bucket per user (across guilds).
    User,
    /// One bucket per guild (per user in direct messages).
    Guild,
    /// One bucket per channel.
    Channel,
}

/// A rate limit: at most `limit` uses per `per`, counted per [`CooldownScope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CooldownSpec {
    /// Bucket.
    pub scope: CooldownScope,
    /// Uses allowed in any window of length `per` (at least 1).
    pub limit: u32,
    /// Window length.
    pub per: Duration,
}

/// Why a [`CommandSpec`] is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A command, alias or argument name breaks Discord's naming rules.
    #[error(
        "invalid name `{0}`: names must be 1-32 lowercase letters, digits, `-` or `_` (Discord rules)"
    )]
    InvalidName(String),
    /// An alias is empty, too long or contains whitespace.
    #[error("invalid alias `{0}`: aliases must be 1-32 characters without whitespace")]
    InvalidAlias(String),
    /// A description is empty or longer than 100 characters.
    #[error("invalid description for `{0}`: it must be 1-100 characters")]
    InvalidDescription(String),
    /// Two arguments share a name.
    #[error("duplicate argument `{0}`")]
    DuplicateArg(String),
    /// A required argument follows an optional one.
    #[error("required argument `{0}` follows an optional argument")]
    RequiredAfterOptional(String),
    /// A rest-of-line argument is not the last one.
    #[error("rest-of-line argument `{0}` must be the last argument")]
    RestNotLast(String),
    /// More than 25 arguments.
    #[error("too many arguments: at most 25")]
    TooManyArgs,
    /// A bound is inverted, a default value is outside the bounds or of the wrong kind, or the
    /// choices break Discord's rules (1–25, names and values of 1–100 characters, values
    /// unique, not together with autocomplete).
    #[error("invalid bounds, choices or default for argument `{0}`")]
    InvalidBounds(String),
    /// A bound does not fit its argument (see [`ArgSpec::min`]).
    #[error("invalid bound for argument `{arg}`: {reason}")]
    InvalidBound {
        /// The argument.
        arg: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The cooldown allows zero uses or has a zero window.
    #[error("invalid cooldown: the limit and the window must be positive")]
    InvalidCooldown,
    /// Subcommands break Discord's nesting rules.
    #[error("invalid subcommands of `{0}`: {1}")]
    InvalidSubcommands(String, &'static str),
    /// A context-menu command breaks Discord's rules.
    #[error("invalid context-menu command `{0}`: {1}")]
    InvalidContextMenu(String, &'static str),
    /// A localization names a locale Discord does not know, or its text breaks the rules of
    /// the name or description it translates.
    #[error("invalid localization `{locale}` of `{command}`")]
    InvalidLocalization {
        /// The command.
        command: String,
        /// The locale.
        locale: String,
    },
}

/// Whether `name` follows Discord's rules for command and option names: 1–32 characters,
/// each a lowercase letter, a digit, `-` or `_` (letters without case are accepted).
pub fn is_valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=MAX_NAME_LEN).contains(&count)
        && name.chars().all(|c| {
            c == '-' || c == '_' || c.is_numeric() || (c.is_alphabetic() && !c.is_uppercase())
        })
}

fn valid_description(description: &str) -> bool {
    let count = description.chars().count();
    (1..=MAX_DESCRIPTION_LEN).contains(&count)
}

/// A declared command: everything the framework needs to parse, check, rate-limit, register
/// and document it. Build one with [`CommandSpec::builder`].
#[derive(Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent declaration flags, each set by its own builder method"
)]
pub struct CommandSpec {
    /// Name (lowercase, Discord rules).
    pub name: String,
    /// Other names for prefix invocations (lowercase).
    pub aliases: Vec<String>,
    /// One-line description.
    pub description: String,
    /// Arguments, in order.
    pub args: Vec<ArgSpec>,
    /// Permissions the invoking member needs (the bot owner bypasses them).
    pub required_permissions: Permissions,
    /// Only usable in a guild.
    pub guild_only: bool,
    /// Only usable by the bot owner.
    pub owner_only: bool,
    /// Rate limit.
    pub cooldown: Option<CooldownSpec>,
    /// Help category.
    pub category: String,
    /// Whether the command is registered as a slash command.
    pub slash: bool,
    /// Whether the command answers prefix invocations (`!name`).
    pub prefix: bool,
    /// Whether the handler reads [`InvocationContext::member_permissions`] itself (beyond
    /// [`required_permissions`](Self::required_permissions)).
    ///
    /// [`InvocationContext::member_permissions`]: crate::InvocationContext::member_permissions
    pub reads_permissions: bool,
    /// Chat input, user context menu or message context menu.
    pub kind: CommandKind,
    /// Subcommands, in order; one that has subcommands itself is a group. A command with
    /// subcommands has no arguments of its own.
    pub subcommands: Vec<CommandSpec>,
    /// Permissions the bot needs in the channel; checked before the command runs.
    pub bot_permissions: Permissions,
    /// Who sees the command in Discord's list by default (`None`: the
    /// [`required_permissions`](Self::required_permissions) when there are some).
    pub default_member_permissions: Option<Permissions>,
    /// Where the command may be used (`None`: the guild only for guild-only commands,
    /// Discord's default otherwise).
    pub contexts: Option<Vec<InteractionContextType>>,
    /// Where the command is installed (`None`: Discord's default, the guild install).
    pub integration_types: Option<Vec<ApplicationIntegrationType>>,
    /// Age-restricted: only in NSFW channels.
    pub nsfw: bool,
    /// The name shown in other locales (locale → name).
    pub name_localizations: BTreeMap<String, String>,
    /// The description shown in other locales (locale → description).
    pub description_localizations: BTreeMap<String, String>,
    extra: Vec<BoxPrecondition>,
}

impl fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandSpec")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("args", &self.args)
            .field("required_permissions", &self.required_permissions)
            .field("guild_only", &self.guild_only)
            .field("owner_only", &self.owner_only)
            .field("cooldown", &self.cooldown)
            .field("category", &self.category)
            .field("reads_permissions", &self.reads_permissions)
            .field("kind", &self.kind)
            .field("subcommands", &self.subcommands)
            .field("bot_permissions", &self.bot_permissions)
            .field("extra_preconditions", &self.extra.len())
            .finish_non_exhaustive()
    }
}

impl CommandSpec {
    /// Starts declaring the command `name`.
    pub fn builder(name: &str) -> CommandSpecBuilder {
        CommandSpecBuilder {
            spec: CommandSpec {
                name: name.to_owned(),
                aliases: Vec::new(),
                description: String::new(),
                args: Vec::new(),
                required_permissions: Permissions::empty(),
                guild_only: false,
                owner_only: false,
                cooldown: None,
                category: "General".to_owned(),
                slash: true,
                prefix: true,
                reads_permissions: false,
                kind: CommandKind::ChatInput,
                subcommands: Vec::new(),
                bot_permissions: Permissions::empty(),
                default_member_permissions: None,
                contexts: None,
                integration_types: None,
                nsfw: false,
                name_localizations: BTreeMap::new(),
                description_localizations: BTreeMap::new(),
                extra: Vec::new(),
            },
        }
    }

    /// Starts declaring a context-menu command of `kind` (user or message) called `name`
    /// (1–32 characters; capitals and spaces allowed, as Discord shows it: "User info"). It
    /// has no arguments (the handler gets the target) and no prefix form.
    pub fn context_menu(kind: CommandKind, name: &str) -> CommandSpecBuilder {
        let mut builder = Self::builder(name);
        builder.spec.kind = kind;
        builder.spec.prefix = false;
        builder
    }

    /// Whether running the command (or one of its subcommands) needs the bot's permissions in
    /// the channel ([`bot_permissions`](Self::bot_permissions)).
    pub fn needs_bot_permissions(&self) -> bool {
        !self.bot_permissions.is_empty() || self.subcommands.iter().any(Self::needs_bot_permissions)
    }

    /// This command with `subcommand` added (validated again).
    pub fn with_subcommand(mut self, subcommand: CommandSpec) -> Result<Self, SpecError> {
        self.subcommands.push(subcommand);
        self.validate()?;
        Ok(self)
    }

    /// The argument named by `path`: `name`, or `sub name`, `group sub name` in a subcommand.
    pub fn arg_by_path_mut(&mut self, path: &str) -> Option<&mut ArgSpec> {
        let mut words: Vec<&str> = path.split(' ').collect();
        let arg = words.pop()?;
        let mut spec = self;
        for word in words {
            spec = spec.subcommands.iter_mut().find(|s| s.name == word)?;
        }
        spec.args.iter_mut().find(|a| a.name == arg)
    }

    /// The subcommand (or group) called `name` (case-insensitive, aliases too).
    pub fn subcommand(&self, name: &str) -> Option<&CommandSpec> {
        self.subcommands.iter().find(|sub| {
            sub.name.eq_ignore_ascii_case(name)
                || sub.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Whether running the command needs the member's permissions: it requires some, or its
    /// handler reads them. Callers skip the (costly) permission lookup otherwise.
    pub fn needs_member_permissions(&self) -> bool {
        self.reads_permissions
            || !self.required_permissions.is_empty()
            || !self.extra.is_empty()
            || self.subcommands.iter().any(Self::needs_member_permissions)
    }

    /// The usage line: `{prefix}{name} <required> [optional] [rest…]`; `{prefix}{name}
    /// <a|b|c>` for a command with subcommands; `Apps › {name}` (on a user or a message) for a
    /// context-menu command.
    pub fn usage(&self, prefix: &str) -> String {
        match self.kind {
            CommandKind::User => return format!("Apps › {} (on a user)", self.name),
            CommandKind::Message => return format!("Apps › {} (on a message)", self.name),
            CommandKind::ChatInput => {}
        }
        let mut line = format!("{prefix}{}", self.name);
        if !self.subcommands.is_empty() {
            let names: Vec<&str> = self.subcommands.iter().map(|s| s.name.as_str()).collect();
            line.push_str(" <");
            line.push_str(&names.join("|"));
            line.push('>');
        }
        for arg in &self.args {
            line.push(' ');
            line.push_str(&arg.usage());
        }
        line
    }

    /// The precondition implied by the declaration, AND-ed with the extra ones:
    /// guild-only, owner-only, and the required permissions (which the owner bypasses).
    pub fn precondition(&self) -> BoxPrecondition {
        let mut all: Vec<BoxPrecondition> = Vec::new();
        if self.guild_only {
            all.push(Arc::new(guild_only()));
        }
        if self.owner_only {
            all.push(Arc::new(owner_only()));
        }
        if !self.required_permissions.is_empty() {
            all.push(Arc::new(crate::precondition::unless_owner(
                has_permissions(self.required_permissions),
            )));
        }
        all.extend(self.extra.iter().cloned());
        Arc::new(crate::precondition::All(all))
    }

    fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(0)
    }

    /// Validates the command (`depth` 0), a subcommand or group (1) or a subcommand in a
    /// group (2).
    fn validate_at(&self, depth: usize) -> Result<(), SpecError> {
        if self.kind == CommandKind::ChatInput {
            if !is_valid_name(&self.name) {
                return Err(SpecError::InvalidName(self.name.clone()));
            }
        } else {
            self.validate_context_menu()?;
        }
        self.validate_subcommands(depth)?;
        self.validate_localizations()?;
        if !valid_description(&self.description) {
            return Err(SpecError::InvalidDescription(self.name.clone()));
        }
        for alias in &self.aliases {
            let count = alias.chars().count();
            if !(1..=MAX_NAME_LEN).contains(&count) || alias.chars().any(char::is_whitespace) {
                return Err(SpecError::InvalidAlias(alias.clone()));
            }
        }
        if self.args.len() > MAX_OPTIONS {
            return Err(SpecError::TooManyArgs);
        }
        let mut seen_optional = false;
        for (i, arg) in self.args.iter().enumerate() {
            if !is_valid_name(&arg.name) {
                return Err(SpecError::InvalidName(arg.name.clone()));
            }
            if !valid_description(&arg.description) {
                return Err(SpecError::InvalidDescription(arg.name.clone()));
            }
            if self.args[..i].iter().any(|a| a.name == arg.name) {
                return Err(SpecError::DuplicateArg(arg.name.clone()));
            }
            if arg.required && seen_optional {
                return Err(SpecError::RequiredAfterOptional(arg.name.clone()));
            }
            seen_optional |= !arg.required;
            if arg.kind == ArgKind::Rest && i + 1 != self.args.len() {
                return Err(SpecError::RestNotLast(arg.name.clone()));
            }
            if let Some(reason) = arg.bound_error {
                return Err(SpecError::InvalidBound {
                    arg: arg.name.clone(),
                    reason,
                });
            }
            if !bounds_ok(arg) {
                return Err(SpecError::InvalidBounds(arg.name.clone()));
            }
        }
        if let Some(cooldown) = self.cooldown
            && (cooldown.limit == 0 || cooldown.per.is_zero())
        {
            return Err(SpecError::InvalidCooldown);
        }
        Ok(())
    }
}

impl CommandSpec {
    fn validate_context_menu(&self) -> Result<(), SpecError> {
        let count = self.name.chars().count();
        let problem = if !(1..=MAX_NAME_LEN).contains(&count) || self.name.trim() != self.name {
            Some("the name must be 1-32 characters, without leading or trailing spaces")
        } else if !self.args.is_empty() || !self.subcommands.is_empty() {
            Some("it takes no arguments or subcommands (the handler gets the target)")
        } else if self.prefix || !self.aliases.is_empty() {
            Some("it has no prefix form or aliases")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(SpecError::InvalidContextMenu(self.name.clone(), problem)),
            None => Ok(()),
        }
    }

    fn validate_subcommands(&self, depth: usize) -> Result<(), SpecError> {
        if self.subcommands.is_empty() {
            return Ok(());
        }
        let invalid = |problem| Err(SpecError::InvalidSubcommands(self.name.clone(), problem));
        if depth >= 2 {
            return invalid("a subcommand of a group cannot have subcommands (two levels at most)");
        }
        if !self.args.is_empty() {
            return invalid("a command with subcommands has no arguments of its own");
        }
        if self.subcommands.len() > MAX_SUBCOMMANDS {
            return invalid("at most 25 subcommands");
        }
        for (i, sub) in self.subcommands.iter().enumerate() {
            if sub.kind != CommandKind::ChatInput {
                return invalid("a context-menu command cannot be a subcommand");
            }
            if self.subcommands[..i].iter().any(|s| s.name == sub.name) {
                return invalid("two subcommands share a name");
            }
            sub.validate_at(depth + 1)?;
        }
        Ok(())
    }

    fn validate_localizations(&self) -> Result<(), SpecError> {
        let names = self.name_localizations.iter().map(|(locale, name)| {
            let ok = if self.kind == CommandKind::ChatInput {
                is_valid_name(name)
            } else {
                (1..=MAX_NAME_LEN).contains(&name.chars().count())
            };
            (locale, ok)
        });
        let descriptions = self
            .description_localizations
            .iter()
            .map(|(locale, text)| (locale, valid_description(text)));
        for (locale, ok) in names.chain(descriptions) {
            if !ok || !LOCALES.contains(&locale.as_str()) {
                return Err(SpecError::InvalidLocalization {
                    command: self.name.clone(),
                    locale: locale.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Builder of a [`CommandSpec`]; [`build`](Self::build) validates it.
#[derive(Debug)]
pub struct CommandSpecBuilder {
    spec: CommandSpec,
}

impl CommandSpecBuilder {
    /// Adds an alias (prefix invocations only).
    #[must_use]
    pub fn alias(mut self, alias: &str) -> Self {
        self.spec.aliases.push(alias.to_lowercase());
        self
    }

    /// Sets the description (1–100 characters).
    #[must_use]
    pub fn description(mut self, description: &str) -> Self {
        description.clone_into(&mut self.spec.description);
        self
    }

    /// Appends an argument. An argument without a description gets its name as description.
    #[must_use]
    pub fn arg(mut self, mut arg: ArgSpec) -> Self {
        if arg.description.is_empty() {
            arg.description.clone_from(&arg.name);
        }
        self.spec.args.push(arg);
        self
    }

    /// Requires these member permissions (the bot owner bypasses them).
    #[must_use]
    pub fn permissions(mut self, permissions: Permissions) -> Self {
        self.spec.required_permissions |= permissions;
        self
    }

    /// Declares that the handler checks [`InvocationContext::member_permissions`] itself (for
    /// example only for one of its forms), so callers must look them up.
    ///
    /// [`InvocationContext::member_permissions`]: crate::InvocationContext::member_permissions
    #[must_use]
    pub fn reads_permissions(mut self) -> Self {
        self.spec.reads_permissions = true;
        self
    }

    /// Only usable in guilds.
    #[must_use]
    pub fn guild_only(mut self) -> Self {
        self.spec.guild_only = true;
        self
    }

    /// Only usable by the bot owner.
    #[must_use]
    pub fn owner_only(mut self) -> Self {
        self.spec.owner_only = true;
        self
    }

    /// At most `limit` uses per `per`, counted in the `scope` bucket.
    #[must_use]
    pub fn cooldown(mut self, scope: CooldownScope, limit: u32, per: Duration) -> Self {
        self.spec.cooldown = Some(CooldownSpec { scope, limit, per });
        self
    }

    /// Sets the help category (default `General`).
    #[must_use]
    pub fn category(mut self, category: &str) -> Self {
        category.clone_into(&mut self.spec.category);
        self
    }

    /// Whether to register the command as a slash command (default `true`).
    #[must_use]
    pub fn slash(mut self, slash: bool) -> Self {
        self.spec.slash = slash;
        self
    }

    /// Whether the command answers prefix invocations such as `!name` (default `true`).
    #[must_use]
    pub fn prefix(mut self, prefix: bool) -> Self {
        self.spec.prefix = prefix;
        self
    }

    /// Adds a subcommand (declared like a command); one with subcommands of its own is a
    /// group. Discord allows two levels: `/settings modlog set`.
    #[must_use]
    pub fn subcommand(mut self, subcommand: CommandSpec) -> Self {
        self.spec.subcommands.push(subcommand);
        self
    }

    /// Requires these permissions of the bot in the channel: checked before the command runs,
    /// with a message naming the missing ones.
    #[must_use]
    pub fn bot_permissions(mut self, permissions: Permissions) -> Self {
        self.spec.bot_permissions |= permissions;
        self
    }

    /// Who sees the command in Discord's list by default (members with these permissions;
    /// `Permissions::empty()`: administrators only). Without it, the
    /// [required permissions](Self::permissions) are used.
    #[must_use]
    pub fn default_member_permissions(mut self, permissions: Permissions) -> Self {
        self.spec.default_member_permissions = Some(permissions);
        self
    }

    /// Where the command may be used: guilds, the bot's DMs, other private channels.
    #[must_use]
    pub fn contexts(mut self, contexts: impl IntoIterator<Item = InteractionContextType>) -> Self {
        self.spec.contexts = Some(contexts.into_iter().collect());
        self
    }

    /// Where the command is installed: to guilds, to users.
    #[must_use]
    pub fn integration_types(
        mut self,
        types: impl IntoIterator<Item = ApplicationIntegrationType>,
    ) -> Self {
        self.spec.integration_types = Some(types.into_iter().collect());
        self
    }

    /// Age-restricted: only usable in NSFW channels.
    #[must_use]
    pub fn nsfw(mut self) -> Self {
        self.spec.nsfw = true;
        self
    }

    /// The name shown to users of `locale` (one of [`LOCALES`], such as `fr` or `pt-BR`).
    #[must_use]
    pub fn name_localized(mut self, locale: &str, name: &str) -> Self {
        self.spec
            .name_localizations
            .insert(locale.to_owned(), name.to_owned());
        self
    }

    /// The description shown to users of `locale` (one of [`LOCALES`]).
    #[must_use]
    pub fn description_localized(mut self, locale: &str, description: &str) -> Self {
        self.spec
            .description_localizations
            .insert(locale.to_owned(), description.to_owned());
        self
    }

    /// Adds a precondition, AND-ed with the declared ones.
    #[must_use]
    pub fn precondition(mut self, precondition: impl Precondition + 'static) -> Self {
        self.spec.extra.push(Arc::new(precondition));
        self
    }

    /// Validates and returns the spec.
    pub fn build(self) -> Result<CommandSpec, SpecError> {
        self.spec.validate()?;
        Ok(self.spec)
    }
}
