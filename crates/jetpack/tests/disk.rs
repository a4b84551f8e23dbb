//! The operator's disk commands: `image gc` (what it keeps: images in pods, recently used,
//! tagged, depended on, the newest --keep of a name; --dry-run changes nothing), `system df`
//! (its numbers agree with `images`) and `ps POD` (a running pod's processes from the host).

use std::collections::BTreeSet;

mod common;

use common::Env;
use jetpack_testutil::aci::simple_aci;
use jetpack_testutil::root_test;

fn import_aci(env: &Env, file: &str, aci: Vec<u8>) -> String {
    let p = env.dir().join(file);
    std::fs::write(&p, aci).unwrap();
    env.ok(&["import", "-q", p.to_str().unwrap()])
        .trim()
        .to_string()
}

fn small(env: &Env, name: &str, version: &str, deps: &str) -> String {
    let file = format!("{}-{version}.aci", name.replace('/', "_"));
    import_aci(
        env,
        &file,
        simple_aci(name, &[("version", version)], deps, &file),
    )
}

fn dep_on(name: &str) -> String {
    format!(
        r#","dependencies":[{{"imageName":"{name}","labels":[{{"name":"version","value":"1"}}]}}]"#
    )
}

/// Sets the import time (and a recorded last use) of every image to `secs` ago, the images
/// listed in `extra` a further second each, in order: so they are old, and ordered.
fn age(env: &Env, secs: i64, extra: &[&str]) {
    let db = rusqlite::Connection::open(env.root().join("jetpack.db")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    db.execute(
        "UPDATE images SET imported = ?1, last_used = CASE WHEN last_used IS NULL THEN NULL ELSE ?1 END",
        [now - secs],
    )
    .unwrap();
    for (i, id) in extra.iter().enumerate() {
        db.execute(
            "UPDATE images SET imported = ?1 WHERE id = ?2",
            rusqlite::params![now - secs - 100 + i as i64, id],
        )
        .unwrap();
    }
}

fn ids(env: &Env) -> BTreeSet<String> {
    env.ok(&["images", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn short(id: &str) -> &str {
    &id[..39]
}

#[root_test]
fn image_gc_keeps_used_recent_tagged_and_depended_on_images() {
    let env = Env::new("overlay");
    let bb = ids(&env).into_iter().next().unwrap();
    let old: Vec<String> = ["1", "2", "3"]
        .iter()
        .map(|v| small(&env, "example.com/old", v, ""))
        .collect();
    let pinned = small(&env, "example.com/pinned", "1", "");
    env.ok(&["image", "tag", &pinned, "stable"]);
    let base = small(&env, "example.com/base", "1", "");
    let top = small(&env, "example.com/top", "1", &dep_on("example.com/base"));
    let lib = small(&env, "example.com/lib", "1", "");
    let app = small(&env, "example.com/app", "1", &dep_on("example.com/lib"));
    env.ok(&["image", "tag", &app, "prod"]);
    let used_aci = env.busybox("example.com/used", "1.0.0");
    let used = env.ok(&["import", "-q", used_aci.to_str().unwrap()]);
    let used = used.trim().to_string();
    let recent_aci = env.busybox("example.com/recent", "1.0.0");
    let recent = env.ok(&["import", "-q", recent_aci.to_str().unwrap()]);
    let recent = recent.trim().to_string();

    // A prepared pod names `used`; a pod prepared from `recent` after the aging and then
    // destroyed leaves only its recorded use.
    env.ok(&["prepare", "--net=none", "example.com/used"]);
    age(&env, 2 * 86400, &[&old[0], &old[1], &old[2]]);
    let gone = env.ok(&["prepare", "--net=none", "example.com/recent"]);
    env.ok(&["destroy", gone.trim()]);
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    let row = |id: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert!(
        row(&recent)["last_used"].is_i64(),
        "prepare records last use: {rows}"
    );
    assert!(row(&pinned)["last_used"].is_null(), "{rows}");

    let before = ids(&env);
    // Everything was aged two days: the default (24h) collects; --dry-run only lists.
    let dry = env.ok(&["image", "gc", "--dry-run"]);
    assert_eq!(ids(&env), before, "--dry-run removed something: {dry}");
    let listed = |out: &str, verb: &str| -> BTreeSet<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix(verb))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    let shorts = |ids: &[&String]| -> BTreeSet<String> {
        ids.iter().map(|i| short(i).to_string()).collect()
    };
    let all_old = [&old[0], &old[1], &old[2], &base, &top, &bb];
    assert_eq!(listed(&dry, "would remove "), shorts(&all_old), "{dry}");
    let pos = |out: &str, id: &str| out.find(short(id)).unwrap();
    assert!(
        pos(&dry, &top) < pos(&dry, &base),
        "a dependent goes first: {dry}"
    );
    assert!(dry.contains("6 images, would reclaim"), "{dry}");
    let df = df(&env);
    assert_eq!(df["images"]["reclaimable_count"], 6, "{df}");
    // A longer --older-than keeps them all.
    let none = env.ok(&["image", "gc", "--older-than", "3d"]);
    assert!(none.contains("0 images, reclaimed 0 B"), "{none}");

    // --keep 1 keeps the newest of each name: of `old`, two go.
    let out = env.ok(&["image", "gc", "--keep", "1"]);
    assert_eq!(
        listed(&out, "removed "),
        shorts(&[&old[0], &old[1]]),
        "{out}"
    );
    let out = env.ok(&["image", "gc"]);
    assert_eq!(
        listed(&out, "removed "),
        shorts(&[&old[2], &base, &top, &bb]),
        "{out}"
    );
    assert!(pos(&out, &top) < pos(&out, &base), "{out}");
    let expect: BTreeSet<String> = [&pinned, &lib, &app, &used, &recent]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(ids(&env), expect, "{out}");
    // --older-than 0s: every image nothing else keeps, the recently used one too.
    let out = env.ok(&["image", "gc", "--older-than", "0s"]);
    assert_eq!(listed(&out, "removed "), shorts(&[&recent]), "{out}");
    // What stays still works: the pod's image, the tagged app with its dependency.
    env.ok(&["image", "show", "example.com/app@prod"]);
    env.ok(&["image", "show", &lib]);
    let bad = env.err(&["image", "gc", "--older-than", "soon"]);
    assert!(bad.contains("bad duration"), "{bad}");
}

fn df(env: &Env) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["system", "df", "--json"])).unwrap()
}

