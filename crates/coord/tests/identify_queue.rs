//! The cluster-wide identify queue against a real Redis.

use std::collections::BTreeMap;
use std::time::Duration;

use swarmcord_coord::{RedisQueue, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{init_tracing, redis_url, unique_name};
use tokio::task::JoinSet;
use tokio::time::Instant;
use twilight_gateway::queue::Queue;

async fn queue(keys: &Keys, owner: &str, max_concurrency: u16, interval: Duration) -> RedisQueue {
    // A separate connection per queue: two "processes".
    let conn = connect(&redis_url()).await.expect("redis");
    RedisQueue::new(conn, keys.clone(), max_concurrency, interval).with_owner(owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_identify_twice_per_bucket_within_the_interval() {
    init_tracing();
    let interval = Duration::from_millis(300);
    let keys = Keys::new(unique_name("coord-identify"));
    let p1 = queue(&keys, "p1", 2, interval).await;
    let p2 = queue(&keys, "p2", 2, interval).await;

    let started = Instant::now();
    let mut waiting = JoinSet::new();
    for shard in 0..8u32 {
        for (name, queue) in [("p1", &p1), ("p2", &p2)] {
            let rx = queue.enqueue(shard);
            waiting.spawn(async move {
                rx.await.expect("identify slot never granted");
                (shard, name, Instant::now())
            });
        }
    }
    let mut per_bucket: BTreeMap<u32, Vec<(Instant, u32, &str)>> = BTreeMap::new();
    while let Some(result) = waiting.join_next().await {
        let (shard, name, at) = result.unwrap();
        per_bucket
            .entry(shard % 2)
            .or_default()
            .push((at, shard, name));
    }
    let total = started.elapsed();

    let mut min_gap = Duration::MAX;
    for (bucket, resolves) in &mut per_bucket {
        resolves.sort_by_key(|r| r.0);
        assert_eq!(resolves.len(), 8, "bucket {bucket}");
        for pair in resolves.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            min_gap = min_gap.min(gap);
            assert!(
                gap + Duration::from_millis(5) >= interval,
                "bucket {bucket}: shard {} ({}) resolved {gap:?} after shard {} ({})",
                pair[1].1,
                pair[1].2,
                pair[0].1,
                pair[0].2,
            );
        }
        let processes: Vec<&str> = resolves.iter().map(|r| r.2).collect();
        println!("bucket {bucket} order: {processes:?}");
        // Fair enough: no process monopolises a bucket while the other waits.
        let longest_run = processes
            .chunk_by(|a, b| a == b)
            .map(<[&str]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest_run <= 3, "bucket {bucket} unfair: {processes:?}");
    }
    // 8 identifies per bucket, buckets in parallel: 7 intervals after the first.
    let expected = interval * 7;
    println!("16 identifies in {total:?} (ideal {expected:?}), smallest gap {min_gap:?}");
    assert!(total + Duration::from_millis(5) >= expected, "{total:?}");
    assert!(total <= expected + Duration::from_millis(700), "{total:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_receiver_does_not_take_a_slot() {
    init_tracing();
    let interval = Duration::from_millis(300);
    let keys = Keys::new(unique_name("coord-identify"));
    let q = queue(&keys, "p1", 2, interval).await;

    let started = Instant::now();
    q.enqueue(0).await.unwrap();
    let gone = q.enqueue(2);
    let next = q.enqueue(4);
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(gone);
    next.await.unwrap();
    let elapsed = started.elapsed();
    println!("third shard of the bucket identified after {elapsed:?}");
    assert!(
        elapsed + Duration::from_millis(5) >= interval,
        "{elapsed:?}"
    );
    assert!(
        elapsed < interval * 2,
        "the dropped shard took a slot: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifies_count_against_the_session_start_limit() {
    init_tracing();
    let keys = Keys::new(unique_name("coord-identify"));
    let q = queue(&keys, "p1", 4, Duration::from_millis(300)).await;
    assert_eq!(q.session_start_limit().await.unwrap(), None);

    let stored = q
        .set_session_start_limit(100, 1000, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(stored, 100);
    for shard in 0..3 {
        tokio::time::timeout(Duration::from_secs(1), q.enqueue(shard))
            .await
            .expect("identify in a free bucket waited")
            .unwrap();
    }
    let limit = q.session_start_limit().await.unwrap().unwrap();
    assert_eq!((limit.remaining, limit.total), (97, 1000));
    assert!(
        limit.reset_after > Duration::from_secs(58) && limit.reset_after <= Duration::from_secs(60)
    );

    // Another gateway's older reading of the same window does not raise the count ...
    let stored = q
        .set_session_start_limit(99, 1000, Duration::from_secs(59))
        .await
        .unwrap();
    assert_eq!(stored, 97);
    // ... a lower one, or a new window, does.
    let stored = q
        .set_session_start_limit(90, 1000, Duration::from_secs(59))
        .await
        .unwrap();
    assert_eq!(stored, 90);
    let stored = q
        .set_session_start_limit(1000, 1000, Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(stored, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_is_refused_at_the_reserve_until_the_limit_resets() {
    init_tracing();
    let keys = Keys::new(unique_name("coord-identify"));
    let q = queue(&keys, "p1", 1, Duration::from_millis(100)).await;
    // Default reserve: max(5, 5 % of 1000) = 50.
    q.set_session_start_limit(50, 1000, Duration::from_secs(1))
        .await
        .unwrap();
    let started = Instant::now();
    let mut rx = q.enqueue(0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        rx.try_recv().is_err(),
        "identified although only the reserve was left"
    );
    assert_eq!(
        q.session_start_limit().await.unwrap().unwrap().remaining,
        50
    );

    tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("identify still refused after the limit reset")
        .unwrap();
    let elapsed = started.elapsed();
    println!("refused identify went through {elapsed:?} after enqueue (reset after 1 s)");
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed <= Duration::from_millis(1500), "{elapsed:?}");

    // An explicit reserve.
    let q = q.with_reserve(2);
    q.set_session_start_limit(3, 1000, Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), q.enqueue(1))
        .await
        .expect("identify above the reserve refused")
        .unwrap();
    let mut rx = q.enqueue(2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(rx.try_recv().is_err(), "identified at the reserve");
    assert_eq!(q.session_start_limit().await.unwrap().unwrap().remaining, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identify_without_redis() {
    init_tracing();
    // Nothing listens on port 1: every attempt fails, the slot is never granted.
    let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(
        client,
        redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_connection_timeout(Some(Duration::from_millis(100))),
    )
    .unwrap();
    let q = RedisQueue::new(
        conn,
        Keys::new("unreachable"),
        1,
        Duration::from_millis(100),
    );
    let rx = q.enqueue(0);
    let outcome = tokio::time::timeout(Duration::from_millis(800), rx).await;
    assert!(
        outcome.is_err(),
        "resolved or closed without Redis: {outcome:?}"
    );
}
