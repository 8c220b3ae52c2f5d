//! The gate's policies over real ledgers: each attribute recorded as evidence by the
//! project's key (or forged by another), then asked about with policies that read it.

use aigis_core::Digest;
use aigis_evidence::{DataScan, Fairness, Predicate, RedTeam, Training};
use serde_json::json;

use super::{DEFAULT_POLICY, GatePolicy, SCHEMA};
use crate::tests::{Fixture, GOOD, corpus, fixture};

/// A table's bytes and digest.
const TABLE: &[u8] = b"a,b,y\n1,2,0\n3,4,1\n";

fn table() -> Digest {
    Digest::of(TABLE)
}

fn training(dp: Option<(f64, f64)>) -> Training {
    let mut t = json!({
        "model": "mlp", "rows": 2, "features": ["a", "b"], "label": "y",
        "classes": [0.0, 1.0], "hidden": 8, "epochs": 3, "learning_rate": 0.01,
        "alpha": 0.0001, "seed": 1, "training_accuracy": 0.95, "tool": "aigis test",
    });
    if let Some((epsilon, delta)) = dp {
        t["dp"] = json!({
            "epsilon": epsilon, "delta": delta, "accountant": "pld", "sampling": "poisson",
            "sampling_rate": 0.01, "noise_multiplier": 1.1, "steps": 100,
            "max_grad_norm": 1.0, "bounds_low": [0.0, 0.0], "bounds_high": [1.0, 1.0],
        });
    }
    serde_json::from_value(t).unwrap()
}

fn redteam(robust: f64, attacks: &[&str]) -> RedTeam {
    let attacks: Vec<_> = attacks
        .iter()
        .map(|a| {
            json!({
                "attack": a, "norm": "inf", "eps": 0.1, "step": 0.01, "steps": 10,
                "restarts": 0, "attacked": 100, "succeeded": 10, "success_rate": 1.0 - robust,
                "robust_accuracy": robust, "gradients_per_row": 10, "queries_per_row": 0,
                "seconds": 0.1,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "output": "label", "rows": 100, "clean_accuracy": 0.97, "seed": 1,
        "attacks": attacks, "thresholds": [], "breaches": [], "passed": true,
        "tool": "aigis test",
    }))
    .unwrap()
}

fn fairness(dp_difference: Option<f64>) -> Fairness {
    let group = json!({
        "values": [], "rows": 10, "label_positive": 5, "predicted_positive": 5,
        "selection_rate": 0.5, "true_positive_rate": 0.8, "false_positive_rate": 0.2,
        "accuracy": 0.8, "impact_ratio": null, "excluded": false,
    });
    serde_json::from_value(json!({
        "rows": 10, "label": "y", "prediction": "p", "score": null, "positive": "1",
        "min_group": 1, "bootstrap": null, "overall": group,
        "analyses": [{"sensitive": ["sex"], "groups": [group],
            "disparities": [{"metric": "demographic-parity-difference", "value": dp_difference}]}],
        "thresholds": [], "breaches": [], "passed": true, "tool": "aigis test",
    }))
    .unwrap()
}

fn data_scan(pii: u64, flagged: Option<u64>) -> DataScan {
    let mut f = json!({
        "format": "csv", "rows": 2, "columns": 3, "schema": "inferred", "profile": null,
        "counts": [{"rule": "pii.email", "column": "a", "severity": "high", "count": pii}],
        "worst": "high", "personal_columns": [], "quasi_identifiers": null,
        "poisoning": null, "fail_on": "none", "passed": true, "tool": "aigis test",
    });
    if let Some(n) = flagged {
        f["poisoning"] = json!({
            "label": "y", "features": ["a", "b"], "suspicious_rows": n,
            "counts": {"outlier": n, "label_flip": 0, "duplicate": 0, "near_duplicate": 0, "backdoor": 0},
        });
    }
    serde_json::from_value(f).unwrap()
}

struct Setup {
    f: Fixture,
    /// The registered version's one model file.
    file: Digest,
}

/// A signed, clean, registered version 1 of `m`.
fn setup() -> Setup {
    let f = fixture();
    let bytes = corpus(GOOD);
    let dir = f.signed_folder("m", &[("model.joblib", &bytes)]);
    let registered = f.flow().register(&dir, "m", None).unwrap();
    assert!(registered.signature.as_ref().is_some_and(|c| c.passed));
    Setup {
        file: Digest::of(&bytes),
        f,
    }
}

impl Setup {
    fn record<P: Predicate>(&self, p: &P) -> u64 {
        self.f
            .project
            .record(
                &self.f.key,
                vec![
                    ("model:m/model.joblib".into(), self.file),
                    ("data:t.csv".into(), table()),
                ],
                p,
            )
            .unwrap()
    }

    fn ask(&self, policy: &str) -> crate::Decision {
        self.ask_at(policy, None)
    }

    fn ask_at(&self, policy: &str, as_of_ms: Option<i64>) -> crate::Decision {
        let policy = GatePolicy::parse(policy, "test").unwrap();
        let mut flow = self.f.flow().with_policy(&policy);
        flow.as_of_ms = as_of_ms;
        flow.ask("m", 1, "production").unwrap()
    }
}

/// The policy's verdict on `id`.
fn passed(d: &crate::Decision, id: &str) -> bool {
    d.verdict
        .policies
        .iter()
        .find(|p| p.policy == id)
        .unwrap_or_else(|| panic!("no policy `{id}` in {:?}", d.verdict))
        .passed
}

const PERMIT: &str = "@id(\"allow\") permit (principal, action, resource);\n";

#[test]
fn the_schema_and_the_built_in_policy_load() {
    let (_schema, _warnings) = cedar_policy::Schema::from_cedarschema_str(SCHEMA).unwrap();
    let p = GatePolicy::builtin().unwrap();
    assert_eq!(p.source, "built-in");
    assert_eq!(p.digest, Digest::of(DEFAULT_POLICY.as_bytes()));
    let ids: Vec<String> = p.policies().into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            "stored-bytes",
            "known-bad",
            "scan",
            "signature",
            "shadow",
            "detector",
            "allow"
        ]
    );
}

