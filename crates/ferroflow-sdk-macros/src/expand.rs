//! Code generation for `#[trace]`.
//!
//! The function keeps its signature; its body is wrapped so that it runs inside a span:
//!
//! * sync: the body becomes a closure run by `FnSpan::run_sync`, which enters the span and
//!   catches a panic long enough to mark the span ERROR, then resumes it;
//! * async: the body becomes an `async move` block awaited through `__private::instrument`,
//!   which carries the span's context across every `.await`.
//!
//! Arguments become the span's inputs and the return value its outputs through "autoref
//! specialization" (`(&&Wrap(&x)).__ff_input(..)`): a value whose type implements `Serialize`
//! is recorded, anything else is silently left out; a `Result` whose error implements
//! `Display` marks the span ERROR when it is `Err`. The trait impls live in the SDK.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType};

use crate::attr::{SpanTypeArg, TraceArgs};

pub(crate) fn expand(args: TraceArgs, function: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn { attrs, vis, sig, block } = function;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(constness.span(), "#[trace] cannot be applied to a `const fn`"));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(variadic.span(), "#[trace] cannot be applied to a variadic function"));
    }

    // The arguments recordable by name.
    let mut named_args = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(pat_type) = input {
            if let Pat::Ident(pat_ident) = &*pat_type.pat {
                named_args.push(pat_ident.ident.clone());
            }
        }
    }
    for ident in args.skip.iter().chain(args.rename.iter().map(|(ident, _)| ident)) {
        if !named_args.iter().any(|arg| arg == ident) {
            return Err(syn::Error::new(ident.span(), format!("`{ident}` is not an argument of this function")));
        }
    }
    for (ident, _) in &args.rename {
        if args.skip.iter().any(|skipped| skipped == ident) {
            return Err(syn::Error::new(ident.span(), format!("`{ident}` is both skipped and renamed")));
        }
    }
    if args.skip_all && !args.skip.is_empty() {
        return Err(syn::Error::new(
            args.skip[0].span(),
            "`skip(...)` together with `skip_all` says the same thing twice; keep one",
        ));
    }

    let fn_name = sig.ident.to_string();
    let span_name = args.name.as_ref().map(|lit| lit.value()).unwrap_or_else(|| fn_name.clone());
    let span_type = match &args.span_type {
        None => quote!(::ferroflow_sdk::SpanType::Unknown),
        Some(SpanTypeArg::Known(variant)) => {
            let variant = format_ident!("{}", variant);
            quote!(::ferroflow_sdk::SpanType::#variant)
        }
        Some(SpanTypeArg::Custom(lit)) => {
            quote!(::ferroflow_sdk::SpanType::Custom(::std::borrow::Cow::Borrowed(#lit)))
        }
    };

    let recorded: Vec<TokenStream> = if args.skip_all {
        Vec::new()
    } else {
        named_args
            .iter()
            .filter(|ident| !args.skip.iter().any(|skipped| skipped == *ident))
            .map(|ident| {
                let key = args
                    .rename
                    .iter()
                    .find(|(arg, _)| arg == ident)
                    .map(|(_, key)| key.value())
                    .unwrap_or_else(|| ident.to_string());
                quote_spanned! {ident.span()=>
                    (&&::ferroflow_sdk::__private::Wrap(&#ident)).__ff_input(__ff_inputs, #key);
                }
            })
            .collect()
    };

    let record_output = match (&sig.output, args.skip_output) {
        (ReturnType::Default, _) => quote!(__ff_span.finish_unit();),
        (ReturnType::Type(..), true) => quote! {
            ::ferroflow_sdk::__private::OutputFallback::__ff_output(
                &::ferroflow_sdk::__private::Wrap(&__ff_out), &__ff_span);
        },
        (ReturnType::Type(..), false) => quote! {
            {
                #[allow(unused_imports)]
                use ::ferroflow_sdk::__private::{
                    OutputResult as _, OutputResultError as _, OutputSerialize as _,
                    OutputFallback as _,
                };
                (&&&&::ferroflow_sdk::__private::Wrap(&__ff_out)).__ff_output(&__ff_span);
            }
        },
    };

    // The output's type, written out when it can be (not for `impl Trait`), so that a body that
    // only panics or returns early still type-checks against the signature.
    let out_type = match &sig.output {
        ReturnType::Type(_, ty) if !mentions_impl(ty) => quote!(: #ty),
        _ => quote!(),
    };

    let prologue = quote! {
        static __FF_META: ::ferroflow_sdk::__private::FnMeta = ::ferroflow_sdk::__private::FnMeta {
            name: #span_name,
            span_type: #span_type,
            function_name: #fn_name,
        };
        let __ff_span = ::ferroflow_sdk::__private::FnSpan::start(&__FF_META, |__ff_inputs| {
            #[allow(unused_imports)]
            use ::ferroflow_sdk::__private::{InputFallback as _, InputSerialize as _};
            #(#recorded)*
        });
    };

    let body = if sig.asyncness.is_some() {
        quote! {
            #prologue
            let __ff_out #out_type = ::ferroflow_sdk::__private::instrument(&__ff_span, async move #block).await;
            #record_output
            __ff_out
        }
    } else {
        quote! {
            #prologue
            #[allow(clippy::redundant_closure)]
            let __ff_out #out_type = __ff_span.run_sync(move || #block);
            #record_output
            __ff_out
        }
    };

    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

/// Whether a type mentions `impl Trait` (which cannot be written in a `let`).
fn mentions_impl(ty: &syn::Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote!(#ty))
}
