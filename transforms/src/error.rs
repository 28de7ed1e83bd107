//! Runtime errors of a transformation.

use std::fmt;

/// Why a transformation failed while running. Assertion failures carry the metadata key of the
/// self-asserted profile whose value is the message shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TransformError {
    pub code: ErrorCode,
    pub message: String,
    /// e.g. `UserMessageIfClaimsTransformationStringsAreNotEqual`.
    pub user_message_key: Option<&'static str>,
}

/// Stable machine-readable reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An `Assert*` method (or a method in assertion mode) found the condition false.
    AssertionFailed,
    /// A required input claim has no value.
    MissingInput,
    /// A value could not be read as the type the method needs.
    InvalidValue,
    /// Documented "throws an exception" cases not covered above.
    Failed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AssertionFailed => "AssertionFailed",
            ErrorCode::MissingInput => "MissingInput",
            ErrorCode::InvalidValue => "InvalidValue",
            ErrorCode::Failed => "Failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransformError {
    pub fn assertion(message: impl Into<String>, user_message_key: &'static str) -> TransformError {
        TransformError {
            code: ErrorCode::AssertionFailed,
            message: message.into(),
            user_message_key: Some(user_message_key),
        }
    }

    pub fn missing_input(slot: &str) -> TransformError {
        TransformError {
            code: ErrorCode::MissingInput,
            message: format!("input claim '{slot}' has no value"),
            user_message_key: None,
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> TransformError {
        TransformError { code: ErrorCode::InvalidValue, message: message.into(), user_message_key: None }
    }

    pub fn failed(message: impl Into<String>) -> TransformError {
        TransformError { code: ErrorCode::Failed, message: message.into(), user_message_key: None }
    }
}
