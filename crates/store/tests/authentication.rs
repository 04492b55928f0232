//! The authenticated MongoDB path: credentials in `MONGO_URL` (from a secret in production)
//! against a server that enforces authentication (`scripts/services.sh`'s second FerretDB:
//! SCRAM, one user in `admin`).

use swarmcord_store::{Store, StoreError, StoreErrorType, StoreOptions};

/// `url` with its user-info part (`user:password@`) replaced by `userinfo`.
fn with_userinfo(url: &str, userinfo: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a mongodb:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{userinfo}{host}")
}

async fn store(url: &str) -> Store {
    swarmcord_testkit::init_tracing();
    let name = swarmcord_testkit::unique_name("auth").replace('-', "_");
    Store::connect(url, &name, StoreOptions::default())
        .await
        .expect("connect")
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, StoreError>, secret: &str) -> String {
    match result {
        Err(error) if error.kind() == StoreErrorType::Database => {
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(secret), "secret leaked: {shown}");
            shown
        }
        other => panic!("expected a refusal (StoreErrorType::Database), got {other:?}"),
    }
}

#[tokio::test]
async fn credentials_in_the_url_authenticate() {
    let store = store(&swarmcord_testkit::mongo_auth_url()).await;
    store.ping().await.expect("ping with credentials");
    store.ensure_indexes().await.expect("ensure_indexes");
    let guilds = store.guild_settings();
    guilds
        .set_prefix(42, Some("?"))
        .await
        .expect("write with credentials");
    let read = guilds.get(42).await.expect("read with credentials");
    assert_eq!(read.prefix.as_deref(), Some("?"));
    store.drop_database().await.expect("drop database");
}

#[tokio::test]
async fn without_credentials_every_operation_is_refused() {
    let store = store(&with_userinfo(&swarmcord_testkit::mongo_auth_url(), "")).await;
    let shown = assert_refused(store.guild_settings().get(42).await, "swarmcord-test");
    assert!(shown.contains("requires authentication"), "{shown}");
    assert_refused(store.ensure_indexes().await, "swarmcord-test");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_not_shown() {
    let url = with_userinfo(
        &swarmcord_testkit::mongo_auth_url(),
        "swarmcord:not-the-password-7f3a@",
    );
    let store = store(&url).await;
    let shown = assert_refused(store.ping().await, "not-the-password-7f3a");
    assert!(shown.contains("Authentication failed"), "{shown}");
}
