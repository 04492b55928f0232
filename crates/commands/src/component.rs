//! Message components: handlers found by the `custom_id` of a clicked button or a chosen
//! select-menu option, their state in Redis, and Discord's limits on components.
//!
//! A `custom_id` is `{handler}` or `{handler}:{state}`: `handler` names the registered
//! [`ComponentHandler`] (1–80 characters, no `:`), and `state` is the key of a small document
//! in Redis ([`ComponentStates`]) with a time to live. Nothing about a component lives in a
//! worker's memory, so any replica handles a click — also after every worker restarted — and a
//! click after the state expired gets a clear answer instead of silence.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::{ButtonStyle, SelectMenuType};
use twilight_model::id::Id;
use twilight_model::id::marker::MessageMarker;

use crate::dispatch::CommandError;
use crate::precondition::{BoxFuture, InvocationContext};
use crate::reply::Reply;

/// Longest `custom_id` Discord accepts.
pub const MAX_CUSTOM_ID: usize = 100;
/// Longest handler name (the rest of the `custom_id` carries the state key).
pub const MAX_HANDLER_NAME: usize = 80;

/// A click on a button or a choice in a select menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentClick {
    /// The component's whole `custom_id`.
    pub custom_id: String,
    /// The handler name (before the first `:`).
    pub handler: String,
    /// The state key (after the first `:`), if any.
    pub state: Option<String>,
    /// The chosen values of a select menu (empty for buttons).
    pub values: Vec<String>,
    /// The message the component belongs to.
    pub message_id: Option<Id<MessageMarker>>,
    /// A submitted modal's values, by input `custom_id` (empty for components).
    pub fields: Vec<(String, String)>,
}

impl ComponentClick {
    /// A click on `custom_id` with the chosen `values`.
    pub fn new(
        custom_id: &str,
        values: Vec<String>,
        message_id: Option<Id<MessageMarker>>,
    ) -> Self {
        let (handler, state) = match custom_id.split_once(':') {
            Some((handler, state)) => (handler, Some(state.to_owned())),
            None => (custom_id, None),
        };
        Self {
            custom_id: custom_id.to_owned(),
            handler: handler.to_owned(),
            state,
            values,
            message_id,
            fields: Vec::new(),
        }
    }

    /// The value a submitted modal gave the input `custom_id`.
    pub fn field(&self, custom_id: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(id, _)| id == custom_id)
            .map(|(_, value)| value.as_str())
    }

    /// The ids chosen in a user, role, mentionable or channel select menu (values that are
    /// not ids, as a string select's, are left out).
    pub fn selected<T>(&self) -> Vec<Id<T>> {
        self.values
            .iter()
            .filter_map(|value| value.parse::<u64>().ok().and_then(Id::new_checked))
            .collect()
    }
}

/// What runs when a user clicks a component whose `custom_id` names it.
pub trait ComponentHandler: Send + Sync {
    /// Handles the click. Return [`Reply::update_message`] to edit the component's message.
    fn handle<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        click: ComponentClick,
    ) -> BoxFuture<'a, Result<Reply, CommandError>>;
}

/// A handler name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentRegistryError {
    /// Empty, longer than [`MAX_HANDLER_NAME`], or containing `:`.
    #[error("invalid component handler name `{0}`: 1-80 characters without `:`")]
    InvalidName(String),
    /// Registered twice.
    #[error("component handler `{0}` is registered twice")]
    Duplicate(String),
}

/// The component handlers of a worker, by name.
#[derive(Default, Clone)]
pub struct ComponentRouter {
    handlers: HashMap<String, Arc<dyn ComponentHandler>>,
}

impl fmt::Debug for ComponentRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("ComponentRouter")
            .field("handlers", &names)
            .finish()
    }
}

impl ComponentRouter {
    /// Registers `handler` for the `custom_id`s `name` and `name:…`.
    pub fn register(
        &mut self,
        name: &str,
        handler: impl ComponentHandler + 'static,
    ) -> Result<(), ComponentRegistryError> {
        if name.is_empty() || name.chars().count() > MAX_HANDLER_NAME || name.contains(':') {
            return Err(ComponentRegistryError::InvalidName(name.to_owned()));
        }
        if self.handlers.contains_key(name) {
            return Err(ComponentRegistryError::Duplicate(name.to_owned()));
        }
        self.handlers.insert(name.to_owned(), Arc::new(handler));
        Ok(())
    }

