//! `gateway reshard`: the operator's command that changes the shard count of a cluster of
//! replicas claiming their shards (`GATEWAY_SHARDS=auto`); the replicas do the rest (see
//! `docs/ARCHITECTURE.md`, "Resharding"). It talks to Redis only, with the gateway's own
//! configuration, so it runs inside any gateway container:
//! `docker exec <container> gateway reshard 8`.

use std::time::{Duration, Instant};

use swarmcord_coord::{Begun, Phase, Resharding};
use swarmcord_protocol::keys::Keys;

use crate::config::GatewayConfig;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Parser)]
#[command(
    name = "gateway reshard",
    about = "Change the shard count of the running gateways (GATEWAY_SHARDS=auto)"
)]
pub struct ReshardArgs {
    /// The new shard count.
    #[arg(required_unless_present_any = ["status", "cancel"], value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: Option<u32>,
    /// Only print the cluster's shard count and the resharding in progress.
    #[arg(long, conflicts_with_all = ["count", "cancel"])]
    pub status: bool,
    /// Abandon the resharding in progress (only before it switched).
    #[arg(long, conflicts_with = "count")]
    pub cancel: bool,
    /// Start the resharding and return at once instead of following it to the end.
    #[arg(long)]
    pub no_wait: bool,
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Redis could not be reached or answered an error.
    #[error("redis: {0}")]
    Redis(#[from] swarmcord_coord::CoordError),
    /// The cluster refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Runs the command; `say` receives each line to print.
///
/// # Errors
/// Redis failed, or the request cannot be done now (another resharding, no gateway running).
pub async fn reshard(
    config: &GatewayConfig,
    args: ReshardArgs,
    mut say: impl FnMut(String),
) -> Result<(), AdminError> {
    let redis = swarmcord_coord::connect(config.redis_url.expose()).await?;
    let resharding = Resharding::new(redis, Keys::new(config.redis_prefix.clone()));
    if args.status {
        let count = resharding.count().await?;
        say(match count {
            Some(count) => format!("the cluster runs {}", shards(count)),
            None => "no gateway claiming shards has started yet".to_owned(),
        });
        if let Some(record) = resharding.current().await? {
            say(describe(&record));
        }
        return Ok(());
    }
    if args.cancel {
        return if resharding.cancel().await? {
            say("resharding cancelled: the new shard set disconnects".to_owned());
            Ok(())
        } else {
            Err(AdminError::Refused(
                "no resharding to cancel (none in progress, or it already switched)".to_owned(),
            ))
        };
    }
    let Some(to) = args.count else {
        return Err(AdminError::Refused("no shard count given".to_owned()));
    };
    match resharding.begin(to).await? {
        Begun::Started(record) => say(describe(&record)),
        Begun::Busy(record) => {
            return Err(AdminError::Refused(format!(
                "another resharding is in progress: {}",
                describe(&record)
            )));
        }
        Begun::Unchanged => {
            say(format!("the cluster already runs {}", shards(to)));
            return Ok(());
        }
        Begun::NoCount => {
            return Err(AdminError::Refused(
                "no gateway with GATEWAY_SHARDS=auto has started yet: nothing to reshard"
                    .to_owned(),
            ));
        }
        _ => return Err(AdminError::Refused("unexpected answer".to_owned())),
    }
    if args.no_wait {
        return Ok(());
    }
    follow(&resharding, to, say).await
}

/// Prints each phase as the replicas reach it, until the record is gone.
async fn follow(
    resharding: &Resharding,
    to: u32,
    mut say: impl FnMut(String),
) -> Result<(), AdminError> {
    let started = Instant::now();
    let mut last = Some(Phase::Overlap);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let record = resharding.current().await?;
        let phase = record.map(|r| r.phase);
        if phase != last {
            last = phase;
            let secs = started.elapsed().as_secs_f64();
            if let Some(record) = record {
                say(format!("{secs:.1} s: {}", describe(&record)));
            } else {
                let count = resharding.count().await?;
                return if count == Some(to) {
                    say(format!(
                        "{secs:.1} s: done: the cluster runs {}",
                        shards(to)
                    ));
                    Ok(())
                } else {
                    Err(AdminError::Refused(
                        "the resharding was cancelled".to_owned(),
                    ))
                };
            }
        }
    }
}

/// "1 shard", "8 shards".
fn shards(count: u32) -> String {
    if count == 1 {
        "1 shard".to_owned()
    } else {
        format!("{count} shards")
    }
}

fn describe(record: &swarmcord_coord::Reshard) -> String {
    let what = match record.phase {
        Phase::Overlap => "the new shards connect beside the old ones",
        Phase::Tagging => "every new shard is ready; events are tagged for de-duplication",
        Phase::Both => "both shard sets forward; workers drop the second copies",
        Phase::Switched => "switched; the old shard set retires",
        _ => "",
    };
    format!(
        "resharding {} -> {}: {} ({what})",
        record.from, record.to, record.phase
    )
}
