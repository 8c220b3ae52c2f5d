//! Pickles that break their frames the ways CPython's readers disagree on. Each was
//! checked against CPython 3.11's `pickle.Unpickler` over an `io.BytesIO` (drops the rest
//! of the frame) and over a file whose `peek` holds the frame (reads across it); the
//! differential script (`scripts/pickle_differential.py`) checks them again in CI.

use crate::pickle::{Limits, PickleReport, scan_bytes};
use crate::{Location, Verdict};

fn scan(bytes: &[u8]) -> PickleReport {
    scan_bytes(bytes, &Location::default(), &Limits::default())
}

fn frame(n: u64) -> Vec<u8> {
    let mut v = vec![0x95];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

/// `os.system("echo")`, its result left on the stack.
const EVIL: &[u8] = b"\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R";

fn frame_finding(r: &PickleReport) -> &crate::Finding {
    r.findings
        .iter()
        .find(|e| e.rule == "pickle.frame")
        .unwrap_or_else(|| panic!("no pickle.frame finding: {:?}", r.findings))
}

#[test]
fn a_call_only_the_c_unpickler_reading_a_file_sees_is_dangerous() {
    // The frame ends inside SHORT_BINUNICODE's argument. Read across the end, the string
    // is "ab123456789" and SHORT_BINBYTES hides the call; read as the C unpickler reads
    // an `io.BytesIO` (torch.load's data.pkl), "ab" is dropped and the call runs.
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(4));
    p.extend(b"\x8c\x0bab123456789C");
    p.push(EVIL.len() as u8);
    p.extend(EVIL);
    p.extend(b"00N.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    let f = frame_finding(&r);
    assert_eq!(f.verdict, Verdict::Suspicious);
    assert_eq!(f.location.offset, Some(13));
    assert!(
        f.message
            .contains("an opcode argument runs past the end of its frame")
    );
    assert!(f.message.contains("all 2 readings were scanned"));
    let call = r
        .findings
        .iter()
        .find(|e| e.rule == "pickle.global.dangerous")
        .expect("the call");
    assert!(
        call.message
            .contains("(in the reading that drops the rest of the frame at offset 13)"),
        "{}",
        call.message
    );
    assert!(
        r.imports
            .iter()
            .any(|i| i.module == "os" && i.name == "system")
    );
}

#[test]
fn a_call_only_the_reading_across_the_frame_sees_is_dangerous() {
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(4));
    p.extend(b"C\x0bab123456789C");
    p.push(EVIL.len() as u8);
    p.extend(EVIL);
    p.extend(b"00N.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    frame_finding(&r);
}

#[test]
fn a_frame_irregularity_alone_is_never_safe() {
    // both readings load harmless strings
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(4));
    p.extend(b"C\x03abx0N.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", r.findings);
    assert_eq!(frame_finding(&r).verdict, Verdict::Suspicious);
}

#[test]
fn a_line_with_no_newline_before_the_frame_end_is_read_both_ways() {
    // across the end: GLOBAL collectionsos.system; from after the frame: os.system
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(12));
    p.extend(b"ccollectionsos\nsystem\n(S'echo'\ntR.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(
        frame_finding(&r)
            .message
            .contains("a text argument has no newline before the end of its frame")
    );
    let names: Vec<_> = r.imports.iter().map(|i| (&*i.module, &*i.name)).collect();
    assert!(names.contains(&("os", "system")), "{names:?}");
    assert!(names.contains(&("collectionsos", "system")), "{names:?}");
}

#[test]
fn a_frame_opened_inside_a_frame_is_read_both_ways() {
    // The outer frame holds the inner FRAME's header and two bytes: read on, those two
    // bytes are a SHORT_BINBYTES that swallows the call; the C unpickler drops them and
    // reads the inner frame from after the outer one.
    let mut y = EVIL.to_vec();
    y.extend(b"N.");
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(11));
    p.extend(frame(y.len() as u64));
    p.extend([b'C', EVIL.len() as u8]);
    p.extend(&y);
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(
        frame_finding(&r)
            .message
            .contains("a FRAME opens before the current frame ends")
    );

    // one that fits in what is left changes nothing for the C unpickler, but is still
    // nothing a pickler writes
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(13));
    p.extend(frame(2));
    p.extend(b"N0N.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", r.findings);
}

