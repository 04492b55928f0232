//! The scenario/control API: set up a world, make simulated users act, force gateway faults,
//! and read back everything the bot did.
//!
//! Available as Rust methods ([`Control`]) and over HTTP under `/_sim` on the simulator's
//! port:
//!
//! | method and path | body / query | answer |
//! |---|---|---|
//! | `POST /_sim/guilds` | [`GuildSpec`] | [`CreatedGuild`] |
//! | `GET /_sim/guilds/{id}` | | the guild as `GUILD_CREATE` would send it (ground truth) |
//! | `DELETE /_sim/guilds/{id}` | | removes the bot from the guild (`GUILD_DELETE`) |
//! | `POST /_sim/users` | `{"name": "alice"}` | `{"id": "…"}` |
//! | `POST /_sim/guilds/{id}/members` | `{"user_id": "…", "roles": ["…"]}` | `GUILD_MEMBER_ADD` sent |
//! | `PATCH /_sim/guilds/{id}/members/{user_id}` | `{"nick"?: "…", "roles": ["…"]}` | nickname and roles replaced (`GUILD_MEMBER_UPDATE`) |
//! | `DELETE /_sim/guilds/{id}/members/{user_id}` | | the member leaves (`GUILD_MEMBER_REMOVE`) |
//! | `POST /_sim/guilds/{id}/roles` | `{"name", "permissions"}` | `{"id": "…"}` |
//! | `POST /_sim/messages` | [`MessageSpec`] | `{"id": "…"}` (`MESSAGE_CREATE` sent) |
//! | `POST /_sim/say[?format=text]` | [`SaySpec`] | [`SayAnswer`] (or the reply's text) once the bot replied; 504 if it did not |
//! | `POST /_sim/interactions` | [`InteractionSpec`] | [`CreatedInteraction`] |
//! | `POST /_sim/components`, `/_sim/modals`, `/_sim/autocomplete`, `/_sim/context_menu`; `GET /_sim/modals?user_id=` | see [`interactions`] | [`CreatedInteraction`] |
//! | `POST /_sim/voice` | [`VoiceSpec`] | a user joins/leaves a voice channel |
//! | `POST /_sim/dispatch` | `{"guild_id"?, "event", "data"}` | a raw dispatch |
//! | `POST /_sim/blast` | [`BlastSpec`] | [`BlastReport`] when done |
//! | `POST /_sim/shards/{id}/{action}` (shard id `id` of every shard count) | action: `reconnect`, `invalidate`, `invalidate_resumable`, `drop`, `zombie`, `unzombie` | `{"connections": n}` |
//! | `POST /_sim/shards/{id}/close/{code}` | | close frame with `code` |
//! | `GET /_sim/sessions` | | [`SessionInfo`](super::gateway::SessionInfo) list |
//! | `GET /_sim/stats` | | [`GatewayStats`](super::gateway::GatewayStats) + REST counters |
//! | `GET /_sim/log?since=N&kind=rest` | | [`Record`](crate::Record)s (`kind`: `rest`, `gateway`) |
//! | `PATCH /_sim/config` | [`ConfigPatch`] | changes limits at run time |
//! | `GET /_sim/feed`, `POST /_sim/click`, `/_sim/submit`, `GET /_sim/directory` | see [`console`] | a console's view: the bot's activity and guild as text, clicks by label or number |

//!
//! Bodies are JSON (whatever their `Content-Type`); a body that does not parse, an id that is
//! not a number or an unknown action answers 400, an unknown entity 404, both with
//! `{"error": "…"}`. Snowflakes are accepted as strings or numbers and sent as strings.
//!
//! The methods live by entity: guilds (guilds, roles, channels), members
//! (users, members, voice states), messages (posting, `say`), [`interactions`], shards
//! (dispatches, blasts, shard faults), runtime (the log, REST faults, configuration) and
//! [`console`]; `http` maps the routes onto them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::Shared;

pub mod console;
mod guilds;
mod http;
pub mod interactions;
mod members;
mod messages;
mod runtime;
mod shards;
mod snowflake;

pub use console::{ClickSpec, CommandLine, ConsoleAnswer, SubmitSpec};
pub use guilds::{CreatedGuild, GuildSpec};
pub(crate) use http::router;
pub use interactions::{
    ComponentSpec, ContextMenuKind, ContextMenuSpec, CreatedInteraction, InteractionSpec,
    ModalSubmitSpec,
};
pub use members::VoiceSpec;
pub use messages::{MessageSpec, SayAnswer, SaySpec};
pub use runtime::ConfigPatch;
pub use shards::{BlastReport, BlastSpec};

/// Rust handle on the control API.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

/// A control API error (an unknown entity or an impossible request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The named entity does not exist.
    #[error("unknown {0} {1}")]
    Unknown(&'static str, u64),
    /// The request makes no sense.
    #[error("{0}")]
    Invalid(String),
}

impl Control {
    /// A handle on `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// A snowflake whose guild shard is `shard_id` of `total`.
    fn id_on_shard(&self, shard: Option<(u32, u32)>) -> u64 {
        loop {
            let id = self.shared.ids.next();
            match shard {
                Some((shard_id, total))
                    if (id >> 22) % u64::from(total.max(1)) != u64::from(shard_id) => {}
                _ => return id,
            }
        }
    }

    /// Sends `event` to the shard of `guild_id`.
    fn dispatch_guild(&self, guild_id: u64, event: &str, data: serde_json::Value) {
        self.shared.dispatch(Some(guild_id), event, data);
    }
}

/// Looks an entity up by id in one of the world's maps, or names what is unknown.
pub(crate) trait Lookup<T> {
    /// The entity `id` (a `what`), or [`ControlError::Unknown`].
    fn found(&self, what: &'static str, id: u64) -> Result<&T, ControlError>;
    /// [`found`](Self::found), to change it.
    fn found_mut(&mut self, what: &'static str, id: u64) -> Result<&mut T, ControlError>;
}

impl<T> Lookup<T> for HashMap<u64, T> {
    fn found(&self, what: &'static str, id: u64) -> Result<&T, ControlError> {
        self.get(&id).ok_or(ControlError::Unknown(what, id))
    }

    fn found_mut(&mut self, what: &'static str, id: u64) -> Result<&mut T, ControlError> {
        self.get_mut(&id).ok_or(ControlError::Unknown(what, id))
    }
}

impl<T> Lookup<T> for BTreeMap<u64, T> {
    fn found(&self, what: &'static str, id: u64) -> Result<&T, ControlError> {
        self.get(&id).ok_or(ControlError::Unknown(what, id))
    }

    fn found_mut(&mut self, what: &'static str, id: u64) -> Result<&mut T, ControlError> {
        self.get_mut(&id).ok_or(ControlError::Unknown(what, id))
    }
}
