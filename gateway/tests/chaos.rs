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
    let env = [("SHARD_COUNT", "8")];
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

/// A zombied connection: Discord stops acknowledging heartbeats while dispatches still flow
/// (so twilight's own check, which counts any event as an answer, never fires). Promise: the
/// watchdog resumes the shard within `HEARTBEAT_ACK_TIMEOUT_MS` + one heartbeat interval
/// (+ its 1 s tick), losing nothing.
#[tokio::test]
async fn a_zombie_shard_is_resumed_within_the_ack_timeout_and_loses_nothing() {
    const EVENTS: u64 = 1200;
    let interval = Duration::from_secs(1);
    let ack_timeout = Duration::from_secs(3);
    let cluster = Cluster::start(DiscordConfig {
        heartbeat_interval: interval,
        ..sim_config(2)
    })
    .await;
    cluster.guilds_on_shards(0..2, 2);
    let mut tap = cluster.tap().await;
    let gateway = cluster
        .gateway(
            "gw-zombie",
            &[("SHARD_COUNT", "2"), ("HEARTBEAT_ACK_TIMEOUT_MS", "3000")],
        )
        .await;
    gateway.wait_ready(READY).await;
    let burst = blast(&cluster, EVENTS, 150);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let control = cluster.sim.control();
    assert_eq!(
        control.shard_action(0, swarmcord_sim::discord::gateway::ShardAction::Zombie),
        1
    );
    let zombied = Instant::now();
    let resumed = swarmcord_testkit::eventually(Duration::from_secs(15), || async {
        (control.gateway_stats().resumes >= 1).then_some(())
    })
    .await;
    let took = zombied.elapsed();
    eprintln!("zombie: resumed after {took:?}");
    assert!(resumed.is_some(), "the zombie shard was never reconnected");
    let bound = ack_timeout + interval + Duration::from_secs(2);
    assert!(
        took <= bound,
        "reconnected after {took:?} (bound {bound:?})"
    );
    assert_eq!(burst.await.expect("blast"), EVENTS);
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(20)).await;
    let (duplicates, unique) = count(&ids);
    eprintln!("zombie: {unique} of {EVENTS} delivered, {duplicates} duplicates");
    assert_eq!(unique, 1200, "nothing lost");
    let stats = control.gateway_stats();
    assert_eq!(
        (stats.identifies, stats.resumes),
        (2, 1),
        "resumed, not identified"
    );
    assert!(
        gateway
            .metrics()
            .await
            .contains("swarmcord_gateway_watchdog_reconnects_total"),
        "the watchdog did it"
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// Starts a gateway over 4 shards on a private Redis, with the cache `resources`.
async fn redis_cluster(
    redis: &swarmcord_testkit::redis_server::PrivateRedis,
    id: &str,
    resources: &str,
) -> (Cluster, common::Tap, common::Gateway) {
    let cluster = Cluster::start(sim_config(4)).await;
    cluster.guilds_on_shards(0..4, 4);
    let tap = cluster.tap().await;
    let url = redis.url();
    let gateway = cluster
        .gateway(
            id,
            &[
                ("SHARD_COUNT", "4"),
                ("REDIS_URL", url.as_str()),
                ("SHARD_LEASE_TTL_MS", "3000"),
                ("CACHE_RESOURCES", resources),
            ],
        )
        .await;
    gateway.wait_ready(READY).await;
    (cluster, tap, gateway)
}

/// Redis restarts empty mid-burst (leases and sessions gone; the cache is off here: with it on,
/// a shard whose cached guilds vanished re-identifies on purpose to rebuild them). Promise: the
/// gateway keeps the shards it still holds live sessions for (nobody else owns them) and
/// resumes them: 0 lost, no identify.
#[tokio::test]
async fn redis_restarting_empty_loses_nothing_while_sessions_are_resumable() {
    const EVENTS: u64 = 2000;
    let mut redis = swarmcord_testkit::redis_server::PrivateRedis::start().await;
    let (cluster, mut tap, gateway) = redis_cluster(&redis, "gw-redis-empty", "none").await;
    let burst = blast(&cluster, EVENTS, 400);
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.restart_empty().await;
    assert_eq!(burst.await.expect("blast"), EVENTS);
    gateway.wait_ready(READY).await;
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(30)).await;
    let (duplicates, unique) = count(&ids);
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "redis empty restart: {unique} of {EVENTS} delivered, {duplicates} duplicates, {} identifies, {} resumes",
        stats.identifies, stats.resumes
    );
    assert_eq!(unique, 2000, "nothing lost\n{}", gateway.logs());
    assert!(
        duplicates <= 400,
        "{duplicates} duplicates (bound: 1 s of events per shard = 400)"
    );
    assert_eq!(stats.identifies, 4, "no shard re-identified");
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// Redis away for 6 s (longer than the 3 s lease TTL), then back with its data; the cache is on,
/// so events wait for their cache writes meanwhile. Promise:
/// duplicates at most 1 s of events per shard (the kill -9 bound), none lost.
#[tokio::test]
async fn a_short_redis_outage_duplicates_at_most_a_second_of_events_per_shard() {
    const EVENTS: u64 = 3000;
    const RATE: u64 = 300;
    let mut redis = swarmcord_testkit::redis_server::PrivateRedis::start().await;
    let (cluster, mut tap, gateway) = redis_cluster(&redis, "gw-redis-out", "default").await;
    let burst = blast(&cluster, EVENTS, RATE);
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.stop_saving().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    redis.start_again().await;
    assert_eq!(burst.await.expect("blast"), EVENTS);
    gateway.wait_ready(READY).await;
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(30)).await;
    let (duplicates, unique) = count(&ids);
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "redis outage: {unique} of {EVENTS} delivered, {duplicates} duplicates, {} identifies, {} resumes",
        stats.identifies, stats.resumes
    );
    assert_eq!(unique, 3000, "nothing lost\n{}", gateway.logs());
    let bound = usize::try_from(RATE / 4).unwrap_or(usize::MAX) * 4;
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates (bound: 1 s of events per shard = {bound})"
    );
    assert_eq!(stats.identifies, 4, "no shard re-identified");
    assert_eq!(gateway.terminate().await.code(), Some(0));
}
