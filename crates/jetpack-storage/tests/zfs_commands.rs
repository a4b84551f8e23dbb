//! The exact `zfs` command lines of every operation (no ZFS needed). The integration tests in
//! `zfs.rs` run the same lines against zfs-fuse.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jetpack_storage::zfs::ZfsStorage;
use jetpack_storage::{Error, RecordingRunner, Storage};

const ROOT: &str = "/var/lib/jetpack/storage";
const D: &str = "tank/jp";

fn setup(runner: RecordingRunner) -> (Arc<RecordingRunner>, ZfsStorage) {
    let runner = Arc::new(runner);
    let s = ZfsStorage::new(Path::new(ROOT), D, runner.clone())
        .with_busy_timeout(Duration::from_secs(5));
    (runner, s)
}

/// Succeeds like zfs does for live images: the retired mark of any dataset is unset (`-`).
fn live() -> RecordingRunner {
    RecordingRunner::with_responder(|argv| {
        let retired_query =
            argv.get(1..5) == Some(&["list", "-H", "-o", "jetpack:retired"].map(String::from)[..]);
        Ok(if retired_query {
            "-\n".into()
        } else {
            String::new()
        })
    })
}

fn fail(stderr: &'static str) -> RecordingRunner {
    RecordingRunner::with_responder(move |argv| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Err(RecordingRunner::failure(&argv, stderr))
    })
}

fn fails_with(cmd: &str, stderr: &str) -> jetpack_storage::Result<String> {
    Err(RecordingRunner::failure(&["zfs", cmd], stderr))
}

#[test]
fn init_creates_the_layout() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(fails_with(
        "list",
        "cannot open 'tank/jp': dataset does not exist",
    ));
    s.init().unwrap();
    assert_eq!(
        r.lines(),
        [
            "zfs list -H -o name,mountpoint,mounted -t filesystem -d 1 tank/jp",
            "zfs create -p -o mountpoint=none tank/jp",
            "zfs create -o mountpoint=/var/lib/jetpack/storage/tmp tank/jp/tmp",
            "zfs create -o mountpoint=/var/lib/jetpack/storage/images tank/jp/images",
            "zfs create -o mountpoint=/var/lib/jetpack/storage/pods tank/jp/pods",
            "zfs create -o mountpoint=none tank/jp/retired",
        ]
    );
}

#[test]
fn init_is_idempotent_and_remounts() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok(format!(
        "tank/jp\tnone\tno\ntank/jp/tmp\t{ROOT}/tmp\tyes\ntank/jp/images\t{ROOT}/images\tno\n\
         tank/jp/pods\t{ROOT}/pods\tyes\ntank/jp/retired\tnone\tno\n"
    )));
    s.init().unwrap();
    assert_eq!(
        r.lines(),
        [
            "zfs list -H -o name,mountpoint,mounted -t filesystem -d 1 tank/jp",
            "zfs mount tank/jp/images"
        ]
    );
}

#[test]
fn init_refuses_a_moved_area() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok(
        "tank/jp\tnone\tno\ntank/jp/tmp\t/elsewhere/tmp\tyes\n".into()
    ));
    let err = s.init().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let fix = "zfs set mountpoint=/var/lib/jetpack/storage/tmp tank/jp/tmp";
    assert!(err.to_string().contains(fix), "{err}");
}

