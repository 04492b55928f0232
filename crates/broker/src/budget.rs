//! A memory budget in bytes for messages held in a pipeline (the publisher's buffer, the
//! gateway's cache stage): taking a message in waits while the budget is spent, and its share
//! comes back when the message is dropped.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counted in KiB so that a budget of gigabytes fits a semaphore's `u32` requests.
const UNIT: usize = 1024;

/// Per-message overhead counted besides the body (properties, headers, bookkeeping).
const OVERHEAD: usize = 512;

/// A budget of bytes shared by clones; [`ByteBudget::reserve`] waits until enough is free.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    semaphore: Arc<Semaphore>,
    units: u32,
}

/// A message's share of a [`ByteBudget`], given back on drop.
#[derive(Debug)]
pub struct Reserved {
    _permit: OwnedSemaphorePermit,
}

impl ByteBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: usize) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            semaphore: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Waits until a message with a body of `bytes` fits, and reserves its share. A message
    /// larger than the whole budget waits until the budget is entirely free, then goes alone.
    /// `None` once the budget is closed.
    pub async fn reserve(&self, bytes: usize) -> Option<Reserved> {
        let units = u32::try_from(bytes.saturating_add(OVERHEAD).div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(self.units);
        let permit = Arc::clone(&self.semaphore)
            .acquire_many_owned(units)
            .await
            .ok()?;
        Some(Reserved { _permit: permit })
    }

    /// Bytes currently reserved (rounded up to KiB per message).
    pub fn held(&self) -> usize {
        (self.units as usize).saturating_sub(self.semaphore.available_permits()) * UNIT
    }

    /// Makes waiting and later [`Self::reserve`] calls return `None`.
    pub fn close(&self) {
        self.semaphore.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_come_back_on_drop() {
        let budget = ByteBudget::new(10 * UNIT);
        let big = budget.reserve(8 * UNIT).await.expect("fits");
        assert_eq!(budget.held(), 9 * UNIT, "body + overhead, rounded up");
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            budget.reserve(4 * UNIT),
        )
        .await;
        assert!(waiting.is_err(), "no room yet");
        drop(big);
        let huge = budget.reserve(100 * UNIT).await.expect("alone");
        assert_eq!(
            budget.held(),
            10 * UNIT,
            "a message over the budget takes all of it"
        );
        drop(huge);
        budget.close();
        assert!(budget.reserve(1).await.is_none());
    }
}
