//! `#[service(name = "...", version = "...", description = "...", crate = "...", client = false)]`.

use proc_macro2::{Span, TokenStream};

use crate::ctxt::Ctxt;
use crate::krate::CratePath;
use crate::naming::{is_valid_service_name, is_valid_version};
use crate::parse::{name_value_args, str_arg};
use crate::symbol::{CLIENT, CRATE, DESCRIPTION, NAME, SERVICE, VERSION};

const KNOWN: &[&str] = &[NAME, VERSION, DESCRIPTION, CRATE, CLIENT];

pub(crate) struct ServiceArgs {
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) version: Option<syn::LitStr>,
    /// What `$SRV.INFO` says the service does (else the impl's doc comment).
    pub(crate) description: Option<syn::LitStr>,
    pub(crate) krate: CratePath,
    /// `client = false`: no `{Type}Client`.
    pub(crate) client: bool,
}

impl ServiceArgs {
    /// Parses and validates the arguments; missing `name`/`version` are reported at `span`.
    pub(crate) fn from_tokens(cx: &Ctxt, tokens: TokenStream, span: Span) -> syn::Result<Self> {
        let mut args = ServiceArgs {
            name: None,
            version: None,
            description: None,
            krate: CratePath::default(),
            client: true,
        };
        let mut seen: Vec<String> = Vec::new();
        for meta in name_value_args(tokens)? {
            if meta.path().is_ident(CLIENT) {
                let value = client_arg(cx, &meta);
                if seen.iter().any(|k| k == CLIENT) {
                    cx.error_spanned_by(meta.path(), "duplicate `#[service]` argument `client`");
                    continue;
                }
                seen.push(CLIENT.to_owned());
                args.client = value.unwrap_or(true);
                continue;
            }
            let arg = match str_arg(&meta, SERVICE, KNOWN) {
                Ok(arg) => arg,
                Err((key, error)) => {
                    cx.syn_error(error);
                    seen.extend(key.map(|k| k.to_string()));
                    continue;
                }
            };
            let key = arg.key.to_string();
            if seen.contains(&key) {
                cx.error_spanned_by(&arg.key, format!("duplicate `#[service]` argument `{key}`"));
                continue;
            }
            seen.push(key.clone());
            match key.as_str() {
                NAME => {
                    if !is_valid_service_name(&arg.value.value()) {
                        cx.error_spanned_by(
                            &arg.value,
                            "invalid service name: use lowercase letters, digits and `-`, \
                             start with a letter, end with a letter or digit (e.g. `order-service`)",
                        );
                    }
                    args.name = Some(arg.value);
                }
                VERSION => {
                    if !is_valid_version(&arg.value.value()) {
                        cx.error_spanned_by(
                            &arg.value,
                            "invalid service version: expected `x.y.z`, e.g. `1.0.0`",
                        );
                    }
                    args.version = Some(arg.value);
                }
                DESCRIPTION => args.description = Some(arg.value),
                // CRATE, the only other key `str_arg` lets through (`client` is read above).
                _ => match arg.value.parse::<syn::Path>() {
                    Ok(path) => args.krate = CratePath::new(path),
                    Err(_) => cx.error_spanned_by(
                        &arg.value,
                        "`crate` must be a path to the aegis crate, e.g. `crate = \"my_aegis\"`",
                    ),
                },
            }
        }
        if args.name.is_none() && !seen.iter().any(|k| k == NAME) {
            cx.error_at(
                span,
                "missing `name` in `#[service]`, e.g. `#[service(name = \"orders\", version = \"1.0.0\")]`",
            );
        }
        if args.version.is_none() && !seen.iter().any(|k| k == VERSION) {
            cx.error_at(
                span,
                "missing `version` in `#[service]`, e.g. `#[service(name = \"orders\", version = \"1.0.0\")]`",
            );
        }
        Ok(args)
    }
}

/// `client = true | false`; anything else is reported (and `None`).
fn client_arg(cx: &Ctxt, meta: &syn::Meta) -> Option<bool> {
    if let syn::Meta::NameValue(syn::MetaNameValue {
        value:
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Bool(value),
                ..
            }),
        ..
    }) = meta
    {
        return Some(value.value);
    }
    let tokens: &dyn quote::ToTokens = match meta {
        syn::Meta::NameValue(nv) => &nv.value,
        other => other,
    };
    cx.error_spanned_by(
        tokens,
        "`client` in `#[service]` takes `true` or `false`, e.g. `client = false` for a \
         server-only crate without the generated `{Type}Client`",
    );
    None
}
