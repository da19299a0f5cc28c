//! `#[trace]`: the attribute macro behind `ferroflow_sdk::trace`.
//!
//! A thin entry point, modelled on `tracing-attributes`: [`attr`] parses the arguments with
//! `syn::parse::Parse`, [`expand`] rewrites the function so that its body runs inside a span.
//! The generated code calls `::ferroflow_sdk::__private` by absolute path, so the expansion is
//! small and the behaviour lives (and is tested) in the SDK. Misuse is a `compile_error!`
//! pointing at the offending tokens, never a panic. Use it through `ferroflow_sdk::trace`; the
//! SDK's docs describe the arguments.

use proc_macro::TokenStream;

mod attr;
mod expand;

/// Traces a function as an MLflow span. See `ferroflow_sdk::trace` for the documentation.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<attr::TraceArgs>(args) {
        Ok(args) => args,
        Err(err) => return err.to_compile_error().into(),
    };
    let function = match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let item = proc_macro2::TokenStream::from(item);
            return syn::Error::new_spanned(
                item,
                "#[trace] can only be applied to functions (fn or async fn, free or in an impl)",
            )
            .to_compile_error()
            .into();
        }
    };
    match expand::expand(args, function) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
