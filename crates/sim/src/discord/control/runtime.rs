//! The request log, one-shot REST faults and run-time configuration changes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Control;
use crate::record::Record;

/// Run-time configuration changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigPatch {
    /// `session_start_limit.remaining`.
    pub session_start_remaining: Option<u32>,
    /// `session_start_limit.max_concurrency`.
    pub max_concurrency: Option<u32>,
    /// Identify bucket interval, milliseconds.
    pub identify_interval_ms: Option<u64>,
    /// Shards recommended by `GET /gateway/bot`.
    pub recommended_shards: Option<u32>,
    /// Turn REST rate limiting on or off.
    pub rest_rate_limits: Option<bool>,
    /// Replace the artificial REST latencies.
    pub rest_delays: Option<Vec<crate::discord::RestDelay>>,
    /// Invalid answers in 10 minutes before the simulated Cloudflare ban (`0`: never).
    pub invalid_request_limit: Option<u32>,
}

impl Control {
    /// Number of records so far: the index the next one gets (a `since` for [`Self::log`] and
    /// [`Self::wait_for_record`] that skips everything recorded before), without copying the log.
    pub fn log_len(&self) -> u64 {
        self.shared.recorder.len()
    }

    /// Recorded requests since `since`, optionally of one kind (`rest`, `gateway`).
    pub fn log(&self, since: u64, kind: Option<&str>) -> Vec<Record> {
        self.shared.recorder.since(since, kind)
    }

    /// Waits until a record matching `pred` appears (from index `since` on) or `timeout` passes.
    pub async fn wait_for_record(
        &self,
        since: u64,
        timeout: Duration,
        pred: impl Fn(&Record) -> bool,
    ) -> Option<Record> {
        let mut live = self.shared.recorder.subscribe();
        // What was recorded already (again after the live feed lagged).
        let recorded = || {
            self.shared
                .recorder
                .since(since, None)
                .into_iter()
                .find(|r| pred(r))
        };
        if let Some(found) = recorded() {
            return Some(found);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(record)) if record.index >= since && pred(&record) => return Some(record),
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    if let Some(found) = recorded() {
                        return Some(found);
                    }
                }
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Arms a one-shot REST fault: the next `fault.count` matching requests fail with
    /// `fault.status` (recorded in the log like any request) and change nothing.
    pub fn fail_rest(&self, fault: &crate::discord::RestFault) {
        self.shared.rest.add_fault(fault.clone());
    }

    /// Applies run-time configuration changes.
    pub fn patch_config(&self, patch: &ConfigPatch) {
        if let Some(remaining) = patch.session_start_remaining {
            self.shared.gateway.set_session_start_remaining(remaining);
        }
        let mut config = self
            .shared
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = patch.max_concurrency {
            config.max_concurrency = v.max(1);
        }
        if let Some(v) = patch.identify_interval_ms {
            config.identify_interval = Duration::from_millis(v);
        }
        if let Some(v) = patch.recommended_shards {
            config.recommended_shards = v.max(1);
        }
        if let Some(v) = patch.rest_rate_limits {
            config.rest_limits.enabled = v;
        }
        if let Some(v) = patch.invalid_request_limit {
            config.rest_limits.invalid_request_limit = (v > 0).then_some(v);
        }
        if let Some(delays) = &patch.rest_delays {
            config.rest_delays.clone_from(delays);
        }
        drop(config);
        if patch.rest_rate_limits.is_some() {
            // Outside the config lock: REST handlers take the two locks in the other order.
            self.shared.rest.reset();
        }
    }
}
