//! Strict JSON for request bodies: one parse that refuses a duplicated key anywhere (serde_json
//! alone keeps the last one, so `{"tempo": 5, "tempo": 120}` would pass), then a check of the
//! top-level fields. Every endpoint that reads a body goes through [`parse_body`].

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ApiError;

/// Parses `body` as a JSON object whose keys are all in `fields`.
///
/// # Errors
/// A 400 [`ApiError`]: invalid JSON, not an object, a duplicated key (naming its path, e.g.
/// `features.tempo` or `tracks[2].energy`) or a top-level field not in `fields`.
pub(super) fn parse_body(body: &[u8], fields: &[&str]) -> Result<Value, ApiError> {
    let duplicate = RefCell::new(None);
    let seed = Strict {
        at: &Path::Root,
        duplicate: &duplicate,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    let v = match (parsed, duplicate.into_inner()) {
        (Ok(v), _) => v,
        (Err(_), Some(e)) => return Err(e),
        (Err(e), None) => return Err(ApiError::bad(None, format!("invalid JSON: {e}"))),
    };
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad(None, "the body must be a JSON object".into()))?;
    if let Some(key) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        let expected = fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::bad(
            Some(key),
            format!("unknown field `{key}`; the body holds {expected}"),
        ));
    }
    Ok(v)
}

/// Where a value sits in the document; turned into text only when a duplicate is found.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => write!(f, "{k}"),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Builds a [`Value`] like serde_json does, but stops at the first duplicated key and leaves
/// the refusal (with its path) in `duplicate`.
struct Strict<'a> {
    at: &'a Path<'a>,
    duplicate: &'a RefCell<Option<ApiError>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(Strict {
            at: &Path::Index(self.at, out.len()),
            duplicate: self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = Path::Key(self.at, &key);
            if out.contains_key(&key) {
                let inside = match self.at {
                    Path::Root => String::new(),
                    parent => format!(" in `{parent}`"),
                };
                let field = at.to_string();
                *self.duplicate.borrow_mut() = Some(ApiError::bad(
                    Some(&field),
                    format!("duplicate key `{key}`{inside}"),
                ));
                return Err(de::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(Strict {
                at: &at,
                duplicate: self.duplicate,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str, fields: &[&str]) -> ApiError {
        parse_body(body.as_bytes(), fields).unwrap_err()
    }

    #[test]
    fn duplicated_keys_are_named_by_path() {
        let cases = [
            (
                r#"{"features": {"tempo": 5, "tempo": 120}}"#,
                "features.tempo",
            ),
            (r#"{"features": {}, "features": {}}"#, "features"),
            (
                r#"{"tracks": [{"a": 1}, {"b": 1, "c": {"d": 1, "d": 2}}]}"#,
                "tracks[1].c.d",
            ),
        ];
        for (body, field) in cases {
            let e = refusal(body, &["features", "tracks"]);
            assert_eq!(e.status, 400);
            assert_eq!(e.field.as_deref(), Some(field), "{body}");
            assert!(e.error.starts_with("duplicate key"), "{e:?}");
        }
        let e = refusal(r#"{"features": {"tempo": 5, "tempo": 120}}"#, &["features"]);
        assert_eq!(e.error, "duplicate key `tempo` in `features`");
    }

    #[test]
    fn unknown_top_level_fields_and_bad_json_are_refused() {
        let e = refusal(r#"{"features": {}, "seed": 1}"#, &["features"]);
        assert_eq!(e.field.as_deref(), Some("seed"));
        assert!(e.error.contains("unknown field `seed`"), "{e:?}");
        for body in ["[1]", "3", r#"{"features": {NaN"#, "{} {}", ""] {
            let e = refusal(body, &["features"]);
            assert_eq!((e.status, e.field.as_deref()), (400, None), "{body}");
        }
    }

    #[test]
    fn values_are_what_serde_json_reads() {
        let body = r#"{"features": {"a": 0.1, "b": -3, "c": 18446744073709551615, "d": [true, null, "x"]}}"#;
        let strict = parse_body(body.as_bytes(), &["features"]).unwrap();
        assert_eq!(strict, serde_json::from_str::<Value>(body).unwrap());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(refusal(&body, &["features"]).status, 400);
    }
}
