//! What the gate's policies read: a model version as a Cedar entity whose attributes come
//! only from signed evidence in the project's ledger, each with what it says for a person
//! and the entries it came from.
//!
//! An entry is read only when a key of the project's keyring signed it and it reads as its
//! type; any other entry about the version is listed as not counted (a forged entry
//! changes nothing but that list). Of several entries of one kind, the newest is read:
//! a policy that needs a particular run (an attack, a radius) says so.

use std::collections::BTreeSet;

use aigis_core::{Digest, Statement};
use aigis_evidence::{DataManifest, DataScan, Fairness, ModelScan, Predicate, RedTeam, Training};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::chain;
use crate::gate::Check;
use crate::store::VersionRecord;

/// One attribute value, kept typed so it can be written both in Cedar's JSON entity form
/// (for the policies) and as plain JSON (for people and evidence).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    Bool(bool),
    Long(i64),
    Str(String),
    /// A decimal, already rounded to four places and written as Cedar reads it.
    Dec(String),
    /// A project key, by key id.
    Key(String),
    Set(Vec<String>),
    Rec(Vec<(&'static str, V)>),
}

impl V {
    fn long(n: u64) -> Self {
        V::Long(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// `x` rounded up to Cedar's four decimal places: for a value where larger is worse.
    pub(crate) fn worse_up(x: f64) -> Self {
        V::Dec(decimal(x, true))
    }

    /// `x` rounded down to four places: for a value where larger is better.
    pub(crate) fn better_up(x: f64) -> Self {
        V::Dec(decimal(x, false))
    }

    /// The value in Cedar's JSON entity format.
    fn cedar(&self) -> Value {
        match self {
            V::Bool(b) => json!(b),
            V::Long(n) => json!(n),
            V::Str(s) => json!(s),
            V::Dec(d) => json!({"__extn": {"fn": "decimal", "arg": d}}),
            V::Key(k) => json!({"__entity": {"type": "Aigis::Key", "id": k}}),
            V::Set(s) => json!(s),
            V::Rec(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.cedar()))
                    .collect(),
            ),
        }
    }

    /// The value as plain JSON: a decimal as its number, a key as its id.
    fn plain(&self) -> Value {
        match self {
            V::Dec(d) => d
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| json!(d), Value::Number),
            V::Key(k) => json!(k),
            V::Rec(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.plain()))
                    .collect(),
            ),
            other => other.cedar(),
        }
    }

    /// The keys this value names (they are entities of the question).
    fn keys<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        match self {
            V::Key(k) => {
                out.insert(k);
            }
            V::Rec(fields) => fields.iter().for_each(|(_, v)| v.keys(out)),
            _ => {}
        }
    }
}

/// `x` at four decimal places, as Cedar's `decimal("…")` reads it (an i64 count of
/// ten-thousandths), rounded towards the worse side: up when `up` (larger is worse), else
/// down. A value beyond the range saturates to its end, and NaN is the worst end, so no
/// rounding makes evidence look better than it is. A value within a billionth (relative)
/// of a four-place number is that number: the residue of binary arithmetic (1.993 × 10⁴ =
/// 19930.000000000004) is not a difference.
pub(crate) fn decimal(x: f64, up: bool) -> String {
    let v = match (x.is_nan(), up) {
        (false, _) => x,
        (true, true) => f64::INFINITY,
        (true, false) => f64::NEG_INFINITY,
    };
    let scaled = v * 10_000.0;
    let near = scaled.round();
    let units = if (scaled - near).abs() <= 1e-9 * near.abs().max(1.0) {
        near
    } else if up {
        scaled.ceil()
    } else {
        scaled.floor()
    };
    // `as` saturates at i64's ends (Cedar's decimal range) and `units` is not NaN.
    let n = units as i64;
    let sign = if n < 0 { "-" } else { "" };
    let a = n.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

/// What one attribute says, for a person, and the entries it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    /// The attribute (`scan`, `training`, …).
    pub attribute: String,
    /// Its value as plain JSON; `null` when no evidence states it (the attribute is absent).
    pub value: Value,
    /// What it says, or why it is absent.
    pub detail: String,
    /// The ledger entries it was read from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<u64>,
    /// Its newest entry's age in whole days, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<u64>,
}

