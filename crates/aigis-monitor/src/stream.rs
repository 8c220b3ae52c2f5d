//! Drift over a current table too large to hold: `aigis monitor drift --stream`.
//!
//! The reference is read whole (it is the smaller side: the training data, or a window
//! known to be good) and each numeric column sorted once. From it each feature gets a
//! grid: every distinct reference value when there are at most `grid` of them, else the
//! reference values at `grid` evenly spaced ranks (its smallest and largest among them),
//! and the cut points of the PSI bins. The current table is then read a chunk of rows at a
//! time, and each value only counted in the grid's bins (at a point, or between two):
//! memory is the reference, the grids and the counts, whatever the current table's size.
//! Chunks are counted a column per thread. An `.npy` array's numbers are decoded from its
//! bytes, and a Parquet file's number columns taken from their Arrow arrays as `f64`
//! ([`aigis_data::table::ParquetColumns`]); CSV and JSON Lines cells are parsed.
//!
//! From the counts both distribution functions are known exactly at every grid point and
//! just below it, and bounded in between. The Kolmogorov–Smirnov statistic is the largest
//! gap at those points (reached, so a lower bound) and at most the largest gap the bounds
//! allow between them: when the grid holds every reference value the two are equal and
//! the test is the one `aigis monitor drift` gives without `--stream` (statistic and
//! p-value alike); otherwise the feature carries the difference as its error, with the
//! p-values at both ends, and a verdict only when both ends agree ("inconclusive"
//! otherwise). The PSI is exact (its cut points are grid points); the range test is
//! exact (the reference's extremes are grid points); the Wasserstein distance is not
//! computed.
//!
//! A column that is not numbers in the reference is categorical (at most
//! [`drift::MAX_CATEGORIES`] distinct values) or text: the reference's texts were counted
//! as it was read, and a categorical feature's current texts are counted chunk by chunk
//! (at most as many again: past that, a handful of categories became thousands of values,
//! which is drift), then tested as without `--stream` (the chi-square test of
//! homogeneity, the PSI over categories); a text feature is not tested, as without it. An
//! `.npy` current table has numbers only: a categorical feature then has no verdict.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::Error;
use crate::drift::{self, Counts, Feature, Kind, Options, Report, Status, Test, Values};
use crate::ks;

/// The default most grid points per feature.
pub const GRID: usize = 4096;
/// Rows counted at once.
const CHUNK_ROWS: usize = 32768;
/// Adjacent `.npy` columns decoded together: 16 four-byte numbers are a cache line.
const GROUP: usize = 16;

/// Appends to `out` (a vector per column, from column `first` of `cols`) those columns'
/// numbers from every row of an `.npy` chunk: each row's stretch of the group is read
/// once. Little-endian floats, nearly every array, are decoded inline: through the
/// layout's function pointer, the call per number was a third of `--stream`'s time.
fn decode_group(
    bytes: &[u8],
    layout: &crate::detect::input::NpyLayout,
    cols: usize,
    first: usize,
    out: &mut [&mut Vec<f64>],
) {
    match (layout.little_float, layout.size) {
        (true, 4) => decode_fixed::<4>(bytes, cols, first, out, |b| {
            f64::from(f32::from_le_bytes(*b))
        }),
        (true, 8) => decode_fixed::<8>(bytes, cols, first, out, |b| f64::from_le_bytes(*b)),
        _ => {
            let (size, read) = (layout.size, layout.read);
            let (from, len) = (first * size, out.len() * size);
            for row in bytes.chunks_exact(cols * size) {
                let Some(stretch) = row.get(from..from + len) else {
                    continue;
                };
                for (o, b) in out.iter_mut().zip(stretch.chunks_exact(size)) {
                    o.push(read(b));
                }
            }
        }
    }
}

/// [`decode_group`] for numbers of `N` bytes, decoded by `read` (inlined).
fn decode_fixed<const N: usize>(
    bytes: &[u8],
    cols: usize,
    first: usize,
    out: &mut [&mut Vec<f64>],
    read: impl Fn(&[u8; N]) -> f64,
) {
    let (from, len) = (first * N, out.len() * N);
    for row in bytes.chunks_exact(cols * N) {
        let Some(stretch) = row.get(from..from + len) else {
            continue;
        };
        let (numbers, _) = stretch.as_chunks::<N>();
        for (o, b) in out.iter_mut().zip(numbers) {
            o.push(read(b));
        }
    }
}

