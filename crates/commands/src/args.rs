//! Typed arguments: parsing the text after a prefix command ([`parse_args`]) or the options of
//! a slash command ([`Args::from_interaction`]) into [`Args`], with the same validation and
//! user-facing [`ArgError`]s.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, RoleMarker, UserMarker};

use crate::spec::{ArgKind, ArgSpec, Choice, CommandSpec};

mod duration;
mod tokens;

pub use duration::{format_duration, parse_duration};
use tokens::{Token, Tokens};

/// Longest piece of user input quoted back in an error message.
const MAX_QUOTED: usize = 60;

/// One parsed argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// A whole number.
    Integer(i64),
    /// A finite decimal number.
    Number(f64),
    /// A string (one token, or the rest of the line).
    String(String),
    /// A yes/no value.
    Boolean(bool),
    /// A user id.
    User(Id<UserMarker>),
    /// A channel id.
    Channel(Id<ChannelMarker>),
    /// A role id.
    Role(Id<RoleMarker>),
    /// A duration.
    Duration(Duration),
}

impl From<i64> for ArgValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<f64> for ArgValue {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}

impl From<&str> for ArgValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for ArgValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<bool> for ArgValue {
    fn from(value: bool) -> Self {
        Self::Boolean(value)
    }
}

impl From<Duration> for ArgValue {
    fn from(value: Duration) -> Self {
        Self::Duration(value)
    }
}

/// The parsed arguments of one invocation, by argument name. Optional arguments that were not
/// given and have no default are absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args {
    values: HashMap<String, ArgValue>,
    path: Vec<String>,
    target: Option<crate::target::Target>,
}

impl Args {
    /// The subcommand invoked, as names below the command: `["modlog", "set"]` for
    /// `/settings modlog set`; empty for a command without subcommands (or a prefix
    /// invocation of the parent alone).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// The user or message a context-menu command was used on.
    pub fn target(&self) -> Option<&crate::target::Target> {
        self.target.as_ref()
    }

    pub(crate) fn with_path(mut self, path: Vec<String>) -> Self {
        self.path = path;
        self
    }

    pub(crate) fn with_target(target: crate::target::Target) -> Self {
        Self {
            target: Some(target),
            ..Self::default()
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ArgValue> {
        self.values.get(name)
    }

    /// Number of values present.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value is present.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The integer `name`.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            ArgValue::Integer(v) => Some(*v),
            _ => None,
        }
    }

    /// The number `name` (integers are widened).
    #[allow(clippy::cast_precision_loss)]
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            ArgValue::Number(v) => Some(*v),
            ArgValue::Integer(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The string `name` (string and rest-of-line arguments).
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            ArgValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// The boolean `name`.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            ArgValue::Boolean(v) => Some(*v),
            _ => None,
        }
    }

    /// The user `name`.
    pub fn user(&self, name: &str) -> Option<Id<UserMarker>> {
        match self.get(name)? {
            ArgValue::User(v) => Some(*v),
            _ => None,
        }
    }

    /// The channel `name`.
    pub fn channel(&self, name: &str) -> Option<Id<ChannelMarker>> {
        match self.get(name)? {
            ArgValue::Channel(v) => Some(*v),
            _ => None,
        }
    }

    /// The role `name`.
    pub fn role(&self, name: &str) -> Option<Id<RoleMarker>> {
        match self.get(name)? {
            ArgValue::Role(v) => Some(*v),
            _ => None,
        }
    }

    /// The duration `name`.
    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.get(name)? {
            ArgValue::Duration(v) => Some(*v),
            _ => None,
        }
    }
}

/// What was wrong with the arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgErrorKind {
    /// A required argument is missing.
    Missing {
        /// Argument name.
        arg: String,
    },
    /// A value could not be parsed or is out of bounds.
    Invalid {
        /// Argument name.
        arg: String,
        /// What was expected, e.g. "a whole number between 0 and 7".
        expected: String,
        /// The offending input (sanitised and shortened).
        got: String,
    },
    /// A quoted argument was not closed.
    UnclosedQuote {
        /// Argument name.
        arg: String,
    },
    /// More input than the command takes.
    TooMany {
        /// The first unexpected token (sanitised and shortened).
        got: String,
    },
}

