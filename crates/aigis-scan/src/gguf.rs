//! GGUF (llama.cpp): a header, typed metadata, tensor infos, then tensor data.
//!
//! The tensors are data, but the metadata carries the chat template, a Jinja program that
//! servers render on every request; Jinja sandboxes have been escaped through
//! `__class__`/`__globals__` chains (CVE-2024-34359, llama-cpp-python). Everything else is
//! bounds-checked so a declared length never becomes an allocation or a read past the end.

use std::io::{BufReader, Read};

use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    VALID = "gguf.valid":
        "A GGUF file read to its end: header, metadata and tensor infos.";
    HEADER = "gguf.header":
        "An invalid GGUF header, metadata entry or tensor info.";
    TENSOR_TYPE = "gguf.tensor_type":
        "A GGUF tensor of an unknown type, whose size cannot be checked.";
    CHAT_TEMPLATE = "gguf.chat_template":
        "A chat template (Jinja) that reaches Python internals: rendering it can run code on the server.";
}

/// Patterns that reach Python internals from a template: sandbox escapes.
const DANGEROUS: &[&str] = &[
    "__class__",
    "__globals__",
    "__subclasses__",
    "__builtins__",
    "__import__",
    "__mro__",
    "__base__",
    "__init__",
    "__getattribute__",
    "popen",
    "subprocess",
];
/// Words no chat template needs (matched at a word start, so `pos.` is not `os.`).
const SUSPICIOUS: &[&str] = &[
    "os.", "eval", "exec", "import", "system(", "|attr", "getattr",
];

/// (elements per block, bytes per block) of each ggml tensor type, from the `gguf`
/// package's `GGML_QUANT_SIZES`.
fn block(ty: u32) -> Option<(u64, u64)> {
    Some(match ty {
        0 => (1, 4),
        1 | 25 | 30 => (1, 2),
        2 | 20 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 40),
        10 => (256, 84),
        11 | 21 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        16 | 35 => (256, 66),
        17 => (256, 74),
        18 => (256, 98),
        19 => (256, 50),
        22 => (256, 82),
        23 => (256, 136),
        24 => (1, 1),
        26 => (1, 4),
        27 | 28 => (1, 8),
        29 => (256, 56),
        34 => (256, 54),
        39 => (32, 17),
        40 => (64, 36),
        41 => (128, 18),
        _ => return None,
    })
}

struct Cursor<'a> {
    r: BufReader<&'a mut dyn ReadSeek>,
    pos: u64,
    len: u64,
    big_endian: bool,
}

impl Cursor<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|_| "the file ends inside the header".to_owned())?;
        self.pos += N as u64;
        if self.big_endian {
            b.reverse();
        }
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.bytes().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.bytes().map(u64::from_le_bytes)
    }
    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "a value of {n} bytes runs past the end of the file"
            ));
        }
        let step = i64::try_from(n).map_err(|e| e.to_string())?;
        self.r.seek_relative(step).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }
    /// A string: read when at most `max` bytes, skipped (`None`) otherwise.
    fn string(&mut self, max: u64) -> Result<Option<Vec<u8>>, String> {
        let n = self.u64()?;
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "a string of {n} bytes runs past the end of the file"
            ));
        }
        if n > max {
            self.skip(n)?;
            return Ok(None);
        }
        let mut s = Vec::new();
        (&mut self.r)
            .take(n)
            .read_to_end(&mut s)
            .map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(Some(s))
    }
}

fn fixed_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Scans a GGUF stream of `len` bytes from its start.
pub fn scan(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut c = Cursor {
        r: BufReader::new(r),
        pos: 0,
        len,
        big_endian: false,
    };
    if let Err(message) = parse(&mut c, limits, &mut out) {
        out.push(finding(
            Verdict::Inconclusive,
            rule::HEADER.id,
            message,
            Location {
                member: None,
                offset: Some(c.pos),
            },
        ));
    }
    out
}

