//! Parsing: attribute arguments and the handler attributes on methods.

pub(crate) mod method_attr;
pub(crate) mod service_args;

use syn::punctuated::Punctuated;

/// Parses `key = "value", ...` argument lists. Only unparseable syntax fails here; unknown or
/// duplicate keys are the caller's (accumulated) business.
pub(crate) fn name_value_args(
    tokens: proc_macro2::TokenStream,
) -> syn::Result<Punctuated<syn::Meta, syn::Token![,]>> {
    syn::parse::Parser::parse2(Punctuated::parse_terminated, tokens)
}

/// A `key = "string"` argument: the key and the literal.
pub(crate) struct StrArg {
    pub(crate) key: syn::Ident,
    pub(crate) value: syn::LitStr,
}

/// Reads one argument as `key = "string"` where `key` is one of `known`, or explains what
/// was expected. On a known key with a bad value, the key is returned with the error, so the
/// caller does not also report it as missing.
pub(crate) fn str_arg(
    meta: &syn::Meta,
    attribute: &str,
    known: &[&str],
) -> Result<StrArg, (Option<syn::Ident>, syn::Error)> {
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let key = match meta.path().get_ident() {
        Some(key) if known.iter().any(|k| key == k) => key.clone(),
        _ => return Err((None, unknown_argument(meta.path(), attribute, &expected))),
    };
    match meta {
        syn::Meta::NameValue(syn::MetaNameValue {
            value:
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }),
            ..
        }) => Ok(StrArg {
            key,
            value: value.clone(),
        }),
        syn::Meta::NameValue(nv) => {
            let error = syn::Error::new_spanned(
                &nv.value,
                format!(
                    "`{key}` in `#[{attribute}]` takes a string literal, e.g. `{key} = \"...\"`"
                ),
            );
            Err((Some(key), error))
        }
        _ => {
            let error = syn::Error::new_spanned(
                meta,
                format!("`{key}` in `#[{attribute}]` takes a value, e.g. `{key} = \"...\"`"),
            );
            Err((Some(key), error))
        }
    }
}

pub(crate) fn unknown_argument(path: &syn::Path, attribute: &str, expected: &str) -> syn::Error {
    let shown = quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "");
    syn::Error::new_spanned(
        path,
        format!("unknown `#[{attribute}]` argument `{shown}`, expected one of: {expected}"),
    )
}
