//! The session store against a real Redis.

use std::time::Duration;

use swarmcord_coord::{ConnectionManager, CoordError, SavedSession, SessionStore, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{init_tracing, redis_url, unique_name};

async fn store() -> (ConnectionManager, Keys, SessionStore) {
    init_tracing();
    let conn = connect(&redis_url()).await.expect("redis");
    let keys = Keys::new(unique_name("coord-session"));
    let store = SessionStore::new(conn.clone(), keys.clone()).with_ttl(Duration::from_secs(120));
    (conn, keys, store)
}

/// The shard count of the sessions.
const COUNT: u32 = 16;

fn session(n: u64) -> SavedSession {
    SavedSession {
        session_id: format!("session-{n}"),
        sequence: 1000 + n,
        resume_url: Some(format!("wss://resume-{n}.example")),
        shard_count: COUNT,
    }
}

async fn pttl(conn: &mut ConnectionManager, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PTTL")
}

#[tokio::test]
async fn save_load_clear_round_trip_with_ttl() {
    let (mut conn, keys, store) = store().await;
    assert_eq!(store.load(4, COUNT).await.unwrap(), None);

    let saved = session(4);
    store.save(4, &saved).await.unwrap();
    assert_eq!(store.load(4, COUNT).await.unwrap(), Some(saved.clone()));
    let ttl = pttl(&mut conn, &keys.shard_session(4, COUNT)).await;
    assert!(ttl > 110_000 && ttl <= 120_000, "PTTL {ttl}");

    // A later save replaces the sequence and drops a resume URL that is no longer known.
    let newer = SavedSession {
        sequence: 2000,
        resume_url: None,
        ..saved
    };
    store.save(4, &newer).await.unwrap();
    assert_eq!(store.load(4, COUNT).await.unwrap(), Some(newer.clone()));

    // twilight's Session round trip.
    let twilight = newer.to_session();
    assert_eq!((twilight.id(), twilight.sequence()), ("session-4", 2000));
    assert_eq!(SavedSession::from_session(&twilight, None, COUNT), newer);

    store.clear(4, COUNT).await.unwrap();
    assert_eq!(store.load(4, COUNT).await.unwrap(), None);
}

#[tokio::test]
async fn save_many_and_load_many() {
    let (mut conn, keys, store) = store().await;
    let sessions: Vec<(u32, SavedSession)> = (0..8).map(|i| (i, session(i.into()))).collect();
    store
        .save_many(sessions.iter().map(|(id, s)| (*id, s)))
        .await
        .unwrap();
    store.save_many(std::iter::empty()).await.unwrap();

    let loaded = store.load_many(COUNT, &[0, 3, 7, 9]).await.unwrap();
    assert_eq!(
        loaded,
        vec![Some(session(0)), Some(session(3)), Some(session(7)), None]
    );
    for shard in 0..8 {
        let ttl = pttl(&mut conn, &keys.shard_session(shard, COUNT)).await;
        assert!(ttl > 0, "shard {shard} session has no TTL ({ttl})");
    }
}

#[tokio::test]
async fn sessions_expire_unless_saved_again() {
    let (_conn, keys, _) = store().await;
    let store = SessionStore::new(connect(&redis_url()).await.unwrap(), keys)
        .with_ttl(Duration::from_millis(400));
    assert_eq!(store.ttl(), Duration::from_millis(400));
    for _ in 0..4 {
        store.save(1, &session(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        store.load(1, COUNT).await.unwrap().is_some(),
        "refreshed session expired"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.load(1, COUNT).await.unwrap(), None);
}

#[tokio::test]
async fn malformed_sessions_are_errors_not_panics() {
    let (mut conn, keys, store) = store().await;
    redis::cmd("HSET")
        .arg(keys.shard_session(2, COUNT))
        .arg("session_id")
        .arg("x")
        .arg("seq")
        .arg("not-a-number")
        .arg("shard_count")
        .arg("1")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let error = store.load(2, COUNT).await.unwrap_err();
    assert!(matches!(error, CoordError::Malformed { .. }), "{error}");
    println!("{error}");
    assert_eq!(store.load_many(COUNT, &[2]).await.unwrap(), vec![None]);
}

/// Fencing: a save only lands where the saver holds the shard's lease, so a replica that lost
/// a shard while frozen cannot overwrite the session its new owner saves.
#[tokio::test]
async fn a_save_is_refused_where_the_saver_does_not_hold_the_lease() {
    let (conn, keys, store) = store().await;
    let owner = swarmcord_coord::ShardLeases::new(conn.clone(), keys.clone(), "gw-new", COUNT);
    assert!(owner.try_acquire(1).await.unwrap());
    let newest = session(1);
    let refused = store
        .save_many_if_owner("gw-new", [(1, &newest), (2, &session(2))])
        .await
        .unwrap();
    assert_eq!(refused, [2], "shard 2 has no lease");
    assert_eq!(store.load(1, COUNT).await.unwrap(), Some(newest.clone()));
    assert_eq!(store.load(2, COUNT).await.unwrap(), None);

    let stale = SavedSession {
        sequence: 3,
        resume_url: None,
        ..newest.clone()
    };
    let refused = store
        .save_many_if_owner("gw-frozen", [(1, &stale)])
        .await
        .unwrap();
    assert_eq!(refused, [1], "the lease is gw-new's");
    assert_eq!(
        store.load(1, COUNT).await.unwrap(),
        Some(newest),
        "untouched"
    );
    assert!(
        store
            .save_many_if_owner("gw-new", std::iter::empty())
            .await
            .unwrap()
            .is_empty()
    );
    let without_url = SavedSession {
        resume_url: None,
        ..session(1)
    };
    store
        .save_many_if_owner("gw-new", [(1, &without_url)])
        .await
        .unwrap();
    assert_eq!(store.load(1, COUNT).await.unwrap(), Some(without_url));
}

/// Shard 3 of 16 and shard 3 of 8 are different shards: their sessions never mix, and
/// `delete_many` forgets one shard count's sessions only.
#[tokio::test]
async fn sessions_of_two_shard_counts_are_separate_and_deleted_per_count() {
    let (_conn, _keys, store) = store().await;
    let other = SavedSession {
        shard_count: 8,
        ..session(30)
    };
    store.save(3, &session(3)).await.unwrap();
    store.save(3, &other).await.unwrap();
    store.save(5, &session(5)).await.unwrap();
    assert_eq!(store.load(3, COUNT).await.unwrap(), Some(session(3)));
    assert_eq!(store.load(3, 8).await.unwrap(), Some(other.clone()));
    assert_eq!(store.load(5, 8).await.unwrap(), None);

    assert_eq!(store.delete_many(COUNT, &[3, 5, 6]).await.unwrap(), 2);
    assert_eq!(store.delete_many(COUNT, &[]).await.unwrap(), 0);
    assert_eq!(
        store.load_many(COUNT, &[3, 5]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(store.load(3, 8).await.unwrap(), Some(other), "untouched");
}
