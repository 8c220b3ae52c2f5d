//! NumPy `.npy` arrays (and the members of `.npz` archives).
//!
//! Plain arrays are data. An array of dtype `object` is stored as a pickle after the
//! header, which `np.load` runs only when its caller opts in with `allow_pickle=True`
//! (the default since NumPy 1.16.3 refuses): the file says so (`npy.allow_pickle`, an
//! informational finding) and is judged by what that pickle does. `np.load` reads one
//! pickle and nothing after it, so bytes after its `STOP` are reported but never run.
//! Python 2 object arrays hold `str` as bytes, which NumPy decodes with
//! `encoding='latin1'`: bytes that are not UTF-8 are kept as data, never a module name.
//! The header is a Python dict literal, read as NumPy reads it ([`literal`]): a key given
//! twice takes its last value, and a dtype is plain only in the forms NumPy writes for
//! plain data, so a header cannot make this reader skip a pickle NumPy would run.

use std::io::{Cursor, Read, SeekFrom};

mod literal;

use literal::Lit;

use crate::Scanner;
use crate::scan::{ReadSeek, finding, run_pickle};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    PLAIN = "npy.plain":
        "A NumPy array of plain numbers: data only.";
    ALLOW_PICKLE = "npy.allow_pickle":
        "A NumPy object array: its data is a pickle, which `np.load` runs with `allow_pickle=True`; judged by what the pickle does.";
    HEADER = "npy.header":
        "An invalid NumPy `.npy` header.";
    TOO_LARGE = "npy.too_large":
        "A NumPy object array whose pickled payload is past the limit: not analysed.";
    IO = "npy.io":
        "A NumPy object array whose payload cannot be read.";
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version (1.0, 2.0 or 3.0).
    pub version: (u8, u8),
    /// The `descr` value, as Python prints it (`'<f4'`, `'|O'`, `[('a', '<i8'), …]`).
    pub descr: String,
    /// Whether any field of the dtype is an object (a pickled payload follows).
    pub object: bool,
    /// Where the array data starts.
    pub data_offset: u64,
    /// `fortran_order`, when it is a boolean.
    pub fortran_order: Option<bool>,
    /// `shape`, when it is a tuple of integers that fit in 64 bits.
    pub shape: Option<Vec<u64>>,
}

