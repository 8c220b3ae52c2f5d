//! Every file of `tests/data/torch/` (written by `scripts/make_torch_corpus.py` with
//! PyTorch itself) gets the verdict and the evidence it should, and damaged copies of the
//! legacy tar checkpoint are never clean.

use crate::common;

use std::path::PathBuf;

use common::{find, fixture, scan_at};

use aigis_scan::{FileReport, Limits, Verdict};

fn corpus(name: &str) -> PathBuf {
    fixture("torch", name)
}

fn scan(name: &str) -> FileReport {
    scan_at(&corpus(name))
}

#[test]
fn files_saved_by_pytorch_are_safe() {
    for (name, format) in [
        ("state_dict.pt", "pytorch-zip"),
        ("pytorch_model.bin", "pytorch-zip"),
        ("module.pt", "pytorch-zip"),
        ("checkpoint.pt", "pytorch-zip"),
        ("scripted.pt", "pytorch-zip"),
        ("traced.pt", "pytorch-zip"),
        ("state_dict_legacy.pt", "pickle"),
        ("half_legacy.pt", "pickle"),
        ("legacy_tar.pt", "pytorch-tar"),
    ] {
        let r = scan(name);
        assert_eq!(
            (r.format.as_str(), r.verdict),
            (format, Verdict::Safe),
            "{name}: {:?}",
            r.findings
        );
    }
    // the legacy forms were walked to their ends, storages skipped by their sizes
    for name in ["state_dict_legacy.pt", "half_legacy.pt"] {
        assert!(
            find(&scan(name), "pickle.legacy_torch")
                .message
                .contains("4 raw storages")
        );
    }
    let r = scan("legacy_tar.pt");
    let layouts: Vec<_> = r
        .findings
        .iter()
        .filter(|e| e.rule == "pickle.legacy_torch")
        .map(|e| (e.location.member.as_deref().unwrap(), e.message.as_str()))
        .collect();
    assert_eq!(layouts.len(), 2, "{layouts:?}");
    assert_eq!(layouts[0].0, "storages");
    assert!(
        layouts[0].1.contains("2 storage records (32 raw bytes)"),
        "{layouts:?}"
    );
    assert_eq!(layouts[1].0, "tensors");
    assert!(layouts[1].1.contains("2 tensor records"), "{layouts:?}");
}

