//! The voice events a worker handles when Lavalink nodes are configured:
//!
//! - `VOICE_STATE_UPDATE`: a user's channel is remembered (for `join`/`play`); the bot's own
//!   state (its voice `session_id`) goes to the guild's player;
//! - `VOICE_SERVER_UPDATE`: the bot's voice token and endpoint go to the player — with both,
//!   the player's `voice` is sent to the node;
//! - `READY`: the shard identified anew, so Discord dropped the bot's voice connections in
//!   its guilds: they are joined again.

use serde::Deserialize;
use swarmcord_stream::{Event, HandlerError};
use swarmcord_voice::{Music, MusicError};
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

// Discord's field names.
#[allow(clippy::struct_field_names)]
#[derive(Deserialize)]
struct VoiceStatePayload {
    guild_id: Option<Id<twilight_model::id::marker::GuildMarker>>,
    user_id: Id<UserMarker>,
    channel_id: Option<Id<twilight_model::id::marker::ChannelMarker>>,
    #[serde(default)]
    session_id: String,
}

#[derive(Deserialize)]
struct VoiceServerPayload {
    guild_id: Id<twilight_model::id::marker::GuildMarker>,
    token: String,
    endpoint: Option<String>,
}

#[derive(Deserialize)]
struct ReadyPayload {
    shard: Option<[u32; 2]>,
}

fn parse<'a, T: Deserialize<'a>>(event: &'a Event) -> Result<T, HandlerError> {
    serde_json::from_slice(&event.body).map_err(|error| {
        HandlerError::reject(format!("{} payload does not parse", event.kind)).with_source(error)
    })
}

fn retry(error: MusicError) -> HandlerError {
    HandlerError::retry("the voice event failed").with_source(error)
}

/// Handles one voice-related event.
pub(crate) async fn handle(
    music: &Music,
    bot_id: Id<UserMarker>,
    event: &Event,
) -> Result<(), HandlerError> {
    match event.kind.as_str() {
        "VOICE_STATE_UPDATE" => {
            let state: VoiceStatePayload = parse(event)?;
            let Some(guild_id) = state.guild_id else {
                return Ok(());
            };
            music
                .on_voice_state(
                    guild_id.get(),
                    state.user_id.get(),
                    state.channel_id.map(Id::get),
                    &state.session_id,
                    state.user_id == bot_id,
                )
                .await
                .map_err(retry)
        }
        "VOICE_SERVER_UPDATE" => {
            let server: VoiceServerPayload = parse(event)?;
            music
                .on_voice_server(
                    server.guild_id.get(),
                    &server.token,
                    server.endpoint.as_deref(),
                )
                .await
                .map_err(retry)
        }
        "READY" => {
            let ready: ReadyPayload = parse(event)?;
            let [shard_id, shard_count] = ready.shard.unwrap_or([0, 1]);
            let rejoined = music
                .rejoin_shard(shard_id, shard_count, event.reply_to.as_deref())
                .await
                .map_err(retry)?;
            if rejoined > 0 {
                tracing::info!(
                    shard_id,
                    rejoined,
                    "voice channels joined again after an identify"
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