#[test]
fn policies_that_would_be_skipped_at_evaluation_refuse_to_load() {
    let refused = |text: &str, says: &str| {
        let e = GatePolicy::parse(text, "p.cedar").unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    };
    // An attribute that does not exist, and an optional one read without `has`: Cedar
    // would skip such a forbid at evaluation, which allows what it meant to stop.
    refused(
        &format!("forbid (principal, action, resource) unless {{ resource.sgned }};\n{PERMIT}"),
        "does not validate",
    );
    refused(
        &format!(
            "forbid (principal, action, resource) unless {{ resource.training.dp.epsilon.lessThan(decimal(\"1.0\")) }};\n{PERMIT}"
        ),
        "does not validate",
    );
    refused(
        &format!(
            "forbid (principal, action, resource) when {{ resource.version == \"1\" }};\n{PERMIT}"
        ),
        "does not validate",
    );
    refused("forbid (principal, action, resource);", "has no `permit`");
    refused("permit (principal, action, resource", "is not Cedar");
    refused(
        "permit (principal == ?principal, action, resource);",
        "holds a template",
    );
    refused(
        "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") permit (principal, action, resource);",
        "two policies with the id `a`",
    );
}

#[test]
fn the_built_in_policy_allows_a_clean_signed_version_and_names_what_an_unsigned_one_lacks() {
    let s = setup();
    let d = s.ask(DEFAULT_POLICY);
    assert!(d.passed, "{:?}", d.verdict);
    assert!(d.evidence.is_none(), "asking records nothing");
    assert!(d.verdict.policies.iter().all(|p| p.passed));
    let signature = d.facts.iter().find(|f| f.attribute == "signature").unwrap();
    assert_eq!(
        signature.value["signed_by"],
        json!(s.f.key.public().key_id()),
        "by whom"
    );
    // A policy can ask who signed: here, the key asking must be the signer.
    let by_whom = format!(
        "@id(\"own\") forbid (principal, action, resource) unless {{ resource has signature && resource.signature has signed_by && resource.signature.signed_by == principal }};\n{PERMIT}"
    );
    assert!(s.ask(&by_whom).passed);
    let scan = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "scan")
        .unwrap();
    assert_eq!(scan.reads, ["scan.passed"]);
    assert!(!scan.evidence.is_empty());

    // Unsigned: the signature attribute is missing, and the refusal says how to get it.
    let reg = crate::open(&s.f.project).unwrap();
    let mut record = reg.version("m", 1).unwrap();
    record.signature_bundle = None;
    record.signature = None;
    reg.update_version(&record).unwrap();
    let d = s.ask(DEFAULT_POLICY);
    assert!(!d.passed);
    let sig = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "signature")
        .unwrap();
    assert!(!sig.passed);
    assert_eq!(sig.missing.len(), 1, "{sig:?}");
    assert_eq!(sig.missing[0].attribute, "signature");
    assert!(sig.missing[0].fix.contains("aigis model sign"), "{sig:?}");
    assert!(sig.message.contains("signature that verifies"));
}

