//! Executing [`GatewayCommand`]s on a shard.

use swarmcord_protocol::command::GatewayCommand;
use twilight_gateway::MessageSender;
use twilight_model::gateway::OpCode;
use twilight_model::gateway::payload::outgoing::{
    RequestGuildMembers, UpdatePresence, UpdateVoiceState,
};

/// Why a command could not be handed to a shard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// The shard's connection task is gone (it is restarting or this gateway lost it).
    #[error("the shard's connection task is gone")]
    ShardGone,
    /// A command type this gateway build does not know.
    #[error("gateway command {0:?} is not supported by this gateway build")]
    Unsupported(&'static str),
}

/// Sends `command` on the shard behind `sender` (twilight queues it behind the gateway's
/// own rate limit of 120 commands a minute).
pub fn execute(sender: &MessageSender, command: &GatewayCommand) -> Result<(), ExecuteError> {
    let sent = match command {
        GatewayCommand::UpdatePresence { presence, .. } => sender.command(&UpdatePresence {
            d: presence.clone(),
            op: OpCode::PresenceUpdate,
        }),
        GatewayCommand::UpdateVoiceState(info) => sender.command(&UpdateVoiceState {
            d: info.clone(),
            op: OpCode::VoiceStateUpdate,
        }),
        GatewayCommand::RequestGuildMembers(info) => sender.command(&RequestGuildMembers {
            d: info.clone(),
            op: OpCode::RequestGuildMembers,
        }),
        other => return Err(ExecuteError::Unsupported(other.kind())),
    };
    sent.map_err(|_| ExecuteError::ShardGone)
}
