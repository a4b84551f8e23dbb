//! Labels: `[{"name": AC Identifier, "value": string}]` (digest §4).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ident::AcIdentifier;
use crate::json::{self, Fields};
use crate::keys;
use crate::macros::deserialize_via_json;
use crate::os_arch::validate_os_arch;

/// One label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Label {
    pub name: AcIdentifier,
    pub value: String,
}

impl Label {
    pub fn new(name: AcIdentifier, value: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }
}

/// Reads `[{"name", "value"}]`, the layout shared by labels and annotations.
/// A missing value is the empty string, as in Go.
pub(crate) fn parse_pairs(v: &Value, path: &str) -> Result<Vec<Label>> {
    json::list(v, path, |item, p| {
        let f = Fields::new(item, p)?;
        Ok(Label {
            name: f.required("name", "name must be set")?,
            value: f.string_or_empty("value")?,
        })
    })
}

/// A validated list of labels: unique names, no label called `name`, and
/// `os`/`arch` values from the whitelist. Order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Validates `labels`. Error paths are relative (`[1].name`).
    pub fn new(labels: Vec<Label>) -> Result<Self> {
        for (i, l) in labels.iter().enumerate() {
            if l.name.as_str() == "name" {
                return Err(Error::at(
                    &format!("[{i}].name"),
                    "invalid label name: \"name\"",
                ));
            }
            if labels[..i].iter().any(|o| o.name == l.name) {
                return Err(Error::at(
                    &format!("[{i}].name"),
                    format!("duplicate labels of name {:?}", l.name.as_str()),
                ));
            }
        }
        let find = |n: &str| labels.iter().position(|l| l.name.as_str() == n);
        if let Some(os) = find("os") {
            let arch = find("arch");
            let arch_value = arch.map(|i| labels[i].value.as_str());
            if let Err(e) = validate_os_arch(&labels[os].value, None) {
                return Err(e.under(&format!("[{os}].value")));
            }
            if let Err(e) = validate_os_arch(&labels[os].value, arch_value) {
                let at = arch.expect("arch checked only when present");
                return Err(e.under(&format!("[{at}].value")));
            }
        }
        Ok(Self(labels))
    }

    /// The value of the label called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.name.as_str() == name)
            .map(|l| l.value.as_str())
    }

    /// Sets a label (replacing the value in place if the name exists).
    pub fn set(&mut self, name: AcIdentifier, value: impl Into<String>) -> Result<()> {
        let mut next = self.0.clone();
        match next.iter_mut().find(|l| l.name == name) {
            Some(l) => l.value = value.into(),
            None => next.push(Label::new(name, value)),
        }
        *self = Self::new(next)?;
        Ok(())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        Self::new(parse_pairs(v, path)?).map_err(|e| e.under(path))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

deserialize_via_json!(Labels, keys::LABELS);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Result<Labels> {
        Labels::from_json(&v, "labels")
    }

    #[test]
    fn valid_and_get() {
        let l = labels(json!([
            {"name": "version", "value": "1.0.0"},
            {"name": "os", "value": "linux"},
            {"name": "arch", "value": "amd64"}
        ]))
        .unwrap();
        assert_eq!(l.get("os"), Some("linux"));
        assert_eq!(l.get("missing"), None);
        assert_eq!(l.len(), 3);
        assert_eq!(serde_json::to_value(&l).unwrap()[2]["value"], "amd64");
    }

    #[test]
    fn errors_are_located() {
        let e = labels(json!([{"name": "a", "value": ""}, {"name": "name", "value": "x"}]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "labels[1].name: invalid label name: \"name\""
        );
        let e = labels(json!([{"name": "v"}, {"name": "v"}])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "labels[1].name: duplicate labels of name \"v\""
        );
        let e = labels(json!([{"name": "arch", "value": "x"}, {"name": "os", "value": "linux"}]))
            .unwrap_err();
        assert_eq!(e.path(), "labels[0].value");
        assert!(e.message().starts_with("bad arch \"x\" for linux"));
        let e = labels(json!([{"name": "os", "value": "plan9"}])).unwrap_err();
        assert_eq!(e.path(), "labels[0].value");
        let e = labels(json!([{"name": "Bad", "value": "x"}])).unwrap_err();
        assert_eq!(e.path(), "labels[0].name");
        assert!(labels(json!({"name": "x"})).is_err());
    }

    #[test]
    fn arch_without_os_is_unchecked() {
        assert!(labels(json!([{"name": "arch", "value": "anything"}])).is_ok());
    }

    #[test]
    fn set_replaces_in_place_and_validates() {
        let mut l =
            labels(json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}])).unwrap();
        l.set("a".parse().unwrap(), "3").unwrap();
        assert_eq!(l.as_slice()[0].value, "3");
        l.set("os".parse().unwrap(), "linux").unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.set("os".parse().unwrap(), "plan9").is_err());
        assert_eq!(l.get("os"), Some("linux"));
    }

    #[test]
    fn serde_deserialize_normalises_keys() {
        let l: Labels = serde_json::from_value(json!([{"NAME": "os", "Value": "linux"}])).unwrap();
        assert_eq!(l.get("os"), Some("linux"));
    }
}
