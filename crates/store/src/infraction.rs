//! Moderation history: the `infractions` collection, one document per action (`_id` = the
//! caller's deterministic infraction id).

use std::fmt;
use std::time::SystemTime;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

use crate::error::is_duplicate_key;
use crate::validate::{snowflake_from_db, snowflake_to_db, time_to_db, truncate_to_millis};
use crate::{Store, StoreError};

pub(crate) const COLLECTION: &str = "infractions";

/// Longest accepted infraction id, in bytes.
pub const MAX_INFRACTION_ID_LEN: usize = 128;
/// Longest accepted reason, in characters (Discord's audit-log reason limit).
pub const MAX_REASON_CHARS: usize = 512;
/// Most infractions one [`InfractionRepo::list`] call returns.
pub const MAX_PAGE: usize = 100;

/// What a moderator did. Stored as a lower-case string (`"ban"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InfractionKind {
    /// The user was banned.
    Ban,
    /// The user was unbanned.
    Unban,
    /// The user was kicked.
    Kick,
    /// The user was warned.
    Warn,
    /// The user was muted (timed out).
    Mute,
}

impl InfractionKind {
    /// The stored name (`"ban"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ban => "ban",
            Self::Unban => "unban",
            Self::Kick => "kick",
            Self::Warn => "warn",
            Self::Mute => "mute",
        }
    }
}

impl fmt::Display for InfractionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One moderation action.
///
/// Times are stored with millisecond precision; [`Infraction::new`] truncates `created_at`
/// so that a recorded infraction reads back equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Infraction {
    /// A deterministic id chosen by the caller, derived from what caused the action (for
    /// example `"{interaction id}:ban"`), so that processing a redelivered event records the
    /// action once. 1 to 128 bytes.
    pub id: String,
    /// The guild.
    pub guild_id: u64,
    /// The user the action was taken against.
    pub user_id: u64,
    /// The moderator (or the bot) who acted.
    pub moderator_id: u64,
    /// What was done.
    pub kind: InfractionKind,
    /// Why, as given by the moderator (at most 512 characters).
    pub reason: Option<String>,
    /// When it happened.
    pub created_at: SystemTime,
    /// When a temporary action (a mute, a temporary ban) ends. Nothing expires documents:
    /// the history is kept, and callers compare with the current time.
    pub expires_at: Option<SystemTime>,
}

impl Infraction {
    /// An infraction created now (truncated to milliseconds), without reason or expiry.
    pub fn new(
        id: impl Into<String>,
        guild_id: u64,
        user_id: u64,
        moderator_id: u64,
        kind: InfractionKind,
    ) -> Self {
        Self {
            id: id.into(),
            guild_id,
            user_id,
            moderator_id,
            kind,
            reason: None,
            created_at: truncate_to_millis(SystemTime::now()),
            expires_at: None,
        }
    }

    /// Sets the reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the creation time (truncated to milliseconds).
    #[must_use]
    pub fn with_created_at(mut self, created_at: SystemTime) -> Self {
        self.created_at = truncate_to_millis(created_at);
        self
    }

    /// Sets the expiry (truncated to milliseconds).
    #[must_use]
    pub fn with_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(truncate_to_millis(expires_at));
        self
    }

    /// Whether the action has an expiry that is at or before `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The cursor that continues a [`InfractionRepo::list`] after this infraction.
    pub fn cursor(&self) -> InfractionCursor {
        InfractionCursor {
            created_at: self.created_at,
            id: Some(self.id.clone()),
        }
    }
}

/// Where a page of [`InfractionRepo::list`] starts: strictly older than a position.
///
/// Take it from the last infraction of the previous page ([`Infraction::cursor`]): ties on
/// `created_at` are then broken by id, so no infraction is skipped or repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfractionCursor {
    created_at: SystemTime,
    id: Option<String>,
}

