//! A private, empty `redis-server` for tests that restart or stop Redis without disturbing
//! the tests that share the server of `scripts/services.sh`.
//!
//! Each [`PrivateRedis`] runs `redis-server` on its own free port on 127.0.0.1 without
//! persistence, so [`PrivateRedis::restart_empty`] is what a production Redis without
//! persistence does after a crash: it comes back with no keys. [`PrivateRedis::stop_saving`]
//! and [`PrivateRedis::start_again`] are an outage after which Redis comes back with its data. Dropping the value kills the
//! server; a watchdog shell kills it too if the test process dies without unwinding.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long [`PrivateRedis::start`] waits for `PING` to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` of one's own (see the module docs).
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server on a free port and waits until it answers. Panics if it does not.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir =
            std::env::temp_dir().join(format!("swarmcord-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut redis = Self {
            port,
            dir,
            child: None,
        };
        redis.launch().await;
        redis
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a new, empty one on the same port.
    pub async fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.launch().await;
    }

    /// Stops the server after saving its data (`SHUTDOWN SAVE`); [`PrivateRedis::start_again`]
    /// brings it back with that data.
    pub async fn stop_saving(&mut self) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await {
            let _ = stream.write_all(b"SHUTDOWN SAVE\r\n").await;
            let mut sink = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`PrivateRedis::kill`].
    pub async fn start_again(&mut self) {
        if self.child.is_none() {
            self.launch().await;
        }
    }

    async fn launch(&mut self) {
        let started = Instant::now();
        loop {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    &self.dir.to_string_lossy(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server (is it installed?)");
            spawn_watchdog(child.id());
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if ping(self.port).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The port may still be held by the previous process: try again.
            self.kill();
            assert!(
                started.elapsed() < START_TIMEOUT,
                "redis-server on port {} did not answer within {START_TIMEOUT:?}",
                self.port
            );
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), stream.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

/// Kills the server once the test process is gone.
fn spawn_watchdog(server_pid: u32) {
    let script = "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done; \
                  kill -9 \"$2\" 2>/dev/null";
    let _ = Command::new("sh")
        .args([
            "-c",
            script,
            "watchdog",
            &std::process::id().to_string(),
            &server_pid.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
