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
