//! The worker side of the event stream against the real RabbitMQ and Redis.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use swarmcord_broker::headers::{field_table, lookup, optional_u64};
use swarmcord_protocol::amqp::{EventHeaders, HeaderValue, content_id, header};
use swarmcord_stream::{BoxFuture, ConsumerConfig, Event, Handler, HandlerError};
use swarmcord_testkit::{amqp_url, redis_url, unique_name};
use tokio_util::sync::CancellationToken;

/// What a test handler does with an event, chosen from the payload's `"action"`.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(Option<u64>, u64)>>,
    /// The event type of every call, in call order.
    kinds: Mutex<Vec<String>>,
    calls: AtomicUsize,
    gate: tokio::sync::Notify,
    /// When each call started.
    times: Mutex<Vec<Instant>>,
}

impl Handler for Recorder {
    fn handle(&self, event: Event) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let first = {
                let mut times = self.times.lock().expect("lock");
                times.push(Instant::now());
                times[0]
            };
            self.kinds.lock().expect("lock").push(event.kind.clone());
            let body: serde_json::Value = serde_json::from_slice(&event.body).expect("json");
            match body["action"].as_str() {
                Some("retry_first") if call == 0 => {
                    return Err(HandlerError::retry("first attempt fails"));
                }
                Some("reject") => return Err(HandlerError::reject("no thanks")),
                Some("retry") => return Err(HandlerError::retry("try later")),
                // A dependency that is down for the first second.
                Some("blip") if first.elapsed() < Duration::from_secs(1) => {
                    return Err(HandlerError::retry("down for a second"));
                }
                Some("panic") => panic!("handler bug"),
                Some("block") => self.gate.notified().await,
                Some("slow") => {
                    let ms = body["ms"].as_u64().unwrap_or(1);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                _ => {}
            }
            self.seen
                .lock()
                .expect("lock")
                .push((event.guild_id, event.headers.seq));
            Ok(())
        })
    }
}

struct Setup {
    config: ConsumerConfig,
    conn: Connection,
    channel: lapin::Channel,
}

impl Setup {
    async fn new() -> Self {
        swarmcord_testkit::init_tracing();
        let name = unique_name("consumer");
        let mut config =
            ConsumerConfig::new(amqp_url(), format!("{name}.events"), format!("{name}.work"));
        config.dead_letter_exchange = format!("{name}.dead");
        config.redis_prefix = name.clone();
        config.max_attempts = 3;
        config.retry_delays = vec![Duration::from_millis(100), Duration::from_millis(200)];
        config.drain_timeout = Duration::from_secs(5);
        config.service_name = "test-worker".into();
        let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = conn.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        Self {
            config,
            conn,
            channel,
        }
    }

    async fn redis(&self) -> redis::aio::ConnectionManager {
        swarmcord_coord::connect(&redis_url()).await.expect("redis")
    }

