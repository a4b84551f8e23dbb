//! Movable tags on the command line: `image tag`/`untag`, `NAME@TAG` wherever an image is
//! named, tags in `images` and `image show`, `image rm` taking tags along, `import` and
//! `build` of an image with the name and labels of a stored one (`--replace`, `build -t`).

use std::path::{Path, PathBuf};

mod common;

use common::{BB, Env};
use jetpack_testutil::aci::Aci;
use jetpack_testutil::root_test;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small ACI `example.com/small,version=VERSION` whose content is `marker`.
fn small(env: &Env, version: &str, marker: &str) -> PathBuf {
    let mut a = Aci::new();
    a.file("rootfs/marker", marker.as_bytes(), 0o644);
    let tar = a
        .named(
            "example.com/small",
            &format!(r#","labels":[{{"name":"version","value":"{version}"}}]"#),
        )
        .tar();
    let p = env.dir().join(format!("{marker}.aci"));
    std::fs::write(&p, tar).unwrap();
    p
}

fn import(env: &Env, args: &[&str]) -> (String, String) {
    let o = env.out(&[&["import"], args].concat());
    assert!(o.status.success(), "{o:?}");
    (
        String::from_utf8(o.stdout).unwrap().trim().to_string(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

fn json_tags(env: &Env, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {v}"))["tags"]
        .clone()
}

#[root_test]
fn tag_untag_and_name_at_tag() {
    let env = Env::bare("dir");
    env.ok(&["init"]);
    let (v1, _) = import(&env, &["-q", s(&small(&env, "1", "one"))]);
    let (v2, _) = import(&env, &["-q", s(&small(&env, "2", "two"))]);

    let out = env.ok(&["image", "tag", &v1, "stable", "prod"]);
    assert!(
        out.contains("as example.com/small@stable") && out.contains("as example.com/small@prod"),
        "{out}"
    );
    // NAME@TAG wherever an image is named: the tagged one, not the newest.
    let shown = env.ok(&["image", "show", "example.com/small@stable"]);
    assert!(shown.contains(&format!("ID:          {v1}")), "{shown}");
    assert!(
        shown.contains("Tags:        example.com/small@prod, example.com/small@stable"),
        "{shown}"
    );
    let m = env.ok(&["image", "cat-manifest", "example.com/small@prod"]);
    assert!(m.contains("\"1\""), "{m}");
    let exported = env.dir().join("out.aci");
    env.ok(&["image", "export", "example.com/small@prod", s(&exported)]);
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(small(&env, "1", "one")).unwrap()
    );
    let table = env.ok(&["images"]);
    assert!(table.lines().next().unwrap().contains("TAGS"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&v1[..39]) && l.contains("prod,stable")),
        "{table}"
    );
    assert_eq!(json_tags(&env, &v1), serde_json::json!(["prod", "stable"]));
    assert_eq!(json_tags(&env, &v2), serde_json::json!([]));

    // Setting it on another image of the name moves it, and says so.
    let out = env.ok(&["image", "tag", "example.com/small:2", "stable"]);
    assert!(
        out.contains(&format!(
            "moved example.com/small@stable from {}",
            &v1[..39]
        )),
        "{out}"
    );
    assert!(
        env.ok(&["image", "show", "example.com/small@stable"])
            .contains(&v2)
    );
    let out = env.ok(&["image", "tag", &v2, "stable"]);
    assert!(out.contains("already names"), "{out}");

    // Bad input.
    let e = env.err(&["image", "tag", &v1, "Not-Valid"]);
    assert!(e.contains("\"Not-Valid\" is not a valid tag"), "{e}");
    let e = env.err(&["image", "tag", &v1, "sha512-abcd"]);
    assert!(e.contains("image ID or digest"), "{e}");
    let e = env.err(&["image", "tag", "example.com/none", "x"]);
    assert!(e.contains("no image matching example.com/none"), "{e}");
    let e = env.err(&["image", "show", "example.com/small@nope"]);
    assert!(
        e.contains("example.com/small has no tag nope; its tags are: prod (")
            && e.contains("stable ("),
        "{e}"
    );
    let e = env.err(&["run", "example.com/small@nope"]);
    assert!(e.contains("has no tag nope"), "{e}");
    let e = env.err(&["image", "show", "example.com/small:1@prod"]);
    assert!(e.contains("image name alone"), "{e}");

    // untag IMAGE TAG removes the tag of IMAGE's name; untag NAME@TAG too; images stay.
    let out = env.ok(&["image", "untag", &v1, "stable"]);
    assert!(out.contains(&format!("it named {}", &v2[..39])), "{out}");
    let out = env.ok(&["image", "untag", "example.com/small@prod"]);
    assert!(out.contains("removed tag example.com/small@prod"), "{out}");
    let e = env.err(&["image", "untag", &v1, "prod"]);
    assert!(e.contains("no tags at all"), "{e}");
    let e = env.err(&["image", "untag", &v1]);
    assert!(e.contains("give the tags to remove"), "{e}");
    assert_eq!(image_ids(&env).len(), 2);

    // rm takes the image's tags with it.
    env.ok(&["image", "tag", &v1, "old"]);
    let out = env.ok(&["image", "rm", "example.com/small@old"]);
    assert!(out.contains("and its tags old"), "{out}");
    let e = env.err(&["image", "show", "example.com/small@old"]);
    assert!(e.contains("has no tag old"), "{e}");
    assert_eq!(image_ids(&env), [v2]);
}

fn image_ids(env: &Env) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// `import` keeps an image of the same name and labels beside the stored one (tags stay),
/// `import --replace` moves the tags.
#[root_test]
fn import_of_the_same_name_and_labels() {
    let env = Env::bare("dir");
    env.ok(&["init"]);
    let (old, _) = import(&env, &["-q", s(&small(&env, "1", "old"))]);
    env.ok(&["image", "tag", &old, "stable"]);
    let (kept, said) = import(&env, &[s(&small(&env, "1", "kept"))]);
    assert!(
        said.contains(&format!("also stored as {}", &old[..39])) && said.contains("--replace"),
        "{said}"
    );
    assert!(
        env.ok(&["image", "show", "example.com/small@stable"])
            .contains(&old)
    );
    let (new, said) = import(&env, &["--replace", s(&small(&env, "1", "new"))]);
    assert!(said.contains("moved tags stable"), "{said}");
    assert!(
        env.ok(&["image", "show", "example.com/small@stable"])
            .contains(&new)
    );
    assert_eq!(image_ids(&env).len(), 3, "the old images stay stored");
    assert_eq!(json_tags(&env, &kept), serde_json::json!([]));
}

/// A build names its parent by tag, refuses a result that duplicates a stored image, and
/// with `--replace` moves the tag: `run NAME@TAG` then runs the new image.
#[root_test]
fn build_replace_and_run_by_tag() {
    let env = Env::new("overlay");
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    env.ok(&["image", "tag", BB, "base"]);
    let parent = format!("{BB}@base");
    let build = |v: &str, extra: &[&str]| {
        let script = format!("echo {v} > /v");
        let args = [
            &["build", "--dir", s(&dir), "--net", "none"][..],
            extra,
            &[
                "--name",
                "example.com/app",
                "-l",
                "version=1",
                &parent,
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
        ]
        .concat();
        env.out(&args)
    };
    let o = build("first", &["-t", "stable"]);
    assert!(o.status.success(), "{o:?}");
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tagged example.com/app@stable"),
        "{o:?}"
    );
    let run = |image: &str| {
        env.ok(&[
            "run",
            "--rm",
            "--net=none",
            image,
            "--exec",
            "/bin/cat",
            "--",
            "/v",
        ])
    };
    assert_eq!(run("example.com/app@stable"), "first\n");

    // The same name and labels again: refused, nothing stored, no pod left.
    let before = image_ids(&env).len();
    let o = build("second", &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("example.com/app,")
            && e.contains(",version=1 is already")
            && e.contains(&format!("already stored as image {}", &first[..39]))
            && e.contains("tags: stable")
            && e.contains("use --replace"),
        "{e}"
    );
    assert_eq!(image_ids(&env).len(), before);
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");

    // --replace stores it and moves the tag; the old image stays, untagged.
    let o = build("second", &["--replace"]);
    assert!(o.status.success(), "{o:?}");
    let second = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains(&format!("replaced {}", &first[..39])) && said.contains("moved tags stable"),
        "{said}"
    );
    assert_eq!(run("example.com/app@stable"), "second\n");
    assert_eq!(run(&first), "first\n");
    assert_eq!(json_tags(&env, &first), serde_json::json!([]));
    assert_eq!(json_tags(&env, &second), serde_json::json!(["stable"]));
    let e = env.err(&["build", "-t", "Bad", &parent, "--", "/bin/true"]);
    assert!(e.contains("not a valid tag"), "{e}");
}
