//! De-duplication of deliveries, in Redis, by two identities:
//!
//! - **the delivery's** (`session_id:seq`): after a successful handler the `done` marker
//!   `{prefix}:event:{session_id}:{seq}` is set (TTL `dedupe_ttl`); a redelivery that finds it
//!   is skipped;
//! - **the dispatch's content** (the optional `content_id` header, set by gateways while two
//!   shard sets may both forward a dispatch): before the handler runs, the first copy claims
//!   `{prefix}:event:content:{content_id}` with its own `session_id:seq` (TTL
//!   `content_claim_ttl`). A copy that finds the claim held by another `session_id:seq` is
//!   the same dispatch carried by the other shard set and is skipped; the claiming copy keeps
//!   its claim through retries and redeliveries, so it is still handled if its first attempt
//!   fails.
//!
//! Redis errors never drop an event: it is handled (a duplicate is better than a loss).

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::ConsumerConfig;

/// Claims `KEYS[1]` for `ARGV[1]` (TTL `ARGV[2]` ms) unless it is held; returns the holder.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder then
    return holder
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
",
    )
});

/// The Redis key of a `done` marker (`event_id` = `session_id:seq`).
fn done_key(prefix: &str, event_id: &str) -> String {
    format!("{prefix}:event:{event_id}")
}

/// The Redis key of a content claim.
pub(crate) fn content_key(prefix: &str, content_id: &str) -> String {
    format!("{prefix}:event:content:{content_id}")
}

/// A TTL in Redis milliseconds (at least 1).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Whether the delivery `event_id` (`session_id:seq`) must be skipped: its handling
/// completed before (a redelivery), or another copy of its dispatch claimed `content_id`.
/// Claims the content for this delivery when it is the first copy.
pub(crate) async fn is_duplicate(
    redis: &mut ConnectionManager,
    config: &ConsumerConfig,
    kind: &str,
    event_id: &str,
    content_id: Option<&str>,
) -> bool {
    let seen: Result<bool, redis::RedisError> = redis::cmd("EXISTS")
        .arg(done_key(&config.redis_prefix, event_id))
        .query_async(redis)
        .await;
    if matches!(seen, Ok(true)) {
        tracing::debug!(%event_id, kind, "duplicate event skipped");
        return true;
    }
    let Some(content_id) = content_id else {
        return false;
    };
    let holder: Result<String, redis::RedisError> = CLAIM
        .key(content_key(&config.redis_prefix, content_id))
        .arg(event_id)
        .arg(millis(config.content_claim_ttl))
        .invoke_async(redis)
        .await;
    match holder {
        Ok(holder) if holder != event_id => {
            tracing::debug!(
                %event_id,
                kind,
                content_id,
                claimed_by = %holder,
                "second copy of a dispatch skipped"
            );
            true
        }
        Ok(_) => false,
        Err(error) => {
            tracing::warn!(
                %error,
                %event_id,
                kind,
                content_id,
                "could not claim an event's content; handling it (a copy may run twice)"
            );
            false
        }
    }
}

/// Records that the delivery `event_id` was handled, so that a redelivery is skipped.
pub(crate) async fn mark_done(
    redis: &mut ConnectionManager,
    config: &ConsumerConfig,
    event_id: &str,
) {
    let marked: Result<(), redis::RedisError> = redis::cmd("SET")
        .arg(done_key(&config.redis_prefix, event_id))
        .arg(1)
        .arg("PX")
        .arg(millis(config.dedupe_ttl))
        .query_async(redis)
        .await;
    if let Err(error) = marked {
        tracing::warn!(%error, "could not record a handled event (a redelivery would run it again)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ttls() {
        assert_eq!(content_key("bot", "ab12"), "bot:event:content:ab12");
        assert_eq!(done_key("bot", "s:7"), "bot:event:s:7");
        assert_eq!(millis(Duration::from_secs(600)), 600_000);
        assert_eq!(millis(Duration::ZERO), 1, "Redis refuses PX 0");
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