/// Parses the header: magic, version 1–3, a length that fits, a dict with `descr`.
pub fn header(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Result<Header, String> {
    let mut fixed = [0u8; 10];
    r.read_exact(&mut fixed)
        .map_err(|_| "the file ends inside the header".to_owned())?;
    let [m0, m1, m2, m3, m4, m5, major, minor, l0, l1] = fixed;
    if [m0, m1, m2, m3, m4, m5] != *b"\x93NUMPY" {
        return Err("no `\\x93NUMPY` magic".to_owned());
    }
    let (header_len, start) = match major {
        1 => (u64::from(u16::from_le_bytes([l0, l1])), 10u64),
        2 | 3 => {
            let mut rest = [0u8; 2];
            r.read_exact(&mut rest)
                .map_err(|_| "the file ends inside the header".to_owned())?;
            let [l2, l3] = rest;
            (u64::from(u32::from_le_bytes([l0, l1, l2, l3])), 12)
        }
        v => return Err(format!("unknown format version {v}")),
    };
    if header_len > limits.max_header_bytes.min(1 << 20) || start + header_len > len {
        return Err(format!(
            "the header declares {header_len} bytes, more than the file or the limit"
        ));
    }
    let mut text = Vec::new();
    r.take(header_len)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    // NumPy reads format 3 headers as UTF-8, older ones as Latin-1.
    let text: String = if major == 3 {
        String::from_utf8(text).map_err(|_| "the header is not UTF-8".to_owned())?
    } else {
        text.iter().map(|&b| char::from(b)).collect()
    };
    let dict = match literal::parse(&text) {
        Ok(Lit::Dict(entries)) => entries,
        Ok(_) => return Err("the header is not a dict".to_owned()),
        Err(e) => return Err(format!("the header is not a literal NumPy reads: {e}")),
    };
    // As in Python, a key given twice takes its last value.
    let mut fields: Vec<(String, Lit)> = Vec::new();
    for (key, value) in dict {
        let Lit::Str(key) = key else {
            return Err("a header key that is not a string".to_owned());
        };
        fields.retain(|(k, _)| *k != key);
        fields.push((key, value));
    }
    let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    if keys != ["descr", "fortran_order", "shape"] {
        return Err(format!(
            "the header's keys are {keys:?}, not descr, fortran_order and shape: NumPy refuses it"
        ));
    }
    let descr = fields
        .iter()
        .find(|(k, _)| k == "descr")
        .map(|(_, v)| v)
        .ok_or("the header has no `descr`")?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let fortran_order = match field("fortran_order") {
        Some(Lit::Bool(b)) => Some(*b),
        _ => None,
    };
    let shape = match field("shape") {
        Some(Lit::Tuple(items)) => items
            .iter()
            .map(|i| match i {
                Lit::Int(text) => text.parse::<u64>().ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    Ok(Header {
        version: (major, minor),
        descr: show(descr),
        object: may_hold_objects(descr, 0),
        data_offset: start + header_len,
        fortran_order,
        shape,
    })
}

/// Whether a dtype description may hold Python objects, read as `np.dtype` reads it.
/// Only the forms NumPy writes for plain data are plain; anything else (an object code,
/// `'object'`, `'i4,O'`, a form this reader does not know) is treated as holding objects,
/// so its data goes to the pickle scanner rather than being skipped.
fn may_hold_objects(descr: &Lit, depth: usize) -> bool {
    match descr {
        Lit::Str(code) => !is_plain_code(code),
        // structured: `[(name, type), (name, type, shape), ((title, name), type), …]`
        Lit::List(fields) if depth < 32 => fields.iter().any(|f| match f {
            Lit::Tuple(items) if matches!(items.len(), 2 | 3) => {
                items.get(1).is_none_or(|t| may_hold_objects(t, depth + 1))
            }
            _ => true,
        }),
        _ => true,
    }
}

/// `dtype.str` of a plain type: a byte order, a kind, a size, and a unit for dates.
fn is_plain_code(code: &str) -> bool {
    let code = code.strip_prefix(['<', '>', '|', '=']).unwrap_or(code);
    let mut chars = code.chars();
    let Some(kind) = chars.next().filter(|c| "biufcmMSUVa?".contains(*c)) else {
        return false;
    };
    let rest = chars.as_str();
    let size_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let unit = rest.get(size_end..).unwrap_or_default();
    unit.is_empty()
        || matches!(kind, 'm' | 'M')
            && unit.starts_with('[')
            && unit.ends_with(']')
            && unit.len() > 2
            && unit
                .get(1..unit.len() - 1)
                .is_some_and(|u| u.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A literal as Python would print it, for messages.
fn show(v: &Lit) -> String {
    let join = |items: &[Lit]| items.iter().map(show).collect::<Vec<_>>().join(", ");
    match v {
        Lit::Str(s) => format!("{s:?}").replace('"', "'"),
        Lit::Int(i) => i.clone(),
        Lit::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Lit::None => "None".to_owned(),
        Lit::Tuple(items) if items.len() == 1 => format!("({},)", join(items)),
        Lit::Tuple(items) => format!("({})", join(items)),
        Lit::List(items) => format!("[{}]", join(items)),
        Lit::Dict(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Scans one `.npy` stream from its start. `at` names the file or the npz member.
pub fn scan(r: &mut dyn ReadSeek, len: u64, at: &Location, scanner: &Scanner) -> Vec<Finding> {
    let limits = scanner.limits();
    let h = match header(r, len, limits) {
        Ok(h) => h,
        Err(message) => {
            return vec![finding(
                Verdict::Inconclusive,
                rule::HEADER.id,
                message,
                at.clone(),
            )];
        }
    };
    if !h.object {
        return vec![finding(
            Verdict::Safe,
            rule::PLAIN.id,
            format!("array of dtype {}: data only, not read", h.descr),
            at.clone(),
        )];
    }
    let mut out = vec![finding(
        Verdict::Safe,
        rule::ALLOW_PICKLE.id,
        format!(
            "array of dtype {}: its data is a pickle, which `np.load` runs only with `allow_pickle=True`; judged by what the pickle does",
            h.descr
        ),
        at.clone(),
    )];
    let size = len - h.data_offset;
    if size > limits.max_member_bytes {
        out.push(finding(
            Verdict::Inconclusive,
            rule::TOO_LARGE.id,
            format!("the pickled payload has {size} bytes, more than the limit"),
            at.clone(),
        ));
        return out;
    }
    let mut payload = Vec::new();
    let read = r
        .seek(SeekFrom::Start(h.data_offset))
        .and_then(|_| r.take(size).read_to_end(&mut payload));
    if let Err(e) = read {
        out.push(finding(
            Verdict::Inconclusive,
            rule::IO.id,
            e.to_string(),
            at.clone(),
        ));
        return out;
    }
    let payload_at = Location {
        member: at.member.clone(),
        offset: Some(h.data_offset),
    };
    out.extend(
        run_pickle(scanner, &mut Cursor::new(payload), &payload_at)
            .into_iter()
            .map(one_pickle),
    );
    out
}

/// `np.load` reads the array's one pickle: bytes after it are reported, not held
/// against the file (a second pickle there is still scanned and its imports judged).
fn one_pickle(mut e: Finding) -> Finding {
    if e.rule == crate::pickle::rule::TRAILING_DATA.id {
        e.verdict = Verdict::Safe;
        e.message = format!("{}; `np.load` reads one pickle and never these", e.message);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, payload: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}\n");
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn run(bytes: Vec<u8>) -> Vec<Finding> {
        let len = bytes.len() as u64;
        scan(
            &mut Cursor::new(bytes),
            len,
            &Location::default(),
            &Scanner::new(),
        )
    }

    fn worst(e: &[Finding]) -> Verdict {
        Verdict::worst(e)
    }

    #[test]
    fn plain_arrays_are_safe_object_arrays_go_to_the_pickle_scanner() {
        assert_eq!(worst(&run(npy("'<f4'", &[0; 8]))), Verdict::Safe);
        // an object array says that it needs `allow_pickle`, and is as safe as its pickle
        let e = run(npy("'|O'", b"\x80\x04]."));
        assert_eq!(worst(&e), Verdict::Safe);
        assert!(e.iter().any(|e| e.rule == "npy.allow_pickle"), "{e:?}");
        assert_eq!(
            worst(&run(npy("'|O'", b"\x80\x02cposix\nsystem\n."))),
            Verdict::Dangerous
        );
        // an object field inside a structured dtype
        let e = run(npy("[('a', '<i8'), ('b', '|O')]", b"cposix\nsystem\n."));
        assert_eq!(worst(&e), Verdict::Dangerous);
    }

    #[test]
    fn bytes_after_the_pickle_are_never_read_by_np_load() {
        let e = run(npy("'|O'", b"\x80\x02]q\x00.\n"));
        assert_eq!(worst(&e), Verdict::Safe, "{e:?}");
        // but a pickle there is still scanned
        let e = run(npy("'|O'", b"\x80\x02]q\x00.cposix\nsystem\n."));
        assert_eq!(worst(&e), Verdict::Dangerous, "{e:?}");
    }

    fn npy_header(dict: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn the_dtype_is_read_as_numpy_reads_it() {
        let evil = b"\x80\x02cposix\nsystem\n.";
        // field names are not types: `Open` is a float column
        let e = run(npy(
            "[('Open', '<f8'), (('Title', 'Ob'), '<i4', (2,))]",
            &[0; 16],
        ));
        assert_eq!(worst(&e), Verdict::Safe, "{e:?}");
        assert!(e.iter().any(|e| e.rule == "npy.plain"));
        // every spelling `np.dtype` takes for objects sends the data to the pickle scanner
        for descr in [
            "'object'",
            "'i4,O'",
            "'|' 'O'",
            "u'|O'",
            "[('a', [('b', '|O8')])]",
            "'<f8' if True else 0",
        ] {
            let e = run(npy(descr, evil));
            assert!(worst(&e) >= Verdict::Inconclusive, "{descr}: {e:?}");
        }
        for descr in ["'object'", "'i4,O'", "'|' 'O'", "[('a', [('b', '|O8')])]"] {
            assert_eq!(worst(&run(npy(descr, evil))), Verdict::Dangerous, "{descr}");
        }
        // a key given twice takes its last value, as in Python
        let dup = npy_header(
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'descr': '|O'}\n",
            evil,
        );
        assert_eq!(worst(&run(dup)), Verdict::Dangerous);
        // NumPy refuses other keys
        let extra = npy_header(
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}\n",
            &[0; 8],
        );
        assert_eq!(worst(&run(extra)), Verdict::Inconclusive);
        // Python 2 headers: Latin-1 names and `L` lengths
        let py2 = npy_header(
            b"{'descr': [('\xe9t\xe9', '<i8')], 'fortran_order': False, 'shape': (1L,), }\n",
            &[0; 8],
        );
        assert_eq!(worst(&run(py2)), Verdict::Safe);
        // plain codes as NumPy writes them
        for code in [
            "<f8", "|b1", "<U3", "|S5", "|V16", "<M8[ns]", ">m8[us]", "|u1",
        ] {
            assert!(is_plain_code(code), "{code}");
        }
        for code in ["|O", "O8", "object", "i4,O", "<f8[ns]", "<M8[", "2O", ""] {
            assert!(!is_plain_code(code), "{code}");
        }
    }

    #[test]
    fn malformed_headers_are_inconclusive() {
        for bad in [
            b"\x93NUMPY".to_vec(),
            b"\x93NUMPX\x01\x00\x00\x00".to_vec(),
            b"\x93NUMPY\x09\x00\x00\x00".to_vec(),
            b"\x93NUMPY\x01\x00\xff\xff{".to_vec(),
            npy("", b"")
                .into_iter()
                .map(|b| if b == b'd' { b'x' } else { b })
                .collect(),
        ] {
            assert_eq!(worst(&run(bad)), Verdict::Inconclusive);
        }
    }
}
