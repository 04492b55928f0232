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
mod builder;
mod rules;

pub use arg::{ArgKind, ArgSpec, Bound, Choice};
pub use builder::CommandSpecBuilder;
pub use rules::{
    LOCALES, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, MAX_OPTIONS, MAX_SUBCOMMANDS, SpecError,
    is_valid_name,
};

use crate::precondition::{BoxPrecondition, guild_only, has_permissions, owner_only};

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

    /// The usage line: `{prefix}{name} <required> [optional] [rest…]` (`/{name}` for a
    /// slash-only command); `{prefix}{name}
    /// <a|b|c>` for a command with subcommands; `Apps › {name}` (on a user or a message) for a
    /// context-menu command.
    pub fn usage(&self, prefix: &str) -> String {
        match self.kind {
            CommandKind::User => return format!("Apps › {} (on a user)", self.name),
            CommandKind::Message => return format!("Apps › {} (on a message)", self.name),
            CommandKind::ChatInput => {}
        }
        // A slash-only command is typed with `/`, whatever the server's prefix.
        let prefix = if self.prefix { prefix } else { "/" };
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
}
