//! The pickle machine: every opcode of protocols 0–5, emulated symbolically (nothing is
//! imported or called). Opcode semantics follow CPython's `Lib/pickletools.py` and the C
//! unpickler (`_pickle.c`), including its corner cases (a `POP` that removes a mark, a
//! `FRAME` longer than the input, negative lengths).

use std::collections::HashMap;
use std::io::{self, Read, Seek};

use super::source::{Payload, ReadFail, Source};
use super::stack::{is_opcode, op_name, parse_int};
use super::value::{self, Value};
use super::{Allowlist, Import, Layout, Limits, text};
use crate::{Finding, Location, Verdict};

/// Why a pickle stopped before its `STOP`.
#[derive(Debug)]
pub(super) enum Halt {
    /// The input ended inside an opcode.
    Truncated,
    /// CPython would refuse this (its message, lowercase).
    Malformed(String),
    /// One of the [`Limits`] was reached.
    Limit(String),
    /// The reader failed.
    Io(io::Error),
}

impl From<ReadFail> for Halt {
    fn from(e: ReadFail) -> Self {
        match e {
            ReadFail::Eof => Halt::Truncated,
            ReadFail::Io(e) => Halt::Io(e),
        }
    }
}

pub(super) type Step = Result<bool, Halt>;

/// One site where the pickle names a global (an opcode, or an attribute read by a call).
#[derive(Debug)]
pub(super) struct Ref {
    pub(super) import: usize,
    pub(super) offset: u64,
    pub(super) via: String,
    pub(super) called: bool,
}

#[derive(Debug)]
pub(super) struct Machine<'a, R> {
    pub(super) src: Source<R>,
    pub(super) limits: &'a Limits,
    /// The project's reviewed allowlist, which the nested scans share.
    pub(super) allowlist: &'a Allowlist,
    pub(super) location: &'a Location,
    /// How deep this pickle is nested inside others (`pickle.loads` arguments).
    pub(super) depth: u32,
    pub(super) stack: Vec<Value>,
    /// Stack lengths at each open `MARK` (CPython's metastack).
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, Value>,
    pub(super) ops: u64,
    /// Offset of the opcode being executed: where its evidence points.
    pub(super) at: u64,
    /// The opcode being executed, for messages.
    pub(super) op: u8,
    /// Bytes of strings kept so far, against [`Limits::max_retained`].
    pub(super) retained: usize,
    pub(super) retained_full: bool,
    /// A tuple nested past the limit was met (reported once).
    pub(super) deep_tuples: bool,
    /// Whether the memo passes from one pickle of the stream to the next (one unpickler
    /// for all) or each starts empty (an unpickler each; see `readings`).
    pub(super) keep_memo: bool,
    /// Pickles of the stream started.
    pub(super) begun: u32,
    pub(super) refs: Vec<Ref>,
    pub(super) imports: Vec<Import>,
    pub(super) import_index: HashMap<(String, String), usize>,
    pub(super) findings: Vec<Finding>,
    /// Findings past [`MAX_EVIDENCE`]: how many, the worst verdict, the first offset.
    pub(super) dropped: (u64, Verdict, u64),
    /// Complete pickles before the one being executed.
    pub(super) index: u32,
    /// The first pickle was `torch.save`'s legacy magic number.
    pub(super) legacy_magic: bool,
    /// Storages the fourth pickle names by persistent id (`BINPERSID` of
    /// `('storage', torch.<Type>Storage, key, location, numel, view)`): the key and the
    /// element size of its type (`None` for a type not known here).
    pub(super) storages: Vec<(String, Option<u64>)>,
    /// What the last `STOP` returned.
    pub(super) result: Value,
}

/// `torch.serialization.MAGIC_NUMBER` (0x1950a86a20f9469cfc6c) as the ten little-endian
/// bytes of the `LONG1` that pickles it.
const TORCH_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Pickles of a legacy `torch.save` file before its raw storages: the magic number, the
/// protocol version, `sys_info`, the object, the sorted storage keys.
const LEGACY_PICKLES: u32 = 5;

/// Bytes per element of a legacy PyTorch storage type.
pub(super) fn storage_element_size(name: &str) -> Option<u64> {
    Some(match name {
        "ByteStorage" | "CharStorage" | "BoolStorage" | "QUInt8Storage" | "QInt8Storage"
        | "QUInt4x2Storage" | "QUInt2x4Storage" | "UntypedStorage" => 1,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "FloatStorage" | "IntStorage" | "QInt32Storage" => 4,
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    })
}

