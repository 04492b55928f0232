//! Resharding: the shard count the cluster runs, and the record of a change of it in
//! progress.
//!
//! The count is stored once (`{prefix}:shards:count`) by the first replica that claims
//! shards; replicas started later run the stored count, whatever their `SHARD_COUNT`. An
//! operator changes it with a [`Reshard`] record (`gateway reshard <count>`), which the
//! replicas drive through its [`Phase`]s: the new shard set is connected beside the old one
//! ([`Phase::Overlap`]), every replica tags its events with their content identity
//! ([`Phase::Tagging`]), both sets forward ([`Phase::Both`]; workers drop the second copy of
//! each event), then the new count is stored and the old set retires ([`Phase::Switched`]).
//! Ages are measured in Redis's clock, so replicas on different machines agree on them.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use swarmcord_protocol::keys::Keys;

use crate::{CoordError, Result};

/// Where a resharding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Phase {
    /// The new shard set is connecting beside the old one; only the old set forwards.
    Overlap,
    /// Every new shard is ready: both sets tag their events with their content identity, so
    /// that workers can tell two copies of one event apart from two events.
    Tagging,
    /// Both sets forward (tagged); workers drop the second copy.
    Both,
    /// The new count is the cluster's: the old set stops forwarding and retires.
    Switched,
}

impl Phase {
    /// The phase's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overlap => "overlap",
            Self::Tagging => "tagging",
            Self::Both => "both",
            Self::Switched => "switched",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "overlap" => Self::Overlap,
            "tagging" => Self::Tagging,
            "both" => Self::Both,
            "switched" => Self::Switched,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resharding in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reshard {
    /// The shard count it started from.
    pub from: u32,
    /// The shard count it goes to.
    pub to: u32,
    /// Where it is.
    pub phase: Phase,
    /// How long it has been in `phase` (Redis's clock).
    pub age: Duration,
}

/// What [`Resharding::begin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Begun {
    /// Started: the record, in [`Phase::Overlap`].
    Started(Reshard),
    /// Another resharding is in progress.
    Busy(Reshard),
    /// The cluster already runs that count.
    Unchanged,
    /// No replica has stored the cluster's count yet (none claims shards).
    NoCount,
}

/// The cluster's shard count and its resharding record.
#[derive(Clone)]
pub struct Resharding {
    conn: ConnectionManager,
    keys: Keys,
}

impl std::fmt::Debug for Resharding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resharding")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

/// `KEYS[1]` = count, `KEYS[2]` = record, `ARGV[1]` = the new count.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local count = redis.call('GET', KEYS[1])
if not count then return {'nocount'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'busy'} end
if count == ARGV[1] then return {'same'} end
local t = redis.call('TIME')
redis.call('HSET', KEYS[2], 'from', count, 'to', ARGV[1], 'phase', 'overlap', 'since_s', t[1], 'since_us', t[2])
return {'started'}
",
    )
});

/// `KEYS[1]` = record: `{from, to, phase, age_ms}` or nil.
static CURRENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local r = redis.call('HMGET', KEYS[1], 'from', 'to', 'phase', 'since_s', 'since_us')
if not r[1] then return false end
local t = redis.call('TIME')
local age = (tonumber(t[1]) - tonumber(r[4])) * 1000 + math.floor((tonumber(t[2]) - tonumber(r[5])) / 1000)
return {r[1], r[2], r[3], age}
",
    )
});

/// `KEYS[1]` = record, `KEYS[2]` = count, `ARGV[1]` = expected phase, `ARGV[2]` = next phase.
/// Entering `switched` stores the new count in the same step.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'phase') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'phase', ARGV[2], 'since_s', t[1], 'since_us', t[2])
if ARGV[2] == 'switched' then
  redis.call('SET', KEYS[2], redis.call('HGET', KEYS[1], 'to'))
end
return 1
",
    )
});

/// `KEYS[1]` = record, `ARGV[1..]` = the phases in which it may be deleted.
static DELETE_IN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return 0 end
for i = 1, #ARGV do
  if ARGV[i] == phase then return redis.call('DEL', KEYS[1]) end
