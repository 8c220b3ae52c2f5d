//! Tables read in bounded batches: CSV, JSON Lines and Parquet; and written back as CSV
//! or JSON Lines ([`TableWriter`]).
//!
//! Every reader yields [`Batch`]es of at most [`ReadOptions::batch_rows`] rows (and about
//! [`ReadOptions::batch_bytes`] bytes of cell text), so a file far larger than memory is
//! scanned with memory bounded by the batch size times the number of batches in flight.
//! Cells keep their text as it was written (a CSV field, a JSON number's literal, a Parquet
//! value formatted once) with a [`CellKind`] saying what the format itself knows about it,
//! so validation can report the value a person will find in the file.
//!
//! Problems in the bytes that still leave a table — a ragged CSV row, a cell that is not
//! UTF-8, a JSON line that is not an object — are [`ReadIssue`]s carried by the batch
//! (the scan reports them as findings with row and column). Problems that leave no table
//! to read — an unreadable file, a record larger than [`ReadOptions::max_record_bytes`], a
//! corrupt Parquet footer — are errors naming the file and the row.

mod csv;
mod jsonl;
mod parquet;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;

pub use parquet::{ParquetColumns, TypedBatch, TypedColumn};
pub use write::{OutCell, TableWriter};

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    /// The format of `path`: by its extension (`.csv`, `.tsv`, `.txt`, `.jsonl`, `.ndjson`,
    /// `.json`, `.parquet`, `.pq`), else by content (Parquet's `PAR1` magic, a first
    /// non-blank byte `{` for JSON Lines, otherwise CSV).
    pub fn detect(path: &Path) -> Result<Format, Error> {
        if let Some(format) = Format::from_extension(path) {
            return Ok(format);
        }
        use std::io::Read as _;
        let mut head = [0u8; 512];
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let n = file.read(&mut head).map_err(|e| Error::io(path, e))?;
        let head = head.get(..n).unwrap_or_default();
        if head.starts_with(b"PAR1") {
            return Ok(Format::Parquet);
        }
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(Format::Jsonl),
            _ => Ok(Format::Csv),
        }
    }

    /// The format `path`'s extension names, if it names one (see [`Format::detect`]).
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv" | "tsv" | "tab" | "txt") => Some(Format::Csv),
            Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
            Some("parquet" | "pq") => Some(Format::Parquet),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// How to read a table.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Rows per batch at most.
    pub batch_rows: usize,
    /// Bytes of cell text per batch, about (a batch ends at the first row past it).
    pub batch_bytes: usize,
    /// The largest record (CSV row, JSON line) accepted; a longer one is an error rather
    /// than unbounded memory.
    pub max_record_bytes: u64,
    /// The CSV delimiter; `None` sniffs it from the header line (`,` `;` tab or `|`).
    pub delimiter: Option<u8>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            batch_rows: 8192,
            batch_bytes: 4 << 20,
            max_record_bytes: 64 << 20,
            delimiter: None,
        }
    }
}

/// What the file format says about a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Empty, missing, or a null marker (`NA`, `null`, …; see [`is_null_marker`]).
    Null,
    /// Text: every CSV field, JSON strings, Parquet strings, dates and times.
    Text,
    /// A number the format typed as one (JSON number, Parquet numeric).
    Number,
    /// A boolean the format typed as one.
    Bool,
    /// A nested value (JSON object or array, Parquet list/struct), as JSON-ish text.
    Nested,
}

/// One cell of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell<'a> {
    pub kind: CellKind,
    pub text: &'a str,
}

/// One column of a batch: the cells' text in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Column {
    text: String,
    ends: Vec<usize>,
    kinds: Vec<CellKind>,
}

