//! The validation rules of configuration values, and the `clap` value parsers built on them.
//!
//! A value parser gets the variable's text (never blank: a blank variable counts as unset) and
//! returns the value or what is wrong with it; [`Env::load`](super::Env::load) adds the
//! variable's name. The `check_*` functions are the rules themselves, for values that are
//! checked after parsing (a secret URL, a generated default).

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;
use crate::Secret;

/// The schemes of a Redis URL (TCP, TLS, Unix socket).
pub const REDIS_SCHEMES: &[&str] = &["redis", "rediss", "redis+unix", "unix"];
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

/// A value parsed with `FromStr` (surrounding whitespace ignored).
pub fn parsed<T>(raw: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim()
        .parse()
        .map_err(|e| format!("{raw:?} is not valid: {e}"))
}

/// What a value parser accepts, in the words of the configuration reference (e.g.
/// `` `1`–`65535` ``): the error a [`Described`] parser gives for a blank value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("valid: {0}")]
pub struct Valid(pub String);

/// A value parser that says which values it accepts, so that a help text never repeats a
/// parser's bounds by hand: given a blank value (which [`Env::load`](super::Env::load) never
/// passes, a blank variable being unset) it fails with [`Valid`], and the configuration
/// reference appends that to the variable's help text ([`valid_values`]).
#[derive(Clone)]
pub struct Described<F> {
    parse: F,
    valid: String,
}

/// `parse`, described as accepting `valid` (the reference's words, e.g. `` `1`–`65535` ``).
pub fn described<F>(valid: impl Into<String>, parse: F) -> Described<F> {
    Described {
        parse,
        valid: valid.into(),
    }
}

impl<F, T> clap::builder::TypedValueParser for Described<F>
where
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let (parse, valid) = (self.parse.clone(), self.valid.clone());
        let described = move |raw: &str| -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
            if raw.trim().is_empty() {
                Err(Box::new(Valid(valid.clone())))
            } else {
                parse(raw).map_err(Into::into)
            }
        };
        described.parse_ref(command, arg, value)
    }
}

/// What the value parser of `arg` accepts, if it says ([`Described`]): asks it about a blank
/// value, through a command of that argument alone (a value parser is only reachable through
/// clap's parsing).
pub fn valid_values(arg: &clap::Arg) -> Option<String> {
    let long = arg.get_long()?;
    let probe = clap::Command::new("probe")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            arg.clone()
                .required(false)
                .env(clap::builder::Resettable::Reset),
        );
    let error = probe.try_get_matches_from([format!("--{long}=")]).err()?;
    let source = std::error::Error::source(&error)?;
    source.downcast_ref::<Valid>().map(|valid| valid.0.clone())
}

/// A number within `range`, described as `` `start`–`end` ``.
pub fn bounded<T>(range: RangeInclusive<T>) -> Described<impl Fn(&str) -> Result<T, String> + Clone>
where
    T: FromStr + Display + PartialOrd + Clone,
    T::Err: Display,
{
    let valid = format!("`{}`–`{}`", range.start(), range.end());
    described(valid, move |raw: &str| {
        let value = parsed::<T>(raw)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "{value} is out of range: must be between {} and {}",
                range.start(),
                range.end()
            ))
        }
    })
}

/// A duration in milliseconds within `range_ms`, described as `` `start`–`end` ``.
pub fn millis(
    range_ms: RangeInclusive<u64>,
) -> Described<impl Fn(&str) -> Result<Duration, String> + Clone> {
    let Described { parse, valid } = bounded(range_ms);
    described(valid, move |raw: &str| {
        parse(raw).map(Duration::from_millis)
    })
}

/// `RUST_LOG`: a `tracing` `EnvFilter`, checked so that a typo stops the service instead of
/// silently logging at `info`.
pub fn log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| format!("{raw:?} is not a log filter: {e}"))
}

/// A secret given in the variable itself ([`trim_secret`]).
#[allow(clippy::unnecessary_wraps)] // the signature of a value parser
pub fn secret_value(raw: &str) -> Result<Secret, String> {
    Ok(Secret::new(trim_secret(raw)))
}

/// A secret read from the file named by a `NAME_FILE` variable (Docker secrets): the same
/// trimming rule as [`secret_value`]; an unreadable file, or one of only whitespace, is an error.
pub fn secret_file(path: &str) -> Result<Secret, String> {
    let content =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    let value = trim_secret(&content);
    if value.is_empty() {
        return Err(format!("the file {path:?} is empty or only whitespace"));
    }
    Ok(Secret::new(value))
}

/// A rule of this module as a value parser (the variable is named by the caller).
fn rule(check: fn(&str, &str) -> Result<(), ConfigError>, raw: &str) -> Result<String, String> {
    check("", raw)
        .map(|()| raw.to_owned())
        .map_err(|e| e.problem)
}

/// An AMQP exchange or queue name ([`check_amqp_name`]).
pub fn amqp_name() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(
        format!("AMQP name: at most {MAX_AMQP_NAME} of letters, digits, `-_.:`, not `amq.*`"),
        |raw: &str| rule(check_amqp_name, raw),
    )
}

/// A short identifier ([`check_identifier`]).
pub fn identifier() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(
        format!("1–{MAX_IDENTIFIER} bytes, no spaces"),
        |raw: &str| rule(check_identifier, raw),
    )
}

/// A `host:port` ([`check_host_port`]).
pub fn host_port() -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described("`host:port`", |raw: &str| rule(check_host_port, raw))
}

/// URL schemes in the reference's words: `` `ws://` or `wss://` ``.
pub fn schemes(schemes: &[&str]) -> String {
    let schemes: Vec<String> = schemes
        .iter()
        .map(|scheme| format!("`{scheme}://`"))
        .collect();
    match schemes.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A URL with one of `schemes` ([`check_url`]), for values that are not secrets.
pub fn url(
    schemes: &'static [&'static str],
) -> Described<impl Fn(&str) -> Result<String, String> + Clone> {
    described(self::schemes(schemes), move |raw: &str| {
        check_url("", raw, schemes)
            .map(|()| raw.to_owned())
            .map_err(|e| e.problem)
    })
}
