//! Configuration from environment variables, declared with `clap`.
//!
//! Each service declares its variables as a `clap::Args` struct: one field per variable with
//! its name (`env = "NAME"`), default, help text (the field's doc comment) and value parser
//! ([`rules`]). The parts every service shares are in [`common`]. [`Env::load`] reads such a
//! declaration from the environment and fails with a [`ConfigError`] that names the variable
//! and says what is wrong; the reference `docs/CONFIGURATION.md` is generated from the same
//! declarations ([`reference`]), with what a [`Described`] parser ([`bounded`], [`millis`])
//! accepts appended to the help text, which therefore does not repeat it. A secret can come from `NAME` or, for Docker secrets, from the
//! file named by `NAME_FILE` ([`secret_variable!`](crate::secret_variable)).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use clap::builder::Resettable;
use clap::error::{ContextKind, ContextValue};
use clap::{Arg, Command};

pub mod common;
pub mod reference;
pub mod rules;

pub use reference::{COMMON_SECTION, check_bad_values, reference_defaults, reference_rows};
pub use rules::{
    Described, MAX_AMQP_NAME, MAX_IDENTIFIER, REDIS_SCHEMES, Valid, amqp_name, bounded,
    check_amqp_name, check_host_port, check_identifier, check_url, described, host_port,
    identifier, log_filter, millis, parsed, schemes, secret_file, secret_value, split_list,
    trim_secret, url, valid_values,
};

/// A configuration variable that is missing, unreadable or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: String,
    /// What is wrong with it (never contains a secret's value).
    pub problem: String,
}

impl ConfigError {
    /// An error about `variable`.
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            problem: problem.into(),
        }
    }
}

/// What a service does with an invalid configuration: logs it (as text when logging is not set
/// up yet), naming the variable, and stops with exit code 2.
pub fn invalid_configuration(error: &ConfigError) -> std::process::ExitCode {
    crate::telemetry::init_logging(crate::telemetry::LogFormat::Text);
    tracing::error!(variable = %error.variable, "invalid configuration: {error}");
    std::process::ExitCode::from(2)
}

/// A set of environment variables: the process's, or fixed ones (tests, embedding).
#[derive(Debug, Clone)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment (a value that is not UTF-8 is read lossily, and then refused by
    /// its variable's rules).
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }))
    }

    /// A fixed set of variables (tests, tools).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; a blank one counts as unset.
    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// Reads the declaration `T` from these variables (never from the process's arguments or,
    /// for fixed variables, its environment). Checks, in this order: the required variables
    /// and the pairs that exclude each other (`NAME` / `NAME_FILE`), in declaration order; then
    /// each value with its parser. The error names the variable.
    pub fn load<T: clap::Args>(&self) -> Result<T, ConfigError> {
        let command = declaration::<T>();
        let mut args = Vec::new();
        let mut given = BTreeSet::new();
        for arg in command.get_arguments() {
            let Some(name) = env_name(arg) else { continue };
            let Some(value) = self.raw(name) else {
                continue;
            };
            let long = arg
                .get_long()
                .ok_or_else(|| ConfigError::new(name, "is declared without a long name"))?;
            args.push(OsString::from(format!("--{long}={value}")));
            given.insert(arg.get_id().as_str());
        }
        check_presence(&command, &given)?;
        // The values come from `args` only: the process environment clap captured is dropped.
        let mut parser = command.clone().mut_args(|arg| arg.env(Resettable::Reset));
        let matches = parser
            .try_get_matches_from_mut(args)
            .map_err(|e| from_clap(&command, &e))?;
        T::from_arg_matches(&matches).map_err(|e| from_clap(&command, &e))
    }
}

/// The `clap` command of a declaration: its variables as long options, no help or version
/// flags, no binary name.
pub fn declaration<T: clap::Args>() -> Command {
    T::augment_args(
        Command::new("swarmcord")
            .no_binary_name(true)
            .disable_help_flag(true)
            .disable_version_flag(true),
    )
}

/// The environment variable an argument is read from.
pub fn env_name(arg: &Arg) -> Option<&str> {
    arg.get_env().and_then(|name| name.to_str())
}

/// The variable of the argument with id `id`.
fn env_of<'a>(command: &'a Command, id: &'a clap::Id) -> &'a str {
    command
        .get_arguments()
        .find(|arg| arg.get_id() == id)
        .and_then(env_name)
        .unwrap_or(id.as_str())
}

/// Required variables that are missing, and pairs of which more than one is set.
fn check_presence(command: &Command, given: &BTreeSet<&str>) -> Result<(), ConfigError> {
    for arg in command.get_arguments() {
        if arg.is_required_set() && !given.contains(arg.get_id().as_str()) {
            let name = env_name(arg).unwrap_or(arg.get_id().as_str());
            return Err(ConfigError::new(name, "is required but not set"));
        }
    }
    for group in command.get_groups() {
        let names: Vec<&str> = group.get_args().map(|id| env_of(command, id)).collect();
        let set = group
            .get_args()
            .filter(|id| given.contains(id.as_str()))
            .count();
        let Some(first) = names.first() else { continue };
        if group.is_required_set() && set == 0 {
            return Err(ConfigError::new(
                *first,
                format!("is required but neither {} is set", names.join(" nor ")),
            ));
        }
        if !group.clone().is_multiple() && set > 1 {
            return Err(ConfigError::new(
                *first,
                format!("set either {}, not both", names.join(" or ")),
            ));
        }
    }
    Ok(())
}

/// A `clap` error as a [`ConfigError`] naming the variable (a value parser's message is the
/// problem; clap's own rendering would show the value, which may be a secret).
fn from_clap(command: &Command, error: &clap::Error) -> ConfigError {
    let option = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(option)) => option.as_str(),
        _ => "",
    };
    let variable = command
        .get_arguments()
        .find(|arg| {
            arg.get_long().is_some_and(|long| {
                option
                    .strip_prefix("--")
                    .and_then(|rest| rest.strip_prefix(long))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '=']))
            })
        })
        .and_then(env_name)
        .unwrap_or("configuration");
    let problem = std::error::Error::source(error)
        .map_or_else(|| error.kind().to_string(), ToString::to_string);
    ConfigError::new(variable, problem)
}

#[cfg(test)]
mod tests;
