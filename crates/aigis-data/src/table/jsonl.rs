//! JSON Lines: one JSON object per line; its keys are the columns, in order of first
//! appearance. Rows are numbered by non-blank line.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{
    Batch, BatchReader, CellKind, Column, Format, ReadIssue, ReadIssueKind, ReadOptions,
    table_error,
};
use crate::Error;

pub(crate) struct JsonlReader {
    path: PathBuf,
    reader: BufReader<File>,
    names: Vec<String>,
    index: HashMap<String, usize>,
    shared_names: Arc<[String]>,
    options: ReadOptions,
    next_row: u64,
    line: Vec<u8>,
    done: bool,
}

impl JsonlReader {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(256 << 10, file),
            names: Vec::new(),
            index: HashMap::new(),
            shared_names: Arc::from(Vec::new()),
            options: options.clone(),
            next_row: 1,
            line: Vec::new(),
            done: false,
        })
    }

    /// The next non-blank line into `self.line`; false at the end.
    fn next_line(&mut self) -> Result<Option<u64>, Error> {
        let mut consumed = 0u64;
        loop {
            self.line.clear();
            let limit = self.options.max_record_bytes;
            let n = (&mut self.reader)
                .take(limit + 1)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| Error::io(&self.path, e))?;
            consumed += n as u64;
            if n == 0 {
                return Ok(None);
            }
            if self.line.len() as u64 > limit {
                return Err(table_error(
                    &self.path,
                    Some(self.next_row),
                    format!(
                        "a line longer than {limit} bytes; raise the limit (--max-record-bytes) if it is real"
                    ),
                ));
            }
            if self.line.iter().any(|b| !b.is_ascii_whitespace()) {
                return Ok(Some(consumed));
            }
        }
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, Error> {
        let first_row = self.next_row;
        let mut columns: Vec<Column> = (0..self.names.len())
            .map(|_| Column::with_capacity(self.options.batch_rows.min(1024)))
            .collect();
        let mut issues = Vec::new();
        let mut rows = 0usize;
        let mut bytes = 0usize;
        let mut input_bytes = 0u64;
        let mut seen = Vec::new();
        while rows < self.options.batch_rows && bytes < self.options.batch_bytes {
            let Some(consumed) = self.next_line()? else {
                self.done = true;
                break;
            };
            input_bytes += consumed;
            bytes += self.line.len();
            let row = self.next_row;
            self.next_row += 1;
            let text = match std::str::from_utf8(&self.line) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(e) => {
                    issues.push(ReadIssue {
                        row,
                        column: None,
                        kind: ReadIssueKind::Encoding,
                        message: format!(
                            "not valid UTF-8 (byte {} of the line); read with replacement characters",
                            e.valid_up_to()
                        ),
                    });
                    String::from_utf8_lossy(&self.line)
                }
            };
            seen.clear();
            seen.resize(self.names.len(), false);
            match serde_json::from_str::<Object>(&text) {
                Ok(Object(fields)) => {
                    for (key, value) in fields {
                        let i = match self.index.get(&key) {
                            Some(&i) => i,
                            None => {
                                let i = self.names.len();
                                self.index.insert(key.clone(), i);
                                self.names.push(key.clone());
                                let mut column = Column::with_capacity(rows + 1);
                                for _ in 0..rows {
                                    column.push_null();
                                }
                                columns.push(column);
                                seen.push(false);
                                i
                            }
                        };
                        let (Some(column), Some(done)) = (columns.get_mut(i), seen.get_mut(i))
                        else {
                            continue;
                        };
                        if *done {
                            issues.push(ReadIssue {
                                row,
                                column: Some(key),
                                kind: ReadIssueKind::Malformed,
                                message: "the key appears twice in the object; the first is read"
                                    .into(),
                            });
                            continue;
                        }
                        *done = true;
                        push_value(column, &value);
                    }
                }
                Err(e) => issues.push(ReadIssue {
                    row,
                    column: None,
                    kind: ReadIssueKind::Malformed,
                    message: format!("not a JSON object: {e}"),
                }),
            }
            for (column, done) in columns.iter_mut().zip(&seen) {
                if !done {
                    column.push_null();
                }
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        if self.shared_names.len() != self.names.len() {
            self.shared_names = self.names.clone().into();
        }
        Ok(Some(Batch {
            names: self.shared_names.clone(),
            first_row,
            rows,
            columns,
            issues,
            input_bytes,
        }))
    }
}

fn push_value(column: &mut Column, value: &Value) {
    match value {
        Value::Null => column.push_null(),
        Value::Bool(b) => column.push(CellKind::Bool, if *b { "true" } else { "false" }),
        Value::Number(n) => column.push_with(CellKind::Number, |s| {
            use std::fmt::Write as _;
            let _ = write!(s, "{n}");
        }),
        Value::String(s) => column.push(CellKind::Text, s),
        Value::Array(_) | Value::Object(_) => column.push_with(CellKind::Nested, |s| {
            s.push_str(&value.to_string());
        }),
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.read_batch();
        super::stop_after_error(next, &mut self.done)
    }
}

impl BatchReader for JsonlReader {
    fn names(&self) -> Arc<[String]> {
        self.names.clone().into()
    }

    fn format(&self) -> Format {
        Format::Jsonl
    }
}

/// A JSON object with its keys in file order (serde_json's `Map` sorts them unless the
/// whole program opts into `preserve_order`).
struct Object(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Object(fields))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], options: &ReadOptions) -> Result<Vec<Batch>, Error> {
        super::super::read_text(text, "t.jsonl", options)
    }

    #[test]
    fn columns_grow_and_values_keep_their_kind() {
        let text = b"{\"id\":1,\"name\":\"a\"}\n\n{\"id\":2.5,\"tags\":[1,2],\"ok\":true}\nnot json\n{\"id\":null,\"id\":3}\n";
        let batches = read_all(text, &ReadOptions::default()).unwrap();
        let b = &batches[0];
        assert_eq!(&*b.names, ["id", "name", "tags", "ok"]);
        assert_eq!(b.rows, 4);
        let id: Vec<_> = b
            .column("id")
            .unwrap()
            .iter()
            .map(|c| (c.kind, c.text))
            .collect();
        assert_eq!(
            id,
            [
                (CellKind::Number, "1"),
                (CellKind::Number, "2.5"),
                (CellKind::Null, ""),
                (CellKind::Null, "")
            ]
        );
        let tags = b.column("tags").unwrap();
        assert_eq!(tags.get(0).unwrap().kind, CellKind::Null);
        assert_eq!(tags.get(1).unwrap().text, "[1,2]");
        assert_eq!(b.column("ok").unwrap().get(1).unwrap().kind, CellKind::Bool);
        let issues: Vec<_> = b.issues.iter().map(|i| (i.row, i.kind)).collect();
        assert_eq!(
            issues,
            [(3, ReadIssueKind::Malformed), (4, ReadIssueKind::Malformed)]
        );
    }

    #[test]
    fn long_line_is_an_error() {
        let mut text = b"{\"a\":1}\n{\"a\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 5000));
        text.extend_from_slice(b"\"}\n");
        let options = ReadOptions {
            max_record_bytes: 1000,
            ..ReadOptions::default()
        };
        let err = read_all(&text, &options).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
    }

    #[test]
    fn bad_utf8_is_an_issue() {
        let batches = read_all(b"{\"a\":\"\xff\"}\n", &ReadOptions::default()).unwrap();
        assert_eq!(batches[0].issues[0].kind, ReadIssueKind::Encoding);
        assert_eq!(
            batches[0].column("a").unwrap().get(0).unwrap().text,
            "\u{fffd}"
        );
    }
}
