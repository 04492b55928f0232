//! The connection: [`Store`] and [`StoreOptions`].

use std::future::Future;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, ReturnDocument};
use mongodb::{Client, Collection, Database};
use serde::de::DeserializeOwned;

use crate::error::is_duplicate_key;

use crate::error::StoreErrorType;
use crate::guild::GuildSettingsRepo;
use crate::infraction::InfractionRepo;
use crate::{StoreError, guild, infraction};

/// How [`Store::connect`] talks to MongoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Limit for opening one TCP (and TLS) connection. Default 2 s.
    pub connect_timeout: Duration,
    /// How long an operation waits for a usable server before failing with
    /// [`StoreErrorType::Unavailable`]. Default 2 s.
    pub server_selection_timeout: Duration,
    /// Upper bound on one whole operation, including server selection and reading a cursor;
    /// exceeding it fails with [`StoreErrorType::Unavailable`]. It protects against a server that
    /// accepts connections but does not answer. Default 5 s.
    pub operation_timeout: Duration,
    /// The application name sent in the handshake (shown in MongoDB's logs and `currentOp`).
    /// Default `swarmcord`.
    pub app_name: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            server_selection_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(5),
            app_name: Some("swarmcord".to_owned()),
        }
    }
}

/// A handle on the swarmcord database. Cheap to clone (the connection pool is shared).
///
/// Its `Debug` output shows the database name only, never the connection string.
#[derive(Clone)]
pub struct Store {
    client: Client,
    database: Database,
    operation_timeout: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.database.name())
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Prepares a connection pool for `database` at `url` (`mongodb://…`).
    ///
    /// This does not wait for the server: it returns at once, and operations fail with
    /// [`StoreErrorType::Unavailable`] after `server_selection_timeout` while MongoDB is
    /// unreachable, so a worker can start (and answer "settings unavailable") before the
    /// database is up. Use [`Store::ping`] for readiness. A malformed URL or database name
    /// fails with [`StoreErrorType::Invalid`]; the URL is never echoed in the error.
    pub async fn connect(
        url: &str,
        database: &str,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        validate_database_name(database)?;
        let mut client_options = ClientOptions::parse(url).await.map_err(|_| {
            StoreError::invalid(
                "the MongoDB connection string could not be parsed (not shown: it may hold a \
                 password)",
            )
        })?;
        client_options.connect_timeout = Some(options.connect_timeout);
        client_options.server_selection_timeout = Some(options.server_selection_timeout);
        if options.app_name.is_some() {
            client_options.app_name = options.app_name;
        }
        let client = Client::with_options(client_options)?;
        let database = client.database(database);
        tracing::debug!(database = database.name(), "MongoDB client created");
        Ok(Self {
            client,
            database,
            operation_timeout: options.operation_timeout,
        })
    }

    /// The name of the database this store uses.
    pub fn database_name(&self) -> &str {
        self.database.name()
    }

    /// Checks that MongoDB answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let database = self.database.clone();
        self.run("ping", async move {
            database.run_command(doc! { "ping": 1 }).await?;
            Ok(())
        })
        .await
    }

    /// Creates the indexes the repositories rely on. Idempotent: call it at every start-up.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let infractions = self.infractions();
        self.run("ensure_indexes", infraction::ensure_indexes(infractions))
            .await?;
        tracing::debug!(database = self.database.name(), "MongoDB indexes ensured");
        Ok(())
    }

    /// Drops the whole database. Meant for tests and tooling.
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        let database = self.database.clone();
        self.run("drop_database", async move {
            database.drop().await?;
            Ok(())
        })
        .await
    }

    /// Closes the connection pool, waiting for operations in flight. Other clones of this
    /// store stop working.
    pub async fn shutdown(self) {
        self.client.shutdown().await;
    }

    /// Guild settings (`guild_settings` collection).
    pub fn guild_settings(&self) -> GuildSettingsRepo {
        GuildSettingsRepo::new(self.clone(), self.database.collection(guild::COLLECTION))
    }

    /// Moderation infractions (`infractions` collection).
    pub fn infractions(&self) -> InfractionRepo {
        InfractionRepo::new(
            self.clone(),
            self.database.collection(infraction::COLLECTION),
        )
    }

    /// A collection of your own documents (`name` in the bot's database), with the same
    /// timeout and error mapping as the built-in repositories.
    pub fn collection<T: Send + Sync>(&self, name: &str) -> crate::Collection<T> {
        crate::Collection::new(self.clone(), self.database.collection(name))
    }

    /// Runs one operation under the operation timeout, logging failures without secrets.
    pub(crate) async fn run<T>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.operation_timeout, future).await {
            Ok(result) => result,
            Err(elapsed) => Err(StoreError::new(
                StoreErrorType::Unavailable,
                format!(
                    "{operation} did not finish within {:?}",
                    self.operation_timeout
                ),
            )
            .with_source(elapsed)),
        };
        if let Err(error) = &result {
            if error.is_unavailable() {
                tracing::warn!(operation, %error, "MongoDB operation failed");
            } else if !error.is_invalid() {
                tracing::error!(operation, %error, "MongoDB operation failed");
            }
        }
        result
    }
}

/// Upserts the document with `_id: id` and returns it as stored after `update`.
///
/// Two concurrent upserts of a missing document can both try to insert it; the loser fails
/// with a duplicate-key error (MongoDB retries some of these itself, FerretDB does not). The
/// document exists by then, so trying again applies the update to it.
pub(crate) async fn upsert_returning<T>(
    collection: &Collection<T>,
    id: i64,
    update: Document,
) -> Result<T, StoreError>
where
    T: DeserializeOwned + Send + Sync,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = collection
            .find_one_and_update(doc! { "_id": id }, update.clone())
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match result {
            Ok(Some(doc)) => return Ok(doc),
            Ok(None) => {
                return Err(StoreError::new(
                    StoreErrorType::Database,
                    "upsert returned no document",
                ));
            }
            Err(error) if attempt < 3 && is_duplicate_key(&error) => {
                tracing::debug!(attempt, "concurrent upsert lost the insert race, retrying");
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// MongoDB's rules for database names: non-empty, under 64 bytes, none of `/\. "$*<>:|?`.
fn validate_database_name(name: &str) -> Result<(), StoreError> {
    let bad_char = name.chars().any(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
        )
    });
    if name.is_empty() || name.len() >= 64 || bad_char {
        return Err(StoreError::invalid(format!(
            "{name:?} is not a valid MongoDB database name"
        )));
    }
    Ok(())
}
