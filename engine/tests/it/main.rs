//! The engine's integration tests, one binary.

mod claims_transformation_profiles;
mod corpus;
mod display_controls;
mod exchange_ids;
mod exec;
mod merge;
mod patterns;
mod preconditions;
mod round_trip;
mod self_asserted_templates;
mod sessions;
mod sub_journey_flow;
mod tenant;
