//! `discord-sim`: runs the Discord simulator (and optionally Lavalink node simulators) as a
//! process, for end-to-end tests, benchmarks and a token-less local sandbox.
//!
//! On start-up it prints one JSON line to stdout with the addresses it listens on, e.g.
//! `{"discord":"127.0.0.1:8090","gateway_url":"ws://127.0.0.1:8090","lavalink":["127.0.0.1:2333"]}`,
//! then logs to stderr until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim, LavalinkConfig, LavalinkSim};

/// Command-line options (every one also readable from the environment).
#[derive(Debug, Parser)]
#[command(
    name = "discord-sim",
    version,
    about = "Protocol-faithful Discord gateway/REST and Lavalink v4 simulators"
)]
struct Args {
    /// Address of the Discord simulator (gateway, REST and control API on one port).
    #[arg(long, env = "SIM_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// The `ws://host:port` URL clients reach the simulator at, sent as the gateway URL and
    /// `resume_gateway_url` (default: `ws://` + the bound address). Needed when it binds
    /// `0.0.0.0` in a container, e.g. `ws://sim:8090`.
    #[arg(long, env = "SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The bot token the simulator accepts.
    #[arg(
        long,
        env = "SIM_TOKEN",
        default_value = "sim-bot-token",
        hide_env_values = true
    )]
    token: String,
    /// The bot's user/application id.
    #[arg(long, env = "SIM_BOT_ID", default_value_t = 1_000_000_000_000_000_001)]
    bot_id: u64,
    /// Shard count recommended by `GET /gateway/bot`.
    #[arg(long, env = "SIM_SHARDS", default_value_t = 1)]
    shards: u32,
    /// `session_start_limit.max_concurrency`.
    #[arg(long, env = "SIM_MAX_CONCURRENCY", default_value_t = 1)]
    max_concurrency: u32,
    /// Minimum milliseconds between identifies of one concurrency bucket (Discord: 5000).
    #[arg(long, env = "SIM_IDENTIFY_INTERVAL_MS", default_value_t = 5000)]
    identify_interval_ms: u64,
    /// Heartbeat interval sent in HELLO, milliseconds (Discord: 41250).
    #[arg(long, env = "SIM_HEARTBEAT_INTERVAL_MS", default_value_t = 41_250)]
    heartbeat_interval_ms: u64,
    /// Guilds to create at start-up (spread over the recommended shards).
    #[arg(long, env = "SIM_GUILDS", default_value_t = 1)]
    guilds: usize,
    /// Members per seeded guild.
    #[arg(long, env = "SIM_MEMBERS", default_value_t = 5)]
    members: usize,
    /// Disable REST rate limits.
    #[arg(long, env = "SIM_NO_RATE_LIMITS")]
    no_rate_limits: bool,
    /// Lavalink node simulators to start (each on its own port).
    #[arg(long, env = "SIM_LAVALINK_NODES", default_value_t = 0)]
    lavalink_nodes: usize,
    /// Address of the first Lavalink node; further nodes take the following ports (port 0:
    /// any free port).
    #[arg(long, env = "SIM_LAVALINK_BIND", default_value = "127.0.0.1:2333")]
    lavalink_bind: SocketAddr,
    /// Lavalink password.
    #[arg(
        long,
        env = "SIM_LAVALINK_PASSWORD",
        default_value = "youshallnotpass",
        hide_env_values = true
    )]
    lavalink_password: String,
    /// Lavalink playback speed factor (1.0 = real time).
    #[arg(long, env = "SIM_PLAYBACK_SPEED", default_value_t = 1.0)]
    playback_speed: f64,
    /// Milliseconds between a Lavalink session's `stats` ops, the first right after `ready`
    /// (Lavalink: 60000; 0 disables them).
    #[arg(long, env = "SIM_LAVALINK_STATS_INTERVAL_MS", default_value_t = 60_000)]
    lavalink_stats_interval_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !args.bind.ip().is_loopback() {
        tracing::warn!(bind = %args.bind, "the simulator is listening on a non-loopback address");
    }

    let mut config = DiscordConfig {
        bind: args.bind,
        token: args.token,
        bot_id: args.bot_id,
        recommended_shards: args.shards.max(1),
        max_concurrency: args.max_concurrency.max(1),
        identify_interval: Duration::from_millis(args.identify_interval_ms),
        heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms),
        public_url: args.public_url,
        ..DiscordConfig::default()
    };
    config.rest_limits.enabled = !args.no_rate_limits;
    let discord = DiscordSim::start(config).await?;
    let control = discord.control();
    for i in 0..args.guilds {
        let shard = u32::try_from(i).unwrap_or(0) % args.shards.max(1);
        control.create_guild(&GuildSpec {
            name: format!("Sandbox {i}"),
            members: args.members,
            shard: Some((shard, args.shards.max(1))),
            ..GuildSpec::default()
        });
    }

    let mut nodes = Vec::new();
    for i in 0..args.lavalink_nodes {
        let port = if args.lavalink_bind.port() == 0 {
            0
        } else {
            args.lavalink_bind.port() + u16::try_from(i)?
        };
        let node = LavalinkSim::start(LavalinkConfig {
            bind: SocketAddr::new(args.lavalink_bind.ip(), port),
            password: args.lavalink_password.clone(),
            playback_speed: args.playback_speed,
            stats_interval: Duration::from_millis(args.lavalink_stats_interval_ms),
            node_name: format!("n{i}"),
            ..LavalinkConfig::default()
        })
        .await?;
        nodes.push(node);
    }

    let ready = serde_json::json!({
        "discord": discord.addr().to_string(),
        "gateway_url": discord.gateway_url(),
        "lavalink": nodes.iter().map(|n| n.addr().to_string()).collect::<Vec<_>>(),
    });
    #[allow(
        clippy::print_stdout,
        reason = "the ready line is the binary's machine-readable output"
    )]
    {
        println!("{ready}");
    }

    shutdown_signal().await;
    tracing::info!("shutting down");
    for node in nodes {
        node.shutdown().await;
    }
    discord.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
