//! `aigis data scan`: one streamed pass over a table that validates it against a profile,
//! finds personal data, and (with a label column) screens it for poisoning.
//!
//! The reader runs on the calling thread and hands batches to worker threads through a
//! bounded channel, so memory holds at most `2 × workers + 1` batches of cells (each about
//! [`ReadOptions::batch_bytes`] of text) plus, for poisoning, the numeric features (8
//! bytes per numeric cell). Findings are kept in full as counts per rule and column, and
//! as details up to [`ScanOptions::max_details`] per rule and column (the first rows).

mod features;
pub mod quarantine;
pub mod quasi;
mod validate;

pub use features::{ClassSummary, NULL_LABEL, PoisonReason, PoisonRow, PoisonSummary};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aigis_core::{Finding, Severity};
use serde::Serialize;

use crate::Error;
use crate::pii::columns::{self, ColumnClass};
use crate::pii::{self, Detector, PiiKind, PiiMatch};
use crate::poison;
use crate::profile::{ColumnType, Profile, TableStats};
use crate::table::{self, Batch, CellKind, Format, ReadOptions};
use validate::Schema;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub read: ReadOptions,
    pub format: Option<Format>,
    /// The reference profile; without one, types are inferred from the first batch and
    /// only types are checked.
    pub profile: Option<Profile>,
    /// Findings kept in detail per rule and column (all are counted).
    pub max_details: usize,
    /// Worker threads [default: the available cores].
    pub threads: Option<usize>,
    /// Look for personal data and secrets in every text-like column.
    pub pii: bool,
    /// PII matches below this confidence are not reported.
    pub pii_min_confidence: f32,
    /// The label column: turns on the poisoning detectors that need labels.
    pub label: Option<String>,
    /// Run the poisoning detectors (implied by a label).
    pub poison: bool,
    pub poison_options: poison::Options,
    /// Collect every row with a finding at or above this severity (for a quarantine),
    /// into [`ScanReport::flagged_rows`].
    pub flag_rows_at: Option<Severity>,
}

/// What a scan is doing, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Input bytes read so far.
    Read(u64),
    /// A poisoning detector's stage, and its steps done of total.
    Poison(&'a str, u64, u64),
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            read: ReadOptions::default(),
            format: None,
            profile: None,
            max_details: 100,
            threads: None,
            pii: true,
            pii_min_confidence: 0.5,
            label: None,
            poison: false,
            poison_options: poison::Options::default(),
            flag_rows_at: None,
        }
    }
}

/// Counts of one rule in one column (or in none).
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub severity: Severity,
    pub count: u64,
}

/// What a scan found.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub format: Format,
    pub rows: u64,
    pub bytes: u64,
    pub columns: Vec<String>,
    /// `reference` when a profile was given, `inferred` when types came from the file.
    pub schema: &'static str,
    /// Every finding, counted per rule and column, most severe first.
    pub counts: Vec<RuleCount>,
    /// Findings in detail (the first [`ScanOptions::max_details`] per rule and column),
    /// in row order.
    pub findings: Vec<Finding>,
    /// Columns judged to hold people's names, dates of birth, addresses, postal codes or
    /// person identifiers (from the header, the values' shape and the census name lists),
    /// with the evidence. Each of their cells is also a `pii.<kind>` finding.
    pub personal_columns: Vec<ColumnClass>,
    /// Columns that together single people out (date of birth, sex, postal code, age,
    /// race, …), with the share of rows they make unique and k-anonymity's k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quasi_identifiers: Option<quasi::QuasiIdentifiers>,
    /// The poisoning screen, with a label column or `poison` set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poisoning: Option<PoisonSummary>,
    /// With [`ScanOptions::flag_rows_at`]: every flagged row (1-based) and its rules.
    #[serde(skip)]
    pub flagged_rows: BTreeMap<u64, BTreeSet<String>>,
    pub seconds: f64,
}

impl ScanReport {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.counts.iter().map(|c| c.severity).max()
    }

    /// How many findings are at or above `severity`.
    pub fn count_at_least(&self, severity: Severity) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.severity >= severity)
            .map(|c| c.count)
            .sum()
    }
}

/// Keeps counts of every finding and the first few in detail.
#[derive(Debug, Default)]
struct Sink {
    max_details: usize,
    counts: BTreeMap<(String, Option<String>), (Severity, u64)>,
    details: BTreeMap<(String, Option<String>), Vec<Finding>>,
    /// Every row with a finding at or above `flag_at`, with the rules that fired.
    flag_at: Option<Severity>,
    flagged: BTreeMap<u64, BTreeSet<String>>,
}

