//! Benign files as the real libraries write them (`tests/data/benign/`, three generations
//! of NumPy, scikit-learn and joblib, Python 2.7 to 3.13) must all be safe; the
//! compressions and legacy layouts joblib reads (`tests/data/compressed/`) must be read,
//! so that an evil pickle inside is still dangerous.

use crate::common;

use std::path::{Path, PathBuf};

use common::{find, fixture, scan_at};

use aigis_scan::internal::pickle::{self, classify};
use aigis_scan::{Location, Verdict};

fn files(folder: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.file_name().is_some_and(|n| n != "README.md") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_the_libraries_wrote_is_safe() {
    let all = files(&fixture("benign", ""));
    assert!(all.len() >= 40, "{} files", all.len());
    let mut formats = std::collections::BTreeSet::new();
    for path in &all {
        let r = scan_at(path);
        assert_eq!(
            r.verdict,
            Verdict::Safe,
            "{}: {:#?}",
            path.display(),
            r.findings
        );
        formats.insert(r.format.to_string());
    }
    for format in ["npy", "npz", "pickle", "joblib", "compressed"] {
        assert!(formats.contains(format), "no {format} among {formats:?}");
    }
}

#[test]
fn each_joblib_compressor_is_read() {
    for env in ["py27-np1.16-sk0.20-jl0.14", "py313-np2.5-sk1.9-jl1.6"] {
        for (file, codec) in [
            ("dump_zlib.joblib", "zlib"),
            ("dump_gzip.joblib", "gzip"),
            ("dump_bz2.joblib", "bz2"),
            ("dump_lzma.joblib", "lzma"),
            ("dump_xz.joblib", "xz"),
            ("dump_lz4.joblib", "lz4"),
            ("logistic_compress3.pkl", "zlib"),
        ] {
            let path = fixture("benign", env).join(file);
            if !path.exists() {
                // Python 2's joblib has no lzma, xz or lz4
                assert!(env.starts_with("py27") && matches!(codec, "lzma" | "xz" | "lz4"));
                continue;
            }
            let r = scan_at(&path);
            let stream = find(&r, "compressed.stream");
            assert!(
                stream.message.starts_with(codec) && stream.message.ends_with("pickle"),
                "{file}: {stream:?}"
            );
            // a compressed pickle under a `.pkl` name is what joblib writes, not a disguise
            assert!(!r.findings.iter().any(|e| e.rule.starts_with("format.")));
        }
    }
}

#[test]
fn object_arrays_say_they_need_allow_pickle_and_are_judged_by_their_pickle() {
    for env in ["py27-np1.16-sk0.20-jl0.14", "py313-np2.5-sk1.9-jl1.6"] {
        let r = scan_at(&fixture("benign", env).join("objects.npy"));
        assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
        assert!(
            find(&r, "npy.allow_pickle")
                .message
                .contains("allow_pickle=True")
        );
    }
    // the same object array around an evil pickle stays dangerous
    let r = scan_at(&fixture("formats", "evil_objects.npz"));
    assert_eq!(r.verdict, Verdict::Dangerous);
}

#[test]
fn numpys_own_python2_arrays_are_safe() {
    // NumPy's `py2-objarr.npy` and `py2-np0-objarr.npy` hold `__builtin__.xrange`, bytes
    // that are not UTF-8 (`encoding='latin1'`), the pre-1.0 `numpy.core._internal`
    // rebuild, and one byte after the pickle that `np.load` never reads. The pickle
    // below is `py2-np0-objarr.npy`'s, byte for byte.
    let mut py2 = b"\x93NUMPY\x01\x00F\x00{'descr': '|O8', 'fortran_order': False, 'shape': (4,), }            \n".to_vec();
    py2.extend_from_slice(
        b"\x80\x02cnumpy.core._internal\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\
          \x87Rq\x03(K\x01K\x04\x85cnumpy\ndtype\nq\x04U\x02O8K\x00K\x01\x87Rq\x05(K\x03U\x01|NNNJ\
          \xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]q\x06(Nc__builtin__\nxrange\nq\x07X\x06\x00\x00\
          \x00\xe5\x84\xaa\xe8\x89\xafq\x08U\x06\xe4\xb8\x8d\xe8\x89\xafq\tetb.\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py2-np0-objarr.npy");
    std::fs::write(&path, &py2).unwrap();
    let r = scan_at(&path);
    assert_eq!(r.verdict, Verdict::Safe, "{:#?}", r.findings);
    assert!(find(&r, "pickle.trailing_data").message.contains("never"));
}

#[test]
fn evil_pickles_in_every_compression_are_dangerous() {
    for codec in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4", "zfile"] {
        let benign = scan_at(&fixture("compressed", &format!("benign_{codec}.joblib")));
        assert_eq!(
            benign.verdict,
            Verdict::Safe,
            "{codec}: {:?}",
            benign.findings
        );
        let evil = scan_at(&fixture("compressed", &format!("evil_{codec}.joblib")));
        assert_eq!(
            evil.verdict,
            Verdict::Dangerous,
            "{codec}: {:?}",
            evil.findings
        );
        assert!(
            find(&evil, "pickle.global.dangerous")
                .message
                .contains("posix.system")
        );
    }
    for name in ["evil_gzip_in_bz2.pkl.bz2", "evil_zfile_wide.pkl"] {
        assert_eq!(
            scan_at(&fixture("compressed", name)).verdict,
            Verdict::Dangerous
        );
    }
    let r = scan_at(&fixture("compressed", "zfile_bad_length.pkl"));
    assert_eq!(r.verdict, Verdict::Inconclusive);
    find(&r, "compressed.corrupt");
    let r = scan_at(&fixture("compressed", "array_data.npy.z"));
    assert_eq!(r.verdict, Verdict::Safe);
    find(&r, "compressed.array_data");
}

