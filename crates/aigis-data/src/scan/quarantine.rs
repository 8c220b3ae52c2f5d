//! Quarantine: the flagged rows of a scanned table go to one file, the others to another;
//! the input is never touched. `release` later moves reviewed rows back.
//!
//! The quarantined file has the table's columns plus two: [`ROW_COLUMN`], the row's
//! number in the input (1-based, header not counted), and [`REASONS_COLUMN`], the rules
//! that flagged it. Both files are in the input's format, except that Parquet input gives
//! JSON Lines files (values keep their JSON types; see [`crate::table::TableWriter`]).
//! Files are written to temporary names and renamed into place when complete.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::table::{self, CellKind, Format, ReadOptions};
use crate::table::{OutCell, TableWriter};

/// The quarantined file's column with the row's number in the input.
pub const ROW_COLUMN: &str = "_aigis_row";
/// The quarantined file's column with the rules that flagged the row.
pub const REASONS_COLUMN: &str = "_aigis_reasons";

/// What a quarantine wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantine {
    pub clean: PathBuf,
    pub quarantined: PathBuf,
    pub clean_rows: u64,
    pub quarantined_rows: u64,
    pub format: Format,
}

/// The output format for an input format.
pub fn output_format(input: Format) -> Format {
    match input {
        Format::Parquet => Format::Jsonl,
        f => f,
    }
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Jsonl | Format::Parquet => "jsonl",
    }
}

/// Splits the table at `path` into `dir/<stem>.clean.<ext>` and
/// `dir/<stem>.quarantined.<ext>`, by the 1-based rows in `flagged`.
pub fn split(
    path: &Path,
    format: Option<Format>,
    read: &ReadOptions,
    flagged: &BTreeMap<u64, BTreeSet<String>>,
    dir: &Path,
) -> Result<Quarantine, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let reader = table::open(path, format, read)?;
    let input_format = reader.format();
    let out_format = output_format(input_format);
    let stem = path
        .file_stem()
        .map_or_else(|| "table".into(), |s| s.to_string_lossy().into_owned());
    let ext = extension(out_format);
    let clean_path = dir.join(format!("{stem}.clean.{ext}"));
    let quarantined_path = dir.join(format!("{stem}.quarantined.{ext}"));
    let names = reader.names().to_vec();

    let (clean_rows, quarantined_rows) =
        write_both(&clean_path, &quarantined_path, |clean, quarantined| {
            let mut clean_w: Option<TableWriter<&mut dyn Write>> = None;
            let mut quarantined_w: Option<TableWriter<&mut dyn Write>> = None;
            let mut clean_out = Some(clean);
            let mut quarantined_out = Some(quarantined);
            let mut header = names.clone();
            for batch in reader {
                let batch = batch?;
                // JSON Lines can add columns as it goes; CSV and Parquet headers are fixed.
                let names: Vec<String> = batch.names.to_vec();
                if clean_w.is_none() {
                    header = names.clone();
                    let mut qnames = header.clone();
                    qnames.push(ROW_COLUMN.into());
                    qnames.push(REASONS_COLUMN.into());
                    if let (Some(c), Some(q)) = (clean_out.take(), quarantined_out.take()) {
                        clean_w = Some(TableWriter::new(c, out_format, &header, &clean_path)?);
                        quarantined_w =
                            Some(TableWriter::new(q, out_format, &qnames, &quarantined_path)?);
                    }
                }
                let (Some(cw), Some(qw)) = (clean_w.as_mut(), quarantined_w.as_mut()) else {
                    break;
                };
                let width = if out_format == Format::Csv {
                    header.len()
                } else {
                    names.len()
                };
                let mut qnames = names.clone();
                qnames.push(ROW_COLUMN.into());
                qnames.push(REASONS_COLUMN.into());
                for i in 0..batch.rows {
                    let row = batch.first_row + i as u64;
                    let mut cells: Vec<OutCell<'_>> = (0..width)
                        .map(|c| {
                            batch
                                .columns
                                .get(c)
                                .and_then(|col| col.get(i))
                                .map_or(NULL, |cell| OutCell {
                                    kind: cell.kind,
                                    text: cell.text,
                                    changed: false,
                                })
                        })
                        .collect();
                    match flagged.get(&row) {
                        None => cw.write_row(&names, &cells)?,
                        Some(rules) => {
                            let row_text = row.to_string();
                            let reasons = rules.iter().cloned().collect::<Vec<_>>().join(";");
                            cells.push(OutCell {
                                kind: CellKind::Number,
                                text: &row_text,
                                changed: false,
                            });
                            cells.push(OutCell {
                                kind: CellKind::Text,
                                text: &reasons,
                                changed: false,
                            });
                            qw.write_row(&qnames, &cells)?;
                        }
                    }
                }
            }
            if let (Some(c), Some(q)) = (clean_out.take(), quarantined_out.take()) {
                // No rows at all: both files get the header alone.
                let mut qnames = header.clone();
                qnames.push(ROW_COLUMN.into());
                qnames.push(REASONS_COLUMN.into());
                clean_w = Some(TableWriter::new(c, out_format, &header, &clean_path)?);
                quarantined_w = Some(TableWriter::new(q, out_format, &qnames, &quarantined_path)?);
            }
            let counts = (
                clean_w.as_ref().map_or(0, TableWriter::rows),
                quarantined_w.as_ref().map_or(0, TableWriter::rows),
            );
            if let Some(w) = clean_w {
                w.finish()?;
            }
            if let Some(w) = quarantined_w {
                w.finish()?;
            }
            Ok(counts)
        })?;
    Ok(Quarantine {
        clean: clean_path,
        quarantined: quarantined_path,
        clean_rows,
        quarantined_rows,
        format: out_format,
    })
}

