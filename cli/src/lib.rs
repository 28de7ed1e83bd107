//! What the `ief` binary shares with its integration tests.

pub mod served;
