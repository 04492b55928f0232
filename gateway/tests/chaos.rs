//! The chaos suite: each fault of "Failure windows" (docs/ARCHITECTURE.md) injected into real
//! `gateway` processes while the simulator emits events, counted by an independent observer
//! queue bound to the events exchange (`Tap`, or a durable sink that survives the fault).
//!
//! Every test is bounded well under CI's 120 s per-test limit; the ones that stop services use
//! private RabbitMQ/Redis servers and run one at a time (`.config/nextest.toml`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use swarmcord_testkit::{
    cluster::{Cluster, Gateway},
    events::{Seen, Tap, delivery_header, drain, durable_sink, send_raw_command},
};

use swarmcord_protocol::amqp::header;
use swarmcord_protocol::command::{CommandEnvelope, GatewayCommand};
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::BlastSpec;
use twilight_model::gateway::payload::outgoing::request_guild_members::RequestGuildMembersInfo;
use twilight_model::gateway::payload::outgoing::update_presence::UpdatePresencePayload;
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::gateway::presence::{Activity, ActivityType, MinimalActivity, Status};
use twilight_model::id::Id;

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

/// A simulator with one guild per shard (`config.recommended_shards`), an observer, and a ready
/// gateway over every shard with the base environment plus `env`.
async fn started(config: DiscordConfig, id: &str, env: &[(&str, &str)]) -> (Cluster, Tap, Gateway) {
    let shards = config.recommended_shards;
    let cluster = Cluster::start(config).await;
    cluster.guilds_on_shards(0..shards, shards);
    let tap = cluster.tap().await;
    let count = shards.to_string();
    let mut env = env.to_vec();
    env.push(("SHARD_COUNT", count.as_str()));
    let gateway = cluster.gateway(id, &env).await;
    gateway.wait_ready(READY).await;
    (cluster, tap, gateway)
}

/// Duplicates and distinct ids of what the observer saw.
fn count(ids: &[u64]) -> (usize, usize) {
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    (ids.len() - unique.len(), unique.len())
}