#[test]
fn malicious_objects_saved_by_pytorch_are_dangerous() {
    let r = scan("evil_state_dict.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = find(&r, "pickle.global.dangerous");
    assert!(hit.message.contains("system"), "{hit:?}");
    assert_eq!(
        hit.location.member.as_deref(),
        Some("evil_state_dict/data.pkl")
    );
    let r = scan("evil_state_dict_legacy.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    find(&r, "pickle.legacy_torch");

    for (name, member) in [
        ("legacy_tar_evil_storage.pt", "storages"),
        ("legacy_tar_evil_tensor.pt", "tensors"),
        ("legacy_tar_leftover.pt", "storages"),
    ] {
        let r = scan(name);
        assert_eq!(r.verdict, Verdict::Dangerous, "{name}: {:?}", r.findings);
        let hit = find(&r, "pickle.global.dangerous");
        assert_eq!(hit.location.member.as_deref(), Some(member), "{name}");
    }
    let r = scan("legacy_tar_leftover.pt");
    let leftover = find(&r, "pickle.legacy_leftover");
    assert!(leftover.message.contains("after the last storage"));
}

/// The tar's members, found by name in the ustar headers (PAX headers are members too).
fn member(tar: &[u8], name: &str) -> std::ops::Range<usize> {
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        let end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let size = std::str::from_utf8(&header[124..135]).unwrap();
        let size = usize::from_str_radix(size.trim_matches(['\0', ' ']), 8).unwrap_or(0);
        if &header[..end] == name.as_bytes() && header[156] == b'0' {
            return at + 512..at + 512 + size;
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    panic!("no member {name}");
}

#[test]
fn damaged_legacy_tar_records_are_inconclusive() {
    let good = std::fs::read(corpus("legacy_tar.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storages = member(&good, "storages");
    let tensors = member(&good, "tensors");
    let find_in = |range: std::ops::Range<usize>, pat: &[u8]| {
        range.start
            + good[range]
                .windows(pat.len())
                .position(|w| w == pat)
                .unwrap()
    };
    // a pickled count, then per record a pickle ending in STOP and the raw record: the
    // first storage has 6 elements, the first tensor 2 dimensions
    assert_eq!(&good[storages.start..storages.start + 5], b"\x80\x04K\x02.");
    let numel_at = find_in(storages.clone(), b".\x06\0\0\0\0\0\0\0") + 1;
    let ndim_at = find_in(tensors.clone(), b".\x02\0\0\0\0\0\0\0") + 1;
    // (what, where, the bytes written there, what the finding says)
    let cases: [(&str, usize, &[u8], &str); 3] = [
        (
            "huge element count",
            numel_at + 5,
            b"\x7f",
            "ends inside the raw record of storage 0",
        ),
        (
            "negative dimension count",
            ndim_at + 3,
            b"\xff",
            "dimensions",
        ),
        (
            // `True` instead of the count
            "count is not a number",
            storages.start,
            b"\x88\x88\x880.",
            "not a count of storages",
        ),
    ];
    for (what, at, patch, expect) in cases {
        let mut bytes = good.clone();
        bytes[at..at + patch.len()].copy_from_slice(patch);
        let path = dir.path().join("damaged.pt");
        std::fs::write(&path, &bytes).unwrap();
        let r = scan_at(&path);
        assert_eq!(r.verdict, Verdict::Inconclusive, "{what}: {:?}", r.findings);
        let bad = find(&r, "pickle.legacy_record");
        assert!(bad.message.contains(expect), "{what}: {bad:?}");
    }
}

/// Tar members are scanned in place: a `storages` member far larger than what a zip
/// member may unpack to in memory is still walked to its end.
#[test]
fn legacy_tar_members_are_scanned_in_place() {
    let small = Limits {
        max_member_bytes: 16,
        max_total_bytes: 16,
        ..Limits::default()
    };
    let r = common::scanner(&small)
        .scan_file(&corpus("legacy_tar.pt"))
        .unwrap();
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert_eq!(
        r.findings
            .iter()
            .filter(|e| e.rule == "pickle.legacy_torch")
            .count(),
        2
    );
}

/// A change to one zip header, given the offset of its flags.
type HeaderPatch<'a> = &'a dyn Fn(&mut [u8], usize);

/// Patches every header (local and central) of `member` in a zip: `f(header, offset of
/// the header's general-purpose flags)`.
fn patch_headers(zip: &mut [u8], member: &str, f: impl Fn(&mut [u8], usize)) {
    let name = member.as_bytes();
    let mut patched = 0;
    for sig in [&b"PK\x03\x04"[..], b"PK\x01\x02"] {
        // the name follows 30 bytes of a local header, 46 of a central one
        let name_at = if sig[2] == 3 { 30 } else { 46 };
        let flags_at = if sig[2] == 3 { 6 } else { 8 };
        let mut i = 0;
        while let Some(p) = zip
            .get(i..)
            .and_then(|s| s.windows(4).position(|w| w == sig))
        {
            let at = i + p;
            if zip.get(at + name_at..at + name_at + name.len()) == Some(name) {
                f(&mut zip[at..], flags_at);
                patched += 1;
            }
            i = at + 4;
        }
    }
    assert_eq!(patched, 2, "{member}: a local and a central header");
}

#[test]
fn a_member_pytorch_loads_despite_a_bad_crc_or_the_encrypted_flag_is_still_analysed() {
    let original = std::fs::read(corpus("evil_state_dict.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let member = "evil_state_dict/data.pkl";
    let cases: [(&str, HeaderPatch<'_>); 2] = [
        // the CRC-32 sits 8 bytes after the flags in both headers
        ("bad_crc.pt", &|h: &mut [u8], flags: usize| {
            h[flags + 8] ^= 0xff
        }),
        ("encrypted_flag.pt", &|h: &mut [u8], flags: usize| {
            h[flags] |= 1
        }),
    ];
    for (name, patch) in cases {
        let mut bytes = original.clone();
        patch_headers(&mut bytes, member, patch);
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let r = scan_at(&path);
        assert_eq!(r.verdict, Verdict::Dangerous, "{name}: {:?}", r.findings);
        let zip_rule = if name == "bad_crc.pt" {
            "zip.crc"
        } else {
            "zip.encrypted"
        };
        assert_eq!(find(&r, zip_rule).verdict, Verdict::Inconclusive, "{name}");
        assert!(
            find(&r, "pickle.global.dangerous")
                .message
                .contains("`posix.system`"),
            "{name}"
        );
    }
}