/// The version's attributes, and what was not counted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u32,
    /// Where it was registered from.
    pub source: String,
    /// Attribute name to value; an absent attribute is not here.
    pub values: Vec<(&'static str, V)>,
    /// Every attribute the gate looked for, present or not.
    pub facts: Vec<Fact>,
    /// Entries about the version that were not read, and why.
    pub not_counted: Vec<(u64, String)>,
}

impl Facts {
    fn set(
        &mut self,
        name: &'static str,
        value: V,
        detail: String,
        evidence: Vec<u64>,
        age: Option<u64>,
    ) {
        self.facts.push(Fact {
            attribute: name.to_owned(),
            value: value.plain(),
            detail,
            evidence,
            age_days: age,
        });
        self.values.push((name, value));
    }

    fn absent(&mut self, name: &'static str, why: String) {
        self.facts.push(Fact {
            attribute: name.to_owned(),
            value: Value::Null,
            detail: why,
            evidence: Vec::new(),
            age_days: None,
        });
    }

    /// The resource's attributes in Cedar's JSON entity form.
    pub(crate) fn cedar_attrs(&self) -> Map<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.cedar()))
            .collect()
    }

    /// Every key the attributes name.
    pub(crate) fn keys(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        for (_, v) in &self.values {
            v.keys(&mut out);
        }
        out
    }

    /// Every ledger index the facts were read from, ascending.
    pub(crate) fn read(&self) -> Vec<u64> {
        let all: BTreeSet<u64> = self
            .facts
            .iter()
            .flat_map(|f| f.evidence.iter().copied())
            .collect();
        all.into_iter().collect()
    }
}

/// An entry read: where it is, when it was recorded, who signed it, what it says, and
/// the SHA-256 of its bytes.
pub(crate) struct Found<P> {
    pub index: u64,
    pub at_ms: i64,
    pub key: String,
    pub statement: Statement,
    pub predicate: P,
    pub body_sha256: Digest,
}

/// Reading the ledger for one question.
pub(crate) struct Reader<'a> {
    ledger: aigis_ledger::Ledger,
    keys: Vec<aigis_crypto::PublicKey>,
    now_ms: i64,
    not_counted: &'a mut Vec<(u64, String)>,
    seen_bad: BTreeSet<u64>,
}

impl<'a> Reader<'a> {
    /// A reader of `project`'s ledger, ages measured at `now_ms`, what it does not count
    /// listed in `not_counted`.
    pub(crate) fn new(
        project: &aigis_ledger::Project,
        now_ms: i64,
        not_counted: &'a mut Vec<(u64, String)>,
    ) -> Result<Self, String> {
        Ok(Reader {
            ledger: project.open_ledger().map_err(|e| chain(&e))?,
            keys: project.keyring().map_err(|e| chain(&e))?.public_keys(),
            now_ms,
            not_counted,
            seen_bad: BTreeSet::new(),
        })
    }

    fn age_days(&self, at_ms: i64) -> u64 {
        u64::try_from((self.now_ms - at_ms).max(0) / 86_400_000).unwrap_or(0)
    }

    fn refuse(&mut self, index: u64, why: String) {
        if self.seen_bad.insert(index) {
            self.not_counted.push((index, why));
        }
    }

