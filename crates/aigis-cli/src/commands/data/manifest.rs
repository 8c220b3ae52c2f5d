//! `aigis data sign` and `aigis data verify`: signed dataset manifests, and the helpers
//! `data ingest` and the demo share (reading a signed manifest, recording one).

use std::path::{Path, PathBuf};

use aigis_core::{Digest, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_crypto::note;
use aigis_data::manifest::{self, Manifest, Options};
use aigis_evidence::{DataManifest, Predicate as _};
use aigis_ledger::{Project, Query};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, DataSignArgs, DataVerifyArgs};
use crate::commands::ExitStatus;
use crate::{context, output};

/// A signed manifest of a million files is still well under this.
const MAX_MANIFEST: u64 = 1 << 30;

/// `data/` -> `data.aigis-manifest.json`, `a.csv` -> `a.csv.aigis-manifest.json`, beside it.
pub(crate) fn default_manifest_path(path: &Path) -> Result<PathBuf> {
    let full = path
        .canonicalize()
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let name = full.file_name().with_context(|| {
        format!(
            "`{}` has no name to put the manifest beside",
            full.display()
        )
    })?;
    let mut out = full.clone();
    out.set_file_name(format!("{}.aigis-manifest.json", name.to_string_lossy()));
    Ok(out)
}

pub(crate) fn hash(cli: &Cli, path: &Path, opts: &Options) -> Result<Manifest> {
    let bar = output::byte_progress(cli, output::bytes_under(path), "hashing");
    let m = manifest::build(path, opts, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(m)
}

pub(crate) fn sign(cli: &Cli, args: &DataSignArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => default_manifest_path(&args.path)?,
    };
    let opts = Options {
        chunk_size: args.chunk_size,
        exclude: vec![out.clone(), project.layout().state_dir()],
    };
    let m = hash(cli, &args.path, &opts)?;
    let index = record(&project.open_ledger()?, &key, &m, &out)?;
    if cli.json {
        return output::json(&json!({
            "manifest": out, "index": index, "root": m.root,
            "files": m.files.len(), "bytes": m.total_bytes(), "chunk_size": m.chunk_size,
        }));
    }
    outln!("{}", out.display());
    output::note(
        cli,
        &format!(
            "signed {} file(s), {} bytes, root {}; evidence #{index} in the ledger",
            m.files.len(),
            m.total_bytes(),
            m.root
        ),
    );
    Ok(())
}

/// Signs a manifest, writes the signed envelope to `out` and appends it to the ledger;
/// returns its index. Shared with `aigis demo`.
pub fn record(
    ledger: &aigis_ledger::Ledger,
    key: &aigis_crypto::SigningKey,
    m: &Manifest,
    out: &Path,
) -> Result<u64> {
    let envelope = signed_envelope(key, m)?;
    context::write_output(out, &envelope)?;
    Ok(ledger.append_evidence(envelope)?)
}

/// A manifest signed as an in-toto statement (every file a subject) in a DSSE envelope.
pub fn signed_envelope(key: &aigis_crypto::SigningKey, m: &Manifest) -> Result<Vec<u8>> {
    let subjects = m
        .files
        .iter()
        .map(|f| Ok((f.path.clone(), f.sha256.parse::<Digest>()?)))
        .collect::<Result<Vec<_>>>()?;
    if subjects.is_empty() {
        anyhow::bail!("there are no files to sign");
    }
    let predicate: DataManifest = context::convert(m, "dataset manifest")?;
    let statement = predicate.statement(subjects)?;
    Ok(Envelope::sign(aigis_core::PAYLOAD_TYPE, statement.to_json(), key).to_json())
}

