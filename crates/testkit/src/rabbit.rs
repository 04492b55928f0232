//! A dedicated RabbitMQ node for tests that stop, restart or kill the broker without disturbing
//! the tests that share the node of `scripts/services.sh`.
//!
//! Each [`PrivateRabbit`] runs `/usr/lib/rabbitmq/bin/rabbitmq-server` as the current user with
//! its own node name (`swarmcord-test-<id>@localhost`), AMQP port, distribution port and data
//! directory (under the system temp directory), no plugins, and `guest`/`guest` on
//! 127.0.0.1, in a process group of its own. Measured on the 2-core CI machine: a start takes
//! about 5 s when it is the only one (10 s when three nodes boot at once), a graceful stop
//! about 1.1 s.
//!
//! Cleanup: dropping the value kills the node's process group (the script runs the VM as a
//! child, so killing the script alone would orphan the VM) and removes its directory. A
//! watchdog shell process does the same if the test process dies without unwinding (a harness
//! timeout).

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The broker script of the Debian package.
pub const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// How long [`PrivateRabbit::start`] waits for AMQP to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`PrivateRabbit::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A RabbitMQ node of one's own (see the module docs).
#[derive(Debug)]
pub struct PrivateRabbit {
    node: String,
    port: u16,
    dist_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    last_start: Duration,
    starts: u32,
}

impl PrivateRabbit {
    /// Starts a new node and waits until it answers AMQP. Panics (with the end of the node's
    /// log) if it does not start.
    pub async fn start() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        let dir = std::env::temp_dir().join(format!("swarmcord-rabbit-{id}"));
        std::fs::create_dir_all(dir.join("mnesia")).expect("create the node's data directory");
        std::fs::create_dir_all(dir.join("log")).expect("create the node's log directory");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        let mut rabbit = Self {
            node: format!("swarmcord-test-{id}@localhost"),
            port: free_port(),
            dist_port: free_port(),
            dir,
            child: None,
            last_start: Duration::ZERO,
            starts: 0,
        };
        rabbit.launch().await;
        rabbit
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Erlang node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's directory (data under `mnesia/`, logs under `log/` and `stdout.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long the last start took, from spawning the process to AMQP answering.
    pub fn last_start_duration(&self) -> Duration {
        self.last_start
    }

    /// Whether the node's process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the node gracefully (SIGTERM: RabbitMQ closes its connections with
    /// `CONNECTION_FORCED` and flushes its queues) and waits until its processes have exited
    /// (SIGKILL after [`STOP_TIMEOUT`]). Durable queues and persistent messages survive.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The script traps SIGTERM and stops the VM gracefully.
        signal("-TERM", &child.id().to_string());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let exited = !matches!(child.try_wait(), Ok(None));
            if exited && !group_alive(child.id()) {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        kill_group(&mut child);
    }

    /// Kills the node at once (SIGKILL to all its processes: a crash; unflushed writes may be
    /// lost).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = tokio::task::spawn_blocking(move || kill_group(&mut child)).await;
        }
    }

    /// Starts the node again on the same port with the same data (after [`Self::stop`] or
    /// [`Self::kill`]; stops it first if it is running) and waits until AMQP answers.
    pub async fn start_again(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    async fn launch(&mut self) {
        let started = Instant::now();
        let stdout = File::create(self.dir.join(format!("stdout-{}.log", self.starts)))
            .expect("create the node's stdout log");
        let stderr = stdout.try_clone().expect("clone the log file handle");
        self.starts += 1;
        // The script runs the VM as its child and forwards SIGTERM to it as a graceful stop.
        let child = Command::new(RABBITMQ_SERVER)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            // Crash dumps (erl_crash.dump, MnesiaCore.*) land here, not in the crate.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own process group: the script runs the VM as a child (to turn SIGTERM into
            // a graceful stop), so killing means killing the group.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {RABBITMQ_SERVER}: {e}"));
        self.spawn_watchdog(child.id());
        self.child = Some(child);
        let deadline = started + START_TIMEOUT;
        loop {
            if amqp_answers(self.port).await {
                break;
            }
            let running = self.is_running();
            assert!(
                running,
                "RabbitMQ node {} exited during start-up:\n{}",
                self.node,
                self.log_tail()
            );
            assert!(
                Instant::now() < deadline,
                "RabbitMQ node {} did not answer within {START_TIMEOUT:?}:\n{}",
                self.node,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.last_start = started.elapsed();
    }

    /// A shell that kills the node and removes its directory once the test process is gone.
    fn spawn_watchdog(&self, node_pid: u32) {
        let script = "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done; \
                      if ! kill -0 \"$1\" 2>/dev/null; then kill -9 -- \"-$2\" 2>/dev/null; sleep 2; rm -rf \"$3\"; fi";
        let _ = Command::new("sh")
            .args([
                "-c",
                script,
                "watchdog",
                &std::process::id().to_string(),
                &node_pid.to_string(),
            ])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn log_tail(&self) -> String {
        let path = self
            .dir
            .join(format!("stdout-{}.log", self.starts.saturating_sub(1)));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends a signal with kill(1) (`unsafe` is forbidden here, so no libc).
fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILL to the node's process group, then waits (at most 5 s) until none of its processes
/// is left, so that nothing writes into the directory after it is removed.
fn kill_group(child: &mut Child) {
    signal("-KILL", &format!("-{}", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(child.id()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process of group `pgid` is still running (zombies do not count: PID 1 of a
/// container may never reap them).
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            return false;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
        group == Some(pgid) && !matches!(state, Some("Z" | "X"))
    })
}

/// A port nobody listens on right now (the OS's choice for port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0")
}

/// An AMQP 0-9-1 server answers the protocol header with a `connection.start` frame (type 1).
async fn amqp_answers(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"AMQP\x00\x00\x09\x01").await.ok()?;
        let mut first = [0_u8; 1];
        stream.read_exact(&mut first).await.ok()?;
        Some(first[0] == 1)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}
