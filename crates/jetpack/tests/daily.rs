//! The operator's daily commands: `list`/`images` with `-q`, `--no-legend` and `--format`.
//! Listing a pod needs one prepared, so those tests need root.

mod common;

use common::{BB, Env};

#[jetpack_testutil::root_test]
fn images_quiet_no_legend_and_format() {
    let e = Env::new("dir");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    let id = v[0]["id"].as_str().unwrap().to_string();
    assert_eq!(v.as_array().unwrap().len(), 1);

    // -q: the whole ID and nothing else, with or without --no-trunc.
    assert_eq!(e.ok(&["images", "-q"]), format!("{id}\n"));
    assert_eq!(
        e.ok(&["images", "--quiet", "--no-legend"]),
        format!("{id}\n")
    );

    let table = e.ok(&["images"]);
    assert!(table.starts_with("ID "), "{table}");
    let bare = e.ok(&["images", "--no-legend"]);
    assert_eq!(bare.lines().count(), 1, "{bare}");
    // The same row, its columns as wide as their cells now that no header widens them.
    let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(&bare), words(table.lines().nth(1).unwrap()));

    let picked = e.ok(&["images", "--format", "name,tags,id", "--no-trunc"]);
    let lines: Vec<Vec<&str>> = picked
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "TAGS", "ID"]);
    assert_eq!(lines[1], [BB, "-", id.as_str()]);
    // Fields the table does not show by default, named in any case.
    let more = e.ok(&[
        "images",
        "--no-legend",
        "--format",
        "COMPRESSION,deps,last_used",
    ]);
    assert_eq!(more.split_whitespace().count(), 3, "{more}");

    // --json is unchanged by the new options, and refuses them.
    let again: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    assert_eq!(again, v);
    for bad in [
        &["images", "--json", "-q"][..],
        &["images", "--json", "--format", "id"],
        &["images", "-q", "--format", "id"],
    ] {
        let err = e.err(bad);
        assert!(err.contains("cannot be used with"), "{bad:?}: {err}");
    }
}

#[jetpack_testutil::root_test]
fn list_quiet_no_legend_and_format() {
    let e = Env::new("dir");
    assert_eq!(e.ok(&["list", "-q"]), "");
    assert_eq!(e.ok(&["list", "--no-legend"]), "");
    let a = e.ok(&["prepare", "--name", "one", "--net", "none", BB]);
    let b = e.ok(&["prepare", "--net", "none", BB]);
    let (a, b) = (a.trim(), b.trim());

    let mut quiet: Vec<String> = e.ok(&["list", "-q"]).lines().map(String::from).collect();
    quiet.sort();
    let mut want = vec![a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(quiet, want);

    let table = e.ok(&["list"]);
    assert!(table.starts_with("UUID "), "{table}");
    assert_eq!(e.ok(&["list", "--no-legend"]).lines().count(), 2);

    let picked = e.ok(&["list", "--format", "name,state,uuid,pid,exit"]);
    let mut lines = picked.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "STATE", "UUID", "PID", "EXIT"]);
    let mut rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    rows.sort();
    let mut want = vec![
        vec!["-", "prepared", b, "-", "-"],
        vec!["one", "prepared", a, "-", "-"],
    ];
    want.sort();
    assert_eq!(rows, want);
    let nets = e.ok(&["list", "--no-legend", "--format", "net,started"]);
    assert!(
        nets.lines().all(|l| l.split_whitespace().eq(["none", "-"])),
        "{nets}"
    );

    // --json keeps its shape.
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0]["apps"].is_array() && v[0]["uuid"].is_string());
    e.ok(&["destroy", a, b]);
}

/// An unknown field is refused before the store is opened, naming the valid ones.
#[test]
fn unknown_format_field() {
    let e = Env::bare("dir");
    for (cmd, valid) in [
        (
            "list",
            "uuid,name,state,networks,apps,images,created,exit,net,started,exited,pid",
        ),
        (
            "images",
            "id,name,labels,tags,size,imported,signer,digest,reference,aci_size",
        ),
    ] {
        for bad in ["uuid,nope", "", "name,,state"] {
            let err = e.err(&[cmd, "--format", bad]);
            assert!(
                err.contains("--format: unknown field"),
                "{cmd} {bad:?}: {err}"
            );
            assert!(err.contains(valid), "{cmd} {bad:?}: {err}");
        }
    }
    assert!(!e.root().exists(), "nothing was created");
}
