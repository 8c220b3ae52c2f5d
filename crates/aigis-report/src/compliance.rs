//! A compliance report: each control of a framework judged from the newest signed
//! evidence in the ledger, up to a checkpoint the report is bound to, with every entry it
//! cites carried inside it (its bytes and its inclusion proof), so that
//! [`crate::verify`] can check it offline.

use std::collections::{BTreeMap, BTreeSet};

use aigis_crypto::PublicKey;
use aigis_ledger::{Ledger, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::framework::{Control, Framework, Requirement, known_types};

/// The report format this crate writes and reads.
pub const FORMAT: &str = "aigis-compliance-report/v1";

/// How a requirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// The newest entry has what is required and is fresh enough.
    Satisfied,
    /// The newest entry lacks a required field's value.
    Failing,
    /// The newest entry is older than allowed.
    Stale,
    /// No signed entry.
    Absent,
}

/// How a control stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every requirement satisfied.
    Met,
    /// Some evidence, not all of it satisfying.
    Partial,
    /// No evidence at all.
    Missing,
}

impl Status {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Partial => "partial",
            Status::Missing => "missing",
        }
    }
}

/// One requirement's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementResult {
    /// What the evidence shows.
    pub what: String,
    /// How it stands.
    pub standing: Standing,
    /// The ledger entry read, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<u64>,
    /// Its evidence kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its age in whole days when the report was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_days: Option<u64>,
    /// Why it stands so.
    pub detail: String,
    /// What to do, when it is not satisfied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// One control's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlResult {
    /// The framework's id for it.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Its title.
    pub title: String,
    /// Met, partial or missing.
    pub status: Status,
    /// Each requirement, in the mapping's order.
    pub requirements: Vec<RequirementResult>,
}

/// Counts of controls by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Met.
    pub met: u64,
    /// Partly met.
    pub partial: u64,
    /// Missing.
    pub missing: u64,
}

impl Counts {
    fn add(&mut self, s: Status) {
        match s {
            Status::Met => self.met += 1,
            Status::Partial => self.partial += 1,
            Status::Missing => self.missing += 1,
        }
    }
}

/// A ledger entry the report cites, with what proves it is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitedEntry {
    /// Its index.
    pub index: u64,
    /// When the ledger recorded it (milliseconds since the epoch).
    pub recorded_at_ms: i64,
    /// Its bytes (a DSSE envelope, as JSON).
    pub entry: String,
    /// Its inclusion proof in the checkpoint's tree (C2SP tlog-proof text).
    pub proof: String,
    /// The recording key's signature over its leaf hash and `recorded_at_ms`
    /// (`aigis_ledger::time`), when it has one: what its age is judged by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_signature: Option<CitedTime>,
}

/// An entry's time signature, as a report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitedTime {
    /// The signing key's id (hex SHA-256 of the public key).
    pub key_id: String,
    /// The Ed25519 signature, hex.
    pub sig: String,
}

/// The framework as the report applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its source.
    pub source: String,
    /// What the mapping covers.
    pub scope: String,
    /// The SHA-256 of the mapping's text, in hex.
    pub mapping_sha256: String,
}

/// A compliance report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`FORMAT`].
    pub format: String,
    /// The framework.
    pub framework: FrameworkRef,
    /// The mapping's text, as applied (so a verifier judges with the same one).
    pub mapping: String,
    /// The project's origin (its ledger's name in checkpoints).
    pub project: String,
    /// The project's verifier keys when the report was made (C2SP vkeys): the entries it
    /// cites are signed by one of them.
    pub keys: Vec<String>,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The same, in milliseconds since the epoch (ages are measured from it).
    pub generated_at_ms: i64,
    /// The signed checkpoint it is bound to (C2SP signed note).
    pub checkpoint: String,
    /// The checkpoint's tree size: every entry cited is below it.
    pub checkpoint_size: u64,
    /// Controls by status.
    pub summary: Counts,
    /// Controls by status, per group, in the mapping's order of groups.
    pub groups: Vec<(String, Counts)>,
    /// Every control.
    pub controls: Vec<ControlResult>,
    /// Entries about the framework's evidence kinds that were not read (not signed by a
    /// project key), and why.
    pub not_counted: Vec<(u64, String)>,
    /// Every entry cited, ascending.
    pub entries: Vec<CitedEntry>,
}