    /// Starts a consumer; returns its stop token and task.
    async fn start(
        &self,
        handler: Arc<Recorder>,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let stop = CancellationToken::new();
        let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(swarmcord_stream::run(
            self.config.clone(),
            self.redis().await,
            handler,
            move |up| {
                let _ = ready_tx.send(up);
            },
            stop.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(10), ready_rx.wait_for(|up| *up))
            .await
            .expect("consumer up")
            .expect("watch");
        (stop, task)
    }

    async fn publish(&self, session: &str, seq: u64, body: serde_json::Value) {
        self.publish_with(headers(session, seq), body).await;
    }

    /// Publishes one copy of a dispatch carried by shard set `session` (the gateway sets the
    /// content id while two shard sets overlap).
    async fn publish_copy(&self, session: &str, seq: u64, body: &serde_json::Value) {
        let content_id = content_id("MESSAGE_CREATE", body.to_string().as_bytes());
        let headers = EventHeaders {
            content_id: Some(content_id),
            ..headers(session, seq)
        };
        self.publish_with(headers, body.clone()).await;
    }

    async fn publish_with(&self, headers: EventHeaders, body: serde_json::Value) {
        self.publish_raw(table(&headers.to_map()), body.to_string().as_bytes())
            .await;
    }

    async fn publish_raw(&self, headers: FieldTable, body: &[u8]) {
        self.channel
            .basic_publish(
                self.config.exchange.as_str().into(),
                "MESSAGE_CREATE".into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_headers(headers)
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }

    /// Reads the dead-letter queue: (reason, attempts) per message.
    async fn dead_letters(&self, expected: usize) -> Vec<(String, Option<u64>)> {
        let queue = format!("{}-letters", self.config.dead_letter_exchange);
        let channel = self.conn.create_channel().await.expect("channel");
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "dlq".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume dlq");
        let mut out = Vec::new();
        while out.len() < expected {
            let Ok(Some(Ok(delivery))) =
                tokio::time::timeout(Duration::from_secs(10), consumer.next()).await
            else {
                break;
            };
            let headers = delivery.properties.headers().as_ref();
            let reason = match lookup(headers, header::REJECT_REASON) {
                Some(HeaderValue::Str(s)) => s,
                other => format!("{other:?}"),
            };
            out.push((
                reason,
                optional_u64(headers, swarmcord_broker::ATTEMPTS).expect("attempts"),
            ));
        }
        out
    }
}

/// The headers a gateway attaches to dispatch `seq` of session `session`.
fn headers(session: &str, seq: u64) -> EventHeaders {
    EventHeaders {
        gateway_id: "g".into(),
        shard_id: 0,
        shard_count: 1,
        seq,
        session_id: session.into(),
        received_at_ms: 1,
        content_id: None,
    }
}

fn table(map: &BTreeMap<&'static str, HeaderValue>) -> FieldTable {
    field_table(map.iter().map(|(k, v)| (*k, v))).expect("headers")
}

async fn wait_calls(handler: &Recorder, n: usize) {
    let ok = swarmcord_testkit::eventually(Duration::from_secs(15), || async {
        (handler.seen.lock().expect("lock").len() >= n).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "{} of {n} events handled",
        handler.seen.lock().expect("lock").len()
    );
}

#[tokio::test]
async fn every_event_is_handled_once_in_guild_order_and_duplicates_are_skipped() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    for seq in 1..=60u64 {
        let guild = 100 + seq % 3;
        setup
            .publish(
                "s1",
                seq,
                serde_json::json!({"guild_id": guild.to_string(), "action": "slow", "ms": seq % 7}),
            )
            .await;
    }
    // The same dispatch again (a gateway re-publish after a lost confirm).
    for seq in [5, 17] {
        setup
            .publish("s1", seq, serde_json::json!({"guild_id": "101"}))
            .await;
    }
    wait_calls(&handler, 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = handler.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 60, "duplicates were not handled again");
    let mut per_guild: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (guild, seq) in seen {
        per_guild
            .entry(guild.expect("guild"))
            .or_default()
            .push(seq);
    }
    for (guild, seqs) in per_guild {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(seqs, sorted, "guild {guild} events ran in delivery order");
    }
    stop.cancel();
    task.await.expect("consumer task");
}

#[tokio::test]
async fn bad_events_and_failing_handlers_end_in_the_dead_letter_queue() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    setup
        .publish_raw(FieldTable::default(), br#"{"guild_id":"1"}"#)
        .await;
    setup
        .publish("s2", 1, serde_json::json!({"action": "reject"}))
        .await;
    setup
        .publish("s2", 2, serde_json::json!({"action": "retry"}))
        .await;
    setup
        .publish("s2", 3, serde_json::json!({"action": "panic"}))
        .await;
    setup
        .publish_raw(table(&headers("s2", 4).to_map()), b"{not json")
        .await;
    setup
        .publish("s2", 5, serde_json::json!({"ok": true}))
        .await;

    let mut letters = setup.dead_letters(5).await;
    letters.sort();
    let reasons: Vec<&str> = letters.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(letters.len(), 5, "{letters:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("malformed event headers")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("event body is not a JSON object")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"no thanks"), "{reasons:?}");
    let retried = letters
        .iter()
        .find(|(r, _)| r == "try later")
        .expect("retried event");
    assert_eq!(retried.1, Some(3), "dead-lettered after 3 attempts");
    let panicked = letters
        .iter()
        .find(|(r, _)| r.contains("panicked"))
        .expect("panicking handler");
    assert_eq!(panicked.1, Some(3));
    wait_calls(&handler, 1).await;
    assert_eq!(
        handler.seen.lock().expect("lock").clone(),
        [(None, 5)],
        "the good event after bad ones was handled"
    );
    stop.cancel();
    task.await.expect("consumer task");
}

/// A header that would become a Redis key name is bounded; an oversized
/// one dead-letters the event with a reason, and no key is created.
#[tokio::test]
async fn an_oversized_session_id_is_dead_lettered_without_touching_redis() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    let huge = "s".repeat(100 * 1024);
    setup
        .publish(&huge, 1, serde_json::json!({"ok": true}))
        .await;
    setup
        .publish("fine", 2, serde_json::json!({"ok": true}))
        .await;
    let letters = setup.dead_letters(1).await;
    assert_eq!(
        letters,
        [(
            "malformed event headers: header \"session_id\" is missing or not a string of at most 128 bytes"
                .to_owned(),
            None
        )]
    );
    wait_calls(&handler, 1).await;
    assert_eq!(handler.seen.lock().expect("lock").clone(), [(None, 2)]);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", setup.config.redis_prefix))
        .query_async(&mut setup.redis().await)
        .await
        .expect("keys");
    assert!(!keys.is_empty(), "the good event left its key");
    assert!(
        keys.iter().all(|k| !k.contains(&huge[..200])),
        "a key with the oversized session id"
    );
    stop.cancel();
    task.await.expect("consumer task");
}

#[tokio::test]
async fn an_event_left_unacknowledged_by_a_dying_worker_is_handled_by_another() {
    let mut setup = Setup::new().await;
    setup.config.drain_timeout = Duration::ZERO;
    let first = Arc::new(Recorder::default());
    let (stop_first, task_first) = setup.start(Arc::clone(&first)).await;
    setup
        .publish(
            "s3",
            1,
            serde_json::json!({"guild_id": "9", "action": "block"}),
        )
        .await;
    let started = swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        (first.calls.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert!(started.is_some(), "the first worker took the event");
    // The first worker dies mid-handling: its in-flight work is abandoned unacknowledged.
    stop_first.cancel();
    task_first.await.expect("first consumer");
    let second = Arc::new(Recorder::default());
    second.gate.notify_waiters();
    let (stop_second, task_second) = setup.start(Arc::clone(&second)).await;
    // The redelivered event blocks too: release it.
    let released = swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        second.gate.notify_one();
        (!second.seen.lock().expect("lock").is_empty()).then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "the second worker handled the abandoned event"
    );
    assert_eq!(second.seen.lock().expect("lock").clone(), [(Some(9), 1)]);
    assert!(
        first.seen.lock().expect("lock").is_empty(),
        "the first worker never completed it"
    );
    stop_second.cancel();
    task_second.await.expect("second consumer");
}

#[tokio::test]
async fn a_retried_event_reaches_the_handler_again_with_its_original_type() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    setup
        .publish(
            "s-retry",
            1,
            serde_json::json!({"action": "retry_first", "guild_id": "7"}),
        )
        .await;
    wait_calls(&handler, 1).await;
    assert_eq!(
        handler.kinds.lock().expect("lock").clone(),
        ["MESSAGE_CREATE", "MESSAGE_CREATE"],
        "the failed attempt and the retry, both as MESSAGE_CREATE"
    );
    assert_eq!(handler.seen.lock().expect("lock").clone(), [(Some(7), 1)]);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    stop.cancel();
    task.await.expect("consumer task");
}

#[tokio::test]
async fn retries_wait_the_configured_delays_between_attempts() {
    let mut setup = Setup::new().await;
    setup.config.max_attempts = 4;
    setup.config.retry_delays = vec![Duration::from_millis(300), Duration::from_millis(600)];
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    setup
        .publish("s-delays", 1, serde_json::json!({"action": "retry"}))
        .await;
    let letters = setup.dead_letters(1).await;
    assert_eq!(letters, [("try later".to_owned(), Some(4))]);
    let times = handler.times.lock().expect("lock").clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between attempts: {gaps:?}");
    assert_eq!(gaps.len(), 3, "4 attempts");
    // The 1st retry waits 300 ms, the 2nd 600 ms, the 3rd the last delay again.
    for (gap, expected) in gaps.iter().zip([300, 600, 600]) {
        let expected = Duration::from_millis(expected);
        assert!(
            *gap >= expected && *gap < expected + Duration::from_millis(500),
            "gap {gap:?}, expected {expected:?}: {gaps:?}"
        );
    }
    stop.cancel();
    task.await.expect("consumer task");
}

#[tokio::test]
async fn a_one_second_outage_is_retried_through_instead_of_dead_lettered() {
    let mut setup = Setup::new().await;
    // The defaults: 5 attempts, retried after 1 s, 5 s, 30 s.
    let defaults = ConsumerConfig::new("amqp://h", "e", "q");
    setup.config.max_attempts = defaults.max_attempts;
    setup.config.retry_delays = defaults.retry_delays;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    setup
        .publish("s-blip", 1, serde_json::json!({"action": "blip"}))
        .await;
    wait_calls(&handler, 1).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        2,
        "failed once during the outage, handled by the retry a second later"
    );
    stop.cancel();
    task.await.expect("consumer task");
}

