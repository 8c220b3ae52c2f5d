//! Parquet through the Arrow reader of the `parquet` crate (snappy and zstd pages; the
//! crate's other codecs are left out to keep the build lean, and a file using one gets a
//! clear error naming the codec).
//!
//! Arrow arrays become cells: numbers keep their type ([`CellKind::Number`]), dates and
//! timestamps are written in ISO 8601, dictionary columns (pandas categoricals) are
//! expanded, and lists and structs are written as JSON-like text ([`CellKind::Nested`]).

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Once;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{Batch, BatchReader, CellKind, Column, Format, ReadOptions, table_error};
use crate::Error;

thread_local! {
    /// Set while this thread runs the `parquet` crate under [`contained`].
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}
static QUIET_HOOK: Once = Once::new();

/// Runs `f` (a call into the `parquet` crate), turning a panic into an error.
///
/// Written by hand because no crate does it: `parquet` 60 panics on some malformed files
/// instead of returning an error (fuzzing found a dictionary-encoded page without a
/// dictionary page: "Decoder for dict should have been set"), and a malformed file must
/// give a clear error, never a crash. The panic hook installed once here stays silent
/// for panics inside `contained` and hands every other panic to the previous hook.
fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    CONTAINED.with(|c| c.set(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the decoder failed".to_owned())
    })
}

pub(crate) struct ParquetReader {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    names: Arc<[String]>,
    next_row: u64,
    bytes_per_row: f64,
    done: bool,
}

impl ParquetReader {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let builder = contained(|| ParquetRecordBatchReaderBuilder::try_new(file))
            .map_err(|e| table_error(path, None, format!("not a readable Parquet file: {e}")))?
            .map_err(|e| table_error(path, None, format!("not a readable Parquet file: {e}")))?;
        // Each row group's count must be a count, and their sum one: the parquet crate
        // adds them up as `usize` when it builds the reader, which overflows (a panic in
        // a checked build, a wrong count otherwise) on a file that lies about them.
        let mut counted: u64 = 0;
        for (i, group) in builder.metadata().row_groups().iter().enumerate() {
            counted = u64::try_from(group.num_rows())
                .ok()
                .and_then(|n| counted.checked_add(n))
                .filter(|&n| usize::try_from(n).is_ok())
                .ok_or_else(|| {
                    table_error(
                        path,
                        None,
                        format!(
                            "not a readable Parquet file: row group {i} claims {} rows",
                            group.num_rows()
                        ),
                    )
                })?;
        }
        let total_rows = builder.metadata().file_metadata().num_rows().max(1) as f64;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = contained(|| builder.with_batch_size(options.batch_rows.max(1)).build())
            .map_err(|e| table_error(path, None, format!("not a readable Parquet file: {e}")))?
            .map_err(|e| table_error(path, None, format!("not a readable Parquet file: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            names: names.into(),
            next_row: 1,
            bytes_per_row: file_len as f64 / total_rows,
            done: false,
        })
    }

    fn convert(&mut self, batch: &RecordBatch) -> Batch {
        let rows = batch.num_rows();
        let columns = batch
            .columns()
            .iter()
            .map(|array| {
                let mut column = Column::with_capacity(rows);
                push_array(&mut column, array.as_ref());
                column
            })
            .collect();
        let first_row = self.next_row;
        self.next_row += rows as u64;
        Batch {
            names: self.names.clone(),
            first_row,
            rows,
            columns,
            issues: Vec::new(),
            input_bytes: (rows as f64 * self.bytes_per_row) as u64,
        }
    }
}

impl ParquetReader {
    /// The next record batch as the `parquet` crate decodes it; an error ends the file.
    fn next_record_batch(&mut self) -> Option<Result<RecordBatch, Error>> {
        if self.done {
            return None;
        }
        let reader = &mut self.reader;
        let next = match contained(|| reader.next()) {
            Ok(next) => next?.map_err(|e| e.to_string()),
            Err(panic) => Err(panic),
        };
        match next {
            Ok(batch) => Some(Ok(batch)),
            Err(e) => {
                self.done = true;
                Some(Err(table_error(
                    &self.path,
                    Some(self.next_row),
                    format!("cannot decode the Parquet data: {e}"),
                )))
            }
        }
    }
}