/// The evidence kinds (predicate-type URIs) a requirement reads, and the fields that
/// select its entries.
pub(crate) fn selector(
    req: &Requirement,
    framework: &str,
    control: &Control,
    known: &BTreeMap<&'static str, &'static str>,
) -> (Vec<String>, BTreeMap<String, Value>) {
    if req.statement {
        let mut m = BTreeMap::new();
        m.insert("framework".to_owned(), Value::String(framework.to_owned()));
        m.insert("control".to_owned(), Value::String(control.id.clone()));
        return (
            vec![<aigis_evidence::ControlStatement as aigis_evidence::Predicate>::TYPE.to_owned()],
            m,
        );
    }
    let types = req
        .types
        .iter()
        .filter_map(|t| known.get(t.as_str()).map(|u| (*u).to_owned()))
        .collect();
    let m = req
        .matches
        .iter()
        .map(|(k, v)| (k.clone(), toml_json(v)))
        .collect();
    (types, m)
}

fn toml_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Whether a predicate has every field of `m` at its value.
pub(crate) fn selects(m: &BTreeMap<String, Value>, predicate: &Value) -> bool {
    m.iter().all(|(k, v)| predicate.get(k) == Some(v))
}

/// A requirement judged on the newest entry that was selected (`None`: there is none).
/// The age is `None` when the entry's time is not signed ([`signed_at`]): a requirement
/// with `max_age_days` then finds it stale, since its age cannot be told.
pub(crate) fn judge(req: &Requirement, found: Option<(&Value, Option<u64>)>) -> (Standing, String) {
    let Some((predicate, age)) = found else {
        return (
            Standing::Absent,
            "no signed entry of this kind in the ledger".into(),
        );
    };
    for (field, want) in &req.require {
        let have = predicate.get(field).filter(|v| !v.is_null());
        let ok = match want {
            toml::Value::String(s) if s == "*" => have.is_some(),
            w => have == Some(&toml_json(w)),
        };
        if !ok {
            let want = match want {
                toml::Value::String(s) if s == "*" => "present".to_owned(),
                w => format!("`{}`", toml_json(w)),
            };
            let have = have.map_or_else(|| "absent".to_owned(), |h| format!("`{h}`"));
            return (
                Standing::Failing,
                format!("the newest entry's `{field}` is {have}, not {want}"),
            );
        }
    }
    if let Some(max) = req.max_age_days {
        match age {
            None => {
                return (
                    Standing::Stale,
                    format!(
                        "the newest entry's time is not signed, so it cannot be shown to be at most {max} days old"
                    ),
                );
            }
            Some(age) if age > max => {
                return (
                    Standing::Stale,
                    format!("the newest entry is {age} days old, more than {max}"),
                );
            }
            Some(_) => {}
        }
    }
    (
        Standing::Satisfied,
        "the newest entry has what is required".into(),
    )
}

/// A control's status from its requirements' standings.
pub(crate) fn status_of(standings: &[Standing]) -> Status {
    if standings.iter().all(|s| *s == Standing::Satisfied) {
        Status::Met
    } else if standings.iter().all(|s| *s == Standing::Absent) {
        Status::Missing
    } else {
        Status::Partial
    }
}

/// The command that records a requirement's evidence, when the mapping does not say.
pub(crate) fn default_fix(req: &Requirement, framework: &str, control: &str) -> String {
    if req.statement {
        return format!(
            "record who is responsible and where it is documented: aigis report attest --framework {framework} --control '{control}' --statement TEXT --document FILE"
        );
    }
    let kind = req.types.first().map_or("", String::as_str);
    match kind {
        "redteam" => "aigis redteam MODEL --data TABLE --label COLUMN".into(),
        "fairness" => {
            "aigis fairness DECISIONS --label COLUMN --prediction COLUMN --sensitive COLUMN --model MODEL".into()
        }
        "explanation" => "aigis explain MODEL --data TABLE".into(),
        "training" => "aigis train TABLE --label COLUMN -o MODEL.onnx".into(),
        "data-manifest" => "aigis data sign TABLE".into(),
        "data-scan" => "aigis data scan TABLE --label COLUMN".into(),
        "data-profile" => "aigis data profile TABLE".into(),
        "data-mask" => "aigis data mask TABLE --columns COLUMNS".into(),
        "encryption" => "aigis data encrypt FILE --to RECIPIENT".into(),
        "model-scan" | "model-registration" => "aigis model register MODEL --name NAME".into(),
        "model-signature" => "aigis model sign MODEL".into(),
        "model-verification" => "aigis model verify MODEL".into(),
        "model-promotion" => "aigis model promote NAME VERSION".into(),
        "detector-fit" => "aigis detect fit TABLE --model MODEL -o detector.json".into(),
        "gateway-call" | "gateway-alert" | "monitor-window" | "shadow-period" => {
            "serve the model through the gateway: aigis serve".into()
        }
        "monitor-drift" => "aigis monitor drift REFERENCE CURRENT".into(),
        "certification" => "aigis certify MODEL --data TABLE --label COLUMN".into(),
        "dependency-scan" => "aigis deps scan LOCKFILE... --osv OSV_DIR".into(),
        other => format!("record `{other}` evidence"),
    }
}

