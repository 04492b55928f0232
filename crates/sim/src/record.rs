//! A timestamped log of everything a client did to a simulator, for tests and benchmarks to
//! read back.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// One recorded request (REST call, gateway command, Lavalink player update, ...).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Position in the log, starting at 0.
    pub index: u64,
    /// Unix time in microseconds when the simulator received it.
    pub at_us: u64,
    /// Microseconds since the simulator started (monotonic).
    pub elapsed_us: u64,
    /// What it was: `"rest"`, `"gateway"`, `"lavalink"`, ...
    pub kind: &'static str,
    /// HTTP method (REST) or opcode name (gateway).
    pub method: String,
    /// Request path (REST), shard (gateway) or player (Lavalink).
    pub path: String,
    /// HTTP status answered (REST), 0 otherwise.
    pub status: u16,
    /// The request body or command payload, as JSON.
    pub body: Value,
    /// The REST request's `X-Audit-Log-Reason`, percent-decoded (absent when none was sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The log. Cheap to append to from many tasks; readers take snapshots or subscribe.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    records: Mutex<Vec<Record>>,
    live: broadcast::Sender<Record>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty log.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            records: Mutex::new(Vec::new()),
            live: broadcast::channel(65_536).0,
        }
    }

    /// Appends a record and returns its index.
    pub fn push(
        &self,
        kind: &'static str,
        method: impl Into<String>,
        path: impl Into<String>,
        status: u16,
        body: Value,
    ) -> u64 {
        self.push_with_reason(kind, method.into(), path.into(), status, body, None)
    }

    /// Appends a record with an audit-log reason and returns its index.
    pub fn push_with_reason(
        &self,
        kind: &'static str,
        method: String,
        path: String,
        status: u16,
        body: Value,
        reason: Option<String>,
    ) -> u64 {
        let at_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let elapsed_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = records.len() as u64;
        let record = Record {
            index,
            at_us,
            elapsed_us,
            kind,
            method,
            path,
            status,
            body,
            reason,
        };
        let _ = self.live.send(record.clone());
        records.push(record);
        index
    }

    /// Every record with `index >= since`, optionally only of one kind.
    pub fn since(&self, since: u64, kind: Option<&str>) -> Vec<Record> {
        let records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = usize::try_from(since)
            .unwrap_or(usize::MAX)
            .min(records.len());
        records[start..]
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .cloned()
            .collect()
    }

    /// Number of records so far (the index the next one will get).
    pub fn len(&self) -> u64 {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len() as u64
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A live feed of new records (lagging subscribers miss records; use [`Recorder::since`]
    /// to catch up).
    pub fn subscribe(&self) -> broadcast::Receiver<Record> {
        self.live.subscribe()
    }

    /// Forgets every record (indexes restart at 0).
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
