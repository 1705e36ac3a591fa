//! Element checks with Janus's exact texts (`JANUS_VALIDATE_JSON_OBJECT` in `utils.h`).
//!
//! Parameters are checked in declaration order and the first failure wins, which decides
//! which error a client sees when several keys are wrong.

use serde_json::{Map, Value};

use super::{ApiError, ErrorCode};

/// The JSON type a parameter must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    /// Integer ≥ 0 (Janus `JANUS_JSON_PARAM_POSITIVE`).
    PositiveInteger,
    Bool,
    Object,
    Array,
}

impl Kind {
    /// Janus's wording in "Invalid element type (x should be …)".
    pub fn describe(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::PositiveInteger => "a positive integer",
            Kind::Bool => "a boolean",
            Kind::Object => "an object",
            Kind::Array => "an array",
        }
    }

    pub fn matches(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::PositiveInteger => v.is_u64(),
            Kind::Bool => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::Array => v.is_array(),
        }
    }
}

/// One expected key.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
    }
}

pub const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
    }
}

/// Texts for the two failure kinds (the JSEP and Trickle checks prefix them).
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    pub missing: &'static str,
    pub invalid: &'static str,
}

pub const PLAIN: Wording = Wording {
    missing: "Missing mandatory element",
    invalid: "Invalid element type",
};
pub const JSEP: Wording = Wording {
    missing: "JSEP error: missing mandatory element",
    invalid: "JSEP error: invalid element type",
};

/// Checks `obj` against `params`; a present `null` is a type error, as in Janus.
pub fn check(obj: &Map<String, Value>, params: &[Param], wording: Wording) -> Result<(), ApiError> {
    for p in params {
        match obj.get(p.name) {
            None if p.required => {
                return Err(ApiError::new(
                    ErrorCode::MissingMandatoryElement,
                    format!("{} ({})", wording.missing, p.name),
                ))
            }
            None => {}
            Some(v) if !p.kind.matches(v) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidElementType,
                    format!(
                        "{} ({} should be {})",
                        wording.invalid,
                        p.name,
                        p.kind.describe()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn first_failing_parameter_wins_with_janus_texts() {
        let params = [req("transaction", Kind::String), req("janus", Kind::String)];
        let e = check(&obj(json!({"janus": 1})), &params, PLAIN).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (456, "Missing mandatory element (transaction)")
        );
        let e = check(&obj(json!({"transaction": 1})), &params, PLAIN).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (467, "Invalid element type (transaction should be a string)")
        );
    }

    #[test]
    fn null_is_a_type_error_and_negative_is_not_positive() {
        let e = check(
            &obj(json!({"opaque_id": null})),
            &[opt("opaque_id", Kind::String)],
            PLAIN,
        )
        .unwrap_err();
        assert_eq!(
            e.reason,
            "Invalid element type (opaque_id should be a string)"
        );
        let e = check(
            &obj(json!({"id": -1})),
            &[opt("id", Kind::PositiveInteger)],
            PLAIN,
        )
        .unwrap_err();
        assert_eq!(
            e.reason,
            "Invalid element type (id should be a positive integer)"
        );
        assert!(check(
            &obj(json!({"id": 0})),
            &[opt("id", Kind::PositiveInteger)],
            PLAIN
        )
        .is_ok());
        let e = check(&obj(json!({})), &[req("sdp", Kind::String)], JSEP).unwrap_err();
        assert_eq!(e.reason, "JSEP error: missing mandatory element (sdp)");
    }
}
