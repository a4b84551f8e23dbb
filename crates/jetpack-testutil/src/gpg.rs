//! Real GnuPG keys and signatures in a temporary GNUPGHOME, and `gpgv` as the reference verdict.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A GnuPG home of its own; its agent is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Default for Gpg {
    fn default() -> Self {
        Gpg::new()
    }
}

impl Gpg {
    pub fn new() -> Gpg {
        Gpg {
            home: tempfile::Builder::new().prefix("jp-gpg").tempdir().unwrap(),
        }
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("GNUPGHOME", self.home.path()).env("LC_ALL", "C");
        c
    }

    /// Runs gpg in batch mode without passphrases; panics with its stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self
            .cmd("gpg")
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg (apt-get install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fingerprints(&self, who: &str) -> Vec<String> {
        self.run(&["--with-colons", "--list-keys", who])
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_ascii_lowercase())
            .collect()
    }

    /// A new key (`algo`: rsa2048, ed25519…; `usage`: sign, cert…; `expire`: never, 1d…);
    /// `at` fakes the time it is made. Returns the primary fingerprint.
    pub fn key(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        at: Option<&str>,
    ) -> String {
        let mut args = Vec::new();
        if let Some(t) = at {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.run(&args);
        self.fingerprints(uid)[0].clone()
    }

    /// Adds a subkey; returns its fingerprint.
    pub fn subkey(&self, fpr: &str, algo: &str, usage: &str) -> String {
        self.run(&["--quick-add-key", fpr, algo, usage, "never"]);
        self.fingerprints(fpr).last().unwrap().clone()
    }

    /// Signs `file` with exactly `signer` (a primary or subkey fingerprint) into `out`.
    pub fn sign_to(&self, signer: &str, file: &Path, out: &Path, extra: &[&str]) {
        let signer = format!("{signer}!");
        let mut args = vec!["--armor", "--detach-sign", "-u", &signer];
        args.extend_from_slice(extra);
        args.extend(["-o", out.to_str().unwrap(), file.to_str().unwrap()]);
        self.run(&args);
    }

    /// Signs `file` into `file.asc`.
    pub fn sign(&self, signer: &str, file: &Path, extra: &[&str]) -> PathBuf {
        let out = PathBuf::from(format!("{}.asc", file.display()));
        self.sign_to(signer, file, &out, extra);
        out
    }

    pub fn export(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr]).into_bytes()
    }

    /// Imports the revocation certificate GnuPG made with the key (reason: none, a hard one).
    pub fn revoke(&self, fpr: &str) {
        let cert = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", fpr.to_ascii_uppercase()));
        let text = std::fs::read_to_string(&cert).unwrap();
        let usable = self.home.path().join("revoke.asc");
        std::fs::write(&usable, text.replace(":-----BEGIN", "-----BEGIN")).unwrap();
        self.run(&["--import", usable.to_str().unwrap()]);
    }

    /// Replaces the usage of subkey number `n` (1-based) by authentication only.
    pub fn make_subkey_auth_only(&self, fpr: &str, n: usize) {
        let mut child = self
            .cmd("gpg")
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--command-fd", "0", "--edit-key", fpr])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Toggle sign off and authenticate on, then leave the menu and save.
        let script = format!("key {n}\nchange-usage\nS\nA\nQ\nsave\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "gpg change-usage failed");
    }

    /// The reference verdict: does `gpgv` report a good, valid signature by `key`?
    pub fn gpgv_accepts(&self, key: &[u8], sig: &Path, data: &Path) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let armored = dir.path().join("key.asc");
        std::fs::write(&armored, key).unwrap();
        let ring = dir.path().join("ring.gpg");
        self.run(&[
            "--dearmor",
            "-o",
            ring.to_str().unwrap(),
            armored.to_str().unwrap(),
        ]);
        let out = self
            .cmd("gpgv")
            .args(["--status-fd", "1", "--keyring"])
            .arg(&ring)
            .arg(sig)
            .arg(data)
            .output()
            .expect("gpgv (apt-get install gpgv)");
        let status = String::from_utf8_lossy(&out.stdout);
        out.status.success() && status.lines().any(|l| l.starts_with("[GNUPG:] GOODSIG"))
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = self
            .cmd("gpgconf")
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
