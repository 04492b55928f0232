//! `#[derive(Choice)]`: a field-less enum as an argument with a fixed list of choices.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

/// Discord's limits on an option's choices.
const MAX_CHOICES: usize = 25;
const MAX_CHOICE_LEN: usize = 100;

/// One variant: its identifier, the name Discord shows and the value the command receives.
struct Variant {
    ident: syn::Ident,
    name: String,
    value: String,
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.span(),
            "#[derive(Choice)] is for enums whose variants are the choices",
        ));
    };
    if data.variants.is_empty() || data.variants.len() > MAX_CHOICES {
        return Err(syn::Error::new(
            input.ident.span(),
            "an argument has 1 to 25 choices (Discord's limit)",
        ));
    }
    let mut variants: Vec<Variant> = Vec::new();
    for variant in &data.variants {
        let parsed = parse_variant(variant)?;
        if variants.iter().any(|v| v.value == parsed.value) {
            return Err(syn::Error::new(
                variant.span(),
                format!("two choices have the value `{}`", parsed.value),
            ));
        }
        variants.push(parsed);
    }
    let ty = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let choices = variants.iter().map(|v| {
        let (name, value) = (&v.name, &v.value);
        quote!(::swarmcord::commands::Choice::new(#name, #value))
    });
    let arms = variants.iter().map(|v| {
        let (ident, value) = (&v.ident, &v.value);
        quote!(::std::option::Option::Some(#value) => ::std::result::Result::Ok(Self::#ident),)
    });
    Ok(quote! {
        impl #impl_generics ::swarmcord::ArgType for #ty #ty_generics #where_clause {
            fn spec(name: &str) -> ::swarmcord::commands::ArgSpec {
                ::swarmcord::commands::ArgSpec::choice(name, [#(#choices),*])
            }

            fn extract(
                args: &::swarmcord::commands::Args,
                name: &str,
            ) -> ::std::result::Result<Self, ::swarmcord::CommandError> {
                match args.string(name) {
                    #(#arms)*
                    _ => ::std::result::Result::Err(::swarmcord::CommandError::internal(
                        ::std::format!("argument `{name}` is not one of its choices"),
                    )),
                }
            }
        }
    })
}

/// A unit variant with an optional `#[choice(name = "…", value = "…")]`.
fn parse_variant(variant: &syn::Variant) -> syn::Result<Variant> {
    if !matches!(variant.fields, Fields::Unit) {
        return Err(syn::Error::new(
            variant.span(),
            "a choice is a variant without fields",
        ));
    }
    let ident = variant.ident.clone();
    let mut name = words(&ident.to_string());
    let mut value = snake_case(&ident.to_string());
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("choice")) {
        attr.parse_nested_meta(|meta| {
            let text = meta.value()?.parse::<LitStr>()?;
            let checked = check_len(&text)?;
            if meta.path.is_ident("name") {
                name = checked;
            } else if meta.path.is_ident("value") {
                value = checked;
            } else {
                return Err(meta.error("expected `name = \"…\"` or `value = \"…\"`"));
            }
            Ok(())
        })?;
    }
    Ok(Variant { ident, name, value })
}

fn check_len(text: &LitStr) -> syn::Result<String> {
    let value = text.value();
    if (1..=MAX_CHOICE_LEN).contains(&value.chars().count()) {
        Ok(value)
    } else {
        Err(syn::Error::new(
            text.span(),
            "a choice's name and value are 1 to 100 characters (Discord's limit)",
        ))
    }
}

/// `ExtraLarge` → `Extra large`: what Discord's menu shows unless `name` says otherwise.
fn words(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `ExtraLarge` → `extra_large`: the value the command receives unless `value` says otherwise.
fn snake_case(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_become_words_and_values() {
        assert_eq!(words("ExtraLarge"), "Extra large");
        assert_eq!(snake_case("ExtraLarge"), "extra_large");
        assert_eq!(words("Small"), "Small");
        assert_eq!(snake_case("Small"), "small");
    }
}
