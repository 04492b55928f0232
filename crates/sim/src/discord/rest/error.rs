//! Discord's error bodies (`{"message", "code"}`, plus `errors` for form errors) and the
//! successful reply type of the handlers.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// A gateway dispatch a handler wants sent once the world lock is released.
#[derive(Debug)]
pub(super) struct Dispatch {
    pub(super) guild_id: Option<u64>,
    pub(super) event: &'static str,
    pub(super) data: Value,
}

/// A successful reply: status, optional JSON body and the dispatches it causes.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Option<Value>,
    pub(super) dispatches: Vec<Dispatch>,
}

impl Reply {
    /// `200 OK` with a JSON body.
    pub(super) fn json(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            dispatches: Vec::new(),
        }
    }

    /// `201 Created` with a JSON body.
    pub(super) fn created(body: Value) -> Self {
        Self {
            status: StatusCode::CREATED,
            body: Some(body),
            dispatches: Vec::new(),
        }
    }

    /// `204 No Content`.
    pub(super) fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            dispatches: Vec::new(),
        }
    }

    /// Adds a dispatch to send after the reply is computed.
    pub(super) fn dispatch(
        mut self,
        guild_id: Option<u64>,
        event: &'static str,
        data: Value,
    ) -> Self {
        self.dispatches.push(Dispatch {
            guild_id,
            event,
            data,
        });
        self
    }

    /// Adds several dispatches.
    pub(super) fn dispatches(mut self, dispatches: Vec<Dispatch>) -> Self {
        self.dispatches.extend(dispatches);
        self
    }
}

/// An error answered in Discord's JSON error shape.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: u64,
    pub(super) message: String,
    pub(super) errors: Option<Value>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: u64, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            errors: None,
        }
    }

    /// The JSON body.
    pub(super) fn body(&self) -> Value {
        let mut body = json!({"message": self.message, "code": self.code});
        if let Some(errors) = &self.errors {
            body["errors"] = errors.clone();
        }
        body
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 0, "404: Not Found")
    }

    pub(super) fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")
    }

    pub(super) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
    }

    pub(super) fn unknown_channel() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10003, "Unknown Channel")
    }

    pub(super) fn unknown_guild() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild")
    }

    pub(super) fn unknown_member() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10007, "Unknown Member")
    }

    pub(super) fn unknown_message() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10008, "Unknown Message")
    }

    pub(super) fn unknown_user() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10013, "Unknown User")
    }

    pub(super) fn unknown_webhook() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10015, "Unknown Webhook")
    }

    pub(super) fn unknown_emoji() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 10014, "Unknown Emoji")
    }

    pub(super) fn unknown_role() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10011, "Unknown Role")
    }

    pub(super) fn unknown_ban() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10026, "Unknown Ban")
    }

    pub(super) fn unknown_interaction() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10062, "Unknown interaction")
    }

    pub(super) fn unknown_command() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10063, "Unknown application command")
    }

    pub(super) fn already_acknowledged() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        )
    }

    pub(super) fn missing_access() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50001, "Missing Access")
    }

    pub(super) fn dm_action() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            50003,
            "Cannot execute action on a DM channel",
        )
    }

    pub(super) fn edit_foreign_message() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            50005,
            "Cannot edit a message authored by another user",
        )
    }

    pub(super) fn empty_message() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        )
    }

    pub(super) fn non_text_channel() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50008,
            "Cannot send messages in a non-text channel",
        )
    }

    pub(super) fn invalid_channel_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        )
    }

    pub(super) fn thread_exists() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            160_004,
            "A thread has already been created for this message",
        )
    }

    pub(super) fn missing_permissions() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50013, "Missing Permissions")
    }

    pub(super) fn invalid_role() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 50028, "Invalid Role")
    }

    pub(super) fn not_in_voice() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            40032,
            "Target user is not connected to voice.",
        )
    }

    pub(super) fn too_old_to_bulk_delete() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50034,
            "You can only bulk delete messages that are under 14 days old.",
        )
    }

    pub(super) fn invalid_webhook_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token")
    }

    pub(super) fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    }

    /// `400 Invalid Form Body` (50035) with a single field error at `path`.
    pub(super) fn form(path: &[&str], code: &str, message: &str) -> Self {
        let mut errors = FormErrors::default();
        errors.add(path, code, message);
        errors.into_error()
    }
}

/// Collects field errors into Discord's nested `errors` object:
/// `{"field": {"0": {"name": {"_errors": [{"code", "message"}]}}}}`.
#[derive(Debug, Default)]
pub(super) struct FormErrors {
    root: Map<String, Value>,
}

impl FormErrors {
    /// Records an error for the field at `path` (empty path: the body itself).
    pub(super) fn add(&mut self, path: &[&str], code: &str, message: &str) {
        let mut node = &mut self.root;
        for segment in path {
            let next = node
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Value::Object(map) = next else { return };
            node = map;
        }
        let list = node
            .entry("_errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(json!({"code": code, "message": message}));
        }
    }

    /// Merges errors collected for a nested object under `prefix`.
    pub(super) fn nest(&mut self, prefix: &[&str], other: Self) {
        if other.is_empty() {
            return;
        }
        let mut node = &mut self.root;
        for segment in prefix {
            let next = node
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Value::Object(map) = next else { return };
            node = map;
        }
        for (key, value) in other.root {
            node.insert(key, value);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    pub(super) fn into_error(self) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: 50035,
            message: "Invalid Form Body".to_owned(),
            errors: Some(Value::Object(self.root)),
        }
    }

    /// `Ok(())` when nothing was recorded, the 50035 error otherwise.
    pub(super) fn check(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

/// The snowflakes (strings or integers) of the array field `key`; an element that is not one is
/// recorded as `NUMBER_TYPE_COERCE` at `key.i`.
pub(super) fn snowflake_list(errors: &mut FormErrors, key: &str, list: &[Value]) -> Vec<u64> {
    let mut ids = Vec::with_capacity(list.len());
    for (i, value) in list.iter().enumerate() {
        match crate::util::snowflake(value) {
            Some(id) => ids.push(id),
            None => errors.add(
                &[key, &i.to_string()],
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{value}\" is not snowflake."),
            ),
        }
    }
    ids
}

/// `BASE_TYPE_MAX_LENGTH` for strings and arrays.
pub(super) fn max_length_error(errors: &mut FormErrors, path: &[&str], max: usize) {
    errors.add(
        path,
        "BASE_TYPE_MAX_LENGTH",
        &format!("Must be {max} or fewer in length."),
    );
}

/// `BASE_TYPE_BAD_LENGTH` for strings with a minimum and a maximum.
pub(super) fn bad_length_error(errors: &mut FormErrors, path: &[&str], min: usize, max: usize) {
    errors.add(
        path,
        "BASE_TYPE_BAD_LENGTH",
        &format!("Must be between {min} and {max} in length."),
    );
}
