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
    /// The identity of the dispatch's content, independent of the shard and session that
    /// carried it (string, [`content_id`](super::content_id)); optional: set only while two
    /// shard sets may forward the same dispatch (resharding), so that workers handle it once.
    pub const CONTENT_ID: &str = "content_id";
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
    /// The dispatch's [`content_id`], when the gateway set one (during resharding).
    pub content_id: Option<String>,
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

impl HeaderError {
    /// A string header that is missing, of another type, or longer than
    /// [`MAX_HEADER_STRING`].
    pub fn string(name: &'static str) -> Self {
        Self {
            name,
            expected: "string of at most 128 bytes",
        }
    }
}

impl EventHeaders {
    /// The headers as name/value pairs.
    pub fn to_map(&self) -> BTreeMap<&'static str, HeaderValue> {
        let mut map = BTreeMap::from([
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
        ]);
        if let Some(content_id) = &self.content_id {
            map.insert(header::CONTENT_ID, HeaderValue::Str(content_id.clone()));
        }
        map
    }

    /// Reads the headers back; `get` looks a header up by name.
    pub fn from_lookup(get: impl Fn(&str) -> Option<HeaderValue>) -> Result<Self, HeaderError> {
        let bounded = |name: &'static str, value: Option<HeaderValue>| match value {
            Some(HeaderValue::Str(s)) if s.len() <= MAX_HEADER_STRING => Ok(s),
            _ => Err(HeaderError::string(name)),
        };
        let string = |name: &'static str| bounded(name, get(name));
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
            content_id: get(header::CONTENT_ID)
                .map(|value| bounded(header::CONTENT_ID, Some(value)))
                .transpose()?,
        })
    }

    /// A stable identity of the dispatch (`session_id:seq`), for de-duplication of redeliveries.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.session_id, self.seq)
    }
}

/// The identity of a dispatch's content: 32 lowercase hex digits of the xxh3-128 hash of the
/// event type and the raw `d` bytes. It does not depend on the shard, session or sequence that
/// carried the dispatch, so the two copies Discord sends while a bot is connected with two
/// shard counts (resharding) have the same id, and workers handle it once (header
/// [`header::CONTENT_ID`]). Stable across processes, versions and machines (never a seeded
/// or std hasher).
pub fn content_id(kind: &str, body: &[u8]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
    // The type's length first: no (type, body) pair hashes the bytes of another.
    hasher.update(&(kind.len() as u64).to_le_bytes());
    hasher.update(kind.as_bytes());
    hasher.update(body);
    format!("{:032x}", hasher.digest128())
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
            content_id: None,
        };
        let map = headers.to_map();
        let back = EventHeaders::from_lookup(|n| map.get(n).cloned()).expect("round trip");
        assert_eq!(back, headers);
        assert_eq!(back.event_id(), "abc:42");
        assert!(!map.contains_key(header::CONTENT_ID), "absent unless set");

        let copy = EventHeaders {
            content_id: Some(content_id("MESSAGE_CREATE", b"{}")),
            ..headers.clone()
        };
        let map_copy = copy.to_map();
        let back = EventHeaders::from_lookup(|n| map_copy.get(n).cloned()).expect("with id");
        assert_eq!(back, copy);
        let mut numeric = map_copy.clone();
        numeric.insert(header::CONTENT_ID, HeaderValue::U64(7));
        let error = EventHeaders::from_lookup(|n| numeric.get(n).cloned()).expect_err("number");
        assert_eq!(error.name, header::CONTENT_ID);

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
            content_id: Some("c".repeat(MAX_HEADER_STRING)),
        };
        let mut map = headers.to_map();
        assert!(EventHeaders::from_lookup(|n| map.get(n).cloned()).is_ok());
        // The reported case: a 100 KB session id became 100 KB Redis keys.
        for name in [header::SESSION_ID, header::GATEWAY_ID, header::CONTENT_ID] {
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
    fn a_content_id_depends_on_the_type_and_every_body_byte_only() {
        let body = br#"{"id":"1","content":"hello","guild_id":"42"}"#;
        let id = content_id("MESSAGE_CREATE", body);
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
        assert_eq!(
            content_id("MESSAGE_CREATE", body),
            id,
            "same input, same id"
        );
        // Pinned: the id must not change between processes, builds or versions (two
        // gateway versions may forward the two copies during a rolling update). The
        // reference xxHash (Python `xxhash.xxh3_128` over the same bytes) gives this value.
        assert_eq!(id, "4d547ede21c75924e8b6bfcfdc61afd8");
        assert_ne!(content_id("MESSAGE_UPDATE", body), id, "another type");
        for at in 0..body.len() {
            let mut changed = body.to_vec();
            changed[at] ^= 1;
            assert_ne!(content_id("MESSAGE_CREATE", &changed), id, "byte {at}");
        }
        // The type and the body are not simply concatenated.
        assert_ne!(content_id("AB", b"C"), content_id("A", b"BC"));
        assert_ne!(content_id("", b""), content_id("MESSAGE_CREATE", b""));
    }

    #[test]
    fn gateway_queue_names_are_client_named() {
        assert_eq!(gateway_queue("1f2e"), "gateway.1f2e");
        assert!(!gateway_queue("x").starts_with("amq."));
    }
}