/// Appends every row of an `.npy` chunk to `columns` (one per column of the array), a
/// group of [`GROUP`] columns per task.
fn decode_columns(bytes: &[u8], layout: &crate::detect::input::NpyLayout, columns: &mut [Column]) {
    let cols = columns.len();
    columns
        .par_chunks_mut(GROUP)
        .enumerate()
        .for_each(|(g, group)| {
            let mut out: Vec<&mut Vec<f64>> = group.iter_mut().map(|c| &mut c.numbers).collect();
            decode_group(bytes, layout, cols, g * GROUP, &mut out);
        });
}

/// A numeric column as read: the numbers (finite or not), and the cells that were not.
#[derive(Debug, Default, Clone)]
struct Column {
    numbers: Vec<f64>,
    nulls: u64,
    not_numbers: u64,
    /// Each non-null cell's text and count, when asked for (a column that may be
    /// categories) and until there are more than [`drift::MAX_CATEGORIES`] distinct ones.
    texts: Option<BTreeMap<String, u64>>,
}

/// A table read a chunk of rows at a time.
enum Source {
    /// An `.npy` array: read straight from its bytes.
    Npy {
        file: std::io::BufReader<std::fs::File>,
        layout: crate::detect::input::NpyLayout,
        left: u64,
        names: Vec<String>,
    },
    /// Parquet: number columns straight from their Arrow arrays.
    Parquet {
        reader: aigis_data::table::ParquetColumns,
        names: Vec<String>,
    },
    /// CSV or JSON Lines, through the data stage's readers.
    Table {
        reader: Box<dyn aigis_data::table::BatchReader>,
        names: Vec<String>,
    },
}

