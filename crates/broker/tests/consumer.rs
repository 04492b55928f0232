//! Consuming against the shared RabbitMQ: acks, dead-lettering with a reason, retries, malformed
//! headers, and the topology declarations.

mod common;

use std::time::Duration;

use futures_util::StreamExt as _;
use swarmcord_broker::headers::{ORIGINAL_QUEUE, ORIGINAL_ROUTING_KEY, field_table, lookup};
use swarmcord_broker::lapin::message::Delivery;
use swarmcord_broker::lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use swarmcord_broker::lapin::types::ShortString;
use swarmcord_broker::lapin::types::{AMQPValue, FieldTable, LongString};
use swarmcord_broker::lapin::{BasicProperties, Channel, Connection};
use swarmcord_broker::{
    ATTEMPTS, BrokerError, ConsumeOptions, Deliveries, Disposition, Incoming, consume_with,
    declare_dead_letters, declare_dead_letters_named, declare_events_exchange, declare_reply_queue,
    declare_work_queue_with_dead_letters,
};
use swarmcord_protocol::amqp::{EventHeaders, HeaderValue, header};
use swarmcord_testkit::{amqp_url, init_tracing, unique_name};

/// A test-local events exchange, work queue and dead-letter exchange + queue.
struct Fixture {
    channel: Channel,
    connection: Connection,
    exchange: String,
    queue: String,
    dlx: String,
    dlq: String,
}

impl Fixture {
    async fn new() -> Self {
        init_tracing();
        let (connection, channel) = common::open(&amqp_url(), "test-consumer").await;
        let fixture = Self {
            channel,
            connection,
            exchange: unique_name("test-events"),
            queue: unique_name("test-work"),
            dlx: unique_name("test-dead"),
            dlq: unique_name("test-dead-letters"),
        };
        fixture.declare().await;
        // Idempotent: a second round changes nothing and does not fail.
        fixture.declare().await;
        fixture
    }

    async fn declare(&self) {
        declare_dead_letters_named(&self.channel, &self.dlx, &self.dlq)
            .await
            .expect("dead letters");
        declare_events_exchange(&self.channel, &self.exchange)
            .await
            .expect("exchange");
        declare_work_queue_with_dead_letters(
            &self.channel,
            &self.queue,
            &[
                "MESSAGE_CREATE",
                "MESSAGE_UPDATE",
                "MESSAGE_DELETE",
                "GUILD_CREATE",
            ],
            &self.exchange,
            &self.dlx,
        )
        .await
        .expect("work queue");
    }

    async fn publish(&self, routing_key: &str, body: &[u8], headers: FieldTable) {
        let confirm = self
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_headers(headers)
                    .with_type(routing_key.into())
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish");
        drop(confirm);
    }

    async fn deliveries(&self) -> (Channel, Deliveries) {
        // A channel of its own, as a worker would have.
        let channel = self.connection.create_channel().await.expect("channel");
        let deliveries = consume_with(
            &channel,
            ConsumeOptions::new(&self.queue, 10, unique_name("test-tag"))
                .dead_letter_exchange(&self.dlx),
        )
        .await
        .expect("consume");
        (channel, deliveries)
    }

    async fn message_count(&self, queue: &str) -> u32 {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive declare")
            .message_count()
    }

