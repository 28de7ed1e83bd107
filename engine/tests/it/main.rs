//! The engine's integration tests, one binary.

mod corpus;
mod exec;
mod merge;
mod round_trip;
