//! The publisher's background task: owns the connection, publishes through the confirm
//! window, reconnects with backoff and publishes every unconfirmed message again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt as _};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, Connection, Event};
use metrics::{Counter, Gauge, Histogram};
use swarmcord_protocol::backoff::Backoff;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::window::ConfirmWindow;
use super::{Confirmed, Prepared, PublisherConfig, Queued};
use crate::connect::connect_with_timeout;
use crate::{BrokerError, Reserved, declare_events_exchange};

pub(super) struct Metrics {
    pub(super) buffer: Gauge,
    pub(super) confirm_seconds: Histogram,
    pub(super) published: Counter,
    pub(super) republished: Counter,
    pub(super) connected: Gauge,
}

/// An unconfirmed message.
pub(super) struct Held {
    message: Prepared,
    /// Its share of the byte budget, given back when it is dropped (confirmed).
    _bytes: Reserved,
}

/// Why [`Task::serve`] returned.
enum Outcome {
    Cancelled,
    Finished,
    Lost(BrokerError),
}

/// The background task: owns the connection and every unconfirmed message.
pub(super) struct Task {
    pub(super) config: PublisherConfig,
    pub(super) capacity: usize,
    pub(super) permits: Arc<Semaphore>,
    pub(super) rx: mpsc::UnboundedReceiver<Queued>,
    pub(super) rx_open: bool,
    pub(super) confirmed_tx: mpsc::UnboundedSender<Confirmed>,
    pub(super) confirmed_count: watch::Sender<u64>,
    pub(super) connected: watch::Sender<bool>,
    pub(super) cancel: CancellationToken,
    /// Unconfirmed messages in publish order.
    pub(super) window: ConfirmWindow<Held>,
    /// After a nack, publishing pauses until then.
    pub(super) hold_until: Option<Instant>,
    /// Delays before publishing a nacked message again (reset by the next ack).
    pub(super) nack_backoff: Backoff,
    pub(super) metrics: Metrics,
}