/// A user-facing argument error: its `Display` names the argument, says what was wrong and
/// ends with the usage line, e.g. ``"`days` must be a whole number between 0 and 7, got `abc`.
/// Usage: `!ban <user> [days] [reason…]`"``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError {
    /// What was wrong.
    pub kind: ArgErrorKind,
    /// The usage line of the command.
    pub usage: String,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgErrorKind::Missing { arg } => write!(f, "Missing `{arg}`.")?,
            ArgErrorKind::Invalid { arg, expected, got } => {
                write!(f, "`{arg}` must be {expected}, got `{got}`.")?;
            }
            ArgErrorKind::UnclosedQuote { arg } => {
                write!(
                    f,
                    "`{arg}` has an opening quote `\"` without a closing one."
                )?;
            }
            ArgErrorKind::TooMany { got } => write!(f, "Unexpected extra argument `{got}`.")?,
        }
        write!(f, " Usage: `{}`", self.usage)
    }
}

impl std::error::Error for ArgError {}

/// Makes user input safe to quote inside a code span: no backticks, no line breaks, at most
/// [`MAX_QUOTED`] characters.
fn quote(input: &str) -> String {
    let mut out: String = input
        .chars()
        .take(MAX_QUOTED)
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if input.chars().nth(MAX_QUOTED).is_some() {
        out.push('…');
    }
    if out.trim().is_empty() {
        "(empty)".clone_into(&mut out);
    }
    out
}

fn parse_id(input: &str, prefixes: &[&str]) -> Option<u64> {
    let digits = prefixes
        .iter()
        .find_map(|p| input.strip_prefix(p).and_then(|s| s.strip_suffix('>')))
        .unwrap_or(input);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|&id| id != 0)
}

fn range_text<T: fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!(" between {a} and {b}"),
        (Some(a), None) => format!(" of at least {a}"),
        (None, Some(b)) => format!(" of at most {b}"),
        (None, None) => String::new(),
    }
}

