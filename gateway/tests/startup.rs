//! A freshly started `gateway` binary: it waits for Redis instead of exiting, says so in
//! `/readyz`, and shows its event counters at zero before any event.

use std::time::Duration;

use swarmcord_sim::DiscordConfig;
use swarmcord_testkit::cluster::Cluster;
use swarmcord_testkit::http;
use swarmcord_testkit::metrics::{counter_series, counter_total};

const READY: Duration = Duration::from_secs(30);

fn sim_config() -> DiscordConfig {
    DiscordConfig {
        recommended_shards: 2,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    }
}

#[tokio::test]
async fn a_fresh_gateway_shows_its_event_counters_at_zero() {
    let cluster = Cluster::start(sim_config()).await;
    let gateway = cluster.gateway("gw-zero", &[("SHARD_COUNT", "2")]).await;
    gateway.wait_ready(READY).await;
    let metrics = gateway.metrics().await;
    for name in [
        "swarmcord_gateway_watchdog_reconnects_total",
        "swarmcord_gateway_events_orphaned_total",
    ] {
        let series = counter_series(&metrics, name);
        for shard in ["0", "1"] {
            let label = format!("shard=\"{shard}\"");
            assert!(
                series.iter().any(|(l, v)| *l == label && *v == 0.0),
                "{name}{{{label}}} 0 missing:\n{metrics}"
            );
        }
    }
    let commands = counter_series(&metrics, "swarmcord_gateway_commands_total");
    for kind in swarmcord_protocol::command::GatewayCommand::KINDS {
        for outcome in ["executed", "dead_lettered", "rerouted"] {
            let label = format!("outcome=\"{outcome}\",kind=\"{kind}\"");
            assert!(
                commands.iter().any(|(l, v)| *l == label && *v == 0.0),
                "swarmcord_gateway_commands_total{{{label}}} 0 missing:\n{metrics}"
            );
        }
    }
    // Identifies did happen (one per shard): registered at zero, then counted.
    let identifies = counter_total(&metrics, "swarmcord_gateway_identifies_total");
    assert!((identifies - 2.0).abs() < 0.5, "{identifies}\n{metrics}");
    assert_eq!(gateway.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn a_gateway_started_before_redis_waits_for_it_and_says_so() {
    let mut redis = swarmcord_testkit::redis_server::PrivateRedis::start().await;
    redis.kill();
    let cluster = Cluster::start(sim_config()).await;
    let url = redis.url();
    let gateway = cluster
        .gateway(
            "gw-wait",
            &[("SHARD_COUNT", "2"), ("REDIS_URL", url.as_str())],
        )
        .await;
    let addr = gateway.http.to_string();
    let waiting = swarmcord_testkit::eventually(Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            let answer = http::request(&addr, "GET", "/readyz", &[], None)
                .await
                .ok()?;
            (answer.status == 503 && answer.text().contains("waiting for Redis")).then_some(())
        }
    })
    .await;
    assert!(waiting.is_some(), "/readyz names Redis\n{}", gateway.logs());
    // Several attempts later it still waits (it does not exit after the first one).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answer = http::request(&addr, "GET", "/readyz", &[], None)
        .await
        .expect("the gateway still serves /readyz while waiting");
    assert_eq!(answer.status, 503, "{}", answer.text());
    redis.start_again().await;
    gateway.wait_ready(READY).await;
    assert_eq!(cluster.sim.control().gateway_stats().identifies, 2);
    assert_eq!(gateway.terminate().await.code(), Some(0));
}
