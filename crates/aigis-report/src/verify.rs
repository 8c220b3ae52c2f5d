//! Checking a signed compliance report offline, with nothing but the project's verifier
//! key: the report's signature, the checkpoint it is bound to, every cited entry's
//! inclusion in that checkpoint's tree and its signature, and that every control's status
//! follows from the cited entries under the mapping the report carries.

use std::collections::BTreeMap;

use aigis_crypto::PublicKey;
use aigis_crypto::dsse::Envelope;
use serde::Serialize;
use serde_json::Value;

use crate::compliance::{FORMAT, Report, judge, name_of, selector, selects, status_of, tally};
use crate::framework::{Framework, known_types};
use crate::{Error, PAYLOAD_TYPE};

/// What the check found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// No problem.
    pub ok: bool,
    /// The key id that signed the report.
    pub signed_by: Option<String>,
    /// The framework, as the report names it.
    pub framework: Option<String>,
    /// The checkpoint's tree size.
    pub checkpoint_size: Option<u64>,
    /// Entries whose inclusion and signature were checked.
    pub entries_checked: u64,
    /// Controls whose status was judged again from the cited entries.
    pub controls_checked: u64,
    /// Every problem found.
    pub problems: Vec<String>,
    /// The report, when its signature verified.
    #[serde(skip)]
    pub report: Option<Report>,
}

/// Checks the signed report `bytes` against the verifier keys `vkeys` (C2SP verifier key
/// strings, as `aigis keys show` prints them). A report that is not well formed at all is
/// an error; one that is well formed but does not check is `ok: false` with its problems.
pub fn verify(bytes: &[u8], vkeys: &[String]) -> Result<Verified, Error> {
    let mut trusted: Vec<PublicKey> = Vec::new();
    for v in vkeys {
        trusted.push(aigis_crypto::note::public_key_of(v)?.1);
    }
    let envelope = Envelope::from_json(bytes).map_err(|e| Error::NotAReport(e.to_string()))?;
    let mut out = Verified {
        ok: false,
        signed_by: None,
        framework: None,
        checkpoint_size: None,
        entries_checked: 0,
        controls_checked: 0,
        problems: Vec::new(),
        report: None,
    };
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Error::NotAReport(format!(
            "its payload type is `{}`, not `{PAYLOAD_TYPE}`",
            envelope.payload_type
        )));
    }
    match envelope.verify(&trusted) {
        Ok(id) => out.signed_by = Some(id),
        Err(e) => {
            out.problems.push(format!(
                "the report is not signed by a key given: {}",
                aigis_core::error_chain(&e)
            ));
            return Ok(out);
        }
    }
    let report: Report = serde_json::from_slice(&envelope.payload)
        .map_err(|e| Error::NotAReport(format!("its payload does not read as a report: {e}")))?;
    if report.format != FORMAT {
        return Err(Error::NotAReport(format!(
            "its format is `{}`, not `{FORMAT}`",
            report.format
        )));
    }
    out.framework = Some(report.framework.id.clone());
    out.checkpoint_size = Some(report.checkpoint_size);
    check(&report, &trusted, &mut out);
    out.ok = out.problems.is_empty();
    out.report = Some(report);
    Ok(out)
}

