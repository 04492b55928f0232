//! Consuming with manual acks, retries and dead-lettering that says why.
//!
//! A plain `basic.nack` (or `reject`) cannot add headers, so [`Incoming::dead_letter`]
//! publishes a copy of the message to the dead-letter exchange with
//! [`header::REJECT_REASON`] and [`header::REJECTED_BY`] (waiting for the broker's confirm) and
//! only then acks the original. If the process dies in between, the original is redelivered and
//! may be dead-lettered twice: dead-letter consumers (humans, mostly) see at-least-once copies.
//!
//! After a connection loss, every [`Incoming`] of the old channel can no longer be acked:
//! [`Incoming::ack`] returns [`BrokerError::AckLost`] (it never panics) and the broker
//! redelivers the message, so handlers must be idempotent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Consumer};
use swarmcord_protocol::amqp::{DEAD_LETTER_EXCHANGE, EventHeaders, HeaderValue, header};

use crate::BrokerError;
use crate::headers::{
    ATTEMPTS, ORIGINAL_EXCHANGE, ORIGINAL_QUEUE, ORIGINAL_ROUTING_KEY, event_headers, lookup,
    optional_str, optional_u64, short,
};

/// What to consume and where rejected messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// The queue.
    pub queue: String,
    /// Unacknowledged deliveries the broker sends ahead (`basic.qos` prefetch count, per
    /// consumer); 0 means unlimited.
    pub prefetch: u16,
    /// Consumer tag (`""` lets the broker choose one).
    pub consumer_tag: String,
    /// Exchange [`Incoming::dead_letter`] publishes to; [`DEAD_LETTER_EXCHANGE`] by default.
    pub dead_letter_exchange: String,
    /// How long a retry waits after the 1st, 2nd, … failure (the last one repeats), in the
    /// delay queues [`crate::declare_retry_queues`] declares; empty or zero = retry at once.
    pub retry_delays: Vec<Duration>,
}

impl ConsumeOptions {
    /// Options with the default dead-letter exchange.
    pub fn new(queue: impl Into<String>, prefetch: u16, consumer_tag: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            prefetch,
            consumer_tag: consumer_tag.into(),
            dead_letter_exchange: DEAD_LETTER_EXCHANGE.to_owned(),
            retry_delays: Vec::new(),
        }
    }

    /// Sets the retry delays (declare their queues with [`crate::declare_retry_queues`]).
    #[must_use]
    pub fn retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.retry_delays = delays;
        self
    }

    /// Sets the dead-letter exchange.
    #[must_use]
    pub fn dead_letter_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.dead_letter_exchange = exchange.into();
        self
    }
}

/// Starts consuming `queue` with manual acks (see [`consume_with`]).
pub async fn consume(
    channel: &Channel,
    queue: &str,
    prefetch: u16,
    consumer_tag: &str,
) -> Result<Deliveries, BrokerError> {
    consume_with(channel, ConsumeOptions::new(queue, prefetch, consumer_tag)).await
}

/// Starts consuming with manual acks: sets the channel's prefetch, puts the channel in confirm
/// mode (for the dead-letter and retry copies published from it), and returns the stream of
/// deliveries. The stream ends when the consumer is cancelled or its channel closes; after a
/// connection loss, open a new channel and call this again.
pub async fn consume_with(
    channel: &Channel,
    options: ConsumeOptions,
) -> Result<Deliveries, BrokerError> {
    let queue = short("queue", &options.queue)?;
    let tag = short("consumer tag", &options.consumer_tag)?;
    short("dead-letter exchange", &options.dead_letter_exchange)?;
    channel
        .basic_qos(options.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| BrokerError::amqp("basic.qos", e))?;
    if !channel.status().confirm() {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| BrokerError::amqp("confirm.select", e))?;
    }
    let consumer = channel
        .basic_consume(
            queue,
            tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| BrokerError::amqp(format!("basic.consume {}", options.queue), e))?;
    Ok(Deliveries {
        consumer,
        context: Arc::new(ConsumerShared {
            channel: channel.clone(),
            queue: options.queue,
            dead_letter_exchange: options.dead_letter_exchange,
            retry_delays: options.retry_delays,
        }),
    })
}