const NULL: OutCell<'static> = OutCell {
    kind: CellKind::Null,
    text: "",
    changed: false,
};

/// Writes two files through `f`, each to a temporary file renamed into place only when
/// `f` succeeds; on failure neither file appears.
fn write_both<T>(
    first: &Path,
    second: &Path,
    f: impl FnOnce(&mut dyn Write, &mut dyn Write) -> Result<T, Error>,
) -> Result<T, Error> {
    let tmp = |p: &Path| -> Result<tempfile::NamedTempFile, Error> {
        let dir = p.parent().unwrap_or(Path::new("."));
        tempfile::Builder::new()
            .prefix(".aigis-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))
    };
    let mut a = tmp(first)?;
    let mut b = tmp(second)?;
    let value = {
        let mut wa = std::io::BufWriter::new(a.as_file_mut());
        let mut wb = std::io::BufWriter::new(b.as_file_mut());
        let value = f(&mut wa, &mut wb)?;
        wa.flush().map_err(|e| Error::io(first, e))?;
        wb.flush().map_err(|e| Error::io(second, e))?;
        value
    };
    for (file, path) in [(&a, first), (&b, second)] {
        file.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    }
    a.persist(first).map_err(|e| Error::io(first, e.error))?;
    b.persist(second).map_err(|e| Error::io(second, e.error))?;
    Ok(value)
}

/// A quarantined row held in memory during a release.
struct Held {
    /// Its row number in the input.
    id: u64,
    names: Vec<String>,
    cells: Vec<(CellKind, String)>,
}

/// What a release did.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// Rows moved back, by their input row number.
    pub released: Vec<u64>,
    /// Rows asked for that were not in the quarantine.
    pub not_found: Vec<u64>,
    pub clean_rows: u64,
    pub quarantined_rows: u64,
}

