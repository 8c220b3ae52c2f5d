//! Writing tables back: CSV (through the `csv` crate: the header, then rows, quoted
//! where needed) and JSON Lines (one object per row, with the original keys).
//!
//! Parquet is not written: a masked column no longer has its original type (a hashed
//! number is text), and rewriting the schema silently would surprise every reader of the
//! file. [`TableWriter::new`] refuses it with a hint to write `.csv` or `.jsonl`.
//!
//! In JSON Lines, a cell that was not changed keeps its JSON kind (number, boolean,
//! null, nested object or array, written as read); a changed cell becomes a JSON string.
//! A key missing from a row is read as null and written as `null`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CellKind, Format};
use crate::Error;

/// One cell to write: its kind (what the reader said of it, or what a change made it), its
/// text, and whether it was changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutCell<'a> {
    pub kind: CellKind,
    pub text: &'a str,
    pub changed: bool,
}

enum Inner<W: Write> {
    // Boxed: the csv writer carries its buffers inline.
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
}

/// Writes rows of a table to `W` in CSV or JSON Lines.
pub struct TableWriter<W: Write> {
    inner: Inner<W>,
    path: PathBuf,
    width: usize,
    rows: u64,
    line: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for TableWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.inner {
            Inner::Csv(_) => Format::Csv,
            Inner::Jsonl(_) => Format::Jsonl,
        };
        f.debug_struct("TableWriter")
            .field("format", &format)
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<W: Write> TableWriter<W> {
    /// A writer of `format` to `out`; for CSV, `names` is the header and is written now.
    /// `path` only names the output in errors.
    pub fn new(out: W, format: Format, names: &[String], path: &Path) -> Result<Self, Error> {
        Self::with_delimiter(out, format, names, path, b',')
    }

    /// [`TableWriter::new`] with another CSV delimiter (`b'\t'` for TSV).
    pub fn with_delimiter(
        out: W,
        format: Format,
        names: &[String],
        path: &Path,
        delimiter: u8,
    ) -> Result<Self, Error> {
        let inner = match format {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .flexible(false)
                    .delimiter(delimiter)
                    .from_writer(out);
                w.write_record(names)
                    .map_err(|e| csv_write_error(path, 0, e))?;
                Inner::Csv(Box::new(w))
            }
            Format::Jsonl => Inner::Jsonl(out),
            Format::Parquet => {
                return Err(Error::WriteParquet {
                    path: path.to_path_buf(),
                });
            }
        };
        Ok(Self {
            inner,
            path: path.to_owned(),
            width: names.len(),
            rows: 0,
            line: Vec::new(),
        })
    }

