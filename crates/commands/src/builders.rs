//! Builders of message components: action rows, buttons, link buttons, select menus (of
//! strings, users, roles, users-and-roles, channels), and disabling a message's components. (twilight-util 0.18 has no component builders; these are
//! the few shapes commands need.)

use twilight_model::channel::ChannelType;
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
    let options = options
        .into_iter()
        .map(|(label, value)| SelectMenuOption {
            default: false,
            description: None,
            emoji: None,
            label: label.to_owned(),
            value: value.to_owned(),
        })
        .collect();
    menu(
        SelectMenuType::Text,
        custom_id,
        placeholder,
        Some(options),
        None,
    )
}

/// A select menu of the guild's members (Discord lists them; the click's values are user ids,
/// [`ComponentClick::selected`](crate::ComponentClick::selected)).
pub fn user_select(custom_id: &str, placeholder: &str) -> Component {
    menu(SelectMenuType::User, custom_id, placeholder, None, None)
}

/// A select menu of the guild's roles (values: role ids).
pub fn role_select(custom_id: &str, placeholder: &str) -> Component {
    menu(SelectMenuType::Role, custom_id, placeholder, None, None)
}

/// A select menu of members and roles together (values: user or role ids).
pub fn mentionable_select(custom_id: &str, placeholder: &str) -> Component {
    menu(
        SelectMenuType::Mentionable,
        custom_id,
        placeholder,
        None,
        None,
    )
}

/// A select menu of the guild's channels, of the given types (none: every type) (values:
/// channel ids).
pub fn channel_select(
    custom_id: &str,
    placeholder: &str,
    types: impl IntoIterator<Item = ChannelType>,
) -> Component {
    let types: Vec<ChannelType> = types.into_iter().collect();
    let types = (!types.is_empty()).then_some(types);
    menu(SelectMenuType::Channel, custom_id, placeholder, None, types)
}

/// A select menu picking one entry: of `options` (string select) or of what Discord lists for
/// `kind` (users, roles, channels of `channel_types`).
fn menu(
    kind: SelectMenuType,
    custom_id: &str,
    placeholder: &str,
    options: Option<Vec<SelectMenuOption>>,
    channel_types: Option<Vec<ChannelType>>,
) -> Component {
    Component::SelectMenu(SelectMenu {
        channel_types,
        custom_id: custom_id.to_owned(),
        default_values: None,
        disabled: false,
        id: None,
        kind,
        max_values: Some(1),
        min_values: Some(1),
        options,
        placeholder: (!placeholder.is_empty()).then(|| placeholder.to_owned()),
        required: None,
    })
}

/// `select` letting the user pick up to `max` entries (at least one; Discord allows 25) —
/// for any kind of select menu. Other components are returned unchanged.
#[must_use]
pub fn up_to(max: u8, select: Component) -> Component {
    match select {
        Component::SelectMenu(mut menu) => {
            menu.max_values = Some(max.clamp(1, 25));
            Component::SelectMenu(menu)
        }
        other => other,
    }
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
