//! The bot's built-in commands.
//!
//! | category | commands |
//! |---|---|
//! | General | `ping`, `help` (generated), `serverinfo`, `userinfo`, `channelinfo` (from the
//! gateways' cache; Discord REST for what it lacks) |
//! | Settings | `prefix`, `settings`, `setup` (a three-step wizard) |
//! | Moderation | `ban`, `kick` (both confirm first), `unban`, `infractions` |
//!
//! Moderation actions are recorded in MongoDB and announced in the guild's mod-log channel
//! when it has one.

mod general;
mod info;
mod moderation;
mod settings;
mod voice;

pub use voice::register as register_voice;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use swarmcord_commands::{CommandError, Dispatcher, RegistryError, SpecError};
use swarmcord_store::StoreError;
use twilight_http::Client;

use crate::settings::SettingsCache;

/// A built-in command could not be declared (a bug caught at start-up).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// An invalid declaration.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A name clash.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What the built-in commands use.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) http: Arc<Client>,
    pub(crate) cache: swarmcord_cache::FallbackReader,
    /// Live gateway replicas (for their shards' heartbeat latency).
    pub(crate) gateways: swarmcord_coord::GatewayRegistry,
    pub(crate) settings: SettingsCache,
    pub(crate) default_prefix: String,
    /// Every registered command name, filled once registration is complete (for `settings
    /// disable`).
    pub(crate) commands: Arc<OnceLock<BTreeSet<String>>>,
}

/// Registers every built-in command.
pub fn register(
    dispatcher: &mut Dispatcher,
    http: Arc<Client>,
    cache: swarmcord_cache::FallbackReader,
    gateways: swarmcord_coord::GatewayRegistry,
    settings: SettingsCache,
    default_prefix: String,
) -> Result<(), SetupError> {
    let services = Services {
        http,
        cache,
        gateways,
        settings,
        default_prefix,
        commands: Arc::new(OnceLock::new()),
    };
    general::register(dispatcher, &services)?;
    info::register(dispatcher, &services)?;
    settings::register(dispatcher, &services)?;
    moderation::register(dispatcher, &services)?;
    let names = dispatcher
        .registry()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let _ = services.commands.set(names);
    Ok(())
}

/// Words that confirm a prompt.
const YES: [&str; 4] = ["yes", "y", "confirm", "ok"];

/// Whether `answer` confirms.
fn confirms(answer: &str) -> bool {
    YES.contains(&answer.trim().to_lowercase().as_str())
}

/// The user-facing form of a store error.
fn unavailable(error: &StoreError) -> CommandError {
    if error.is_unavailable() {
        CommandError::user("Settings are unavailable right now; try again in a moment.")
    } else if error.is_invalid() {
        CommandError::user(error.to_string())
    } else {
        CommandError::internal(error.to_string())
    }
}

/// Whether a twilight error is Discord answering `status`.
fn is_status(error: &twilight_http::Error, code: u16) -> bool {
    matches!(error.kind(), twilight_http::error::ErrorType::Response { status, .. } if status.get() == code)
}

/// `items` rendered and joined with `separator`, or `none` when there are none.
fn listed<T>(items: &[T], separator: &str, render: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items.iter().map(render).collect::<Vec<_>>().join(separator)
}

/// A snowflake's creation time, Unix seconds.
fn created_at(id: u64) -> u64 {
    ((id >> 22) + 1_420_070_400_000) / 1000
}

/// A simple rich embed.
fn embed(title: &str, fields: Vec<(&str, String)>) -> twilight_model::channel::message::Embed {
    twilight_model::channel::message::Embed {
        author: None,
        color: Some(0x0058_65F2),
        description: None,
        fields: fields
            .into_iter()
            .map(
                |(name, value)| twilight_model::channel::message::embed::EmbedField {
                    inline: true,
                    name: name.to_owned(),
                    value,
                },
            )
            .collect(),
        flags: None,
        footer: None,
        image: None,
        kind: "rich".to_owned(),
        provider: None,
        thumbnail: None,
        timestamp: None,
        title: Some(title.to_owned()),
        url: None,
        video: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_words_and_snowflake_times() {
        assert!(confirms(" YES "));
        assert!(confirms("ok"));
        assert!(!confirms("yes please"));
        assert!(!confirms("no"));
        // Discord's documented example: 175928847299117063 was created 2016-04-30 11:18:25 UTC.
        assert_eq!(created_at(175_928_847_299_117_063), 1_462_015_105);
    }
}
