//! The Discord simulator: gateway v10 (WebSocket), REST v10 (HTTP) and a control API, all on
//! one port.
//!
//! | path | what |
//! |---|---|
//! | `GET /?v=10&encoding=json[&compress=zlib-stream]` | gateway WebSocket |
//! | `/api/v10/...` | REST, for `twilight_http::Client::builder().proxy(addr, true)` |
//! | `/_sim/...` | control API (see [`control`]) |

pub mod control;
pub mod feed;
pub mod gateway;
pub mod rest;
pub mod text;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::record::Recorder;
use crate::util::Snowflakes;
use world::{User, World};

/// Gateway intents that Discord treats as privileged.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);
/// Every intent bit Discord currently defines.
pub const ALL_INTENTS: u64 = 0x1_FFFF | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);

/// Rate-limit settings of the REST simulator.
#[derive(Debug, Clone)]
pub struct RestLimits {
    /// Whether rate limits are enforced at all.
    pub enabled: bool,
    /// Requests per second per bot before a global 429 (Discord: 50).
    pub global_per_second: u32,
    /// `POST /channels/{id}/messages` per channel (Discord: 5 per 5 s).
    pub messages_per_window: u32,
    /// Window of the message bucket.
    pub messages_window: Duration,
    /// Limit of every other route bucket.
    pub default_per_window: u32,
    /// Window of every other route bucket.
    pub default_window: Duration,
    /// Invalid answers (401, 403, 429) in 10 minutes after which every request is refused the
    /// way Cloudflare does (429, `error code: 1015`, no `Via` header) until the count falls;
    /// `None` (the default) never bans. Discord: 10,000.
    pub invalid_request_limit: Option<u32>,
}

impl Default for RestLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            global_per_second: 50,
            messages_per_window: 5,
            messages_window: Duration::from_secs(5),
            default_per_window: 50,
            default_window: Duration::from_secs(1),
            invalid_request_limit: None,
        }
    }
}

/// Configuration of a [`DiscordSim`].
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// Address to listen on (port 0 picks a free port). Must be a loopback address in tests.
    pub bind: SocketAddr,
    /// The only bot token the simulator accepts (without the `Bot ` prefix).
    pub token: String,
    /// The bot's user id, which is also its application id.
    pub bot_id: u64,
    /// The bot's username.
    pub bot_name: String,
    /// Shard count recommended by `GET /gateway/bot`.
    pub recommended_shards: u32,
    /// `session_start_limit.max_concurrency`.
    pub max_concurrency: u32,
    /// `session_start_limit.total`.
    pub session_start_total: u32,
    /// Minimum time between two identifies in the same `shard_id % max_concurrency` bucket
    /// (Discord: 5 s).
    pub identify_interval: Duration,
    /// `heartbeat_interval` sent in HELLO (Discord: 41.25 s).
    pub heartbeat_interval: Duration,
    /// Privileged intents the application is allowed to use (others close with 4014).
    pub allowed_privileged_intents: u64,
    /// Guilds one shard may hold before IDENTIFY closes with 4011 (Discord: 2500).
    pub max_guilds_per_shard: usize,
    /// How long a disconnected session stays resumable.
    pub resume_window: Duration,
    /// Dispatches kept per session for RESUME replay.
    pub replay_buffer: usize,
    /// How long after creation an interaction can still get its first callback (Discord: 3 s).
    pub interaction_deadline: Duration,
    /// REST rate limits.
    pub rest_limits: RestLimits,
    /// Artificial latency added to matching REST requests (to exercise slow handlers).
    pub rest_delays: Vec<RestDelay>,
    /// The `ws://host:port` URL clients reach this simulator at, sent as `GET /gateway/bot`'s
    /// `url` and READY's `resume_gateway_url`. `None`: `ws://` + the bound address, which is
    /// right unless the simulator binds `0.0.0.0` in a container and clients use a host name.
    pub public_url: Option<String>,
}

/// Latency added to the REST requests whose method and path match, before they are handled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestDelay {
    /// HTTP method (`GET`), or `*` for any.
    pub method: String,
    /// Path prefix without `/api/v10` (`/guilds/`); empty matches every path.
    pub path_prefix: String,
    /// The added latency, in milliseconds.
    pub delay_ms: u64,
}

