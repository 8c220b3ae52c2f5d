use std::io::Cursor;

use super::table::build::table;
use super::*;
use crate::proto::build::Msg;

const FLOAT: u64 = 1;
const STRING: u64 = 7;

fn header(shards: u64) -> Vec<u8> {
    Msg::new().int(1, shards).msg(3, Msg::new().int(1, 1)).0
}

/// A `BundleEntryProto` of a `[2]`-shaped tensor.
fn tensor(dtype: u64, shard: u64, offset: u64, size: u64) -> Vec<u8> {
    let mut m = Msg::new()
        .int(1, dtype)
        .msg(2, Msg::new().msg(2, Msg::new().int(1, 2)))
        .int(3, shard)
        .int(4, offset)
        .int(5, size);
    // crc32c = 6, fixed32
    m.0.push(6 << 3 | 5);
    m.0.extend_from_slice(&0x1234_5678u32.to_le_bytes());
    m.0
}

/// An index of `entries` (sorted; the header under `""` when there is one).
fn index(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<(Vec<u8>, Vec<u8>)> = entries
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
        .collect();
    table(&[entries], 16)
}

/// Writes `variables.index` and data files of the given sizes into a fresh folder and scans
/// the index.
fn scan_folder(
    index_bytes: &[u8],
    data: &[(&str, usize)],
) -> (tempfile::TempDir, Vec<Finding>, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("variables.index");
    std::fs::write(&path, index_bytes).unwrap();
    for (name, size) in data {
        std::fs::write(dir.path().join(name), vec![0u8; *size]).unwrap();
    }
    let len = index_bytes.len() as u64;
    let (found, files) = scan_files(
        &mut Cursor::new(index_bytes),
        len,
        &path,
        &Limits::default(),
    );
    (dir, found, files)
}

fn rules(found: &[Finding]) -> Vec<(&str, Verdict)> {
    found.iter().map(|e| (e.rule.as_str(), e.verdict)).collect()
}

fn benign() -> Vec<u8> {
    index(&[
        ("", header(1)),
        ("b/.ATTRIBUTES/VARIABLE_VALUE", tensor(FLOAT, 0, 0, 8)),
        ("w/.ATTRIBUTES/VARIABLE_VALUE", tensor(FLOAT, 0, 8, 24)),
        ("words", tensor(STRING, 0, 32, 10)),
    ])
}

const SHARD: &str = "variables.data-00000-of-00001";

#[test]
fn a_checkpoint_whose_tensors_fit_its_data_file_is_safe() {
    let (dir, found, files) = scan_folder(&benign(), &[(SHARD, 42)]);
    assert_eq!(rules(&found), [("checkpoint.index", Verdict::Safe)]);
    assert!(
        found[0].message.contains("3 tensors in 1 data file"),
        "{found:?}"
    );
    assert_eq!(files, [dir.path().join(SHARD)]);
}

#[test]
fn data_files_are_named_by_prefix_shard_and_count() {
    assert_eq!(
        data_file_name("model.ckpt", 1, 2),
        "model.ckpt.data-00001-of-00002"
    );
    let two = index(&[
        ("", header(2)),
        ("a", tensor(FLOAT, 0, 0, 4)),
        ("b", tensor(FLOAT, 1, 0, 8)),
    ]);
    let shards = [
        ("variables.data-00000-of-00002", 4),
        ("variables.data-00001-of-00002", 8),
    ];
    let (_dir, found, files) = scan_folder(&two, &shards);
    assert_eq!(rules(&found), [("checkpoint.index", Verdict::Safe)]);
    assert_eq!(files.len(), 2);
    // the second shard one byte short
    let (_dir, found, files) = scan_folder(&two, &[shards[0], (shards[1].0, 7)]);
    assert!(
        rules(&found).contains(&("checkpoint.tensor_range", Verdict::Inconclusive)),
        "{found:?}"
    );
    assert!(found[0].message.contains("`b` ends at byte 8"), "{found:?}");
    assert!(files.is_empty());
}

