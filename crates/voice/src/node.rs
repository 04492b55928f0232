//! Node ownership: for each Lavalink node, exactly one replica of the cluster (the holder of a
//! Redis lease) keeps the node's WebSocket session. It
//!
//! - resumes the node's session (its id is in Redis) after a restart of itself or of another
//!   replica, with resuming enabled (`PATCH /v4/sessions/{id}` `{resuming: true, timeout}`),
//!   so players keep playing while no one is connected and buffered events are replayed;
//! - reconciles on every `ready`: players that should exist on the node (from Redis) but do
//!   not, or play another entry, are (re)created at their position; players of guilds that
//!   moved elsewhere are destroyed;
//! - handles the node's events: a track that ended (`finished`, `loadFailed`) or got stuck
//!   advances the guild's queue (compare-and-set on the entry id, so exactly once) and starts
//!   the next entry; `playerUpdate` positions go to Redis;
//! - proves the node alive: while its WebSocket is open (after `ready`), a heartbeat in Redis
//!   every [`NodeManagerConfig::heartbeat_every`]; the moment the socket drops, the heartbeat is
//!   deleted, so no replica picks the node for a new player. The node's `stats` (once a minute
//!   with Lavalink) are written as its load, which ranks the available nodes and nothing else;
//! - when the node stays unreachable for [`NodeManagerConfig::failover_after`], moves its
//!   players to the healthiest other node at their last position (+ the time elapsed since).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::model::{Incoming, NodeEvent, parse_incoming};
use crate::music::{Music, MusicError, best_node};
use crate::rest::Rest;
use crate::store::{NodeLoad, VoiceStore, now_ms};

/// Gauge: players on the node (from its `stats`). Label `node`.
pub const METRIC_PLAYERS: &str = "swarmcord_voice_players";
/// Gauge: 1 while this replica's WebSocket to the node is connected (only the owner reports).
/// Label `node`.
pub const METRIC_CONNECTED: &str = "swarmcord_voice_node_connected";
/// Gauge: 1 while this replica owns the node's session. Label `node`.
pub const METRIC_OWNED: &str = "swarmcord_voice_node_owned";
/// Counter: node events handled. Labels `node`, `event`.
pub const METRIC_EVENTS: &str = "swarmcord_voice_node_events_total";
/// Counter: players moved away from a dead node. Label `node` (the dead one).
pub const METRIC_MOVED: &str = "swarmcord_voice_players_moved_total";

/// Settings of a [`NodeManager`].
#[derive(Debug, Clone)]
pub struct NodeManagerConfig {
    /// This replica's id (lease value).
    pub owner_id: String,
    /// The bot's user id (`User-Id` header).
    pub bot_user_id: u64,
    /// Lease lifetime: a dead owner's nodes are taken over after at most this long.
    pub lease_ttl: Duration,
    /// How long Lavalink keeps a disconnected session's players playing.
    pub resume_timeout: Duration,
    /// How long a node may stay unreachable before its players move to another node.
    pub failover_after: Duration,
    /// How often the owner renews the node's heartbeat while its WebSocket is open. The
    /// heartbeat lives [`NodeManagerConfig::heartbeat_ttl`].
    pub heartbeat_every: Duration,
}

impl NodeManagerConfig {
    /// Defaults: lease 10 s, resume timeout 60 s, failover after 5 s, heartbeat every 2 s.
    pub fn new(owner_id: impl Into<String>, bot_user_id: u64) -> Self {
        Self {
            owner_id: owner_id.into(),
            bot_user_id,
            lease_ttl: Duration::from_secs(10),
            resume_timeout: Duration::from_secs(60),
            failover_after: Duration::from_secs(5),
            heartbeat_every: Duration::from_secs(2),
        }
    }

