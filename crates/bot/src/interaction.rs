//! Interactions: slash commands (`APPLICATION_COMMAND`) and clicks on message components
//! (`MESSAGE_COMPONENT`: buttons, select menus).
//!
//! Discord wants a first response within 3 seconds of the interaction's creation. The handler
//! runs while a timer counts from the moment the gateway received the event; if it has not
//! finished when [`BotConfig::interaction_defer_after`](crate::BotConfig) has passed, the bot
//! acknowledges the interaction — "thinking…" (callback type 5) for a command, silently (type 6)
//! for a component — *while the handler keeps running*, and completes the answer when it
//! arrives (an edit of the original response, the component's message, or a follow-up; see
//! [`crate::responder`]).
//!
//! A component's handler is found by the first part of its `custom_id`
//! ([`swarmcord_commands::component`]); its state lives in Redis, so any replica handles the
//! click, also after every worker restarted.
//!
//! Redelivery: the answer is remembered per event before it is sent; a redelivered
//! interaction re-sends it — the callback answers 40060 (already acknowledged) if the first
//! worker got that far, and then the original response is edited to the same content.

use std::future::Future;
use std::time::{Duration, Instant};

use swarmcord_commands::dispatch::INTERNAL_ERROR_MESSAGE;
use swarmcord_commands::{CommandError, ComponentClick, InvocationContext, Reply};
use swarmcord_stream::{Event, HandlerError};
use twilight_model::application::interaction::message_component::MessageComponentInteractionData;
use twilight_model::application::interaction::modal::{
    ModalInteractionComponent, ModalInteractionData,
};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::guild::Permissions;

use crate::Bot;
use crate::responder::{Deferral, Responder};