    /// The handler of a click, if one is registered.
    pub fn get(&self, click: &ComponentClick) -> Option<&Arc<dyn ComponentHandler>> {
        self.handlers.get(&click.handler)
    }

    /// Whether a handler is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

/// The state of components, in Redis under `{prefix}:component:{key}`, each with a TTL.
#[derive(Clone)]
pub struct ComponentStates {
    redis: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for ComponentStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentStates")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Component state could not be stored or read (Redis unavailable, or a document that does
/// not decode).
#[derive(Debug, thiserror::Error)]
#[error("component state: {0}")]
pub struct StateError(String);

impl ComponentStates {
    /// States under `{redis_prefix}:component:`.
    pub fn new(redis: ConnectionManager, redis_prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: redis_prefix.into(),
        }
    }

    fn key(&self, state: &str) -> String {
        format!("{}:component:{state}", self.prefix)
    }

    /// Stores `data` for `ttl` and returns the `custom_id` `{handler}:{key}` that carries it.
    pub async fn stash(
        &self,
        handler: &str,
        data: &serde_json::Value,
        ttl: Duration,
    ) -> Result<String, StateError> {
        let key = uuid::Uuid::new_v4().simple().to_string();
        let key = &key[..16];
        let custom_id = format!("{handler}:{key}");
        if handler.contains(':') || custom_id.chars().count() > MAX_CUSTOM_ID {
            return Err(StateError(format!(
                "`{handler}` cannot name a component handler"
            )));
        }
        let raw = serde_json::to_string(data).map_err(|e| StateError(e.to_string()))?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(raw)
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut redis)
            .await
            .map_err(|e| StateError(e.to_string()))?;
        Ok(custom_id)
    }

    /// The state stored under `key`; `None` when it expired (or never existed).
    pub async fn load(&self, key: &str) -> Result<Option<serde_json::Value>, StateError> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut redis)
            .await
            .map_err(|e| StateError(e.to_string()))?;
        raw.map(|raw| serde_json::from_str(&raw).map_err(|e| StateError(e.to_string())))
            .transpose()
    }

    /// Deletes the state under `key` (a one-shot component, once used).
    pub async fn forget(&self, key: &str) -> Result<(), StateError> {
        let mut redis = self.redis.clone();
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut redis)
            .await
            .map_err(|e| StateError(e.to_string()))
    }
}

/// The `custom_id` of the help command's category menu.
pub const HELP_MENU: &str = "help";

/// The help's select menu of categories (none with fewer than two, or more than 25); choosing
/// one shows that category alone (the worker's [`HELP_MENU`] handler).
pub fn help_menu(registry: &crate::Registry) -> Vec<Component> {
    let categories = registry.categories();
    if !(2..=25).contains(&categories.len()) {
        return Vec::new();
    }
    let options = categories.iter().map(|c| (c.as_str(), c.as_str()));
    vec![crate::builders::row([crate::builders::select(
        HELP_MENU,
        "Show one category",
        options,
    )])]
}

/// Why components break Discord's rules (Discord would answer 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid components: {0}")]
pub struct ComponentError(pub String);

