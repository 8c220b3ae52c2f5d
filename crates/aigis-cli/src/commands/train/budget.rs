//! `[train]`: whether every table trained on must be signed, and `[[train.budget]]`: the
//! privacy budget of a project's table, and what the ledger says has been spent of it.
//!
//! ```toml
//! [train]
//! require_signed_data = true           # a table must match its signed manifest
//!
//! [[train.budget]]
//! dataset = "patients"                 # the name evidence and messages use
//! paths = ["data/patients.csv"]        # the table's files, relative to the project
//! epsilon = 8.0                        # the most ε every DP run on it may spend in all
//! delta = 1e-5                         # the most δ, likewise
//! ```
//!
//! A table is under a budget when it is one of the budget's files, or has the bytes of one
//! of them or of a table an earlier run charged to the budget (a copy elsewhere, made
//! before or after the file changed). What has been
//! spent is the sum of the ε and δ of every signed `training` evidence charged to the
//! budget: basic composition, an upper bound whatever the runs were. Training a table
//! under a budget without DP, or beyond what is left, is refused; so is a run when a
//! training evidence in the ledger cannot be verified (what was spent cannot be known).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_evidence::{Predicate as _, Training};
use anyhow::{Result, anyhow, bail};
use serde::Deserialize;

/// `[train]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainConfig {
    /// Every table trained on must match a signed manifest (`aigis data sign`) that the
    /// ledger holds.
    #[serde(default)]
    require_signed_data: bool,
    #[serde(default)]
    budget: Vec<BudgetConfig>,
}

/// One `[[train.budget]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetConfig {
    dataset: String,
    paths: Vec<PathBuf>,
    epsilon: f64,
    delta: f64,
}

/// The budget a table is under, and what is spent of it.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    pub dataset: String,
    pub epsilon: f64,
    pub delta: f64,
    /// ε and δ spent by earlier runs, and how many runs.
    pub spent_epsilon: f64,
    pub spent_delta: f64,
    pub runs: u64,
}

impl Budget {
    /// Refuses a run that would spend `epsilon` and `delta` beyond what is left (a failed
    /// check: exit 1).
    pub fn check(&self, epsilon: f64, delta: f64) -> Result<()> {
        let (e, d) = (self.spent_epsilon + epsilon, self.spent_delta + delta);
        if !(e <= self.epsilon && d <= self.delta) {
            return Err(crate::failed(format!(
                "this run would spend ε = {epsilon:.4}, δ = {delta:e} of the privacy budget `{}` (ε ≤ {}, δ ≤ {:e}), of which {} earlier run(s) spent ε = {:.4}, δ = {:e}: {} left; spend less (a smaller --epsilon, more noise) or raise the budget in aigis.toml",
                self.dataset,
                self.epsilon,
                self.delta,
                self.runs,
                self.spent_epsilon,
                self.spent_delta,
                self.left()
            )));
        }
        Ok(())
    }

    /// What is left, for a person.
    pub fn left(&self) -> String {
        format!(
            "ε = {:.4}, δ = {:e}",
            (self.epsilon - self.spent_epsilon).max(0.0),
            (self.delta - self.spent_delta).max(0.0)
        )
    }
}

fn config(project: &aigis_ledger::Project) -> Result<TrainConfig> {
    let file = project.layout().config_file();
    let c: TrainConfig = toml::Value::Table(project.config.train.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            anyhow!(
                "invalid project file `{}`: [train]: {}",
                file.display(),
                e.message()
            )
        })?;
    let mut names = BTreeSet::new();
    for b in &c.budget {
        let bad = if b.dataset.trim().is_empty() {
            Some("`dataset` is empty".to_owned())
        } else if !names.insert(b.dataset.as_str()) {
            Some("a second budget of the same `dataset`".to_owned())
        } else if b.paths.is_empty() {
            Some("`paths` names no file".to_owned())
        } else if !(b.epsilon.is_finite() && b.epsilon > 0.0) {
            Some(format!(
                "`epsilon` is {}: it must be a positive number",
                b.epsilon
            ))
        } else if !(b.delta >= 0.0 && b.delta < 1.0) {
            Some(format!(
                "`delta` is {}: it must be at least 0 and below 1",
                b.delta
            ))
        } else {
            None
        };
        if let Some(why) = bad {
            bail!(
                "invalid project file `{}`: [[train.budget]] `{}`: {why}",
                file.display(),
                b.dataset
            );
        }
    }
    Ok(c)
}

/// Whether `[train] require_signed_data` is set.
pub(crate) fn requires_signed_data(project: &aigis_ledger::Project) -> Result<bool> {
    Ok(config(project)?.require_signed_data)
}

/// The file as the operating system names it, or as given when it does not exist.
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The budget `data` (whose bytes are `digest`) is under in `project`, with what the
/// ledger says has been spent of it; `None` when it is under none.
pub(crate) fn of(
    project: &aigis_ledger::Project,
    data: &Path,
    digest: &Digest,
) -> Result<Option<Budget>> {
    let c = config(project)?;
    if c.budget.is_empty() {
        return Ok(None);
    }
    // Every signed training evidence, once: what each budget has spent, and the tables
    // charged to it.
    let ledger = project.open_ledger()?;
    let keys = project.keyring()?.public_keys();
    let entries = ledger.store().query(&aigis_ledger::Query {
        predicate_type: Some(Training::TYPE.to_owned()),
        ..Default::default()
    })?;
    let mut spent: BTreeMap<String, (f64, f64, u64, BTreeSet<Digest>)> = BTreeMap::new();
    for entry in entries {
        let (statement, _) = aigis_ledger::signed_statement(&keys, entry.index, &entry.body)
            .map_err(|e| anyhow!("{e}: what the privacy budgets have spent cannot be known"))?;
        let t = Training::from_statement(&statement).map_err(|e| {
            anyhow!(
                "evidence #{} cannot be read ({e}): what the privacy budgets have spent cannot be known",
                entry.index
            )
        })?;
        let Some((dp, name)) = t.dp.as_ref().and_then(|d| Some((d, d.budget.clone()?))) else {
            continue;
        };
        let s = spent.entry(name).or_default();
        s.0 += dp.epsilon;
        s.1 += dp.delta;
        s.2 += 1;
        s.3.extend(statement.subject.iter().filter_map(|sub| {
            sub.name.as_deref()?.strip_prefix("data:")?;
            sub.digest.get("sha256")?.parse::<Digest>().ok()
        }));
    }
    let here = canonical(data);
    let matched: Vec<&BudgetConfig> = c
        .budget
        .iter()
        .filter(|b| {
            b.paths.iter().any(|p| {
                let file = project.root.join(p);
                canonical(&file) == here
                    || aigis_crypto::sha256_file(&file).is_ok_and(|d| d == *digest)
            }) || spent.get(&b.dataset).is_some_and(|s| s.3.contains(digest))
        })
        .collect();
    match matched.as_slice() {
        [] => Ok(None),
        [b] => {
            let (e, d, runs) = spent
                .get(&b.dataset)
                .map_or((0.0, 0.0, 0), |s| (s.0, s.1, s.2));
            Ok(Some(Budget {
                dataset: b.dataset.clone(),
                epsilon: b.epsilon,
                delta: b.delta,
                spent_epsilon: e,
                spent_delta: d,
                runs,
            }))
        }
        several => bail!(
            "`{}` is under {} privacy budgets ({}): a table must be under one; fix [[train.budget]] in aigis.toml",
            data.display(),
            several.len(),
            several
                .iter()
                .map(|b| format!("`{}`", b.dataset))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
