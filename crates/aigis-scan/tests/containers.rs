//! Every file of `tests/data/containers/` (written by `scripts/make_container_corpus.py`
//! with Keras 3 itself, h5py, and by hand) gets the verdict and the evidence it should.

use crate::common;

use std::path::PathBuf;

use common::{find, fixture, scan_at, scanner};

use aigis_scan::{FileReport, Limits, Location, Verdict};

fn corpus(name: &str) -> PathBuf {
    fixture("containers", name)
}

fn scan(name: &str) -> FileReport {
    scan_at(&corpus(name))
}

#[test]
fn keras3_files_made_by_keras() {
    for name in ["keras_dense.keras", "keras_functional.keras"] {
        let r = scan(name);
        assert_eq!(
            (r.format.as_str(), r.verdict),
            ("keras", Verdict::Safe),
            "{name}: {:?}",
            r.findings
        );
        let config = find(&r, "keras.config");
        assert_eq!(config.location.member.as_deref(), Some("config.json"));
    }
    let r = scan("keras_functional.keras");
    // Bidirectional(LSTM), TimeDistributed(Dense) and the nested Sequential were walked
    let n: u32 = find(&r, "keras.config")
        .message
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(n > 20, "{n}");

    let r = scan("keras_lambda.keras");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = find(&r, "keras.lambda");
    assert_eq!(hit.location.member.as_deref(), Some("config.json"));
    assert!(hit.message.contains("`scale`"), "{}", hit.message);

    let r = scan("keras_custom.keras");
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", r.findings);
    assert!(
        find(&r, "keras.custom_object")
            .message
            .contains("aigis_test>Gate")
    );

    let r = scan("keras_exec.keras");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        find(&r, "keras.dangerous_import")
            .message
            .contains("builtins.exec")
    );

    let r = scan("keras_bad_config.keras");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    find(&r, "keras.config_malformed");
}

#[test]
fn legacy_h5_files() {
    // (file, verdict, a rule it must carry)
    for (name, verdict, rule) in [
        ("keras3_dense.h5", Verdict::Safe, "keras.config"),
        ("keras3_lambda.h5", Verdict::Dangerous, "keras.lambda"),
        (
            "keras3_lambda_latest.h5",
            Verdict::Dangerous,
            "keras.lambda",
        ),
        ("keras2_lambda.h5", Verdict::Dangerous, "keras.lambda"),
        ("keras2_tfop_math.h5", Verdict::Safe, "keras.config"),
        (
            "keras2_tfop_write_file.h5",
            Verdict::Dangerous,
            "keras.tf_op",
        ),
        ("weights_only.weights.h5", Verdict::Safe, "hdf5.valid"),
        (
            "dense_attributes.h5",
            Verdict::Inconclusive,
            "hdf5.malformed",
        ),
        (
            "truncated_weights.h5",
            Verdict::Inconclusive,
            "hdf5.truncated",
        ),
        (
            "truncated_config.h5",
            Verdict::Inconclusive,
            "hdf5.malformed",
        ),
    ] {
        let r = scan(name);
        assert_eq!(
            (r.format.as_str(), r.verdict),
            ("hdf5", verdict),
            "{name}: {:?}",
            r.findings
        );
        let e = find(&r, rule);
        assert!(e.location.member.is_none(), "{name}: {e:?}");
    }
    // both configs of a Keras 2 file are read: model_config and training_config
    let r = scan("keras2_tfop_math.h5");
    let configs: Vec<&str> = r
        .findings
        .iter()
        .filter(|e| e.rule == "keras.config")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(configs.len(), 2, "{configs:?}");
    assert!(
        configs[0].contains("`model_config` attribute"),
        "{configs:?}"
    );
    assert!(
        configs[1].contains("`training_config` attribute"),
        "{configs:?}"
    );
    let r = scan("keras2_lambda.h5");
    let hit = find(&r, "keras.lambda");
    assert!(hit.message.contains("`scale`"), "{}", hit.message);
    assert!(hit.location.offset.is_some_and(|o| o > 0));
    let r = scan("keras2_tfop_write_file.h5");
    let hit = find(&r, "keras.tf_op");
    assert!(hit.message.contains("tf.io.write_file"), "{}", hit.message);
    assert!(
        find(&scan("dense_attributes.h5"), "hdf5.malformed")
            .message
            .contains("dense storage")
    );
}

#[test]
fn the_weights_inside_a_keras_zip_are_read_as_hdf5() {
    let r = scan("keras_dense.keras");
    let weights = find(&r, "hdf5.valid");
    assert_eq!(weights.location.member.as_deref(), Some("model.weights.h5"));
    assert_eq!(weights.verdict, Verdict::Safe);
}

