//! Elastic gateways (`GATEWAY_SHARDS=auto`): replicas claim their share of the shards from
//! the live registry and move shards when one joins, leaves, dies or freezes. Every test
//! counts what an independent observer queue receives while the simulator emits 200
//! events/s, and what the simulator saw: identifies, and the most connections each shard had
//! at once.
//!
//! Run one at a time with the chaos suite (`.config/nextest.toml`): they time takeovers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use swarmcord_protocol::command::{CommandEnvelope, GatewayCommand};
use swarmcord_protocol::keys::Keys;
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{BlastSpec, CreatedGuild};
use swarmcord_testkit::cluster::{Cluster, Gateway};
use swarmcord_testkit::events::{Seen, Tap, send_raw_command};
use swarmcord_testkit::metrics::{counter_series, counter_total};
use twilight_model::gateway::payload::outgoing::request_guild_members::RequestGuildMembersInfo;
use twilight_model::id::Id;

const SHARDS: u32 = 12;
const RATE: u64 = 200;
const READY: Duration = Duration::from_secs(30);

async fn cluster() -> (Cluster, Tap, HashMap<u32, CreatedGuild>) {
    cluster_of(SHARDS).await
}

/// A simulator for a bot of `shards` shards, one guild on each, and an observer.
async fn cluster_of(shards: u32) -> (Cluster, Tap, HashMap<u32, CreatedGuild>) {
    let cluster = Cluster::start(DiscordConfig {
        recommended_shards: shards,
        max_concurrency: shards,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    })
    .await;
    let guilds = cluster.guilds_on_shards(0..shards, shards);
    let tap = cluster.tap().await;
    (cluster, tap, guilds)
}

async fn gateway(cluster: &Cluster, id: &str) -> Gateway {
    cluster
        .gateway(id, &[("GATEWAY_SHARDS", "auto"), ("SHARD_COUNT", "12")])
        .await
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(swarmcord_testkit::redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// The owner of each shard's lease (of [`SHARDS`] shards), read from Redis.
async fn owners(cluster: &Cluster) -> BTreeMap<u32, Option<String>> {
    owners_of(cluster, SHARDS).await
}

/// The owner of the lease of each shard of `shards`, read from Redis.
async fn owners_of(cluster: &Cluster, shards: u32) -> BTreeMap<u32, Option<String>> {
    let mut conn = redis_connection().await;
    let keys = Keys::new(cluster.prefix.clone());
    let mut out = BTreeMap::new();
    for shard in 0..shards {
        let owner: Option<String> = redis::cmd("GET")
            .arg(keys.shard_lease(shard, shards))
            .query_async(&mut conn)
            .await
            .expect("GET");
        out.insert(shard, owner);
    }
    out
}

/// How many shards each gateway owns.
fn shares(owners: &BTreeMap<u32, Option<String>>) -> BTreeMap<String, usize> {
    let mut shares = BTreeMap::new();
    for owner in owners.values().flatten() {
        *shares.entry(owner.clone()).or_default() += 1;
    }
    shares
}

/// Waits until the shards are shared among exactly `gateways`, `per` each, and every one of
/// them is ready.
async fn settled(cluster: &Cluster, gateways: &[&Gateway], per: usize) {
    let ids: BTreeSet<String> = gateways.iter().map(|g| g.id.clone()).collect();
    let done = swarmcord_testkit::eventually(READY, || async {
        let owners = owners(cluster).await;
        let shares = shares(&owners);
        (owners.values().all(Option::is_some)
            && shares.keys().cloned().collect::<BTreeSet<_>>() == ids
            && shares.values().all(|n| *n == per))
        .then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "shares did not settle: {:?}",
        shares(&owners(cluster).await)
    );
    for gateway in gateways {
        gateway.wait_ready(READY).await;
    }
}

fn blast(cluster: &Cluster, count: u64) -> tokio::task::JoinHandle<u64> {
    let control = cluster.sim.control();
    tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count,
                rate: RATE,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
            .sent
    })
}

/// The distinct `MESSAGE_CREATE` ids seen until `expected` arrived (or 30 s), the duplicates
/// among them, and the nonces of the member chunks seen.
async fn collect(tap: &mut Tap, expected: u64) -> (usize, usize, BTreeSet<String>) {
    fn ids(seen: &[Seen]) -> impl Iterator<Item = u64> + '_ {
        seen.iter()
            .filter(|s| s.kind == "MESSAGE_CREATE")
            .filter_map(|s| s.body["id"].as_str()?.parse().ok())
    }
    let expected = usize::try_from(expected).expect("count");
    let mut unique = BTreeSet::new();
    let mut read = 0;
    let mut seen = tap
        .collect_until(Duration::from_secs(30), |s| {
            unique.extend(ids(&s[read..]));
            read = s.len();
            unique.len() >= expected
        })
        .await;
    seen.extend(tap.collect_until(Duration::from_secs(1), |_| false).await);
    let all: Vec<u64> = ids(&seen).collect();
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    let nonces = seen
        .iter()
        .filter(|s| s.kind == "GUILD_MEMBERS_CHUNK")
        .filter_map(|s| s.body["nonce"].as_str().map(ToOwned::to_owned))
        .collect();
    (unique.len(), all.len() - unique.len(), nonces)
}

