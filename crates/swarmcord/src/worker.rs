//! [`Worker`]: one replica of your bot's worker service. It consumes the events the gateways
//! forward, runs your commands and handlers, and replies through Discord REST.

use std::collections::HashMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use swarmcord_bot::settings::SharedSettings;
use swarmcord_bot::{Bot, BotConfig};
use swarmcord_commands::Prompts;
use swarmcord_ops::config::{ConfigError, Env, invalid_configuration};
use swarmcord_ops::http::Health;
use swarmcord_ops::{shutdown, telemetry};
use swarmcord_stream::ConsumerConfig;
use tokio_util::sync::CancellationToken;

use crate::command::{IntoCommandDef, IntoCommandResult};
use crate::components::{ComponentContext, HandlerFn};
use crate::config::{VoiceConfig, WorkerConfig};
use crate::context::{DataMap, Inner, Services};
use crate::events::{DispatchEvent, EventHandler, EventHandlers, RawEvent};
use crate::gateway::GatewayCommands;
use crate::plugin::{Plugin, SetupError};
use crate::{CommandDef, EventContext};

mod connections;
mod install;

use connections::Connections;
use install::{install, register_slash_commands};

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A configuration variable is missing or invalid (exit code 2).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A command or plugin declaration is invalid, or two commands share a name.
    #[error("invalid command set-up: {0}")]
    Setup(#[from] SetupError),
    /// An event handler was registered for a name that is not a Discord event name.
    #[error("`{0}` is not a Discord event name (expected UPPER_SNAKE_CASE, e.g. GUILD_MEMBER_ADD)")]
    EventName(String),
    /// A service failed at start-up.
    #[error("{0}")]
    Startup(String),
}