    /// The newest entry of type `P` with a subject named `<role>:…` whose digest is one of
    /// `digests`, signed by a project key.
    pub(crate) fn newest<P: Predicate>(
        &mut self,
        digests: &BTreeSet<Digest>,
        role: &str,
    ) -> Result<Option<Found<P>>, String> {
        let mut best: Option<Found<P>> = None;
        let mut untimed: Option<u64> = None;
        for digest in digests {
            let entries = self
                .ledger
                .store()
                .query(&aigis_ledger::Query {
                    subject: Some(*digest),
                    predicate_type: Some(P::TYPE.to_owned()),
                    ..Default::default()
                })
                .map_err(|e| chain(&e))?;
            for e in entries {
                if best.as_ref().is_some_and(|b| b.index >= e.index) {
                    continue;
                }
                let (statement, key) =
                    match aigis_ledger::signed_statement(&self.keys, e.index, &e.body) {
                        Ok(s) => s,
                        Err(why) => {
                            self.refuse(e.index, why);
                            continue;
                        }
                    };
                let names_it = statement.subject.iter().any(|s| {
                    s.name.as_deref().is_some_and(|n| n.starts_with(role))
                        && s.digest
                            .get("sha256")
                            .and_then(|h| h.parse::<Digest>().ok())
                            .is_some_and(|d| digests.contains(&d))
                });
                if !names_it {
                    continue;
                }
                // Its age decides: only a time its recording key signed counts.
                // A newer entry whose time does not verify is not skipped for an older
                // one: removing a failing result's time signature must not bring back the
                // passing result before it.
                let at_ms = match aigis_ledger::time::signed_time(&self.keys, &e) {
                    Ok(t) => t,
                    Err(why) => {
                        self.refuse(e.index, why);
                        untimed = untimed.max(Some(e.index));
                        continue;
                    }
                };
                match P::from_statement(&statement) {
                    Ok(predicate) => {
                        best = Some(Found {
                            index: e.index,
                            at_ms,
                            key,
                            statement,
                            predicate,
                            body_sha256: Digest::of(&e.body),
                        });
                    }
                    Err(err) => self.refuse(
                        e.index,
                        format!("evidence #{} does not read as {}: {err}", e.index, P::NAME),
                    ),
                }
            }
        }
        if untimed.is_some_and(|u| best.as_ref().is_none_or(|b| b.index < u)) {
            return Ok(None);
        }
        Ok(best)
    }
}

/// The commands that record each attribute's evidence, for a refusal that finds it
/// missing (a policy's `@fix` annotation says it instead when it has one).
pub(crate) fn how_to_get(path: &str) -> &'static str {
    match path {
        "stored_bytes" => "register the model again: aigis model register PATH --name NAME",
        "known_bad" => {
            "a known-bad file cannot be made good: replace the model with one built from trusted sources, and register that"
        }
        "scan" => {
            "registration scans the stored files: aigis model register PATH --name NAME (review a suspicious import and list it under [[model.allow]] in aigis.toml)"
        }
        "signature" => {
            "sign the model, then register it with its bundle: aigis model sign PATH, then aigis model register PATH --name NAME"
        }
        "training" | "training.trained_by" | "training.model" | "training.rows" => {
            "train the model with aigis, which records training evidence about the file it writes: aigis train TABLE --label COLUMN -o MODEL.onnx"
        }
        "training.dp" => {
            "train with differential privacy: aigis train TABLE --label COLUMN --dp --epsilon E --delta D --bounds LOW:HIGH --classes ... -o MODEL.onnx"
        }
        "training.data_manifest" => {
            "sign the training data, then train on it (the signed manifest beside it is checked): aigis data sign TABLE, then aigis train TABLE --label COLUMN -o MODEL.onnx"
        }
        "training.data_scan" => {
            "scan the training table in the project: aigis data scan TABLE --label COLUMN"
        }
        "training.adversarial" => {
            "train adversarially: aigis train TABLE --label COLUMN --adversarial-eps EPS -o MODEL.onnx"
        }
        p if p.starts_with("training.") => {
            "train the model with aigis: aigis train TABLE --label COLUMN -o MODEL.onnx"
        }
        p if p == "redteam" || p.starts_with("redteam.") => {
            "attack the version and record it: aigis redteam NAME@VERSION --data TABLE --label COLUMN"
        }
        p if p == "fairness" || p.starts_with("fairness.") => {
            "measure the model's decisions per group, naming the model: aigis fairness DECISIONS --label COLUMN --prediction COLUMN --sensitive COLUMN --model MODEL.onnx"
        }
        p if p == "shadow" || p.starts_with("shadow.") => {
            "add [model.gate.shadow] with this stage in its `stages` to aigis.toml, then serve the version in shadow ([serve.models.shadow]) until it is met"
        }
        p if p == "detector" || p.starts_with("detector.") => {
            "add [model.gate.detector] with this stage in its `stages` to aigis.toml, and calibrate the detectors with the version's file: aigis detect fit TABLE --model MODEL.onnx -o detector.json"
        }
        _ => "see `aigis gate --help` for the evidence each attribute comes from",
    }
}