pub(crate) fn verify(cli: &Cli, args: &DataVerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let manifest_path = match &args.manifest {
        Some(m) => m.clone(),
        None => default_manifest_path(&args.path)?,
    };
    let keys = if args.keys.is_empty() {
        project.keyring()?.public_keys()
    } else {
        args.keys
            .iter()
            .map(|k| Ok(note::public_key_of(k)?.1))
            .collect::<Result<Vec<_>>>()?
    };
    let SignedManifest {
        bytes,
        statement,
        manifest: expected,
        signed_by,
    } = open_signed_manifest(&manifest_path, &keys)?;

    let ledger = ledger_place(&project, &bytes, &statement, &args.keys)?;

    let opts = Options {
        chunk_size: expected.chunk_size,
        exclude: vec![manifest_path.clone(), project.layout().state_dir()],
    };
    let actual = hash(cli, &args.path, &opts)?;
    let changes = manifest::compare(&expected, &actual);
    let ok = changes.is_empty() && ledger.is_some();

    if cli.json {
        output::json(&json!({
            "ok": ok,
            "path": args.path,
            "manifest": manifest_path,
            "root": expected.root,
            "files": expected.files.len(),
            "bytes": expected.total_bytes(),
            "signature": {"verified": true, "key_id": signed_by},
            "ledger": ledger.as_ref().map(|l| json!({"index": l.index, "checkpoint_size": l.checkpoint_size})),
            "changes": changes,
        }))?;
    } else {
        match &ledger {
            Some(l) => outln!(
                "ledger:    evidence #{}{}",
                l.index,
                l.checkpoint_size
                    .map_or(" (no signed checkpoint covers it yet)".into(), |n| format!(
                        ", proven in the signed checkpoint of {n} entries"
                    ))
            ),
            None => {
                outln!("ledger:    NOT FOUND: this signed manifest is not in the project's ledger")
            }
        }
        outln!("signature: ok, key {signed_by}");
        if changes.is_empty() {
            outln!(
                "ok: `{}` matches its manifest ({} files, {} bytes, root {})",
                args.path.display(),
                expected.files.len(),
                expected.total_bytes(),
                expected.root
            );
        } else {
            outln!(
                "FAILED: `{}` differs from its signed manifest:",
                args.path.display()
            );
            for c in &changes {
                outln!("  {c}");
            }
        }
    }
    Ok(ExitStatus::passed(ok))
}

/// A signed manifest whose signature verified.
pub(crate) struct SignedManifest {
    /// The envelope's exact bytes.
    pub bytes: Vec<u8>,
    pub statement: Statement,
    pub manifest: Manifest,
    /// The key id that signed it.
    pub signed_by: String,
}

/// Reads a signed manifest and checks its signature against `keys` (a failed check is
/// exit 1; a file that is not a signed manifest, exit 2).
pub(crate) fn open_signed_manifest(
    path: &Path,
    keys: &[aigis_crypto::PublicKey],
) -> Result<SignedManifest> {
    let bytes = context::read_input(path, "signed manifest", MAX_MANIFEST)?;
    let envelope = Envelope::from_json(&bytes)
        .with_context(|| format!("`{}` is not a signed manifest", path.display()))?;
    let signed_by = envelope
        .verify(keys)
        .map_err(|e| crate::failed(format!("`{}`: {e}", path.display())))?;
    let statement = Statement::from_json(&envelope.payload)
        .with_context(|| format!("`{}` does not carry an in-toto statement", path.display()))?;
    if statement.predicate_type != DataManifest::TYPE {
        anyhow::bail!(
            "`{}` is evidence of `{}`, not a data manifest",
            path.display(),
            statement.predicate_type
        );
    }
    // The evidence type first (the shape every reader shares), then the data crate's own
    // checks of the manifest (sorted paths, chunk counts, the root).
    let typed = DataManifest::from_statement(&statement)
        .with_context(|| format!("in `{}`", path.display()))?;
    let manifest: Manifest = manifest::parse(&serde_json::to_vec(&typed)?)
        .with_context(|| format!("in `{}`", path.display()))?;
    Ok(SignedManifest {
        bytes,
        statement,
        manifest,
        signed_by,
    })
}

struct LedgerPlace {
    index: u64,
    checkpoint_size: Option<u64>,
}

/// Finds this exact signed manifest in the ledger and, when a signed checkpoint covers
/// it, checks its inclusion proof against that checkpoint's signature.
fn ledger_place(
    project: &Project,
    envelope: &[u8],
    statement: &Statement,
    pinned: &[String],
) -> Result<Option<LedgerPlace>> {
    let ledger = project.open_ledger()?;
    let query = Query {
        subject: statement.subject_digests().next(),
        predicate_type: Some(DataManifest::TYPE.into()),
        ..Query::default()
    };
    let Some(entry) = ledger
        .store()
        .query(&query)?
        .into_iter()
        .find(|e| e.body == envelope)
    else {
        return Ok(None);
    };
    let covering = ledger
        .store()
        .checkpoints()?
        .into_iter()
        .filter(|c| c.tree_size > entry.index)
        .max_by_key(|c| (c.tree_size, c.id));
    let Some(cp) = covering else {
        return Ok(Some(LedgerPlace {
            index: entry.index,
            checkpoint_size: None,
        }));
    };
    let vkeys: Vec<String> = if pinned.is_empty() {
        project
            .keyring()?
            .keys
            .iter()
            .map(|k| k.verifier_key.clone())
            .collect()
    } else {
        pinned.to_vec()
    };
    let verifiers = vkeys
        .iter()
        .filter_map(|k| note::parse_verifier_key(k).ok())
        .collect();
    ledger
        .prove_inclusion(entry.index, &cp)?
        .verify(envelope, verifiers, None)
        .map_err(|e| crate::failed(format!("ledger entry {}: {e}", entry.index)))?;
    Ok(Some(LedgerPlace {
        index: entry.index,
        checkpoint_size: Some(cp.tree_size),
    }))
}
