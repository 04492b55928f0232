//! Watching and feeding RabbitMQ in end-to-end tests: a [`Tap`] on an exchange, durable
//! sinks drained later, and raw publishes (to an exchange or a gateway's command queue).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::mpsc;

use crate::unique_name;

/// A forwarded event as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The routing key (the event's type, such as `MESSAGE_CREATE`).
    pub kind: String,
    /// The body, parsed (`null` when it is not JSON).
    pub body: serde_json::Value,
    /// The AMQP headers, as text.
    pub headers: HashMap<String, String>,
    /// The `reply_to` property.
    pub reply_to: Option<String>,
}

impl Seen {
    /// The header `name` as a number; panics when it is missing or not a number.
    pub fn header_u64(&self, name: &str) -> u64 {
        self.headers
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("header {name} in {:?}", self.headers))
    }
}

/// A consumer bound to an exchange with `#` (an auto-deleted queue of its own).
pub struct Tap {
    /// Every delivery, acknowledged, in order.
    pub rx: mpsc::UnboundedReceiver<Seen>,
    _conn: Connection,
}

impl Tap {
    /// Declares `exchange` (durable, of `kind`) and consumes a new queue bound to it.
    pub async fn start(url: &str, exchange: &str, kind: ExchangeKind) -> Self {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = conn.create_channel().await.expect("channel");
        let queue = bound_queue_of(&channel, exchange, kind, false).await;
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let headers = delivery
                    .properties
                    .headers()
                    .as_ref()
                    .map(|table| {
                        table
                            .inner()
                            .iter()
                            .map(|(k, v)| (k.to_string(), amqp_to_string(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                let seen = Seen {
                    kind: delivery.routing_key.to_string(),
                    body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
                    headers,
                    reply_to: delivery
                        .properties
                        .reply_to()
                        .as_ref()
                        .map(ToString::to_string),
                };
                let _ = delivery.ack(BasicAckOptions::default()).await;
                if tx.send(seen).is_err() {
                    break;
                }
            }
        });
        Self { rx, _conn: conn }
    }

    /// Collects events until `done` says so or `timeout` passes.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => seen.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        seen
    }
}

fn amqp_to_string(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Publishes raw bytes to a gateway's reply queue (through the default exchange).
pub async fn send_raw_command(url: &str, gateway_id: &str, body: &[u8]) {
    let queue = swarmcord_protocol::amqp::gateway_queue(gateway_id);
    send_raw_to_exchange(url, "", &queue, body).await;
}

/// Declares `exchange` (a durable topic exchange) and a queue bound to it with `#`: durable
/// (survives a broker restart) or auto-deleted with its consumer.
pub async fn bound_queue(channel: &lapin::Channel, exchange: &str, durable: bool) -> String {
    bound_queue_of(channel, exchange, ExchangeKind::Topic, durable).await
}

/// [`bound_queue`] for an exchange of any kind.
async fn bound_queue_of(
    channel: &lapin::Channel,
    exchange: &str,
    kind: ExchangeKind,
    durable: bool,
) -> String {
    channel
        .exchange_declare(
            exchange.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
    let queue = unique_name(if durable { "sink" } else { "tap" });
    let options = QueueDeclareOptions {
        durable,
        auto_delete: !durable,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await
        .expect("declare queue");
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    queue
}

/// Declares a durable queue bound to `exchange` with `#` (it survives a broker restart).
pub async fn durable_sink(url: &str, exchange: &str) -> String {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let queue = bound_queue(&channel, exchange, true).await;
    let _ = conn.close(200, "bye".into()).await;
    queue
}

/// A header of a raw delivery, as text.
pub fn delivery_header(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    headers.inner().get(name).map(amqp_to_string)
}

/// Consumes `queue` until `expected` distinct messages arrived or `timeout` passed; returns
/// the ids of the `MESSAGE_CREATE` events seen, duplicates included.
pub async fn drain_message_ids(
    url: &str,
    queue: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<u64> {
    drain(url, queue, expected, timeout, |delivery| {
        if delivery.routing_key.as_str() != "MESSAGE_CREATE" {
            return None;
        }
        let body: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap_or_default();
        body["id"].as_str().and_then(|s| s.parse::<u64>().ok())
    })
    .await
}

/// Consumes `queue` until `expected` distinct ids (`id_of` each delivery, `None`: not
/// counted) arrived or `timeout` passed; returns the ids seen, duplicates included.
pub async fn drain<T: Ord + Clone>(
    url: &str,
    queue: &str,
    expected: usize,
    timeout: Duration,
    mut id_of: impl FnMut(&lapin::message::Delivery) -> Option<T>,
) -> Vec<T> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "drain".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut ids = Vec::new();
    let mut unique = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while unique.len() < expected {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                if let Some(id) = id_of(&delivery) {
                    ids.push(id.clone());
                    unique.insert(id);
                }
            }
            _ => break,
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    ids
}

/// Publishes raw bytes (no headers) to `exchange` with `routing_key`.
pub async fn send_raw_to_exchange(url: &str, exchange: &str, routing_key: &str, body: &[u8]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let _ = conn.close(200, "bye".into()).await;
}
