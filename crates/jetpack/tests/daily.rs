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

/// Pod UUIDs `list -q` shows.
fn uuids(e: &Env) -> Vec<String> {
    e.ok(&["list", "-q"]).lines().map(String::from).collect()
}

#[jetpack_testutil::root_test]
fn manifest_and_dry_run() {
    let e = Env::new("dir");
    let args = [
        "--net",
        "none",
        "-a",
        "k=v",
        BB,
        "--exec",
        "/bin/echo",
        "--set-env",
        "X=1",
        "--",
        "hi",
    ];
    let mut dry = vec!["prepare", "-n"];
    dry.extend(args);
    let printed = e.ok(&dry);
    assert!(uuids(&e).is_empty(), "a dry run prepares nothing");
    assert_eq!(std::fs::read_dir(e.root().join("pods")).unwrap().count(), 0);
    let m: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(m["acKind"], "PodManifest");
    let id: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    assert_eq!(m["apps"][0]["image"]["id"], id[0]["id"]);
    assert_eq!(
        m["apps"][0]["app"]["exec"],
        serde_json::json!(["/bin/echo", "hi"])
    );

    // The pod prepared from the same arguments has that manifest, printed pretty.
    let mut real = vec!["prepare", "--name", "web"];
    real.extend(args);
    let uuid = e.ok(&real).trim().to_string();
    let shown = e.ok(&["manifest", "web"]);
    assert!(shown.contains("\n  \"acKind\""), "pretty JSON: {shown}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
        m
    );
    assert_eq!(e.ok(&["manifest", &uuid[..8]]), shown);
    // Still there once the pod has run.
    e.ok(&["run", &uuid]);
    assert_eq!(e.ok(&["manifest", &uuid]), shown);

    // --port is part of the manifest a dry run prints, as of the pod.
    let ported = e.ok(&["prepare", "--dry-run", "--port", "http:8080", BB]);
    let ports = &serde_json::from_str::<serde_json::Value>(&ported).unwrap()["ports"];
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["hostPort"], 8080);

    // Bad input: clear errors, nothing made.
    let err = e.err(&["manifest", "nosuchpod"]);
    assert!(err.contains("no pod"), "{err}");
    let err = e.err(&["prepare", "-n", "--net", "none", "example.com/missing"]);
    assert!(
        err.contains(
            "--dry-run uses stored images only (fetch or import example.com/missing first)"
        ),
        "{err}"
    );
    let err = e.err(&["run", "-n", BB]);
    assert!(err.contains("unknown option -n"), "{err}");
    assert_eq!(uuids(&e), vec![uuid.clone()]);
    e.ok(&["destroy", &uuid]);
}

#[jetpack_testutil::root_test]
fn uuid_file_save() {
    let e = Env::new("dir");
    let f = e.dir().join("prepared.uuid");
    let fs = f.to_str().unwrap();
    let uuid = e.ok(&["prepare", "--uuid-file-save", fs, "--net", "none", BB]);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), uuid);

    // run writes it too, and still exits with the app's status.
    let g = e.dir().join("run.uuid");
    let gs = g.to_str().unwrap();
    let script = "echo started; exit 3";
    let o = e.out(&[
        "run",
        "--uuid-file-save",
        gs,
        "--net",
        "none",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    assert_eq!(o.status.code(), Some(3));
    let ran = std::fs::read_to_string(&g).unwrap();
    let ran = ran.trim();
    assert!(uuids(&e).contains(&ran.to_string()), "{ran}");
    assert_eq!(
        e.ok(&["list", "--no-legend", "--format", "state"])
            .matches("exited")
            .count(),
        1
    );

    let before = uuids(&e);
    // A file in a directory that does not exist, a directory, or a place where no file can be
    // made (procfs): refused, and no pod is left behind.
    let missing = e.dir().join("no/such/dir/uuid");
    for (cmd, target, want) in [
        ("prepare", missing.to_str().unwrap(), "cannot use"),
        ("run", missing.to_str().unwrap(), "cannot use"),
        (
            "prepare",
            e.dir().to_str().unwrap(),
            "a directory, not a file",
        ),
        (
            "prepare",
            "/proc/jetpack-test-uuid",
            "cannot write /proc/jetpack-test-uuid",
        ),
        (
            "run",
            "/proc/jetpack-test-uuid",
            "cannot write /proc/jetpack-test-uuid",
        ),
    ] {
        let err = e.err(&[cmd, "--uuid-file-save", target, "--net", "none", BB]);
        assert!(err.contains(want), "{cmd} {target}: {err}");
        assert_eq!(uuids(&e), before, "{cmd} {target}");
    }
    let err = e.err(&["prepare", "-n", "--uuid-file-save", fs, BB]);
    assert!(err.contains("--dry-run prepares no pod"), "{err}");
    for u in &before {
        e.ok(&["destroy", u]);
    }
    assert!(uuids(&e).is_empty());
}

/// `completion`: a script per shell, bash's valid for `bash -n`; an unknown shell is refused.
#[test]
fn completion_scripts() {
    let e = Env::bare("dir");
    let bash = e.ok(&["completion", "bash"]);
    assert!(
        bash.contains("complete -F _jetpack") && bash.contains("manifest"),
        "{bash}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("jetpack.bash");
    std::fs::write(&f, &bash).unwrap();
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&f)
        .status()
        .unwrap();
    assert!(st.success(), "bash -n refuses the completion script");
    // Options of the commands are offered, --format among them.
    assert!(
        bash.contains("--no-legend") && bash.contains("--format"),
        "{bash}"
    );
    assert!(e.ok(&["completion", "zsh"]).starts_with("#compdef jetpack"));
    assert!(
        e.ok(&["completion", "fish"])
            .contains("complete -c jetpack")
    );
    let err = e.err(&["completion", "tcsh"]);
    assert!(err.contains("possible values: bash, zsh, fish"), "{err}");
    assert!(!e.root().exists(), "no store is touched");
}

/// `man DIR`: a page for jetpack and for each command, made from the same help text.
#[test]
fn man_pages() {
    let e = Env::bare("dir");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let listed = e.ok(&["man", out.to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(listed.lines().count(), names.len());
    for page in [
        "jetpack.1",
        "jetpack-list.1",
        "jetpack-manifest.1",
        "jetpack-image-show.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "jetpack-help.1"), "{names:?}");
    let list = std::fs::read_to_string(out.join("jetpack-list.1")).unwrap();
    assert!(list.contains(".TH jetpack-list 1 "), "{list}");
    assert!(
        list.contains(concat!("\"jetpack ", env!("CARGO_PKG_VERSION"))),
        "{list}"
    );
    assert!(
        list.contains("no\\-legend") && list.contains("Print only full pod UUIDs"),
        "{list}"
    );

    // A file where the directory should be: refused, nothing written.
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let err = e.err(&["man", file.to_str().unwrap()]);
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// scripts/install.sh installs the man pages and the completions beside the binary.
#[test]
fn install_puts_man_pages_and_completions() {
    let dest = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(common::repo().join("scripts/install.sh"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/opt/jp")
        .env("JETPACK_BIN", env!("CARGO_BIN_EXE_jetpack"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let share = dest.path().join("opt/jp/share");
    for f in [
        "man/man1/jetpack.1",
        "man/man1/jetpack-run.1",
        "bash-completion/completions/jetpack",
        "zsh/site-functions/_jetpack",
        "fish/vendor_completions.d/jetpack.fish",
    ] {
        let m = std::fs::metadata(share.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(m.len() > 100, "{f}");
    }
}
