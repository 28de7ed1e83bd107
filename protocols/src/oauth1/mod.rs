//! OAuth1 technical profile (`Protocol Name="OAuth1"`, e.g. Twitter/X federation).
//!
//! For now only the RFC 5849 HMAC-SHA1 request [`signer`]; the profile handler comes later.

pub mod signer;

pub use signer::{Credentials, Secret, SignError, SignInput, Signed, Signer};
