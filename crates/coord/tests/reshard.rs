//! The cluster's shard count and the resharding record against a real Redis.

use std::time::Duration;

use swarmcord_coord::{Begun, Phase, Resharding, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{init_tracing, redis_url, unique_name};

async fn resharding() -> (Resharding, redis::aio::ConnectionManager, Keys) {
    init_tracing();
    let conn = connect(&redis_url()).await.expect("redis");
    let keys = Keys::new(unique_name("coord-reshard"));
    (Resharding::new(conn.clone(), keys.clone()), conn, keys)
}

#[tokio::test]
async fn the_first_replica_stores_the_count_and_later_ones_adopt_it() {
    let (resharding, _, _) = resharding().await;
    assert_eq!(resharding.count().await.unwrap(), None);
    assert_eq!(resharding.begin(8).await.unwrap(), Begun::NoCount);
    assert_eq!(resharding.adopt(4).await.unwrap(), 4);
    // A replica configured (or told by Discord) otherwise runs the cluster's count.
    assert_eq!(resharding.adopt(6).await.unwrap(), 4);
    assert_eq!(resharding.count().await.unwrap(), Some(4));
    assert_eq!(resharding.begin(4).await.unwrap(), Begun::Unchanged);
    assert_eq!(resharding.current().await.unwrap(), None);
}

#[tokio::test]
async fn a_resharding_moves_through_its_phases_once_and_stores_the_new_count_at_the_switch() {
    let (resharding, _, _) = resharding().await;
    resharding.adopt(4).await.unwrap();
    let Begun::Started(record) = resharding.begin(8).await.unwrap() else {
        panic!("not started");
    };
    assert_eq!(
        (record.from, record.to, record.phase),
        (4, 8, Phase::Overlap)
    );
    // One at a time.
    assert!(matches!(
        resharding.begin(16).await.unwrap(),
        Begun::Busy(busy) if busy.to == 8
    ));
    tokio::time::sleep(Duration::from_millis(120)).await;
    let aged = resharding.current().await.unwrap().unwrap();
    assert!(aged.age >= Duration::from_millis(100), "{aged:?}");
    // Compare-and-set: of two replicas moving it on, one wins; a stale view moves nothing.
    assert!(
        resharding
            .advance(Phase::Overlap, Phase::Tagging)
            .await
            .unwrap()
    );
    assert!(
        !resharding
            .advance(Phase::Overlap, Phase::Tagging)
            .await
            .unwrap()
    );
    let tagging = resharding.current().await.unwrap().unwrap();
    assert_eq!(tagging.phase, Phase::Tagging);
    assert!(
        tagging.age < Duration::from_millis(100),
        "the age restarts: {tagging:?}"
    );
    assert!(!resharding.finish().await.unwrap(), "not switched yet");
    assert!(
        resharding
            .advance(Phase::Tagging, Phase::Both)
            .await
            .unwrap()
    );
    assert_eq!(
        resharding.count().await.unwrap(),
        Some(4),
        "still the old count"
    );
    assert!(
        resharding
            .advance(Phase::Both, Phase::Switched)
            .await
            .unwrap()
    );
    assert_eq!(
        resharding.count().await.unwrap(),
        Some(8),
        "stored with the switch"
    );
    assert!(!resharding.cancel().await.unwrap(), "too late to cancel");
    assert!(resharding.finish().await.unwrap());
    assert_eq!(resharding.current().await.unwrap(), None);
    assert_eq!(resharding.adopt(4).await.unwrap(), 8);
}

#[tokio::test]
async fn a_cancelled_resharding_keeps_the_old_count() {
    let (resharding, _, _) = resharding().await;
    resharding.adopt(4).await.unwrap();
    assert!(matches!(
        resharding.begin(8).await.unwrap(),
        Begun::Started(_)
    ));
    assert!(
        resharding
            .advance(Phase::Overlap, Phase::Tagging)
            .await
            .unwrap()
    );
    assert!(resharding.cancel().await.unwrap());
    assert!(!resharding.cancel().await.unwrap());
    assert_eq!(resharding.current().await.unwrap(), None);
    assert_eq!(resharding.count().await.unwrap(), Some(4));
}

#[tokio::test]
async fn malformed_values_in_redis_are_errors_not_panics() {
    let (resharding, mut conn, keys) = resharding().await;
    let _: () = redis::cmd("SET")
        .arg(keys.shard_count())
        .arg("many")
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = resharding.count().await.unwrap_err();
    assert!(error.to_string().contains("shard count"), "{error}");
    let _: () = redis::cmd("HSET")
        .arg(keys.reshard())
        .arg(&[
            "from", "4", "to", "8", "phase", "sideways", "since_s", "1", "since_us", "0",
        ])
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = resharding.current().await.unwrap_err();
    assert!(error.to_string().contains("reshard phase"), "{error}");
}