/// Checks `rows` against Discord's limits for message components: at most 5 action rows, each
/// with 1–5 buttons or exactly one select menu; buttons with a `custom_id` (≤ 100 characters)
/// unless they are links (a `url`, no `custom_id`), labels ≤ 80; string selects with 1–25
/// options (labels, values and descriptions ≤ 100), `min_values ≤ max_values ≤ 25`,
/// placeholders ≤ 150; `custom_id`s unique in the message; no text inputs (modals only).
pub fn check_components(rows: &[Component]) -> Result<(), ComponentError> {
    let fail = |message: String| Err(ComponentError(message));
    if rows.len() > 5 {
        return fail(format!("{} action rows; at most 5", rows.len()));
    }
    let mut ids: Vec<&str> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let Component::ActionRow(row) = row else {
            return fail(format!("component {r} is not an action row"));
        };
        let buttons = row
            .components
            .iter()
            .filter(|c| matches!(c, Component::Button(_)))
            .count();
        let selects = row
            .components
            .iter()
            .filter(|c| matches!(c, Component::SelectMenu(_)))
            .count();
        let ok_shape = (buttons == row.components.len() && (1..=5).contains(&buttons))
            || (selects == 1 && row.components.len() == 1);
        if !ok_shape {
            return fail(format!(
                "row {r} must hold 1 to 5 buttons or exactly one select menu"
            ));
        }
        for component in &row.components {
            match component {
                Component::Button(button) => {
                    check_text(button.label.as_deref(), 80, "button label")?;
                    match (button.style, &button.custom_id, &button.url) {
                        (ButtonStyle::Link, None, Some(_)) | (ButtonStyle::Premium, None, None) => {
                        }
                        (ButtonStyle::Link, _, _) => {
                            return fail(format!(
                                "link button in row {r} needs a url and no custom_id"
                            ));
                        }
                        (_, Some(id), None) => ids.push(id),
                        _ => {
                            return fail(format!("button in row {r} needs a custom_id and no url"));
                        }
                    }
                }
                Component::SelectMenu(menu) => {
                    ids.push(&menu.custom_id);
                    check_text(menu.placeholder.as_deref(), 150, "select placeholder")?;
                    let options = menu.options.as_deref().unwrap_or_default();
                    if menu.kind == SelectMenuType::Text && !(1..=25).contains(&options.len()) {
                        return fail(format!("select menu in row {r} needs 1 to 25 options"));
                    }
                    for option in options {
                        check_text(Some(&option.label), 100, "option label")?;
                        check_text(Some(&option.value), 100, "option value")?;
                        check_text(option.description.as_deref(), 100, "option description")?;
                    }
                    let (min, max) = (menu.min_values.unwrap_or(1), menu.max_values.unwrap_or(1));
                    if min > max || max > 25 {
                        return fail(format!(
                            "select menu in row {r}: min_values {min} and max_values {max}"
                        ));
                    }
                }
                _ => return fail(format!("row {r} holds a component messages cannot have")),
            }
        }
    }
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() || id.chars().count() > MAX_CUSTOM_ID {
            return fail(format!("custom_id `{id}` must be 1 to 100 characters"));
        }
        if ids[..i].contains(id) {
            return fail(format!("custom_id `{id}` is used twice"));
        }
    }
    Ok(())
}

fn check_text(text: Option<&str>, max: usize, what: &str) -> Result<(), ComponentError> {
    match text {
        Some(text) if text.chars().count() > max => Err(ComponentError(format!(
            "{what} longer than {max} characters"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::channel::message::component::Button;

    fn button(id: Option<&str>, style: ButtonStyle, url: Option<&str>) -> Component {
        Component::Button(Button {
            custom_id: id.map(str::to_owned),
            disabled: false,
            emoji: None,
            id: None,
            label: Some("Go".to_owned()),
            sku_id: None,
            style,
            url: url.map(str::to_owned),
        })
    }

    fn row(components: Vec<Component>) -> Component {
        crate::builders::row(components)
    }

    #[test]
    fn discords_component_limits() {
        let ok = |id: &str| button(Some(id), ButtonStyle::Primary, None);
        assert!(check_components(&[row(vec![ok("a"), ok("b")])]).is_ok());
        let link = button(None, ButtonStyle::Link, Some("https://example.com"));
        assert!(check_components(&[row(vec![link])]).is_ok());
        for (rows, why) in [
            (vec![row(vec![ok("a"), ok("a")])], "twice"),
            (
                vec![row((0..6).map(|i| ok(&i.to_string())).collect())],
                "1 to 5",
            ),
            (vec![row(vec![ok(&"x".repeat(101))])], "1 to 100"),
            (
                vec![row(vec![button(None, ButtonStyle::Link, None)])],
                "url",
            ),
            (
                vec![row(vec![button(
                    Some("a"),
                    ButtonStyle::Danger,
                    Some("https://x"),
                )])],
                "no url",
            ),
            (
                (0..6).map(|i| row(vec![ok(&i.to_string())])).collect(),
                "at most 5",
            ),
            (vec![ok("bare")], "not an action row"),
        ] {
            let error = check_components(&rows).expect_err(why);
            assert!(error.0.contains(why), "{error} vs {why}");
        }
    }

    #[test]
    fn custom_ids_name_a_handler_and_a_state() {
        let click = ComponentClick::new("ban-confirm:0123abcd", Vec::new(), None);
        assert_eq!(click.handler, "ban-confirm");
        assert_eq!(click.state.as_deref(), Some("0123abcd"));
        let plain = ComponentClick::new("help", vec!["music".to_owned()], None);
        assert_eq!((plain.handler.as_str(), plain.state), ("help", None));
    }
}
