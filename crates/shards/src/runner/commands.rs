//! Gateway commands from this replica's reply queue `gateway.<id>`: malformed commands and
//! those Discord would refuse are dead-lettered with the reason; the others run on an owned
//! shard or are re-routed to their shard's owner, one lane per target shard so that a command
//! waiting for an owner delays no other shard's commands.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use swarmcord_broker::{Incoming, Outgoing, Publisher};
use swarmcord_coord::ShardLeases;
use swarmcord_ops::Secret;
use swarmcord_protocol::amqp;
use swarmcord_protocol::backoff::Backoff;
use swarmcord_protocol::command::CommandEnvelope;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use twilight_gateway::MessageSender;

use super::state::{Checks, ShardSet};
use crate::command::{ExecuteError, execute};

/// The command senders of the shards this replica is reading now.
#[derive(Default)]
pub(super) struct Senders(RwLock<HashMap<u32, MessageSender>>);

impl Senders {
    pub(super) fn get(&self, shard_id: u32) -> Option<MessageSender> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&shard_id)
            .cloned()
    }

    pub(super) fn set(&self, shard_id: u32, sender: Option<MessageSender>) {
        let mut senders = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match sender {
            Some(sender) => senders.insert(shard_id, sender),
            None => senders.remove(&shard_id),
        };
    }
}

/// What the command consumer needs.
pub(super) struct Router {
    pub(super) gateway_id: String,
    pub(super) amqp_url: Secret,
    pub(super) reply_queue: String,
    pub(super) total: u32,
    /// The shards this replica should run now (commands to every shard go to these).
    pub(super) target: Arc<ShardSet>,
    /// Who owns the shards this replica does not read.
    pub(super) leases: ShardLeases,
    /// Re-routes commands to other replicas' reply queues.
    pub(super) publisher: Publisher,
    pub(super) senders: Arc<Senders>,
}

