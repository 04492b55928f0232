//! Discord's validation of message components (action rows, buttons, select menus), of modals
//! (text inputs) and of autocomplete choices, answered with its nested form errors; the
//! numbering of component `id`s; finding a component by `custom_id`.
//!
//! The limits are the documented ones (Message Components, Interactions > Receiving and
//! Responding). Discord does not document its form-error codes: the ones used here are those
//! its API answers in public reports (`BASE_TYPE_MAX_LENGTH`, `BASE_TYPE_BAD_LENGTH`,
//! `BASE_TYPE_REQUIRED`, `BASE_TYPE_CHOICES`, `COMPONENT_LAYOUT_WIDTH_EXCEEDED`,
//! `COMPONENT_CUSTOM_ID_DUPLICATED`, `BUTTON_COMPONENT_CUSTOM_ID_REQUIRED`,
//! `BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE`, `BUTTON_COMPONENT_INVALID_EMOJI`,
//! `SELECT_COMPONENT_OPTION_VALUE_DUPLICATED`, `SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES`,
//! `UNION_TYPE_CHOICES`, `NUMBER_TYPE_MIN`/`MAX`).

use std::collections::HashSet;

use serde_json::Value;

use super::error::{FormErrors, bad_length_error, max_length_error};

/// Component types.
pub(crate) const ACTION_ROW: u64 = 1;
/// A button.
pub(crate) const BUTTON: u64 = 2;
/// A string select.
pub(crate) const STRING_SELECT: u64 = 3;
/// A text input (modals only).
pub(crate) const TEXT_INPUT: u64 = 4;
/// A user select.
pub(crate) const USER_SELECT: u64 = 5;
/// A role select.
pub(crate) const ROLE_SELECT: u64 = 6;
/// A user-or-role select.
pub(crate) const MENTIONABLE_SELECT: u64 = 7;
/// A channel select.
pub(crate) const CHANNEL_SELECT: u64 = 8;
/// A text display (components v2, modals).
pub(super) const TEXT_DISPLAY: u64 = 10;
/// A label around one modal component.
pub(crate) const LABEL: u64 = 18;

/// Button style `Link`.
pub(crate) const LINK: u64 = 5;
/// Button style `Premium`.
const PREMIUM: u64 = 6;

/// Whether `kind` is one of the five select menus.
pub(crate) fn is_select(kind: u64) -> bool {
    matches!(
        kind,
        STRING_SELECT | USER_SELECT | ROLE_SELECT | MENTIONABLE_SELECT | CHANNEL_SELECT
    )
}

/// `value[key]` unless absent or `null` (clients serialise absent options as `null`).
pub(super) fn field<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.get(key).filter(|v| !v.is_null())
}

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `base` followed by `more`.
pub(super) fn at<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

pub(super) const REQUIRED: (&str, &str) = ("BASE_TYPE_REQUIRED", "This field is required");

pub(super) fn required(errors: &mut FormErrors, path: &[&str]) {
    errors.add(path, REQUIRED.0, REQUIRED.1);
}

/// An optional string at most `max` characters long; `required` makes it mandatory.
pub(super) fn check_string(
    errors: &mut FormErrors,
    parent: &Value,
    path: &[&str],
    key: &str,
    max: usize,
    required_field: bool,
) {
    let path = at(path, &[key]);
    match field(parent, key) {
        None if required_field => required(errors, &path),
        Some(Value::String(s)) if required_field && s.is_empty() => required(errors, &path),
        Some(Value::String(s)) if chars(s) > max => max_length_error(errors, &path, max),
        None | Some(Value::String(_)) => {}
        Some(other) => errors.add(
            &path,
            "BASE_TYPE_STRING",
            &format!("Could not interpret \"{other}\" as string."),
        ),
    }
}