#[root_test]
fn system_df_agrees_with_images_and_list() {
    let env = Env::new("overlay");
    small(&env, "example.com/one", "1", "");
    env.ok(&["prepare", "--net=none", jetpack_testutil::BB]);
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    let rows = rows.as_array().unwrap();
    let sum = |f: &str| rows.iter().map(|r| r[f].as_u64().unwrap()).sum::<u64>();
    let v = df(&env);
    assert_eq!(v["images"]["count"], rows.len(), "{v}");
    assert_eq!(v["images"]["size"], sum("tree_size"), "{v}");
    assert_eq!(v["images"]["files"], sum("aci_size"), "{v}");
    // Just imported: `image gc` with its defaults keeps them all.
    assert_eq!(v["images"]["reclaimable"], 0, "{v}");
    assert_eq!(v["layers"]["count"], 0, "ACIs have no OCI layers: {v}");
    assert_eq!(v["pods"]["count"], 1, "{v}");
    assert_eq!(v["pods"]["states"]["prepared"], 1, "{v}");
    assert!(
        v["pods"]["size"].as_u64().unwrap() > 0,
        "the pod's state and manifest: {v}"
    );
    let table = env.ok(&["system", "df"]);
    assert!(table.starts_with("TYPE"), "{table}");
    assert!(table.contains("(1 prepared)"), "{table}");

    // Two OCI images sharing their first layer: three layers in the images, two stored.
    use jetpack_testutil::oci;
    const MT: &str = "application/vnd.oci.image.layer.v1.tar";
    let a = oci::layer(&[("a", Ok(Some(&[7u8; 1000][..])))]);
    let b = oci::layer(&[("b", Ok(Some(&[8u8; 500][..])))]);
    for (tag, layers) in [("one", vec![a.clone()]), ("two", vec![a, b])] {
        let dir = env.dir().join(format!("oci-{tag}"));
        let layers: Vec<_> = layers.into_iter().map(|l| (l.clone(), l, MT)).collect();
        oci::layout(&dir, tag, &layers);
        env.ok(&["import", &format!("oci:{}:{tag}", dir.display())]);
    }
    let v = df(&env);
    assert_eq!(v["layers"]["count"], 2, "{v}");
    assert_eq!(v["layers"]["size"], 1500, "the layers' files: {v}");
}

#[root_test]
fn ps_lists_a_running_pods_processes_with_their_app() {
    let env = Env::new("overlay");
    let bb = jetpack_testutil::BB;
    let mut child = env.spawn(&[
        "run",
        "--net=none",
        "--name",
        "sleeper",
        bb,
        "--exec",
        "/bin/sleep",
        "--",
        "1000",
    ]);
    let row = env.wait_running_or(&mut child, "sleeper");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let app = row["apps"][0]["name"].as_str().unwrap().to_string();
    // The app may still be between the init's fork and its exec: wait for the sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let procs = loop {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["ps", "--json", "sleeper"])).unwrap();
        let found = v
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["command"] == "/bin/sleep 1000");
        if found || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let list = procs.as_array().unwrap();
    assert_eq!(list[0]["pid"], row["pid"], "the init first: {procs}");
    assert!(list[0]["app"].is_null(), "{procs}");
    let sleep = list
        .iter()
        .find(|p| p["command"] == "/bin/sleep 1000")
        .unwrap_or_else(|| panic!("no sleep in {procs}"));
    assert_eq!(sleep["app"], app.as_str(), "{procs}");
    assert_eq!(sleep["uid"], 0, "{procs}");
    let table = env.ok(&["ps", &uuid]);
    let line = table
        .lines()
        .find(|l| l.ends_with("/bin/sleep 1000"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(&format!(" {app} ")), "{table}");

    env.ok(&["kill", "sleeper"]);
    child.wait().unwrap();
    let err = env.err(&["ps", "sleeper"]);
    assert!(err.contains("is not running (exited)"), "{err}");
    let err = env.err(&["ps", "no-such-pod"]);
    assert!(err.contains("no-such-pod"), "{err}");
}
