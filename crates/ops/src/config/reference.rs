//! The configuration reference `docs/CONFIGURATION.md`: its tables are generated from the
//! declarations ([`table`]) and checked by a test of each service ([`check_table`]), which
//! rewrites them when `UPDATE_CONFIG_REFERENCE=1` is set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use clap::{Arg, Command};

use super::common::CommonArgs;
use super::{ConfigError, Env, env_name, valid_values};

/// How to regenerate the tables of `docs/CONFIGURATION.md` after a declaration changed.
pub const REGENERATE: &str = "UPDATE_CONFIG_REFERENCE=1 cargo test -p swarmcord-ops -p swarmcord-shards -p swarmcord -p swarmcord-restproxy --lib configuration_reference";

/// The section of the configuration reference listing the variables every service reads.
pub const COMMON_SECTION: &str = "All services";

/// The rows of the table under `## {section}` of a Markdown configuration reference, by
/// variable name (names in backticks in the first cell).
pub fn reference_rows<'a>(
    doc: &'a str,
    section: &str,
) -> Result<BTreeMap<&'a str, &'a str>, String> {
    let table = doc
        .split(&format!("## {section}\n"))
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .ok_or_else(|| format!("no `## {section}` section"))?;
    Ok(table
        .lines()
        .filter_map(|line| {
            let name = line.strip_prefix("| `")?.split('`').next()?;
            Some((name, line))
        })
        .collect())
}

