//! The one table of Janus core error codes (`src/apierror.h` of Janus 1.1.2).
//!
//! Every numeric code and default text the API sends comes from here; modules keep typed
//! errors and map them to a code at the edge.

/// A Janus core API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    Ok,
    Unauthorized,
    UnauthorizedPlugin,
    TransportSpecific,
    MissingRequest,
    UnknownRequest,
    InvalidJson,
    InvalidJsonObject,
    MissingMandatoryElement,
    InvalidRequestPath,
    SessionNotFound,
    HandleNotFound,
    PluginNotFound,
    PluginAttach,
    PluginMessage,
    PluginDetach,
    JsepUnknownType,
    JsepInvalidSdp,
    /// Upstream spells it `JANUS_ERROR_TRICKE_INVALID_STREAM`.
    TrickleInvalidStream,
    InvalidElementType,
    SessionConflict,
    UnexpectedAnswer,
    TokenNotFound,
    WebrtcState,
    NotAcceptingSessions,
    Unknown,
}

/// `(code, variant, Janus name, default reason)`, in `apierror.h` order.
const TABLE: [(u16, ErrorCode, &str, &str); 26] = [
    (0, ErrorCode::Ok, "JANUS_OK", "Success"),
    (
        403,
        ErrorCode::Unauthorized,
        "JANUS_ERROR_UNAUTHORIZED",
        "Unauthorized request (wrong or missing secret/token)",
    ),
    (
        405,
        ErrorCode::UnauthorizedPlugin,
        "JANUS_ERROR_UNAUTHORIZED_PLUGIN",
        "Unauthorized access to plugin (token is not allowed to)",
    ),
    (
        450,
        ErrorCode::TransportSpecific,
        "JANUS_ERROR_TRANSPORT_SPECIFIC",
        "Transport specific error",
    ),
    (
        452,
        ErrorCode::MissingRequest,
        "JANUS_ERROR_MISSING_REQUEST",
        "Missing request",
    ),
    (
        453,
        ErrorCode::UnknownRequest,
        "JANUS_ERROR_UNKNOWN_REQUEST",
        "Unknown request",
    ),
    (
        454,
        ErrorCode::InvalidJson,
        "JANUS_ERROR_INVALID_JSON",
        "Invalid JSON",
    ),
    (
        455,
        ErrorCode::InvalidJsonObject,
        "JANUS_ERROR_INVALID_JSON_OBJECT",
        "Invalid JSON Object",
    ),
    (
        456,
        ErrorCode::MissingMandatoryElement,
        "JANUS_ERROR_MISSING_MANDATORY_ELEMENT",
        "Missing mandatory element",
    ),
    (
        457,
        ErrorCode::InvalidRequestPath,
        "JANUS_ERROR_INVALID_REQUEST_PATH",
        "Invalid path for this request",
    ),
    (
        458,
        ErrorCode::SessionNotFound,
        "JANUS_ERROR_SESSION_NOT_FOUND",
        "Session not found",
    ),
    (
        459,
        ErrorCode::HandleNotFound,
        "JANUS_ERROR_HANDLE_NOT_FOUND",
        "Handle not found",
    ),
    (
        460,
        ErrorCode::PluginNotFound,
        "JANUS_ERROR_PLUGIN_NOT_FOUND",
        "Plugin not found",
    ),
    (
        461,
        ErrorCode::PluginAttach,
        "JANUS_ERROR_PLUGIN_ATTACH",
        "Error attaching plugin",
    ),
    (
        462,
        ErrorCode::PluginMessage,
        "JANUS_ERROR_PLUGIN_MESSAGE",
        "Error sending message to plugin",
    ),
    (
        463,
        ErrorCode::PluginDetach,
        "JANUS_ERROR_PLUGIN_DETACH",
        "Error detaching from plugin",
    ),
    (
        464,
        ErrorCode::JsepUnknownType,
        "JANUS_ERROR_JSEP_UNKNOWN_TYPE",
        "Unsupported JSEP type",
    ),
    (
        465,
        ErrorCode::JsepInvalidSdp,
        "JANUS_ERROR_JSEP_INVALID_SDP",
        "Invalid SDP",
    ),
    (
        466,
        ErrorCode::TrickleInvalidStream,
        "JANUS_ERROR_TRICKE_INVALID_STREAM",
        "Invalid stream",
    ),
    (
        467,
        ErrorCode::InvalidElementType,
        "JANUS_ERROR_INVALID_ELEMENT_TYPE",
        "Invalid element type",
    ),
    (
        468,
        ErrorCode::SessionConflict,
        "JANUS_ERROR_SESSION_CONFLICT",
        "Session ID already in use",
    ),
    (
        469,
        ErrorCode::UnexpectedAnswer,
        "JANUS_ERROR_UNEXPECTED_ANSWER",
        "Unexpected ANSWER (no OFFER)",
    ),
    (
        470,
        ErrorCode::TokenNotFound,
        "JANUS_ERROR_TOKEN_NOT_FOUND",
        "Token not found",
    ),
    (
        471,
        ErrorCode::WebrtcState,
        "JANUS_ERROR_WEBRTC_STATE",
        "Wrong WebRTC state",
    ),
    (
        472,
        ErrorCode::NotAcceptingSessions,
        "JANUS_ERROR_NOT_ACCEPTING_SESSIONS",
        "Currently not accepting new sessions",
    ),
    (
        490,
        ErrorCode::Unknown,
        "JANUS_ERROR_UNKNOWN",
        "Unknown error",
    ),
];

