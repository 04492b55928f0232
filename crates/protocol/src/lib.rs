//! The contract between swarmcord's services.
//!
//! Everything two services must agree on lives here and nowhere else:
//!
//! - [`backoff`]: the one retry delay policy of every loop that waits for a service;
//! - [`amqp`]: exchange, queue and header names, and the [`amqp::EventHeaders`] every forwarded
//!   dispatch carries;
//! - [`command`]: the typed gateway commands workers send back to the gateway that owns a shard,
//!   and their JSON envelope;
//! - [`keys`]: Redis key names shared by gateways and workers (shard ownership, sessions,
//!   identify buckets);
//! - [`time`]: the wall clock as Unix time (milliseconds, seconds, microseconds);
//! - [`shard_for_guild`]: which shard owns a guild.

pub mod amqp;
pub mod backoff;
pub mod command;
pub mod keys;
pub mod time;

/// The shard that owns a guild: `(guild_id >> 22) % shard_count`, as Discord documents.
///
/// A `shard_count` of 0 is treated as 1.
pub fn shard_for_guild(guild_id: u64, shard_count: u32) -> u32 {
    let count = u64::from(shard_count.max(1));
    // The remainder is < shard_count, which fits in u32.
    u32::try_from((guild_id >> 22) % count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guild_shard_follows_discord_formula() {
        // The low 22 bits (worker, process, increment) never matter.
        let guild = (12_345 << 22) | 0x3f_ffff;
        assert_eq!(shard_for_guild(guild, 1000), 345);
        assert_eq!(shard_for_guild(197_038_439_483_310_086, 1000), 770);
        assert_eq!(shard_for_guild(197_038_439_483_310_086, 1), 0);
        assert_eq!(shard_for_guild(197_038_439_483_310_086, 0), 0);
    }
}