/// An optional integer within `min..=max`; `Some(value)` when present and valid.
pub(super) fn check_int(
    errors: &mut FormErrors,
    parent: &Value,
    path: &[&str],
    key: &str,
    min: i64,
    max: i64,
) -> Option<i64> {
    let path = at(path, &[key]);
    let raw = field(parent, key)?;
    let Some(n) = raw.as_i64() else {
        errors.add(
            &path,
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not int."),
        );
        return None;
    };
    if n < min {
        errors.add(
            &path,
            "NUMBER_TYPE_MIN",
            &format!("int value should be greater than or equal to {min}."),
        );
        None
    } else if n > max {
        errors.add(
            &path,
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        );
        None
    } else {
        Some(n)
    }
}

/// A `custom_id`: present (`missing` is the error otherwise), 1–100 characters, unique within
/// the message or modal.
pub(super) fn check_custom_id(
    errors: &mut FormErrors,
    component: &Value,
    path: &[&str],
    seen: &mut HashSet<String>,
    missing: (&str, &str),
) {
    let path = at(path, &["custom_id"]);
    match field(component, "custom_id") {
        None => errors.add(&path, missing.0, missing.1),
        Some(Value::String(s)) if s.is_empty() => errors.add(&path, missing.0, missing.1),
        Some(Value::String(s)) if chars(s) > 100 => max_length_error(errors, &path, 100),
        Some(Value::String(s)) => {
            if !seen.insert(s.clone()) {
                errors.add(
                    &path,
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id was already specified",
                );
            }
        }
        Some(other) => errors.add(
            &path,
            "BASE_TYPE_STRING",
            &format!("Could not interpret \"{other}\" as string."),
        ),
    }
}

/// A partial emoji: `{id?, name?, animated?}` with an id or a name.
fn check_emoji(errors: &mut FormErrors, parent: &Value, path: &[&str]) {
    let Some(emoji) = field(parent, "emoji") else {
        return;
    };
    let path = at(path, &["emoji"]);
    if !emoji.is_object() {
        errors.add(
            &path,
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return;
    }
    if let Some(id) = field(emoji, "id")
        && crate::util::snowflake(id).is_none()
    {
        errors.add(
            &at(&path, &["id"]),
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{}\" is not snowflake.", id.as_str().unwrap_or("?")),
        );
        return;
    }
    let named = field(emoji, "name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if field(emoji, "id").is_none() && !named {
        errors.add(&path, "BUTTON_COMPONENT_INVALID_EMOJI", "Invalid emoji");
    }
}

pub(super) fn union_type_error(errors: &mut FormErrors, path: &[&str], allowed: &str) {
    errors.add(
        path,
        "UNION_TYPE_CHOICES",
        &format!("Value of field \"type\" must be one of ({allowed})."),
    );
}

/// The `components` of a message without `IS_COMPONENTS_V2`: at most 5 action rows, each with
/// 1–5 buttons or exactly one select menu, custom ids unique within the message.
pub(super) fn check_message(errors: &mut FormErrors, components: &[Value]) {
    if components.len() > 5 {
        max_length_error(errors, &["components"], 5);
        return;
    }
    let mut seen = HashSet::new();
    for (i, row) in components.iter().enumerate() {
        let index = i.to_string();
        let path = ["components", index.as_str()];
        if !row.is_object() {
            errors.add(
                &path,
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            );
            continue;
        }
        if row["type"].as_u64() != Some(ACTION_ROW) {
            union_type_error(errors, &at(&path, &["type"]), "1,");
            continue;
        }
        let children_path = at(&path, &["components"]);
        let Some(children) = field(row, "components").and_then(Value::as_array) else {
            required(errors, &children_path);
            continue;
        };
        if children.is_empty() || children.len() > 5 {
            bad_length_error(errors, &children_path, 1, 5);
            continue;
        }
        let mut width = 0;
        for (j, child) in children.iter().enumerate() {
            let index = j.to_string();
            let path = at(&children_path, &[index.as_str()]);
            let kind = child["type"].as_u64().unwrap_or(0);
            if kind != BUTTON && !is_select(kind) {
                union_type_error(errors, &path, "2, 3, 5, 6, 7, 8");
                continue;
            }
            width += if kind == BUTTON { 1 } else { 5 };
            if width > 5 {
                errors.add(
                    &path,
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                );
                continue;
            }
            if kind == BUTTON {
                check_button(errors, child, &path, &mut seen);
            } else {
                check_select(errors, child, &path, kind, &mut seen);
            }
        }
    }
}

