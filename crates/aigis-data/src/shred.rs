//! Erasure by crypto-shredding: personal data encrypted per data subject, each subject
//! with a key of its own, so that destroying one key makes that subject's data unreadable
//! wherever copies of the table went, while the ledger (which holds digests, never data)
//! still verifies.
//!
//! - A subject is named by a keyed hash of its id (HMAC-SHA256 under the store's own id
//!   key, kept inside the encrypted store and never rotated, so the same id always finds
//!   the same subject): the key store and the protected table never hold the id itself.
//! - Each protected cell is `aigis-shred:v1:<subject>:<base64url(nonce ‖ ciphertext)>`,
//!   XChaCha20-Poly1305 under the subject's key, the column's name and the subject bound
//!   in as associated data (a cell moved to another column or row does not open).
//! - The subject keys live in `.aigis/subjects.store`, encrypted under a store key
//!   (`.aigis/keys/subjects.key`, sealed with AIGIS_KEY_PASSPHRASE when set, as the
//!   project's other keys). Erasing a subject removes its key and re-encrypts the store
//!   under a fresh store key, so an old copy of the store no longer opens with the key in
//!   force. What a filesystem keeps of deleted blocks is outside what software can erase:
//!   keep `.aigis/` on encrypted storage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;
use crate::mask::MaskKey;

const STORE_FORMAT: &str = "aigis-subject-keys/v1";
const CELL_PREFIX: &str = "aigis-shred:v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A subject's name in the store and the cells: 32 hex digits of HMAC-SHA256 of its id
/// under `id_key`.
fn subject_hash(id_key: &[u8; 32], id: &str) -> String {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(id_key.as_slice())
        .unwrap_or_else(|_| unreachable_hmac());
    m.update(b"aigis-subject/v1\0");
    m.update(id.as_bytes());
    let out = m.finalize().into_bytes();
    hex::encode(out.get(..16).unwrap_or_default())
}

/// What the store encrypts: the id key and each subject's key (base64url).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    id_key: String,
    subjects: BTreeMap<String, String>,
}

