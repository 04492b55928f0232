//! The application-command options of `#[command]`: subcommands, context menus, the bot's
//! permissions, who sees the command (`default_member_permissions`, `contexts`,
//! `integration_types`, `nsfw`) and localizations.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Path, Token};

/// Which context menu a command is in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Menu {
    User,
    Message,
}

/// One `localize(locale = "…", name = "…", description = "…")`.
struct Localization {
    locale: LitStr,
    name: Option<LitStr>,
    description: Option<LitStr>,
}

/// The application-command options of the attribute.
#[derive(Default)]
pub(crate) struct AppOptions {
    pub(crate) subcommands: Vec<Path>,
    pub(crate) menu: Option<(Menu, LitStr)>,
    bot_permissions: Vec<Ident>,
    default_member_permissions: Option<Vec<Ident>>,
    contexts: Option<Vec<Ident>>,
    integration_types: Option<Vec<Ident>>,
    nsfw: bool,
    localizations: Vec<Localization>,
}

/// `"BAN_MEMBERS | KICK_MEMBERS"` (or `""` for none) as permission names, spanned at the
/// string so that a misspelled name is reported there.
fn permission_names(text: &LitStr) -> syn::Result<Vec<Ident>> {
    let value = text.value();
    if value.trim().is_empty() || value.trim() == "0" {
        return Ok(Vec::new());
    }
    value
        .split('|')
        .map(|name| {
            let name = name.trim();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if valid {
                let ident = Ident::new(name, text.span());
                check_permission(&ident)?;
                Ok(ident)
            } else {
                Err(syn::Error::new(
                    text.span(),
                    format!(
                        "`{name}` is not a permission name; write them like \
                         \"BAN_MEMBERS | KICK_MEMBERS\""
                    ),
                ))
            }
        })
        .collect()
}

