//! Helpers shared by the broker's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use swarmcord_broker::lapin::options::{
    BasicConsumeOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use swarmcord_broker::lapin::types::FieldTable;
use swarmcord_broker::lapin::{Channel, Connection};
use swarmcord_broker::{BrokerError, connect, declare_events_exchange, declare_work_queue};

/// A connection and a channel on `url`.
pub async fn open(url: &str, name: &str) -> (Connection, Channel) {
    let connection = connect(url, name).await.expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

/// Declares a test exchange and a durable queue bound to it with `#`.
pub async fn topology(channel: &Channel, exchange: &str, queue: &str) -> Result<(), BrokerError> {
    declare_events_exchange(channel, exchange).await?;
    declare_work_queue(channel, queue, &["#"], exchange).await
}

/// Deletes a test queue and exchange (best effort).
pub async fn cleanup(channel: &Channel, exchange: &str, queues: &[&str]) {
    for queue in queues {
        let _ = channel
            .queue_delete((*queue).into(), QueueDeleteOptions::default())
            .await;
    }
    if !exchange.is_empty() {
        let _ = channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// Consumes `queue` (auto-ack, to count quickly) until `expected` distinct bodies have been
/// seen (or nothing arrives for `idle`); returns how often each body was seen.
pub async fn drain_counts(
    channel: &Channel,
    queue: &str,
    expected: usize,
    idle: Duration,
) -> HashMap<Vec<u8>, u32> {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    while seen.len() < expected {
        let Ok(Some(delivery)) = tokio::time::timeout(idle, consumer.next()).await else {
            break;
        };
        *seen.entry(delivery.expect("delivery").data).or_default() += 1;
    }
    // Anything left now is a duplicate that arrived after the last new body.
    while let Ok(Some(Ok(delivery))) =
        tokio::time::timeout(Duration::from_millis(300), consumer.next()).await
    {
        *seen.entry(delivery.data).or_default() += 1;
    }
    seen
}