/// Asserts what the simulator saw: only the first 12 identifies, never two connections of a
/// shard at once, and `taken` sessions taken over from a connection still attached to them
/// (a frozen owner's). Returns the numbers, for the test's output.
fn assert_one_connection_per_shard_and_no_identify(
    cluster: &Cluster,
    taken: u64,
    logs: &str,
) -> String {
    let stats = cluster.sim.control().gateway_stats();
    let seen = format!(
        "identifies {}, resumes {} ({} taking a session from a connection), most connections per shard {:?}",
        stats.identifies,
        stats.resumes,
        stats.resumes_replacing_a_connection,
        stats.max_connections_per_shard
    );
    assert_eq!(
        stats.resumes_replacing_a_connection, taken,
        "sessions taken from a live connection: {seen}\n{logs}"
    );
    assert_eq!(
        stats.identifies,
        u64::from(SHARDS),
        "only the first start identified: {seen}\n{logs}"
    );
    assert!(
        stats.max_connections_per_shard.values().all(|n| *n == 1),
        "a shard had two connections at once: {seen}"
    );
    seen
}

/// Per shard: resumes counted by `gateways` (`swarmcord_gateway_resumes_total`).
async fn resumes(gateways: &[&Gateway]) -> BTreeMap<u32, f64> {
    let mut out = BTreeMap::new();
    for gateway in gateways {
        let metrics = gateway.metrics().await;
        for (labels, value) in counter_series(&metrics, "swarmcord_gateway_resumes_total") {
            if let Some(shard) = labels
                .strip_prefix("shard=\"")
                .and_then(|l| l.strip_suffix('"'))
                .and_then(|l| l.parse().ok())
            {
                *out.entry(shard).or_default() += value;
            }
        }
    }
    out
}

