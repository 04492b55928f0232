//! Op 4 (voice state update) from a worker to the gateway that owns the guild's shard.

use std::sync::Arc;

use swarmcord_broker::{Outgoing, Publisher};
use swarmcord_coord::{GatewayInfo, GatewayRegistry};
use swarmcord_protocol::command::{CommandEnvelope, GatewayCommand};
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;
use twilight_model::id::Id;

pub use futures_util::future::BoxFuture;

/// Why a gateway command was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayCommandErrorType {
    /// The gateway registry (Redis) could not be read.
    RegistryUnavailable,
    /// No gateway is running.
    NoGateway,
    /// RabbitMQ did not take the command.
    Publish,
    /// The guild id is not a valid snowflake.
    InvalidGuild,
}

/// A gateway command could not be sent: its [`GatewayCommandErrorType`] and the underlying
/// error, if any.
#[derive(Debug, Clone)]
pub struct GatewayCommandError {
    kind: GatewayCommandErrorType,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl GatewayCommandError {
    /// An error of `kind` without an underlying error.
    pub fn new(kind: GatewayCommandErrorType) -> Self {
        Self { kind, source: None }
    }

    fn with_source(
        kind: GatewayCommandErrorType,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            source: Some(Arc::new(source)),
        }
    }

    /// Why the command was not sent.
    pub fn kind(&self) -> GatewayCommandErrorType {
        self.kind
    }
}

