//! Test your swarmcord bot the way it runs in production, in one process: the Discord simulator
//! (a guild with members and channels), a gateway replica forwarding its events through
//! RabbitMQ, and **your** worker — your commands, handlers and data — against the test
//! services (RabbitMQ, Redis, MongoDB; `scripts/services.sh up` starts them on 127.0.0.1,
//! `SWARMCORD_TEST_{AMQP,REDIS,MONGO}_URL` point elsewhere).
//!
//! ```no_run
//! use swarmcord::{Context, Reply};
//! use swarmcord_testing::TestBot;
//!
//! /// Says hello.
//! #[swarmcord::command]
//! async fn hello(ctx: &Context) -> Reply {
//!     Reply::text(format!("Hello <@{}>!", ctx.user_id()))
//! }
//!
//! #[tokio::test]
//! async fn hello_answers() {
//!     let bot = TestBot::start(|worker| worker.command(hello)).await;
//!     let member = bot.members()[0];
//!     assert_eq!(bot.say(member, "!hello").await, format!("Hello <@{member}>!"));
//!     bot.stop().await;
//! }
//! ```
//!
//! Every `TestBot` has its own exchange, queue, Redis prefix and database, so tests run in
//! parallel on one set of services. The simulator is reachable through [`TestBot::control`]
//! for anything the helpers do not cover (roles, voice, interactions, changes, its request log).

use std::time::Duration;

use serde_json::Value;
use swarmcord::{Env, Worker};
use swarmcord_ops::http::Health;
use swarmcord_sim::discord::control::{
    ComponentSpec, Control, CreatedGuild, CreatedInteraction, GuildSpec, InteractionSpec,
};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::{amqp_url, mongo_url, redis_url, talk, unique_name};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use swarmcord_testkit::talk::WAIT;

/// The simulator's control API that [`TestBot::control`] returns, with the types its methods
/// take and return (`sim::ModalSubmitSpec`, `sim::CreatedInteraction`, …), so tests need no
/// direct dependency on the simulator.
pub use swarmcord_sim::discord::control as sim;

/// A message the bot sent (as the simulator received it).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The channel.
    pub channel_id: u64,
    /// The text.
    pub content: String,
    /// The whole request body (embeds, components, `message_reference`, …).
    pub body: Value,
}

/// The simulator, a gateway and your worker, running until [`stop`](Self::stop).
pub struct TestBot {
    sim: DiscordSim,
    guild: CreatedGuild,
    database: String,
    stop: CancellationToken,
    gateway: JoinHandle<()>,
    worker: JoinHandle<Result<(), swarmcord::WorkerError>>,
}

