//! Worker benchmark: end-to-end command latency and throughput, and the consumer's ceiling.
//!
//! 1. **Latency**: simulated users post `!help ping` (settings read through Redis, a reply through
//!    Discord REST) at a fixed rate — open loop, 100/s and 1,000/s — through the simulator →
//!    `gateway` → RabbitMQ → `worker` → simulator REST; latency is from the post to the moment
//!    the simulator received the bot's reply. With one and two worker replicas.
//! 2. **Throughput**: a burst of commands posted at once; commands/s until the last reply.
//! 3. **Consumer ceiling**: events/s one and two in-process consumers acknowledge with a no-op
//!    handler, draining a pre-filled queue (RabbitMQ delivery + Redis de-duplication + ack).
//!
//! Run (services up: `scripts/services.sh up`):
//! `cargo build --release -p swarmcord-gateway -p swarmcord-worker && cargo bench -p swarmcord-worker --bench commands`
//! Environment: `BENCH_SECONDS` (default 10), `BENCH_BURST` (default 5000), `BENCH_NOOP`
//! (default 50000). Prints a Markdown report on stdout.

#![allow(clippy::print_stdout, reason = "the report is the benchmark's output")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rates, ratios and percentiles of counts far below 2^52"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use swarmcord_testkit::{cluster::Cluster, worker::Worker};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use swarmcord_protocol::amqp::EventHeaders;
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{Control, CreatedGuild, GuildSpec, MessageSpec};
use swarmcord_stream::{BoxFuture, ConsumerConfig, Event, Handler, HandlerError};
use swarmcord_testkit::unique_name;
use tokio_util::sync::CancellationToken;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The command users type: prefix from the settings copy in Redis, the command pipeline, one
/// REST reply.
const COMMAND: &str = "!help ping";

/// Posted commands: message id → post time (Unix µs).
type Posted = HashMap<u64, u64>;

/// Posts [`COMMAND`] from a rotating guild/channel/member at `rate` per second for `seconds`
/// (`rate` 0: all at once, `count` messages).
async fn post_commands(
    control: &Control,
    guilds: &[CreatedGuild],
    rate: u64,
    count: u64,
) -> Posted {
    let mut posted = HashMap::with_capacity(count as usize);
    let started = Instant::now();
    for i in 0..count {
        if let Some(offset) = (i * 1_000_000).checked_div(rate) {
            let due = started + Duration::from_micros(offset);
            tokio::time::sleep_until(due.into()).await;
        }
        let guild = &guilds[i as usize % guilds.len()];
        let channel = guild.text_channels[(i as usize / guilds.len()) % guild.text_channels.len()];
        let author = guild.members[i as usize % guild.members.len()];
        let at = now_us();
        let id = control
            .post_message(&MessageSpec {
                channel_id: channel,
                author_id: author,
                content: COMMAND.to_owned(),
            })
            .expect("post");
        posted.insert(id, at);
    }
    posted
}