#[test]
fn temp_and_pod_trees() {
    let (r, s) = setup(live());
    assert_eq!(s.create_temp("t1").unwrap(), Path::new(ROOT).join("tmp/t1"));
    assert_eq!(
        s.clone_to_temp("img", "t2").unwrap(),
        Path::new(ROOT).join("tmp/t2")
    );
    assert_eq!(
        s.clone_for_pod("img", "p1").unwrap(),
        Path::new(ROOT).join("pods/p1")
    );
    s.discard_temp("t1").unwrap();
    s.remove_pod_tree("p1").unwrap();
    assert_eq!(
        r.lines(),
        [
            "zfs create tank/jp/tmp/t1",
            "zfs list -H -o jetpack:retired tank/jp/images/img",
            "zfs clone -o readonly=off tank/jp/images/img@seal tank/jp/tmp/t2",
            "zfs list -H -o jetpack:retired tank/jp/images/img",
            "zfs clone -o readonly=off tank/jp/images/img@seal tank/jp/pods/p1",
            "zfs destroy -r tank/jp/tmp/t1",
            "zfs destroy -r tank/jp/pods/p1",
        ]
    );
}

#[test]
fn seal_unmounts_sets_readonly_snapshots_renames_and_mounts_read_only() {
    let (r, s) = setup(RecordingRunner::new());
    assert_eq!(
        s.seal("t1", "img").unwrap(),
        Path::new(ROOT).join("images/img")
    );
    assert_eq!(
        r.lines(),
        [
            "zfs unmount tank/jp/tmp/t1",
            "zfs set readonly=on tank/jp/tmp/t1",
            "zfs snapshot tank/jp/tmp/t1@seal",
            "zfs rename tank/jp/tmp/t1 tank/jp/images/img",
            "zfs mount -o ro tank/jp/images/img",
        ]
    );
}

#[test]
fn seal_retries_busy_renames() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(fails_with(
        "unmount",
        "cannot unmount 'x': not currently mounted",
    ));
    r.push_reply(Ok(String::new()));
    r.push_reply(Ok(String::new()));
    r.push_reply(fails_with(
        "rename",
        "cannot rename 'tank/jp/tmp/t1': dataset is busy",
    ));
    s.seal("t1", "img").unwrap();
    let lines = r.lines();
    let renames = lines.iter().filter(|l| l.starts_with("zfs rename")).count();
    assert_eq!((renames, lines.len()), (2, 6), "{lines:#?}");
}

#[test]
fn seal_onto_a_live_image_fails() {
    let (r, s) = setup(RecordingRunner::new());
    for _ in 0..3 {
        r.push_reply(Ok(String::new()));
    }
    r.push_reply(fails_with(
        "rename",
        "cannot rename to 'x': dataset already exists",
    ));
    r.push_reply(Ok("-\n".into()));
    let err = s.seal("t1", "img").unwrap_err();
    assert!(
        matches!(&err, Error::Exists(d) if d == "tank/jp/images/img"),
        "{err}"
    );
    let lines = r.lines();
    assert_eq!(
        lines[4],
        "zfs list -H -o jetpack:retired tank/jp/images/img"
    );
    assert_eq!(lines.len(), 5, "no mount after a failed rename");
}

#[test]
fn seal_moves_a_retired_image_of_the_same_id_aside() {
    let (r, s) = setup(RecordingRunner::new());
    for _ in 0..3 {
        r.push_reply(Ok(String::new()));
    }
    r.push_reply(fails_with(
        "rename",
        "cannot rename to 'x': dataset already exists",
    ));
    r.push_reply(Ok("on\n".into()));
    s.seal("t1", "img").unwrap();
    let lines = r.lines();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_eq!(lines[3], "zfs rename tank/jp/tmp/t1 tank/jp/images/img");
    assert_eq!(
        lines[4],
        "zfs list -H -o jetpack:retired tank/jp/images/img"
    );
    let aside = lines[5]
        .strip_prefix("zfs rename tank/jp/images/img tank/jp/retired/img-")
        .expect(&lines[5]);
    assert!(
        aside.len() == 8 && aside.chars().all(|c| c.is_ascii_hexdigit()),
        "{aside}"
    );
    assert_eq!(lines[6], "zfs rename tank/jp/tmp/t1 tank/jp/images/img");
    assert_eq!(lines[7], "zfs mount -o ro tank/jp/images/img");
}

