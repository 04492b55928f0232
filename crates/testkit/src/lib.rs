//! Helpers shared by swarmcord's integration and end-to-end tests.
//!
//! Tests run against real RabbitMQ, Redis and MongoDB (FerretDB in CI) started by
//! `scripts/services.sh up`. Their addresses come from the environment, with the script's
//! defaults:
//!
//! | variable | default |
//! |---|---|
//! | `SWARMCORD_TEST_AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/%2f` |
//! | `SWARMCORD_TEST_REDIS_URL` | `redis://127.0.0.1:6379/` |
//! | `SWARMCORD_TEST_MONGO_URL` | `mongodb://127.0.0.1:27017/` |
//! | `SWARMCORD_TEST_MONGO_AUTH_URL` | `mongodb://swarmcord:swarmcord-test@127.0.0.1:27018/?authSource=admin` |
//!
//! Every test isolates itself with [`unique_name`] (queue names, key prefixes, database names)
//! so that tests can run in parallel against the same servers.
//!
//! With the `e2e` feature, the end-to-end harness: a [`cluster::Cluster`] (the Discord
//! simulator and this test's AMQP names and Redis prefix) runs the workspace's `gateway`
//! ([`cluster::Gateway`]) and `worker` ([`worker::Worker`]) binaries as processes that can be
//! stopped, killed and restarted; [`events::Tap`] watches an exchange; [`talk`] posts as a user
//! and waits for the bot's answers (also what `swarmcord-testing` uses to test a bot in one
//! process).

#[cfg(feature = "e2e")]
pub mod cluster;
#[cfg(feature = "e2e")]
pub mod events;
pub mod http;
pub mod metrics;
pub mod rabbit;
pub mod redis_server;
#[cfg(feature = "e2e")]
pub mod talk;
#[cfg(feature = "e2e")]
pub mod worker;

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

/// The AMQP URL of the test broker.
pub fn amqp_url() -> String {
    env_or(
        "SWARMCORD_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// The Redis URL of the test server.
pub fn redis_url() -> String {
    env_or("SWARMCORD_TEST_REDIS_URL", "redis://127.0.0.1:6379/")
}

/// The MongoDB URL of the test server.
pub fn mongo_url() -> String {
    env_or("SWARMCORD_TEST_MONGO_URL", "mongodb://127.0.0.1:27017/")
}

/// The MongoDB URL, with its credentials, of the test server that enforces authentication
/// (SCRAM; one user, in the `admin` database).
pub fn mongo_auth_url() -> String {
    env_or(
        "SWARMCORD_TEST_MONGO_AUTH_URL",
        "mongodb://swarmcord:swarmcord-test@127.0.0.1:27018/?authSource=admin",
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A name no other test run uses: `prefix` + `-` + 12 random hex digits.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Installs a test-friendly `tracing` subscriber once per process (filter from `RUST_LOG`,
/// default `warn`); output is captured by the test harness.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Polls `check` every 20 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ() {
        let a = unique_name("q");
        let b = unique_name("q");
        assert_ne!(a, b);
        assert!(a.starts_with("q-") && a.len() == 14);
    }

    #[tokio::test]
    async fn eventually_gives_up() {
        let r: Option<()> = eventually(Duration::from_millis(60), || async { None }).await;
        assert!(r.is_none());
        let mut n = 0;
        let r = eventually(Duration::from_secs(1), || {
            n += 1;
            let v = n;
            async move { (v >= 3).then_some(v) }
        })
        .await;
        assert_eq!(r, Some(3));
    }
}

/// How a service binary ended: its exit code (`None`: killed after the time limit or by a
/// signal) and what it wrote to stderr.
#[derive(Debug)]
pub struct Exit {
    /// The exit code.
    pub code: Option<i32>,
    /// Everything written to stderr.
    pub stderr: String,
}

/// Runs a service binary with only `env` (and `PATH`) in its environment until it exits, or
/// kills it after `limit`: for start-up checks such as "a bad variable exits with code 2".
pub fn run_to_exit(binary: &str, env: &[(&str, &str)], limit: Duration) -> Exit {
    use std::io::Read as _;
    let mut child = std::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the service binary");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Exit {
        code: status.and_then(|s| s.code()),
        stderr,
    }
}
