//! Every fixture of `tests/data/models/` (made by `scripts/make_model_corpus.py`) through
//! the pickle scanner: benign files from the real libraries are safe, each malicious or
//! broken one gets the verdict and the evidence (rule, named global, offset) it should.

use std::fs::File;
use std::path::PathBuf;

use aigis_scan::internal::pickle::{self, Limits, PickleReport};
use aigis_scan::{Location, Verdict};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/models")
}

fn scan(name: &str) -> PickleReport {
    let file = File::open(dir().join(name)).unwrap();
    let loc = Location {
        member: Some(name.to_owned()),
        offset: None,
    };
    pickle::scan(file, &loc, &Limits::default()).unwrap()
}

const DANGER: &str = "pickle.global.dangerous";

/// Finding that must be there: rule, a piece of the message, offset.
type Expect = (&'static str, &'static str, u64);

/// (file, verdict, evidence).
const EXPECTED: &[(&str, Verdict, &[Expect])] = &[
    (
        "mal_os_system_p0.pkl",
        Verdict::Dangerous,
        &[(
            DANGER,
            "`posix.system` called via REDUCE with (\"echo aigis-test\",)",
            42,
        )],
    ),
    (
        "mal_os_system_p2.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`posix.system` called via REDUCE", 43)],
    ),
    (
        "mal_stack_global_memo_p4.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`os.system` called via REDUCE", 41)],
    ),
    (
        "mal_getattr_chain.pkl",
        Verdict::Dangerous,
        &[
            (
                DANGER,
                "`importlib.import_module` called via REDUCE with (\"os\",)",
                50,
            ),
            (
                DANGER,
                "`builtins.getattr` called via REDUCE with (<module `os`>, \"system\")",
                60,
            ),
            (DANGER, "`os.system` called via REDUCE", 79),
        ],
    ),
    (
        "mal_importlib.pkl",
        Verdict::Dangerous,
        &[(
            DANGER,
            "`importlib.import_module` called via REDUCE with (\"os\",)",
            41,
        )],
    ),
    (
        "mal_inst.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`os.system` called via INST", 20)],
    ),
    (
        "mal_obj.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`os.system` called via OBJ", 31)],
    ),
    (
        "mal_popen_newobj.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`subprocess.Popen` called via NEWOBJ", 38)],
    ),
    (
        "mal_torch_collect_env.pkl",
        Verdict::Dangerous,
        &[(
            DANGER,
            "`torch.utils.collect_env.run` called via REDUCE",
            49,
        )],
    ),
    (
        "mal_pandas_read_csv.pkl",
        Verdict::Dangerous,
        &[(
            DANGER,
            "`pandas.read_csv` called via REDUCE with (\"https://example.invalid/x.csv\",)",
            51,
        )],
    ),
    (
        "mal_nested_loads.pkl",
        Verdict::Dangerous,
        &[
            (DANGER, "`_pickle.loads` called via REDUCE", 73),
            (
                DANGER,
                "in the pickle passed to `_pickle.loads`: `posix.system` called via REDUCE",
                73,
            ),
        ],
    ),
    (
        "mal_ext_unregistered.pkl",
        Verdict::Suspicious,
        &[
            ("pickle.ext.unknown", "extension code 42", 2),
            (
                "pickle.call.unresolved",
                "REDUCE calls something that is not an imported global",
                22,
            ),
        ],
    ),
    (
        "mal_second_pickle.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`posix.system` called via REDUCE", 60)],
    ),
    (
        "mal_spaced_module.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`os .system` called via REDUCE", 33)],
    ),
    (
        "mal_escaped_stack_global.pkl",
        Verdict::Dangerous,
        &[(DANGER, "`os.system` called via REDUCE", 41)],
    ),
    (
        "bad_truncated.pkl",
        Verdict::Dangerous,
        &[
            (DANGER, "`posix.system` imported by GLOBAL", 2),
            ("pickle.truncated", "truncated", 38),
        ],
    ),
    (
        "bad_trailing_garbage.pkl",
        Verdict::Inconclusive,
        &[("pickle.trailing_data", "9 bytes after the last pickle", 14)],
    ),
    (
        "bad_binbytes8_huge.pkl",
        Verdict::Inconclusive,
        &[("pickle.truncated", "truncated", 2)],
    ),
    (
        "bad_deep_marks.pkl",
        Verdict::Inconclusive,
        &[("pickle.limit", "tuples nested deeper than 64", 5067)],
    ),
    (
        "bad_memo_unset.pkl",
        Verdict::Inconclusive,
        &[("pickle.malformed", "memo key 7 is read before it is set", 2)],
    ),
];

