//! The crate's error type.

use std::fmt;
use std::time::Duration;

/// Why a coordination operation failed.
///
/// Messages never contain the Redis URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordError {
    /// The Redis URL could not be parsed (the URL itself is deliberately not shown).
    #[error("the Redis URL is not valid (not shown: it may contain a password)")]
    InvalidUrl,
    /// Redis answered with an error, or the connection failed.
    #[error("Redis {operation} failed: {error}")]
    Redis {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        error: redis::RedisError,
    },
    /// Redis did not answer in time.
    #[error("Redis {operation} timed out after {timeout:?}")]
    Timeout {
        /// What was being done.
        operation: &'static str,
        /// How long we waited.
        timeout: Duration,
    },
    /// Waiting for a shard's lease was cancelled.
    #[error("cancelled while waiting for the lease of shard {shard_id}")]
    Cancelled {
        /// The shard whose lease we were waiting for.
        shard_id: u32,
    },
    /// A value stored in Redis could not be decoded.
    #[error("malformed {what} in Redis: {reason}")]
    Malformed {
        /// Which value.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be encoded for Redis.
    #[error("could not encode {what}: {reason}")]
    Encode {
        /// Which value.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A background task was requested outside a Tokio runtime.
    #[error("no Tokio runtime is running; {what} needs one")]
    NoRuntime {
        /// What needed the runtime.
        what: &'static str,
    },
}

impl CoordError {
    pub(crate) fn redis(operation: &'static str, error: redis::RedisError) -> Self {
        Self::Redis { operation, error }
    }

    pub(crate) fn malformed(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
