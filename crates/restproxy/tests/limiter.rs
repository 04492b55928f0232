//! The shared limiter on the test services' Redis: leased global slots never let two replicas
//! exceed the global limit in any window, and spare Redis round trips; responses that teach
//! nothing skip LEARN.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarmcord_restproxy::limiter::{Keys, Learnt, Limiter, Limits, Verdict};
use swarmcord_testkit::unique_name;

async fn limiter(global_per_second: u32) -> Limiter {
    let client = redis::Client::open(swarmcord_testkit::redis_url()).expect("Redis URL");
    let redis = redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis");
    Limiter::new(
        redis,
        Limits {
            global_per_second,
            margin: Duration::from_millis(50),
            probe_ttl: Duration::from_secs(5),
            invalid_threshold: 8000,
            breaker: Duration::from_secs(60),
        },
    )
}

/// Acquires a turn and waits for it; the instant of the send.
async fn turn(limiter: &Limiter, keys: &Keys, member: &str) -> (Instant, bool) {
    match limiter
        .acquire(keys, true, Duration::from_secs(10), member)
        .await
        .expect("Redis")
    {
        Verdict::Go { wait, probe } => {
            tokio::time::sleep(wait).await;
            (Instant::now(), probe)
        }
        other => panic!("unexpected verdict {other:?}"),
    }
}

/// Two replicas, 24 clients each, hammer one route for 2.5 s at a global limit of `limit`/s
/// (leases on: above ≈ 105/s); returns all sends and the scripts run on Redis.
#[allow(clippy::print_stdout)] // the measured figures, shown with --no-capture
async fn hammer(limit: u32, route: &str, headers: Option<(u32, u32, u64, String)>) -> (usize, u64) {
    let prefix = unique_name("restlease");
    let keys = Keys::new(&prefix, "token", route, "1");
    let replicas = [limiter(limit).await, limiter(limit).await];
    // The route is learnt from a first response.
    let (_, probe) = turn(&replicas[0], &keys, "first").await;
    assert!(probe);
    let ok = Learnt {
        status: 200,
        bucket: headers,
        ..Learnt::default()
    };
    replicas[0]
        .learn(&keys, &ok, "first", true)
        .await
        .expect("Redis");

    let sends = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let run = Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for (r, limiter) in replicas.iter().enumerate() {
        for t in 0..24 {
            let (limiter, keys, sends, ok) = (
                limiter.clone(),
                keys.clone(),
                Arc::clone(&sends),
                ok.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut i = 0;
                while started.elapsed() < run {
                    let member = format!("{r}-{t}-{i}");
                    let (sent, _) = turn(&limiter, &keys, &member).await;
                    sends.lock().expect("sends").push(sent);
                    limiter
                        .learn(&keys, &ok, &member, false)
                        .await
                        .expect("Redis");
                    i += 1;
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut sends = sends.lock().expect("sends").clone();
    sends.sort();
    let mut busiest = 0;
    for (i, first) in sends.iter().enumerate() {
        let within = sends[i..]
            .iter()
            .take_while(|s| s.duration_since(*first) < Duration::from_secs(1))
            .count();
        busiest = busiest.max(within);
    }
    let calls: u64 = replicas.iter().map(Limiter::redis_calls).sum();
    println!(
        "{route}: {} sends in {:?}, busiest second {busiest}, {calls} Redis calls",
        sends.len(),
        started.elapsed()
    );
    let most = limit as usize;
    assert!(
        busiest <= most,
        "{busiest} sends in one second, limit {limit}"
    );
    assert!(
        busiest >= most * 9 / 10,
        "the limit should be nearly used: {busiest} of {limit}"
    );
    (sends.len(), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_leases_never_exceed_the_global_limit() {
    let (sends, calls) = hammer(2000, "GET /users/@me", None).await;
    assert!(
        calls * 5 < sends as u64,
        "leases should spare most round trips: {calls} calls for {sends} sends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_global_slots_with_a_bucket_never_exceed_the_global_limit() {
    // A bucket far above the global limit: only the global limit binds; each request reserves
    // its bucket's turn (one round trip) and takes its global slot from the lease.
    let headers = Some((1_000_000, 999_999, 1000, "b".to_owned()));
    let (sends, calls) = hammer(1000, "GET /channels/{id}", headers).await;
    assert!(
        calls * 10 < sends as u64 * 11,
        "one round trip per request, LEARN skipped: {calls} calls for {sends} sends"
    );
}

#[tokio::test]
async fn responses_repeating_known_limits_skip_learning() {
    let prefix = unique_name("restlearn");
    let keys = Keys::new(&prefix, "token", "GET /channels/{id}", "1");
    let limiter = limiter(50).await;
    let headers = Learnt {
        status: 200,
        bucket: Some((100, 99, 1000, "abc".to_owned())),
        ..Learnt::default()
    };
    for i in 0..20 {
        let member = format!("m{i}");
        let (_, probe) = turn(&limiter, &keys, &member).await;
        assert_eq!(probe, i == 0);
        limiter
            .learn(&keys, &headers, &member, probe)
            .await
            .expect("Redis");
    }
    // The probe's LEARN, then one ACQUIRE per request and no other LEARN.
    assert_eq!(limiter.redis_calls(), 21);
    // A response that changes the state is learnt.
    let exhausted = Learnt {
        bucket: Some((100, 0, 1000, "abc".to_owned())),
        ..headers
    };
    let (_, probe) = turn(&limiter, &keys, "last").await;
    let learnt = limiter
        .learn(&keys, &exhausted, "last", probe)
        .await
        .expect("Redis");
    assert!(learnt.is_some());
    assert_eq!(limiter.redis_calls(), 23);
}
