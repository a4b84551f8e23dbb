//! Image references as typed by users: `name[:version][,label=value]*`
//! (digest §7.1, matching rules §7.8).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::ident::AcIdentifier;
use crate::labels::{Label, Labels};

/// A request for an image by name and labels, e.g.
/// `example.com/reduce-worker:1.0.0,os=linux,arch=amd64`.
///
/// The `:version` shorthand becomes the `version` label; `version=` may be
/// written as a label instead (not both). The name always comes first, so a
/// `name=` label is rejected as a second name, as the reference does. Label
/// values may contain any character but `,`. Labels keep the
/// order they were given in; `os`/`arch` values are not checked against the
/// whitelist here (that happens on the manifest that is found).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub name: AcIdentifier,
    pub labels: Vec<Label>,
}

impl ImageRef {
    pub fn new(name: AcIdentifier) -> Self {
        Self {
            name,
            labels: Vec::new(),
        }
    }

    /// The requested value of a label.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name.as_str() == name)
            .map(|l| l.value.as_str())
    }

    pub fn version(&self) -> Option<&str> {
        self.label("version")
    }

    /// Whether an image called `name` with `labels` satisfies this request:
    /// the names are equal and every requested label is present with the
    /// same value. Labels the request does not mention may have any value.
    pub fn matches(&self, name: &AcIdentifier, labels: &Labels) -> bool {
        self.name == *name
            && self
                .labels
                .iter()
                .all(|l| labels.get(l.name.as_str()) == Some(l.value.as_str()))
    }
}

impl FromStr for ImageRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let first_comma = s.find(',');
        let first_colon = s.find(':');
        if let (Some(colon), Some(comma)) = (first_colon, first_comma)
            && colon > comma
        {
            return Err(Error::new(format!(
                "malformed image reference {s:?}: the colon may appear only right after the image name"
            )));
        }
        if s.matches(':').count() > 1 {
            return Err(Error::new(format!(
                "malformed image reference {s:?}: the colon may appear at most once"
            )));
        }
        let expanded = format!("name={}", s.replacen(':', ",version=", 1));
        let mut name = None;
        let mut labels: Vec<Label> = Vec::new();
        for part in expanded.split(',') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(Error::new(format!(
                    "malformed image reference {s:?}: label {part:?} has no value"
                )));
            };
            let duplicate = || Error::new(format!("label {key} given more than once in {s:?}"));
            if key == "name" {
                if name.is_some() {
                    return Err(duplicate());
                }
                name = Some(value.parse::<AcIdentifier>()?);
                continue;
            }
            let key_id: AcIdentifier = key
                .parse()
                .map_err(|e: Error| Error::new(format!("bad label name in {s:?}: {e}")))?;
            if labels.iter().any(|l| l.name == key_id) {
                return Err(duplicate());
            }
            labels.push(Label::new(key_id, value));
        }
        let name = name.expect("the expanded reference always starts with name=");
        Ok(Self { name, labels })
    }
}

/// Written back in the input syntax, with the version as `:version`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())?;
        if let Some(v) = self.version() {
            write!(f, ":{v}")?;
        }
        for l in self.labels.iter().filter(|l| l.name.as_str() != "version") {
            write!(f, ",{}={}", l.name, l.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_forms() {
        let x = r("example.com/reduce-worker:1.0.0,os=linux,arch=amd64");
        assert_eq!(x.name.as_str(), "example.com/reduce-worker");
        assert_eq!(x.version(), Some("1.0.0"));
        assert_eq!(x.label("os"), Some("linux"));
        assert_eq!(
            x.to_string(),
            "example.com/reduce-worker:1.0.0,os=linux,arch=amd64"
        );
        let y = r("example.com/app,version=2+git&x,os=freebsd");
        assert_eq!(y.version(), Some("2+git&x"));
        assert_eq!(r("example.com/app").labels.len(), 0);
    }

    #[test]
    fn rejects() {
        for bad in [
            "a,os=linux:1",
            "a:1:2",
            "a,os",
            "a,",
            "a:1,version=2",
            "a,os=linux,os=freebsd",
            "a,name=b",
            "A",
            "a,Bad=1",
            "",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let labels = Labels::new(vec![
            Label::new("version".parse().unwrap(), "1.0.0"),
            Label::new("os".parse().unwrap(), "linux"),
            Label::new("arch".parse().unwrap(), "amd64"),
        ])
        .unwrap();
        let name: AcIdentifier = "example.com/app".parse().unwrap();
        assert!(r("example.com/app").matches(&name, &labels));
        assert!(r("example.com/app:1.0.0,os=linux").matches(&name, &labels));
        assert!(!r("example.com/app:2.0.0").matches(&name, &labels));
        assert!(!r("example.com/app,env=canary").matches(&name, &labels));
        assert!(!r("example.com/other").matches(&name, &labels));
    }
}
