//! Behaviour when MongoDB cannot be reached: fast, typed failures, no secrets in errors.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use swarmcord_store::{
    Infraction, InfractionKind, Store, StoreError, StoreErrorType, StoreOptions,
};

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, secret: &str) {
    match result {
        Err(error) if error.kind() == StoreErrorType::Unavailable => {
            assert!(error.is_unavailable());
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(secret), "secret leaked: {shown}");
        }
        other => panic!("expected StoreError::Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_port_fails_fast_with_unavailable() {
    swarmcord_testkit::init_tracing();
    let port = closed_port();
    let url = format!("mongodb://swarmcord:s3cret-pw@127.0.0.1:{port}/?authSource=admin");

    let started = Instant::now();
    let store = Store::connect(&url, "swarmcord_unreachable", StoreOptions::default())
        .await
        .expect("connect does not wait for the server");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "connect waited"
    );
    assert!(!format!("{store:?}").contains("s3cret-pw"));

    let started = Instant::now();
    let result = store.guild_settings().get(1).await;
    let elapsed = started.elapsed();
    eprintln!("get against a closed port failed after {elapsed:?}: {result:?}");
    assert_unavailable(result, "s3cret-pw");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");

    let started = Instant::now();
    let write = Infraction::new("x:ban", 1, 2, 3, InfractionKind::Ban);
    assert_unavailable(store.infractions().record(&write).await, "s3cret-pw");
    assert_unavailable(store.ping().await, "s3cret-pw");
    assert_unavailable(store.ensure_indexes().await, "s3cret-pw");
    // Four operations, each bounded by the 2 s server-selection timeout.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn silent_server_fails_with_unavailable() {
    swarmcord_testkit::init_tracing();
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let url = format!("mongodb://127.0.0.1:{port}/");
    let store = Store::connect(&url, "swarmcord_silent", StoreOptions::default())
        .await
        .unwrap();

    let started = Instant::now();
    let result = store.guild_settings().get(1).await;
    let elapsed = started.elapsed();
    eprintln!("get against a silent server failed after {elapsed:?}: {result:?}");
    assert_unavailable(result, "never-present");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    holder.abort();
}

#[tokio::test]
async fn operation_timeout_bounds_every_call() {
    // With a server-selection timeout longer than the operation timeout, the latter wins.
    let url = format!("mongodb://127.0.0.1:{}/", closed_port());
    let options = StoreOptions {
        server_selection_timeout: Duration::from_secs(30),
        operation_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let store = Store::connect(&url, "swarmcord_slow", options)
        .await
        .unwrap();
    let started = Instant::now();
    let result = store.infractions().count(1, None).await;
    assert_unavailable(result, "never-present");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_connection_strings_are_invalid_and_not_echoed() {
    for url in [
        "mongodb://bot:hunter2-secret@127.0.0.1:notaport/",
        "http://bot:hunter2-secret@127.0.0.1/",
        "",
    ] {
        match Store::connect(url, "swarmcord", StoreOptions::default()).await {
            Err(error) if error.kind() == StoreErrorType::Invalid => {
                let shown = format!("{error} {error:?}");
                assert!(!shown.contains("hunter2-secret"), "{shown}");
            }
            other => panic!("expected Invalid for {url:?}, got {other:?}"),
        }
    }
    for database in ["", "a.b", "with space", &"x".repeat(64)] {
        let result =
            Store::connect("mongodb://127.0.0.1:1/", database, StoreOptions::default()).await;
        assert!(
            matches!(&result, Err(error) if error.kind() == StoreErrorType::Invalid),
            "{database:?}: {result:?}"
        );
    }
}