/// An entry read for a report.
#[derive(Clone)]
struct Read {
    index: u64,
    /// Its signed time (`None`: not signed).
    at_ms: Option<i64>,
    predicate: Value,
    /// Its time signature does not verify (the ledger file was edited): it is not
    /// counted, and neither is an older entry behind it (that would let an edit bring
    /// back the passing result a newer failing one replaced).
    time_bad: bool,
}

/// Finds the newest signed entry of some kinds that a selector picks, up to the
/// checkpoint's size.
struct Finder<'a> {
    ledger: &'a Ledger,
    keys: &'a [PublicKey],
    size: u64,
    /// Entries read so far, per type: newest first, whether all were read, and the page
    /// size they were read with.
    read: BTreeMap<String, (Vec<Read>, bool, u64)>,
    not_counted: BTreeMap<u64, String>,
}

impl Finder<'_> {
    /// The newest entry of `kind` that `m` selects. Reads the kind's newest entries a
    /// page at a time (32, then 8 times more each time), signatures checked once each.
    fn newest(&mut self, kind: &str, m: &BTreeMap<String, Value>) -> Result<Option<Read>, Error> {
        loop {
            let limit = match self.read.get(kind) {
                Some((entries, done, limit)) => {
                    if let Some(found) = entries.iter().find(|r| selects(m, &r.predicate)) {
                        return Ok((!found.time_bad).then(|| found.clone()));
                    }
                    if *done {
                        return Ok(None);
                    }
                    limit.saturating_mul(8)
                }
                None => 32,
            };
            let page = self.ledger.store().query(&Query {
                predicate_type: Some(kind.to_owned()),
                newest_first: true,
                limit: Some(limit),
                ..Default::default()
            })?;
            let done = (page.len() as u64) < limit;
            let mut fresh = Vec::new();
            for e in page {
                if e.index >= self.size {
                    continue;
                }
                let read = aigis_ledger::signed_statement(self.keys, e.index, &e.body).map(
                    |(statement, _)| {
                        let predicate = statement.predicate.unwrap_or(Value::Null);
                        let (at_ms, time_bad) =
                            match aigis_ledger::time::checked_time(self.keys, &e) {
                                Ok(t) => (signed_at(t, &predicate), None),
                                Err(why) => (None, Some(why)),
                            };
                        (
                            Read {
                                index: e.index,
                                at_ms,
                                predicate,
                                time_bad: time_bad.is_some(),
                            },
                            time_bad,
                        )
                    },
                );
                match read {
                    Ok((read, time_bad)) => {
                        if let Some(why) = time_bad {
                            self.not_counted.insert(e.index, why);
                        }
                        fresh.push(read);
                    }
                    Err(why) => {
                        self.not_counted.insert(e.index, why);
                    }
                }
            }
            self.read.insert(kind.to_owned(), (fresh, done, limit));
        }
    }
}

/// The time an entry's age is judged by: the recording time its key signed (`checked`,
/// from `aigis_ledger::time::checked_time`), else the `time` its own signed predicate
/// states (a gateway call's arrival, RFC 3339: `aigis serve` does not sign each call's
/// recording time apart), else none.
pub(crate) fn signed_at(checked: Option<i64>, predicate: &Value) -> Option<i64> {
    checked.or_else(|| {
        let text = predicate.get("time")?.as_str()?;
        let t = humantime::parse_rfc3339(text).ok()?;
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok()
    })
}

fn age_days(now_ms: i64, at_ms: i64) -> u64 {
    u64::try_from((now_ms - at_ms).max(0) / 86_400_000).unwrap_or(0)
}

