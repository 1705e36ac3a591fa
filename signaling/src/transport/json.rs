//! Parsing client payloads with Janus's error replies (454 / 455).

use serde_json::Value;

use crate::proto::{ApiError, ErrorCode};

/// `JSON error: on line N: <what>`, as Janus words a parse failure.
pub fn parse_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; Janus puts the line first.
    let what = text.split(" at line ").next().unwrap_or(&text);
    ApiError::new(
        ErrorCode::InvalidJson,
        format!("JSON error: on line {}: {}", e.line(), what),
    )
}

/// Parses one JSON value (an HTTP body).
pub fn parse_one(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| parse_error(&e))
}

/// How the core words a WebSocket payload jansson could not parse (Janus passes the
/// parse error to `janus_transport_incoming_request`): `<string>(line,column): what`.
pub fn ws_parse_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let what = text.split(" at line ").next().unwrap_or(&text);
    ApiError::new(
        ErrorCode::InvalidJson,
        format!(
            "Invalid Janus API request - <string>({},{}): {}",
            e.line(),
            e.column(),
            what
        ),
    )
}

/// Parses the JSON values concatenated in one WebSocket message, at most `max`; a parse
/// error ends the list.
pub fn parse_many(text: &str, max: usize) -> Vec<Result<Value, ApiError>> {
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match item {
            Ok(v) => out.push(Ok(v)),
            Err(e) => {
                out.push(Err(ws_parse_error(&e)));
                break;
            }
        }
        if out.len() >= max {
            break;
        }
    }
    if out.is_empty() {
        out.push(Err(ApiError::new(
            ErrorCode::InvalidJson,
            "Invalid Janus API request - <string>(1,0): '[' or '{' expected near end of file",
        )));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_objects_and_errors() {
        let v = parse_many(r#"{"a":1}{"b":2} {"c""#, 10);
        assert_eq!(v.len(), 3);
        assert!(v[0].is_ok() && v[1].is_ok());
        let e = v[2].clone().unwrap_err();
        assert_eq!(e.code, 454);
        assert!(
            e.reason
                .starts_with("Invalid Janus API request - <string>(1,"),
            "{}",
            e.reason
        );
        assert_eq!(parse_many("", 10)[0].clone().unwrap_err().code, 454);
        assert_eq!(parse_many(r#"{}{}{}"#, 2).len(), 2);
    }
}
