//! A confirmed publisher with a pipelined window, a bounded buffer and its own reconnect loop.
//!
//! ```text
//! publish(Outgoing) ──▶ [ buffer: at most `buffer` messages and `buffer_bytes` bytes,
//!                          accepted and not yet confirmed ]
//!   (waits when full)          │  background task, owns the connection and a confirm channel
//!                              ▼
//!                       at most `window` publishes awaiting their confirm
//!                              │  ack ─▶ Confirmed { ticket } on the receiver, in publish order
//!                              │  nack ─▶ published again (after a short pause)
//!                              ▼  connection lost ─▶ reconnect with backoff, set up the topology,
//!                                   publish every unconfirmed message again, in order
//! ```
//!
//! Nothing accepted by [`Publisher::publish`] is dropped while the publisher runs: a message
//! leaves the buffer only when the broker has confirmed it. The price is at-least-once delivery:
//! a message whose confirm was lost with the connection is published again, so consumers see a
//! bounded number of duplicates (at most `window` per connection loss) and must be idempotent.
//!
//! lapin's automatic recovery is deliberately not used (confirms of publishes from before a
//! recovery fail): the publisher's task opens a fresh connection itself and runs the caller's
//! topology set-up on it before publishing.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel};
use swarmcord_protocol::amqp::HeaderValue;
use swarmcord_protocol::backoff::Backoff;
use swarmcord_secret::Secret;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::headers::{field_table, short};
use crate::{BrokerError, ByteBudget, Reserved};

mod task;
mod window;

use task::{Metrics, Task};
use window::ConfirmWindow;

/// Gauge: messages accepted by [`Publisher::publish`] and not yet confirmed (waiting or in
/// flight). Label `connection`.
pub const METRIC_BUFFER: &str = "swarmcord_broker_publish_buffer";
/// Histogram (seconds): from [`Publisher::publish`] accepting a message to its confirm.
pub const METRIC_CONFIRM_SECONDS: &str = "swarmcord_broker_publish_confirm_seconds";
/// Counter: messages confirmed by the broker.
pub const METRIC_PUBLISHED: &str = "swarmcord_broker_published_total";
/// Counter: publishes repeated after a nack or a connection loss.
pub const METRIC_REPUBLISHED: &str = "swarmcord_broker_republished_total";
/// Gauge: 1 while the publisher has a usable connection, else 0.
pub const METRIC_CONNECTED: &str = "swarmcord_broker_connected";

/// Registers the descriptions of the publisher's metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        METRIC_BUFFER,
        "Messages accepted by the publisher and not yet confirmed by RabbitMQ"
    );
    metrics::describe_histogram!(
        METRIC_CONFIRM_SECONDS,
        metrics::Unit::Seconds,
        "Time from publish() to the broker's confirm"
    );
    metrics::describe_counter!(METRIC_PUBLISHED, "Messages confirmed by RabbitMQ");
    metrics::describe_counter!(
        METRIC_REPUBLISHED,
        "Publishes repeated after a nack or a connection loss"
    );
    metrics::describe_gauge!(METRIC_CONNECTED, "1 while the publisher is connected");
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Exchange (`""` is the default exchange, which routes by queue name).
    pub exchange: String,
    /// Routing key (the event type for dispatches, the queue name on the default exchange).
    pub routing_key: String,
    /// Payload, published as is.
    pub body: Bytes,
    /// AMQP headers (for events: [`swarmcord_protocol::amqp::EventHeaders::to_map`]).
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// The AMQP `reply_to` property (a gateway's reply queue).
    pub reply_to: Option<String>,
    /// The AMQP `type` property (the event type).
    pub kind: Option<String>,
    /// The AMQP `content_type` property (`application/json` for dispatches).
    pub content_type: Option<String>,
    /// Opaque to the publisher; handed back in [`Confirmed`] once the broker confirmed.
    pub ticket: u64,
}

impl Outgoing {
    /// A message with no headers, no properties and ticket 0.
    pub fn new(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            body: body.into(),
            headers: Vec::new(),
            reply_to: None,
            kind: None,
            content_type: None,
            ticket: 0,
        }
    }

    /// Adds one header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds headers, e.g. `EventHeaders::to_map()`.
    #[must_use]
    pub fn headers(
        mut self,
        headers: impl IntoIterator<Item = (&'static str, HeaderValue)>,
    ) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sets `reply_to`.
    #[must_use]
    pub fn reply_to(mut self, queue: impl Into<String>) -> Self {
        self.reply_to = Some(queue.into());
        self
    }

    /// Sets the AMQP `type` property.
    #[must_use]
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Sets `content_type`.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the ticket reported back in [`Confirmed`].
    #[must_use]
    pub fn ticket(mut self, ticket: u64) -> Self {
        self.ticket = ticket;
        self
    }
}

