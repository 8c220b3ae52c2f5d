//! NumPy `.npy` arrays (and the members of `.npz` archives).
//!
//! Plain arrays are data. An array of dtype `object` is stored as a pickle after the
//! header, which `np.load` runs only when its caller opts in with `allow_pickle=True`
//! (the default since NumPy 1.16.3 refuses): the file says so (`npy.allow_pickle`, an
//! informational finding) and is judged by what that pickle does. `np.load` reads one
//! pickle and nothing after it, so bytes after its `STOP` are reported but never run.
//! Python 2 object arrays hold `str` as bytes, which NumPy decodes with
//! `encoding='latin1'`: bytes that are not UTF-8 are kept as data, never a module name.
//! The header is a Python dict literal; only what decides safety is parsed.

use std::io::{Cursor, Read, SeekFrom};

use crate::scan::{PickleScan, ReadSeek, evidence, run_pickle};
use crate::{Evidence, Limits, Location, Verdict};

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: (u8, u8),
    /// The `descr` value as written (`'<f4'`, `'|O'`, `[('a', '<i8'), …]`).
    pub descr: String,
    /// Whether any field of the dtype is an object (a pickled payload follows).
    pub object: bool,
    /// Where the array data starts.
    pub data_offset: u64,
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
    let text = String::from_utf8(text).map_err(|_| "the header is not text".to_owned())?;
    let descr = dict_value(&text, "descr").ok_or("the header has no `descr`")?;
    let object = quoted(descr).any(|s| {
        let s = s.trim_start_matches(['<', '>', '|', '=']);
        s.starts_with('O')
    });
    Ok(Header {
        version: (major, minor),
        descr: descr.to_owned(),
        object,
        data_offset: start + header_len,
    })
}

/// The raw text of `'key': value` up to the next top-level `,` or `}`.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = text.get(at..)?.trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    let mut quote = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') if depth > 0 => depth -= 1,
            (None, ',' | '}') if depth == 0 => return rest.get(..i).map(str::trim),
            _ => {}
        }
    }
    None
}

/// The quoted strings in a Python literal.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\'', '"']).skip(1).step_by(2)
}

/// Scans one `.npy` stream from its start. `at` names the file or the npz member.
pub fn scan(
    r: &mut dyn ReadSeek,
    len: u64,
    at: &Location,
    pickle: PickleScan<'_>,
    limits: &Limits,
) -> Vec<Evidence> {
    let h = match header(r, len, limits) {
        Ok(h) => h,
        Err(message) => {
            return vec![evidence(
                Verdict::Inconclusive,
                "npy.header",
                message,
                at.clone(),
            )];
        }
    };
    if !h.object {
        return vec![evidence(
            Verdict::Safe,
            "npy.plain",
            format!("array of dtype {}: data only, not read", h.descr),
            at.clone(),
        )];
    }
    let mut out = vec![evidence(
        Verdict::Safe,
        "npy.allow_pickle",
        format!(
            "array of dtype {}: its data is a pickle, which `np.load` runs only with `allow_pickle=True`; judged by what the pickle does",
            h.descr
        ),
        at.clone(),
    )];
    let size = len - h.data_offset;
    if size > limits.max_member_bytes {
        out.push(evidence(
            Verdict::Inconclusive,
            "npy.too_large",
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
        out.push(evidence(
            Verdict::Inconclusive,
            "npy.io",
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
        run_pickle(pickle, &mut Cursor::new(payload), &payload_at)
            .into_iter()
            .map(one_pickle),
    );
    out
}

/// `np.load` reads the array's one pickle: bytes after it are reported, not held
/// against the file (a second pickle there is still scanned and its imports judged).
fn one_pickle(mut e: Evidence) -> Evidence {
    if e.rule == "pickle.trailing_data" {
        e.verdict = Verdict::Safe;
        e.message = format!("{}; `np.load` reads one pickle and never these", e.message);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::tests::fake_pickle;

    fn npy(descr: &str, payload: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}\n");
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn run(bytes: Vec<u8>) -> Vec<Evidence> {
        let len = bytes.len() as u64;
        scan(
            &mut Cursor::new(bytes),
            len,
            &Location::default(),
            &fake_pickle,
            &Limits::default(),
        )
    }

    fn worst(e: &[Evidence]) -> Verdict {
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