impl std::fmt::Debug for TestBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBot")
            .field("guild", &self.guild.id)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl TestBot {
    /// Starts everything with the worker `configure` returns (add your commands, handlers,
    /// data and plugins to the worker it is given) and waits until the bot consumes events.
    /// Worker variables can be set with [`start_with`](Self::start_with).
    pub async fn start(configure: impl FnOnce(Worker) -> Worker) -> Self {
        Self::start_with(&[], configure).await
    }

    /// [`start`](Self::start) with extra variables for the worker and the gateway (each reads
    /// its own: `("DEFAULT_PREFIX", "?")`, `("GATEWAY_INTENTS", "GUILDS,…")`, …).
    ///
    /// # Panics
    /// When the simulator cannot start, or the gateway or the worker is not ready within
    /// [`WAIT`] (the test services are probably not running).
    pub async fn start_with(
        variables: &[(&str, &str)],
        configure: impl FnOnce(Worker) -> Worker,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        swarmcord_testkit::init_tracing();
        let sim = DiscordSim::start(DiscordConfig {
            identify_interval: Duration::from_millis(100),
            ..DiscordConfig::default()
        })
        .await
        .expect("the Discord simulator starts");
        let guild = sim.control().create_guild(&GuildSpec {
            name: "Test server".to_owned(),
            ..GuildSpec::default()
        });
        let name = unique_name("testbot");
        let exchange = format!("{name}.events");
        let common = [
            ("DISCORD_TOKEN", sim.token()),
            ("DISCORD_API_PROXY", sim.http_proxy()),
            ("AMQP_URL", amqp_url()),
            ("REDIS_URL", redis_url()),
            ("REDIS_PREFIX", name.clone()),
            ("EVENTS_EXCHANGE", exchange),
            ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ];
        let stop = CancellationToken::new();

        let gateway_env = Env::from_pairs(
            common
                .iter()
                .cloned()
                .chain([
                    ("DISCORD_GATEWAY_URL", sim.gateway_url()),
                    ("GATEWAY_ID", format!("{name}-gw")),
                    ("SESSION_PERSIST_INTERVAL_MS", "200".to_owned()),
                ])
                .chain(variables.iter().map(|(k, v)| ((*k), (*v).to_owned()))),
        );
        let gateway_config =
            swarmcord_shards::GatewayConfig::from_env(&gateway_env).expect("gateway configuration");
        let gateway_health = Health::new();
        let gateway = tokio::spawn({
            let (health, stop) = (gateway_health.clone(), stop.clone());
            async move {
                if let Err(error) = swarmcord_shards::run(gateway_config, health, stop).await {
                    tracing::error!(%error, "the test gateway failed");
                }
            }
        });

        let database = name.replace('-', "_");
        let worker_env = Env::from_pairs(
            common
                .iter()
                .cloned()
                .chain([
                    ("MONGO_URL", mongo_url()),
                    ("MONGO_DATABASE", database.clone()),
                    ("WORKER_QUEUE", format!("{name}.worker")),
                    ("SLASH_COMMANDS", guild.id.to_string()),
                ])
                .chain(variables.iter().map(|(k, v)| ((*k), (*v).to_owned()))),
        );
        let worker_health = Health::new();
        let worker = configure(Worker::with_env(&worker_env)).health(worker_health.clone());
        let worker = tokio::spawn(worker.run(stop.clone()));

        // Ready: both services report ready, and every shard is connected with its session
        // established (events posted before that would reach no shard).
        let control = sim.control();
        let ready = swarmcord_testkit::eventually(WAIT, || {
            let services =
                gateway_health.failing().is_empty() && worker_health.failing().is_empty();
            let sessions = control.sessions();
            let shards = !sessions.is_empty() && sessions.iter().all(|s| s.connected && s.seq >= 1);
            async move { (services && shards).then_some(()) }
        })
        .await;
        if ready.is_none() {
            stop.cancel();
            let outcome = if worker.is_finished() {
                format!("{:?}", worker.await)
            } else {
                format!(
                    "gateway: {:?}, worker: {:?}",
                    gateway_health.failing(),
                    worker_health.failing()
                )
            };
            panic!(
                "the test bot did not get ready within {WAIT:?} ({outcome}); are the test services running (scripts/services.sh up)?"
            );
        }
        Self {
            sim,
            guild,
            database,
            stop,
            gateway,
            worker,
        }
    }

    /// The simulator's control API (users, roles, channels, voice, interactions, its log).
    pub fn control(&self) -> Control {
        self.sim.control()
    }

    /// The simulated guild.
    pub fn guild(&self) -> &CreatedGuild {
        &self.guild
    }

    /// The guild's id.
    pub fn guild_id(&self) -> u64 {
        self.guild.id
    }

    /// The application commands the worker registered at start (the body of its `PUT
    /// …/commands`), after checking the simulator accepted them as Discord would.
    ///
    /// # Panics
    /// When the worker registered none, or the simulator refused them.
    pub fn registered_commands(&self) -> Vec<Value> {
        let registered = self
            .control()
            .log(0, Some("rest"))
            .into_iter()
            .find(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .expect("the worker registers its commands");
        assert_eq!(registered.status, 200, "{:?}", registered.body);
        registered.body.as_array().cloned().unwrap_or_default()
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> u64 {
        self.sim.shared().config().bot_id
    }

    /// The guild's first text channel, where [`say`](Self::say) posts.
    pub fn channel_id(&self) -> u64 {
        self.guild.text_channels[0]
    }

    /// The guild's generated members (not the owner, not the bot).
    pub fn members(&self) -> &[u64] {
        &self.guild.members
    }

    /// The worker's MongoDB database (dropped by [`stop`](Self::stop)).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `user_id` posts `content` in [`channel_id`](Self::channel_id); returns the text of the
    /// bot's reply to that message.
    ///
    /// # Panics
    /// When the bot does not reply within [`WAIT`].
    pub async fn say(&self, user_id: u64, content: &str) -> String {
        self.say_in(self.channel_id(), user_id, content)
            .await
            .unwrap_or_else(|| panic!("no reply to {content:?} within {WAIT:?}"))
    }

    /// `user_id` posts `content` in `channel_id`; the bot's reply to it, or `None` when it
    /// sent none within [`WAIT`] (for messages the bot should ignore, prefer a shorter wait
    /// with [`sent_since`](Self::sent_since)).
    pub async fn say_in(&self, channel_id: u64, user_id: u64, content: &str) -> Option<String> {
        let (_, record) =
            talk::post_and_wait(&self.control(), channel_id, user_id, content, WAIT).await?;
        Some(
            record.body["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// `user_id` uses the slash command `name` with `options` (`[{"name", "type", "value"}]`
    /// as Discord sends them) in [`channel_id`](Self::channel_id); returns the interaction,
    /// whose answer [`slash_answer`](Self::slash_answer) (its text) or
    /// [`callback`](Self::callback) (a form it opened, …) reads. [`slash_line`](Self::slash_line)
    /// types the options for you.
    pub fn slash(&self, user_id: u64, name: &str, options: Value) -> CreatedInteraction {
        self.control()
            .create_interaction(&InteractionSpec {
                guild_id: Some(self.guild.id),
                channel_id: self.channel_id(),
                user_id,
                name: name.to_owned(),
                options,
            })
            .expect("the simulator accepts the interaction")
    }

    /// `user_id` runs the slash command `line` in [`channel_id`](Self::channel_id) as
    /// Discord's client sends it, like the sandbox's `/slash`: `"order drink=beer count=2"`,
    /// `"settings prefix set prefix=?"` — each option typed by what the bot registered (a
    /// choice by its name or value, `@name` or an id for a user, `#channel`); returns the text
    /// of the bot's answer.
    ///
    /// # Panics
    /// When the client would refuse the line (the message names the option: unknown, missing,
    /// wrong type, out of bounds) or the bot does not answer within [`WAIT`].
    pub async fn slash_line(&self, user_id: u64, line: &str) -> String {
        let sent = self
            .control()
            .slash(&sim::CommandLine {
                line: line.to_owned(),
                channel_id: Some(self.channel_id()),
                user_id: Some(user_id),
                timeout_ms: Some(0),
            })
            .await
            .unwrap_or_else(|error| panic!("/{line}: {error}"));
        self.slash_answer(&sent.interaction).await
    }

    /// Waits for the first answer to `interaction` (the callback, or the edit of a deferred
    /// one) and returns its text.
    ///
    /// # Panics
    /// When the bot does not answer within [`WAIT`].
    pub async fn slash_answer(&self, interaction: &CreatedInteraction) -> String {
        let callback = format!(
            "/interactions/{}/{}/callback",
            interaction.id, interaction.token
        );
        let edit = "/webhooks/";
        let record = self
            .control()
            .wait_for_record(0, WAIT, |r| {
                r.kind == "rest"
                    && ((r.path.starts_with(&callback) && r.body["data"]["content"].is_string())
                        || (r.path.starts_with(edit)
                            && r.path.contains(&interaction.token)
                            && r.body["content"].is_string()))
            })
            .await
            .unwrap_or_else(|| panic!("no answer to interaction {}", interaction.id));
        record.body["data"]["content"]
            .as_str()
            .or_else(|| record.body["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// `user_id` posts `content`; returns the id and the request body (content, embeds,
    /// components…) of the bot's reply to it.
    ///
    /// # Panics
    /// When the bot does not reply within [`WAIT`].
    pub async fn say_for_message(&self, user_id: u64, content: &str) -> (u64, Value) {
        let (posted, record) =
            talk::post_and_wait(&self.control(), self.channel_id(), user_id, content, WAIT)
                .await
                .unwrap_or_else(|| panic!("no reply to {content:?} within {WAIT:?}"));
        assert_eq!(record.status, 200, "{record:?}");
        let id = talk::reply_id(&self.sim, posted).expect("the reply is stored");
        (id, record.body)
    }

    /// `user_id` clicks the component `custom_id` of the bot's message `message_id` (with the
    /// chosen `values` for a select menu); returns the bot's answer to the click (the
    /// callback's `type` and `data`).
    ///
    /// # Panics
    /// When the simulator refuses the click (see its reasons) or the bot does not answer.
    pub async fn click(
        &self,
        user_id: u64,
        message_id: u64,
        custom_id: &str,
        values: &[&str],
    ) -> Value {
        let interaction = self
            .control()
            .use_component(&ComponentSpec {
                message_id,
                user_id,
                custom_id: custom_id.to_owned(),
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            })
            .expect("the simulator accepts the click");
        self.callback(&interaction).await
    }

    /// `user_id` submits the form (modal) `custom_id` the bot opened for them, with the text
    /// inputs' `values` by their `custom_id` (inputs left out keep the bot's prefilled value);
    /// returns the bot's answer (the callback's `type` and `data`).
    ///
    /// # Panics
    /// When no such form is open for the user, the simulator refuses the values as Discord's
    /// client would (unknown input, empty required one, wrong length), or the bot does not
    /// answer.
    pub async fn submit(&self, user_id: u64, custom_id: &str, values: &[(&str, &str)]) -> Value {
        let interaction = self
            .control()
            .submit_modal(&sim::ModalSubmitSpec {
                user_id,
                custom_id: custom_id.to_owned(),
                values: values
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            })
            .unwrap_or_else(|error| panic!("submitting {custom_id:?}: {error}"));
        self.callback(&interaction).await
    }

    /// The bot's first response to `interaction` (the callback's `type` and `data`).
    ///
    /// # Panics
    /// When the bot does not answer within [`WAIT`].
    pub async fn callback(&self, interaction: &CreatedInteraction) -> Value {
        talk::callback(&self.control(), 0, interaction, WAIT)
            .await
            .unwrap_or_else(|| panic!("no response to interaction {}", interaction.id))
            .body
    }

    /// A position in the simulator's log, for [`sent_since`](Self::sent_since).
    pub fn mark(&self) -> u64 {
        self.control().log_len()
    }

    /// Messages the bot sent since `mark`, in order.
    pub fn sent_since(&self, mark: u64) -> Vec<Sent> {
        self.control()
            .log(mark, Some("rest"))
            .into_iter()
            .filter(|r| r.method == "POST" && r.status == 200)
            .filter_map(|r| {
                let channel_id = r
                    .path
                    .strip_prefix("/channels/")?
                    .strip_suffix("/messages")?
                    .parse()
                    .ok()?;
                Some(Sent {
                    channel_id,
                    content: r.body["content"].as_str().unwrap_or_default().to_owned(),
                    body: r.body,
                })
            })
            .collect()
    }

    /// Waits until the bot sent a message (since `mark`) that `matches`.
    ///
    /// # Panics
    /// When none comes within [`WAIT`].
    pub async fn wait_for_message(&self, mark: u64, matches: impl Fn(&Sent) -> bool) -> Sent {
        swarmcord_testkit::eventually(WAIT, || {
            let found = self.sent_since(mark).into_iter().find(|sent| matches(sent));
            async move { found }
        })
        .await
        .unwrap_or_else(|| panic!("the bot sent no matching message within {WAIT:?}"))
    }

    /// Stops the worker and the gateway (as SIGTERM does) and drops the test database.
    ///
    /// # Panics
    /// When the worker failed.
    pub async fn stop(self) {
        self.stop.cancel();
        let worker = self.worker.await.expect("the worker task does not panic");
        let _ = self.gateway.await;
        if let Ok(store) = swarmcord::store::Store::connect(
            &mongo_url(),
            &self.database,
            swarmcord::store::StoreOptions::default(),
        )
        .await
        {
            let _ = store.drop_database().await;
        }
        worker.expect("the worker stops cleanly");
    }
}