/// Finding items kept per scan; the rest are summarised in one.
pub(super) const MAX_EVIDENCE: usize = 256;

/// One reading of the stream: every pickle to its end. The number of complete pickles,
/// and where bytes after the last one start and how many there are.
pub(super) fn read_all<R: Read + Seek>(
    m: &mut Machine<'_, R>,
    layout: Layout,
) -> io::Result<(u32, Option<(u64, u64)>)> {
    let limits = m.limits;
    let mut pickles = 0u32;
    let mut trailing = None;
    if layout != Layout::Stream {
        match m.torch_tar(layout, &mut pickles) {
            Ok(true) => {}
            Ok(false) => return Ok((pickles, None)),
            Err(Halt::Io(e)) => return Err(e),
            Err(h) => {
                m.halted(h);
                return Ok((pickles, None));
            }
        }
    }
    loop {
        let next = match m.src.peek() {
            Ok(b) => b,
            Err(ReadFail::Io(e)) => return Err(e),
            Err(ReadFail::Eof) => None,
        };
        let Some(first) = next else {
            if pickles == 0 {
                m.at = m.src.pos();
                m.halted(Halt::Malformed(
                    "the input is empty, not a pickle".to_owned(),
                ));
            }
            break;
        };
        // After a complete pickle, only something that starts like one is another
        // pickle; the rest is data (legacy `torch.save` storages) or garbage.
        if pickles > 0 && !is_opcode(first) {
            trailing = Some((m.src.pos(), m.src.remaining()));
            break;
        }
        m.start_pickle(pickles);
        match m.one_pickle() {
            Ok(()) => pickles += 1,
            Err(Halt::Io(e)) => return Err(e),
            Err(h) => {
                m.halted(h);
                break;
            }
        }
        if m.legacy_magic && pickles == LEGACY_PICKLES {
            match m.legacy_storages() {
                Ok(true) => {}
                Ok(false) => break,
                Err(ReadFail::Io(e)) => return Err(e),
                Err(ReadFail::Eof) => {
                    m.halted(Halt::Truncated);
                    break;
                }
            }
        }
    }
    if let Some((offset, len)) = trailing
        && !limits.allow_trailing_data
    {
        m.at = offset;
        m.finding(
                Verdict::Inconclusive,
                crate::pickle::rule::TRAILING_DATA.id,
                format!(
                    "{len} bytes after the last pickle (offset {offset}) are not a pickle and were not scanned"
                ),
            );
    }
    Ok((pickles, trailing))
}

impl<'a, R: Read + Seek> Machine<'a, R> {
    pub(super) fn new(
        src: Source<R>,
        location: &'a Location,
        limits: &'a Limits,
        allowlist: &'a Allowlist,
        depth: u32,
    ) -> Self {
        Machine {
            src,
            limits,
            allowlist,
            location,
            depth,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            ops: 0,
            at: 0,
            op: 0,
            retained: 0,
            retained_full: false,
            deep_tuples: false,
            keep_memo: false,
            begun: 0,
            refs: Vec::new(),
            imports: Vec::new(),
            import_index: HashMap::new(),
            findings: Vec::new(),
            dropped: (0, Verdict::Safe, 0),
            index: 0,
            legacy_magic: false,
            storages: Vec::new(),
            result: Value::Other,
        }
    }

    /// Records a storage the object pickle of a legacy `torch.save` file names by
    /// persistent id; other persistent ids are left to the loader, as before.
    fn persistent_storage(&mut self, pid: &Value) -> Result<(), Halt> {
        let Value::Tuple(items, _, _) = pid else {
            return Ok(());
        };
        if items.first().and_then(Value::as_str) != Some("storage") {
            return Ok(());
        }
        let (Some(Value::Global(import, _)), Some(key)) =
            (items.get(1), items.get(2).and_then(Value::as_str))
        else {
            return Ok(());
        };
        let size = self
            .imports
            .get(*import)
            .filter(|i| i.module == "torch")
            .and_then(|i| storage_element_size(&i.name));
        if self.storages.len() >= self.limits.max_memo {
            return Err(Halt::Limit(format!(
                "more than {} storages: the scan stopped",
                self.limits.max_memo
            )));
        }
        self.storages.push((key.to_owned(), size));
        Ok(())
    }

