//! A `worker` replica (the workspace's binary) in a [`Cluster`]'s world.

use crate::cluster::{Cluster, spawn_service, wait_for_http_addr};
use crate::talk::WAIT;
use crate::{mongo_url, unique_name};

/// A running `worker` binary; killed (SIGKILL) when dropped.
pub struct Worker {
    /// Killed when the value is dropped.
    child: tokio::process::Child,
    log_path: std::path::PathBuf,
}

impl Worker {
    /// Starts a replica (consuming `queue`, storing in the MongoDB database `database`) with
    /// test logging (debug for the bot and the event stream).
    pub async fn start(cluster: &Cluster, database: &str, queue: &str) -> Self {
        Self::start_with(
            cluster,
            database,
            queue,
            "info,swarmcord_bot=debug,swarmcord_stream=debug",
            &[],
        )
        .await
    }

    /// Starts a replica logging at `log_filter` (`RUST_LOG`), with `extra` variables.
    pub async fn start_with(
        cluster: &Cluster,
        database: &str,
        queue: &str,
        log_filter: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let env: Vec<(String, String)> = [
            ("DISCORD_TOKEN", cluster.token.clone()),
            ("DISCORD_API_PROXY", cluster.sim.http_proxy()),
            ("AMQP_URL", cluster.amqp_url.clone()),
            ("REDIS_URL", crate::redis_url()),
            ("REDIS_PREFIX", cluster.prefix.clone()),
            ("MONGO_URL", mongo_url()),
            ("MONGO_DATABASE", database.to_owned()),
            ("EVENTS_EXCHANGE", cluster.exchange.clone()),
            ("WORKER_QUEUE", queue.to_owned()),
            ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", log_filter.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .collect();
        let log_path = cluster
            .log_dir
            .join(format!("{}.log", unique_name("worker")));
        let child = spawn_service("worker", &env, &log_path);
        let http = wait_for_http_addr(&log_path).await;
        let ready = crate::eventually(WAIT, || async move {
            let answer = crate::http::request(&http.to_string(), "GET", "/readyz", &[], None)
                .await
                .ok()?;
            (answer.status == 200).then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "worker not ready:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        Self { child, log_path }
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the replica logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}
