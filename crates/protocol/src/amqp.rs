//! AMQP names and the headers of forwarded events.
//!
//! Topology (declared idempotently by every service at start-up):
//!
//! ```text
//! gateway ──publish──▶ [swarmcord.events]  topic, durable; routing key = event type
//!                          │  bound by each consumer group with the event types it handles
//!                          ▼
//!                      [swarmcord.worker]  durable queue, x-dead-letter-exchange = swarmcord.dead
//!
//! worker ──publish──▶ [""] default exchange, routing key = gateway.<id> (the reply queue)
//!                          ▼
//!                      [gateway.<id>]      exclusive, auto-delete, dead-letters to swarmcord.dead
//!
//! rejected messages ─▶ [swarmcord.dead]   fanout, durable ─▶ [swarmcord.dead-letters] durable
//! ```

use std::collections::BTreeMap;

/// Topic exchange every gateway publishes dispatches to.
pub const EVENTS_EXCHANGE: &str = "swarmcord.events";
/// Exchange that receives rejected (dead-lettered) messages.
pub const DEAD_LETTER_EXCHANGE: &str = "swarmcord.dead";
/// Durable queue bound to [`DEAD_LETTER_EXCHANGE`], where poison messages wait for a human.
pub const DEAD_LETTER_QUEUE: &str = "swarmcord.dead-letters";
/// Prefix of a gateway's own reply queue: `gateway.<gateway id>`.
pub const GATEWAY_QUEUE_PREFIX: &str = "gateway.";

/// The reply queue of a gateway.
pub fn gateway_queue(gateway_id: &str) -> String {
    format!("{GATEWAY_QUEUE_PREFIX}{gateway_id}")
}

/// Whether `name` is a Discord gateway event type (`MESSAGE_CREATE`, `READY`, …) as known to
/// `twilight-model`: the routing keys of the events exchange. Configuration uses it to refuse
/// typos in event allow-lists, which would otherwise silently match nothing.
pub fn is_event_type(name: &str) -> bool {
    serde_json::from_value::<twilight_model::gateway::event::EventType>(serde_json::Value::String(
        name.to_owned(),
    ))
    .is_ok()
}

/// Header names.
pub mod header {
    /// Id of the gateway replica that received the event (string).
    pub const GATEWAY_ID: &str = "gateway_id";
    /// Shard that received the event (integer).
    pub const SHARD_ID: &str = "shard_id";
    /// Total shard count (integer).
    pub const SHARD_COUNT: &str = "shard_count";
    /// Discord sequence number of the dispatch within its session (integer).
    pub const SEQ: &str = "seq";
    /// Discord session id of the shard (string); with `seq` it identifies a dispatch.
    pub const SESSION_ID: &str = "session_id";
    /// Unix time in milliseconds when the gateway received the event (integer).
    pub const RECEIVED_AT: &str = "received_at_ms";
    /// Why a message was dead-lettered (string), set by the service that rejected it.
    pub const REJECT_REASON: &str = "x-swarmcord-reject-reason";
    /// Which service rejected it (string).
    pub const REJECTED_BY: &str = "x-swarmcord-rejected-by";
}

/// What a gateway attaches to every forwarded dispatch (as AMQP headers, plus `reply_to` =
/// the gateway's queue and `type` = the event type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeaders {
    /// Gateway replica id.
    pub gateway_id: String,
    /// Receiving shard.
    pub shard_id: u32,
    /// Total shards.
    pub shard_count: u32,
    /// Discord sequence number.
    pub seq: u64,
    /// Discord session id.
    pub session_id: String,
    /// Unix milliseconds at reception.
    pub received_at_ms: u64,
}

/// The longest string header accepted, in bytes: a Discord session id has 32 characters and
/// a gateway id is bounded by its configuration, while the strings reach Redis key names
/// (`{prefix}:event:{session_id}:{seq}`) and queue names.
pub const MAX_HEADER_STRING: usize = 128;

/// A header value, independent of the AMQP client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A string.
    Str(String),
    /// An unsigned integer.
    U64(u64),
}

/// A header that is missing or has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header {name:?} is missing or not a {expected}")]
pub struct HeaderError {
    /// The header's name.
    pub name: &'static str,
    /// What it should have been.
    pub expected: &'static str,
}