impl Task {
    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.reconnect_min, self.config.reconnect_max);
        let mut failures = 0_u32;
        loop {
            if self.finished() {
                break;
            }
            let attempt = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                attempt = self.open() => attempt,
            };
            match attempt {
                Ok((connection, channel)) => {
                    backoff.reset();
                    failures = 0_u32;
                    self.set_connected(true);
                    info!(
                        connection = %self.config.connection_name,
                        unconfirmed = self.window.len(),
                        "publisher connected"
                    );
                    let outcome = self.serve(&connection, &channel).await;
                    self.set_connected(false);
                    self.requeue_in_flight();
                    match outcome {
                        Outcome::Lost(error) => {
                            warn!(
                                connection = %self.config.connection_name,
                                %error,
                                unconfirmed = self.window.len(),
                                "publisher lost its connection; reconnecting"
                            );
                            close_quietly(&connection, 320, "lost").await;
                        }
                        Outcome::Cancelled | Outcome::Finished => {
                            close_quietly(&connection, 200, "publisher closed").await;
                            break;
                        }
                    }
                }
                Err(error) => {
                    failures = failures.wrapping_add(1);
                    // The first failure and every tenth are warnings; the rest is noise.
                    if failures % 10 == 1 {
                        warn!(
                            connection = %self.config.connection_name,
                            %error,
                            failures,
                            retry_in = ?backoff.peek(),
                            "publisher cannot connect"
                        );
                    } else {
                        debug!(%error, failures, "publisher cannot connect");
                    }
                }
            }
            // Wait before reconnecting, still accepting messages so that a closed handle with
            // nothing to send ends the task.
            let wake = Instant::now() + backoff.next_delay();
            loop {
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break,
                    () = tokio::time::sleep_until(wake) => break,
                    received = self.rx.recv(), if self.rx_open => self.accept(received),
                }
                if self.finished() {
                    break;
                }
            }
            if self.cancel.is_cancelled() {
                break;
            }
        }
        self.set_connected(false);
        if !self.window.is_empty() {
            warn!(
                connection = %self.config.connection_name,
                unconfirmed = self.window.len(),
                "publisher closed with unconfirmed messages"
            );
        }
    }

    fn finished(&self) -> bool {
        !self.rx_open && self.window.is_empty()
    }

    fn set_connected(&self, connected: bool) {
        self.connected.send_replace(connected);
        self.metrics
            .connected
            .set(if connected { 1.0 } else { 0.0 });
    }

    /// Connects, opens a channel, runs the set-up and enables confirms.
    async fn open(&self) -> Result<(Connection, Channel), BrokerError> {
        let config = &self.config;
        let connection = connect_with_timeout(
            config.url.expose(),
            &config.connection_name,
            config.connect_timeout,
        )
        .await?;
        let setup = async {
            let channel = connection
                .create_channel()
                .await
                .map_err(|e| BrokerError::amqp("channel.open", e))?;
            for exchange in &config.exchanges {
                declare_events_exchange(&channel, exchange).await?;
            }
            if let Some(setup) = &config.setup {
                setup(channel.clone()).await?;
            }
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| BrokerError::amqp("confirm.select", e))?;
            Ok(channel)
        };
        let result = match tokio::time::timeout(config.connect_timeout, setup).await {
            Ok(result) => result,
            Err(_) => Err(BrokerError::ConnectTimeout {
                url: config.url.redacted_url(),
                after: config.connect_timeout,
            }),
        };
        match result {
            Ok(channel) => Ok((connection, channel)),
            Err(error) => {
                close_quietly(&connection, 200, "set-up failed").await;
                Err(error)
            }
        }
    }

    /// Publishes and collects confirms on one connection until it fails or the task ends.
    async fn serve(&mut self, connection: &Connection, channel: &Channel) -> Outcome {
        let mut confirms = FuturesUnordered::new();
        let mut events = std::pin::pin!(connection.events_listener());
        let mut health = tokio::time::interval(Duration::from_millis(250));
        loop {
            if self.hold_until.is_some_and(|until| until <= Instant::now()) {
                self.hold_until = None;
            }
            while self.hold_until.is_none() {
                let Some((seq, held)) = self.window.next_to_send() else {
                    break;
                };
                let message = &held.message;
                let published = channel
                    .basic_publish(
                        message.exchange.clone(),
                        message.routing_key.clone(),
                        BasicPublishOptions::default(),
                        &message.body,
                        message.properties.clone(),
                    )
                    .await;
                match published {
                    Ok(confirm) => {
                        if self.window.sent(seq) {
                            self.metrics.republished.increment(1);
                        }
                        confirms.push(confirm.map(move |result| (seq, result)));
                    }
                    Err(error) => {
                        self.window.unsent(seq);
                        return Outcome::Lost(BrokerError::amqp("basic.publish", error));
                    }
                }
            }
            if self.finished() {
                return Outcome::Finished;
            }
            let hold = self.hold_until;
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Outcome::Cancelled,
                Some((seq, result)) = confirms.next(), if !confirms.is_empty() => {
                    if let Err(error) = self.on_confirm(seq, result) {
                        return Outcome::Lost(error);
                    }
                }
                received = self.rx.recv(), if self.rx_open => self.accept(received),
                event = events.next() => match event {
                    Some(Event::Error(error)) => {
                        return Outcome::Lost(BrokerError::amqp("connection", error));
                    }
                    None => return Outcome::Lost(BrokerError::Disconnected),
                    Some(event) => debug!(?event, "publisher connection event"),
                },
                () = tokio::time::sleep_until(hold.unwrap_or_else(Instant::now)), if hold.is_some() => {}
                _ = health.tick() => {
                    if !connection.status().connected() || !channel.status().connected() {
                        return Outcome::Lost(BrokerError::Disconnected);
                    }
                }
            }
        }
    }

    fn accept(&mut self, received: Option<Queued>) {
        let Some(first) = received else {
            self.rx_open = false;
            return;
        };
        self.push(first);
        // Take what else is already queued without going back through `select!`.
        for _ in 0..1024 {
            match self.rx.try_recv() {
                Ok(queued) => self.push(queued),
                Err(_) => break,
            }
        }
        self.update_buffer_gauge();
    }

    fn push(&mut self, queued: Queued) {
        debug_assert_eq!(
            queued.seq,
            self.window.next_seq(),
            "sequence numbers arrive in order"
        );
        self.window.push(Held {
            message: queued.message,
            _bytes: queued.bytes,
        });
    }

    fn on_confirm(
        &mut self,
        seq: u64,
        result: lapin::Result<Confirmation>,
    ) -> Result<(), BrokerError> {
        let confirmation = result.map_err(|e| BrokerError::amqp("publisher confirm", e))?;
        match confirmation {
            Confirmation::Ack(_) | Confirmation::NotRequested => {
                if let Some(released) = self.window.ack(seq) {
                    self.nack_backoff.reset();
                    self.release_confirmed(released);
                }
            }
            Confirmation::Nack(_) => {
                if !self.window.nack(seq) {
                    return Ok(());
                }
                let delay = self.nack_backoff.next_delay();
                self.hold_until = Some(Instant::now() + delay);
                warn!(
                    connection = %self.config.connection_name,
                    retry_in = ?delay,
                    "the broker nacked a publish; publishing it again"
                );
            }
        }
        Ok(())
    }

    /// Reports the confirmed messages (in publish order) and forgets them.
    fn release_confirmed(&mut self, confirmed: Vec<Held>) {
        let released = confirmed.len();
        for held in confirmed {
            self.metrics
                .confirm_seconds
                .record(held.message.accepted_at.elapsed().as_secs_f64());
            // A dropped receiver means nobody wants the reports; that is allowed.
            let _ = self.confirmed_tx.send(Confirmed {
                ticket: held.message.ticket,
            });
        }
        if released > 0 {
            self.metrics.published.increment(released as u64);
            self.permits.add_permits(released);
            self.confirmed_count
                .send_modify(|count| *count += released as u64);
            self.update_buffer_gauge();
        }
    }

    /// After a connection loss: everything in flight goes out again, in order.
    fn requeue_in_flight(&mut self) {
        self.window.requeue_in_flight();
        self.hold_until = None;
    }

    fn update_buffer_gauge(&self) {
        let buffered = self
            .capacity
            .saturating_sub(self.permits.available_permits());
        #[allow(clippy::cast_precision_loss)] // a buffer never holds 2^52 messages
        self.metrics.buffer.set(buffered as f64);
    }
}

/// Closes a connection, ignoring errors (it may already be dead) and not waiting long.
async fn close_quietly(connection: &Connection, code: u16, reason: &str) {
    if connection.status().connected() {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            connection.close(code, reason.into()),
        )
        .await;
    }
}