    /// The raw storages of a legacy `torch.save` file, after its five pickles: for each
    /// storage key in sorted order (the order `torch.save` writes and `torch.load`
    /// reads), an 8-byte little-endian element count and the elements, skipped without
    /// reading. `Ok(false)` when the layout does not hold (the finding is made) and the
    /// scan stops; `Ok(true)` when it does, and anything after it is scanned as more
    /// pickles.
    fn legacy_storages(&mut self) -> Result<bool, ReadFail> {
        let mut sizes = std::collections::BTreeMap::new();
        for (key, size) in std::mem::take(&mut self.storages) {
            if sizes
                .insert(key.clone(), size)
                .is_some_and(|old| old != size)
            {
                self.at = self.src.pos();
                self.finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::LEGACY_STORAGE.id,
                    format!("storage `{key}` is named with two different types"),
                );
                return Ok(false);
            }
        }
        let start = self.src.pos();
        let mut total = 0u64;
        for (key, size) in &sizes {
            self.at = self.src.pos();
            let Some(size) = *size else {
                self.finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::LEGACY_STORAGE.id,
                    format!("storage `{key}` has a type whose element size is not known, so the data after it cannot be found"),
                );
                return Ok(false);
            };
            if self.src.remaining() < 8 {
                self.finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::LEGACY_STORAGE.id,
                    format!("the file ends before the record of storage `{key}`"),
                );
                return Ok(false);
            }
            let numel = u64::from_le_bytes(self.src.array()?);
            let bytes = numel
                .checked_mul(size)
                .filter(|&b| b <= self.src.remaining());
            let Some(bytes) = bytes else {
                self.finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::LEGACY_STORAGE.id,
                    format!(
                        "storage `{key}` declares {numel} elements of {size} bytes, more than the {} bytes left in the file",
                        self.src.remaining()
                    ),
                );
                return Ok(false);
            };
            self.src.payload(bytes, 0)?;
            total = total.saturating_add(bytes);
        }
        self.at = start;
        self.finding(
            Verdict::Safe,
            crate::pickle::rule::LEGACY_TORCH.id,
            format!(
                "legacy torch.save layout: {} raw storages ({total} bytes) after the storage keys, skipped as numbers",
                sizes.len()
            ),
        );
        self.leftover("storage");
        Ok(true)
    }

    /// Bytes after the last record of a legacy PyTorch layout, which `torch.load` never
    /// reads: reported, and scanned as more pickles by the caller.
    fn leftover(&mut self, record: &str) {
        if !self.src.at_end() {
            self.at = self.src.pos();
            self.finding(
                Verdict::Suspicious,
                crate::pickle::rule::LEGACY_LEFTOVER.id,
                format!(
                    "{} bytes after the last {record}, which torch.load never reads: scanned as more pickles",
                    self.src.remaining()
                ),
            );
        }
    }

    /// The finding for a raw record that runs past the end of its member; `false`.
    fn record_overrun(&mut self, member: &str, record: &str, i: u64) -> bool {
        self.finding(
            Verdict::Inconclusive,
            crate::pickle::rule::LEGACY_RECORD.id,
            format!(
                "`{member}` ends inside the raw record of {record} {i} ({} bytes left)",
                self.src.remaining()
            ),
        );
        false
    }

    /// One whole pickle of a laid-out stream, and the value its `STOP` returns.
    fn next_pickle(&mut self, pickles: &mut u32) -> Result<Value, Halt> {
        self.start_pickle(*pickles);
        self.one_pickle()?;
        *pickles += 1;
        Ok(std::mem::replace(&mut self.result, Value::Other))
    }

    /// The `storages` or `tensors` member of a legacy PyTorch tar checkpoint, as
    /// `torch.load` reads it ([`Layout`]): every pickle is run, the raw records between
    /// them are skipped by the sizes they give. `Ok(false)` when the layout does not hold
    /// (the finding is made) and the scan stops.
    fn torch_tar(&mut self, layout: Layout, pickles: &mut u32) -> Result<bool, Halt> {
        let (member, record) = match layout {
            Layout::TorchTarTensors => ("tensors", "tensor"),
            _ => ("storages", "storage"),
        };
        let start = self.src.pos();
        let count = self.next_pickle(pickles)?;
        let Some(count) = (match count {
            Value::Int(n) => u64::try_from(n).ok(),
            _ => None,
        }) else {
            self.at = start;
            self.finding(
                Verdict::Inconclusive,
                crate::pickle::rule::LEGACY_RECORD.id,
                format!("the first pickle of a legacy PyTorch `{member}` is not a count of {record}s, so the records after it cannot be found"),
            );
            return Ok(false);
        };
        let mut total = 0u64;
        for i in 0..count {
            let at = self.src.pos();
            let value = self.next_pickle(pickles)?;
            self.at = self.src.pos();
            if self.src.remaining() < 8 {
                return Ok(self.record_overrun(member, record, i));
            }
            let bytes = if layout == Layout::TorchTarTensors {
                // a dimension count, 4 unused bytes, sizes, strides, the storage offset
                let ndim = i32::from_le_bytes(self.src.array()?);
                let Ok(ndim) = u64::try_from(ndim) else {
                    self.finding(
                        Verdict::Inconclusive,
                        crate::pickle::rule::LEGACY_RECORD.id,
                        format!("tensor record {i} has {ndim} dimensions"),
                    );
                    return Ok(false);
                };
                ndim * 16 + 12
            } else {
                let size = match value.item(2) {
                    Some(Value::Global(import, _)) => self
                        .imports
                        .get(*import)
                        .filter(|i| i.module == "torch")
                        .and_then(|i| storage_element_size(&i.name)),
                    _ => None,
                };
                let Some(size) = size else {
                    self.at = at;
                    self.finding(
                        Verdict::Inconclusive,
                        crate::pickle::rule::LEGACY_RECORD.id,
                        format!("storage record {i} does not name a storage type whose element size is known, so the data after it cannot be found"),
                    );
                    return Ok(false);
                };
                let numel = u64::from_le_bytes(self.src.array()?);
                let Some(bytes) = numel.checked_mul(size) else {
                    self.finding(
                        Verdict::Inconclusive,
                        crate::pickle::rule::LEGACY_RECORD.id,
                        format!("storage record {i} declares {numel} elements of {size} bytes"),
                    );
                    return Ok(false);
                };
                bytes
            };
            if bytes > self.src.remaining() {
                return Ok(self.record_overrun(member, record, i));
            }
            self.src.payload(bytes, 0)?;
            total = total.saturating_add(bytes);
        }
        if layout == Layout::TorchTarStorages {
            // the storage views
            self.next_pickle(pickles)?;
        }
        self.at = start;
        self.finding(
            Verdict::Safe,
            crate::pickle::rule::LEGACY_TORCH.id,
            format!("legacy PyTorch tar `{member}`: {count} {record} records ({total} raw bytes) between its pickles, skipped as numbers"),
        );
        self.leftover(record);
        Ok(true)
    }

    /// Before the pickle after `done` complete ones: an empty stack, and the memo kept or
    /// emptied as this reading says.
    fn start_pickle(&mut self, done: u32) {
        self.stack.clear();
        self.marks.clear();
        if !self.keep_memo {
            self.memo.clear();
        }
        self.index = done;
        self.begun += 1;
    }

    pub(super) fn one_pickle(&mut self) -> Result<(), Halt> {
        loop {
            self.at = self.src.pos();
            let op = self.src.u8()?;
            self.op = op;
            self.ops += 1;
            if self.ops > self.limits.max_ops {
                return Err(Halt::Limit(format!(
                    "more than {} opcodes: the scan stopped",
                    self.limits.max_ops
                )));
            }
            if self.step(op)? {
                self.src.end_pickle()?;
                return Ok(());
            }
        }
    }

    /// Executes one opcode; `Ok(true)` at `STOP`.
    fn step(&mut self, op: u8) -> Step {
        match op {
            // STOP
            b'.' => {
                self.result = self.pop()?;
                return Ok(true);
            }
            // MARK, POP, POP_MARK, DUP
            b'(' => {
                self.room()?;
                self.marks.push(self.stack.len());
            }
            b'0' => self.pop_or_mark()?,
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?.clone();
                self.push(top)?;
            }
            // PROTO, FRAME
            0x80 => {
                let v = self.src.u8()?;
                if v > 5 {
                    return Err(Halt::Malformed(format!("unsupported pickle protocol {v}")));
                }
            }
            0x95 => {
                let len = u64::from_le_bytes(self.src.array()?);
                if let Some(left) = self.src.open_frame(len)? {
                    self.finding(
                        Verdict::Inconclusive,
                        crate::pickle::rule::TRUNCATED.id,
                        format!("FRAME declares {len} bytes but {left} are left: CPython's C unpickler refuses the pickle here, its pure-Python unpickler (joblib's) reads on, and so does this scan"),
                    );
                }
            }
            // constants
            b'N' | 0x88 | 0x89 => self.push(Value::Other)?,
            b'I' => {
                let line = self.line()?;
                let v = parse_int(&line).map_or(Value::Other, Value::Int);
                self.push(v)?;
            }
            b'L' | b'F' => {
                self.line()?;
                self.push(Value::Other)?;
            }
            b'J' => {
                let v = i32::from_le_bytes(self.src.array()?);
                self.push(Value::Int(i64::from(v)))?;
            }
            b'K' => {
                let v = self.src.u8()?;
                self.push(Value::Int(i64::from(v)))?;
            }
            b'M' => {
                let v = u16::from_le_bytes(self.src.array()?);
                self.push(Value::Int(i64::from(v)))?;
            }
            0x8a => {
                let len = self.src.u8()?;
                let keep = if self.index == 0 {
                    TORCH_MAGIC.len()
                } else {
                    0
                };
                if let Payload::Kept(bytes) = self.src.payload(u64::from(len), keep)?
                    && bytes == TORCH_MAGIC
                {
                    self.legacy_magic = true;
                }
                self.push(Value::Other)?;
            }
            0x8b => {
                let len = i32::from_le_bytes(self.src.array()?);
                let len = u64::try_from(len)
                    .map_err(|_| Halt::Malformed("LONG4 has a negative byte count".to_owned()))?;
                self.src.payload(len, 0)?;
                self.push(Value::Other)?;
            }
            b'G' => {
                self.src.array::<8>()?;
                self.push(Value::Other)?;
            }
            // strings
            b'S' => {
                let v = match self.text_line()? {
                    Payload::Kept(line) => match text::string_repr(&line) {
                        Some(body) => self.keep_str(body),
                        None => {
                            return Err(Halt::Malformed(
                                "the STRING opcode argument must be quoted".to_owned(),
                            ));
                        }
                    },
                    Payload::LongLine { quoted: true, .. } => Value::Data,
                    _ => {
                        return Err(Halt::Malformed(
                            "the STRING opcode argument must be quoted".to_owned(),
                        ));
                    }
                };
                self.push(v)?;
            }
            b'V' => {
                let v = match self.text_line()? {
                    Payload::Kept(line) => match text::raw_unicode_escape(&line) {
                        Some(s) => self.keep_str(s.into_bytes()),
                        None => {
                            return Err(Halt::Malformed(
                                "a UNICODE argument has a broken escape".to_owned(),
                            ));
                        }
                    },
                    _ => Value::Data,
                };
                self.push(v)?;
            }
            b'T' => {
                let len = i32::from_le_bytes(self.src.array()?);
                let len = u64::try_from(len).map_err(|_| {
                    Halt::Malformed("BINSTRING has a negative byte count".to_owned())
                })?;
                self.string(len, false)?;
            }
            b'U' => {
                let len = self.src.u8()?;
                self.string(u64::from(len), false)?;
            }
            b'X' => {
                let len = u32::from_le_bytes(self.src.array()?);
                self.string(u64::from(len), true)?;
            }
            0x8c => {
                let len = self.src.u8()?;
                self.string(u64::from(len), true)?;
            }
            0x8d => {
                let len = u64::from_le_bytes(self.src.array()?);
                self.string(len, true)?;
            }
            // bytes, bytearray, out-of-band buffers
            b'B' => {
                let len = u32::from_le_bytes(self.src.array()?);
                self.bytes(u64::from(len))?;
            }
            b'C' => {
                let len = self.src.u8()?;
                self.bytes(u64::from(len))?;
            }
            0x8e | 0x96 => {
                let len = u64::from_le_bytes(self.src.array()?);
                self.bytes(len)?;
            }
            0x97 => self.push(Value::Other)?,
            0x98 => {
                self.top()?;
            }
            // containers: contents are not needed, only that the stack is right
            b']' | 0x8f => self.push(Value::Other)?,
            b'}' => self.push(Value::Dict(Default::default()))?,
            b')' => self.push(value::tuple(Vec::new()))?,
            b'l' | 0x91 => {
                self.pop_mark()?;
                self.push(Value::Other)?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                if items.len() % 2 == 1 {
                    return Err(Halt::Malformed("odd number of items for DICT".to_owned()));
                }
                self.push(Value::Dict(Default::default()))?;
                self.set_items(items);
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(value::tuple(items))?;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(value::tuple(items))?;
            }
            b'a' => {
                self.pop()?;
                self.mutate("APPEND")?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.mutate("SETITEM")?;
                self.set_items(vec![k, v]);
            }
            b'u' => {
                let items = self.pop_mark()?;
                if items.len() % 2 == 1 {
                    return Err(Halt::Malformed(
                        "odd number of items for SETITEMS".to_owned(),
                    ));
                }
                self.mutate("SETITEMS")?;
                self.set_items(items);
            }
            b'e' | 0x90 => {
                self.pop_mark()?;
                self.mutate(op_name(op))?;
            }
            // memo
            b'p' => {
                let key = self.line_index("PUT")?;
                self.put(key)?;
            }
            b'q' => {
                let key = self.src.u8()?;
                self.put(u64::from(key))?;
            }
            b'r' => {
                let key = u32::from_le_bytes(self.src.array()?);
                self.put(u64::from(key))?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.put(key)?;
            }
            b'g' => {
                let key = self.line_index("GET")?;
                self.get(key)?;
            }
            b'h' => {
                let key = self.src.u8()?;
                self.get(u64::from(key))?;
            }
            b'j' => {
                let key = u32::from_le_bytes(self.src.array()?);
                self.get(u64::from(key))?;
            }
            // globals, calls and objects (see `calls.rs`)
            b'c' => {
                let (module, name) = (self.name_line()?, self.name_line()?);
                let g = self.global(module, name, "GLOBAL")?;
                self.push(g)?;
            }
            0x93 => self.stack_global()?,
            b'i' => {
                let (module, name) = (self.name_line()?, self.name_line()?);
                // the pure-Python unpickler imports before it looks for the MARK
                let class = self.global(module, name, "INST")?;
                let args = self.pop_mark()?;
                let result = self.call(class, value::tuple(args), "INST")?;
                self.push(result)?;
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err(Halt::Malformed("OBJ without a class".to_owned()));
                }
                let class = items.remove(0);
                let result = self.call(class, value::tuple(items), "OBJ")?;
                self.push(result)?;
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let result = self.call(callable, args, op_name(op))?;
                self.push(result)?;
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let result = self.call(class, args, "NEWOBJ_EX")?;
                self.push(result)?;
            }
            b'b' => {
                let state = self.pop()?;
                self.mutate("BUILD")?;
                self.build(state)?;
            }
            0x82 => {
                let code = self.src.u8()?;
                self.ext(i64::from(code))?;
            }
            0x83 => {
                let code = u16::from_le_bytes(self.src.array()?);
                self.ext(i64::from(code))?;
            }
            0x84 => {
                let code = i32::from_le_bytes(self.src.array()?);
                self.ext(i64::from(code))?;
            }
            // persistent ids: PyTorch names its storages this way; the loader decides
            b'P' => {
                self.line()?;
                self.push(Value::Other)?;
            }
            b'Q' => {
                let pid = self.pop()?;
                if self.legacy_magic && self.index == 3 {
                    self.persistent_storage(&pid)?;
                }
                // legacy `torch.save` names a module class as `('module', cls, file,
                // source)` and `torch.load` returns `cls`: what a NEWOBJ then calls
                let loaded = match pid.item(1) {
                    Some(class @ Value::Global(..))
                        if pid.item(0).and_then(Value::as_str) == Some("module") =>
                    {
                        class.clone()
                    }
                    _ => Value::Other,
                };
                self.push(loaded)?;
            }
            other => {
                return Err(Halt::Malformed(format!(
                    "unknown opcode 0x{other:02x}: not a pickle, or a corrupt one"
                )));
            }
        }
        Ok(false)
    }
}
