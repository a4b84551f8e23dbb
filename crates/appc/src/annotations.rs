//! Annotations: `[{"name": AC Identifier, "value": string}]` (digest §5).

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};
use crate::ident::AcIdentifier;
use crate::keys;
use crate::labels::{Label, parse_pairs};
use crate::macros::deserialize_via_json;

/// One annotation; the same shape as a label.
pub type Annotation = Label;

/// A validated list of annotations: unique names, and the values of the
/// well-known names checked (`created` is an RFC 3339 timestamp, `homepage`
/// and `documentation` are http(s) URLs). The same rules apply to image,
/// pod and pod-app annotations, as in the reference. Order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Annotations(Vec<Annotation>);

/// Checks the value of a well-known annotation.
fn validate_value(name: &str, value: &str) -> Result<()> {
    match name {
        "created" => validate_date(value),
        "homepage" | "documentation" => validate_url(value),
        _ => Ok(()),
    }
}

/// An RFC 3339 timestamp as Go's `time.RFC3339` layout reads it: the
/// separator must be an upper-case `T` and the UTC designator `Z`.
fn validate_date(value: &str) -> Result<()> {
    if value.as_bytes().get(10) != Some(&b'T') || value.contains(['t', 'z']) {
        return Err(Error::new(format!(
            "bad Date: {value:?} is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ssZ)"
        )));
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(drop)
        .map_err(|e| Error::new(format!("bad Date: {e}")))
}

/// An absolute URL whose scheme is http or https (compared case-insensitively,
/// as Go's URL parser lowercases schemes).
fn validate_url(value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_ascii_control()) {
        return Err(Error::new("bad URL: invalid control character in URL"));
    }
    let scheme = value.split_once(':').map(|(s, _)| s).filter(|s| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => Ok(()),
        _ => Err(Error::new("bad URL scheme, must be http/https")),
    }
}

impl Annotations {
    /// Validates `annotations`. Error paths are relative (`[1].value`).
    pub fn new(annotations: Vec<Annotation>) -> Result<Self> {
        for (i, a) in annotations.iter().enumerate() {
            if annotations[..i].iter().any(|o| o.name == a.name) {
                return Err(Error::at(
                    &format!("[{i}].name"),
                    format!("duplicate annotations of name {:?}", a.name.as_str()),
                ));
            }
            validate_value(a.name.as_str(), &a.value)
                .map_err(|e| e.under(&format!("[{i}].value")))?;
        }
        Ok(Self(annotations))
    }

    /// The value of the annotation called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.name.as_str() == name)
            .map(|a| a.value.as_str())
    }

    /// Sets an annotation: replaces the value in place if the name exists,
    /// appends it otherwise.
    pub fn set(&mut self, name: AcIdentifier, value: impl Into<String>) -> Result<()> {
        let value = value.into();
        validate_value(name.as_str(), &value)?;
        match self.0.iter_mut().find(|a| a.name == name) {
            Some(a) => a.value = value,
            None => self.0.push(Annotation::new(name, value)),
        }
        Ok(())
    }

    /// `self` overlaid with `over`: values of `over` replace same-named ones
    /// in place, new names are appended. This is the order the metadata
    /// service must use for app annotations (image first, pod app over it).
    pub fn merged(&self, over: &Annotations) -> Annotations {
        let mut out = self.clone();
        for a in over {
            match out.0.iter_mut().find(|o| o.name == a.name) {
                Some(o) => o.value.clone_from(&a.value),
                None => out.0.push(a.clone()),
            }
        }
        out
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Annotation> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Annotation] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Annotation> {
        self.0
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        Self::new(parse_pairs(v, path)?).map_err(|e| e.under(path))
    }
}

impl<'a> IntoIterator for &'a Annotations {
    type Item = &'a Annotation;
    type IntoIter = std::slice::Iter<'a, Annotation>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

deserialize_via_json!(Annotations, keys::LABELS);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotations(v: Value) -> Result<Annotations> {
        Annotations::from_json(&v, "annotations")
    }

    #[test]
    fn well_known_values() {
        let a = annotations(json!([
            {"name": "created", "value": "2015-05-18T13:49:28.351729952-04:00"},
            {"name": "homepage", "value": "HTTPS://example.com"},
            {"name": "documentation", "value": "http://example.com/docs"},
            {"name": "authors", "value": "anyone"}
        ]))
        .unwrap();
        assert_eq!(a.get("authors"), Some("anyone"));
        for bad in [
            "2015-05-18 13:49:28Z",
            "2015-05-18t13:49:28Z",
            "2015-05-18T13:49:28z",
            "2015-05-18",
        ] {
            let e = annotations(json!([{"name": "created", "value": bad}])).unwrap_err();
            assert_eq!(e.path(), "annotations[0].value");
            assert!(e.message().starts_with("bad Date"), "{bad}");
        }
        for bad in ["/docs", "ftp://x", "example.com", "1http://x"] {
            let e = annotations(json!([{"name": "homepage", "value": bad}])).unwrap_err();
            assert_eq!(e.message(), "bad URL scheme, must be http/https", "{bad}");
        }
    }

    #[test]
    fn duplicates() {
        let e = annotations(json!([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotations[1].name: duplicate annotations of name \"a\""
        );
    }

    #[test]
    fn merge_order() {
        let image =
            annotations(json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}])).unwrap();
        let pod =
            annotations(json!([{"name": "c", "value": "3"}, {"name": "a", "value": "9"}])).unwrap();
        let m = image.merged(&pod);
        let pairs: Vec<(&str, &str)> = m
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "9"), ("b", "2"), ("c", "3")]);
    }

    #[test]
    fn set_validates() {
        let mut a = Annotations::default();
        assert!(a.set("homepage".parse().unwrap(), "nope").is_err());
        a.set("ip-address".parse().unwrap(), "10.1.2.3").unwrap();
        a.set("ip-address".parse().unwrap(), "10.1.2.4").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a.get("ip-address"), Some("10.1.2.4"));
    }
}