/// What every delivery of one consumer shares.
#[derive(Debug)]
struct ConsumerShared {
    channel: Channel,
    queue: String,
    dead_letter_exchange: String,
    retry_delays: Vec<Duration>,
}

/// The stream of deliveries of one consumer.
pub struct Deliveries {
    consumer: Consumer,
    context: Arc<ConsumerShared>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("queue", &self.context.queue)
            .field("consumer_tag", &self.consumer.tag())
            .finish_non_exhaustive()
    }
}

impl Deliveries {
    /// The consumer tag (the broker's choice if none was given).
    pub fn consumer_tag(&self) -> String {
        self.consumer.tag().to_string()
    }
}

impl Stream for Deliveries {
    type Item = Result<Incoming, BrokerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        Pin::new(&mut this.consumer).poll_next(cx).map(|item| {
            item.map(|result| {
                result
                    .map(|delivery| Incoming {
                        delivery,
                        context: Arc::clone(&this.context),
                    })
                    .map_err(|e| BrokerError::amqp("basic.consume delivery", e))
            })
        })
    }
}

/// What [`Incoming::retry_or_dead_letter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Published again (after its retry delay) to the same queue; `failures` processing
    /// attempts have failed so far.
    Retried {
        /// The new value of the [`ATTEMPTS`] header.
        failures: u64,
    },
    /// Sent to the dead-letter exchange.
    DeadLettered,
}

/// One delivery, to be settled with [`ack`](Self::ack), [`dead_letter`](Self::dead_letter),
/// [`retry_or_dead_letter`](Self::retry_or_dead_letter) or [`reject`](Self::reject).
/// Dropping it unsettled leaves it unacknowledged until the channel closes (then the broker
/// redelivers it).
#[derive(Debug)]
pub struct Incoming {
    delivery: Delivery,
    context: Arc<ConsumerShared>,
}

impl Incoming {
    /// The payload.
    pub fn body(&self) -> &[u8] {
        &self.delivery.data
    }

    /// The underlying lapin delivery.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The exchange it was published to (`""` for the default exchange, e.g. after a retry).
    pub fn exchange(&self) -> &str {
        self.delivery.exchange.as_str()
    }

    /// The routing key it was published with (the queue name after a retry: see
    /// [`Self::original_routing_key`]).
    pub fn routing_key(&self) -> &str {
        self.delivery.routing_key.as_str()
    }

    /// The routing key it was first published with, across any number of retries (for an
    /// event: its type). A retry copy travels through the default exchange with the queue's
    /// name as routing key, so its original is in [`ORIGINAL_ROUTING_KEY`]; on any other
    /// delivery the routing key itself is the original (an [`ORIGINAL_ROUTING_KEY`] header
    /// on it is ignored, so a publisher cannot disguise a message's type). Fails only when a
    /// retry copy's header is not a string.
    pub fn original_routing_key(&self) -> Result<String, BrokerError> {
        if !self.is_retry_copy() {
            return Ok(self.routing_key().to_owned());
        }
        Ok(optional_str(self.headers(), ORIGINAL_ROUTING_KEY)?
            .unwrap_or_else(|| self.routing_key().to_owned()))
    }

    /// Whether this delivery is a copy [`Self::retry_or_dead_letter`] put back in its queue
    /// (published to the default exchange with the queue's name as routing key).
    fn is_retry_copy(&self) -> bool {
        self.exchange().is_empty() && self.routing_key() == self.context.queue
    }

    /// The queue it was consumed from.
    pub fn queue(&self) -> &str {
        &self.context.queue
    }

    /// Whether the broker delivered it before (to this or another consumer).
    pub fn redelivered(&self) -> bool {
        self.delivery.redelivered
    }