/// The credit-scoring example's shape: DP with a bound on ε and δ, a fresh red team that
/// ran PGD with a floor on robust accuracy, a fairness bound, a training table with no
/// personal data left and a poisoning screen.
const STRICT: &str = r#"
@id("dp") @message("ε must be at most 3 and δ at most 1e-5")
forbid (principal, action, resource) unless {
  resource has training && resource.training has dp &&
  resource.training.dp.epsilon.lessThanOrEqual(decimal("3.0")) &&
  resource.training.dp.delta_log10.lessThanOrEqual(decimal("-5.0"))
};
@id("redteam") @message("a red team younger than 30 days with PGD must keep 60 % robust accuracy")
forbid (principal, action, resource) unless {
  resource has redteam && resource.redteam.age_days <= 30 &&
  resource.redteam.attacks.contains("pgd") && resource.redteam has robust_accuracy &&
  resource.redteam.robust_accuracy.greaterThanOrEqual(decimal("0.6"))
};
@id("fairness") @fix("aigis fairness credit.csv --sensitive sex ...")
forbid (principal, action, resource) unless {
  resource has fairness && resource.fairness has demographic_parity_difference &&
  resource.fairness.demographic_parity_difference.lessThanOrEqual(decimal("0.1"))
};
@id("data")
forbid (principal, action, resource) unless {
  resource has training && resource.training has data_scan &&
  resource.training.data_scan.pii_findings == 0 &&
  resource.training.data_scan has poisoning_flagged &&
  resource.training.data_scan.poisoning_flagged <= 5
};
@id("allow") permit (principal, action, resource);
"#;

