//! Technical profiles: the protocols a journey step speaks (OIDC, OAuth1, OAuth2, REST, ...).
//!
//! Filled in by the executor issue; the engine validates policies without it.
