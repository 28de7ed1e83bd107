//! ief-protocols' integration tests: one binary (see CONTRIBUTING.md).

mod interop_authlib;
mod interop_node_oidc;
mod node_op;
mod oauth1_embedded;
mod oauth1_support;
mod oidc_embedded;
mod oidc_journeys;
mod plan_path;
