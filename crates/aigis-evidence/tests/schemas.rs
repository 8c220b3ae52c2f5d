//! The committed JSON Schemas under `docs/evidence/` are the ones the types generate.
//! After changing a predicate type, regenerate them with
//! `AIGIS_UPDATE_SCHEMAS=1 cargo test -p aigis-evidence --test schemas`
//! (or `cargo run -p aigis-evidence --example write_schemas`) and commit the result.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/evidence")
}

#[test]
fn committed_schemas_match_the_types() {
    let dir = dir();
    let update = std::env::var_os("AIGIS_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut expected = BTreeSet::new();
    let mut stale = Vec::new();
    for s in aigis_evidence::schemas() {
        let file = format!("{}.schema.json", s.name);
        let path = dir.join(&file);
        let text = aigis_evidence::schema_text(&s);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.clone());
        }
        expected.insert(file);
    }
    // A schema file no type generates any more is stale too.
    let committed: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    let orphans: Vec<&String> = committed.difference(&expected).collect();
    assert!(
        stale.is_empty() && orphans.is_empty(),
        "docs/evidence is out of date: differs {stale:?}, no longer generated {orphans:?}; \
         regenerate with `AIGIS_UPDATE_SCHEMAS=1 cargo test -p aigis-evidence --test schemas`"
    );
}
