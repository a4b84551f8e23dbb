//! Movable tags in the index: `(name, tag) → image`, one image per name and tag. A tag row
//! goes with its image (`ON DELETE CASCADE`); moving one is a single `UPDATE` or upsert.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{ImageRow, Index};
use crate::error::{Error, Result};

/// What setting a tag did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSet {
    /// The tag was new for the image's name.
    Added,
    /// The tag named this image already.
    Already,
    /// The tag named another image of the same name (its ID), and now names this one.
    Moved { from: String },
}

impl Index {
    /// Points `name@tag` (the name of image `id`) at `id`, in one transaction.
    pub fn set_tag(&mut self, id: &str, tag: &str) -> Result<TagSet> {
        let tx = self.conn.transaction()?;
        let name: String = tx
            .query_row("SELECT name FROM images WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no image with ID {id} in the store")))?;
        let before: Option<String> = tx
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1 AND tag = ?2",
                params![name, tag],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO tags (name, tag, image_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id",
            params![name, tag, id],
        )?;
        tx.commit()?;
        Ok(match before {
            None => TagSet::Added,
            Some(b) if b == id => TagSet::Already,
            Some(from) => TagSet::Moved { from },
        })
    }

    /// Removes `name@tag`; returns the ID of the image it named, if it existed.
    pub fn remove_tag(&mut self, name: &str, tag: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "DELETE FROM tags WHERE name = ?1 AND tag = ?2 RETURNING image_id",
                params![name, tag],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The ID of the image `name@tag` names.
    pub fn tagged(&self, name: &str, tag: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1 AND tag = ?2",
                params![name, tag],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The tags of `name` with the image each names, by tag.
    pub fn tags_of_name(&self, name: &str) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT tag, image_id FROM tags WHERE name = ?1 ORDER BY tag")?;
        let rows = st.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Inserts `row` and, in the same transaction, moves to it every tag of the images
    /// `replaced`. Returns the tags moved, sorted.
    pub fn insert_replacing(&mut self, row: &ImageRow, replaced: &[String]) -> Result<Vec<String>> {
        let tx = self.conn.transaction()?;
        insert_row(&tx, row)?;
        let moved = move_tags(&tx, replaced, &row.id)?;
        tx.commit()?;
        Ok(moved)
    }

    /// Moves every tag of the images `from` to image `to` (of the same name), in one
    /// transaction. Returns the tags moved, sorted.
    pub fn move_tags(&mut self, from: &[String], to: &str) -> Result<Vec<String>> {
        let tx = self.conn.transaction()?;
        let moved = move_tags(&tx, from, to)?;
        tx.commit()?;
        Ok(moved)
    }
}

fn move_tags(tx: &Transaction<'_>, from: &[String], to: &str) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    let mut st = tx.prepare(
        "UPDATE tags SET image_id = ?2
         WHERE image_id = ?1 AND name = (SELECT name FROM images WHERE id = ?2) RETURNING tag",
    )?;
    for old in from {
        let tags = st.query_map(params![old, to], |r| r.get::<_, String>(0))?;
        for t in tags {
            moved.push(t?);
        }
    }
    moved.sort();
    Ok(moved)
}

