//! Resharding while running (`gateway reshard`): two replicas claiming 4 shards are moved to 8
//! while the simulator emits 200 events/s. An independent observer queue sees every copy the
//! gateways publish; a worker-side consumer (the event stream library every worker runs, with
//! its de-duplication) counts what reaches a handler.
//!
//! Run with the chaos suite (`.config/nextest.toml`): it times a switch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarmcord_protocol::amqp::header;
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::BlastSpec;
use swarmcord_stream::{BoxFuture, ConsumerConfig, Event, Handler, HandlerError};
use swarmcord_testkit::cluster::{Cluster, Gateway, binary};
use swarmcord_testkit::events::{Seen, Tap};
use tokio_util::sync::CancellationToken;

const RATE: u64 = 200;
const READY: Duration = Duration::from_secs(30);

/// Records the `MESSAGE_CREATE`s a handler got: message id → copies, and when each arrived.
#[derive(Default)]
struct Counter {
    copies: Mutex<BTreeMap<u64, usize>>,
    arrivals: Mutex<Vec<Instant>>,
}

impl Handler for Counter {
    fn handle(&self, event: Event) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            if event.kind == "MESSAGE_CREATE" {
                let body: serde_json::Value =
                    serde_json::from_slice(&event.body).expect("json body");
                if let Some(id) = body["id"].as_str().and_then(|id| id.parse().ok()) {
                    *self.copies.lock().expect("lock").entry(id).or_default() += 1;
                    self.arrivals.lock().expect("lock").push(Instant::now());
                }
            }
            Ok(())
        })
    }
}

async fn gateway(cluster: &Cluster, id: &str) -> Gateway {
    cluster
        .gateway(id, &[("GATEWAY_SHARDS", "auto"), ("SHARD_COUNT", "4")])
        .await
}

