//! Discord's rules for declarations: name, description and option limits, the known locales,
//! and the validation [`CommandSpecBuilder::build`](super::CommandSpecBuilder::build) runs.

use super::arg::bounds_ok;
use super::{ArgKind, CommandKind, CommandSpec};

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

impl CommandSpec {
    pub(super) fn validate(&self) -> Result<(), SpecError> {
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
