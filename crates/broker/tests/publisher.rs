//! The confirmed publisher against real RabbitMQ nodes: throughput and order, back-pressure
//! while the broker is down, a broker restart in the middle of a stream.

mod common;

use std::time::{Duration, Instant};

use swarmcord_broker::{Confirmed, Outgoing, Publisher, PublisherConfig};
use swarmcord_testkit::rabbit::PrivateRabbit;
use swarmcord_testkit::{amqp_url, init_tracing, unique_name};
use tokio::sync::mpsc::UnboundedReceiver;

fn message(exchange: &str, ticket: u64) -> Outgoing {
    Outgoing::new(exchange, "TEST_EVENT", ticket.to_string())
        .kind("TEST_EVENT")
        .ticket(ticket)
}

/// A publisher that declares `exchange` and `queue` (bound with `#`) on every connection.
fn config(url: &str, exchange: &str, queue: &str) -> PublisherConfig {
    let (exchange, queue) = (exchange.to_owned(), queue.to_owned());
    PublisherConfig::new(url, unique_name("test-publisher")).setup(move |channel| {
        let (exchange, queue) = (exchange.clone(), queue.clone());
        async move { common::topology(&channel, &exchange, &queue).await }
    })
}

/// Reads `count` confirmations and checks that they are exactly tickets `0..count` in order.
async fn expect_confirms_in_order(
    confirms: &mut UnboundedReceiver<Confirmed>,
    count: u64,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    for expected in 0..count {
        let confirmed = tokio::time::timeout_at(deadline, confirms.recv())
            .await
            .unwrap_or_else(|_| panic!("confirm of ticket {expected} did not arrive in time"))
            .expect("confirm stream open");
        assert_eq!(
            confirmed.ticket, expected,
            "confirms arrive in publish order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_confirmed_in_order_and_consumed_once() {
    const COUNT: u64 = 10_000;
    init_tracing();
    let url = amqp_url();
    let exchange = unique_name("test-events");
    let queue = unique_name("test-work");
    let (publisher, mut confirms) =
        Publisher::start(config(&url, &exchange, &queue).window(256).buffer(10_000));
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);

    let started = Instant::now();
    let producer = {
        let publisher = publisher.clone();
        let exchange = exchange.clone();
        tokio::spawn(async move {
            for ticket in 0..COUNT {
                publisher
                    .publish(message(&exchange, ticket))
                    .await
                    .expect("publish");
            }
        })
    };
    expect_confirms_in_order(&mut confirms, COUNT, Duration::from_secs(25)).await;
    let elapsed = started.elapsed();
    producer.await.expect("producer");
    publisher
        .flush(Duration::from_secs(1))
        .await
        .expect("flushed");
    assert_eq!(publisher.buffered(), 0);
    assert_eq!(publisher.confirmed_count(), COUNT);
    #[allow(clippy::cast_precision_loss)]
    let rate = COUNT as f64 / elapsed.as_secs_f64();
    println!("confirmed {COUNT} messages (window 256) in {elapsed:?}: {rate:.0} msg/s");

    let (_connection, channel) = common::open(&url, "test-consumer").await;
    let seen = common::drain_counts(
        &channel,
        &queue,
        usize::try_from(COUNT).expect("fits"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(seen.len() as u64, COUNT, "every message consumed");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "no duplicates without a failure");
    for ticket in 0..COUNT {
        assert!(seen.contains_key(ticket.to_string().as_bytes()));
    }
    publisher.close().await;
    assert!(matches!(
        publisher.publish(message(&exchange, 0)).await,
        Err(swarmcord_broker::BrokerError::Closed)
    ));
    common::cleanup(&channel, &exchange, &[&queue]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_waits_when_the_buffer_is_full_while_the_broker_is_down() {
    init_tracing();
    let mut rabbit = PrivateRabbit::start().await;
    println!(
        "private RabbitMQ started in {:?}",
        rabbit.last_start_duration()
    );
    let exchange = unique_name("test-events");
    let queue = unique_name("test-work");
    let (publisher, mut confirms) = Publisher::start(
        config(&rabbit.url(), &exchange, &queue)
            .buffer(100)
            .window(10)
            .reconnect_delays(Duration::from_millis(50), Duration::from_millis(300)),
    );
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);

    let stopping = Instant::now();
    rabbit.stop().await;
    println!("private RabbitMQ stopped in {:?}", stopping.elapsed());
    let noticed = swarmcord_testkit::eventually(Duration::from_secs(5), || {
        let connected = publisher.is_connected();
        async move { (!connected).then_some(()) }
    })
    .await;
    assert!(
        noticed.is_some(),
        "the publisher notices the broker is gone"
    );

    for ticket in 0..100 {
        tokio::time::timeout(
            Duration::from_secs(1),
            publisher.publish(message(&exchange, ticket)),
        )
        .await
        .expect("a publish with room in the buffer returns at once")
        .expect("publish");
    }
    assert_eq!(publisher.buffered(), 100);
    let blocked = tokio::time::timeout(
        Duration::from_millis(500),
        publisher.publish(message(&exchange, 100)),
    )
    .await;
    assert!(blocked.is_err(), "publish waits while the buffer is full");
    assert_eq!(publisher.buffered(), 100);

    let waiting = {
        let publisher = publisher.clone();
        let exchange = exchange.clone();
        tokio::spawn(async move { publisher.publish(message(&exchange, 100)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "still waiting for room");
    assert!(confirms.try_recv().is_err(), "nothing confirmed while down");

    rabbit.start_again().await;
    println!(
        "private RabbitMQ restarted in {:?}",
        rabbit.last_start_duration()
    );
    tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the waiting publish gets room once the broker is back")
        .expect("task")
        .expect("publish");
    expect_confirms_in_order(&mut confirms, 101, Duration::from_secs(15)).await;
    publisher
        .flush(Duration::from_secs(5))
        .await
        .expect("flush");
    assert_eq!(publisher.buffered(), 0);

    let (_connection, channel) = common::open(&rabbit.url(), "test-consumer").await;
    let seen = common::drain_counts(&channel, &queue, 101, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 101, "every message delivered");
    assert!(
        seen.values().all(|n| *n == 1),
        "never published before: no duplicates"
    );
    publisher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_nothing_and_keeps_confirm_order() {
    const COUNT: u64 = 8_000;
    init_tracing();
    let mut rabbit = PrivateRabbit::start().await;
    let exchange = unique_name("test-events");
    let queue = unique_name("test-work");
    let (publisher, mut confirms) = Publisher::start(
        config(&rabbit.url(), &exchange, &queue)
            .buffer(2_000)
            .window(256)
            .reconnect_delays(Duration::from_millis(50), Duration::from_millis(300)),
    );
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);

    let producer = {
        let publisher = publisher.clone();
        let exchange = exchange.clone();
        tokio::spawn(async move {
            for ticket in 0..COUNT {
                publisher
                    .publish(message(&exchange, ticket))
                    .await
                    .expect("publish");
            }
        })
    };
    // The confirms, checked for order as they arrive.
    let checker = tokio::spawn(async move {
        // Generous: three Erlang nodes booting at once on two cores take ~10 s each.
        expect_confirms_in_order(&mut confirms, COUNT, Duration::from_secs(60)).await;
    });

    let mid = swarmcord_testkit::eventually(Duration::from_secs(10), || {
        let done = publisher.confirmed_count();
        async move { (done >= 2_000).then_some(done) }
    })
    .await
    .expect("2000 confirmed before the restart");
    let restart = Instant::now();
    rabbit.stop().await;
    let confirmed_while_stopping = publisher.confirmed_count();
    rabbit.start_again().await;
    println!(
        "restarted the broker after {mid} confirms ({confirmed_while_stopping} when it stopped) \
         in {:?} (start {:?})",
        restart.elapsed(),
        rabbit.last_start_duration()
    );
    assert!(
        confirmed_while_stopping < COUNT,
        "the restart happened mid-stream"
    );

    producer.await.expect("producer");
    publisher
        .flush(Duration::from_secs(20))
        .await
        .expect("everything confirmed after the restart");
    checker.await.expect("every ticket confirmed, in order");

    let (_connection, channel) = common::open(&rabbit.url(), "test-consumer").await;
    let seen = common::drain_counts(
        &channel,
        &queue,
        usize::try_from(COUNT).expect("fits"),
        Duration::from_secs(5),
    )
    .await;
    let missing: Vec<u64> = (0..COUNT)
        .filter(|t| !seen.contains_key(t.to_string().as_bytes()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} messages lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!("broker restart mid-stream: {COUNT} messages, {duplicates} duplicates");
    assert!(
        duplicates <= 256,
        "duplicates are bounded by the window: {duplicates}"
    );
    publisher.close().await;
}
