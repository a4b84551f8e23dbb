//! Typed access to a `serde_json::Value` with located errors.
//!
//! Manifests are read in two steps: the raw document is parsed into a
//! `Value` and its keys are normalised (see `keys`), then each type pulls its
//! fields through these helpers. Going through `Value` lets every error carry
//! the path of the value at fault and lets `null` behave as Go's decoder does
//! (a `null` field is the same as an absent one).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Name of a JSON value's type, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Path of field `key` under `base`.
pub(crate) fn child(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// Path of element `i` under `base`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

fn mismatch(path: &str, want: &str, got: &Value) -> Error {
    Error::at(
        path,
        format!("cannot unmarshal {} into a {want}", type_name(got)),
    )
}

pub(crate) fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| mismatch(path, "object", v))
}

pub(crate) fn string(v: &Value, path: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| mismatch(path, "string", v))
}

pub(crate) fn boolean(v: &Value, path: &str) -> Result<bool> {
    v.as_bool().ok_or_else(|| mismatch(path, "boolean", v))
}

/// A JSON integer (Go rejects `1.0` or `1e3` for integer fields too).
pub(crate) fn integer(v: &Value, path: &str) -> Result<i64> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            Error::at(
                path,
                format!("cannot unmarshal number {n} into a 64-bit integer"),
            )
        }),
        other => Err(mismatch(path, "integer", other)),
    }
}

/// An integer that must fit `T` (e.g. a GID or a port).
pub(crate) fn bounded<T: TryFrom<i64>>(v: &Value, path: &str, what: &str) -> Result<T> {
    let n = integer(v, path)?;
    T::try_from(n).map_err(|_| Error::at(path, format!("{what} out of range: {n}")))
}

/// A string parsed with `FromStr`, errors located at `path`.
pub(crate) fn parsed<T: FromStr<Err = Error>>(v: &Value, path: &str) -> Result<T> {
    string(v, path)?.parse().map_err(|e: Error| e.under(path))
}

pub(crate) fn list<T>(
    v: &Value,
    path: &str,
    mut item: impl FnMut(&Value, &str) -> Result<T>,
) -> Result<Vec<T>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| item(x, &index(path, i)))
            .collect(),
        other => Err(mismatch(path, "array", other)),
    }
}

/// A free-form `{"key": "string"}` map. Keys are kept verbatim; output order is
/// sorted, as Go writes maps.
pub(crate) fn string_map(v: &Value, path: &str) -> Result<BTreeMap<String, String>> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                let p = format!("{path}[{}]", Value::String(k.clone()));
                Ok((k.clone(), string(x, &p)?))
            })
            .collect(),
        other => Err(mismatch(path, "object", other)),
    }
}

/// Field access on one JSON object, with paths relative to the document root.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(v: &'a Value, path: &'a str) -> Result<Self> {
        Ok(Self {
            map: object(v, path)?,
            path,
        })
    }

    /// The field's value; `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn path(&self, key: &str) -> String {
        child(self.path, key)
    }

    pub(crate) fn base(&self) -> &str {
        self.path
    }

    pub(crate) fn error(&self, key: &str, message: impl Into<String>) -> Error {
        Error::at(&self.path(key), message)
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&Value, &str) -> Result<T>) -> Result<Option<T>> {
        self.get(key).map(|v| f(v, &self.path(key))).transpose()
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>> {
        self.with(key, string)
    }

    /// A string field where absent and empty mean the same (Go's zero value).
    pub(crate) fn string_or_empty(&self, key: &str) -> Result<String> {
        Ok(self.string(key)?.unwrap_or_default())
    }

    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>> {
        self.with(key, boolean)
    }

    pub(crate) fn bounded<T: TryFrom<i64>>(&self, key: &str, what: &str) -> Result<Option<T>> {
        self.with(key, |v, p| bounded(v, p, what))
    }

    pub(crate) fn parsed<T: FromStr<Err = Error>>(&self, key: &str) -> Result<Option<T>> {
        self.with(key, parsed)
    }

    /// A required string field parsed with `FromStr`; `missing` is the
    /// message when it is absent. A present but empty string is left to
    /// `FromStr`, whose message says what an empty value is not.
    pub(crate) fn required<T: FromStr<Err = Error>>(&self, key: &str, missing: &str) -> Result<T> {
        match self.string(key)? {
            Some(s) => s.parse().map_err(|e: Error| e.under(&self.path(key))),
            None => Err(self.error(key, missing)),
        }
    }

    pub(crate) fn list<T>(
        &self,
        key: &str,
        item: impl FnMut(&Value, &str) -> Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self.with(key, |v, p| list(v, p, item))?.unwrap_or_default())
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>> {
        self.list(key, string)
    }

    pub(crate) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.with(key, string_map)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_absent() {
        let v = json!({"a": null, "b": "x"});
        let f = Fields::new(&v, "root").unwrap();
        assert_eq!(f.string("a").unwrap(), None);
        assert_eq!(f.string("b").unwrap().as_deref(), Some("x"));
        assert!(f.list("a", string).unwrap().is_empty());
    }

    #[test]
    fn type_errors_are_located() {
        let v = json!({"a": 1, "m": {"k": 2}, "l": [1.5]});
        let f = Fields::new(&v, "root").unwrap();
        assert_eq!(f.string("a").unwrap_err().path(), "root.a");
        assert_eq!(f.string_map("m").unwrap_err().path(), r#"root.m["k"]"#);
        let e = f.list("l", integer).unwrap_err();
        assert_eq!(e.path(), "root.l[0]");
        assert!(e.message().contains("1.5"));
    }

    #[test]
    fn bounded_rejects_out_of_range() {
        let v = json!(-1);
        let e = bounded::<u32>(&v, "gid", "GID").unwrap_err();
        assert_eq!(e.to_string(), "gid: GID out of range: -1");
    }
}
