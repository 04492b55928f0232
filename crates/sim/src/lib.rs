//! Protocol-faithful simulators of the services swarmcord talks to but cannot reach in tests:
//!
//! - [`discord`]: Discord gateway v10 (WebSocket, with zlib-stream transport compression),
//!   REST v10 with Discord's rate-limit headers and error bodies, and a scenario/control API
//!   for tests, benchmarks and a local sandbox;
//! - [`lavalink`]: a Lavalink v4 node (REST + WebSocket, sessions and resuming, simulated
//!   playback).
//!
//! The simulators follow the public protocol documentation closely enough that client
//! libraries written elsewhere (twilight-gateway, twilight-http, twilight-lavalink) use them
//! unchanged; the tests in `tests/` prove it with those clients.

pub mod discord;
pub mod lavalink;
pub mod record;
pub mod util;

pub use discord::{DiscordConfig, DiscordSim};
pub use lavalink::{LavalinkConfig, LavalinkSim};
pub use record::{Record, Recorder};
