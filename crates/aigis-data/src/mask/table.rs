//! Masking and detokenizing whole tables: a table is streamed batch by batch into a new
//! file, each cell the rules touch replaced, every other cell written as it was read
//! (with its JSON kind in JSON Lines). The output appears only once the whole table was
//! written and every check passed (a temporary file renamed into place); on any error
//! nothing is written. The digests of input and output are computed on the way, for the
//! evidence.
//!
//! ```
//! use aigis_data::mask::{MaskKey, Rules};
//! use aigis_data::mask::table::{self, Job};
//!
//! let dir = tempfile::tempdir()?;
//! let input = dir.path().join("people.csv");
//! std::fs::write(&input, "id,email\n1,ana@example.com\n")?;
//! let output = dir.path().join("masked.csv");
//! let rules = Rules::parse("[columns]\nemail = \"tokenize\"\n")?;
//! let key = MaskKey::generate()?;
//! let job = Job::new(&input, &output);
//! let masked = table::mask(&job, rules, Some(&key), false, &|_| {})?;
//! assert_eq!(masked.report.cells_changed, 1);
//! assert!(!std::fs::read_to_string(&output)?.contains("ana@"));
//!
//! let restored_path = dir.path().join("restored.csv");
//! let back = table::detokenize(&Job::new(&output, &restored_path), &key, &[], &[], &|_| {})?;
//! assert_eq!(back.tokens_restored, 1);
//! assert_eq!(std::fs::read_to_string(&restored_path)?, "id,email\n1,ana@example.com\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use aigis_core::Digest;
use aigis_crypto::HashingWriter;

use super::{ColumnRule, Detokenizer, MaskKey, MaskReport, Masker, Rules};
use crate::Error;
use crate::pii::{Detector, PiiKind};
use crate::table::{self, Cell, CellKind, Format, OutCell, ReadIssueKind, ReadOptions};

/// One table to rewrite: where it is, where the result goes, how to read it.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub input: &'a Path,
    /// The output file. Its extension picks its format (`.csv`, `.tsv`/`.tab`, `.jsonl`);
    /// without one it has the input's format. Parquet is not written.
    pub output: &'a Path,
    /// The input's format; `None` detects it from the file.
    pub format: Option<Format>,
    pub read: ReadOptions,
}

impl<'a> Job<'a> {
    /// `input` to `output`, the format detected, default read options.
    pub fn new(input: &'a Path, output: &'a Path) -> Self {
        Job {
            input,
            output,
            format: None,
            read: ReadOptions::default(),
        }
    }
}

/// What a rewrite did to a table.
#[derive(Debug, Clone)]
pub struct Rewritten {
    pub rows: u64,
    /// CSV rows shorter than the header, written with empty cells added.
    pub ragged_rows_padded: u64,
    pub input_format: Format,
    pub output_format: Format,
    /// SHA-256 of the input file and of the output as written.
    pub input: Digest,
    pub output: Digest,
    /// The table's column names.
    pub columns: Vec<String>,
}

/// What [`mask`] did.
#[derive(Debug, Clone)]
pub struct Masked {
    pub table: Rewritten,
    /// Cells changed, by column, kind and action (no values).
    pub report: MaskReport,
    /// `detect` columns judged to hold one kind of personal data as a whole (names,
    /// dates of birth, …), whose every cell got that kind's action.
    pub judged: Vec<(String, PiiKind)>,
    /// Columns the rules name that the table does not have (only when they were
    /// allowed; otherwise that is an error).
    pub rules_without_column: Vec<String>,
}

/// What [`detokenize`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub table: Rewritten,
    /// The id of the key the tokens were made with.
    pub key_id: String,
    /// Tokens restored, by column.
    pub columns: BTreeMap<String, u64>,
    pub tokens_restored: u64,
}