    /// Writes one row. `names` are the row's keys (JSON Lines: the batch's names, which
    /// may grow along the file); `cells` has one per name. For CSV, `cells` must be as
    /// wide as the header.
    pub fn write_row(&mut self, names: &[String], cells: &[OutCell<'_>]) -> Result<(), Error> {
        self.rows += 1;
        let row = self.rows;
        match &mut self.inner {
            Inner::Csv(w) => {
                if cells.len() != self.width {
                    return Err(super::table_error(
                        &self.path,
                        Some(row),
                        format!(
                            "internal error: {} cells to write where the header has {}",
                            cells.len(),
                            self.width
                        ),
                    ));
                }
                w.write_record(cells.iter().map(|c| c.text.as_bytes()))
                    .map_err(|e| csv_write_error(&self.path, row, e))
            }
            Inner::Jsonl(w) => {
                self.line.clear();
                self.line.push(b'{');
                for (i, (name, cell)) in names.iter().zip(cells).enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    json_string(&mut self.line, name);
                    self.line.push(b':');
                    json_cell(&mut self.line, cell);
                }
                self.line.extend_from_slice(b"}\n");
                w.write_all(&self.line)
                    .map_err(|e| Error::io(&self.path, e))
            }
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, Error> {
        let path = self.path;
        match self.inner {
            Inner::Csv(w) => w
                .into_inner()
                .map_err(|e| Error::io(&path, std::io::Error::other(e.error().to_string()))),
            Inner::Jsonl(mut w) => {
                w.flush().map_err(|e| Error::io(&path, e))?;
                Ok(w)
            }
        }
    }
}

fn csv_write_error(path: &Path, row: u64, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => super::table_error(
            path,
            (row > 0).then_some(row),
            format!("cannot write the CSV row: {other:?}"),
        ),
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A number, boolean or nested value is written as it is when it is valid JSON (a Parquet
/// `NaN` is not: it becomes a string), a null as null, everything else as a string. A
/// changed cell is written by the kind it was given (a masked cell is text; a cell
/// `aigis data reveal` decrypted has its kind again).
fn json_cell(out: &mut Vec<u8>, cell: &OutCell<'_>) {
    match cell.kind {
        CellKind::Null => out.extend_from_slice(b"null"),
        CellKind::Text => json_string(out, cell.text),
        CellKind::Number | CellKind::Bool | CellKind::Nested => {
            if serde_json::from_str::<serde::de::IgnoredAny>(cell.text).is_ok() {
                out.extend_from_slice(cell.text.as_bytes());
            } else {
                json_string(out, cell.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    fn cell(kind: CellKind, text: &str, changed: bool) -> OutCell<'_> {
        OutCell {
            kind,
            text,
            changed,
        }
    }

    #[test]
    fn csv_writes_header_and_quotes() {
        let n = names(&["id", "note, with comma"]);
        let mut w = TableWriter::new(Vec::new(), Format::Csv, &n, Path::new("o.csv")).unwrap();
        w.write_row(
            &n,
            &[
                cell(CellKind::Text, "1", false),
                cell(CellKind::Text, "say \"hi\"\nthere", true),
            ],
        )
        .unwrap();
        w.write_row(
            &n,
            &[
                cell(CellKind::Text, "2", false),
                cell(CellKind::Null, "", false),
            ],
        )
        .unwrap();
        assert_eq!(w.rows(), 2);
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "id,\"note, with comma\"\n1,\"say \"\"hi\"\"\nthere\"\n2,\n"
        );
        // And it reads back as the same table.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.csv");
        std::fs::write(&p, &out).unwrap();
        let batch = super::super::open(&p, None, &super::super::ReadOptions::default())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.names.as_ref(), n.as_slice());
        assert_eq!(batch.columns[1].get(0).unwrap().text, "say \"hi\"\nthere");
        assert!(batch.issues.is_empty());
    }

    #[test]
    fn tsv_uses_its_delimiter() {
        let n = names(&["a", "b c"]);
        let mut w =
            TableWriter::with_delimiter(Vec::new(), Format::Csv, &n, Path::new("o.tsv"), b'\t')
                .unwrap();
        w.write_row(
            &n,
            &[
                cell(CellKind::Text, "x\ty", true),
                cell(CellKind::Text, "1,2", false),
            ],
        )
        .unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out, "a\tb c\n\"x\ty\"\t1,2\n");
    }

    #[test]
    fn csv_refuses_a_row_of_the_wrong_width() {
        let n = names(&["a", "b"]);
        let mut w = TableWriter::new(Vec::new(), Format::Csv, &n, Path::new("o.csv")).unwrap();
        let err = w
            .write_row(&n, &[cell(CellKind::Text, "1", false)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("o.csv, row 1"), "{err}");
    }

    #[test]
    fn jsonl_keeps_kinds_unless_changed() {
        let n = names(&["n", "b", "x", "t", "z", "nan", "masked"]);
        let mut w = TableWriter::new(Vec::new(), Format::Jsonl, &n, Path::new("o.jsonl")).unwrap();
        w.write_row(
            &n,
            &[
                cell(CellKind::Number, "12.5", false),
                cell(CellKind::Bool, "true", false),
                cell(CellKind::Nested, "{\"k\":[1,2]}", false),
                cell(CellKind::Text, "a \"q\"", false),
                cell(CellKind::Null, "", false),
                cell(CellKind::Number, "NaN", false),
                cell(CellKind::Number, "****", true),
            ],
        )
        .unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"n\":12.5,\"b\":true,\"x\":{\"k\":[1,2]},\"t\":\"a \\\"q\\\"\",\"z\":null,\"nan\":\"NaN\",\"masked\":\"****\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["x"]["k"][1], 2);
    }

    #[test]
    fn jsonl_rows_follow_their_own_names() {
        let mut w = TableWriter::new(Vec::new(), Format::Jsonl, &[], Path::new("o.jsonl")).unwrap();
        w.write_row(&names(&["a"]), &[cell(CellKind::Number, "1", false)])
            .unwrap();
        w.write_row(
            &names(&["a", "b"]),
            &[
                cell(CellKind::Number, "2", false),
                cell(CellKind::Text, "x", false),
            ],
        )
        .unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out, "{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n");
    }

    #[test]
    fn parquet_output_is_refused_with_a_hint() {
        use aigis_core::Hint as _;
        let err = TableWriter::new(Vec::new(), Format::Parquet, &[], Path::new("o.parquet"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("o.parquet"), "{err}");
        assert!(err.hint().unwrap().contains("-o out.csv"), "{err}");
    }
}
