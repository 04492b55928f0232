//! End-to-end tests of the `gateway` binary against the Discord simulator, the real RabbitMQ
//! and the real Redis.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use swarmcord_testkit::{
    cluster::Cluster,
    events::{Seen, drain_message_ids, durable_sink, send_raw_command},
};

use swarmcord_protocol::amqp::header;
use swarmcord_protocol::command::{CommandEnvelope, GatewayCommand};
use swarmcord_protocol::keys::Keys;
use swarmcord_sim::DiscordConfig;
use swarmcord_sim::discord::control::{BlastSpec, MessageSpec};
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::id::Id;

const READY: Duration = Duration::from_secs(30);

fn sim_config(shards: u32, max_concurrency: u32) -> DiscordConfig {
    DiscordConfig {
        recommended_shards: shards,
        max_concurrency,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    }
}

fn voice_command(guild_id: u64, channel_id: u64) -> Vec<u8> {
    CommandEnvelope::new(
        swarmcord_testkit::unique_name("cmd"),
        0,
        GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
            channel_id: Some(Id::new(channel_id)),
            guild_id: Id::new(guild_id),
            self_deaf: true,
            self_mute: false,
        }),
    )
    .to_bytes()
}

/// Waits until the simulator recorded a voice state update from shard `shard` of `total`.
async fn voice_update_on_shard(cluster: &Cluster, shard: u32, total: u32, guild_id: u64) -> bool {
    let control = cluster.sim.control();
    let path = format!("shard/{shard}/{total}");
    control
        .wait_for_record(0, Duration::from_secs(10), |r| {
            r.method == "VOICE_STATE_UPDATE"
                && r.path == path
                && r.body["guild_id"].as_str() == Some(guild_id.to_string().as_str())
        })
        .await
        .is_some()
}

