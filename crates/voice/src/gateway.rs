//! Op 4 (voice state update) from a worker to the gateway that owns the guild's shard.

use std::future::Future;
use std::pin::Pin;

use swarmcord_broker::{Outgoing, Publisher};
use swarmcord_coord::GatewayRegistry;
use swarmcord_protocol::command::{CommandEnvelope, GatewayCommand};
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::id::Id;

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends the bot's voice state for a guild (join, move, leave) to Discord.
pub trait VoiceGateway: Send + Sync {
    /// Joins `channel_id` in `guild_id` (self-deafened), or leaves with `None`.
    fn update_voice_state(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
    ) -> BoxFuture<'_, Result<(), String>>;
}

/// The op-4 command a worker sends.
pub fn voice_command(guild_id: u64, channel_id: Option<u64>) -> Option<GatewayCommand> {
    Some(GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
        channel_id: channel_id.and_then(Id::new_checked),
        guild_id: Id::new_checked(guild_id)?,
        self_deaf: true,
        self_mute: false,
    }))
}

/// Publishes gateway commands to the owning gateway's reply queue, found in the gateway
/// registry (any live gateway when the owner is unknown: gateways re-route to the owner).
#[derive(Clone)]
pub struct AmqpVoiceGateway {
    publisher: Publisher,
    registry: GatewayRegistry,
}

impl std::fmt::Debug for AmqpVoiceGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpVoiceGateway").finish_non_exhaustive()
    }
}

impl AmqpVoiceGateway {
    /// Commands go out through `publisher` (default exchange) to the gateways of `registry`.
    pub fn new(publisher: Publisher, registry: GatewayRegistry) -> Self {
        Self {
            publisher,
            registry,
        }
    }

    async fn send(&self, command: GatewayCommand) -> Result<(), String> {
        let gateways = self
            .registry
            .gateways()
            .await
            .map_err(|e| format!("gateway registry unavailable: {e}"))?;
        // Gateways cover every shard between them, so the highest shard + 1 is the count.
        let shard_count = gateways
            .iter()
            .flat_map(|(_, info)| info.shards.iter().copied())
            .max()
            .map_or(1, |max| max + 1);
        let target = command.target_shard(shard_count);
        let (_, info) = gateways
            .iter()
            .find(|(_, info)| target.is_some_and(|s| info.shards.contains(&s)))
            .or_else(|| gateways.first())
            .ok_or_else(|| "no gateway is running".to_owned())?;
        let envelope = CommandEnvelope::new(
            uuid::Uuid::new_v4().to_string(),
            crate::store::now_ms(),
            command,
        );
        self.publisher
            .publish(Outgoing::new(
                "",
                info.reply_queue.clone(),
                envelope.to_bytes(),
            ))
            .await
            .map_err(|e| format!("could not publish the voice command: {e}"))
    }
}

impl VoiceGateway for AmqpVoiceGateway {
    fn update_voice_state(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let command =
                voice_command(guild_id, channel_id).ok_or_else(|| "invalid guild id".to_owned())?;
            self.send(command).await
        })
    }
}
