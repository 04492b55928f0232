//! `rest-proxy`: one replica of the swarmcord REST proxy service.
//!
//! Forwards Discord REST v10 requests from the workers (or any client) to Discord, keeping the
//! bot's global limit, route buckets and invalid-request budget in Redis so that every replica
//! honours them; see `swarmcord_restproxy` and `docs/ARCHITECTURE.md`. All configuration comes
//! from environment variables (`REDIS_URL` or `REDIS_URL_FILE`, `DISCORD_API_BASE`,
//! `GLOBAL_RATE_LIMIT`, …); an invalid one stops the process with a message naming it (exit 2).

use std::process::ExitCode;

use swarmcord_ops::config::{self, Env};
use swarmcord_ops::http::Health;
use swarmcord_ops::{shutdown, telemetry};
use swarmcord_restproxy::ProxyConfig;

#[tokio::main]
async fn main() -> ExitCode {
    // One rustls crypto provider for the whole process; an error only means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let env = Env::from_process();
    let config = match ProxyConfig::from_env(&env) {
        Ok(config) => config,
        Err(error) => return config::invalid_configuration(&error),
    };
    telemetry::init_logging(config.log_format);
    let addr = config.http_addr;
    let stop = shutdown::on_signal();
    match swarmcord_restproxy::serve(config, Health::new(), telemetry::metrics_handle(), stop).await
    {
        Ok((_, server)) => {
            let _ = server.await;
            tracing::info!("REST proxy stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%addr, %error, "cannot listen");
            ExitCode::from(1)
        }
    }
}