fn message_ids(seen: &[Seen]) -> Vec<u64> {
    seen.iter()
        .filter(|s| s.kind == "MESSAGE_CREATE")
        .filter_map(|s| s.body["id"].as_str()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn two_gateways_split_eight_shards_and_forward_every_dispatch_once() {
    let cluster = Cluster::start(sim_config(8, 8)).await;
    let guilds = cluster.guilds_on_shards(0..8, 8);
    let mut tap = cluster.tap().await;
    let group = |i: &'static str| [("GATEWAY_GROUP", i), ("GATEWAY_GROUPS", "2")];
    let one = cluster.gateway("gw-one", &group("1")).await;
    let two = cluster.gateway("gw-two", &group("2")).await;
    one.wait_ready(READY).await;
    two.wait_ready(READY).await;

    // Every shard identified once, by its group's gateway.
    let sessions = cluster.sim.control().sessions();
    assert_eq!(sessions.len(), 8, "{sessions:?}");
    assert_eq!(cluster.sim.control().gateway_stats().identifies, 8);

    let mut sent = BTreeSet::new();
    for (shard, guild) in &guilds {
        for i in 0..5 {
            let id = cluster
                .sim
                .control()
                .post_message(&MessageSpec {
                    channel_id: guild.text_channels[0],
                    author_id: guild.members[0],
                    content: format!("{shard}/{i}"),
                })
                .expect("post");
            sent.insert(id);
        }
    }
    let expected_dispatches = 8 * (1 + 1 + 5); // READY + GUILD_CREATE + messages per shard
    let seen = tap
        .collect_until(Duration::from_secs(15), |s| s.len() >= expected_dispatches)
        .await;
    // A little longer, to catch duplicates.
    let mut seen = seen;
    seen.extend(
        tap.collect_until(Duration::from_millis(500), |_| false)
            .await,
    );
    assert_eq!(
        seen.len(),
        expected_dispatches,
        "every dispatch exactly once"
    );
    assert_eq!(
        message_ids(&seen).into_iter().collect::<BTreeSet<_>>(),
        sent
    );

    let mut seqs: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for event in &seen {
        let shard = u32::try_from(event.header_u64(header::SHARD_ID)).expect("shard");
        let expected_gateway = if shard < 4 { "gw-one" } else { "gw-two" };
        assert_eq!(
            event.headers[header::GATEWAY_ID],
            expected_gateway,
            "{event:?}"
        );
        assert_eq!(event.header_u64(header::SHARD_COUNT), 8);
        assert!(event.headers[header::SESSION_ID].len() >= 16);
        assert!(event.header_u64(header::RECEIVED_AT) > 1_600_000_000_000);
        assert_eq!(
            event.reply_to.as_deref(),
            Some(format!("gateway.{expected_gateway}").as_str())
        );
        seqs.entry(shard)
            .or_default()
            .push(event.header_u64(header::SEQ));
        if event.kind == "MESSAGE_CREATE" {
            let guild_id: u64 = event.body["guild_id"]
                .as_str()
                .expect("guild")
                .parse()
                .expect("id");
            assert_eq!(swarmcord_protocol::shard_for_guild(guild_id, 8), shard);
        }
    }
    for (shard, seq) in &seqs {
        assert_eq!(
            seq,
            &(1..=7).collect::<Vec<u64>>(),
            "shard {shard} in order"
        );
    }

    // Commands reach the right shard, also when sent to the other gateway (re-routed).
    assert!(
        {
            send_raw_command(
                &cluster.amqp_url,
                "gw-one",
                &voice_command(guilds[&1].id, guilds[&1].voice_channels[0]),
            )
            .await;
            voice_update_on_shard(&cluster, 1, 8, guilds[&1].id).await
        },
        "a command for shard 1 sent to its owner"
    );
    send_raw_command(
        &cluster.amqp_url,
        "gw-one",
        &voice_command(guilds[&6].id, guilds[&6].voice_channels[0]),
    )
    .await;
    assert!(
        voice_update_on_shard(&cluster, 6, 8, guilds[&6].id).await,
        "re-routed from gw-one to gw-two"
    );

    assert_eq!(one.terminate().await.code(), Some(0));
    assert_eq!(two.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn a_restart_resumes_every_shard_with_zero_identifies_and_loses_nothing() {
    let cluster = Cluster::start(sim_config(4, 4)).await;
    let guilds = cluster.guilds_on_shards(0..4, 4);
    let mut tap = cluster.tap().await;
    let gateway = cluster.gateway("gw-restart", &[("SHARD_COUNT", "4")]).await;
    gateway.wait_ready(READY).await;
    assert_eq!(cluster.sim.control().gateway_stats().identifies, 4);

    // Events keep flowing during the whole restart.
    let control = cluster.sim.control();
    let guild_ids: Vec<u64> = guilds.values().map(|g| g.id).collect();
    let blast = tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count: 1500,
                rate: 500,
                guilds: guild_ids,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        gateway.terminate().await.code(),
        Some(0),
        "clean exit on SIGTERM"
    );
    let stats = cluster.sim.control().gateway_stats();
    assert_eq!(
        stats.closes_received.get(&4000).copied().unwrap_or(0),
        4,
        "closed with 4000 to keep the sessions"
    );
    let replacement = cluster.gateway("gw-restart", &[("SHARD_COUNT", "4")]).await;
    replacement.wait_ready(READY).await;
    let report = blast.await.expect("blast task");
    assert_eq!(report.sent, 1500);

    let seen = tap
        .collect_until(Duration::from_secs(20), |s| {
            message_ids(s).iter().collect::<BTreeSet<_>>().len() >= 1500
        })
        .await;
    let ids = message_ids(&seen);
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        1500,
        "every event emitted during the restart is delivered"
    );
    let stats = cluster.sim.control().gateway_stats();
    assert_eq!(
        stats.identifies, 4,
        "a rolling restart performs zero identifies"
    );
    assert_eq!(stats.resumes, 4);
    let duplicates = ids.len() - unique.len();
    eprintln!(
        "restart: {} deliveries for 1500 events ({duplicates} duplicates)",
        ids.len(),
    );
    assert_eq!(
        duplicates, 0,
        "a graceful restart persists the last confirmed sequence: nothing is replayed"
    );
    assert_eq!(replacement.terminate().await.code(), Some(0));
}

/// Upgrading from a version whose shard keys had no shard count (`{prefix}:shard:{id}:…`):
/// the new replica does not take a shard while its old-format lease lives (an older replica
/// owns it), and resumes every shard from the old-format session and cache keys, which the
/// lease claim moved: no identify, and no cache rebuild.
#[tokio::test]
async fn an_upgrade_from_keys_without_the_shard_count_resumes_every_shard() {
    let cluster = Cluster::start(sim_config(4, 4)).await;
    cluster.guilds_on_shards(0..4, 4);
    let env = [("SHARD_COUNT", "4")];
    let old = cluster.gateway("gw-upgrade", &env).await;
    old.wait_ready(READY).await;
    assert_eq!(old.terminate().await.code(), Some(0));

    // What the older version left: the same keys named by the shard id alone, and shard 0
    // still held by an older replica for a few seconds.
    let keys = Keys::new(cluster.prefix.clone());
    let mut redis = redis::Client::open(swarmcord_testkit::redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    for shard in 0..4 {
        let legacy = keys.legacy_shard(shard, 4);
        for (old, new) in [
            legacy.session,
            legacy.cache[0].clone(),
            legacy.cache[1].clone(),
        ] {
            let () = redis::cmd("RENAME")
                .arg(&new)
                .arg(&old)
                .query_async(&mut redis)
                .await
                .unwrap_or_else(|e| panic!("RENAME {new}: {e}"));
        }
    }
    let held_for = Duration::from_secs(8);
    let () = redis::cmd("SET")
        .arg(keys.legacy_shard(0, 4).lease)
        .arg("gw-older-version")
        .arg("PX")
        .arg(u64::try_from(held_for.as_millis()).expect("ms"))
        .query_async(&mut redis)
        .await
        .expect("SET");
    let started = std::time::Instant::now();

    let new = cluster.gateway("gw-upgrade", &env).await;
    let owners = |redis: redis::aio::MultiplexedConnection| {
        let keys = keys.clone();
        async move {
            let mut redis = redis;
            let mut get = redis::pipe();
            for shard in 0..4 {
                get.get(keys.shard_lease(shard, 4));
            }
            get.get(keys.legacy_shard(0, 4).lease);
            let owners: Vec<Option<String>> = get.query_async(&mut redis).await.ok()?;
            Some(owners)
        }
    };
    // Shards 1–3 are taken while shard 0 waits for the older replica's lease.
    let waiting = swarmcord_testkit::eventually(READY, || {
        let get = owners(redis.clone());
        async move {
            let owners = get.await?;
            (owners[1..4]
                .iter()
                .all(|o| o.as_deref() == Some("gw-upgrade")))
            .then_some(owners)
        }
    })
    .await
    .expect("shards 1-3 taken");
    assert!(
        started.elapsed() < held_for,
        "the new replica started too slowly to observe the wait"
    );
    assert_eq!(
        (waiting[0].as_deref(), waiting[4].as_deref()),
        (None, Some("gw-older-version")),
        "shard 0 is not taken while its old-format lease exists"
    );
    new.wait_ready(READY).await;
    assert!(
        started.elapsed() >= held_for,
        "shard 0 waited for the old lease"
    );

    let stats = cluster.sim.control().gateway_stats();
    assert_eq!(stats.identifies, 4, "the upgrade performs zero identifies");
    assert_eq!(stats.resumes, 4);
    for shard in 0..4 {
        let legacy = keys.legacy_shard(shard, 4);
        for (old, _) in [
            legacy.session,
            legacy.cache[0].clone(),
            legacy.cache[1].clone(),
        ] {
            let exists: i64 = redis::cmd("EXISTS")
                .arg(&old)
                .query_async(&mut redis)
                .await
                .expect("EXISTS");
            assert_eq!(exists, 0, "{old} was moved");
        }
    }
    // Give the cache check of the resumed sessions a moment: it would re-identify a shard
    // whose marker had not been moved.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(cluster.sim.control().gateway_stats().identifies, 4);
    assert_eq!(new.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn kill_9_hands_shards_over_after_the_lease_expires_and_never_to_two_owners() {
    let cluster = Cluster::start(sim_config(2, 2)).await;
    let guilds = cluster.guilds_on_shards(0..2, 2);
    let mut tap = cluster.tap().await;
    let first = cluster.gateway("gw-a", &[("SHARD_COUNT", "2")]).await;
    first.wait_ready(READY).await;

    // The replacement starts while the old one still holds the leases (Swarm start-first).
    let second = cluster.gateway("gw-b", &[("SHARD_COUNT", "2")]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sessions = cluster.sim.control().sessions();
    assert_eq!(
        sessions.iter().filter(|s| s.connected).count(),
        2,
        "the waiting replica did not connect: {sessions:?}"
    );

    let control = cluster.sim.control();
    let guild_ids: Vec<u64> = guilds.values().map(|g| g.id).collect();
    let blast = tokio::spawn({
        let control = control.clone();
        async move {
            control
                .blast(&BlastSpec {
                    count: 600,
                    rate: 300,
                    guilds: guild_ids,
                    ..BlastSpec::default()
                })
                .await
                .expect("blast")
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill9().await;

    // Sample ownership while the lease expires and the second replica takes over.
    let mut max_connected_per_shard = 0;
    for _ in 0..40 {
        let mut per_shard: HashMap<u32, usize> = HashMap::new();
        for s in control.sessions().into_iter().filter(|s| s.connected) {
            *per_shard.entry(s.shard[0]).or_default() += 1;
        }
        max_connected_per_shard =
            max_connected_per_shard.max(per_shard.values().copied().max().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        max_connected_per_shard <= 1,
        "a shard had two live connections"
    );
    second.wait_ready(READY).await;
    blast.await.expect("blast");

    let seen = tap
        .collect_until(Duration::from_secs(20), |s| {
            message_ids(s).iter().collect::<BTreeSet<_>>().len() >= 600
        })
        .await;
    let unique: BTreeSet<u64> = message_ids(&seen).into_iter().collect();
    let stats = control.gateway_stats();
    eprintln!(
        "kill -9: {} of 600 delivered, identifies {}, resumes {}",
        unique.len(),
        stats.identifies,
        stats.resumes
    );
    assert_eq!(
        unique.len(),
        600,
        "the persisted sessions were resumed, so nothing was lost"
    );
    assert_eq!(stats.resumes, 2, "both shards resumed");
    assert_eq!(second.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn identify_concurrency_across_two_gateways_is_respected() {
    let config = DiscordConfig {
        recommended_shards: 4,
        max_concurrency: 1,
        identify_interval: Duration::from_millis(700),
        ..DiscordConfig::default()
    };
    let cluster = Cluster::start(config).await;
    cluster.guilds_on_shards(0..4, 4);
    let extra = |group: &'static str| {
        [
            ("GATEWAY_GROUP", group),
            ("GATEWAY_GROUPS", "2"),
            ("SHARD_COUNT", "4"),
            ("IDENTIFY_INTERVAL_MS", "700"),
        ]
    };
    let a = cluster.gateway("gw-ida", &extra("1")).await;
    let b = cluster.gateway("gw-idb", &extra("2")).await;
    a.wait_ready(READY).await;
    b.wait_ready(READY).await;
    let stats = cluster.sim.control().gateway_stats();
    assert_eq!(stats.identifies, 4);
    assert_eq!(
        stats.identify_rate_limited, 0,
        "no identify was refused: {:?}",
        stats.identify_log
    );
    assert_eq!(stats.max_identifies_per_bucket_window, 1);
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test]
async fn malformed_commands_are_dead_lettered_and_the_gateway_keeps_running() {
    let cluster = Cluster::start(sim_config(1, 1)).await;
    let guilds = cluster.guilds_on_shards([0], 1);
    let gateway = cluster.gateway("gw-bad", &[("SHARD_COUNT", "1")]).await;
    gateway.wait_ready(READY).await;
    for body in [
        &b"{not json"[..],
        br#"{"v":1,"id":"x","issued_at_ms":1,"command":{"type":"explode"}}"#,
    ] {
        send_raw_command(&cluster.amqp_url, "gw-bad", body).await;
    }
    send_raw_command(
        &cluster.amqp_url,
        "gw-bad",
        &voice_command(guilds[&0].id, guilds[&0].voice_channels[0]),
    )
    .await;
    assert!(
        voice_update_on_shard(&cluster, 0, 1, guilds[&0].id).await,
        "a good command after bad ones works"
    );
    let metrics = gateway.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("swarmcord_gateway_commands_total")
                && l.contains("outcome=\"dead_lettered\"")
                && l.ends_with(" 2")),
        "{metrics}\n{}",
        gateway.logs()
    );
    let logs = gateway.logs();
    assert!(
        logs.contains("malformed command envelope"),
        "the reason is logged:\n{logs}"
    );
    gateway.wait_ready(READY).await;
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn the_token_never_reaches_the_logs_even_at_trace_level() {
    let cluster = Cluster::start(sim_config(1, 1)).await;
    cluster.guilds_on_shards([0], 1);
    let gateway = cluster
        .gateway("gw-trace", &[("SHARD_COUNT", "1"), ("RUST_LOG", "trace")])
        .await;
    gateway.wait_ready(READY).await;
    cluster
        .sim
        .control()
        .shard_action(0, swarmcord_sim::discord::gateway::ShardAction::Reconnect);
    tokio::time::sleep(Duration::from_millis(500)).await;
    gateway.wait_ready(READY).await;
    let logs = gateway.logs();
    assert!(
        logs.len() > 10_000,
        "trace logging is on ({} bytes)",
        logs.len()
    );
    assert!(
        !logs.contains(&cluster.token),
        "the bot token appeared in the logs"
    );
    assert!(
        !logs.contains("guest:guest"),
        "the AMQP credentials appeared in the logs"
    );
    gateway.terminate().await;
}

#[tokio::test]
async fn a_rabbitmq_restart_loses_no_event_and_the_gateway_recovers() {
    let mut rabbit = swarmcord_testkit::rabbit::PrivateRabbit::start().await;
    let mut cluster = Cluster::start(sim_config(2, 2)).await;
    cluster.amqp_url = rabbit.url();
    let guilds = cluster.guilds_on_shards(0..2, 2);
    let sink = durable_sink(&cluster.amqp_url, &cluster.exchange).await;
    let gateway = cluster.gateway("gw-rmq", &[("SHARD_COUNT", "2")]).await;
    gateway.wait_ready(READY).await;

    let control = cluster.sim.control();
    let guild_ids: Vec<u64> = guilds.values().map(|g| g.id).collect();
    let blast = tokio::spawn(async move {
        control
            .blast(&BlastSpec {
                count: 2000,
                rate: 250,
                guilds: guild_ids,
                ..BlastSpec::default()
            })
            .await
            .expect("blast")
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    rabbit.stop().await;
    // While the broker is away the gateway says it is not ready.
    let addr = gateway.http.to_string();
    let unready = swarmcord_testkit::eventually(Duration::from_secs(5), || {
        let addr = addr.clone();
        async move {
            let answer = swarmcord_testkit::http::request(&addr, "GET", "/readyz", &[], None)
                .await
                .ok()?;
            (answer.status == 503).then_some(answer.text())
        }
    })
    .await;
    assert!(
        unready.is_some_and(|text| text.contains("broker")),
        "readyz reports the broker"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    rabbit.start_again().await;
    gateway.wait_ready(Duration::from_secs(60)).await;
    blast.await.expect("blast");

    let ids = drain_message_ids(&cluster.amqp_url, &sink, 2000, Duration::from_secs(60)).await;
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    eprintln!(
        "rabbitmq restart: {} deliveries, {} unique of 2000",
        ids.len(),
        unique.len()
    );
    assert_eq!(
        unique.len(),
        2000,
        "no event lost across the broker restart"
    );
    let stats = cluster.sim.control().gateway_stats();
    assert_eq!(stats.identifies, 2, "the shards never re-identified");
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn only_allowed_events_are_forwarded_and_the_idle_watchdog_resumes() {
    let cluster = Cluster::start(sim_config(1, 1)).await;
    let guilds = cluster.guilds_on_shards([0], 1);
    let mut tap = cluster.tap().await;
    let gateway = cluster
        .gateway(
            "gw-filter",
            &[
                ("SHARD_COUNT", "1"),
                ("GATEWAY_EVENTS", "MESSAGE_CREATE"),
                ("SHARD_IDLE_TIMEOUT_MS", "1500"),
            ],
        )
        .await;
    gateway.wait_ready(READY).await;
    let guild = &guilds[&0];
    let id = cluster
        .sim
        .control()
        .post_message(&MessageSpec {
            channel_id: guild.text_channels[0],
            author_id: guild.members[0],
            content: "only me".into(),
        })
        .expect("post");
    let seen = tap
        .collect_until(Duration::from_secs(10), |s| !s.is_empty())
        .await;
    let mut seen = seen;
    seen.extend(
        tap.collect_until(Duration::from_millis(500), |_| false)
            .await,
    );
    let kinds: Vec<&str> = seen.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["MESSAGE_CREATE"],
        "READY and GUILD_CREATE were filtered out"
    );
    assert_eq!(message_ids(&seen), [id]);

    // No event for 1.5 s: the watchdog reconnects, and the shard resumes.
    let resumed = swarmcord_testkit::eventually(Duration::from_secs(10), || async {
        (cluster.sim.control().gateway_stats().resumes >= 1).then_some(())
    })
    .await;
    assert!(resumed.is_some(), "the idle watchdog made the shard resume");
    assert_eq!(cluster.sim.control().gateway_stats().identifies, 1);
    gateway.wait_ready(READY).await;
    let metrics = gateway.metrics().await;
    assert!(
        swarmcord_testkit::metrics::counter_total(
            &metrics,
            "swarmcord_gateway_watchdog_reconnects_total"
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("swarmcord_gateway_events_filtered_total{event=\"READY\"} 1"),
        "{metrics}"
    );
    assert_eq!(gateway.terminate().await.code(), Some(0));
}
