//! [`Collection`]: a bot author's own MongoDB collection, with the store's operation timeout
//! and error mapping (an unreachable database is [`StoreErrorType::Unavailable`], which commands
//! turn into "try again in a moment").

use std::future::Future;

use crate::{Store, StoreError};

/// A collection of documents of type `T` in the bot's database. Cheap to clone.
///
/// ```no_run
/// # async fn example(store: swarmcord_store::Store) -> Result<(), swarmcord_store::StoreError> {
/// use mongodb::bson::doc;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Counter { _id: i64, count: i64 }
///
/// let counters = store.collection::<Counter>("counters");
/// let counter = counters
///     .run("count", |c| async move {
///         c.find_one_and_update(doc! { "_id": 1_i64 }, doc! { "$inc": { "count": 1 } })
///             .upsert(true)
///             .return_document(mongodb::options::ReturnDocument::After)
///             .await
///     })
///     .await?;
/// # let _ = counter; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Collection<T: Send + Sync> {
    store: Store,
    inner: mongodb::Collection<T>,
}

impl<T: Send + Sync> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.inner.name())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync> Collection<T> {
    pub(crate) fn new(store: Store, inner: mongodb::Collection<T>) -> Self {
        Self { store, inner }
    }

    /// The driver's collection, for operations [`run`](Self::run) does not wrap (no timeout
    /// or error mapping applies to it).
    pub fn inner(&self) -> &mongodb::Collection<T> {
        &self.inner
    }

    /// Runs one operation on the collection under the store's operation timeout; failures are
    /// mapped to [`StoreError`] (unreachable or too slow: [`StoreErrorType::Unavailable`]) and
    /// logged without the connection string. `operation` names it in logs.
    pub async fn run<R, F, Fut>(&self, operation: &'static str, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(mongodb::Collection<T>) -> Fut,
        Fut: Future<Output = Result<R, mongodb::error::Error>>,
    {
        let future = op(self.inner.clone());
        self.store
            .run(
                operation,
                async move { future.await.map_err(StoreError::from) },
            )
            .await
    }
}
