//! The `#[command]` expansion: the attribute's options, the parameters' attributes, and the
//! generated `fn name() -> ::swarmcord::CommandDef`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Path, Token, Type};

/// Longest name and description Discord accepts (checked again at run time by `CommandSpec`).
const MAX_NAME: usize = 32;
const MAX_DESCRIPTION: usize = 100;

/// What the attribute says.
#[derive(Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent flags of the attribute, each a word the author writes"
)]
struct Options {
    slash: bool,
    prefix: bool,
    name: Option<LitStr>,
    description: Option<LitStr>,
    category: Option<LitStr>,
    aliases: Vec<LitStr>,
    cooldown: Option<(crate::cooldown::Cooldown, Span)>,
    permissions: Vec<Ident>,
    guild_only: bool,
    owner_only: bool,
    reads_permissions: bool,
    on_answer: Option<Path>,
    app: crate::appcmd::AppOptions,
}

impl Options {
    fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut options = Self::default();
        let parser = syn::meta::parser(|meta| {
            let key = key_of(&meta.path);
            match key.as_str() {
                "slash" => options.slash = true,
                "prefix" => options.prefix = true,
                "guild_only" => options.guild_only = true,
                "owner_only" => options.owner_only = true,
                "reads_permissions" => options.reads_permissions = true,
                "name" => options.name = Some(meta.value()?.parse()?),
                "description" => options.description = Some(meta.value()?.parse()?),
                "category" => options.category = Some(meta.value()?.parse()?),
                "on_answer" => options.on_answer = Some(meta.value()?.parse()?),
                "cooldown" => {
                    let text: LitStr = meta.value()?.parse()?;
                    let cooldown = crate::cooldown::parse(&text.value())
                        .map_err(|problem| syn::Error::new(text.span(), problem))?;
                    options.cooldown = Some((cooldown, text.span()));
                }
                "aliases" => {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                    options.aliases.extend(list);
                }
                "permissions" => options
                    .permissions
                    .extend(crate::appcmd::permissions(&meta)?),
                other => {
                    if !options.app.parse(other, &meta)? {
                        return Err(meta.error(
                            "unknown option; expected slash, prefix, name, description, \
                             category, aliases(..), cooldown, permissions(..), guild_only, \
                             owner_only, reads_permissions, on_answer, subcommands(..), \
                             user_context, message_context, bot_permissions, \
                             default_member_permissions, contexts(..), integration_types(..), \
                             nsfw or localize(..)",
                        ));
                    }
                }
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, attr)?;
        if let Some((_, menu)) = &options.app.menu {
            let clash = if options.prefix || !options.aliases.is_empty() {
                Some("a context-menu command has no prefix form or aliases")
            } else if options.name.is_some() {
                Some("a context-menu command is named by user_context/message_context")
            } else if !options.app.subcommands.is_empty() {
                Some("a context-menu command has no subcommands")
            } else {
                None
            };
            if let Some(problem) = clash {
                return Err(syn::Error::new(menu.span(), problem));
            }
            options.slash = true;
            return Ok(options);
        }
        if !options.slash && !options.prefix {
            options.slash = true;
            options.prefix = true;
        }
        Ok(options)
    }

    /// The `CommandSpec` builder expression.
    fn declaration(&self, name: &str, description: &str, arguments: &[Argument]) -> TokenStream {
        let mut spec = match &self.app.menu {
            None => quote! {
                ::swarmcord::commands::CommandSpec::builder(#name).description(#description)
            },
            Some((menu, _)) => {
                let kind = match menu {
                    crate::appcmd::Menu::User => quote!(User),
                    crate::appcmd::Menu::Message => quote!(Message),
                };
                quote! {
                    ::swarmcord::commands::CommandSpec::context_menu(
                        ::swarmcord::commands::CommandKind::#kind,
                        #name,
                    )
                    .description(#description)
                }
            }
        };
        spec = self.app.declaration(spec);
        if let Some(category) = &self.category {
            spec = quote! { #spec.category(#category) };
        }
        for alias in &self.aliases {
            spec = quote! { #spec.alias(#alias) };
        }
        if !self.slash {
            spec = quote! { #spec.slash(false) };
        }
        if !self.prefix && self.app.menu.is_none() {
            spec = quote! { #spec.prefix(false) };
        }
        if self.guild_only {
            spec = quote! { #spec.guild_only() };
        }
        if self.owner_only {
            spec = quote! { #spec.owner_only() };
        }
        if self.reads_permissions {
            spec = quote! { #spec.reads_permissions() };
        }
        if !self.permissions.is_empty() {
            let permissions = &self.permissions;
            spec = quote! {
                #spec.permissions(#(::swarmcord::model::guild::Permissions::#permissions)|*)
            };
        }
        if let Some((cooldown, span)) = &self.cooldown {
            let scope = Ident::new(cooldown.scope, *span);
            let limit = cooldown.limit;
            let per_ms = cooldown.per_ms;
            spec = quote! {
                #spec.cooldown(
                    ::swarmcord::commands::CooldownScope::#scope,
                    #limit,
                    ::core::time::Duration::from_millis(#per_ms),
                )
            };
        }
        for argument in arguments {
            let arg = argument.declaration();
            spec = quote! { #spec #arg };
        }
        spec
    }
}

/// One argument: a parameter of the function after the context.
struct Argument {
    ident: Ident,
    ty: Type,
    name: String,
    description: Option<LitStr>,
    min: Option<Expr>,
    max: Option<Expr>,
    rest: bool,
    autocomplete: Option<Path>,
}

impl Argument {
    fn parse(param: &mut syn::PatType) -> syn::Result<Self> {
        let Pat::Ident(pat) = param.pat.as_ref() else {
            return Err(syn::Error::new(
                param.pat.span(),
                "command arguments must be plain names (`dice: String`)",
            ));
        };
        let ident = pat.ident.clone();
        let mut argument = Self {
            name: ident.to_string().trim_start_matches('_').to_owned(),
            ident,
            ty: (*param.ty).clone(),
            description: None,
            min: None,
            max: None,
            rest: false,
            autocomplete: None,
        };
        let mut kept = Vec::new();
        for attr in param.attrs.drain(..) {
            let key = key_of(attr.path());
            match key.as_str() {
                "description" => {
                    argument.description = Some(attr.meta.require_name_value()?.value.clone())
                        .map(|value| syn::parse2(quote!(#value)))
                        .transpose()?;
                }
                "min" => argument.min = Some(attr.meta.require_name_value()?.value.clone()),
                "max" => argument.max = Some(attr.meta.require_name_value()?.value.clone()),
                "rest" => {
                    attr.meta.require_path_only()?;
                    argument.rest = true;
                }
                "rename" => {
                    let value = &attr.meta.require_name_value()?.value;
                    let name: LitStr = syn::parse2(quote!(#value))?;
                    argument.name = name.value();
                }
                "arg" => attr.parse_nested_meta(|meta| {
                    let key = key_of(&meta.path);
                    match key.as_str() {
                        "description" => argument.description = Some(meta.value()?.parse()?),
                        "min" => argument.min = Some(meta.value()?.parse()?),
                        "max" => argument.max = Some(meta.value()?.parse()?),
                        "rest" => argument.rest = true,
                        "autocomplete" => argument.autocomplete = Some(meta.value()?.parse()?),
                        "rename" => {
                            let name: LitStr = meta.value()?.parse()?;
                            argument.name = name.value();
                        }
                        _ => {
                            return Err(meta.error(
                                "unknown argument option; expected description = \"…\", \
                                 min = …, max = …, rest, autocomplete = handler or \
                                 rename = \"…\"",
                            ));
                        }
                    }
                    Ok(())
                })?,
                _ if attr.path().is_ident("doc") => kept.push(attr),
                _ => {
                    return Err(syn::Error::new(
                        attr.span(),
                        "unknown argument attribute; expected #[arg(description = \"…\", \
                         min = …, max = …, rest, rename = \"…\")] or the same as separate \
                         attributes (#[description = \"…\"], #[min = …], …)",
                    ));
                }
            }
        }
        param.attrs = kept;
        check_name(&argument.name, param.pat.span())?;
        Ok(argument)
    }

    /// The `.arg(…)` of the declaration.
    fn declaration(&self) -> TokenStream {
        let ty = &self.ty;
        let name = &self.name;
        let description = self
            .description
            .as_ref()
            .map_or_else(|| name.replace('_', " "), LitStr::value);
        let mut spec = quote! {
            <#ty as ::swarmcord::ArgType>::spec(#name).describe(#description)
        };
        if let Some(min) = &self.min {
            spec = quote! { #spec.min(::swarmcord::__private::bound(#min)) };
        }
        if let Some(max) = &self.max {
            spec = quote! { #spec.max(::swarmcord::__private::bound(#max)) };
        }
        if self.rest {
            spec = quote! { ::swarmcord::__private::rest(#spec) };
        }
        quote! { .arg(#spec) }
    }

    /// The statement reading the argument's value.
    fn extraction(&self) -> TokenStream {
        let ident = &self.ident;
        let ty = &self.ty;
        let name = &self.name;
        quote! {
            let #ident = match <#ty as ::swarmcord::ArgType>::extract(&__swarmcord_args, #name) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => return ::core::result::Result::Err(error),
            };
        }
    }
}

/// The target parameter of a context-menu command: its name and type.
type Target = (Ident, Type);

/// The target parameter of a context-menu command.
fn context_target(param: &syn::PatType) -> syn::Result<Target> {
    let Pat::Ident(pat) = param.pat.as_ref() else {
        return Err(syn::Error::new(
            param.pat.span(),
            "the target must be a plain name (`user: User`)",
        ));
    };
    if let Some(attr) = param.attrs.first() {
        return Err(syn::Error::new(
            attr.span(),
            "the target of a context-menu command takes no attributes",
        ));
    }
    Ok((pat.ident.clone(), (*param.ty).clone()))
}

/// Discord's rules for command and option names, checked where the mistake is made.
fn check_name(name: &str, span: Span) -> syn::Result<()> {
    let count = name.chars().count();
    let valid = (1..=MAX_NAME).contains(&count)
        && name.chars().all(|c| {
            c == '-' || c == '_' || c.is_numeric() || (c.is_alphabetic() && !c.is_uppercase())
        });
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            span,
            format!(
                "`{name}` is not a valid command or argument name: Discord wants 1-32 lowercase \
                 letters, digits, `-` or `_`"
            ),
        ))
    }
}

/// Argument types (and their usual mistakes), by the last segment of their path.
const ARGUMENT_TYPES: [&str; 15] = [
    "String", "str", "i64", "i32", "u64", "u32", "u16", "u8", "f64", "bool", "Id", "Duration",
    "Option", "User", "Message",
];

/// The name of `ty` (through a reference) when it is one of the argument types, which a
/// command missing its context parameter has first.
fn argument_type(ty: &Type) -> Option<String> {
    let ty = match ty {
        Type::Reference(reference) => reference.elem.as_ref(),
        other => other,
    };
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?.ident.to_string();
    ARGUMENT_TYPES.contains(&last.as_str()).then_some(last)
}

/// The first paragraph of the doc comment, on one line.
fn doc_description(function: &ItemFn) -> Option<String> {
    let mut lines = Vec::new();
    for attr in &function.attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let Ok(value) = attr.meta.require_name_value() else {
            continue;
        };
        let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) = &value.value
        else {
            continue;
        };
        let line = text.value().trim().to_owned();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    (!lines.is_empty()).then(|| lines.join(" "))
}

/// The parameters after the context: the typed arguments, or a context-menu command's target.
fn parameters<'a>(
    inputs: impl Iterator<Item = &'a mut FnArg>,
    options: &Options,
    parens: Span,
) -> syn::Result<(Vec<Argument>, Option<Target>)> {
    let mut arguments = Vec::new();
    let mut target = None;
    for input in inputs {
        match input {
            FnArg::Typed(param) if options.app.menu.is_some() => {
                if target.is_some() {
                    return Err(syn::Error::new(
                        param.span(),
                        "a context-menu command takes one parameter after the context: its \
                         target (`user: Id<UserMarker>`, `User`, `Message`, …)",
                    ));
                }
                target = Some(context_target(param)?);
            }
            FnArg::Typed(param) => arguments.push(Argument::parse(param)?),
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new(
                    receiver.span(),
                    "a command is a free function",
                ));
            }
        }
    }
    if options.app.menu.is_some() && target.is_none() {
        return Err(syn::Error::new(
            parens,
            "a context-menu command takes its target after the context \
             (`user: Id<UserMarker>`, `User`, `Message`, …)",
        ));
    }
    if let (Some(first), Some(argument)) = (options.app.subcommands.first(), arguments.first()) {
        let mut error = syn::Error::new(
            argument.ident.span(),
            "a command with subcommands has no arguments of its own: declare them on the \
             subcommands",
        );
        error.combine(syn::Error::new(first.span(), "subcommands declared here"));
        return Err(error);
    }
    Ok((arguments, target))
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(attr)?;
    let mut function: ItemFn = syn::parse2(item)?;
    if function.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            function.sig.fn_token.span(),
            "a command is an `async fn`",
        ));
    }
    if !function.sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            function.sig.generics.span(),
            "a command cannot be generic",
        ));
    }
    let ident = function.sig.ident.clone();
    let (name, name_span) = match (&options.app.menu, &options.name) {
        (Some((_, name)), _) | (None, Some(name)) => (name.value(), name.span()),
        (None, None) => (ident.to_string(), ident.span()),
    };
    if options.app.menu.is_none() {
        check_name(&name, name_span)?;
    }
    let description = match &options.description {
        Some(text) => text.value(),
        None => doc_description(&function).ok_or_else(|| {
            syn::Error::new(
                ident.span(),
                "describe the command with a doc comment (`/// Rolls dice.`) or \
                 `description = \"…\"`",
            )
        })?,
    };
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(syn::Error::new(
            options
                .description
                .as_ref()
                .map_or_else(|| ident.span(), LitStr::span),
            "Discord allows command descriptions of at most 100 characters",
        ));
    }

    let mut inputs = function.sig.inputs.iter_mut();
    let Some(FnArg::Typed(context)) = inputs.next() else {
        return Err(syn::Error::new(
            function.sig.paren_token.span.join(),
            "the first parameter of a command is its context (`ctx: &swarmcord::Context`)",
        ));
    };
    if let Some(argument) = argument_type(&context.ty) {
        return Err(syn::Error::new(
            context.span(),
            format!(
                "the first parameter of a command is its context: write `ctx: &Context, ` before \
                 it (`{argument}` is an argument type)"
            ),
        ));
    }
    let context_expr = if matches!(context.ty.as_ref(), Type::Reference(_)) {
        quote!(&__swarmcord_ctx)
    } else {
        quote!(__swarmcord_ctx)
    };
    let (arguments, target) = parameters(inputs, &options, function.sig.paren_token.span.join())?;

    let spec = options.declaration(&name, &description, &arguments);

    let mut extractions: Vec<TokenStream> = arguments.iter().map(Argument::extraction).collect();
    let mut names: Vec<&Ident> = arguments.iter().map(|a| &a.ident).collect();
    if let Some((ident, ty)) = &target {
        extractions.push(quote! {
            let #ident = match <#ty as ::swarmcord::ContextTarget>::extract(&__swarmcord_args) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => return ::core::result::Result::Err(error),
            };
        });
        names.push(ident);
    }
    let subcommands = options.app.subcommand_calls();
    let run = format_ident!("__swarmcord_run_{}", ident);
    let suggestions = arguments.iter().filter_map(|argument| {
        let handler = argument.autocomplete.as_ref()?;
        let name = &argument.name;
        Some(quote! {
            .autocomplete(#name, |__swarmcord_ctx: ::swarmcord::Context, partial: ::std::string::String| async move {
                #handler(&__swarmcord_ctx, partial).await
            })
        })
    });
    let on_answer = options.on_answer.as_ref().map(|handler| {
        quote! {
            .on_answer(|__swarmcord_ctx: ::swarmcord::Context, state, answer| async move {
                ::swarmcord::IntoCommandResult::into_command_result(
                    #handler(&__swarmcord_ctx, state, answer).await,
                )
            })
        }
    });

    // The function keeps its body under another name, nested in the generated one.
    let outer_attrs: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc") || a.path().is_ident("allow"))
        .cloned()
        .collect();
    let visibility = function.vis.clone();
    function.vis = syn::Visibility::Inherited;
    function.sig.ident = run.clone();
    function.attrs.retain(|a| !a.path().is_ident("doc"));
    Ok(quote! {
        #(#outer_attrs)*
        #visibility fn #ident() -> ::swarmcord::CommandDef {
            #[allow(
                clippy::needless_pass_by_value,
                clippy::unused_async,
                reason = "the signature is the command's declaration"
            )]
            #function
            ::swarmcord::CommandDef::from_fn(
                #spec,
                |__swarmcord_ctx: ::swarmcord::Context,
                 __swarmcord_args: ::swarmcord::commands::Args| async move {
                    #(#extractions)*
                    ::swarmcord::IntoCommandResult::into_command_result(
                        #run(#context_expr, #(#names),*).await,
                    )
                },
            )
            #(#suggestions)*
            #on_answer
            #subcommands
        }
    })
}

/// The name of an attribute or of one of its items (`slash` in `#[command(slash)]`); empty when
/// the path has more than one segment.
pub(crate) fn key_of(path: &Path) -> String {
    path.get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}
