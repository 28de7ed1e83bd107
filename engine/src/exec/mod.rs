//! Running a compiled journey once per sign-in: the claims bag, preconditions, exchanges,
//! sub journeys, validation profiles and the issuer, with pauses for user input.

mod env;
mod handler;
mod resolve;
mod run;
mod session;
mod trace;

pub use env::PolicyEnv;
pub use handler::{
    Answer, BoxFuture, Extensions, Field, InputClaim, Invocation, Page, PageKind, ProfileError, ProfileHandler,
    ProfileRequest, ProfileResult, RequestContext, Services, Token,
};
pub use run::{ExecError, Executor, Outcome, Progress, REMEMBER_ME_FIELD, SignIn};
pub use session::Session;
pub use trace::{TraceEvent, credential_values, redact};
