//! Leases per shard count, and the upgrade from keys named by the shard id alone (real Redis):
//! a lease is not taken while the old-format lease exists, and taking it moves the shard's
//! old-format session and cache bookkeeping.

use std::time::Duration;

use swarmcord_coord::{ConnectionManager, SavedSession, SessionStore, ShardLeases, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{init_tracing, redis_url, unique_name};

/// The shard count of the new replicas.
const COUNT: u32 = 8;

async fn setup() -> (ConnectionManager, Keys, ShardLeases, SessionStore) {
    init_tracing();
    let conn = connect(&redis_url()).await.expect("redis");
    let keys = Keys::new(unique_name("coord-upgrade"));
    let leases = ShardLeases::new(conn.clone(), keys.clone(), "gw-new", COUNT)
        .with_ttl(Duration::from_secs(5));
    let sessions = SessionStore::new(conn.clone(), keys.clone());
    (conn, keys, leases, sessions)
}

async fn query<T: redis::FromRedisValue>(conn: &ConnectionManager, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut conn.clone()).await.expect("redis")
}

async fn exists(conn: &ConnectionManager, key: &str) -> bool {
    query::<i64>(conn, redis::cmd("EXISTS").arg(key)).await == 1
}

/// Writes shard `shard_id`'s keys as an older version did: a session of `count` shards, the
/// cache's guild set and session marker.
async fn write_legacy(conn: &ConnectionManager, keys: &Keys, shard_id: u32, count: u32) {
    let legacy = keys.legacy_shard(shard_id, COUNT);
    let _: () = query(
        conn,
        redis::cmd("HSET")
            .arg(&legacy.session.0)
            .arg("session_id")
            .arg(format!("old-{shard_id}"))
            .arg("seq")
            .arg(41)
            .arg("shard_count")
            .arg(count)
            .arg("resume_url")
            .arg("wss://old.example"),
    )
    .await;
    let _: () = query(
        conn,
        redis::cmd("PEXPIRE").arg(&legacy.session.0).arg(60_000),
    )
    .await;
    let _: () = query(
        conn,
        redis::cmd("SADD").arg(&legacy.cache[0].0).arg(&[10, 11]),
    )
    .await;
    let _: () = query(
        conn,
        redis::cmd("SET")
            .arg(&legacy.cache[1].0)
            .arg(format!("old-{shard_id}")),
    )
    .await;
}

#[tokio::test]
async fn a_shard_is_an_id_of_a_count_each_with_its_own_lease() {
    let (conn, keys, eight, _) = setup().await;
    let four = ShardLeases::new(conn.clone(), keys.clone(), "gw-four", 4);
    assert_eq!(eight.shard_count(), COUNT);
    assert!(eight.try_acquire(3).await.unwrap());
    assert!(
        four.try_acquire(3).await.unwrap(),
        "shard 3 of 4 is another shard"
    );
    assert_eq!(eight.owner(3).await.unwrap().as_deref(), Some("gw-new"));
    assert_eq!(four.owner(3).await.unwrap().as_deref(), Some("gw-four"));
    let four_seen_by_eight = eight.clone().with_shard_count(4);
    assert_eq!(
        four_seen_by_eight.owners(&[3, 0]).await.unwrap(),
        vec![Some("gw-four".to_owned()), None]
    );
    assert!(exists(&conn, &keys.shard_lease(3, 4)).await);
    assert!(exists(&conn, &keys.shard_lease(3, COUNT)).await);
}

/// An older replica still holds the shard (its old-format lease exists): the lease is not
/// taken until that key is gone, and nothing is moved meanwhile.
#[tokio::test]
async fn the_lease_is_not_taken_while_the_old_format_lease_exists() {
    let (conn, keys, leases, _) = setup().await;
    let legacy = keys.legacy_shard(2, COUNT);
    write_legacy(&conn, &keys, 2, COUNT).await;
    let _: () = query(
        &conn,
        redis::cmd("SET")
            .arg(&legacy.lease)
            .arg("gw-old")
            .arg("PX")
            .arg(400),
    )
    .await;

    assert!(!leases.try_acquire(2).await.unwrap());
    assert_eq!(
        leases.owner(2).await.unwrap(),
        None,
        "the new lease is not set"
    );
    assert!(exists(&conn, &legacy.session.0).await, "nothing moved yet");
    assert!(!exists(&conn, &legacy.session.1).await);

    // `acquire` waits for the old lease to expire (the older replica stopped), then takes it.
    let started = std::time::Instant::now();
    let lease = leases
        .acquire(2, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200), "waited");
    assert_eq!(leases.owner(2).await.unwrap().as_deref(), Some("gw-new"));
    assert!(exists(&conn, &legacy.session.1).await, "moved once taken");
    lease.release().await.unwrap();
}