impl RestDelay {
    /// Whether the delay applies to `method` `path` (path without `/api/v10`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// A one-shot REST fault: the next `count` requests whose method and path match are answered
/// with `status` (and a Discord-style JSON error body) without being handled, as a failing
/// proxy or an overloaded Discord would. Set with [`control::Control::fail_rest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestFault {
    /// HTTP method (`POST`), or `*` for any.
    pub method: String,
    /// Path prefix without `/api/v10` (`/channels/`); empty matches every path.
    pub path_prefix: String,
    /// The status answered (`502`).
    pub status: u16,
    /// How many matching requests fail before the fault is used up.
    pub count: u32,
}

impl RestFault {
    /// Whether the fault applies to `method` `path` (path without `/api/v10`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "sim-bot-token".to_owned(),
            bot_id: 1_000_000_000_000_000_001,
            bot_name: "SwarmcordSimBot".to_owned(),
            recommended_shards: 1,
            max_concurrency: 1,
            session_start_total: 1000,
            identify_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_millis(41_250),
            allowed_privileged_intents: PRIVILEGED_INTENTS,
            max_guilds_per_shard: 2500,
            resume_window: Duration::from_secs(120),
            replay_buffer: 200_000,
            interaction_deadline: Duration::from_secs(3),
            rest_limits: RestLimits::default(),
            rest_delays: Vec::new(),
            public_url: None,
        }
    }
}

/// State shared by the gateway, REST and control handlers of one simulator.
#[derive(Debug)]
pub struct Shared {
    /// The configuration (mutable at run time through the control API).
    pub config: Mutex<DiscordConfig>,
    /// The simulated world.
    pub world: Mutex<World>,
    /// Snowflake generator.
    pub ids: Snowflakes,
    /// What clients did.
    pub recorder: Recorder,
    /// What the bot showed users, in order (see [`feed`]).
    pub feed: feed::Feed,
    /// Gateway sessions and the dispatch bus.
    pub gateway: gateway::Gateway,
    /// REST rate-limit state.
    pub rest: rest::RestState,
    /// `ws://host:port` of this simulator.
    pub gateway_url: String,
}

impl Shared {
    /// Locks the world (a poisoned lock is still usable: the world is plain data).
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> DiscordConfig {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a dispatch event to every gateway session that should see it: the shard that owns
    /// `guild_id` (or shard 0 for events outside guilds), if the session's intents allow it.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers build the payload for this call; taking it keeps every call site short"
    )]
    pub fn dispatch(&self, guild_id: Option<u64>, event: &str, data: Value) {
        self.gateway.dispatch(self, guild_id, event, &data);
    }
}

/// A running Discord simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct DiscordSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DiscordSim {
    /// Binds `config.bind` and serves gateway, REST and control API until dropped or
    /// [`DiscordSim::shutdown`].
    pub async fn start(config: DiscordConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let bot = User {
            id: config.bot_id,
            username: config.bot_name.clone(),
            global_name: None,
            bot: true,
        };
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(bot)),
            ids: Snowflakes::new(),
            recorder: Recorder::new(),
            feed: feed::Feed::default(),
            gateway: gateway::Gateway::new(),
            rest: rest::RestState::default(),
            gateway_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("ws://{addr}")),
            config: Mutex::new(config),
        });
        let app: Router = Router::new()
            .merge(gateway::router())
            .nest("/api/v10", rest::router())
            .nest("/_sim", control::router())
            .with_state(Arc::clone(&shared));
        let (shutdown, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "discord simulator server failed");
            }
        });
        tracing::info!(%addr, "discord simulator listening");
        Ok(Self {
            shared,
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT`, for `twilight_gateway::ConfigBuilder::proxy_url`.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url.clone()
    }

    /// `127.0.0.1:PORT`, for `twilight_http::Client::builder().proxy(.., true)`.
    pub fn http_proxy(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`, the base of the control API (`/_sim/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The accepted bot token.
    pub fn token(&self) -> String {
        self.shared.config().token
    }

    /// The shared state, for the scenario API in [`control`].
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The scenario/control API as Rust methods.
    pub fn control(&self) -> control::Control {
        control::Control::new(Arc::clone(&self.shared))
    }

    /// Stops accepting connections, closes every gateway connection abruptly and waits for the
    /// server task.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&self) {
        let _ = self.shutdown.send(true);
        self.shared.gateway.drop_all_connections();
    }
}

impl Drop for DiscordSim {
    fn drop(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