/// Consumes the reply queue until `stop`, reconnecting (with growing delays) when it is lost.
pub(super) async fn consume_commands(ctx: Arc<Router>, health: Checks, stop: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    health.fail("commands", "reply queue not consumed yet");
    while !stop.is_cancelled() {
        match open_reply_queue(&ctx).await {
            Ok((_connection, mut consumer)) => {
                backoff.reset();
                health.ok("commands");
                tracing::info!(queue = %ctx.reply_queue, "consuming gateway commands");
                // Dropping the lanes aborts them; their unsettled deliveries are redelivered.
                let mut lanes = Lanes::default();
                loop {
                    let delivery = tokio::select! {
                        () = stop.cancelled() => {
                            lanes.drain().await;
                            return;
                        }
                        delivery = consumer.next() => delivery,
                    };
                    match delivery {
                        Some(Ok(delivery)) => {
                            if let Some(pending) = accept_command(delivery).await {
                                lanes.push(&ctx, pending);
                            }
                        }
                        Some(Err(error)) => {
                            tracing::warn!(%error, "command consumer error; reconnecting");
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot consume the reply queue; retrying"),
        }
        health.fail("commands", "reply queue consumer disconnected");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// Declares this replica's reply queue (it lives as long as the connection) and consumes it.
async fn open_reply_queue(
    ctx: &Router,
) -> Result<(lapin::Connection, swarmcord_broker::Deliveries), swarmcord_broker::BrokerError> {
    let name = format!("gateway {} commands", ctx.gateway_id);
    let connection = swarmcord_broker::connect(ctx.amqp_url.expose(), &name).await?;
    let channel = connection.create_channel().await.map_err(|source| {
        swarmcord_broker::BrokerError::Amqp {
            operation: "channel.open".to_owned(),
            source,
        }
    })?;
    swarmcord_broker::declare_dead_letters(&channel).await?;
    let queue = swarmcord_broker::declare_reply_queue(&channel, &ctx.gateway_id).await?;
    let deliveries = swarmcord_broker::consume(&channel, &queue, 64, "gateway").await?;
    Ok((connection, deliveries))
}

/// How long a command waits for its shard to have an owner, counted from its arrival.
const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// A decoded, valid command waiting in its lane.
struct Pending {
    delivery: Incoming,
    envelope: CommandEnvelope,
    /// When it is dead-lettered if its shard still has no owner.
    deadline: Instant,
}

/// One task per target shard (and one for the commands to every shard): a command waiting for
/// an owner of its shard delays only the later commands for that shard, which stay in order.
/// How many commands wait in all is bounded by the consumer's prefetch.
#[derive(Default)]
struct Lanes {
    senders: HashMap<Option<u32>, mpsc::UnboundedSender<Pending>>,
    tasks: JoinSet<()>,
}

impl Lanes {
    fn push(&mut self, ctx: &Arc<Router>, pending: Pending) {
        let lane = pending.envelope.command.target_shard(ctx.total);
        let sender = self.senders.entry(lane).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
            let ctx = Arc::clone(ctx);
            self.tasks.spawn(async move {
                while let Some(pending) = rx.recv().await {
                    handle_command(&ctx, pending).await;
                }
            });
            tx
        });
        // The lane tasks only end when `self` is dropped, so the send cannot fail; if it
        // did, the delivery would be redelivered when the channel closes.
        let _ = sender.send(pending);
    }

    /// Lets every lane finish the commands it holds (each waits at most [`COMMAND_WAIT`] for
    /// an owner of its shard), then returns: on shutdown, a command still in a lane would
    /// vanish with the replica's exclusive reply queue.
    async fn drain(mut self) {
        self.senders.clear();
        let drained = tokio::time::timeout(COMMAND_WAIT + Duration::from_secs(1), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("gateway commands still waiting at shutdown; they are dropped");
        }
    }
}

/// Decodes and validates a command; dead-letters (with the reason) what must not reach a shard.
async fn accept_command(delivery: Incoming) -> Option<Pending> {
    let deadline = Instant::now() + COMMAND_WAIT;
    let envelope = match CommandEnvelope::from_bytes(delivery.body()) {
        Ok(envelope) => envelope,
        Err(error) => {
            let reason = error.to_string();
            tracing::warn!(%reason, "rejecting a gateway command to the dead-letter queue");
            finish(
                delivery.dead_letter(&reason, "gateway").await,
                "dead_lettered",
                "malformed",
            );
            return None;
        }
    };
    let kind = envelope.command.kind();
    if let Err(error) = envelope.command.validate() {
        let reason = format!("invalid gateway command: {error}");
        tracing::warn!(%reason, id = %envelope.id, kind, "rejecting a gateway command to the dead-letter queue");
        finish(
            delivery.dead_letter(&reason, "gateway").await,
            "dead_lettered",
            kind,
        );
        return None;
    }
    Some(Pending {
        delivery,
        envelope,
        deadline,
    })
}

async fn handle_command(ctx: &Router, pending: Pending) {
    let Pending {
        delivery,
        envelope,
        deadline,
    } = pending;
    let kind = envelope.command.kind();
    let targets: Vec<u32> = match envelope.command.target_shard(ctx.total) {
        Some(shard) => vec![shard],
        None => ctx.target.get().into_iter().collect(),
    };
    let mut failure = None;
    for shard_id in targets {
        if let Err(reason) = route(ctx, shard_id, &envelope, deadline).await {
            failure = Some(reason);
        }
    }
    match failure {
        None => finish(delivery.ack().await, "executed", kind),
        Some(reason) => {
            tracing::warn!(%reason, id = %envelope.id, kind, "gateway command could not be delivered; dead-lettering");
            finish(
                delivery.dead_letter(&reason, "gateway").await,
                "dead_lettered",
                kind,
            );
        }
    }
}

fn finish(
    result: Result<(), swarmcord_broker::BrokerError>,
    outcome: &'static str,
    kind: &'static str,
) {
    metrics::counter!("swarmcord_gateway_commands_total", "outcome" => outcome, "kind" => kind)
        .increment(1);
    if let Err(error) = result {
        tracing::warn!(%error, "could not settle a command delivery (it will be redelivered)");
    }
}

/// Executes a command on `shard_id` here, or forwards it to the shard's owner.
async fn route(
    ctx: &Router,
    shard_id: u32,
    envelope: &CommandEnvelope,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        if let Some(sender) = ctx.senders.get(shard_id) {
            match execute(&sender, &envelope.command) {
                Ok(()) => return Ok(()),
                Err(ExecuteError::ShardGone) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        if !ctx.target.contains(shard_id) || ctx.senders.get(shard_id).is_none() {
            match ctx.leases.owner(shard_id).await {
                Ok(Some(owner)) if owner != ctx.gateway_id => {
                    return forward_command(ctx, &owner, envelope).await;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, shard_id, "cannot read the shard owner"),
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no gateway owns shard {shard_id} (waited {} s)",
                COMMAND_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn forward_command(
    ctx: &Router,
    owner: &str,
    envelope: &CommandEnvelope,
) -> Result<(), String> {
    let mut forwarded = envelope.clone();
    forwarded.hops = forwarded.hops.saturating_add(1);
    if forwarded.hops > swarmcord_protocol::command::MAX_HOPS {
        return Err(format!("re-routed {} times; giving up", envelope.hops));
    }
    tracing::debug!(id = %envelope.id, owner, "re-routing a gateway command to the shard's owner");
    let outgoing = Outgoing {
        exchange: String::new(),
        routing_key: amqp::gateway_queue(owner),
        body: Bytes::from(forwarded.to_bytes()),
        headers: Vec::new(),
        reply_to: None,
        kind: Some(envelope.command.kind().to_owned()),
        content_type: Some("application/json".to_owned()),
        ticket: 0,
    };
    ctx.publisher
        .publish(outgoing)
        .await
        .map_err(|_| "the publisher is closed".to_owned())?;
    metrics::counter!("swarmcord_gateway_commands_total", "outcome" => "rerouted", "kind" => envelope.command.kind()).increment(1);
    Ok(())
}
