//! ief-protocols' integration tests: one binary (see CONTRIBUTING.md).

mod interop_authlib;
mod oauth1_embedded;
mod oauth1_support;