impl std::fmt::Display for GatewayCommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            GatewayCommandErrorType::RegistryUnavailable => "gateway registry unavailable",
            GatewayCommandErrorType::NoGateway => "no gateway is running",
            GatewayCommandErrorType::Publish => "could not publish the gateway command",
            GatewayCommandErrorType::InvalidGuild => "invalid guild id",
        })?;
        match &self.source {
            Some(source) => write!(f, ": {source}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for GatewayCommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Sends the bot's voice state for a guild (join, move, leave) to Discord.
pub trait VoiceGateway: Send + Sync {
    /// Joins `channel_id` in `guild_id` (self-deafened), or leaves with `None`. `via` is a
    /// gateway reply queue known to be alive (from the event being handled), if any.
    fn update_voice_state(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
        via: Option<String>,
    ) -> BoxFuture<'_, Result<(), GatewayCommandError>>;
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

/// The reply queue of the live gateway owning `command`'s shard, else of any (it re-routes).
fn target_queue(gateways: &[(String, GatewayInfo)], command: &GatewayCommand) -> Option<String> {
    // A new shard set connecting during a resharding does not forward yet: its shards'
    // events (the voice server update, say) would not reach the workers.
    let forwarding: Vec<&(String, GatewayInfo)> =
        gateways.iter().filter(|(_, info)| !info.shadow).collect();
    // Gateways claiming shards say the count (a shard moving between them is listed by none);
    // configured gateways cover every shard between them, so the highest shard + 1 is it.
    let shard_count = forwarding
        .iter()
        .find_map(|(_, info)| info.claims)
        .or_else(|| {
            forwarding
                .iter()
                .flat_map(|(_, info)| info.shards.iter().copied())
                .max()
                .map(|max| max + 1)
        })
        .unwrap_or(1);
    let target = command.target_shard(shard_count);
    forwarding
        .iter()
        .find(|(_, info)| {
            info.claims.is_none_or(|count| count == shard_count)
                && target.is_some_and(|s| info.shards.contains(&s))
        })
        .or_else(|| forwarding.first())
        .map(|(_, info)| info.reply_queue.clone())
}

impl AmqpVoiceGateway {
    /// Commands go out through `publisher` (default exchange) to the gateways of `registry`.
    pub fn new(publisher: Publisher, registry: GatewayRegistry) -> Self {
        Self {
            publisher,
            registry,
        }
    }

    /// The reply queue of the gateway that should execute `command`: the shard's owner in the
    /// registry, else any live gateway (it re-routes). A gateway restarting under the same id
    /// is missing from the registry for a few seconds, so an empty registry is read again
    /// for up to 6 s.
    async fn target(&self, command: &GatewayCommand) -> Result<String, GatewayCommandError> {
        let mut gateways = Vec::new();
        for attempt in 0..12 {
            gateways = self.registry.gateways().await.map_err(|e| {
                GatewayCommandError::with_source(GatewayCommandErrorType::RegistryUnavailable, e)
            })?;
            if !gateways.is_empty() {
                break;
            }
            if attempt < 11 {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        target_queue(&gateways, command)
            .ok_or(GatewayCommandError::new(GatewayCommandErrorType::NoGateway))
    }

    /// Sends any gateway command to the gateway that owns its shard (presence updates without
    /// a shard go to one gateway, which applies them to its shards).
    pub async fn command(&self, command: GatewayCommand) -> Result<(), GatewayCommandError> {
        self.send(command, None).await
    }

    async fn send(
        &self,
        command: GatewayCommand,
        via: Option<String>,
    ) -> Result<(), GatewayCommandError> {
        let queue = match via {
            Some(queue) => queue,
            None => self.target(&command).await?,
        };
        let envelope = CommandEnvelope::new(
            uuid::Uuid::new_v4().to_string(),
            swarmcord_protocol::time::unix_ms(),
            command,
        );
        self.publisher
            .publish(Outgoing::new("", queue, envelope.to_bytes()))
            .await
            .map_err(|e| GatewayCommandError::with_source(GatewayCommandErrorType::Publish, e))
    }
}

impl VoiceGateway for AmqpVoiceGateway {
    fn update_voice_state(
        &self,
        guild_id: u64,
        channel_id: Option<u64>,
        via: Option<String>,
    ) -> BoxFuture<'_, Result<(), GatewayCommandError>> {
        Box::pin(async move {
            let command = voice_command(guild_id, channel_id).ok_or(GatewayCommandError::new(
                GatewayCommandErrorType::InvalidGuild,
            ))?;
            self.send(command, via).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(id: &str, shards: impl IntoIterator<Item = u32>) -> (String, GatewayInfo) {
        let info = GatewayInfo {
            reply_queue: format!("gateway.{id}"),
            shards: shards.into_iter().collect(),
            started_at_ms: 1,
            heartbeat_latency_ms: std::collections::BTreeMap::new(),
            claims: Some(12),
            loaded: Vec::new(),
            shadow: false,
        };
        (id.to_owned(), info)
    }

    #[test]
    fn claimed_shards_route_by_the_claimed_count_while_a_shard_moves() {
        // Shard 11 of 12 is between owners: the count still is 12, not 11.
        let gateways = [gateway("gw-a", 6..=10), gateway("gw-b", 0..=5)];
        let command = GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
            channel_id: None,
            guild_id: Id::new(17 << 22),
            self_deaf: false,
            self_mute: false,
        });
        assert_eq!(
            target_queue(&gateways, &command).as_deref(),
            Some("gateway.gw-b"),
            "guild 17 << 22 is on shard 5 of 12"
        );
        assert_eq!(target_queue(&[], &command), None);
    }

    #[test]
    fn a_shard_set_connecting_during_a_resharding_gets_no_commands() {
        // 12 → 24: the new sets (shadow) list shard 5 of 24 too; guild 17 << 22 is on shard 5
        // of 12 (gw-b) and on shard 17 of 24.
        let mut new_a = gateway("gw-a+24", 12..24);
        new_a.1.claims = Some(24);
        new_a.1.shadow = true;
        let mut new_b = gateway("gw-b+24", 0..12);
        new_b.1.claims = Some(24);
        new_b.1.shadow = true;
        let command = GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
            channel_id: None,
            guild_id: Id::new(17 << 22),
            self_deaf: false,
            self_mute: false,
        });
        let gateways = [
            new_a.clone(),
            new_b.clone(),
            gateway("gw-a", 6..=11),
            gateway("gw-b", 0..=5),
        ];
        assert_eq!(
            target_queue(&gateways, &command).as_deref(),
            Some("gateway.gw-b")
        );
        // Once the new sets forward (both sets do for a moment), either count routes right.
        new_a.1.shadow = false;
        new_b.1.shadow = false;
        let gateways = [
            new_a,
            new_b,
            gateway("gw-a", 6..=11),
            gateway("gw-b", 0..=5),
        ];
        assert_eq!(
            target_queue(&gateways, &command).as_deref(),
            Some("gateway.gw-a+24"),
            "shard 17 of 24"
        );
    }
}
