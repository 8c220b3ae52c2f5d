//! `aigis roles` and `--identity` as a team runs them: the project's key starts the roles
//! and enrols its second factor, people with their own keys get roles from it, each
//! action checks the actor's role (and, for admin and release actions, their one-time
//! password), evidence signed by a member counts, separation of duties holds at the gate,
//! and a roles file changed behind the ledger's back stops every command.

use crate::common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aigis_crypto::totp;
use common::{aigis, ok};

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&ok(dir, &all).stdout).unwrap()
}

/// The code of the step `ahead` steps from now, for the base32 `secret`.
fn code(secret: &str, ahead: u64) -> String {
    let raw = totp::from_base32(secret).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp::totp(&raw, now + ahead * totp::STEP, 6, totp::Algorithm::Sha1).unwrap()
}

#[test]
fn roles_second_factors_and_separation_of_duties() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    common::two_class_table(d, 200, 11);
    assert!(json(d, &["roles", "list"])["roles"].is_null());
    // Without roles, anything goes (as before).
    ok(
        d,
        &[
            "train",
            "t.csv",
            "--label",
            "y",
            "--model",
            "logistic",
            "-o",
            "free.onnx",
        ],
    );

    ok(d, &["roles", "init"]);
    // The admin has no second factor yet: granting is refused.
    let alice_vkey = ok(
        d,
        &["keys", "identity", "-o", "alice.key", "--name", "alice"],
    )
    .stdout;
    let bob_vkey = ok(d, &["keys", "identity", "-o", "bob.key", "--name", "bob"]).stdout;
    std::fs::write(d.join("alice.vkey"), &alice_vkey).unwrap();
    std::fs::write(d.join("bob.vkey"), &bob_vkey).unwrap();
    let r = aigis(
        d,
        &[
            "roles",
            "grant",
            "releaser",
            "--key",
            "alice.vkey",
            "--name",
            "alice",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("needs a second factor"), "{}", r.stderr);

    // The admin enrols, confirms with a first code, then grants with the next step's.
    let e = json(d, &["roles", "2fa", "enroll"]);
    let admin_secret = e["secret"].as_str().unwrap().to_owned();
    let recovery: Vec<String> = serde_json::from_value(e["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    ok(
        d,
        &["--otp", &code(&admin_secret, 0), "roles", "2fa", "check"],
    );
    // The same code again: spent.
    let r = aigis(
        d,
        &["--otp", &code(&admin_secret, 0), "roles", "2fa", "check"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    ok(
        d,
        &[
            "--otp",
            &code(&admin_secret, 1),
            "roles",
            "grant",
            "releaser",
            "--key",
            "alice.vkey",
            "--name",
            "alice",
        ],
    );
    // A recovery code works once.
    ok(
        d,
        &[
            "--otp",
            &recovery[0],
            "roles",
            "grant",
            "trainer",
            "releaser",
            "--key",
            "bob.vkey",
            "--name",
            "bob",
        ],
    );
    let r = aigis(
        d,
        &[
            "--otp",
            &recovery[0],
            "roles",
            "grant",
            "auditor",
            "--key",
            "bob.vkey",
        ],
    );
    assert_eq!(r.code, 1);
    let listed = json(d, &["roles", "list"]);
    assert_eq!(listed["members"].as_array().unwrap().len(), 3, "{listed:#}");

    // Roles are checked: only a gateway admin runs the project's gateway.
    let r = aigis(d, &["serve"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs the role `gateway-admin`"),
        "{}",
        r.stderr
    );
    // The project's key is no trainer now; Bob is.
    let r = aigis(
        d,
        &[
            "train", "t.csv", "--label", "y", "--model", "logistic", "-o", "m.onnx",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("needs the role `trainer`"),
        "{}",
        r.stderr
    );
    ok(
        d,
        &[
            "--identity",
            "bob.key",
            "train",
            "t.csv",
            "--label",
            "y",
            "--model",
            "logistic",
            "-o",
            "m.onnx",
        ],
    );
    ok(d, &["model", "sign", "m.onnx"]);
    ok(d, &["model", "register", "m.onnx", "--name", "m"]);

    // Bob's training evidence counts (his key is a member's): the gate reads it.
    let g = json(d, &["--identity", "alice.key", "gate", "m", "1"]);
    let training = g["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["attribute"] == "training")
        .unwrap();
    let bob_id = json(d, &["roles", "list"])["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "bob")
        .unwrap()["key_id"]
        .clone();
    assert_eq!(training["value"]["trained_by"], bob_id, "{training:#}");

    // Bob, trainer and releaser, enrols and tries to promote what he trained: the roles'
    // separation of duties refuses at the gate.
    let e = json(d, &["--identity", "bob.key", "roles", "2fa", "enroll"]);
    let bob_secret = e["secret"].as_str().unwrap().to_owned();
    ok(
        d,
        &[
            "--identity",
            "bob.key",
            "--otp",
            &code(&bob_secret, 0),
            "roles",
            "2fa",
            "check",
        ],
    );
    let r = aigis(
        d,
        &[
            "--json",
            "--identity",
            "bob.key",
            "--otp",
            &code(&bob_secret, 1),
            "model",
            "promote",
            "m",
            "1",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let refused: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sod = refused["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == "separation-of-duties")
        .unwrap();
    assert_eq!(sod["passed"], false);

    // Alice: no code, a wrong code, then a right one.
    let r = aigis(
        d,
        &["--identity", "alice.key", "model", "promote", "m", "1"],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("needs a second factor"), "{}", r.stderr);
    let e = json(d, &["--identity", "alice.key", "roles", "2fa", "enroll"]);
    let alice_secret = e["secret"].as_str().unwrap().to_owned();
    ok(
        d,
        &[
            "--identity",
            "alice.key",
            "--otp",
            &code(&alice_secret, 0),
            "roles",
            "2fa",
            "check",
        ],
    );
    let r = aigis(
        d,
        &[
            "--identity",
            "alice.key",
            "--otp",
            "000000",
            "model",
            "promote",
            "m",
            "1",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("1 of 5 tries"), "{}", r.stderr);
    let up = json(
        d,
        &[
            "--identity",
            "alice.key",
            "--otp",
            &code(&alice_secret, 1),
            "model",
            "promote",
            "m",
            "1",
        ],
    );
    assert_eq!(up["passed"], true, "{up:#}");

    // Five wrong codes lock the second factor, even for a right code after.
    for _ in 0..5 {
        aigis(
            d,
            &[
                "--identity",
                "alice.key",
                "--otp",
                "111111",
                "roles",
                "2fa",
                "check",
            ],
        );
    }
    let r = aigis(
        d,
        &[
            "--identity",
            "alice.key",
            "--otp",
            &code(&alice_secret, 1),
            "roles",
            "2fa",
            "check",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);

    // Not a member and no identity file: refused by name.
    let r = aigis(d, &["--identity", "nowhere.key", "roles", "list"]);
    assert_eq!(r.code, 0, "list reads, it does not sign: {}", r.stderr);

    // A roles file changed behind the ledger's back: every command that trusts keys stops.
    let latest = d.join(".aigis/roles/3.json");
    let saved = std::fs::read(&latest).unwrap();
    std::fs::remove_file(&latest).unwrap();
    let r = aigis(d, &["gate", "m", "1"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("changed outside `aigis roles`"),
        "{}",
        r.stderr
    );
    let r = aigis(
        d,
        &[
            "--identity",
            "alice.key",
            "--otp",
            "123456",
            "model",
            "promote",
            "m",
            "1",
            "--stage",
            "staging",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    std::fs::write(&latest, saved).unwrap();
    ok(d, &["gate", "m", "1", "--stage", "staging"]);
}
