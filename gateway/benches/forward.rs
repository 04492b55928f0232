//! Gateway benchmark: forwarding throughput with publisher confirms, next to the raw lapin
//! confirmed-publish ceiling measured on the same broker in the same run, without and with the
//! Redis cache (`CACHE_RESOURCES=none` / the default); CPU per 1k events; resident memory with
//! 64 and 256 idle shards.
//!
//! Run: `cargo bench -p swarmcord-gateway --bench forward` (services up: `scripts/services.sh up`).
//! Environment: `BENCH_EVENTS` (default 50000), `BENCH_MEMORY_SHARDS` (default `64,256`).
//! Prints a Markdown report on stdout.

#![allow(clippy::print_stdout, reason = "the report is the benchmark's output")]
#![allow(
    clippy::cast_precision_loss,
    reason = "rates and ratios of counts far below 2^52"
)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use swarmcord_testkit::{cluster::Cluster, events::bound_queue};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{BlastSpec, GuildSpec};
use swarmcord_testkit::unique_name;

/// Counts deliveries on a queue bound to `exchange` (acks in batches, like a fast consumer).
struct Counter {
    count: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    queue: String,
    conn: Connection,
}

impl Counter {
    async fn start(url: &str, exchange: &str) -> Self {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = conn.create_channel().await.expect("channel");
        let queue = bound_queue(&channel, exchange, true).await;
        channel
            .basic_qos(2000, lapin::options::BasicQosOptions::default())
            .await
            .expect("qos");
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "bench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let count = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&count);
        let sized = Arc::clone(&bytes);
        tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(Ok(delivery)) = consumer.next().await {
                n += 1;
                sized.fetch_add(delivery.data.len() as u64, Ordering::Relaxed);
                if n.is_multiple_of(50) {
                    let _ = delivery.ack(BasicAckOptions { multiple: true }).await;
                }
                counted.store(n, Ordering::Relaxed);
            }
        });
        Self {
            count,
            bytes,
            queue,
            conn,
        }
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    async fn wait_for(&self, n: u64, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while self.get() < n {
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Some(Instant::now())
    }

    async fn stop(self) {
        if let Ok(channel) = self.conn.create_channel().await {
            let _ = channel
                .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.conn.close(200, "done".into()).await;
    }
}

/// The raw ceiling: lapin publishing `n` persistent messages with confirms, `window` in flight.
async fn raw_publish_rate(url: &str, payload: &[u8], n: u64, window: usize) -> f64 {
    let exchange = unique_name("bench.raw");
    let counter = Counter::start(url, &exchange).await;
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let started = Instant::now();
    let mut inflight = VecDeque::with_capacity(window);
    for _ in 0..n {
        if inflight.len() >= window {
            let confirm: lapin::PublisherConfirm = inflight.pop_front().expect("in flight");
            confirm.await.expect("confirm");
        }
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                "MESSAGE_CREATE".into(),
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        inflight.push_back(confirm);
    }
    for confirm in inflight {
        confirm.await.expect("confirm");
    }
    let confirmed = started.elapsed();
    counter
        .wait_for(n, Duration::from_secs(120))
        .await
        .expect("all consumed");
    let _ = conn.close(200, "done".into()).await;
    counter.stop().await;
    n as f64 / confirmed.as_secs_f64()
}

/// Process CPU time (user + system) in milliseconds, from `/proc/<pid>/stat`.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks * 10.0 // USER_HZ is 100 on Linux
}

/// Resident set size in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct ForwardResult {
    label: &'static str,
    cache: &'static str,
    payload_bytes: usize,
    events: u64,
    sim_rate: f64,
    forward_rate: f64,
    raw_rate: f64,
    cpu_ms_per_1k: f64,
}

