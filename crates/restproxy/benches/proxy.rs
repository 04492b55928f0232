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

async fn proxy(sim: &DiscordSim, global: u64) -> (String, CancellationToken) {
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
    let (addr, _) = swarmcord_restproxy::serve(
        config,
        Health::new(),
        swarmcord_ops::telemetry::metrics_handle(),
        stop.clone(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    (addr.to_string(), stop)
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
    let (through, stop) = proxy(&sim, 100_000).await;
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

    // 2. Requests per second one replica shapes (global limit raised out of the way).
    let seconds = var("BENCH_SECONDS", 5);
    let concurrency = var("BENCH_CONCURRENCY", 64);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, through, token, done) = (
            client.clone(),
            through.clone(),
            token.clone(),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                assert_eq!(get(&client, &through, &token).await, 200);
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
    println!(
        "throughput: {total} requests in {seconds} s with {concurrency} clients: {rate:.0}/s through one replica"
    );
    stop.cancel();
}
