//! `completion` and `man`: generated from the clap definition, so they always match the binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::cli::{Cli, Shell};

pub fn completion(shell: Shell) -> Result<ExitCode> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Generated whole first: clap_complete panics on a write error, which a closed pipe is.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "jetpack", &mut script);
    crate::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(dir: &Path) -> Result<ExitCode> {
    if dir.exists() && !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its full name (jetpack-image-show), which names its page.
    cmd.build();
    let mut written = Vec::new();
    pages(&cmd, dir, &mut written)?;
    for p in written {
        outln!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the page of `cmd` and of each of its subcommands, each atomically.
fn pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(concat!("jetpack ", env!("CARGO_PKG_VERSION")))
        .manual("Jetpack Manual");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)?;
    jetpack_fs::atomic_write(&path, &page)
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub, dir, written)?;
    }
    Ok(())
}
