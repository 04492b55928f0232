//! [`Worker`]: one replica of your bot's worker service. It consumes the events the gateways
//! forward, runs your commands and handlers, and replies through Discord REST.

use std::collections::HashMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use swarmcord_bot::settings::SettingsCache;
use swarmcord_bot::{Bot, BotConfig};
use swarmcord_commands::{ComponentRouter, Cooldowns, Dispatcher, Prompts};
use swarmcord_consumer::ConsumerConfig;
use swarmcord_ops::config::{ConfigError, Env};
use swarmcord_ops::http::Health;
use swarmcord_ops::{shutdown, telemetry};
use swarmcord_protocol::backoff::Backoff;
use swarmcord_store::{Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use crate::command::{IntoCommandDef, IntoCommandResult};
use crate::components::{ComponentContext, HandlerFn};
use crate::config::{SlashCommands, VoiceConfig, WorkerConfig};
use crate::context::{DataMap, Inner, Services};
use crate::events::{DispatchEvent, EventHandler, EventHandlers, RawEvent};
use crate::gateway::GatewayCommands;
use crate::plugin::{Plugin, Setup, SetupError};
use crate::{CommandDef, EventContext};

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
            Err(WorkerError::Config(error)) => {
                tracing::error!(variable = %error.variable, "invalid configuration: {error}");
                ExitCode::from(2)
            }
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
        let server_stop = shutdown::Token::new();
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
        let settings = SettingsCache::new(store.clone(), redis.clone(), prefix.clone());
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

/// Publishes the slash command list (a bulk overwrite: idempotent, so every replica may do it
/// at start-up). A failure is logged: prefix commands keep working, and the next start retries.
async fn register_slash_commands(
    http: &twilight_http::Client,
    // For bot accounts the application id is the bot's user id.
    application_id: twilight_model::id::Id<twilight_model::id::marker::ApplicationMarker>,
    dispatcher: &Dispatcher,
    target: &SlashCommands,
) {
    let commands = dispatcher.registry().to_application_commands();
    let client = http.interaction(application_id);
    let result = match target {
        SlashCommands::Off => return,
        SlashCommands::Global => client.set_global_commands(&commands).await.map(drop),
        SlashCommands::Guilds(guilds) => {
            let mut result = Ok(());
            for guild in guilds
                .iter()
                .filter_map(|g| twilight_model::id::Id::new_checked(*g))
            {
                result = client.set_guild_commands(guild, &commands).await.map(drop);
                if result.is_err() {
                    break;
                }
            }
            result
        }
    };
    match result {
        Ok(()) => tracing::info!(count = commands.len(), %target, "slash commands registered"),
        Err(error) => tracing::error!(%error, %target, "could not register the slash commands"),
    }
}

/// Why a dependency could not be reached.
enum Unreachable {
    /// Try again later.
    Retry(WorkerError),
    /// Waiting cannot help.
    Fatal(WorkerError),
}

/// The connections a worker opens at start-up.
struct Connections {
    http: Arc<twilight_http::Client>,
    /// For interaction callbacks (see [`rest_clients`]).
    callbacks: Arc<twilight_http::Client>,
    me: twilight_model::user::CurrentUser,
    redis: swarmcord_coord::ConnectionManager,
    store: Store,
}

impl Connections {
    /// Opens the connections, waiting for the services with growing delays (up to 10 s) while
    /// they do not answer; `/readyz` says which one is awaited. `None` when stopped meanwhile;
    /// an error when waiting cannot help (Discord refuses the token).
    async fn wait(
        config: &WorkerConfig,
        health: &Health,
        stop: &CancellationToken,
    ) -> Result<Option<Self>, WorkerError> {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        loop {
            let delay = backoff.next_delay();
            match Self::open(config).await {
                Ok(connections) => {
                    health.ok("dependencies");
                    return Ok(Some(connections));
                }
                Err(Unreachable::Fatal(error)) => return Err(error),
                Err(Unreachable::Retry(error)) => {
                    tracing::warn!(%error, retry_in = ?delay, "waiting for a dependency");
                    health.fail("dependencies", error.to_string());
                }
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(None),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn open(config: &WorkerConfig) -> Result<Self, Unreachable> {
        let startup = |what: &str, error: &dyn std::fmt::Display| {
            Unreachable::Retry(WorkerError::Startup(format!("{what}: {error}")))
        };
        let (http, callbacks) = rest_clients(config);
        let me = http
            .current_user()
            .await
            .map_err(|error| match error.kind() {
                twilight_http::error::ErrorType::Response { status, .. }
                    if status.is_client_error() =>
                {
                    Unreachable::Fatal(WorkerError::Startup(format!(
                        "Discord REST refused the bot token (DISCORD_TOKEN): {error}"
                    )))
                }
                _ => startup("Discord REST", &error),
            })?
            .model()
            .await
            .map_err(|e| startup("Discord REST", &e))?;
        tracing::info!(bot_id = me.id.get(), "connected to Discord REST");

        // Commands must answer during a Redis outage: every Redis call fails fast instead.
        let redis = swarmcord_coord::connect_failing_fast(config.redis_url.expose())
            .await
            .map_err(|e| startup("Redis", &e))?;
        let store = Store::connect(
            config.mongo_url.expose(),
            &config.mongo_database,
            StoreOptions::default(),
        )
        .await
        .map_err(|e| startup("MongoDB", &e))?;
        if let Err(error) = store.ensure_indexes().await {
            // Commands that need no settings keep working; indexes are created on a later start.
            tracing::warn!(%error, "MongoDB unavailable at start-up; settings commands will answer that");
        }
        Ok(Self {
            http,
            callbacks,
            me,
            redis,
            store,
        })
    }
}

/// The replica's Discord REST clients: one for every request, and one for the interaction
/// callbacks.
///
/// Without the shared REST proxy, twilight's limiter keeps this replica under its share of the
/// global limit and learns route buckets from Discord's headers. With it, the proxy keeps every
/// limit for all replicas (twilight's `proxy` mode sends the same requests, token included, over
/// plain HTTP), so the in-process limiter is off.
///
/// Callbacks skip twilight's limiter: it queues every request to a path whose bucket it has not
/// learnt and that starts with no channel, guild or webhook (every callback: each interaction
/// has its own path; a first `GET /users/{id}`) in *one* queue, one request at a time until
/// its response is read. A "thinking…" would wait there behind the command's own slow REST
/// call and miss Discord's 3 s, and the callbacks of simultaneous interactions would wait for
/// each other. Callbacks are not bound to the global limit and each path is used once, so
/// there is nothing for the limiter to keep; the proxy keys them by interaction.
fn rest_clients(config: &WorkerConfig) -> (Arc<twilight_http::Client>, Arc<twilight_http::Client>) {
    let client = |limiter: Option<twilight_http_ratelimiting::RateLimiter>| {
        let builder = twilight_http::Client::builder()
            .token(config.token.expose().to_owned())
            .ratelimiter(limiter);
        match config.rest_proxy.as_ref().or(config.api_proxy.as_ref()) {
            Some(proxy) => builder.proxy(proxy.clone(), true),
            None => builder,
        }
        .build()
    };
    if config.rest_proxy.is_some() {
        let http = Arc::new(client(None));
        return (Arc::clone(&http), http);
    }
    let limiter = twilight_http_ratelimiting::RateLimiter::new(config.global_rate_limit);
    (Arc::new(client(Some(limiter))), Arc::new(client(None)))
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
    swarmcord_consumer::run(
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

/// The dispatcher and the component router with every plugin's and the author's handlers,
/// bound to `services`.
fn install(
    services: &Services,
    redis: &swarmcord_coord::ConnectionManager,
    plugins: Vec<Box<dyn Plugin>>,
    commands: Vec<CommandDef>,
    handlers: Vec<(String, Arc<HandlerFn>)>,
) -> Result<(Dispatcher, ComponentRouter), SetupError> {
    let prefix = services.redis_prefix().to_owned();
    let mut dispatcher = Dispatcher::new(
        Cooldowns::new(redis.clone(), prefix.clone()),
        Prompts::new(redis.clone(), prefix),
    );
    let mut components = ComponentRouter::default();
    let mut setup = Setup {
        services,
        dispatcher: &mut dispatcher,
        components: &mut components,
    };
    for plugin in plugins {
        plugin.install(&mut setup)?;
    }
    for command in commands {
        setup.command(command)?;
    }
    for (name, handler) in handlers {
        setup.components.register(
            &name,
            crate::components::FnComponent::new(services.clone(), handler),
        )?;
    }
    if !components.contains(swarmcord_commands::component::HELP_MENU) {
        setup_help_menu(services, &mut components)?;
    }
    Ok((dispatcher, components))
}

/// The built-in help's category menu (unless the bot registered its own `help` component).
fn setup_help_menu(
    services: &Services,
    components: &mut ComponentRouter,
) -> Result<(), SetupError> {
    components.register(
        swarmcord_commands::component::HELP_MENU,
        crate::components::FnComponent::new(
            services.clone(),
            crate::components::boxed(crate::components::help_menu),
        ),
    )?;
    Ok(())
}
