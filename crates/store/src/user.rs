//! Per-user settings: the `user_settings` collection, one document per user (`_id` = user id).

use std::time::SystemTime;

use mongodb::Collection;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use crate::store::upsert_returning;
use crate::validate::{self, snowflake_from_db, snowflake_to_db};
use crate::{Store, StoreError};

pub(crate) const COLLECTION: &str = "user_settings";

/// The settings of one user, across guilds. A user without a document has the
/// [`UserSettings::new`] defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    /// The user.
    pub user_id: u64,
    /// The user's preferred locale (`en-US`); `None` means the interaction's locale.
    pub locale: Option<String>,
    /// The user's IANA time zone (`Europe/Berlin`); `None` means UTC.
    pub timezone: Option<String>,
    /// When the settings last changed (millisecond precision); `None` for defaults.
    pub updated_at: Option<SystemTime>,
}

impl UserSettings {
    /// The defaults of a user who has never changed a setting.
    pub fn new(user_id: u64) -> Self {
        Self {
            user_id,
            locale: None,
            timezone: None,
            updated_at: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserDoc {
    #[serde(rename = "_id")]
    id: i64,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime>,
}

impl TryFrom<UserDoc> for UserSettings {
    type Error = StoreError;

    fn try_from(doc: UserDoc) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: snowflake_from_db("user settings", doc.id)?,
            locale: doc.locale,
            timezone: doc.timezone,
            updated_at: doc.updated_at.map(DateTime::to_system_time),
        })
    }
}

/// Reads and changes [`UserSettings`]; every change is a single-document upsert that returns
/// the settings as stored after the change.
#[derive(Debug, Clone)]
pub struct UserSettingsRepo {
    store: Store,
    collection: Collection<UserDoc>,
}

impl UserSettingsRepo {
    pub(crate) fn new(store: Store, collection: Collection<UserDoc>) -> Self {
        Self { store, collection }
    }

    /// The settings of `user_id`, or the defaults when there are none.
    pub async fn get(&self, user_id: u64) -> Result<UserSettings, StoreError> {
        let id = snowflake_to_db("user id", user_id)?;
        let collection = self.collection.clone();
        self.store
            .run("user_settings.get", async move {
                match collection.find_one(doc! { "_id": id }).await? {
                    Some(doc) => doc.try_into(),
                    None => Ok(UserSettings::new(user_id)),
                }
            })
            .await
    }

    /// Sets the user's locale (`en-US`, `fr`, `es-419`), or clears it with `None`.
    pub async fn set_locale(
        &self,
        user_id: u64,
        locale: Option<&str>,
    ) -> Result<UserSettings, StoreError> {
        if let Some(locale) = locale {
            validate::locale(locale)?;
        }
        self.set_or_unset(user_id, "locale", locale).await
    }

    /// Sets the user's IANA time zone (`Europe/Berlin`; only the syntax is checked), or clears
    /// it with `None`.
    pub async fn set_timezone(
        &self,
        user_id: u64,
        timezone: Option<&str>,
    ) -> Result<UserSettings, StoreError> {
        if let Some(timezone) = timezone {
            validate::timezone(timezone)?;
        }
        self.set_or_unset(user_id, "timezone", timezone).await
    }

    /// Deletes all settings of a user (for example on a data-deletion request). Returns whether
    /// there was anything to delete.
    pub async fn delete(&self, user_id: u64) -> Result<bool, StoreError> {
        let id = snowflake_to_db("user id", user_id)?;
        let collection = self.collection.clone();
        self.store
            .run("user_settings.delete", async move {
                let result = collection.delete_one(doc! { "_id": id }).await?;
                Ok(result.deleted_count > 0)
            })
            .await
    }

    async fn set_or_unset(
        &self,
        user_id: u64,
        field: &'static str,
        value: Option<&str>,
    ) -> Result<UserSettings, StoreError> {
        let id = snowflake_to_db("user id", user_id)?;
        let now = DateTime::now();
        let update = if let Some(value) = value {
            doc! { "$set": { field: value, "updated_at": now } }
        } else {
            doc! { "$unset": { field: "" }, "$set": { "updated_at": now } }
        };
        let collection = self.collection.clone();
        self.store
            .run("user_settings.set", async move {
                let doc = upsert_returning(&collection, id, update).await?;
                doc.try_into()
            })
            .await
    }
}
