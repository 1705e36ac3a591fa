//! Request-level types and validation: IDs (numbers, or strings with `string_ids`) and the
//! parameter tables Janus checks with `JANUS_VALIDATE_JSON_OBJECT`, with its exact texts.
//!
//! Validation happens in the order Janus does it, table by table, because the first failing
//! field decides the error a client sees (and the conformance test compares them).

use std::fmt;

use serde_json::Value;

use super::errors::VideoRoomError;

/// A room or participant ID: unsigned integer, or string when `string_ids` is set
/// (plugins API §0.3). Server-chosen numbers stay below 2^53 (JavaScript numbers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Id {
    Num(u64),
    Str(String),
}

impl Id {
    pub fn to_json(&self) -> Value {
        match self {
            Id::Num(n) => Value::from(*n),
            Id::Str(s) => Value::from(s.clone()),
        }
    }

    /// A random ID for a room or participant (`janus_random_uint64`, or a UUID).
    pub fn random(string_ids: bool) -> Id {
        if string_ids {
            Id::Str(random_uuid())
        } else {
            Id::Num(random_js_safe())
        }
    }

    /// Janus's zero/empty "pick one for me" value.
    pub fn is_unset(&self) -> bool {
        matches!(self, Id::Num(0))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

/// A non-zero random number below 2^53, so JavaScript clients keep every digit.
pub fn random_js_safe() -> u64 {
    loop {
        let n = rand::random::<u64>() & ((1u64 << 53) - 1);
        if n != 0 {
            return n;
        }
    }
}

/// A random version-4 UUID in its usual text form.
fn random_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// What a field must be (Janus's `janus_json_parameter` types and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    /// Integer ≥ 0 (Janus calls it "a positive integer").
    PosInt,
    Bool,
    Array,
}

impl Ty {
    fn text(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Int => "an integer",
            Ty::PosInt => "a positive integer",
            Ty::Bool => "a boolean",
            Ty::Array => "an array",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Int => v.is_i64() || v.is_u64(),
            Ty::PosInt => v.is_u64(),
            Ty::Bool => v.is_boolean(),
            Ty::Array => v.is_array(),
        }
    }
}

