//! The chaos suite: each fault of "Failure windows" (docs/ARCHITECTURE.md) injected into real
//! `gateway` processes while the simulator emits events, counted by an independent observer
//! queue bound to the events exchange (`Tap`, or a durable sink that survives the fault).
//!
//! Every test is bounded well under CI's 120 s per-test limit; the ones that stop services use
//! private RabbitMQ/Redis servers and run one at a time (`.config/nextest.toml`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Cluster, Seen};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::BlastSpec;

const READY: Duration = Duration::from_secs(30);

fn sim_config(shards: u32) -> DiscordConfig {
    DiscordConfig {
        recommended_shards: shards,
        max_concurrency: shards,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    }
}

fn message_ids(seen: &[Seen]) -> Vec<u64> {
    seen.iter()
        .filter(|s| s.kind == "MESSAGE_CREATE")
        .filter_map(|s| s.body["id"].as_str()?.parse().ok())
        .collect()
}

/// Duplicates and distinct ids of what the observer saw.
fn count(ids: &[u64]) -> (usize, usize) {
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    (ids.len() - unique.len(), unique.len())
}

/// The `MESSAGE_CREATE` ids the observer sees until `expected` distinct ones arrived (or
/// `timeout`), then one more second to catch late duplicates.
async fn collect_messages(tap: &mut common::Tap, expected: u64, timeout: Duration) -> Vec<u64> {
    let expected = usize::try_from(expected).unwrap_or(usize::MAX);
    let mut unique = BTreeSet::new();
    let mut read = 0;
    let mut seen = tap
        .collect_until(timeout, |s| {
            unique.extend(message_ids(&s[read..]));
            read = s.len();
            unique.len() >= expected
        })
        .await;
    seen.extend(tap.collect_until(Duration::from_secs(1), |_| false).await);
    message_ids(&seen)
}

/// Starts a blast of `count` messages at `rate`/s over every guild.
fn blast(cluster: &Cluster, count: u64, rate: u64) -> tokio::task::JoinHandle<u64> {
    let control = cluster.sim.control();
    tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count,
                rate,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
            .sent
    })
}

/// SIGTERM mid-burst: the replica stops reading, waits for every confirm, saves the sessions
/// with the last confirmed sequence of each shard, closes with 4000; the replacement resumes.
/// Promise: 0 lost, 0 duplicates, 0 identifies. Three restarts under 1,000 events/s.
#[tokio::test]
async fn sigterm_mid_burst_loses_nothing_duplicates_nothing_and_never_identifies() {
    const EVENTS: u64 = 6000;
    let cluster = Cluster::start(sim_config(8)).await;
    cluster.guilds_on_shards(0..8, 8);
    let mut tap = cluster.tap().await;
    let env = [("SHARD_COUNT", "8"), ("CACHE_RESOURCES", "none")];
    let mut gateway = cluster.gateway("gw-term", &env).await;
    gateway.wait_ready(READY).await;
    let burst = blast(&cluster, EVENTS, 1000);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        gateway = gateway.respawn_after_terminate().await;
        gateway.wait_ready(READY).await;
    }
    assert_eq!(burst.await.expect("blast"), EVENTS);
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(30)).await;
    let (duplicates, unique) = count(&ids);
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "sigterm: {unique} of {EVENTS} delivered, {duplicates} duplicates, {} identifies, {} resumes",
        stats.identifies, stats.resumes
    );
    assert_eq!(unique, 6000, "nothing lost");
    assert_eq!(duplicates, 0, "nothing delivered twice");
    assert_eq!(stats.identifies, 8, "only the first start identified");
    assert_eq!(stats.resumes, 24, "every restart resumed every shard");
    assert_eq!(gateway.terminate().await.code(), Some(0));
}
