//! The crate's error type.

/// Why a cache operation failed.
///
/// Messages never contain the Redis URL or the bot token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Redis answered with an error, or the connection failed.
    #[error("Redis {operation} failed: {source}")]
    Redis {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        source: redis::RedisError,
    },
    /// A value stored in Redis could not be decoded (treat the entry as missing).
    #[error("malformed {what} in the cache: {source}")]
    Decode {
        /// Which value.
        what: &'static str,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The REST fallback failed (other than "not found").
    #[error("Discord REST {operation} failed: {source}")]
    Rest {
        /// What was being fetched.
        operation: &'static str,
        /// twilight-http's error (the request's, or reading its body's).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl CacheError {
    pub(crate) fn redis(operation: &'static str, source: redis::RedisError) -> Self {
        Self::Redis { operation, source }
    }
}