/// RFC 3339 of a time in milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The project's keys as C2SP verifier keys.
fn vkeys(project: &aigis_ledger::Project) -> Result<(Vec<PublicKey>, Vec<String>), Error> {
    let keys = project.keyring()?.public_keys();
    let mut v = Vec::new();
    for k in &keys {
        v.push(aigis_crypto::note::verifier_key(project.origin(), k)?);
    }
    Ok((keys, v))
}

/// Every control of `framework` judged from `ledger`'s entries below `size` signed by one
/// of `keys`, ages measured at `now_ms`: the controls, the entries cited, and the entries
/// not counted.
#[expect(clippy::type_complexity, reason = "a private step's three results")]
fn judge_ledger(
    ledger: &Ledger,
    keys: &[PublicKey],
    framework: &Framework,
    size: u64,
    now_ms: i64,
) -> Result<(Vec<ControlResult>, BTreeSet<u64>, Vec<(u64, String)>), Error> {
    let known = known_types();
    let mut finder = Finder {
        ledger,
        keys,
        size,
        read: BTreeMap::new(),
        not_counted: BTreeMap::new(),
    };
    let mut controls = Vec::new();
    let mut cited = BTreeSet::new();
    for c in &framework.controls {
        let mut reqs = Vec::new();
        for r in &c.evidence {
            let (kinds, m) = selector(r, &framework.id, c, &known);
            let mut best: Option<(Read, String)> = None;
            for kind in &kinds {
                if let Some(found) = finder.newest(kind, &m)?
                    && best.as_ref().is_none_or(|(b, _)| found.index > b.index)
                {
                    best = Some((found, kind.clone()));
                }
            }
            let age = best
                .as_ref()
                .and_then(|(b, _)| b.at_ms.map(|at| age_days(now_ms, at)));
            let (standing, detail) = judge(r, best.as_ref().map(|(b, _)| (&b.predicate, age)));
            if let Some((b, _)) = &best {
                cited.insert(b.index);
            }
            reqs.push(RequirementResult {
                what: r.what.clone(),
                standing,
                evidence: best.as_ref().map(|(b, _)| b.index),
                kind: best.as_ref().map(|(_, k)| name_of(k, &known)),
                age_days: age,
                detail,
                fix: (standing != Standing::Satisfied).then(|| {
                    r.fix
                        .clone()
                        .unwrap_or_else(|| default_fix(r, &framework.id, &c.id))
                }),
            });
        }
        let standings: Vec<Standing> = reqs.iter().map(|r| r.standing).collect();
        controls.push(ControlResult {
            id: c.id.clone(),
            group: c.group.clone(),
            title: c.title.clone(),
            status: status_of(&standings),
            requirements: reqs,
        });
    }
    Ok((controls, cited, finder.not_counted.into_iter().collect()))
}

/// Makes the report of `framework` (whose mapping text is `mapping`) over `project`'s
/// ledger: signs a checkpoint of the ledger as it is, and judges every control from the
/// entries below it. `now_ms` is when ages are measured from.
pub fn build(
    project: &aigis_ledger::Project,
    key: &aigis_crypto::SigningKey,
    framework: &Framework,
    mapping: &str,
    now_ms: i64,
) -> Result<Report, Error> {
    let ledger = project.open_ledger()?;
    let checkpoint = ledger.checkpoint(project.origin(), key)?;
    let (keys, vkeys) = vkeys(project)?;
    let (controls, cited, not_counted) =
        judge_ledger(&ledger, &keys, framework, checkpoint.tree_size, now_ms)?;
    let (summary, groups) = tally(&controls);
    let mut entries = Vec::new();
    for index in cited {
        let e = ledger.store().entry(index)?.ok_or_else(|| {
            Error::Ledger(aigis_ledger::Error::NotFound(format!("entry {index}")))
        })?;
        let proof = ledger.prove_inclusion(index, &checkpoint)?;
        entries.push(CitedEntry {
            index,
            recorded_at_ms: e.recorded_at_ms,
            time_signature: e.time.as_ref().map(|t| CitedTime {
                key_id: t.key_id.clone(),
                sig: hex::encode(&t.sig),
            }),
            entry: String::from_utf8(e.body).map_err(|_| Error::NotText(index))?,
            proof: String::from_utf8(proof.to_text()).map_err(|_| Error::NotText(index))?,
        });
    }
    Ok(Report {
        format: FORMAT.to_owned(),
        framework: FrameworkRef {
            id: framework.id.clone(),
            name: framework.name.clone(),
            version: framework.version.clone(),
            source: framework.source.clone(),
            scope: framework.scope.clone(),
            mapping_sha256: crate::sha256_hex(mapping.as_bytes()),
        },
        mapping: mapping.to_owned(),
        project: project.origin().to_owned(),
        keys: vkeys,
        generated_at: rfc3339(now_ms),
        generated_at_ms: now_ms,
        checkpoint: String::from_utf8(checkpoint.note.clone()).map_err(|_| Error::NotText(0))?,
        checkpoint_size: checkpoint.tree_size,
        summary,
        groups,
        controls,
        not_counted,
        entries,
    })
}

