//! `gateway`: one replica of the swarmcord gateway service.
//!
//! Owns a group of Discord shards and forwards their events to RabbitMQ; see
//! `swarmcord_shards` for what it does and `docs/ARCHITECTURE.md` for how it fits in. All
//! configuration comes from environment variables (`DISCORD_TOKEN` or `DISCORD_TOKEN_FILE`,
//! `AMQP_URL`, `REDIS_URL`, `GATEWAY_GROUP`/`GATEWAY_GROUPS` or `GATEWAY_SHARDS`, …); an
//! invalid one stops the process with a message naming it.
//!
//! `gateway reshard <count>` (with the same configuration) changes the shard count of the
//! running replicas instead (`swarmcord_shards::admin`).

use std::process::ExitCode;

use swarmcord_ops::config::{self, Env};
use swarmcord_ops::http::Health;
use swarmcord_ops::{shutdown, telemetry};
use swarmcord_shards::GatewayConfig;
use swarmcord_shards::admin::ReshardArgs;

#[tokio::main]
async fn main() -> ExitCode {
    // One rustls crypto provider for the whole process (see DESIGN.md pitfalls); an error only
    // means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let env = Env::from_process();
    let config = match GatewayConfig::from_env(&env) {
        Ok(config) => config,
        Err(error) => return config::invalid_configuration(&error),
    };
    if std::env::args().nth(1).as_deref() == Some("reshard") {
        return reshard(&config).await;
    }
    telemetry::init_logging(config.log_format);
    let metrics = telemetry::metrics_handle();
    let health = Health::new();
    let stop = shutdown::on_signal();
    // The HTTP server outlives the signal (so /readyz reports the shutdown) and stops after
    // the gateway finished.
    let server_stop = shutdown::CancellationToken::new();
    let server = match swarmcord_ops::http::serve(
        config.http_addr,
        health.clone(),
        metrics,
        server_stop.clone(),
    )
    .await
    {
        Ok((_, task)) => task,
        Err(error) => {
            tracing::error!(addr = %config.http_addr, %error, "cannot serve /healthz and /metrics");
            return ExitCode::from(1);
        }
    };
    let result = swarmcord_shards::run(config, health, stop).await;
    server_stop.cancel();
    let _ = server.await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("gateway failed: {error}");
            ExitCode::from(1)
        }
    }
}

/// `gateway reshard <count> | --status | --cancel [--no-wait]` (see `swarmcord_shards::admin`).
async fn reshard(config: &GatewayConfig) -> ExitCode {
    use clap::Parser;
    use std::io::Write;
    let args = match ReshardArgs::try_parse_from(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    let say = |line: String| {
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    match swarmcord_shards::admin::reshard(config, args, say).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "gateway reshard: {error}");
            ExitCode::from(1)
        }
    }
}
