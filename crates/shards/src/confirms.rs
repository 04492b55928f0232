//! Routing the broker's confirms to each shard's [`Progress`], and knowing when every confirm
//! the publisher reported has been applied.
//!
//! The publisher reports each confirm on a channel *before* it counts it in
//! `Publisher::confirmed_count`, so once `Publisher::flush` returned, every confirm up to the
//! flushed count is in the channel; [`ConfirmRouter::caught_up`] waits until the routing task
//! has applied them too. Without that wait a graceful shutdown could save a sequence number
//! older than the last confirmed one, and the replacement's RESUME would replay (duplicate)
//! the events in between.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use swarmcord_broker::Confirmed;
use tokio::sync::{mpsc, watch};

use crate::progress::{Progress, untick};

/// Counts the confirms applied to the shards' progress.
#[derive(Debug)]
pub(crate) struct ConfirmRouter {
    applied: watch::Sender<u64>,
}

impl ConfirmRouter {
    pub(crate) fn new() -> Self {
        Self {
            applied: watch::Sender::new(0),
        }
    }

    /// Applies confirms until the publisher is gone.
    pub(crate) async fn run(
        &self,
        progress: &Mutex<HashMap<u32, Progress>>,
        mut confirmed: mpsc::UnboundedReceiver<Confirmed>,
    ) {
        while let Some(Confirmed { ticket }) = confirmed.recv().await {
            let (shard_id, generation, seq) = untick(ticket);
            // seq 0: not an event (a re-routed command, an orphan).
            if seq != 0
                && let Some(p) = progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_mut(&shard_id)
            {
                p.confirmed(generation, seq);
            }
            self.applied.send_modify(|n| *n += 1);
        }
    }

    /// Waits until `count` confirms (the publisher's `confirmed_count` after a flush) have been
    /// applied; `false` after `timeout`.
    pub(crate) async fn caught_up(&self, count: u64, timeout: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        matches!(
            tokio::time::timeout(timeout, applied.wait_for(|n| *n >= count)).await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::ticket;

    #[tokio::test]
    async fn caught_up_waits_for_the_confirms_in_the_channel() {
        let router = std::sync::Arc::new(ConfirmRouter::new());
        let progress = std::sync::Arc::new(Mutex::new(HashMap::new()));
        let mut p = Progress::default();
        p.new_session("s".into(), None);
        p.received(1, true);
        p.received(2, true);
        let generation = p.generation;
        progress.lock().unwrap().insert(3, p);
        let (tx, rx) = mpsc::unbounded_channel();
        assert!(!router.caught_up(1, Duration::from_millis(20)).await);
        tx.send(Confirmed {
            ticket: ticket(3, generation, 1),
        })
        .unwrap();
        tx.send(Confirmed {
            ticket: ticket(3, generation, 2),
        })
        .unwrap();
        drop(tx);
        let task = tokio::spawn({
            let (router, progress) = (router.clone(), progress.clone());
            async move { router.run(&progress, rx).await }
        });
        assert!(router.caught_up(2, Duration::from_secs(1)).await);
        assert_eq!(progress.lock().unwrap()[&3].resumable_seq(), 2);
        task.await.unwrap();
    }
}
