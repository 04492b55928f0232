//! The `data.options` of chat-input commands as Discord sends them: subcommand groups (type 2)
//! hold one subcommand (type 1), which holds the options with values; `focused` marks the
//! option being typed into for autocomplete.

use serde_json::Value;

use super::invalid;
use crate::discord::control::ControlError;

const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;
/// Option types whose value is an id that `resolved` describes.
const USER: u64 = 6;
const MENTIONABLE: u64 = 9;

/// Where a list of options sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    InGroup,
    InSubcommand,
}

/// Checks the shape Discord sends: names and known types; a group only at the top holding one
/// subcommand; a subcommand alone at the top or in a group; values only on value options.
pub(super) fn check(options: &[Value]) -> Result<(), ControlError> {
    check_level(options, Level::Top)
}

fn check_level(options: &[Value], level: Level) -> Result<(), ControlError> {
    let nesting = options
        .iter()
        .filter(|o| matches!(o["type"].as_u64(), Some(SUB_COMMAND | SUB_COMMAND_GROUP)))
        .count();
    if nesting > 0 && options.len() != 1 {
        return Err(invalid(
            "a subcommand or group is the only option at its level",
        ));
    }
    if level == Level::InGroup && nesting != 1 {
        return Err(invalid("a subcommand group holds exactly one subcommand"));
    }
    for option in options {
        let name = option["name"]
            .as_str()
            .ok_or_else(|| invalid("every option needs a \"name\""))?;
        let kind = option["type"]
            .as_u64()
            .filter(|t| (1..=11).contains(t))
            .ok_or_else(|| invalid(format!("option {name:?} needs a \"type\" from 1 to 11")))?;
        let children = match &option["options"] {
            Value::Null => &[][..],
            Value::Array(children) => children.as_slice(),
            _ => return Err(invalid(format!("options of {name:?} must be an array"))),
        };
        match kind {
            SUB_COMMAND_GROUP if level != Level::Top => {
                return Err(invalid(format!("group {name:?} must be at the top level")));
            }
            SUB_COMMAND if level == Level::InSubcommand => {
                return Err(invalid(format!(
                    "subcommand {name:?} cannot be nested here"
                )));
            }
            SUB_COMMAND_GROUP => check_level(children, Level::InGroup)?,
            SUB_COMMAND => check_level(children, Level::InSubcommand)?,
            _ if option.get("value").is_none() => {
                return Err(invalid(format!("option {name:?} needs a \"value\"")));
            }
            _ if !children.is_empty() => {
                return Err(invalid(format!("option {name:?} cannot have options")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The name paths (subcommand group, subcommand, option) of the options with `focused: true`.
pub(super) fn focused_path(options: &[Value]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for option in options {
        let name = option["name"].as_str().unwrap_or_default().to_owned();
        if option["focused"].as_bool() == Some(true) {
            out.push(vec![name.clone()]);
        }
        if let Some(children) = option["options"].as_array() {
            for mut path in focused_path(children) {
                path.insert(0, name.clone());
                out.push(path);
            }
        }
    }
    out
}

/// Whether the registered `command` has the option at `path` with `autocomplete: true`.
pub(super) fn autocompletes(command: &Value, path: &[String]) -> bool {
    let mut options = &command["options"];
    let mut found = &Value::Null;
    for name in path {
        let Some(option) = options
            .as_array()
            .and_then(|list| list.iter().find(|o| o["name"] == name.as_str()))
        else {
            return false;
        };
        found = option;
        options = &option["options"];
    }
    found["autocomplete"].as_bool() == Some(true)
}

/// `(option type, id)` for every user, channel, role and mentionable option.
pub(super) fn entity_values(options: &[Value]) -> Result<Vec<(u64, u64)>, ControlError> {
    let mut out = Vec::new();
    for option in options {
        let kind = option["type"].as_u64().unwrap_or(0);
        if (USER..=MENTIONABLE).contains(&kind) {
            let id = crate::util::snowflake(&option["value"]).ok_or_else(|| {
                invalid(format!(
                    "option {} needs an id as its value",
                    option["name"]
                ))
            })?;
            out.push((kind, id));
        }
        if let Some(children) = option["options"].as_array() {
            out.extend(entity_values(children)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn groups_hold_one_subcommand_with_values() {
        let ok = json!([{"name": "prefix", "type": 2, "options": [
            {"name": "set", "type": 1, "options": [{"name": "value", "type": 3, "value": "!"}]}
        ]}]);
        assert!(check(ok.as_array().expect("array")).is_ok());
        let group_in_sub = json!([{"name": "set", "type": 1, "options": [
            {"name": "g", "type": 2, "options": []}
        ]}]);
        assert!(check(group_in_sub.as_array().expect("array")).is_err());
        let sub_beside_value = json!([
            {"name": "set", "type": 1},
            {"name": "x", "type": 3, "value": "y"}
        ]);
        assert!(check(sub_beside_value.as_array().expect("array")).is_err());
        let no_value = json!([{"name": "x", "type": 4}]);
        assert!(check(no_value.as_array().expect("array")).is_err());
    }

    #[test]
    fn the_focused_option_is_found_through_subcommands() {
        let options = json!([{"name": "queue", "type": 1, "options": [
            {"name": "track", "type": 3, "value": "nev", "focused": true}
        ]}]);
        let paths = focused_path(options.as_array().expect("array"));
        assert_eq!(paths, vec![vec!["queue".to_owned(), "track".to_owned()]]);
        let command = json!({"options": [{"name": "queue", "type": 1, "options": [
            {"name": "track", "type": 3, "autocomplete": true}
        ]}]});
        assert!(autocompletes(&command, &paths[0]));
        assert!(!autocompletes(&command, &["queue".to_owned()]));
    }
}
