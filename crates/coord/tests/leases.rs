//! Shard leases against a real Redis: one owner per shard, waiting, expiry, loss signals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use swarmcord_coord::{ConnectionManager, CoordError, ShardLeases, connect};
use swarmcord_protocol::keys::Keys;
use swarmcord_testkit::{init_tracing, redis_url, unique_name};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The shard count of the leases.
const COUNT: u32 = 8;

async fn setup(ttl: Duration) -> (ConnectionManager, Keys, ShardLeases, ShardLeases) {
    init_tracing();
    let conn = connect(&redis_url()).await.expect("redis");
    let keys = Keys::new(unique_name("coord-lease"));
    // Two "processes": separate connections, different gateway ids, same prefix.
    let a = ShardLeases::new(
        connect(&redis_url()).await.expect("redis"),
        keys.clone(),
        "gw-a",
        COUNT,
    )
    .with_ttl(ttl);
    let b = ShardLeases::new(
        connect(&redis_url()).await.expect("redis"),
        keys.clone(),
        "gw-b",
        COUNT,
    )
    .with_ttl(ttl);
    (conn, keys, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_gateways_get_one_owner_per_shard_and_the_loser_waits() {
    let ttl = Duration::from_secs(2);
    let (_conn, _keys, a, b) = setup(ttl).await;
    let keeper_a = Arc::new(a.keeper().unwrap());
    let keeper_b = Arc::new(b.keeper().unwrap());

    // Both race for shards 0..8 at the same time.
    let mut race = JoinSet::new();
    for shard in 0..8u32 {
        for (name, keeper) in [("gw-a", keeper_a.clone()), ("gw-b", keeper_b.clone())] {
            race.spawn(async move {
                let won = keeper.try_acquire(shard).await.unwrap().is_some();
                (shard, name, won)
            });
        }
    }
    let mut winners = vec![Vec::new(); 8];
    while let Some(result) = race.join_next().await {
        let (shard, name, won) = result.unwrap();
        if won {
            winners[shard as usize].push(name);
        }
    }
    for (shard, won) in winners.iter().enumerate() {
        assert_eq!(won.len(), 1, "shard {shard} winners: {won:?}");
        let owner = a.owner(u32::try_from(shard).unwrap()).await.unwrap();
        assert_eq!(owner.as_deref(), Some(won[0]), "registry of shard {shard}");
    }
    let owners = b.owners(&(0..8).collect::<Vec<_>>()).await.unwrap();
    assert!(owners.iter().all(Option::is_some));
    let held_a = keeper_a.held();
    let held_b = keeper_b.held();
    assert_eq!(held_a.len() + held_b.len(), 8, "a={held_a:?} b={held_b:?}");

    // The loser of some shard waits for it ...
    let (shard, owner_keeper, loser_keeper) = match held_a.first() {
        Some(&shard) => (shard, keeper_a.clone(), keeper_b.clone()),
        None => (held_b[0], keeper_b.clone(), keeper_a.clone()),
    };
    let owner_token = owner_keeper.lost_token(shard).unwrap();
    let cancel = CancellationToken::new();
    let waiter = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let token = loser_keeper.acquire(shard, &cancel).await;
            (token, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiter.is_finished(), "loser acquired a held lease");
    assert!(!owner_token.is_cancelled());

    // ... and gets it right after the owner releases it.
    let released_at = Instant::now();
    assert!(owner_keeper.release(shard).await.unwrap());
    assert!(owner_token.is_cancelled(), "release ends the owner's lease");
    let (token, acquired_at) = waiter.await.unwrap();
    let token = token.unwrap();
    let delay = acquired_at - released_at;
    println!(
        "loser acquired {delay:?} after release (poll = ttl/4 = {:?})",
        ttl / 4
    );
    assert!(delay <= ttl / 4 + Duration::from_millis(250), "{delay:?}");
    assert!(!token.is_cancelled());
    let expected = if Arc::ptr_eq(&owner_keeper, &keeper_a) {
        "gw-b"
    } else {
        "gw-a"
    };
    assert_eq!(a.owner(shard).await.unwrap().as_deref(), Some(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_can_be_cancelled() {
    let (_conn, _keys, a, b) = setup(Duration::from_secs(2)).await;
    let _held = a.acquire(5, CancellationToken::new()).await.unwrap();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let result = b.acquire(5, cancel).await;
    assert!(
        matches!(result, Err(CoordError::Cancelled { shard_id: 5 })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(b.owner(5).await.unwrap().as_deref(), Some("gw-a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_of_a_killed_owner_expires_after_the_ttl() {
    let ttl = Duration::from_millis(500);
    let (_conn, _keys, a, b) = setup(ttl).await;
    let lease = a.acquire(3, CancellationToken::new()).await.unwrap();
    assert_eq!(lease.shard_id(), 3);

    // Renewals keep it alive well past the TTL.
    tokio::time::sleep(ttl * 2).await;
    assert!(!lease.is_lost());
    assert!(!b.try_acquire(3).await.unwrap(), "renewed lease was free");
    assert_eq!(b.owner(3).await.unwrap().as_deref(), Some("gw-a"));

    // kill -9: renewals stop, nothing is released.
    let killed_at = Instant::now();
    lease.abandon();
    assert_eq!(b.owner(3).await.unwrap().as_deref(), Some("gw-a"));
    let taken = b.acquire(3, CancellationToken::new()).await.unwrap();
    let after = killed_at.elapsed();
    println!("takeover {after:?} after the owner died (ttl {ttl:?})");
    // The last renewal happened at most ttl/3 before the kill.
    assert!(
        after + Duration::from_millis(30) >= ttl * 2 / 3,
        "{after:?}"
    );
    assert!(
        after <= ttl + ttl / 4 + Duration::from_millis(250),
        "{after:?}"
    );
    assert!(!taken.is_lost());
    assert_eq!(a.owner(3).await.unwrap().as_deref(), Some("gw-b"));
    assert!(taken.release().await.unwrap());
    assert_eq!(a.owner(3).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_fires_when_the_lease_is_taken_behind_our_back_and_a_vanished_one_is_kept() {
    let ttl = Duration::from_millis(600);
    let (mut conn, keys, a, _b) = setup(ttl).await;
    let keeper = a.keeper().unwrap();
    let deleted = keeper.try_acquire(1).await.unwrap().unwrap();
    let stolen = keeper.try_acquire(2).await.unwrap().unwrap();
    let kept = keeper.try_acquire(3).await.unwrap().unwrap();
    assert_eq!(keeper.held(), vec![1, 2, 3]);

    let changed_at = Instant::now();
    redis::cmd("DEL")
        .arg(keys.shard_lease(1, COUNT))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    redis::cmd("SET")
        .arg(keys.shard_lease(2, COUNT))
        .arg("intruder")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let deadline = ttl / 3 + Duration::from_millis(300);
    tokio::time::timeout(deadline, stolen.cancelled())
        .await
        .expect("no loss signal for a taken lease");
    println!("loss noticed after {:?}", changed_at.elapsed());
    assert!(!kept.is_cancelled());
    // A lease that vanished (Redis lost it) while nobody else took it is taken again.
    assert!(!deleted.is_cancelled(), "a vanished lease is kept");
    assert_eq!(a.owner(1).await.unwrap().as_deref(), Some("gw-a"));
    assert_eq!(keeper.held(), vec![1, 3]);
    // A lost lease is never deleted: it belongs to someone else now.
    assert_eq!(a.owner(2).await.unwrap().as_deref(), Some("intruder"));
    assert!(!a.renew(2).await.unwrap());
    assert!(!a.release(2).await.unwrap());
    assert_eq!(a.owner(2).await.unwrap().as_deref(), Some("intruder"));

    // Dropping the keeper releases what it still holds.
    drop(keeper);
    assert!(kept.is_cancelled());
    let gone = swarmcord_testkit::eventually(Duration::from_secs(2), || {
        let a = a.clone();
        async move { a.owner(3).await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert!(gone.is_some(), "dropped keeper did not release its lease");
}

/// A TCP proxy to Redis that can be cut, to make Redis unreachable for one client only.
async fn cuttable_proxy(cut: Arc<AtomicBool>, stop: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let upstream = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if cut.load(Ordering::SeqCst) {
                continue; // dropped: connection refused in effect
            }
            let upstream = upstream.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(upstream).await.expect("upstream");
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    });
    format!("redis://127.0.0.1:{port}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_is_given_up_when_redis_is_unreachable_for_the_ttl() {
    init_tracing();
    let ttl = Duration::from_millis(600);
    let keys = Keys::new(unique_name("coord-lease"));
    let cut = Arc::new(AtomicBool::new(false));
    let connections = CancellationToken::new();
    let url = cuttable_proxy(cut.clone(), connections.clone()).await;
    let a =
        ShardLeases::new(connect(&url).await.unwrap(), keys.clone(), "gw-a", COUNT).with_ttl(ttl);
    let direct = ShardLeases::new(connect(&redis_url()).await.unwrap(), keys, "gw-b", COUNT);

    let lease = a.acquire(7, CancellationToken::new()).await.unwrap();
    tokio::time::sleep(ttl).await;
    assert!(!lease.is_lost());

    cut.store(true, Ordering::SeqCst);
    connections.cancel();
    let cut_at = Instant::now();
    tokio::time::timeout(ttl + Duration::from_millis(300), lease.lost().cancelled())
        .await
        .expect("lease not given up while Redis was unreachable");
    let after = cut_at.elapsed();
    println!("lease given up {after:?} after Redis became unreachable (ttl {ttl:?})");
    // Given up before it could expire (it was renewed at most ttl/3 before the cut) ...
    assert!(after <= ttl, "{after:?}");
    // ... but not at the first failed renewal.
    assert!(after >= ttl / 3, "{after:?}");
    // Nobody took it yet at that moment, or it was about to expire: never two owners.
    let owner = direct.owner(7).await.unwrap();
    assert!(owner.as_deref() != Some("gw-b"), "{owner:?}");
}

/// A frozen process (SIGSTOP, a suspended VM): the runtime does not run for longer than the
/// TTL, so the renewals are missed. On waking, Redis decides: a lease nobody took meanwhile is
/// kept (taken again), one another gateway took is lost. (Before, the late renewal was given
/// a 1 ms timeout and every lease was given up.)
#[tokio::test(flavor = "current_thread")]
async fn a_frozen_owner_keeps_the_leases_nobody_took_meanwhile() {
    let ttl = Duration::from_millis(600);
    let (mut conn, keys, a, _b) = setup(ttl).await;
    let keeper = a.keeper().unwrap();
    let untouched = keeper.try_acquire(1).await.unwrap().unwrap();
    let taken = keeper.try_acquire(2).await.unwrap().unwrap();
    redis::cmd("SET")
        .arg(keys.shard_lease(2, COUNT))
        .arg("intruder")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    // The freeze: nothing on this runtime runs for 2.5 TTLs (lease 1 expires in Redis).
    std::thread::sleep(ttl * 5 / 2);
    tokio::time::timeout(Duration::from_secs(2), taken.cancelled())
        .await
        .expect("the lease another gateway took is lost");
    tokio::time::sleep(ttl / 2).await;
    assert!(
        !untouched.is_cancelled(),
        "the lease nobody took is kept after the freeze"
    );
    assert_eq!(keeper.held(), vec![1]);
    assert_eq!(a.owner(1).await.unwrap().as_deref(), Some("gw-a"));
}
