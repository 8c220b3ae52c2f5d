//! CSV (and TSV) through the `csv` crate, whose reader handles quoting, escaped quotes,
//! CRLF and a UTF-8 byte-order mark.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Batch, BatchReader, CellKind, Column, Format, ReadIssue, ReadIssueKind, ReadOptions,
    is_null_marker, table_error,
};
use crate::Error;

pub(crate) struct CsvReader {
    path: PathBuf,
    reader: csv::Reader<Limited<File>>,
    since_record: Arc<AtomicU64>,
    names: Arc<[String]>,
    header_issues: Vec<ReadIssue>,
    options: ReadOptions,
    next_row: u64,
    last_byte: u64,
    record: csv::ByteRecord,
    done: bool,
}

impl CsvReader {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self, Error> {
        let delimiter = match options.delimiter {
            Some(d) => d,
            None => sniff_delimiter(path)?,
        };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let since_record = Arc::new(AtomicU64::new(0));
        // The csv reader buffers `buffer` bytes itself; bytes read since the last record
        // can include one buffer of the rows after it, hence the allowance.
        let buffer = (256u64 << 10).min(options.max_record_bytes.max(1));
        let limited = Limited {
            inner: file,
            since_record: since_record.clone(),
            limit: options.max_record_bytes.saturating_add(buffer),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(usize::try_from(buffer).unwrap_or(256 << 10))
            .from_reader(limited);
        let mut header = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut header)
            .map_err(|e| csv_error(path, 0, &e, options.max_record_bytes))?;
        if !got {
            return Err(table_error(path, None, "the file is empty: no header row"));
        }
        since_record.store(0, Ordering::Relaxed);
        let (names, header_issues) = header_names(&header);
        let last_byte = reader.position().byte();
        Ok(Self {
            path: path.to_owned(),
            reader,
            since_record,
            names: names.into(),
            header_issues,
            options: options.clone(),
            next_row: 1,
            last_byte,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, Error> {
        let width = self.names.len();
        let mut columns: Vec<Column> = (0..width)
            .map(|_| Column::with_capacity(self.options.batch_rows.min(1024)))
            .collect();
        let mut issues = std::mem::take(&mut self.header_issues);
        let first_row = self.next_row;
        let mut rows = 0usize;
        let mut bytes = 0usize;
        while rows < self.options.batch_rows && bytes < self.options.batch_bytes {
            let got = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| {
                    csv_error(&self.path, self.next_row, &e, self.options.max_record_bytes)
                })?;
            if !got {
                self.done = true;
                break;
            }
            self.since_record.store(0, Ordering::Relaxed);
            let row = self.next_row;
            self.next_row += 1;
            rows += 1;
            bytes += self.record.as_slice().len();
            if self.record.len() != width {
                issues.push(ReadIssue {
                    row,
                    column: None,
                    kind: ReadIssueKind::RaggedRow,
                    message: format!("{} fields where the header has {width}", self.record.len()),
                });
            }
            let mut fields = self.record.iter();
            for (i, column) in columns.iter_mut().enumerate() {
                let Some(field) = fields.next() else {
                    column.push_null();
                    continue;
                };
                match std::str::from_utf8(field) {
                    Ok(text) if is_null_marker(text) => column.push(CellKind::Null, text),
                    Ok(text) => column.push(CellKind::Text, text),
                    Err(e) => {
                        issues.push(ReadIssue {
                            row,
                            column: self.names.get(i).cloned(),
                            kind: ReadIssueKind::Encoding,
                            message: format!(
                                "not valid UTF-8 (byte {} of the cell); read with replacement characters",
                                e.valid_up_to()
                            ),
                        });
                        column.push(CellKind::Text, &String::from_utf8_lossy(field));
                    }
                }
            }
        }
        if rows == 0 && issues.is_empty() {
            return Ok(None);
        }
        let end = self.reader.position().byte();
        let input_bytes = end.saturating_sub(self.last_byte);
        self.last_byte = end;
        Ok(Some(Batch {
            names: self.names.clone(),
            first_row,
            rows,
            columns,
            issues,
            input_bytes,
        }))
    }
}

impl Iterator for CsvReader {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.read_batch();
        super::stop_after_error(next, &mut self.done)
    }
}

impl BatchReader for CsvReader {
    fn names(&self) -> Arc<[String]> {
        self.names.clone()
    }