/// Moves the quarantined rows whose [`ROW_COLUMN`] is in `rows` back into the clean file
/// (appended, without the two quarantine columns), rewriting both files atomically.
pub fn release(
    clean: &Path,
    quarantined: &Path,
    format: Format,
    rows: &BTreeSet<u64>,
    read: &ReadOptions,
) -> Result<Release, Error> {
    let q_reader = table::open(quarantined, Some(format), read)?;
    let q_names = q_reader.names().to_vec();
    let mut kept: Vec<Held> = Vec::new();
    let mut back: Vec<Held> = Vec::new();
    // The quarantine is small (the flagged rows): it is read whole.
    for batch in q_reader {
        let batch = batch?;
        let names: Vec<String> = batch.names.to_vec();
        let row_col = names.iter().position(|n| n == ROW_COLUMN).ok_or_else(|| {
            table::table_error(
                quarantined,
                None,
                format!("no `{ROW_COLUMN}` column: not a quarantine file"),
            )
        })?;
        for i in 0..batch.rows {
            let cells: Vec<(CellKind, String)> = batch
                .columns
                .iter()
                .map(|c| {
                    c.get(i).map_or((CellKind::Null, String::new()), |x| {
                        (x.kind, x.text.to_owned())
                    })
                })
                .collect();
            let id = cells
                .get(row_col)
                .and_then(|(_, t)| t.parse::<u64>().ok())
                .ok_or_else(|| {
                    table::table_error(
                        quarantined,
                        Some(batch.first_row + i as u64),
                        format!("`{ROW_COLUMN}` is not a row number"),
                    )
                })?;
            let held = Held {
                id,
                names: names.clone(),
                cells,
            };
            if rows.contains(&id) {
                back.push(held);
            } else {
                kept.push(held);
            }
        }
    }
    let found: BTreeSet<u64> = back.iter().map(|h| h.id).collect();
    let not_found: Vec<u64> = rows.difference(&found).copied().collect();

    let c_reader = table::open(clean, Some(format), read)?;
    let c_names = c_reader.names().to_vec();
    let (clean_rows, quarantined_rows) = write_both(clean, quarantined, |cw, qw| {
        let mut cw = TableWriter::new(cw, format, &c_names, clean)?;
        let mut qw = TableWriter::new(qw, format, &q_names, quarantined)?;
        for batch in c_reader {
            let batch = batch?;
            let names: Vec<String> = batch.names.to_vec();
            for i in 0..batch.rows {
                let cells: Vec<OutCell<'_>> = batch
                    .columns
                    .iter()
                    .map(|c| {
                        c.get(i).map_or(NULL, |x| OutCell {
                            kind: x.kind,
                            text: x.text,
                            changed: false,
                        })
                    })
                    .collect();
                cw.write_row(&names, &cells)?;
            }
        }
        for Held { names, cells, .. } in &back {
            // Drop the two quarantine columns; keep the table's own, in the clean file's order.
            let out: Vec<OutCell<'_>> = c_names
                .iter()
                .map(|n| {
                    names
                        .iter()
                        .position(|m| m == n)
                        .and_then(|j| cells.get(j))
                        .map_or(NULL, |(k, t)| OutCell {
                            kind: *k,
                            text: t,
                            changed: false,
                        })
                })
                .collect();
            cw.write_row(&c_names, &out)?;
        }
        for Held { names, cells, .. } in &kept {
            let out: Vec<OutCell<'_>> = cells
                .iter()
                .map(|(k, t)| OutCell {
                    kind: *k,
                    text: t,
                    changed: false,
                })
                .collect();
            qw.write_row(names, &out)?;
        }
        let counts = (cw.rows(), qw.rows());
        cw.finish()?;
        qw.finish()?;
        Ok(counts)
    })?;
    Ok(Release {
        released: found.into_iter().collect(),
        not_found,
        clean_rows,
        quarantined_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_then_release_keeps_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("t.csv");
        let mut text = String::from("id,name\n");
        for i in 1..=20 {
            text.push_str(&format!("{i},\"n, {i}\"\n"));
        }
        std::fs::write(&input, &text).unwrap();
        let mut flagged = BTreeMap::new();
        for row in [3u64, 7, 15] {
            flagged.insert(row, BTreeSet::from([format!("rule.{row}")]));
        }
        let out = dir.path().join("q");
        let read = ReadOptions {
            batch_rows: 4,
            ..ReadOptions::default()
        };
        let q = split(&input, None, &read, &flagged, &out).unwrap();
        assert_eq!((q.clean_rows, q.quarantined_rows), (17, 3));
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            text,
            "input untouched"
        );
        let quarantined = std::fs::read_to_string(&q.quarantined).unwrap();
        assert!(quarantined.starts_with("id,name,_aigis_row,_aigis_reasons\n"));
        assert!(
            quarantined.contains("7,\"n, 7\",7,rule.7\n"),
            "{quarantined}"
        );

        let r = release(
            &q.clean,
            &q.quarantined,
            Format::Csv,
            &BTreeSet::from([7, 99]),
            &read,
        )
        .unwrap();
        assert_eq!(r.released, [7]);
        assert_eq!(r.not_found, [99]);
        assert_eq!((r.clean_rows, r.quarantined_rows), (18, 2));
        let clean = std::fs::read_to_string(&q.clean).unwrap();
        assert!(clean.ends_with("7,\"n, 7\"\n"), "{clean}");
        assert!(
            !std::fs::read_to_string(&q.quarantined)
                .unwrap()
                .contains(",7,rule.7")
        );
    }

    #[test]
    fn a_failed_split_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("t.csv");
        let mut text = String::from("a\n1\n");
        text.push_str(&"x".repeat(5000));
        text.push('\n');
        std::fs::write(&input, &text).unwrap();
        let out = dir.path().join("q");
        let read = ReadOptions {
            max_record_bytes: 1000,
            ..ReadOptions::default()
        };
        assert!(split(&input, None, &read, &BTreeMap::new(), &out).is_err());
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