impl Sink {
    fn new(max_details: usize, flag_at: Option<Severity>) -> Self {
        Self {
            max_details,
            flag_at,
            ..Self::default()
        }
    }

    fn push(&mut self, f: Finding) {
        if let (Some(at), Some(row)) = (self.flag_at, f.row)
            && f.severity >= at
            && row > 0
        {
            self.flagged.entry(row).or_default().insert(f.rule.clone());
        }
        let key = (f.rule.clone(), f.column.clone());
        let entry = self.counts.entry(key.clone()).or_insert((f.severity, 0));
        entry.0 = entry.0.max(f.severity);
        entry.1 += 1;
        let kept = self.details.entry(key).or_default();
        if kept.len() < self.max_details {
            kept.push(f);
        } else if let Some(last) = kept.last()
            && f.row < last.row
        {
            // Workers see batches out of order: keep the earliest rows.
            kept.push(f);
            kept.sort_by_key(|f| f.row);
            kept.truncate(self.max_details);
        }
    }

    /// The finding `template` at each of `rows` (in order): counted and flagged row by
    /// row, but built in detail only as far as [`Sink::max_details`] keeps, so a column
    /// of a million names costs a million counts, not a million findings.
    fn push_rows(&mut self, template: Finding, rows: &[u64]) {
        let Some(&first) = rows.first() else {
            return;
        };
        if let Some(at) = self.flag_at
            && template.severity >= at
        {
            for &row in rows.iter().filter(|r| **r > 0) {
                self.flagged
                    .entry(row)
                    .or_default()
                    .insert(template.rule.clone());
            }
        }
        let key = (template.rule.clone(), template.column.clone());
        let entry = self
            .counts
            .entry(key.clone())
            .or_insert((template.severity, 0));
        entry.0 = entry.0.max(template.severity);
        entry.1 += rows.len() as u64;
        let kept = self.details.entry(key).or_default();
        // Workers see batches out of order: keep the earliest rows.
        if kept.len() >= self.max_details && kept.last().is_some_and(|f| f.row <= Some(first)) {
            return;
        }
        kept.extend(
            rows.iter()
                .take(self.max_details)
                .map(|&r| template.clone().at_row(r)),
        );
        kept.sort_by_key(|f| f.row);
        kept.truncate(self.max_details);
    }

    fn merge(&mut self, other: Sink) {
        for (row, rules) in other.flagged {
            self.flagged.entry(row).or_default().extend(rules);
        }
        for (key, (sev, n)) in other.counts {
            let entry = self.counts.entry(key).or_insert((sev, 0));
            entry.0 = entry.0.max(sev);
            entry.1 += n;
        }
        for (key, list) in other.details {
            let kept = self.details.entry(key).or_default();
            kept.extend(list);
            kept.sort_by_key(|f| f.row);
            kept.truncate(self.max_details);
        }
    }
}

/// What one worker collects.
struct Partial {
    sink: Sink,
    matches: Vec<PiiMatch>,
    gathered: features::Gathered,
    quasi: quasi::Gathered,
}

/// What every worker reads.
struct Context<'a> {
    schema: &'a Schema,
    detector: Option<&'a Detector>,
    options: &'a ScanOptions,
    /// Feature columns, when poisoning is screened.
    features: Option<Vec<String>>,
    /// Columns judged to hold personal data (at or above the minimum confidence).
    classes: Vec<ColumnClass>,
    /// Quasi-identifier columns whose cells are hashed.
    quasi: Vec<String>,
}

/// How serious personal data of each kind is in a training set.
pub fn pii_severity(kind: PiiKind) -> Severity {
    match kind {
        PiiKind::CreditCard
        | PiiKind::UsSsn
        | PiiKind::Iban
        | PiiKind::ApiKey
        | PiiKind::Secret => Severity::High,
        PiiKind::Email
        | PiiKind::Phone
        | PiiKind::PersonName
        | PiiKind::FamilyName
        | PiiKind::DateOfBirth
        | PiiKind::StreetAddress
        | PiiKind::PersonId => Severity::Medium,
        PiiKind::IpAddress | PiiKind::GivenName | PiiKind::PostalCode => Severity::Low,
    }
}