    fn format(&self) -> Format {
        Format::Csv
    }
}

/// Column names from the header row: a missing name becomes `column_N` and a repeated one
/// `name_2`, each with an issue on row 0 (the header), so every column can be named.
fn header_names(header: &csv::ByteRecord) -> (Vec<String>, Vec<ReadIssue>) {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    let mut issues = Vec::new();
    for (i, field) in header.iter().enumerate() {
        let field = if i == 0 {
            field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
        } else {
            field
        };
        let mut name = String::from_utf8_lossy(field).trim().to_owned();
        if std::str::from_utf8(field).is_err() {
            issues.push(header_issue(
                &name,
                ReadIssueKind::Encoding,
                "the column name is not valid UTF-8",
            ));
        }
        if name.is_empty() {
            name = format!("column_{}", i + 1);
            issues.push(header_issue(
                &name,
                ReadIssueKind::Malformed,
                "the header has no name for this column",
            ));
        }
        if names.contains(&name) {
            let mut n = 2;
            while names.contains(&format!("{name}_{n}")) {
                n += 1;
            }
            let renamed = format!("{name}_{n}");
            issues.push(header_issue(
                &renamed,
                ReadIssueKind::Malformed,
                &format!(
                    "the column name `{name}` appears twice; the second is read as `{renamed}`"
                ),
            ));
            name = renamed;
        }
        names.push(name);
    }
    (names, issues)
}

fn header_issue(column: &str, kind: ReadIssueKind, message: &str) -> ReadIssue {
    ReadIssue {
        row: 0,
        column: Some(column.to_owned()),
        kind,
        message: message.to_owned(),
    }
}

fn csv_error(path: &Path, row: u64, e: &csv::Error, limit: u64) -> Error {
    if let csv::ErrorKind::Io(io) = e.kind()
        && io.kind() == std::io::ErrorKind::InvalidData
        && io.to_string() == RECORD_TOO_LONG
    {
        return table_error(
            path,
            Some(row),
            format!(
                "a record longer than {limit} bytes; raise the limit (--max-record-bytes) if it is real"
            ),
        );
    }
    table_error(path, Some(row), e.to_string())
}

/// The delimiter that appears most often, outside quotes, on the first line.
fn sniff_delimiter(path: &Path) -> Result<u8, Error> {
    let mut head = Vec::with_capacity(64 << 10);
    File::open(path)
        .and_then(|f| f.take(64 << 10).read_to_end(&mut head))
        .map_err(|e| Error::io(path, e))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"))
    {
        return Ok(b'\t');
    }
    let mut counts = [0usize; 4];
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in &head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = CANDIDATES.iter().position(|&c| c == b)
                    && let Some(n) = counts.get_mut(i)
                {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    let best = counts
        .iter()
        .zip(CANDIDATES)
        .max_by_key(|(n, _)| **n)
        .filter(|(n, _)| **n > 0)
        .map_or(b',', |(_, c)| c);
    Ok(best)
}

const RECORD_TOO_LONG: &str = "aigis: record too long";

/// Counts the bytes read since the last complete record and fails past the limit, so
/// one enormous field cannot take all memory (the `csv` crate grows its record buffer
/// without bound).
struct Limited<R> {
    inner: R,
    since_record: Arc<AtomicU64>,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_record.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RECORD_TOO_LONG,
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], options: &ReadOptions) -> Result<Vec<Batch>, Error> {
        super::super::read_text(text, "t.csv", options)
    }

    #[test]
    fn reads_quoted_ragged_and_bad_utf8() {
        let text = b"\xEF\xBB\xBFid,name,note\n1,\"Smith, J\",\"said \"\"hi\"\"\nthere\"\n2,x\n3,\xff\xfe,ok,extra\n4,,NA\n";
        let batches = read_all(text, &ReadOptions::default()).unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(&*b.names, ["id", "name", "note"]);
        assert_eq!(b.rows, 4);
        assert_eq!(b.column("name").unwrap().get(0).unwrap().text, "Smith, J");
        assert_eq!(
            b.column("note").unwrap().get(0).unwrap().text,
            "said \"hi\"\nthere"
        );
        assert_eq!(
            b.column("note").unwrap().get(1).unwrap().kind,
            CellKind::Null
        );
        assert_eq!(
            b.column("note").unwrap().get(3).unwrap().kind,
            CellKind::Null
        );
        let kinds: Vec<_> = b.issues.iter().map(|i| (i.row, i.kind)).collect();
        assert_eq!(
            kinds,
            [
                (2, ReadIssueKind::RaggedRow),
                (3, ReadIssueKind::RaggedRow),
                (3, ReadIssueKind::Encoding)
            ]
        );
        assert_eq!(b.issues[2].column.as_deref(), Some("name"));
        assert_eq!(b.issues[0].ragged_fields(), Some(2));
        assert_eq!(b.issues[1].ragged_fields(), Some(4));
        assert_eq!(b.issues[2].ragged_fields(), None);
    }

    #[test]
    fn batches_and_row_numbers() {
        let mut text = b"a;b\n".to_vec();
        for i in 0..25 {
            text.extend_from_slice(format!("{i};{}\n", i * 2).as_bytes());
        }
        let options = ReadOptions {
            batch_rows: 10,
            ..ReadOptions::default()
        };
        let batches = read_all(&text, &options).unwrap();
        let shape: Vec<_> = batches.iter().map(|b| (b.first_row, b.rows)).collect();
        assert_eq!(shape, [(1, 10), (11, 10), (21, 5)]);
        assert_eq!(batches[2].column("b").unwrap().get(4).unwrap().text, "48");
        let total: u64 = batches.iter().map(|b| b.input_bytes).sum();
        assert_eq!(total, text.len() as u64 - 4);
    }

    #[test]
    fn huge_field_is_an_error_not_unbounded_memory() {
        let mut text = b"a,b\n1,2\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
        text.extend_from_slice(b",3\n");
        let options = ReadOptions {
            max_record_bytes: 1 << 20,
            ..ReadOptions::default()
        };
        let err = read_all(&text, &options).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        assert!(err.contains("longer than 1048576 bytes"), "{err}");
    }

    #[test]
    fn header_problems() {
        let batches = read_all(b"a,,a\n1,2,3\n", &ReadOptions::default()).unwrap();
        assert_eq!(&*batches[0].names, ["a", "column_2", "a_2"]);
        assert_eq!(batches[0].issues.len(), 2);
        assert!(read_all(b"", &ReadOptions::default()).is_err());
        let only_header = read_all(b"a,b\n", &ReadOptions::default()).unwrap();
        assert!(only_header.is_empty());
    }
}