/// The `MESSAGE_CREATE` ids the observer sees until `expected` distinct ones arrived (or
/// `timeout`), then one more second to catch late duplicates.
async fn collect_messages(tap: &mut Tap, expected: u64, timeout: Duration) -> Vec<u64> {
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
    let (cluster, mut tap, gateway) = started(
        DiscordConfig {
            heartbeat_interval: interval,
            ..sim_config(2)
        },
        "gw-zombie",
        &[("HEARTBEAT_ACK_TIMEOUT_MS", "3000")],
    )
    .await;
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
        swarmcord_testkit::metrics::counter_total(
            &gateway.metrics().await,
            "swarmcord_gateway_watchdog_reconnects_total"
        ) >= 1.0,
        "the watchdog did it"
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// Starts a gateway over 4 shards on a private Redis, with the cache `resources`.
async fn redis_cluster(
    redis: &swarmcord_testkit::redis_server::PrivateRedis,
    id: &str,
    resources: &str,
) -> (Cluster, Tap, Gateway) {
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

/// Sends a gateway command to `gateway_id`'s reply queue; returns its envelope id.
async fn send_command(cluster: &Cluster, gateway_id: &str, command: GatewayCommand) -> String {
    let envelope = CommandEnvelope::new(swarmcord_testkit::unique_name("cmd"), 0, command);
    send_raw_command(&cluster.amqp_url, gateway_id, &envelope.to_bytes()).await;
    envelope.id
}

/// The dead-letter reason of each command of `ids`, waiting up to `timeout` for all of them.
async fn dead_letter_reasons(
    dead: &mut Tap,
    ids: &[String],
    timeout: Duration,
) -> BTreeMap<String, String> {
    let mut reasons = BTreeMap::new();
    dead.collect_until(timeout, |seen| {
        for letter in seen {
            if let Some(id) = letter.body["id"].as_str()
                && ids.iter().any(|i| i == id)
            {
                let reason = letter.headers.get(header::REJECT_REASON).cloned();
                reasons.insert(id.to_owned(), reason.unwrap_or_default());
            }
        }
        reasons.len() == ids.len()
    })
    .await;
    reasons
}

fn presence(activity: Activity) -> GatewayCommand {
    GatewayCommand::UpdatePresence {
        shard_id: None,
        presence: UpdatePresencePayload::new(vec![activity], false, None, Status::Online)
            .expect("valid presence"),
    }
}

fn playing(name: &str) -> Activity {
    MinimalActivity {
        kind: ActivityType::Playing,
        name: name.to_owned(),
        url: None,
    }
    .into()
}

/// Five commands for a shard nobody owns (a poisoned or slow lane) and then a member request
/// for an owned shard. Promise: commands are handled in one lane per shard, so the member
/// request is answered at once; the stuck ones wait at most 10 s from their arrival (all at
/// once, not one after the other) and are dead-lettered with the reason.
#[tokio::test]
async fn commands_for_an_unowned_shard_delay_no_other_shard_and_are_dead_lettered_in_bounded_time()
{
    let cluster = Cluster::start(sim_config(2)).await;
    let guilds = cluster.guilds_on_shards(0..2, 2);
    let mut tap = cluster.tap().await;
    let mut dead = cluster.dead_letters().await;
    let gateway = cluster
        .gateway(
            "gw-lanes",
            &[("SHARD_COUNT", "2"), ("GATEWAY_SHARDS", "0-0")],
        )
        .await;
    gateway.wait_ready(READY).await;
    let unowned = &guilds[&1];
    let mut stuck = Vec::new();
    for _ in 0..5 {
        let voice = GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
            channel_id: Some(Id::new(unowned.voice_channels[0])),
            guild_id: Id::new(unowned.id),
            self_deaf: true,
            self_mute: false,
        });
        stuck.push(send_command(&cluster, "gw-lanes", voice).await);
    }
    let sent = Instant::now();
    let request = GatewayCommand::RequestGuildMembers(RequestGuildMembersInfo {
        guild_id: Id::new(guilds[&0].id),
        limit: Some(0),
        nonce: Some("lanes".to_owned()),
        presences: None,
        query: Some(String::new()),
        user_ids: None,
    });
    send_command(&cluster, "gw-lanes", request).await;
    let seen = tap
        .collect_until(Duration::from_secs(30), |seen| {
            seen.iter()
                .any(|e| e.kind == "GUILD_MEMBERS_CHUNK" && e.body["nonce"] == "lanes")
        })
        .await;
    let answered = sent.elapsed();
    eprintln!("lanes: member request answered after {answered:?}");
    assert!(
        seen.iter().any(|e| e.kind == "GUILD_MEMBERS_CHUNK"),
        "the member request was never answered\n{}",
        gateway.logs()
    );
    assert!(
        answered < Duration::from_secs(2),
        "answered after {answered:?} (bound 2 s)"
    );
    let reasons = dead_letter_reasons(&mut dead, &stuck, Duration::from_secs(20)).await;
    let settled = sent.elapsed();
    eprintln!(
        "lanes: {} stuck commands dead-lettered after {settled:?}",
        reasons.len()
    );
    assert_eq!(reasons.len(), 5, "every stuck command is dead-lettered");
    for reason in reasons.values() {
        assert!(reason.contains("no gateway owns shard 1"), "{reason}");
    }
    assert!(
        settled < Duration::from_secs(13),
        "dead-lettered after {settled:?} (bound: 10 s wait + 3 s)"
    );
    gateway.wait_ready(READY).await;
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// Presence updates Discord would answer by closing the shard with 4002 (a 6,000-character
/// activity name; a payload over 4,096 bytes), sent to every shard of the gateway. Promise:
/// dead-lettered with the reason before reaching any shard; no shard disconnected; a valid
/// presence right after them reaches every shard.
#[tokio::test]
async fn commands_discord_would_refuse_are_dead_lettered_with_the_reason_and_close_no_shard() {
    let cluster = Cluster::start(sim_config(2)).await;
    cluster.guilds_on_shards(0..2, 2);
    let mut dead = cluster.dead_letters().await;
    let gateway = cluster.gateway("gw-refuse", &[("SHARD_COUNT", "2")]).await;
    gateway.wait_ready(READY).await;
    let control = cluster.sim.control();
    let before = control.gateway_stats();
    let long_name = send_command(&cluster, "gw-refuse", presence(playing(&"x".repeat(6000)))).await;
    let mut huge = playing("ok");
    huge.url = Some(format!("https://example.com/{}", "u".repeat(5000)));
    let too_large = send_command(&cluster, "gw-refuse", presence(huge)).await;
    let reasons = dead_letter_reasons(
        &mut dead,
        &[long_name.clone(), too_large.clone()],
        Duration::from_secs(10),
    )
    .await;
    eprintln!("refused: {reasons:?}");
    assert!(
        reasons[&long_name].contains("activity name is 6000 characters long"),
        "{reasons:?}"
    );
    assert!(
        reasons[&too_large].contains("over Discord's limit of 4096"),
        "{reasons:?}"
    );
    // A valid presence after them reaches both shards.
    send_command(&cluster, "gw-refuse", presence(playing("fine"))).await;
    for shard in 0..2 {
        let path = format!("shard/{shard}/2");
        let record = control
            .wait_for_record(0, Duration::from_secs(10), |r| {
                r.method == "PRESENCE_UPDATE" && r.path == path
            })
            .await;
        assert!(record.is_some(), "the valid presence reached shard {shard}");
    }
    let after = control.gateway_stats();
    assert_eq!(
        after.closes_sent.get(&4002),
        None,
        "no shard closed with 4002: {:?}",
        after.closes_sent
    );
    assert_eq!(
        (after.connections, after.identifies, after.resumes),
        (before.connections, before.identifies, before.resumes),
        "no shard reconnected"
    );
    let metrics = gateway.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("swarmcord_gateway_commands_total")
                && l.contains("outcome=\"dead_lettered\"")
                && l.contains("kind=\"update_presence\"")
                && l.ends_with(" 2")),
        "{metrics}"
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// A burst of large `GUILD_CREATE`s (~48 KB each, ~38 MB in all; the cache stage parses and
/// writes every one of them) while RabbitMQ is away, the cache on: the publish buffer and the
/// cache stage hold at most `PUBLISH_BUFFER_BYTES` each (4 MiB here), then shards are not
/// read. Promise: the gateway's resident memory stays within 2 × the budget + 24 MiB of its
/// idle size, and every event is delivered once the broker is back.
#[tokio::test]
async fn a_burst_of_large_events_keeps_the_gateway_memory_bounded_and_loses_nothing() {
    const EVENTS: u64 = 800;
    const BUDGET: u64 = 4 << 20;
    let mut rabbit = swarmcord_testkit::rabbit::PrivateRabbit::start().await;
    let mut cluster = Cluster::start(sim_config(2)).await;
    cluster.amqp_url = rabbit.url();
    for shard in 0..2 {
        cluster
            .sim
            .control()
            .create_guild(&swarmcord_sim::discord::control::GuildSpec {
                name: format!("large{shard}"),
                members: LARGE_GUILD_MEMBERS,
                shard: Some((shard, 2)),
                ..swarmcord_sim::discord::control::GuildSpec::default()
            });
    }
    let sink = durable_sink(&cluster.amqp_url, &cluster.exchange).await;
    let budget = BUDGET.to_string();
    let gateway = cluster
        .gateway(
            "gw-bytes",
            &[
                ("SHARD_COUNT", "2"),
                ("CACHE_RESOURCES", "default"),
                ("PUBLISH_BUFFER_BYTES", budget.as_str()),
            ],
        )
        .await;
    gateway.wait_ready(READY).await;
    let idle = gateway.rss_bytes();
    rabbit.stop().await;
    let control = cluster.sim.control();
    let burst = tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                event: "GUILD_CREATE".to_owned(),
                count: EVENTS,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
            .sent
    });
    let mut peak = idle;
    let mut held_peak = 0_u64;
    let sampling = Instant::now();
    while sampling.elapsed() < Duration::from_secs(8) {
        peak = peak.max(gateway.rss_bytes());
        let metrics = gateway.metrics().await;
        let held = metrics
            .lines()
            .find_map(|l| l.strip_prefix("swarmcord_gateway_publish_buffer_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the buffer's bytes are reported");
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "bytes"
        )]
        let held = held as u64;
        held_peak = held_peak.max(held);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rabbit.start_again().await;
    assert_eq!(burst.await.expect("blast"), EVENTS);
    // Each shard's READY brought one GUILD_CREATE too.
    let expected = usize::try_from(EVENTS).unwrap_or(usize::MAX) + 2;
    let mut largest = 0;
    let ids = drain(
        &cluster.amqp_url,
        &sink,
        expected,
        Duration::from_secs(45),
        |delivery| {
            if delivery.routing_key.as_str() != "GUILD_CREATE" {
                return None;
            }
            largest = largest.max(delivery.data.len());
            let session = delivery_header(delivery, header::SESSION_ID)?;
            let seq = delivery_header(delivery, header::SEQ)?;
            Some(format!("{session}:{seq}"))
        },
    )
    .await;
    let unique: BTreeSet<&String> = ids.iter().collect();
    let (duplicates, unique) = (ids.len() - unique.len(), unique.len());
    let grew = peak.saturating_sub(idle);
    eprintln!(
        "large burst: GUILD_CREATEs of {largest} bytes; held at most {} KiB; idle RSS {} MiB, peak {} MiB (+{} MiB); {unique} of {expected} delivered, {duplicates} duplicates",
        held_peak >> 10,
        idle >> 20,
        peak >> 20,
        grew >> 20
    );
    assert!(largest >= 45_000, "GUILD_CREATEs of {largest} bytes");
    assert_eq!(unique, expected, "nothing lost\n{}", gateway.logs());
    assert!(
        held_peak > BUDGET / 2 && held_peak <= 2 * BUDGET,
        "held {held_peak} bytes (budget {BUDGET} for the buffer, as much for the cache stage)"
    );
    let bound = 2 * BUDGET + (24 << 20);
    assert!(
        grew <= bound,
        "RSS grew by {} MiB (bound {} MiB)",
        grew >> 20,
        bound >> 20
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// Members of the guilds whose `GUILD_CREATE` is ~48 KB.
const LARGE_GUILD_MEMBERS: usize = 100;

/// A frozen replica (SIGSTOP for 40 s, then SIGCONT) after a burst it had no time to read:
/// Discord times its sessions out meanwhile (no heartbeat for longer than 1.5 intervals + 2 s)
/// and ends them, but what it sent before is still in the sockets. Promise: the woken replica
/// reads and forwards every buffered event before it reconnects (then identifies, the sessions
/// being gone): 0 lost.
#[tokio::test]
async fn a_frozen_gateway_forwards_what_it_had_buffered_when_it_wakes() {
    const EVENTS: u64 = 2000;
    let (cluster, mut tap, gateway) = started(
        DiscordConfig {
            heartbeat_interval: Duration::from_secs(8),
            ..sim_config(4)
        },
        "gw-frozen-out",
        &[("CACHE_RESOURCES", "none")],
    )
    .await;
    gateway.signal("STOP");
    assert_eq!(blast(&cluster, EVENTS, 1000).await.expect("blast"), EVENTS);
    tokio::time::sleep(Duration::from_secs(38)).await;
    let before = cluster.sim.control().gateway_stats();
    gateway.signal("CONT");
    gateway.wait_ready(READY).await;
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(30)).await;
    let (duplicates, unique) = count(&ids);
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "frozen past the timeout: {unique} of {EVENTS} delivered, {duplicates} duplicates, {} identifies, {} resumes, {} failed resumes, closes {:?} (before waking: {:?})",
        stats.identifies,
        stats.resumes,
        stats.failed_resumes,
        stats.closes_sent,
        before.closes_sent
    );
    assert_eq!(
        before.closes_sent.get(&4009),
        Some(&4),
        "every session timed out during the freeze"
    );
    assert_eq!(unique, 2000, "nothing lost\n{}", gateway.logs());
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

