//! RabbitMQ for swarmcord: topology, a confirmed publisher, acking consumers with
//! dead-lettering.
//!
//! - [`connect`]: a connection with a name RabbitMQ shows; credentials never reach an error or
//!   a log ([`redact_url`]).
//! - Topology ([`declare_events_exchange`], [`declare_dead_letters`], [`declare_work_queue`],
//!   [`declare_reply_queue`]): idempotent declarations of the names in
//!   [`swarmcord_protocol::amqp`].
//! - [`Publisher`]: publisher confirms with a pipelined window, a buffer bounded in messages
//!   and in bytes ([`ByteBudget`]) whose
//!   `publish` waits when full (back-pressure instead of dropping events), confirmations
//!   reported in publish order, and its own reconnect loop that publishes every unconfirmed
//!   message again, in order.
//! - [`consume`]: a stream of [`Incoming`] deliveries with manual acks,
//!   [`Incoming::dead_letter`] (the reason travels in a header) and
//!   [`Incoming::retry_or_dead_letter`] (retries wait in delay queues: [`declare_retry_queues`]);
//! - [`replay_dead_letters`]: puts dead letters back in the queues they came from, after a fix.
//! - [`headers`]: [`swarmcord_protocol::amqp::HeaderValue`] ↔ lapin's `AMQPValue` /
//!   `FieldTable`.
//!
//! Delivery is at least once everywhere: a confirm lost with its connection means the message
//! is published again, and an ack lost with its channel means it is delivered again. Consumers
//! de-duplicate with [`swarmcord_protocol::amqp::EventHeaders::event_id`] where it matters.
//!
//! lapin's automatic connection recovery is not used: after a recovery, confirms and acks that
//! belong to the old connection fail (see the design notes). The publisher reconnects by
//! itself; consumers are restarted by their owner on a new connection.

mod budget;
mod connect;
mod consumer;
mod error;
pub mod headers;
mod publisher;
mod replay;
mod topology;

pub use budget::{ByteBudget, Reserved};
pub use connect::{CONNECT_TIMEOUT, connect, connect_with_timeout, redact_url};
pub use consumer::{ConsumeOptions, Deliveries, Disposition, Incoming, consume, consume_with};
pub use error::BrokerError;
pub use headers::ATTEMPTS;
pub use publisher::{
    Confirmed, METRIC_BUFFER, METRIC_CONFIRM_SECONDS, METRIC_CONNECTED, METRIC_PUBLISHED,
    METRIC_REPUBLISHED, Outgoing, Publisher, PublisherConfig, SetupHook, describe_metrics,
};
pub use replay::{Replayed, replay_dead_letters};
pub use topology::{
    bind, declare_dead_letters, declare_dead_letters_named, declare_events_exchange,
    declare_exchange, declare_reply_queue, declare_retry_queues, declare_work_queue,
    declare_work_queue_with_dead_letters, retry_queue,
};

/// The lapin crate this crate is built on (for `Channel`, `Connection`, option types).
pub use lapin;
