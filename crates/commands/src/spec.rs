//! Command declarations: [`CommandSpec`], its arguments ([`ArgSpec`]) and cooldown
//! ([`CooldownSpec`]), validated once when they are built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use twilight_model::guild::Permissions;

use crate::args::ArgValue;
use crate::precondition::{BoxPrecondition, Precondition, guild_only, has_permissions, owner_only};

/// Longest command, alias or argument name Discord accepts.
pub const MAX_NAME_LEN: usize = 32;
/// Longest command or option description Discord accepts.
pub const MAX_DESCRIPTION_LEN: usize = 100;
/// Most options a slash command may have.
pub const MAX_OPTIONS: usize = 25;

/// What kind of value an argument takes, with its bounds.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgKind {
    /// A whole number (`i64`), optionally bounded (inclusive).
    Integer {
        /// Smallest accepted value.
        min: Option<i64>,
        /// Largest accepted value.
        max: Option<i64>,
    },
    /// A finite decimal number, optionally bounded (inclusive).
    Number {
        /// Smallest accepted value.
        min: Option<f64>,
        /// Largest accepted value.
        max: Option<f64>,
    },
    /// One word, or several in double quotes.
    String,
    /// Everything after the previous arguments, verbatim (must be the last argument).
    Rest,
    /// `yes`/`no`, `true`/`false`, `on`/`off`, `y`/`n`, `1`/`0`, `enable`/`disable`.
    Boolean,
    /// A user mention (`<@id>`, `<@!id>`) or a raw user id.
    User,
    /// A channel mention (`<#id>`) or a raw channel id.
    Channel,
    /// A role mention (`<@&id>`) or a raw role id.
    Role,
    /// A duration such as `90s`, `10m`, `1h30m`, `2d`, `1w`, or plain seconds; bounded
    /// (inclusive).
    Duration {
        /// Shortest accepted duration.
        min: Option<Duration>,
        /// Longest accepted duration.
        max: Option<Duration>,
    },
}

/// One declared argument of a command.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgSpec {
    /// Name: shown in usage lines and used as the slash option name.
    pub name: String,
    /// Description shown in help and as the slash option description.
    pub description: String,
    /// Kind of value.
    pub kind: ArgKind,
    /// Whether the argument must be given.
    pub required: bool,
    /// Value used when an optional argument is absent.
    pub default: Option<ArgValue>,
    /// Whether Discord asks the command for suggestions while the user types this argument
    /// (slash commands; [`Command::autocomplete`](crate::Command::autocomplete)).
    pub autocomplete: bool,
}

impl ArgSpec {
    fn new(name: &str, kind: ArgKind) -> Self {
        Self {
            name: name.to_owned(),
            description: String::new(),
            kind,
            required: true,
            default: None,
            autocomplete: false,
        }
    }