fn check(report: &Report, trusted: &[PublicKey], out: &mut Verified) {
    let problems = &mut out.problems;
    // The project's keys the report lists: the entries are signed by them. The report's
    // signer vouches for the list, so the signer must be on it.
    let mut keys: Vec<PublicKey> = Vec::new();
    let mut verifiers = Vec::new();
    for v in &report.keys {
        match (
            aigis_crypto::note::public_key_of(v),
            aigis_crypto::note::parse_verifier_key(v),
        ) {
            (Ok((_, k)), Ok(n)) => {
                keys.push(k);
                verifiers.push(n);
            }
            _ => problems.push(format!("the report lists a key that does not read: `{v}`")),
        }
    }
    if !trusted.iter().any(|t| keys.contains(t)) {
        problems.push("none of the keys given is among the project keys the report lists".into());
    }
    // The checkpoint.
    match aigis_ledger::checkpoint::open(
        report.checkpoint.as_bytes(),
        verifiers.clone(),
        Some(&report.project),
    ) {
        Ok(cp) if cp.size == report.checkpoint_size => {}
        Ok(cp) => problems.push(format!(
            "the checkpoint is of {} entries, the report says {}",
            cp.size, report.checkpoint_size
        )),
        Err(e) => problems.push(format!("the checkpoint does not verify: {e}")),
    }
    // Every cited entry: in the checkpoint's tree, and signed by a project key.
    let mut predicates: BTreeMap<u64, (String, Value, Option<i64>)> = BTreeMap::new();
    for e in &report.entries {
        let proof = match aigis_ledger::InclusionProof::parse(e.proof.as_bytes()) {
            Ok(p) => p,
            Err(err) => {
                problems.push(format!(
                    "entry #{}: its proof does not read: {err}",
                    e.index
                ));
                continue;
            }
        };
        if proof.index != e.index {
            problems.push(format!(
                "entry #{}: its proof is for index {}",
                e.index, proof.index
            ));
            continue;
        }
        if let Err(err) = proof.verify(
            e.entry.as_bytes(),
            verifiers.clone(),
            Some(report.checkpoint.as_bytes()),
        ) {
            problems.push(format!(
                "entry #{} is not in the checkpoint's tree: {err}",
                e.index
            ));
            continue;
        }
        let time = match &e.time_signature {
            None => None,
            Some(t) => match hex::decode(&t.sig) {
                Ok(sig) => Some(aigis_ledger::time::TimeSignature {
                    key_id: t.key_id.clone(),
                    sig,
                }),
                Err(_) => {
                    problems.push(format!("entry #{}'s time signature is not hex", e.index));
                    continue;
                }
            },
        };
        let at = match aigis_ledger::time::check(
            &keys,
            e.index,
            e.entry.as_bytes(),
            e.recorded_at_ms,
            time.as_ref(),
        ) {
            Ok(at) => at,
            Err(why) => {
                problems.push(why);
                continue;
            }
        };
        match aigis_ledger::signed_statement(&keys, e.index, e.entry.as_bytes()) {
            Ok((s, _)) => {
                let predicate = s.predicate.unwrap_or(Value::Null);
                let at = crate::compliance::signed_at(at, &predicate);
                predicates.insert(e.index, (s.predicate_type.clone(), predicate, at));
                out.entries_checked += 1;
            }
            Err(why) => problems.push(why),
        }
    }
    // The statuses, judged again from the cited entries with the report's own mapping.
    let framework = match Framework::parse(&report.mapping, "the report's mapping") {
        Ok(f) => f,
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    if crate::sha256_hex(report.mapping.as_bytes()) != report.framework.mapping_sha256 {
        problems.push("the mapping's digest is not the one the report names".into());
    }
    if framework.id != report.framework.id || framework.controls.len() != report.controls.len() {
        problems.push("the controls are not the mapping's".into());
        return;
    }
    let known = known_types();
    for (c, r) in framework.controls.iter().zip(&report.controls) {
        if c.id != r.id || c.evidence.len() != r.requirements.len() {
            problems.push(format!("control `{}` is not the mapping's", r.id));
            continue;
        }
        let mut standings = Vec::new();
        for (req, got) in c.evidence.iter().zip(&r.requirements) {
            let (kinds, m) = selector(req, &framework.id, c, &known);
            let found = match got.evidence {
                None => None,
                Some(i) => match predicates.get(&i) {
                    None => {
                        problems.push(format!(
                            "control `{}` cites entry #{i}, which the report does not carry (or which did not check)",
                            c.id
                        ));
                        continue;
                    }
                    Some((kind, predicate, at)) => {
                        if !kinds.contains(kind) || !selects(&m, predicate) {
                            problems.push(format!(
                                "control `{}` cites entry #{i}, a `{}` the requirement does not read",
                                c.id,
                                name_of(kind, &known)
                            ));
                            continue;
                        }
                        let age = at.map(|at| {
                            u64::try_from((report.generated_at_ms - at).max(0) / 86_400_000)
                                .unwrap_or(0)
                        });
                        Some((predicate, age))
                    }
                },
            };
            let (standing, _) = judge(req, found);
            if standing != got.standing {
                problems.push(format!(
                    "control `{}`: the report says `{}` is {:?}, its entry says {:?}",
                    c.id, got.what, got.standing, standing
                ));
            }
            standings.push(standing);
        }
        if standings.len() == c.evidence.len() {
            let status = status_of(&standings);
            if status != r.status {
                problems.push(format!(
                    "control `{}`: the report says {}, its evidence says {}",
                    c.id,
                    r.status.as_str(),
                    status.as_str()
                ));
            }
            out.controls_checked += 1;
        }
    }
    let (summary, groups) = tally(&report.controls);
    if summary != report.summary || groups != report.groups {
        problems.push("the summary does not add up to the controls".into());
    }
}
