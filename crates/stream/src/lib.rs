//! The worker side of swarmcord's event stream.
//!
//! Worker replicas share one durable queue (competing consumers) bound to the event types the
//! bot handles. [`run`] consumes it and calls a [`Handler`] for every event:
//!
//! - **ack only after the handler finished**: a worker killed mid-event leaves the delivery
//!   unacknowledged, and RabbitMQ gives it to another worker;
//! - **de-duplication**: a redelivered event whose handling already completed (`done` marker
//!   `{prefix}:event:{session_id}:{seq}` in Redis, with a TTL) is acknowledged without running the
//!   handler again; handlers make their own side effects idempotent for the window between the
//!   side effect and the marker (for example with Discord's `enforce_nonce`). An event with a
//!   `content_id` header (forwarded while two shard sets overlap during resharding) runs only
//!   for the copy that first claimed its content in Redis (`dedupe.rs`);
//! - **per-guild order**: within a worker, events of one guild run one after another, in
//!   delivery order, on a lane of their own; different guilds run concurrently (up to the
//!   prefetch count). Across workers RabbitMQ gives no order, so handlers that need strict
//!   cross-event order must not depend on it;
//! - **bad input never panics a worker**: missing or malformed headers, a body that is not
//!   JSON, or a handler that keeps failing end up in the dead-letter queue with the reason in
//!   `x-swarmcord-reject-reason`; a transient failure is retried up to `max_attempts` times,
//!   each retry after its delay in `retry_delays` (a delay queue per delay);
//! - **graceful drain**: on shutdown the consumer is cancelled, in-flight events finish and are
//!   acknowledged, then the connection closes.

use std::collections::HashMap;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use swarmcord_broker::{BrokerError, Incoming};
use swarmcord_protocol::amqp::EventHeaders;
use swarmcord_protocol::backoff::Backoff;
use swarmcord_secret::Secret;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod dedupe;

/// One forwarded Discord event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event type (the routing key the gateway published it with, kept across
    /// retries), e.g. `MESSAGE_CREATE`.
    pub kind: String,
    /// Where it came from.
    pub headers: EventHeaders,
    /// The raw `d` payload, as Discord sent it.
    pub body: Bytes,
    /// The guild it belongs to, if any.
    pub guild_id: Option<u64>,
    /// The gateway's reply queue (for gateway commands).
    pub reply_to: Option<String>,
    /// Whether RabbitMQ delivered it before (to a worker that did not acknowledge it).
    pub redelivered: bool,
}

/// What the consumer does with an event whose handling failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerErrorType {
    /// A transient failure (a service unreachable, a timeout): try again later.
    Retry,
    /// The event can never be handled (poison): dead-letter it now.
    Reject,
}

/// How handling an event failed: what to do with the event ([`HandlerErrorType`]), why, and
/// the underlying error when there is one.
#[derive(Debug)]
pub struct HandlerError {
    kind: HandlerErrorType,
    reason: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl HandlerError {
    /// A transient failure: the event is retried later.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self {
            kind: HandlerErrorType::Retry,
            reason: reason.into(),
            source: None,
        }
    }

    /// A poison event: it is dead-lettered now.
    pub fn reject(reason: impl Into<String>) -> Self {
        Self {
            kind: HandlerErrorType::Reject,
            reason: reason.into(),
            source: None,
        }
    }

    /// The same failure, caused by `source`.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Whether the event is retried or dead-lettered.
    pub fn kind(&self) -> HandlerErrorType {
        self.kind
    }

    /// The whole explanation (the reason, then its source): the text of a dead-letter's
    /// `x-death-reason`.
    pub fn reason(&self) -> String {
        match &self.source {
            Some(source) => format!("{}: {source}", self.reason),
            None => self.reason.clone(),
        }
    }

    /// The underlying error, if any.
    pub fn into_source(self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        self.source
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            HandlerErrorType::Retry => "transient failure",
            HandlerErrorType::Reject => "rejected",
        };
        write!(f, "{what}: {}", self.reason())
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

