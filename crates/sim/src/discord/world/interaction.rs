//! Interactions, open modals and registered application commands.

use std::time::Instant;

use serde_json::Value;

/// What happened to an interaction so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InteractionState {
    /// Created, no callback yet.
    Pending,
    /// Answered with a callback of this type (4 = message, 5 = deferred, ...).
    Responded(u8),
}

/// An interaction created by a simulated user.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// Snowflake.
    pub id: u64,
    /// The secret token for callbacks and follow-ups.
    pub token: String,
    /// The `INTERACTION_CREATE` payload as sent.
    pub payload: Value,
    /// Guild, if any.
    pub guild_id: Option<u64>,
    /// Channel the interaction was used in.
    pub channel_id: u64,
    /// Invoking user.
    pub user_id: u64,
    /// When it was created (the 3-second callback deadline starts here).
    pub created: Instant,
    /// Callback state.
    pub state: InteractionState,
    /// The original response message, once there is one.
    pub original_message: Option<u64>,
}

/// A modal a bot opened (interaction callback type 9), shown to the interaction's user until
/// they submit it.
#[derive(Debug, Clone)]
pub struct OpenModal {
    /// The interaction the modal answered.
    pub interaction_id: u64,
    /// The user who sees it.
    pub user_id: u64,
    /// Guild of the interaction, if any.
    pub guild_id: Option<u64>,
    /// Channel of the interaction.
    pub channel_id: u64,
    /// The message whose component opened it (for a modal opened from a button or select).
    pub message_id: Option<u64>,
    /// The callback's `data` (`custom_id`, `title`, `components`, with component ids).
    pub data: Value,
}

/// A registered application command.
#[derive(Debug, Clone)]
pub struct AppCommand {
    /// Snowflake.
    pub id: u64,
    /// Guild for guild commands, `None` for global commands.
    pub guild_id: Option<u64>,
    /// The command object as stored (with `id`, `application_id`, `version` filled in).
    pub json: Value,
}