/// Taking the lease moves the old-format session and cache bookkeeping to the new keys (same
/// content, same TTL), so the shard resumes instead of identifying.
#[tokio::test]
async fn taking_the_lease_moves_the_old_format_keys_of_the_same_shard_count() {
    let (conn, keys, leases, sessions) = setup().await;
    let legacy = keys.legacy_shard(1, COUNT);
    write_legacy(&conn, &keys, 1, COUNT).await;

    assert!(leases.try_acquire(1).await.unwrap());
    assert_eq!(
        sessions.load(1, COUNT).await.unwrap(),
        Some(SavedSession {
            session_id: "old-1".to_owned(),
            sequence: 41,
            resume_url: Some("wss://old.example".to_owned()),
            shard_count: COUNT,
        })
    );
    let ttl: i64 = query(&conn, redis::cmd("PTTL").arg(&legacy.session.1)).await;
    assert!(
        ttl > 50_000 && ttl <= 60_000,
        "the session keeps its TTL: {ttl}"
    );
    let mut guilds: Vec<u64> = query(&conn, redis::cmd("SMEMBERS").arg(&legacy.cache[0].1)).await;
    guilds.sort_unstable();
    assert_eq!(guilds, [10, 11]);
    let marker: Option<String> = query(&conn, redis::cmd("GET").arg(&legacy.cache[1].1)).await;
    assert_eq!(marker.as_deref(), Some("old-1"));
    for (old, _) in [
        legacy.session.clone(),
        legacy.cache[0].clone(),
        legacy.cache[1].clone(),
    ] {
        assert!(!exists(&conn, &old).await, "{old} still exists");
    }

    // Taking it again (already ours) moves nothing: a later old-format key stays.
    write_legacy(&conn, &keys, 1, COUNT).await;
    assert!(leases.try_acquire(1).await.unwrap());
    assert!(exists(&conn, &legacy.session.0).await);
}

/// Old-format keys of another shard count (the bot was resharded across the upgrade) are about
/// another shard: they are not moved. Existing new keys are never overwritten.
#[tokio::test]
async fn old_format_keys_are_not_moved_for_another_count_or_over_new_keys() {
    let (conn, keys, leases, sessions) = setup().await;
    write_legacy(&conn, &keys, 4, 16).await;
    assert!(leases.try_acquire(4).await.unwrap());
    assert_eq!(sessions.load(4, COUNT).await.unwrap(), None);
    let legacy = keys.legacy_shard(4, COUNT);
    assert!(exists(&conn, &legacy.session.0).await);
    assert!(exists(&conn, &legacy.cache[0].0).await);
    assert!(!exists(&conn, &legacy.cache[0].1).await);

    write_legacy(&conn, &keys, 5, COUNT).await;
    let legacy = keys.legacy_shard(5, COUNT);
    let _: () = query(
        &conn,
        redis::cmd("SET").arg(&legacy.cache[1].1).arg("new-5"),
    )
    .await;
    assert!(leases.try_acquire(5).await.unwrap());
    let marker: Option<String> = query(&conn, redis::cmd("GET").arg(&legacy.cache[1].1)).await;
    assert_eq!(marker.as_deref(), Some("new-5"), "not overwritten");
    assert!(exists(&conn, &legacy.cache[1].0).await, "left in place");
    assert_eq!(
        sessions.load(5, COUNT).await.unwrap().map(|s| s.session_id),
        Some("old-5".to_owned()),
        "the session had no new key: moved"
    );
}
