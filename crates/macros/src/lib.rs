//! Procedural macros of the swarmcord SDK. Use them through the `swarmcord` crate
//! (`#[swarmcord::command]`), which documents them with examples; the expansion names only
//! `::swarmcord` paths.
//!
//! Written by hand (with `syn`/`quote`) because no existing macro produces swarmcord's
//! declarations: `poise::command` targets serenity's types and `twilight-interactions` derives
//! slash-only models without prefix parsing, cooldowns or prompts.

mod appcmd;
mod choice;
mod cooldown;
mod declaration;

use proc_macro::TokenStream;

/// Turns an `async fn` into a swarmcord command (a prefix and a slash command by default).
///
/// See `swarmcord::command` for the documentation and examples.
#[proc_macro_attribute]
pub fn command(attr: TokenStream, item: TokenStream) -> TokenStream {
    declaration::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a field-less enum an argument type whose variants are its choices.
///
/// See `swarmcord::Choice` for the documentation and examples.
#[proc_macro_derive(Choice, attributes(choice))]
pub fn derive_choice(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    choice::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
