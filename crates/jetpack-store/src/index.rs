//! The image index: SQLite in WAL mode. It answers listings and lookups fast; the files under
//! the store root remain the truth, and `gc` reconciles the two.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

mod tags;
pub use tags::TagSet;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    aci_size    INTEGER NOT NULL,
    tree_size   INTEGER NOT NULL,
    compression TEXT NOT NULL,
    imported    INTEGER NOT NULL,
    last_used   INTEGER,
    signer      TEXT
);
CREATE INDEX IF NOT EXISTS images_name ON images(name);
CREATE TABLE IF NOT EXISTS labels (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);
CREATE TABLE IF NOT EXISTS deps (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    dep_id   TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS deps_dep ON deps(dep_id);
CREATE TABLE IF NOT EXISTS http_cache (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    image_id      TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    fetched       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oci_origins (
    image_id     TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    reference    TEXT NOT NULL,
    digest       TEXT NOT NULL,
    index_digest TEXT
);
CREATE INDEX IF NOT EXISTS oci_origins_digest ON oci_origins(digest);
CREATE INDEX IF NOT EXISTS oci_origins_index_digest ON oci_origins(index_digest);
CREATE TABLE IF NOT EXISTS tags (
    name     TEXT NOT NULL,
    tag      TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (name, tag)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
PRAGMA user_version = 4;
";

/// The schema version `SCHEMA` sets; older indexes are brought up to it (every statement of
/// `SCHEMA` is idempotent).
const VERSION: i64 = 4;

/// One image as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageRow {
    pub id: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub aci_size: u64,
    pub tree_size: u64,
    pub compression: String,
    /// Unix seconds.
    pub imported: i64,
    pub last_used: Option<i64>,
    pub signer: Option<String>,
    /// Resolved dependency image IDs, in manifest order.
    pub deps: Vec<String>,
    /// The movable tags that name this image (`NAME@TAG`), sorted.
    pub tags: Vec<String>,
}

/// Where an OCI or Docker image came from: what finds it again by digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OciOrigin {
    /// The reference it was imported or pulled by, with its transport
    /// (`docker://docker.io/library/busybox:1.36`, `oci:/srv/app:v1`).
    pub reference: String,
    /// `sha256:…` of its platform manifest (a `docker save` archive, which has none: of its
    /// configuration).
    pub digest: String,
    /// The digest of the index (manifest list) the platform manifest was chosen from, if any:
    /// what `REPO@DIGEST` names for a multi-platform image.
    pub index_digest: Option<String>,
}

impl ImageRow {
    /// True if every wanted label is present with the same value (appc's matching rule: extra
    /// labels on the image are fine; a missing one is a wildcard only if not asked for).
    pub fn has_labels<'a>(&self, wanted: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        wanted
            .into_iter()
            .all(|(k, v)| self.labels.iter().any(|(rk, rv)| rk == k && rv == v))
    }
}

pub struct Index {
    conn: Connection,
    /// The memory-backed copy a read-only [`Index::open_for_reading`] reads, removed after
    /// the connection closes (fields drop in order).
    _copy: Option<tempfile::TempDir>,
}

/// What a download of an image URL returned, for revalidation (`--pull-policy=update`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheEntry {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub image_id: String,
    /// Unix seconds.
    pub fetched: i64,
}

