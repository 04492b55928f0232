//! Per-guild settings: the `guild_settings` collection, one document per guild (`_id` = guild
//! id).

use std::time::SystemTime;

use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use serde::{Deserialize, Serialize};

use crate::store::upsert_returning;
use crate::validate::{self, snowflake_from_db, snowflake_to_db};
use crate::{Store, StoreError};

pub(crate) const COLLECTION: &str = "guild_settings";

/// The settings of one guild. A guild without a document has the [`GuildSettings::new`]
/// defaults. Serialisable so that callers can keep a copy elsewhere (the worker keeps one in
/// Redis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildSettings {
    /// The guild.
    pub guild_id: u64,
    /// The message-command prefix; `None` means the bot's default prefix.
    pub prefix: Option<String>,
    /// The channel that receives the moderation log; `None` disables the log.
    pub mod_log_channel: Option<u64>,
    /// Lower-case names of the commands disabled in this guild, sorted, without duplicates.
    pub disabled_commands: Vec<String>,
    /// The guild's locale (`en-US`); `None` means the guild's Discord locale.
    pub locale: Option<String>,
    /// The DJ role: its members may control music started by others without being in the
    /// bot's voice channel; `None` when there is none.
    #[serde(default)]
    pub dj_role: Option<u64>,
    /// When the settings last changed (millisecond precision); `None` for defaults.
    pub updated_at: Option<SystemTime>,
}

impl GuildSettings {
    /// The defaults of a guild that has never changed a setting.
    pub fn new(guild_id: u64) -> Self {
        Self {
            guild_id,
            prefix: None,
            mod_log_channel: None,
            disabled_commands: Vec::new(),
            locale: None,
            dj_role: None,
            updated_at: None,
        }
    }

    /// Whether `command` is disabled (case-insensitive).
    pub fn is_command_disabled(&self, command: &str) -> bool {
        let command = command.to_lowercase();
        self.disabled_commands.binary_search(&command).is_ok()
    }
}

/// The stored shape. Every field but `_id` may be missing (older or partial documents).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct GuildDoc {
    #[serde(rename = "_id")]
    id: i64,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    mod_log_channel: Option<i64>,
    #[serde(default)]
    disabled_commands: Vec<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    dj_role: Option<i64>,
    #[serde(default)]
    updated_at: Option<DateTime>,
}

impl TryFrom<GuildDoc> for GuildSettings {
    type Error = StoreError;

    fn try_from(doc: GuildDoc) -> Result<Self, StoreError> {
        let mut disabled_commands = doc.disabled_commands;
        disabled_commands.sort_unstable();
        disabled_commands.dedup();
        Ok(Self {
            guild_id: snowflake_from_db("guild settings", doc.id)?,
            prefix: doc.prefix,
            mod_log_channel: doc
                .mod_log_channel
                .map(|id| snowflake_from_db("guild settings", id))
                .transpose()?,
            disabled_commands,
            locale: doc.locale,
            dj_role: doc
                .dj_role
                .map(|id| snowflake_from_db("guild settings", id))
                .transpose()?,
            updated_at: doc.updated_at.map(DateTime::to_system_time),
        })
    }
}

/// Reads and changes [`GuildSettings`]. Every change is a single-document upsert (atomic
/// without transactions) and returns the settings as stored after the change.
#[derive(Debug, Clone)]
pub struct GuildSettingsRepo {
    store: Store,
    collection: Collection<GuildDoc>,
}

impl GuildSettingsRepo {
    pub(crate) fn new(store: Store, collection: Collection<GuildDoc>) -> Self {
        Self { store, collection }
    }

    /// The settings of `guild_id`, or the defaults when it has none.
    pub async fn get(&self, guild_id: u64) -> Result<GuildSettings, StoreError> {
        let id = snowflake_to_db("guild id", guild_id)?;
        let collection = self.collection.clone();
        self.store
            .run("guild_settings.get", async move {
                match collection.find_one(doc! { "_id": id }).await? {
                    Some(doc) => doc.try_into(),
                    None => Ok(GuildSettings::new(guild_id)),
                }
            })
            .await
    }