/// `text` with the words `NAME`, `VERSION` and `PATH` (standing alone, as in a command)
/// replaced by the version's name, number and the path it was registered from.
pub(crate) fn fill(text: &str, facts: &Facts) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        let before = out.chars().next_back();
        for (token, value) in [
            ("NAME", facts.name.as_str()),
            ("VERSION", &facts.version.to_string()),
            ("PATH", facts.source.as_str()),
        ] {
            if let Some(after) = rest.strip_prefix(token)
                && !before.is_some_and(word)
                && !after.chars().next().is_some_and(word)
            {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// The gate's attributes of `record`, from the checks already made (`stored-bytes`,
/// `scan`, `signature`, and `shadow` and `detector` when they apply) and the ledger.
pub(crate) fn gather(
    project: &aigis_ledger::Project,
    record: &VersionRecord,
    checks: &[Check],
    known_bad: &aigis_scan::KnownBad,
    now_ms: i64,
) -> Result<Facts, String> {
    let mut facts = Facts {
        name: record.name.clone(),
        version: record.version,
        source: record.source.clone(),
        ..Facts::default()
    };
    let mut not_counted = Vec::new();
    let mut r = Reader::new(project, now_ms, &mut not_counted)?;
    let check = |name: &str| checks.iter().find(|c| c.check == name);

    facts.values.push(("name", V::Str(record.name.clone())));
    facts
        .values
        .push(("version", V::Long(i64::from(record.version))));
    facts
        .values
        .push(("registered_by", V::Key(record.registered_by.clone())));

    let stored = check("stored-bytes");
    facts.set(
        "stored_bytes",
        V::Bool(stored.is_some_and(|c| c.passed)),
        stored.map_or_else(|| "not checked".into(), |c| c.detail.clone()),
        Vec::new(),
        None,
    );

    // The known-bad feeds in force now (not when the version was scanned: a feed that
    // learned of a file since still stops it).
    let hits: Vec<String> = record
        .files
        .iter()
        .filter_map(|f| {
            known_bad
                .sources(&f.sha256)
                .map(|s| format!("`{}` ({}) is on it: {}", f.path, f.sha256, s.join("; ")))
        })
        .collect();
    facts.set(
        "known_bad",
        V::Bool(!hits.is_empty()),
        if hits.is_empty() {
            format!(
                "no stored file is on the {} known-bad feed(s) in force ({} digests)",
                known_bad.feeds().len(),
                known_bad.len()
            )
        } else {
            hits.join("; ")
        },
        Vec::new(),
        None,
    );

    // The scan: the check's judgement, and the worst verdict its evidence records.
    match (check("scan"), record.scan.as_ref()) {
        (Some(c), Some(_)) if c.evidence.is_some() => {
            let index = c.evidence.unwrap_or_default();
            let entry = r.ledger.store().entry(index).map_err(|e| chain(&e))?;
            let timed = entry
                .as_ref()
                .map(|e| aigis_ledger::time::signed_time(&r.keys, e));
            if let Some(Err(why)) = &timed {
                r.refuse(index, why.clone());
            }
            let read = entry.and_then(|e| {
                let at = timed?.ok()?;
                let (s, _) = aigis_ledger::signed_statement(&r.keys, index, &e.body).ok()?;
                let p = ModelScan::from_statement(&s).ok()?;
                let worst = p.files.iter().map(|f| f.verdict).max()?;
                let allowlist = p.allowlist.map(|a| a.digest.to_string());
                Some((worst, allowlist, at))
            });
            match read {
                Some((worst, allowlist, at)) => {
                    let age = r.age_days(at);
                    let mut rec = vec![
                        ("verdict", V::Str(worst.as_str().to_owned())),
                        ("passed", V::Bool(c.passed)),
                        ("evidence", V::long(index)),
                        ("age_days", V::long(age)),
                    ];
                    if let Some(a) = allowlist {
                        rec.push(("allowlist", V::Str(a)));
                    }
                    facts.set(
                        "scan",
                        V::Rec(rec),
                        c.detail.clone(),
                        vec![index],
                        Some(age),
                    );
                }
                None => facts.absent("scan", c.detail.clone()),
            }
        }
        (Some(c), _) => facts.absent("scan", c.detail.clone()),
        (None, _) => facts.absent("scan", "not checked".into()),
    }

    match check("signature") {
        Some(c) if record.signature_bundle.is_some() => {
            let mut rec = vec![("verified", V::Bool(c.passed))];
            if let Some(i) = c.evidence {
                rec.push(("evidence", V::long(i)));
            }
            if let Some(k) = &c.key {
                rec.push(("signed_by", V::Key(k.clone())));
            }
            facts.set(
                "signature",
                V::Rec(rec),
                c.detail.clone(),
                c.evidence.into_iter().collect(),
                None,
            );
        }
        Some(c) => facts.absent("signature", c.detail.clone()),
        None => facts.absent("signature", "not checked".into()),
    }

    let files: BTreeSet<Digest> = record.files.iter().map(|f| f.sha256).collect();
    training(&mut r, &mut facts, &files)?;
    redteam(&mut r, &mut facts, &files)?;
    fairness(&mut r, &mut facts, &files)?;

    for name in ["shadow", "detector"] {
        match check(name) {
            Some(c) => {
                let mut rec = vec![("passed", V::Bool(c.passed))];
                for (m, v) in &c.measures {
                    rec.push((
                        m,
                        match *m {
                            "rows" => V::long(*v as u64),
                            // Hours compared: more is better.
                            "hours" => V::better_up(*v),
                            // Rates: more is worse.
                            _ => V::worse_up(*v),
                        },
                    ));
                }
                facts.set(
                    name,
                    V::Rec(rec),
                    c.detail.clone(),
                    c.evidence.into_iter().collect(),
                    None,
                );
            }
            None => facts.absent(
                name,
                format!(
                    "aigis.toml has no [model.gate.{name}] for this stage, so nothing was checked"
                ),
            ),
        }
    }
    drop(r);
    facts.not_counted = not_counted;
    Ok(facts)
}

fn training(r: &mut Reader<'_>, facts: &mut Facts, files: &BTreeSet<Digest>) -> Result<(), String> {
    let Some(t) = r.newest::<Training>(files, "model:")? else {
        facts.absent(
            "training",
            "no signed training evidence names one of the version's files as its model".into(),
        );
        return Ok(());
    };
    let p = &t.predicate;
    let age = r.age_days(t.at_ms);
    let mut evidence = vec![t.index];
    let mut rec = vec![
        ("evidence", V::long(t.index)),
        ("age_days", V::long(age)),
        ("trained_by", V::Key(t.key.clone())),
        ("model", V::Str(p.model.clone())),
        ("rows", V::long(p.rows)),
        ("training_accuracy", V::better_up(p.training_accuracy)),
    ];
    let mut detail = format!(
        "{} trained on {} rows by key {} (training accuracy {:.3})",
        p.model, p.rows, t.key, p.training_accuracy
    );
    if let Some(v) = p.validation_accuracy {
        rec.push(("validation_accuracy", V::better_up(v)));
    }
    if let Some(a) = &p.adversarial {
        rec.push(("adversarial", V::Str(a.method.clone())));
        detail.push_str(&format!(", adversarially ({} at ε {})", a.method, a.eps));
    }
    if let Some(m) = &p.data_manifest {
        // The manifest's own evidence must be signed by a project key and have the root
        // the training evidence names.
        let verified = r
            .ledger
            .store()
            .entry(m.evidence)
            .map_err(|e| chain(&e))?
            .and_then(|e| {
                let (s, _) = aigis_ledger::signed_statement(&r.keys, m.evidence, &e.body).ok()?;
                let manifest = DataManifest::from_statement(&s).ok()?;
                Some(manifest.root == m.root)
            })
            .unwrap_or(false);
        evidence.push(m.evidence);
        rec.push((
            "data_manifest",
            V::Rec(vec![
                ("verified", V::Bool(verified)),
                ("signed_by", V::Key(m.signed_by.clone())),
                ("evidence", V::long(m.evidence)),
            ]),
        ));
        detail.push_str(&format!(
            ", its data checked against a signed manifest (evidence #{}{})",
            m.evidence,
            if verified {
                ""
            } else {
                ", which does NOT verify"
            }
        ));
    }
    if let Some(dp) = &p.dp {
        let mut d = vec![
            ("epsilon", V::worse_up(dp.epsilon)),
            ("delta_log10", V::worse_up(dp.delta.log10())),
            ("accountant", V::Str(dp.accountant.clone())),
        ];
        if let Some(b) = &dp.budget {
            d.push(("budget", V::Str(b.clone())));
        }
        rec.push(("dp", V::Rec(d)));
        detail.push_str(&format!(", (ε = {:.4}, δ = {:e})-DP", dp.epsilon, dp.delta));
    }
    // The table it was trained on, by its `data:` subject, and that table's newest scan.
    let tables: BTreeSet<Digest> = t
        .statement
        .subject
        .iter()
        .filter(|s| s.name.as_deref().is_some_and(|n| n.starts_with("data:")))
        .filter_map(|s| s.digest.get("sha256"))
        .filter_map(|h| h.parse().ok())
        .collect();
    if !tables.is_empty()
        && let Some(s) = r.newest::<DataScan>(&tables, "")?
    {
        let files: Vec<&aigis_evidence::DataScanFile> = match &s.predicate {
            DataScan::One(f) => vec![f.as_ref()],
            DataScan::Many(m) => m.files.iter().collect(),
        };
        let pii: u64 = files
            .iter()
            .flat_map(|f| &f.counts)
            .filter(|c| c.rule.starts_with("pii."))
            .map(|c| c.count)
            .sum();
        let personal: u64 = files.iter().map(|f| f.personal_columns.len() as u64).sum();
        let passed = match &s.predicate {
            DataScan::One(f) => f.passed,
            DataScan::Many(m) => m.passed,
        };
        let s_age = r.age_days(s.at_ms);
        let mut scan = vec![
            ("evidence", V::long(s.index)),
            ("age_days", V::long(s_age)),
            ("passed", V::Bool(passed)),
            ("pii_findings", V::long(pii)),
            ("personal_columns", V::long(personal)),
        ];
        let flagged: Option<u64> = files
            .iter()
            .map(|f| f.poisoning.as_ref().map(|p| p.suspicious_rows))
            .sum();
        if let Some(n) = flagged {
            scan.push(("poisoning_flagged", V::long(n)));
        }
        evidence.push(s.index);
        rec.push(("data_scan", V::Rec(scan)));
        detail.push_str(&format!(
            "; its table scanned (evidence #{}): {pii} personal-data finding(s), {}",
            s.index,
            flagged.map_or_else(
                || "no poisoning screen".to_owned(),
                |n| format!("{n} row(s) flagged as poisoned")
            )
        ));
    }
    facts.set("training", V::Rec(rec), detail, evidence, Some(age));
    Ok(())
}

fn max_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
}

fn min_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |m, v| Some(m.map_or(v, |m: f64| m.min(v))))
}