#[test]
fn each_attribute_decides_from_the_newest_signed_evidence() {
    let s = setup();
    // Nothing recorded: every strict policy refuses, naming what is missing.
    let d = s.ask(STRICT);
    assert!(!d.passed);
    for id in ["dp", "redteam", "fairness", "data"] {
        assert!(!passed(&d, id), "{id}");
    }
    let dp = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "dp")
        .unwrap();
    assert_eq!(dp.missing[0].attribute, "training");
    assert!(dp.missing[0].fix.contains("aigis train"), "{dp:?}");
    let fair = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "fairness")
        .unwrap();
    assert_eq!(
        fair.missing[0].fix,
        "aigis fairness credit.csv --sensitive sex ..."
    );

    // Training without DP: `training` is there, `training.dp` is what is missing.
    s.record(&training(None));
    let d = s.ask(STRICT);
    let dp = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "dp")
        .unwrap();
    assert_eq!(dp.missing[0].attribute, "training.dp", "{dp:?}");
    assert!(dp.missing[0].fix.contains("--dp"));

    // DP at ε = 3.00001: rounded up, so over 3; then at ε = 3 exactly with δ = 1e-5.
    s.record(&training(Some((3.000_01, 1e-5))));
    assert!(!passed(&s.ask(STRICT), "dp"));
    let t = s.record(&training(Some((3.0, 1e-5))));
    let d = s.ask(STRICT);
    assert!(passed(&d, "dp"), "{:?}", d.verdict);
    let dp = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "dp")
        .unwrap();
    assert!(dp.evidence.contains(&t), "{dp:?}");
    // δ = 2e-5 is over 1e-5.
    s.record(&training(Some((1.0, 2e-5))));
    assert!(!passed(&s.ask(STRICT), "dp"));
    s.record(&training(Some((1.0, 1e-6))));
    assert!(passed(&s.ask(STRICT), "dp"));

    // The red team: FGSM only is not enough, PGD below the floor neither.
    s.record(&redteam(0.9, &["fgsm"]));
    assert!(!passed(&s.ask(STRICT), "redteam"));
    s.record(&redteam(0.59, &["fgsm", "pgd"]));
    assert!(!passed(&s.ask(STRICT), "redteam"));
    s.record(&redteam(0.8, &["fgsm", "pgd"]));
    assert!(passed(&s.ask(STRICT), "redteam"));

    // Fairness: undefined is absent (refused), over the bound refused, within passes.
    s.record(&fairness(None));
    assert!(!passed(&s.ask(STRICT), "fairness"));
    s.record(&fairness(Some(0.2)));
    assert!(!passed(&s.ask(STRICT), "fairness"));
    s.record(&fairness(Some(0.05)));
    assert!(passed(&s.ask(STRICT), "fairness"));

    // The training table's scan: personal data left, no poisoning screen, then clean.
    let scan = |p: &DataScan| {
        s.f.project
            .record(&s.f.key, vec![("t.csv".into(), table())], p)
            .unwrap()
    };
    scan(&data_scan(3, Some(0)));
    assert!(!passed(&s.ask(STRICT), "data"));
    scan(&data_scan(0, None));
    assert!(!passed(&s.ask(STRICT), "data"));
    scan(&data_scan(0, Some(2)));
    let d = s.ask(STRICT);
    assert!(d.passed, "{:?}", d.verdict);

    // Stale: the same red team, asked 31 days on, is refused by the age bound.
    let later = d.facts.iter().find(|f| f.attribute == "redteam").unwrap();
    assert_eq!(later.age_days, Some(0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let d = s.ask_at(STRICT, Some(now + 31 * 86_400_000));
    assert!(!d.passed);
    assert!(!passed(&d, "redteam"));
    assert!(passed(&d, "dp"), "ε does not age");
    let rt = d.facts.iter().find(|f| f.attribute == "redteam").unwrap();
    assert_eq!(rt.age_days, Some(31));
}

/// The recorded time is outside the Merkle tree: an attacker who can write the ledger
/// file makes a stale red team fresh by editing it. The gate reads the time the recording
/// key signed, so the edit is refused, as is an entry whose time signature was removed or
/// made by another key; the bound then refuses as for a missing red team.
#[test]
fn a_time_edited_in_the_ledger_file_does_not_make_evidence_fresh() {
    let s = setup();
    let index = s.record(&redteam(0.8, &["fgsm", "pgd"]));
    assert!(passed(&s.ask(STRICT), "redteam"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let later = now + 31 * 86_400_000;
    assert!(!passed(&s.ask_at(STRICT, Some(later)), "redteam"));
    let db = rusqlite::Connection::open(s.f.project.ledger_path()).unwrap();
    let set = |sql: &str| {
        db.execute(sql, rusqlite::params![later, index as i64])
            .unwrap()
    };
    let refused_because = |why: &str| {
        let d = s.ask_at(STRICT, Some(later));
        assert!(
            !passed(&d, "redteam"),
            "an edited time made the red team fresh"
        );
        let n = d
            .not_counted
            .iter()
            .find(|n| n.evidence == index)
            .unwrap_or_else(|| panic!("#{index} counted: {:?}", d.not_counted));
        assert!(n.why.contains(why), "{}", n.why);
    };
    // The time moved 31 days on, to the moment asked.
    assert_eq!(
        set("UPDATE entries SET recorded_at_ms = ?1 WHERE idx = ?2"),
        1
    );
    refused_because("does not match its time signature");
    // ... and its signature removed.
    assert_eq!(
        set("DELETE FROM entry_times WHERE idx = ?2 AND ?1 IS NOT NULL"),
        1
    );
    refused_because("not signed");
    // ... and signed again by a key that is not the project's.
    let other = aigis_crypto::SigningKey::generate();
    let body: Vec<u8> = db
        .query_row(
            "SELECT body FROM entries WHERE idx = ?1",
            [index as i64],
            |r| r.get(0),
        )
        .unwrap();
    let t = aigis_ledger::time::sign(&other, &aigis_ledger::leaf_hash(&body), later);
    db.execute(
        "INSERT INTO entry_times (idx, key_id, sig) VALUES (?1, ?2, ?3)",
        rusqlite::params![index as i64, t.key_id, t.sig],
    )
    .unwrap();
    refused_because("not a project key");
}

/// A newer failing red team whose time signature was removed does not bring back the
/// passing one before it: the attribute is missing, not the older result.
#[test]
fn removing_a_newer_result_s_time_does_not_revive_an_older_one() {
    let s = setup();
    s.record(&redteam(0.8, &["fgsm", "pgd"]));
    let failing = s.record(&redteam(0.3, &["fgsm", "pgd"]));
    assert!(!passed(&s.ask(STRICT), "redteam"));
    let db = rusqlite::Connection::open(s.f.project.ledger_path()).unwrap();
    db.execute("DELETE FROM entry_times WHERE idx = ?1", [failing as i64])
        .unwrap();
    let d = s.ask(STRICT);
    assert!(
        !passed(&d, "redteam"),
        "the older passing red team was read"
    );
    assert!(d.not_counted.iter().any(|n| n.evidence == failing));
}

#[test]
fn forged_evidence_is_not_counted() {
    let s = setup();
    s.record(&training(Some((8.0, 1e-5))));
    // Another key's claim of a much better guarantee, appended to the project's ledger.
    let other = aigis_crypto::SigningKey::generate();
    let forged = training(Some((0.1, 1e-9)))
        .statement(vec![("model:m/model.joblib".into(), s.file)])
        .unwrap();
    let (index, _) =
        s.f.project
            .open_ledger()
            .unwrap()
            .append_statement(&forged, &other)
            .unwrap();
    let d = s.ask(STRICT);
    assert!(!passed(&d, "dp"), "the forged ε = 0.1 was read");
    assert!(
        d.not_counted.iter().any(|n| n.evidence == index),
        "{:?}",
        d.not_counted
    );
    let t = d.facts.iter().find(|f| f.attribute == "training").unwrap();
    assert!(!t.evidence.contains(&index));
    assert_eq!(t.value["dp"]["epsilon"], json!(8.0));
}

#[test]
fn separation_of_duties_refuses_the_key_that_trained() {
    let s = setup();
    s.record(&training(None));
    let sod = format!(
        "@id(\"sod\") forbid (principal, action == Aigis::Action::\"promote\", resource) when {{ resource has training && resource.training.trained_by == principal }};\n{PERMIT}"
    );
    let d = s.ask(&sod);
    assert!(!d.passed);
    assert!(!passed(&d, "sod"));

    // After a rotation the old key, still in the keyring, trained; the new one promotes.
    let (new, _) =
        s.f.project
            .rotate_key(None, aigis_crypto::keyfile::KdfParams::default())
            .unwrap();
    let policy = GatePolicy::parse(&sod, "sod").unwrap();
    let flow = crate::Workflow::new(&s.f.project, &new, &s.f.scanner, &crate::NoProgress)
        .with_policy(&policy);
    let d = flow.ask("m", 1, "production").unwrap();
    assert!(passed(&d, "sod"), "{:?}", d.verdict);
}

#[test]
fn a_policy_that_fails_to_evaluate_refuses() {
    let s = setup();
    // Validates, but overflows at evaluation: Cedar skips an erroring forbid, so on its own
    // it would allow; the gate refuses.
    let policy = format!(
        "@id(\"overflow\") forbid (principal, action, resource) when {{ resource.version * 9223372036854775807 * 2 > 0 }};\n{PERMIT}"
    );
    let d = s.ask(&policy);
    assert!(!d.passed);
    let p = d
        .verdict
        .policies
        .iter()
        .find(|p| p.policy == "overflow")
        .unwrap();
    assert!(!p.passed);
    assert!(
        p.error.as_deref().is_some_and(|e| e.contains("overflow")),
        "{p:?}"
    );
}

#[test]
fn a_permit_that_does_not_apply_refuses_and_context_reaches_the_policy() {
    let s = setup();
    let policy = "@id(\"staging-only\") permit (principal, action, resource) when { context.stage == \"staging\" };";
    let d = s.ask(policy);
    assert!(!d.passed);
    assert!(
        d.verdict.errors.iter().any(|e| e.contains("no `permit`")),
        "{:?}",
        d.verdict
    );
    let p = GatePolicy::parse(policy, "t").unwrap();
    let d = s.f.flow().with_policy(&p).ask("m", 1, "staging").unwrap();
    assert!(d.passed, "{:?}", d.verdict);
}

#[test]
fn promotion_records_the_policy_its_verdicts_and_what_it_read() {
    let s = setup();
    let t = s.record(&training(Some((1.0, 1e-6))));
    let policy = GatePolicy::parse(&format!("@id(\"dp\") forbid (principal, action, resource) unless {{ resource has training && resource.training has dp }};\n{PERMIT}"), "dp.cedar").unwrap();
    let d =
        s.f.flow()
            .with_policy(&policy)
            .promote("m", 1, "production")
            .unwrap();
    assert!(d.passed, "{:?}", d.verdict);
    let index = d.evidence.unwrap();
    let entry =
        s.f.project
            .open_ledger()
            .unwrap()
            .store()
            .entry(index)
            .unwrap()
            .unwrap();
    let (statement, _) = aigis_ledger::signed_statement(
        &s.f.project.keyring().unwrap().public_keys(),
        index,
        &entry.body,
    )
    .unwrap();
    let p = aigis_evidence::ModelPromotion::from_statement(&statement).unwrap();
    let recorded = p.policy.unwrap();
    assert_eq!(recorded.source, "dp.cedar");
    assert_eq!(recorded.digest, policy.digest);
    assert_eq!(p.policies.len(), 2);
    assert!(p.read.contains(&t), "{:?}", p.read);
    let attrs = p.attributes.unwrap();
    assert_eq!(attrs["training"]["dp"]["delta_log10"], json!(-6.0));
    assert_eq!(
        attrs["training"]["trained_by"],
        json!(s.f.key.public().key_id())
    );
}

#[test]
fn a_file_a_feed_learned_of_after_registration_is_refused() {
    let s = setup();
    assert!(s.ask(DEFAULT_POLICY).passed);
    let mut feed = aigis_scan::KnownBad::new();
    feed.add_text(&format!("{} advisory X-1\n", s.file), "feed.txt")
        .unwrap();
    let scanner = aigis_scan::Scanner::new().with_known_bad(feed);
    let policy = GatePolicy::builtin().unwrap();
    let d = crate::Workflow::new(&s.f.project, &s.f.key, &scanner, &crate::NoProgress)
        .with_policy(&policy)
        .ask("m", 1, "production")
        .unwrap();
    assert!(!d.passed);
    assert!(!passed(&d, "known-bad"));
    // The scan evidence, made before the feed knew, still says safe: the gate reads the
    // feed in force now.
    assert!(passed(&d, "scan"));
    let f = d.facts.iter().find(|f| f.attribute == "known_bad").unwrap();
    assert!(f.detail.contains("advisory X-1"), "{f:?}");
}