#[test]
fn a_missing_or_short_data_file_is_inconclusive() {
    let (_dir, found, files) = scan_folder(&benign(), &[]);
    assert_eq!(
        rules(&found),
        [
            ("checkpoint.shard_missing", Verdict::Inconclusive),
            ("checkpoint.index", Verdict::Safe)
        ]
    );
    assert!(files.is_empty());
    let (_dir, found, _) = scan_folder(&benign(), &[(SHARD, 41)]);
    assert_eq!(Verdict::worst(&found), Verdict::Inconclusive);
    assert!(
        found[0].message.contains("past its end (41 bytes)"),
        "{found:?}"
    );
    // named like something else, its data files cannot be found by name
    let bytes = benign();
    let (found, files) = scan_files(
        &mut Cursor::new(&bytes),
        bytes.len() as u64,
        Path::new("weights.bin"),
        &Limits::default(),
    );
    assert_eq!(found[0].rule, "checkpoint.shard_missing");
    assert!(files.is_empty());
}

#[test]
fn tensors_outside_their_data_files_are_inconclusive() {
    for (bad, why) in [
        (
            tensor(FLOAT, 1, 0, 4),
            "in data file 1, but the header counts 1",
        ),
        (tensor(FLOAT, 0, i64::MAX as u64, 1), "overflow"),
    ] {
        let bytes = index(&[("", header(1)), ("a", tensor(FLOAT, 0, 0, 4)), ("z", bad)]);
        let (_dir, found, files) = scan_folder(&bytes, &[(SHARD, 100)]);
        assert_eq!(found[0].rule, "checkpoint.tensor_range", "{found:?}");
        assert_eq!(found[0].verdict, Verdict::Inconclusive);
        assert!(found[0].message.contains(why), "{found:?}");
        assert!(files.is_empty());
    }
}

#[test]
fn malformed_entries_are_inconclusive() {
    let not_a_message = vec![0x0a, 0x05, b'x'];
    let negative_offset = Msg::new().int(1, FLOAT).int(4, u64::MAX).0;
    let string_dtype = Msg::new().str(1, "float").0;
    let bad_shape = Msg::new().int(1, FLOAT).bytes(2, &[0x12, 0x03, 0x08]).0;
    let varint_crc = Msg::new().int(1, FLOAT).int(6, 7).0;
    for (value, why) in [
        (not_a_message, "malformed protobuf"),
        (negative_offset, "the offset is negative"),
        (string_dtype, "the data type is not a number"),
        (bad_shape, "the shape"),
        (varint_crc, "checksum is not a fixed32"),
        (tensor(0, 0, 0, 4), "no data type"),
        (tensor(20, 0, 0, 4), "resource handle"),
        (tensor(99, 0, 0, 4), "data type 99"),
    ] {
        let bytes = index(&[("", header(1)), ("t", value)]);
        let (_dir, found, files) = scan_folder(&bytes, &[(SHARD, 100)]);
        assert_eq!(found[0].rule, "checkpoint.malformed", "{why}: {found:?}");
        assert!(found[0].message.contains(why), "{why}: {found:?}");
        assert!(found[0].location.offset.is_some());
        assert!(files.is_empty(), "{why}");
    }
    // no header, a header that is not one
    let (_dir, found, _) = scan_folder(&index(&[("a", tensor(FLOAT, 0, 0, 4))]), &[]);
    assert_eq!(
        rules(&found),
        [("checkpoint.malformed", Verdict::Inconclusive)]
    );
    assert!(found[0].message.contains("no header"));
    let (_dir, found, _) = scan_folder(&index(&[]), &[]);
    assert!(found[0].message.contains("no header"), "{found:?}");
    let bytes = index(&[("", Msg::new().str(1, "one").0)]);
    let (_dir, found, _) = scan_folder(&bytes, &[]);
    assert!(
        found[0].message.contains("the checkpoint header"),
        "{found:?}"
    );
}

