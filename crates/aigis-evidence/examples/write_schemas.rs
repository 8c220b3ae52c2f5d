//! Writes the JSON Schema of every predicate to `docs/evidence/<name>.schema.json`
//! (or to the folder given as the first argument):
//! `cargo run -p aigis-evidence --example write_schemas`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/evidence"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    for s in aigis_evidence::schemas() {
        let path = dir.join(format!("{}.schema.json", s.name));
        std::fs::write(&path, aigis_evidence::schema_text(&s))?;
        println!("{}", path.display());
    }
    Ok(())
}
