//! The btrfs build path that asks `btrfs send` for the change: a build leaves no snapshot or
//! stream behind, and what a build killed half-way leaves (a read-only snapshot and its
//! stream under the storage's `tmp/`) is removed by `gc`.

use std::path::Path;

mod common;

use common::{BB, Env};
use jetpack_testutil::{must_run, root_test};

fn tmp_entries(env: &Env) -> Vec<String> {
    let tmp = env.root().join("storage/tmp");
    let mut names: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[root_test]
fn btrfs_send_leaves_nothing_and_gc_cleans_a_killed_build() {
    let env = Env::new("btrfs");
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let output = env.out(&[
        "--debug",
        "build",
        "--dir",
        dir.to_str().unwrap(),
        "--name",
        "example.com/native",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo x > /added && rm /etc/group",
    ]);
    let out = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}{log}");
    let id = out.lines().last().unwrap().to_string();
    assert!(id.starts_with("sha512-"), "{out}");
    // The change came from the send stream, not from comparing the trees.
    assert!(log.contains("send -q --no-data -p"), "{log}");
    assert!(!log.contains("comparing the trees"), "{log}");
    let listed = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        &id,
        "--",
        "-c",
        "cat /added; ls /etc",
    ]);
    assert!(
        listed.starts_with("x\n") && !listed.contains("group"),
        "{listed}"
    );
    assert_eq!(tmp_entries(&env), Vec::<String>::new());

    // What a build killed between its snapshot and its removal leaves: a read-only snapshot
    // named after a scratch whose lock is gone, and the stream beside it.
    let image = env.root().join("storage/images").join(&id);
    let snap = env.root().join("storage/tmp/0123abcd.send");
    must_run(
        "btrfs",
        &[
            "subvolume",
            "snapshot",
            "-r",
            image.to_str().unwrap(),
            snap.to_str().unwrap(),
        ],
    );
    std::fs::write(Path::new(&format!("{}.stream", snap.display())), "partial").unwrap();
    assert_eq!(tmp_entries(&env).len(), 2);
    let gc = env.ok(&["gc", "--grace", "0s"]);
    assert!(gc.contains("0123abcd.send"), "{gc}");
    assert_eq!(tmp_entries(&env), Vec::<String>::new());
}

/// On overlay a built image is stacked on its parent (nothing of the parent copied): the
/// parent cannot be removed while the child is stored, even with `--force`; the child runs
/// and exports whole; once the child is gone the parent goes too and nothing is left.
#[root_test]
fn overlay_build_is_stacked_on_its_parent() {
    let env = Env::new("overlay");
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let out = env.ok(&[
        "build",
        "--dir",
        dir.to_str().unwrap(),
        "--name",
        "example.com/stacked",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo x > /added",
    ]);
    let id = out.lines().last().unwrap().to_string();
    let own = env.root().join("storage/images").join(&id);
    assert!(own.join("added").exists());
    assert!(
        !own.join("bin/busybox").exists(),
        "the parent's files were copied"
    );
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    let parent = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_string())
        .find(|i| *i != id)
        .unwrap();
    let err = env.err(&["image", "rm", "--force", &parent]);
    assert!(err.contains("stacked on it"), "{err}");
    let shown = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        &id,
        "--",
        "-c",
        "cat /added; ls /bin/busybox",
    ]);
    assert_eq!(shown, "x\n/bin/busybox\n");
    let aci = env.dir().join("flat.aci");
    env.ok(&["image", "export", "--flat", &id, aci.to_str().unwrap()]);
    env.ok(&["image", "rm", &id]);
    env.ok(&["image", "rm", &parent]);
    assert_eq!(env.ok(&["gc", "--grace", "0s"]).trim(), "nothing to remove");
    assert_eq!(
        std::fs::read_dir(env.root().join("storage/below"))
            .unwrap()
            .count(),
        0
    );
}
