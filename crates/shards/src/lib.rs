//! Runs a gateway replica's group of Discord shards.
//!
//! The `gateway` binary is glue around [`run`]: it reads a [`GatewayConfig`] from the
//! environment, serves health and metrics, and calls [`run`] until SIGTERM. Everything that
//! makes a replica correct lives here:
//!
//! - shard ownership through Redis leases (never two owners), identify coordination shared by
//!   all replicas, sessions persisted with the last *confirmed* sequence number and resumed
//!   after a restart ([`swarmcord_coord`]);
//! - forwarding every dispatch's raw payload with publisher confirms and backpressure
//!   ([`swarmcord_broker`]);
//! - gateway commands from the reply queue, executed on the owning shard or re-routed to its
//!   owner ([`command`]);
//! - a watchdog that reconnects shards whose heartbeats go unanswered or whose events stop;
//! - changing the shard count while running ([`admin::reshard`] starts it, the replicas'
//!   supervisor carries it out).

pub mod admin;
pub mod command;
pub mod config;
mod confirms;
mod counters;
pub mod frame;
pub mod progress;
mod resume;
mod runner;
mod startup;
mod watchdog;

pub use config::{GatewayConfig, ShardCount, ShardSelection};
pub use runner::{RunError, run};
