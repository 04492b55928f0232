//! `ping`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::{
    Args, Command, CommandError, CommandSpec, CooldownScope, Dispatcher, InvocationContext, Reply,
};
use twilight_http::Client;

use super::{Services, SetupError};

pub(super) fn register(dispatcher: &mut Dispatcher, services: &Services) -> Result<(), SetupError> {
    dispatcher.register(
        CommandSpec::builder("ping")
            .description("Check that the bot answers, with the Discord REST round trip")
            .category("General")
            .cooldown(CooldownScope::Channel, 5, Duration::from_secs(10))
            .build()?,
        Ping {
            http: Arc::clone(&services.http),
        },
    )?;
    Ok(())
}

struct Ping {
    http: Arc<Client>,
}

impl Command for Ping {
    fn run<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let started = Instant::now();
            let rest = match self.http.current_user().await {
                Ok(_) => format!("{} ms", started.elapsed().as_millis()),
                Err(_) => "unreachable".to_owned(),
            };
            Ok(Reply::text(format!(
                "Pong! Discord REST round trip: {rest}."
            )))
        })
    }
}
