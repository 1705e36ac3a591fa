//! Request-level validation: the parameter tables Janus checks with
//! `JANUS_VALIDATE_JSON_OBJECT`, with its exact texts, and the ID rules (numbers, or strings
//! with `string_ids`). IDs are VideoRoom's [`Id`]: the two plugins share the rules.
//!
//! Validation runs table by table in Janus's order, because the first failing field decides
//! the error a client sees (and the conformance test compares them).

use serde_json::Value;

pub use crate::plugins::videoroom::api::Id;

use super::errors::AudioBridgeError;

/// What a field must be (Janus's `janus_json_parameter` types and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    /// Integer ≥ 0 (Janus calls it "a positive integer").
    PosInt,
    Bool,
    Array,
    Object,
}

impl Ty {
    fn text(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::PosInt => "a positive integer",
            Ty::Bool => "a boolean",
            Ty::Array => "an array",
            Ty::Object => "an object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::PosInt => v.is_u64(),
            Ty::Bool => v.is_boolean(),
            Ty::Array => v.is_array(),
            Ty::Object => v.is_object(),
        }
    }
}

/// One row of a parameter table: name, type, required.
pub type Param = (&'static str, Ty, bool);

/// Checks `obj` against `params` in order; the first failure is the error (Janus stops there).
pub fn check(obj: &Value, params: &[Param]) -> Result<(), AudioBridgeError> {
    for (name, ty, required) in params {
        match obj.get(*name) {
            None if *required => return Err(AudioBridgeError::Missing((*name).to_owned())),
            Some(v) if !ty.accepts(v) => {
                return Err(AudioBridgeError::InvalidType {
                    name: (*name).to_owned(),
                    expected: ty.text(),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// The type table row for an ID field (`room`, `id`).
pub fn id_param(name: &'static str, string_ids: bool, required: bool) -> Param {
    (
        name,
        if string_ids { Ty::Str } else { Ty::PosInt },
        required,
    )
}

/// An ID read the way Janus's `json_integer_value`/`json_string_value` do on validated
/// input: absent numbers become 0, absent strings `(null)`.
pub fn loose_id(v: Option<&Value>, string_ids: bool) -> Id {
    if string_ids {
        return Id::Str(v.and_then(Value::as_str).unwrap_or("(null)").to_owned());
    }
    Id::Num(v.and_then(Value::as_u64).unwrap_or(0))
}

/// Janus's `JANUS_CHECK_SECRET`: with a secret configured the field is required, must be a
/// string and must match (plugins API §0.3).
pub fn check_secret(
    expected: Option<&str>,
    obj: &Value,
    name: &'static str,
) -> Result<(), AudioBridgeError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    check(obj, &[(name, Ty::Str, true)])?;
    let given = obj.get(name).and_then(Value::as_str).unwrap_or("");
    if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(AudioBridgeError::wrong(name))
    }
}

/// Compares secrets without an early exit, so timing does not leak a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `json_is_true`: only JSON `true` counts.
pub fn is_true(obj: &Value, name: &str) -> bool {
    obj.get(name).and_then(Value::as_bool) == Some(true)
}

/// A boolean field if present (validated beforehand).
pub fn opt_bool(obj: &Value, name: &str) -> Option<bool> {
    obj.get(name).map(|v| v.as_bool() == Some(true))
}

pub fn opt_str<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

/// A validated non-negative integer field.
pub fn opt_u64(obj: &Value, name: &str) -> Option<u64> {
    obj.get(name).and_then(Value::as_u64)
}

/// Every element of an optional array is a string (Janus's `allowed`/`groups` checks).
pub fn all_strings(obj: &Value, name: &str) -> bool {
    obj.get(name)
        .and_then(Value::as_array)
        .is_none_or(|a| a.iter().all(Value::is_string))
}

/// The strings of an array field.
pub fn strings(obj: &Value, name: &str) -> Option<Vec<String>> {
    obj.get(name).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_failing_field_decides_with_janus_texts_and_codes() {
        let p: &[Param] = &[
            ("room", Ty::PosInt, true),
            ("rtp", Ty::Object, false),
            ("groups", Ty::Array, false),
        ];
        let e = check(&json!({}), p).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (483, "Missing mandatory element (room)".into())
        );
        let e = check(&json!({"room": -3}), p).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (
                484,
                "Invalid element type (room should be a positive integer)".into()
            )
        );
        let e = check(&json!({"room": 1, "rtp": []}), p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid element type (rtp should be an object)"
        );
        let e = check(&json!({"room": 1, "groups": "a"}), p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid element type (groups should be an array)"
        );
        assert!(check(&json!({"room": 0, "rtp": {}}), p).is_ok());
    }

    #[test]
    fn secrets_and_ids() {
        assert!(check_secret(None, &json!({}), "secret").is_ok());
        let e = check_secret(Some("s"), &json!({}), "pin").unwrap_err();
        assert_eq!(e.code(), 483);
        let e = check_secret(Some("s"), &json!({"pin": 1}), "pin").unwrap_err();
        assert_eq!(e.code(), 484);
        let e = check_secret(Some("s"), &json!({"pin": "x"}), "pin").unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (489, "Unauthorized (wrong pin)".into())
        );
        assert!(check_secret(Some("s"), &json!({"pin": "s"}), "pin").is_ok());
        assert_eq!(loose_id(Some(&json!(5)), false), Id::Num(5));
        assert_eq!(loose_id(None, true), Id::Str("(null)".into()));
        assert!(all_strings(&json!({"a": ["x"]}), "a"));
        assert!(!all_strings(&json!({"a": ["x", 1]}), "a"));
        assert!(all_strings(&json!({}), "a"));
    }
}