impl InfractionCursor {
    /// Everything created strictly before `time`.
    pub fn before(time: SystemTime) -> Self {
        Self {
            created_at: time,
            id: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InfractionDoc {
    #[serde(rename = "_id")]
    id: String,
    guild_id: i64,
    user_id: i64,
    moderator_id: i64,
    kind: InfractionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime>,
}

impl TryFrom<&Infraction> for InfractionDoc {
    type Error = StoreError;

    fn try_from(infraction: &Infraction) -> Result<Self, StoreError> {
        if infraction.id.is_empty() || infraction.id.len() > MAX_INFRACTION_ID_LEN {
            return Err(StoreError::invalid(format!(
                "an infraction id must be 1 to {MAX_INFRACTION_ID_LEN} bytes long"
            )));
        }
        if let Some(reason) = &infraction.reason {
            let chars = reason.chars().count();
            if chars > MAX_REASON_CHARS {
                return Err(StoreError::invalid(format!(
                    "a reason must be at most {MAX_REASON_CHARS} characters long, got {chars}"
                )));
            }
        }
        if infraction
            .expires_at
            .is_some_and(|at| at <= infraction.created_at)
        {
            return Err(StoreError::invalid(
                "an infraction must expire after it was created",
            ));
        }
        Ok(Self {
            id: infraction.id.clone(),
            guild_id: snowflake_to_db("guild id", infraction.guild_id)?,
            user_id: snowflake_to_db("user id", infraction.user_id)?,
            moderator_id: snowflake_to_db("moderator id", infraction.moderator_id)?,
            kind: infraction.kind,
            reason: infraction.reason.clone(),
            created_at: time_to_db(infraction.created_at),
            expires_at: infraction.expires_at.map(time_to_db),
        })
    }
}

impl TryFrom<InfractionDoc> for Infraction {
    type Error = StoreError;

    fn try_from(doc: InfractionDoc) -> Result<Self, StoreError> {
        Ok(Self {
            guild_id: snowflake_from_db("infraction", doc.guild_id)?,
            user_id: snowflake_from_db("infraction", doc.user_id)?,
            moderator_id: snowflake_from_db("infraction", doc.moderator_id)?,
            id: doc.id,
            kind: doc.kind,
            reason: doc.reason,
            created_at: doc.created_at.to_system_time(),
            expires_at: doc.expires_at.map(DateTime::to_system_time),
        })
    }
}

/// Records and lists [`Infraction`]s.
#[derive(Debug, Clone)]
pub struct InfractionRepo {
    store: Store,
    collection: Collection<InfractionDoc>,
}

/// The indexes of the collection (no TTL or partial index: FerretDB has neither, and the
/// history is kept).
pub(crate) async fn ensure_indexes(repo: InfractionRepo) -> Result<(), StoreError> {
    let indexes = [
        (
            "guild_user_created",
            doc! { "guild_id": 1, "user_id": 1, "created_at": -1 },
        ),
        ("guild_created", doc! { "guild_id": 1, "created_at": -1 }),
    ];
    // One index per command: FerretDB 1.24 panics (and drops the connection) when one
    // `createIndexes` command names two indexes that already exist.
    for (name, keys) in indexes {
        let model = IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_owned()).build())
            .build();
        repo.collection.create_index(model).await?;
    }
    Ok(())
}

impl InfractionRepo {
    pub(crate) fn new(store: Store, collection: Collection<InfractionDoc>) -> Self {
        Self { store, collection }
    }

    /// Records an infraction, idempotently: if an infraction with the same `id` exists, nothing
    /// is written (the first record wins) and `Ok(false)` is returned; `Ok(true)` means it was
    /// stored now. A redelivered event therefore never records an action twice.
    pub async fn record(&self, infraction: &Infraction) -> Result<bool, StoreError> {
        let doc = InfractionDoc::try_from(infraction)?;
        let collection = self.collection.clone();
        self.store
            .run("infractions.record", async move {
                match collection.insert_one(doc).await {
                    Ok(_) => Ok(true),
                    Err(error) if is_duplicate_key(&error) => Ok(false),
                    Err(error) => Err(error.into()),
                }
            })
            .await
    }

    /// The infraction with this id, if any.
    pub async fn get(&self, id: &str) -> Result<Option<Infraction>, StoreError> {
        let collection = self.collection.clone();
        let id = id.to_owned();
        self.store
            .run("infractions.get", async move {
                collection
                    .find_one(doc! { "_id": id })
                    .await?
                    .map(Infraction::try_from)
                    .transpose()
            })
            .await
    }

    /// A page of a guild's infractions (of one user if `user_id` is given), newest first
    /// (ties broken by id, descending), strictly after `before` in that order.
    ///
    /// At most `limit` infractions are returned, capped at [`MAX_PAGE`]; `limit == 0`
    /// returns an empty page without a query. Continue with the last one's
    /// [`Infraction::cursor`]; a page shorter than `limit` is the last.
    pub async fn list(
        &self,
        guild_id: u64,
        user_id: Option<u64>,
        limit: usize,
        before: Option<&InfractionCursor>,
    ) -> Result<Vec<Infraction>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = Self::filter(guild_id, user_id)?;
        if let Some(cursor) = before {
            let created_at = time_to_db(cursor.created_at);
            match &cursor.id {
                Some(id) => {
                    filter.insert(
                        "$or",
                        vec![
                            doc! { "created_at": { "$lt": created_at } },
                            doc! { "created_at": created_at, "_id": { "$lt": id.as_str() } },
                        ],
                    );
                }
                None => {
                    filter.insert("created_at", doc! { "$lt": created_at });
                }
            }
        }
        let collection = self.collection.clone();
        #[allow(clippy::cast_possible_wrap)] // limit <= MAX_PAGE
        let limit = limit as i64;
        self.store
            .run("infractions.list", async move {
                let docs: Vec<InfractionDoc> = collection
                    .find(filter)
                    .sort(doc! { "created_at": -1, "_id": -1 })
                    .limit(limit)
                    .await?
                    .try_collect()
                    .await?;
                docs.into_iter().map(Infraction::try_from).collect()
            })
            .await
    }

    /// How many infractions a guild has (of one user if `user_id` is given).
    pub async fn count(&self, guild_id: u64, user_id: Option<u64>) -> Result<u64, StoreError> {
        let filter = Self::filter(guild_id, user_id)?;
        let collection = self.collection.clone();
        self.store
            .run("infractions.count", async move {
                Ok(collection.count_documents(filter).await?)
            })
            .await
    }

    fn filter(guild_id: u64, user_id: Option<u64>) -> Result<Document, StoreError> {
        let mut filter = doc! { "guild_id": snowflake_to_db("guild id", guild_id)? };
        if let Some(user_id) = user_id {
            filter.insert("user_id", snowflake_to_db("user id", user_id)?);
        }
        Ok(filter)
    }
}
