//! Replaying a dead-letter queue after a fix: every message that says which queue it came
//! from ([`ORIGINAL_QUEUE`]) goes back to that queue as a fresh retry copy (its
//! [`ATTEMPTS`], reason and RabbitMQ `x-death` headers removed, its original routing key
//! kept), the others go back to the end of the dead-letter queue. Each message present when
//! the replay starts is looked at once; each move is confirmed by the broker before the
//! message leaves the dead-letter queue (a crash in between replays it twice, never loses it).

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use swarmcord_protocol::amqp::header;

use crate::BrokerError;
use crate::headers::{ATTEMPTS, ORIGINAL_QUEUE, optional_str, short};

/// What [`replay_dead_letters`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Messages put back in the queue they came from.
    pub replayed: u64,
    /// Messages kept in the dead-letter queue (no original queue, or that queue is gone).
    pub kept: u64,
}

/// Replays up to `limit` (all, if `None`) of the messages in `dead_letter_queue` (see the
/// module docs).
pub async fn replay_dead_letters(
    channel: &Channel,
    dead_letter_queue: &str,
    limit: Option<u64>,
) -> Result<Replayed, BrokerError> {
    let queue = short("queue", dead_letter_queue)?;
    if !channel.status().confirm() {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| BrokerError::amqp("confirm.select", e))?;
    }
    let mut done = Replayed::default();
    // Messages kept go to the end of the queue: stop after one pass over what was there.
    let mut remaining: Option<u64> = None;
    while remaining != Some(0) && limit.is_none_or(|limit| done.replayed + done.kept < limit) {
        let Some(message) = channel
            .basic_get(queue.clone(), BasicGetOptions::default())
            .await
            .map_err(|e| BrokerError::amqp(format!("basic.get {dead_letter_queue}"), e))?
        else {
            break;
        };
        let left = u64::from(message.message_count);
        remaining = Some(remaining.map_or(left, |r| r.saturating_sub(1)));
        let delivery = &message.delivery;
        let headers = delivery.properties.headers().as_ref();
        let original = optional_str(headers, ORIGINAL_QUEUE).ok().flatten();
        let returned = match &original {
            Some(original) => {
                let dropped = [
                    ATTEMPTS,
                    header::REJECT_REASON,
                    header::REJECTED_BY,
                    "x-death",
                ];
                let mut fresh = FieldTable::default();
                for (name, value) in headers.map(FieldTable::inner).into_iter().flatten() {
                    if !dropped.contains(&name.as_str()) {
                        fresh.insert(name.clone(), value.clone());
                    }
                }
                // Through the default exchange with the queue's name: a retry copy, whose
                // original routing key is in its headers.
                let key = short("queue", original)?;
                publish(channel, key, &delivery.data, &delivery.properties, fresh).await?
            }
            None => true,
        };
        if returned {
            let all = headers.cloned().unwrap_or_default();
            publish(
                channel,
                queue.clone(),
                &delivery.data,
                &delivery.properties,
                all,
            )
            .await?;
            done.kept += 1;
        } else {
            done.replayed += 1;
        }
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| BrokerError::amqp("basic.ack", e))?;
    }
    Ok(done)
}

/// Publishes (mandatory, confirmed) through the default exchange to `queue`; `true` when no
/// such queue exists (the broker returned the message).
async fn publish(
    channel: &Channel,
    queue: ShortString,
    body: &[u8],
    properties: &BasicProperties,
    headers: FieldTable,
) -> Result<bool, BrokerError> {
    let confirmation = channel
        .basic_publish(
            "".into(),
            queue.clone(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties.clone().with_headers(headers),
        )
        .await
        .map_err(|e| BrokerError::amqp("basic.publish (replay)", e))?
        .await
        .map_err(|e| BrokerError::amqp("publisher confirm (replay)", e))?;
    match confirmation {
        Confirmation::Ack(returned) => Ok(returned.is_some()),
        Confirmation::NotRequested => Ok(false),
        Confirmation::Nack(_) => Err(BrokerError::Nacked {
            what: format!("a replayed dead letter for {queue}"),
        }),
    }
}