impl Column {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            text: String::new(),
            ends: Vec::with_capacity(rows),
            kinds: Vec::with_capacity(rows),
        }
    }

    pub(crate) fn push(&mut self, kind: CellKind, text: &str) {
        self.text.push_str(text);
        self.ends.push(self.text.len());
        self.kinds.push(kind);
    }

    /// Appends a cell whose text is written by `write` (avoids a temporary string).
    pub(crate) fn push_with(&mut self, kind: CellKind, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
        self.kinds.push(kind);
    }

    pub(crate) fn push_null(&mut self) {
        self.push(CellKind::Null, "");
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Bytes of text held.
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    /// The cell at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Cell<'_>> {
        let kind = *self.kinds.get(i)?;
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p)?,
            None => 0,
        };
        Some(Cell {
            kind,
            text: self.text.get(start..end)?,
        })
    }

    /// Every cell in order.
    pub fn iter(&self) -> impl Iterator<Item = Cell<'_>> + '_ {
        let mut start = 0;
        self.kinds.iter().zip(&self.ends).map(move |(&kind, &end)| {
            let text = self.text.get(start..end).unwrap_or_default();
            start = end;
            Cell { kind, text }
        })
    }
}

/// A problem in the bytes of one row that still leaves a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadIssue {
    /// 1-based data row (the header is not counted).
    pub row: u64,
    /// The column, when the problem is in one cell.
    pub column: Option<String>,
    pub kind: ReadIssueKind,
    pub message: String,
}