impl ErrorCode {
    /// Every code, in table order (for metrics).
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        TABLE.iter().map(|row| row.1)
    }

    fn row(self) -> &'static (u16, ErrorCode, &'static str, &'static str) {
        // The table lists every variant; the fallback is the `Unknown` row.
        TABLE
            .iter()
            .find(|row| row.1 == self)
            .unwrap_or(&TABLE[TABLE.len() - 1])
    }

    pub fn code(self) -> u16 {
        self.row().0
    }

    /// The `apierror.h` constant name.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// The reason sent when no custom text is given (`janus_get_api_error`).
    pub fn default_reason(self) -> &'static str {
        self.row().3
    }

    pub fn from_code(code: u16) -> Option<ErrorCode> {
        TABLE.iter().find(|row| row.0 == code).map(|row| row.1)
    }
}

/// Default text for any numeric code (codes outside the table get Janus's fallback).
pub fn default_reason(code: u16) -> &'static str {
    ErrorCode::from_code(code)
        .map(ErrorCode::default_reason)
        .unwrap_or("Unknown error")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_apierror_h() {
        let expected: &[(u16, &str)] = &[
            (403, "Unauthorized request (wrong or missing secret/token)"),
            (453, "Unknown request"),
            (454, "Invalid JSON"),
            (455, "Invalid JSON Object"),
            (456, "Missing mandatory element"),
            (457, "Invalid path for this request"),
            (458, "Session not found"),
            (459, "Handle not found"),
            (466, "Invalid stream"),
            (468, "Session ID already in use"),
            (472, "Currently not accepting new sessions"),
            (490, "Unknown error"),
        ];
        for (code, text) in expected {
            assert_eq!(default_reason(*code), *text, "code {code}");
        }
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for e in ErrorCode::all() {
            assert!(seen.insert(e.code()), "duplicate {}", e.code());
            assert_eq!(ErrorCode::from_code(e.code()), Some(e));
        }
        assert_eq!(seen.len(), 26);
        assert_eq!(
            ErrorCode::TrickleInvalidStream.name(),
            "JANUS_ERROR_TRICKE_INVALID_STREAM"
        );
        assert_eq!(default_reason(499), "Unknown error");
    }
}
