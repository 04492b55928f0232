//! The crate's error type.

use std::time::Duration;

use swarmcord_protocol::amqp::HeaderError;

/// Everything that can go wrong in this crate.
///
/// No variant ever contains an AMQP URL with its credentials: connection errors carry the URL
/// with its user information replaced (see [`crate::redact_url`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The AMQP URL could not be parsed (the parser's message is not shown: it quotes the URL).
    #[error("invalid AMQP URL {url}")]
    InvalidUrl {
        /// The URL with its user information redacted.
        url: String,
    },
    /// The TCP or AMQP connection could not be established.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL with its user information redacted.
        url: String,
        /// What lapin reported.
        #[source]
        source: lapin::Error,
    },
    /// The connection attempt did not finish in time.
    #[error("connecting to {url} timed out after {after:?}")]
    ConnectTimeout {
        /// The URL with its user information redacted.
        url: String,
        /// The time limit.
        after: Duration,
    },
    /// An AMQP operation failed (channel or connection closed, broker refused, ...).
    #[error("AMQP {operation} failed: {source}")]
    Amqp {
        /// What was being done (`queue.declare swarmcord.worker`, `basic.ack`, ...).
        operation: String,
        /// What lapin reported.
        #[source]
        source: lapin::Error,
    },
    /// The broker negatively acknowledged (nacked) a confirmed publish.
    #[error("the broker refused (nacked) {what}")]
    Nacked {
        /// What was published.
        what: String,
    },
    /// A delivery can no longer be acknowledged: it was already acknowledged, or the channel it
    /// arrived on is closed (for example after a reconnect). The broker redelivers it.
    #[error(
        "delivery {delivery_tag} can no longer be acknowledged (already settled, or its channel closed; the broker will redeliver it)"
    )]
    AckLost {
        /// The delivery tag on its (old) channel.
        delivery_tag: u64,
    },
    /// A name or a short-string property is longer than AMQP's 255 bytes.
    #[error("{what} is {len} bytes long, AMQP short strings hold at most 255")]
    NameTooLong {
        /// Which name (`exchange`, `routing key`, `reply_to`, ...).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A header value does not fit in an AMQP field (RabbitMQ has no unsigned 64-bit integers).
    #[error("header {name:?} = {value} does not fit in a signed 64-bit AMQP integer")]
    HeaderOutOfRange {
        /// The header's name.
        name: String,
        /// Its value.
        value: u64,
    },
    /// A header is missing or has the wrong type.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A header that is not part of [`swarmcord_protocol::amqp::EventHeaders`] is malformed.
    #[error("header {name:?} is not a {expected}")]
    MalformedHeader {
        /// The header's name.
        name: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// The connection or channel closed.
    #[error("the AMQP connection or channel is closed")]
    Disconnected,
    /// The publisher was closed (or its task ended); nothing more can be published.
    #[error("the publisher is closed")]
    Closed,
    /// [`crate::Publisher::flush`] ran out of time.
    #[error("{unconfirmed} message(s) still unconfirmed after {after:?}")]
    FlushTimeout {
        /// Messages accepted but not yet confirmed when the time ran out.
        unconfirmed: usize,
        /// The time limit.
        after: Duration,
    },
}

impl BrokerError {
    /// Wraps a lapin error with the operation that produced it.
    pub(crate) fn amqp(operation: impl Into<String>, source: lapin::Error) -> Self {
        Self::Amqp {
            operation: operation.into(),
            source,
        }
    }
}