    /// How long a heartbeat lives without renewal: the lease TTL plus one heartbeat. An owner
    /// that loses its socket deletes the heartbeat at once; this bound only matters for an
    /// owner killed outright, whose node keeps playing (and answering REST) while the next
    /// lease holder, at most a lease TTL later, resumes its session and heartbeats anew.
    pub fn heartbeat_ttl(&self) -> Duration {
        self.lease_ttl + self.heartbeat_every
    }
}

/// Registers the descriptions of the voice metrics.
pub fn describe_metrics() {
    metrics::describe_gauge!(METRIC_PLAYERS, "players on a Lavalink node (its stats)");
    metrics::describe_gauge!(
        METRIC_CONNECTED,
        "1 while the node's WebSocket is connected"
    );
    metrics::describe_gauge!(METRIC_OWNED, "1 while this replica owns the node's session");
    metrics::describe_counter!(METRIC_EVENTS, "Lavalink node events handled");
    metrics::describe_counter!(METRIC_MOVED, "players moved from a dead node to another");
}

/// Runs the owner side of every node (one task per node; each competes for the node's lease).
#[derive(Clone)]
pub struct NodeManager {
    music: Music,
    store: VoiceStore,
    rest: Rest,
    nodes: Arc<[NodeConfig]>,
    config: Arc<NodeManagerConfig>,
}

impl std::fmt::Debug for NodeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeManager")
            .field("nodes", &self.nodes)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a session ended.
enum Ended {
    Cancelled,
    LeaseLost,
    /// The socket dropped (`true`: after a `ready`) or could not connect.
    Disconnected(String, bool),
}

impl NodeManager {
    /// A manager for `nodes`; `music` is used to start the next entries.
    pub fn new(
        music: Music,
        rest: Rest,
        nodes: Vec<NodeConfig>,
        config: NodeManagerConfig,
    ) -> Self {
        // Registered at zero, so dashboards show 0 rather than "No data" before a failover.
        for node in &nodes {
            metrics::counter!(METRIC_MOVED, "node" => node.name.clone()).increment(0);
        }
        Self {
            store: music.store().clone(),
            music,
            rest,
            nodes: nodes.into(),
            config: Arc::new(config),
        }
    }

    /// Runs until `cancel`; gives the leases up on the way out (the sessions stay resumable).
    ///
    /// Dropping the future (an aborted task) drops every node task with it.
    pub async fn run(self, cancel: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for node in self.nodes.iter().cloned() {
            let this = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move { this.run_node(node, cancel).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn run_node(&self, node: NodeConfig, cancel: CancellationToken) {
        let owner = self.config.owner_id.clone();
        let mut down_since: Option<Instant> = None;
        let mut failed_over = false;
        while !cancel.is_cancelled() {
            match self
                .store
                .lease(&node.name, &owner, self.config.lease_ttl)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    metrics::gauge!(METRIC_OWNED, "node" => node.name.clone()).set(0.0);
                    down_since = None;
                    failed_over = false;
                    sleep_or_cancel(Duration::from_secs(1), &cancel).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, node = %node.name, "node lease unavailable");
                    sleep_or_cancel(Duration::from_secs(1), &cancel).await;
                    continue;
                }
            }
            metrics::gauge!(METRIC_OWNED, "node" => node.name.clone()).set(1.0);
            match self.session(&node, &cancel).await {
                Ended::Cancelled => break,
                Ended::LeaseLost => {
                    tracing::warn!(node = %node.name, "lost the node's lease; letting go");
                    metrics::gauge!(METRIC_OWNED, "node" => node.name.clone()).set(0.0);
                    metrics::gauge!(METRIC_CONNECTED, "node" => node.name.clone()).set(0.0);
                    // Our socket is gone; the new owner heartbeats once it is connected.
                    self.mark_down(&node.name).await;
                }
                Ended::Disconnected(reason, was_ready) => {
                    metrics::gauge!(METRIC_CONNECTED, "node" => node.name.clone()).set(0.0);
                    if was_ready {
                        // A new outage starts now.
                        down_since = None;
                        failed_over = false;
                    }
                    let since = *down_since.get_or_insert_with(Instant::now);
                    tracing::warn!(node = %node.name, %reason, down_for = ?since.elapsed(), "Lavalink node disconnected");
                    self.mark_down(&node.name).await;
                    if !failed_over && since.elapsed() >= self.config.failover_after {
                        failed_over = self.fail_over(&node).await;
                    }
                    sleep_or_cancel(Duration::from_millis(500), &cancel).await;
                }
            }
        }
        let _ = self.store.release(&node.name, &owner).await;
        metrics::gauge!(METRIC_OWNED, "node" => node.name.clone()).set(0.0);
        metrics::gauge!(METRIC_CONNECTED, "node" => node.name.clone()).set(0.0);
    }

