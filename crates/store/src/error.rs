//! The error type of every store operation.

use mongodb::error::{ErrorKind, WriteFailure};

/// Why a store operation failed.
///
/// Callers usually branch on [`StoreError::is_unavailable`]: the bot answers "settings
/// unavailable, try again later" instead of failing the command. Messages never contain the
/// connection string or credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// MongoDB could not be reached in time: server selection failed, the connection broke,
    /// the server is shutting down or stepping down, or the operation timed out.
    /// Retrying later may succeed.
    #[error("MongoDB unavailable: {0}")]
    Unavailable(String),
    /// The input was rejected before reaching the database (a bad prefix, locale, id…).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A document with the same unique key (`_id` or a unique index) already exists.
    #[error("duplicate key: {0}")]
    Duplicate(String),
    /// Any other database failure, including documents that do not have the expected shape.
    #[error("MongoDB error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether the database could not be reached (a transient condition).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether a document with the same unique key already exists (an insert that was
    /// already done, for example by an earlier delivery of the same event).
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, Self::Duplicate(_))
    }

    /// Whether the input was rejected by validation.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Self {
        Self::Database(format!("stored {what} has an unexpected shape: {detail}"))
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
        if unavailable {
            Self::Unavailable(message)
        } else if is_duplicate_key(&error) {
            Self::Duplicate(message)
        } else {
            Self::Database(message)
        }
    }
}

impl From<mongodb::bson::de::Error> for StoreError {
    fn from(error: mongodb::bson::de::Error) -> Self {
        Self::corrupt("document", error)
    }
}

impl From<mongodb::bson::ser::Error> for StoreError {
    fn from(error: mongodb::bson::ser::Error) -> Self {
        Self::Database(format!("could not encode a document: {error}"))
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
    use super::redact;

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