/// Builds and runs a worker replica.
///
/// ```no_run
/// use swarmcord::model::gateway::payload::incoming::MemberAdd;
/// use swarmcord::{Context, EventContext, EventError, Reply};
///
/// /// Says hello.
/// #[swarmcord::command(slash, prefix)]
/// async fn hello(ctx: &Context) -> Reply {
///     Reply::text(format!("Hello <@{}>!", ctx.user_id()))
/// }
///
/// async fn welcome(_ctx: EventContext, member: MemberAdd) -> Result<(), EventError> {
///     tracing::info!(user = member.user.id.get(), "welcome");
///     Ok(())
/// }
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     swarmcord::Worker::from_env()
///         .command(hello)
///         .on::<MemberAdd>(welcome)
///         .launch()
///         .await
/// }
/// ```
pub struct Worker {
    config: Result<WorkerConfig, ConfigError>,
    commands: Vec<CommandDef>,
    plugins: Vec<Box<dyn Plugin>>,
    events: EventHandlers,
    bad_event_names: Vec<String>,
    data: DataMap,
    health: Option<Health>,
    components: Vec<(String, Arc<HandlerFn>)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("commands", &self.commands)
            .field("plugins", &self.plugins.len())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker configured from the process environment (`docs/CONFIGURATION.md`, Worker;
    /// `*_FILE` variants for secrets). A configuration error is reported when the worker runs.
    pub fn from_env() -> Self {
        Self::with_env(&Env::from_process())
    }

    /// A worker configured from `env` (tests build one with [`Env::from_pairs`]).
    pub fn with_env(env: &Env) -> Self {
        Self::with_config(WorkerConfig::from_env(env))
    }

    fn with_config(config: Result<WorkerConfig, ConfigError>) -> Self {
        Self {
            config,
            commands: Vec::new(),
            plugins: Vec::new(),
            events: EventHandlers::default(),
            bad_event_names: Vec::new(),
            data: HashMap::new(),
            health: None,
            components: Vec::new(),
        }
    }

    /// Registers a command: a function annotated with `#[swarmcord::command]`, or a
    /// [`CommandDef`].
    #[must_use]
    pub fn command(mut self, command: impl IntoCommandDef) -> Self {
        self.commands.push(command.into_command_def());
        self
    }

    /// Runs `handler` when a user clicks a button or chooses in a select menu whose
    /// `custom_id` is `name` or `name:…` (see [`components`](crate::components)): on any
    /// replica, also after every worker restarted.
    #[must_use]
    pub fn component<F, Fut, R>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(ComponentContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCommandResult,
    {
        self.components
            .push((name.to_owned(), crate::components::boxed(handler)));
        self
    }

    /// Runs `handler` when a user submits a modal (opened with
    /// [`Reply::modal`](crate::Reply::modal)) whose `custom_id` is `name` or `name:…`; the
    /// values are [`ComponentContext::field`]. Modals and components share one namespace of
    /// names.
    #[must_use]
    pub fn modal<F, Fut, R>(self, name: &str, handler: F) -> Self
    where
        F: Fn(ComponentContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCommandResult,
    {
        self.component(name, handler)
    }

    /// Installs a plugin (for example the built-in commands).
    #[must_use]
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        self.plugins.push(Box::new(plugin));
        self
    }

    /// Runs `handler` for every event of type `E` (e.g. `MemberAdd` for `GUILD_MEMBER_ADD`).
    /// The workers' queue is bound to the event type automatically.
    #[must_use]
    pub fn on<E: DispatchEvent>(mut self, handler: impl EventHandler<E>) -> Self {
        self.events.typed::<E>(handler);
        self
    }

    /// Runs `handler` for every event called `name` (Discord's `t`), with its raw JSON: for
    /// events without a typed form, or to parse them yourself.
    #[must_use]
    pub fn on_raw<F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(EventContext, RawEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), crate::EventError>> + Send + 'static,
    {
        if !crate::events::is_event_name(name) {
            self.bad_event_names.push(name.to_owned());
        }
        self.events.raw(name, handler);
        self
    }

    /// Makes `data` available to every handler as `ctx.data::<T>()` (one value per type).
    #[must_use]
    pub fn data<T: Send + Sync + 'static>(mut self, data: T) -> Self {
        self.data
            .insert(std::any::TypeId::of::<T>(), Arc::new(data));
        self
    }

    /// Reports readiness into `health` (also served on `/readyz`): for processes and tests
    /// that embed a worker and need to know when it consumes events.
    #[must_use]
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Runs the worker until SIGTERM or Ctrl-C, as a binary's `main` does: sets up logging,
    /// and maps the outcome to the exit code (2: invalid configuration, naming the variable;
    /// 1: a failure; 0: stopped).
    pub async fn launch(self) -> ExitCode {
        let format = match &self.config {
            Ok(config) => config.log_format,
            Err(_) => telemetry::LogFormat::Text,
        };
        telemetry::init_logging(format);
        match self.run(shutdown::on_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(WorkerError::Config(error)) => invalid_configuration(&error),
            Err(error) => {
                tracing::error!("worker failed: {error}");
                ExitCode::from(1)
            }
        }
    }

    /// Runs the worker until `stop` is cancelled (for tests and embedding; [`launch`](Self::launch)
    /// is the binary form). Logging is the caller's.
    pub async fn run(self, stop: CancellationToken) -> Result<(), WorkerError> {
        let config = self.config?;
        if let Some(name) = self.bad_event_names.first() {
            return Err(WorkerError::EventName(name.clone()));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let startup = |what: &str, error: &dyn std::fmt::Display| {
            WorkerError::Startup(format!("{what}: {error}"))
        };
        let health = self.health.unwrap_or_default();
        health.fail("events", "not consuming yet");
        health.fail("dependencies", "connecting");
        let server_stop = CancellationToken::new();
        let (_, server) = swarmcord_ops::http::serve(
            config.http_addr,
            health.clone(),
            telemetry::metrics_handle(),
            server_stop.clone(),
        )
        .await
        .map_err(|e| startup("health server", &e))?;

        let Some(Connections {
            http,
            callbacks,
            me,
            redis,
            store,
        }) = Connections::wait(&config, &health, &stop).await?
        else {
            server_stop.cancel();
            let _ = server.await;
            return Ok(());
        };
        let prefix = config.redis_prefix.clone();
        let settings = SharedSettings::new(store.clone(), redis.clone(), prefix.clone());
        // The gateways keep the Discord-object cache under the same prefix; what it lacks comes
        // from REST and is kept for a while.
        let cache = swarmcord_cache::FallbackReader::new(
            swarmcord_cache::CacheReader::new(redis.clone(), &prefix),
            Arc::clone(&http),
            swarmcord_cache::DEFAULT_REST_TTL,
        );
        let keys = swarmcord_protocol::keys::Keys::new(prefix.clone());
        let gateways = swarmcord_coord::GatewayRegistry::new(redis.clone(), keys);
        let gateway_sender = gateway_sender(&config, gateways.clone());
        let voice = config.voice.as_ref().map(|voice| {
            start_voice(
                &config,
                voice,
                redis.clone(),
                gateway_sender.clone(),
                me.id.get(),
            )
        });
        let services = Services {
            inner: Arc::new(Inner {
                http: Arc::clone(&http),
                cache: cache.clone(),
                store,
                settings: settings.clone(),
                redis: redis.clone(),
                redis_prefix: prefix.clone(),
                gateways,
                gateway: GatewayCommands::new(gateway_sender),
                music: voice.as_ref().map(|(music, _)| music.clone()),
                bot_id: me.id,
                default_prefix: config.default_prefix.clone(),
                data: self.data,
                registry: OnceLock::new(),
                components: swarmcord_commands::ComponentStates::new(redis.clone(), prefix.clone()),
                prompts: Prompts::new(redis.clone(), prefix.clone()),
            }),
        };

        let (dispatcher, components) = install(
            &services,
            &redis,
            self.plugins,
            self.commands,
            self.components,
        )?;
        let dispatcher = dispatcher.with_user_limit(config.user_command_limit);
        let _ = services.inner.registry.set(dispatcher.registry().clone());
        register_slash_commands(&http, me.id.cast(), &dispatcher, &config.slash_commands).await;

        let (music, nodes) = match voice {
            Some((music, manager)) => (Some(music), Some(manager)),
            None => (None, None),
        };
        let mut bot = Bot::new(
            Arc::clone(&http),
            cache,
            Arc::new(dispatcher),
            settings,
            redis.clone(),
            me.id,
            BotConfig {
                redis_prefix: config.redis_prefix.clone(),
                default_prefix: config.default_prefix.clone(),
                owners: config.owners.clone(),
                interaction_defer_after: config.interaction_defer_after,
            },
        )
        .with_callback_client(callbacks)
        .with_listeners(self.events.bind(&services))
        .with_components(components);
        if let Some(music) = music {
            bot = bot.with_voice(music);
        }
        let nodes = nodes.map(|manager| {
            let stop = stop.clone();
            tokio::spawn(async move { manager.run(stop).await })
        });
        let bindings = match &config.bindings {
            Some(explicit) => {
                let mut bindings = explicit.clone();
                if config.voice.is_some() {
                    for event in swarmcord_bot::VOICE_EVENTS {
                        if !bindings.iter().any(|b| b == event) {
                            bindings.push(event.to_owned());
                        }
                    }
                }
                bindings
            }
            None => bot.event_types(),
        };
        let bot = Arc::new(bot);
        let sweeper = spawn_sweeper(Arc::clone(&bot), stop.clone());

        consume(&config, bindings, redis, bot, &health, stop).await;
        let _ = sweeper.await;
        if let Some(nodes) = nodes {
            let _ = nodes.await;
        }
        server_stop.cancel();
        let _ = server.await;
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// The sender of gateway commands: a publisher to the gateways' reply queues, routed through
/// the gateway registry. Confirms are not awaited (a lost command is answered by the user
/// trying again).
fn gateway_sender(
    config: &WorkerConfig,
    registry: swarmcord_coord::GatewayRegistry,
) -> swarmcord_voice::AmqpVoiceGateway {
    let (publisher, mut confirms) = swarmcord_broker::Publisher::start(
        swarmcord_broker::PublisherConfig::new(config.amqp_url.expose(), "worker-commands")
            .buffer(1000)
            .window(64),
    );
    tokio::spawn(async move { while confirms.recv().await.is_some() {} });
    swarmcord_voice::AmqpVoiceGateway::new(publisher, registry)
}

/// The music services: op 4 goes out through the gateway command sender; every replica
/// competes for the Lavalink nodes' leases.
fn start_voice(
    config: &WorkerConfig,
    voice: &VoiceConfig,
    redis: swarmcord_coord::ConnectionManager,
    gateway: swarmcord_voice::AmqpVoiceGateway,
    bot_id: u64,
) -> (swarmcord_voice::Music, swarmcord_voice::NodeManager) {
    swarmcord_voice::node::describe_metrics();
    let rest = swarmcord_voice::Rest::new(voice.password.expose());
    let cache = swarmcord_cache::CacheReader::new(redis.clone(), &config.redis_prefix);
    let store = swarmcord_voice::VoiceStore::new(redis, config.redis_prefix.clone());
    let music =
        swarmcord_voice::Music::new(store, rest.clone(), voice.nodes.clone(), Arc::new(gateway))
            .with_cache(cache);
    let mut manager_config =
        swarmcord_voice::NodeManagerConfig::new(uuid::Uuid::new_v4().to_string(), bot_id);
    manager_config.failover_after = voice.failover_after;
    let manager =
        swarmcord_voice::NodeManager::new(music.clone(), rest, voice.nodes.clone(), manager_config);
    tracing::info!(nodes = ?voice.nodes, "music commands enabled");
    (music, manager)
}

/// Claims timed-out prompts once a second and tells their users (each timeout is claimed by
/// exactly one replica).
fn spawn_sweeper(bot: Arc<Bot>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => bot.sweep_prompt_timeouts().await,
            }
        }
    })
}

/// Consumes the events until `stop` is cancelled (readiness follows the consumer).
async fn consume(
    config: &WorkerConfig,
    bindings: Vec<String>,
    redis: swarmcord_coord::ConnectionManager,
    bot: Arc<Bot>,
    health: &Health,
    stop: CancellationToken,
) {
    let prefix = config.redis_prefix.clone();
    let mut consumer = ConsumerConfig::new(
        config.amqp_url.expose(),
        &config.events_exchange,
        &config.queue,
    );
    tracing::info!(?bindings, "event types consumed");
    consumer.bindings = bindings;
    consumer.prefetch = config.prefetch;
    consumer.max_attempts = config.max_attempts;
    consumer.retry_delays.clone_from(&config.retry_delays);
    consumer.redis_prefix = prefix;
    "worker".clone_into(&mut consumer.service_name);
    let state = health.clone();
    swarmcord_stream::run(
        consumer,
        redis,
        bot,
        move |up| {
            if up {
                state.ok("events");
            } else {
                state.fail("events", "not consuming");
            }
        },
        stop,
    )
    .await;
}
