//! REST proxy benchmark: added latency per request (through the proxy vs straight to the
//! simulator, sequential, far under the limits) and the requests per second one replica shapes
//! (many concurrent clients, a raised global limit). Everything on loopback, Redis from the test
//! services.
//!
//! `cargo bench -p swarmcord-restproxy --bench proxy` (`BENCH_REQUESTS=3000`,
//! `BENCH_SECONDS=5`, `BENCH_CONCURRENCY=64`)

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use swarmcord_ops::config::Env;
use swarmcord_ops::http::Health;
use swarmcord_sim::discord::RestLimits;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use tokio_util::sync::CancellationToken;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn get(client: &Http, addr: &str, token: &str) -> u16 {
    let request = hyper::Request::get(format!("http://{addr}/api/v10/users/@me"))
        .header("authorization", format!("Bot {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await.unwrap();
    status
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn latencies(client: &Http, addr: &str, token: &str, n: u64) -> Vec<Duration> {
    let mut all = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        assert_eq!(get(client, addr, token).await, 200);
        all.push(started.elapsed());
    }
    all.sort();
    all
}

/// Starts a proxy replica on a runtime of its own (threads named `restproxy`, so that their CPU
/// time can be told apart from the load generator's and the simulator's).
fn proxy(sim: &DiscordSim, global: u64) -> (String, CancellationToken) {
    let base = sim.base_url();
    let redis = swarmcord_testkit::redis_url();
    let prefix = swarmcord_testkit::unique_name("restbench");
    let global = global.to_string();
    let config = swarmcord_restproxy::ProxyConfig::from_env(&Env::from_pairs([
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", prefix.as_str()),
        ("DISCORD_API_BASE", base.as_str()),
        ("HTTP_ADDR", "127.0.0.1:0"),
        ("GLOBAL_RATE_LIMIT", global.as_str()),
        ("MAX_QUEUED", "100000"),
    ]))
    .unwrap();
    let stop = CancellationToken::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("restproxy")
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (addr, _) = swarmcord_restproxy::serve(
                config,
                Health::new(),
                swarmcord_ops::telemetry::metrics_handle(),
                stopped.clone(),
            )
            .await
            .unwrap();
            tx.send(addr.to_string()).unwrap();
            stopped.cancelled().await;
        });
    });
    (rx.recv().unwrap(), stop)
}

/// CPU seconds used so far by this process's threads named `name` (Linux `/proc`).
fn thread_cpu(name: &str) -> f64 {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        ticks += fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
    }
    #[allow(clippy::cast_precision_loss)]
    let seconds = ticks as f64 / 100.0;
    seconds
}

/// CPU seconds used so far by the Redis server (`INFO cpu`).
async fn redis_cpu() -> f64 {
    let client = redis::Client::open(swarmcord_testkit::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut redis)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| {
            l.split_once(':')
                .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        })
        .sum()
}

/// Requests per second `concurrency` clients get from `addr` in `seconds`.
async fn throughput(
    client: &Http,
    addr: &str,
    token: &str,
    seconds: u64,
    concurrency: u64,
) -> (u64, f64) {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, addr, token, done) = (
            client.clone(),
            addr.to_owned(),
            token.to_owned(),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                assert_eq!(get(&client, &addr, &token).await, 200);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (total, rate)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSim::start(DiscordConfig {
        rest_limits: RestLimits {
            enabled: false,
            ..RestLimits::default()
        },
        ..DiscordConfig::default()
    })
    .await
    .unwrap();
    let token = sim.token();
    let direct = sim.addr().to_string();
    let client: Http = Client::builder(TokioExecutor::new()).build_http();

    // 1. Added latency, sequential, one keep-alive connection each way.
    let n = var("BENCH_REQUESTS", 3000);
    let (through, stop) = proxy(&sim, 100_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    latencies(&client, &direct, &token, 200).await;
    latencies(&client, &through, &token, 200).await;
    let straight = latencies(&client, &direct, &token, n).await;
    let proxied = latencies(&client, &through, &token, n).await;
    println!("latency, {n} sequential GET /users/@me");
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (d, t) = (percentile(&straight, p), percentile(&proxied, p));
        println!(
            "  {name}: direct {:.3} ms, through the proxy {:.3} ms, added {:.3} ms",
            d.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3,
            (t.saturating_sub(d)).as_secs_f64() * 1e3
        );
    }

    // 2. Requests per second one replica shapes (global limit raised out of the way), on a
    // route without a bucket (the simulator's limits off: no rate-limit headers) ...
    let seconds = var("BENCH_SECONDS", 5);
    let concurrency = var("BENCH_CONCURRENCY", 64);
    let load = Load {
        client: &client,
        token: &token,
        seconds,
        concurrency,
    };
    shaped(&load, &direct, &through, "a route without a bucket").await;
    stop.cancel();

    // ... and on a route with a bucket, as every Discord route has (the simulator's limits on,
    // raised out of the way: each answer carries rate-limit headers).
    let bucketed = DiscordSim::start(DiscordConfig {
        rest_limits: RestLimits {
            global_per_second: 1_000_000,
            default_per_window: 1_000_000,
            ..RestLimits::default()
        },
        ..DiscordConfig::default()
    })
    .await
    .unwrap();
    let token = bucketed.token();
    let load = Load {
        token: &token,
        ..load
    };
    let (through, stop) = proxy(&bucketed, 100_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let direct = bucketed.addr().to_string();
    shaped(&load, &direct, &through, "a route with a bucket").await;
    stop.cancel();
}

/// The load of the throughput measures.
#[derive(Clone, Copy)]
struct Load<'a> {
    client: &'a Http,
    token: &'a str,
    seconds: u64,
    concurrency: u64,
}

/// Throughput straight to the simulator and through the proxy; the CPU time of the proxy's
/// threads and of Redis per request says where the time goes.
async fn shaped(load: &Load<'_>, direct: &str, through: &str, what: &str) {
    let Load {
        client,
        token,
        seconds,
        concurrency,
    } = *load;
    let (_, straight) = throughput(client, direct, token, seconds, concurrency).await;
    let (proxy_cpu, redis_before) = (thread_cpu("restproxy"), redis_cpu().await);
    let (total, rate) = throughput(client, through, token, seconds, concurrency).await;
    #[allow(clippy::cast_precision_loss)]
    let per_request = |cpu: f64| cpu / total as f64 * 1e6;
    let proxy_us = per_request(thread_cpu("restproxy") - proxy_cpu);
    let redis_us = per_request(redis_cpu().await - redis_before);
    println!(
        "throughput on {what}, {concurrency} clients, {seconds} s: direct {straight:.0}/s, through one replica {rate:.0}/s ({total} requests)"
    );
    println!(
        "  CPU per request: proxy {proxy_us:.1} µs (one core: {:.0}/s), Redis {redis_us:.1} µs (Redis shared with other users)",
        1e6 / proxy_us
    );
}
