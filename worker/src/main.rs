//! `worker`: one replica of the swarmcord worker service.
//!
//! Consumes the events the gateways forward, runs the bot's commands and replies through
//! Discord REST. Stateless: any replica can die at any moment; unacknowledged events go to
//! another replica, prompts and cooldowns live in Redis, settings in MongoDB. Configuration
//! comes from environment variables (see `docs/CONFIGURATION.md`); an invalid one stops the
//! process with exit code 2 and a message naming it.

mod config;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use swarmcord_bot::settings::SettingsCache;
use swarmcord_bot::{Bot, BotConfig};
use swarmcord_commands::{Cooldowns, Dispatcher, Prompts};
use swarmcord_consumer::ConsumerConfig;
use swarmcord_ops::config::Env;
use swarmcord_ops::http::Health;
use swarmcord_ops::{shutdown, telemetry};
use swarmcord_store::{Store, StoreOptions};

use crate::config::{SlashCommands, VoiceConfig, WorkerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match WorkerConfig::from_env(&Env::from_process()) {
        Ok(config) => config,
        Err(error) => {
            telemetry::init_logging(telemetry::LogFormat::Text);
            tracing::error!(variable = %error.variable, "invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("worker failed: {error}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: WorkerConfig) -> Result<(), Box<dyn std::error::Error>> {
    let health = Health::new();
    health.fail("events", "not consuming yet");
    let stop = shutdown::on_signal();
    let server_stop = shutdown::Token::new();
    let (_, server) = swarmcord_ops::http::serve(
        config.http_addr,
        health.clone(),
        telemetry::metrics_handle(),
        server_stop.clone(),
    )
    .await?;

    // twilight's limiter keeps this replica under the global limit; route buckets are learnt
    // from Discord's headers.
    let mut http = twilight_http::Client::builder()
        .token(config.token.expose().to_owned())
        .ratelimiter(Some(twilight_http_ratelimiting::RateLimiter::new(
            config.global_rate_limit,
        )));
    if let Some(proxy) = &config.api_proxy {
        http = http.proxy(proxy.clone(), true);
    }
    let http = Arc::new(http.build());
    let me = http.current_user().await?.model().await?;
    tracing::info!(bot_id = me.id.get(), "connected to Discord REST");

    let redis = swarmcord_coord::connect(config.redis_url.expose()).await?;
    let store = Store::connect(
        config.mongo_url.expose(),
        &config.mongo_database,
        StoreOptions::default(),
    )
    .await?;
    if let Err(error) = store.ensure_indexes().await {
        // Commands that need no settings keep working; indexes are created on a later start.
        tracing::warn!(%error, "MongoDB unavailable at start-up; settings commands will answer that");
    }
    let prefix = config.redis_prefix.clone();
    let mut dispatcher = Dispatcher::new(
        Cooldowns::new(redis.clone(), prefix.clone()),
        Prompts::new(redis.clone(), prefix.clone()),
    );
    let settings = SettingsCache::new(store, redis.clone(), prefix.clone());
    // The gateways keep the Discord-object cache under the same prefix; what it lacks comes
    // from REST and is kept for a while.
    let cache = swarmcord_cache::FallbackReader::new(
        swarmcord_cache::CacheReader::new(redis.clone(), &prefix),
        Arc::clone(&http),
        swarmcord_cache::DEFAULT_REST_TTL,
    );
    let gateways = swarmcord_coord::GatewayRegistry::new(
        redis.clone(),
        swarmcord_protocol::keys::Keys::new(prefix.clone()),
    );
    swarmcord_bot::builtin::register(
        &mut dispatcher,
        Arc::clone(&http),
        cache.clone(),
        gateways,
        settings.clone(),
        config.default_prefix.clone(),
    )?;
    let voice = match &config.voice {
        Some(voice) => Some(start_voice(&config, voice, redis.clone(), me.id.get())),
        None => None,
    };
    if let Some((music, _)) = &voice {
        swarmcord_bot::builtin::register_voice(
            &mut dispatcher,
            Arc::clone(&http),
            cache.clone(),
            music.clone(),
            me.id,
        )?;
    }
    register_slash_commands(&http, me.id.cast(), &dispatcher, &config.slash_commands).await;
    let bot = Bot::new(
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
    );
    let (bot, nodes) = match voice {
        Some((music, manager)) => {
            let stop = stop.clone();
            let nodes = tokio::spawn(async move { manager.run(stop).await });
            (bot.with_voice(music), Some(nodes))
        }
        None => (bot, None),
    };
    let bot = Arc::new(bot);

    let sweeper = {
        let bot = Arc::clone(&bot);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => bot.sweep_prompt_timeouts().await,
                }
            }
        })
    };

    let mut consumer = ConsumerConfig::new(
        config.amqp_url.expose(),
        &config.events_exchange,
        &config.queue,
    );
    consumer.bindings = config.bindings.clone();
    consumer.prefetch = config.prefetch;
    consumer.max_attempts = config.max_attempts;
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
    let _ = sweeper.await;
    if let Some(nodes) = nodes {
        let _ = nodes.await;
    }
    server_stop.cancel();
    let _ = server.await;
    tracing::info!("worker stopped");
    Ok(())
}

/// The music commands' services: op 4 goes out through a publisher to the gateways' reply
/// queues; every replica competes for the Lavalink nodes' leases.
fn start_voice(
    config: &WorkerConfig,
    voice: &VoiceConfig,
    redis: swarmcord_coord::ConnectionManager,
    bot_id: u64,
) -> (swarmcord_voice::Music, swarmcord_voice::NodeManager) {
    swarmcord_voice::node::describe_metrics();
    let (publisher, mut confirms) = swarmcord_broker::Publisher::start(
        swarmcord_broker::PublisherConfig::new(config.amqp_url.expose(), "worker-voice")
            .buffer(1000)
            .window(64),
    );
    // Confirms are not needed (a lost op 4 is answered by the user trying again).
    tokio::spawn(async move { while confirms.recv().await.is_some() {} });
    let keys = swarmcord_protocol::keys::Keys::new(config.redis_prefix.clone());
    let registry = swarmcord_coord::GatewayRegistry::new(redis.clone(), keys);
    let gateway = Arc::new(swarmcord_voice::AmqpVoiceGateway::new(publisher, registry));
    let rest = swarmcord_voice::Rest::new(voice.password.expose());
    let redis_for_cache = redis.clone();
    let store = swarmcord_voice::VoiceStore::new(redis, config.redis_prefix.clone());
    let cache = swarmcord_cache::CacheReader::new(redis_for_cache, &config.redis_prefix);
    let music = swarmcord_voice::Music::new(store, rest.clone(), voice.nodes.clone(), gateway)
        .with_cache(cache);
    let mut manager_config =
        swarmcord_voice::NodeManagerConfig::new(uuid::Uuid::new_v4().to_string(), bot_id);
    manager_config.failover_after = voice.failover_after;
    let manager =
        swarmcord_voice::NodeManager::new(music.clone(), rest, voice.nodes.clone(), manager_config);
    tracing::info!(nodes = ?voice.nodes, "music commands enabled");
    (music, manager)
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