/// `word(a, b)` as identifiers, each one of `allowed`.
fn words(meta: &ParseNestedMeta<'_>, allowed: &[&str]) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let list = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
    for word in &list {
        if !allowed.iter().any(|a| word == a) {
            return Err(syn::Error::new(
                word.span(),
                format!("expected one of: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(list.into_iter().collect())
}

/// Refuses the names Discord's app shows where twilight's constant is named otherwise
/// (`MANAGE_SERVER`: `MANAGE_GUILD`), naming the constant; other names are left to the
/// compiler, which reports an unknown one at the name.
fn check_permission(name: &Ident) -> syn::Result<()> {
    let constant = match name.to_string().as_str() {
        "MANAGE_SERVER" => "MANAGE_GUILD",
        "VIEW_CHANNELS" | "READ_MESSAGES" => "VIEW_CHANNEL",
        "TIMEOUT_MEMBERS" => "MODERATE_MEMBERS",
        "MANAGE_EXPRESSIONS" | "MANAGE_EMOJIS" | "MANAGE_EMOJIS_AND_STICKERS" => {
            "MANAGE_GUILD_EXPRESSIONS"
        }
        "MANAGE_PERMISSIONS" => "MANAGE_ROLES",
        "ADMIN" => "ADMINISTRATOR",
        "USE_SLASH_COMMANDS" => "USE_APPLICATION_COMMANDS",
        _ => return Ok(()),
    };
    Err(syn::Error::new(
        name.span(),
        format!(
            "the permission `{name}` is called `{constant}` (twilight's `Permissions::{constant}`)"
        ),
    ))
}

/// `"…"` or `(A, B)`: permission names.
pub(crate) fn permissions(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Ident>> {
    if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let list = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
        list.iter().try_for_each(check_permission)?;
        Ok(list.into_iter().collect())
    } else {
        permission_names(&meta.value()?.parse()?)
    }
}

impl AppOptions {
    /// Parses the option `key` if it is one of these; `Ok(false)` when it is not.
    pub(crate) fn parse(&mut self, key: &str, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        match key {
            "subcommands" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let list = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
                if list.is_empty() {
                    return Err(meta.error("list the subcommand functions: subcommands(show, set)"));
                }
                self.subcommands.extend(list);
            }
            "user_context" | "message_context" => {
                if self.menu.is_some() {
                    return Err(meta.error("a command is in one context menu at most"));
                }
                let menu = if key == "user_context" {
                    Menu::User
                } else {
                    Menu::Message
                };
                let name: LitStr = meta.value()?.parse()?;
                let count = name.value().chars().count();
                if !(1..=32).contains(&count) || name.value().trim() != name.value() {
                    return Err(syn::Error::new(
                        name.span(),
                        "a context-menu command's name is 1-32 characters, without leading or \
                         trailing spaces",
                    ));
                }
                self.menu = Some((menu, name));
            }
            "bot_permissions" => self.bot_permissions.extend(permissions(meta)?),
            "default_member_permissions" => {
                self.default_member_permissions = Some(permissions(meta)?);
            }
            "contexts" => {
                self.contexts = Some(words(meta, &["guild", "bot_dm", "private_channel"])?);
            }
            "integration_types" => {
                self.integration_types = Some(words(meta, &["guild_install", "user_install"])?);
            }
            "nsfw" => self.nsfw = true,
            "localize" => self.localizations.push(localization(meta)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The builder calls these options add to the declaration `spec`.
    pub(crate) fn declaration(&self, mut spec: TokenStream) -> TokenStream {
        let permissions = |names: &[Ident]| {
            if names.is_empty() {
                quote!(::swarmcord::model::guild::Permissions::empty())
            } else {
                quote!(#(::swarmcord::model::guild::Permissions::#names)|*)
            }
        };
        if !self.bot_permissions.is_empty() {
            let needed = permissions(&self.bot_permissions);
            spec = quote! { #spec.bot_permissions(#needed) };
        }
        if let Some(names) = &self.default_member_permissions {
            let shown = permissions(names);
            spec = quote! { #spec.default_member_permissions(#shown) };
        }
        if let Some(contexts) = &self.contexts {
            let variants = contexts
                .iter()
                .map(|c| variant(c, "InteractionContextType"));
            spec = quote! {
                #spec.contexts([#(::swarmcord::model::application::interaction::#variants),*])
            };
        }
        if let Some(types) = &self.integration_types {
            let variants = types
                .iter()
                .map(|t| variant(t, "ApplicationIntegrationType"));
            spec = quote! { #spec.integration_types([#(::swarmcord::model::oauth::#variants),*]) };
        }
        if self.nsfw {
            spec = quote! { #spec.nsfw() };
        }
        for localization in &self.localizations {
            let locale = &localization.locale;
            if let Some(name) = &localization.name {
                spec = quote! { #spec.name_localized(#locale, #name) };
            }
            if let Some(description) = &localization.description {
                spec = quote! { #spec.description_localized(#locale, #description) };
            }
        }
        spec
    }

    /// The `.subcommand(…)` calls after the definition.
    pub(crate) fn subcommand_calls(&self) -> TokenStream {
        let subcommands = &self.subcommands;
        quote! { #(.subcommand(#subcommands))* }
    }
}

/// `guild` → `InteractionContextType::Guild`, `user_install` → `…::UserInstall`.
fn variant(word: &Ident, ty: &str) -> TokenStream {
    let camel: String = word
        .to_string()
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    let ty = Ident::new(ty, Span::call_site());
    let camel = Ident::new(&camel, word.span());
    quote!(#ty::#camel)
}

fn localization(meta: &ParseNestedMeta<'_>) -> syn::Result<Localization> {
    let mut locale = None;
    let mut name = None;
    let mut description = None;
    meta.parse_nested_meta(|inner| {
        let key = crate::declaration::key_of(&inner.path);
        let value: LitStr = inner.value()?.parse()?;
        match key.as_str() {
            "locale" => locale = Some(value),
            "name" => name = Some(value),
            "description" => description = Some(value),
            _ => {
                return Err(
                    inner.error("expected locale = \"…\", name = \"…\" or description = \"…\"")
                );
            }
        }
        Ok(())
    })?;
    let locale =
        locale.ok_or_else(|| meta.error("say which locale: localize(locale = \"fr\", …)"))?;
    Ok(Localization {
        locale,
        name,
        description,
    })
}