/// HMAC takes a key of any length: this cannot happen.
#[expect(clippy::panic, reason = "HMAC accepts every key length")]
fn unreachable_hmac() -> Hmac<sha2::Sha256> {
    panic!("HMAC refused a 32-byte key")
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Shred {
        path: path.to_owned(),
        message: message.into(),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    format: String,
    /// The id of the store key it is encrypted under.
    store_key: String,
    nonce: String,
    ciphertext: String,
}

/// The subject keys.
pub struct Store {
    path: PathBuf,
    key_path: PathBuf,
    key: MaskKey,
    /// The key subjects' ids are hashed under.
    id_key: Zeroizing<[u8; 32]>,
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
    /// A subject was erased: the store is written under a fresh store key.
    rotate: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("subjects", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The store at `path` with its key at `key_path`, created empty (with a new key)
    /// when neither exists.
    pub fn open(path: &Path, key_path: &Path, passphrase: Option<&str>) -> Result<Self, Error> {
        let pending = key_path.with_extension("key.new");
        if !path.exists() {
            if key_path.exists() {
                return Err(bad(
                    path,
                    "is missing while its key exists: the subject keys were removed",
                ));
            }
            let key = MaskKey::generate()?;
            let mut id_key = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(id_key.as_mut_slice());
            return Ok(Store {
                path: path.to_owned(),
                key_path: key_path.to_owned(),
                key,
                id_key,
                keys: BTreeMap::new(),
                rotate: true,
            });
        }
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        let file: StoreFile = serde_json::from_slice(&bytes)
            .map_err(|e| bad(path, format!("is not a subject key store: {e}")))?;
        if file.format != STORE_FORMAT {
            return Err(bad(
                path,
                format!("is `{}`, not `{STORE_FORMAT}`", file.format),
            ));
        }
        let mut key = MaskKey::load(key_path, passphrase)?;
        if key.key_id() != file.store_key {
            // An erasure stopped between writing the store under the new key and putting
            // the new key in place: finish it.
            if pending.exists() {
                let new = MaskKey::load(&pending, passphrase)?;
                if new.key_id() == file.store_key {
                    std::fs::rename(&pending, key_path).map_err(|e| Error::Io {
                        path: key_path.to_owned(),
                        source: e,
                    })?;
                    key = new;
                }
            }
            if key.key_id() != file.store_key {
                return Err(bad(
                    path,
                    "is encrypted under another store key than `subjects.key`",
                ));
            }
        }
        let cipher = XChaCha20Poly1305::new_from_slice(key.to_bytes().as_slice())
            .map_err(|_| bad(path, "bad store key length"))?;
        let nonce = B64
            .decode(&file.nonce)
            .map_err(|_| bad(path, "`nonce` is not base64"))?;
        let ct = B64
            .decode(&file.ciphertext)
            .map_err(|_| bad(path, "`ciphertext` is not base64"))?;
        if nonce.len() != 24 {
            return Err(bad(path, "`nonce` is not 24 bytes"));
        }
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ct,
                        aad: aad(&file.store_key).as_bytes(),
                    },
                )
                .map_err(|_| bad(path, "does not decrypt under its key (it was modified)"))?,
        );
        let contents: Contents = serde_json::from_slice(&plain)
            .map_err(|e| bad(path, format!("holds no subject keys: {e}")))?;
        let id_key: [u8; 32] = B64
            .decode(contents.id_key.as_bytes())
            .ok()
            .and_then(|k| k.as_slice().try_into().ok())
            .ok_or_else(|| bad(path, "its id key is not 32 bytes of base64"))?;
        let id_key = Zeroizing::new(id_key);
        let mut keys = BTreeMap::new();
        for (subject, b64) in contents.subjects {
            let raw = Zeroizing::new(
                B64.decode(b64.as_bytes())
                    .map_err(|_| bad(path, "a subject key is not base64"))?,
            );
            let k: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| bad(path, "a subject key is not 32 bytes"))?;
            keys.insert(subject, Zeroizing::new(k));
        }
        Ok(Store {
            path: path.to_owned(),
            key_path: key_path.to_owned(),
            key,
            id_key,
            keys,
            rotate: false,
        })
    }

    /// The subject named by `id`: 32 hex digits of a keyed hash (the store never holds
    /// the id).
    pub fn subject(&self, id: &str) -> String {
        subject_hash(&self.id_key, id)
    }

    /// How many subjects have keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No subject.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `subject` has a key.
    pub fn has(&self, subject: &str) -> bool {
        self.keys.contains_key(subject)
    }

    /// The subject's key, made if it has none.
    fn key_for(&mut self, subject: &str) -> [u8; 32] {
        **self.keys.entry(subject.to_owned()).or_insert_with(|| {
            let mut k = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(k.as_mut_slice());
            k
        })
    }

    /// Destroys the subject's key; `false` when it had none. The store is written under a
    /// fresh store key at [`Store::save`].
    pub fn erase(&mut self, subject: &str) -> bool {
        let had = self.keys.remove(subject).is_some();
        self.rotate |= had;
        had
    }

    /// Writes the store (under a fresh store key after an erasure, the new key put in
    /// place last, so a crash at any point leaves a store that opens).
    pub fn save(&mut self, passphrase: Option<&str>) -> Result<(), Error> {
        let pending = self.key_path.with_extension("key.new");
        if self.rotate {
            let new = MaskKey::generate()?;
            new.save(&pending, passphrase)?;
            self.key = new;
        }
        let contents = Contents {
            id_key: B64.encode(self.id_key.as_slice()),
            subjects: self
                .keys
                .iter()
                .map(|(s, k)| (s.clone(), B64.encode(k.as_slice())))
                .collect(),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&contents).map_err(|e| bad(&self.path, e.to_string()))?,
        );
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.to_bytes().as_slice())
            .map_err(|_| bad(&self.path, "bad store key length"))?;
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let id = self.key.key_id();
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: aad(&id).as_bytes(),
                },
            )
            .map_err(|_| bad(&self.path, "encryption failed"))?;
        let file = StoreFile {
            format: STORE_FORMAT.into(),
            store_key: id,
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ct),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| bad(&self.path, e.to_string()))?;
        aigis_crypto::fs::write_atomic(&self.path, &json, 0o600)?;
        if self.rotate {
            std::fs::rename(&pending, &self.key_path).map_err(|e| Error::Io {
                path: self.key_path.clone(),
                source: e,
            })?;
            self.rotate = false;
        }
        Ok(())
    }
}