/// What an interaction asks of the bot.
enum Request<'a> {
    Command(&'a twilight_model::application::interaction::application_command::CommandData),
    Component(&'a MessageComponentInteractionData),
    Modal(&'a ModalInteractionData),
    Autocomplete(&'a twilight_model::application::interaction::application_command::CommandData),
}

impl Bot {
    pub(crate) async fn on_interaction(&self, event: &Event) -> Result<(), HandlerError> {
        let interaction: Interaction = serde_json::from_slice(&event.body).map_err(|error| {
            HandlerError::reject("INTERACTION_CREATE payload does not parse").with_source(error)
        })?;
        let request = match (interaction.kind, &interaction.data) {
            (
                InteractionType::ApplicationCommand,
                Some(InteractionData::ApplicationCommand(data)),
            ) => Request::Command(data),
            (InteractionType::MessageComponent, Some(InteractionData::MessageComponent(data))) => {
                Request::Component(data)
            }
            (InteractionType::ModalSubmit, Some(InteractionData::ModalSubmit(data))) => {
                Request::Modal(data)
            }
            (
                InteractionType::ApplicationCommandAutocomplete,
                Some(InteractionData::ApplicationCommand(data)),
            ) => Request::Autocomplete(data),
            _ => {
                tracing::debug!(kind = ?interaction.kind, "interaction type not handled; ignored");
                return Ok(());
            }
        };
        #[allow(deprecated, reason = "older payloads carry only channel_id")]
        let channel_id = interaction
            .channel
            .as_ref()
            .map(|c| c.id)
            .or(interaction.channel_id);
        let (Some(user_id), Some(channel_id)) = (interaction.author_id(), channel_id) else {
            return Err(HandlerError::reject(
                "an interaction without a user or channel",
            ));
        };
        let responder = Responder {
            http: &self.http,
            callbacks: &self.callbacks,
            application_id: interaction.application_id,
            interaction_id: interaction.id,
            token: &interaction.token,
        };
        let event_id = event.headers.event_id();
        if let Request::Autocomplete(data) = request {
            // Suggestions are not remembered: a redelivery asks again (or finds the
            // interaction expired), and Discord only shows the latest.
            let ctx = self.interaction_context(event, &interaction, user_id, channel_id);
            let started = Instant::now();
            let choices = self
                .dispatcher
                .handle_autocomplete(&ctx, data)
                .await
                .unwrap_or_default();
            crate::record_command("autocomplete", "autocomplete", started);
            return responder.suggest(data, choices).await;
        }
        if let Some(reply) = self.handled.get(&event_id).await {
            tracing::debug!("interaction already handled; making sure it was answered");
            return responder.respond(&reply, None).await;
        }
        let mut ctx = self.interaction_context(event, &interaction, user_id, channel_id);
        let started = Instant::now();
        let (reply, deferred, label, source) = match request {
            Request::Command(data) => {
                // Only commands can be switched off (a settings read: not for clicks).
                ctx.disabled_commands = self.disabled_commands(interaction.guild_id).await;
                // A metrics label: only registered names, so a crafted interaction cannot
                // create label values without bound.
                let label = self
                    .dispatcher
                    .command_for_interaction(data)
                    .map_or_else(|| "unknown".to_owned(), |spec| spec.name.clone());
                let run = async {
                    self.dispatcher
                        .handle_interaction(&ctx, data)
                        .await
                        .unwrap_or_else(|| {
                            Reply::ephemeral(
                                "I don't know that command any more; it may have been removed.",
                            )
                        })
                };
                let (reply, deferred) =
                    answer_in_time(event, &self.config, &responder, Deferral::Thinking, run)
                        .await?;
                (reply, deferred, label, "slash")
            }
            Request::Component(data) => {
                let message_id = interaction.message.as_ref().map(|m| m.id);
                let click = ComponentClick::new(&data.custom_id, data.values.clone(), message_id);
                let label = self.component_label(&click);
                let run = self.run_component(&ctx, click);
                let (reply, deferred) =
                    answer_in_time(event, &self.config, &responder, Deferral::Update, run).await?;
                (reply, deferred, label, "component")
            }
            Request::Modal(data) => {
                let message_id = interaction.message.as_ref().map(|m| m.id);
                let mut click = ComponentClick::new(&data.custom_id, Vec::new(), message_id);
                click.fields = modal_fields(&data.components);
                let label = self.component_label(&click);
                let run = async {
                    let mut reply = self.run_component(&ctx, click).await;
                    // Only a form opened from a component has a message to update.
                    reply.update &= message_id.is_some();
                    reply.modal = None;
                    reply
                };
                let deferral = if message_id.is_some() {
                    Deferral::Update
                } else {
                    Deferral::Thinking
                };
                let (reply, deferred) =
                    answer_in_time(event, &self.config, &responder, deferral, run).await?;
                (reply, deferred, label, "modal")
            }
            // Answered before the handled-log check (suggestions are not remembered).
            Request::Autocomplete(_) => return Ok(()),
        };
        crate::record_command(&label, source, started);
        self.handled.put(&event_id, &reply).await;
        responder.respond(&reply, deferred).await?;
        if reply.prompt.is_some() {
            let place = match interaction.message.as_ref().map(|m| m.id) {
                Some(message) if reply.update => crate::questions::Place::Message(message),
                _ => crate::questions::Place::Original {
                    application_id: interaction.application_id,
                    token: interaction.token.clone(),
                },
            };
            self.questions
                .remember(channel_id, user_id, &reply, place)
                .await;
        }
        Ok(())
    }

    /// A metrics label for a click: the handler's name when one is registered (a crafted
    /// `custom_id` cannot create label values without bound).
    fn component_label(&self, click: &ComponentClick) -> String {
        if self.components.get(click).is_some() {
            click.handler.clone()
        } else {
            "unknown".to_owned()
        }
    }

    /// Who interacts, where, with the permissions Discord computed into the payload (no
    /// disabled commands: the command path reads them).
    fn interaction_context(
        &self,
        event: &Event,
        interaction: &Interaction,
        user_id: twilight_model::id::Id<twilight_model::id::marker::UserMarker>,
        channel_id: twilight_model::id::Id<twilight_model::id::marker::ChannelMarker>,
    ) -> InvocationContext {
        InvocationContext {
            user_id,
            guild_id: interaction.guild_id,
            channel_id,
            is_owner: self.config.owners.contains(&user_id.get()),
            member_permissions: match interaction.guild_id {
                Some(_) => interaction.member.as_ref().and_then(|m| m.permissions),
                None => Some(Permissions::all() - Permissions::ADMINISTRATOR),
            },
            // Discord computes the bot's permissions in the channel into the payload.
            bot_permissions: match interaction.guild_id {
                Some(_) => interaction.app_permissions,
                None => Some(Permissions::all() - Permissions::ADMINISTRATOR),
            },
            disabled_commands: Vec::new(),
            source: Some(crate::source_of(event)),
        }
    }

    /// Runs the handler named by a component's `custom_id`; errors become ephemeral answers.
    async fn run_component(&self, ctx: &InvocationContext, click: ComponentClick) -> Reply {
        let Some(handler) = self.components.get(&click).cloned() else {
            tracing::debug!(custom_id = %click.custom_id, "no handler for this component");
            return Reply::ephemeral("This no longer works; use the command again.");
        };
        let handler_name = click.handler.clone();
        let mut reply = match handler.handle(ctx, click).await {
            Ok(reply) => reply,
            Err(CommandError::User(message)) => Reply::ephemeral(message),
            Err(error) => {
                tracing::error!(handler = %handler_name, %error, "component handler failed");
                Reply::ephemeral(INTERNAL_ERROR_MESSAGE)
            }
        };
        if let Err(error) = reply.check() {
            tracing::error!(handler = %handler_name, %error, "component handler answered invalid components");
            reply = Reply::ephemeral(INTERNAL_ERROR_MESSAGE);
        }
        reply
    }
}

/// Runs `work`; if it is still running when the deferral delay has passed, acknowledges the
/// interaction with `deferral` *while `work` goes on* (the acknowledgement must not wait behind
/// the handler's own REST calls). Returns the reply and how the interaction was acknowledged.
async fn answer_in_time(
    event: &Event,
    config: &crate::BotConfig,
    responder: &Responder<'_>,
    deferral: Deferral,
    work: impl Future<Output = Reply>,
) -> Result<(Reply, Option<Deferral>), HandlerError> {
    let defer_in = config
        .interaction_defer_after
        .saturating_sub(since_received(event));
    tokio::pin!(work);
    tokio::select! {
        reply = &mut work => Ok((reply, None)),
        () = tokio::time::sleep(defer_in) => {
            tracing::debug!("slow handler; deferring the response");
            metrics::counter!("swarmcord_worker_interactions_deferred_total").increment(1);
            let (deferred, reply) = tokio::join!(responder.defer(deferral), &mut work);
            deferred?;
            Ok((reply, Some(deferral)))
        }
    }
}

/// The text inputs' values of a submitted modal, by `custom_id` (inside action rows or labels).
fn modal_fields(components: &[ModalInteractionComponent]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for component in components {
        match component {
            ModalInteractionComponent::ActionRow(row) => {
                fields.extend(modal_fields(&row.components));
            }
            ModalInteractionComponent::Label(label) => {
                fields.extend(modal_fields(std::slice::from_ref(&label.component)));
            }
            ModalInteractionComponent::TextInput(input) => {
                fields.push((input.custom_id.clone(), input.value.clone()));
            }
            _ => {}
        }
    }
    fields
}

/// Time since the gateway received the event (zero if the clocks disagree).
fn since_received(event: &Event) -> Duration {
    Duration::from_millis(
        swarmcord_commands::prompt::now_ms().saturating_sub(event.headers.received_at_ms),
    )
}
