//! MongoDB repositories for swarmcord's long-term data: guild settings and the moderation
//! history (infractions).
//!
//! Workers are stateless replicas; everything they must remember across restarts lives here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), swarmcord_store::StoreError> {
//! use swarmcord_store::{Infraction, InfractionKind, Store, StoreOptions};
//!
//! let store = Store::connect("mongodb://127.0.0.1:27017/", "swarmcord", StoreOptions::default())
//!     .await?;
//! store.ensure_indexes().await?;
//! let settings = store.guild_settings().set_prefix(1, Some("?")).await?;
//! assert_eq!(settings.prefix.as_deref(), Some("?"));
//! let ban = Infraction::new("123456:ban", 1, 2, 3, InfractionKind::Ban).with_reason("spam");
//! store.infractions().record(&ban).await?; // idempotent: keyed by the id
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **Snowflakes** are `u64` in the API and `i64` in MongoDB (they are below 2^63); a value
//!   that does not fit is rejected with [`StoreErrorType::Invalid`], never a panic.
//! - **Every write is a single-document operation** (an upsert, `$addToSet`/`$pull`, an insert
//!   keyed by a deterministic id), atomic on its own: no transactions, which FerretDB (the test
//!   database) does not have. Nor does anything rely on TTL or partial indexes, which FerretDB
//!   lacks as well. Production deployments use real MongoDB; the code runs unchanged on both.
//! - **Concurrent upserts** of a missing document can race to insert it; the loser's
//!   duplicate-key error is retried (the update then applies to the winner's document).
//! - **FerretDB 1.24 caveats seen by the tests**: it applies an update by reading the
//!   document and overwriting it by `_id`, so *concurrent* updates of the same document can be
//!   lost there (MongoDB applies `$addToSet`/`$pull`/`$set` atomically); and it panics when one
//!   `createIndexes` command names two existing indexes, so [`Store::ensure_indexes`] creates
//!   them one at a time. Inserts keyed by `_id` (infractions) are safe on both.
//! - **Unavailability is fast and typed**: [`Store::connect`] does not wait for the server;
//!   each operation fails with [`StoreErrorType::Unavailable`] after the server-selection timeout
//!   (2 s by default) and never runs longer than [`StoreOptions::operation_timeout`].
//! - **No secrets in errors or logs**: the connection string is never echoed, and driver
//!   messages are scrubbed of URL credentials.
//! - Times are `SystemTime`s stored as BSON dates (millisecond precision).

mod collection;
mod error;
mod guild;
mod infraction;
mod store;
mod validate;

pub use collection::Collection;
pub use error::{StoreError, StoreErrorType};
pub use guild::{GuildSettings, GuildSettingsRepo};
pub use infraction::{
    Infraction, InfractionCursor, InfractionKind, InfractionRepo, MAX_INFRACTION_ID_LEN, MAX_PAGE,
    MAX_REASON_CHARS,
};
pub use store::{Store, StoreOptions};
pub use validate::{
    MAX_COMMAND_NAME_CHARS, MAX_PREFIX_CHARS, locale as validate_locale, prefix as validate_prefix,
    truncate_to_millis,
};