fn aad(store_key: &str) -> String {
    format!("{STORE_FORMAT}\n{store_key}\n")
}

fn cell_aad(subject: &str, column: &str) -> Vec<u8> {
    let mut a = b"aigis-shred/v1\0".to_vec();
    a.extend_from_slice(subject.as_bytes());
    a.push(0);
    a.extend_from_slice(column.as_bytes());
    a
}

/// `value` of `column`, encrypted under `subject`'s key.
fn seal(store: &mut Store, subject: &str, column: &str, value: &str) -> Result<String, Error> {
    let key = Zeroizing::new(store.key_for(subject));
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| bad(&store.path, "bad subject key length"))?;
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: value.as_bytes(),
                aad: &cell_aad(subject, column),
            },
        )
        .map_err(|_| bad(&store.path, "encryption failed"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    Ok(format!("{CELL_PREFIX}{subject}:{}", B64.encode(blob)))
}

/// What a protected cell says, for [`reveal_csv`].
enum Opened {
    Clear(String),
    Erased,
}

fn open_cell(store: &Store, column: &str, cell: &str) -> Result<Option<Opened>, String> {
    let Some(rest) = cell.strip_prefix(CELL_PREFIX) else {
        return Ok(None);
    };
    let (subject, b64) = rest
        .split_once(':')
        .ok_or_else(|| "a protected cell without its subject".to_owned())?;
    let Some(key) = store.keys.get(subject) else {
        return Ok(Some(Opened::Erased));
    };
    let blob = B64
        .decode(b64.as_bytes())
        .map_err(|_| "a protected cell that is not base64".to_owned())?;
    let (nonce, ct) = blob
        .split_at_checked(24)
        .ok_or_else(|| "a protected cell too short".to_owned())?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| "bad subject key length".to_owned())?;
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &cell_aad(subject, column),
            },
        )
        .map_err(|_| {
            "a protected cell does not open under its subject's key (modified, or moved from another column)".to_owned()
        })?;
    String::from_utf8(plain)
        .map(|s| Some(Opened::Clear(s)))
        .map_err(|_| "a protected cell is not UTF-8".to_owned())
}

/// What protecting a table did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Protected {
    /// Data rows.
    pub rows: u64,
    /// Distinct subjects.
    pub subjects: u64,
    /// Cells encrypted (the subject column's included).
    pub cells: u64,
}

/// What revealing a table did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Revealed {
    /// Data rows.
    pub rows: u64,
    /// Cells decrypted.
    pub cells: u64,
    /// Cells of erased subjects, left empty.
    pub erased_cells: u64,
    /// Rows with at least one erased cell.
    pub erased_rows: u64,
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    let row = e.position().map(|p| p.line()).unwrap_or(0);
    bad(path, format!("line {row}: {e}"))
}