impl Iterator for ParquetReader {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_record_batch()?.map(|batch| self.convert(&batch)))
    }
}

/// A Parquet file read a batch at a time with its number columns as numbers: integers
/// and floats of every width are handed over as `f64` straight from their Arrow arrays,
/// with no text in between (formatting and parsing every number was most of the time of
/// a drift test over a large file); a column of another type comes as cells, as
/// [`open`](super::open) gives them.
pub struct ParquetColumns {
    inner: ParquetReader,
    /// The columns given as cells whatever their type.
    cells: Vec<bool>,
}

impl std::fmt::Debug for ParquetColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetColumns")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// One batch of [`ParquetColumns`].
#[derive(Debug)]
pub struct TypedBatch {
    pub rows: usize,
    /// One per name, in the file's order.
    pub columns: Vec<TypedColumn>,
    /// Bytes of input this batch came from, about (for progress).
    pub input_bytes: u64,
}

/// One column of a [`TypedBatch`].
#[derive(Debug)]
pub enum TypedColumn {
    /// A number column: its values (NaN and infinities as stored) and its nulls.
    Numbers { values: Vec<f64>, nulls: u64 },
    /// A column of another type, as cells.
    Cells(Column),
}

impl ParquetColumns {
    /// Opens a Parquet file, `options.batch_rows` rows a batch.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self, Error> {
        Ok(Self {
            inner: ParquetReader::open(path, options)?,
            cells: Vec::new(),
        })
    }

    /// From the next batch on, gives the columns `which` says as cells, as
    /// [`open`](super::open) gives them, whatever their type (their texts are wanted).
    pub fn cells_for(&mut self, which: Vec<bool>) {
        self.cells = which;
    }

    pub fn names(&self) -> Arc<[String]> {
        self.inner.names.clone()
    }
}

impl Iterator for ParquetColumns {
    type Item = Result<TypedBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.inner.next_record_batch()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let rows = batch.num_rows();
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, array)| {
                let as_cells = self.cells.get(i).copied().unwrap_or(false);
                (!as_cells)
                    .then(|| numbers_of(array.as_ref()))
                    .flatten()
                    .unwrap_or_else(|| {
                        let mut column = Column::with_capacity(rows);
                        push_array(&mut column, array.as_ref());
                        TypedColumn::Cells(column)
                    })
            })
            .collect();
        self.inner.next_row += rows as u64;
        Some(Ok(TypedBatch {
            rows,
            columns,
            input_bytes: (rows as f64 * self.inner.bytes_per_row) as u64,
        }))
    }
}

/// A number array's values as `f64` and its nulls; `None` for another type.
fn numbers_of(array: &dyn Array) -> Option<TypedColumn> {
    fn take<T: arrow_array::ArrowPrimitiveType>(
        array: &dyn Array,
        to: impl Fn(T::Native) -> f64,
    ) -> TypedColumn {
        let a = array.as_primitive::<T>();
        let values = if a.null_count() == 0 {
            a.values().iter().map(|&v| to(v)).collect()
        } else {
            a.iter().flatten().map(to).collect()
        };
        TypedColumn::Numbers {
            values,
            nulls: a.null_count() as u64,
        }
    }
    Some(match array.data_type() {
        DataType::Float64 => take::<Float64Type>(array, |v| v),
        DataType::Float32 => take::<Float32Type>(array, f64::from),
        DataType::Int8 => take::<Int8Type>(array, f64::from),
        DataType::Int16 => take::<Int16Type>(array, f64::from),
        DataType::Int32 => take::<Int32Type>(array, f64::from),
        // Beyond 2^53 an integer is rounded to the nearest double, as parsing its text
        // would round it.
        DataType::Int64 => take::<Int64Type>(array, |v| v as f64),
        DataType::UInt8 => take::<UInt8Type>(array, f64::from),
        DataType::UInt16 => take::<UInt16Type>(array, f64::from),
        DataType::UInt32 => take::<UInt32Type>(array, f64::from),
        DataType::UInt64 => take::<UInt64Type>(array, |v| v as f64),
        _ => return None,
    })
}

