//! Signed dataset manifests on a project: where one goes by default, signing one as
//! in-toto evidence and recording it, reading one back with its signature checked, and
//! finding it in the ledger with its inclusion proof.

use std::path::{Path, PathBuf};

use aigis_core::{Digest, Progress, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_crypto::{PublicKey, SigningKey};
use aigis_data::manifest::{self, Manifest};
use aigis_evidence::{DataManifest, Predicate as _};
use aigis_ledger::{Ledger, Project, Query};

use crate::Error;

/// A signed manifest of a million files is still well under this.
pub const MAX_MANIFEST: u64 = 1 << 30;

/// Where a manifest goes beside the data: `data/` -> `data.aigis-manifest.json`,
/// `a.csv` -> `a.csv.aigis-manifest.json`.
pub fn default_path(path: &Path) -> Result<PathBuf, Error> {
    let full = path.canonicalize().map_err(|e| Error::io(path, e))?;
    let name = full
        .file_name()
        .ok_or_else(|| Error::NoName(full.clone()))?;
    let mut out = full.clone();
    out.set_file_name(format!("{}.aigis-manifest.json", name.to_string_lossy()));
    Ok(out)
}

/// Hashes `path` (a file or a folder) into a manifest as `opts` say, reporting bytes to
/// `progress`.
pub fn hash(
    path: &Path,
    opts: &manifest::Options,
    progress: &(dyn Progress + Sync),
) -> Result<Manifest, Error> {
    progress.begin("hashing", aigis_core::walk::bytes_under(path), true);
    let m = manifest::build(path, opts, &|n| progress.advance(n));
    progress.end();
    Ok(m?)
}

/// A manifest signed as an in-toto statement (every file a subject) in a DSSE envelope.
pub fn signed_envelope(key: &SigningKey, m: &Manifest) -> Result<Vec<u8>, Error> {
    let subjects = m
        .files
        .iter()
        .map(|f| Ok((f.path.clone(), f.sha256.parse::<Digest>()?)))
        .collect::<Result<Vec<_>, Error>>()?;
    if subjects.is_empty() {
        return Err(Error::NothingToSign);
    }
    let predicate: DataManifest = crate::convert(m, "dataset manifest")?;
    let statement = predicate.statement(subjects)?;
    Ok(Envelope::sign(aigis_core::PAYLOAD_TYPE, statement.to_json(), key).to_json())
}

/// Signs `m`, writes the signed envelope to `out` (atomically) and appends it to the
/// ledger; returns its index.
pub fn sign_and_record(
    ledger: &Ledger,
    key: &SigningKey,
    m: &Manifest,
    out: &Path,
) -> Result<u64, Error> {
    let envelope = signed_envelope(key, m)?;
    aigis_crypto::fs::write_atomic(out, &envelope, 0o644)?;
    Ok(ledger.append_evidence(envelope, key)?)
}

/// A signed manifest whose signature verified.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    /// The envelope's exact bytes.
    pub bytes: Vec<u8>,
    pub statement: Statement,
    pub manifest: Manifest,
    /// The key id that signed it.
    pub signed_by: String,
}

/// Reads the signed manifest at `path` and checks its signature against `keys`. A
/// signature that does not verify is a failed check ([`Error::BadSignature`]); a file
/// that is not a signed data manifest is an error.
pub fn open_signed(path: &Path, keys: &[PublicKey]) -> Result<SignedManifest, Error> {
    let bytes = crate::read_bounded(path, "signed manifest", MAX_MANIFEST)?;
    let envelope = Envelope::from_json(&bytes).map_err(|source| Error::NotSignedManifest {
        path: path.to_owned(),
        source,
    })?;
    let signed_by = envelope
        .verify(keys)
        .map_err(|source| Error::BadSignature {
            path: path.to_owned(),
            source,
        })?;
    let statement =
        Statement::from_json(&envelope.payload).map_err(|source| Error::NotStatement {
            path: path.to_owned(),
            source,
        })?;
    if statement.predicate_type != DataManifest::TYPE {
        return Err(Error::NotManifest {
            path: path.to_owned(),
            predicate_type: statement.predicate_type.clone(),
        });
    }
    // The evidence type first (the shape every reader shares), then the data crate's own
    // checks of the manifest (sorted paths, chunk counts, the root).
    let in_file = |e: Error| Error::BadManifest {
        path: path.to_owned(),
        source: Box::new(e),
    };
    let typed = DataManifest::from_statement(&statement).map_err(|e| in_file(e.into()))?;
    let json = serde_json::to_vec(&typed)
        .map_err(|e| in_file(aigis_data::Error::Manifest(e.to_string()).into()))?;
    let manifest = manifest::parse(&json).map_err(|e| in_file(e.into()))?;
    Ok(SignedManifest {
        bytes,
        statement,
        manifest,
        signed_by,
    })
}

/// Where a signed manifest is in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerPlace {
    pub index: u64,
    /// The size of the signed checkpoint whose inclusion proof was checked, when one
    /// covers the entry yet.
    pub checkpoint_size: Option<u64>,
}

/// Finds this exact signed manifest in the project's ledger and, when a signed
/// checkpoint covers it, checks its inclusion proof against that checkpoint's signature
/// by `verifier_keys` (C2SP verifier keys; the project's keyring when empty). `None`
/// when the ledger does not hold it; a proof that fails is [`Error::Inclusion`].
pub fn find_in_ledger(
    project: &Project,
    signed: &SignedManifest,
    verifier_keys: &[String],
) -> Result<Option<LedgerPlace>, Error> {
    let ledger = project.open_ledger()?;
    let query = Query {
        subject: signed.statement.subject_digests().next(),
        predicate_type: Some(DataManifest::TYPE.into()),
        ..Query::default()
    };
    let Some(entry) = ledger
        .store()
        .query(&query)?
        .into_iter()
        .find(|e| e.body == signed.bytes)
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
    let keys: Vec<String> = if verifier_keys.is_empty() {
        project
            .keyring()?
            .keys
            .iter()
            .map(|k| k.verifier_key.clone())
            .collect()
    } else {
        verifier_keys.to_vec()
    };
    let verifiers = keys
        .iter()
        .filter_map(|k| aigis_crypto::note::parse_verifier_key(k).ok())
        .collect();
    ledger
        .prove_inclusion(entry.index, &cp)?
        .verify(&signed.bytes, verifiers, None)
        .map_err(|source| Error::Inclusion {
            index: entry.index,
            source,
        })?;
    Ok(Some(LedgerPlace {
        index: entry.index,
        checkpoint_size: Some(cp.tree_size),
    }))
}