fn redteam(r: &mut Reader<'_>, facts: &mut Facts, files: &BTreeSet<Digest>) -> Result<(), String> {
    let Some(t) = r.newest::<RedTeam>(files, "model:")? else {
        facts.absent(
            "redteam",
            "no signed red-team evidence names one of the version's files".into(),
        );
        return Ok(());
    };
    let p = &t.predicate;
    let age = r.age_days(t.at_ms);
    let ran: Vec<&aigis_evidence::RedTeamAttack> =
        p.attacks.iter().filter(|a| a.skipped.is_none()).collect();
    let attacks: BTreeSet<String> = ran.iter().map(|a| a.attack.clone()).collect();
    let mut rec = vec![
        ("evidence", V::long(t.index)),
        ("age_days", V::long(age)),
        ("passed", V::Bool(p.passed)),
        ("attacks", V::Set(attacks.iter().cloned().collect())),
    ];
    let mut opt = |name: &'static str, value: Option<f64>, worse_up: bool| {
        if let Some(v) = value {
            rec.push((
                name,
                if worse_up {
                    V::worse_up(v)
                } else {
                    V::better_up(v)
                },
            ));
        }
    };
    // A skipped attack measured nothing: its robust accuracy is unknown, so the lowest
    // over the attacks is not known either, and is left absent (a policy that needs it
    // refuses).
    let all_ran = ran.len() == p.attacks.len();
    opt("max_eps", max_of(ran.iter().map(|a| Some(a.eps))), false);
    opt("clean_accuracy", p.clean_accuracy, false);
    opt(
        "robust_accuracy",
        if all_ran && ran.iter().all(|a| a.robust_accuracy.is_some()) {
            min_of(ran.iter().map(|a| a.robust_accuracy))
        } else {
            None
        },
        false,
    );
    opt(
        "success_rate",
        if all_ran && ran.iter().all(|a| a.success_rate.is_some()) {
            max_of(ran.iter().map(|a| a.success_rate))
        } else {
            None
        },
        true,
    );
    opt(
        "mia_auc",
        p.membership
            .as_ref()
            .and_then(|m| max_of(m.attacks.iter().map(|a| Some(a.auc)))),
        true,
    );
    opt(
        "extraction_fidelity",
        p.extraction
            .as_ref()
            .and_then(|x| max_of(x.points.iter().map(|q| Some(q.fidelity)))),
        true,
    );
    opt(
        "backdoor_success",
        p.poisoning
            .as_ref()
            .and_then(|x| max_of(x.outcomes.iter().map(|o| o.backdoor_success))),
        true,
    );
    let detail = format!(
        "{} ({}), {}",
        if attacks.is_empty() {
            "no evasion attack".to_owned()
        } else {
            attacks.iter().cloned().collect::<Vec<_>>().join(", ")
        },
        if p.passed {
            "every threshold met"
        } else {
            "a threshold NOT met"
        },
        p.clean_accuracy
            .map_or_else(String::new, |a| format!("clean accuracy {a:.3}"))
    );
    facts.set("redteam", V::Rec(rec), detail, vec![t.index], Some(age));
    Ok(())
}