/// The broker confirmed the message published with this ticket. Reported in publish order:
/// every earlier message is confirmed too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Confirmed {
    /// [`Outgoing::ticket`].
    pub ticket: u64,
}

/// Runs on every new connection, on a fresh channel, before anything is (re)published: declare
/// the exchanges (and queues) the messages need. An error closes the connection and the
/// publisher retries later.
pub type SetupHook =
    Arc<dyn Fn(Channel) -> BoxFuture<'static, Result<(), BrokerError>> + Send + Sync>;

/// How a [`Publisher`] connects and how much it holds.
#[derive(Clone)]
pub struct PublisherConfig {
    /// AMQP URL (never logged: see [`crate::redact_url`]).
    pub url: Secret,
    /// Connection name shown by RabbitMQ.
    pub connection_name: String,
    /// Maximum messages accepted and not yet confirmed; [`Publisher::publish`] waits when full.
    pub buffer: usize,
    /// Maximum bytes of message bodies (plus a small overhead each) accepted and not yet
    /// confirmed; [`Publisher::publish`] waits when full.
    pub buffer_bytes: usize,
    /// Maximum publishes awaiting a confirm at once.
    pub window: usize,
    /// Publish with delivery mode 2 (persistent), so that durable queues keep the messages
    /// across a broker restart.
    pub persistent: bool,
    /// First delay before reconnecting; doubles on each failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest delay between reconnect attempts.
    pub reconnect_max: Duration,
    /// Time limit of a connection attempt (TCP, AMQP handshake) and, separately, of the set-up.
    pub connect_timeout: Duration,
    /// Topic exchanges declared (durable) on every new connection.
    pub exchanges: Vec<String>,
    /// More set-up on every new connection, after `exchanges`.
    pub setup: Option<SetupHook>,
}

impl fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherConfig")
            .field("url", &self.url.redacted_url())
            .field("connection_name", &self.connection_name)
            .field("buffer", &self.buffer)
            .field("buffer_bytes", &self.buffer_bytes)
            .field("window", &self.window)
            .field("persistent", &self.persistent)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("exchanges", &self.exchanges)
            .field("setup", &self.setup.is_some())
            .finish()
    }
}

impl PublisherConfig {
    /// Defaults: buffer 10 000 messages and 64 MiB, window 1024, persistent, reconnect delays 100 ms .. 5 s,
    /// connect timeout 10 s, nothing declared.
    pub fn new(url: impl Into<Secret>, connection_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            buffer: 10_000,
            buffer_bytes: 64 << 20,
            window: 1024,
            persistent: true,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: crate::CONNECT_TIMEOUT,
            exchanges: Vec::new(),
            setup: None,
        }
    }

    /// Sets [`Self::buffer`].
    #[must_use]
    pub fn buffer(mut self, messages: usize) -> Self {
        self.buffer = messages;
        self
    }

    /// Sets [`Self::buffer_bytes`].
    #[must_use]
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Sets [`Self::window`].
    #[must_use]
    pub fn window(mut self, publishes: usize) -> Self {
        self.window = publishes;
        self
    }

    /// Sets both reconnect delays.
    #[must_use]
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Adds a topic exchange to declare on every connection.
    #[must_use]
    pub fn declare_exchange(mut self, name: impl Into<String>) -> Self {
        self.exchanges.push(name.into());
        self
    }

    /// Sets the set-up hook (see [`SetupHook`]).
    #[must_use]
    pub fn setup<F, Fut>(mut self, setup: F) -> Self
    where
        F: Fn(Channel) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BrokerError>> + Send + 'static,
    {
        self.setup = Some(Arc::new(move |channel| setup(channel).boxed()));
        self
    }
}

/// A message ready for `basic.publish`.
struct Prepared {
    ticket: u64,
    exchange: ShortString,
    routing_key: ShortString,
    body: Bytes,
    properties: BasicProperties,
    accepted_at: Instant,
}