/// Waits until every shard of `shards` was resumed by one of `survivors`; returns how long
/// after `since` each one was (sorted).
async fn takeover_times(shards: &[u32], survivors: &[&Gateway], since: Instant) -> Vec<Duration> {
    let before = resumes(survivors).await;
    let mut times = BTreeMap::new();
    while times.len() < shards.len() && since.elapsed() < Duration::from_secs(30) {
        let now = resumes(survivors).await;
        for shard in shards {
            if now.get(shard).copied().unwrap_or(0.0) > before.get(shard).copied().unwrap_or(0.0) {
                times.entry(*shard).or_insert_with(|| since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut times: Vec<Duration> = times.into_values().collect();
    times.sort();
    assert_eq!(times.len(), shards.len(), "not every shard was taken over");
    times
}

fn owned_by(owners: &BTreeMap<u32, Option<String>>, id: &str) -> Vec<u32> {
    owners
        .iter()
        .filter(|(_, o)| o.as_deref() == Some(id))
        .map(|(s, _)| *s)
        .collect()
}

/// Three replicas, all started together by the first one's identifies. Returns them ready,
/// four shards each.
async fn three(cluster: &Cluster, names: [&str; 3]) -> [Gateway; 3] {
    let a = gateway(cluster, names[0]).await;
    a.wait_ready(READY).await;
    let b = gateway(cluster, names[1]).await;
    let c = gateway(cluster, names[2]).await;
    settled(cluster, &[&a, &b, &c], 4).await;
    [a, b, c]
}

/// Sends a member request for every guild to `gateway_id` every 100 ms until `stop`; returns
/// the nonces sent.
fn request_members(
    cluster: &Cluster,
    guilds: &HashMap<u32, CreatedGuild>,
    gateway_id: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    let amqp_url = cluster.amqp_url.clone();
    let gateway_id = gateway_id.to_owned();
    let guilds: Vec<(u32, u64)> = guilds.iter().map(|(s, g)| (*s, g.id)).collect();
    tokio::spawn(async move {
        let mut sent = Vec::new();
        let mut round = 0;
        while !stop.load(Ordering::SeqCst) {
            for (shard, guild) in &guilds {
                let nonce = format!("r{round}-s{shard}");
                let command = GatewayCommand::RequestGuildMembers(RequestGuildMembersInfo {
                    guild_id: Id::new(*guild),
                    limit: Some(0),
                    nonce: Some(nonce.clone()),
                    presences: None,
                    query: Some(String::new()),
                    user_ids: None,
                });
                let envelope = CommandEnvelope::new(nonce.clone(), 0, command);
                send_raw_command(&amqp_url, &gateway_id, &envelope.to_bytes()).await;
                sent.push(nonce);
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sent
    })
}

/// 3 gateways over 12 shards at 200 events/s, scaled to 4, then to 2 (SIGTERM, as `docker
/// service scale` does): every shard moves by handoff, while member requests for every shard
/// keep coming to one of the replicas that stay. Promise: never two connections for a shard,
/// no identify after the first 12, nothing lost, every member request answered.
#[tokio::test]
async fn scaling_up_and_down_moves_shards_without_identifies_or_losses() {
    const EVENTS: u64 = 6000;
    let (cluster, mut tap, guilds) = cluster().await;
    let [a, b, c] = three(&cluster, ["gw-sa", "gw-sb", "gw-sc"]).await;
    let burst = blast(&cluster, EVENTS);
    let stop_requests = Arc::new(AtomicBool::new(false));
    let requests = request_members(&cluster, &guilds, &a.id, Arc::clone(&stop_requests));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scaled = Instant::now();
    let d = gateway(&cluster, "gw-sd").await;
    settled(&cluster, &[&a, &b, &c, &d], 3).await;
    let up = scaled.elapsed();
    let scaled = Instant::now();
    let (c_exit, d_exit) = tokio::join!(c.terminate(), d.terminate());
    assert_eq!((c_exit.code(), d_exit.code()), (Some(0), Some(0)));
    settled(&cluster, &[&a, &b], 6).await;
    let down = scaled.elapsed();
    stop_requests.store(true, Ordering::SeqCst);
    let requested = requests.await.expect("requests");
    assert_eq!(burst.await.expect("blast"), EVENTS);
    let (unique, duplicates, answered) = collect(&mut tap, EVENTS).await;
    let unanswered: Vec<&String> = requested
        .iter()
        .filter(|n| !answered.contains(*n))
        .collect();
    eprintln!(
        "scale 3→4 settled in {up:?}, 4→2 in {down:?}: {unique} of {EVENTS} delivered, {duplicates} duplicates; {} of {} member requests answered",
        requested.len() - unanswered.len(),
        requested.len()
    );
    assert_eq!(unique, 6000, "nothing lost\n{}", a.logs());
    assert!(
        unanswered.is_empty(),
        "unanswered member requests: {unanswered:?}"
    );
    eprintln!(
        "{}",
        assert_one_connection_per_shard_and_no_identify(&cluster, 0, &a.logs())
    );
    // gw-sa handed shards to the newcomers and took shards of the leavers.
    let metrics = a.metrics().await;
    let value = |name| counter_total(&metrics, name);
    assert!(
        (value("swarmcord_gateway_shards_owned") - 6.0).abs() < 0.5
            && value("swarmcord_gateway_handoffs_total") >= 1.0
            && value("swarmcord_gateway_takeovers_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(a.terminate().await.code(), Some(0));
    assert_eq!(b.terminate().await.code(), Some(0));
}

/// More replicas than shards: 3 replicas over 2 shards. Promise: each shard has one owner, the
/// replica with no share is ready (not failing `/readyz`), and the registry lists who owns
/// what.
#[tokio::test]
async fn a_replica_with_no_share_is_ready_and_the_registry_shows_the_owners() {
    let (cluster, _tap, _) = cluster_of(2).await;
    let env = [("GATEWAY_SHARDS", "auto"), ("SHARD_COUNT", "2")];
    let a = cluster.gateway("gw-ea", &env).await;
    a.wait_ready(READY).await;
    let b = cluster.gateway("gw-eb", &env).await;
    let c = cluster.gateway("gw-ec", &env).await;
    let spread = swarmcord_testkit::eventually(READY, || async {
        let owners = owners_of(&cluster, 2).await;
        let owners: BTreeSet<String> = [0, 1].iter().filter_map(|s| owners[s].clone()).collect();
        (owners.len() == 2).then_some(owners)
    })
    .await
    .expect("two owners");
    let idle = [&a, &b, &c]
        .into_iter()
        .find(|g| !spread.contains(&g.id))
        .expect("a replica without shards");
    for gateway in [&a, &b, &c] {
        gateway.wait_ready(READY).await;
    }
    // The gauge is sampled every 250 ms: it reaches 0 once the handed-off leases are released.
    let idle_owns_nothing = swarmcord_testkit::eventually(READY, || async {
        let metrics = idle.metrics().await;
        (counter_total(&metrics, "swarmcord_gateway_shards_owned") == 0.0).then_some(())
    })
    .await;
    assert!(idle_owns_nothing.is_some(), "{}", idle.metrics().await);
    // Entries are refreshed every quarter of the lease TTL.
    let shown = swarmcord_testkit::eventually(READY, || async {
        let registry = registry_shards(&cluster).await;
        let mut listed: Vec<u32> = registry.values().flatten().copied().collect();
        listed.sort_unstable();
        (registry.get(&idle.id) == Some(&Vec::new()) && listed == [0, 1]).then_some(())
    })
    .await;
    assert!(shown.is_some(), "{:?}", registry_shards(&cluster).await);
    for gateway in [a, b, c] {
        assert_eq!(gateway.terminate().await.code(), Some(0));
    }
}

/// The shards each live gateway lists in the registry (`{prefix}:gateways`).
async fn registry_shards(cluster: &Cluster) -> BTreeMap<String, Vec<u32>> {
    let mut conn = redis_connection().await;
    let entries: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(Keys::new(cluster.prefix.clone()).gateways())
        .query_async(&mut conn)
        .await
        .expect("HGETALL");
    entries
        .into_iter()
        .map(|(id, json)| {
            let info: serde_json::Value = serde_json::from_str(&json).expect("json");
            let shards = info["shards"]
                .as_array()
                .expect("shards")
                .iter()
                .map(|s| u32::try_from(s.as_u64().expect("id")).expect("id"))
                .collect();
            (id, shards)
        })
        .collect()
}

/// One of three replicas hit by a signal while the simulator emits `events` at 200/s.
struct Fault {
    cluster: Cluster,
    tap: Tap,
    /// The two others, then the one hit.
    gateways: [Gateway; 3],
    burst: tokio::task::JoinHandle<u64>,
    /// The shards the one hit owned.
    victims: Vec<u32>,
    /// When it was hit.
    at: Instant,
    /// How long after that each of its shards was resumed by the others (sorted).
    takeovers: Vec<Duration>,
}

impl Fault {
    /// Three ready replicas; 3 s into the events, `kill -<signal>` to the third; waits until
    /// its shards were resumed by the others.
    async fn hit(names: [&str; 3], events: u64, signal: &str) -> Self {
        let (cluster, tap, _) = cluster().await;
        let gateways = three(&cluster, names).await;
        let burst = blast(&cluster, events);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let [a, b, c] = &gateways;
        let victims = owned_by(&owners(&cluster).await, &c.id);
        let at = Instant::now();
        c.signal(signal);
        let takeovers = takeover_times(&victims, &[a, b], at).await;
        Self {
            cluster,
            tap,
            gateways,
            burst,
            victims,
            at,
            takeovers,
        }
    }

    /// Waits for the events; asserts the takeovers took less than 15 s and nothing was lost;
    /// returns what was measured.
    async fn check(&mut self, events: u64) -> String {
        assert_eq!((&mut self.burst).await.expect("blast"), events);
        let (unique, duplicates, _) = collect(&mut self.tap, events).await;
        let times = &self.takeovers;
        let max = times[times.len() - 1];
        assert!(max < Duration::from_secs(15), "{times:?}");
        let logs = self.gateways[2].logs();
        assert_eq!(
            unique,
            usize::try_from(events).expect("count"),
            "nothing lost\n{logs}"
        );
        format!(
            "shards {:?} resumed after p50 {:?}, max {max:?}; {unique} of {events} delivered, {duplicates} duplicates",
            self.victims,
            times[times.len() / 2]
        )
    }
}

/// `kill -9` of one of 3 gateways at 200 events/s: its leases expire (1.5 s TTL), the others
/// see it leave the registry, take its shards and resume them. Promise: every shard resumed
/// within 15 s, no identify, nothing lost.
#[tokio::test]
async fn a_killed_gateways_shards_resume_on_the_others_within_seconds() {
    const EVENTS: u64 = 4000;
    let mut fault = Fault::hit(["gw-ka", "gw-kb", "gw-kc"], EVENTS, "KILL").await;
    let [a, b, _] = &fault.gateways;
    settled(&fault.cluster, &[a, b], 6).await;
    let measured = fault.check(EVENTS).await;
    eprintln!("kill -9: {measured}");
    let [a, b, _] = fault.gateways;
    eprintln!(
        "{}",
        assert_one_connection_per_shard_and_no_identify(&fault.cluster, 0, &a.logs())
    );
    assert_eq!(a.terminate().await.code(), Some(0));
    assert_eq!(b.terminate().await.code(), Some(0));
}

/// SIGSTOP of one of 3 gateways for 60 s (40 lease TTLs) at 200 events/s, then
/// SIGCONT: the others take its shards over as after a kill; the woken replica finds its
/// leases taken and stands down (its sessions are the new owners' now: it neither reconnects
/// them nor overwrites their saved sessions), then rejoins and gets its share back by
/// handoff. Promise: takeover within 15 s, never two connections for a shard (the simulator
/// sees exactly the takeovers take a session from a connection: none taken back), no
/// identify, nothing lost.
#[tokio::test]
async fn a_frozen_gateway_is_taken_over_and_stands_down_when_it_wakes() {
    // Events flow for 70 s: before, throughout and after the 60 s freeze.
    const EVENTS: u64 = 14_000;
    let mut fault = Fault::hit(["gw-fa", "gw-fb", "gw-fc"], EVENTS, "STOP").await;
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(fault.at.elapsed())).await;
    let [a, b, c] = &fault.gateways;
    c.signal("CONT");
    settled(&fault.cluster, &[a, b, c], 4).await;
    let measured = fault.check(EVENTS).await;
    let [a, b, c] = fault.gateways;
    let refused = c
        .logs()
        .matches("another gateway holds these shards' leases")
        .count();
    eprintln!("SIGSTOP: {measured}; {refused} session saves of the woken replica refused");
    let taken = u64::try_from(fault.victims.len()).expect("count");
    eprintln!(
        "{}",
        assert_one_connection_per_shard_and_no_identify(&fault.cluster, taken, &c.logs())
    );
    for gateway in [a, b, c] {
        assert_eq!(gateway.terminate().await.code(), Some(0));
    }
}