fn describe(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Email => "an email address",
        PiiKind::Phone => "a phone number",
        PiiKind::CreditCard => "a payment card number (Luhn-valid)",
        PiiKind::UsSsn => "a US social security number",
        PiiKind::Iban => "an IBAN (checksum-valid)",
        PiiKind::IpAddress => "an IP address",
        PiiKind::ApiKey => "an API key or private key",
        PiiKind::Secret => "a high-entropy secret",
        PiiKind::PersonName => "a person's full name",
        PiiKind::GivenName => "a person's given name",
        PiiKind::FamilyName => "a person's family name",
        PiiKind::DateOfBirth => "a date of birth",
        PiiKind::StreetAddress => "a street address",
        PiiKind::PostalCode => "a postal code",
        PiiKind::PersonId => "an identifier of a person or case",
    }
}

/// Scans the table at `path`. `progress` is called with the input bytes read so far.
pub fn scan(
    path: &Path,
    options: &ScanOptions,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<ScanReport, Error> {
    let started = Instant::now();
    let mut reader = table::open(path, options.format, &options.read)?;
    let format = reader.format();
    let first = reader.next().transpose()?;
    let schema = match &options.profile {
        Some(p) => Schema::from_profile(p, true),
        None => {
            let mut stats = TableStats::default();
            if let Some(b) = &first {
                stats.add_batch(b)?;
            }
            Schema::from_profile(&stats.finish(), false)
        }
    };
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let detector = if options.pii {
        Some(Detector::new()?)
    } else {
        None
    };
    let screen = options.poison || options.label.is_some();
    if let Some(label) = &options.label {
        let names = reader.names();
        if !names.iter().any(|n| n == label) {
            return Err(Error::Scan(format!(
                "{}: no column `{label}` to use as the label (columns: {})",
                path.display(),
                names.join(", ")
            )));
        }
    }
    let classes: Vec<ColumnClass> = match (&first, options.pii) {
        (Some(b), true) => columns::classify_batch(b)
            .into_iter()
            .filter(|c| c.confidence >= f64::from(options.pii_min_confidence))
            .collect(),
        _ => Vec::new(),
    };
    let candidates = match (&first, options.pii) {
        (Some(b), true) => quasi_candidates(&b.names, &classes),
        _ => Vec::new(),
    };
    let context = Context {
        schema: &schema,
        detector: detector.as_ref(),
        options,
        features: screen.then(|| schema.feature_columns(options.label.as_deref())),
        classes,
        quasi: candidates.iter().map(|c| c.column.clone()).collect(),
    };
    let (tx, rx) = sync_channel::<Batch>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let mut rows = 0u64;
    let mut bytes = 0u64;
    let mut read_error = None;
    let partials: Vec<Partial> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let context = &context;
                scope.spawn(move || {
                    let mut partial = Partial {
                        sink: Sink::new(options.max_details, options.flag_rows_at),
                        matches: Vec::new(),
                        gathered: features::Gathered::default(),
                        quasi: quasi::Gathered::default(),
                    };
                    loop {
                        let batch = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        work(context, &batch, &mut partial);
                    }
                    partial
                })
            })
            .collect();
        let mut send = |batch: Batch| {
            rows += batch.rows as u64;
            bytes += batch.input_bytes;
            progress(Progress::Read(bytes));
            tx.send(batch).is_ok()
        };
        if let Some(b) = first {
            send(b);
        }
        for batch in reader.by_ref() {
            match batch {
                Ok(b) => {
                    if !send(b) {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    if let Some(e) = read_error {
        return Err(e);
    }
    if partials.len() != threads {
        return Err(Error::Scan("a scan worker stopped unexpectedly".into()));
    }
    let mut sink = Sink::new(options.max_details, options.flag_rows_at);
    let mut gathered = Vec::with_capacity(partials.len());
    let mut hashed = Vec::with_capacity(partials.len());
    for p in partials {
        sink.merge(p.sink);
        gathered.push(p.gathered);
        hashed.push(p.quasi);
    }
    let quasi_identifiers = quasi::compute(hashed, candidates);
    if let Some(q) = &quasi_identifiers
        && let Some(worst) = q.worst()
        && worst.k < 5
    {
        let severity = if worst.unique_share >= quasi::IDENTIFYING {
            Severity::Medium
        } else {
            Severity::Low
        };
        sink.push(
            Finding::new(
                "pii.quasi_identifier",
                severity,
                format!(
                    "the columns `{}` together make {:.1}% of {} rows unique (k = {}): \
                     people can be re-identified from them",
                    worst.columns.join("`, `"),
                    worst.unique_share * 100.0,
                    q.rows,
                    worst.k
                ),
            )
            .with_confidence(1.0),
        );
    }
    let names: Vec<String> = reader.names().to_vec();
    validate::check_columns(&schema, &names, &mut |f| sink.push(f));
    let poisoning = match &context.features {
        Some(columns) => {
            let (matrix, labels) = features::assemble(gathered, columns, options.label.is_some());
            // With a profile, a value far outside the reference's range is an outlier.
            let reference_ranges = options.profile.as_ref().map_or_else(Vec::new, |p| {
                columns
                    .iter()
                    .map(|c| {
                        let c = p.column(c).filter(|c| c.column_type.is_numeric())?;
                        Some((c.min?, c.max?))
                    })
                    .collect()
            });
            let poison_options = poison::Options {
                label_names: labels.as_ref().map(|(_, n)| n.clone()).unwrap_or_default(),
                reference_ranges,
                ..options.poison_options.clone()
            };
            let report = poison::detect_with_progress(
                &matrix,
                labels.as_ref().map(|(ids, _)| ids.as_slice()),
                &poison_options,
                &|stage, done, total| progress(Progress::Poison(stage, done, total)),
            )?;
            Some(features::summarize(
                report,
                columns.clone(),
                options.label.as_deref(),
                labels.as_ref(),
                &mut |f| sink.push(f),
            ))
        }
        None => None,
    };

    let file = path.display().to_string();
    let mut counts: Vec<RuleCount> = sink
        .counts
        .into_iter()
        .map(|((rule, column), (severity, count))| RuleCount {
            rule,
            column,
            severity,
            count,
        })
        .collect();
    counts.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)));
    let mut findings: Vec<Finding> = sink
        .details
        .into_values()
        .flatten()
        .map(|f| f.in_file(file.clone()))
        .collect();
    findings.sort_by(|a, b| a.row.cmp(&b.row).then(b.severity.cmp(&a.severity)));
    Ok(ScanReport {
        format,
        rows,
        bytes,
        columns: names,
        schema: if schema.from_reference {
            "reference"
        } else {
            "inferred"
        },
        counts,
        findings,
        personal_columns: context.classes.clone(),
        quasi_identifiers,
        poisoning,
        flagged_rows: sink.flagged,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn work(context: &Context<'_>, batch: &Batch, partial: &mut Partial) {
    let sink = &mut partial.sink;
    for issue in &batch.issues {
        sink.push(validate::issue_finding(issue));
    }
    validate::validate_batch(context.schema, batch, &mut |f| sink.push(f));
    if let Some(detector) = context.detector {
        find_pii(context, detector, batch, partial);
    }
    if let Some(columns) = &context.features {
        partial
            .gathered
            .add(batch, columns, context.options.label.as_deref());
    }
    partial.quasi.add(batch, &context.quasi);
}

/// The quasi-identifier candidates among `names`: columns judged to be dates of birth or
/// postal codes, and columns whose name says sex, age, race, marital status, … (one
/// column per reason, the first; at most [`quasi::MAX_CANDIDATES`]).
fn quasi_candidates(names: &[String], classes: &[ColumnClass]) -> Vec<quasi::Candidate> {
    let mut out: Vec<quasi::Candidate> = Vec::new();
    for name in names {
        let class = classes.iter().find(|c| &c.column == name).map(|c| c.kind);
        let reason = match class {
            Some(PiiKind::DateOfBirth) => Some("date of birth"),
            Some(PiiKind::PostalCode) => Some("postal code"),
            // Direct identifiers are reported as such, not as quasi-identifiers.
            Some(_) => None,
            None => columns::quasi_identifier_hint(name).map(|r| match r {
                "birth" => "date of birth",
                other => other,
            }),
        };
        if let Some(reason) = reason
            && !out.iter().any(|c| c.reason == reason)
        {
            out.push(quasi::Candidate {
                column: name.clone(),
                reason: reason.to_owned(),
            });
        }
    }
    // Most identifying kinds first when there are too many.
    let rank = |r: &str| match r {
        "date of birth" => 0,
        "postal code" => 1,
        "age" => 2,
        "sex" => 3,
        "race" => 4,
        _ => 5,
    };
    out.sort_by_key(|c| rank(&c.reason));
    out.truncate(quasi::MAX_CANDIDATES);
    out
}

/// Personal data in every column that can hold text: text, categories, and integers
/// (card, phone and social-security numbers are often stored as bare digits).
fn find_pii(context: &Context<'_>, detector: &Detector, batch: &Batch, partial: &mut Partial) {
    for (name, column) in batch.names.iter().zip(&batch.columns) {
        let column_type = context
            .schema
            .rule(name)
            .map_or(ColumnType::Text, |r| r.column_type);
        // Numbers, booleans and dates cannot hold personal data; a cell of such a column
        // that is not of its type (a card number in an amount column) is text, and scanned.
        let typed = matches!(
            column_type,
            ColumnType::Float | ColumnType::Boolean | ColumnType::Date | ColumnType::Datetime
        );
        if let Some(class) = context.classes.iter().find(|c| &c.column == name) {
            let rows: Vec<u64> = column
                .iter()
                .enumerate()
                .filter(|(_, cell)| {
                    cell.kind != CellKind::Null && columns::value_matches(class.kind, cell.text)
                })
                .map(|(i, _)| batch.first_row + i as u64)
                .collect();
            partial.sink.push_rows(
                Finding::new(
                    format!("pii.{}", class.kind.name()),
                    pii_severity(class.kind),
                    format!("{} (the column is judged as a whole)", describe(class.kind)),
                )
                .in_column(name)
                .with_confidence(class.confidence as f32),
                &rows,
            );
        }
        let hint = pii::column_hint(name);
        for (i, cell) in column.iter().enumerate() {
            if cell.kind != CellKind::Text && cell.kind != CellKind::Number {
                continue;
            }
            if typed && column_type.accepts(cell.kind, cell.text) {
                continue;
            }
            partial.matches.clear();
            detector.detect_with_hint(cell.text, hint, &mut partial.matches);
            for m in &partial.matches {
                if m.confidence < context.options.pii_min_confidence {
                    continue;
                }
                partial.sink.push(
                    Finding::new(
                        format!("pii.{}", m.kind.name()),
                        pii_severity(m.kind),
                        format!(
                            "{} at bytes {}..{} of the cell",
                            describe(m.kind),
                            m.start,
                            m.end
                        ),
                    )
                    .at_row(batch.first_row + i as u64)
                    .in_column(name)
                    .with_confidence((m.confidence * 100.0).round() / 100.0),
                );
            }
        }
    }
}

/// Profiles the table at `path` in one parallel pass.
pub fn profile(
    path: &Path,
    format: Option<Format>,
    read: &ReadOptions,
    threads: Option<usize>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Profile, Error> {
    Ok(profile_stats(path, format, read, threads, progress)?.finish())
}

/// The statistics [`profile`] finishes; statistics of several files of one dataset merge
/// ([`TableStats::merge`]) into the dataset's profile.
pub fn profile_stats(
    path: &Path,
    format: Option<Format>,
    read: &ReadOptions,
    threads: Option<usize>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<TableStats, Error> {
    let mut reader = table::open(path, format, read)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let (tx, rx) = sync_channel::<Batch>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let mut bytes = 0u64;
    let mut read_error = None;
    let results: Vec<Result<TableStats, Error>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                scope.spawn(move || {
                    // Batches reach workers out of order, which the statistics do not
                    // mind: a column missing from a batch counts its rows as nulls.
                    let mut stats = TableStats::default();
                    loop {
                        let batch = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        stats.add_batch(&batch)?;
                    }
                    Ok::<_, Error>(stats)
                })
            })
            .collect();
        for batch in reader.by_ref() {
            match batch {
                Ok(b) => {
                    bytes += b.input_bytes;
                    progress(Progress::Read(bytes));
                    if tx.send(b).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let mut total = TableStats::default();
        let mut errors = Vec::new();
        for w in workers {
            match w.join() {
                Ok(Ok(part)) => {
                    if let Err(e) = total.merge(&part) {
                        errors.push(Err(e));
                    }
                }
                Ok(Err(e)) => errors.push(Err(e)),
                Err(_) => errors.push(Err(Error::Scan(
                    "a profile worker stopped unexpectedly".into(),
                ))),
            }
        }
        if !errors.is_empty() {
            return errors;
        }
        vec![Ok(total)]
    });
    if let Some(e) = read_error {
        return Err(e);
    }
    let mut total = results
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(Error::Scan("no profile was produced".into())))?;
    total.order_by(&reader.names());
    Ok(total)
}

#[cfg(test)]
mod tests;
