//! The REST calls that answer one interaction: the first response (callback), a deferral,
//! and the edits and follow-ups that complete a deferred answer.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use swarmcord_commands::Reply;
use swarmcord_stream::HandlerError;
use twilight_http::Client;
use twilight_http::api_error::ApiError;
use twilight_http::error::{Error as HttpError, ErrorType};
use twilight_model::application::command::{
    CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType,
};
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::channel::message::MessageFlags;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, InteractionMarker};

use crate::reply::fit;

/// Discord: "Interaction has already been acknowledged."
const ALREADY_ACKNOWLEDGED: u64 = 40060;
/// Discord: "Unknown interaction" (the token expired, or the 3 s deadline passed).
const UNKNOWN_INTERACTION: u64 = 10062;
/// Bound on one interaction REST call.
const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// How an interaction was acknowledged before its answer was ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deferral {
    /// "Thinking…" (callback type 5): the answer becomes the original response.
    Thinking,
    /// A component interaction acknowledged silently (callback type 6): the answer edits the
    /// component's message, or comes as a follow-up.
    Update,
}

/// The REST calls that answer one interaction.
pub(crate) struct Responder<'a> {
    pub(crate) http: &'a Client,
    /// For `POST /interactions/{id}/{token}/callback` only ([`crate::Bot::with_callback_client`]).
    pub(crate) callbacks: &'a Client,
    pub(crate) application_id: Id<ApplicationMarker>,
    pub(crate) interaction_id: Id<InteractionMarker>,
    pub(crate) token: &'a str,
}

impl Responder<'_> {
    /// Acknowledges the interaction now (callback type 5 or 6).
    pub(crate) async fn defer(&self, deferral: Deferral) -> Result<(), HandlerError> {
        let kind = match deferral {
            Deferral::Thinking => InteractionResponseType::DeferredChannelMessageWithSource,
            Deferral::Update => InteractionResponseType::DeferredUpdateMessage,
        };
        self.callback(&InteractionResponse { kind, data: None })
            .await
    }

    /// Sends the final answer: as the first response (a message, type 4, or the update of a
    /// component's message, type 7), or after a deferral by editing the original response or
    /// sending a follow-up. A previous delivery that already acknowledged the interaction
    /// makes the callback answer 40060; the original response is edited instead.
    pub(crate) async fn respond(
        &self,
        reply: &Reply,
        deferred: Option<Deferral>,
    ) -> Result<(), HandlerError> {
        let client = self.http.interaction(self.application_id);
        let content = fit(&reply.content);
        let mentions = reply.mentions();
        if let Some(modal) = &reply.modal {
            if deferred.is_some() {
                // Discord opens a form only as the first answer.
                let late = Reply::ephemeral("Opening the form took too long; please try again.");
                return Box::pin(self.respond(&late, deferred)).await;
            }
            let response = InteractionResponse {
                kind: InteractionResponseType::Modal,
                data: Some(InteractionResponseData {
                    custom_id: Some(modal.custom_id.clone()),
                    title: Some(modal.title.clone()),
                    components: Some(modal.components()),
                    ..InteractionResponseData::default()
                }),
            };
            return self.callback(&response).await;
        }
        match deferred {
            None => {
                let kind = if reply.update {
                    InteractionResponseType::UpdateMessage
                } else {
                    InteractionResponseType::ChannelMessageWithSource
                };
                let response = InteractionResponse {
                    kind,
                    data: Some(InteractionResponseData {
                        content: Some(content.into_owned()),
                        embeds: Some(reply.embeds.clone()),
                        components: Some(reply.components.clone()),
                        flags: (reply.ephemeral && !reply.update)
                            .then_some(MessageFlags::EPHEMERAL),
                        allowed_mentions: Some(mentions),
                        attachments: (!reply.attachments.is_empty())
                            .then(|| reply.attachments.clone()),
                        ..InteractionResponseData::default()
                    }),
                };
                self.callback(&response).await
            }
            Some(deferral)
                if reply.ephemeral || (deferral == Deferral::Update && !reply.update) =>
            {
                // A new message after a silent acknowledgement, or a private answer after a
                // public "thinking…": a follow-up (and the placeholder goes).
                let followup = client
                    .create_followup(self.token)
                    .content(&content)
                    .embeds(&reply.embeds)
                    .components(&reply.components)
                    .attachments(&reply.attachments)
                    .allowed_mentions(Some(&mentions));
                let followup = if reply.ephemeral {
                    followup.flags(MessageFlags::EPHEMERAL)
                } else {
                    followup
                };
                outcome("create_followup", timed(followup).await)?;
                if deferral == Deferral::Thinking {
                    let delete = client.delete_response(self.token);
                    return outcome("delete_response", timed(delete).await);
                }
                Ok(())
            }
            Some(_) => {
                let update = client
                    .update_response(self.token)
                    .content(Some(&content))
                    .embeds(Some(&reply.embeds))
                    .components(Some(&reply.components))
                    .attachments(&reply.attachments)
                    .allowed_mentions(Some(&mentions));
                outcome("update_response", timed(update).await)
            }
        }
    }

    /// Answers an autocomplete interaction with `choices` (callback type 8), typed like the
    /// focused option (a value that does not parse as its number type is left out).
    pub(crate) async fn suggest(
        &self,
        data: &CommandData,
        choices: Vec<(String, String)>,
    ) -> Result<(), HandlerError> {
        let kind = data.options.iter().find_map(|option| match &option.value {
            CommandOptionValue::Focused(_, kind) => Some(*kind),
            _ => None,
        });
        let choices = choices
            .into_iter()
            .filter_map(|(name, value)| {
                let value = match kind {
                    Some(CommandOptionType::Integer) => {
                        CommandOptionChoiceValue::Integer(value.parse().ok()?)
                    }
                    Some(CommandOptionType::Number) => {
                        CommandOptionChoiceValue::Number(value.parse().ok()?)
                    }
                    _ => CommandOptionChoiceValue::String(value),
                };
                Some(CommandOptionChoice {
                    name,
                    name_localizations: None,
                    value,
                })
            })
            .collect();
        let response = InteractionResponse {
            kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
            data: Some(InteractionResponseData {
                choices: Some(choices),
                ..InteractionResponseData::default()
            }),
        };
        self.callback(&response).await
    }

    async fn callback(&self, response: &InteractionResponse) -> Result<(), HandlerError> {
        let callbacks = self.callbacks.interaction(self.application_id);
        let request = callbacks.create_response(self.interaction_id, self.token, response);
        match timed(request).await {
            Err(CallError::Http(error)) if api_code(&error) == Some(ALREADY_ACKNOWLEDGED) => {
                tracing::debug!("interaction already acknowledged by an earlier delivery");
                let Some(data) = response.data.clone() else {
                    return Ok(());
                };
                let embeds = data.embeds.unwrap_or_default();
                let components = data.components.unwrap_or_default();
                let attachments = data.attachments.unwrap_or_default();
                let mentions = data.allowed_mentions.unwrap_or_default();
                let client = self.http.interaction(self.application_id);
                let update = client
                    .update_response(self.token)
                    .content(data.content.as_deref())
                    .embeds(Some(&embeds))
                    .components(Some(&components))
                    .attachments(&attachments)
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
            return Err(HandlerError::retry(format!("interaction {call} timed out")));
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
    Err(HandlerError::retry(format!("interaction {call} failed")).with_source(error))
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
