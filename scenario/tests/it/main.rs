//! ief-scenario's integration tests: OpenID Connect journeys driven by the headless user agent
//! against the embedded provider and node-oidc-provider. One binary (see CONTRIBUTING.md).

mod interop_node_oidc;
mod node_op;
mod oidc_embedded;
mod oidc_journeys;
mod plan_path;