impl BatchReader for ParquetReader {
    fn names(&self) -> Arc<[String]> {
        self.names.clone()
    }

    fn format(&self) -> Format {
        Format::Parquet
    }
}

/// Appends every value of `array` to `column`.
fn push_array(column: &mut Column, array: &dyn Array) {
    let kind = kind_of(array.data_type());
    for i in 0..array.len() {
        if array.is_null(i) {
            column.push_null();
        } else {
            column.push_with(kind, |s| write_value(s, array, i));
        }
    }
}

fn kind_of(data_type: &DataType) -> CellKind {
    match data_type {
        DataType::Boolean => CellKind::Bool,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => CellKind::Number,
        DataType::Dictionary(_, values) => kind_of(values),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(_, _)
        | DataType::Struct(_)
        | DataType::Map(_, _)
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => CellKind::Nested,
        _ => CellKind::Text,
    }
}

/// Writes value `i` of `array` (not null) as text.
fn write_value(s: &mut String, array: &dyn Array, i: usize) {
    macro_rules! prim {
        ($t:ty) => {{
            let _ = write!(s, "{}", array.as_primitive::<$t>().value(i));
        }};
    }
    match array.data_type() {
        DataType::Boolean => s.push_str(if array.as_boolean().value(i) {
            "true"
        } else {
            "false"
        }),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Utf8 => s.push_str(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => s.push_str(array.as_string::<i64>().value(i)),
        DataType::Utf8View => s.push_str(array.as_string_view().value(i)),
        DataType::Decimal128(_, _) => s.push_str(
            &array
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value_as_string(i),
        ),
        DataType::Date32 => {
            if let Some(d) = array.as_primitive::<Date32Type>().value_as_date(i) {
                let _ = write!(s, "{d}");
            }
        }
        DataType::Date64 => {
            if let Some(d) = array.as_primitive::<Date64Type>().value_as_date(i) {
                let _ = write!(s, "{d}");
            }
        }
        DataType::Timestamp(unit, _) => {
            let t = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value_as_datetime(i),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value_as_datetime(i),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value_as_datetime(i),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value_as_datetime(i),
            };
            if let Some(t) = t {
                let _ = write!(s, "{}", t.format("%Y-%m-%dT%H:%M:%S%.f"));
            }
        }
        DataType::Dictionary(_, _) => {
            if let Some(dict) = array.as_any_dictionary_opt() {
                let keys = dict.normalized_keys();
                if let Some(&k) = keys.get(i) {
                    let values = dict.values();
                    if values.is_null(k) {
                        return;
                    }
                    write_value(s, values.as_ref(), k);
                }
            }
        }
        DataType::List(_) => write_list(s, &array.as_list::<i32>().value(i)),
        DataType::LargeList(_) => write_list(s, &array.as_list::<i64>().value(i)),
        DataType::FixedSizeList(_, _) => write_list(s, &array.as_fixed_size_list().value(i)),
        DataType::Struct(fields) => {
            let st = array.as_struct();
            s.push('{');
            for (n, (field, child)) in fields.iter().zip(st.columns()).enumerate() {
                if n > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{:?}:", field.name());
                write_nested(s, child.as_ref(), i);
            }
            s.push('}');
        }
        DataType::Binary => {
            let _ = write!(s, "<{} bytes>", array.as_binary::<i32>().value(i).len());
        }
        DataType::LargeBinary => {
            let _ = write!(s, "<{} bytes>", array.as_binary::<i64>().value(i).len());
        }
        DataType::FixedSizeBinary(n) => {
            let _ = write!(s, "<{n} bytes>");
        }
        other => {
            let _ = write!(s, "<{other}>");
        }
    }
}

