//! The engine's integration tests, one binary.

mod corpus;
mod exchange_ids;
mod exec;
mod merge;
mod preconditions;
mod tenant;
