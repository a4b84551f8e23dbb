//! The make helper (`share/jetpack.image.mk`) and the `images/` examples built with it, as
//! root: a copy of `images/` is built with `make -C` against a test store (JETPACK,
//! JETPACK_FLAGS), in order busybox (a base: its ACI imported), example.showenv (run on the
//! store's network, it prints its pod's UUID from the metadata service) and two-step (a
//! build on a built image that deletes files of it); a second `make` builds nothing; `make
//! clean` leaves the directories as they were. A Makefile of the test's own checks the rest of
//! the convention (prepare, JETPACK_IN_POD, BUILD_VARS, LABELS, `$(MAKE)` in the pod, a
//! rebuild when an input changes). And `scripts/install.sh` puts the helper where the
//! installed binary looks for it.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{BB, Env, repo};
use jetpack_testutil::{image_make, root_test};

/// `make -C DIR ARGS` on `env`'s store; its output.
fn make(env: &Env, dir: &Path, args: &[&str]) -> String {
    let o = image_make(dir)
        .arg(format!("JETPACK={}", env.bin().display()))
        .arg(format!("JETPACK_FLAGS={}", env.flags().join(" ")))
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "make -C {} {args:?}: {out}{}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn images(env: &Env) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    v.as_array().unwrap().clone()
}

fn id_of(env: &Env, name: &str) -> String {
    let found: Vec<String> = images(env)
        .iter()
        .filter(|i| i["name"] == name)
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found[0].clone()
}

fn saved_id(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".image.id"))
        .unwrap()
        .trim()
        .to_string()
}

fn manifest(env: &Env, image: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["image", "cat-manifest", image])).unwrap()
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let out = Command::new("find")
        .arg(".")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut v: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    v.sort();
    v
}

#[root_test]
fn images_build_with_make() {
    let env = Env::bare("overlay");
    env.ok(&["init"]);
    let src = env.dir().join("images");
    let st = Command::new("cp")
        .arg("-a")
        .arg(repo().join("images"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let pristine = listing(&src);

    // The base: its ACI written by tar and imported.
    let bb = src.join("busybox");
    make(&env, &bb, &[]);
    let bb_id = saved_id(&bb);
    assert_eq!(id_of(&env, BB), bb_id);
    assert!(bb.join("busybox.aci").is_file());
    let m = manifest(&env, BB);
    assert!(m["labels"].to_string().contains("1.0.0"), "{m}");

    // showenv: built by make inside a busybox build pod (busybox has no make of its own).
    let show = src.join("example.showenv");
    let out = make(&env, &show, &[]);
    assert!(out.contains("cp showenv /usr/bin/showenv"), "{out}");
    let show_id = saved_id(&show);
    assert_eq!(id_of(&env, "example.com/showenv"), show_id);
    let m = manifest(&env, &show_id);
    assert_eq!(m["dependencies"][0]["imageID"], bb_id.as_str(), "{m}");
    assert_eq!(m["app"]["exec"][0], "/usr/bin/showenv", "{m}");
    assert!(!show.join(".jetpack.make").exists());
    // Run on the store's network: the metadata service tells the app who it is.
    let uuid = env
        .ok(&["prepare", "example.com/showenv"])
        .trim()
        .to_string();
    let shown = env.ok(&["run", &uuid]);
    env.ok(&["destroy", &uuid]);
    for want in [
        format!("pod uuid: {uuid}"),
        "app name: showenv".to_string(),
        format!("image id: {show_id}"),
        "GREETING=hello from showenv".to_string(),
        "prints its environment".to_string(),
    ] {
        assert!(shown.contains(&want), "{want:?} not in {shown}");
    }

    // two-step: its first step on busybox, the second on the first, deleting files of it.
    let two = src.join("two-step");
    make(&env, &two, &["BUILD_NET=none"]);
    let first_id = saved_id(&two.join("first"));
    let two_id = saved_id(&two);
    assert_eq!(id_of(&env, "example.com/two-step-first"), first_id);
    assert_eq!(id_of(&env, "example.com/two-step"), two_id);
    let m = manifest(&env, &two_id);
    assert_eq!(m["dependencies"][0]["imageID"], first_id.as_str(), "{m}");
    let wl = m["pathWhitelist"].to_string();
    for kept in ["/opt/two-step/kept", "/opt/two-step/second", "/bin/busybox"] {
        assert!(wl.contains(&format!("\"{kept}\"")), "{kept} not in {wl}");
    }
    for gone in ["scratch", "cache"] {
        assert!(!wl.contains(gone), "{gone} in {wl}");
    }
    let seen = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        "example.com/two-step",
        "--",
        "-c",
        "find /opt | sort; cat /opt/two-step/kept /opt/two-step/second",
    ]);
    assert_eq!(
        seen,
        "/opt\n/opt/two-step\n/opt/two-step/kept\n/opt/two-step/second\nkept\nsecond step\n"
    );
    // The first step still has what the second deleted.
    let seen = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        "example.com/two-step-first",
        "--",
        "-c",
        "cat /opt/two-step/scratch /opt/two-step/cache/data",
    ]);
    assert_eq!(seen, "first step only\ncached by the first step\n");

    // Nothing changed: nothing is built again.
    let before = images(&env).len();
    make(&env, &two, &["BUILD_NET=none"]);
    make(&env, &show, &[]);
    assert_eq!(images(&env).len(), before);

    for d in [&bb, &show, &two] {
        make(&env, d, &["clean"]);
    }
    assert_eq!(listing(&src), pristine);
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

