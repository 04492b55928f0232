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

/// A minimal HTTP/1.1 client for tests that talk to control APIs and health endpoints
/// (`Connection: close`, JSON bodies, `Content-Length` or chunked answers).
pub mod http {
    use std::fmt::Write as _;
    use std::io;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// An HTTP answer.
    #[derive(Debug, Clone)]
    pub struct Answer {
        /// Status code.
        pub status: u16,
        /// Header names (lowercase) and values.
        pub headers: Vec<(String, String)>,
        /// Body, de-chunked.
        pub body: Vec<u8>,
    }

    impl Answer {
        /// The first header with this (lowercase) name.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        /// The body as UTF-8 text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    /// Sends `method path` to `addr` (`host:port`) with optional extra headers and body.
    pub async fn request(
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Answer> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if let Some(body) = body {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        if let Some(body) = body {
            stream.write_all(body).await?;
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    }

    /// `request` with a JSON body and `Content-Type: application/json`.
    pub async fn json(addr: &str, method: &str, path: &str, body: &str) -> io::Result<Answer> {
        request(
            addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )
        .await
    }

    fn invalid(message: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
    }

    fn parse(raw: &[u8]) -> io::Result<Answer> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| invalid("no header end"))?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| invalid("header not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        if chunked {
            body = dechunk(&body)?;
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn dechunk(mut raw: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line_end = raw
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| invalid("bad chunk"))?;
            let size_text =
                std::str::from_utf8(&raw[..line_end]).map_err(|_| invalid("bad chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            raw = &raw[line_end + 2..];
            if size == 0 {
                return Ok(out);
            }
            if raw.len() < size + 2 {
                return Err(invalid("truncated chunk"));
            }
            out.extend_from_slice(&raw[..size]);
            raw = &raw[size + 2..];
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_content_length_and_chunked_answers() {
            let a = parse(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
            )
            .expect("parse");
            assert_eq!((a.status, a.text().as_str()), (200, "hi"));
            assert_eq!(a.header("content-type"), Some("text/plain"));
            let c = parse(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .expect("parse");
            assert_eq!((c.status, c.text().as_str()), (404, "abcde"));
            assert!(parse(b"garbage").is_err());
        }
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
