//! The tavern bot's worker binary: run it like `worker` (same variables, see
//! `docs/CONFIGURATION.md`; its reaction handler needs `GUILD_MESSAGE_REACTIONS` in the
//! gateways' `GATEWAY_INTENTS`), next to the gateways; `scripts/sandbox.sh --bot tavern-bot`
//! runs it against the simulator.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tavern_bot::bot(swarmcord::Worker::from_env())
        .launch()
        .await
}