fn write_list(s: &mut String, values: &Arc<dyn Array>) {
    s.push('[');
    for j in 0..values.len() {
        if j > 0 {
            s.push(',');
        }
        write_nested(s, values.as_ref(), j);
    }
    s.push(']');
}

fn write_nested(s: &mut String, array: &dyn Array, i: usize) {
    if array.is_null(i) {
        s.push_str("null");
    } else if kind_of(array.data_type()) == CellKind::Text {
        let mut inner = String::new();
        write_value(&mut inner, array, i);
        let _ = write!(s, "{inner:?}");
    } else {
        write_value(s, array, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type as K;
    use arrow_array::{
        BooleanArray, Date32Array, DictionaryArray, Float64Array, Int64Array, StringArray,
    };
    use parquet::arrow::ArrowWriter;

    #[test]
    fn reads_types_nulls_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.parquet");
        let dict: DictionaryArray<K> = vec!["red", "blue", "red"].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from(vec![1, 2, 3])) as Arc<dyn Array>,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![Some(0.5), None, Some(2.0)])),
            ),
            ("name", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
            ("ok", Arc::new(BooleanArray::from(vec![true, false, true]))),
            ("day", Arc::new(Date32Array::from(vec![0, 1, 19_000]))),
            ("colour", Arc::new(dict)),
        ])
        .unwrap();
        let file = File::create(&p).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let options = ReadOptions {
            batch_rows: 4,
            ..ReadOptions::default()
        };
        let batches: Vec<Batch> = ParquetReader::open(&p, &options)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let shape: Vec<_> = batches.iter().map(|b| (b.first_row, b.rows)).collect();
        assert_eq!(shape, [(1, 4), (5, 2)]);
        let b = &batches[0];
        assert_eq!(&*b.names, ["id", "score", "name", "ok", "day", "colour"]);
        let cell = |c: &str, i: usize| b.column(c).unwrap().get(i).unwrap();
        assert_eq!(
            (cell("id", 1).kind, cell("id", 1).text),
            (CellKind::Number, "2")
        );
        assert_eq!(cell("score", 1).kind, CellKind::Null);
        assert_eq!(cell("name", 2).text, "c");
        assert_eq!(
            (cell("ok", 1).kind, cell("ok", 1).text),
            (CellKind::Bool, "false")
        );
        assert_eq!(cell("day", 1).text, "1970-01-02");
        assert_eq!(cell("colour", 1).text, "blue");
        assert_eq!(cell("colour", 3).text, "red");
    }

    #[test]
    fn a_file_that_makes_the_parquet_crate_panic_is_an_error() {
        // Found by the `table_parquet` fuzz target; kept as a seed of it.
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/table_parquet/regression-dict-page-missing.parquet");
        let result: Result<Vec<Batch>, Error> =
            ParquetReader::open(&p, &ReadOptions::default()).and_then(|r| r.collect());
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("regression-dict-page-missing.parquet"),
            "{err}"
        );
        assert!(err.contains("Parquet"), "{err}");
    }

    #[test]
    fn row_groups_that_lie_about_their_rows_are_an_error() {
        // Found by the `table_parquet` fuzz target (a row group of -2 rows made the
        // parquet crate's sum of the counts overflow); kept as a seed of it.
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/table_parquet/regression-negative-row-group.parquet");
        let err = ParquetReader::open(&p, &ReadOptions::default())
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("row group 2 claims -2 rows"), "{err}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.parquet");
        std::fs::write(&p, b"PAR1 this is not parquet PAR1").unwrap();
        let err = ParquetReader::open(&p, &ReadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("bad.parquet"), "{err}");
        assert!(err.contains("Parquet"), "{err}");
    }
}
