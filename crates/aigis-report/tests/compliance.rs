//! Compliance reports over a real project's ledger: judged from signed evidence only,
//! signed, and checked offline, with each way of lying about one caught.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use aigis_core::Digest;
use aigis_crypto::keyfile::KdfParams;
use aigis_evidence::{ControlStatement, Predicate as _, RedTeam, Tool};
use aigis_ledger::Project;
use aigis_report::compliance::{Standing, build};
use aigis_report::{Framework, Report, Status, sign, verify};
use serde_json::json;

const DAY: i64 = 86_400_000;

/// A small mapping: a fresh passing red team; a control statement; a scan.
const MAPPING: &str = r#"
id = "test"
name = "Test framework"
version = "1"
source = "here"
scope = "three controls"

[[controls]]
id = "R1"
group = "Robustness"
title = "robustness tested"
[[controls.evidence]]
what = "a red team that passed, within 30 days"
types = ["redteam"]
require = { passed = true }
max_age_days = 30

[[controls]]
id = "P1"
group = "Policy"
title = "a policy"
[[controls.evidence]]
what = "a statement"
statement = true

[[controls]]
id = "S1"
group = "Robustness"
title = "scanned and signed"
[[controls.evidence]]
what = "a scan"
types = ["model-scan"]
[[controls.evidence]]
what = "a red team"
types = ["redteam"]
"#;

fn redteam(passed: bool) -> RedTeam {
    serde_json::from_value(json!({
        "output": "label", "rows": 10, "clean_accuracy": 0.9, "seed": 1, "attacks": [],
        "thresholds": [], "breaches": [], "passed": passed, "tool": "aigis test",
    }))
    .unwrap()
}

struct P {
    _dir: tempfile::TempDir,
    project: Project,
    key: aigis_crypto::SigningKey,
    vkey: String,
}

fn project() -> P {
    let dir = tempfile::tempdir().unwrap();
    let (project, _) = Project::init(
        &dir.path().join("p"),
        Some("test"),
        None,
        KdfParams::default(),
    )
    .unwrap();
    let key = project.signing_key(None).unwrap();
    let vkey = aigis_crypto::note::verifier_key(project.origin(), &key.public()).unwrap();
    P {
        _dir: dir,
        project,
        key,
        vkey,
    }
}

impl P {
    fn record<T: aigis_evidence::Predicate>(&self, p: &T) -> u64 {
        self.project
            .record(
                &self.key,
                vec![("model:m.onnx".into(), Digest::of(b"m"))],
                p,
            )
            .unwrap()
    }

    fn report_at(&self, now_ms: i64) -> Report {
        let f = Framework::parse(MAPPING, "test").unwrap();
        build(&self.project, &self.key, &f, MAPPING, now_ms).unwrap()
    }

    fn report(&self) -> Report {
        self.report_at(aigis_ledger::now_ms())
    }
}

fn control<'a>(r: &'a Report, id: &str) -> &'a aigis_report::compliance::ControlResult {
    r.controls.iter().find(|c| c.id == id).unwrap()
}

/// `report` signed by `key` after `edit`.
fn resigned(
    report: &Report,
    key: &aigis_crypto::SigningKey,
    edit: impl FnOnce(&mut Report),
) -> Vec<u8> {
    let mut r = report.clone();
    edit(&mut r);
    sign(&r, key).unwrap()
}

#[test]
fn controls_are_judged_from_the_newest_signed_evidence() {
    let p = project();
    let empty = p.report();
    assert_eq!(empty.summary.missing, 3);
    let r1 = &control(&empty, "R1").requirements[0];
    assert_eq!(r1.standing, Standing::Absent);
    assert!(r1.fix.as_deref().unwrap().contains("aigis redteam"));
    let p1 = &control(&empty, "P1").requirements[0];
    assert!(
        p1.fix
            .as_deref()
            .unwrap()
            .contains("aigis report attest --framework test --control 'P1'")
    );

    // A failing red team, then a passing one: the newest decides.
    p.record(&redteam(false));
    let r = p.report();
    assert_eq!(control(&r, "R1").status, Status::Partial);
    assert_eq!(
        control(&r, "R1").requirements[0].standing,
        Standing::Failing
    );
    let pass = p.record(&redteam(true));
    // Another key's claim is not read, whatever it says, and is listed as not counted.
    let other = aigis_crypto::SigningKey::generate();
    let forged = redteam(false)
        .statement(vec![("model:m.onnx".into(), Digest::of(b"m"))])
        .unwrap();
    let (forged_index, _) = p
        .project
        .open_ledger()
        .unwrap()
        .append_statement(&forged, &other)
        .unwrap();
    let r = p.report();
    assert_eq!(control(&r, "R1").status, Status::Met);
    assert_eq!(control(&r, "R1").requirements[0].evidence, Some(pass));
    assert!(r.not_counted.iter().any(|(i, _)| *i == forged_index));
    // S1: its red team is there, its scan is not.
    assert_eq!(control(&r, "S1").status, Status::Partial);

    // A person's statement meets the policy control; one for another control does not.
    let statement = |control: &str| ControlStatement {
        framework: "test".into(),
        control: control.into(),
        statement: "the policy is adopted".into(),
        documents: vec![],
        tool: Tool::current(),
    };
    p.record(&statement("P2"));
    assert_eq!(control(&p.report(), "P1").status, Status::Missing);
    let s = p.record(&statement("P1"));
    let r = p.report();
    assert_eq!(control(&r, "P1").status, Status::Met);
    assert_eq!(control(&r, "P1").requirements[0].evidence, Some(s));

    // Stale: 31 days on, the red team no longer meets R1.
    let later = p.report_at(aigis_ledger::now_ms() + 31 * DAY);
    assert_eq!(
        control(&later, "R1").requirements[0].standing,
        Standing::Stale
    );
    assert_eq!(control(&later, "R1").status, Status::Partial);
    assert_eq!(
        later.summary.met + later.summary.partial + later.summary.missing,
        3
    );
}

