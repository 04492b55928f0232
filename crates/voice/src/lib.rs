//! Voice through Lavalink v4.
//!
//! - [`rest`]: a small Lavalink v4 REST client. REST is stateless per call, so every worker
//!   replica drives players directly (`PATCH /v4/sessions/{session}/players/{guild}`) once it
//!   knows the guild's node and the node's session id from Redis.
//! - [`node`]: the WebSocket side. One replica per node (a Redis lease) owns the node's
//!   session: resuming, reconciliation, track-end handling, liveness (heartbeat), failover.
//! - [`store`]: the per-guild player state in Redis, with the queue steps as Lua scripts.
//! - [`music`]: the operations behind the music commands.
//! - [`gateway`]: op 4 from a worker to the gateway owning the guild's shard.
//!
//! Why not twilight-lavalink: its node task ends silently on an HTTP error and on a player
//! event before `Ready`, it keys nodes by `SocketAddr`, and its players live in one process —
//! here players must be driven from any replica and survive the death of any of them.

pub mod config;
pub mod gateway;
pub mod model;
pub mod music;
pub mod node;
pub mod rest;
pub mod store;

pub use config::{NodeConfig, NodesError, parse_nodes};
pub use gateway::{AmqpVoiceGateway, VoiceGateway};
pub use music::{Enqueued, Music, MusicError, NowPlaying};
pub use node::{NodeManager, NodeManagerConfig};
pub use rest::{Rest, RestError};
pub use store::{Entry, GuildVoice, LoopMode, VoiceStore};