fn prepare(message: Outgoing, persistent: bool) -> Result<Prepared, BrokerError> {
    let mut properties = BasicProperties::default();
    if !message.headers.is_empty() {
        properties =
            properties.with_headers(field_table(message.headers.iter().map(|(n, v)| (*n, v)))?);
    }
    if persistent {
        properties = properties.with_delivery_mode(2);
    }
    if let Some(reply_to) = &message.reply_to {
        properties = properties.with_reply_to(short("reply_to", reply_to)?);
    }
    if let Some(kind) = &message.kind {
        properties = properties.with_type(short("type", kind)?);
    }
    if let Some(content_type) = &message.content_type {
        properties = properties.with_content_type(short("content_type", content_type)?);
    }
    Ok(Prepared {
        ticket: message.ticket,
        exchange: short("exchange", &message.exchange)?,
        routing_key: short("routing key", &message.routing_key)?,
        body: message.body,
        properties,
        accepted_at: Instant::now(),
    })
}

struct Queued {
    seq: u64,
    message: Prepared,
    /// Its share of the byte budget, given back when the slot is dropped (confirmed).
    bytes: Reserved,
}

/// The sending side, under one lock so that sequence numbers reach the task in order.
struct Sender {
    next_seq: u64,
    tx: mpsc::UnboundedSender<Queued>,
}

struct Handle {
    capacity: usize,
    persistent: bool,
    permits: Arc<Semaphore>,
    bytes: ByteBudget,
    sender: Mutex<Sender>,
    confirmed: watch::Receiver<u64>,
    connected: watch::Receiver<bool>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A confirmed publisher; cheap to clone (all clones feed the same task).
///
/// Dropping the last clone lets the task finish what is buffered (until everything is
/// confirmed) and then close its connection; [`Publisher::close`] stops at once.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Handle>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("buffered", &self.buffered())
            .field("capacity", &self.inner.capacity)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Starts the publisher's task (which connects in the background) and returns the handle
    /// and the receiver of [`Confirmed`] reports.
    ///
    /// Reports are unbounded (16 bytes each): read them, or drop the receiver if they do not
    /// matter. Must be called within a Tokio runtime.
    pub fn start(config: PublisherConfig) -> (Self, mpsc::UnboundedReceiver<Confirmed>) {
        let capacity = config.buffer.max(1);
        let reconnect_max = config.reconnect_max;
        let permits = Arc::new(Semaphore::new(capacity));
        let (tx, rx) = mpsc::unbounded_channel();
        let (confirmed_tx, confirmed_rx) = mpsc::unbounded_channel();
        let (count_tx, count_rx) = watch::channel(0);
        let (connected_tx, connected_rx) = watch::channel(false);
        let cancel = CancellationToken::new();
        let labels = [("connection", config.connection_name.clone())];
        let metrics = Metrics {
            buffer: metrics::gauge!(METRIC_BUFFER, &labels),
            confirm_seconds: metrics::histogram!(METRIC_CONFIRM_SECONDS, &labels),
            published: metrics::counter!(METRIC_PUBLISHED, &labels),
            republished: metrics::counter!(METRIC_REPUBLISHED, &labels),
            connected: metrics::gauge!(METRIC_CONNECTED, &labels),
        };
        let persistent = config.persistent;
        let buffer_bytes = config.buffer_bytes;
        let task = Task {
            window: ConfirmWindow::new(config.window),
            config,
            capacity,
            permits: Arc::clone(&permits),
            rx,
            rx_open: true,
            confirmed_tx,
            confirmed_count: count_tx,
            connected: connected_tx,
            cancel: cancel.clone(),
            hold_until: None,
            nack_backoff: Backoff::new(Duration::from_millis(50), reconnect_max),
            metrics,
        };
        let join = tokio::spawn(task.run());
        let publisher = Self {
            inner: Arc::new(Handle {
                capacity,
                persistent,
                permits,
                bytes: ByteBudget::new(buffer_bytes),
                sender: Mutex::new(Sender { next_seq: 0, tx }),
                confirmed: count_rx,
                connected: connected_rx,
                cancel,
                task: Mutex::new(Some(join)),
            }),
        };
        (publisher, confirmed_rx)
    }

