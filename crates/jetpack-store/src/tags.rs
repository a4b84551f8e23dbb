//! Movable tags: `NAME@TAG` names one image of that name, set and moved by `image tag`
//! without touching the image (Jetpack's "live, movable tags or bookmarks"). They live only
//! in the index; removing an image removes its tags, removing a tag never removes an image.

use crate::error::{Error, Result};
use crate::index::{ImageRow, TagSet};
use crate::store::{Store, short_id};

/// The longest tag accepted.
const MAX_TAG: usize = 128;

/// Checks a tag's syntax: `[a-z0-9][a-z0-9._-]*`, at most 128 characters, and not the shape
/// of an image ID or digest (`sha512-…`, `sha256-…`), which lookups read before tags.
pub fn check_tag(tag: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidTag(format!(
            "{tag:?} is not a valid tag: {why}"
        )))
    };
    let b = tag.as_bytes();
    if b.is_empty() {
        return bad("it is empty");
    }
    if b.len() > MAX_TAG {
        return bad(&format!("tags have at most {MAX_TAG} characters"));
    }
    if !(b[0].is_ascii_lowercase() || b[0].is_ascii_digit()) {
        return bad("a tag starts with a lowercase letter or a digit");
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c)))
    {
        return bad(&format!(
            "{c:?} is not allowed (lowercase letters, digits, '.', '_' and '-' are)"
        ));
    }
    let digits = tag
        .strip_prefix("sha")
        .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    if let Some(rest) = digits
        && rest.len() + 3 < tag.len()
        && (rest.starts_with('-') || rest.is_empty())
    {
        return bad("it reads as an image ID or digest (sha512-…)");
    }
    Ok(())
}

/// The image name and tag of a `NAME@TAG` reference; `None` if it has no `@`.
pub(crate) fn split_reference(reference: &str) -> Option<Result<(&str, &str)>> {
    let (name, tag) = reference.split_once('@')?;
    Some(parse_name(name, reference).and_then(|n| check_tag(tag).map(|()| (n, tag))))
}

fn parse_name<'a>(name: &'a str, reference: &str) -> Result<&'a str> {
    if name.contains([',', ':']) {
        return Err(Error::NotFound(format!(
            "{reference:?}: NAME@TAG takes the image name alone, without version or labels (a \
             tag names one image of that name)"
        )));
    }
    name.parse::<appc::AcIdentifier>().map_err(|e| {
        Error::NotFound(format!("{reference:?}: {name:?} is not an image name: {e}"))
    })?;
    Ok(name)
}

impl Store {
    /// Sets `tag` on image `id`, for the image's name: a tag on another image of that name
    /// moves here.
    pub fn tag(&mut self, id: &str, tag: &str) -> Result<TagSet> {
        check_tag(tag)?;
        // Removal takes the writers' lock too: the image stays while its tag is set.
        let _w = self.write_lock()?;
        self.index_mut()?.set_tag(id, tag)
    }

    /// Removes `name@tag`; returns the ID of the image it named. An unknown tag is an error
    /// that lists the tags the name has.
    pub fn untag(&mut self, name: &str, tag: &str) -> Result<String> {
        check_tag(tag)?;
        match self.index_mut()?.remove_tag(name, tag)? {
            Some(id) => Ok(id),
            None => Err(self.unknown_tag(name, tag)),
        }
    }

    /// Moves the tags of the images `from` to image `to`, of the same name (what an import
    /// with [`crate::OnDuplicate::Replace`] does as it stores an image). Returns them, sorted.
    pub fn move_tags(&mut self, from: &[String], to: &str) -> Result<Vec<String>> {
        let _w = self.write_lock()?;
        self.index_mut()?.move_tags(from, to)
    }

    /// The tags of `name` with the image each names, by tag.
    pub fn tags_of(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.index()?.tags_of_name(name)
    }

    /// The image `name@tag` names (`reference` as the user wrote it, for messages).
    pub(crate) fn lookup_tag(&self, reference: &str) -> Option<Result<ImageRow>> {
        let (name, tag) = match split_reference(reference)? {
            Ok(nt) => nt,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let Some(id) = self.index()?.tagged(name, tag)? else {
                return Err(self.unknown_tag(name, tag));
            };
            self.index()?
                .get(&id)?
                .ok_or_else(|| Error::NotFound(format!("{reference}: image {id} is gone")))
        })())
    }

    fn unknown_tag(&self, name: &str, tag: &str) -> Error {
        let tags = match self.tags_of(name) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let images = self.index().and_then(|i| i.by_name(name)).map(|r| r.len());
        if tags.is_empty() {
            return Error::NotFound(match images {
                Ok(0) => format!("no image named {name} in the store (see `jetpack images`)"),
                _ => format!(
                    "{name} has no tag {tag}: it has no tags at all (set one with `jetpack \
                     image tag IMAGE TAG`)"
                ),
            });
        }
        let list: Vec<String> = tags
            .iter()
            .map(|(t, id)| format!("{t} ({})", short_id(id)))
            .collect();
        Error::NotFound(format!(
            "{name} has no tag {tag}; its tags are: {}",
            list.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_syntax() {
        for good in [
            "latest",
            "v1.2",
            "1",
            "stable_2024-10",
            "sha",
            "sha512x",
            "shabby",
        ] {
            check_tag(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "Latest",
            "-x",
            ".x",
            "a b",
            "a:b",
            "a@b",
            "a/b",
            "sha512-abcd",
            "sha256-abcd",
            "sha512",
            "sha1-x",
            &"a".repeat(129),
        ] {
            assert!(
                matches!(check_tag(bad), Err(Error::InvalidTag(_))),
                "{bad:?} is refused"
            );
        }
    }

    #[test]
    fn references() {
        assert_eq!(
            split_reference("example.com/app@stable").unwrap().unwrap(),
            ("example.com/app", "stable")
        );
        assert!(split_reference("example.com/app").is_none());
        for bad in [
            "example.com/app:1.0@stable",
            "example.com/app,os=linux@stable",
            "Example@stable",
            "@stable",
            "example.com/app@",
            "example.com/app@Stable",
            "example.com/app@sha512-abcd",
        ] {
            assert!(split_reference(bad).unwrap().is_err(), "{bad} is refused");
        }
    }
}