/// What an offline check cannot see: that each requirement's entry was the newest of its
/// kind below the report's checkpoint, and that nothing reported absent was there. With
/// the project's ledger at hand (which must still hold the checkpoint's tree: the caller
/// checks the ledger itself with `aigis ledger verify`), every control is judged again,
/// as of the report's time, and each difference is returned.
pub fn differences_from_ledger(
    report: &Report,
    project: &aigis_ledger::Project,
) -> Result<Vec<String>, Error> {
    let ledger = project.open_ledger()?;
    let mut out = Vec::new();
    let size = ledger.tree_size()?;
    if size < report.checkpoint_size {
        out.push(format!(
            "the project's ledger holds {size} entries, fewer than the report's checkpoint ({})",
            report.checkpoint_size
        ));
        return Ok(out);
    }
    let framework = Framework::parse(&report.mapping, "the report's mapping")?;
    let keys: Vec<PublicKey> = report
        .keys
        .iter()
        .filter_map(|v| aigis_crypto::note::public_key_of(v).ok().map(|(_, k)| k))
        .collect();
    let (controls, _, _) = judge_ledger(
        &ledger,
        &keys,
        &framework,
        report.checkpoint_size,
        report.generated_at_ms,
    )?;
    for (mine, theirs) in controls.iter().zip(&report.controls) {
        for (m, t) in mine.requirements.iter().zip(&theirs.requirements) {
            if m.evidence != t.evidence || m.standing != t.standing {
                out.push(format!(
                    "control `{}`: for `{}` the ledger gives {} ({:?}), the report {} ({:?})",
                    mine.id,
                    m.what,
                    m.evidence
                        .map_or("no entry".into(), |i| format!("entry #{i}")),
                    m.standing,
                    t.evidence
                        .map_or("no entry".into(), |i| format!("entry #{i}")),
                    t.standing
                ));
            }
        }
    }
    Ok(out)
}

/// The evidence kind's name for a predicate-type URI.
pub(crate) fn name_of(uri: &str, known: &BTreeMap<&'static str, &'static str>) -> String {
    known
        .iter()
        .find(|(_, u)| **u == uri)
        .map_or_else(|| uri.to_owned(), |(n, _)| (*n).to_owned())
}

/// Counts over all controls and per group (groups in first-seen order).
pub(crate) fn tally(controls: &[ControlResult]) -> (Counts, Vec<(String, Counts)>) {
    let mut summary = Counts::default();
    let mut groups: Vec<(String, Counts)> = Vec::new();
    for c in controls {
        summary.add(c.status);
        match groups.iter_mut().find(|(g, _)| *g == c.group) {
            Some((_, n)) => n.add(c.status),
            None => {
                let mut n = Counts::default();
                n.add(c.status);
                groups.push((c.group.clone(), n));
            }
        }
    }
    (summary, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed recording time wins; without one, a predicate's own RFC 3339 `time` (a
    /// gateway call's); else no age at all.
    #[test]
    fn an_entry_s_time_is_its_signed_time_else_its_predicate_s() {
        let call = serde_json::json!({"time": "2026-12-01T10:00:00.250Z"});
        assert_eq!(signed_at(Some(5), &call), Some(5));
        assert_eq!(signed_at(None, &call), Some(1_796_119_200_250));
        assert_eq!(
            signed_at(None, &serde_json::json!({"time": "yesterday"})),
            None
        );
        assert_eq!(signed_at(None, &serde_json::json!({"time": 17})), None);
        assert_eq!(signed_at(None, &Value::Null), None);
    }
}
