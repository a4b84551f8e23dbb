//! `jetpack trust`: keys trusted to sign images, per name prefix or for every image.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jetpack_fetch::keys::fingerprint_of;
use jetpack_fetch::{Client, Insecure, KeyInfo, Scope, TrustStore};
use jetpack_store::Config;

use crate::fmt;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub command: Option<TrustCommand>,
    /// Trust the key for images named NAME or below it (whole path components).
    #[arg(long, value_name = "NAME")]
    pub prefix: Option<String>,
    /// Trust the key for every image.
    #[arg(long, conflicts_with = "prefix")]
    pub root: bool,
    /// Key file, or an https:// URL. Without it, --prefix discovers keys through the
    /// ac-discovery-pubkeys meta tag and asks before trusting them.
    #[arg(value_name = "KEYFILE|URL")]
    pub key: Option<String>,
    /// Trust keys fetched over the network without asking (check their fingerprints first).
    #[arg(short, long)]
    pub yes: bool,
    /// Trust only the key with this fingerprint, without asking.
    #[arg(long, value_name = "HEX")]
    pub fingerprint: Option<String>,
    /// Checks to skip when fetching keys: none, or http (allow plain HTTP) and tls.
    #[arg(long, value_name = "LIST", default_value = "none")]
    pub insecure_options: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum TrustCommand {
    /// List trusted keys: scope, fingerprint, user ID, algorithm, expiry.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a key (in every scope, unless --prefix or --root names one).
    Rm {
        /// The fingerprint (or at least its last 16 hex digits).
        fingerprint: String,
        #[arg(long, value_name = "NAME")]
        prefix: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        root: bool,
    },
}

pub fn run(cfg: &Config, a: TrustArgs) -> Result<ExitCode> {
    let store = TrustStore::for_store(cfg.layout().root());
    match a.command {
        Some(TrustCommand::List { json }) => list(&store, json),
        Some(TrustCommand::Rm {
            fingerprint,
            prefix,
            root,
        }) => {
            let scope = scope_of(prefix.as_deref(), root)?;
            for k in store.remove(&fingerprint, scope.as_ref())? {
                outln!("removed key {} for {}", k.fingerprint, k.scope);
            }
            Ok(ExitCode::SUCCESS)
        }
        None if a.prefix.is_none() && !a.root => list(&store, false),
        None => add(cfg, &store, &a),
    }
}

fn scope_of(prefix: Option<&str>, root: bool) -> Result<Option<Scope>> {
    Ok(match (prefix, root) {
        (Some(p), _) => Some(Scope::prefix(p)?),
        (None, true) => Some(Scope::Root),
        (None, false) => None,
    })
}

fn add(cfg: &Config, store: &TrustStore, a: &TrustArgs) -> Result<ExitCode> {
    let scope = scope_of(a.prefix.as_deref(), a.root)?.expect("prefix or root given");
    let insecure: Insecure = a.insecure_options.parse()?;
    let mut http = super::fetch::http_settings(cfg)?;
    http.allow_http = insecure.http;
    http.insecure_tls = insecure.tls;
    let client = Client::new(&http)?;
    // Keys from a file the user named are trusted as given; keys from the network need a yes.
    let sources = match (&a.key, &scope) {
        (Some(k), _) if !k.contains("://") => {
            super::check_small_file(k.as_ref(), super::KEY_FILE_LIMIT, "a key file")?;
            vec![(k.clone(), jetpack_fetch::load_keys(&client, k)?, false)]
        }
        (Some(k), _) => vec![(
            k.clone(),
            jetpack_fetch::load_keys(&client, k)?,
            k.contains("://"),
        )],
        (None, Scope::Prefix(p)) => jetpack_fetch::discover_keys(&client, p)
            .with_context(|| format!("no keys found for {p}; give a KEYFILE"))?
            .into_iter()
            .map(|(url, keys)| (url, keys, true))
            .collect(),
        (None, Scope::Root) => bail!("--root needs a KEYFILE or URL"),
    };
    let want = a.fingerprint.as_ref().map(|f| {
        f.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut added = 0;
    for (from, keys, remote) in sources {
        for key in keys {
            let fpr = fingerprint_of(&key.primary_key);
            if let Some(w) = &want
                && !fpr.ends_with(w.as_str())
            {
                continue;
            }
            let info = KeyInfo::of(&key, now);
            if remote && want.is_none() && !a.yes && !confirm(&info, &from, &scope)? {
                eprintln!("not trusting key {fpr}");
                continue;
            }
            if let Some(p) = &info.problem {
                eprintln!("warning: key {fpr} is unusable ({p}): signatures by it will be refused");
            }
            let path = store.add(&scope, &key)?;
            outln!("trusted key {fpr} for {scope} ({})", path.display());
            added += 1;
        }
    }
    match (added, &want) {
        (0, Some(w)) => bail!("no key with fingerprint {w} found"),
        (0, None) => Ok(ExitCode::from(1)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Shows the key and asks; refuses when there is no terminal to ask on.
fn confirm(info: &KeyInfo, from: &str, scope: &Scope) -> Result<bool> {
    let mut err = std::io::stderr().lock();
    writeln!(err, "Key from {from}:")?;
    describe(&mut err, info)?;
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to trust key {} without confirmation and no terminal to ask on: check its \
             fingerprint, then pass --yes or --fingerprint {}",
            info.fingerprint,
            info.fingerprint
        );
    }
    write!(err, "Trust this key for {scope}? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

fn describe(out: &mut dyn Write, info: &KeyInfo) -> Result<()> {
    let grouped: Vec<String> = info
        .fingerprint
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    writeln!(out, "  Fingerprint: {}", grouped.join(" "))?;
    for u in &info.user_ids {
        writeln!(out, "  User ID:     {u}")?;
    }
    writeln!(
        out,
        "  Algorithm:   {}, created {}, expires {}",
        info.algorithm,
        fmt::time(info.created),
        info.expires
            .map(fmt::time)
            .unwrap_or_else(|| "never".into())
    )?;
    if let Some(p) = &info.problem {
        writeln!(out, "  Unusable:    {p}")?;
    }
    Ok(())
}

fn list(store: &TrustStore, json: bool) -> Result<ExitCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let keys = store.list()?;
    if json {
        let rows: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "scope": k.scope,
                    "key": KeyInfo::of(&k.key, now),
                    "path": k.path,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "PREFIX".into(),
        "FINGERPRINT".into(),
        "USER ID".into(),
        "ALGORITHM".into(),
        "EXPIRES".into(),
    ]];
    for k in &keys {
        let info = KeyInfo::of(&k.key, now);
        table.push(vec![
            match &k.scope {
                Scope::Root => "(root)".into(),
                Scope::Prefix(p) => p.clone(),
            },
            info.fingerprint.clone(),
            info.user_ids.first().cloned().unwrap_or_default(),
            info.algorithm.clone(),
            match (&info.problem, info.expires) {
                (Some(p), _) => p.clone(),
                (None, Some(e)) => fmt::time(e),
                (None, None) => "never".into(),
            },
        ]);
    }
    out!("{}", fmt::table(&table));
    Ok(ExitCode::SUCCESS)
}