#[test]
fn a_variant_tensor_is_suspicious_and_its_data_is_not_claimed() {
    let bytes = index(&[
        ("", header(1)),
        ("iterator", tensor(21, 0, 0, 30)),
        ("w", tensor(FLOAT, 0, 30, 4)),
    ]);
    let (_dir, found, files) = scan_folder(&bytes, &[(SHARD, 34)]);
    assert_eq!(
        rules(&found),
        [
            ("checkpoint.variant", Verdict::Suspicious),
            ("checkpoint.index", Verdict::Safe)
        ]
    );
    assert!(files.is_empty());
}

#[cfg(unix)]
#[test]
fn a_data_file_that_is_a_link_is_dangerous() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("id_rsa");
    std::fs::write(&secret, vec![1u8; 64]).unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::os::unix::fs::symlink(&secret, model.join(SHARD)).unwrap();
    let bytes = benign();
    let (found, files) = scan_files(
        &mut Cursor::new(&bytes),
        bytes.len() as u64,
        &model.join("variables.index"),
        &Limits::default(),
    );
    assert_eq!(found[0].rule, "checkpoint.shard_escape");
    assert_eq!(Verdict::worst(&found), Verdict::Dangerous);
    assert!(files.is_empty());
}

#[test]
fn table_problems_become_evidence_with_their_offset() {
    let mut bytes = benign();
    bytes[5] ^= 1;
    let (_dir, found, files) = scan_folder(&bytes, &[(SHARD, 42)]);
    assert_eq!(
        rules(&found),
        [("checkpoint.malformed", Verdict::Inconclusive)]
    );
    assert!(found[0].message.contains("checksum"), "{found:?}");
    assert!(found[0].location.offset.is_some());
    assert!(files.is_empty());
    let few = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let bytes = benign();
    let (found, _) = scan_files(
        &mut Cursor::new(&bytes),
        bytes.len() as u64,
        Path::new("/nonexistent/variables.index"),
        &few,
    );
    assert_eq!(
        found.last().map(|e| e.rule.as_str()),
        Some("checkpoint.limit")
    );
}

#[test]
fn many_bad_entries_are_counted_not_all_listed() {
    let names: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
    let mut entries = vec![("", header(1))];
    entries.extend(names.iter().map(|n| (n.as_str(), tensor(FLOAT, 5, 0, 4))));
    let (_dir, found, _) = scan_folder(&index(&entries), &[(SHARD, 4)]);
    let range = found
        .iter()
        .filter(|e| e.rule == "checkpoint.tensor_range")
        .count();
    assert_eq!(range, MAX_FINDINGS as usize + 1);
    assert!(found.iter().any(|e| e.message == "36 more like these"));
}

/// An index written by an independent writer (the Python script in `fuzz/README.md`, with
/// its own CRC-32C): two data blocks, a restart point every four entries, two data files.
#[test]
fn reads_an_index_written_by_another_writer() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/seeds/model_checkpoint/two_blocks_two_shards.index"
    ))
    .unwrap();
    // tensor i is in data file i % 2, 64 bytes at 64 * (i / 2): six per file
    let shards = [
        ("variables.data-00000-of-00002", 384),
        ("variables.data-00001-of-00002", 384),
    ];
    let (_dir, found, files) = scan_folder(&bytes, &shards);
    assert_eq!(rules(&found), [("checkpoint.index", Verdict::Safe)]);
    assert!(
        found[0]
            .message
            .contains("12 tensors in 2 data files (`variables.data-00000-of-00002`, `variables.data-00001-of-00002`), 2 data blocks"),
        "{found:?}"
    );
    assert_eq!(files.len(), 2);
    let (_dir, found, _) = scan_folder(&bytes, &[shards[0], (shards[1].0, 383)]);
    assert_eq!(found[0].rule, "checkpoint.tensor_range", "{found:?}");
}