pub use futures_util::future::BoxFuture;

/// What a worker does with an event.
pub trait Handler: Send + Sync + 'static {
    /// Handles one event. The event is acknowledged only after this returns `Ok`.
    fn handle(&self, event: Event) -> BoxFuture<'_, Result<(), HandlerError>>;
}

/// The default delays before the retries of a failed event, in milliseconds.
pub const DEFAULT_RETRY_DELAYS_MS: [u64; 3] = [1000, 5000, 30_000];

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// AMQP URL (never logged: `Debug` prints it redacted).
    pub amqp_url: Secret,
    /// The topic exchange the gateways publish to.
    pub exchange: String,
    /// The shared durable work queue.
    pub queue: String,
    /// Event types to bind (routing keys; `#` for every event).
    pub bindings: Vec<String>,
    /// Dead-letter exchange of the work queue.
    pub dead_letter_exchange: String,
    /// Deliveries in flight per worker (`basic.qos`).
    pub prefetch: u16,
    /// Failed handling attempts before an event is dead-lettered.
    pub max_attempts: u64,
    /// How long the retry after the 1st, 2nd, … failure waits (the last delay repeats).
    pub retry_delays: Vec<Duration>,
    /// Redis key prefix (the cluster's).
    pub redis_prefix: String,
    /// How long a completed event is remembered for de-duplication.
    pub dedupe_ttl: Duration,
    /// How long the first copy of a dispatch with a `content_id` header holds its claim (the
    /// other copies arriving within it are skipped).
    pub content_claim_ttl: Duration,
    /// How long shutdown waits for in-flight events.
    pub drain_timeout: Duration,
    /// Name shown in the broker's connection list and in dead-letter headers.
    pub service_name: String,
}

impl ConsumerConfig {
    /// Settings with the defaults: prefetch 32, 5 attempts retried after 1 s, 5 s, 30 s and
    /// 30 s, 1 hour de-duplication, 10 minute content claims, 10 s drain.
    pub fn new(
        amqp_url: impl Into<Secret>,
        exchange: impl Into<String>,
        queue: impl Into<String>,
    ) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            exchange: exchange.into(),
            queue: queue.into(),
            bindings: vec!["#".to_owned()],
            dead_letter_exchange: swarmcord_protocol::amqp::DEAD_LETTER_EXCHANGE.to_owned(),
            prefetch: 32,
            max_attempts: 5,
            retry_delays: DEFAULT_RETRY_DELAYS_MS
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            redis_prefix: "swarmcord".to_owned(),
            dedupe_ttl: Duration::from_secs(3600),
            content_claim_ttl: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(10),
            service_name: "worker".to_owned(),
        }
    }
}

/// Shared state of one consumer.
struct Shared<H> {
    config: ConsumerConfig,
    redis: ConnectionManager,
    handler: Arc<H>,
}