impl EventHeaders {
    /// The headers as name/value pairs.
    pub fn to_map(&self) -> BTreeMap<&'static str, HeaderValue> {
        BTreeMap::from([
            (
                header::GATEWAY_ID,
                HeaderValue::Str(self.gateway_id.clone()),
            ),
            (header::SHARD_ID, HeaderValue::U64(u64::from(self.shard_id))),
            (
                header::SHARD_COUNT,
                HeaderValue::U64(u64::from(self.shard_count)),
            ),
            (header::SEQ, HeaderValue::U64(self.seq)),
            (
                header::SESSION_ID,
                HeaderValue::Str(self.session_id.clone()),
            ),
            (header::RECEIVED_AT, HeaderValue::U64(self.received_at_ms)),
        ])
    }

    /// Reads the headers back; `get` looks a header up by name.
    pub fn from_lookup(get: impl Fn(&str) -> Option<HeaderValue>) -> Result<Self, HeaderError> {
        let string = |name: &'static str| match get(name) {
            Some(HeaderValue::Str(s)) if s.len() <= MAX_HEADER_STRING => Ok(s),
            _ => Err(HeaderError {
                name,
                expected: "string of at most 128 bytes",
            }),
        };
        let number = |name: &'static str| match get(name) {
            Some(HeaderValue::U64(n)) => Ok(n),
            _ => Err(HeaderError {
                name,
                expected: "integer",
            }),
        };
        let small = |name: &'static str| {
            number(name).and_then(|n| {
                u32::try_from(n).map_err(|_| HeaderError {
                    name,
                    expected: "32-bit integer",
                })
            })
        };
        Ok(Self {
            gateway_id: string(header::GATEWAY_ID)?,
            shard_id: small(header::SHARD_ID)?,
            shard_count: small(header::SHARD_COUNT)?,
            seq: number(header::SEQ)?,
            session_id: string(header::SESSION_ID)?,
            received_at_ms: number(header::RECEIVED_AT)?,
        })
    }

    /// A stable identity of the dispatch (`session_id:seq`), for de-duplication of redeliveries.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.session_id, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_discords() {
        for name in [
            "MESSAGE_CREATE",
            "READY",
            "GUILD_BAN_ADD",
            "INTERACTION_CREATE",
        ] {
            assert!(is_event_type(name), "{name}");
        }
        for name in ["MESSAGE_CRATE", "message_create", "", "#"] {
            assert!(!is_event_type(name), "{name}");
        }
    }

    #[test]
    fn headers_round_trip_and_report_the_bad_one() {
        let headers = EventHeaders {
            gateway_id: "g1".into(),
            shard_id: 3,
            shard_count: 8,
            seq: 42,
            session_id: "abc".into(),
            received_at_ms: 1_700_000_000_000,
        };
        let map = headers.to_map();
        let back = EventHeaders::from_lookup(|n| map.get(n).cloned()).expect("round trip");
        assert_eq!(back, headers);
        assert_eq!(back.event_id(), "abc:42");

        let mut broken = map.clone();
        broken.insert(header::SEQ, HeaderValue::Str("x".into()));
        let error = EventHeaders::from_lookup(|n| broken.get(n).cloned()).expect_err("bad seq");
        assert_eq!(error.name, header::SEQ);
        assert_eq!(
            error.to_string(),
            "header \"seq\" is missing or not a integer"
        );
    }

    #[test]
    fn string_headers_are_bounded() {
        let headers = EventHeaders {
            gateway_id: "g".repeat(MAX_HEADER_STRING),
            shard_id: 0,
            shard_count: 1,
            seq: 1,
            session_id: "s".repeat(MAX_HEADER_STRING),
            received_at_ms: 1,
        };
        let mut map = headers.to_map();
        assert!(EventHeaders::from_lookup(|n| map.get(n).cloned()).is_ok());
        // The reported case: a 100 KB session id became 100 KB Redis keys.
        for name in [header::SESSION_ID, header::GATEWAY_ID] {
            let mut long = map.clone();
            long.insert(name, HeaderValue::Str("x".repeat(100 * 1024)));
            let error = EventHeaders::from_lookup(|n| long.get(n).cloned()).expect_err("too long");
            assert_eq!(error.name, name);
            assert_eq!(
                error.to_string(),
                format!(
                    "header {name:?} is missing or not a string of at most {MAX_HEADER_STRING} bytes"
                )
            );
        }
        map.insert(
            header::SESSION_ID,
            HeaderValue::Str("s".repeat(MAX_HEADER_STRING + 1)),
        );
        assert!(EventHeaders::from_lookup(|n| map.get(n).cloned()).is_err());
    }

    #[test]
    fn gateway_queue_names_are_client_named() {
        assert_eq!(gateway_queue("1f2e"), "gateway.1f2e");
        assert!(!gateway_queue("x").starts_with("amq."));
    }
}