    /// An unbounded whole number.
    pub fn integer(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Integer {
                min: None,
                max: None,
            },
        )
    }

    /// A whole number between `min` and `max` (inclusive).
    pub fn integer_in(name: &str, min: i64, max: i64) -> Self {
        Self::new(
            name,
            ArgKind::Integer {
                min: Some(min),
                max: Some(max),
            },
        )
    }

    /// A decimal number.
    pub fn number(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Number {
                min: None,
                max: None,
            },
        )
    }

    /// One word (or a quoted phrase).
    pub fn string(name: &str) -> Self {
        Self::new(name, ArgKind::String)
    }

    /// The rest of the line, verbatim.
    pub fn rest(name: &str) -> Self {
        Self::new(name, ArgKind::Rest)
    }

    /// A yes/no value.
    pub fn boolean(name: &str) -> Self {
        Self::new(name, ArgKind::Boolean)
    }

    /// A user.
    pub fn user(name: &str) -> Self {
        Self::new(name, ArgKind::User)
    }

    /// A channel.
    pub fn channel(name: &str) -> Self {
        Self::new(name, ArgKind::Channel)
    }

    /// A role.
    pub fn role(name: &str) -> Self {
        Self::new(name, ArgKind::Role)
    }

    /// A duration.
    pub fn duration(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Duration {
                min: None,
                max: None,
            },
        )
    }

    /// Sets the description.
    #[must_use]
    pub fn describe(mut self, description: &str) -> Self {
        description.clone_into(&mut self.description);
        self
    }

    /// Lets the user pick from suggestions while typing the slash option (answered by
    /// [`Command::autocomplete`](crate::Command::autocomplete)).
    #[must_use]
    pub fn autocomplete(mut self) -> Self {
        self.autocomplete = true;
        self
    }

    /// Makes the argument optional (absent unless a [`default`](Self::default) is set).
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Makes the argument optional with `value` when absent.
    #[must_use]
    pub fn default(mut self, value: impl Into<ArgValue>) -> Self {
        self.required = false;
        self.default = Some(value.into());
        self
    }

    /// Sets the lower bound of an integer, number or duration argument (ignored otherwise).
    #[must_use]
    pub fn min(mut self, value: f64) -> Self {
        match &mut self.kind {
            #[allow(clippy::cast_possible_truncation)]
            ArgKind::Integer { min, .. } => *min = Some(value as i64),
            ArgKind::Number { min, .. } => *min = Some(value),
            ArgKind::Duration { min, .. } => *min = Duration::try_from_secs_f64(value).ok(),
            _ => {}
        }
        self
    }

    /// Sets the upper bound of an integer, number or duration argument (ignored otherwise).
    #[must_use]
    pub fn max(mut self, value: f64) -> Self {
        match &mut self.kind {
            #[allow(clippy::cast_possible_truncation)]
            ArgKind::Integer { max, .. } => *max = Some(value as i64),
            ArgKind::Number { max, .. } => *max = Some(value),
            ArgKind::Duration { max, .. } => *max = Duration::try_from_secs_f64(value).ok(),
            _ => {}
        }
        self
    }

    /// The usage fragment: `<name>`, `[name]`, `<name…>` or `[name…]`.
    pub fn usage(&self) -> String {
        let dots = if self.kind == ArgKind::Rest {
            "…"
        } else {
            ""
        };
        if self.required {
            format!("<{}{dots}>", self.name)
        } else {
            format!("[{}{dots}]", self.name)
        }
    }
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
    /// A bound is inverted, or a default value is outside the bounds or of the wrong kind.
    #[error("invalid bounds or default for argument `{0}`")]
    InvalidBounds(String),
    /// The cooldown allows zero uses or has a zero window.
    #[error("invalid cooldown: the limit and the window must be positive")]
    InvalidCooldown,
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
                extra: Vec::new(),
            },
        }
    }

    /// Whether running the command needs the member's permissions: it requires some, or its
    /// handler reads them. Callers skip the (costly) permission lookup otherwise.
    pub fn needs_member_permissions(&self) -> bool {
        self.reads_permissions || !self.required_permissions.is_empty() || !self.extra.is_empty()
    }

    /// The usage line: `{prefix}{name} <required> [optional] [rest…]`.
    pub fn usage(&self, prefix: &str) -> String {
        let mut line = format!("{prefix}{}", self.name);
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
        if !is_valid_name(&self.name) {
            return Err(SpecError::InvalidName(self.name.clone()));
        }
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

fn bounds_ok(arg: &ArgSpec) -> bool {
    fn ordered<T: PartialOrd>(min: Option<&T>, max: Option<&T>) -> bool {
        match (min, max) {
            (Some(a), Some(b)) => a <= b,
            _ => true,
        }
    }
    let bounds = match &arg.kind {
        ArgKind::Integer { min, max } => ordered(min.as_ref(), max.as_ref()),
        ArgKind::Number { min, max } => {
            min.is_none_or(f64::is_finite)
                && max.is_none_or(f64::is_finite)
                && ordered(min.as_ref(), max.as_ref())
        }
        ArgKind::Duration { min, max } => ordered(min.as_ref(), max.as_ref()),
        _ => true,
    };
    bounds
        && arg
            .default
            .as_ref()
            .is_none_or(|value| crate::args::check_value(arg, value.clone()).is_ok())
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