/// Reads the CSV at `input` and writes it to `output` with the `subject` column and every
/// column of `columns` encrypted per row under that row's subject's key (a row with an
/// empty subject is an error: its data would belong to no one and could never be
/// erased). The output appears only once it is complete.
pub fn protect_csv(
    input: &Path,
    output: &Path,
    subject: &str,
    columns: &[String],
    store: &mut Store,
) -> Result<Protected, Error> {
    let mut reader = csv::Reader::from_path(input).map_err(|e| csv_err(input, e))?;
    let header = reader.headers().map_err(|e| csv_err(input, e))?.clone();
    let index = |name: &str| -> Result<usize, Error> {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(input, format!("has no column `{name}`")))
    };
    let subject_at = index(subject)?;
    let mut at: Vec<usize> = vec![subject_at];
    for c in columns {
        let i = index(c)?;
        if !at.contains(&i) {
            at.push(i);
        }
    }
    let mut report = Protected::default();
    let mut subjects = std::collections::BTreeSet::new();
    aigis_crypto::fs::write_atomic_try(output, 0o600, |file| -> Result<(), Error> {
        let mut w = csv::Writer::from_writer(file);
        w.write_record(&header).map_err(|e| csv_err(output, e))?;
        for rec in reader.records() {
            let rec = rec.map_err(|e| csv_err(input, e))?;
            report.rows += 1;
            let id = rec.get(subject_at).unwrap_or_default();
            if id.trim().is_empty() {
                return Err(bad(
                    input,
                    format!(
                        "row {} has no `{subject}`: its data would belong to no one, and could never be erased",
                        report.rows
                    ),
                ));
            }
            let who = store.subject(id);
            subjects.insert(who.clone());
            let mut out: Vec<String> = rec.iter().map(str::to_owned).collect();
            for &i in &at {
                if let (Some(cell), Some(name)) = (out.get_mut(i), header.get(i)) {
                    *cell = seal(store, &who, name, cell)?;
                    report.cells += 1;
                }
            }
            w.write_record(&out).map_err(|e| csv_err(output, e))?;
        }
        w.flush().map_err(|e| Error::Io {
            path: output.to_owned(),
            source: e,
        })?;
        Ok(())
    })?;
    report.subjects = subjects.len() as u64;
    Ok(report)
}

/// Reads a protected CSV and writes its cells decrypted; an erased subject's cells are
/// left empty (and counted). A cell that does not open is an error naming its row.
pub fn reveal_csv(input: &Path, output: &Path, store: &Store) -> Result<Revealed, Error> {
    let mut reader = csv::Reader::from_path(input).map_err(|e| csv_err(input, e))?;
    let header = reader.headers().map_err(|e| csv_err(input, e))?.clone();
    let mut report = Revealed::default();
    aigis_crypto::fs::write_atomic_try(output, 0o600, |file| -> Result<(), Error> {
        let mut w = csv::Writer::from_writer(file);
        w.write_record(&header).map_err(|e| csv_err(output, e))?;
        for rec in reader.records() {
            let rec = rec.map_err(|e| csv_err(input, e))?;
            report.rows += 1;
            let mut erased = false;
            let mut out = Vec::with_capacity(rec.len());
            for (cell, name) in rec.iter().zip(header.iter()) {
                match open_cell(store, name, cell)
                    .map_err(|m| bad(input, format!("row {}, column `{name}`: {m}", report.rows)))?
                {
                    None => out.push(cell.to_owned()),
                    Some(Opened::Clear(v)) => {
                        report.cells += 1;
                        out.push(v);
                    }
                    Some(Opened::Erased) => {
                        report.erased_cells += 1;
                        erased = true;
                        out.push(String::new());
                    }
                }
            }
            report.erased_rows += u64::from(erased);
            w.write_record(&out).map_err(|e| csv_err(output, e))?;
        }
        w.flush().map_err(|e| Error::Io {
            path: output.to_owned(),
            source: e,
        })?;
        Ok(())
    })?;
    Ok(report)
}