/// What an argument expects, as a phrase: "a whole number between 0 and 7".
pub fn expected(kind: &ArgKind) -> String {
    match kind {
        ArgKind::Integer { min, max } => format!("a whole number{}", range_text(*min, *max)),
        ArgKind::Number { min, max } => format!("a number{}", range_text(*min, *max)),
        ArgKind::String | ArgKind::Rest => "some text".to_owned(),
        ArgKind::Boolean => "yes or no".to_owned(),
        ArgKind::User => "a user mention or id".to_owned(),
        ArgKind::Channel => "a channel mention or id".to_owned(),
        ArgKind::Role => "a role mention or id".to_owned(),
        ArgKind::Duration { min, max } => format!(
            "a duration like `90s`, `10m`, `1h30m`, `2d` or `1:30`{}",
            range_text(min.map(format_duration), max.map(format_duration))
        ),
        ArgKind::Choice(choices) => format!(
            "one of {}",
            choices
                .iter()
                .map(|choice| format!("`{}`", choice.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The choice a prefix user meant: its value or its name, in any case.
fn pick<'a>(choices: &'a [Choice], token: &str) -> Option<&'a Choice> {
    choices.iter().find(|choice| {
        choice.value.eq_ignore_ascii_case(token)
            || choice.name.to_lowercase() == token.to_lowercase()
    })
}

/// Parses one token for `arg`; `None` when it does not parse or is out of bounds.
fn parse_value(kind: &ArgKind, token: &str) -> Option<ArgValue> {
    let value = match kind {
        ArgKind::Integer { .. } => ArgValue::Integer(token.parse::<i64>().ok()?),
        ArgKind::Number { .. } => {
            ArgValue::Number(token.parse::<f64>().ok().filter(|v| v.is_finite())?)
        }
        ArgKind::String | ArgKind::Rest => ArgValue::String(token.to_owned()),
        ArgKind::Boolean => ArgValue::Boolean(match token.to_lowercase().as_str() {
            "yes" | "y" | "true" | "on" | "1" | "enable" | "enabled" => true,
            "no" | "n" | "false" | "off" | "0" | "disable" | "disabled" => false,
            _ => return None,
        }),
        ArgKind::User => ArgValue::User(Id::new(parse_id(token, &["<@!", "<@"])?)),
        ArgKind::Channel => ArgValue::Channel(Id::new(parse_id(token, &["<#"])?)),
        ArgKind::Role => ArgValue::Role(Id::new(parse_id(token, &["<@&"])?)),
        ArgKind::Duration { .. } => ArgValue::Duration(parse_duration(token)?),
        ArgKind::Choice(choices) => ArgValue::String(pick(choices, token)?.value.clone()),
    };
    in_bounds(kind, &value).then_some(value)
}

fn in_bounds(kind: &ArgKind, value: &ArgValue) -> bool {
    fn within<T: PartialOrd>(v: &T, min: Option<&T>, max: Option<&T>) -> bool {
        min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
    }
    match (kind, value) {
        (ArgKind::Integer { min, max }, ArgValue::Integer(v)) => {
            within(v, min.as_ref(), max.as_ref())
        }
        (ArgKind::Number { min, max }, ArgValue::Number(v)) => {
            v.is_finite() && within(v, min.as_ref(), max.as_ref())
        }
        (ArgKind::Duration { min, max }, ArgValue::Duration(v)) => {
            within(v, min.as_ref(), max.as_ref())
        }
        (ArgKind::Choice(choices), ArgValue::String(v)) => {
            choices.iter().any(|choice| choice.value == *v)
        }
        (ArgKind::String | ArgKind::Rest, ArgValue::String(_))
        | (ArgKind::Boolean, ArgValue::Boolean(_))
        | (ArgKind::User, ArgValue::User(_))
        | (ArgKind::Channel, ArgValue::Channel(_))
        | (ArgKind::Role, ArgValue::Role(_)) => true,
        _ => false,
    }
}

/// Checks an already-typed value against `arg` (kind and bounds).
pub(crate) fn check_value(arg: &ArgSpec, value: ArgValue) -> Result<ArgValue, ()> {
    if in_bounds(&arg.kind, &value) {
        Ok(value)
    } else {
        Err(())
    }
}

fn invalid(arg: &ArgSpec, got: &str) -> ArgErrorKind {
    ArgErrorKind::Invalid {
        arg: arg.name.clone(),
        expected: expected(&arg.kind),
        got: quote(got),
    }
}

/// Parses the text after the command name (`rest`) against `spec`'s arguments. `prefix` is
/// only used for the usage line in errors. Never panics.
pub fn parse_args(spec: &CommandSpec, prefix: &str, rest: &str) -> Result<Args, ArgError> {
    parse_inner(spec, rest).map_err(|kind| ArgError {
        kind,
        usage: spec.usage(prefix),
    })
}

fn parse_inner(spec: &CommandSpec, rest: &str) -> Result<Args, ArgErrorKind> {
    let mut tokens = Tokens::new(rest);
    let mut args = Args::default();
    for arg in &spec.args {
        let raw = if arg.kind == ArgKind::Rest {
            let remainder = tokens.remainder();
            tokens = Tokens::new("");
            (!remainder.is_empty()).then(|| remainder.to_owned())
        } else {
            match tokens.next_token() {
                Some(Token::Word(word)) => Some(word),
                Some(Token::Unclosed) => {
                    return Err(ArgErrorKind::UnclosedQuote {
                        arg: arg.name.clone(),
                    });
                }
                None => None,
            }
        };
        match raw {
            Some(raw) => {
                let value = parse_value(&arg.kind, &raw).ok_or_else(|| invalid(arg, &raw))?;
                args.values.insert(arg.name.clone(), value);
            }
            None if arg.required => {
                return Err(ArgErrorKind::Missing {
                    arg: arg.name.clone(),
                });
            }
            None => {
                if let Some(default) = &arg.default {
                    args.values.insert(arg.name.clone(), default.clone());
                }
            }
        }
    }
    let extra = tokens.remainder();
    if !extra.is_empty() {
        let first = extra.split_whitespace().next().unwrap_or(extra);
        return Err(ArgErrorKind::TooMany { got: quote(first) });
    }
    Ok(args)
}

impl Args {
    /// The arguments of a slash command invocation, validated like prefix arguments (kinds,
    /// bounds, required options; durations are parsed from strings). Options the spec does not
    /// declare are ignored. Usage lines in errors use the `/` prefix.
    pub fn from_interaction(spec: &CommandSpec, data: &CommandData) -> Result<Self, ArgError> {
        Self::from_options(spec, &data.options)
    }

    /// [`from_interaction`](Self::from_interaction) for the options of a subcommand.
    pub fn from_options(
        spec: &CommandSpec,
        options: &[CommandDataOption],
    ) -> Result<Self, ArgError> {
        from_options(spec, options).map_err(|kind| ArgError {
            kind,
            usage: spec.usage("/"),
        })
    }
}

#[allow(clippy::cast_precision_loss)]
fn from_options(spec: &CommandSpec, options: &[CommandDataOption]) -> Result<Args, ArgErrorKind> {
    let mut args = Args::default();
    for arg in &spec.args {
        let Some(option) = options.iter().find(|o| o.name == arg.name) else {
            if arg.required {
                return Err(ArgErrorKind::Missing {
                    arg: arg.name.clone(),
                });
            }
            if let Some(default) = &arg.default {
                args.values.insert(arg.name.clone(), default.clone());
            }
            continue;
        };
        let value = match (&arg.kind, &option.value) {
            (ArgKind::Integer { .. }, CommandOptionValue::Integer(v)) => ArgValue::Integer(*v),
            (ArgKind::Number { .. }, CommandOptionValue::Number(v)) => ArgValue::Number(*v),
            (ArgKind::Number { .. }, CommandOptionValue::Integer(v)) => ArgValue::Number(*v as f64),
            (ArgKind::String | ArgKind::Rest, CommandOptionValue::String(v)) => {
                ArgValue::String(v.clone())
            }
            (ArgKind::Boolean, CommandOptionValue::Boolean(v)) => ArgValue::Boolean(*v),
            (ArgKind::User, CommandOptionValue::User(v)) => ArgValue::User(*v),
            (ArgKind::Channel, CommandOptionValue::Channel(v)) => ArgValue::Channel(*v),
            (ArgKind::Role, CommandOptionValue::Role(v)) => ArgValue::Role(*v),
            (kind, CommandOptionValue::String(v)) => {
                parse_value(kind, v).ok_or_else(|| invalid(arg, v))?
            }
            (_, other) => return Err(invalid(arg, &option_text(other))),
        };
        let got = option_text(&option.value);
        let value = check_value(arg, value).map_err(|()| invalid(arg, &got))?;
        args.values.insert(arg.name.clone(), value);
    }
    Ok(args)
}

fn option_text(value: &CommandOptionValue) -> String {
    match value {
        CommandOptionValue::Boolean(v) => v.to_string(),
        CommandOptionValue::Integer(v) => v.to_string(),
        CommandOptionValue::Number(v) => v.to_string(),
        CommandOptionValue::String(v) | CommandOptionValue::Focused(v, _) => v.clone(),
        CommandOptionValue::User(id) => id.to_string(),
        CommandOptionValue::Channel(id) => id.to_string(),
        CommandOptionValue::Role(id) => id.to_string(),
        CommandOptionValue::Mentionable(id) => id.to_string(),
        CommandOptionValue::Attachment(id) => id.to_string(),
        CommandOptionValue::SubCommand(_) | CommandOptionValue::SubCommandGroup(_) => {
            "a subcommand".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<String> {
        let mut tokens = Tokens::new(input);
        let mut out = Vec::new();
        while let Some(token) = tokens.next_token() {
            match token {
                Token::Word(w) => out.push(w),
                Token::Unclosed => {
                    out.push("<unclosed>".to_owned());
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn tokenizer_handles_quotes_and_escapes() {
        assert_eq!(words("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(words(r#""hello world" x"#), ["hello world", "x"]);
        assert_eq!(
            words(r#""say \"hi\"" \\ a\ b"#),
            [r#"say "hi""#, "\\", "a b"]
        );
        assert_eq!(words("“smart quotes” ok"), ["smart quotes", "ok"]);
        assert_eq!(words(r#""open"#), ["<unclosed>"]);
        assert_eq!(words(r#""""#), [""]);
        assert_eq!(words(r"trailing\"), [r"trailing\"]);
        assert_eq!(words("it's fine"), ["it's", "fine"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1d 12H"), Some(Duration::from_secs(129_600)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("1w"), Some(Duration::from_secs(604_800)));
        // The clock `!np` displays.
        assert_eq!(parse_duration("0:27"), Some(Duration::from_secs(27)));
        assert_eq!(parse_duration("12:05"), Some(Duration::from_secs(725)));
        assert_eq!(parse_duration("1:02:05"), Some(Duration::from_secs(3_725)));
        for bad in [
            "0:7",
            ":27",
            "1:60",
            "1:2:3",
            "1:00:00:00",
            "0:27s",
            "1::00",
            "a:00",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for bad in [
            "",
            "h",
            "10x",
            "1.5h",
            "-5m",
            "99999999999999999999w",
            "5m!",
            "m5",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h 30m");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("<@123>", &["<@!", "<@"]), Some(123));
        assert_eq!(parse_id("<@!123>", &["<@!", "<@"]), Some(123));
        assert_eq!(parse_id("123", &["<@!", "<@"]), Some(123));
        assert_eq!(parse_id("<@&123>", &["<@!", "<@"]), None);
        assert_eq!(parse_id("<@0>", &["<@"]), None);
        assert_eq!(parse_id("<@123", &["<@"]), None);
        assert_eq!(parse_id("99999999999999999999999", &["<@"]), None);
        assert_eq!(parse_id("<#>", &["<#"]), None);
    }

    #[test]
    fn quoting_is_sanitised() {
        assert_eq!(quote("a`b\nc"), "a'b c");
        assert_eq!(quote(&"x".repeat(100)).chars().count(), MAX_QUOTED + 1);
        assert_eq!(quote(""), "(empty)");
    }
}
