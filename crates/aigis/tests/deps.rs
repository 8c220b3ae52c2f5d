//! `aigis deps scan` as a user runs it, over `tests/data/deps/`: every lockfile format
//! against an OSV folder, each ecosystem's order deciding, `--fail-on`, SARIF and the
//! evidence; and the differential tests of the version orders against their reference
//! implementations' answers (`pep440.json` from Python's packaging, `semver.json` from
//! node-semver).

use crate::common;

use std::path::{Path, PathBuf};

use aigis_deps::version::Ecosystem;
use common::{aigis, fails, ok};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/deps")
}

fn files() -> Vec<String> {
    [
        "requirements.txt",
        "Cargo.lock",
        "package-lock.json",
        "uv.lock",
    ]
    .iter()
    .map(|f| data().join(f).display().to_string())
    .collect()
}

#[test]
fn every_lockfile_is_matched_with_its_ecosystem_s_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let osv = data().join("osv").display().to_string();
    let mut args = vec!["--json", "deps", "scan"];
    let f = files();
    args.extend(f.iter().map(String::as_str));
    args.extend(["--osv", &osv, "--sarif", "deps.sarif"]);
    let r = aigis(d, &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut got: Vec<(String, String, String, String)> = v["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_owned(),
                x["version"].as_str().unwrap().to_owned(),
                x["id"].as_str().unwrap().to_owned(),
                x["rating"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, String, String)> = [
        ("@babel/core", "7.0.0-rc.1", "GHSA-0000-semv-erxx", "low"),
        ("PyYAML", "5.3.1", "GHSA-8q59-q68h-6hv4", "critical"),
        ("django", "3.0", "GHSA-0000-pep4-40xx", "unknown"),
        ("lodash", "4.17.11", "GHSA-jf85-cpcp-j695", "critical"),
        ("requests", "2.19.1", "GHSA-x84v-xcm2-53pg", "high"),
        ("smallvec", "1.6.0", "RUSTSEC-2021-0003", "critical"),
    ]
    .iter()
    .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
    .collect();
    assert_eq!(got, want, "{v:#}");
    // jinja2 2.10.1 is the fixed version; requests 2.31.0 (uv.lock) is past the fix; the
    // withdrawn Django record is passed over.
    assert_eq!(v["packages"], 8);
    let unchecked = v["unchecked"].as_array().unwrap();
    assert_eq!(unchecked.len(), 1, "{unchecked:?}");
    assert!(unchecked[0].as_str().unwrap().contains("flask>=1.0"));
    let smallvec = v["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "smallvec")
        .unwrap();
    assert_eq!(smallvec["fixed"], serde_json::json!(["0.6.14", "1.6.1"]));
    assert_eq!(smallvec["line"], 12);
    // The non-record file was skipped, and said.
    assert!(
        v["skipped"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("notes.json"),
        "{v:#}"
    );

    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("deps.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 6);

    // --fail-on: the LOW @babel/core record alone does not fail at medium.
    let lock = data().join("package-lock.json").display().to_string();
    let r = aigis(
        d,
        &[
            "deps",
            "scan",
            &lock,
            "--osv",
            &osv,
            "--fail-on",
            "critical",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let osv_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        data().join("osv/npm/GHSA-0000-semv-erxx.json"),
        osv_dir.path().join("one.json"),
    )
    .unwrap();
    let one = osv_dir.path().display().to_string();
    let r = ok(
        d,
        &["deps", "scan", &lock, "--osv", &one, "--fail-on", "medium"],
    );
    assert!(r.stdout.contains("ok: 2 package(s)"), "{}", r.stdout);
    let r = aigis(d, &["deps", "scan", &lock, "--osv", &one]);
    assert_eq!(r.code, 1);
    ok(
        d,
        &["deps", "scan", &lock, "--osv", &osv, "--fail-on", "none"],
    );
}

#[test]
fn a_scan_in_a_project_is_evidence_and_bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let osv = data().join("osv").display().to_string();
    let cargo = data().join("Cargo.lock").display().to_string();
    let r = aigis(d, &["--json", "deps", "scan", &cargo, "--osv", &osv]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let shown = ok(
        d,
        &[
            "--json",
            "evidence",
            "show",
            &v["evidence"].to_string(),
            "--statement",
        ],
    );
    let s: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        s["predicateType"],
        "https://aigis.dev/predicate/dependency-scan/v1"
    );
    assert_eq!(s["predicate"]["vulnerable"][0]["id"], "RUSTSEC-2021-0003");
    assert_eq!(s["predicate"]["passed"], false);

    fails(
        d,
        &["deps", "scan", &cargo, "--osv", "nowhere"],
        2,
        "nowhere",
    );
    let empty = tempfile::tempdir().unwrap();
    fails(
        d,
        &[
            "deps",
            "scan",
            &cargo,
            "--osv",
            empty.path().to_str().unwrap(),
        ],
        2,
        "holds no OSV record",
    );
    std::fs::write(d.join("go.sum"), "x").unwrap();
    fails(
        d,
        &["deps", "scan", "go.sum", "--osv", &osv],
        2,
        "is not a lockfile aigis reads",
    );
    std::fs::write(d.join("Cargo.lock"), "[[package]]\nname = 3\n").unwrap();
    fails(
        d,
        &["deps", "scan", "Cargo.lock", "--osv", &osv],
        2,
        "Cargo.lock",
    );
    std::fs::write(d.join("package-lock.json"), "{").unwrap();
    fails(
        d,
        &["deps", "scan", "package-lock.json", "--osv", &osv],
        2,
        "is not JSON",
    );
}

/// The reference's order, as groups of equal versions in ascending order, and the
/// versions it refuses.
fn vectors(name: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join(name)).unwrap()).unwrap();
    let groups = serde_json::from_value(v["ascending"].clone()).unwrap();
    let invalid = serde_json::from_value(v["invalid"].clone()).unwrap();
    (groups, invalid)
}

fn agrees(eco: Ecosystem, file: &str) {
    let (groups, invalid) = vectors(file);
    let flat: Vec<(usize, &String)> = groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| g.iter().map(move |v| (i, v)))
        .collect();
    assert!(flat.len() > 30, "{file}: too few versions");
    let mut wrong = Vec::new();
    // The one known difference: a release number past 2^64 - 1, which packaging reads and
    // pep440_rs does not. aigis then cannot order the version, and a scan reports the
    // record as possibly affecting it (never passes it): the difference fails closed.
    let too_big = |v: &str| {
        v.split(['.', '!', '+'])
            .any(|n| n.parse::<u128>().is_ok_and(|n| n > u128::from(u64::MAX)))
    };
    for (i, a) in &flat {
        for (j, b) in &flat {
            match eco.compare(a, b) {
                Ok(o) if o == i.cmp(j) => {}
                Err(_) if eco == Ecosystem::PyPi && (too_big(a) || too_big(b)) => {}
                other => wrong.push(format!(
                    "{a} vs {b}: aigis {other:?}, reference {:?}",
                    i.cmp(j)
                )),
            }
        }
    }
    for v in &invalid {
        if eco.compare(v, "1.0.0").is_ok() {
            wrong.push(format!("`{v}` is refused by the reference, read by aigis"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{file}: {} disagreements: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
}

#[test]
fn pep440_order_is_packaging_s() {
    agrees(Ecosystem::PyPi, "pep440.json");
}

#[test]
fn npm_order_is_node_semver_s() {
    agrees(Ecosystem::Npm, "semver.json");
}
