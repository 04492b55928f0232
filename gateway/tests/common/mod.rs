//! Harness for end-to-end tests of the `gateway` binary: a Discord simulator, isolated AMQP
//! names and Redis prefix per test, gateway processes that can be stopped, killed and
//! restarted, and a tap on the events exchange.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "a test support module: each test file uses a different part"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::{amqp_url, http, redis_url, unique_name};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// One test's world.
pub struct Cluster {
    pub sim: DiscordSim,
    pub prefix: String,
    pub exchange: String,
    pub amqp_url: String,
    pub log_dir: PathBuf,
    pub token: String,
}

impl Cluster {
    pub async fn start(config: DiscordConfig) -> Self {
        swarmcord_testkit::init_tracing();
        let sim = DiscordSim::start(config).await.expect("start simulator");
        let prefix = unique_name("gwtest");
        let log_dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&log_dir).expect("log dir");
        Self {
            token: sim.token(),
            sim,
            exchange: format!("{prefix}.events"),
            prefix,
            amqp_url: amqp_url(),
            log_dir,
        }
    }

    /// Creates one guild on each of `shards` shards (of `total`).
    pub fn guilds_on_shards(
        &self,
        shards: impl IntoIterator<Item = u32>,
        total: u32,
    ) -> HashMap<u32, swarmcord_sim::discord::control::CreatedGuild> {
        shards
            .into_iter()
            .map(|shard| {
                let guild = self.sim.control().create_guild(&GuildSpec {
                    name: format!("g{shard}"),
                    members: 2,
                    shard: Some((shard, total)),
                    ..GuildSpec::default()
                });
                (shard, guild)
            })
            .collect()
    }

    /// Environment of a gateway replica.
    pub fn gateway_env(&self, id: &str) -> Vec<(String, String)> {
        [
            ("DISCORD_TOKEN", self.token.clone()),
            ("DISCORD_GATEWAY_URL", self.sim.gateway_url()),
            ("DISCORD_API_PROXY", self.sim.http_proxy()),
            ("AMQP_URL", self.amqp_url.clone()),
            ("REDIS_URL", redis_url()),
            ("REDIS_PREFIX", self.prefix.clone()),
            ("EVENTS_EXCHANGE", self.exchange.clone()),
            ("GATEWAY_ID", id.to_owned()),
            ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("SHARD_LEASE_TTL_MS", "1500".to_owned()),
            ("SESSION_PERSIST_INTERVAL_MS", "200".to_owned()),
            ("IDENTIFY_INTERVAL_MS", "200".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts a gateway with the base environment plus `extra`.
    pub async fn gateway(&self, id: &str, extra: &[(&str, &str)]) -> Gateway {
        let mut env = self.gateway_env(id);
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        Gateway::spawn(id, env, &self.log_dir).await
    }

    /// A queue bound to the test's events exchange for every routing key.
    pub async fn tap(&self) -> Tap {
        Tap::start(&self.amqp_url, &self.exchange, ExchangeKind::Topic).await
    }

    /// A queue bound to the dead-letter exchange (shared by every test: filter by body).
    pub async fn dead_letters(&self) -> Tap {
        Tap::start(
            &self.amqp_url,
            swarmcord_protocol::amqp::DEAD_LETTER_EXCHANGE,
            ExchangeKind::Fanout,
        )
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

/// A running gateway process.
pub struct Gateway {
    pub id: String,
    pub child: Child,
    pub http: SocketAddr,
    pub log_path: PathBuf,
    env: Vec<(String, String)>,
}

impl Gateway {
    async fn spawn(id: &str, env: Vec<(String, String)>, log_dir: &std::path::Path) -> Self {
        let log_path = log_dir.join(format!("{id}-{}.log", unique_name("run")));
        let child = spawn_service("gateway", &env, &log_path);
        let http = wait_for_http_addr(&log_path).await;
        Self {
            id: id.to_owned(),
            child,
            http,
            log_path,
            env,
        }
    }

    /// Starts a new process with the same environment (a restart).
    pub async fn respawn(&self) -> Self {
        let dir = self.log_path.parent().expect("log dir").to_owned();
        Self::spawn(&self.id, self.env.clone(), &dir).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let addr = self.http.to_string();
        let ready = swarmcord_testkit::eventually(timeout, || {
            let addr = addr.clone();
            async move {
                let answer = http::request(&addr, "GET", "/readyz", &[], None)
                    .await
                    .ok()?;
                (answer.status == 200).then_some(())
            }
        })
        .await;
        if ready.is_none() {
            let answer = http::request(&addr, "GET", "/readyz", &[], None)
                .await
                .map(|a| a.text());
            panic!(
                "gateway {} not ready after {timeout:?}: {answer:?}\n{}",
                self.id,
                self.logs()
            );
        }
    }

    /// `/metrics` text.
    pub async fn metrics(&self) -> String {
        http::request(&self.http.to_string(), "GET", "/metrics", &[], None)
            .await
            .map(|a| a.text())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("pid").to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let waited = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        let Ok(status) = waited else {
            panic!(
                "gateway {} did not exit within 20 s of SIGTERM\n{}",
                self.id,
                self.logs()
            );
        };
        status.expect("wait")
    }

    /// SIGTERM, then (as soon as the process exited cleanly) a new process with the same
    /// environment: a rolling restart.
    pub async fn respawn_after_terminate(self) -> Self {
        let dir = self.log_path.parent().expect("log dir").to_owned();
        let (id, env) = (self.id.clone(), self.env.clone());
        let logs = self.log_path.clone();
        let status = self.terminate().await;
        assert_eq!(
            status.code(),
            Some(0),
            "clean exit on SIGTERM\n{}",
            std::fs::read_to_string(logs).unwrap_or_default()
        );
        Self::spawn(&id, env, &dir).await
    }

    /// SIGKILL.
    pub async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }

    /// The process's resident memory (`VmRSS` in `/proc/<pid>/status`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.child.id().expect("pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS")
            * 1024
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// A binary of the workspace: Cargo tells this package's tests where its own binary is; other
/// packages' binaries sit next to it in the same target directory (`cargo nextest run
/// --workspace` builds them all).
pub fn binary(name: &str) -> PathBuf {
    if name == "gateway"
        && let Some(path) = option_env!("CARGO_BIN_EXE_gateway")
    {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Spawns a service binary with exactly `env` (plus `PATH`), logging to `log_path`.
pub fn spawn_service(name: &str, env: &[(String, String)], log_path: &std::path::Path) -> Child {
    let log = std::fs::File::create(log_path).expect("log file");
    let mut command = Command::new(binary(name));
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

/// Reads the gateway's log until it announces where it serves `/healthz`.
pub async fn wait_for_http_addr(log_path: &std::path::Path) -> SocketAddr {
    let found = swarmcord_testkit::eventually(Duration::from_secs(20), || async {
        let text = std::fs::read_to_string(log_path).ok()?;
        text.lines().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            if value["message"] == "serving /healthz, /readyz and /metrics" {
                value["addr"].as_str()?.parse().ok()
            } else {
                None
            }
        })
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "gateway did not start its HTTP server:\n{}",
            std::fs::read_to_string(log_path).unwrap_or_default()
        )
    })
}

/// A forwarded event as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: String,
    pub body: serde_json::Value,
    pub headers: HashMap<String, String>,
    pub reply_to: Option<String>,
}

impl Seen {
    pub fn header_u64(&self, name: &str) -> u64 {
        self.headers
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("header {name} in {:?}", self.headers))
    }
}

/// A consumer bound to the events exchange with `#`.
pub struct Tap {
    pub rx: mpsc::UnboundedReceiver<Seen>,
    _conn: Connection,
}

impl Tap {
    async fn start(url: &str, exchange: &str, kind: ExchangeKind) -> Self {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = conn.create_channel().await.expect("channel");
        let queue = bound_queue_of(&channel, exchange, kind, false).await;
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let headers = delivery
                    .properties
                    .headers()
                    .as_ref()
                    .map(|table| {
                        table
                            .inner()
                            .iter()
                            .map(|(k, v)| (k.to_string(), amqp_to_string(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                let seen = Seen {
                    kind: delivery.routing_key.to_string(),
                    body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
                    headers,
                    reply_to: delivery
                        .properties
                        .reply_to()
                        .as_ref()
                        .map(ToString::to_string),
                };
                let _ = delivery.ack(BasicAckOptions::default()).await;
                if tx.send(seen).is_err() {
                    break;
                }
            }
        });
        Self { rx, _conn: conn }
    }

    /// Collects events until `done` says so or `timeout` passes.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => seen.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        seen
    }
}

fn amqp_to_string(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Publishes raw bytes to a gateway's reply queue (through the default exchange).
pub async fn send_raw_command(url: &str, gateway_id: &str, body: &[u8]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .basic_publish(
            "".into(),
            swarmcord_protocol::amqp::gateway_queue(gateway_id)
                .as_str()
                .into(),
            BasicPublishOptions {
                mandatory: false,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let _ = conn.close(200, "bye".into()).await;
}

/// Declares `exchange` (a durable topic exchange) and a queue bound to it with `#`: durable
/// (survives a broker restart) or auto-deleted with its consumer.
pub async fn bound_queue(channel: &lapin::Channel, exchange: &str, durable: bool) -> String {
    bound_queue_of(channel, exchange, ExchangeKind::Topic, durable).await
}

/// [`bound_queue`] for an exchange of any kind.
async fn bound_queue_of(
    channel: &lapin::Channel,
    exchange: &str,
    kind: ExchangeKind,
    durable: bool,
) -> String {
    channel
        .exchange_declare(
            exchange.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
    let queue = unique_name(if durable { "sink" } else { "tap" });
    let options = QueueDeclareOptions {
        durable,
        auto_delete: !durable,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await
        .expect("declare queue");
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    queue
}

/// Declares a durable queue bound to `exchange` with `#` (it survives a broker restart).
pub async fn durable_sink(url: &str, exchange: &str) -> String {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let queue = bound_queue(&channel, exchange, true).await;
    let _ = conn.close(200, "bye".into()).await;
    queue
}

/// Consumes `queue` until `expected` distinct messages arrived or `timeout` passed; returns
/// the ids of the `MESSAGE_CREATE` events seen, duplicates included.
pub async fn drain_message_ids(
    url: &str,
    queue: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<u64> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "drain".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut ids = Vec::new();
    let mut unique = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while unique.len() < expected {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                if delivery.routing_key.as_str() == "MESSAGE_CREATE" {
                    let body: serde_json::Value =
                        serde_json::from_slice(&delivery.data).unwrap_or_default();
                    if let Some(id) = body["id"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                        ids.push(id);
                        unique.insert(id);
                    }
                }
            }
            _ => break,
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    ids
}

/// Publishes raw bytes (no headers) to `exchange` with `routing_key`.
pub async fn send_raw_to_exchange(url: &str, exchange: &str, routing_key: &str, body: &[u8]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let _ = conn.close(200, "bye".into()).await;
}

/// The series of counter `name` in a `/metrics` text: (labels, value) per line.
pub fn counter_series(metrics: &str, name: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of every series of counter `name` (0 when absent).
pub fn counter_total(metrics: &str, name: &str) -> f64 {
    counter_series(metrics, name).iter().map(|(_, v)| v).sum()
}