#[test]
fn every_fixture_gets_its_verdict_and_evidence() {
    let mut seen = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            continue;
        }
        seen += 1;
        let r = scan(&name);
        if name.starts_with("benign_") {
            assert_eq!(r.verdict, Verdict::Safe, "{name}: {:#?}", r.findings);
            assert!(r.findings.is_empty(), "{name}");
            assert!(!r.imports.is_empty(), "{name}: safe imports are listed");
            assert!(
                r.imports.iter().all(|i| i.verdict == Verdict::Safe),
                "{name}"
            );
            assert_eq!(r.pickles, 1, "{name}");
            assert_eq!(r.trailing_data, None, "{name}");
            continue;
        }
        let Some((_, verdict, evidence)) = EXPECTED.iter().find(|(f, _, _)| *f == name) else {
            panic!("{name}: a fixture without an expectation");
        };
        assert_eq!(r.verdict, *verdict, "{name}: {:#?}", r.findings);
        for (rule, msg, offset) in evidence.iter() {
            assert!(
                r.findings.iter().any(|e| e.rule == *rule
                    && e.message.contains(msg)
                    && e.location.offset == Some(*offset)
                    && e.location.member.as_deref() == Some(name.as_str())),
                "{name}: no {rule} `{msg}` at {offset} in {:#?}",
                r.findings
            );
        }
    }
    assert_eq!(seen, EXPECTED.len() + 8, "every fixture is checked");
}

#[test]
fn benign_imports_are_the_expected_library_helpers() {
    let r = scan("benign_numpy_p2.pkl");
    let names: Vec<String> = r
        .imports
        .iter()
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    assert!(
        names.contains(&"numpy.core.multiarray._reconstruct".to_owned())
            || names.contains(&"numpy._core.multiarray._reconstruct".to_owned()),
        "{names:?}"
    );
    let r = scan("benign_sklearn_logreg.joblib");
    assert!(
        r.imports
            .iter()
            .any(|i| i.module == "joblib.numpy_pickle" && i.name == "NumpyArrayWrapper")
    );
    assert!(
        r.imports
            .iter()
            .any(|i| i.module.starts_with("sklearn.linear_model"))
    );
}

#[test]
fn a_tensor_layout_after_the_pickles_can_be_allowed() {
    let file = File::open(dir().join("bad_trailing_garbage.pkl")).unwrap();
    let limits = Limits {
        allow_trailing_data: true,
        ..Limits::default()
    };
    let r = pickle::scan(file, &Location::default(), &limits).unwrap();
    assert_eq!(r.verdict, Verdict::Safe);
    assert_eq!(r.trailing_data, Some((14, 9)));
}

#[test]
fn scanning_starts_at_the_readers_position_and_offsets_add_the_location() {
    use std::io::{Cursor, Seek, SeekFrom};
    let mut bytes = b"HEADER".to_vec();
    bytes.extend(std::fs::read(dir().join("mal_obj.pkl")).unwrap());
    let mut cur = Cursor::new(bytes);
    cur.seek(SeekFrom::Start(6)).unwrap();
    let loc = Location {
        member: Some("a/data.pkl".to_owned()),
        offset: Some(6),
    };
    let r = pickle::scan(cur, &loc, &Limits::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.findings[0].location.offset, Some(37));
    assert_eq!(r.findings[0].location.member.as_deref(), Some("a/data.pkl"));
}
