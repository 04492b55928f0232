//! What the music commands do, on any worker replica: read the guild's state from Redis,
//! change it atomically, and drive the guild's player through the node's REST API.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use twilight_model::id::Id;

use crate::config::NodeConfig;
use crate::gateway::VoiceGateway;
use crate::model::{LoadResult, Player, Track};
use crate::rest::{Rest, RestError};
use crate::store::{Advance, Entry, GuildVoice, LoopMode, VoiceStore, VoiceStoreError, now_ms};

/// A music operation failed. [`MusicError::is_user_error`] tells what to show the user as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MusicError {
    /// The user is not in a voice channel of the guild.
    #[error("Join a voice channel first.")]
    UserNotInVoice,
    /// The bot has no player in the guild.
    #[error("I'm not in a voice channel here; use `join` or `play` first.")]
    NotConnected,
    /// Nothing plays.
    #[error("Nothing is playing.")]
    NothingPlaying,
    /// A search found nothing.
    #[error("No results for `{0}`.")]
    NoResults(String),
    /// The node could not load the track.
    #[error("I could not load that: {0}")]
    LoadFailed(String),
    /// The track cannot seek (a stream).
    #[error("This track cannot seek.")]
    NotSeekable,
    /// No node is healthy.
    #[error("No music node is available right now; try again in a moment.")]
    NoNode,
    /// The guild's node is unreachable.
    #[error("The music node is unavailable right now; try again in a moment.")]
    NodeUnavailable(#[source] RestError),
    /// The gateway command could not be sent.
    #[error("I could not reach Discord's gateway: {0}")]
    Gateway(#[source] crate::gateway::GatewayCommandError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] VoiceStoreError),
    /// The node refused a request (a bug or a version mismatch).
    #[error(transparent)]
    Rest(RestError),
}

impl From<RestError> for MusicError {
    fn from(error: RestError) -> Self {
        if error.is_unavailable() {
            Self::NodeUnavailable(error)
        } else {
            Self::Rest(error)
        }
    }
}

impl MusicError {
    /// Whether the message is meant for the user (as opposed to an internal failure).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Self::Store(_) | Self::Rest(_))
    }
}

type Result<T> = std::result::Result<T, MusicError>;

/// What `play` did with a track.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// It plays now.
    Playing(Entry),
    /// It waits at this 1-based place of the queue.
    Queued(Entry, u64),
}

/// What plays now.
#[derive(Debug, Clone, PartialEq)]
pub struct NowPlaying {
    /// The entry.
    pub entry: Entry,
    /// Position, ms (the node's if it answered, else extrapolated from Redis).
    pub position_ms: u64,
    /// Whether paused.
    pub paused: bool,
    /// Volume.
    pub volume: u16,
    /// Loop mode.
    pub loop_mode: LoopMode,
}

/// The music operations (cheap to clone).
#[derive(Clone)]
pub struct Music {
    store: VoiceStore,
    rest: Rest,
    nodes: Arc<[NodeConfig]>,
    gateway: Arc<dyn VoiceGateway>,
    cache: Option<swarmcord_cache::CacheReader>,
}

impl std::fmt::Debug for Music {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Music")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Music {
    /// Music over `nodes`, with state in `store`, sending op 4 through `gateway`.
    pub fn new(
        store: VoiceStore,
        rest: Rest,
        nodes: Vec<NodeConfig>,
        gateway: Arc<dyn VoiceGateway>,
    ) -> Self {
        Self {
            store,
            rest,
            nodes: nodes.into(),
            gateway,
            cache: None,
        }
    }

    /// Reads users' voice states from the gateways' Redis cache first (it knows the users
    /// who joined before any worker ran); the voice events this crate records remain the
    /// fallback.
    #[must_use]
    pub fn with_cache(mut self, cache: swarmcord_cache::CacheReader) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The store.
    pub fn store(&self) -> &VoiceStore {
        &self.store
    }

    fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The healthy node with the lowest load, other than `except`.
    pub async fn best_node(&self, except: Option<&str>) -> Result<Option<NodeConfig>> {
        best_node(&self.store, &self.nodes, except).await
    }

    /// The guild's state, if the bot has a player there.
    async fn state(&self, guild: u64) -> Result<GuildVoice> {
        self.store
            .guild(guild)
            .await?
            .filter(|g| g.node.is_some())
            .ok_or(MusicError::NotConnected)
    }

    /// Sends `update` to the guild's player.
    async fn patch(&self, state: &GuildVoice, update: &serde_json::Value) -> Result<Player> {
        let node = state
            .node
            .as_deref()
            .and_then(|n| self.node(n))
            .ok_or(MusicError::NoNode)?;
        let session = self
            .store
            .node_session(&node.name)
            .await?
            .ok_or(MusicError::NoNode)?;
        Ok(self
            .rest
            .update_player(node, &session, state.guild_id, update)
            .await?)
    }

    /// The voice channel `user` is in: from the cache if there is one, else from the voice
    /// events. The user's `VOICE_STATE_UPDATE` may be handled a moment after their command, so
    /// a miss is re-read for up to a second.
    pub async fn user_channel(&self, guild: u64, user: u64) -> Result<Option<u64>> {
        for attempt in 0..10 {
            if let (Some(cache), Some(g), Some(u)) =
                (&self.cache, Id::new_checked(guild), Id::new_checked(user))
            {
                match cache.voice_state(g, u).await {
                    Ok(Some(state)) => {
                        if let Some(channel) = state.channel_id {
                            return Ok(Some(channel.get()));
                        }
                    }
                    Ok(None) => {}
                    Err(error) => tracing::debug!(%error, "cache unavailable for a voice state"),
                }
            }
            if let Some(channel) = self.store.user_channel(guild, user).await? {
                return Ok(Some(channel));
            }
            if attempt < 9 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(None)
    }

    /// Joins `channel` (the caller checked that the bot may): picks a node if the guild has
    /// none, stores the channels and sends op 4. Discord then sends the bot's
    /// `VOICE_STATE_UPDATE` and `VOICE_SERVER_UPDATE`, see [`Music::on_voice_state`].
    pub async fn join(&self, guild: u64, channel: u64, text_channel: u64) -> Result<()> {
        let existing = self.store.guild(guild).await?;
        let mut fields = vec![
            ("voice_channel", channel.to_string()),
            ("text_channel", text_channel.to_string()),
        ];
        let has_node = existing
            .as_ref()
            .and_then(|g| g.node.as_deref())
            .and_then(|n| self.node(n))
            .is_some();
        if !has_node {
            let node = self.best_node(None).await?.ok_or(MusicError::NoNode)?;
            fields.push(("node", node.name.clone()));
        }
        if existing.is_none() {
            fields.push(("volume", "100".to_owned()));
        }
        self.store.set(guild, &fields).await?;
        self.gateway
            .update_voice_state(guild, Some(channel), None)
            .await
            .map_err(MusicError::Gateway)
    }

    /// Leaves: op 4 with no channel, the player is destroyed and the state forgotten.
    pub async fn leave(&self, guild: u64) -> Result<()> {
        let state = self.state(guild).await?;
        self.gateway
            .update_voice_state(guild, None, None)
            .await
            .map_err(MusicError::Gateway)?;
        self.destroy(&state).await;
        self.store.delete(guild).await?;
        Ok(())
    }

    async fn destroy(&self, state: &GuildVoice) {
        let Some(node) = state.node.as_deref().and_then(|n| self.node(n)) else {
            return;
        };
        if let Ok(Some(session)) = self.store.node_session(&node.name).await
            && let Err(error) = self
                .rest
                .destroy_player(node, &session, state.guild_id)
                .await
        {
            tracing::warn!(%error, guild = state.guild_id, "could not destroy a player");
        }
    }

    /// A `VOICE_STATE_UPDATE`: a user's channel is remembered; the bot's own session id is
    /// stored and, once the server update is known too, handed to the player. The bot
    /// disconnected (no channel) ends its player.
    pub async fn on_voice_state(
        &self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
        session_id: &str,
        is_bot: bool,
    ) -> Result<()> {
        if !is_bot {
            return Ok(self.store.set_user_channel(guild, user, channel).await?);
        }
        let Some(channel) = channel else {
            if let Some(state) = self.store.guild(guild).await? {
                self.destroy(&state).await;
                self.store.delete(guild).await?;
            }
            return Ok(());
        };
        let fields = [
            ("vs_session", session_id.to_owned()),
            ("vs_channel", channel.to_string()),
            ("voice_channel", channel.to_string()),
        ];
        if self.store.set_if_exists(guild, &fields).await? {
            self.push_voice(guild).await?;
        }
        Ok(())
    }

    /// A `VOICE_SERVER_UPDATE` for the bot (`endpoint` `None`: Discord is moving the voice
    /// server; another update follows).
    pub async fn on_voice_server(
        &self,
        guild: u64,
        token: &str,
        endpoint: Option<&str>,
    ) -> Result<()> {
        let Some(endpoint) = endpoint else {
            return Ok(());
        };
        let fields = [
            ("vs_token", token.to_owned()),
            ("vs_endpoint", endpoint.to_owned()),
        ];
        if self.store.set_if_exists(guild, &fields).await? {
            self.push_voice(guild).await?;
        }
        Ok(())
    }

    /// Hands the complete voice connection to the player (both voice events may land on two
    /// replicas at once: both then send the same update, which is harmless).
    async fn push_voice(&self, guild: u64) -> Result<()> {
        let state = self.state(guild).await?;
        if let Some(voice) = state.voice.lavalink_voice() {
            match self.patch(&state, &json!({ "voice": voice })).await {
                // The node's owner re-sends the voice when its session is (re)created.
                Ok(_) | Err(MusicError::NoNode | MusicError::NodeUnavailable(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// After a shard identified anew (`READY`), Discord has forgotten the bot's voice
    /// connections in the shard's guilds: joins their channels again (the voice events that
    /// follow hand the new connection to the players). `via`: the reply queue of the gateway
    /// that sent the `READY`. Returns how many guilds it rejoined.
    pub async fn rejoin_shard(
        &self,
        shard_id: u32,
        shard_count: u32,
        via: Option<&str>,
    ) -> Result<usize> {
        let mut rejoined = 0;
        for guild in self.store.guilds().await? {
            if swarmcord_protocol::shard_for_guild(guild, shard_count) != shard_id {
                continue;
            }
            let Some(channel) = self.store.guild(guild).await?.and_then(|g| g.voice_channel) else {
                continue;
            };
            self.gateway
                .update_voice_state(guild, Some(channel), via.map(str::to_owned))
                .await
                .map_err(MusicError::Gateway)?;
            rejoined += 1;
        }
        Ok(rejoined)
    }

    /// Resolves `query`: a URL as is, anything else as a search of the `SoundCloud` source
    /// (`scsearch:`; Lavalink 4 has no built-in `YouTube` source).
    pub async fn load(&self, guild: u64, query: &str) -> Result<LoadResult> {
        let query = query.trim();
        if query.is_empty() {
            return Err(MusicError::NoResults(String::new()));
        }
        let identifier = if query.starts_with("https://") || query.starts_with("http://") {
            query.to_owned()
        } else {
            format!("scsearch:{query}")
        };
        let node = match self.store.guild(guild).await?.and_then(|g| g.node) {
            Some(name) => self.node(&name).cloned(),
            None => None,
        };
        let node = match node {
            Some(node) => node,
            None => self.best_node(None).await?.ok_or(MusicError::NoNode)?,
        };
        match self.rest.load_tracks(&node, &identifier).await? {
            LoadResult::Empty => Err(MusicError::NoResults(query.to_owned())),
            LoadResult::Search(tracks) if tracks.is_empty() => {
                Err(MusicError::NoResults(query.to_owned()))
            }
            LoadResult::Playlist { tracks, .. } if tracks.is_empty() => {
                Err(MusicError::NoResults(query.to_owned()))
            }
            LoadResult::Error { message } => Err(MusicError::LoadFailed(message)),
            other => Ok(other),
        }
    }

    /// Adds `tracks` to the queue; the first starts at once if nothing plays.
    pub async fn enqueue(
        &self,
        guild: u64,
        tracks: Vec<Track>,
        requester: u64,
    ) -> Result<Vec<Enqueued>> {
        self.state(guild).await?;
        let mut done = Vec::with_capacity(tracks.len());
        for track in tracks {
            let entry = self.store.new_entry(guild, track, requester).await?;
            match self.store.enqueue(guild, &entry).await? {
                0 => {
                    let state = self.state(guild).await?;
                    if let Err(error) = self.patch(&state, &state.full_update(now_ms())).await {
                        // Not started: take it back out, so nothing claims to play.
                        let _ = self.store.advance(guild, &entry.id, true).await;
                        return Err(error);
                    }
                    done.push(Enqueued::Playing(entry));
                }
                place => done.push(Enqueued::Queued(entry, place)),
            }
        }
        Ok(done)
    }

    /// Pauses or resumes.
    ///
    /// Redis first, then the node: a track change racing this (the owner advancing the queue)
    /// either reads the new value and starts the next track so, or re-reads it after starting
    /// the track and corrects the player (see [`Music::start_after`]).
    pub async fn set_paused(&self, guild: u64, paused: bool) -> Result<()> {
        let state = self.state(guild).await?;
        let Some(current) = &state.current else {
            return Err(MusicError::NothingPlaying);
        };
        self.store
            .set(guild, &[("paused", u8::from(paused).to_string())])
            .await?;
        let player = match self.patch(&state, &json!({ "paused": paused })).await {
            Ok(player) => player,
            Err(error) => {
                let was = u8::from(state.paused).to_string();
                let _ = self.store.set(guild, &[("paused", was)]).await;
                return Err(error);
            }
        };
        self.store
            .record_position(guild, &current.id, player.state.position, now_ms())
            .await?;
        Ok(())
    }

    /// Skips the current entry; returns what plays next.
    pub async fn skip(&self, guild: u64) -> Result<Option<Entry>> {
        let state = self.state(guild).await?;
        let Some(current) = &state.current else {
            return Err(MusicError::NothingPlaying);
        };
        self.start_after(guild, &current.id, true).await
    }

    /// Advances past `ended` (if it is still current) and starts the next entry, or stops the
    /// player when the queue is empty. Returns the new entry (`None` if none or stale).
    pub async fn start_after(&self, guild: u64, ended: &str, skip: bool) -> Result<Option<Entry>> {
        match self.store.advance(guild, ended, skip).await? {
            Advance::Stale => Ok(None),
            Advance::Finished => {
                let state = self.state(guild).await?;
                self.patch(&state, &json!({ "track": { "encoded": null } }))
                    .await?;
                Ok(None)
            }
            Advance::Next(entry) => {
                let state = self.state(guild).await?;
                self.patch(&state, &state.full_update(now_ms())).await?;
                // A pause or resume that landed while the track was being started wins.
                if let Some(now) = self.store.guild(guild).await?
                    && now.paused != state.paused
                    && now.current.as_ref().map(|c| &c.id) == Some(&entry.id)
                {
                    self.patch(&now, &json!({ "paused": now.paused })).await?;
                }
                Ok(Some(*entry))
            }
        }
    }

    /// Stops and clears the queue (the bot stays in the channel).
    pub async fn stop(&self, guild: u64) -> Result<()> {
        let state = self.state(guild).await?;
        self.store.clear(guild).await?;
        self.patch(&state, &json!({ "track": { "encoded": null } }))
            .await?;
        Ok(())
    }

    /// One page (1-based, 10 entries) of the queue and its length.
    pub async fn queue(&self, guild: u64, page: usize) -> Result<(Vec<Entry>, usize)> {
        self.state(guild).await?;
        Ok(self
            .store
            .queue(guild, page.saturating_sub(1) * 10, 10)
            .await?)
    }

    /// What plays now, with its position from the node.
    pub async fn now_playing(&self, guild: u64) -> Result<NowPlaying> {
        let state = self.state(guild).await?;
        let Some(entry) = state.current.clone() else {
            return Err(MusicError::NothingPlaying);
        };
        let node = state.node.as_deref().and_then(|n| self.node(n));
        let mut position_ms = state.position_now(now_ms());
        if let (Some(node), Ok(Some(session))) = (
            node,
            self.store
                .node_session(state.node.as_deref().unwrap_or_default())
                .await,
        ) && let Ok(Some(player)) = self.rest.player(node, &session, guild).await
            && player.track.as_ref().and_then(Track::entry_id) == Some(entry.id.as_str())
        {
            position_ms = player.state.position;
        }
        Ok(NowPlaying {
            entry,
            position_ms,
            paused: state.paused,
            volume: state.volume,
            loop_mode: state.loop_mode,
        })
    }

    /// Sets the volume (0–1000; 100 is unchanged).
    pub async fn set_volume(&self, guild: u64, volume: u16) -> Result<()> {
        let state = self.state(guild).await?;
        self.patch(&state, &json!({ "volume": volume })).await?;
        self.store
            .set(guild, &[("volume", volume.to_string())])
            .await?;
        Ok(())
    }

    /// Seeks the current track to `position_ms`.
    pub async fn seek(&self, guild: u64, position_ms: u64) -> Result<u64> {
        let state = self.state(guild).await?;
        let Some(current) = &state.current else {
            return Err(MusicError::NothingPlaying);
        };
        if !current.track.info.is_seekable || current.track.info.is_stream {
            return Err(MusicError::NotSeekable);
        }
        let position = position_ms.min(current.track.info.length);
        self.patch(&state, &json!({ "position": position })).await?;
        self.store
            .record_position(guild, &current.id, position, now_ms())
            .await?;
        Ok(position)
    }

    /// Sets the loop mode.
    pub async fn set_loop(&self, guild: u64, mode: LoopMode) -> Result<()> {
        self.state(guild).await?;
        self.store
            .set(guild, &[("loop", mode.as_str().to_owned())])
            .await?;
        Ok(())
    }

    /// Shuffles the queue; returns its length.
    pub async fn shuffle(&self, guild: u64) -> Result<usize> {
        self.state(guild).await?;
        Ok(self.store.shuffle(guild).await?)
    }
}

/// The available node with the lowest penalty, other than `except`.
///
/// Available: its owner's heartbeat says the node's WebSocket is open (renewed every few
/// seconds, deleted the moment the socket drops) and its session id is known. The penalty comes
/// from the node's last `stats` (Lavalink sends them once a minute, so they may be that old; a
/// node without any yet counts as idle): it ranks nodes, it never rules one out.
pub(crate) async fn best_node(
    store: &VoiceStore,
    nodes: &[NodeConfig],
    except: Option<&str>,
) -> Result<Option<NodeConfig>> {
    let mut best: Option<(f64, &NodeConfig)> = None;
    for node in nodes.iter().filter(|n| Some(n.name.as_str()) != except) {
        if !store.node_alive(&node.name).await? || store.node_session(&node.name).await?.is_none() {
            continue;
        }
        let penalty = store.load(&node.name).await?.map_or(0.0, |l| l.penalty);
        if best.is_none_or(|(lowest, _)| penalty < lowest) {
            best = Some((penalty, node));
        }
    }
    Ok(best.map(|(_, node)| node.clone()))
}
