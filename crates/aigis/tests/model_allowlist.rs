//! What is not known to be safe does not pass, through the real binary: `model scan`
//! fails on `suspicious` by default, the promotion gate refuses it, and a project's
//! reviewed allowlist (`[[model.allow]]` in aigis.toml) is the way out for its own
//! classes: applied by scan, register and promote, refused when it names anything
//! dangerous, and written into the scan evidence.

use crate::common;

use std::path::Path;

use common::{Run, aigis, fails, ok};

/// Protocol 2: `mypkg.models.Net()` with the state `{"w": 1}` — a team's own class,
/// unknown to the built-in policy.
const CUSTOM: &[u8] = b"\x80\x02cmypkg.models\nNet\n)\x81}X\x01\x00\x00\x00wK\x01sb.";

const ENTRY: &str = r#"
[[model.allow]]
name = "mypkg.models.Net"
reason = "our model class; reviewed in PR 123"
by = "alice@example.com"
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    std::fs::write(dir.path().join("net.pkl"), CUSTOM).unwrap();
    dir
}

/// Appends `text` to the project's aigis.toml.
fn configure(p: &Path, text: &str) {
    let path = p.join("aigis.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(text);
    std::fs::write(&path, config).unwrap();
}

/// Removes everything from the first `[[model.allow]]` on.
fn unconfigure(p: &Path) {
    let path = p.join("aigis.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let kept = config.split("[[model.allow]]").next().unwrap().to_owned();
    std::fs::write(&path, kept).unwrap();
}

fn statement(p: &Path, index: &serde_json::Value) -> serde_json::Value {
    let i = index.as_u64().unwrap().to_string();
    ok(p, &["evidence", "show", &i, "--statement"]).json()
}

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap()
}

#[test]
fn suspicious_fails_by_default_and_passes_only_when_asked() {
    let dir = project();
    let p = dir.path();
    let r = aigis(p, &["model", "scan", "net.pkl"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("suspicious"), "{}", r.stdout);
    assert!(r.stdout.contains("mypkg.models.Net"), "{}", r.stdout);
    assert!(r.stderr.contains("[[model.allow]]"), "{}", r.stderr);
    // Outside a project too: the default does not depend on a config.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("net.pkl"), CUSTOM).unwrap();
    assert_eq!(aigis(outside.path(), &["model", "scan", "net.pkl"]).code, 1);
    // Asked explicitly, a lower bar lets it through.
    let r = aigis(
        p,
        &[
            "--json",
            "model",
            "scan",
            "net.pkl",
            "--fail-on",
            "inconclusive",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["files"][0]["verdict"], "suspicious");
    assert_eq!(v["passed"], true);
}

#[test]
fn an_allowlisted_class_is_safe_and_the_evidence_says_who_allowed_it() {
    let dir = project();
    let p = dir.path();
    configure(p, ENTRY);
    let r = aigis(p, &["--json", "model", "scan", "net.pkl"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["files"][0]["verdict"], "safe", "{v}");
    let evidence = v["files"][0]["findings"].as_array().unwrap();
    let allowed = evidence
        .iter()
        .find(|e| e["rule"] == "pickle.allowlist")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(allowed["verdict"], "safe");
    assert_eq!(allowed["location"]["offset"], 2); // the GLOBAL opcode
    let message = allowed["message"].as_str().unwrap();
    for needle in [
        "`mypkg.models.Net`",
        "reviewed in PR 123",
        "alice@example.com",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    assert_eq!(v["allowlist"]["entries"][0]["name"], "mypkg.models.Net");

    // The ledger's scan evidence names the allowlist in force and what it allowed where.
    let st = statement(p, &v["evidence"]);
    let pred = &st["predicate"];
    assert_eq!(pred["allowlist"]["digest"], v["allowlist"]["digest"]);
    assert!(
        pred["allowlist"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(pred["allowlist"]["entries"][0]["by"], "alice@example.com");
    assert_eq!(pred["files"][0]["allowlist_used"][0], "mypkg.models.Net");
    assert!(
        pred["files"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["rule"] == "pickle.allowlist")
    );

    // Another class of the same module is not allowed by it: no prefixes.
    let other = b"\x80\x02cmypkg.models\nOther\n)\x81.";
    std::fs::write(p.join("other.pkl"), other).unwrap();
    assert_eq!(aigis(p, &["model", "scan", "other.pkl"]).code, 1);
    // And a dangerous call in the same file is still dangerous.
    let mut evil = CUSTOM[..CUSTOM.len() - 1].to_vec();
    evil.extend_from_slice(b"0cos\nsystem\n(S'echo aigis-test'\ntR.");
    std::fs::write(p.join("evil.pkl"), evil).unwrap();
    let r = aigis(p, &["--json", "model", "scan", "evil.pkl"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["files"][0]["verdict"], "dangerous");
}

#[test]
fn dangerous_or_pattern_entries_are_refused_at_load() {
    for (name, rule) in [
        ("os.system", "dangerous module tree"),
        ("os", "not a `module.qualname`"),
        ("mypkg.*", "wildcards and prefixes are not allowed"),
        ("builtins.print", "dangerous module tree"),
        ("torch.load", "dangerous callables can never be allowed"),
        (
            "mypkg.models.Net.__globals__",
            "dangerous callables can never be allowed",
        ),
    ] {
        let dir = project();
        let p = dir.path();
        configure(
            p,
            &format!("\n[[model.allow]]\nname = \"{name}\"\nreason = \"r\"\nby = \"b\"\n"),
        );
        let r = fails(p, &["model", "scan", "net.pkl"], 2, &format!("`{name}`"));
        assert!(r.stderr.contains(rule), "{name}: {}", r.stderr);
        assert!(r.stderr.contains("aigis.toml"), "{name}: {}", r.stderr);
        // Every command refuses the project, not only the ones that scan.
        fails(p, &["ledger", "status"], 2, &format!("`{name}`"));
    }
    // A reason and a reviewer are required, and nothing else may be added.
    let dir = project();
    configure(
        dir.path(),
        "\n[[model.allow]]\nname = \"mypkg.models.Net\"\nreason = \"r\"\n",
    );
    fails(dir.path(), &["model", "scan", "net.pkl"], 2, "by");
    let dir = project();
    configure(
        dir.path(),
        "\n[[model.allow]]\nname = \"mypkg.models.Net\"\nreason = \"r\"\nby = \"b\"\nprefix = true\n",
    );
    fails(dir.path(), &["model", "scan", "net.pkl"], 2, "prefix");
}

fn promote(p: &Path, version: &str, stage: &str) -> Run {
    aigis(
        p,
        &[
            "--json", "model", "promote", "net", version, "--stage", stage,
        ],
    )
}

#[test]
fn the_gate_refuses_an_unreviewed_class_and_follows_the_allowlist() {
    let dir = project();
    let p = dir.path();
    ok(p, &["model", "sign", "net.pkl"]);
    let reg = ok(
        p,
        &["--json", "model", "register", "net.pkl", "--name", "net"],
    )
    .json();
    assert_eq!(reg["scan"]["verdict"], "suspicious");

    // Signed, stored intact, but suspicious: refused, naming the import and the way out.
    let r = promote(p, "1", "production");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    let scan = check(&v, "scan");
    assert_eq!(scan["passed"], false, "{v}");
    let detail = scan["detail"].as_str().unwrap();
    assert!(detail.contains("`net.pkl` is suspicious"), "{detail}");
    assert!(detail.contains("mypkg.models.Net"), "{detail}");
    assert!(detail.contains("[[model.allow]]"), "{detail}");
    assert_eq!(check(&v, "signature")["passed"], true, "{v}");

    // Reviewed and listed: the gate scans the stored bytes again under the new list,
    // records that scan, and lets the version through.
    configure(p, ENTRY);
    let r = promote(p, "1", "production");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let scan = check(&v, "scan");
    assert!(
        scan["detail"].as_str().unwrap().contains("scanned again"),
        "{v}"
    );
    let rescan = statement(p, &scan["evidence"]);
    assert_eq!(
        rescan["predicateType"],
        "https://aigis.dev/predicate/model-scan/v1"
    );
    assert_eq!(rescan["predicate"]["files"][0]["verdict"], "safe");
    assert_eq!(
        rescan["predicate"]["files"][0]["allowlist_used"][0],
        "mypkg.models.Net"
    );
    assert_eq!(
        rescan["predicate"]["allowlist"]["entries"][0]["reason"],
        "our model class; reviewed in PR 123"
    );
    assert_eq!(
        rescan["subject"][0]["digest"]["sha256"],
        reg["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    // The version now points at that scan.
    let shown = ok(p, &["--json", "model", "show", "net", "1"]).json();
    assert_eq!(shown["scan"]["index"], scan["evidence"]);
    assert_eq!(shown["scan"]["summary"], "safe");

    // The same list again: no new scan, the evidence is current.
    let r = promote(p, "1", "staging");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(check(&r.json(), "scan")["evidence"], scan["evidence"]);

    // The entry is revoked: the old safe verdict does not keep working.
    unconfigure(p);
    let r = promote(p, "1", "canary");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let detail = check(&r.json(), "scan")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("scanned again"), "{detail}");
    assert!(detail.contains("`net.pkl` is suspicious"), "{detail}");

    // A version registered with the entry in force is scanned safe at registration.
    configure(p, ENTRY);
    let reg = ok(
        p,
        &["--json", "model", "register", "net.pkl", "--name", "net"],
    )
    .json();
    assert_eq!(reg["scan"]["verdict"], "safe");
    let st = statement(p, &reg["scan"]["evidence"]);
    assert_eq!(
        st["predicate"]["files"][0]["allowlist_used"][0],
        "mypkg.models.Net"
    );
    let r = promote(p, "2", "production");
    assert_eq!(r.code, 0, "{}", r.stderr);
}
