//! Pod views: list, status, manifest.

use std::process::ExitCode;

use anyhow::Result;
use jetpack_pod::{PodRecord, Pods, Status};
use jetpack_store::{Config, Store};

use crate::fmt::{self, View};

fn row(pods: &Pods, rec: &PodRecord, status: Status) -> serde_json::Value {
    let apps: Vec<serde_json::Value> = rec
        .apps
        .iter()
        .map(|a| {
            serde_json::json!({
                "name": a.name,
                "image": a.image,
                "image_name": a.image_name,
                "exit": pods.app_exit(&rec.uuid, &a.name),
            })
        })
        .collect();
    let alive = matches!(status, Status::Running | Status::Restarting);
    // Addresses belong to a running pod only; an exited one has given them back.
    let networks = if status == Status::Running {
        rec.networks.clone()
    } else {
        Vec::new()
    };
    serde_json::json!({
        "uuid": rec.uuid,
        "name": rec.name,
        "state": status,
        "net": rec.net,
        "networks": networks,
        "created": rec.created,
        "started": rec.started,
        "exited": rec.exited,
        "pid": if status == Status::Running { rec.pid } else { None },
        "exit": rec.exit,
        "apps": apps,
        "restart_policy": rec.service.restart_policy,
        "restarts": rec.service.restarts,
        // Only while it lives (a killed supervisor leaves its pid in the state).
        "supervisor": if alive { rec.service.supervisor } else { None },
        "ready": if status == Status::Running { rec.service.ready } else { None },
        "restart_at": if status == Status::Restarting { rec.service.restart_at } else { None },
    })
}

/// Every field of `list --format`, and the default columns (the first eight).
const POD_FIELDS: [&str; 14] = [
    "uuid",
    "name",
    "state",
    "networks",
    "apps",
    "images",
    "created",
    "exit",
    "net",
    "started",
    "exited",
    "pid",
    "restart_policy",
    "restarts",
];

pub fn list(cfg: &Config, view: &View) -> Result<ExitCode> {
    let cols = view.columns(&POD_FIELDS, &POD_FIELDS[..8], "uuid")?;
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let recs: Vec<PodRecord> = pods.all()?.into_iter().filter_map(|(_, r)| r).collect();
    // A pod destroyed by another process since it was read is not shown.
    let recs: Vec<(PodRecord, Status)> = recs
        .into_iter()
        .filter_map(|r| match pods.status(&r) {
            Err(jetpack_pod::Error::Gone(_)) => None,
            s => Some(s.map(|s| (r, s))),
        })
        .collect::<std::result::Result<_, _>>()?;
    if view.json {
        let rows: Vec<serde_json::Value> = recs.iter().map(|(r, s)| row(&pods, r, *s)).collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let time = |t: Option<i64>| t.map_or("-".into(), fmt::time);
    let table: Vec<Vec<String>> = recs
        .iter()
        .map(|(r, status)| {
            let running = *status == Status::Running;
            let apps: Vec<String> = r.apps.iter().map(|a| a.name.clone()).collect();
            let images: Vec<String> = r.apps.iter().map(|a| a.image_name.clone()).collect();
            let exits: Vec<String> = r
                .apps
                .iter()
                .filter_map(|a| {
                    pods.app_exit(&r.uuid, &a.name)
                        .map(|c| format!("{}={c}", a.name))
                })
                .collect();
            let nets: Vec<String> = r
                .networks
                .iter()
                .filter(|_| running)
                .map(|n| {
                    let ips: Vec<&str> = n
                        .addresses
                        .iter()
                        .map(|a| a.split('/').next().unwrap_or(a))
                        .collect();
                    format!("{}:{}", n.name, ips.join("+"))
                })
                .collect();
            vec![
                r.uuid.clone(),
                r.name.clone().unwrap_or_else(|| "-".into()),
                status.to_string(),
                if nets.is_empty() {
                    r.net.clone()
                } else {
                    nets.join(",")
                },
                apps.join(","),
                images.join(","),
                fmt::time(r.created),
                // Every cell holds something, so that `awk` finds the same columns in each row.
                if exits.is_empty() {
                    "-".into()
                } else {
                    exits.join(",")
                },
                r.net.clone(),
                time(r.started),
                time(r.exited),
                r.pid
                    .filter(|_| running)
                    .map_or("-".into(), |p| p.to_string()),
                r.service.restart_policy.to_string(),
                r.service.restarts.to_string(),
            ]
        })
        .collect();
    out!("{}", fmt::columns(&POD_FIELDS, &cols, table, view.legend));
    Ok(ExitCode::SUCCESS)
}

pub fn manifest(cfg: &Config, pod: &str) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let text = jetpack_pod::manifest_text(&pods, &rec)?;
    out!("{text}");
    if !text.ends_with('\n') {
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(cfg: &Config, pod: &str, json: bool) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let mut v = row(&pods, &rec, pods.status(&rec)?);
    // What became of the isolators at the last start (appc requires making this available).
    let isolators = jetpack_pod::isolators::Report::read(&pods.dir(&rec.uuid));
    if json {
        v["isolators"] = serde_json::to_value(isolators.map(|r| r.isolators))?;
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("UUID:     {}", rec.uuid);
    outln!("Name:     {}", rec.name.as_deref().unwrap_or("-"));
    outln!("State:    {}", v["state"].as_str().unwrap_or_default());
    outln!("Network:  {}", rec.net);
    for n in v["networks"].as_array().into_iter().flatten() {
        let addrs: Vec<&str> = n["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        outln!(
            "Address:  {} {} {}",
            n["name"].as_str().unwrap_or_default(),
            n["ifname"].as_str().unwrap_or_default(),
            addrs.join(" ")
        );
    }
    outln!("Created:  {}", fmt::time(rec.created));
    if let Some(t) = rec.started {
        outln!("Started:  {}", fmt::time(t));
    }
    if let Some(t) = rec.exited {
        outln!("Exited:   {}", fmt::time(t));
    }
    if let Some(pid) = v["pid"].as_i64() {
        outln!("Init pid: {pid}");
    }
    if !rec.service.restart_policy.is_no() || rec.service.restarts > 0 {
        outln!(
            "Restart:  {} ({} restarts)",
            rec.service.restart_policy,
            rec.service.restarts
        );
    }
    if let Some(t) = v["restart_at"].as_i64() {
        outln!("Next run: {}", fmt::time(t));
    }
    if let Some(pid) = v["supervisor"].as_i64() {
        outln!("Supervisor pid: {pid}");
    }
    for a in &rec.apps {
        let exit = pods
            .app_exit(&rec.uuid, &a.name)
            .map(|c| format!(" exit={c}"))
            .unwrap_or_default();
        outln!(
            "App:      {} ({} {}){exit}",
            a.name,
            a.image_name,
            jetpack_store::short_id(&a.image)
        );
    }
    for e in isolators.iter().flat_map(|r| &r.isolators) {
        let scope = e
            .app
            .as_deref()
            .map_or("pod".into(), |a| format!("app {a}"));
        outln!("Isolator: {scope} {} {}: {}", e.name, e.status, e.detail);
    }
    Ok(ExitCode::SUCCESS)
}
