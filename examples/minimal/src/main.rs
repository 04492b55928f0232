//! The minimal bot's worker binary: run it like `worker` (same variables, see
//! `docs/CONFIGURATION.md`), next to the gateways; `scripts/sandbox.sh --bot minimal-bot` runs it
//! against the simulator.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    minimal_bot::bot(swarmcord::Worker::from_env())
        .launch()
        .await
}