/// Masks `job.input` into `job.output` as `rules` say, with `key` for `hash` and
/// `tokenize`. Columns under a `detect` rule are first judged from their first rows
/// (names, dates of birth, addresses, …, see [`crate::pii::columns`]) so that a
/// `[pii] person_name = …` action applies to each of their cells. A column the rules name
/// that the table does not have is an error (a misspelt name would leave that column
/// unmasked) unless `allow_missing_columns`. `progress` gets the input bytes read, as
/// they are read.
pub fn mask(
    job: &Job<'_>,
    rules: Rules,
    key: Option<&MaskKey>,
    allow_missing_columns: bool,
    progress: &dyn Fn(u64),
) -> Result<Masked, Error> {
    check_distinct(job)?;
    let explicit: HashSet<String> = rules.columns().map(|(n, _)| n.to_owned()).collect();
    let min_confidence = f64::from(rules.min_confidence());
    let judged: Vec<(String, PiiKind)> =
        crate::pii::columns::classify_table(job.input, job.format, &job.read)?
            .into_iter()
            .filter(|c| c.confidence >= min_confidence)
            .filter(|c| rules.column(&c.column) == Some(&ColumnRule::Detect))
            .map(|c| (c.column, c.kind))
            .collect();
    let masker = Masker::new(rules, Detector::new()?, key)?.with_column_kinds(judged.clone());
    let mut report = MaskReport::default();
    let mut unmatched = Vec::new();
    let table = rewrite(
        job,
        &mut |row, column, cell| {
            if cell.kind == CellKind::Null {
                return Ok(None);
            }
            match masker.rules().column(column) {
                None => return Ok(None),
                // `detect_all` scans text only; a column named in the rules gets its
                // rule whatever the kind of its cells.
                Some(ColumnRule::Detect)
                    if cell.kind != CellKind::Text && !explicit.contains(column) =>
                {
                    return Ok(None);
                }
                Some(_) => {}
            }
            let masked = masker
                .mask_cell(column, cell.text)
                .map_err(|e| Error::cell(job.input, row, column, e))?;
            report.record(column, &masked);
            Ok(match masked.text {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None,
            })
        },
        &mut |names| {
            let mut missing: Vec<String> = explicit
                .iter()
                .filter(|c| !names.contains(c))
                .cloned()
                .collect();
            missing.sort();
            if !missing.is_empty() && !allow_missing_columns {
                return Err(Error::RulesWithoutColumn {
                    path: job.input.to_owned(),
                    columns: missing,
                });
            }
            unmatched = missing;
            Ok(())
        },
        progress,
    )?;
    Ok(Masked {
        table,
        report,
        judged,
        rules_without_column: unmatched,
    })
}

/// Restores the tokens of `job.input` into `job.output` with `key`: in every column, or
/// only in `columns` when some are given (each must be in the table). A token made with
/// another key, or changed, stops the run naming its row and column (and never a value).
pub fn detokenize(
    job: &Job<'_>,
    key: &MaskKey,
    retired: &[MaskKey],
    columns: &[String],
    progress: &dyn Fn(u64),
) -> Result<Restored, Error> {
    check_distinct(job)?;
    let detokenizer = Detokenizer::new(key)?.with_retired(retired)?;
    let wanted: HashSet<&str> = columns.iter().map(String::as_str).collect();
    let mut restored: BTreeMap<String, u64> = BTreeMap::new();
    let table = rewrite(
        job,
        &mut |row, column, cell| {
            if cell.kind == CellKind::Null
                || !(wanted.is_empty() || wanted.contains(column))
                || !cell.text.contains(super::TOKEN_PREFIX)
            {
                return Ok(None);
            }
            let d = detokenizer
                .detokenize(cell.text)
                .map_err(|e| Error::cell(job.input, row, column, e))?;
            if d.restored > 0 {
                *restored.entry(column.to_owned()).or_default() += d.restored;
            }
            Ok(match d.text {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None,
            })
        },
        &mut |names| match columns.iter().find(|c| !names.contains(c)) {
            Some(missing) => Err(Error::MissingColumn {
                path: job.input.to_owned(),
                column: missing.clone(),
                columns: names.to_vec(),
            }),
            None => Ok(()),
        },
        progress,
    )?;
    Ok(Restored {
        table,
        key_id: detokenizer.key_id().to_owned(),
        tokens_restored: restored.values().sum(),
        columns: restored,
    })
}