/// A frozen replica (SIGSTOP for 40 s, then SIGCONT) while events keep coming: its leases
/// expire meanwhile (nobody else may take them), Discord keeps the sessions (no heartbeat for
/// 40 s is within its timeout) and buffers their events. The watchdogs' limits (20 s) are
/// shorter than the freeze. Promise: the woken replica takes its leases again and goes on
/// with every session, reading what the sockets buffered (the watchdogs do not count the
/// frozen time as silence): 0 lost, no identify, no watchdog reconnect.
#[tokio::test]
async fn a_frozen_gateway_resumes_its_sessions_when_it_wakes_and_loses_nothing() {
    const RATE: u64 = 150;
    const EVENTS: u64 = 7000;
    let (cluster, mut tap, gateway) = started(
        sim_config(4),
        "gw-frozen",
        &[
            ("CACHE_RESOURCES", "default"),
            ("SHARD_IDLE_TIMEOUT_MS", "20000"),
            ("HEARTBEAT_ACK_TIMEOUT_MS", "20000"),
        ],
    )
    .await;
    let burst = blast(&cluster, EVENTS, RATE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    gateway.signal("STOP");
    tokio::time::sleep(Duration::from_secs(40)).await;
    gateway.signal("CONT");
    gateway.wait_ready(READY).await;
    assert_eq!(burst.await.expect("blast"), EVENTS);
    let ids = collect_messages(&mut tap, EVENTS, Duration::from_secs(30)).await;
    let (duplicates, unique) = count(&ids);
    let stats = cluster.sim.control().gateway_stats();
    eprintln!(
        "frozen: {unique} of {EVENTS} delivered, {duplicates} duplicates, {} identifies, {} resumes",
        stats.identifies, stats.resumes
    );
    assert_eq!(unique, 7000, "nothing lost\n{}", gateway.logs());
    assert_eq!(stats.identifies, 4, "no shard re-identified");
    let metrics = gateway.metrics().await;
    assert!(
        swarmcord_testkit::metrics::counter_total(
            &metrics,
            "swarmcord_gateway_watchdog_reconnects_total"
        ) == 0.0,
        "the frozen time was taken for a silent connection\n{metrics}"
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}