/// Consumes events until `shutdown` is cancelled, reconnecting after connection losses.
/// `on_state` is told whether the consumer is attached (for readiness).
pub async fn run<H: Handler>(
    config: ConsumerConfig,
    redis: ConnectionManager,
    handler: Arc<H>,
    on_state: impl Fn(bool) + Send + Sync,
    shutdown: CancellationToken,
) {
    register_metrics(&config.bindings);
    let shared = Arc::new(Shared {
        config,
        redis,
        handler,
    });
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    while !shutdown.is_cancelled() {
        match consume_once(&shared, &on_state, &mut backoff, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                on_state(false);
                tracing::warn!(%error, "event consumer disconnected; reconnecting");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// One connection's worth of consuming (the reconnect delays start over once consuming).
/// `Ok` = shut down cleanly.
async fn consume_once<H: Handler>(
    shared: &Arc<Shared<H>>,
    on_state: &(impl Fn(bool) + Send + Sync),
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Result<(), BrokerError> {
    let config = &shared.config;
    let connection =
        swarmcord_broker::connect(config.amqp_url.expose(), &config.service_name).await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|source| BrokerError::Amqp {
            operation: "channel.open".to_owned(),
            source,
        })?;
    swarmcord_broker::declare_events_exchange(&channel, &config.exchange).await?;
    swarmcord_broker::declare_dead_letters_named(
        &channel,
        &config.dead_letter_exchange,
        &dead_letter_queue(config),
    )
    .await?;
    let bindings: Vec<&str> = config.bindings.iter().map(String::as_str).collect();
    swarmcord_broker::declare_work_queue_with_dead_letters(
        &channel,
        &config.queue,
        &bindings,
        &config.exchange,
        &config.dead_letter_exchange,
    )
    .await?;
    swarmcord_broker::declare_retry_queues(&channel, &config.queue, &config.retry_delays).await?;
    let options = swarmcord_broker::ConsumeOptions::new(&config.queue, config.prefetch, "")
        .dead_letter_exchange(&config.dead_letter_exchange)
        .retry_delays(config.retry_delays.clone());
    let mut deliveries = swarmcord_broker::consume_with(&channel, options).await?;
    on_state(true);
    backoff.reset();
    tracing::info!(queue = %config.queue, prefetch = config.prefetch, "consuming events");

    let permits = Arc::new(Semaphore::new(usize::from(config.prefetch.max(1))));
    let mut lanes: HashMap<u64, mpsc::UnboundedSender<Delivery>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let outcome = loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => next,
        };
        let incoming = match next {
            Some(Ok(incoming)) => incoming,
            Some(Err(error)) => break Err(error),
            None => break Err(BrokerError::Disconnected),
        };
        // Reap finished lane tasks so the map does not grow with every guild ever seen.
        while let Some(done) = tasks.try_join_next() {
            if let Ok(guild) = done {
                lanes.retain(|g, tx| *g != guild || !tx.is_closed());
            }
        }
        // The body is scanned once, here: its guild picks the lane, and a body that is not
        // JSON is dead-lettered by the lane (in order with the guild's other events).
        let probed = probe(incoming.body());
        let guild = probed.as_ref().ok().copied().flatten().unwrap_or(0);
        let delivery = Delivery { incoming, probed };
        if let Some(lane) = lanes.get(&guild) {
            if let Err(mpsc::error::SendError(incoming)) = lane.send(delivery) {
                // The lane just finished; start a new one.
                lanes.insert(
                    guild,
                    spawn_lane(shared, guild, incoming, &permits, &mut tasks),
                );
            }
        } else {
            lanes.insert(
                guild,
                spawn_lane(shared, guild, delivery, &permits, &mut tasks),
            );
        }
    };
    on_state(false);
    // Stop receiving, let in-flight events finish (they are acked), then close.
    drop(lanes);
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("in-flight events did not finish in time; they will be redelivered");
        tasks.abort_all();
    }
    let _ = channel.close(200, "shutting down".into()).await;
    let _ = connection.close(200, "shutting down".into()).await;
    outcome
}

/// The outcomes of `swarmcord_worker_events_total`: `duplicate` counts both a redelivery of a
/// handled event and the second copy of a dispatch (`content_id`).
const OUTCOMES: [&str; 4] = ["handled", "duplicate", "retried", "dead_lettered"];

/// Describes the event counters and registers them at zero for every bound event type (a
/// wildcard binding registers nothing: the types are not known in advance).
fn register_metrics(bindings: &[String]) {
    metrics::describe_counter!(
        "swarmcord_worker_events_total",
        "Events settled by the worker, by event type and outcome"
    );
    for event in bindings
        .iter()
        .filter(|binding| swarmcord_protocol::amqp::is_event_type(binding))
    {
        for outcome in OUTCOMES {
            metrics::counter!("swarmcord_worker_events_total", "event" => event.clone(), "outcome" => outcome)
                .increment(0);
        }
    }
}