    /// Sets the message-command prefix (1 to 16 characters, no whitespace), or resets it to
    /// the default with `None`.
    pub async fn set_prefix(
        &self,
        guild_id: u64,
        prefix: Option<&str>,
    ) -> Result<GuildSettings, StoreError> {
        if let Some(prefix) = prefix {
            validate::prefix(prefix)?;
        }
        self.set_or_unset(guild_id, "prefix", prefix.map(str::to_owned))
            .await
    }

    /// Sets the moderation-log channel, or disables the log with `None`.
    pub async fn set_mod_log(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
    ) -> Result<GuildSettings, StoreError> {
        self.set_or_unset_id(guild_id, "mod_log_channel", "channel id", channel_id)
            .await
    }

    /// Sets the DJ role, or removes it with `None`.
    pub async fn set_dj_role(
        &self,
        guild_id: u64,
        role_id: Option<u64>,
    ) -> Result<GuildSettings, StoreError> {
        self.set_or_unset_id(guild_id, "dj_role", "role id", role_id)
            .await
    }

    /// Sets the guild's locale (`en-US`, `fr`, `es-419`), or clears it with `None`.
    pub async fn set_locale(
        &self,
        guild_id: u64,
        locale: Option<&str>,
    ) -> Result<GuildSettings, StoreError> {
        if let Some(locale) = locale {
            validate::locale(locale)?;
        }
        self.set_or_unset(guild_id, "locale", locale.map(str::to_owned))
            .await
    }

    /// Disables a command (name: 1 to 32 characters, no whitespace; stored in lower case).
    /// Disabling it again changes nothing but `updated_at`.
    pub async fn disable_command(
        &self,
        guild_id: u64,
        command: &str,
    ) -> Result<GuildSettings, StoreError> {
        let command = validate::command_name(command)?;
        self.update(
            guild_id,
            "guild_settings.disable_command",
            doc! {
                "$addToSet": { "disabled_commands": command },
                "$set": { "updated_at": DateTime::now() },
            },
        )
        .await
    }

    /// Enables a command again. Enabling a command that is not disabled changes nothing but
    /// `updated_at`.
    pub async fn enable_command(
        &self,
        guild_id: u64,
        command: &str,
    ) -> Result<GuildSettings, StoreError> {
        let command = validate::command_name(command)?;
        self.update(
            guild_id,
            "guild_settings.enable_command",
            doc! {
                "$pull": { "disabled_commands": command },
                "$set": { "updated_at": DateTime::now() },
            },
        )
        .await
    }

    /// Deletes all settings of a guild (for example when the bot leaves it). Returns whether
    /// there was anything to delete.
    pub async fn delete(&self, guild_id: u64) -> Result<bool, StoreError> {
        let id = snowflake_to_db("guild id", guild_id)?;
        let collection = self.collection.clone();
        self.store
            .run("guild_settings.delete", async move {
                let result = collection.delete_one(doc! { "_id": id }).await?;
                Ok(result.deleted_count > 0)
            })
            .await
    }

    /// [`Self::set_or_unset`] for a snowflake (`what` names it in the error).
    async fn set_or_unset_id(
        &self,
        guild_id: u64,
        field: &'static str,
        what: &str,
        id: Option<u64>,
    ) -> Result<GuildSettings, StoreError> {
        let id = id.map(|id| snowflake_to_db(what, id)).transpose()?;
        self.set_or_unset(guild_id, field, id).await
    }

    async fn set_or_unset<T: Into<mongodb::bson::Bson>>(
        &self,
        guild_id: u64,
        field: &'static str,
        value: Option<T>,
    ) -> Result<GuildSettings, StoreError> {
        let now = DateTime::now();
        let update = if let Some(value) = value {
            doc! { "$set": { field: value.into(), "updated_at": now } }
        } else {
            doc! { "$unset": { field: "" }, "$set": { "updated_at": now } }
        };
        self.update(guild_id, "guild_settings.set", update).await
    }

    async fn update(
        &self,
        guild_id: u64,
        operation: &'static str,
        update: Document,
    ) -> Result<GuildSettings, StoreError> {
        let id = snowflake_to_db("guild id", guild_id)?;
        let collection = self.collection.clone();
        self.store
            .run(operation, async move {
                let doc = upsert_returning(&collection, id, update).await?;
                doc.try_into()
            })
            .await
    }
}