#[test]
fn seal_reports_a_retired_image_that_cannot_move() {
    let (r, s) = setup(RecordingRunner::with_responder(|argv| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        match argv[1] {
            "rename" if argv[2].contains("/tmp/") => {
                Err(RecordingRunner::failure(&argv, "dataset already exists"))
            }
            "rename" => Err(RecordingRunner::failure(
                &argv,
                "cannot rename 'x': dataset is busy",
            )),
            "list" => Ok("on\n".into()),
            _ => Ok(String::new()),
        }
    }));
    let s = s.with_busy_timeout(Duration::from_millis(100));
    let err = s.seal("t1", "img").unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(!r.lines().iter().any(|l| l.starts_with("zfs mount")));
}

#[test]
fn busy_retries_give_up_after_the_timeout() {
    let (r, s) = setup(fail("cannot destroy 'tank/jp/tmp/t1': dataset is busy"));
    let s = s.with_busy_timeout(Duration::from_millis(200));
    let err = s.discard_temp("t1").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("zfs destroy -r tank/jp/tmp/t1: cannot destroy"),
        "{msg}"
    );
    assert!(r.lines().len() > 1, "retried");
}

#[test]
fn missing_trees_are_fine_and_missing_images_are_not_found() {
    let (_, s) = setup(fail("cannot open 'tank/jp/tmp/t1': dataset does not exist"));
    s.discard_temp("t1").unwrap();
    s.remove_pod_tree("p1").unwrap();

    let (r, s) = setup(fail(
        "cannot open 'tank/jp/images/img': dataset does not exist",
    ));
    assert!(matches!(
        s.clone_for_pod("img", "p1"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        r.lines(),
        ["zfs list -H -o jetpack:retired tank/jp/images/img"]
    );

    // A retired image is gone as far as clones are concerned.
    let (r, s) = setup(RecordingRunner::with_responder(|_| Ok("on\n".into())));
    assert!(matches!(
        s.clone_to_temp("img", "t1"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(r.lines().len(), 1);

    let (_, s) = setup(fail(
        "cannot create 'tank/jp/tmp/t1': dataset already exists",
    ));
    assert!(matches!(s.create_temp("t1"), Err(Error::Exists(_))));
}

#[test]
fn listings_strip_the_area_and_skip_retired_images() {
    let (r, s) = setup(RecordingRunner::with_responder(|argv| {
        let area = argv.last().unwrap();
        Ok(if argv[4] == "name" {
            format!("{area}\n{area}/b\n{area}/a\n")
        } else {
            format!("{area}\t-\n{area}/b\t-\n{area}/a\t-\n{area}/old\ton\n")
        })
    }));
    assert_eq!(s.temps().unwrap(), ["a", "b"]);
    assert_eq!(s.images().unwrap(), ["a", "b"]);
    assert_eq!(s.pod_trees().unwrap(), ["a", "b"]);
    assert_eq!(
        r.lines(),
        [
            "zfs list -H -o name -t filesystem -d 1 tank/jp/tmp",
            "zfs list -H -o name,jetpack:retired -t filesystem -d 1 tank/jp/images",
            "zfs list -H -o name -t filesystem -d 1 tank/jp/pods",
        ]
    );
}

const ALL: &str = "zfs list -H -o name,origin,jetpack:retired -t filesystem -r tank";

#[test]
fn remove_image_destroys_without_clones() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok("tank\t-\t-\n\
                     tank/jp/images/img\t-\t-\n\
                     tank/other\ttank/jp/images/img2@seal\t-\n"
        .into()));
    s.remove_image("img").unwrap();
    assert_eq!(r.lines(), [ALL, "zfs destroy -r tank/jp/images/img"]);
}

#[test]
fn remove_image_retires_in_place_with_clones() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok("tank/jp/images/img\t-\t-\n\
                     tank/jp/pods/p1\ttank/jp/images/img@seal\t-\n"
        .into()));
    s.remove_image("img").unwrap();
    assert_eq!(
        r.lines(),
        [
            ALL,
            "zfs set jetpack:retired=on tank/jp/images/img",
            "zfs unmount tank/jp/images/img",
            "zfs set canmount=off tank/jp/images/img",
        ]
    );
}

#[test]
fn remove_missing_or_retired_image_is_fine() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok("tank\t-\t-\n".into()));
    s.remove_image("img").unwrap();
    r.push_reply(Ok("tank/jp/images/img\t-\ton\n\
                     tank/jp/pods/p1\ttank/jp/images/img@seal\t-\n"
        .into()));
    s.remove_image("img").unwrap();
    assert_eq!(r.lines(), [ALL, ALL]);
}