/// One row of a parameter table: name, type, required.
pub type Param = (&'static str, Ty, bool);

/// Checks `obj` against `params` in order; the first failure is the error (Janus stops there).
pub fn check(obj: &Value, params: &[Param]) -> Result<(), VideoRoomError> {
    for (name, ty, required) in params {
        match obj.get(*name) {
            None if *required => return Err(VideoRoomError::Missing((*name).to_owned())),
            None => {}
            Some(v) if !ty.accepts(v) => {
                return Err(VideoRoomError::InvalidType {
                    name: (*name).to_owned(),
                    expected: ty.text(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The type table row for an ID field (`room`, `id`, `feed`, `publisher_id`).
pub fn id_param(name: &'static str, string_ids: bool, required: bool) -> Param {
    (
        name,
        if string_ids { Ty::Str } else { Ty::PosInt },
        required,
    )
}

/// Validates and reads an ID field.
#[cfg(test)]
pub fn read_id(
    obj: &Value,
    name: &'static str,
    string_ids: bool,
    required: bool,
) -> Result<Option<Id>, VideoRoomError> {
    check(obj, &[id_param(name, string_ids, required)])?;
    Ok(obj.get(name).map(|v| loose_id(Some(v), string_ids)))
}

/// An ID read the way Janus's `json_integer_value`/`json_string_value` do on unvalidated
/// input: absent or mistyped numbers become 0, negative ones wrap; absent strings `(null)`.
pub fn loose_id(v: Option<&Value>, string_ids: bool) -> Id {
    if string_ids {
        return Id::Str(v.and_then(Value::as_str).unwrap_or("(null)").to_owned());
    }
    let n = match v {
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_i64().map(|i| i as u64))
            .unwrap_or(0),
        None => 0,
    };
    Id::Num(n)
}

/// Janus's `JANUS_CHECK_SECRET`: with a secret configured the field is required, must be a
/// string and must match (plugins API §0.3).
pub fn check_secret(
    expected: Option<&str>,
    obj: &Value,
    name: &'static str,
) -> Result<(), VideoRoomError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    check(obj, &[(name, Ty::Str, true)])?;
    let given = obj.get(name).and_then(Value::as_str).unwrap_or("");
    if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(VideoRoomError::wrong(name))
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

/// `json_integer_value` of an optional integer field (validated beforehand).
pub fn opt_int(obj: &Value, name: &str) -> Option<i64> {
    obj.get(name)
        .and_then(|v| v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)))
}

/// A validated non-negative integer field, saturated to `u32`.
pub fn opt_u32(obj: &Value, name: &str) -> Option<u32> {
    obj.get(name)
        .and_then(Value::as_u64)
        .map(|v| v.min(u64::from(u32::MAX)) as u32)
}

/// Janus checks `substream`/`temporal`/`spatial_layer`/`temporal_layer` are 0..=2.
pub fn check_layers(obj: &Value) -> Result<(), VideoRoomError> {
    let bad = |k: &str| opt_int(obj, k).is_some_and(|v| !(0..=2).contains(&v));
    if bad("spatial_layer") || bad("substream") {
        return Err(VideoRoomError::InvalidElement(
            "Invalid value (substream/spatial_layer should be 0, 1 or 2)".into(),
        ));
    }
    if bad("temporal_layer") || bad("temporal") {
        return Err(VideoRoomError::InvalidElement(
            "Invalid value (temporal/temporal_layer should be 0, 1 or 2)".into(),
        ));
    }
    Ok(())
}

/// The fields of one `streams` entry of a subscriber `join`/`subscribe`.
pub const SUBSCRIBER_STREAM: &[Param] = &[
    ("mid", Ty::Str, false),
    ("crossrefid", Ty::Str, false),
    ("send", Ty::Bool, false),
    ("substream", Ty::PosInt, false),
    ("temporal", Ty::PosInt, false),
    ("spatial_layer", Ty::PosInt, false),
    ("temporal_layer", Ty::PosInt, false),
    ("min_delay", Ty::Int, false),
    ("max_delay", Ty::Int, false),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_failing_field_decides_with_janus_texts() {
        let p: &[Param] = &[
            ("room", Ty::PosInt, true),
            ("secret", Ty::Str, false),
            ("record", Ty::Bool, false),
        ];
        assert_eq!(
            check(&json!({}), p).map_err(|e| e.to_string()),
            Err("Missing mandatory element (room)".into())
        );
        let e = check(&json!({"room": "x"}), p).unwrap_err();
        assert_eq!(e.code(), 430);
        assert_eq!(
            e.to_string(),
            "Invalid element type (room should be a positive integer)"
        );
        let e = check(&json!({"room": -1}), p).unwrap_err();
        assert_eq!(e.code(), 430);
        let e = check(&json!({"room": 1, "secret": 3}), p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid element type (secret should be a string)"
        );
        let e = check(&json!({"room": 1, "record": 1}), p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid element type (record should be a boolean)"
        );
        assert!(check(&json!({"room": 0, "record": false}), p).is_ok());
        // A JSON null is present, and the wrong type.
        assert_eq!(check(&json!({"room": null}), p).unwrap_err().code(), 430);
    }

    #[test]
    fn ids_follow_string_ids() {
        assert_eq!(
            read_id(&json!({"room": 5}), "room", false, true).ok(),
            Some(Some(Id::Num(5)))
        );
        let e = read_id(&json!({"room": 5}), "room", true, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid element type (room should be a string)"
        );
        assert_eq!(
            read_id(&json!({"room": "a"}), "room", true, true).ok(),
            Some(Some(Id::Str("a".into())))
        );
        assert_eq!(loose_id(None, false), Id::Num(0));
        assert_eq!(loose_id(Some(&json!("x")), false), Id::Num(0));
        assert_eq!(Id::Num(3).to_json(), json!(3));
        assert!(random_js_safe() < (1 << 53));
        let u = Id::random(true).to_string();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn secrets_are_required_typed_and_compared() {
        assert!(check_secret(None, &json!({}), "secret").is_ok());
        let e = check_secret(Some("s"), &json!({}), "secret").unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (429, "Missing mandatory element (secret)".into())
        );
        let e = check_secret(Some("s"), &json!({"pin": 1}), "pin").unwrap_err();
        assert_eq!(e.code(), 430);
        let e = check_secret(Some("s"), &json!({"pin": "t"}), "pin").unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (433, "Unauthorized (wrong pin)".into())
        );
        assert!(check_secret(Some("s"), &json!({"pin": "s"}), "pin").is_ok());
    }

    #[test]
    fn layers_are_zero_to_two() {
        assert!(check_layers(&json!({"substream": 2, "temporal": 0})).is_ok());
        assert_eq!(
            check_layers(&json!({"substream": 3}))
                .unwrap_err()
                .to_string(),
            "Invalid value (substream/spatial_layer should be 0, 1 or 2)"
        );
        assert_eq!(
            check_layers(&json!({"temporal_layer": 5}))
                .unwrap_err()
                .code(),
            430
        );
    }
}