/// The documented default of each variable of a reference table (`None`: no default), for
/// tests that feed every documented default back into a service's configuration.
pub fn reference_defaults(
    doc: &str,
    section: &str,
) -> Result<BTreeMap<String, Option<String>>, String> {
    Ok(reference_rows(doc, section)?
        .into_iter()
        .map(|(name, row)| {
            let default = row
                .split('|')
                .map(str::trim)
                .nth(3)
                .and_then(|cell| cell.strip_prefix('`')?.strip_suffix('`'))
                .map(str::to_owned);
            (name.to_owned(), default)
        })
        .collect())
}
/// Checks a service's configuration against its reference table, fuzz-style (for tests):
/// every variable documented under `## {section}` and `## All services` has at least one entry in
/// `bad`; each bad value, set on top of `base`, fails `parse` with an error naming that variable;
/// and every documented default, set explicitly on top of `base`, parses. Returns what disagrees.
pub fn check_bad_values(
    doc: &str,
    section: &str,
    base: &[(&str, &str)],
    bad: &[(&str, &str)],
    parse: impl Fn(&Env) -> Result<(), ConfigError>,
) -> Result<(), String> {
    let mut documented = reference_defaults(doc, section)?;
    documented.extend(reference_defaults(doc, COMMON_SECTION)?);
    let env = |extra: &[(&str, &str)]| Env::from_pairs(base.iter().chain(extra).copied());
    let mut problems = Vec::new();
    for name in documented.keys() {
        if !bad.iter().any(|(variable, _)| variable == name) {
            problems.push(format!("{name}: no bad value in the table"));
        }
    }
    for (variable, value) in bad {
        match parse(&env(&[(variable, value)])) {
            Ok(()) => problems.push(format!("{variable}={value:?} was accepted")),
            Err(error) if error.variable != *variable => {
                problems.push(format!("{variable}={value:?} was reported as {error}"));
            }
            Err(_) => {}
        }
    }
    let defaults: Vec<(&str, &str)> = documented
        .iter()
        .filter_map(|(name, default)| Some((name.as_str(), default.as_deref()?)))
        .collect();
    if let Err(error) = parse(&env(&defaults)) {
        problems.push(format!("the documented defaults do not parse: {error}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The reference table of `command`'s variables, leaving out those named in `skip` (the ones
/// documented under another heading): one row per variable with its name, whether it is
/// required, its default and its help text (with what its value parser accepts, when the parser
/// says: [`valid_values`]); a secret's row names its `NAME_FILE` variant.
pub fn table(command: &Command, skip: &[&str]) -> String {
    let mut out = String::from("| variable | required | default | meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments().filter(|arg| !arg.is_hide_set()) {
        let Some(name) = env_name(arg).filter(|name| !skip.contains(name)) else {
            continue;
        };
        let required = if is_required(command, arg) {
            "yes"
        } else {
            "no"
        };
        let default = arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy())
            .collect::<Vec<_>>()
            .join(",");
        let default = if default.is_empty() {
            String::new()
        } else {
            format!("`{default}` ")
        };
        let help = help_of(arg);
        let secret = secret_file_of(command, arg)
            .map(|file| format!(" (*secret*, or `{file}`)"))
            .unwrap_or_default();
        let _ = writeln!(out, "| `{name}` | {required} | {default}| {help}{secret} |");
    }
    out
}

/// The help text of `arg`, with what its value parser accepts when the parser says
/// ([`valid_values`]).
fn help_of(arg: &Arg) -> String {
    let help = declared_help(arg);
    match valid_values(arg) {
        Some(valid) => format!("{help}; valid: {valid}"),
        None => help,
    }
}

/// The help text `arg` is declared with.
fn declared_help(arg: &Arg) -> String {
    arg.get_long_help()
        .or_else(|| arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The variables of `command`, for `skip` in [`table`].
pub fn variables(command: &Command) -> Vec<&str> {
    command.get_arguments().filter_map(env_name).collect()
}

/// Whether `arg` must be set: required itself, or the first of a required group (a secret's
/// `NAME` of `NAME` / `NAME_FILE`).
fn is_required(command: &Command, arg: &Arg) -> bool {
    arg.is_required_set()
        || command
            .get_groups()
            .any(|group| group.is_required_set() && group.get_args().next() == Some(arg.get_id()))
}

/// The `NAME_FILE` variable that can stand for the secret `arg` (`NAME`).
fn secret_file_of<'a>(command: &'a Command, arg: &Arg) -> Option<&'a str> {
    let file = format!("{}_FILE", env_name(arg)?);
    command
        .get_groups()
        .filter(|group| group.get_args().any(|id| id == arg.get_id()))
        .flat_map(clap::ArgGroup::get_args)
        .filter_map(|id| command.get_arguments().find(|a| a.get_id() == id))
        .filter_map(env_name)
        .find(|name| *name == file)
}

/// The configuration reference of this repository.
pub fn reference_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md")
}

/// Checks the table under `## {section}` of the repository's reference against the declaration
/// `T` of a service, without the variables of [`CommonArgs`] (the table under
/// [`COMMON_SECTION`]); see [`check_table`]. Checks the declaration too ([`incomplete`]).
pub fn check_service<T: clap::Args>(section: &str) -> Result<(), String> {
    let common = super::declaration::<CommonArgs>();
    check_declaration(section, &super::declaration::<T>(), &variables(&common))
}

/// [`check_service`] for the variables every service reads, under [`COMMON_SECTION`].
pub fn check_common() -> Result<(), String> {
    check_declaration(COMMON_SECTION, &super::declaration::<CommonArgs>(), &[])
}

fn check_declaration(section: &str, command: &Command, skip: &[&str]) -> Result<(), String> {
    let problems = incomplete(command);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    check_table(&reference_path(), section, &table(command, skip))
}

/// What a declaration lacks: every argument needs an environment variable, a long name (the
/// way [`Env::load`] passes its value) and, unless hidden (`NAME_FILE`), a help text (its
/// row in the reference) that does not repeat what a [`Described`](super::Described) value
/// parser accepts.
pub fn incomplete(command: &Command) -> Vec<String> {
    let mut problems = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id();
        if env_name(arg).is_none() {
            problems.push(format!("argument {id} has no `env = \"NAME\"`"));
        }
        if arg.get_long().is_none() {
            problems.push(format!("argument {id} has no `long`"));
        }
        if !arg.is_hide_set() && arg.get_help().is_none() {
            problems.push(format!("argument {id} has no help text (doc comment)"));
        }
        if valid_values(arg).is_some() && declared_help(arg).contains("valid:") {
            problems.push(format!(
                "argument {id} says in its help text what its value parser accepts (the reference adds it)"
            ));
        }
    }
    problems
}

/// Checks the table under `## {section}` of the reference at `doc` against `expected` (from
/// [`table`]); with `UPDATE_CONFIG_REFERENCE=1` in the environment, writes it there instead.
pub fn check_table(doc: &Path, section: &str, expected: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(doc).map_err(|e| format!("{}: {e}", doc.display()))?;
    let heading = format!("\n## {section}\n");
    let start = text
        .find(&heading)
        .ok_or_else(|| format!("no `## {section}` section"))?
        + heading.len();
    let end = text[start..]
        .find("\n## ")
        .map_or(text.len(), |i| start + i + 1);
    let body = &text[start..end];
    let table_start = body
        .find("\n| ")
        .map(|i| i + 1)
        .ok_or_else(|| format!("no table under `## {section}`"))?;
    let table_len = body[table_start..]
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(|line| line.len() + 1)
        .sum::<usize>();
    let current = &body[table_start..table_start + table_len];
    if current == expected {
        return Ok(());
    }
    if std::env::var_os("UPDATE_CONFIG_REFERENCE").is_some() {
        let (from, to) = (start + table_start, start + table_start + table_len);
        let updated = format!("{}{expected}{}", &text[..from], &text[to..]);
        return std::fs::write(doc, updated).map_err(|e| format!("{}: {e}", doc.display()));
    }
    let differ: Vec<String> = expected
        .lines()
        .filter(|line| !current.lines().any(|l| l == *line))
        .map(|line| format!("+ {line}"))
        .chain(
            current
                .lines()
                .filter(|line| !expected.lines().any(|l| l == *line))
                .map(|line| format!("- {line}")),
        )
        .collect();
    Err(format!(
        "the table under `## {section}` of {} differs from the declarations:\n{}\nregenerate it with `{REGENERATE}`",
        doc.display(),
        differ.join("\n")
    ))
}