    /// One WebSocket session with the node, until it drops, the lease is lost or `cancel`.
    async fn session(&self, node: &NodeConfig, cancel: &CancellationToken) -> Ended {
        let stored = self.store.node_session(&node.name).await.ok().flatten();
        let mut request = match node.websocket_url().into_client_request() {
            Ok(request) => request,
            Err(error) => return Ended::Disconnected(error.to_string(), false),
        };
        let headers = request.headers_mut();
        let header = |v: &str| HeaderValue::from_str(v).ok();
        if let Some(v) = header(self.rest.password()) {
            headers.insert("Authorization", v);
        }
        if let Some(v) = header(&self.config.bot_user_id.to_string()) {
            headers.insert("User-Id", v);
        }
        headers.insert("Client-Name", HeaderValue::from_static("swarmcord/0.1"));
        if let Some(v) = stored.as_deref().and_then(header) {
            headers.insert("Session-Id", v);
        }
        let connect = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_tungstenite::connect_async(request),
        );
        let mut socket = match connect.await {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(error)) => return Ended::Disconnected(error.to_string(), false),
            Err(_) => return Ended::Disconnected("connect timed out".to_owned(), false),
        };
        let renew_every = self.config.lease_ttl / 3;
        let mut renew = tokio::time::interval(renew_every);
        renew.tick().await;
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut session_id: Option<String> = None;
        loop {
            tokio::select! {
                () = cancel.cancelled() => {
                    // No close frame needed: the session stays resumable either way.
                    drop(socket);
                    return Ended::Cancelled;
                }
                _ = renew.tick() => {
                    match self.store.lease(&node.name, &self.config.owner_id, self.config.lease_ttl).await {
                        Ok(true) => {}
                        Ok(false) => return Ended::LeaseLost,
                        Err(error) => tracing::warn!(%error, "could not renew the node lease"),
                    }
                }
                _ = heartbeat.tick(), if session_id.is_some() => self.heartbeat(&node.name).await,
                frame = socket.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => {
                            return Ended::Disconnected(format!("closed: {frame:?}"), session_id.is_some());
                        }
                        Some(Ok(Message::Ping(data))) => {
                            let _ = socket.send(Message::Pong(data)).await;
                            continue;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            return Ended::Disconnected(error.to_string(), session_id.is_some());
                        }
                        None => return Ended::Disconnected("socket ended".to_owned(), session_id.is_some()),
                    };
                    match parse_incoming(text.as_str()) {
                        Ok(Some(Incoming::Ready { session_id: id, resumed })) => {
                            tracing::info!(node = %node.name, session = %id, resumed, "Lavalink session ready");
                            metrics::gauge!(METRIC_CONNECTED, "node" => node.name.clone()).set(1.0);
                            self.on_ready(node, &id).await;
                            session_id = Some(id);
                        }
                        // Load is the node's, not the session's: taken even before `ready`.
                        Ok(Some(Incoming::Stats(stats))) => self.on_stats(node, &stats).await,
                        Ok(Some(incoming)) => {
                            if session_id.is_some() {
                                self.on_incoming(node, incoming).await;
                            } else {
                                tracing::warn!(node = %node.name, "op before ready ignored");
                            }
                        }
                        Ok(None) => {}
                        Err(error) => tracing::warn!(node = %node.name, %error, "malformed Lavalink frame ignored"),
                    }
                }
            }
        }
    }

    async fn on_ready(&self, node: &NodeConfig, session: &str) {
        if let Err(error) = self.store.set_node_session(&node.name, session).await {
            tracing::warn!(%error, "could not store the node session");
        }
        if let Err(error) = self
            .rest
            .update_session(node, session, true, self.config.resume_timeout)
            .await
        {
            tracing::warn!(%error, node = %node.name, "could not enable session resuming");
        }
        // Available from now on, as long as the socket stays open (the heartbeat goes on).
        self.heartbeat(&node.name).await;
        self.reconcile(node, session).await;
    }

    /// Renews the node's heartbeat: this replica's WebSocket to it is open.
    async fn heartbeat(&self, node: &str) {
        if let Err(error) = self
            .store
            .heartbeat(node, &self.config.owner_id, self.config.heartbeat_ttl())
            .await
        {
            tracing::warn!(%error, node, "could not write the node's heartbeat");
        }
    }

    /// This replica's WebSocket to the node is gone: no one may pick the node until an owner
    /// is connected again.
    async fn mark_down(&self, node: &str) {
        if let Err(error) = self.store.node_down(node, &self.config.owner_id).await {
            tracing::warn!(%error, node, "could not mark the node down");
        }
    }

    async fn on_stats(&self, node: &NodeConfig, stats: &crate::model::NodeStats) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(METRIC_PLAYERS, "node" => node.name.clone()).set(stats.players as f64);
        let load = NodeLoad {
            players: stats.players,
            penalty: stats.penalty(),
            updated_at_ms: now_ms(),
        };
        if let Err(error) = self.store.write_load(&node.name, &load).await {
            tracing::warn!(%error, "could not write the node's load");
        }
    }

    /// Makes the node's players match Redis.
    async fn reconcile(&self, node: &NodeConfig, session: &str) {
        let players = match self.rest.players(node, session).await {
            Ok(players) => players,
            Err(error) => {
                tracing::warn!(%error, node = %node.name, "could not list players to reconcile");
                return;
            }
        };
        let guilds = match self.store.guilds().await {
            Ok(guilds) => guilds,
            Err(error) => {
                tracing::warn!(%error, "could not read the voice state to reconcile");
                return;
            }
        };
        let now = now_ms();
        for guild in guilds {
            let Ok(Some(state)) = self.store.guild(guild).await else {
                continue;
            };
            if state.node.as_deref() != Some(node.name.as_str()) {
                continue;
            }
            let player = players.iter().find(|p| p.guild_id == guild.to_string());
            let playing = player
                .and_then(|p| p.track.as_ref())
                .and_then(|t| t.entry_id().map(str::to_owned));
            let wanted = state.current.as_ref().map(|c| c.id.clone());
            let needs = match (&wanted, player) {
                (Some(_), _) => playing != wanted,
                // Idle, joined: the player only needs the voice connection.
                (None, None) => state.voice.lavalink_voice().is_some(),
                (None, Some(_)) => false,
            };
            if needs {
                tracing::info!(guild, node = %node.name, "recreating a player from Redis");
                if let Err(error) = self
                    .rest
                    .update_player(node, session, guild, &state.full_update(now))
                    .await
                {
                    tracing::warn!(%error, guild, "could not recreate a player");
                }
            }
        }
        for player in &players {
            let Ok(guild) = player.guild_id.parse::<u64>() else {
                continue;
            };
            let here = matches!(
                self.store.guild(guild).await,
                Ok(Some(state)) if state.node.as_deref() == Some(node.name.as_str())
            );
            if !here {
                tracing::info!(guild, node = %node.name, "destroying a player that moved away");
                let _ = self.rest.destroy_player(node, session, guild).await;
            }
        }
    }

    async fn on_incoming(&self, node: &NodeConfig, incoming: Incoming) {
        match incoming {
            Incoming::Stats(stats) => self.on_stats(node, &stats).await,
            Incoming::PlayerUpdate { guild_id, state } => {
                // The entry is whatever Redis says plays; a stale update is refused by the
                // store when the entry changed meanwhile (it compares ids).
                if let Ok(Some(guild)) = self.store.guild(guild_id).await
                    && let Some(current) = guild.current
                    && guild.node.as_deref() == Some(node.name.as_str())
                {
                    let _ = self
                        .store
                        .record_position(guild_id, &current.id, state.position, now_ms())
                        .await;
                }
            }
            Incoming::Event { guild_id, event } => {
                metrics::counter!(METRIC_EVENTS, "node" => node.name.clone(), "event" => event.kind())
                    .increment(1);
                self.on_event(node, guild_id, event).await;
            }
            Incoming::Ready { .. } => {}
        }
    }

    async fn on_event(&self, node: &NodeConfig, guild: u64, event: NodeEvent) {
        let ended = match &event {
            NodeEvent::TrackEnd { track, reason }
                if matches!(reason.as_str(), "finished" | "loadFailed") =>
            {
                track.entry_id().map(str::to_owned)
            }
            NodeEvent::TrackStuck(track) => track.entry_id().map(str::to_owned),
            NodeEvent::TrackException { track, message } => {
                tracing::warn!(guild, node = %node.name, title = %track.info.title, %message, "track failed");
                None
            }
            NodeEvent::WebSocketClosed { code, reason } => {
                tracing::warn!(guild, node = %node.name, code, %reason, "Discord closed the voice connection");
                None
            }
            _ => None,
        };
        let Some(ended) = ended else { return };
        match self.music.start_after(guild, &ended, false).await {
            Ok(Some(next)) => {
                tracing::debug!(guild, entry = %next.id, title = %next.track.info.title, "next track");
            }
            Ok(None) | Err(MusicError::NotConnected) => {}
            Err(error) => tracing::warn!(%error, guild, "could not advance the queue"),
        }
    }

    /// Moves every player of `dead` to the best other node. Returns whether every player
    /// found a node.
    async fn fail_over(&self, dead: &NodeConfig) -> bool {
        let guilds = match self.store.guilds().await {
            Ok(guilds) => guilds,
            Err(error) => {
                tracing::warn!(%error, "failover: voice state unavailable");
                return false;
            }
        };
        let mut all = true;
        for guild in guilds {
            let Ok(Some(state)) = self.store.guild(guild).await else {
                continue;
            };
            if state.node.as_deref() != Some(dead.name.as_str()) {
                continue;
            }
            let Ok(Some(target)) = best_node(&self.store, &self.nodes, Some(&dead.name)).await
            else {
                all = false;
                continue;
            };
            let Ok(Some(session)) = self.store.node_session(&target.name).await else {
                all = false;
                continue;
            };
            if self
                .store
                .set(guild, &[("node", target.name.clone())])
                .await
                .is_err()
            {
                all = false;
                continue;
            }
            // Position = last known + time since (unless paused), recorded as the new anchor.
            let now = now_ms();
            let update = state.full_update(now);
            if let Some(current) = &state.current {
                let _ = self
                    .store
                    .record_position(guild, &current.id, state.position_now(now), now)
                    .await;
            }
            match self
                .rest
                .update_player(&target, &session, guild, &update)
                .await
            {
                Ok(_) => {
                    metrics::counter!(METRIC_MOVED, "node" => dead.name.clone()).increment(1);
                    tracing::info!(guild, from = %dead.name, to = %target.name, position = state.position_now(now), "player moved");
                }
                Err(error) => {
                    tracing::warn!(%error, guild, "failover: could not create the player");
                    all = false;
                }
            }
        }
        all
    }
}

async fn sleep_or_cancel(duration: Duration, cancel: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = cancel.cancelled() => {}
    }
}