#[test]
fn zips_inside_zips_are_scanned_with_the_member_chain() {
    let r = scan("nested_benign.zip");
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);

    let r = scan("nested_evil.zip");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = find(&r, "pickle.global.dangerous");
    assert_eq!(
        hit.location.member.as_deref(),
        Some("models/inner.zip!data.pkl")
    );
    assert!(hit.location.offset.is_some());

    let r = scan("nested_npz.zip");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let hit = find(&r, "pickle.global.dangerous");
    assert_eq!(hit.location.member.as_deref(), Some("arrays.npz!a.npy"));

    // the file, l1, l2 are scanned; l3 is the fourth level
    let r = scan("nested_deep.zip");
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.findings);
    let deep = find(&r, "zip.depth");
    assert_eq!(
        deep.location.member.as_deref(),
        Some("l1.zip!l2.zip!l3.zip")
    );
    // one more level allowed: the pickle is reached
    let limits = Limits {
        max_archive_depth: 4,
        ..Limits::default()
    };
    let r = scanner(&limits)
        .scan_file(&corpus("nested_deep.zip"))
        .unwrap();
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(
        find(&r, "pickle.global.dangerous")
            .location
            .member
            .as_deref(),
        Some("l1.zip!l2.zip!l3.zip!data.pkl")
    );
    // the budget is shared by every level: `inner.zip` (152 bytes) uses all of it, and
    // its `data.pkl` is past the limit
    let limits = Limits {
        max_total_bytes: 152,
        ..Limits::default()
    };
    let r = scanner(&limits)
        .scan_file(&corpus("nested_benign.zip"))
        .unwrap();
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.findings);
    assert_eq!(
        find(&r, "zip.too_large").location.member.as_deref(),
        Some("inner.zip!data.pkl")
    );
}

#[test]
fn legacy_torch_save_files_are_walked_to_the_end() {
    let r = scan("legacy_torch.pt");
    assert_eq!(
        (r.format.as_str(), r.verdict),
        ("pickle", Verdict::Safe),
        "{:?}",
        r.findings
    );
    let layout = find(&r, "pickle.legacy_torch");
    assert!(
        layout.message.contains("2 raw storages (48 bytes)"),
        "{layout:?}"
    );
    assert_eq!(layout.location.offset, Some(425));

    let r = scan("legacy_torch_evil.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        find(&r, "pickle.global.dangerous")
            .message
            .contains("system")
    );
    find(&r, "pickle.legacy_torch");

    // a pickle after the storages: torch.load never reads it, but it is scanned
    let r = scan("legacy_torch_hidden.pt");
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    let leftover = find(&r, "pickle.legacy_leftover");
    assert_eq!(leftover.location.offset, Some(489));
    let hit = find(&r, "pickle.global.dangerous");
    assert!(hit.location.offset.is_some_and(|o| o > 489), "{hit:?}");

    let r = scan("legacy_torch_overrun.pt");
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.findings);
    let bad = find(&r, "pickle.legacy_storage");
    assert!(bad.message.contains("`94012`"), "{bad:?}");
    assert!(!r.findings.iter().any(|e| e.rule == "pickle.legacy_torch"));
}

/// Mutations of the real `.h5` files (a fixed pseudo-random sequence): never a panic,
/// and `safe` only with the evidence of a full read.
#[test]
fn mutated_h5_files_never_panic_or_pass_unread() {
    use std::io::Cursor;
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1du64);
    let mut next = move || rng.u64(..);
    for name in [
        "keras3_dense.h5",
        "keras3_lambda_latest.h5",
        "keras2_lambda.h5",
    ] {
        let original = std::fs::read(corpus(name)).unwrap();
        for _ in 0..1500 {
            let mut bytes = original.clone();
            // the structures the reader follows are in the first KiB or two
            let span = bytes.len().min(2048);
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % span;
                bytes[i] = next() as u8;
            }
            if next() % 8 == 0 {
                bytes.truncate((next() as usize) % bytes.len());
            }
            let found = aigis_scan::internal::hdf5::scan(
                &mut Cursor::new(&bytes),
                bytes.len() as u64,
                &Location::default(),
                &Limits::default(),
            );
            let worst = found.iter().map(|e| e.verdict).max().unwrap();
            let read = found
                .iter()
                .any(|e| e.rule == "hdf5.valid" || e.rule == "keras.config");
            assert!(read || worst >= Verdict::Inconclusive, "{found:?}");
        }
    }
}
