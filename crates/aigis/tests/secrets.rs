//! No secret reaches a log, an error or the ledger: a project whose keys are sealed with a
//! passphrase runs the commands that handle secrets (personal data protected and erased,
//! a second factor enrolled and used, a wrong passphrase, a wrong code, every command at
//! -vv), and neither anything they print (but the one answer that shows a secret to its
//! owner, once) nor the ledger's database holds any of the secrets.

use crate::common;

use std::path::Path;

use common::{Run, aigis_in};

const PASS: &str = "correct horse battery staple 2026";
const EMAIL: &str = "ann.private@example.org";
const NAME: &str = "Ann Private";
const SUBJECT: &str = "cust-secret-7731";

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)], seen: &mut Vec<String>) -> Run {
    let mut all = vec!["-vv"];
    all.extend(args);
    let r = aigis_in(dir, &all, env);
    seen.push(format!("{}\n{}", r.stdout, r.stderr));
    r
}

#[test]
fn no_secret_reaches_a_log_an_error_or_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sealed = [("AIGIS_KEY_PASSPHRASE", PASS)];
    let mut seen = Vec::new();
    assert_eq!(run(d, &["init"], &sealed, &mut seen).code, 0);
    std::fs::write(
        d.join("c.csv"),
        format!("id,name,email,spend\n{SUBJECT},{NAME},{EMAIL},12\nother,Bo,bo@x.org,3\n"),
    )
    .unwrap();
    for args in [
        vec!["data", "scan", "c.csv", "--fail-on", "none"],
        vec![
            "data",
            "protect",
            "c.csv",
            "--subject",
            "id",
            "--columns",
            "name,email",
            "-o",
            "p.csv",
        ],
        vec![
            "data",
            "erase",
            "--subject",
            SUBJECT,
            "--reason",
            "request 1",
        ],
        vec!["roles", "init"],
    ] {
        let r = run(d, &args, &sealed, &mut seen);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    // The enrolment shows its secret and recovery codes to their owner, once: that answer
    // is the one output left out of the search.
    let enrol = aigis_in(d, &["--json", "roles", "2fa", "enroll"], &sealed);
    assert_eq!(enrol.code, 0, "{}", enrol.stderr);
    let e: serde_json::Value = serde_json::from_str(&enrol.stdout).unwrap();
    let totp_secret = e["secret"].as_str().unwrap().to_owned();
    let recovery: Vec<String> = serde_json::from_value(e["recovery_codes"].clone()).unwrap();
    // A wrong code, a right one, a recovery code, a wrong passphrase, a missing one.
    run(
        d,
        &["--otp", "000000", "roles", "2fa", "check"],
        &sealed,
        &mut seen,
    );
    let raw = aigis_crypto::totp::from_base32(&totp_secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = aigis_crypto::totp::totp(&raw, now, 6, aigis_crypto::totp::Algorithm::Sha1).unwrap();
    let r = run(
        d,
        &["--otp", &code, "roles", "2fa", "check"],
        &sealed,
        &mut seen,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        d,
        &["--otp", &recovery[1], "roles", "2fa", "check"],
        &sealed,
        &mut seen,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        d,
        &[
            "attest",
            "--subject",
            "c.csv",
            "--predicate-type",
            "https://example.com/x/v1",
            "--predicate",
            "-",
        ],
        &[("AIGIS_KEY_PASSPHRASE", "wrong horse")],
        &mut seen,
    );
    assert_ne!(r.code, 0);
    let r = run(
        d,
        &["data", "erase", "--subject", "other", "--reason", "r"],
        &[],
        &mut seen,
    );
    assert_ne!(r.code, 0, "a sealed key without the passphrase");
    run(
        d,
        &["data", "reveal", "p.csv", "-o", "r.csv"],
        &sealed,
        &mut seen,
    );
    run(d, &["evidence", "list"], &sealed, &mut seen);

    let mut secrets: Vec<String> = vec![
        PASS.into(),
        EMAIL.into(),
        NAME.into(),
        SUBJECT.into(),
        totp_secret.clone(),
    ];
    secrets.extend(recovery.iter().cloned());
    let printed = seen.join("\n");
    let ledger = std::fs::read(d.join(".aigis/ledger.db")).unwrap_or_default();
    let ledger = String::from_utf8_lossy(&ledger);
    for s in &secrets {
        assert!(
            !printed.contains(s.as_str()),
            "`{s}` was printed:\n{printed}"
        );
        assert!(!ledger.contains(s.as_str()), "`{s}` is in the ledger");
    }
    // The secret files on disk are sealed: neither the TOTP secret nor a key's seed is
    // there in the clear.
    for entry in walk(&d.join(".aigis")) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&totp_secret),
            "{} holds the TOTP secret",
            entry.display()
        );
        assert!(
            !text.contains(PASS),
            "{} holds the passphrase",
            entry.display()
        );
        assert!(
            !text.contains(EMAIL),
            "{} holds personal data",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