/// `gateway reshard <args>` with the cluster's configuration: exit status and output.
async fn reshard_command(cluster: &Cluster, args: &[&str]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(binary("gateway"))
        .arg("reshard")
        .args(args)
        .env_clear()
        .envs(cluster.gateway_env("gw-admin"))
        .output()
        .await
        .expect("run gateway reshard");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// The cluster's shard count and resharding record in Redis.
async fn stored(cluster: &Cluster) -> (Option<String>, bool) {
    let mut conn = redis::Client::open(swarmcord_testkit::redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let count: Option<String> = redis::cmd("GET")
        .arg(format!("{}:shards:count", cluster.prefix))
        .query_async(&mut conn)
        .await
        .expect("GET");
    let record: bool = redis::cmd("EXISTS")
        .arg(format!("{}:reshard", cluster.prefix))
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    (count, record)
}

/// A worker-side consumer (the event stream library every worker runs) with a [`Counter`].
struct Worker {
    counter: Arc<Counter>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts consuming `MESSAGE_CREATE`s; returns once its queue is bound (events published
    /// before would not reach it).
    async fn start(cluster: &Cluster) -> Self {
        let mut config = ConsumerConfig::new(
            cluster.amqp_url.clone(),
            cluster.exchange.clone(),
            format!("{}.work", cluster.prefix),
        );
        config.redis_prefix = cluster.prefix.clone();
        config.bindings = vec!["MESSAGE_CREATE".to_owned()];
        let redis = swarmcord_coord::connect(&swarmcord_testkit::redis_url())
            .await
            .expect("redis");
        let counter = Arc::new(Counter::default());
        let stop = CancellationToken::new();
        let consuming = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn({
            let counter = Arc::clone(&counter);
            let stop = stop.clone();
            let consuming = Arc::clone(&consuming);
            async move {
                let on_state = move |up: bool| {
                    if up {
                        consuming.notify_one();
                    }
                };
                swarmcord_stream::run(config, redis, counter, on_state, stop).await;
            }
        });
        tokio::time::timeout(READY, consuming.notified())
            .await
            .expect("the worker consumes");
        Self {
            counter,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// What the independent observer saw of the `MESSAGE_CREATE`s the gateways published.
struct Published {
    copies: usize,
    messages: usize,
    tagged: usize,
    /// Copies per `shard_count` header.
    by_count: BTreeMap<String, usize>,
    /// The headers of the copies of messages the handler did not get.
    missing: Vec<String>,
}

impl Published {
    async fn collect(tap: &mut Tap, handled: &BTreeMap<u64, usize>) -> Self {
        let seen: Vec<Seen> = tap.collect_until(Duration::from_secs(2), |_| false).await;
        let messages: Vec<&Seen> = seen.iter().filter(|s| s.kind == "MESSAGE_CREATE").collect();
        let id = |s: &Seen| s.body["id"].as_str().and_then(|id| id.parse::<u64>().ok());
        let mut by_count = BTreeMap::new();
        for message in &messages {
            let count = message.headers.get(header::SHARD_COUNT).cloned();
            *by_count.entry(count.unwrap_or_default()).or_default() += 1;
        }
        Self {
            copies: messages.len(),
            messages: messages
                .iter()
                .filter_map(|s| id(s))
                .collect::<BTreeSet<_>>()
                .len(),
            tagged: messages
                .iter()
                .filter(|s| s.headers.contains_key(header::CONTENT_ID))
                .count(),
            by_count,
            missing: messages
                .iter()
                .filter(|s| id(s).is_some_and(|id| !handled.contains_key(&id)))
                .map(|s| format!("{} {:?}", s.body["id"], s.headers))
                .collect(),
        }
    }
}

/// 2 gateways over 4 shards at 200 events/s, resharded to 8: the 8 new shards identify (and
/// only they), events flow throughout, each message reaches the handler exactly once, the
/// old shards' sessions end and the new ones are shared by both replicas.
#[tokio::test]
async fn resharding_4_to_8_loses_nothing_and_delivers_each_event_once() {
    const EVENTS: u64 = 5000;
    let cluster = Cluster::start(DiscordConfig {
        recommended_shards: 4,
        max_concurrency: 2,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    })
    .await;
    // Two guilds on each old shard, one on each new shard.
    let guilds = cluster.guilds_on_shards(0..8, 8);
    assert_eq!(guilds.len(), 8);
    let mut tap = cluster.tap().await;

    let a = gateway(&cluster, "gw-ra").await;
    a.wait_ready(READY).await;
    let b = gateway(&cluster, "gw-rb").await;
    b.wait_ready(READY).await;
    let (code, said) = reshard_command(&cluster, &["--status"]).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("the cluster runs 4 shards"), "{said}");

    let worker = Worker::start(&cluster).await;
    let counter = Arc::clone(&worker.counter);
    let stats_before = cluster.sim.control().gateway_stats();

    let control = cluster.sim.control();
    let burst = tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count: EVENTS,
                rate: RATE,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
            .sent
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let (code, out) = reshard_command(&cluster, &["8"]).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{out}\n{}\n{}", a.logs(), b.logs());
    assert!(out.contains("done: the cluster runs 8 shards"), "{out}");
    assert_eq!(burst.await.expect("blast"), EVENTS);

    // Everything delivered to the handler, each once.
    let done = swarmcord_testkit::eventually(Duration::from_secs(30), || async {
        (counter.copies.lock().expect("lock").len() >= usize::try_from(EVENTS).expect("n"))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    worker.stop().await;
    let copies = counter.copies.lock().expect("lock").clone();
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    let arrivals = counter.arrivals.lock().expect("lock").clone();
    let gap = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();

    // What the gateways published, counted by the independent observer.
    let published = Published::collect(&mut tap, &copies).await;
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "resharded 4 -> 8 in {took:?}: handler got {} of {EVENTS} messages, {} twice; the observer saw {} copies of {} messages ({} tagged; by shard count {:?}); longest gap between handled messages {gap:?}; identifies {} (rate limited {}), most connections per shard {:?}\n{out}",
        copies.len(),
        twice.len(),
        published.copies,
        published.messages,
        published.tagged,
        published.by_count,
        stats.identifies - stats_before.identifies,
        stats.identify_rate_limited,
        stats.max_connections_per_shard,
    );
    assert!(
        done.is_some(),
        "not every message was handled; the copies published of those missing: {:#?}",
        published.missing
    );
    assert_eq!(
        copies.len(),
        usize::try_from(EVENTS).expect("n"),
        "nothing lost"
    );
    assert!(
        twice.is_empty(),
        "delivered twice to the handler: {twice:?}"
    );
    assert_eq!(
        stats.identifies - stats_before.identifies,
        8,
        "only the new shards identify"
    );
    assert_eq!(
        stats.identify_rate_limited, stats_before.identify_rate_limited,
        "the new shards identified within max_concurrency (the shared identify queue)"
    );
    assert!(
        gap < Duration::from_secs(1),
        "events stopped flowing for {gap:?}"
    );
    assert!(
        stats.max_connections_per_shard.values().all(|n| *n == 1),
        "a shard had two connections at once: {:?}",
        stats.max_connections_per_shard
    );
    // The cluster now runs 8 shards, the record is gone, and the old sessions ended.
    assert_eq!(stored(&cluster).await, (Some("8".to_owned()), false));
    let sessions = cluster.sim.control().sessions();
    let live: BTreeSet<[u32; 2]> = sessions
        .iter()
        .filter(|s| s.connected)
        .map(|s| s.shard)
        .collect();
    assert_eq!(
        live,
        (0..8).map(|id| [id, 8]).collect::<BTreeSet<_>>(),
        "only the new shards stay connected"
    );
    // A restarted replica runs the cluster's count (not its SHARD_COUNT=4) and resumes.
    let (code, said) = reshard_command(&cluster, &["--status"]).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("the cluster runs 8 shards"), "{said}");
    let b = b.respawn_after_terminate().await;
    b.wait_ready(READY).await;
    let after = cluster.sim.control().gateway_stats();
    assert_eq!(after.identifies, stats.identifies, "the restart resumed");
    assert_eq!(a.terminate().await.code(), Some(0));
    assert_eq!(b.terminate().await.code(), Some(0));
}

/// Bad requests are refused with a message and change nothing.
#[tokio::test]
async fn the_reshard_command_refuses_what_it_cannot_do() {
    let cluster = Cluster::start(swarmcord_testkit::cluster::fast_identify()).await;
    let (status, out) = reshard_command(&cluster, &["8"]).await;
    assert_eq!(status, Some(1), "{out}");
    assert!(out.contains("no gateway with GATEWAY_SHARDS=auto"), "{out}");
    let (status, out) = reshard_command(&cluster, &["0"]).await;
    assert_eq!(status, Some(2), "{out}");
    let (status, out) = reshard_command(&cluster, &[]).await;
    assert_eq!(status, Some(2), "{out}");
    let (status, out) = reshard_command(&cluster, &["--cancel"]).await;
    assert_eq!(status, Some(1), "{out}");
    assert!(out.contains("no resharding to cancel"), "{out}");
    assert_eq!(stored(&cluster).await, (None, false));
}

/// The owner of each shard of `count` (lease values in Redis).
async fn owners(cluster: &Cluster, count: u32) -> BTreeMap<u32, Option<String>> {
    let mut conn = redis::Client::open(swarmcord_testkit::redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys = swarmcord_protocol::keys::Keys::new(cluster.prefix.clone());
    let mut out = BTreeMap::new();
    for shard in 0..count {
        let owner: Option<String> = redis::cmd("GET")
            .arg(keys.shard_lease(shard, count))
            .query_async(&mut conn)
            .await
            .expect("GET");
        out.insert(shard, owner);
    }
    out
}

/// One replica frozen (SIGSTOP) through a whole resharding: the other carries it out alone;
/// when the frozen one wakes, its set of the old count claims nothing (no identify, no
/// duplicate), it is replaced by a set of the new count, and the shards are shared again by
/// handoff. Nothing is lost meanwhile.
#[tokio::test]
async fn a_replica_frozen_through_a_resharding_catches_up_when_it_wakes() {
    const EVENTS: u64 = 4000;
    let cluster = Cluster::start(DiscordConfig {
        recommended_shards: 4,
        max_concurrency: 2,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    })
    .await;
    cluster.guilds_on_shards(0..8, 8);
    let mut tap = cluster.tap().await;
    let a = gateway(&cluster, "gw-xa").await;
    a.wait_ready(READY).await;
    let b = gateway(&cluster, "gw-xb").await;
    b.wait_ready(READY).await;
    let control = cluster.sim.control();
    let burst = tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count: EVENTS,
                rate: RATE,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
            .sent
    });
    b.signal("STOP");
    let alone = swarmcord_testkit::eventually(READY, || async {
        owners(&cluster, 4)
            .await
            .values()
            .all(|o| o.as_deref() == Some("gw-xa"))
            .then_some(())
    })
    .await;
    assert!(
        alone.is_some(),
        "gw-xa did not take the frozen replica's shards"
    );
    let before = cluster.sim.control().gateway_stats();
    let (code, out) = reshard_command(&cluster, &["8"]).await;
    assert_eq!(code, Some(0), "{out}\n{}", a.logs());
    b.signal("CONT");
    let shared = swarmcord_testkit::eventually(READY, || async {
        let owners = owners(&cluster, 8).await;
        let of = |id: &str| owners.values().filter(|o| o.as_deref() == Some(id)).count();
        (of("gw-xa+8") == 4 && of("gw-xb+8") == 4).then_some(())
    })
    .await;
    assert!(
        shared.is_some(),
        "the woken replica did not take its share of the new shards: {:?}\n{}",
        owners(&cluster, 8).await,
        b.logs()
    );
    assert_eq!(burst.await.expect("blast"), EVENTS);
    let seen: Vec<Seen> = tap.collect_until(Duration::from_secs(2), |_| false).await;
    let delivered: BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.kind == "MESSAGE_CREATE")
        .filter_map(|s| s.body["id"].as_str())
        .collect();
    let stats = cluster.sim.control().gateway_stats();
    let live: BTreeSet<[u32; 2]> = cluster
        .sim
        .control()
        .sessions()
        .iter()
        .filter(|s| s.connected)
        .map(|s| s.shard)
        .collect();
    eprintln!(
        "frozen through a resharding: {} of {EVENTS} delivered; identifies since the freeze {}; connected {live:?}\n{out}",
        delivered.len(),
        stats.identifies - before.identifies
    );
    assert_eq!(
        delivered.len(),
        usize::try_from(EVENTS).expect("n"),
        "nothing lost"
    );
    assert_eq!(
        stats.identifies - before.identifies,
        8,
        "only the new shards identified; the woken replica's old set claimed nothing\n{}",
        b.logs()
    );
    assert_eq!(live, (0..8).map(|id| [id, 8]).collect::<BTreeSet<_>>());
    assert!(
        stats.max_connections_per_shard.values().all(|n| *n == 1),
        "{:?}",
        stats.max_connections_per_shard
    );
    assert!(
        b.logs().contains("the cluster was resharded meanwhile"),
        "{}",
        b.logs()
    );
    assert_eq!(a.terminate().await.code(), Some(0));
    assert_eq!(b.terminate().await.code(), Some(0));
}