/// Resharding overlap: the old shard set (session `old`) and the new one (session `new`) both
/// forward the same dispatches, with the same content id; two workers share the queue.
#[tokio::test]
async fn two_copies_of_a_dispatch_from_two_shard_sets_are_handled_once() {
    let setup = Setup::new().await;
    let first = Arc::new(Recorder::default());
    let second = Arc::new(Recorder::default());
    let (stop_first, task_first) = setup.start(Arc::clone(&first)).await;
    let (stop_second, task_second) = setup.start(Arc::clone(&second)).await;
    let dispatches = 40u64;
    for n in 1..=dispatches {
        let body = serde_json::json!({"guild_id": (n % 4).to_string(), "id": n.to_string()});
        setup.publish_copy("old", 1000 + n, &body).await;
        setup.publish_copy("new", n, &body).await;
    }
    let handled = || {
        let mut all = first.seen.lock().expect("lock").clone();
        all.extend(second.seen.lock().expect("lock").iter().copied());
        all
    };
    let done = swarmcord_testkit::eventually(Duration::from_secs(15), || async {
        (handled().len() >= usize::try_from(dispatches).expect("small")).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "{} of {dispatches} handled",
        handled().len()
    );
    // Time for any second copy to reach a handler.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids: Vec<u64> = handled().iter().map(|(_, seq)| seq % 1000).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=dispatches).collect::<Vec<_>>(),
        "every dispatch handled exactly once"
    );
    // The claim holds the delivery that handled it, for the configured TTL.
    let mut redis = setup.redis().await;
    let body = serde_json::json!({"guild_id": "1", "id": "1"});
    let key = format!(
        "{}:event:content:{}",
        setup.config.redis_prefix,
        content_id("MESSAGE_CREATE", body.to_string().as_bytes())
    );
    let holder: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("claim");
    assert!(holder == "old:1001" || holder == "new:1", "{holder}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("ttl");
    assert!(ttl > 590_000 && ttl <= 600_000, "{ttl} ms");
    stop_first.cancel();
    stop_second.cancel();
    task_first.await.expect("first consumer");
    task_second.await.expect("second consumer");
}

/// The copy that claimed a dispatch fails once; the other set's copy arrives meanwhile and is
/// skipped; the retry of the first copy finds its own claim and is handled.
#[tokio::test]
async fn a_copy_that_fails_keeps_its_claim_and_its_retry_is_handled() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    let body = serde_json::json!({"guild_id": "6", "action": "retry_first"});
    setup.publish_copy("old", 7, &body).await;
    let failed = swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        (handler.calls.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert!(failed.is_some(), "the first copy's first attempt");
    setup.publish_copy("new", 2, &body).await;
    setup
        .publish("new", 3, serde_json::json!({"guild_id": "6"}))
        .await;
    wait_calls(&handler, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seen = handler.seen.lock().expect("lock").clone();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [(Some(6), 3), (Some(6), 7)],
        "the retried first copy and the other event; not the second copy"
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    stop.cancel();
    task.await.expect("consumer task");
}

/// Only the header makes two events one: identical bodies without it are two events.
#[tokio::test]
async fn identical_bodies_without_a_content_id_are_two_events() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    let body = serde_json::json!({"guild_id": "8", "content": "same"});
    setup.publish("a", 1, body.clone()).await;
    setup.publish("b", 1, body.clone()).await;
    // The same body as two copies of one dispatch (one guild: one lane, in this order).
    setup.publish_copy("a", 2, &body).await;
    setup.publish_copy("b", 2, &body).await;
    setup
        .publish("a", 3, serde_json::json!({"guild_id": "8"}))
        .await;
    wait_calls(&handler, 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        handler.seen.lock().expect("lock").clone(),
        [(Some(8), 1), (Some(8), 1), (Some(8), 2), (Some(8), 3)]
    );
    stop.cancel();
    task.await.expect("consumer task");
}

/// A content id reaches a Redis key name: too long or not a string dead-letters the event.
#[tokio::test]
async fn a_malformed_content_id_is_dead_lettered_with_its_reason() {
    let setup = Setup::new().await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = setup.start(Arc::clone(&handler)).await;
    let long = "c".repeat(129);
    for (seq, value) in [
        (1, AMQPValue::LongString(LongString::from(long.as_str()))),
        (2, AMQPValue::LongLongInt(7)),
        (3, AMQPValue::Boolean(true)),
    ] {
        let mut headers = table(&headers("m", seq).to_map());
        headers.insert(header::CONTENT_ID.into(), value);
        setup.publish_raw(headers, br#"{"guild_id":"3"}"#).await;
    }
    setup
        .publish_copy("m", 4, &serde_json::json!({"guild_id": "3"}))
        .await;
    let letters = setup.dead_letters(3).await;
    let reason = "malformed event headers: header \"content_id\" is missing or not a string of at most 128 bytes";
    assert_eq!(letters, vec![(reason.to_owned(), None); 3]);
    wait_calls(&handler, 1).await;
    assert_eq!(handler.seen.lock().expect("lock").clone(), [(Some(3), 4)]);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", setup.config.redis_prefix))
        .query_async(&mut setup.redis().await)
        .await
        .expect("keys");
    assert!(keys.iter().all(|k| !k.contains(&long)), "{keys:?}");
    stop.cancel();
    task.await.expect("consumer task");
}