fn check_button(
    errors: &mut FormErrors,
    button: &Value,
    path: &[&str],
    seen: &mut HashSet<String>,
) {
    let style_path = at(path, &["style"]);
    let style = match field(button, "style") {
        None => {
            required(errors, &style_path);
            return;
        }
        Some(raw) => {
            let Some(style) = raw.as_u64().filter(|s| (1..=6).contains(s)) else {
                errors.add(
                    &style_path,
                    "BASE_TYPE_CHOICES",
                    "Value must be one of (1, 2, 3, 4, 5, 6).",
                );
                return;
            };
            style
        }
    };
    check_string(errors, button, path, "label", 80, false);
    check_emoji(errors, button, path);
    let has_custom_id = field(button, "custom_id").is_some();
    let has_url = field(button, "url").is_some();
    if has_custom_id && has_url {
        for key in ["custom_id", "url"] {
            errors.add(
                &at(path, &[key]),
                "BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE",
                "A custom id and url cannot both be specified",
            );
        }
        return;
    }
    match style {
        LINK => check_string(errors, button, path, "url", 512, true),
        PREMIUM => {
            if field(button, "sku_id").is_none() {
                required(errors, &at(path, &["sku_id"]));
            }
        }
        _ => check_custom_id(
            errors,
            button,
            path,
            seen,
            (
                "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                "A custom id is required",
            ),
        ),
    }
}

fn check_select(
    errors: &mut FormErrors,
    select: &Value,
    path: &[&str],
    kind: u64,
    seen: &mut HashSet<String>,
) {
    check_custom_id(errors, select, path, seen, REQUIRED);
    check_string(errors, select, path, "placeholder", 150, false);
    let min_given = check_int(errors, select, path, "min_values", 0, 25);
    let max_given = check_int(errors, select, path, "max_values", 1, 25);
    let invalid = field(select, "min_values").is_some() && min_given.is_none()
        || field(select, "max_values").is_some() && max_given.is_none();
    if invalid {
        return;
    }
    let (min, max) = (min_given.unwrap_or(1), max_given.unwrap_or(1));
    if min > max {
        errors.add(
            &at(path, &["min_values"]),
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        );
        return;
    }
    if kind != STRING_SELECT {
        if let Some(defaults) = field(select, "default_values").and_then(Value::as_array) {
            let count = i64::try_from(defaults.len()).unwrap_or(i64::MAX);
            if count < min || count > max {
                bad_length_error(
                    errors,
                    &at(path, &["default_values"]),
                    usize::try_from(min).unwrap_or(0),
                    usize::try_from(max).unwrap_or(25),
                );
            }
        }
        return;
    }
    let options_path = at(path, &["options"]);
    let Some(options) = field(select, "options").and_then(Value::as_array) else {
        required(errors, &options_path);
        return;
    };
    if options.is_empty() || options.len() > 25 {
        bad_length_error(errors, &options_path, 1, 25);
        return;
    }
    let mut option_errors = FormErrors::default();
    let mut values = HashSet::new();
    for (k, option) in options.iter().enumerate() {
        let index = k.to_string();
        let path = [index.as_str()];
        check_string(&mut option_errors, option, &path, "label", 100, true);
        check_string(&mut option_errors, option, &path, "value", 100, true);
        check_string(&mut option_errors, option, &path, "description", 100, false);
        check_emoji(&mut option_errors, option, &path);
        if let Some(value) = field(option, "value").and_then(Value::as_str)
            && !values.insert(value)
        {
            option_errors.add(
                &path,
                "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                "The specified option value is already used",
            );
        }
    }
    if !option_errors.is_empty() {
        errors.nest(&options_path, option_errors);
        return;
    }
    let count = i64::try_from(options.len()).unwrap_or(25);
    if min > count {
        errors.add(
            &at(path, &["min_values"]),
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {count}."),
        );
    } else if max > count {
        errors.add(
            &options_path,
            "BASE_TYPE_MIN_LENGTH",
            &format!("Must be {max} or more in length."),
        );
    } else {
        let defaults = options
            .iter()
            .filter(|o| o["default"].as_bool() == Some(true))
            .count();
        if i64::try_from(defaults).unwrap_or(i64::MAX) > max {
            errors.add(
                &options_path,
                "SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES",
                "The specified number of default values exceeds the specified maximum values",
            );
        }
    }
}