fn fairness(r: &mut Reader<'_>, facts: &mut Facts, files: &BTreeSet<Digest>) -> Result<(), String> {
    let Some(f) = r.newest::<Fairness>(files, "model:")? else {
        facts.absent(
            "fairness",
            "no signed fairness evidence names one of the version's files as its model".into(),
        );
        return Ok(());
    };
    let p = &f.predicate;
    let age = r.age_days(f.at_ms);
    let mut rec = vec![
        ("evidence", V::long(f.index)),
        ("age_days", V::long(age)),
        ("passed", V::Bool(p.passed)),
    ];
    // The worst over the analyses; undefined anywhere (or never measured) is absent.
    let worst = |metric: &str, larger_is_worse: bool| -> Option<f64> {
        let values: Vec<Option<f64>> = p
            .analyses
            .iter()
            .flat_map(|a| a.disparities.iter().filter(|d| d.metric == metric))
            .map(|d| d.value.filter(|v| v.is_finite()))
            .collect();
        if values.is_empty() || values.iter().any(Option::is_none) {
            return None;
        }
        if larger_is_worse {
            max_of(values.into_iter())
        } else {
            min_of(values.into_iter())
        }
    };
    for (name, metric, larger_is_worse) in [
        (
            "demographic_parity_difference",
            "demographic-parity-difference",
            true,
        ),
        (
            "demographic_parity_ratio",
            "demographic-parity-ratio",
            false,
        ),
        (
            "equalized_odds_difference",
            "equalized-odds-difference",
            true,
        ),
        ("equalized_odds_ratio", "equalized-odds-ratio", false),
    ] {
        if let Some(v) = worst(metric, larger_is_worse) {
            rec.push((
                name,
                if larger_is_worse {
                    V::worse_up(v)
                } else {
                    V::better_up(v)
                },
            ));
        }
    }
    let detail = format!(
        "{} rows over {} analysis(es), {}",
        p.rows,
        p.analyses.len(),
        if p.passed {
            "every threshold met"
        } else {
            "a threshold NOT met"
        }
    );
    facts.set("fairness", V::Rec(rec), detail, vec![f.index], Some(age));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_towards_the_worse_side() {
        assert_eq!(decimal(1.993, true), "1.9930");
        assert_eq!(decimal(1.993_01, true), "1.9931");
        assert_eq!(decimal(1.993_01, false), "1.9930");
        assert_eq!(decimal(0.999_99, false), "0.9999");
        assert_eq!(decimal(0.999_99, true), "1.0000");
        assert_eq!(decimal(-5.0, true), "-5.0000");
        // log10(1e-5) is not exactly -5 in binary; it is still -5 here.
        assert_eq!(decimal(1e-5_f64.log10(), true), "-5.0000");
        assert_eq!(decimal(-4.999_95, true), "-4.9999");
        assert_eq!(decimal(-4.999_95, false), "-5.0000");
        assert_eq!(decimal(f64::INFINITY, true), "922337203685477.5807");
        assert_eq!(decimal(f64::NAN, true), "922337203685477.5807");
        assert_eq!(decimal(f64::NAN, false), "-922337203685477.5808");
        assert_eq!(decimal(1e300, false), "922337203685477.5807");
        assert_eq!(decimal(-1e300, true), "-922337203685477.5808");
        assert_eq!(decimal(0.0, true), "0.0000");
        assert_eq!(decimal(-0.000_01, true), "0.0000");
        assert_eq!(decimal(-0.000_01, false), "-0.0001");
    }

    #[test]
    fn fixes_name_the_version() {
        let facts = Facts {
            name: "fraud".into(),
            version: 3,
            source: "/m/model.onnx".into(),
            ..Facts::default()
        };
        assert_eq!(
            fill(
                "aigis redteam NAME@VERSION --data T; aigis model sign PATH, then NAMES PATHS",
                &facts
            ),
            "aigis redteam fraud@3 --data T; aigis model sign /m/model.onnx, then NAMES PATHS"
        );
    }

    /// Cedar itself reads every value written, the range's ends included.
    #[test]
    fn cedar_reads_the_decimals_written() {
        use std::str::FromStr as _;
        for x in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e300,
            1.993,
            -5.0,
            0.0,
        ] {
            for up in [true, false] {
                let text = decimal(x, up);
                let e = cedar_policy::Expression::from_str(&format!(
                    "decimal(\"{text}\").lessThanOrEqual(decimal(\"{text}\"))"
                ))
                .unwrap();
                let r = cedar_policy::Request::new(
                    cedar_policy::EntityUid::from_str("A::\"a\"").unwrap(),
                    cedar_policy::EntityUid::from_str("A::\"a\"").unwrap(),
                    cedar_policy::EntityUid::from_str("A::\"a\"").unwrap(),
                    cedar_policy::Context::empty(),
                    None,
                )
                .unwrap();
                let v = cedar_policy::eval_expression(&r, &cedar_policy::Entities::empty(), &e);
                assert!(
                    matches!(v, Ok(cedar_policy::EvalResult::Bool(true))),
                    "{text}: {v:?}"
                );
            }
        }
    }
}
