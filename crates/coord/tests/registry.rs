//! The gateway registry against a real Redis.

use std::time::Duration;

use swarmcord_coord::{GatewayInfo, GatewayRegistry, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{eventually, init_tracing, redis_url, unique_name};
use tokio_util::sync::CancellationToken;

fn info(id: &str, shards: Vec<u32>) -> GatewayInfo {
    GatewayInfo {
        reply_queue: format!("gateway.{id}"),
        shards,
        started_at_ms: 1_700_000_000_000,
        heartbeat_latency_ms: [(0, 41)].into_iter().collect(),
        claims: None,
        loaded: Vec::new(),
        shadow: false,
    }
}

#[tokio::test]
async fn register_list_expire_and_deregister() {
    init_tracing();
    let conn = connect(&redis_url()).await.unwrap();
    let keys = Keys::new(unique_name("coord-registry"));
    let registry = GatewayRegistry::new(conn.clone(), keys.clone());
    let short =
        GatewayRegistry::new(conn.clone(), keys.clone()).with_ttl(Duration::from_millis(300));
    assert!(registry.gateways().await.unwrap().is_empty());

    registry
        .register("gw-a", &info("gw-a", vec![0, 1]))
        .await
        .unwrap();
    short
        .register("gw-b", &info("gw-b", vec![2, 3]))
        .await
        .unwrap();
    assert_eq!(
        registry.gateways().await.unwrap(),
        vec![
            ("gw-a".to_owned(), info("gw-a", vec![0, 1])),
            ("gw-b".to_owned(), info("gw-b", vec![2, 3])),
        ]
    );

    // Re-registering updates the entry.
    registry
        .register("gw-a", &info("gw-a", vec![0, 1, 4]))
        .await
        .unwrap();
    assert_eq!(
        registry.gateway("gw-a").await.unwrap(),
        Some(info("gw-a", vec![0, 1, 4]))
    );

    // gw-b stops heartbeating: it disappears after its TTL, and its entry is cleaned up.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let live = registry.gateways().await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].0, "gw-a");
    let mut raw = conn.clone();
    let stale: Option<String> = redis::cmd("HGET")
        .arg(keys.gateways())
        .arg("gw-b")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(stale, None);

    registry.deregister("gw-a").await.unwrap();
    assert!(registry.gateways().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stopping_instance_does_not_remove_its_replacement() {
    init_tracing();
    let conn = connect(&redis_url()).await.unwrap();
    let keys = Keys::new(unique_name("registry"));
    let registry = GatewayRegistry::new(conn, keys);
    let old = GatewayInfo {
        started_at_ms: 100,
        ..info("gw-r", vec![0])
    };
    let new = GatewayInfo {
        started_at_ms: 1000,
        ..info("gw-r", vec![0])
    };
    registry.register("gw-r", &old).await.unwrap();
    // The replacement registers before the old instance has finished stopping.
    registry.register("gw-r", &new).await.unwrap();
    assert!(!registry.deregister_instance("gw-r", 100).await.unwrap());
    assert_eq!(registry.gateway("gw-r").await.unwrap(), Some(new));
    // 10 is a prefix of 100 and 1000: only the exact instance matches.
    assert!(!registry.deregister_instance("gw-r", 10).await.unwrap());
    assert!(registry.deregister_instance("gw-r", 1000).await.unwrap());
    assert_eq!(registry.gateway("gw-r").await.unwrap(), None);
    // Nothing to remove is not an error.
    assert!(registry.deregister_instance("gw-r", 1000).await.unwrap());
}

#[tokio::test]
async fn keep_registered_heartbeats_until_cancelled() {
    init_tracing();
    let conn = connect(&redis_url()).await.unwrap();
    let keys = Keys::new(unique_name("coord-registry"));
    let registry = GatewayRegistry::new(conn, keys).with_ttl(Duration::from_millis(300));
    let cancel = CancellationToken::new();
    let task = {
        let registry = registry.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            registry
                .keep_registered("gw-c", &info("gw-c", vec![5]), cancel)
                .await;
        })
    };
    let registered = eventually(Duration::from_secs(2), || {
        let registry = registry.clone();
        async move { registry.gateway("gw-c").await.unwrap() }
    })
    .await;
    assert_eq!(registered, Some(info("gw-c", vec![5])));
    // Alive well past its TTL thanks to the heartbeat.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(registry.gateway("gw-c").await.unwrap().is_some());

    cancel.cancel();
    task.await.unwrap();
    assert!(registry.gateways().await.unwrap().is_empty());
}
