//! What a shard set does while the cluster reshards (`claim.rs`, `reshard.rs`): whether it
//! forwards, whether its events carry their content identity, and when a shard of the new set
//! has loaded its guilds (the new set switches in only once every shard has).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a new shard waits for the `GUILD_CREATE`s its `READY` announced before it counts
/// as loaded anyway (guilds in an outage stay unavailable; Discord sends them later).
pub(super) const GUILD_LOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// How a shard set forwards its dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Forwarded as usual.
    Plain,
    /// Forwarded with the `content_id` header: the other shard set may forward the same
    /// event, and workers keep the first copy.
    Tagged,
    /// Read, counted as received (the session stays resumable) and recorded in the cache's
    /// shard bookkeeping, but not forwarded: the new set while it connects.
    Shadow,
}

/// A [`Mode`] shared by the shard tasks and the supervisor.
#[derive(Debug)]
pub(super) struct ModeCell(AtomicU8);

impl ModeCell {
    pub(super) fn new(mode: Mode) -> Self {
        Self(AtomicU8::new(mode as u8))
    }

    pub(super) fn get(&self) -> Mode {
        match self.0.load(Ordering::Acquire) {
            0 => Mode::Plain,
            1 => Mode::Tagged,
            _ => Mode::Shadow,
        }
    }

    /// Sets the mode; returns whether it changed.
    pub(super) fn set(&self, mode: Mode) -> bool {
        self.0.swap(mode as u8, Ordering::AcqRel) != mode as u8
    }
}

/// The guilds each shard still waits for since its `READY`.
#[derive(Debug, Default)]
pub(super) struct Loading(Mutex<HashMap<u32, Load>>);

#[derive(Debug)]
struct Load {
    pending: HashSet<u64>,
    since: Instant,
}

#[derive(serde::Deserialize)]
struct Ready {
    #[serde(default)]
    guilds: Vec<GuildId>,
}

#[derive(serde::Deserialize)]
struct GuildId {
    #[serde(with = "snowflake")]
    id: u64,
}

/// Discord's ids are strings in JSON.
mod snowflake {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Loading {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Load>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows a shard's `READY` (the guilds to wait for), `GUILD_CREATE`/`GUILD_DELETE` (one
    /// fewer) and `RESUMED` (a session that had loaded before: nothing to wait for).
    pub(super) fn observe(&self, shard_id: u32, kind: &str, payload: &[u8]) {
        match kind {
            "READY" => {
                let pending = serde_json::from_slice::<Ready>(payload)
                    .map(|ready| ready.guilds.into_iter().map(|g| g.id).collect())
                    .unwrap_or_default();
                self.lock().insert(
                    shard_id,
                    Load {
                        pending,
                        since: Instant::now(),
                    },
                );
            }
            "RESUMED" => {
                self.lock().entry(shard_id).or_insert_with(|| Load {
                    pending: HashSet::new(),
                    since: Instant::now(),
                });
            }
            "GUILD_CREATE" | "GUILD_DELETE" => {
                let mut all = self.lock();
                if let Some(load) = all.get_mut(&shard_id)
                    && !load.pending.is_empty()
                    && let Ok(guild) = serde_json::from_slice::<GuildId>(payload)
                {
                    load.pending.remove(&guild.id);
                }
            }
            _ => {}
        }
    }

    /// Whether the shard received every guild its `READY` announced (or waited
    /// [`GUILD_LOAD_TIMEOUT`] for them).
    pub(super) fn loaded(&self, shard_id: u32) -> bool {
        self.lock().get(&shard_id).is_some_and(|load| {
            load.pending.is_empty() || load.since.elapsed() > GUILD_LOAD_TIMEOUT
        })
    }

    /// The shard left this replica.
    pub(super) fn forget(&self, shard_id: u32) {
        self.lock().remove(&shard_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_loaded_once_every_announced_guild_arrived() {
        let loading = Loading::default();
        assert!(!loading.loaded(1), "no READY yet");
        loading.observe(
            1,
            "READY",
            br#"{"session_id":"s","guilds":[{"id":"10","unavailable":true},{"id":"11","unavailable":true}]}"#,
        );
        assert!(!loading.loaded(1));
        loading.observe(1, "GUILD_CREATE", br#"{"id":"10","name":"a"}"#);
        assert!(!loading.loaded(1), "one guild still missing");
        loading.observe(1, "GUILD_CREATE", br#"{"id":"12"}"#);
        assert!(
            !loading.loaded(1),
            "a guild it did not announce changes nothing"
        );
        loading.observe(1, "GUILD_DELETE", br#"{"id":"11","unavailable":true}"#);
        assert!(loading.loaded(1));
        assert!(!loading.loaded(2), "other shards are separate");
        loading.forget(1);
        assert!(!loading.loaded(1));
    }

    #[test]
    fn a_resumed_session_is_loaded_and_bad_payloads_are_ignored() {
        let loading = Loading::default();
        loading.observe(3, "RESUMED", b"{}");
        assert!(loading.loaded(3));
        loading.observe(4, "READY", b"not json");
        assert!(loading.loaded(4), "an unreadable READY announces no guild");
        loading.observe(4, "GUILD_CREATE", b"[1,2");
        assert!(loading.loaded(4));
    }

    #[test]
    fn the_mode_cell_reports_changes() {
        let cell = ModeCell::new(Mode::Shadow);
        assert_eq!(cell.get(), Mode::Shadow);
        assert!(cell.set(Mode::Tagged));
        assert!(!cell.set(Mode::Tagged));
        assert_eq!(cell.get(), Mode::Tagged);
        assert!(cell.set(Mode::Plain));
        assert_eq!(cell.get(), Mode::Plain);
    }
}