/// The output must not be the input: the rename would replace the table being read.
pub(crate) fn check_distinct(job: &Job<'_>) -> Result<(), Error> {
    if let (Ok(a), Ok(b)) = (job.input.canonicalize(), job.output.canonicalize())
        && a == b
    {
        return Err(Error::SameFile {
            path: job.output.to_owned(),
        });
    }
    Ok(())
}

/// Given a cell's row, column and cell, its new text, or `None` to keep it.
type CellFn<'f> = dyn FnMut(u64, &str, Cell<'_>) -> Result<Option<String>, Error> + 'f;
/// Given a row's number, its columns' names and its cells (`None` where a JSON Lines row
/// lacks the key), fills the last argument, one per cell, with the cell's new kind and
/// text, or `None` to keep it. The buffer comes cleared.
pub(crate) type RowFn<'f> = dyn FnMut(
        u64,
        &[String],
        &[Option<Cell<'_>>],
        &mut Vec<Option<(CellKind, String)>>,
    ) -> Result<(), Error>
    + 'f;
/// Given every column name of the table once it was read, whether the output may be kept.
pub(crate) type NamesFn<'f> = dyn FnMut(&[String]) -> Result<(), Error> + 'f;

/// The output's format: its extension's, else the input's. JSON Lines rows may have
/// different keys, so they are not written as CSV; Parquet is not written at all (masked
/// columns would change type).
fn output_format(input: &Path, input_format: Format, output: &Path) -> Result<Format, Error> {
    let format = Format::from_extension(output).unwrap_or(input_format);
    if format == Format::Parquet {
        return Err(Error::WriteParquet {
            path: output.to_owned(),
        });
    }
    if input_format == Format::Jsonl && format == Format::Csv {
        return Err(Error::JsonlAsCsv {
            input: input.to_owned(),
            output: output.to_owned(),
        });
    }
    Ok(format)
}

/// Streams `job.input` into `job.output` (see the module docs), replacing each cell
/// `cell` returns a new text for; `names` checks the column names at the end, before
/// the output is kept.
fn rewrite(
    job: &Job<'_>,
    cell: &mut CellFn<'_>,
    names: &mut NamesFn<'_>,
    progress: &dyn Fn(u64),
) -> Result<Rewritten, Error> {
    rewrite_rows(
        job,
        0o644,
        &mut |row, columns, cells, new| {
            for (name, c) in columns.iter().zip(cells) {
                new.push(match c {
                    Some(c) => cell(row, name, *c)?.map(|text| (CellKind::Text, text)),
                    None => None,
                });
            }
            Ok(())
        },
        names,
        progress,
    )
}