impl Index {
    pub fn open(path: &Path) -> Result<Index> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Opening an existing index writes nothing (no schema statements, no fsync).
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < VERSION {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.execute_batch(SCHEMA)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Index { conn, _copy: None })
    }

    /// Opens the index for reading, even on a full disk. [`Index::open`] needs to create the
    /// WAL's shared-memory file for its first read, which fails on a full file system ("disk
    /// I/O error", "unable to open database file"). When it fails so and no WAL holds commits
    /// outside the database file (the last writer checkpointed it at close), the file is read
    /// as an immutable snapshot instead, which creates nothing; writes through it fail. When a
    /// writer was killed before its checkpoint, the WAL holds commits the file lacks: the file
    /// and its WAL are read from a copy in memory (`/dev/shm`), which writes refuse too.
    pub fn open_for_reading(path: &Path) -> Result<Index> {
        let err = match Index::open(path) {
            Ok(i) => return Ok(i),
            Err(e) => e,
        };
        let storage_error = matches!(
            &err,
            crate::Error::Index(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::CannotOpen
                )
        );
        let mut wal = path.as_os_str().to_os_string();
        wal.push("-wal");
        let wal_empty = std::fs::metadata(&wal).map_or_else(
            |e| e.kind() == std::io::ErrorKind::NotFound,
            |m| m.len() == 0,
        );
        if !storage_error || !path.exists() {
            return Err(err);
        }
        if !wal_empty {
            return match Index::open_copy(path, Path::new(&wal)) {
                Ok(i) => {
                    tracing::debug!("{}: {err}; reading a copy with its WAL", path.display());
                    Ok(i)
                }
                Err(e) => {
                    tracing::debug!("{}: reading a copy: {e}", path.display());
                    Err(err)
                }
            };
        }
        match Index::open_snapshot(path) {
            Ok(i) => {
                tracing::debug!("{}: {err}; reading it as a snapshot", path.display());
                Ok(i)
            }
            Err(_) => Err(err),
        }
    }

    /// The database file as it is, read-only, without locks, WAL or journal files.
    fn open_snapshot(path: &Path) -> Result<Index> {
        use std::os::unix::ffi::OsStrExt;
        let mut uri = String::from("file:");
        for &b in path.as_os_str().as_bytes() {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                uri.push(b as char);
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri.push_str("?mode=ro&immutable=1");
        let conn = Connection::open_with_flags(
            uri,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_URI
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
        // An index from before tags, which cannot be upgraded here: an empty table in memory
        // stands in, so listings and lookups work as they did.
        let has_tags: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'tags'",
            [],
            |r| r.get(0),
        )?;
        if !has_tags {
            conn.execute_batch(
                "PRAGMA temp_store = MEMORY;
                 CREATE TEMP TABLE tags (name TEXT, tag TEXT, image_id TEXT);",
            )?;
        }
        Ok(Index { conn, _copy: None })
    }

    /// The database file and its WAL copied to memory and opened there, read-only: SQLite
    /// folds the WAL's commits in as it reads. Indexes past 256 MiB are not copied.
    fn open_copy(path: &Path, wal: &Path) -> Result<Index> {
        const LIMIT: u64 = 256 << 20;
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        if size(path) + size(wal) > LIMIT {
            return Err(crate::Error::Other(format!(
                "{}: too large to read from a copy in memory",
                path.display()
            )));
        }
        use crate::error::IoContext;
        let shm = Path::new("/dev/shm");
        let dir = tempfile::Builder::new()
            .prefix("jetpack-index.")
            .tempdir_in(shm)
            .at(shm)?;
        let copy = dir.path().join("index.db");
        let mut copy_wal = copy.as_os_str().to_os_string();
        copy_wal.push("-wal");
        std::fs::copy(path, &copy).at(path)?;
        std::fs::copy(wal, &copy_wal).at(wal)?;
        let mut i = Index::open(&copy)?;
        i.conn.pragma_update(None, "query_only", "ON")?;
        i._copy = Some(dir);
        Ok(i)
    }

    pub fn insert(&mut self, row: &ImageRow) -> Result<()> {
        let tx = self.conn.transaction()?;
        tags::insert_row(&tx, row)?;
        tx.commit()?;
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM images WHERE id = ?1", [id])?
            > 0)
    }

    pub fn contains(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM images WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn get(&self, id: &str) -> Result<Option<ImageRow>> {
        Ok(self.query("WHERE i.id = ?1", [id])?.into_iter().next())
    }

    /// All images, newest first.
    pub fn all(&self) -> Result<Vec<ImageRow>> {
        self.query("", [])
    }

    /// Images with this exact name, newest first.
    pub fn by_name(&self, name: &str) -> Result<Vec<ImageRow>> {
        self.query("WHERE i.name = ?1", [name])
    }

    /// Images whose ID starts with `prefix`, newest first.
    pub fn by_prefix(&self, prefix: &str) -> Result<Vec<ImageRow>> {
        // Escape LIKE wildcards: IDs are hex, but the prefix comes from the user.
        let pattern = format!("{}%", escape_like(prefix));
        self.query("WHERE i.id LIKE ?1 ESCAPE '\\'", [pattern])
    }

    /// IDs of images that list `id` as a dependency.
    pub fn dependents(&self, id: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT image_id FROM deps WHERE dep_id = ?1 ORDER BY image_id")?;
        let rows = st.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn touch(&mut self, id: &str, when: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE images SET last_used = ?2 WHERE id = ?1",
            params![id, when],
        )?;
        Ok(())
    }

    /// Records the signer of an image that had none.
    pub fn set_signer(&mut self, id: &str, signer: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE images SET signer = ?2 WHERE id = ?1 AND signer IS NULL",
            params![id, signer],
        )?;
        Ok(())
    }

    pub fn cache_get(&self, url: &str) -> Result<Option<CacheEntry>> {
        Ok(self
            .conn
            .query_row(
                "SELECT url, etag, last_modified, image_id, fetched FROM http_cache WHERE url = ?1",
                [url],
                |r| {
                    Ok(CacheEntry {
                        url: r.get(0)?,
                        etag: r.get(1)?,
                        last_modified: r.get(2)?,
                        image_id: r.get(3)?,
                        fetched: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn cache_put(&mut self, e: &CacheEntry) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO http_cache (url, etag, last_modified, image_id, fetched)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.url, e.etag, e.last_modified, e.image_id, e.fetched],
        )?;
        Ok(())
    }

    /// Records where image `id` came from: the newest reference, and an index digest once
    /// known is kept when the image is imported again without one (by its platform manifest).
    pub fn set_origin(&mut self, id: &str, o: &OciOrigin) -> Result<()> {
        self.conn.execute(
            "INSERT INTO oci_origins (image_id, reference, digest, index_digest)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (image_id) DO UPDATE SET reference = excluded.reference,
                 digest = excluded.digest,
                 index_digest = coalesce(excluded.index_digest, index_digest)",
            params![id, o.reference, o.digest, o.index_digest],
        )?;
        Ok(())
    }

    /// Where each OCI image came from, by image ID.
    pub fn origins(&self) -> Result<std::collections::HashMap<String, OciOrigin>> {
        let mut st = self
            .conn
            .prepare("SELECT image_id, reference, digest, index_digest FROM oci_origins")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                OciOrigin {
                    reference: r.get(1)?,
                    digest: r.get(2)?,
                    index_digest: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Images whose manifest or index digest starts with `prefix` (`sha256:` and hex digits),
    /// newest first.
    pub fn by_digest(&self, prefix: &str) -> Result<Vec<ImageRow>> {
        // Digests are hex, but the prefix comes from the user: escape LIKE's wildcards.
        let pattern = format!("{}%", escape_like(prefix));
        self.query(
            "WHERE i.id IN (SELECT image_id FROM oci_origins
                            WHERE digest LIKE ?1 ESCAPE '\\' OR index_digest LIKE ?1 ESCAPE '\\')",
            [pattern],
        )
    }

    fn query<P: rusqlite::Params>(&self, filter: &str, p: P) -> Result<Vec<ImageRow>> {
        let sql = format!(
            "SELECT i.id, i.name, i.aci_size, i.tree_size, i.compression, i.imported, i.last_used, i.signer,
                    (SELECT group_concat(name || char(0) || value, char(1)) FROM
                        (SELECT name, value FROM labels WHERE image_id = i.id ORDER BY rowid)),
                    (SELECT group_concat(dep_id, char(1)) FROM
                        (SELECT dep_id FROM deps WHERE image_id = i.id ORDER BY position)),
                    (SELECT group_concat(tag, char(1)) FROM
                        (SELECT tag FROM tags WHERE image_id = i.id ORDER BY tag))
             FROM images i {filter} ORDER BY i.imported DESC, i.rowid DESC"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(p, |r| {
            let labels: Option<String> = r.get(8)?;
            let deps: Option<String> = r.get(9)?;
            let tags: Option<String> = r.get(10)?;
            Ok(ImageRow {
                id: r.get(0)?,
                name: r.get(1)?,
                aci_size: r.get::<_, i64>(2)? as u64,
                tree_size: r.get::<_, i64>(3)? as u64,
                compression: r.get(4)?,
                imported: r.get(5)?,
                last_used: r.get(6)?,
                signer: r.get(7)?,
                labels: labels
                    .map(|s| {
                        s.split('\u{1}')
                            .filter_map(|kv| kv.split_once('\0'))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                deps: deps
                    .map(|s| s.split('\u{1}').map(str::to_string).collect())
                    .unwrap_or_default(),
                tags: tags
                    .map(|s| s.split('\u{1}').map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// `s` with LIKE's wildcards and the escape character itself escaped (for `ESCAPE '\'`).
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, imported: i64, deps: &[&str]) -> ImageRow {
        ImageRow {
            id: id.into(),
            name: name.into(),
            labels: vec![
                ("version".into(), "1.0".into()),
                ("os".into(), "linux".into()),
            ],
            aci_size: 10,
            tree_size: 20,
            compression: "gzip".into(),
            imported,
            last_used: None,
            signer: None,
            deps: deps.iter().map(|s| s.to_string()).collect(),
            tags: Vec::new(),
        }
    }

    /// As a writer killed before its checkpoint leaves it: the last commit only in the WAL,
    /// here on a read-only file system (as the store on a full disk, or remounted read-only).
    #[jetpack_testutil::root_test]
    fn an_index_a_killed_writer_left_with_commits_in_its_wal_is_read_on_a_read_only_disk() {
        let src = tempfile::tempdir().unwrap();
        let db = src.path().join("i.db");
        let mut ix = Index::open(&db).unwrap();
        ix.insert(&row("sha512-aa11", "example.com/base", 1, &[]))
            .unwrap();
        // Killed: no checkpoint, no cleanup of the WAL.
        std::mem::forget(ix);
        let wal = src.path().join("i.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);

        let ro = tempfile::tempdir().unwrap();
        let at = ro.path().to_str().unwrap();
        jetpack_testutil::must_run("mount", &["-t", "tmpfs", "tmpfs", at]);
        let _guard = jetpack_testutil::MountGuard::new(ro.path());
        std::fs::copy(&db, ro.path().join("i.db")).unwrap();
        std::fs::copy(&wal, ro.path().join("i.db-wal")).unwrap();
        jetpack_testutil::must_run("mount", &["-o", "remount,ro", at]);

        assert!(Index::open(&ro.path().join("i.db")).is_err());
        let mut ix = Index::open_for_reading(&ro.path().join("i.db")).unwrap();
        let ids: Vec<String> = ix.all().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["sha512-aa11"]);
        // Writes through the copy are refused, not kept where nobody sees them.
        assert!(
            ix.insert(&row("sha512-bb22", "example.com/x", 2, &[]))
                .is_err()
        );
        let copy = ix._copy.as_ref().unwrap().path().to_path_buf();
        drop(ix);
        assert!(!copy.exists(), "the copy in memory is removed");
    }

    #[test]
    fn insert_query_remove() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = Index::open(&dir.path().join("i.db")).unwrap();
        ix.insert(&row("sha512-aa11", "example.com/base", 1, &[]))
            .unwrap();
        ix.insert(&row("sha512-aa22", "example.com/app", 2, &["sha512-aa11"]))
            .unwrap();
        ix.insert(&row("sha512-bb33", "example.com/app", 3, &["sha512-aa11"]))
            .unwrap();
        let all = ix.all().unwrap();
        assert_eq!(
            all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["sha512-bb33", "sha512-aa22", "sha512-aa11"]
        );
        assert_eq!(
            all[0].labels,
            vec![
                ("version".to_string(), "1.0".to_string()),
                ("os".to_string(), "linux".to_string())
            ]
        );
        assert_eq!(all[0].deps, vec!["sha512-aa11".to_string()]);
        assert_eq!(ix.by_prefix("sha512-aa").unwrap().len(), 2);
        assert_eq!(
            ix.by_prefix("sha512-a_").unwrap().len(),
            0,
            "LIKE wildcards are literal"
        );
        assert_eq!(ix.by_name("example.com/app").unwrap().len(), 2);
        assert_eq!(
            ix.dependents("sha512-aa11").unwrap(),
            ["sha512-aa22", "sha512-bb33"]
        );
        assert!(
            ix.insert(&row("sha512-aa11", "dup", 4, &[])).is_err(),
            "IDs are unique"
        );
        assert!(ix.remove("sha512-aa22").unwrap());
        assert!(!ix.contains("sha512-aa22").unwrap());
        assert_eq!(ix.dependents("sha512-aa11").unwrap(), ["sha512-bb33"]);
        ix.touch("sha512-bb33", 99).unwrap();
        assert_eq!(ix.get("sha512-bb33").unwrap().unwrap().last_used, Some(99));
        ix.set_signer("sha512-bb33", "abcd").unwrap();
        ix.set_signer("sha512-bb33", "ef01").unwrap();
        assert_eq!(
            ix.get("sha512-bb33").unwrap().unwrap().signer.as_deref(),
            Some("abcd"),
            "a recorded signer is kept"
        );
    }

    #[test]
    fn http_cache_follows_images() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = Index::open(&dir.path().join("i.db")).unwrap();
        ix.insert(&row("sha512-aa11", "example.com/base", 1, &[]))
            .unwrap();
        let e = CacheEntry {
            url: "https://example.com/base.aci".into(),
            etag: Some("\"x\"".into()),
            last_modified: None,
            image_id: "sha512-aa11".into(),
            fetched: 5,
        };
        ix.cache_put(&e).unwrap();
        assert_eq!(ix.cache_get(&e.url).unwrap(), Some(e.clone()));
        assert!(
            ix.cache_put(&CacheEntry {
                image_id: "sha512-none".into(),
                ..e.clone()
            })
            .is_err()
        );
        ix.remove("sha512-aa11").unwrap();
        assert_eq!(
            ix.cache_get(&e.url).unwrap(),
            None,
            "removed with its image"
        );
    }

    #[test]
    fn oci_origins_find_images_by_digest_and_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = Index::open(&dir.path().join("i.db")).unwrap();
        for (id, t) in [("sha512-aa11", 1), ("sha512-bb22", 2), ("sha512-cc33", 3)] {
            ix.insert(&row(id, "example.com/app", t, &[])).unwrap();
        }
        let o = |d: &str, i: Option<&str>| OciOrigin {
            reference: format!("docker://example.com/app@{d}"),
            digest: d.into(),
            index_digest: i.map(str::to_string),
        };
        ix.set_origin("sha512-aa11", &o("sha256:1234aa", Some("sha256:99ff")))
            .unwrap();
        ix.set_origin("sha512-bb22", &o("sha256:1234bb", None))
            .unwrap();
        let ids = |rows: Vec<ImageRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(ix.by_digest("sha256:1234").unwrap()),
            ["sha512-bb22", "sha512-aa11"]
        );
        assert_eq!(ids(ix.by_digest("sha256:1234aa").unwrap()), ["sha512-aa11"]);
        assert_eq!(
            ids(ix.by_digest("sha256:99").unwrap()),
            ["sha512-aa11"],
            "the index digest finds it too"
        );
        assert!(
            ix.by_digest("sha256:12_4").unwrap().is_empty(),
            "wildcards are literal"
        );
        assert!(ix.by_digest("sha256:77").unwrap().is_empty());
        // Imported again by its platform manifest: the index digest is kept, the reference
        // is the newest.
        let mut again = o("sha256:1234aa", None);
        again.reference = "docker://example.com/app:v2".into();
        ix.set_origin("sha512-aa11", &again).unwrap();
        let all = ix.origins().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["sha512-aa11"].reference, "docker://example.com/app:v2");
        assert_eq!(
            all["sha512-aa11"].index_digest.as_deref(),
            Some("sha256:99ff")
        );
        assert!(
            ix.set_origin("sha512-none", &o("sha256:55", None)).is_err(),
            "only stored images have an origin"
        );
        ix.remove("sha512-aa11").unwrap();
        assert!(ix.by_digest("sha256:1234aa").unwrap().is_empty());
        assert!(
            !ix.origins().unwrap().contains_key("sha512-aa11"),
            "removed with its image"
        );
    }

    #[test]
    fn version_2_index_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        {
            let c = Connection::open(&path).unwrap();
            let v2 = SCHEMA
                .split("CREATE TABLE IF NOT EXISTS oci_origins")
                .next()
                .unwrap();
            c.execute_batch(&format!("{v2} PRAGMA user_version = 2;"))
                .unwrap();
            c.execute(
                "INSERT INTO images (id, name, aci_size, tree_size, compression, imported)
                 VALUES ('sha512-aa11', 'example.com/old', 1, 1, 'oci', 1)",
                [],
            )
            .unwrap();
        }
        let mut ix = Index::open(&path).unwrap();
        assert_eq!(ix.all().unwrap().len(), 1, "rows survive the upgrade");
        ix.set_origin(
            "sha512-aa11",
            &OciOrigin {
                reference: "oci:/x:v1".into(),
                digest: "sha256:ab".into(),
                index_digest: None,
            },
        )
        .unwrap();
        assert_eq!(ix.by_digest("sha256:ab").unwrap().len(), 1);
    }

    #[test]
    fn version_1_index_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        {
            let c = Connection::open(&path).unwrap();
            let v1 = SCHEMA
                .split("CREATE TABLE IF NOT EXISTS http_cache")
                .next()
                .unwrap();
            c.execute_batch(&format!("{v1} PRAGMA user_version = 1;"))
                .unwrap();
        }
        let mut ix = Index::open(&path).unwrap();
        ix.insert(&row("sha512-aa11", "example.com/base", 1, &[]))
            .unwrap();
        assert_eq!(ix.cache_get("https://x").unwrap(), None);
        let v: i64 = ix
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
    }
}
