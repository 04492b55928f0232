//! Control API: simulated users use interactions as Discord clients do. Each method checks what
//! the client would let the user do (the component exists on a message the bot sent and is
//! enabled, the modal is open on that user's screen, the values are within the select's limits,
//! the required inputs are filled), then sends `INTERACTION_CREATE` with Discord's documented
//! payload and a token; the callback deadline starts.
//!
//! | method and path | body | interaction |
//! |---|---|---|
//! | `POST /_sim/interactions` | [`InteractionSpec`] | type 2, chat input (`data.options` may nest subcommands and groups; `resolved` filled for user, channel, role and mentionable options) |
//! | `POST /_sim/context_menu` | [`ContextMenuSpec`] | type 2, user (`data.type` 2) or message (3) command with `target_id` and `resolved` |
//! | `POST /_sim/components` | [`ComponentSpec`] | type 3, a button click or a select menu choice, with the `message` |
//! | `POST /_sim/modals` | [`ModalSubmitSpec`] | type 5, a submitted modal |
//! | `GET /_sim/modals?user_id=` | | the modals open on the user's screen ([`OpenModal`] data) |
//! | `POST /_sim/autocomplete` | [`InteractionSpec`] with one option `"focused": true` | type 4 |

use std::collections::BTreeMap;
use std::sync::MutexGuard;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Control, ControlError, Lookup, snowflake};
use crate::discord::rest::components::{self, ACTION_ROW, BUTTON, LABEL, LINK, TEXT_INPUT};
use crate::discord::rest::message;
use crate::discord::world::{Interaction, InteractionState, World};
use crate::util::random_hex;

mod http;
mod options;
mod resolve;

pub(super) use http::router;
use resolve::{check_input, resolve, resolved_member, select_values};

/// A slash command used by a simulated user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InteractionSpec {
    /// Guild (`None`: in a DM).
    #[serde(default, with = "snowflake::opt")]
    pub guild_id: Option<u64>,
    /// Channel.
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// Invoking user.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// Command name.
    pub name: String,
    /// `data.options` as Discord would send them (`[{"name", "type", "value"}]`).
    #[serde(default)]
    pub options: Value,
}

/// What [`Control::create_interaction`] made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedInteraction {
    /// Interaction id.
    #[serde(with = "snowflake")]
    pub id: u64,
    /// Interaction token.
    pub token: String,
}

impl Control {
    /// A user invokes a slash command (`INTERACTION_CREATE`, type 2 `APPLICATION_COMMAND`).
    /// `spec.options` may nest subcommands and subcommand groups as Discord does (checked);
    /// user, channel, role and mentionable options get their `data.resolved` entries.
    pub fn create_interaction(
        &self,
        spec: &InteractionSpec,
    ) -> Result<CreatedInteraction, ControlError> {
        self.command_interaction(spec, false)
    }
}

/// A user clicks a button or chooses in a select menu of a message the bot sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentSpec {
    /// The message the component is on.
    #[serde(with = "snowflake")]
    pub message_id: u64,
    /// The user.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// The component's `custom_id`.
    pub custom_id: String,
    /// For a select menu: the chosen option values (string select) or ids (user, role,
    /// mentionable, channel select). Empty for a button.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A user submits a modal the bot opened for them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModalSubmitSpec {
    /// The user who sees the modal.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// The modal's `custom_id`.
    pub custom_id: String,
    /// What the user typed, by text input `custom_id`; inputs left out keep the bot's
    /// prefilled `value` (or stay empty).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// Which context menu a command is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextMenuKind {
    /// A user command (`data.type` 2): right-click on a user.
    User,
    /// A message command (`data.type` 3): right-click on a message.
    Message,
}

/// A user runs a context-menu command on a user or a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextMenuSpec {
    /// Guild (`None`: in a DM).
    #[serde(default, with = "snowflake::opt")]
    pub guild_id: Option<u64>,
    /// Channel.
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// Invoking user.
    #[serde(with = "snowflake")]
    pub user_id: u64,
    /// Command name.
    pub name: String,
    /// User or message command.
    pub kind: ContextMenuKind,
    /// The user or message the command targets.
    #[serde(with = "snowflake")]
    pub target_id: u64,
}

fn invalid(message: impl Into<String>) -> ControlError {
    ControlError::Invalid(message.into())
}

