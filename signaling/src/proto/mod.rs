//! The Janus JSON API: error codes, request decoding and validation, reply and event shapes.

pub mod error_code;
pub mod reply;
pub mod request;
pub mod validate;

pub use error_code::ErrorCode;

/// A request failure as the API reports it: a code of [`error_code`] and its reason text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
}

impl ApiError {
    /// The code with a custom reason.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        ApiError {
            code: code.code(),
            reason: reason.into(),
        }
    }

    /// The code with its default reason.
    pub fn of(code: ErrorCode) -> Self {
        ApiError {
            code: code.code(),
            reason: code.default_reason().to_owned(),
        }
    }
}

impl From<crate::host::HostError> for ApiError {
    fn from(e: crate::host::HostError) -> Self {
        ApiError {
            code: e.code,
            reason: e.reason,
        }
    }
}
