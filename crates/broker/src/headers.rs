//! Conversions between [`HeaderValue`] (the protocol crate's library-independent header value)
//! and lapin's [`AMQPValue`] / [`FieldTable`].
//!
//! Integers travel as AMQP signed 64-bit integers (`l`): RabbitMQ has no unsigned 64-bit field
//! type. Reading accepts every AMQP integer type and timestamps, as long as they are not
//! negative, and both short and long strings (long strings must be UTF-8).

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use swarmcord_protocol::amqp::{EventHeaders, HeaderError, HeaderValue, header};

use crate::BrokerError;

/// Number of times a message has been handed back to its queue by
/// [`crate::Incoming::retry_or_dead_letter`] (integer; absent = 0).
pub const ATTEMPTS: &str = "x-swarmcord-attempts";
/// Queue a dead-lettered or retried message was consumed from (string).
pub const ORIGINAL_QUEUE: &str = "x-swarmcord-original-queue";
/// Exchange a dead-lettered or retried message was first published to (string).
pub const ORIGINAL_EXCHANGE: &str = "x-swarmcord-original-exchange";
/// Routing key a dead-lettered or retried message was first published with (string).
pub const ORIGINAL_ROUTING_KEY: &str = "x-swarmcord-original-routing-key";

/// Converts a header value to its AMQP field value.
///
/// Fails for integers above `i64::MAX`, which no AMQP field type RabbitMQ accepts can hold.
pub fn to_amqp(name: &str, value: &HeaderValue) -> Result<AMQPValue, BrokerError> {
    match value {
        HeaderValue::Str(text) => Ok(AMQPValue::LongString(LongString::from(text.as_str()))),
        HeaderValue::U64(number) => {
            i64::try_from(*number)
                .map(AMQPValue::LongLongInt)
                .map_err(|_| BrokerError::HeaderOutOfRange {
                    name: name.to_owned(),
                    value: *number,
                })
        }
    }
}