fn parse(c: &mut Cursor<'_>, limits: &Limits, out: &mut Vec<Finding>) -> Result<(), String> {
    if &c.bytes::<4>()? != b"GGUF" {
        return Err("no `GGUF` magic".to_owned());
    }
    let raw = c.bytes::<4>()?;
    let version = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
        (v @ 2..=3, _) => v,
        (_, v @ 2..=3) => {
            c.big_endian = true;
            v
        }
        (v, _) => return Err(format!("unsupported version {v} (2 and 3 are read)")),
    };
    let tensors = c.u64()?;
    let kvs = c.u64()?;
    if tensors > limits.max_entries || kvs > limits.max_entries {
        return Err(format!(
            "{tensors} tensors and {kvs} metadata entries, more than the limit of {}",
            limits.max_entries
        ));
    }
    let mut alignment = 32u64;
    let mut budget = limits.max_array_elements;
    for _ in 0..kvs {
        let key_at = c.pos;
        let key = c
            .string(1 << 16)?
            .ok_or("a metadata key is longer than 64 KiB")?;
        let key = String::from_utf8_lossy(&key).into_owned();
        let ty = c.u32()?;
        if key == "tokenizer.chat_template" || key.starts_with("tokenizer.chat_template.") {
            if ty != 8 {
                return Err(format!("`{key}` is not a string"));
            }
            let template = c.string(limits.max_string_bytes)?.ok_or_else(|| {
                format!(
                    "`{key}` is longer than the limit of {} bytes",
                    limits.max_string_bytes
                )
            })?;
            check_template(&key, &String::from_utf8_lossy(&template), key_at, out);
        } else if key == "general.alignment" && ty == 4 {
            alignment = u64::from(c.u32()?);
            if alignment == 0 || !alignment.is_power_of_two() {
                return Err(format!(
                    "`general.alignment` is {alignment}, not a power of two"
                ));
            }
        } else {
            skip_value(c, ty, 0, &mut budget).map_err(|e| format!("`{key}`: {e}"))?;
        }
    }
    let mut infos = Vec::new();
    for _ in 0..tensors {
        let name = c
            .string(1 << 16)?
            .ok_or("a tensor name is longer than 64 KiB")?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let dims = c.u32()?;
        if dims > 8 {
            return Err(format!("tensor `{name}` has {dims} dimensions"));
        }
        let mut count = 1u64;
        for _ in 0..dims {
            count = count
                .checked_mul(c.u64()?)
                .ok_or_else(|| format!("tensor `{name}`: the element count overflows"))?;
        }
        let ty = c.u32()?;
        let offset = c.u64()?;
        infos.push((name, count, ty, offset));
    }
    let data_start = c.pos.div_ceil(alignment).saturating_mul(alignment);
    let data_len = len_after(c.len, data_start);
    for (name, count, ty, offset) in &infos {
        let Some((per_block, bytes)) = block(*ty) else {
            out.push(finding(
                Verdict::Suspicious,
                rule::TENSOR_TYPE.id,
                format!("tensor `{name}` has unknown type {ty}; its size is not checked"),
                Location::default(),
            ));
            continue;
        };
        let size = (count % per_block == 0)
            .then(|| (count / per_block).checked_mul(bytes))
            .flatten()
            .ok_or_else(|| format!("tensor `{name}`: {count} elements do not fit type {ty}"))?;
        if offset % alignment != 0 || offset.saturating_add(size) > data_len {
            return Err(format!(
                "tensor `{name}`: {size} bytes at data offset {offset} lie outside the {data_len} data bytes (or are misaligned)"
            ));
        }
    }
    out.push(finding(
        Verdict::Safe,
        rule::VALID.id,
        format!("gguf v{version}: {kvs} metadata entries and {tensors} tensors checked"),
        Location::default(),
    ));
    Ok(())
}

fn len_after(len: u64, start: u64) -> u64 {
    len.saturating_sub(start)
}

fn skip_value(c: &mut Cursor<'_>, ty: u32, depth: u32, budget: &mut u64) -> Result<(), String> {
    if let Some(n) = fixed_size(ty) {
        return c.skip(n);
    }
    match ty {
        8 => c.string(0).map(drop),
        9 => {
            if depth > 4 {
                return Err("arrays nested more than 4 deep".to_owned());
            }
            let item = c.u32()?;
            let count = c.u64()?;
            *budget = budget
                .checked_sub(count)
                .ok_or("more array elements than the limit")?;
            if let Some(n) = fixed_size(item) {
                return c.skip(count.checked_mul(n).ok_or("the array size overflows")?);
            }
            for _ in 0..count {
                skip_value(c, item, depth + 1, budget)?;
            }
            Ok(())
        }
        t => Err(format!("unknown value type {t}")),
    }
}