/// Ages come from the time the recording key signed: an entry without one (a gateway
/// call's record) meets no `max_age_days`, one whose time was edited in the ledger file is
/// not counted, and the offline check judges by the same signed time.
#[test]
fn ages_are_read_from_signed_times_only() {
    let p = project();
    // Untimed: as the gateway records a call.
    let statement = redteam(true)
        .statement(vec![("model:m.onnx".into(), Digest::of(b"m"))])
        .unwrap();
    let ledger = p.project.open_ledger().unwrap();
    let untimed = ledger
        .append(aigis_ledger::statement_entry_untimed(
            &statement,
            &p.key,
            aigis_ledger::now_ms(),
        ))
        .unwrap();
    let r = p.report();
    let r1 = &control(&r, "R1").requirements[0];
    assert_eq!((r1.standing, r1.evidence), (Standing::Stale, Some(untimed)));
    assert!(r1.detail.contains("not signed"), "{}", r1.detail);
    assert_eq!(r1.age_days, None);
    // Without an age bound, the same entry counts.
    assert_eq!(
        control(&r, "S1").requirements[1].standing,
        Standing::Satisfied
    );
    let v = verify(&sign(&r, &p.key).unwrap(), std::slice::from_ref(&p.vkey)).unwrap();
    assert!(v.ok, "{:?}", v.problems);

    // Timed, 40 days old when asked; its time then moved to the moment asked in the file.
    let timed = p.record(&redteam(true));
    let later = aigis_ledger::now_ms() + 40 * DAY;
    let r = p.report_at(later);
    let r1 = &control(&r, "R1").requirements[0];
    assert_eq!((r1.standing, r1.age_days), (Standing::Stale, Some(40)));
    let cited = r.entries.iter().find(|e| e.index == timed).unwrap();
    assert!(cited.time_signature.is_some());
    let v = verify(&sign(&r, &p.key).unwrap(), std::slice::from_ref(&p.vkey)).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    // A report that swaps in another time signature is caught offline.
    let swapped = resigned(&r, &p.key, |r| {
        let e = r.entries.iter_mut().find(|e| e.index == timed).unwrap();
        let t = e.time_signature.as_mut().unwrap();
        t.sig = hex_flip(&t.sig);
    });
    let v = verify(&swapped, std::slice::from_ref(&p.vkey)).unwrap();
    assert!(
        !v.ok && v.problems.iter().any(|m| m.contains("time signature")),
        "{:?}",
        v.problems
    );

    let db = rusqlite::Connection::open(p.project.ledger_path()).unwrap();
    db.execute(
        "UPDATE entries SET recorded_at_ms = ?1 WHERE idx = ?2",
        rusqlite::params![later, timed as i64],
    )
    .unwrap();
    let r = p.report_at(later);
    let r1 = &control(&r, "R1").requirements[0];
    assert_ne!(r1.evidence, Some(timed), "the edited entry was read");
    assert_ne!(r1.standing, Standing::Satisfied);
    let (_, why) = r.not_counted.iter().find(|(i, _)| *i == timed).unwrap();
    assert!(why.contains("does not match its time signature"), "{why}");
}

/// A newer failing red team whose time was edited in the file does not bring back the
/// passing one before it.
#[test]
fn an_edited_newer_result_does_not_revive_an_older_one() {
    let p = project();
    p.record(&redteam(true));
    let failing = p.record(&redteam(false));
    let db = rusqlite::Connection::open(p.project.ledger_path()).unwrap();
    db.execute(
        "UPDATE entries SET recorded_at_ms = recorded_at_ms + 1 WHERE idx = ?1",
        [failing as i64],
    )
    .unwrap();
    let r = p.report();
    let r1 = &control(&r, "R1").requirements[0];
    assert_ne!(
        r1.standing,
        Standing::Satisfied,
        "the older passing red team was read"
    );
    assert!(r.not_counted.iter().any(|(i, _)| *i == failing));
    let v = verify(&sign(&r, &p.key).unwrap(), std::slice::from_ref(&p.vkey)).unwrap();
    assert!(v.ok, "{:?}", v.problems);
}

