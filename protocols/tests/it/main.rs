//! ief-protocols' integration tests: one binary (see CONTRIBUTING.md).

mod interop_node_oidc;
mod node_op;
