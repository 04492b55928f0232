//! [`GatewayCommands`]: what a handler asks of the gateway that owns a guild's shard (presence,
//! voice, member requests). Workers have no gateway connection of their own: commands go
//! through RabbitMQ to the owning gateway's reply queue, found in the gateway registry.

use std::fmt;

use swarmcord_protocol::command::GatewayCommand;
use twilight_model::gateway::payload::outgoing::request_guild_members::RequestGuildMembers;
use twilight_model::gateway::payload::outgoing::update_presence::UpdatePresencePayload;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker};

pub use swarmcord_voice::gateway::{GatewayCommandError, GatewayCommandErrorType};

/// Sends gateway commands to the gateway that owns the target shard. Cheap to clone.
#[derive(Clone)]
pub struct GatewayCommands {
    sender: swarmcord_voice::AmqpVoiceGateway,
}

impl fmt::Debug for GatewayCommands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayCommands").finish_non_exhaustive()
    }
}

impl GatewayCommands {
    pub(crate) fn new(sender: swarmcord_voice::AmqpVoiceGateway) -> Self {
        Self { sender }
    }

    /// Sends any gateway command.
    pub async fn send(&self, command: GatewayCommand) -> Result<(), GatewayCommandError> {
        self.sender.command(command).await
    }

    /// Sets the bot's presence on every shard (`shard_id: None`) or on one.
    pub async fn update_presence(
        &self,
        shard_id: Option<u32>,
        presence: UpdatePresencePayload,
    ) -> Result<(), GatewayCommandError> {
        self.send(GatewayCommand::UpdatePresence { shard_id, presence })
            .await
    }

    /// Joins (or moves to) a voice channel, or leaves voice with `channel_id: None`.
    pub async fn update_voice(
        &self,
        guild_id: Id<GuildMarker>,
        channel_id: Option<Id<ChannelMarker>>,
    ) -> Result<(), GatewayCommandError> {
        let command =
            swarmcord_voice::gateway::voice_command(guild_id.get(), channel_id.map(Id::get))
                .ok_or(GatewayCommandError::new(
                    GatewayCommandErrorType::InvalidGuild,
                ))?;
        self.send(command).await
    }

    /// Requests guild members; they arrive as `GUILD_MEMBERS_CHUNK` events (register a
    /// handler for them) and fill the cache. Build the request with twilight's
    /// `RequestGuildMembers::builder(guild_id)`.
    pub async fn request_members(
        &self,
        request: RequestGuildMembers,
    ) -> Result<(), GatewayCommandError> {
        self.send(GatewayCommand::RequestGuildMembers(request.d))
            .await
    }
}