end
return 0
",
    )
});

impl Resharding {
    /// The record and count under `keys`' prefix.
    pub fn new(conn: ConnectionManager, keys: Keys) -> Self {
        Self { conn, keys }
    }

    /// The cluster's shard count, if stored.
    ///
    /// # Errors
    /// Redis failed or the stored value is not a count.
    pub async fn count(&self) -> Result<Option<u32>> {
        let stored: Option<String> = redis::cmd("GET")
            .arg(self.keys.shard_count())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("shard count read", error))?;
        stored.map(|value| parse_count(&value)).transpose()
    }

    /// The cluster's shard count, storing `count` first when none is stored.
    ///
    /// # Errors
    /// Redis failed or the stored value is not a count.
    pub async fn adopt(&self, count: u32) -> Result<u32> {
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.shard_count())
            .arg(count)
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("shard count store", error))?;
        Ok(self.count().await?.unwrap_or(count))
    }

    /// The resharding in progress, if any.
    ///
    /// # Errors
    /// Redis failed or the record is malformed.
    pub async fn current(&self) -> Result<Option<Reshard>> {
        let found: Option<(String, String, String, i64)> = CURRENT
            .key(self.keys.reshard())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("reshard read", error))?;
        let Some((from, to, phase, age_ms)) = found else {
            return Ok(None);
        };
        Ok(Some(Reshard {
            from: parse_count(&from)?,
            to: parse_count(&to)?,
            phase: Phase::parse(&phase)
                .ok_or_else(|| CoordError::malformed("reshard phase", &phase))?,
            age: Duration::from_millis(u64::try_from(age_ms).unwrap_or(0)),
        }))
    }

    /// Starts resharding to `to` shards.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn begin(&self, to: u32) -> Result<Begun> {
        let outcome: Vec<String> = BEGIN
            .key(self.keys.shard_count())
            .key(self.keys.reshard())
            .arg(to)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("reshard start", error))?;
        match outcome.first().map(String::as_str) {
            Some("nocount") => Ok(Begun::NoCount),
            Some("same") => Ok(Begun::Unchanged),
            Some("busy" | "started") => {
                let current = self
                    .current()
                    .await?
                    .ok_or_else(|| CoordError::malformed("reshard record", "vanished"))?;
                Ok(if outcome[0] == "busy" {
                    Begun::Busy(current)
                } else {
                    Begun::Started(current)
                })
            }
            other => Err(CoordError::malformed(
                "reshard start answer",
                format!("{other:?}"),
            )),
        }
    }

    /// Moves the record from `expected` to `next` if it is still in `expected` (several
    /// replicas may try at once; one wins). Entering [`Phase::Switched`] also stores the new
    /// count as the cluster's. Returns whether this call moved it.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn advance(&self, expected: Phase, next: Phase) -> Result<bool> {
        let moved: i64 = ADVANCE
            .key(self.keys.reshard())
            .key(self.keys.shard_count())
            .arg(expected.as_str())
            .arg(next.as_str())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("reshard advance", error))?;
        Ok(moved == 1)
    }

    /// Removes a finished record ([`Phase::Switched`]). Returns whether this call removed it.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn finish(&self) -> Result<bool> {
        self.delete_in(&[Phase::Switched]).await
    }

    /// Abandons a resharding that has not switched yet: the new set stops forwarding and
    /// disconnects, the old set goes on. Returns whether there was one to cancel.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn cancel(&self) -> Result<bool> {
        self.delete_in(&[Phase::Overlap, Phase::Tagging, Phase::Both])
            .await
    }

    async fn delete_in(&self, phases: &[Phase]) -> Result<bool> {
        let mut script = DELETE_IN.key(self.keys.reshard());
        for phase in phases {
            script.arg(phase.as_str());
        }
        let deleted: i64 = script
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("reshard delete", error))?;
        Ok(deleted == 1)
    }
}

fn parse_count(value: &str) -> Result<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| CoordError::malformed("shard count", value))
}