    async fn get_dead_letter(&self) -> Delivery {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let got = self
                .channel
                .basic_get(self.dlq.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get");
            if let Some(message) = got {
                return message.delivery;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing in the dead-letter queue"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn cleanup(self) {
        common::cleanup(&self.channel, &self.exchange, &[&self.queue, &self.dlq]).await;
        common::cleanup(&self.channel, &self.dlx, &[]).await;
    }
}

fn event_headers() -> EventHeaders {
    EventHeaders {
        gateway_id: "g-test".into(),
        shard_id: 1,
        shard_count: 2,
        seq: 77,
        session_id: "session".into(),
        received_at_ms: 1_700_000_000_123,
        content_id: None,
    }
}

fn event_table() -> FieldTable {
    let map = event_headers().to_map();
    field_table(map.iter().map(|(name, value)| (*name, value))).expect("headers")
}

async fn next(deliveries: &mut Deliveries) -> Incoming {
    tokio::time::timeout(Duration::from_secs(5), deliveries.next())
        .await
        .expect("a delivery in time")
        .expect("stream open")
        .expect("delivery")
}

fn text(value: Option<&AMQPValue>) -> Option<String> {
    match value? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn acked_messages_are_gone_and_headers_read_back() {
    let fixture = Fixture::new().await;
    fixture
        .publish("MESSAGE_CREATE", b"{\"id\":1}", event_table())
        .await;
    let (consumer_channel, mut deliveries) = fixture.deliveries().await;
    let incoming = next(&mut deliveries).await;
    assert_eq!(incoming.body(), b"{\"id\":1}");
    assert_eq!(incoming.kind(), Some("MESSAGE_CREATE"));
    assert_eq!(incoming.routing_key(), "MESSAGE_CREATE");
    assert_eq!(incoming.queue(), fixture.queue);
    assert_eq!(incoming.event_headers().expect("headers"), event_headers());
    assert_eq!(incoming.header(header::SEQ), Some(HeaderValue::U64(77)));
    assert_eq!(incoming.attempts().expect("attempts"), 0);
    incoming.ack().await.expect("ack");
    // A second ack is an error, not a panic and not a channel error.
    assert!(matches!(
        incoming.ack().await,
        Err(BrokerError::AckLost { .. })
    ));
    // Closing the channel would requeue anything unacknowledged.
    consumer_channel
        .close(200, "done".into())
        .await
        .expect("close");
    drop(deliveries);
    assert_eq!(fixture.message_count(&fixture.queue).await, 0);
    // Not routed: no binding matches.
    fixture
        .publish("TYPING_START", b"{}", FieldTable::default())
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fixture.message_count(&fixture.queue).await, 0);
    fixture.cleanup().await;
}

#[tokio::test]
async fn dead_letter_carries_the_reason_in_headers() {
    let fixture = Fixture::new().await;
    fixture
        .publish("GUILD_CREATE", b"{\"poison\":true}", event_table())
        .await;
    let (consumer_channel, mut deliveries) = fixture.deliveries().await;
    let incoming = next(&mut deliveries).await;
    incoming
        .dead_letter("cannot parse the guild", "worker-test")
        .await
        .expect("dead letter");

    let dead = fixture.get_dead_letter().await;
    assert_eq!(dead.data, b"{\"poison\":true}");
    let headers = dead.properties.headers().as_ref().expect("headers");
    let get = |name: &str| text(headers.inner().get(name));
    assert_eq!(
        get(header::REJECT_REASON).as_deref(),
        Some("cannot parse the guild")
    );
    assert_eq!(get(header::REJECTED_BY).as_deref(), Some("worker-test"));
    assert_eq!(get(ORIGINAL_QUEUE), Some(fixture.queue.clone()));
    assert_eq!(get(ORIGINAL_ROUTING_KEY).as_deref(), Some("GUILD_CREATE"));
    // The original headers travel along.
    assert_eq!(
        swarmcord_broker::headers::event_headers(Some(headers)).expect("event headers"),
        event_headers()
    );
    assert_eq!(
        dead.properties.kind().as_ref().map(ShortString::as_str),
        Some("GUILD_CREATE")
    );
    consumer_channel
        .close(200, "done".into())
        .await
        .expect("close");
    drop(deliveries);
    assert_eq!(
        fixture.message_count(&fixture.queue).await,
        0,
        "original acked"
    );
    assert_eq!(fixture.message_count(&fixture.dlq).await, 0);
    fixture.cleanup().await;
}

#[tokio::test]
async fn retries_count_attempts_then_dead_letter() {
    let fixture = Fixture::new().await;
    fixture
        .publish("MESSAGE_UPDATE", b"{\"flaky\":true}", event_table())
        .await;
    let (_consumer_channel, mut deliveries) = fixture.deliveries().await;
    let mut outcomes = Vec::new();
    for expected_before in 0..3_u64 {
        let incoming = next(&mut deliveries).await;
        assert_eq!(incoming.body(), b"{\"flaky\":true}");
        assert_eq!(incoming.attempts().expect("attempts"), expected_before);
        assert_eq!(
            incoming.original_routing_key().expect("routing key"),
            "MESSAGE_UPDATE"
        );
        assert_eq!(incoming.event_headers().expect("headers"), event_headers());
        outcomes.push(
            incoming
                .retry_or_dead_letter(3, "database unavailable", "worker-test")
                .await
                .expect("retry or dead-letter"),
        );
    }
    assert_eq!(
        outcomes,
        [
            Disposition::Retried { failures: 1 },
            Disposition::Retried { failures: 2 },
            Disposition::DeadLettered
        ]
    );
    let dead = fixture.get_dead_letter().await;
    let headers = dead.properties.headers().as_ref();
    assert_eq!(lookup(headers, ATTEMPTS), Some(HeaderValue::U64(3)));
    assert_eq!(
        lookup(headers, header::REJECT_REASON),
        Some(HeaderValue::Str("database unavailable".into()))
    );
    assert_eq!(
        lookup(headers, ORIGINAL_ROUTING_KEY),
        Some(HeaderValue::Str("MESSAGE_UPDATE".into()))
    );
    let nothing = tokio::time::timeout(Duration::from_millis(300), deliveries.next()).await;
    assert!(nothing.is_err(), "no further retry");
    fixture.cleanup().await;
}

#[tokio::test]
async fn the_original_routing_key_survives_retries_and_cannot_be_forged() {
    let fixture = Fixture::new().await;
    // A publisher that claims another type in the header: a fresh delivery's routing key wins.
    let mut headers = event_table();
    headers.insert(
        ORIGINAL_ROUTING_KEY.into(),
        AMQPValue::LongString(LongString::from("INTERACTION_CREATE")),
    );
    fixture
        .publish("MESSAGE_DELETE", b"{\"twice\":true}", headers)
        .await;
    let (_consumer_channel, mut deliveries) = fixture.deliveries().await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let incoming = next(&mut deliveries).await;
        seen.push((
            incoming.routing_key().to_owned(),
            incoming.original_routing_key().expect("routing key"),
        ));
        incoming
            .retry_or_dead_letter(3, "flaky", "worker-test")
            .await
            .expect("retry or dead-letter");
    }
    assert_eq!(
        seen,
        [
            ("MESSAGE_DELETE".to_owned(), "MESSAGE_DELETE".to_owned()),
            (fixture.queue.clone(), "MESSAGE_DELETE".to_owned()),
            (fixture.queue.clone(), "MESSAGE_DELETE".to_owned()),
        ]
    );
    // The dead letter is published with, and records, the original routing key.
    let dead = fixture.get_dead_letter().await;
    assert_eq!(dead.routing_key.as_str(), "MESSAGE_DELETE");
    assert_eq!(
        lookup(dead.properties.headers().as_ref(), ORIGINAL_ROUTING_KEY),
        Some(HeaderValue::Str("MESSAGE_DELETE".into()))
    );
    fixture.cleanup().await;
}

#[tokio::test]
async fn malformed_headers_are_errors_and_poison_goes_to_the_dead_letters() {
    let fixture = Fixture::new().await;
    let mut bad = event_table();
    bad.insert(
        header::SEQ.into(),
        AMQPValue::LongString(LongString::from("not a number")),
    );
    bad.insert(header::SHARD_ID.into(), AMQPValue::LongLongInt(-3));
    bad.insert(ATTEMPTS.into(), AMQPValue::Boolean(true));
    fixture.publish("MESSAGE_CREATE", b"\xff\xfe", bad).await;
    fixture
        .publish(
            "MESSAGE_DELETE",
            b"no headers at all",
            FieldTable::default(),
        )
        .await;

    let (_consumer_channel, mut deliveries) = fixture.deliveries().await;
    let first = next(&mut deliveries).await;
    let error = first.event_headers().expect_err("malformed");
    assert!(error.to_string().contains("shard_id"), "{error}");
    assert!(matches!(
        first.attempts(),
        Err(BrokerError::MalformedHeader { .. })
    ));
    assert_eq!(first.header(header::SHARD_ID), None);
    assert_eq!(
        first
            .retry_or_dead_letter(5, "bad headers", "worker-test")
            .await
            .expect("dead-lettered"),
        Disposition::DeadLettered,
        "an uncountable attempts header is not retried"
    );

    let second = next(&mut deliveries).await;
    assert!(matches!(
        second.event_headers(),
        Err(BrokerError::Header(_))
    ));
    assert_eq!(second.attempts().expect("absent = 0"), 0);
    second.ack().await.expect("ack");

    let dead = fixture.get_dead_letter().await;
    let reason = lookup(dead.properties.headers().as_ref(), header::REJECT_REASON);
    assert!(
        matches!(&reason, Some(HeaderValue::Str(r)) if r.starts_with("bad headers")),
        "{reason:?}"
    );
    fixture.cleanup().await;
}

#[tokio::test]
async fn acks_after_the_channel_closed_are_errors() {
    let fixture = Fixture::new().await;
    fixture.publish("MESSAGE_CREATE", b"1", event_table()).await;
    let channel = fixture.connection.create_channel().await.expect("channel");
    let mut deliveries = consume_with(&channel, ConsumeOptions::new(&fixture.queue, 1, ""))
        .await
        .expect("consume");
    let incoming = next(&mut deliveries).await;
    channel.close(200, "test".into()).await.expect("close");
    assert!(
        incoming.ack().await.is_err(),
        "ack on a closed channel fails"
    );
    assert!(
        incoming.dead_letter("x", "y").await.is_err(),
        "dead-lettering on a closed channel fails"
    );
    // Unacked: the broker still has it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fixture.message_count(&fixture.queue).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "requeued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fixture.cleanup().await;
}

#[tokio::test]
async fn shared_topology_and_reply_queues_are_idempotent() {
    init_tracing();
    let (connection, channel) = common::open(&amqp_url(), "test-topology").await;
    declare_dead_letters(&channel).await.expect("dead letters");
    declare_dead_letters(&channel).await.expect("again");
    let gateway = unique_name("g");
    let name = declare_reply_queue(&channel, &gateway)
        .await
        .expect("reply");
    assert_eq!(name, format!("gateway.{gateway}"));
    assert_eq!(
        declare_reply_queue(&channel, &gateway)
            .await
            .expect("again"),
        name
    );
    // Workers reach it through the default exchange.
    channel
        .basic_publish(
            "".into(),
            name.as_str().into(),
            BasicPublishOptions::default(),
            b"command",
            BasicProperties::default(),
        )
        .await
        .expect("publish");
    let mut deliveries = consume_with(&channel, ConsumeOptions::new(&name, 1, ""))
        .await
        .expect("consume");
    let incoming = next(&mut deliveries).await;
    assert_eq!(incoming.body(), b"command");
    incoming.ack().await.expect("ack");

    // Exclusive: another connection may not consume it.
    let (_other, other_channel) = common::open(&amqp_url(), "test-topology-2").await;
    assert!(
        consume_with(&other_channel, ConsumeOptions::new(&name, 1, ""))
            .await
            .is_err()
    );
    // Names over 255 bytes are errors, not panics.
    assert!(matches!(
        declare_events_exchange(&channel, &"x".repeat(300)).await,
        Err(BrokerError::NameTooLong { .. })
    ));
    drop(connection);
}
