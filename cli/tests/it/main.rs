//! The CLI end to end, one test binary (link time matters on two cores).

mod bench;
mod common;
mod crash;
mod diagnostics;
mod hostile_inputs;
mod hostile_policy;
mod idp_serve;
mod policy_commands;
mod scenarios;
mod serve;
mod shared_state;
mod transform_run;