/// The statements that store one image row, inside `tx`.
pub(super) fn insert_row(tx: &Transaction<'_>, row: &ImageRow) -> Result<()> {
    tx.execute(
        "INSERT INTO images (id, name, aci_size, tree_size, compression, imported, last_used, signer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            row.id,
            row.name,
            row.aci_size as i64,
            row.tree_size as i64,
            row.compression,
            row.imported,
            row.last_used,
            row.signer
        ],
    )?;
    for (n, v) in &row.labels {
        tx.execute(
            "INSERT INTO labels (image_id, name, value) VALUES (?1, ?2, ?3)",
            params![row.id, n, v],
        )?;
    }
    for (i, d) in row.deps.iter().enumerate() {
        tx.execute(
            "INSERT INTO deps (image_id, position, dep_id) VALUES (?1, ?2, ?3)",
            params![row.id, i as i64, d],
        )?;
    }
    for t in &row.tags {
        tx.execute(
            "INSERT INTO tags (name, tag, image_id) VALUES (?1, ?2, ?3)",
            params![row.name, t, row.id],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::{Index, SCHEMA, VERSION};
    use super::*;

    fn row(id: &str, name: &str) -> ImageRow {
        ImageRow {
            id: id.into(),
            name: name.into(),
            labels: vec![("version".into(), "1".into())],
            aci_size: 1,
            tree_size: 1,
            compression: "gzip".into(),
            imported: 1,
            last_used: None,
            signer: None,
            deps: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// An index as version 3 made it (no tags table), with one image.
    fn version_3(path: &std::path::Path) {
        let c = Connection::open(path).unwrap();
        let v3 = SCHEMA
            .split("CREATE TABLE IF NOT EXISTS tags")
            .next()
            .unwrap();
        c.execute_batch(&format!("{v3} PRAGMA user_version = 3;"))
            .unwrap();
        c.execute(
            "INSERT INTO images (id, name, aci_size, tree_size, compression, imported)
             VALUES ('sha512-aa11', 'example.com/old', 1, 1, 'gzip', 1)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn version_3_index_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        version_3(&path);
        let mut ix = Index::open(&path).unwrap();
        let v: i64 = ix
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        assert_eq!(ix.all().unwrap()[0].tags, Vec::<String>::new());
        assert_eq!(ix.set_tag("sha512-aa11", "stable").unwrap(), TagSet::Added);
        assert_eq!(ix.all().unwrap()[0].tags, ["stable"]);
    }

    /// Where a version 3 index cannot be upgraded (a full or read-only disk), it is read as
    /// before, without tags.
    #[test]
    fn version_3_index_read_as_a_snapshot_has_no_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        version_3(&path);
        let ix = Index::open_snapshot(&path).unwrap();
        let all = ix.all().unwrap();
        assert_eq!((all.len(), all[0].tags.len()), (1, 0));
        assert_eq!(ix.tagged("example.com/old", "stable").unwrap(), None);
    }

    #[test]
    fn tags_move_and_follow_their_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = Index::open(&dir.path().join("i.db")).unwrap();
        ix.insert(&row("sha512-aa11", "example.com/a")).unwrap();
        ix.insert(&row("sha512-bb22", "example.com/a")).unwrap();
        ix.insert(&row("sha512-cc33", "example.com/c")).unwrap();
        assert_eq!(ix.set_tag("sha512-aa11", "v").unwrap(), TagSet::Added);
        assert_eq!(ix.set_tag("sha512-cc33", "v").unwrap(), TagSet::Added);
        assert_eq!(
            ix.set_tag("sha512-bb22", "v").unwrap(),
            TagSet::Moved {
                from: "sha512-aa11".into()
            }
        );
        assert_eq!(
            ix.tagged("example.com/a", "v").unwrap().unwrap(),
            "sha512-bb22"
        );
        assert_eq!(
            ix.tagged("example.com/c", "v").unwrap().unwrap(),
            "sha512-cc33"
        );
        assert!(matches!(
            ix.set_tag("sha512-none", "v"),
            Err(Error::NotFound(_))
        ));
        // Replacing moves the tags of the named images of the same name only.
        let mut new = row("sha512-dd44", "example.com/a");
        new.imported = 2;
        assert_eq!(
            ix.insert_replacing(&new, &["sha512-bb22".into()]).unwrap(),
            ["v"]
        );
        assert_eq!(
            ix.tags_of_name("example.com/a").unwrap(),
            [("v".to_string(), "sha512-dd44".to_string())]
        );
        assert!(ix.remove("sha512-dd44").unwrap());
        assert!(ix.tags_of_name("example.com/a").unwrap().is_empty());
        assert_eq!(
            ix.remove_tag("example.com/c", "v").unwrap().as_deref(),
            Some("sha512-cc33")
        );
        assert_eq!(ix.remove_tag("example.com/c", "v").unwrap(), None);
        assert!(ix.contains("sha512-cc33").unwrap(), "the image stays");
    }
}
