//! Idempotent declarations of swarmcord's exchanges and queues (see
//! [`swarmcord_protocol::amqp`] for the picture).
//!
//! Every function may be called again with the same arguments (at every start-up and after
//! every reconnect). Declaring an existing queue with *different* arguments is refused by
//! RabbitMQ (`PRECONDITION_FAILED`, which also closes the channel).

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use swarmcord_protocol::amqp::{DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, gateway_queue};

use crate::BrokerError;
use crate::headers::short;

/// Declares a durable topic exchange (the events exchange is
/// [`swarmcord_protocol::amqp::EVENTS_EXCHANGE`]; tests declare their own).
pub async fn declare_events_exchange(channel: &Channel, name: &str) -> Result<(), BrokerError> {
    declare_exchange(channel, name, ExchangeKind::Topic).await
}

/// Declares a durable exchange of any kind.
pub async fn declare_exchange(
    channel: &Channel,
    name: &str,
    kind: ExchangeKind,
) -> Result<(), BrokerError> {
    channel
        .exchange_declare(
            short("exchange", name)?,
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| BrokerError::amqp(format!("exchange.declare {name}"), e))
}

/// Declares [`DEAD_LETTER_EXCHANGE`] (fanout, durable) and [`DEAD_LETTER_QUEUE`] (durable)
/// bound to it.
pub async fn declare_dead_letters(channel: &Channel) -> Result<(), BrokerError> {
    declare_dead_letters_named(channel, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE).await
}

/// [`declare_dead_letters`] with other names (tests isolate themselves this way).
pub async fn declare_dead_letters_named(
    channel: &Channel,
    exchange: &str,
    queue: &str,
) -> Result<(), BrokerError> {
    declare_exchange(channel, exchange, ExchangeKind::Fanout).await?;
    declare_queue(channel, queue, durable(), FieldTable::default()).await?;
    bind(channel, queue, exchange, "").await
}

/// Declares a durable work queue whose rejected messages go to [`DEAD_LETTER_EXCHANGE`], bound
/// to `exchange` with each routing key of `bindings`.
///
/// Routing keys are event types (`MESSAGE_CREATE`): topic wildcards only match whole
/// dot-separated words, so bind each event type by name, or `#` for every event
/// (`MESSAGE_*` matches nothing but the literal key `MESSAGE_*`).
pub async fn declare_work_queue(
    channel: &Channel,
    name: &str,
    bindings: &[&str],
    exchange: &str,
) -> Result<(), BrokerError> {
    declare_work_queue_with_dead_letters(channel, name, bindings, exchange, DEAD_LETTER_EXCHANGE)
        .await
}

/// [`declare_work_queue`] with another dead-letter exchange.
pub async fn declare_work_queue_with_dead_letters(
    channel: &Channel,
    name: &str,
    bindings: &[&str],
    exchange: &str,
    dead_letter_exchange: &str,
) -> Result<(), BrokerError> {
    declare_queue(
        channel,
        name,
        durable(),
        dead_letter_arguments(dead_letter_exchange)?,
    )
    .await?;
    for key in bindings {
        bind(channel, name, exchange, key).await?;
    }
    Ok(())
}

/// The delay queue of `queue` for retries after `delay`: `{queue}.retry.{ms}ms`.
pub fn retry_queue(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

/// Declares a durable delay queue ([`retry_queue`]) for each non-zero delay of `delays`: a
/// message published to it waits there for its delay (`x-message-ttl`), then RabbitMQ
/// dead-letters it back to `queue` through the default exchange (no delayed-message plugin
/// needed). Changing the delays declares new queues; the old ones empty themselves.
pub async fn declare_retry_queues(
    channel: &Channel,
    queue: &str,
    delays: &[Duration],
) -> Result<(), BrokerError> {
    for delay in delays.iter().filter(|d| !d.is_zero()) {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(queue)),
        );
        declare_queue(channel, &retry_queue(queue, *delay), durable(), arguments).await?;
    }
    Ok(())
}

/// Declares a gateway's reply queue `gateway.<gateway_id>` and returns its name.
///
/// The name is chosen by the client (never a server-named `amq.gen-…`, which RabbitMQ refuses
/// to redeclare). The queue is **exclusive** (only its gateway may consume it) and
/// auto-delete: it disappears with the connection that declared it, so the gateway must call
/// this again on every new connection, before consuming. Workers publish to it through the
/// default exchange with the queue name as routing key; rejected commands go to
/// [`DEAD_LETTER_EXCHANGE`].
pub async fn declare_reply_queue(
    channel: &Channel,
    gateway_id: &str,
) -> Result<String, BrokerError> {
    let name = gateway_queue(gateway_id);
    declare_queue(
        channel,
        &name,
        QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
        dead_letter_arguments(DEAD_LETTER_EXCHANGE)?,
    )
    .await?;
    Ok(name)
}

/// Binds `queue` to `exchange` with `routing_key`.
pub async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
) -> Result<(), BrokerError> {
    channel
        .queue_bind(
            short("queue", queue)?,
            short("exchange", exchange)?,
            short("routing key", routing_key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| BrokerError::amqp(format!("queue.bind {queue} {exchange} {routing_key}"), e))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn dead_letter_arguments(exchange: &str) -> Result<FieldTable, BrokerError> {
    let mut arguments = FieldTable::default();
    // Validate the length like every other name (the argument itself is a long string).
    short("dead-letter exchange", exchange)?;
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(exchange)),
    );
    Ok(arguments)
}

async fn declare_queue(
    channel: &Channel,
    name: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> Result<(), BrokerError> {
    channel
        .queue_declare(short("queue", name)?, options, arguments)
        .await
        .map(drop)
        .map_err(|e| BrokerError::amqp(format!("queue.declare {name}"), e))
}