/// Reads an AMQP field value as a header value: strings (UTF-8) and non-negative integers;
/// anything else (negative numbers, floats, tables, arrays, invalid UTF-8, ...) is `None`.
pub fn from_amqp(value: &AMQPValue) -> Option<HeaderValue> {
    let unsigned = |n: i64| u64::try_from(n).ok().map(HeaderValue::U64);
    match value {
        AMQPValue::LongString(text) => std::str::from_utf8(text.as_bytes())
            .ok()
            .map(|s| HeaderValue::Str(s.to_owned())),
        AMQPValue::ShortString(text) => Some(HeaderValue::Str(text.as_str().to_owned())),
        AMQPValue::ShortShortInt(n) => unsigned(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(HeaderValue::U64(u64::from(*n))),
        AMQPValue::ShortInt(n) => unsigned(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(HeaderValue::U64(u64::from(*n))),
        AMQPValue::LongInt(n) => unsigned(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(HeaderValue::U64(u64::from(*n))),
        AMQPValue::LongLongInt(n) => unsigned(*n),
        AMQPValue::Timestamp(n) => Some(HeaderValue::U64(*n)),
        _ => None,
    }
}

/// A header name as an AMQP short string.
pub(crate) fn short(what: &'static str, text: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(text).map_err(|_| BrokerError::NameTooLong {
        what,
        len: text.len(),
    })
}

/// Builds an AMQP header table from name/value pairs.
pub fn field_table<'a, N, I>(headers: I) -> Result<FieldTable, BrokerError>
where
    N: AsRef<str> + 'a,
    I: IntoIterator<Item = (N, &'a HeaderValue)>,
{
    let mut table = FieldTable::default();
    for (name, value) in headers {
        let name = name.as_ref();
        table.insert(short("header name", name)?, to_amqp(name, value)?);
    }
    Ok(table)
}

/// Looks a header up in an optional table (a message without headers has none).
pub fn lookup(table: Option<&FieldTable>, name: &str) -> Option<HeaderValue> {
    table?.inner().get(name).and_then(from_amqp)
}

/// Reads the [`EventHeaders`] a gateway attached; a missing or wrongly typed header is an error
/// naming it.
pub fn event_headers(table: Option<&FieldTable>) -> Result<EventHeaders, BrokerError> {
    let headers = EventHeaders::from_lookup(|name| lookup(table, name))?;
    // `lookup` reads a value no `HeaderValue` holds (a boolean, a float, a table) as absent;
    // for the optional content id, present with such a value is malformed, not absent.
    if headers.content_id.is_none()
        && table.is_some_and(|table| table.inner().contains_key(header::CONTENT_ID))
    {
        return Err(HeaderError::string(header::CONTENT_ID).into());
    }
    Ok(headers)
}

/// Reads an optional integer header: absent is `Ok(None)`, present with another type (or
/// negative) is an error.
pub fn optional_u64(table: Option<&FieldTable>, name: &str) -> Result<Option<u64>, BrokerError> {
    let Some(raw) = table.and_then(|t| t.inner().get(name)) else {
        return Ok(None);
    };
    match from_amqp(raw) {
        Some(HeaderValue::U64(n)) => Ok(Some(n)),
        _ => Err(BrokerError::MalformedHeader {
            name: name.to_owned(),
            expected: "non-negative integer",
        }),
    }
}

/// Reads an optional string header: absent is `Ok(None)`, present with another type is an error.
pub fn optional_str(table: Option<&FieldTable>, name: &str) -> Result<Option<String>, BrokerError> {
    let Some(raw) = table.and_then(|t| t.inner().get(name)) else {
        return Ok(None);
    };
    match from_amqp(raw) {
        Some(HeaderValue::Str(s)) => Ok(Some(s)),
        _ => Err(BrokerError::MalformedHeader {
            name: name.to_owned(),
            expected: "UTF-8 string",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventHeaders {
        EventHeaders {
            gateway_id: "g1".into(),
            shard_id: 2,
            shard_count: 4,
            seq: 99,
            session_id: "s".into(),
            received_at_ms: 1_700_000_000_000,
            content_id: None,
        }
    }

    #[test]
    fn event_headers_round_trip_through_a_field_table() {
        let map = sample().to_map();
        let table = field_table(map.iter().map(|(n, v)| (*n, v))).expect("table");
        assert_eq!(
            table.inner().get(header::SEQ),
            Some(&AMQPValue::LongLongInt(99))
        );
        assert_eq!(event_headers(Some(&table)).expect("read back"), sample());
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        assert!(matches!(event_headers(None), Err(BrokerError::Header(_))));
        let mut table = field_table(sample().to_map().iter().map(|(n, v)| (*n, v))).expect("t");
        table.insert(header::SHARD_ID.into(), AMQPValue::LongLongInt(-1));
        let error = event_headers(Some(&table)).expect_err("negative shard");
        assert!(error.to_string().contains("shard_id"), "{error}");
        table.insert(header::SHARD_ID.into(), AMQPValue::LongLongInt(1 << 40));
        assert!(event_headers(Some(&table)).is_err());
        table.insert(header::SHARD_ID.into(), AMQPValue::LongInt(1));
        table.insert(
            header::GATEWAY_ID.into(),
            AMQPValue::LongString(LongString::from(vec![0xff, 0xfe])),
        );
        assert!(event_headers(Some(&table)).is_err());
        table.insert(ATTEMPTS.into(), AMQPValue::Double(1.5));
        assert!(matches!(
            optional_u64(Some(&table), ATTEMPTS),
            Err(BrokerError::MalformedHeader { .. })
        ));
        assert_eq!(optional_u64(Some(&table), "absent").expect("absent"), None);
        assert!(optional_str(Some(&table), header::SHARD_ID).is_err());
    }

    #[test]
    fn a_content_id_is_optional_but_never_of_another_type() {
        let mut table = field_table(sample().to_map().iter().map(|(n, v)| (*n, v))).expect("t");
        assert_eq!(
            event_headers(Some(&table)).expect("absent").content_id,
            None
        );
        table.insert(
            header::CONTENT_ID.into(),
            AMQPValue::LongString(LongString::from("c1")),
        );
        let read = event_headers(Some(&table)).expect("a string");
        assert_eq!(read.content_id.as_deref(), Some("c1"));
        for other in [
            AMQPValue::Boolean(true),
            AMQPValue::Double(1.5),
            AMQPValue::LongLongInt(7),
            AMQPValue::LongString(LongString::from(vec![0xff, 0xfe])),
            AMQPValue::LongString(LongString::from("c".repeat(129))),
        ] {
            table.insert(header::CONTENT_ID.into(), other.clone());
            let error = event_headers(Some(&table)).expect_err("malformed");
            assert_eq!(
                error.to_string(),
                "header \"content_id\" is missing or not a string of at most 128 bytes",
                "{other:?}"
            );
        }
    }

    #[test]
    fn values_beyond_i64_are_refused() {
        let error = to_amqp("big", &HeaderValue::U64(u64::MAX)).expect_err("too big");
        assert!(matches!(error, BrokerError::HeaderOutOfRange { .. }));
        let long = "x".repeat(300);
        assert!(field_table([(long.as_str(), &HeaderValue::U64(1))]).is_err());
    }

    #[test]
    fn every_integer_type_reads_as_u64() {
        for value in [
            AMQPValue::ShortShortUInt(7),
            AMQPValue::ShortShortInt(7),
            AMQPValue::ShortInt(7),
            AMQPValue::ShortUInt(7),
            AMQPValue::LongInt(7),
            AMQPValue::LongUInt(7),
            AMQPValue::LongLongInt(7),
            AMQPValue::Timestamp(7),
        ] {
            assert_eq!(from_amqp(&value), Some(HeaderValue::U64(7)));
        }
        assert_eq!(from_amqp(&AMQPValue::Boolean(true)), None);
        assert_eq!(from_amqp(&AMQPValue::Void), None);
    }
}