/// [`rewrite`] a row at a time (a row's cells depend on each other: `aigis data protect`
/// encrypts them under the key of the subject one of them names), the output created
/// with permissions `mode`.
pub(crate) fn rewrite_rows(
    job: &Job<'_>,
    mode: u32,
    row_fn: &mut RowFn<'_>,
    names: &mut NamesFn<'_>,
    progress: &dyn Fn(u64),
) -> Result<Rewritten, Error> {
    let (file, out) = (job.input, job.output);
    let input_format = match job.format {
        Some(f) => f,
        None => Format::detect(file)?,
    };
    let output_format = output_format(file, input_format, out)?;
    // A `.tsv`/`.tab` output is tab-separated; otherwise the delimiter given for the
    // input, else a comma.
    let out_ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let out_delimiter = match out_ext.as_deref() {
        Some("tsv" | "tab") => b'\t',
        _ => job.read.delimiter.unwrap_or(b','),
    };
    let mut reader = table::open(file, Some(input_format), &job.read)?;
    let header = reader.names();
    let (result, input) = std::thread::scope(|s| {
        let hashing = s.spawn(|| aigis_crypto::sha256_file(file));
        let result = aigis_crypto::fs::write_atomic_try(out, mode, |w| -> Result<_, Error> {
            let mut hashing = HashingWriter::new(w);
            let mut writer = table::TableWriter::with_delimiter(
                &mut hashing,
                output_format,
                &header,
                out,
                out_delimiter,
            )?;
            let (mut rows, mut padded) = (0u64, 0u64);
            let mut all_names: std::sync::Arc<[String]> = header.clone();
            let mut replaced: Vec<Option<(CellKind, String)>> = Vec::new();
            for batch in reader.by_ref() {
                let batch = batch?;
                let mut cells_in: Vec<Option<Cell<'_>>> = Vec::with_capacity(batch.columns.len());
                for issue in &batch.issues {
                    match issue.ragged_fields() {
                        Some(n) if n < batch.names.len() => padded += 1,
                        Some(_) => {
                            return Err(Error::RowTooLong {
                                path: file.to_owned(),
                                at: place(issue.row, issue.column.as_deref()),
                                message: issue.message.clone(),
                            });
                        }
                        None => {
                            return Err(Error::BadRow {
                                path: file.to_owned(),
                                at: place(issue.row, issue.column.as_deref()),
                                message: issue.message.clone(),
                                encoding: issue.kind == ReadIssueKind::Encoding,
                            });
                        }
                    }
                }
                for r in 0..batch.rows {
                    let row = batch.first_row + r as u64;
                    replaced.clear();
                    cells_in.clear();
                    cells_in.extend(batch.columns.iter().map(|c| c.get(r)));
                    row_fn(row, &batch.names, &cells_in, &mut replaced)?;
                    replaced.resize(batch.columns.len(), None);
                    let cells: Vec<OutCell<'_>> = batch
                        .columns
                        .iter()
                        .zip(&replaced)
                        .map(|(column, new)| match (new, column.get(r)) {
                            (Some((kind, text)), _) => OutCell {
                                kind: *kind,
                                text,
                                changed: true,
                            },
                            (None, Some(c)) => OutCell {
                                kind: c.kind,
                                text: c.text,
                                changed: false,
                            },
                            (None, None) => OutCell {
                                kind: CellKind::Null,
                                text: "",
                                changed: false,
                            },
                        })
                        .collect();
                    writer.write_row(&batch.names, &cells)?;
                }
                rows += batch.rows as u64;
                progress(batch.input_bytes);
                all_names = batch.names.clone();
            }
            names(&all_names)?;
            writer.finish()?;
            Ok((rows, padded, hashing.digest(), all_names.to_vec()))
        });
        (result, hashing.join())
    });
    let (rows, ragged_rows_padded, output, columns) = result?;
    let input = input.map_err(|_| {
        Error::io(
            file,
            std::io::Error::other("the thread hashing it stopped unexpectedly"),
        )
    })??;
    Ok(Rewritten {
        rows,
        ragged_rows_padded,
        input_format,
        output_format,
        input,
        output,
        columns,
    })
}

/// Where in a table a read issue is, in words.
fn place(row: u64, column: Option<&str>) -> String {
    match (row, column) {
        (0, Some(c)) => format!("the header, column `{c}`"),
        (0, None) => "the header".to_owned(),
        (r, Some(c)) => format!("row {r}, column `{c}`"),
        (r, None) => format!("row {r}"),
    }
}

