//! `worker`: one replica of the swarmcord worker service running the default bot — every
//! built-in command — through the public SDK ([`swarmcord::Worker`]).
//!
//! Consumes the events the gateways forward, runs the commands and replies through Discord
//! REST. Stateless: any replica can die at any moment; unacknowledged events go to another
//! replica, prompts and cooldowns live in Redis, settings in MongoDB. Configuration comes from
//! environment variables (see `docs/CONFIGURATION.md`); an invalid one stops the process with
//! exit code 2 and a message naming it. Your own bot is this file with your commands added:
//! see `examples/` and `docs/GUIDE.md`.
//!
//! `worker dlq replay [QUEUE] [--limit N]` puts dead-lettered events back in their queue after
//! a fix ([`swarmcord::dlq`]).

use std::process::ExitCode;

use swarmcord_builtins::Builtins;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("dlq") {
        return swarmcord::dlq::main(&args[1..]).await;
    }
    swarmcord::Worker::from_env()
        .plugin(Builtins::all())
        .launch()
        .await
}
