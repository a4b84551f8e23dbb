//! `#[root_test]`: a `#[test]` that first calls `jetpack_testutil::require_root()`, so without
//! root it is skipped with a printed message, and under `JETPACK_TEST_REQUIRE_ROOT=1` it fails.
//! Written on `proc_macro` alone: the attribute only prepends one statement to the body.

#![forbid(unsafe_code)]

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

const CHECK: &str = "if !::jetpack_testutil::require_root() { return; }";

/// Marks a test that needs root (use in place of `#[test]`; re-exported by `jetpack-testutil`).
#[proc_macro_attribute]
pub fn root_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[root_test] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    // The body is the item's last token: `fn name() { ... }`.
    let Some(TokenTree::Group(body)) = tokens.last() else {
        return compile_error("#[root_test] goes on a test function");
    };
    if body.delimiter() != Delimiter::Brace
        || !tokens
            .iter()
            .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    {
        return compile_error("#[root_test] goes on a test function");
    }
    let mut inner: TokenStream = CHECK.parse().expect("valid check");
    inner.extend(body.stream());
    let mut new_body = Group::new(Delimiter::Brace, inner);
    new_body.set_span(body.span());
    *tokens.last_mut().expect("a body") = TokenTree::Group(new_body);
    let mut out: TokenStream = "#[test]".parse().expect("valid attribute");
    out.extend(tokens);
    out
}

fn compile_error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});")
        .parse()
        .expect("valid compile_error")
}