    /// Hands a message to the publisher. Returns once it is buffered, **waiting while the
    /// buffer is full** (that is the back-pressure: a gateway stops reading its shards rather
    /// than drop events). It is confirmed later, reported by its ticket.
    ///
    /// Fails at once for a message that cannot be encoded (a name over 255 bytes, a header
    /// integer over `i64::MAX`) and after [`Publisher::close`].
    pub async fn publish(&self, message: Outgoing) -> Result<(), BrokerError> {
        let prepared = prepare(message, self.inner.persistent)?;
        let permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| BrokerError::Closed)?;
        let bytes = self
            .inner
            .bytes
            .reserve(prepared.body.len())
            .await
            .ok_or(BrokerError::Closed)?;
        let mut sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let seq = sender.next_seq;
        let queued = Queued {
            seq,
            message: prepared,
            bytes,
        };
        if sender.tx.send(queued).is_err() {
            // The task is gone; the permit returns to the (closed) semaphore on drop.
            return Err(BrokerError::Closed);
        }
        sender.next_seq = seq + 1;
        // The task gives the permit back when the broker confirms the message.
        permit.forget();
        Ok(())
    }

    /// Messages accepted and not yet confirmed (waiting, in flight, or to be published again).
    pub fn buffered(&self) -> usize {
        self.inner
            .capacity
            .saturating_sub(self.inner.permits.available_permits())
    }

    /// Bytes held by messages accepted and not yet confirmed (see [`ByteBudget::held`]).
    pub fn buffered_bytes(&self) -> usize {
        self.inner.bytes.held()
    }

    /// The buffer's capacity ([`PublisherConfig::buffer`]).
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Whether the task currently has a connection with its topology set up.
    pub fn is_connected(&self) -> bool {
        *self.inner.connected.borrow()
    }

    /// Waits until the publisher is connected (`false` if `timeout` passed first, or if the
    /// publisher is closed).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.inner.connected.clone();
        matches!(
            tokio::time::timeout(timeout, connected.wait_for(|c| *c)).await,
            Ok(Ok(_))
        )
    }

    /// Number of messages confirmed since the start.
    pub fn confirmed_count(&self) -> u64 {
        *self.inner.confirmed.borrow()
    }

    /// Waits until every message accepted before this call is confirmed (graceful shutdown).
    pub async fn flush(&self, timeout: Duration) -> Result<(), BrokerError> {
        let target = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_seq;
        let mut confirmed = self.inner.confirmed.clone();
        let waited = tokio::time::timeout(timeout, confirmed.wait_for(|c| *c >= target))
            .await
            .map(|result| result.map(drop));
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(BrokerError::Closed),
            Err(_) => {
                let done = *confirmed.borrow();
                Err(BrokerError::FlushTimeout {
                    unconfirmed: usize::try_from(target.saturating_sub(done)).unwrap_or(usize::MAX),
                    after: timeout,
                })
            }
        }
    }

    /// Stops now: later and waiting `publish` calls fail with [`BrokerError::Closed`], the
    /// connection is closed, and messages not yet confirmed are dropped (call
    /// [`Publisher::flush`] first to avoid that). Returns when the task has ended.
    pub async fn close(&self) {
        self.inner.permits.close();
        self.inner.bytes.close();
        self.inner.cancel.cancel();
        let join = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(join) = join
            && let Err(error) = join.await
        {
            warn!(%error, "publisher task ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_sets_properties_and_refuses_bad_names() {
        let message = Outgoing::new("ex", "MESSAGE_CREATE", &b"{}"[..])
            .header("seq", HeaderValue::U64(5))
            .reply_to("gateway.g1")
            .kind("MESSAGE_CREATE")
            .content_type("application/json")
            .ticket(9);
        let prepared = prepare(message, true).expect("valid");
        assert_eq!(prepared.ticket, 9);
        assert_eq!(prepared.properties.delivery_mode(), &Some(2));
        assert_eq!(
            prepared.properties.kind().as_ref().map(ShortString::as_str),
            Some("MESSAGE_CREATE")
        );
        assert!(prepared.properties.headers().is_some());

        let long = Outgoing::new("ex", "k".repeat(256), Bytes::new());
        assert!(matches!(
            prepare(long, true),
            Err(BrokerError::NameTooLong {
                what: "routing key",
                len: 256
            })
        ));
        let big = Outgoing::new("ex", "k", Bytes::new()).header("n", HeaderValue::U64(u64::MAX));
        assert!(prepare(big, false).is_err());
    }

    #[test]
    fn config_debug_hides_the_password() {
        let config = PublisherConfig::new("amqp://u:topsecret@h:5672/%2f", "test");
        let text = format!("{config:?}");
        assert!(!text.contains("topsecret"), "{text}");
    }
}