/// A file that cannot be read, named.
fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Profile {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

impl Source {
    fn open(path: &Path, options: &Options) -> Result<Self, Error> {
        if is_npy(path) {
            let bad = |message: String| Error::Profile {
                path: path.to_owned(),
                message,
            };
            let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
            let len = file.metadata().map_err(|e| io(path, e))?.len();
            let mut file = std::io::BufReader::with_capacity(1 << 20, file);
            let layout = crate::detect::input::npy_layout(&mut file, len).map_err(bad)?;
            file.seek(SeekFrom::Start(layout.data_offset))
                .map_err(|e| io(path, e))?;
            let cols = usize::try_from(layout.cols).map_err(|_| bad("too many columns".into()))?;
            return Ok(Source::Npy {
                file,
                layout,
                left: layout.rows,
                names: crate::detect::input::Matrix::positional_names(cols),
            });
        }
        let reader = aigis_data::table::open(path, options.format, &options.read)?;
        if reader.format() == aigis_data::table::Format::Parquet {
            drop(reader);
            let reader = aigis_data::table::ParquetColumns::open(path, &options.read)?;
            let names = reader.names().to_vec();
            return Ok(Source::Parquet { reader, names });
        }
        let names = reader.names().to_vec();
        Ok(Source::Table { reader, names })
    }

    fn names(&self) -> &[String] {
        match self {
            Source::Npy { names, .. }
            | Source::Parquet { names, .. }
            | Source::Table { names, .. } => names,
        }
    }

    /// An `.npy` source's next chunk as it is stored: its rows and bytes (`None` at the
    /// end, or for another source).
    fn next_raw(&mut self, path: &Path) -> Result<Option<(u64, Vec<u8>)>, Error> {
        let Source::Npy {
            file,
            layout,
            left,
            names,
        } = self
        else {
            return Ok(None);
        };
        if *left == 0 {
            return Ok(None);
        }
        let rows = (*left).min(CHUNK_ROWS as u64);
        let mut bytes = vec![0u8; rows as usize * names.len() * layout.size];
        file.read_exact(&mut bytes).map_err(|e| io(path, e))?;
        *left -= rows;
        Ok(Some((rows, bytes)))
    }

    /// The next chunk's rows, its columns (in the order of [`Source::names`]) and the
    /// bytes it came from; `None` at the end. The columns `texts` says (all when it is
    /// empty) count their cells' texts too, a table's; an array's are numbers only.
    fn next(
        &mut self,
        path: &Path,
        texts: &[bool],
    ) -> Result<Option<(u64, Vec<Column>, u64)>, Error> {
        let wants = |i: usize| texts.is_empty() || texts.get(i).copied().unwrap_or(false);
        if let Source::Npy { layout, names, .. } = self {
            let (layout, cols) = (*layout, names.len());
            let Some((rows, bytes)) = self.next_raw(path)? else {
                return Ok(None);
            };
            let mut columns = vec![Column::default(); cols];
            decode_columns(&bytes, &layout, &mut columns);
            return Ok(Some((rows, columns, bytes.len() as u64)));
        }
        match self {
            Source::Npy { .. } => Ok(None),
            Source::Parquet { reader, names } => {
                let Some(batch) = reader.next() else {
                    return Ok(None);
                };
                let batch = batch?;
                let mut columns = Vec::with_capacity(names.len());
                for (i, typed) in batch.columns.into_iter().enumerate() {
                    columns.push(match typed {
                        aigis_data::table::TypedColumn::Numbers { values, nulls } => Column {
                            numbers: values,
                            nulls,
                            not_numbers: 0,
                            texts: None,
                        },
                        aigis_data::table::TypedColumn::Cells(cells) => {
                            column_of_cells(&cells, wants(i))
                        }
                    });
                }
                Ok(Some((batch.rows as u64, columns, batch.input_bytes)))
            }
            Source::Table { reader, names } => {
                let Some(batch) = reader.next() else {
                    return Ok(None);
                };
                let batch = batch?;
                let mut columns = vec![Column::default(); names.len()];
                for (name, column) in batch.names.iter().zip(&batch.columns) {
                    let Some(at) = names.iter().position(|n| n == name) else {
                        continue;
                    };
                    if let Some(c) = columns.get_mut(at) {
                        *c = column_of_cells(column, wants(at));
                    }
                }
                // A column a JSON Lines batch lacks is null in its rows.
                for (c, name) in columns.iter_mut().zip(names.iter()) {
                    if !batch.names.contains(name) {
                        c.nulls += batch.rows as u64;
                    }
                }
                Ok(Some((batch.rows as u64, columns, batch.input_bytes)))
            }
        }
    }
}

/// A column of cells as numbers, nulls and cells that are not numbers, and with `texts`
/// each non-null cell's text counted.
fn column_of_cells(column: &aigis_data::table::Column, texts: bool) -> Column {
    let mut c = Column {
        texts: texts.then(BTreeMap::new),
        ..Column::default()
    };
    for cell in column.iter() {
        if cell.kind == aigis_data::table::CellKind::Null {
            c.nulls += 1;
        } else {
            match drift::number_of(cell.kind, cell.text) {
                Some(x) => c.numbers.push(x),
                None => c.not_numbers += 1,
            }
            if texts {
                drift::count_text(&mut c.texts, cell.text, 1);
            }
        }
    }
    c
}

/// Adds one chunk's counts of texts to a column's (`None` stays `None`: too many).
fn merge_texts(all: &mut Option<BTreeMap<String, u64>>, chunk: Option<BTreeMap<String, u64>>) {
    match chunk {
        None => *all = None,
        Some(t) => {
            for (text, n) in t {
                drift::count_text(all, &text, n);
            }
        }
    }
}

/// A categorical (or text) feature's current values: rows, nulls and, while counting
/// them, each value's text and count.
#[derive(Debug)]
struct Cats {
    rows: u64,
    nulls: u64,
    texts: Option<BTreeMap<String, u64>>,
    /// Whether the texts are counted (a categorical feature's; a text one is not
    /// tested, its rows and nulls are enough).
    counting: bool,
}

/// One feature's grid and the current values counted in it.
#[derive(Debug)]
struct Grid {
    /// Sorted, distinct.
    points: Vec<f64>,
    /// Reference values at or below each point, and below it.
    ref_le: Vec<u64>,
    ref_lt: Vec<u64>,
    /// The PSI's cut points, each one of `points`, and the reference's share in each bin.
    psi_edges: Vec<f64>,
    ref_psi: Vec<f64>,
    /// The reference's finite numbers.
    ref_n: u64,
    /// A shortcut into `points`: the span between the first and the last point cut into
    /// equal buckets ([`Grid::bucket`]), and for each bucket the points in the buckets
    /// before it, so that a value is compared with its own bucket's few points only.
    index: Vec<u32>,
    buckets: usize,
    lo: f64,
    /// Buckets per unit of value (0 when the span is 0 or too wide for a double).
    scale: f64,
    /// Current values: below the first point, at it, between it and the next, …, above
    /// the last (`2 × points + 1`).
    bins: Vec<u64>,
    /// Current cells: rows, nulls, NaN and infinities, not numbers.
    rows: u64,
    nulls: u64,
    non_finite: u64,
    not_numbers: u64,
}

impl Grid {
    fn new(sorted: &[f64], most: usize, psi_bins: usize) -> Self {
        let n = sorted.len();
        let mut points: Vec<f64> = sorted.to_vec();
        points.dedup();
        if points.len() > most {
            // The values at `most` evenly spaced ranks, the smallest and largest among them.
            points = (0..=most)
                .filter_map(|j| sorted.get((j * (n - 1)) / most).copied())
                .collect();
            points.dedup();
        }
        let psi_edges = crate::stats::quantile_edges(sorted, psi_bins.max(1));
        points.extend(&psi_edges);
        points.sort_by(f64::total_cmp);
        points.dedup();
        let ref_le = points
            .iter()
            .map(|p| sorted.partition_point(|x| x <= p) as u64)
            .collect();
        let ref_lt = points
            .iter()
            .map(|p| sorted.partition_point(|x| x < p) as u64)
            .collect();
        let bins = vec![0; 2 * points.len() + 1];
        let lo = points.first().copied().unwrap_or_default();
        let span = points.last().copied().unwrap_or_default() - lo;
        let mut buckets = 4 * points.len();
        let scale = if span > 0.0 && (buckets as f64 / span).is_finite() {
            buckets as f64 / span
        } else {
            buckets = 1;
            0.0
        };
        let ref_psi = crate::stats::bin_shares(sorted, &psi_edges);
        let mut grid = Self {
            points,
            psi_edges,
            ref_psi,
            ref_n: n as u64,
            index: Vec::new(),
            buckets,
            lo,
            scale,
            ref_le,
            ref_lt,
            bins,
            rows: 0,
            nulls: 0,
            non_finite: 0,
            not_numbers: 0,
        };
        // index[b]: the points in buckets before b.
        let mut index = vec![0u32; buckets + 1];
        for p in &grid.points {
            if let Some(slot) = index.get_mut(grid.bucket(*p) + 1) {
                *slot += 1;
            }
        }
        for b in 1..index.len() {
            let before = index.get(b - 1).copied().unwrap_or_default();
            if let Some(slot) = index.get_mut(b) {
                *slot += before;
            }
        }
        grid.index = index;
        grid
    }

    /// The bucket of `x`: monotone in `x` (a larger value is never in an earlier bucket),
    /// which is all the lookup needs of it.
    fn bucket(&self, x: f64) -> usize {
        (((x - self.lo) * self.scale).max(0.0) as usize).min(self.buckets - 1)
    }

    /// The number of points below `x` (a finite number): the points of earlier buckets
    /// are all below it and those of later ones all above, so only its own bucket's few
    /// points are compared.
    fn rank(&self, x: f64) -> usize {
        let b = self.bucket(x);
        let from = self.index.get(b).copied().unwrap_or_default() as usize;
        let to = self.index.get(b + 1).copied().unwrap_or_default() as usize;
        let n = to.saturating_sub(from);
        if n <= 2 {
            // Most buckets hold two points or fewer: compared without a branch.
            let below = |i: usize| usize::from(self.points.get(from + i).is_some_and(|p| *p < x));
            return from + usize::from(n > 0) * below(0) + usize::from(n > 1) * below(1);
        }
        from + self
            .points
            .get(from..to)
            .map_or(0, |p| p.partition_point(|p| *p < x))
    }

    fn count(&mut self, rows: u64, c: &Column) {
        self.rows += rows;
        self.nulls += c.nulls;
        self.not_numbers += c.not_numbers;
        self.count_numbers(&c.numbers);
    }

    /// Counts numbers, finite or not.
    fn count_numbers(&mut self, numbers: &[f64]) {
        for &x in numbers {
            if !x.is_finite() {
                self.non_finite += 1;
                continue;
            }
            let i = self.rank(x);
            let at = self.points.get(i) == Some(&x);
            if let Some(b) = self.bins.get_mut(2 * i + usize::from(at)) {
                *b += 1;
            }
        }
    }

    /// The current values counted (finite numbers).
    fn values(&self) -> u64 {
        self.bins.iter().sum()
    }

    /// The KS statistic's lower and upper bounds between `n` reference values and the
    /// current ones (see the module's doc).
    fn ks(&self, n: u64) -> (f64, f64) {
        let (n, m) = (n as f64, self.values() as f64);
        let (mut low, mut high) = (0.0f64, 0.0f64);
        // Current values below the point (`lt`) and at or below it (`le`), as we go.
        let mut below = 0u64;
        let mut prev: Option<(f64, f64)> = None; // (F_r, F_c) at the previous point
        for (i, _) in self.points.iter().enumerate() {
            let between = self.bins.get(2 * i).copied().unwrap_or_default();
            let at = self.bins.get(2 * i + 1).copied().unwrap_or_default();
            let c_lt = (below + between) as f64 / m;
            let c_le = (below + between + at) as f64 / m;
            let r_lt = self.ref_lt.get(i).copied().unwrap_or_default() as f64 / n;
            let r_le = self.ref_le.get(i).copied().unwrap_or_default() as f64 / n;
            low = low.max((r_lt - c_lt).abs()).max((r_le - c_le).abs());
            // Between the previous point and this one, both functions lie between their
            // values there: the gap is at most the widest those ranges allow.
            let (r0, c0) = prev.unwrap_or((0.0, 0.0));
            high = high.max(r_lt - c0).max(c_lt - r0);
            prev = Some((r_le, c_le));
            below += between + at;
        }
        // Past the last point (the reference's largest) F_r is 1 and F_c rises from its
        // value there: the gap is at most the one at the point, counted in `low`.
        let high = high.max(low);
        (low.clamp(0.0, 1.0), high.clamp(0.0, 1.0))
    }

    /// The current values' share in each PSI bin (`(−∞, e₀]`, `(e₀, e₁]`, …).
    fn psi_shares(&self) -> Vec<f64> {
        let m = self.values() as f64;
        let mut shares = Vec::with_capacity(self.psi_edges.len() + 1);
        let mut before = 0u64;
        for e in &self.psi_edges {
            let i = self.points.partition_point(|p| p < e);
            // At or below the edge: every bin through the edge's own.
            let upto: u64 = self.bins.iter().take(2 * i + 2).sum();
            shares.push((upto - before) as f64 / m);
            before = upto;
        }
        shares.push((self.values() - before) as f64 / m);
        shares
    }
}

/// Compares the current table at `current` with the reference table at `reference`,
/// reading the current one a chunk at a time (see the module's doc); `grid` is the most
/// points per feature. `progress` follows the current table's bytes.
pub fn drift_stream(
    reference: &Path,
    current: &Path,
    options: &Options,
    grid: usize,
    progress: &dyn aigis_core::Progress,
) -> Result<Report, Error> {
    drift::check_options(options)?;
    if !(16..=1 << 20).contains(&grid) {
        return Err(Error::Options(format!(
            "the grid must have from 16 to 1048576 points, not {grid}"
        )));
    }
    // The reference, whole.
    let mut r = Source::open(reference, options)?;
    let r_names = r.names().to_vec();
    // A table's columns count their texts (any may be categories); an array's are numbers.
    let mut r_cols = vec![
        Column {
            texts: (!matches!(r, Source::Npy { .. })).then(BTreeMap::new),
            ..Column::default()
        };
        r_names.len()
    ];
    let mut r_rows = 0u64;
    if let Source::Npy { layout, .. } = r {
        // Straight into columns of the known size: no chunk's columns copied again.
        let rows = usize::try_from(layout.rows).unwrap_or(usize::MAX);
        r_cols
            .par_iter_mut()
            .for_each(|c| c.numbers.reserve_exact(rows));
        while let Some((n, bytes)) = r.next_raw(reference)? {
            r_rows += n;
            decode_columns(&bytes, &layout, &mut r_cols);
        }
    }
    while let Some((rows, chunk, _)) = r.next(reference, &[])? {
        r_rows += rows;
        for (all, c) in r_cols.iter_mut().zip(chunk) {
            all.numbers.extend(c.numbers);
            all.nulls += c.nulls;
            all.not_numbers += c.not_numbers;
            // A number column of a Parquet file comes without texts, as too many: it is
            // numeric, and they are not needed.
            if all.texts.is_some() {
                merge_texts(&mut all.texts, c.texts);
            }
        }
    }
    let mut c = Source::open(current, options)?;
    let c_names = c.names().to_vec();
    let wanted = options.columns.as_deref();
    let names = drift::common_names((reference, &r_names), (current, &c_names), wanted)?;
    // Per feature: its reference column (sorted, finite), and its grid when numeric.
    // Per feature: its reference's counts, and its grid when numeric (the reference's
    // numbers are dropped once their grid is made).
    let mut taken: Vec<Option<Column>> = r_cols.into_iter().map(Some).collect();
    let wanted_cols: Vec<(String, usize, Column)> = names
        .iter()
        .filter_map(|name| {
            let ri = r_names.iter().position(|n| n == name)?;
            let ci = c_names.iter().position(|n| n == name)?;
            Some((name.clone(), ci, taken.get_mut(ri)?.take()?))
        })
        .collect();
    drop(taken);
    let current_is_array = matches!(c, Source::Npy { .. });
    let features: Vec<(String, usize, Values, Plan)> = wanted_cols
        .into_par_iter()
        .map(|(name, ci, col)| {
            let Column {
                mut numbers,
                nulls,
                not_numbers,
                texts,
            } = col;
            let all = numbers.len() as u64;
            numbers.retain(|x| x.is_finite());
            numbers.sort_unstable_by(f64::total_cmp);
            let non_finite = all - numbers.len() as u64;
            let present = r_rows.saturating_sub(nulls);
            let numeric = present > 0 && all as f64 >= drift::NUMERIC_SHARE * present as f64;
            if !numeric && present > 0 {
                // Categories (or text, with too many values to be categories), tested as
                // without --stream: the current column's texts are counted.
                if current_is_array {
                    let values =
                        Values::summary(r_rows, nulls, non_finite, not_numbers, Vec::new());
                    return (name, ci, values, Plan::Untested(Untested::ArrayOfNumbers));
                }
                let counting = texts.is_some();
                let values = Values::categories(r_rows, nulls, texts);
                return (name, ci, values, Plan::Cats(counting));
            }
            let plan = if numbers.is_empty() {
                Plan::Untested(Untested::NoNumber)
            } else {
                Plan::Grid(Box::new(Grid::new(&numbers, grid, options.psi_bins)))
            };
            let values = Values::summary(r_rows, nulls, non_finite, not_numbers, Vec::new());
            (name, ci, values, plan)
        })
        .collect();
    // The grids and the categories' counts by current column.
    let mut by_col: Vec<Option<Grid>> = (0..c_names.len()).map(|_| None).collect();
    let mut cats_by_col: Vec<Option<Cats>> = (0..c_names.len()).map(|_| None).collect();
    let mut states: Vec<(String, Values, Slot)> = Vec::new();
    for (name, ci, values, plan) in features {
        let slot = match plan {
            Plan::Grid(g) => {
                if let Some(slot) = by_col.get_mut(ci) {
                    *slot = Some(*g);
                }
                Slot::Grid(ci)
            }
            Plan::Cats(counting) => {
                if let Some(slot) = cats_by_col.get_mut(ci) {
                    *slot = Some(Cats {
                        rows: 0,
                        nulls: 0,
                        texts: counting.then(BTreeMap::new),
                        counting,
                    });
                }
                Slot::Cats(ci)
            }
            Plan::Untested(why) => Slot::Untested(why),
        };
        states.push((name, values, slot));
    }
    let texts_of: Vec<bool> = cats_by_col
        .iter()
        .map(|c| c.as_ref().is_some_and(|c| c.counting))
        .collect();
    if let Source::Parquet { reader, .. } = &mut c {
        // A categorical feature's current column as the table reader gives it (its cells'
        // texts), whatever its type in this file.
        reader.cells_for(texts_of.clone());
    }
    let size = std::fs::metadata(current).map_or(0, |m| m.len());
    progress.begin("counting the current table", size, true);
    let c_rows = match c {
        Source::Npy { layout, .. } => count_npy(&mut c, current, layout, &mut by_col, progress)?,
        Source::Table { .. } | Source::Parquet { .. } => {
            let mut c_rows = 0;
            while let Some((rows, mut chunk, bytes)) = c.next(current, &texts_of)? {
                c_rows += rows;
                for (cats, col) in cats_by_col.iter_mut().zip(chunk.iter_mut()) {
                    if let Some(cats) = cats {
                        cats.rows += rows;
                        cats.nulls += col.nulls;
                        if cats.counting {
                            merge_texts(&mut cats.texts, col.texts.take());
                        }
                    }
                }
                by_col
                    .par_iter_mut()
                    .zip(chunk.par_iter())
                    .for_each(|(g, col)| {
                        if let Some(g) = g {
                            g.count(rows, col);
                        }
                    });
                progress.advance(bytes);
            }
            c_rows
        }
    };
    progress.end();
    let features: Vec<Feature> = states
        .into_iter()
        .map(|(name, r, slot)| match slot {
            Slot::Cats(ci) => {
                let c = cats_by_col
                    .get_mut(ci)
                    .and_then(Option::take)
                    .map_or_else(Values::default, |cats| {
                        Values::categories(cats.rows, cats.nulls, cats.texts)
                    });
                drift::feature(&name, &r, &c, options)
            }
            Slot::Grid(ci) => {
                let g = by_col
                    .get(ci)
                    .and_then(Option::as_ref)
                    .ok_or(Untested::NoNumber);
                feature(&name, &r, g, c_rows, options)
            }
            Slot::Untested(why) => feature(&name, &r, Err(why), c_rows, options),
        })
        .collect();
    Ok(drift::report_of(
        PathBuf::from(reference),
        r_rows,
        PathBuf::from(current),
        c_rows,
        features,
        options,
    ))
}

/// Counts an `.npy` current table (`c`, its header read) into `by_col`: a thread reads
/// the next chunk while the others count this one, a group of adjacent columns per task
/// (each row's stretch of the group read once, the group's values then counted column by
/// column while their grids are in cache). Returns the rows.
fn count_npy(
    c: &mut Source,
    path: &Path,
    layout: crate::detect::input::NpyLayout,
    by_col: &mut [Option<Grid>],
    progress: &dyn aigis_core::Progress,
) -> Result<u64, Error> {
    let cols = by_col.len();
    let decode =
        |bytes: &[u8], group: &mut [Option<Grid>], first: usize, scratch: &mut Vec<Vec<f64>>| {
            scratch.resize_with(group.len(), Vec::new);
            for s in scratch.iter_mut() {
                s.clear();
            }
            let mut out: Vec<&mut Vec<f64>> = scratch.iter_mut().collect();
            decode_group(bytes, &layout, cols, first, &mut out);
            for (g, s) in group.iter_mut().zip(scratch.iter()) {
                if let Some(g) = g {
                    g.rows += s.len() as u64;
                    g.count_numbers(s);
                }
            }
        };
    let mut rows = 0u64;
    std::thread::scope(|scope| -> Result<(), Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<u8>), Error>>(1);
        let reader = scope.spawn(move || {
            loop {
                match c.next_raw(path) {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        for chunk in rx {
            let (n, bytes) = chunk?;
            rows += n;
            by_col.par_chunks_mut(GROUP).enumerate().for_each_init(
                Vec::new,
                |scratch, (g, group)| {
                    decode(&bytes, group, g * GROUP, scratch);
                },
            );
            progress.advance(bytes.len() as u64);
        }
        reader
            .join()
            .map_err(|_| Error::Options("the reading thread failed".into()))?;
        Ok(())
    })?;
    Ok(rows)
}

/// Why a reference column has no grid.
#[derive(Debug, Clone, Copy)]
enum Untested {
    /// Not numbers (categories or text), and the current table is an `.npy` array.
    ArrayOfNumbers,
    /// No finite number (or no value at all).
    NoNumber,
}

/// What is made of a reference column.
enum Plan {
    Grid(Box<Grid>),
    /// Categories (counting the current texts) or text (`false`: not tested).
    Cats(bool),
    Untested(Untested),
}

/// Where a feature's current counts are.
enum Slot {
    Grid(usize),
    Cats(usize),
    Untested(Untested),
}

/// One feature from its reference's counts and its grid's.
fn feature(
    name: &str,
    r: &Values,
    g: Result<&Grid, Untested>,
    c_rows: u64,
    options: &Options,
) -> Feature {
    let g = match g {
        Ok(g) => g,
        Err(why) => {
            // No verdict, never a pass: the column may be the one that moved.
            let mut f = drift::untested(name, r, c_rows);
            f.status = Status::InsufficientData;
            f.reason = Some(match why {
                Untested::ArrayOfNumbers => {
                    "not numbers in the reference, and the current table is an array of numbers"
                        .to_owned()
                }
                Untested::NoNumber => "no finite number in the reference".to_owned(),
            });
            return f;
        }
    };
    let current = Values::summary(g.rows, g.nulls, g.non_finite, g.not_numbers, Vec::new());
    let n = g.ref_n;
    let m = g.values();
    let mut f = Feature {
        name: name.to_owned(),
        kind: Kind::Numeric,
        status: Status::Stable,
        test: None,
        psi: None,
        wasserstein: None,
        reference: Counts {
            rows: r.rows(),
            values: n,
            nulls: r.nulls(),
            non_finite: r.non_finite(),
            not_numbers: r.not_numbers(),
        },
        current: Counts {
            rows: g.rows,
            values: m,
            nulls: g.nulls,
            non_finite: g.non_finite,
            not_numbers: g.not_numbers,
        },
        missing: drift::missing_of(r, &current, Kind::Numeric),
        range: None,
        p_value: None,
        sketch: None,
        reason: None,
    };
    if m == 0 {
        f.status = Status::InsufficientData;
        f.reason = Some("no finite number in the current data".to_owned());
        drift::decide_feature(&mut f, options.alpha);
        return f;
    }
    let (low, high) = g.ks(n);
    let result = ks::ks_of(n, m, low);
    if high - low > 1e-12 {
        f.sketch = Some(crate::sketch::Bound {
            rank_error: high - low,
            p_value_low: ks::p_asymptotic(n, m, high),
            p_value_high: result.p_value,
        });
    }
    f.test = Some(Test::Ks(result));
    let below = g.bins.first().copied().unwrap_or_default();
    let above = g.bins.last().copied().unwrap_or_default();
    f.range = Some(drift::range_counts(n, m, above, below));
    f.psi = Some(crate::stats::psi_of_shares(&g.ref_psi, &g.psi_shares()));
    drift::decide_feature(&mut f, options.alpha);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket shortcut finds what a search of every point finds: on the points
    /// themselves, between them, beyond them, and on grids whose span is 0 or past a
    /// double's range.
    #[test]
    fn rank_is_the_count_of_points_below() {
        let mut rng = fastrand::Rng::with_seed(9);
        let grids: Vec<Vec<f64>> = vec![
            (0..5000).map(|_| rng.f64() * 10.0 - 5.0).collect(),
            (0..5000).map(|_| (rng.f64() * 20.0).exp()).collect(),
            vec![3.0; 10],
            vec![-1.7e308, 0.0, 1.0, 1.7e308],
            vec![1e-300, 2e-300, 3e-300],
        ];
        for mut values in grids {
            values.sort_by(f64::total_cmp);
            let g = Grid::new(&values, 64, 10);
            let mut probes: Vec<f64> = g.points.clone();
            probes.extend(g.points.iter().map(|p| p + p.abs() * 1e-12));
            probes.extend(g.points.iter().map(|p| p - p.abs() * 1e-12));
            probes.extend((0..2000).map(|_| rng.f64() * 30.0 - 15.0));
            probes.extend([f64::MIN, f64::MAX, 0.0, -0.0, 1e-310]);
            for x in probes.into_iter().filter(|x| x.is_finite()) {
                assert_eq!(
                    g.rank(x),
                    g.points.partition_point(|p| *p < x),
                    "{x} on {:?}…",
                    g.points.first()
                );
            }
        }
    }
}
