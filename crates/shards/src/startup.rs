//! Start-up waits: a gateway started before Redis or Discord's REST API answers waits for them
//! with growing delays (up to 10 s) instead of exiting, and says in `/readyz` what it waits
//! for (check `startup`). Only an error that waiting cannot cure (a refused token, an invalid
//! URL) ends it.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use swarmcord_ops::http::Health;
use swarmcord_protocol::backoff::Backoff;
use tokio_util::sync::CancellationToken;

/// How one start-up attempt failed.
pub(crate) enum Attempt<E> {
    /// The service may answer later: wait and try again.
    Retry(E),
    /// Waiting cannot help.
    Fatal(E),
}

/// Runs `attempt` until it succeeds (`Some`), fails fatally (`Err`) or `stop` is cancelled
/// (`None`), reporting `waiting for {what}: {error}` in the health check `startup` meanwhile.
pub(crate) async fn wait_for<T, E, F, Fut>(
    what: &str,
    health: &Health,
    stop: &CancellationToken,
    mut attempt: F,
) -> Result<Option<T>, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    loop {
        let delay = backoff.next_delay();
        match attempt().await {
            Ok(value) => {
                health.fail("startup", "starting");
                return Ok(Some(value));
            }
            Err(Attempt::Fatal(error)) => return Err(error),
            Err(Attempt::Retry(error)) => {
                tracing::warn!(%error, retry_in = ?delay, "waiting for {what}");
                health.fail("startup", format!("waiting for {what}: {error}"));
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
    }
}
