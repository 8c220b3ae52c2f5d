//! Every fixture of `tests/data/models/` (made by `scripts/make_model_corpus.py`) through
//! the pickle scanner: benign files from the real libraries are safe, each malicious or
//! broken one gets the verdict and the evidence (rule, named global, offset) it should.

use std::fs::File;
use std::path::PathBuf;

use aigis_model::pickle::{self, Limits, PickleReport};
use aigis_model::{Location, Verdict};

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

#[test]
fn dump() {
    for e in std::fs::read_dir(dir()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let r = scan(&name);
        eprintln!(
            "{name}: {} ({} ops, {} pickles)",
            r.verdict, r.ops, r.pickles
        );
        for ev in &r.evidence {
            eprintln!(
                "   {} {} @{:?}: {}",
                ev.verdict, ev.rule, ev.location.offset, ev.message
            );
        }
    }
}
