//! Builders of message components: action rows, buttons, link buttons, select menus, and
//! disabling a message's components. (twilight-util 0.18 has no component builders; these are
//! the few shapes commands need.)

use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::{
    ActionRow, Button, ButtonStyle, SelectMenu, SelectMenuOption, SelectMenuType,
};

/// An action row holding `components` (1–5 buttons, or one select menu).
pub fn row(components: impl IntoIterator<Item = Component>) -> Component {
    Component::ActionRow(ActionRow {
        components: components.into_iter().collect(),
        id: None,
    })
}

/// A button that calls the handler its `custom_id` names.
pub fn button(custom_id: &str, label: &str, style: ButtonStyle) -> Component {
    Component::Button(Button {
        custom_id: Some(custom_id.to_owned()),
        disabled: false,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style,
        url: None,
    })
}

/// A link button (opens `url`; no handler).
pub fn link(url: &str, label: &str) -> Component {
    Component::Button(Button {
        custom_id: None,
        disabled: false,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style: ButtonStyle::Link,
        url: Some(url.to_owned()),
    })
}

/// A select menu of `(label, value)` options; one choice.
pub fn select<'a>(
    custom_id: &str,
    placeholder: &str,
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Component {
    Component::SelectMenu(SelectMenu {
        channel_types: None,
        custom_id: custom_id.to_owned(),
        default_values: None,
        disabled: false,
        id: None,
        kind: SelectMenuType::Text,
        max_values: Some(1),
        min_values: Some(1),
        options: Some(
            options
                .into_iter()
                .map(|(label, value)| SelectMenuOption {
                    default: false,
                    description: None,
                    emoji: None,
                    label: label.to_owned(),
                    value: value.to_owned(),
                })
                .collect(),
        ),
        placeholder: (!placeholder.is_empty()).then(|| placeholder.to_owned()),
        required: None,
    })
}

/// `rows` with every button and select menu disabled (to answer a click by freezing the
/// message it came from: `Reply::text(…).with_components(disabled(&rows)).update_message()`).
pub fn disabled(rows: &[Component]) -> Vec<Component> {
    rows.iter()
        .cloned()
        .map(|row| match row {
            Component::ActionRow(mut row) => {
                for component in &mut row.components {
                    match component {
                        Component::Button(button) => button.disabled = true,
                        Component::SelectMenu(menu) => menu.disabled = true,
                        _ => {}
                    }
                }
                Component::ActionRow(row)
            }
            other => other,
        })
        .collect()
}
