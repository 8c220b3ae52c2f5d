//! The rows a detector is fitted on or scores: a table (CSV, JSON Lines, Parquet), read
//! by the data stage, or a NumPy `.npy` array of numbers.

use std::io::{Cursor, Read};
use std::path::Path;

use aigis_data::table::{self, Format, ReadOptions};

use crate::Error;

/// A numeric matrix, row-major; NaN where a cell is missing or not a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
    /// One per column; for an `.npy` array `x0`, `x1`, ….
    pub names: Vec<String>,
}

impl Matrix {
    /// Row `i` (empty past the end).
    pub fn row(&self, i: usize) -> &[f64] {
        self.data
            .get(i * self.cols..(i + 1) * self.cols)
            .unwrap_or(&[])
    }

    /// A matrix of `rows × cols` values, checked.
    pub fn new(
        rows: usize,
        cols: usize,
        data: Vec<f64>,
        names: Vec<String>,
    ) -> Result<Self, Error> {
        if rows.checked_mul(cols) != Some(data.len()) || names.len() != cols {
            return Err(Error::Options(format!(
                "{} values and {} names do not make {rows} rows of {cols} columns",
                data.len(),
                names.len()
            )));
        }
        Ok(Self {
            rows,
            cols,
            data,
            names,
        })
    }

    /// The names `x0 … x{cols−1}` of an array's columns.
    pub fn positional_names(cols: usize) -> Vec<String> {
        (0..cols).map(|j| format!("x{j}")).collect()
    }
}

/// Which columns of a table to read.
#[derive(Debug, Clone, Default)]
pub struct Columns<'a> {
    /// Exactly these, in this order (each must be in the table).
    pub names: Option<&'a [String]>,
    /// Left out of the default choice (the label column).
    pub label: Option<&'a str>,
    /// A cell of a chosen column that is text, not a number, is read as missing (NaN)
    /// rather than refused: scoring flags such a row instead of failing the file.
    pub text_is_missing: bool,
}

/// The largest `.npy` file read (the array is held in memory).
pub const MAX_NPY_BYTES: u64 = 8 << 30;

/// Reads `path`: an `.npy` array (2-D, or more dimensions flattened after the first:
/// `(n, 8, 8)` is 64 columns), or a table. A table's columns are `columns.names` when
/// given, else every column but the label whose non-empty cells are all numbers.
pub fn read_matrix(
    path: &Path,
    columns: &Columns<'_>,
    format: Option<Format>,
    read: &ReadOptions,
) -> Result<Matrix, Error> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        if columns.names.is_some() || columns.label.is_some() {
            return Err(Error::Options(format!(
                "`{}` is an array: its columns have no names to choose by (leave out --columns and --label)",
                path.display()
            )));
        }
        let bytes = read_bounded(path)?;
        return npy(&bytes).map_err(|message| Error::Profile {
            path: path.to_owned(),
            message,
        });
    }
    let reader = table::open(path, format, read)?;
    let all: Vec<String> = reader.names().to_vec();
    let mut names: Vec<String> = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    let mut text_seen: Vec<bool> = Vec::new();
    let mut rows = 0usize;
    let mut chosen: Option<Vec<String>> = columns.names.map(<[String]>::to_vec);
    for batch in reader {
        let batch = batch?;
        if names.is_empty() {
            let pick = chosen.take().unwrap_or_else(|| {
                let base: &[String] = if all.is_empty() { &batch.names } else { &all };
                base.iter()
                    .filter(|n| Some(n.as_str()) != columns.label)
                    .cloned()
                    .collect()
            });
            for n in &pick {
                if !batch.names.contains(n) {
                    return Err(Error::Columns(format!(
                        "`{}` has no column `{n}`; its columns: {}",
                        path.display(),
                        batch.names.join(", ")
                    )));
                }
            }
            values = vec![Vec::new(); pick.len()];
            text_seen = vec![false; pick.len()];
            names = pick;
        }
        for (j, name) in names.iter().enumerate() {
            let column = batch.column(name);
            let (Some(out), Some(seen)) = (values.get_mut(j), text_seen.get_mut(j)) else {
                continue;
            };
            for i in 0..batch.rows {
                let cell = column.and_then(|c| c.get(i));
                // NaN and the infinities as numbers (so a reason can say which it was).
                let x = cell.and_then(|c| crate::drift::number_of(c.kind, c.text));
                if x.is_none()
                    && cell.is_some_and(|c| {
                        !c.text.trim().is_empty() && !table::is_null_marker(c.text)
                    })
                {
                    *seen = true;
                }
                out.push(x.unwrap_or(f64::NAN));
            }
        }
        rows += batch.rows;
    }
    if names.is_empty() {
        // No batch: a header and no rows, or nothing at all.
        return Err(Error::Options(format!("`{}` has no rows", path.display())));
    }
    // The default choice keeps the numeric columns only; a chosen column must be numeric.
    let keep: Vec<bool> = text_seen
        .iter()
        .map(|t| !t || (columns.names.is_some() && columns.text_is_missing))
        .collect();
    if columns.names.is_some()
        && !columns.text_is_missing
        && let Some(j) = keep.iter().position(|k| !k)
    {
        return Err(Error::Columns(format!(
            "`{}`: column `{}` holds text, not numbers",
            path.display(),
            names.get(j).map_or("", String::as_str)
        )));
    }
    let names: Vec<String> = names
        .into_iter()
        .zip(&keep)
        .filter_map(|(n, k)| k.then_some(n))
        .collect();
    let values: Vec<Vec<f64>> = values
        .into_iter()
        .zip(&keep)
        .filter_map(|(v, k)| k.then_some(v))
        .collect();
    if names.is_empty() {
        return Err(Error::Columns(format!(
            "`{}` has no numeric column to use",
            path.display()
        )));
    }
    let cols = names.len();
    let mut data = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        for v in &values {
            data.push(v.get(i).copied().unwrap_or(f64::NAN));
        }
    }
    Matrix::new(rows, cols, data, names)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Profile {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_NPY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_NPY_BYTES {
        return Err(Error::Profile {
            path: path.to_owned(),
            message: format!("larger than {} GiB", MAX_NPY_BYTES >> 30),
        });
    }
    Ok(bytes)
}