impl ReadIssue {
    /// For a ragged CSV row, how many fields it had (the batch holds the header's width
    /// of them: missing ones as null cells, extra ones dropped).
    pub fn ragged_fields(&self) -> Option<usize> {
        if self.kind != ReadIssueKind::RaggedRow {
            return None;
        }
        self.message.split(' ').next()?.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadIssueKind {
    /// A row with more or fewer fields than the header.
    RaggedRow,
    /// A cell that is not valid UTF-8 (read with replacement characters).
    Encoding,
    /// A JSON line that is not an object, or not JSON.
    Malformed,
}

/// A run of rows from a table.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The column names, shared by the batches of one file. A JSON Lines file can add
    /// columns as it goes: later batches may have more names than earlier ones.
    pub names: Arc<[String]>,
    /// 1-based data row number of the first row here.
    pub first_row: u64,
    /// The number of rows.
    pub rows: usize,
    /// One per name, each `rows` long.
    pub columns: Vec<Column>,
    pub issues: Vec<ReadIssue>,
    /// Bytes of input this batch came from (for progress), when the format knows.
    pub input_bytes: u64,
}

impl Batch {
    /// The column called `name`, if the batch has it.
    pub fn column(&self, name: &str) -> Option<&Column> {
        let i = self.names.iter().position(|n| n == name)?;
        self.columns.get(i)
    }
}

/// A source of batches.
pub trait BatchReader: Iterator<Item = Result<Batch, Error>> + Send {
    /// The column names known so far (all of them for CSV and Parquet).
    fn names(&self) -> Arc<[String]>;
    /// The format being read.
    fn format(&self) -> Format;
}

/// Opens `path` as a table in `format` (or the detected one).
pub fn open(
    path: &Path,
    format: Option<Format>,
    options: &ReadOptions,
) -> Result<Box<dyn BatchReader>, Error> {
    let format = match format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    Ok(match format {
        Format::Csv => Box::new(csv::CsvReader::open(path, options)?),
        Format::Jsonl => Box::new(jsonl::JsonlReader::open(path, options)?),
        Format::Parquet => Box::new(parquet::ParquetReader::open(path, options)?),
    })
}

/// The extensions of the table files a folder is searched for.
pub const TABLE_EXTENSIONS: [&str; 6] = ["csv", "tsv", "jsonl", "ndjson", "parquet", "pq"];

/// Whether `path` names a table file by its extension.
pub fn is_table_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| TABLE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The tables at `path`: the file itself, or every table file under the folder (sorted
/// by path, hidden files and folders such as `.aigis/` left out). A symbolic link is
/// followed when it stays inside the folder, and an error when it leads out (a scan
/// says what it read). A folder without any is an error.
pub fn files_in(path: &Path) -> Result<Vec<PathBuf>, Error> {
    use aigis_core::walk::{Kind, LinkPolicy, Outside, Walk};
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let links = LinkPolicy::FollowInsideRoot {
        outside: Outside::Refuse,
    };
    let out: Vec<PathBuf> = Walk::new(path, links)
        .skip_hidden(true)
        .run()?
        .into_iter()
        .filter(|e| e.kind == Kind::File && is_table_file(&e.path))
        .map(|e| e.path)
        .collect();
    if out.is_empty() {
        return Err(table_error(
            path,
            None,
            format!(
                "no table files here (looked for .{} under the folder)",
                TABLE_EXTENSIONS.join(", .")
            ),
        ));
    }
    Ok(out)
}

/// Whether a text cell means "no value": empty, or one of the markers pandas and R write
/// by default (`NA`, `N/A`, `NaN`, `nan`, `null`, `NULL`, `None`). Only applied to CSV;
/// JSON and Parquet have real nulls.
pub fn is_null_marker(text: &str) -> bool {
    matches!(
        text,
        "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "NULL" | "None"
    )
}

/// A reader's next item from what reading a batch gave: the batch, the end, or an error
/// after which the reader is `done` (a reader never resumes past a broken record).
pub(crate) fn stop_after_error(
    read: Result<Option<Batch>, Error>,
    done: &mut bool,
) -> Option<Result<Batch, Error>> {
    match read {
        Ok(batch) => batch.map(Ok),
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}

/// An error in a table file at a place.
pub(crate) fn table_error(path: &Path, row: Option<u64>, message: impl Into<String>) -> Error {
    Error::Table {
        path: PathBuf::from(path),
        row,
        message: message.into(),
    }
}

/// Writes `text` to a temporary file called `name` and reads it whole (unit tests).
#[cfg(test)]
pub(crate) fn read_text(
    text: &[u8],
    name: &str,
    options: &ReadOptions,
) -> Result<Vec<Batch>, Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(name, e))?;
    let p = dir.path().join(name);
    std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
    open(&p, None, options)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_cells() {
        let mut c = Column::with_capacity(3);
        c.push(CellKind::Text, "ab");
        c.push_null();
        c.push_with(CellKind::Number, |s| s.push_str("12"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(0).unwrap().text, "ab");
        assert_eq!(c.get(1).unwrap().kind, CellKind::Null);
        assert_eq!(c.get(2).unwrap().text, "12");
        assert!(c.get(3).is_none());
        let all: Vec<_> = c.iter().map(|c| c.text).collect();
        assert_eq!(all, ["ab", "", "12"]);
    }

    #[test]
    fn lists_the_tables_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.hidden")).unwrap();
        for f in [
            "b.csv",
            "sub/a.parquet",
            "sub/.hidden/x.csv",
            "notes.txt",
            ".c.csv",
        ] {
            std::fs::write(dir.path().join(f), "a\n1\n").unwrap();
        }
        let files = files_in(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["b.csv", "sub/a.parquet"]);
        assert_eq!(files_in(&files[0]).unwrap(), [files[0].clone()]);
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        assert!(
            files_in(&dir.path().join("empty"))
                .unwrap_err()
                .to_string()
                .contains("no table files")
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_to_tables_are_read_inside_the_folder_and_refused_out_of_it() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("parts")).unwrap();
        std::fs::write(root.join("parts/a.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join("secret.csv"), "a\n2\n").unwrap();
        symlink("parts/a.csv", root.join("latest.csv")).unwrap();
        symlink("parts", root.join("current")).unwrap();
        let files = files_in(&root).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["current/a.csv", "latest.csv", "parts/a.csv"]);
        symlink("../secret.csv", root.join("leak.csv")).unwrap();
        let e = files_in(&root).unwrap_err().to_string();
        assert!(e.contains("leak.csv") && e.contains("outside"), "{e}");
        // A link named as the folder itself is followed: the user named it.
        symlink(&root, dir.path().join("alias")).unwrap();
        std::fs::remove_file(root.join("leak.csv")).unwrap();
        assert_eq!(files_in(&dir.path().join("alias")).unwrap().len(), 3);
    }

    #[test]
    fn detects_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data");
        std::fs::write(&p, b"PAR1....").unwrap();
        assert_eq!(Format::detect(&p).unwrap(), Format::Parquet);
        std::fs::write(&p, b"  {\"a\":1}\n").unwrap();
        assert_eq!(Format::detect(&p).unwrap(), Format::Jsonl);
        std::fs::write(&p, b"a,b\n1,2\n").unwrap();
        assert_eq!(Format::detect(&p).unwrap(), Format::Csv);
        assert_eq!(
            Format::detect(Path::new("x/y.NDJSON")).unwrap(),
            Format::Jsonl
        );
    }
}