    /// The AMQP properties.
    pub fn properties(&self) -> &BasicProperties {
        &self.delivery.properties
    }

    /// The AMQP `type` property (the event type of a dispatch).
    pub fn kind(&self) -> Option<&str> {
        self.delivery
            .properties
            .kind()
            .as_ref()
            .map(ShortString::as_str)
    }

    /// The AMQP `reply_to` property (the reply queue of the gateway that sent it).
    pub fn reply_to(&self) -> Option<&str> {
        self.delivery
            .properties
            .reply_to()
            .as_ref()
            .map(ShortString::as_str)
    }

    /// The AMQP headers, if any.
    pub fn headers(&self) -> Option<&FieldTable> {
        self.delivery.properties.headers().as_ref()
    }

    /// One header as a string or an integer (`None` if absent or of another type).
    pub fn header(&self, name: &str) -> Option<HeaderValue> {
        lookup(self.headers(), name)
    }

    /// The [`EventHeaders`] a gateway attached; an error names the missing or malformed one.
    pub fn event_headers(&self) -> Result<EventHeaders, BrokerError> {
        event_headers(self.headers())
    }

    /// How many processing attempts have failed before ([`ATTEMPTS`]; absent = 0).
    pub fn attempts(&self) -> Result<u64, BrokerError> {
        Ok(optional_u64(self.headers(), ATTEMPTS)?.unwrap_or(0))
    }