fn dead_letter_queue(config: &ConsumerConfig) -> String {
    if config.dead_letter_exchange == swarmcord_protocol::amqp::DEAD_LETTER_EXCHANGE {
        swarmcord_protocol::amqp::DEAD_LETTER_QUEUE.to_owned()
    } else {
        format!("{}-letters", config.dead_letter_exchange)
    }
}

/// Starts a lane for `guild` with `first` as its first event. The lane ends when it has been
/// idle for a moment; it returns its guild id.
fn spawn_lane<H: Handler>(
    shared: &Arc<Shared<H>>,
    guild: u64,
    first: Delivery,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<u64>,
) -> mpsc::UnboundedSender<Delivery> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
    let shared = Arc::clone(shared);
    let permits = Arc::clone(permits);
    tasks.spawn(async move {
        let mut next = Some(first);
        while let Some(incoming) = next.take() {
            let _permit = permits.acquire().await;
            process(&shared, incoming).await;
            next = match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(item) => item,
                Err(_idle) => {
                    rx.close();
                    // Events sent between the timeout and the close still belong to this lane.
                    rx.try_recv().ok()
                }
            };
        }
        guild
    });
    tx
}

/// A delivery and what one scan of its body found: the guild it belongs to, or why the body
/// is not a JSON object.
struct Delivery {
    incoming: Incoming,
    probed: Result<Option<u64>, String>,
}

/// Validates that `body` is a JSON object and reads its `guild_id` (a snowflake string; any
/// other value, or none, means no guild) in a single pass.
fn probe(body: &[u8]) -> Result<Option<u64>, String> {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        guild_id: Option<&'a serde_json::value::RawValue>,
    }
    let probe = serde_json::from_slice::<Probe<'_>>(body).map_err(|e| e.to_string())?;
    Ok(probe
        .guild_id
        .and_then(|raw| serde_json::from_str::<&str>(raw.get()).ok())
        .and_then(|id| id.parse().ok()))
}

/// Whether a content type is JSON (`application/json`, with parameters or not); events
/// without a content type are judged by their body alone.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/json"))
}