#[test]
fn too_many_readings_are_inconclusive_not_safe() {
    let mut p = b"\x80\x04".to_vec();
    for _ in 0..20 {
        p.extend(frame(3));
        p.extend(b"\x8c\x03abc0");
    }
    p.extend(b"N.");
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.findings);
    let f = frame_finding(&r);
    assert_eq!(f.verdict, Verdict::Inconclusive);
    assert!(
        f.message.contains("19 more frame irregularities"),
        "{}",
        f.message
    );
    assert!(f.message.contains("more than 16 readings"), "{}", f.message);
}

#[test]
fn frames_as_picklers_write_them_are_one_reading() {
    // pickle.dumps({"a": [1, 2], "b": "xxx"}, protocol=4) from CPython 3.11
    let p = b"\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01K\x02e\x8c\x01b\x94\x8c\x03xxx\x94u.";
    let r = scan(p);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(r.findings.is_empty());
    // and a frame longer than the input is truncated, as CPython says
    let mut p = b"\x80\x04".to_vec();
    p.extend(frame(100));
    p.extend(b"N.");
    assert_eq!(scan(&p).findings[0].rule, "pickle.truncated");
}

#[test]
fn a_joblib_array_inside_a_frame_is_inconclusive() {
    // joblib ends the frame before the array bytes; inside one, its loader would read
    // the array from after the frame
    let wrapper = b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81}(\x8c\x05shapeK\x01\x85\x8c\x05dtype\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x85Ru";
    let mut p = b"\x80\x04".to_vec();
    let body = [&wrapper[..], b"b"].concat();
    p.extend(frame(body.len() as u64 + 8));
    p.extend(&body);
    p.extend([0u8; 8]);
    p.push(b'.');
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.findings);
    assert!(
        r.findings.iter().any(|e| e
            .message
            .contains("joblib array starts 8 bytes before the end of its pickle frame")),
        "{:?}",
        r.findings
    );
}

#[test]
fn a_pickle_that_reads_the_memo_of_the_one_before_is_read_both_ways() {
    // the first pickle memoizes "os"; the second fetches memo 0: with one unpickler for
    // both (memo kept) that is "os" and the call is os.system; with a new unpickler per
    // pickle (torch.load, pickle.load in a loop) the fetch fails
    let p = b"\x80\x02X\x02\x00\x00\x00osq\x00N.\x80\x04h\x00\x8c\x06system\x93\x8c\x04echo\x85R.";
    let r = scan(p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    let memo = r
        .findings
        .iter()
        .find(|e| e.rule == "pickle.memo")
        .expect("pickle.memo");
    assert_eq!(memo.verdict, Verdict::Suspicious);
    let call = r
        .findings
        .iter()
        .find(|e| e.rule == "pickle.global.dangerous")
        .expect("the call");
    assert!(call.message.contains("keeps its memo"), "{}", call.message);

    // MEMOIZE numbers entries from the memo's size, so the same key names different
    // entries in the two readings
    let p = b"\x80\x04\x8c\x0bcollections\x94N.\x80\x04\x8c\x02os\x94h\x00\x8c\x06system\x93.";
    let r = scan(p);
    let names: Vec<_> = r
        .imports
        .iter()
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    assert!(names.contains(&"os.system".to_owned()), "{names:?}");
    assert!(
        names.contains(&"collections.system".to_owned()),
        "{names:?}"
    );
    assert!(r.findings.iter().any(|e| e.rule == "pickle.memo"));

    // pickles that only use their own memo entries read the same either way
    let p = b"\x80\x02X\x02\x00\x00\x00abq\x00h\x00\x86.\x80\x02X\x02\x00\x00\x00cdq\x00h\x00\x86.";
    let r = scan(p);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert_eq!(r.pickles, 2);
}
