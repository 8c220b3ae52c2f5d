//! safetensors: a JSON header, then raw tensor bytes. It cannot run code, so a valid
//! file is safe; what is checked is that the header means what a loader will do with it
//! (offsets inside the file, no two tensors sharing bytes, sizes that match dtype×shape),
//! because a header that lies is how parser bugs in loaders are reached.

use std::io::{Read, SeekFrom};

use serde_json::Value;

use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    VALID = "safetensors.valid":
        "A safetensors header fully validated: safetensors cannot run code.";
    HEADER = "safetensors.header":
        "An invalid safetensors header.";
    UNKNOWN_FIELD = "safetensors.unknown_field":
        "A safetensors tensor entry with a field the format does not have.";
    UNCOVERED_BYTES = "safetensors.uncovered_bytes":
        "Data bytes of a safetensors file that belong to no tensor: room for a hidden payload.";
}

/// Bits per element of each dtype the format defines.
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

fn bad(field: &str, message: impl std::fmt::Display, offset: Option<u64>) -> Finding {
    finding(
        Verdict::Inconclusive,
        rule::HEADER.id,
        format!("`{field}`: {message}"),
        Location {
            member: None,
            offset,
        },
    )
}

/// Checks the header of a safetensors stream of `len` bytes, from its start.
pub fn scan(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Vec<Finding> {
    match check(r, len, limits) {
        Ok(out) => out,
        Err(e) => vec![e],
    }
}

fn check(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Result<Vec<Finding>, Finding> {
    let mut n = [0u8; 8];
    r.seek(SeekFrom::Start(0))
        .and_then(|_| r.read_exact(&mut n))
        .map_err(|_| bad("header length", "the file is shorter than 8 bytes", Some(0)))?;
    let n = u64::from_le_bytes(n);
    if n > limits.max_header_bytes || n.saturating_add(8) > len {
        return Err(bad(
            "header length",
            format!(
                "{n} bytes, more than the file or the limit of {}",
                limits.max_header_bytes
            ),
            Some(0),
        ));
    }
    let mut header = Vec::new();
    r.take(n)
        .read_to_end(&mut header)
        .map_err(|e| bad("header", e, Some(8)))?;
    if header.first() != Some(&b'{') {
        return Err(bad("header", "does not start with `{`", Some(8)));
    }
    let Value::Object(map) = serde_json::from_slice::<Value>(&header)
        .map_err(|e| bad("header", format!("not valid json: {e}"), Some(8)))?
    else {
        return Err(bad("header", "not a json object", Some(8)));
    };
    let data_len = len - 8 - n;
    let mut out = Vec::new();
    let mut spans = Vec::new();
    for (name, info) in &map {
        if name == "__metadata__" {
            let ok = info
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err(bad("__metadata__", "must map strings to strings", Some(8)));
            }
            continue;
        }
        let info = info
            .as_object()
            .ok_or_else(|| bad(name, "not an object", Some(8)))?;
        let dtype = info
            .get("dtype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bits = dtype_bits(dtype).ok_or_else(|| {
            bad(
                &format!("{name}.dtype"),
                format!("unknown dtype `{dtype}`"),
                Some(8),
            )
        })?;
        let shape = info
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&format!("{name}.shape"), "missing or not a list", Some(8)))?;
        let mut count: u64 = 1;
        for dim in shape {
            let dim = dim.as_u64().ok_or_else(|| {
                bad(
                    &format!("{name}.shape"),
                    "a dimension is not a non-negative integer",
                    Some(8),
                )
            })?;
            count = count.checked_mul(dim).ok_or_else(|| {
                bad(
                    &format!("{name}.shape"),
                    "the element count overflows",
                    Some(8),
                )
            })?;
        }
        let offsets = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .map(|v| v.iter().map(Value::as_u64).collect::<Vec<_>>());
        let field = format!("{name}.data_offsets");
        let (begin, end) = match offsets.as_deref() {
            Some([Some(b), Some(e)]) => (*b, *e),
            _ => return Err(bad(&field, "must be two non-negative integers", Some(8))),
        };
        if begin > end || end > data_len {
            return Err(bad(
                &field,
                format!("[{begin}, {end}] lies outside the {data_len} data bytes"),
                Some(8),
            ));
        }
        let size_bits = count
            .checked_mul(bits)
            .ok_or_else(|| bad(&format!("{name}.shape"), "the byte size overflows", Some(8)))?;
        if size_bits % 8 != 0 || size_bits / 8 != end - begin {
            return Err(bad(
                &field,
                format!(
                    "{} bytes, but {dtype} × {count} elements need {} bits",
                    end - begin,
                    size_bits
                ),
                Some(8),
            ));
        }
        if let Some(extra) = info
            .keys()
            .find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets"))
        {
            out.push(finding(
                Verdict::Suspicious,
                rule::UNKNOWN_FIELD.id,
                format!("`{name}` has an unknown field `{extra}`"),
                Location {
                    member: None,
                    offset: Some(8),
                },
            ));
        }
        spans.push((begin, end, name.as_str()));
    }
    spans.sort_unstable();
    let mut covered = 0u64;
    let mut uncovered = 0u64;
    let mut first_gap = None;
    for (begin, end, name) in &spans {
        if *begin < covered {
            return Err(bad(
                &format!("{name}.data_offsets"),
                "overlaps another tensor",
                Some(8 + n + begin),
            ));
        }
        if *begin > covered {
            uncovered += begin - covered;
            first_gap.get_or_insert(covered);
        }
        covered = *end;
    }
    if covered < data_len {
        uncovered += data_len - covered;
        first_gap.get_or_insert(covered);
    }
    if let Some(gap) = first_gap {
        out.push(finding(
            Verdict::Suspicious,
            rule::UNCOVERED_BYTES.id,
            format!("{uncovered} data bytes belong to no tensor: room for a hidden payload"),
            Location {
                member: None,
                offset: Some(8 + n + gap),
            },
        ));
    }
    out.push(finding(
        Verdict::Safe,
        rule::VALID.id,
        format!(
            "{} tensors, header checked; safetensors cannot run code",
            spans.len()
        ),
        Location::default(),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn run(bytes: Vec<u8>) -> Vec<Finding> {
        let len = bytes.len() as u64;
        scan(&mut Cursor::new(bytes), len, &Limits::default())
    }

    fn worst(bytes: Vec<u8>) -> (Verdict, String) {
        let e = run(bytes);
        let w = e.iter().max_by_key(|e| e.verdict).cloned();
        w.map(|e| (e.verdict, e.message))
            .unwrap_or((Verdict::Safe, String::new()))
    }

    #[test]
    fn a_valid_header_is_safe() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[],"data_offsets":[16,17]}}"#;
        assert_eq!(worst(file(h, 17)).0, Verdict::Safe);
        let empty = file("{}", 0);
        assert_eq!(worst(empty).0, Verdict::Safe);
    }

    #[test]
    fn each_malformed_field_is_named() {
        let cases = [
            (
                r#"{"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}"#,
                "a.dtype",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                "a.shape",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#,
                "a.shape",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#,
                "a.data_offsets",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                "a.data_offsets",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                "a.data_offsets",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
                "b.data_offsets",
            ),
            (r#"{"__metadata__":{"k":1}}"#, "__metadata__"),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#,
                "header",
            ),
            (r#"[1,2]"#, "header"),
        ];
        for (h, field) in cases {
            let (v, m) = worst(file(h, 6));
            assert_eq!(v, Verdict::Inconclusive, "{h}");
            assert!(m.contains(&format!("`{field}`")), "{h}: {m}");
        }
        // a length past the end, and a file shorter than the length field
        assert_eq!(
            worst(u64::MAX.to_le_bytes().to_vec()).0,
            Verdict::Inconclusive
        );
        assert_eq!(worst(vec![1, 2]).0, Verdict::Inconclusive);
    }

    #[test]
    fn bytes_outside_every_tensor_are_reported() {
        let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        let e = run(file(h, 12));
        let gap = e.iter().find(|e| e.rule == "safetensors.uncovered_bytes");
        assert!(
            gap.is_some_and(|g| g.message.starts_with("8 data bytes")),
            "{e:?}"
        );
    }
}
