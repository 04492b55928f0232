//! One end-to-end test's world: a Discord simulator, AMQP names and a Redis prefix of its own,
//! and `gateway` processes (the workspace's binaries) that can be stopped, killed and
//! restarted. Workers join with [`Worker`](crate::worker::Worker); [`Tap`] watches what
//! reaches the events exchange.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lapin::ExchangeKind;
use swarmcord_sim::discord::control::{CreatedGuild, GuildSpec};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use tokio::process::{Child, Command};

use crate::events::Tap;
use crate::{amqp_url, http, redis_url, unique_name};

/// One test's world; its log directory is removed on drop unless the test failed.
pub struct Cluster {
    /// The Discord simulator.
    pub sim: DiscordSim,
    /// This test's Redis prefix and the stem of its AMQP names.
    pub prefix: String,
    /// This test's events exchange (`<prefix>.events`).
    pub exchange: String,
    /// The test broker's URL.
    pub amqp_url: String,
    /// Where the services' logs go.
    pub log_dir: PathBuf,
    /// The bot token the simulator accepts.
    pub token: String,
}

impl Cluster {
    /// Starts a simulator with `config` and names this test's exchange and prefix.
    pub async fn start(config: DiscordConfig) -> Self {
        crate::init_tracing();
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
    ) -> HashMap<u32, CreatedGuild> {
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

/// A running gateway process; killed (SIGKILL) when dropped.
pub struct Gateway {
    /// Its `GATEWAY_ID`.
    pub id: String,
    /// The process.
    pub child: Child,
    /// Where it serves `/healthz`, `/readyz` and `/metrics`.
    pub http: SocketAddr,
    /// Its log (JSON lines).
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
        let ready = crate::eventually(timeout, || {
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

    /// Sends `kill -<signal>` (`STOP`, `CONT`, `KILL`…) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("pid").to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}").as_str(), &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
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

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// A binary of the workspace: it sits in the target directory next to the `deps` directory
/// of the running test (Cargo builds a package's own binaries for its tests; `cargo nextest
/// run --workspace` builds them all).
pub fn binary(name: &str) -> PathBuf {
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

/// Reads a service's log until it announces where it serves `/healthz`.
pub async fn wait_for_http_addr(log_path: &std::path::Path) -> SocketAddr {
    let found = crate::eventually(Duration::from_secs(20), || async {
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
            "the service did not start its HTTP server:\n{}",
            std::fs::read_to_string(log_path).unwrap_or_default()
        )
    })
}

/// A simulator that lets shards identify every 100 ms.
pub fn fast_identify() -> DiscordConfig {
    DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    }
}
