//! End-to-end tests of worker-side faults: the simulator, the `gateway` and
//! `worker` binaries, real RabbitMQ, Redis and MongoDB (FerretDB), with an independent
//! observer queue on the dead-letter exchange.

use std::time::Duration;
use swarmcord_testkit::{
    cluster::{Cluster, Gateway, binary, fast_identify},
    talk::{WAIT, say},
    worker::Worker,
};

use swarmcord_testkit::redis_server::PrivateRedis;
use swarmcord_testkit::unique_name;

/// A ready gateway owning the single shard (on the shared Redis), and a fresh database name.
async fn one_shard_gateway(cluster: &Cluster, id: &str) -> (Gateway, String) {
    let gateway = cluster.gateway(id, &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(WAIT).await;
    (gateway, unique_name("faults").replace('-', "_"))
}

/// Item 9: with the worker's Redis stopped, every command still answers: `!ping` (which has
/// a cooldown, kept in Redis) runs without its cooldown, `!help` answers as before.
#[tokio::test]
async fn every_command_answers_while_the_workers_redis_is_down() {
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (_gateway, database) = one_shard_gateway(&cluster, "gw-redis-down").await;
    let queue = format!("{}.work", cluster.prefix);
    let worker = Worker::start_with(
        &cluster,
        &database,
        &queue,
        "info,swarmcord_bot=debug,swarmcord_stream=debug",
        &[("REDIS_URL", &redis.url())],
    )
    .await;
    let control = cluster.sim.control();
    let (channel, member) = (guild.text_channels[0], guild.members[0]);
    let pong = say(&control, channel, member, "!ping").await;
    assert!(pong.starts_with("Pong!"), "{pong}");

    redis.kill();
    let mut pongs = 0;
    for round in 0..8 {
        let started = std::time::Instant::now();
        let answer = say(&control, channel, member, "!ping").await;
        assert!(
            answer.starts_with("Pong!"),
            "round {round}: {answer}\n{}",
            worker.logs()
        );
        pongs += 1;
        eprintln!("!ping {round} answered in {:?}", started.elapsed());
    }
    let help = say(&control, channel, member, "!help").await;
    assert!(help.contains("ping"), "{help}");
    assert_eq!(pongs, 8, "every !ping answered while Redis is down");
}

/// Publishes `body` to the test's events exchange as a gateway would (event headers, routing
/// key `MESSAGE_CREATE`), with `content_type`.
async fn publish_event(
    channel: &lapin::Channel,
    exchange: &str,
    seq: u64,
    body: &[u8],
    content_type: &str,
) {
    let headers = swarmcord_protocol::amqp::EventHeaders {
        gateway_id: "poisoner".into(),
        shard_id: 0,
        shard_count: 1,
        seq,
        session_id: unique_name("poison"),
        received_at_ms: 1,
        content_id: None,
    }
    .to_map();
    let headers = swarmcord_broker::headers::field_table(headers.iter().map(|(k, v)| (*k, v)))
        .expect("headers");
    channel
        .basic_publish(
            exchange.into(),
            "MESSAGE_CREATE".into(),
            lapin::options::BasicPublishOptions::default(),
            body,
            lapin::BasicProperties::default()
                .with_headers(headers)
                .with_content_type(content_type.into()),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
}

/// A connection and a channel in confirm mode.
async fn confirming_channel(url: &str) -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    (conn, channel)
}

/// An observer queue on the dead-letter exchange (`swarmcord.dead`, which the worker declared):
/// it sees every dead letter of every test; [`dead_letters_of`] keeps those of one queue.
async fn dead_letter_observer(channel: &lapin::Channel) -> lapin::Consumer {
    let queue = unique_name("dead-observer");
    channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("declare observer");
    swarmcord_broker::bind(
        channel,
        &queue,
        swarmcord_protocol::amqp::DEAD_LETTER_EXCHANGE,
        "",
    )
    .await
    .expect("bind observer");
    channel
        .basic_consume(
            queue.as_str().into(),
            "observer".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("consume observer")
}

/// The reasons of the dead letters that came from `queue`, until `expected` arrived or
/// `timeout` passed.
async fn dead_letters_of(
    observer: &mut lapin::Consumer,
    queue: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<String> {
    use futures_util::StreamExt;
    use swarmcord_broker::headers::{ORIGINAL_QUEUE, optional_str};
    let deadline = tokio::time::Instant::now() + timeout;
    let mut reasons = Vec::new();
    while reasons.len() < expected {
        let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(deadline, observer.next()).await
        else {
            break;
        };
        let headers = delivery.properties.headers().as_ref();
        if optional_str(headers, ORIGINAL_QUEUE)
            .ok()
            .flatten()
            .as_deref()
            == Some(queue)
        {
            let reason = optional_str(headers, swarmcord_protocol::amqp::header::REJECT_REASON)
                .ok()
                .flatten()
                .unwrap_or_default();
            reasons.push(reason);
        }
    }
    reasons
}

/// Item 7: poison events published to the events exchange — 5 MB, `text/plain`, content over
/// Discord's 4,000 characters, `u64::MAX` ids, each a `!ping` — are dead-lettered with a
/// reason and never answered, while a normal `!ping` beside them is.
#[tokio::test]
async fn poison_events_are_dead_lettered_with_reasons_while_ping_is_answered() {
    let cluster = Cluster::start(fast_identify()).await;
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (_gateway, database) = one_shard_gateway(&cluster, "gw-poison").await;
    let queue = format!("{}.work", cluster.prefix);
    let mut tap = cluster.tap().await;
    let _worker = Worker::start(&cluster, &database, &queue).await;
    let control = cluster.sim.control();
    let (channel_id, member) = (guild.text_channels[0], guild.members[0]);

    // A real MESSAGE_CREATE to forge the poison from.
    control
        .post_message(&swarmcord_sim::discord::control::MessageSpec {
            channel_id,
            author_id: member,
            content: "hello".to_owned(),
        })
        .expect("post");
    let seen = tap
        .collect_until(WAIT, |seen| seen.iter().any(|s| s.kind == "MESSAGE_CREATE"))
        .await;
    let real = seen
        .into_iter()
        .find(|s| s.kind == "MESSAGE_CREATE")
        .expect("a MESSAGE_CREATE")
        .body;
    let real_id: u64 = real["id"].as_str().expect("id").parse().expect("snowflake");
    let forged = |n: u64, content: String| {
        let mut body = real.clone();
        body["id"] = (real_id + n).to_string().into();
        body["content"] = content.into();
        body
    };
    let huge = forged(1, format!("!ping {}", "a".repeat(5 * 1024 * 1024)));
    let plain = forged(2, "!ping".to_owned());
    let long = forged(3, format!("!ping {}", "a".repeat(3995)));
    let mut garbage = forged(4, "!ping".to_owned());
    garbage["id"] = u64::MAX.to_string().into();
    garbage["channel_id"] = u64::MAX.to_string().into();
    garbage["author"]["id"] = u64::MAX.to_string().into();

    let (conn, channel) = confirming_channel(&cluster.amqp_url).await;
    let mut observer = dead_letter_observer(&channel).await;
    let since = control.log_len();
    for (seq, (body, content_type)) in [
        (&huge, "application/json"),
        (&plain, "text/plain"),
        (&long, "application/json"),
        (&garbage, "application/json"),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = u64::try_from(seq).expect("seq") + 1;
        publish_event(
            &channel,
            &cluster.exchange,
            seq,
            body.to_string().as_bytes(),
            content_type,
        )
        .await;
    }
    let pong = say(&control, channel_id, member, "!ping").await;
    assert!(pong.starts_with("Pong!"), "{pong}");

    let mut reasons = dead_letters_of(&mut observer, &queue, 4, WAIT).await;
    reasons.sort();
    eprintln!("dead-letter reasons: {reasons:#?}");
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for expected in [
        "larger than any Discord sends",
        "content type \"text/plain\" is not JSON",
        "4001 characters is longer than Discord allows",
        "id: 18446744073709551615 is out of the snowflake range",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "no reason with {expected:?}: {reasons:?}"
        );
    }
    // None of them was answered: every reply since is the one to the normal `!ping`.
    let replies: Vec<_> = control
        .log(since, Some("rest"))
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    let _ = conn.close(200, "bye".into()).await;
}

/// Item 8: `worker dlq replay QUEUE` puts each dead letter back in the queue it came from
/// (attempts and reason cleared, original routing key kept) and keeps the others.
#[tokio::test]
async fn dlq_replay_puts_dead_letters_back_in_their_queue() {
    use swarmcord_broker::headers::{
        ORIGINAL_QUEUE, ORIGINAL_ROUTING_KEY, optional_str, optional_u64,
    };
    let url = swarmcord_testkit::amqp_url();
    let (work, dead) = (unique_name("replay-work"), unique_name("replay-dead"));
    let (conn, channel) = confirming_channel(&url).await;
    for queue in [&work, &dead] {
        channel
            .queue_declare(
                queue.as_str().into(),
                lapin::options::QueueDeclareOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("declare");
    }
    let letter = |original: Option<&str>| {
        let mut headers = lapin::types::FieldTable::default();
        let text = |s: &str| lapin::types::AMQPValue::LongString(s.into());
        if let Some(original) = original {
            headers.insert(ORIGINAL_QUEUE.into(), text(original));
        }
        headers.insert(ORIGINAL_ROUTING_KEY.into(), text("MESSAGE_CREATE"));
        headers.insert(
            swarmcord_broker::ATTEMPTS.into(),
            lapin::types::AMQPValue::LongLongInt(5),
        );
        headers.insert(
            swarmcord_protocol::amqp::header::REJECT_REASON.into(),
            text("Redis down"),
        );
        headers
    };
    for (body, headers) in [
        ("from work", letter(Some(&work))),
        ("from nowhere", letter(None)),
        (
            "from a deleted queue",
            letter(Some("swarmcord-no-such-queue")),
        ),
    ] {
        channel
            .basic_publish(
                "".into(),
                dead.as_str().into(),
                lapin::options::BasicPublishOptions::default(),
                body.as_bytes(),
                lapin::BasicProperties::default().with_headers(headers),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }

    let output = tokio::process::Command::new(binary("worker"))
        .args(["dlq", "replay", &dead])
        .env_clear()
        .env("AMQP_URL", &url)
        .output()
        .await
        .expect("run worker dlq replay");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("replayed 1 dead letters"), "{stdout}");
    assert!(stdout.contains("2 kept"), "{stdout}");

    let get = |queue: String| {
        let channel = channel.clone();
        async move {
            channel
                .basic_get(
                    queue.as_str().into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .expect("get")
        }
    };
    let replayed = get(work.clone()).await.expect("the replayed message");
    assert_eq!(replayed.delivery.data, b"from work");
    let headers = replayed.delivery.properties.headers().as_ref();
    assert_eq!(
        optional_u64(headers, swarmcord_broker::ATTEMPTS).expect("int"),
        None
    );
    assert_eq!(
        optional_str(headers, swarmcord_protocol::amqp::header::REJECT_REASON).expect("str"),
        None
    );
    assert_eq!(
        optional_str(headers, ORIGINAL_ROUTING_KEY)
            .expect("str")
            .as_deref(),
        Some("MESSAGE_CREATE")
    );
    assert!(get(work.clone()).await.is_none(), "one message replayed");
    let mut kept = Vec::new();
    while let Some(message) = get(dead.clone()).await {
        kept.push(String::from_utf8_lossy(&message.delivery.data).into_owned());
    }
    kept.sort();
    assert_eq!(kept, ["from a deleted queue", "from nowhere"]);

    let usage = tokio::process::Command::new(binary("worker"))
        .args(["dlq", "replay", "--limit"])
        .env_clear()
        .output()
        .await
        .expect("run");
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");
    for queue in [&work, &dead] {
        let _ = channel
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
}
