//! Discord's validation of the modals (interaction callback type 9) and autocomplete results
//! (type 8) a bot answers with; the form-error codes are those of [`super::components`].

use std::collections::HashSet;

use serde_json::Value;

use super::components::{
    ACTION_ROW, LABEL, REQUIRED, TEXT_DISPLAY, TEXT_INPUT, at, chars, check_custom_id, check_int,
    check_string, field, required, union_type_error,
};
use super::error::{FormErrors, bad_length_error, max_length_error};

/// The `data` of a modal callback (type 9): `custom_id` ≤ 100, `title` ≤ 45, 1–5 top-level
/// components, each an action row with one text input or a label around one (or a text
/// display); text inputs: unique `custom_id` ≤ 100, style 1 or 2, label ≤ 45, `min_length`
/// 0–4000, `max_length` 1–4000, `value` ≤ 4000, placeholder ≤ 100.
pub(super) fn check_modal(errors: &mut FormErrors, data: &Value) {
    let base = ["data"];
    check_string(errors, data, &base, "custom_id", 100, true);
    check_string(errors, data, &base, "title", 45, true);
    let path = at(&base, &["components"]);
    let Some(components) = field(data, "components").and_then(Value::as_array) else {
        required(errors, &path);
        return;
    };
    if components.is_empty() || components.len() > 5 {
        bad_length_error(errors, &path, 1, 5);
        return;
    }
    let mut seen = HashSet::new();
    for (i, top) in components.iter().enumerate() {
        let index = i.to_string();
        let path = at(&path, &[index.as_str()]);
        match top["type"].as_u64().unwrap_or(0) {
            ACTION_ROW => {
                let children_path = at(&path, &["components"]);
                let Some(children) = field(top, "components").and_then(Value::as_array) else {
                    required(errors, &children_path);
                    continue;
                };
                if children.is_empty() {
                    bad_length_error(errors, &children_path, 1, 5);
                }
                for (j, child) in children.iter().enumerate() {
                    let index = j.to_string();
                    let path = at(&children_path, &[index.as_str()]);
                    if child["type"].as_u64() != Some(TEXT_INPUT) {
                        union_type_error(errors, &path, "4,");
                    } else if j > 0 {
                        errors.add(
                            &path,
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "The specified component exceeds the maximum width",
                        );
                    } else {
                        check_text_input(errors, child, &path, &mut seen, true);
                    }
                }
            }
            LABEL => {
                check_string(errors, top, &path, "label", 45, true);
                check_string(errors, top, &path, "description", 100, false);
                let child_path = at(&path, &["component"]);
                match field(top, "component") {
                    None => required(errors, &child_path),
                    Some(child) if child["type"].as_u64() == Some(TEXT_INPUT) => {
                        check_text_input(errors, child, &child_path, &mut seen, false);
                    }
                    Some(_) => union_type_error(errors, &child_path, "4,"),
                }
            }
            TEXT_DISPLAY => check_string(errors, top, &path, "content", 4000, true),
            _ => union_type_error(errors, &path, "1, 10, 18"),
        }
    }
}

fn check_text_input(
    errors: &mut FormErrors,
    input: &Value,
    path: &[&str],
    seen: &mut HashSet<String>,
    needs_label: bool,
) {
    check_custom_id(errors, input, path, seen, REQUIRED);
    match field(input, "style") {
        None => required(errors, &at(path, &["style"])),
        Some(style) if !matches!(style.as_u64(), Some(1 | 2)) => errors.add(
            &at(path, &["style"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (1, 2).",
        ),
        Some(_) => {}
    }
    check_string(errors, input, path, "label", 45, needs_label);
    check_string(errors, input, path, "value", 4000, false);
    check_string(errors, input, path, "placeholder", 100, false);
    let min = check_int(errors, input, path, "min_length", 0, 4000);
    let max = check_int(errors, input, path, "max_length", 1, 4000);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        errors.add(
            &at(path, &["min_length"]),
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        );
    }
}

/// The `data` of an autocomplete result (type 8): at most 25 choices, each with a name of
/// 1–100 characters and a string value ≤ 100 characters or a number.
pub(super) fn check_choices(errors: &mut FormErrors, data: &Value) {
    let path = ["data", "choices"];
    let Some(choices) = field(data, "choices").and_then(Value::as_array) else {
        required(errors, &path);
        return;
    };
    if choices.len() > 25 {
        max_length_error(errors, &path, 25);
        return;
    }
    for (i, choice) in choices.iter().enumerate() {
        let index = i.to_string();
        let path = at(&path, &[index.as_str()]);
        match field(choice, "name") {
            Some(Value::String(name)) if (1..=100).contains(&chars(name)) => {}
            Some(Value::String(_)) => bad_length_error(errors, &at(&path, &["name"]), 1, 100),
            _ => required(errors, &at(&path, &["name"])),
        }
        match field(choice, "value") {
            Some(Value::String(value)) if chars(value) > 100 => {
                max_length_error(errors, &at(&path, &["value"]), 100);
            }
            Some(Value::String(_) | Value::Number(_)) => {}
            _ => required(errors, &at(&path, &["value"])),
        }
    }
}