/// Handles one delivery end to end: validate, de-duplicate, handle, settle.
async fn process<H: Handler>(shared: &Shared<H>, delivery: Delivery) {
    let Delivery { incoming, probed } = delivery;
    let config = &shared.config;
    let settle = |result: Result<(), BrokerError>| {
        if let Err(error) = result {
            tracing::warn!(%error, "could not settle a delivery (it will be redelivered)");
        }
    };
    // The event type is the routing key the gateway published with; a retry copy carries it
    // in a header (its own routing key is the queue's name).
    let kind = match incoming.original_routing_key() {
        Ok(kind) => kind,
        Err(error) => {
            let reason = format!("malformed event type header: {error}");
            tracing::warn!(%reason, "dead-lettering an event");
            metrics::counter!("swarmcord_worker_events_total", "event" => "unknown", "outcome" => "dead_lettered").increment(1);
            settle(incoming.dead_letter(&reason, &config.service_name).await);
            return;
        }
    };
    tracing::debug!(
        kind,
        redelivered = incoming.redelivered(),
        attempts = incoming.attempts().unwrap_or_default(),
        "event received"
    );
    let headers = match incoming.event_headers() {
        Ok(headers) => headers,
        Err(error) => {
            let reason = format!("malformed event headers: {error}");
            tracing::warn!(%reason, kind, "dead-lettering an event");
            metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "dead_lettered").increment(1);
            settle(incoming.dead_letter(&reason, &config.service_name).await);
            return;
        }
    };
    let probed = match incoming.properties().content_type() {
        Some(kind) if !is_json(kind.as_str()) => {
            Err(format!("content type {:?} is not JSON", kind.as_str()))
        }
        _ => probed,
    };
    let guild_id = match probed {
        Ok(guild_id) => guild_id,
        Err(error) => {
            let reason = format!("event body is not a JSON object: {error}");
            tracing::warn!(%reason, kind, "dead-lettering an event");
            metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "dead_lettered").increment(1);
            settle(incoming.dead_letter(&reason, &config.service_name).await);
            return;
        }
    };
    let mut redis = shared.redis.clone();
    let event_id = headers.event_id();
    let content_id = headers.content_id.as_deref();
    if dedupe::is_duplicate(&mut redis, config, &kind, &event_id, content_id).await {
        metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "duplicate").increment(1);
        settle(incoming.ack().await);
        return;
    }
    let event = Event {
        kind: kind.clone(),
        guild_id,
        reply_to: incoming.reply_to().map(str::to_owned),
        redelivered: incoming.redelivered(),
        body: Bytes::copy_from_slice(incoming.body()),
        headers,
    };
    let started = std::time::Instant::now();
    // A panicking handler must not take the worker down: run it on its own task.
    let handler = Arc::clone(&shared.handler);
    let result = match tokio::spawn(async move { handler.handle(event).await }).await {
        Ok(result) => result,
        Err(join) => Err(HandlerError::retry("the handler panicked").with_source(join)),
    };
    metrics::histogram!("swarmcord_worker_event_seconds", "event" => kind.clone())
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            dedupe::mark_done(&mut redis, config, &event_id).await;
            metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "handled").increment(1);
            settle(incoming.ack().await);
        }
        Err(error) if error.kind() == HandlerErrorType::Reject => {
            let reason = error.reason();
            tracing::warn!(%reason, kind, "handler rejected an event; dead-lettering");
            metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "dead_lettered").increment(1);
            settle(incoming.dead_letter(&reason, &config.service_name).await);
        }
        Err(error) => {
            let reason = error.reason();
            tracing::warn!(%reason, kind, "handling failed; retrying");
            match incoming
                .retry_or_dead_letter(config.max_attempts, &reason, &config.service_name)
                .await
            {
                Ok(swarmcord_broker::Disposition::DeadLettered) => {
                    metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "dead_lettered").increment(1);
                }
                Ok(_) => {
                    metrics::counter!("swarmcord_worker_events_total", "event" => kind, "outcome" => "retried").increment(1);
                }
                Err(error) => settle(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_error_keeps_its_source_and_explains_itself_whole() {
        let parse = serde_json::from_slice::<u8>(b"x").expect_err("not JSON");
        let text = parse.to_string();
        let error =
            HandlerError::reject("MESSAGE_CREATE payload does not parse").with_source(parse);
        assert_eq!(error.kind(), HandlerErrorType::Reject);
        assert_eq!(
            error.reason(),
            format!("MESSAGE_CREATE payload does not parse: {text}")
        );
        assert_eq!(error.to_string(), format!("rejected: {}", error.reason()));
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.is::<serde_json::Error>());
        let plain = HandlerError::retry("Discord REST timed out");
        assert_eq!(plain.kind(), HandlerErrorType::Retry);
        assert_eq!(
            plain.to_string(),
            "transient failure: Discord REST timed out"
        );
        assert!(plain.into_source().is_none());
    }

    #[test]
    fn only_json_content_types_are_accepted() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json(""));
    }

    #[test]
    fn the_amqp_url_never_prints() {
        let config = ConsumerConfig::new("amqp://u:hunter2@h/%2f", "e", "q");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.amqp_url.expose(), "amqp://u:hunter2@h/%2f");
    }

    #[test]
    fn one_scan_validates_the_body_and_reads_the_guild() {
        assert_eq!(
            probe(br#"{"id":"1","guild_id":"42","content":"x"}"#),
            Ok(Some(42))
        );
        assert_eq!(probe(br#"{"id":"1"}"#), Ok(None));
        assert_eq!(probe(br#"{"guild_id":null}"#), Ok(None));
        assert_eq!(
            probe(br#"{"guild_id":7}"#),
            Ok(None),
            "a number is not a snowflake string"
        );
        assert!(probe(b"not json").is_err());
        assert!(probe(br#"{"guild_id":"1""#).is_err(), "truncated");
        assert!(probe(b"[1,2]").is_err(), "not an object");
    }
}
