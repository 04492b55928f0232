//! The bot's built-in commands.
//!
//! | category | commands |
//! |---|---|
//! | General | `ping`, `help` (generated), `serverinfo`, `userinfo`, `channelinfo` (from the
//! gateways' cache; Discord REST for what it lacks) |
//! | Settings | `prefix`, `settings`, `setup` (a three-step wizard, or a form) |
//! | Moderation | `ban`, `kick` (both confirm first), `unban`, `infractions` |
//!
//! | Music | `join`, `leave`, `play`, `pause`, `resume`, `skip`, `stop`, `queue`,
//! `nowplaying`, `volume`, `seek`, `loop`, `shuffle` (with `LAVALINK_NODES`) |
//!
//! Moderation actions are recorded in MongoDB and announced in the guild's mod-log channel
//! when it has one. The built-ins use only the public SDK ([`swarmcord`]): they are a plugin
//! like any bot author's.

mod general;
mod info;
mod moderation;
mod queue;
mod sanction;
mod settings;
mod setup_form;
mod voice;

use std::ops::BitOr;
use std::sync::Arc;

use swarmcord::commands::CommandError;
use swarmcord::http::Client;
use swarmcord::runtime::settings::SharedSettings;
use swarmcord::store::StoreError;
use swarmcord::{Plugin, Setup, SetupError};

/// Which built-in commands a worker gets: combine with `|`, install with
/// [`Worker::plugin`](swarmcord::Worker::plugin).
///
/// ```no_run
/// use swarmcord_builtins::Builtins;
/// # async fn run() {
/// swarmcord::Worker::from_env()
///     .plugin(Builtins::moderation() | Builtins::music())
///     .launch()
///     .await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "a set of independent groups, combined with |"
)]
pub struct Builtins {
    general: bool,
    info: bool,
    settings: bool,
    moderation: bool,
    music: bool,
}

impl Builtins {
    /// Every group (music only when `LAVALINK_NODES` is configured).
    pub fn all() -> Self {
        Self {
            general: true,
            info: true,
            settings: true,
            moderation: true,
            music: true,
        }
    }

    /// `ping`.
    pub fn general() -> Self {
        Self {
            general: true,
            ..Self::default()
        }
    }

    /// `serverinfo`, `userinfo`, `channelinfo`.
    pub fn info() -> Self {
        Self {
            info: true,
            ..Self::default()
        }
    }

    /// `prefix`, `settings`, `setup`.
    pub fn settings() -> Self {
        Self {
            settings: true,
            ..Self::default()
        }
    }

    /// `ban`, `kick`, `unban`, `infractions`.
    pub fn moderation() -> Self {
        Self {
            moderation: true,
            ..Self::default()
        }
    }

    /// The music commands (when `LAVALINK_NODES` is configured; otherwise none).
    pub fn music() -> Self {
        Self {
            music: true,
            ..Self::default()
        }
    }
}

impl BitOr for Builtins {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self {
            general: self.general || other.general,
            info: self.info || other.info,
            settings: self.settings || other.settings,
            moderation: self.moderation || other.moderation,
            music: self.music || other.music,
        }
    }
}

impl Plugin for Builtins {
    fn install(self: Box<Self>, setup: &mut Setup<'_>) -> Result<(), SetupError> {
        let sdk = setup.services().clone();
        let services = Services {
            http: Arc::clone(sdk.http()),
            cache: sdk.cache().clone(),
            gateways: sdk.gateways().clone(),
            settings: sdk.settings().clone(),
            default_prefix: sdk.default_prefix().to_owned(),
            sdk: sdk.clone(),
        };
        if self.general {
            general::register(setup, &services)?;
        }
        if self.info {
            info::register(setup, &services)?;
        }
        if self.settings {
            settings::register(setup, &services)?;
        }
        if self.moderation {
            moderation::register(setup, &services)?;
        }
        if self.music {
            if let Some(music) = sdk.music() {
                voice::register(setup, sdk.cache().clone(), music.clone(), sdk.bot_id())?;
            } else {
                tracing::info!("no music commands: LAVALINK_NODES is not set");
            }
        }
        Ok(())
    }
}

/// What the built-in commands use.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) http: Arc<Client>,
    pub(crate) cache: swarmcord::cache::FallbackReader,
    /// Live gateway replicas (for their shards' heartbeat latency).
    pub(crate) gateways: swarmcord::coord::GatewayRegistry,
    pub(crate) settings: SharedSettings,
    pub(crate) default_prefix: String,
    /// The worker's services (every registered command, for `settings disable`).
    pub(crate) sdk: swarmcord::Services,
}

/// Words that confirm a prompt.
const YES: [&str; 4] = ["yes", "y", "confirm", "ok"];

/// Whether `answer` confirms.
fn confirms(answer: &str) -> bool {
    YES.contains(&answer.trim().to_lowercase().as_str())
}

/// The guild a command was invoked in; a user error in direct messages.
fn guild(
    ctx: &swarmcord::commands::InvocationContext,
) -> Result<swarmcord::model::id::Id<swarmcord::model::id::marker::GuildMarker>, CommandError> {
    ctx.guild_id
        .ok_or_else(|| CommandError::user("This command only works in a server."))
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
fn is_status(error: &swarmcord::http::Error, code: u16) -> bool {
    matches!(error.kind(), swarmcord::http::error::ErrorType::Response { status, .. } if status.get() == code)
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
fn embed(title: &str, fields: Vec<(&str, String)>) -> swarmcord::model::channel::message::Embed {
    use swarmcord::util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};
    fields
        .into_iter()
        .fold(EmbedBuilder::new(), |embed, (name, value)| {
            embed.field(EmbedFieldBuilder::new(name, value).inline())
        })
        .color(0x0058_65F2)
        .title(title)
        .build()
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

    #[test]
    fn embeds_are_rich_with_inline_fields_in_order() {
        let embed = embed(
            "Guild",
            vec![("Members", "3".to_owned()), ("Roles", "2".to_owned())],
        );
        assert_eq!(
            (embed.kind.as_str(), embed.title.as_deref(), embed.color),
            ("rich", Some("Guild"), Some(0x0058_65F2))
        );
        let fields: Vec<_> = embed
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str(), f.inline))
            .collect();
        assert_eq!(fields, [("Members", "3", true), ("Roles", "2", true)]);
        assert!(embed.description.is_none() && embed.footer.is_none());
    }
}
