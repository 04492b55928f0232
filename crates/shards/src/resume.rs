//! Which session a shard resumes when it (re)connects: the one saved in Redis, or the one this
//! replica still holds in memory after losing the shard's lease.
//!
//! A replica that lost a lease (Redis restarted empty, or was unreachable for a whole TTL)
//! drops the connection without a close frame, so the session stays resumable. When it takes
//! the lease again and Redis has no session for the shard (it restarted empty) — or an older
//! point of the same session — it resumes from what it holds: Discord replays exactly what was
//! not confirmed. A *different* session in Redis was started by another replica after ours and
//! wins.

use swarmcord_cache::CacheWriter;
use swarmcord_coord::SavedSession;

use crate::progress::Progress;

/// Whether the cache lost the data of shard `shard_id` of `shard_count`: its rebuild marker is
/// gone, as after Redis restarted empty. A lease key that vanished alone (a previous process
/// with the same gateway id released it during a rolling update) leaves the marker in place,
/// and needs no rebuild. An unreadable marker counts as lost (rebuilding is the safe side).
pub(crate) async fn cache_lost(writer: &CacheWriter, shard_id: u32, shard_count: u32) -> bool {
    let mut check = [writer.session_check(shard_id, shard_count)];
    match writer.apply(&mut check).await {
        Ok(_) => check[0].previous().is_none(),
        Err(error) => {
            tracing::debug!(shard_id, %error, "cache marker unreadable; rebuilding");
            true
        }
    }
}

/// The session to resume, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chosen {
    pub session_id: String,
    pub resume_url: Option<String>,
    pub sequence: u64,
    /// Taken from memory (Redis had nothing newer).
    pub from_memory: bool,
}

/// Chooses between the session saved in Redis (already filtered for the shard count) and the
/// one held in memory.
pub(crate) fn choose(saved: Option<SavedSession>, held: Option<&Progress>) -> Option<Chosen> {
    let held = held.and_then(|p| {
        let session_id = p.session_id.clone()?;
        Some(Chosen {
            session_id,
            resume_url: p.resume_url.clone(),
            sequence: p.resumable_seq(),
            from_memory: true,
        })
    });
    match (saved, held) {
        (Some(saved), Some(held))
            if saved.session_id == held.session_id && held.sequence > saved.sequence =>
        {
            Some(held)
        }
        (Some(saved), _) => Some(Chosen {
            session_id: saved.session_id,
            resume_url: saved.resume_url,
            sequence: saved.sequence,
            from_memory: false,
        }),
        (None, held) => held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(id: &str, sequence: u64) -> SavedSession {
        SavedSession {
            session_id: id.to_owned(),
            sequence,
            resume_url: None,
            shard_count: 1,
        }
    }

    fn held(id: &str, sequence: u64) -> Progress {
        Progress::restored(id.to_owned(), None, sequence)
    }

    #[test]
    fn memory_is_used_when_redis_lost_the_session_or_lags_behind() {
        let r = choose(None, Some(&held("a", 40))).unwrap();
        assert_eq!(
            (r.session_id.as_str(), r.sequence, r.from_memory),
            ("a", 40, true)
        );
        let r = choose(Some(saved("a", 30)), Some(&held("a", 40))).unwrap();
        assert_eq!((r.sequence, r.from_memory), (40, true));
        let r = choose(Some(saved("a", 50)), Some(&held("a", 40))).unwrap();
        assert_eq!((r.sequence, r.from_memory), (50, false));
        let r = choose(Some(saved("b", 3)), Some(&held("a", 40))).unwrap();
        assert_eq!(
            (r.session_id.as_str(), r.from_memory),
            ("b", false),
            "another replica's newer session wins"
        );
        assert_eq!(choose(None, None), None);
        assert_eq!(choose(None, Some(&Progress::default())), None);
    }
}