/// Reports each dangerous or suspicious pattern in a chat template.
pub fn check_template(key: &str, template: &str, offset: u64, out: &mut Vec<Finding>) {
    let lower = template.to_ascii_lowercase();
    let at_word = |pat: &str| {
        lower.match_indices(pat).any(|(i, _)| {
            !lower
                .get(..i)
                .and_then(|s| s.chars().next_back())
                .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        })
    };
    let found = |list: &[&'static str], word: bool| -> Vec<&'static str> {
        list.iter()
            .copied()
            .filter(|p| if word { at_word(p) } else { lower.contains(p) })
            .collect()
    };
    for (verdict, hits) in [
        (Verdict::Dangerous, found(DANGEROUS, false)),
        (Verdict::Suspicious, found(SUSPICIOUS, true)),
    ] {
        if !hits.is_empty() {
            out.push(finding(
                verdict,
                rule::CHAT_TEMPLATE.id,
                format!(
                    "`{key}` contains {}: jinja that reaches python internals",
                    hits.join(", ")
                ),
                Location {
                    member: None,
                    offset: Some(offset),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn gguf(
        kvs: &[(&str, u32, Vec<u8>)],
        tensors: &[(&str, &[u64], u32, u64)],
        data: usize,
    ) -> Vec<u8> {
        let s = |v: &mut Vec<u8>, t: &str| {
            v.extend_from_slice(&(t.len() as u64).to_le_bytes());
            v.extend_from_slice(t.as_bytes());
        };
        let mut v = b"GGUF".to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        v.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        for (k, ty, val) in kvs {
            s(&mut v, k);
            v.extend_from_slice(&ty.to_le_bytes());
            v.extend_from_slice(val);
        }
        for (name, dims, ty, off) in tensors {
            s(&mut v, name);
            v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in *dims {
                v.extend_from_slice(&d.to_le_bytes());
            }
            v.extend_from_slice(&ty.to_le_bytes());
            v.extend_from_slice(&off.to_le_bytes());
        }
        while !v.len().is_multiple_of(32) {
            v.push(0);
        }
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn string(t: &str) -> Vec<u8> {
        let mut v = (t.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(t.as_bytes());
        v
    }

    fn worst(bytes: Vec<u8>) -> (Verdict, String) {
        let len = bytes.len() as u64;
        let e = scan(&mut std::io::Cursor::new(bytes), len, &Limits::default());
        e.iter()
            .max_by_key(|e| e.verdict)
            .map(|e| (e.verdict, e.message.clone()))
            .unwrap_or((Verdict::Safe, String::new()))
    }

    #[test]
    fn a_plain_model_is_safe() {
        let mut arr = 8u32.to_le_bytes().to_vec();
        arr.extend_from_slice(&2u64.to_le_bytes());
        arr.extend(string("a"));
        arr.extend(string("b"));
        let kvs = [
            ("general.name", 8, string("tiny")),
            ("tokenizer.ggml.tokens", 9, arr),
            ("general.alignment", 4, 32u32.to_le_bytes().to_vec()),
            (
                "tokenizer.chat_template",
                8,
                string("{% for m in messages %}{{ m.content }}{% endfor %}"),
            ),
        ];
        let f = gguf(&kvs, &[("w", &[4, 2], 0, 0), ("q", &[32], 8, 32)], 96);
        assert_eq!(
            worst(f),
            (
                Verdict::Safe,
                "gguf v3: 4 metadata entries and 2 tensors checked".into()
            )
        );
    }

    #[test]
    fn templates_that_reach_python_are_flagged() {
        let evil = "{{ cycler.__init__.__globals__.os.popen('id').read() }}";
        let (v, m) = worst(gguf(
            &[("tokenizer.chat_template", 8, string(evil))],
            &[],
            0,
        ));
        assert_eq!(v, Verdict::Dangerous);
        assert!(m.contains("__globals__") && m.contains("popen"), "{m}");
        let odd = "{{ messages | map('eval') }}";
        assert_eq!(
            worst(gguf(
                &[("tokenizer.chat_template.tool_use", 8, string(odd))],
                &[],
                0
            ))
            .0,
            Verdict::Suspicious
        );
        // `pos.` is not `os.`
        let fine = "{% set pos = 1 %}{{ pos.real }}";
        assert_eq!(
            worst(gguf(
                &[("tokenizer.chat_template", 8, string(fine))],
                &[],
                0
            ))
            .0,
            Verdict::Safe
        );
    }

    #[test]
    fn malformed_files_are_inconclusive() {
        let huge_array = {
            let mut v = 4u32.to_le_bytes().to_vec();
            v.extend_from_slice(&u64::MAX.to_le_bytes());
            v
        };
        let cases = [
            b"GGUF".to_vec(),
            b"GGML\x03\x00\x00\x00".to_vec(),
            gguf(&[], &[], 0)
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 4 { 9 } else { b })
                .collect(),
            gguf(&[("k", 8, u64::MAX.to_le_bytes().to_vec())], &[], 0),
            gguf(&[("k", 9, huge_array)], &[], 0),
            gguf(&[("k", 99, vec![])], &[], 0),
            gguf(&[], &[("w", &[4], 0, 0)], 8),
            gguf(&[], &[("w", &[u64::MAX, 2], 0, 0)], 8),
            gguf(&[], &[("w", &[33], 8, 0)], 64),
        ];
        for (i, f) in cases.into_iter().enumerate() {
            assert_eq!(worst(f).0, Verdict::Inconclusive, "case {i}");
        }
        // a declared count far beyond the file fails without allocating it
        let mut f = gguf(&[], &[], 0);
        f.truncate(24);
        f.splice(16..24, u64::MAX.to_le_bytes());
        assert_eq!(worst(f).0, Verdict::Inconclusive);
    }
}
