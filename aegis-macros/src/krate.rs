//! The path of the runtime crate: the only place that names it.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

#[derive(Clone)]
pub(crate) struct CratePath(syn::Path);

impl Default for CratePath {
    fn default() -> Self {
        CratePath(syn::parse_quote!(::aegis))
    }
}

impl CratePath {
    pub(crate) fn new(path: syn::Path) -> Self {
        CratePath(path)
    }

    /// `#krate::__private`: the hidden support module.
    pub(crate) fn private(&self) -> TokenStream {
        let krate = &self.0;
        quote!(#krate::__private)
    }
}

impl ToTokens for CratePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.0.to_tokens(tokens);
    }
}
