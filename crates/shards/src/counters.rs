//! The gateway's event counters registered at zero when it starts, so that `/metrics` shows
//! `0` (and dashboards a flat line) instead of no series at all until the first event.

use swarmcord_protocol::command::GatewayCommand;

/// Per owned shard: identifies, resumes, watchdog reconnects, orphaned events; handoffs,
/// takeovers, reshardings and shards owned; per command kind: every outcome of a gateway command.
pub(crate) fn register_at_zero(shards: &[u32]) {
    for shard in shards {
        let shard = shard.to_string();
        for name in [
            "swarmcord_gateway_identifies_total",
            "swarmcord_gateway_resumes_total",
            "swarmcord_gateway_watchdog_reconnects_total",
            "swarmcord_gateway_events_orphaned_total",
        ] {
            metrics::counter!(name, "shard" => shard.clone()).increment(0);
        }
    }
    // Shards handed to another replica and taken from one, reshardings switched
    // (`GATEWAY_SHARDS=auto`).
    for name in [
        "swarmcord_gateway_handoffs_total",
        "swarmcord_gateway_takeovers_total",
        "swarmcord_gateway_reshards_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!("swarmcord_gateway_shards_owned").set(0.0);
    for kind in GatewayCommand::KINDS {
        for outcome in ["executed", "dead_lettered", "rerouted"] {
            metrics::counter!("swarmcord_gateway_commands_total", "outcome" => outcome, "kind" => *kind)
                .increment(0);
        }
    }
}
