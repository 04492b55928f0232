//! `ping`: the Discord REST round trip, the heartbeat latency of the shard the command came
//! through (published by its gateway in the registry), and how long the event took from the
//! gateway to this worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmcord::commands::precondition::BoxFuture;
use swarmcord::commands::{
    Args, Command, CommandError, CommandSpec, CooldownScope, EventSource, InvocationContext, Reply,
};
use swarmcord::http::Client;

use swarmcord::{Setup, SetupError};

use super::Services;

pub(super) fn register(setup: &mut Setup<'_>, services: &Services) -> Result<(), SetupError> {
    setup.command_impl(
        CommandSpec::builder("ping")
            .description("Check that the bot answers, with the Discord REST round trip")
            .category("General")
            .cooldown(CooldownScope::Channel, 5, Duration::from_secs(10))
            .build()?,
        Ping {
            http: Arc::clone(&services.http),
            gateways: services.gateways.clone(),
        },
    )?;
    Ok(())
}

struct Ping {
    http: Arc<Client>,
    gateways: swarmcord::coord::GatewayRegistry,
}

impl Ping {
    /// `Gateway heartbeat (shard 3): 41 ms. Event delivery: 2 ms.`, as far as known.
    async fn gateway_part(&self, source: Option<&EventSource>) -> String {
        let Some(source) = source else {
            return String::new();
        };
        let heartbeat = match self.gateways.gateway(&source.gateway_id).await {
            Ok(Some(info)) => info
                .heartbeat_latency_ms
                .get(&source.shard_id)
                .map_or_else(|| "not measured yet".to_owned(), |ms| format!("{ms} ms")),
            Ok(None) => "gateway gone".to_owned(),
            Err(_) => "unknown".to_owned(),
        };
        let delivery = swarmcord::commands::prompt::now_ms().saturating_sub(source.received_at_ms);
        format!(
            " Gateway heartbeat (shard {}): {heartbeat}. Event delivery: {delivery} ms.",
            source.shard_id
        )
    }
}

impl Command for Ping {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let gateway = self.gateway_part(ctx.source.as_ref()).await;
            let started = Instant::now();
            let rest = match self.http.current_user().await {
                Ok(_) => format!("{} ms", started.elapsed().as_millis()),
                Err(_) => "unreachable".to_owned(),
            };
            Ok(Reply::text(format!(
                "Pong! Discord REST round trip: {rest}.{gateway}"
            )))
        })
    }
}