#[test]
fn collect_destroys_unreferenced_retired_images() {
    let (r, s) = setup(RecordingRunner::new());
    let listing = [
        "tank/jp/images/live\t-\t-",
        "tank/jp/images/gone\t-\ton",
        "tank/jp/images/used\t-\ton",
        "tank/jp/retired\t-\t-",
        "tank/jp/retired/a-1\t-\ton",
        "tank/jp/retired/b-2\t-\ton",
        "tank/jp/pods/p\ttank/jp/retired/b-2@seal\t-",
        "tank/jp/pods/q\ttank/jp/images/used@seal\t-",
        "tank/jp/pods/r\ttank/jp/images/live@seal\t-",
    ];
    r.push_reply(Ok(listing.join("\n") + "\n"));
    s.collect().unwrap();
    assert_eq!(
        r.lines(),
        [
            ALL,
            "zfs destroy -r tank/jp/images/gone",
            "zfs destroy -r tank/jp/retired/a-1"
        ]
    );
}

#[test]
fn bad_names_run_nothing() {
    let (r, s) = setup(live());
    for name in ["", "..", "a/b", "a b", "a@b", "a%b"] {
        let err = s.create_temp(name).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
    }
    // An image name must leave room for `tank/jp/retired/<image>-xxxxxxxx@seal`.
    let ok = "i".repeat(255 - "tank/jp/retired/".len() - "-xxxxxxxx@seal".len());
    s.clone_for_pod(&ok, "p").unwrap();
    let too_long = format!("{ok}i");
    let err = s.clone_for_pod(&too_long, "p").unwrap_err();
    assert!(err.to_string().contains("limit is 255"), "{err}");
    let bad = ZfsStorage::new(Path::new(ROOT), "/tank", Arc::new(RecordingRunner::new()));
    assert!(matches!(bad.temps(), Err(Error::Config(_))));
    assert_eq!(
        r.lines().len(),
        2,
        "only the good clone ran: {:?}",
        r.lines()
    );
}

#[test]
fn tree_delta_reads_zfs_diff_and_gives_up_without_it() {
    let (r, s) = setup(RecordingRunner::new());
    r.push_reply(Ok(format!(
        "M\t/\t{ROOT}/pods/p1/etc\n+\tF\t{ROOT}/pods/p1/etc/new\\0040file\n"
    )));
    let d = s.tree_delta("img", "p1", "x.send").unwrap().unwrap();
    assert_eq!(
        r.lines(),
        ["zfs diff -H -F tank/jp/images/img@seal tank/jp/pods/p1"]
    );
    let touched: Vec<_> = d.touched.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(touched, ["etc", "etc/new file"]);

    // zfs-fuse: no `zfs diff`, so the caller compares the trees.
    let (_, s) = setup(fail(
        "unrecognized command 'diff'\nusage: zfs command args ...",
    ));
    assert!(s.tree_delta("img", "p1", "x.send").unwrap().is_none());
    // Any other failure is an error.
    let (_, s) = setup(fail(
        "cannot open 'tank/jp/pods/p1': dataset does not exist",
    ));
    assert!(s.tree_delta("img", "p1", "x.send").is_err());
}
