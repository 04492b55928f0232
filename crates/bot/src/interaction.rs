//! Slash commands: `INTERACTION_CREATE` events of type `APPLICATION_COMMAND`.
//!
//! Discord wants a first response within 3 seconds of the interaction's creation. The command
//! runs while a timer counts from the moment the gateway received the event; if the command
//! has not finished when [`BotConfig::interaction_defer_after`](crate::BotConfig) has passed,
//! the bot answers "thinking…" (a deferred response, callback type 5) and edits that response
//! with the result when it arrives (an ephemeral result becomes an ephemeral follow-up, and
//! the public "thinking…" message is deleted).
//!
//! Redelivery: the answer is remembered per event before it is sent; a redelivered
//! interaction re-sends it — the callback answers 40060 (already acknowledged) if the first
//! worker got that far, and then the original response is edited to the same content.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use swarmcord_commands::{InvocationContext, Reply};
use swarmcord_consumer::{Event, HandlerError};
use twilight_http::Client;
use twilight_http::api_error::ApiError;
use twilight_http::error::{Error as HttpError, ErrorType};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::MessageFlags;
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, InteractionMarker};

use crate::Bot;
use crate::reply::fit;

/// Discord: "Interaction has already been acknowledged."
const ALREADY_ACKNOWLEDGED: u64 = 40060;
/// Discord: "Unknown interaction" (the token expired, or the 3 s deadline passed).
const UNKNOWN_INTERACTION: u64 = 10062;
/// Bound on one interaction REST call.
const REST_TIMEOUT: Duration = Duration::from_secs(10);

impl Bot {
    pub(crate) async fn on_interaction(&self, event: &Event) -> Result<(), HandlerError> {
        let interaction: Interaction = serde_json::from_slice(&event.body).map_err(|error| {
            HandlerError::Reject(format!(
                "INTERACTION_CREATE payload does not parse: {error}"
            ))
        })?;
        let (InteractionType::ApplicationCommand, Some(InteractionData::ApplicationCommand(data))) =
            (interaction.kind, &interaction.data)
        else {
            tracing::debug!(kind = ?interaction.kind, "not a slash command; ignored");
            return Ok(());
        };
        #[allow(deprecated, reason = "older payloads carry only channel_id")]
        let channel_id = interaction
            .channel
            .as_ref()
            .map(|c| c.id)
            .or(interaction.channel_id);
        let (Some(user_id), Some(channel_id)) = (interaction.author_id(), channel_id) else {
            return Err(HandlerError::Reject(
                "an APPLICATION_COMMAND interaction without a user or channel".to_owned(),
            ));
        };
        let responder = Responder {
            http: &self.http,
            application_id: interaction.application_id,
            interaction_id: interaction.id,
            token: &interaction.token,
        };
        let event_id = event.headers.event_id();
        if let Some(reply) = self.handled.get(&event_id).await {
            tracing::debug!("interaction already handled; making sure it was answered");
            return responder.respond(&reply, false).await;
        }
        // A metrics label: only registered names, so a crafted interaction cannot create
        // label values without bound.
        let command = self
            .dispatcher
            .registry()
            .get(&data.name)
            .map_or_else(|| "unknown".to_owned(), |spec| spec.name.clone());
        let ctx = InvocationContext {
            user_id,
            guild_id: interaction.guild_id,
            channel_id,
            is_owner: self.config.owners.contains(&user_id.get()),
            // Discord computes the member's permissions in the channel for us.
            member_permissions: match interaction.guild_id {
                Some(_) => interaction.member.as_ref().and_then(|m| m.permissions),
                None => Some(Permissions::all() - Permissions::ADMINISTRATOR),
            },
            disabled_commands: self.disabled_commands(interaction.guild_id).await,
            source: Some(crate::source_of(event)),
        };
        let started = Instant::now();
        let defer_in = self
            .config
            .interaction_defer_after
            .saturating_sub(since_received(event));
        let run = self.dispatcher.handle_interaction(&ctx, data);
        tokio::pin!(run);
        let (reply, deferred) = tokio::select! {
            reply = &mut run => (reply, false),
            () = tokio::time::sleep(defer_in) => {
                tracing::debug!(%command, "slow command; deferring the response");
                metrics::counter!("swarmcord_worker_interactions_deferred_total").increment(1);
                responder.defer().await?;
                (run.await, true)
            }
        };
        let reply = reply.unwrap_or_else(|| {
            Reply::ephemeral("I don't know that command any more; it may have been removed.")
        });
        crate::record_command(&command, "slash", started);
        self.handled.put(&event_id, &reply).await;
        responder.respond(&reply, deferred).await
    }
}

/// Time since the gateway received the event (zero if the clocks disagree).
fn since_received(event: &Event) -> Duration {
    Duration::from_millis(
        swarmcord_commands::prompt::now_ms().saturating_sub(event.headers.received_at_ms),
    )
}

