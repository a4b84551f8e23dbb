//! Movable tags on a store (dir backend, as root like every store test): set, move, untag, lookup by `NAME@TAG`, removal of
//! a tagged image, and imports of an image with the name and labels of a stored one.

mod common;

use common::TestStore;
use jetpack_store::{Error, ImportOptions, OnDuplicate, Pick, Source, TagSet};
use jetpack_testutil::aci::Aci;

/// An image `name,version=VERSION` whose content differs by `marker`.
fn image(t: &TestStore, name: &str, version: &str, marker: &str) -> String {
    import(t, name, version, marker, OnDuplicate::Keep)
        .unwrap()
        .id
}

fn import(
    t: &TestStore,
    name: &str,
    version: &str,
    marker: &str,
    on_duplicate: OnDuplicate,
) -> jetpack_store::Result<jetpack_store::Imported> {
    let mut a = Aci::new();
    a.file("rootfs/marker", marker.as_bytes(), 0o644);
    let tar = a
        .named(
            name,
            &format!(r#","labels":[{{"name":"version","value":"{version}"}}]"#),
        )
        .tar();
    let f = t.input(&format!("{marker}.aci"), &tar);
    let mut store = jetpack_store::Store::open(&t.cfg).unwrap();
    store.import_with(
        Source::File(f),
        &ImportOptions {
            on_duplicate,
            ..ImportOptions::default()
        },
    )
}

fn tags(t: &TestStore, id: &str) -> Vec<String> {
    t.store.get(id).unwrap().unwrap().tags
}

#[jetpack_testutil::root_test]
fn a_tag_names_one_image_per_name_and_moves() {
    let mut t = TestStore::new("dir");
    let a1 = image(&t, "example.com/a", "1", "a1");
    let a2 = image(&t, "example.com/a", "2", "a2");
    let b1 = image(&t, "example.com/b", "1", "b1");
    assert_eq!(t.store.tag(&a1, "stable").unwrap(), TagSet::Added);
    assert_eq!(t.store.tag(&a1, "stable").unwrap(), TagSet::Already);
    assert_eq!(t.store.tag(&b1, "stable").unwrap(), TagSet::Added);
    assert_eq!(
        t.store
            .lookup("example.com/a@stable", Pick::Unique)
            .unwrap()
            .id,
        a1,
        "the tag, not the newest image"
    );
    assert_eq!(
        t.store.lookup("example.com/a", Pick::Newest).unwrap().id,
        a2
    );
    assert_eq!(
        t.store
            .lookup("example.com/b@stable", Pick::Newest)
            .unwrap()
            .id,
        b1,
        "tags are per name"
    );
    assert_eq!(
        t.store.tag(&a2, "stable").unwrap(),
        TagSet::Moved { from: a1.clone() }
    );
    assert!(tags(&t, &a1).is_empty());
    assert_eq!(tags(&t, &a2), ["stable"]);
    assert_eq!(
        t.store
            .lookup("example.com/a@stable", Pick::Newest)
            .unwrap()
            .id,
        a2
    );
    t.store.tag(&a2, "prod").unwrap();
    assert_eq!(tags(&t, &a2), ["prod", "stable"]);
    assert!(matches!(
        t.store.tag(&a2, "Bad Tag"),
        Err(Error::InvalidTag(_))
    ));
}

#[jetpack_testutil::root_test]
fn untag_and_unknown_tags() {
    let mut t = TestStore::new("dir");
    let a1 = image(&t, "example.com/a", "1", "a1");
    t.store.tag(&a1, "stable").unwrap();
    t.store.tag(&a1, "prod").unwrap();
    let e = t
        .store
        .lookup("example.com/a@nope", Pick::Newest)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("example.com/a has no tag nope")
            && e.contains("prod (")
            && e.contains("stable ("),
        "{e}"
    );
    assert_eq!(t.store.untag("example.com/a", "prod").unwrap(), a1);
    assert!(t.store.get(&a1).unwrap().is_some(), "the image stays");
    assert_eq!(tags(&t, &a1), ["stable"]);
    let e = t
        .store
        .untag("example.com/a", "prod")
        .unwrap_err()
        .to_string();
    assert!(e.contains("its tags are: stable ("), "{e}");
    t.store.untag("example.com/a", "stable").unwrap();
    let e = t
        .store
        .lookup("example.com/a@stable", Pick::Newest)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no tags at all"), "{e}");
    let e = t
        .store
        .lookup("example.com/none@stable", Pick::Newest)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no image named example.com/none"), "{e}");
    let e = t
        .store
        .lookup("example.com/a@sha512-abcd", Pick::Newest)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidTag(_)), "{e}");
}

#[jetpack_testutil::root_test]
fn removing_an_image_removes_its_tags() {
    let mut t = TestStore::new("dir");
    let a1 = image(&t, "example.com/a", "1", "a1");
    let a2 = image(&t, "example.com/a", "2", "a2");
    t.store.tag(&a1, "stable").unwrap();
    t.store.tag(&a2, "next").unwrap();
    t.store.remove(&a1, false).unwrap();
    assert!(
        t.store
            .lookup("example.com/a@stable", Pick::Newest)
            .is_err()
    );
    assert_eq!(
        t.store.tags_of("example.com/a").unwrap(),
        [("next".to_string(), a2.clone())]
    );
    // The tag is free again, for any image of that name.
    assert_eq!(t.store.tag(&a2, "stable").unwrap(), TagSet::Added);
}

#[jetpack_testutil::root_test]
fn same_name_and_labels_kept_refused_or_replaced() {
    let mut t = TestStore::new("dir");
    let old = image(&t, "example.com/a", "1", "old");
    let other = image(&t, "example.com/a", "2", "other");
    t.store.tag(&old, "stable").unwrap();
    t.store.tag(&other, "next").unwrap();

    // Refused: nothing stored, nothing moved, the message names the image and the way out.
    let e = import(&t, "example.com/a", "1", "refused", OnDuplicate::Refuse).unwrap_err();
    assert!(matches!(e, Error::Duplicate(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&old[..39]) && msg.contains("--replace") && msg.contains("tags: stable"),
        "{msg}"
    );
    assert_eq!(t.store.images().unwrap().len(), 2);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    // Kept (import): stored beside it, newest for the plain name, tags stay.
    let kept = import(&t, "example.com/a", "1", "kept", OnDuplicate::Keep).unwrap();
    assert_eq!(kept.duplicates, std::slice::from_ref(&old));
    assert!(kept.moved_tags.is_empty());
    assert_eq!(
        t.store
            .lookup("example.com/a@stable", Pick::Newest)
            .unwrap()
            .id,
        old
    );

    // Replaced: the tags of both older images of that name and labels move; other versions'
    // tags stay; the old images stay stored.
    let new = import(&t, "example.com/a", "1", "new", OnDuplicate::Replace).unwrap();
    assert_eq!(new.moved_tags, ["stable"]);
    assert_eq!(new.duplicates.len(), 2);
    assert_eq!(tags(&t, &new.id), ["stable"]);
    assert_eq!(tags(&t, &other), ["next"]);
    assert!(tags(&t, &old).is_empty());
    assert!(t.store.get(&old).unwrap().is_some());

    // The same image again is not a duplicate of itself.
    let again = import(&t, "example.com/a", "1", "new", OnDuplicate::Refuse).unwrap();
    assert!(again.existed);
}