/// The header of the CSV at `path`, and those of `columns` that hold a cell in the clear:
/// not empty, not protected (`aigis data protect`) and not a token (`aigis data mask`).
pub fn columns_in_clear(
    path: &Path,
    columns: &[String],
) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_err(path, e))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_err(path, e))?
        .iter()
        .map(str::to_owned)
        .collect();
    let at: Vec<(usize, &String)> = columns
        .iter()
        .filter_map(|c| header.iter().position(|h| h == c).map(|i| (i, c)))
        .collect();
    let mut clear = std::collections::BTreeSet::new();
    if !at.is_empty() {
        for rec in reader.records() {
            let rec = rec.map_err(|e| csv_err(path, e))?;
            for (i, c) in &at {
                let cell = rec.get(*i).unwrap_or_default();
                if !(cell.is_empty() || cell.starts_with(CELL_PREFIX) || cell.starts_with("tok1."))
                {
                    clear.insert((*c).clone());
                }
            }
            if clear.len() == at.len() {
                break;
            }
        }
    }
    Ok((header, clear.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_subject_s_cells_no_longer_open_anywhere() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let store_path = d.join("subjects.store");
        let key_path = d.join("subjects.key");
        std::fs::write(
            d.join("t.csv"),
            "id,email,age\ncust-alpha,a@x.org,31\ncust-beta,b@y.org,40\ncust-alpha,a2@x.org,31\n",
        )
        .unwrap();
        let mut store = Store::open(&store_path, &key_path, None).unwrap();
        let p = protect_csv(
            &d.join("t.csv"),
            &d.join("p.csv"),
            "id",
            &["email".into()],
            &mut store,
        )
        .unwrap();
        store.save(None).unwrap();
        assert_eq!((p.rows, p.subjects, p.cells), (3, 2, 6));
        let protected = std::fs::read_to_string(d.join("p.csv")).unwrap();
        assert!(
            !protected.contains("a@x.org") && !protected.contains("cust-alpha"),
            "{protected}"
        );
        assert!(protected.contains(",31\n"), "other columns are kept");
        let old_store = std::fs::read(&store_path).unwrap();
        let old_key = std::fs::read(&key_path).unwrap();

        let store = Store::open(&store_path, &key_path, None).unwrap();
        let r = reveal_csv(&d.join("p.csv"), &d.join("r.csv"), &store).unwrap();
        assert_eq!(r.cells, 6);
        assert_eq!(
            std::fs::read_to_string(d.join("r.csv")).unwrap(),
            std::fs::read_to_string(d.join("t.csv")).unwrap()
        );

        // Erase cust-alpha: its two rows' cells are gone, cust-beta's open.
        let mut store = Store::open(&store_path, &key_path, None).unwrap();
        let (alpha, nobody) = (store.subject("cust-alpha"), store.subject("nobody"));
        assert!(store.erase(&alpha));
        assert!(!store.erase(&nobody));
        store.save(None).unwrap();
        let store = Store::open(&store_path, &key_path, None).unwrap();
        let r = reveal_csv(&d.join("p.csv"), &d.join("r.csv"), &store).unwrap();
        assert_eq!((r.erased_cells, r.erased_rows, r.cells), (4, 2, 2));
        let text = std::fs::read_to_string(d.join("r.csv")).unwrap();
        assert!(
            !text.contains("a@x.org") && text.contains("b@y.org"),
            "{text}"
        );
        // The store was re-encrypted under a new store key: the old store copy does not
        // open with the key in force, and the old key is gone.
        assert_ne!(std::fs::read(&key_path).unwrap(), old_key);
        std::fs::write(d.join("old.store"), &old_store).unwrap();
        assert!(Store::open(&d.join("old.store"), &key_path, None).is_err());

        // A cell moved to another column does not open.
        let lines: Vec<&str> = protected.lines().collect();
        let cells: Vec<&str> = lines[2].split(',').collect();
        std::fs::write(
            d.join("m.csv"),
            format!("id,email,age\n{},{},40\n", cells[1], cells[0]),
        )
        .unwrap();
        let store = Store::open(&store_path, &key_path, None).unwrap();
        let e = reveal_csv(&d.join("m.csv"), &d.join("x.csv"), &store).unwrap_err();
        assert!(e.to_string().contains("moved from another column"), "{e}");
        assert!(!d.join("x.csv").exists(), "no half-written output");

        // A row with no subject is refused.
        std::fs::write(d.join("n.csv"), "id,email\n,z@z.org\n").unwrap();
        let mut store = Store::open(&store_path, &key_path, None).unwrap();
        let e = protect_csv(&d.join("n.csv"), &d.join("o.csv"), "id", &[], &mut store).unwrap_err();
        assert!(e.to_string().contains("row 1 has no `id`"), "{e}");
    }
}