impl Control {
    /// The fields every `INTERACTION_CREATE` of `kind` has, for `user_id` in `channel_id`.
    fn interaction_payload(
        &self,
        world: &World,
        kind: u8,
        guild_id: Option<u64>,
        channel_id: u64,
        user_id: u64,
    ) -> Result<(u64, String, Value), ControlError> {
        let id = self.shared.ids.next();
        let token = format!("aW50ZXJhY3Rpb246{}", random_hex(48));
        let channel = world.channels.found("channel", channel_id)?;
        let user = world.users.found("user", user_id)?;
        let app_id = world.bot.id;
        let mut payload = json!({
            "id": id.to_string(),
            "application_id": app_id.to_string(),
            "type": kind,
            "channel_id": channel_id.to_string(),
            "channel": channel.to_json(&world.users),
            "token": token,
            "version": 1,
            "app_permissions": world.channel_permissions(app_id, channel_id).to_string(),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id.unwrap_or(user_id).to_string()},
            "context": u8::from(guild_id.is_none()),
            "attachment_size_limit": 10_485_760,
        });
        if let Some(guild_id) = guild_id {
            if !world.guilds.contains_key(&guild_id) {
                return Err(ControlError::Unknown("guild", guild_id));
            }
            let mut member = resolved_member(world, guild_id, user_id, channel_id)
                .ok_or(ControlError::Unknown("member", user_id))?;
            member["user"] = user.to_json();
            payload["guild_id"] = json!(guild_id.to_string());
            payload["guild"] =
                json!({"id": guild_id.to_string(), "locale": "en-US", "features": []});
            payload["guild_locale"] = json!("en-US");
            payload["member"] = member;
        } else {
            payload["user"] = user.to_json();
        }
        Ok((id, token, payload))
    }

    /// Stores the interaction (its deadline starts) and sends `INTERACTION_CREATE`.
    fn emit_interaction(
        &self,
        mut world: MutexGuard<'_, World>,
        (id, token, payload): (u64, String, Value),
        guild_id: Option<u64>,
        channel_id: u64,
        user_id: u64,
    ) -> CreatedInteraction {
        world.interactions.insert(
            id,
            Interaction {
                id,
                token: token.clone(),
                payload: payload.clone(),
                guild_id,
                channel_id,
                user_id,
                created: Instant::now(),
                state: InteractionState::Pending,
                original_message: None,
            },
        );
        drop(world);
        self.shared
            .dispatch(guild_id, "INTERACTION_CREATE", payload);
        CreatedInteraction { id, token }
    }

    /// The registered command `name` of `kind` (1 chat input, 2 user, 3 message) usable in
    /// `guild_id`: its id, whether it is a guild command, and its JSON.
    pub(super) fn find_command(
        world: &World,
        name: &str,
        kind: u64,
        guild_id: Option<u64>,
    ) -> Option<(u64, Option<u64>, Value)> {
        world
            .commands
            .values()
            .filter(|c| c.json["name"] == name && c.json["type"].as_u64().unwrap_or(1) == kind)
            .find(|c| c.guild_id.is_none() || c.guild_id == guild_id)
            .map(|c| (c.id, c.guild_id, c.json.clone()))
    }

    /// A chat-input command (type 2) or its autocomplete (type 4): `data` with the options,
    /// checked for shape, and `resolved` for the entity options.
    pub(super) fn command_interaction(
        &self,
        spec: &InteractionSpec,
        autocomplete: bool,
    ) -> Result<CreatedInteraction, ControlError> {
        let world = self.shared.world();
        let options = if spec.options.is_null() {
            Vec::new()
        } else {
            spec.options
                .as_array()
                .cloned()
                .ok_or_else(|| invalid("options must be an array"))?
        };
        options::check(&options)?;
        let focused = options::focused_path(&options);
        let registered = Self::find_command(&world, &spec.name, 1, spec.guild_id);
        if autocomplete {
            let Some(path) = focused.first() else {
                return Err(invalid(
                    "autocomplete needs one option with \"focused\": true",
                ));
            };
            if focused.len() > 1 {
                return Err(invalid("only one option can be focused"));
            }
            if let Some((_, _, command)) = &registered
                && !options::autocompletes(command, path)
            {
                return Err(invalid(format!(
                    "option {} of /{} is not registered with \"autocomplete\": true",
                    path.join(" "),
                    spec.name
                )));
            }
        } else if !focused.is_empty() {
            return Err(invalid("\"focused\" is only sent with autocomplete"));
        }
        let command_id = registered
            .as_ref()
            .map_or_else(|| self.shared.ids.next(), |c| c.0);
        let mut data = json!({
            "id": command_id.to_string(),
            "name": spec.name,
            "type": 1,
            "options": options,
        });
        if let Some(guild_id) = registered.as_ref().and_then(|c| c.1) {
            data["guild_id"] = json!(guild_id.to_string());
        }
        if !autocomplete {
            let mut resolved = Map::new();
            for (kind, id) in options::entity_values(&options)? {
                let kinds: &[&str] = match kind {
                    6 => &["user"],
                    7 => &["channel"],
                    8 => &["role"],
                    _ => &["user", "role"],
                };
                let found = kinds.iter().any(|k| {
                    resolve(
                        &world,
                        &mut resolved,
                        k,
                        id,
                        spec.guild_id,
                        spec.channel_id,
                        spec.user_id,
                    )
                });
                if !found {
                    return Err(invalid(format!("option value {id} resolves to nothing")));
                }
            }
            if !resolved.is_empty() {
                data["resolved"] = Value::Object(resolved);
            }
        }
        let kind = if autocomplete { 4 } else { 2 };
        let mut created =
            self.interaction_payload(&world, kind, spec.guild_id, spec.channel_id, spec.user_id)?;
        created.2["data"] = data;
        Ok(self.emit_interaction(world, created, spec.guild_id, spec.channel_id, spec.user_id))
    }

    /// A user types into an autocomplete option (`INTERACTION_CREATE` type 4): `spec.options`
    /// as for a slash command, with `"focused": true` on exactly one option (inside its
    /// subcommand, if any). If the command is registered, that option must have
    /// `"autocomplete": true`. The bot answers with callback type 8.
    pub fn autocomplete(&self, spec: &InteractionSpec) -> Result<CreatedInteraction, ControlError> {
        self.command_interaction(spec, true)
    }

    /// A user runs a user or message context-menu command (type 2, `data.type` 2 or 3, with
    /// `target_id` and `resolved`).
    pub fn context_menu(&self, spec: &ContextMenuSpec) -> Result<CreatedInteraction, ControlError> {
        let world = self.shared.world();
        let kind = match spec.kind {
            ContextMenuKind::User => 2,
            ContextMenuKind::Message => 3,
        };
        let mut resolved = Map::new();
        match spec.kind {
            ContextMenuKind::User => {
                if !resolve(
                    &world,
                    &mut resolved,
                    "user",
                    spec.target_id,
                    spec.guild_id,
                    spec.channel_id,
                    spec.user_id,
                ) {
                    return Err(ControlError::Unknown("user", spec.target_id));
                }
            }
            ContextMenuKind::Message => {
                let target = world
                    .messages
                    .get(&spec.target_id)
                    .filter(|m| m.channel_id == spec.channel_id)
                    .ok_or(ControlError::Unknown(
                        "message in the channel",
                        spec.target_id,
                    ))?;
                resolved.insert(
                    "messages".to_owned(),
                    json!({spec.target_id.to_string(): message::render(&world, target, false)}),
                );
            }
        }
        let registered = Self::find_command(&world, &spec.name, kind, spec.guild_id);
        let mut data = json!({
            "id": registered.as_ref().map_or_else(|| self.shared.ids.next(), |c| c.0).to_string(),
            "name": spec.name,
            "type": kind,
            "target_id": spec.target_id.to_string(),
            "resolved": resolved,
        });
        if let Some(guild_id) = registered.as_ref().and_then(|c| c.1) {
            data["guild_id"] = json!(guild_id.to_string());
        }
        let mut created =
            self.interaction_payload(&world, 2, spec.guild_id, spec.channel_id, spec.user_id)?;
        created.2["data"] = data;
        Ok(self.emit_interaction(world, created, spec.guild_id, spec.channel_id, spec.user_id))
    }

    /// A user clicks a button or chooses in a select menu (`INTERACTION_CREATE` type 3 with the
    /// `message`). Refused unless the message was sent by the bot, carries an enabled button or
    /// select with `spec.custom_id`, the user can see it (an ephemeral message only its
    /// interaction's user), and the values fit the select (count within `min_values` and
    /// `max_values`, each an option's value or an id of the select's kind).
    pub fn use_component(&self, spec: &ComponentSpec) -> Result<CreatedInteraction, ControlError> {
        let world = self.shared.world();
        let msg = world.messages.found("message", spec.message_id)?;
        if msg.author_id != world.bot.id {
            return Err(invalid(format!(
                "message {} was not sent by the bot: its components cannot be used",
                msg.id
            )));
        }
        if msg.flags & message::FLAG_EPHEMERAL != 0 {
            let owner = msg
                .interaction_id
                .and_then(|i| world.interactions.get(&i))
                .map(|i| i.user_id);
            if owner != Some(spec.user_id) {
                return Err(invalid(format!(
                    "message {} is ephemeral: only its interaction's user sees it",
                    msg.id
                )));
            }
        }
        if let Some(guild_id) = msg.guild_id
            && !world
                .guilds
                .get(&guild_id)
                .is_some_and(|g| g.members.contains_key(&spec.user_id))
        {
            return Err(ControlError::Unknown("member", spec.user_id));
        }
        let component = components::find(&msg.components, &spec.custom_id).ok_or_else(|| {
            invalid(format!(
                "message {} has no component with custom_id {:?}",
                msg.id, spec.custom_id
            ))
        })?;
        let kind = component["type"].as_u64().unwrap_or(0);
        if component["disabled"].as_bool() == Some(true) {
            return Err(invalid(format!(
                "component {:?} is disabled",
                spec.custom_id
            )));
        }
        let mut data = json!({"custom_id": spec.custom_id, "component_type": kind});
        if kind == BUTTON {
            if component["style"].as_u64() == Some(LINK) {
                return Err(invalid(
                    "a link button opens its URL, it makes no interaction",
                ));
            }
            if !spec.values.is_empty() {
                return Err(invalid("a button has no values"));
            }
        } else if components::is_select(kind) {
            let resolved =
                select_values(&world, component, kind, spec, msg.guild_id, msg.channel_id)?;
            data["values"] = json!(spec.values);
            if !resolved.is_empty() {
                data["resolved"] = Value::Object(resolved);
            }
        } else {
            return Err(invalid(format!(
                "component {:?} (type {kind}) cannot be used",
                spec.custom_id
            )));
        }
        let message_json = message::render(&world, msg, false);
        let (guild_id, channel_id) = (msg.guild_id, msg.channel_id);
        let mut created =
            self.interaction_payload(&world, 3, guild_id, channel_id, spec.user_id)?;
        created.2["data"] = data;
        created.2["message"] = message_json;
        Ok(self.emit_interaction(world, created, guild_id, channel_id, spec.user_id))
    }

    /// The modals open on `user_id`'s screen (the callback `data` of each, with component ids).
    pub fn open_modals(&self, user_id: u64) -> Vec<Value> {
        self.shared
            .world()
            .modals
            .values()
            .filter(|m| m.user_id == user_id)
            .map(|m| m.data.clone())
            .collect()
    }

    /// A user submits a modal the bot opened for them (callback type 9 on one of their
    /// interactions): `INTERACTION_CREATE` type 5 with the text inputs' values, the `message`
    /// for a modal opened from a component. Refused as Discord's client would: an unknown
    /// input, an empty required input, a value outside `min_length`..`max_length`. The modal
    /// closes.
    pub fn submit_modal(&self, spec: &ModalSubmitSpec) -> Result<CreatedInteraction, ControlError> {
        let mut world = self.shared.world();
        let (&key, modal) = world
            .modals
            .iter()
            .rev()
            .find(|(_, m)| m.user_id == spec.user_id && m.data["custom_id"] == spec.custom_id)
            .ok_or_else(|| {
                invalid(format!(
                    "no modal {:?} is open for user {}",
                    spec.custom_id, spec.user_id
                ))
            })?;
        let modal = modal.clone();
        let mut known = Vec::new();
        let mut rows = Vec::new();
        for top in modal.data["components"].as_array().into_iter().flatten() {
            let input = match top["type"].as_u64() {
                Some(ACTION_ROW) => &top["components"][0],
                Some(LABEL) => &top["component"],
                _ => {
                    rows.push(json!({"type": top["type"], "id": top["id"]}));
                    continue;
                }
            };
            if input["type"].as_u64() != Some(TEXT_INPUT) {
                continue;
            }
            let custom_id = input["custom_id"].as_str().unwrap_or_default();
            known.push(custom_id);
            let value = spec.values.get(custom_id).map_or_else(
                || input["value"].as_str().unwrap_or_default(),
                String::as_str,
            );
            check_input(input, custom_id, value)?;
            let submitted = json!({"type": TEXT_INPUT, "id": input["id"], "custom_id": custom_id, "value": value});
            rows.push(if top["type"].as_u64() == Some(LABEL) {
                json!({"type": LABEL, "id": top["id"], "component": submitted})
            } else {
                json!({"type": ACTION_ROW, "id": top["id"], "components": [submitted]})
            });
        }
        if let Some(unknown) = spec.values.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(invalid(format!(
                "modal {:?} has no text input {unknown:?}",
                spec.custom_id
            )));
        }
        let message_json = modal
            .message_id
            .and_then(|id| world.messages.get(&id))
            .map(|m| message::render(&world, m, false));
        let mut created =
            self.interaction_payload(&world, 5, modal.guild_id, modal.channel_id, modal.user_id)?;
        created.2["data"] = json!({"custom_id": spec.custom_id, "components": rows});
        if let Some(message_json) = message_json {
            created.2["message"] = message_json;
        }
        world.modals.remove(&key);
        Ok(self.emit_interaction(
            world,
            created,
            modal.guild_id,
            modal.channel_id,
            modal.user_id,
        ))
    }
}