    /// Acknowledges the delivery. Fails with [`BrokerError::AckLost`] if it was already settled
    /// or its channel closed (the broker then redelivers it).
    pub async fn ack(&self) -> Result<(), BrokerError> {
        match self.delivery.acker.ack(BasicAckOptions::default()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.ack_lost()),
            Err(error) => Err(BrokerError::amqp("basic.ack", error)),
        }
    }

    /// Rejects the delivery: with `requeue` the broker delivers it again; without, the queue's
    /// own `x-dead-letter-exchange` receives it (with RabbitMQ's `x-death` header, but no
    /// reason: prefer [`Self::dead_letter`]).
    pub async fn reject(&self, requeue: bool) -> Result<(), BrokerError> {
        match self
            .delivery
            .acker
            .reject(BasicRejectOptions { requeue })
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.ack_lost()),
            Err(error) => Err(BrokerError::amqp("basic.reject", error)),
        }
    }

    /// Publishes a copy (same body, properties and headers, plus [`header::REJECT_REASON`],
    /// [`header::REJECTED_BY`] and where it came from: [`ORIGINAL_QUEUE`],
    /// [`ORIGINAL_EXCHANGE`], [`ORIGINAL_ROUTING_KEY`]) to the dead-letter exchange, waits for
    /// the broker's confirm, then acks the original.
    pub async fn dead_letter(&self, reason: &str, rejected_by: &str) -> Result<(), BrokerError> {
        let mut headers = self.copied_headers();
        headers.insert(header::REJECT_REASON.into(), long(reason));
        headers.insert(header::REJECTED_BY.into(), long(rejected_by));
        let exchange = short("dead-letter exchange", &self.context.dead_letter_exchange)?;
        self.publish_copy(exchange, self.original_key(), headers, "dead letter")
            .await?;
        self.ack().await
    }

    /// For a failed processing attempt: if fewer than `max_attempts` attempts (this one
    /// included) have failed, publishes a copy with [`ATTEMPTS`] incremented (confirmed) to the
    /// delay queue of the consumer's [`ConsumeOptions::retry_delays`] for this attempt (from
    /// where RabbitMQ puts it back in the queue after the delay; without delays, straight to
    /// the end of the queue) and acks the original; otherwise dead-letters it (the copy in the
    /// dead-letter queue has [`ATTEMPTS`] = `max_attempts`). A malformed [`ATTEMPTS`] header
    /// dead-letters at once (it cannot be counted).
    pub async fn retry_or_dead_letter(
        &self,
        max_attempts: u64,
        reason: &str,
        rejected_by: &str,
    ) -> Result<Disposition, BrokerError> {
        let Ok(before) = self.attempts() else {
            let reason = format!("{reason} (and its {ATTEMPTS} header is malformed)");
            self.dead_letter(&reason, rejected_by).await?;
            return Ok(Disposition::DeadLettered);
        };
        let failures = before.saturating_add(1);
        let mut headers = self.copied_headers();
        headers.insert(
            ATTEMPTS.into(),
            AMQPValue::LongLongInt(i64::try_from(failures).unwrap_or(i64::MAX)),
        );
        if failures >= max_attempts {
            headers.insert(header::REJECT_REASON.into(), long(reason));
            headers.insert(header::REJECTED_BY.into(), long(rejected_by));
            let exchange = short("dead-letter exchange", &self.context.dead_letter_exchange)?;
            self.publish_copy(exchange, self.original_key(), headers, "dead letter")
                .await?;
            self.ack().await?;
            return Ok(Disposition::DeadLettered);
        }
        let target = match self.retry_delay(failures) {
            Some(delay) => crate::retry_queue(&self.context.queue, delay),
            None => self.context.queue.clone(),
        };
        let queue = short("queue", &target)?;
        self.publish_copy("".into(), queue, headers, "retry")
            .await?;
        self.ack().await?;
        Ok(Disposition::Retried { failures })
    }

    /// How long the retry after the `failures`-th failure waits (`None`: not at all).
    fn retry_delay(&self, failures: u64) -> Option<Duration> {
        let delays = &self.context.retry_delays;
        let index = usize::try_from(failures.saturating_sub(1)).unwrap_or(usize::MAX);
        delays
            .get(index)
            .or(delays.last())
            .copied()
            .filter(|delay| !delay.is_zero())
    }

    /// The headers with where the message came from added: on a retry copy the ones recorded
    /// the first time are kept; on any other delivery they describe this delivery (whatever
    /// the publisher put there).
    fn copied_headers(&self) -> FieldTable {
        let mut headers = self.headers().cloned().unwrap_or_default();
        let keep = self.is_retry_copy();
        let mut record = |name: &str, value: &str| {
            if !keep || !headers.contains_key(name) {
                headers.insert(name.into(), long(value));
            }
        };
        record(ORIGINAL_QUEUE, &self.context.queue);
        record(ORIGINAL_EXCHANGE, self.delivery.exchange.as_str());
        record(ORIGINAL_ROUTING_KEY, self.delivery.routing_key.as_str());
        headers
    }

    /// The routing key dead-letter copies are published with: the original one (a malformed
    /// header falls back to the delivery's own routing key; the reason says why).
    fn original_key(&self) -> ShortString {
        self.original_routing_key()
            .ok()
            .and_then(|key| ShortString::try_new(key).ok())
            .unwrap_or_else(|| self.delivery.routing_key.clone())
    }

    async fn publish_copy(
        &self,
        exchange: ShortString,
        routing_key: ShortString,
        headers: FieldTable,
        what: &str,
    ) -> Result<(), BrokerError> {
        let properties = self.delivery.properties.clone().with_headers(headers);
        let confirmation = self
            .context
            .channel
            .basic_publish(
                exchange,
                routing_key,
                BasicPublishOptions::default(),
                &self.delivery.data,
                properties,
            )
            .await
            .map_err(|e| BrokerError::amqp(format!("basic.publish ({what})"), e))?
            .await
            .map_err(|e| BrokerError::amqp(format!("publisher confirm ({what})"), e))?;
        match confirmation {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(BrokerError::Nacked {
                what: format!("the {what} copy of a message from {}", self.context.queue),
            }),
        }
    }

    fn ack_lost(&self) -> BrokerError {
        BrokerError::AckLost {
            delivery_tag: self.delivery.delivery_tag,
        }
    }
}

fn long(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}
