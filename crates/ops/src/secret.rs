use std::fmt;

/// A secret string (token, password, URL with credentials). `Debug` and `Display` print
/// `[redacted]`; the value is reachable only through [`Secret::expose`], so it cannot end up in
/// a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
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

/// Removes the user-info part (`user:password@`) of a URL, for logs: `amqp://u:p@host/` →
/// `amqp://***@host/`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
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
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("amqp://u:p@host:5672/%2f"),
            "amqp://***@host:5672/%2f"
        );
        assert_eq!(redact_url("redis://:pw@r:6379/0"), "redis://***@r:6379/0");
        assert_eq!(redact_url("redis://r:6379/0"), "redis://r:6379/0");
        assert_eq!(
            redact_url("mongodb://a:b@h/db?x=@y"),
            "mongodb://***@h/db?x=@y"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