/// A Makefile of a test's own: `prepare` runs on the host first, `build` in the pod with
/// `JETPACK_IN_POD` set and `BUILD_VARS` given, `$(MAKE)` works in the pod, LABELS are
/// labels, TAGS tags, BUILD_CP copies in; a change of a file in `BUILD_DEPS` builds again,
/// replacing the image (the tag moves); `aci` and `flat-aci` export it.
const FEATURES: &str = "PARENT = example.com/busybox
NAME = example.com/features
LABELS = channel=test
TAGS = latest
BUILD_CP = ../extra.txt
BUILD_VARS = GREETING=hi
BUILD_DEPS = input.txt
JETPACK ?= jetpack
JETPACK_SHARE ?= $(shell $(JETPACK) $(JETPACK_FLAGS) config path.share)
include $(JETPACK_SHARE)/jetpack.image.mk
ifdef JETPACK_IN_POD
WHERE = pod
else
WHERE = host
endif
prepare::
\techo prepared on the $(WHERE) > prepared.txt
build::
\ttest -z '$(FAIL)'
\tcat prepared.txt input.txt > /etc/prepared
\techo built in the $(WHERE): $(GREETING) > /etc/where
\t$(MAKE) -f $(JETPACK_MAKEFILE) inner
\tcp extra.txt /etc/extra
inner:
\techo made by a sub-make > /etc/inner
";

#[root_test]
fn helper_runs_the_makefile_in_the_pod() {
    let env = Env::new("overlay");
    let dir = env.dir().join("features");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Makefile"), FEATURES).unwrap();
    std::fs::write(dir.join("input.txt"), "one\n").unwrap();
    std::fs::write(env.dir().join("extra.txt"), "copied in\n").unwrap();
    make(&env, &dir, &["BUILD_NET=none"]);
    let id = saved_id(&dir);
    let show = |image: &str| {
        env.ok(&[
            "run",
            "--rm",
            "--net=none",
            image,
            "--",
            "-c",
            "cat /etc/prepared /etc/where /etc/inner /etc/extra",
        ])
    };
    assert_eq!(
        show(&id),
        "prepared on the host\none\nbuilt in the pod: hi\nmade by a sub-make\ncopied in\n"
    );
    assert_eq!(show("example.com/features@latest"), show(&id));
    // The copy is gone from the build directory.
    assert!(!dir.join("extra.txt").exists());
    let labels = manifest(&env, &id)["labels"].to_string();
    assert!(
        labels.contains("channel") && labels.contains("test"),
        "{labels}"
    );
    assert!(!dir.join(".jetpack.make").exists());

    // A failing build fails make, stores nothing and leaves no staged make behind.
    let before = images(&env).len();
    std::fs::write(dir.join("input.txt"), "two\n").unwrap();
    let o = image_make(&dir)
        .arg(format!("JETPACK={}", env.bin().display()))
        .arg(format!("JETPACK_FLAGS={}", env.flags().join(" ")))
        .args(["BUILD_NET=none", "BUILD_VARS=FAIL=1"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{o:?}");
    assert_eq!(images(&env).len(), before);
    assert!(!dir.join(".jetpack.make").exists());
    assert_eq!(saved_id(&dir), id);

    // A changed input builds again; the name finds the newer image.
    std::fs::write(dir.join("input.txt"), "two\n").unwrap();
    make(&env, &dir, &["BUILD_NET=none"]);
    let again = saved_id(&dir);
    assert_ne!(again, id);
    assert!(show("example.com/features").contains("two\n"));
    assert!(show("example.com/features@latest").contains("two\n"));

    // The incremental ACI depends on busybox; the flat one holds everything, and both are valid.
    make(&env, &dir, &["aci", "flat-aci"]);
    let member = |aci: &str, name: &str| {
        let o = Command::new("tar")
            .args(["-xzOf", aci, name])
            .current_dir(&dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(member("image.aci", "manifest").contains("dependencies"));
    assert!(!member("image.flat.aci", "manifest").contains("dependencies"));
    assert_eq!(member("image.flat.aci", "rootfs/etc/extra"), "copied in\n");
    assert!(!member("image.flat.aci", "rootfs/bin/busybox").is_empty());
    for aci in ["image.aci", "image.flat.aci"] {
        env.ok(&["validate", dir.join(aci).to_str().unwrap()]);
    }
    make(&env, &dir, &["clean"]);
    for gone in [".image.id", "image.aci", "image.flat.aci", ".jetpack.make"] {
        assert!(!dir.join(gone).exists(), "{gone}");
    }
}

/// `scripts/install.sh` with PREFIX and DESTDIR: the binary finds the helper installed beside
/// it, as `jetpack config path.share` says.
#[test]
fn install_puts_the_helper_where_the_binary_looks() {
    let dest = tempfile::tempdir().unwrap();
    let st = Command::new(repo().join("scripts/install.sh"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/opt/jp")
        .env("JETPACK_BIN", env!("CARGO_BIN_EXE_jetpack"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let prefix = dest.path().join("opt/jp");
    let out = Command::new(prefix.join("bin/jetpack"))
        .args(["--config", "/dev/null", "config", "path.share"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let share = prefix.join("share/jetpack");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        share.to_str().unwrap()
    );
    assert_eq!(
        std::fs::read(share.join("jetpack.image.mk")).unwrap(),
        std::fs::read(repo().join("share/jetpack.image.mk")).unwrap()
    );
    // Set, it is what it was set to.
    let out = Command::new(prefix.join("bin/jetpack"))
        .args([
            "--config",
            "/dev/null",
            "-o",
            "path.share=/x/y",
            "config",
            "path.share",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "/x/y\n");
}
