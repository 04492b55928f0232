//! Configuration from environment variables.
//!
//! Every service reads its settings with an [`Env`], which records every variable it was asked
//! about (so a service can list what it accepts, and tests can check the deployment files
//! against it) and fails with a [`ConfigError`] that names the variable and says what is
//! wrong. A secret can come from `NAME` or, for Docker secrets, from the file named by
//! `NAME_FILE`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use crate::Secret;

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

/// How a variable is used, for the configuration reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDoc {
    /// Whether the service refuses to start without it.
    pub required: bool,
    /// Whether it is a secret (accepts `NAME_FILE`).
    pub secret: bool,
    /// Default value, if any.
    pub default: Option<String>,
    /// One-line description.
    pub help: String,
}

/// A source of environment variables that remembers which ones were read.
#[derive(Debug)]
pub struct Env {
    vars: BTreeMap<String, String>,
    seen: Mutex<BTreeMap<String, VariableDoc>>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
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
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn note(&self, name: &str, doc: VariableDoc) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), doc);
    }

    /// Every variable read so far, with how it is used.
    pub fn documented(&self) -> BTreeMap<String, VariableDoc> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks a Markdown configuration reference against the variables read so far: the
    /// table under the `## {section}` heading of `doc` must list exactly those variables
    /// (one row per variable: name, required, default, meaning; names and defaults in
    /// backticks), mark the required ones `yes`, and show each non-empty default. Returns what
    /// disagrees.
    pub fn check_reference(&self, doc: &str, section: &str) -> Result<(), String> {
        let rows = reference_rows(doc, section)?;
        // Variables every service reads (`RUST_LOG`) are documented once, under "All services".
        let common = reference_rows(doc, COMMON_SECTION).unwrap_or_default();
        let documented = self.documented();
        let mut problems = Vec::new();
        for name in rows.keys().filter(|n| !documented.contains_key(**n)) {
            problems.push(format!("{name} is documented but not read"));
        }
        for (name, variable) in &documented {
            let Some(row) = rows
                .get(name.as_str())
                .or_else(|| common.get(name.as_str()))
            else {
                problems.push(format!("{name} is read but not documented"));
                continue;
            };
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if (cells.get(2) == Some(&"yes")) != variable.required {
                problems.push(format!("{name}: required column disagrees in {row}"));
            }
            if let Some(default) = variable.default.as_ref().filter(|d| !d.is_empty())
                && cells.get(3) != Some(&format!("`{default}`").as_str())
            {
                problems.push(format!("{name}: default `{default}` missing in {row}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// An optional string.
    pub fn optional(&self, name: &str, help: &str) -> Option<String> {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: None,
                help: help.to_owned(),
            },
        );
        self.raw(name).map(str::to_owned)
    }

    /// A string with a default.
    pub fn string(&self, name: &str, default: &str, help: &str) -> String {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_owned()),
                help: help.to_owned(),
            },
        );
        self.raw(name).unwrap_or(default).to_owned()
    }

    /// A required string.
    pub fn required(&self, name: &str, help: &str) -> Result<String, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required: true,
                secret: false,
                default: None,
                help: help.to_owned(),
            },
        );
        self.raw(name)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parse<T>(&self, name: &str, default: T, help: &str) -> Result<T, ConfigError>
    where
        T: FromStr + Display,
        T::Err: Display,
    {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_string()),
                help: help.to_owned(),
            },
        );
        match self.raw(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("{raw:?} is not valid: {e}"))),
        }
    }

    /// A boolean (`true/false/1/0/yes/no/on/off`), or `default` when unset.
    pub fn flag(&self, name: &str, default: bool, help: &str) -> Result<bool, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_string()),
                help: help.to_owned(),
            },
        );
        match self.raw(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("{v:?} is not a boolean (use true or false)"),
            )),
        }
    }

    /// A number within `range`, or `default` when unset.
    pub fn bounded<T>(
        &self,
        name: &str,
        default: T,
        range: RangeInclusive<T>,
        help: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + Display + PartialOrd,
        T::Err: Display,
    {
        let value = self.parse(name, default, help)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                name,
                format!(
                    "{value} is out of range: must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    }

    /// A duration in milliseconds within `range_ms`, or `default_ms` when unset.
    pub fn millis(
        &self,
        name: &str,
        default_ms: u64,
        range_ms: RangeInclusive<u64>,
        help: &str,
    ) -> Result<Duration, ConfigError> {
        self.bounded(name, default_ms, range_ms, help)
            .map(Duration::from_millis)
    }

    /// `RUST_LOG`, the log filter every service reads (`tracing` `EnvFilter` syntax; default
    /// `info`), checked so that a typo stops the service instead of silently logging at `info`.
    pub fn log_filter(&self) -> Result<String, ConfigError> {
        let filter = self.string(
            "RUST_LOG",
            "info",
            "log filter (tracing EnvFilter syntax, e.g. info,swarmcord_shards=debug)",
        );
        tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
            ConfigError::new("RUST_LOG", format!("{filter:?} is not a log filter: {e}"))
        })?;
        Ok(filter)
    }

    /// A required secret URL whose scheme is one of `schemes` ([`check_url`]).
    pub fn secret_url(
        &self,
        name: &str,
        schemes: &[&str],
        help: &str,
    ) -> Result<Secret, ConfigError> {
        let url = self
            .secret(name, true, help)?
            .ok_or_else(|| ConfigError::new(name, "is required"))?;
        check_url(name, url.expose(), schemes)?;
        Ok(url)
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE` (Docker secrets). Setting
    /// both is an error; so is an empty or whitespace-only value. Both sources follow one
    /// trimming rule ([`trim_secret`]): surrounding whitespace, such as the file's trailing
    /// newline, is not part of the secret.
    pub fn secret(
        &self,
        name: &str,
        required: bool,
        help: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required,
                secret: true,
                default: None,
                help: help.to_owned(),
            },
        );
        let file_var = format!("{name}_FILE");
        match (self.raw(name), self.raw(&file_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                name,
                format!("set either {name} or {file_var}, not both"),
            )),
            (Some(value), None) => Ok(Some(Secret::new(trim_secret(value)))),
            (None, Some(path)) => {
                let content = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(&file_var, format!("cannot read {path:?}: {e}"))
                })?;
                let value = trim_secret(&content);
                if value.is_empty() {
                    return Err(ConfigError::new(
                        &file_var,
                        format!("the file {path:?} is empty or only whitespace"),
                    ));
                }
                Ok(Some(Secret::new(value)))
            }
            (None, None) if required => Err(ConfigError::new(
                name,
                format!("is required but neither {name} nor {file_var} is set"),
            )),
            (None, None) => Ok(None),
        }
    }
}

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

/// The schemes of a Redis URL (TCP, TLS, Unix socket).
pub const REDIS_SCHEMES: &[&str] = &["redis", "rediss", "redis+unix", "unix"];

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

/// The one trimming rule of secrets, from a variable or a file: surrounding whitespace
/// (a file's trailing newline, a pasted space) is not part of the value.
pub fn trim_secret(raw: &str) -> String {
    raw.trim().to_owned()
}

/// Checks that `value` is a URL with one of `schemes` and a host. The message names `variable`
/// and never shows the value (it may hold a password), only its redacted form.
pub fn check_url(variable: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let shown = crate::redact_url(value);
    let url = url::Url::parse(value)
        .map_err(|e| ConfigError::new(variable, format!("{shown:?} is not a URL: {e}")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::new(
            variable,
            format!(
                "{shown:?} must start with {}",
                schemes
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    if !url.scheme().ends_with("unix") && url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(variable, format!("{shown:?} has no host")));
    }
    Ok(())
}

/// Checks a `host:port` value (plain, no scheme or path), e.g. `DISCORD_API_PROXY`.
pub fn check_host_port(variable: &str, value: &str) -> Result<(), ConfigError> {
    // `Url::port` hides a scheme's default port, so the port is checked on the text.
    let has_port = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    let valid = has_port
        && !value.contains(['/', '@', '?', '#'])
        && url::Url::parse(&format!("http://{value}/"))
            .is_ok_and(|url| url.host_str().is_some_and(|h| !h.is_empty()));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            variable,
            format!("{value:?} is not host:port (e.g. sim:8090)"),
        ))
    }
}

/// Longest AMQP exchange or queue name the services accept (AMQP allows 255 bytes; the
/// gateways' reply queues add `gateway.` and the id, dead-letter names add a suffix).
pub const MAX_AMQP_NAME: usize = 200;

/// Checks an AMQP exchange or queue name: 1 to [`MAX_AMQP_NAME`] bytes of letters, digits,
/// `-`, `_`, `.` and `:`, and not in the broker's reserved `amq.` namespace.
pub fn check_amqp_name(variable: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > MAX_AMQP_NAME {
        return Err(ConfigError::new(
            variable,
            format!(
                "must be 1 to {MAX_AMQP_NAME} bytes long (it has {})",
                value.len()
            ),
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(ConfigError::new(
            variable,
            format!("{value:?} may contain only letters, digits, '-', '_', '.' and ':'"),
        ));
    }
    if value.starts_with("amq.") {
        return Err(ConfigError::new(
            variable,
            format!("{value:?} is in RabbitMQ's reserved amq. namespace"),
        ));
    }
    Ok(())
}

/// Longest short identifier (`GATEWAY_ID`, `REDIS_PREFIX`): it goes into queue names and
/// every Redis key.
pub const MAX_IDENTIFIER: usize = 64;

/// Checks a short identifier (a key prefix, a replica id): 1 to [`MAX_IDENTIFIER`] bytes, no
/// whitespace or control characters.
pub fn check_identifier(variable: &str, value: &str) -> Result<(), ConfigError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_IDENTIFIER
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            variable,
            format!(
                "must be 1 to {MAX_IDENTIFIER} bytes without spaces or control characters (got {} bytes)",
                value.len()
            ),
        ))
    }
}

/// A comma-separated list, trimmed, without empty items.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_table_is_checked_against_what_was_read() {
        let env = Env::from_pairs([("TOKEN", "t")]);
        env.secret("TOKEN", true, "the token").expect("read");
        env.parse::<u16>("PORT", 8080, "port").expect("read");
        let good = "# Config\n\n## Svc\n\n| variable | required | default | meaning |\n|---|---|---|---|\n| `TOKEN` | yes | | the token |\n| `PORT` | no | `8080` | port |\n\n## Other\n\n| `ELSEWHERE` | no | | ignored |\n";
        assert_eq!(env.check_reference(good, "Svc"), Ok(()));
        let problems = |doc: &str| env.check_reference(doc, "Svc").unwrap_err();
        assert!(
            problems(&good.replace("| `PORT` | no | `8080` | port |\n", ""))
                .contains("PORT is read but not documented")
        );
        assert!(problems(&good.replace("`8080`", "`80`")).contains("PORT: default `8080`"));
        assert!(problems(&good.replace("| yes |", "| no |")).contains("TOKEN: required"));
        assert!(
            problems(&good.replace("| `PORT`", "| `EXTRA` | no | | x |\n| `PORT`"))
                .contains("EXTRA is documented but not read")
        );
        assert!(problems("nothing").contains("no `## Svc` section"));
    }

    #[test]
    fn errors_name_the_variable() {
        let env = Env::from_pairs([("PORT", "eighty"), ("EMPTY", " ")]);
        let error = env
            .parse::<u16>("PORT", 80, "port")
            .expect_err("not a number");
        assert_eq!(error.variable, "PORT");
        assert!(
            error
                .to_string()
                .starts_with("configuration variable PORT: \"eighty\" is not valid")
        );
        assert_eq!(
            env.parse::<u16>("EMPTY", 80, "blank means unset")
                .expect("default"),
            80
        );
        let missing = env.required("TOKEN", "bot token").expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "configuration variable TOKEN: is required but not set"
        );
        assert!(env.flag("PORT", false, "x").is_err());
    }

    #[test]
    fn secrets_come_from_the_variable_or_a_file() {
        let dir = std::env::temp_dir().join(format!("ops-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.to_string_lossy().into_owned();

        let env = Env::from_pairs([("A", "direct".to_owned()), ("B_FILE", path.clone())]);
        assert_eq!(
            env.secret("A", true, "")
                .expect("a")
                .expect("some")
                .expose(),
            "direct"
        );
        assert_eq!(
            env.secret("B", true, "")
                .expect("b")
                .expect("some")
                .expose(),
            "from-file"
        );
        assert!(env.secret("C", false, "").expect("optional").is_none());
        assert!(env.secret("C", true, "").is_err());

        let both = Env::from_pairs([("A", "x".to_owned()), ("A_FILE", path)]);
        assert!(
            both.secret("A", true, "")
                .expect_err("both")
                .to_string()
                .contains("not both")
        );
        let missing = Env::from_pairs([("A_FILE", "/nonexistent/secret")]);
        let error = missing.secret("A", true, "").expect_err("unreadable");
        assert_eq!(error.variable, "A_FILE");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn every_read_variable_is_documented() {
        let env = Env::from_pairs([("X", "1")]);
        let _ = env.parse::<u32>("X", 5, "an x");
        let _ = env.secret("TOKEN", true, "the token");
        let docs = env.documented();
        assert_eq!(docs["X"].default.as_deref(), Some("5"));
        assert!(docs["TOKEN"].secret && docs["TOKEN"].required);
    }

    #[test]
    fn secrets_follow_one_trimming_rule_and_whitespace_is_not_a_secret() {
        let dir = std::env::temp_dir().join(format!("ops-trim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let blank = dir.join("blank");
        std::fs::write(&blank, " \t\n\n").expect("write");
        let padded = dir.join("padded");
        std::fs::write(&padded, "  t0ken \r\n").expect("write");
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

        let env = Env::from_pairs([("A_FILE", path(&blank))]);
        let error = env.secret("A", true, "").expect_err("whitespace only");
        assert_eq!(error.variable, "A_FILE", "{error}");
        let from_file = Env::from_pairs([("A_FILE", path(&padded))]);
        let from_variable = Env::from_pairs([("A", "  t0ken \r\n")]);
        for env in [from_file, from_variable] {
            let secret = env.secret("A", true, "").expect("valid").expect("set");
            assert_eq!(secret.expose(), "t0ken");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn numbers_are_bounded_and_urls_checked_without_showing_passwords() {
        let env = Env::from_pairs([("N", "0"), ("BIG", "18446744073709551615")]);
        assert_eq!(
            env.bounded::<u32>("N", 5, 1..=10, "")
                .expect_err("0")
                .variable,
            "N"
        );
        let error = env.millis("BIG", 5, 1..=600_000, "").expect_err("too big");
        assert!(
            error.to_string().contains("between 1 and 600000"),
            "{error}"
        );
        assert_eq!(
            env.bounded::<u32>("UNSET", 5, 1..=10, "").expect("default"),
            5
        );

        let error =
            check_url("AMQP_URL", "http://u:hunter2@h/", &["amqp", "amqps"]).expect_err("scheme");
        assert!(
            !error.to_string().contains("hunter2") && error.problem.contains("amqp://"),
            "{error}"
        );
        assert!(check_url("REDIS_URL", "redis://:pw@h:6379/0", REDIS_SCHEMES).is_ok());
        assert!(check_url("REDIS_URL", "redis+unix:///run/redis.sock", REDIS_SCHEMES).is_ok());
        assert!(check_url("REDIS_URL", "localhost:6379", REDIS_SCHEMES).is_err());
        assert!(check_url("X", "ws://", &["ws"]).is_err());

        assert!(check_host_port("P", "sim:8090").is_ok());
        assert!(check_host_port("P", "[::1]:80").is_ok());
        for bad in ["sim", "http://sim:80", "sim:80/x", "sim:port", "a b:1"] {
            assert!(check_host_port("P", bad).is_err(), "{bad}");
        }

        assert!(check_amqp_name("E", "swarmcord.events").is_ok());
        for bad in ["", "amq.topic", "a b", &"x".repeat(MAX_AMQP_NAME + 1)] {
            assert_eq!(check_amqp_name("E", bad).expect_err(bad).variable, "E");
        }
        assert!(check_identifier("I", &"x".repeat(MAX_IDENTIFIER)).is_ok());
        assert!(check_identifier("I", &"x".repeat(MAX_IDENTIFIER + 1)).is_err());
    }

    #[test]
    fn the_log_filter_is_checked() {
        assert_eq!(
            Env::from_pairs([("X", "1")]).log_filter().expect("default"),
            "info"
        );
        let env = Env::from_pairs([("RUST_LOG", "info,swarmcord_shards=debug")]);
        assert!(env.log_filter().is_ok());
        let error = Env::from_pairs([("RUST_LOG", "swarmcord=loud")])
            .log_filter()
            .expect_err("invalid");
        assert_eq!(error.variable, "RUST_LOG");
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(split_list(" a, b ,,c "), ["a", "b", "c"]);
        assert!(split_list("").is_empty());
    }
}