/// The REST calls that answer one interaction.
struct Responder<'a> {
    http: &'a Client,
    application_id: Id<ApplicationMarker>,
    interaction_id: Id<InteractionMarker>,
    token: &'a str,
}

impl Responder<'_> {
    /// Answers "thinking…" (callback type 5).
    async fn defer(&self) -> Result<(), HandlerError> {
        let response = InteractionResponse {
            kind: InteractionResponseType::DeferredChannelMessageWithSource,
            data: None,
        };
        self.callback(&response).await
    }

    /// Sends the final answer: as the first response, or (after a deferral, or when a previous
    /// delivery already acknowledged the interaction) by editing the original response.
    async fn respond(&self, reply: &Reply, deferred: bool) -> Result<(), HandlerError> {
        if !deferred {
            let response = InteractionResponse {
                kind: InteractionResponseType::ChannelMessageWithSource,
                data: Some(InteractionResponseData {
                    content: Some(fit(&reply.content).into_owned()),
                    embeds: (!reply.embeds.is_empty()).then(|| reply.embeds.clone()),
                    flags: reply.ephemeral.then_some(MessageFlags::EPHEMERAL),
                    allowed_mentions: Some(crate::reply::allowed_mentions()),
                    ..InteractionResponseData::default()
                }),
            };
            return self.callback(&response).await;
        }
        let client = self.http.interaction(self.application_id);
        let content = fit(&reply.content);
        let mentions = crate::reply::allowed_mentions();
        if reply.ephemeral {
            // The "thinking…" message is public: answer privately, then remove it.
            let embeds = reply.embeds.clone();
            let followup = client
                .create_followup(self.token)
                .content(&content)
                .embeds(&embeds)
                .allowed_mentions(Some(&mentions))
                .flags(MessageFlags::EPHEMERAL);
            outcome("create_followup", timed(followup).await)?;
            let delete = client.delete_response(self.token);
            return outcome("delete_response", timed(delete).await);
        }
        let embeds = reply.embeds.clone();
        let update = client
            .update_response(self.token)
            .content(Some(&content))
            .embeds(Some(&embeds))
            .allowed_mentions(Some(&mentions));
        outcome("update_response", timed(update).await)
    }

    async fn callback(&self, response: &InteractionResponse) -> Result<(), HandlerError> {
        let client = self.http.interaction(self.application_id);
        let request = client.create_response(self.interaction_id, self.token, response);
        match timed(request).await {
            Err(CallError::Http(error)) if api_code(&error) == Some(ALREADY_ACKNOWLEDGED) => {
                tracing::debug!("interaction already acknowledged by an earlier delivery");
                if response.kind == InteractionResponseType::DeferredChannelMessageWithSource {
                    return Ok(());
                }
                let data = response.data.clone().unwrap_or_default();
                let embeds = data.embeds.unwrap_or_default();
                let mentions = crate::reply::allowed_mentions();
                let update = client
                    .update_response(self.token)
                    .content(data.content.as_deref())
                    .embeds(Some(&embeds))
                    .allowed_mentions(Some(&mentions));
                outcome("update_response", timed(update).await)
            }
            result => outcome("create_response", result),
        }
    }
}

/// A failed interaction REST call.
enum CallError {
    /// No answer within [`REST_TIMEOUT`].
    Timeout,
    /// Discord (or the network) failed it.
    Http(HttpError),
}

/// Runs a twilight request with [`REST_TIMEOUT`] and records its duration.
async fn timed<T>(request: impl IntoFuture<Output = Result<T, HttpError>>) -> Result<T, CallError> {
    let started = Instant::now();
    let result = tokio::time::timeout(REST_TIMEOUT, request.into_future()).await;
    metrics::histogram!("swarmcord_worker_rest_seconds", "route" => "interaction")
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CallError::Http(error)),
        Err(_elapsed) => Err(CallError::Timeout),
    }
}

/// Maps a REST outcome: 4xx answers are final (logged), the rest is retried.
fn outcome<T>(call: &'static str, result: Result<T, CallError>) -> Result<(), HandlerError> {
    let error = match result {
        Ok(_) => return Ok(()),
        Err(CallError::Timeout) => {
            return Err(HandlerError::Retry(format!("interaction {call} timed out")));
        }
        Err(CallError::Http(error)) => error,
    };
    if api_code(&error) == Some(UNKNOWN_INTERACTION) {
        metrics::counter!("swarmcord_worker_interactions_expired_total").increment(1);
        tracing::warn!(call, "the interaction expired before it was answered");
        return Ok(());
    }
    if let ErrorType::Response { status, .. } = error.kind()
        && status.is_client_error()
    {
        tracing::warn!(call, %error, "Discord refused the interaction response; not retrying");
        return Ok(());
    }
    Err(HandlerError::Retry(format!(
        "interaction {call} failed: {error}"
    )))
}

/// Discord's JSON error code of a failed request.
fn api_code(error: &HttpError) -> Option<u64> {
    match error.kind() {
        ErrorType::Response {
            error: ApiError::General(general),
            ..
        } => Some(general.code),
        _ => None,
    }
}