/// Latencies (µs) of the replies to `posted`, waiting up to `wait` for the last ones. Reads
/// the simulator's log incrementally (it holds every request of the run).
async fn latencies(control: &Control, since: u64, posted: &Posted, wait: Duration) -> Vec<u64> {
    let deadline = Instant::now() + wait;
    let mut cursor = since;
    let mut found = Vec::with_capacity(posted.len());
    loop {
        for record in control.log(cursor, Some("rest")) {
            cursor = record.index + 1;
            if record.method != "POST" || !record.path.ends_with("/messages") {
                continue;
            }
            let Some(id) = record.body["message_reference"]["message_id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(at) = posted.get(&id) {
                found.push(record.at_us.saturating_sub(*at));
            }
        }
        if found.len() >= posted.len() || Instant::now() > deadline {
            found.sort_unstable();
            return found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// CPU time (user + system) a process has used so far, in seconds (Linux `/proc`, assuming
/// the usual 100 clock ticks per second).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The pid of the oldest process whose command line contains `needle` (RabbitMQ's
/// `beam.smp`, `redis-server`).
fn pid_of(needle: &str) -> Option<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found.into_iter().min()
}

/// CPU seconds used by each component so far.
struct CpuSnapshot(Vec<(&'static str, f64)>);

impl CpuSnapshot {
    fn take(parts: &[(&'static str, Vec<u32>)]) -> Self {
        Self(
            parts
                .iter()
                .map(|(name, pids)| (*name, pids.iter().map(|p| cpu_seconds(*p)).sum()))
                .collect(),
        )
    }

    /// `name ms` of CPU per 1k commands for each component, between two snapshots.
    fn per_thousand(&self, later: &Self, commands: usize) -> String {
        self.0
            .iter()
            .zip(&later.0)
            .map(|((name, a), (_, b))| {
                format!("{name} {:.0}", (b - a) * 1e6 / commands.max(1) as f64)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

struct Row {
    workers: usize,
    label: String,
    sent: usize,
    replies: usize,
    p50: f64,
    p99: f64,
    max: f64,
    rate: f64,
    cpu: String,
}

async fn end_to_end(workers: usize, seconds: u64, burst: u64) -> Vec<Row> {
    let mut config = DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    };
    // Discord allows 5 messages per 5 s per channel: with it on, the benchmark would measure
    // the simulator's rate limit, not the stack.
    config.rest_limits.enabled = false;
    let cluster = Cluster::start(config).await;
    let control = cluster.sim.control();
    let guilds: Vec<CreatedGuild> = (0..20)
        .map(|i| {
            control.create_guild(&GuildSpec {
                name: format!("bench{i}"),
                members: 4,
                text_channels: 3,
                ..GuildSpec::default()
            })
        })
        .collect();
    let gateway = cluster
        .gateway(&unique_name("gw-bench"), &[("SHARD_COUNT", "1")])
        .await;
    gateway.wait_ready(Duration::from_secs(30)).await;
    let database = unique_name("worker_bench").replace('-', "_");
    let queue = format!("{}.work", cluster.prefix);
    let owners = guilds
        .iter()
        .flat_map(|g| g.members.iter().map(u64::to_string))
        .collect::<Vec<_>>()
        .join(",");
    let mut replicas = Vec::new();
    for _ in 0..workers {
        let filter = std::env::var("BENCH_WORKER_LOG").unwrap_or_else(|_| "info".to_owned());
        // A bot with a raised global limit (Discord grants them to large bots); the simulator's
        // own limits are off. The members are owners: the benchmark measures the pipeline, not
        // the cooldowns (which would refuse most of its commands).
        let extra = [
            ("DISCORD_GLOBAL_RATE_LIMIT", "20000"),
            ("OWNER_IDS", owners.as_str()),
        ];
        replicas.push(Worker::start_with(&cluster, &database, &queue, &filter, &extra).await);
    }
    // Warm-up: connections, the settings copies in Redis, the JIT-less but cold caches.
    let since = control.log_len();
    let warm = post_commands(&control, &guilds, 200, 400).await;
    latencies(&control, since, &warm, Duration::from_secs(30)).await;

    let parts = vec![
        ("simulator+bench", vec![std::process::id()]),
        ("gateway", gateway.child.id().into_iter().collect()),
        (
            "workers",
            replicas.iter().filter_map(Worker::pid).collect::<Vec<_>>(),
        ),
        ("rabbitmq", pid_of("beam.smp").into_iter().collect()),
        ("redis", pid_of("redis-server").into_iter().collect()),
    ];
    let mut rows = Vec::new();
    for rate in [100, 1000] {
        let before = CpuSnapshot::take(&parts);
        let since = control.log_len();
        let started = Instant::now();
        let posted = post_commands(&control, &guilds, rate, rate * seconds).await;
        let found = latencies(&control, since, &posted, Duration::from_secs(60)).await;
        let took = started.elapsed().as_secs_f64();
        rows.push(Row {
            workers,
            label: format!("{rate}/s for {seconds} s"),
            sent: posted.len(),
            replies: found.len(),
            p50: percentile(&found, 0.5),
            p99: percentile(&found, 0.99),
            max: percentile(&found, 1.0),
            rate: found.len() as f64 / took,
            cpu: before.per_thousand(&CpuSnapshot::take(&parts), found.len()),
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let since = control.log_len();
    let before = CpuSnapshot::take(&parts);
    let posted = post_commands(&control, &guilds, 0, burst).await;
    let found = latencies(&control, since, &posted, Duration::from_secs(120)).await;
    let last = found.last().copied().unwrap_or(0);
    rows.push(Row {
        workers,
        label: format!("burst of {burst}"),
        sent: posted.len(),
        replies: found.len(),
        p50: percentile(&found, 0.5),
        p99: percentile(&found, 0.99),
        max: percentile(&found, 1.0),
        // Posted at once: the last reply's latency is the time to answer them all.
        rate: found.len() as f64 / (last as f64 / 1e6).max(1e-3),
        cpu: before.per_thousand(&CpuSnapshot::take(&parts), found.len()),
    });
    drop(replicas);
    gateway.terminate().await;
    rows
}

/// Counts events and does nothing else.
struct Noop(Arc<AtomicU64>);

impl Handler for Noop {
    fn handle(&self, _event: Event) -> BoxFuture<'_, Result<(), HandlerError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Events/s that `consumers` in-process consumers drain from a queue pre-filled with `count`
/// `MESSAGE_CREATE` events of 1 KB, and the publish rate of the pre-fill (for scale).
async fn consumer_ceiling(consumers: usize, count: u64) -> (f64, f64) {
    let url = swarmcord_testkit::amqp_url();
    let exchange = unique_name("bench-noop");
    let queue = format!("{exchange}.work");
    let prefix = unique_name("noop");
    let redis = swarmcord_coord::connect(&swarmcord_testkit::redis_url())
        .await
        .expect("redis");
    let config = {
        let mut c = ConsumerConfig::new(url.as_str(), &exchange, &queue);
        c.bindings = vec!["MESSAGE_CREATE".to_owned()];
        c.prefetch = 256;
        c.redis_prefix.clone_from(&prefix);
        c
    };
    // Declare the topology once, then stop.
    let handled = Arc::new(AtomicU64::new(0));
    {
        let stop = CancellationToken::new();
        let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(swarmcord_stream::run(
            config.clone(),
            redis.clone(),
            Arc::new(Noop(Arc::clone(&handled))),
            move |up| {
                let _ = ready_tx.send(up);
            },
            stop.clone(),
        ));
        let _ = ready_rx.wait_for(|up| *up).await;
        stop.cancel();
        let _ = task.await;
    }
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let body = serde_json::json!({
        "id": "1", "channel_id": "2", "guild_id": "3", "content": "x".repeat(900),
        "author": {"id": "4", "username": "u", "discriminator": "0", "avatar": null}
    })
    .to_string();
    let started = Instant::now();
    let mut pending = Vec::with_capacity(1000);
    for seq in 0..count {
        let headers = EventHeaders {
            gateway_id: "bench".to_owned(),
            shard_id: 0,
            shard_count: 1,
            seq,
            session_id: prefix.clone(),
            received_at_ms: 0,
            content_id: None,
        };
        let map = headers.to_map();
        let table = swarmcord_broker::headers::field_table(map.iter().map(|(k, v)| (*k, v)))
            .expect("headers");
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                "MESSAGE_CREATE".into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default()
                    .with_headers(table)
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish");
        pending.push(confirm);
        if pending.len() == 1000 {
            for confirm in pending.drain(..) {
                confirm.await.expect("confirm");
            }
        }
    }
    for confirm in pending {
        confirm.await.expect("confirm");
    }
    let publish_rate = count as f64 / started.elapsed().as_secs_f64();

    let stop = CancellationToken::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..consumers {
        tasks.push(tokio::spawn(swarmcord_stream::run(
            config.clone(),
            redis.clone(),
            Arc::new(Noop(Arc::clone(&handled))),
            |_| {},
            stop.clone(),
        )));
    }
    while handled.load(Ordering::Relaxed) < count && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = handled.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    (rate, publish_rate)
}

fn main() {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let burst = env_u64("BENCH_BURST", 5000);
    let noop = env_u64("BENCH_NOOP", 50_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        println!("## Worker: end-to-end command latency (`{COMMAND}`)\n");
        println!(
            "| workers | load | sent | replies | p50 ms | p99 ms | max ms | replies/s | CPU ms per 1k commands |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut bursts = Vec::new();
        for workers in [1, 2] {
            for row in end_to_end(workers, seconds, burst).await {
                println!(
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {} |",
                    row.workers,
                    row.label,
                    row.sent,
                    row.replies,
                    row.p50,
                    row.p99,
                    row.max,
                    row.rate,
                    row.cpu
                );
                if row.label.starts_with("burst") {
                    bursts.push(row.rate);
                }
            }
        }
        if let [one, two] = bursts[..] {
            println!(
                "\nBurst throughput scaling, 1 → 2 workers: {:.2}x",
                two / one
            );
        }
        println!("\n## Consumer ceiling (no-op handler, {noop} events of 1 KB)\n");
        println!("| consumers | events/s | pre-fill publish/s |");
        println!("|---|---|---|");
        let mut rates = Vec::new();
        for consumers in [1, 2] {
            let (rate, publish) = consumer_ceiling(consumers, noop).await;
            println!("| {consumers} | {rate:.0} | {publish:.0} |");
            rates.push(rate);
        }
        println!(
            "\nNo-op scaling, 1 → 2 consumers: {:.2}x",
            rates[1] / rates[0]
        );
    });
}
