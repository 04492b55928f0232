//! What each owned shard is doing, for `/readyz` and the `swarmcord_gateway_shard_state` gauge.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use twilight_gateway::ShardState;

/// The state of one owned shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShardStatus {
    /// Connected and authenticated.
    Active,
    /// Between connections.
    Disconnected,
    /// Waiting for its identify slot or identifying.
    Identifying,
    /// Resuming its session.
    Resuming,
    /// Closed by Discord with a code that forbids reconnecting.
    FatallyClosed,
    /// No connection yet: waiting for the shard lease.
    WaitingForLease,
}

impl ShardStatus {
    /// The value of the `swarmcord_gateway_shard_state` gauge.
    pub(super) fn gauge(self) -> f64 {
        match self {
            Self::Active => 0.0,
            Self::Disconnected => 1.0,
            Self::Identifying => 2.0,
            Self::Resuming => 3.0,
            Self::FatallyClosed => 4.0,
            Self::WaitingForLease => 5.0,
        }
    }

    /// How `/readyz` names it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disconnected => "disconnected",
            Self::Identifying => "identifying",
            Self::Resuming => "resuming",
            Self::FatallyClosed => "fatally closed",
            Self::WaitingForLease => "waiting for the shard lease",
        }
    }
}

impl From<ShardState> for ShardStatus {
    fn from(state: ShardState) -> Self {
        match state {
            ShardState::Active => Self::Active,
            ShardState::Disconnected { .. } => Self::Disconnected,
            ShardState::Identifying => Self::Identifying,
            ShardState::Resuming => Self::Resuming,
            ShardState::FatallyClosed => Self::FatallyClosed,
        }
    }
}

/// The status of every owned shard.
pub(super) struct Statuses(HashMap<u32, Mutex<ShardStatus>>);

impl Statuses {
    /// Every shard of `owned` waiting for its lease.
    pub(super) fn new(owned: &[u32]) -> Self {
        Self(
            owned
                .iter()
                .map(|s| (*s, Mutex::new(ShardStatus::WaitingForLease)))
                .collect(),
        )
    }

    pub(super) fn set(&self, shard_id: u32, status: impl Into<ShardStatus>) {
        if let Some(slot) = self.0.get(&shard_id) {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = status.into();
        }
    }

    pub(super) fn get(&self, shard_id: u32) -> ShardStatus {
        self.0
            .get(&shard_id)
            .map_or(ShardStatus::WaitingForLease, |slot| {
                *slot.lock().unwrap_or_else(PoisonError::into_inner)
            })
    }
}

/// A set of shard ids shared between tasks: this replica's target share, the shards whose
/// lease it holds.
#[derive(Default)]
pub(super) struct ShardSet(Mutex<BTreeSet<u32>>);

impl ShardSet {
    pub(super) fn new(shards: impl IntoIterator<Item = u32>) -> Self {
        Self(Mutex::new(shards.into_iter().collect()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(&self) -> BTreeSet<u32> {
        self.lock().clone()
    }

    pub(super) fn set(&self, shards: BTreeSet<u32>) {
        *self.lock() = shards;
    }

    pub(super) fn contains(&self, shard_id: u32) -> bool {
        self.lock().contains(&shard_id)
    }

    /// Adds (`true`) or removes `shard_id`.
    pub(super) fn mark(&self, shard_id: u32, present: bool) {
        if present {
            self.lock().insert(shard_id);
        } else {
            self.lock().remove(&shard_id);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_values_and_names_are_stable() {
        let all = [
            (ShardStatus::from(ShardState::Active), 0.0, "active"),
            (
                ShardStatus::from(ShardState::Disconnected {
                    reconnect_attempts: 1,
                }),
                1.0,
                "disconnected",
            ),
            (ShardState::Identifying.into(), 2.0, "identifying"),
            (ShardState::Resuming.into(), 3.0, "resuming"),
            (ShardState::FatallyClosed.into(), 4.0, "fatally closed"),
            (
                ShardStatus::WaitingForLease,
                5.0,
                "waiting for the shard lease",
            ),
        ];
        for (status, gauge, name) in all {
            assert!((status.gauge() - gauge).abs() < f64::EPSILON, "{status:?}");
            assert_eq!(status.name(), name);
        }
        let statuses = Statuses::new(&[3]);
        assert_eq!(statuses.get(3), ShardStatus::WaitingForLease);
        statuses.set(3, ShardState::Active);
        assert_eq!(statuses.get(3), ShardStatus::Active);
        statuses.set(9, ShardState::Active);
        assert_eq!(statuses.get(9), ShardStatus::WaitingForLease, "not owned");
    }
}

/// The `/readyz` checks of one shard set, written only while the set is the replica's
/// primary: the new set connecting beside it during a resharding must not make the replica
/// unready (Swarm would replace it) until it takes over.
#[derive(Debug, Clone)]
pub(super) struct Checks {
    health: swarmcord_ops::http::Health,
    primary: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Checks {
    pub(super) fn new(health: swarmcord_ops::http::Health, primary: bool) -> Self {
        Self {
            health,
            primary: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(primary)),
        }
    }

    /// Whether the set is the replica's primary (it reports, and sets the gauges).
    pub(super) fn reports(&self) -> bool {
        self.primary.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The set becomes (or stops being) the replica's primary.
    pub(super) fn set_primary(&self, primary: bool) {
        self.primary
            .store(primary, std::sync::atomic::Ordering::Release);
    }

    pub(super) fn ok(&self, name: &str) {
        if self.reports() {
            self.health.ok(name);
        }
    }

    pub(super) fn fail(&self, name: &str, reason: impl Into<String>) {
        if self.reports() {
            self.health.fail(name, reason);
        }
    }

    /// Forgets a check (whether or not the set reports).
    pub(super) fn remove(&self, name: &str) {
        self.health.remove(name);
    }
}
