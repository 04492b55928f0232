//! Secrets that never print, and URL redaction: the one place credentials are wrapped.
//!
//! A leaf crate (no dependencies) so that every crate a credential travels through — the
//! configuration, the broker and the event stream, the stores, voice — can take a [`Secret`] instead of a
//! plain `String`.

use std::fmt;

/// A secret string (token, password, URL with credentials). `Debug` and `Display` print
/// `[redacted]`; the value is reachable only through [`Secret::expose`], so it cannot end up in
/// a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value. Call this only where the secret is handed to the library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value with its user information redacted ([`redact_url`]), for URLs in logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// The URL with its user information (user name and password) replaced by `***`, for errors and
/// logs: `amqp://guest:secret@host:5672/%2f` becomes `amqp://***@host:5672/%2f`.
///
/// Works on anything URL-shaped, including unparsable input and input without a scheme (which
/// is shown without anything before the last `@` of its authority).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    // The authority ends at the first '/', '?' or '#'; user information ends at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}{tail}", &authority[at + 1..]),
        None => format!("{scheme}{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(
            Secret::from("amqp://u:hunter2@h/").redacted_url(),
            "amqp://***@h/"
        );
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://u:p@ss@host/vh?heartbeat=10"),
            "amqps://***@host/vh?heartbeat=10"
        );
        assert_eq!(redact_url("redis://:pw@r:6379/0"), "redis://***@r:6379/0");
        assert_eq!(redact_url("redis://r:6379/0"), "redis://r:6379/0");
        assert_eq!(
            redact_url("mongodb://a:b@h/db?x=@y"),
            "mongodb://***@h/db?x=@y"
        );
        assert_eq!(redact_url("amqp://host/a@b"), "amqp://host/a@b");
        // Without a scheme the credentials still go.
        assert_eq!(redact_url("user:pw@host"), "***@host");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