/// Where an `.npy` file's numbers are and how to read them.
#[derive(Debug, Clone, Copy)]
pub struct NpyLayout {
    pub rows: u64,
    /// Numbers per row (the dimensions after the first, multiplied).
    pub cols: u64,
    /// Bytes per number.
    pub size: usize,
    /// One number from its `size` bytes.
    pub read: fn(&[u8]) -> f64,
    /// Little-endian float32 or float64 (`<f4`, `<f8`): what a reader of many numbers
    /// decodes inline rather than through `read`.
    pub little_float: bool,
    /// Where the numbers start.
    pub data_offset: u64,
}

/// The layout of an `.npy` file of `len` bytes from its start (`reader` at its first
/// byte), checked as `np.load` checks it: its header read by the model scanner's parser
/// (exactly as NumPy reads it), an object array refused (np.load would run its pickle), a
/// plain numeric dtype, C order, and as many data bytes as the shape needs.
pub fn npy_layout(
    reader: &mut (impl std::io::Read + std::io::Seek),
    len: u64,
) -> Result<NpyLayout, String> {
    let header = aigis_scan::npy_header(reader, len, &aigis_scan::Limits::default())?;
    if header.object {
        return Err(format!(
            "an array of Python objects (dtype {}), not numbers: np.load would run its pickle",
            header.descr
        ));
    }
    let shape = header
        .shape
        .ok_or("the header's shape is not a tuple of sizes")?;
    if header.fortran_order != Some(false) {
        return Err("a Fortran-ordered array: save it with np.ascontiguousarray first".into());
    }
    let (rows, cols) = match shape.as_slice() {
        [] => return Err("a 0-dimensional array: rows are needed".into()),
        [n] => (*n, 1u64),
        [n, rest @ ..] => (
            *n,
            rest.iter()
                .try_fold(1u64, |a, &b| a.checked_mul(b))
                .ok_or("the shape's size overflows")?,
        ),
    };
    let descr = header.descr.trim_matches('\'');
    let (size, read): (usize, fn(&[u8]) -> f64) = match descr {
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
        "<f4" => (4, |b| {
            f64::from(f32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        ">f8" => (8, |b| f64::from_be_bytes(b.try_into().unwrap_or([0; 8]))),
        ">f4" => (4, |b| {
            f64::from(f32::from_be_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        "<i8" => (8, |b| {
            i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64
        }),
        "<i4" => (4, |b| {
            f64::from(i32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        "<i2" => (2, |b| {
            f64::from(i16::from_le_bytes(b.try_into().unwrap_or([0; 2])))
        }),
        "|i1" => (1, |b| f64::from(b.first().map_or(0, |&x| x as i8))),
        "|u1" => (1, |b| f64::from(b.first().copied().unwrap_or(0))),
        "<u2" => (2, |b| {
            f64::from(u16::from_le_bytes(b.try_into().unwrap_or([0; 2])))
        }),
        "<u4" => (4, |b| {
            f64::from(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        "|b1" => (1, |b| {
            f64::from(u8::from(b.first().is_some_and(|&x| x != 0)))
        }),
        other => {
            return Err(format!(
                "dtype {other}: only float32/64, int8–64, uint8–32 and bool arrays are read"
            ));
        }
    };
    let need = rows
        .checked_mul(cols)
        .and_then(|c| c.checked_mul(size as u64))
        .ok_or("the shape's size overflows")?;
    let body = len
        .checked_sub(header.data_offset)
        .ok_or("the file ends inside the header")?;
    if body != need {
        return Err(format!(
            "the shape {shape:?} of {descr} needs {need} bytes of data, the file has {body}"
        ));
    }
    Ok(NpyLayout {
        rows,
        cols,
        size,
        read,
        little_float: matches!(descr, "<f4" | "<f8"),
        data_offset: header.data_offset,
    })
}

/// An `.npy` array of plain numbers, as `np.load` reads it (see [`npy_layout`]).
pub fn npy(bytes: &[u8]) -> Result<Matrix, String> {
    let mut cursor = Cursor::new(bytes);
    let NpyLayout {
        rows,
        cols,
        size,
        read,
        data_offset,
        ..
    } = npy_layout(&mut cursor, bytes.len() as u64)?;
    let start = usize::try_from(data_offset).map_err(|_| "a header past the end")?;
    let body = bytes
        .get(start..)
        .ok_or("the file ends inside the header")?;
    let data: Vec<f64> = body.chunks_exact(size).map(read).collect();
    let (rows, cols) = (rows as usize, cols as usize);
    Matrix::new(rows, cols, data, Matrix::positional_names(cols)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `.npy` file as `np.save` writes it (format 1.0, header padded to 64 bytes).
    pub(crate) fn npy_bytes(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn arrays_are_read_as_numpy_writes_them() {
        let body: Vec<u8> = [1.5f32, -2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let m = npy(&npy_bytes("<f4", "(2, 3)", &body)).unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.row(1), [4.0, 5.0, 6.0]);
        assert_eq!(m.names, ["x0", "x1", "x2"]);
        // Images flatten after the first axis.
        let m = npy(&npy_bytes("<f4", "(1, 2, 3)", &body)).unwrap();
        assert_eq!((m.rows, m.cols), (1, 6));
        let m = npy(&npy_bytes("|u1", "(3,)", &[1, 2, 255])).unwrap();
        assert_eq!(m.data, [1.0, 2.0, 255.0]);
    }

    #[test]
    fn bad_arrays_are_refused_with_a_reason() {
        let body = [0u8; 24];
        for (descr, shape, body, says) in [
            ("|O", "(3,)", &body[..], "objects"),
            ("<f8", "(2, 3)", &body[..], "needs 48 bytes"),
            ("<c16", "(1,)", &body[..16], "dtype <c16"),
            ("<f8", "()", &body[..8], "0-dimensional"),
            ("<f8", "(18446744073709551615, 2)", &body[..], "overflows"),
        ] {
            let e = npy(&npy_bytes(descr, shape, body)).unwrap_err();
            assert!(e.contains(says), "{descr} {shape}: {e}");
        }
        assert!(npy(b"\x93NUMPY").is_err());
        let mut fortran = npy_bytes("<f8", "(1, 1)", &body[..8]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        let e = npy(&fortran).unwrap_err();
        assert!(e.contains("Fortran"), "{e}");
    }
}