impl Error {
    /// `error`, at one cell of a table.
    fn cell(path: &Path, row: u64, column: &str, error: Error) -> Self {
        Error::Cell {
            path: PathBuf::from(path),
            row,
            column: column.to_owned(),
            source: Box::new(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_failed_check_leaves_no_output_and_an_existing_output_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(
            dir.path(),
            "in.csv",
            "id,email\n1,a@example.com\n2,b@x.org,extra\n",
        );
        let out = write(dir.path(), "out.csv", "old\n");
        let rules = Rules::parse("[columns]\nemail = \"redact\"\n").unwrap();
        let e = mask(&Job::new(&input, &out), rules, None, false, &|_| {}).unwrap_err();
        assert!(
            matches!(e, Error::RowTooLong { ref at, .. } if at == "row 2"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "a temporary file was left behind");
    }

    #[test]
    fn a_rule_for_a_column_the_table_lacks_fails_closed_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(dir.path(), "in.csv", "id,email\n1,a@example.com\n");
        let out = dir.path().join("out.csv");
        let rules = "[columns]\nEmail = \"redact\"\nid = \"redact\"\n";
        let e = mask(
            &Job::new(&input, &out),
            Rules::parse(rules).unwrap(),
            None,
            false,
            &|_| {},
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::RulesWithoutColumn { ref columns, .. } if columns == &["Email"]),
            "{e}"
        );
        assert!(!out.exists());
        let m = mask(
            &Job::new(&input, &out),
            Rules::parse(rules).unwrap(),
            None,
            true,
            &|_| {},
        )
        .unwrap();
        assert_eq!(m.rules_without_column, ["Email"]);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "id,email\n[REDACTED],a@example.com\n"
        );
        assert_eq!(m.table.output, Digest::of(&std::fs::read(&out).unwrap()));
        assert_eq!(m.table.input, Digest::of(&std::fs::read(&input).unwrap()));
    }

    #[test]
    fn a_changed_token_is_a_failed_check_and_a_foreign_one_an_error_at_its_cell() {
        use aigis_core::CheckFailure as _;
        let dir = tempfile::tempdir().unwrap();
        let input = write(dir.path(), "in.csv", "id,email\n1,a@example.com\n");
        let masked = dir.path().join("masked.csv");
        let rules = Rules::parse("[columns]\nemail = \"tokenize\"\n").unwrap();
        let key = MaskKey::generate().unwrap();
        mask(
            &Job::new(&input, &masked),
            rules,
            Some(&key),
            false,
            &|_| {},
        )
        .unwrap();
        let back = dir.path().join("back.csv");

        let text = std::fs::read_to_string(&masked).unwrap();
        let last = text.trim_end().chars().last().unwrap();
        let swapped = if last == 'A' { 'B' } else { 'A' };
        let tampered = write(
            dir.path(),
            "tampered.csv",
            &format!(
                "{}{swapped}\n",
                &text.trim_end()[..text.trim_end().len() - 1]
            ),
        );
        let e = detokenize(&Job::new(&tampered, &back), &key, &[], &[], &|_| {}).unwrap_err();
        assert!(e.is_check_failure(), "{e}");
        assert!(e.to_string().contains("row 1, column `email`"), "{e}");

        let other = MaskKey::generate().unwrap();
        let e = detokenize(&Job::new(&masked, &back), &other, &[], &[], &|_| {}).unwrap_err();
        assert!(!e.is_check_failure(), "{e}");
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(chain.contains(&key.key_id()), "{chain}");
        assert!(!chain.contains("a@example.com"), "{chain}");
        assert!(!back.exists());
        let e = detokenize(
            &Job::new(&masked, &back),
            &key,
            &[],
            &["mail".into()],
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(e, Error::MissingColumn { .. }), "{e}");
    }

    #[test]
    fn the_output_cannot_be_the_input_nor_jsonl_as_csv_nor_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(dir.path(), "in.csv", "a\n1\n");
        let jsonl = write(dir.path(), "in.jsonl", "{\"a\":1}\n");
        let rules = || Rules::parse("[columns]\na = \"redact\"\n").unwrap();
        let run = |i: &Path, o: &Path| mask(&Job::new(i, o), rules(), None, false, &|_| {});
        assert!(matches!(run(&csv, &csv), Err(Error::SameFile { .. })));
        let out = dir.path().join("o.csv");
        assert!(matches!(run(&jsonl, &out), Err(Error::JsonlAsCsv { .. })));
        let out = dir.path().join("o.parquet");
        assert!(matches!(run(&csv, &out), Err(Error::WriteParquet { .. })));
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "a\n1\n");
    }
}