async fn forward_scenario(
    label: &'static str,
    event: &str,
    members: usize,
    content_len: usize,
    events: u64,
    cache: &'static str,
) -> ForwardResult {
    let shards = 4;
    let cluster = Cluster::start(DiscordConfig {
        recommended_shards: shards,
        max_concurrency: shards,
        identify_interval: Duration::from_millis(10),
        ..DiscordConfig::default()
    })
    .await;
    let guilds: Vec<u64> = (0..shards)
        .map(|s| {
            cluster
                .sim
                .control()
                .create_guild(&GuildSpec {
                    members,
                    shard: Some((s, shards)),
                    ..GuildSpec::default()
                })
                .id
        })
        .collect();
    let counter = Counter::start(&cluster.amqp_url, &cluster.exchange).await;
    let gateway = cluster
        .gateway(
            "bench",
            &[
                ("SHARD_COUNT", "4"),
                ("RUST_LOG", "warn,swarmcord_ops=info"),
                ("IDENTIFY_INTERVAL_MS", "10"),
                ("CACHE_RESOURCES", cache),
            ],
        )
        .await;
    gateway.wait_ready(Duration::from_secs(60)).await;
    let baseline = counter.get();
    let baseline_bytes = counter.bytes();
    let pid = gateway.child.id().expect("pid");
    let cpu_before = cpu_ms(pid);
    let started = Instant::now();
    let report = cluster
        .sim
        .control()
        .blast(&BlastSpec {
            event: event.to_owned(),
            count: events,
            rate: 0,
            guilds,
            content_len,
            ..BlastSpec::default()
        })
        .await
        .expect("blast");
    let done = counter
        .wait_for(baseline + events, Duration::from_secs(300))
        .await
        .expect("every event forwarded");
    let elapsed = done - started;
    let cpu_used = cpu_ms(pid) - cpu_before;
    let sample = usize::try_from((counter.bytes() - baseline_bytes) / events.max(1)).unwrap_or(0);
    gateway.terminate().await;
    counter.stop().await;
    let body = vec![b'x'; sample];
    let raw_rate = raw_publish_rate(&cluster.amqp_url, &body, events, 1024).await;
    ForwardResult {
        label,
        cache,
        payload_bytes: sample,
        events,
        sim_rate: report.per_second,
        forward_rate: events as f64 / elapsed.as_secs_f64(),
        raw_rate,
        cpu_ms_per_1k: cpu_used / (events as f64 / 1000.0),
    }
}

async fn memory_scenario(shards: u32) -> (u32, u64) {
    let cluster = Cluster::start(DiscordConfig {
        recommended_shards: shards,
        max_concurrency: shards,
        identify_interval: Duration::from_millis(1),
        ..DiscordConfig::default()
    })
    .await;
    let count = shards.to_string();
    let gateway = cluster
        .gateway(
            "mem",
            &[
                ("SHARD_COUNT", count.as_str()),
                ("RUST_LOG", "warn,swarmcord_ops=info"),
                ("IDENTIFY_INTERVAL_MS", "1"),
            ],
        )
        .await;
    gateway.wait_ready(Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(gateway.child.id().expect("pid"));
    gateway.terminate().await;
    (shards, rss)
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let memory_shards: Vec<u32> = std::env::var("BENCH_MEMORY_SHARDS")
        .unwrap_or_else(|_| "64,256".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    let mut results = Vec::new();
    for cache in ["none", "default"] {
        results.push(
            forward_scenario(
                "MESSAGE_CREATE (200-char content)",
                "MESSAGE_CREATE",
                3,
                200,
                events,
                cache,
            )
            .await,
        );
        results.push(
            forward_scenario(
                "GUILD_CREATE (100 members)",
                "GUILD_CREATE",
                100,
                0,
                events / 5,
                cache,
            )
            .await,
        );
    }

    println!(
        "### Gateway forwarding (1 gateway, 4 shards, publisher confirms, persistent messages)\n"
    );
    println!(
        "| payload | `CACHE_RESOURCES` | bytes | events | simulator emit rate/s | forwarded/s | raw lapin confirmed publish/s | forwarded / raw | gateway CPU ms per 1k events |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | `{}` | {} | {} | {:.0} | {:.0} | {:.0} | {:.0}% | {:.1} |",
            r.label,
            r.cache,
            r.payload_bytes,
            r.events,
            r.sim_rate,
            r.forward_rate,
            r.raw_rate,
            100.0 * r.forward_rate / r.raw_rate,
            r.cpu_ms_per_1k
        );
    }

    let mut memory = Vec::new();
    for shards in memory_shards {
        memory.push(memory_scenario(shards).await);
    }
    println!("\n### Gateway resident memory with idle shards\n");
    println!("| shards | RSS (MiB) | RSS per shard (KiB) |");
    println!("|---|---|---|");
    for (shards, rss) in &memory {
        println!(
            "| {shards} | {:.1} | {:.0} |",
            *rss as f64 / 1024.0,
            *rss as f64 / f64::from(*shards)
        );
    }
    if let [(s1, r1), (s2, r2), ..] = memory.as_slice() {
        let marginal = (*r2 as f64 - *r1 as f64) / (f64::from(*s2) - f64::from(*s1));
        println!("\nMarginal memory per additional idle shard: {marginal:.0} KiB");
    }
}
