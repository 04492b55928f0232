//! Publishing a shard's dispatches: each is counted in the shard's progress (its confirm moves
//! the resumable sequence, see `progress.rs`) and sent with its headers.

use bytes::Bytes;
use swarmcord_broker::Outgoing;
use swarmcord_protocol::amqp::{EventHeaders, HeaderValue};

use swarmcord_protocol::time::unix_ms;

use super::Ctx;
use crate::progress::ticket;

/// What the gateway keeps of a `READY`.
#[derive(serde::Deserialize)]
pub(super) struct ReadyInfo {
    pub(super) session_id: String,
    pub(super) resume_gateway_url: Option<String>,
}

/// One dispatch of a shard, on its way to the events exchange.
pub(super) struct Dispatch<'a> {
    pub(super) shard_id: u32,
    /// `shard_id` as a metric label.
    pub(super) shard_label: &'a str,
    pub(super) seq: u64,
    pub(super) kind: &'a str,
    pub(super) payload: Bytes,
    /// The cached object before this event (`CACHE_PREVIOUS_STATE`).
    pub(super) previous: Option<String>,
}

/// Counts a dispatch as received and publishes it (unless filtered by `GATEWAY_EVENTS`);
/// returns the shard's session id.
pub(super) async fn publish_dispatch(ctx: &Ctx, dispatch: Dispatch<'_>) -> String {
    let Dispatch {
        shard_id,
        shard_label,
        seq,
        kind,
        payload,
        previous,
    } = dispatch;
    let events = &ctx.config.events;
    let forwarded = events.is_empty() || events.contains(kind);
    let (generation, session_id) = {
        let mut all = ctx.progress();
        let progress = all.entry(shard_id).or_default();
        match kind {
            "READY" => {
                if let Ok(ready) = serde_json::from_slice::<ReadyInfo>(&payload) {
                    progress.new_session(ready.session_id, ready.resume_gateway_url);
                }
                metrics::counter!("swarmcord_gateway_identifies_total", "shard" => shard_label.to_owned()).increment(1);
            }
            "RESUMED" => {
                metrics::counter!("swarmcord_gateway_resumes_total", "shard" => shard_label.to_owned()).increment(1);
            }
            _ => {}
        }
        progress.received(seq, forwarded);
        (
            progress.generation,
            progress.session_id.clone().unwrap_or_default(),
        )
    };
    if !forwarded {
        metrics::counter!("swarmcord_gateway_events_filtered_total", "event" => kind.to_owned())
            .increment(1);
        return session_id;
    }
    metrics::counter!("swarmcord_gateway_events_total", "shard" => shard_label.to_owned(), "event" => kind.to_owned())
        .increment(1);
    let headers = EventHeaders {
        gateway_id: ctx.config.gateway_id.clone(),
        shard_id,
        shard_count: ctx.total,
        seq,
        session_id: session_id.clone(),
        received_at_ms: unix_ms(),
        content_id: None,
    };
    let mut headers: Vec<_> = headers.to_map().into_iter().collect();
    if let Some(previous) = previous {
        headers.push((
            swarmcord_cache::PREVIOUS_STATE_HEADER,
            HeaderValue::Str(previous),
        ));
    }
    let outgoing = Outgoing {
        exchange: ctx.config.events_exchange.clone(),
        routing_key: kind.to_owned(),
        body: payload,
        headers,
        reply_to: Some(ctx.reply_queue.clone()),
        kind: Some(kind.to_owned()),
        content_type: Some("application/json".to_owned()),
        ticket: ticket(shard_id, generation, seq),
    };
    // Waits while the publish buffer is full: the shard is not read until the broker catches up.
    if ctx.publisher.publish(outgoing).await.is_err() {
        tracing::error!(
            shard_id,
            seq,
            "the publisher is closed; event not forwarded"
        );
    }
    session_id
}