/// Gives every component without an `id` the next unused integer, in tree order, as Discord
/// does ("auto-generated sequentially ... unique within the message").
pub(super) fn assign_ids(components: &mut [Value]) {
    fn walk(value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        f(value);
        if let Some(children) = value.get_mut("components").and_then(Value::as_array_mut) {
            for child in children {
                walk(child, f);
            }
        }
        for key in ["component", "accessory"] {
            if let Some(child) = value.get_mut(key).filter(|c| c.is_object()) {
                walk(child, f);
            }
        }
    }
    let mut used = HashSet::new();
    for component in components.iter_mut() {
        walk(component, &mut |c| {
            if let Some(id) = c.get("id").and_then(Value::as_i64) {
                used.insert(id);
            }
        });
    }
    let mut next = 1_i64;
    for component in components.iter_mut() {
        walk(component, &mut |c| {
            if c.is_object() && c.get("id").is_none_or(Value::is_null) {
                while used.contains(&next) {
                    next += 1;
                }
                c["id"] = Value::from(next);
                used.insert(next);
            }
        });
    }
}

/// The interactive component with `custom_id` (searched through rows, sections and labels).
pub(crate) fn find<'a>(components: &'a [Value], custom_id: &str) -> Option<&'a Value> {
    components.iter().find_map(|c| {
        if c["custom_id"].as_str() == Some(custom_id) {
            return Some(c);
        }
        let nested = c["components"]
            .as_array()
            .and_then(|children| find(children, custom_id));
        nested.or_else(|| {
            ["component", "accessory"]
                .into_iter()
                .filter_map(|key| c.get(key))
                .find_map(|child| find(std::slice::from_ref(child), custom_id))
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors_of(components: &Value) -> Value {
        let mut errors = FormErrors::default();
        check_message(&mut errors, components.as_array().expect("array"));
        errors.into_error().body()["errors"].clone()
    }

    #[test]
    fn ids_are_assigned_in_tree_order_around_given_ones() {
        let mut components = vec![json!({"type": 1, "components": [
            {"type": 2, "style": 1, "custom_id": "a", "id": 1},
            {"type": 2, "style": 1, "custom_id": "b"},
        ]})];
        assign_ids(&mut components);
        assert_eq!(components[0]["id"], 2);
        assert_eq!(components[0]["components"][1]["id"], 3);
        assert_eq!(find(&components, "b").expect("found")["id"], 3);
    }

    #[test]
    fn a_select_fills_its_row() {
        let errors = errors_of(&json!([{"type": 1, "components": [
            {"type": 2, "style": 1, "custom_id": "a", "label": "A"},
            {"type": 3, "custom_id": "s", "options": [{"label": "x", "value": "x"}]},
        ]}]));
        assert_eq!(
            errors["components"]["0"]["components"]["1"]["_errors"][0]["code"],
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED"
        );
    }
}