/// `hex` with its first digit changed.
fn hex_flip(hex: &str) -> String {
    let first = if hex.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &hex[1..])
}

#[test]
fn a_signed_report_verifies_offline_and_every_lie_is_caught() {
    let p = project();
    p.record(&redteam(true));
    // The newest red team failed its thresholds: R1 is partial.
    let good = p.record(&redteam(false));
    let report = p.report();
    assert_eq!(control(&report, "R1").status, Status::Partial);
    let signed = sign(&report, &p.key).unwrap();
    let v = verify(&signed, std::slice::from_ref(&p.vkey)).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.controls_checked, 3);
    assert_eq!(v.entries_checked, report.entries.len() as u64);
    assert!(report.entries.iter().any(|e| e.index == good));

    // Another key: not the project's.
    let stranger = aigis_crypto::SigningKey::generate();
    let v = verify(
        &sign(&report, &stranger).unwrap(),
        std::slice::from_ref(&p.vkey),
    )
    .unwrap();
    assert!(
        !v.ok && v.problems[0].contains("not signed by a key given"),
        "{:?}",
        v.problems
    );

    // The project's own key, lying: each lie is found from the cited entries.
    type Lie<'a> = Box<dyn FnOnce(&mut Report) + 'a>;
    let lies: Vec<(&str, Lie)> = vec![
        (
            "its entry says",
            Box::new(|r: &mut Report| {
                // Say the failing red team passed, and the control is met.
                let c = r.controls.iter_mut().find(|c| c.id == "R1").unwrap();
                c.requirements[0].standing = Standing::Satisfied;
                c.status = Status::Met;
            }),
        ),
        (
            "the report says missing, its evidence says partial",
            Box::new(|r: &mut Report| {
                r.controls.iter_mut().find(|c| c.id == "R1").unwrap().status = Status::Missing;
            }),
        ),
        (
            "not in the checkpoint's tree",
            Box::new(|r: &mut Report| {
                let e = r.entries.iter_mut().find(|e| e.index == good).unwrap();
                e.entry = e.entry.replacen("\"payload\"", "\"payload\" ", 1);
            }),
        ),
        (
            "does not carry",
            Box::new(|r: &mut Report| r.entries.retain(|e| e.index != good)),
        ),
        (
            "does not add up",
            Box::new(|r: &mut Report| r.summary.met += 1),
        ),
        (
            "digest is not the one",
            Box::new(|r: &mut Report| {
                r.mapping = r.mapping.replace("within 30 days", "within 3 days")
            }),
        ),
        (
            "the checkpoint is of",
            Box::new(|r: &mut Report| r.checkpoint_size += 1),
        ),
    ];
    for (says, lie) in lies {
        let v = verify(
            &resigned(&report, &p.key, lie),
            std::slice::from_ref(&p.vkey),
        )
        .unwrap();
        assert!(!v.ok, "{says}: passed");
        assert!(
            v.problems.iter().any(|p| p.contains(says)),
            "{says}: {:?}",
            v.problems
        );
    }

    // Citing an older passing red team instead of the newest, failing one: every cited
    // fact is true, so only the ledger can tell; with it, the difference is named.
    let older = resigned(&report, &p.key, |_| {});
    assert!(verify(&older, std::slice::from_ref(&p.vkey)).unwrap().ok);
    assert!(
        aigis_report::compliance::differences_from_ledger(&report, &p.project)
            .unwrap()
            .is_empty()
    );
    let mut lying = report.clone();
    let c = lying.controls.iter_mut().find(|c| c.id == "R1").unwrap();
    c.requirements[0].evidence = Some(good - 1);
    c.requirements[0].standing = Standing::Satisfied;
    c.status = Status::Met;
    let found = aigis_report::compliance::differences_from_ledger(&lying, &p.project).unwrap();
    assert!(
        found
            .iter()
            .any(|d| d.contains(&format!("the ledger gives entry #{good}"))),
        "{found:?}"
    );

    // Not a report at all: an error, not a verdict.
    assert!(verify(b"{}", std::slice::from_ref(&p.vkey)).is_err());
    assert!(verify(b"not json", std::slice::from_ref(&p.vkey)).is_err());
}

#[test]
fn every_built_in_framework_reports_over_an_empty_ledger() {
    let p = project();
    for id in aigis_report::framework::built_in_ids() {
        let (f, text) = Framework::built_in(id).unwrap();
        let r = build(&p.project, &p.key, &f, text, aigis_ledger::now_ms()).unwrap();
        assert_eq!(r.summary.missing as usize, f.controls.len(), "{id}");
        assert!(
            r.controls
                .iter()
                .all(|c| c.requirements.iter().all(|q| q.fix.is_some()))
        );
        let html = aigis_report::html::render(&r);
        assert!(
            html.contains("<svg") && html.contains(&f.controls[0].id),
            "{id}"
        );
        assert!(
            verify(&sign(&r, &p.key).unwrap(), std::slice::from_ref(&p.vkey))
                .unwrap()
                .ok
        );
    }
}
