//! `ief serve` end to end over loopback HTTP, one test binary (link time matters on two cores).

mod attacks;
mod common;
mod federation;
mod flows;
mod gated;
mod hints;
mod https;
mod interop_relying_parties;
mod pages;
mod panicked;
mod reload;
mod signout;
mod state;
#[path = "../support/mod.rs"]
mod support;
mod tokens;
mod userinfo;
