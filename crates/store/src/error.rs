//! The error type of every store operation.

use std::fmt;
use std::sync::Arc;

use mongodb::error::{ErrorKind, WriteFailure};

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorType {
    /// MongoDB could not be reached in time: server selection failed, the connection broke,
    /// the server is shutting down or stepping down, or the operation timed out.
    /// Retrying later may succeed.
    Unavailable,
    /// The input was rejected before reaching the database (a bad prefix, locale, id…).
    Invalid,
    /// A document with the same unique key (`_id` or a unique index) already exists.
    Duplicate,
    /// Any other database failure, including documents that do not have the expected shape.
    Database,
}

/// Why a store operation failed: its [`StoreErrorType`], a message, and the driver's (or
/// decoder's) error when there is one.
///
/// Callers usually branch on [`StoreError::is_unavailable`]: the bot answers "settings
/// unavailable, try again later" instead of failing the command. Messages never contain the
/// connection string or credentials (the message is redacted; the source is never displayed).
#[derive(Debug, Clone)]
pub struct StoreError {
    kind: StoreErrorType,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StoreErrorType::Unavailable => "MongoDB unavailable",
            StoreErrorType::Invalid => "invalid input",
            StoreErrorType::Duplicate => "duplicate key",
            StoreErrorType::Database => "MongoDB error",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl StoreError {
    pub(crate) fn new(kind: StoreErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    #[must_use]
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorType {
        self.kind
    }

    /// The (redacted) explanation, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the database could not be reached (a transient condition).
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorType::Unavailable
    }

    /// Whether a document with the same unique key already exists (an insert that was
    /// already done, for example by an earlier delivery of the same event).
    pub fn is_duplicate_key(&self) -> bool {
        self.kind == StoreErrorType::Duplicate
    }

    /// Whether the input was rejected by validation.
    pub fn is_invalid(&self) -> bool {
        self.kind == StoreErrorType::Invalid
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StoreErrorType::Invalid, message)
    }

    pub(crate) fn corrupt(what: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            StoreErrorType::Database,
            format!("stored {what} has an unexpected shape: {detail}"),
        )
    }
}

/// Server error codes that mean "this server cannot serve you right now".
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The duplicate-key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

impl From<mongodb::error::Error> for StoreError {
    fn from(error: mongodb::error::Error) -> Self {
        let unavailable = match error.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. } => true,
            ErrorKind::Command(command) => UNAVAILABLE_CODES.contains(&command.code),
            ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => {
                UNAVAILABLE_CODES.contains(&concern.code)
            }
            _ => false,
        };
        let message = redact(&error.to_string());
        let kind = if unavailable {
            StoreErrorType::Unavailable
        } else if is_duplicate_key(&error) {
            StoreErrorType::Duplicate
        } else {
            StoreErrorType::Database
        };
        Self::new(kind, message).with_source(error)
    }
}

impl From<mongodb::bson::de::Error> for StoreError {
    fn from(error: mongodb::bson::de::Error) -> Self {
        Self::corrupt("document", &error).with_source(error)
    }
}

impl From<mongodb::bson::ser::Error> for StoreError {
    fn from(error: mongodb::bson::ser::Error) -> Self {
        Self::new(
            StoreErrorType::Database,
            format!("could not encode a document: {error}"),
        )
        .with_source(error)
    }
}

/// Whether `error` is a duplicate-key error (code 11000), as a write error or a command error.
pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// Removes the user-info part (`user:password@`) of anything that looks like a URL in
/// `message`. The driver does not put credentials in its messages; this is a second line of
/// defence so that a secret can never reach a log through a [`StoreError`].
pub(crate) fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("<redacted>@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{StoreError, StoreErrorType, redact};

    #[test]
    fn a_decoding_failure_keeps_its_source() {
        #[derive(Debug, serde::Deserialize)]
        struct Shape {
            #[allow(dead_code, reason = "only decoded")]
            name: String,
        }
        let decoded = mongodb::bson::from_document::<Shape>(mongodb::bson::doc! {"name": 1});
        let error = StoreError::from(decoded.expect_err("wrong shape"));
        assert_eq!(error.kind(), StoreErrorType::Database);
        assert!(
            error
                .to_string()
                .starts_with("MongoDB error: stored document has an unexpected shape")
        );
        let source = std::error::Error::source(&error).expect("the decoder's error");
        assert!(source.is::<mongodb::bson::de::Error>());
    }

    #[test]
    fn redact_removes_user_info() {
        assert_eq!(
            redact("failed mongodb://bot:s3cret@db:27017/?x=1 and http://h/p"),
            "failed mongodb://<redacted>@db:27017/?x=1 and http://h/p"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("mongodb://u:p@h"), "mongodb://<redacted>@h");
    }
}
