//! Parsing of `#[trace(...)]` arguments.
//!
//! Accepted, each at most once, comma-separated:
//! `name = "..."`, `span_type = "AGENT"` (one of MLflow's span types) or
//! `span_type = custom("MY_TYPE")`, `skip(arg, ...)`, `skip_all`, `rename(arg = "key", ...)`,
//! `skip_output`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

/// MLflow's span types, as written in `mlflow.spanType`, with the SDK's `SpanType` variant.
pub(crate) const SPAN_TYPES: &[(&str, &str)] = &[
    ("LLM", "Llm"),
    ("CHAT_MODEL", "ChatModel"),
    ("CHAIN", "Chain"),
    ("AGENT", "Agent"),
    ("TOOL", "Tool"),
    ("RETRIEVER", "Retriever"),
    ("EMBEDDING", "Embedding"),
    ("RERANKER", "Reranker"),
    ("PARSER", "Parser"),
    ("MEMORY", "Memory"),
    ("EVALUATOR", "Evaluator"),
    ("GUARDRAIL", "Guardrail"),
    ("TASK", "Task"),
    ("WORKFLOW", "Workflow"),
    ("UNKNOWN", "Unknown"),
];

pub(crate) enum SpanTypeArg {
    /// The `SpanType` variant name.
    Known(&'static str),
    Custom(LitStr),
}

#[derive(Default)]
pub(crate) struct TraceArgs {
    pub name: Option<LitStr>,
    pub span_type: Option<SpanTypeArg>,
    pub skip: Vec<Ident>,
    pub skip_all: bool,
    pub rename: Vec<(Ident, LitStr)>,
    pub skip_output: bool,
}

struct RenamePair {
    arg: Ident,
    key: LitStr,
}

impl Parse for RenamePair {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let arg = input.call(Ident::parse_any_ident)?;
        input.parse::<Token![=]>()?;
        let key: LitStr = input.parse()?;
        if key.value().is_empty() {
            return Err(syn::Error::new(key.span(), "the input key must not be empty"));
        }
        Ok(RenamePair { arg, key })
    }
}

/// `Ident::parse_any` without pulling in syn's `ext` trait at every call site.
trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream) -> syn::Result<Ident>;
}

impl ParseAnyIdent for Ident {
    fn parse_any_ident(input: ParseStream) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

fn duplicate(span: Span, key: &str) -> syn::Error {
    syn::Error::new(span, format!("`{key}` given more than once"))
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
        let mut seen_skip = false;
        let mut seen_rename = false;
        while !input.is_empty() {
            let key = input.call(Ident::parse_any_ident)?;
            let key_name = key.to_string();
            match key_name.as_str() {
                "name" => {
                    if args.name.is_some() {
                        return Err(duplicate(key.span(), "name"));
                    }
                    input.parse::<Token![=]>()?;
                    let name: LitStr = input.parse()?;
                    if name.value().is_empty() {
                        return Err(syn::Error::new(name.span(), "the span name must not be empty"));
                    }
                    args.name = Some(name);
                }
                "span_type" => {
                    if args.span_type.is_some() {
                        return Err(duplicate(key.span(), "span_type"));
                    }
                    input.parse::<Token![=]>()?;
                    args.span_type = Some(parse_span_type(input)?);
                }
                "skip" => {
                    if seen_skip {
                        return Err(duplicate(key.span(), "skip"));
                    }
                    seen_skip = true;
                    let content;
                    syn::parenthesized!(content in input);
                    let names: Punctuated<Ident, Token![,]> =
                        content.parse_terminated(Ident::parse_any_ident, Token![,])?;
                    args.skip.extend(names);
                }
                "skip_all" => {
                    if args.skip_all {
                        return Err(duplicate(key.span(), "skip_all"));
                    }
                    args.skip_all = true;
                }
                "skip_output" => {
                    if args.skip_output {
                        return Err(duplicate(key.span(), "skip_output"));
                    }
                    args.skip_output = true;
                }
                "rename" => {
                    if seen_rename {
                        return Err(duplicate(key.span(), "rename"));
                    }
                    seen_rename = true;
                    let content;
                    syn::parenthesized!(content in input);
                    let pairs: Punctuated<RenamePair, Token![,]> =
                        content.parse_terminated(RenamePair::parse, Token![,])?;
                    args.rename.extend(pairs.into_iter().map(|p| (p.arg, p.key)));
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown #[trace] argument `{key_name}`; expected `name`, \
                             `span_type`, `skip`, `skip_all`, `rename` or `skip_output`"
                        ),
                    ))
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

fn parse_span_type(input: ParseStream) -> syn::Result<SpanTypeArg> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let value = lit.value();
        return match SPAN_TYPES.iter().find(|(wire, _)| *wire == value) {
            Some((_, variant)) => Ok(SpanTypeArg::Known(variant)),
            None => {
                let expected: Vec<&str> = SPAN_TYPES.iter().map(|(wire, _)| *wire).collect();
                Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown span type \"{value}\"; expected one of {}, \
                         or `custom(\"{value}\")` for a span type of your own",
                        expected.join(", ")
                    ),
                ))
            }
        };
    }
    let ident = input.call(Ident::parse_any_ident)?;
    if ident != "custom" {
        return Err(syn::Error::new(ident.span(), "expected a string such as \"AGENT\", or `custom(\"MY_TYPE\")`"));
    }
    let content;
    syn::parenthesized!(content in input);
    let lit: LitStr = content.parse()?;
    if lit.value().is_empty() {
        return Err(syn::Error::new(lit.span(), "a custom span type must not be empty"));
    }
    if !content.is_empty() {
        return Err(content.error("expected one string: `custom(\"MY_TYPE\")`"));
    }
    Ok(SpanTypeArg::Custom(lit))
}