#[test]
fn a_joblib_array_file_out_of_the_folder_is_dangerous() {
    let r = scan_at(&fixture("compressed", "companion_beside.pkl"));
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(
        find(&r, "pickle.joblib_companion")
            .message
            .contains("companion_beside.pkl_01.npy")
    );
    for name in ["companion_parent.pkl", "companion_absolute.pkl"] {
        let r = scan_at(&fixture("compressed", name));
        assert_eq!(r.verdict, Verdict::Dangerous, "{name}");
        assert_eq!(
            find(&r, "pickle.joblib_companion").verdict,
            Verdict::Dangerous
        );
    }
    // a name that is not a plain string cannot be checked
    let bytes = b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\n)\x81}(U\x08filenameK\x07ub.";
    let report = pickle::scan_bytes(bytes, &Location::default(), &pickle::Limits::default());
    assert_eq!(report.verdict, Verdict::Suspicious, "{:?}", report.findings);
}

#[test]
fn scikit_learns_vendored_joblib_has_the_same_array_layout() {
    // `from sklearn.externals import joblib` (scikit-learn <= 0.22) names its own copy;
    // the array bytes after the wrapper are skipped as for joblib, so the pickle is read
    // to its end, and the vendored wrapper is as safe as joblib's own
    let bytes = b"\x80\x02csklearn.externals.joblib.numpy_pickle\nNumpyArrayWrapper\nq\x00)\x81q\x01}q\x02(\
        X\x08\x00\x00\x00subclassq\x03cnumpy\nndarray\nq\x04X\x05\x00\x00\x00shapeq\x05K\x03\x85q\x06\
        X\x05\x00\x00\x00orderq\x07X\x01\x00\x00\x00Cq\x08X\x05\x00\x00\x00dtypeq\tcnumpy\ndtype\nq\n\
        X\x02\x00\x00\x00i8q\x0b\x89\x88\x87q\x0cRq\r(K\x03X\x01\x00\x00\x00<q\x0eNNNJ\xff\xff\xff\xff\
        J\xff\xff\xff\xffK\x00tq\x0fbX\n\x00\x00\x00allow_mmapq\x10\x88X\x1b\x00\x00\x00\
        numpy_array_alignment_bytesq\x11K\x10ub\x05\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\
        \x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00.";
    let report = pickle::scan_bytes(bytes, &Location::default(), &pickle::Limits::default());
    assert_eq!(report.pickles, 1, "{:?}", report.findings);
    assert_eq!(report.trailing_data, None);
    assert_eq!(report.verdict, Verdict::Safe, "{:?}", report.findings);
}

#[test]
fn the_legacy_names_are_exact_entries() {
    for (module, name) in [
        ("numpy.matrixlib.defmatrix", "matrix"),
        ("numpy", "matrix"),
        ("numpy.core._internal", "_reconstruct"),
        ("__builtin__", "xrange"),
        ("__builtin__", "unicode"),
        ("joblib.numpy_pickle", "NDArrayWrapper"),
        ("joblib.numpy_pickle", "ZNDArrayWrapper"),
        ("numpy.random", "__RandomState_ctor"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
        ("numpy.rec", "recarray"),
        ("numpy.core.records", "recarray"),
        ("numpy.ma", "MaskedArray"),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"),
    ] {
        assert_eq!(
            classify(module, name).verdict,
            Verdict::Safe,
            "{module}.{name}"
        );
    }
    // their neighbours are not
    for (module, name) in [
        ("numpy.core._internal", "_ctypes"),
        ("numpy.random", "seed"),
        ("numpy.matrixlib.defmatrix", "asmatrix"),
        ("joblib.numpy_pickle", "load_compatibility"),
        ("numpy.random.bit_generator", "__pyx_unpickle_Other"),
        ("__builtin__", "reduce"),
    ] {
        assert_ne!(
            classify(module, name).verdict,
            Verdict::Safe,
            "{module}.{name}"
        );
    }
    assert_eq!(
        classify("__builtin__", "execfile").verdict,
        Verdict::Dangerous
    );
}
