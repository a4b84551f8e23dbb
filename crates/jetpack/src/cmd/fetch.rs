//! `jetpack fetch`, and fetching the images a pod needs but the store lacks.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use jetpack_fetch::{
    FetchOptions, Fetcher, How, HttpSettings, ImageRequest, Insecure, Progress, PullPolicy,
    Reporter,
};
use jetpack_store::{Config, Store, short_id};

/// Host overrides for tests and unusual networks: `HOST:PORT:ADDRESS[:PORT],…`.
pub const RESOLVE_ENV: &str = "JETPACK_RESOLVE";

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Image names (NAME[:VERSION][,LABEL=VALUE...]) or https://, http:// or file:// URLs of
    /// ACIs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Checks to skip: none, or a comma list of http (allow plain HTTP), tls (do not verify
    /// certificates) and signature (accept unsigned images).
    #[arg(long, value_name = "LIST", default_value = "none")]
    pub insecure_options: String,
    /// new: use a stored image that matches; update: ask the server whether the image changed
    /// (ETag, Last-Modified) and download only if it did; never: use only the store.
    #[arg(long, value_name = "POLICY", default_value = "update")]
    pub pull_policy: String,
    /// Print nothing but the image IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(cfg: &Config, a: FetchArgs) -> Result<ExitCode> {
    let insecure: Insecure = a.insecure_options.parse()?;
    let pull: PullPolicy = a.pull_policy.parse()?;
    let mut store = Store::open(cfg)?;
    let reporter = Bars::new(a.quiet);
    let mut fetcher = Fetcher::new(&mut store, options(cfg, insecure, pull)?, &reporter)?;
    for image in &a.images {
        let f = fetcher
            .fetch(image)
            .with_context(|| format!("cannot fetch {image}"))?;
        if !a.quiet {
            let how = match &f.how {
                How::InStore => "already in the store".to_string(),
                How::NotModified(url) => format!("unchanged at {url}"),
                How::Downloaded { existed: true, .. } => "downloaded, already in the store".into(),
                How::Downloaded { .. } => "fetched".into(),
            };
            eprintln!("{} {how}", f.name);
        }
        outln!("{}", f.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches the images of `req` that are named (not given by ID) as `pull` says: with `new`
/// those missing from the store, with `update` all of them (asking whether they changed), with
/// `never` none (a missing one is an error). Applies the checks `insecure` leaves on
/// (`--insecure-options` of `prepare` and `run`). Touches no network code when nothing is
/// to be fetched.
pub fn ensure_images(
    cfg: &Config,
    store: &Store,
    req: &jetpack_pod::PodRequest,
    insecure: Insecure,
    pull: PullPolicy,
) -> Result<()> {
    let named = req.apps.iter().map(|a| a.image.as_str()).filter(|i| {
        !i.starts_with("sha512-")
            && (ImageRequest::parse(i).is_ok()
                || jetpack_oci::ImageRef::parse(i).is_ok_and(|r| r.is_some()))
    });
    let stored = |i: &str| {
        !matches!(
            store.lookup(i, jetpack_store::Pick::Newest),
            Err(jetpack_store::Error::NotFound(_))
        )
    };
    let wanted: Vec<&str> = match pull {
        PullPolicy::Update => named.collect(),
        PullPolicy::New | PullPolicy::Never => named.filter(|i| !stored(i)).collect(),
    };
    if wanted.is_empty() {
        return Ok(());
    }
    if pull == PullPolicy::Never {
        bail!(
            "{} not in the store and --pull-policy=never forbids fetching: fetch or import \
             {} first",
            match wanted.as_slice() {
                [one] => format!("{one} is"),
                more => format!("{} are", more.join(", ")),
            },
            if wanted.len() == 1 { "it" } else { "them" }
        );
    }
    let mut store = Store::open(cfg)?;
    let reporter = Bars::new(false);
    let opts = options(cfg, insecure, pull)?;
    let mut fetcher = Fetcher::new(&mut store, opts, &reporter)?;
    for image in wanted {
        let f = fetcher.fetch(image).with_context(|| {
            if pull == PullPolicy::Update {
                format!("fetching {image} failed (--pull-policy=never runs what the store has)")
            } else {
                format!(
                    "{image} is not in the store and fetching it failed (fetch it with \
                     `jetpack fetch`, or import it)"
                )
            }
        })?;
        if matches!(f.how, How::Downloaded { existed: false, .. }) {
            eprintln!("fetched {} ({})", f.name, short_id(&f.id));
        }
    }
    Ok(())
}

/// Fetch options from the configuration (`fetch.ca-file`, `fetch.timeout`) and
/// `$JETPACK_RESOLVE`.
pub fn options(cfg: &Config, insecure: Insecure, pull: PullPolicy) -> Result<FetchOptions> {
    Ok(FetchOptions {
        insecure,
        pull,
        http: http_settings(cfg)?,
    })
}

pub fn http_settings(cfg: &Config) -> Result<HttpSettings> {
    let resolve = match std::env::var(RESOLVE_ENV) {
        Ok(spec) => jetpack_fetch::parse_rules(&spec).with_context(|| format!("${RESOLVE_ENV}"))?,
        Err(_) => Vec::new(),
    };
    let fetch = &cfg.settings().fetch;
    for f in &fetch.ca_files {
        super::check_small_file(f, super::KEY_FILE_LIMIT, "a fetch.ca-file")?;
    }
    Ok(HttpSettings {
        resolve,
        ..HttpSettings::from(fetch)
    })
}

/// Progress bars on a terminal (hidden otherwise) and notes on stderr.
pub struct Bars {
    quiet: bool,
    /// Draws the bars of downloads that run at once (an image's layers) one under another.
    multi: MultiProgress,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars {
            quiet,
            multi: MultiProgress::new(),
        }
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Reporter for Bars {
    fn download(&self, url: &str, total: Option<u64>) -> Box<dyn Progress> {
        if self.quiet || !std::io::stderr().is_terminal() {
            return Box::new(Bar(ProgressBar::hidden()));
        }
        let (bar, template) = match total {
            Some(t) => (
                ProgressBar::new(t),
                "{msg:30!} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{msg:30!} {spinner} {bytes} {bytes_per_sec}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let name = if url.contains("://") {
            url.rsplit('/').next().unwrap_or(url)
        } else {
            url
        };
        bar.set_message(name.to_string());
        Box::new(Bar(self.multi.add(bar)))
    }

    fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}
