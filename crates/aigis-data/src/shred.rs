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
//!   in as associated data (a cell moved to another column does not open, and `reveal`
//!   refuses a row whose cells name different subjects).
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
use crate::mask::table::{Job, Rewritten, check_distinct, rewrite_rows};
use crate::table::{self, Cell, CellKind, Format, ReadOptions};

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

/// A sealed cell's plaintext starts with its kind, so that `reveal` gives a JSON Lines
/// number back as a number and a null as a null.
fn kind_tag(kind: CellKind) -> u8 {
    match kind {
        CellKind::Text => b'T',
        CellKind::Number => b'N',
        CellKind::Bool => b'B',
        CellKind::Nested => b'J',
        CellKind::Null => b'Z',
    }
}

fn tag_kind(tag: u8) -> Option<CellKind> {
    Some(match tag {
        b'T' => CellKind::Text,
        b'N' => CellKind::Number,
        b'B' => CellKind::Bool,
        b'J' => CellKind::Nested,
        b'Z' => CellKind::Null,
        _ => return None,
    })
}

/// `cell` of `column`, encrypted under `subject`'s key.
fn seal(store: &mut Store, subject: &str, column: &str, cell: Cell<'_>) -> Result<String, Error> {
    let key = Zeroizing::new(store.key_for(subject));
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| bad(&store.path, "bad subject key length"))?;
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let mut plain = Zeroizing::new(Vec::with_capacity(cell.text.len() + 1));
    plain.push(kind_tag(cell.kind));
    plain.extend_from_slice(cell.text.as_bytes());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &cell_aad(subject, column),
            },
        )
        .map_err(|_| bad(&store.path, "encryption failed"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    Ok(format!("{CELL_PREFIX}{subject}:{}", B64.encode(blob)))
}

/// What a protected cell says, for [`reveal`].
enum Opened {
    Clear(CellKind, String),
    Erased,
}

/// A protected cell's subject, and the cell opened (`None`: not a protected cell).
fn open_cell<'c>(
    store: &Store,
    column: &str,
    cell: &'c str,
) -> Result<Option<(&'c str, Opened)>, String> {
    let Some(rest) = cell.strip_prefix(CELL_PREFIX) else {
        return Ok(None);
    };
    let (subject, b64) = rest
        .split_once(':')
        .ok_or_else(|| "a protected cell without its subject".to_owned())?;
    let Some(key) = store.keys.get(subject) else {
        return Ok(Some((subject, Opened::Erased)));
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
    let (&tag, text) = plain
        .split_first()
        .ok_or_else(|| "a protected cell with no kind".to_owned())?;
    let kind = tag_kind(tag).ok_or_else(|| "a protected cell of an unknown kind".to_owned())?;
    let text =
        String::from_utf8(text.to_vec()).map_err(|_| "a protected cell is not UTF-8".to_owned())?;
    Ok(Some((subject, Opened::Clear(kind, text))))
}

/// What protecting a table did.
#[derive(Debug, Clone)]
pub struct Protected {
    pub table: Rewritten,
    /// Distinct subjects.
    pub subjects: u64,
    /// Cells encrypted (the subject column's included).
    pub cells: u64,
}

/// What revealing a table did.
#[derive(Debug, Clone)]
pub struct Revealed {
    pub table: Rewritten,
    /// Cells decrypted.
    pub cells: u64,
    /// Cells of erased subjects, written empty (JSON Lines: null).
    pub erased_cells: u64,
    /// Rows with at least one erased cell.
    pub erased_rows: u64,
}

/// Reads the table `job.input` (CSV, TSV, JSON Lines or Parquet) and writes it to
/// `job.output` (CSV, TSV or JSON Lines, by its extension; without one, the input's
/// format) with the `subject` column and every column of `columns` encrypted per row
/// under that row's subject's key. A row with an empty subject is an error: its data
/// would belong to no one and could never be erased. A column the table lacks is an
/// error. The output appears only once it is complete, readable by its owner only.
pub fn protect(
    job: &Job<'_>,
    subject: &str,
    columns: &[String],
    store: &mut Store,
) -> Result<Protected, Error> {
    check_distinct(job)?;
    let input = job.input;
    let mut wanted: Vec<&str> = vec![subject];
    for c in columns {
        if !wanted.contains(&c.as_str()) {
            wanted.push(c);
        }
    }
    // CSV and Parquet name every column up front: a misspelt one is refused before any
    // row is read (JSON Lines rows name theirs as they go, checked at the end).
    let reader = table::open(input, job.format, &job.read)?;
    if reader.format() != Format::Jsonl {
        let names = reader.names();
        if let Some(missing) = wanted.iter().find(|c| !names.iter().any(|n| n == *c)) {
            return Err(bad(input, format!("has no column `{missing}`")));
        }
    }
    drop(reader);
    let (mut cells, mut subjects) = (0u64, std::collections::BTreeSet::new());
    let table = rewrite_rows(
        job,
        0o600,
        &mut |row, names, row_cells, new| {
            let id = names
                .iter()
                .position(|n| n == subject)
                .and_then(|i| row_cells.get(i).copied().flatten())
                .map(|c| c.text)
                .unwrap_or_default();
            if id.trim().is_empty() {
                return Err(bad(
                    input,
                    format!(
                        "row {row} has no `{subject}`: its data would belong to no one, and could never be erased"
                    ),
                ));
            }
            if id.starts_with(CELL_PREFIX) {
                return Err(bad(
                    input,
                    format!("row {row}: its `{subject}` is protected already"),
                ));
            }
            let who = store.subject(id);
            for (name, cell) in names.iter().zip(row_cells) {
                new.push(match cell {
                    Some(c) if wanted.contains(&name.as_str()) => {
                        if c.text.starts_with(CELL_PREFIX) {
                            return Err(bad(
                                input,
                                format!("row {row}, column `{name}` is protected already"),
                            ));
                        }
                        cells += 1;
                        Some((CellKind::Text, seal(store, &who, name, *c)?))
                    }
                    _ => None,
                });
            }
            subjects.insert(who);
            Ok(())
        },
        &mut |names| match wanted.iter().find(|c| !names.iter().any(|n| n == *c)) {
            Some(missing) => Err(bad(input, format!("has no column `{missing}`"))),
            None => Ok(()),
        },
        &|_| {},
    )?;
    Ok(Protected {
        table,
        subjects: subjects.len() as u64,
        cells,
    })
}

/// Reads a protected table (any format [`protect`] reads) and writes its cells
/// decrypted, each of its own kind again; an erased subject's cells are left empty (JSON
/// Lines: null) and counted. A cell that does not open, or a row whose cells name
/// different subjects (a cell moved from another row), is an error naming its row, and
/// nothing is written.
pub fn reveal(job: &Job<'_>, store: &Store) -> Result<Revealed, Error> {
    check_distinct(job)?;
    let input = job.input;
    let (mut cells, mut erased_cells, mut erased_rows) = (0u64, 0u64, 0u64);
    let table = rewrite_rows(
        job,
        0o600,
        &mut |row, names, row_cells, new| {
            let mut erased = false;
            let mut row_subject: Option<&str> = None;
            for (name, cell) in names.iter().zip(row_cells) {
                let Some(cell) = cell else {
                    new.push(None);
                    continue;
                };
                let opened = open_cell(store, name, cell.text)
                    .map_err(|m| bad(input, format!("row {row}, column `{name}`: {m}")))?;
                let Some((subject, opened)) = opened else {
                    new.push(None);
                    continue;
                };
                match row_subject {
                    Some(s) if s != subject => {
                        return Err(bad(
                            input,
                            format!(
                                "row {row}, column `{name}`: a protected cell of another subject than the row's (moved from another row)"
                            ),
                        ));
                    }
                    _ => row_subject = Some(subject),
                }
                new.push(Some(match opened {
                    Opened::Clear(kind, text) => {
                        cells += 1;
                        (kind, text)
                    }
                    Opened::Erased => {
                        erased_cells += 1;
                        erased = true;
                        (CellKind::Null, String::new())
                    }
                }));
            }
            erased_rows += u64::from(erased);
            Ok(())
        },
        &mut |_| Ok(()),
        &|_| {},
    )?;
    Ok(Revealed {
        table,
        cells,
        erased_cells,
        erased_rows,
    })
}

/// The column names of the table at `path` (any format), and those of `columns` that hold
/// a cell in the clear: not empty, not protected (`aigis data protect`) and not a token
/// (`aigis data mask`).
pub fn columns_in_clear(
    path: &Path,
    format: Option<Format>,
    read: &ReadOptions,
    columns: &[String],
) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut reader = table::open(path, format, read)?;
    let mut header: Vec<String> = reader.names().to_vec();
    let mut clear = std::collections::BTreeSet::new();
    for batch in reader.by_ref() {
        let batch = batch?;
        if let Some(issue) = batch.issues.first() {
            return Err(bad(path, format!("row {}: {}", issue.row, issue.message)));
        }
        for c in columns {
            if clear.contains(c) {
                continue;
            }
            let Some(column) = batch.column(c) else {
                continue;
            };
            let in_clear = (0..batch.rows).filter_map(|r| column.get(r)).any(|cell| {
                cell.kind != CellKind::Null
                    && !(cell.text.is_empty()
                        || cell.text.starts_with(CELL_PREFIX)
                        || cell.text.starts_with(crate::mask::TOKEN_PREFIX))
            });
            if in_clear {
                clear.insert(c.clone());
            }
        }
        header = batch.names.to_vec();
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
        let mut store = open_store(d);
        let p = protect(
            &Job::new(&d.join("t.csv"), &d.join("p.csv")),
            "id",
            &["email".into()],
            &mut store,
        )
        .unwrap();
        store.save(None).unwrap();
        assert_eq!((p.table.rows, p.subjects, p.cells), (3, 2, 6));
        let protected = std::fs::read_to_string(d.join("p.csv")).unwrap();
        assert!(
            !protected.contains("a@x.org") && !protected.contains("cust-alpha"),
            "{protected}"
        );
        assert!(protected.contains(",31\n"), "other columns are kept");
        let old_store = std::fs::read(&store_path).unwrap();
        let old_key = std::fs::read(&key_path).unwrap();

        let store = open_store(d);
        let r = reveal(&Job::new(&d.join("p.csv"), &d.join("r.csv")), &store).unwrap();
        assert_eq!(r.cells, 6);
        assert_eq!(
            std::fs::read_to_string(d.join("r.csv")).unwrap(),
            std::fs::read_to_string(d.join("t.csv")).unwrap()
        );

        // Erase cust-alpha: its two rows' cells are gone, cust-beta's open.
        let mut store = open_store(d);
        let (alpha, nobody) = (store.subject("cust-alpha"), store.subject("nobody"));
        assert!(store.erase(&alpha));
        assert!(!store.erase(&nobody));
        store.save(None).unwrap();
        let store = open_store(d);
        let r = reveal(&Job::new(&d.join("p.csv"), &d.join("r.csv")), &store).unwrap();
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
        let store = open_store(d);
        let e = reveal(&Job::new(&d.join("m.csv"), &d.join("x.csv")), &store).unwrap_err();
        assert!(e.to_string().contains("moved from another column"), "{e}");
        assert!(!d.join("x.csv").exists(), "no half-written output");

        // A row with no subject is refused.
        std::fs::write(d.join("n.csv"), "id,email\n,z@z.org\n").unwrap();
        let mut store = open_store(d);
        let e = protect(
            &Job::new(&d.join("n.csv"), &d.join("o.csv")),
            "id",
            &[],
            &mut store,
        )
        .unwrap_err();
        assert!(e.to_string().contains("row 1 has no `id`"), "{e}");
    }

    fn open_store(d: &Path) -> Store {
        Store::open(&d.join("subjects.store"), &d.join("subjects.key"), None).unwrap()
    }

    /// JSON Lines: numbers, booleans, nested values and nulls come back as what they were;
    /// an erased subject's cells come back null.
    #[test]
    fn json_lines_cells_keep_their_kinds_and_erased_ones_are_null() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let original = concat!(
            r#"{"id":"u-1","age":31,"vip":true,"tags":["a","b"],"note":null,"city":"Oslo"}"#,
            "\n",
            r#"{"id":"u-2","age":40.5,"vip":false,"tags":[],"note":"x","city":"Lima"}"#,
            "\n",
        );
        std::fs::write(d.join("t.jsonl"), original).unwrap();
        let mut store = open_store(d);
        let cols: Vec<String> = ["age", "vip", "tags", "note"].map(String::from).into();
        let p = protect(
            &Job::new(&d.join("t.jsonl"), &d.join("p.jsonl")),
            "id",
            &cols,
            &mut store,
        )
        .unwrap();
        store.save(None).unwrap();
        assert_eq!((p.table.rows, p.subjects, p.cells), (2, 2, 10));
        let protected = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
        for secret in ["\"u-1\"", ":31", ":true", "40.5", "\"a\""] {
            assert!(!protected.contains(secret), "{secret} in {protected}");
        }
        assert!(protected.contains(r#""city":"Oslo""#), "{protected}");

        let store = open_store(d);
        let r = reveal(&Job::new(&d.join("p.jsonl"), &d.join("r.jsonl")), &store).unwrap();
        assert_eq!(r.cells, 10);
        let back: Vec<serde_json::Value> = std::fs::read_to_string(d.join("r.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let want: Vec<serde_json::Value> = original
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, want);

        let mut store = open_store(d);
        let u1 = store.subject("u-1");
        assert!(store.erase(&u1));
        store.save(None).unwrap();
        let r = reveal(
            &Job::new(&d.join("p.jsonl"), &d.join("r.jsonl")),
            &open_store(d),
        )
        .unwrap();
        assert_eq!((r.erased_cells, r.erased_rows), (5, 1));
        let first: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(d.join("r.jsonl"))
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            first,
            serde_json::json!({"id": null, "age": null, "vip": null, "tags": null, "note": null, "city": "Oslo"})
        );
    }

    /// Parquet in, CSV out (Parquet is not written: the protected columns change type).
    #[test]
    fn a_parquet_table_is_protected_into_csv_and_revealed() {
        use std::sync::Arc;

        use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;

        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let batch = RecordBatch::try_from_iter([
            (
                "customer",
                Arc::new(StringArray::from(vec!["c-9", "c-7", "c-9"])) as Arc<dyn Array>,
            ),
            (
                "email",
                Arc::new(StringArray::from(vec![
                    Some("n@x.org"),
                    None,
                    Some("m@x.org"),
                ])),
            ),
            ("spend", Arc::new(Int64Array::from(vec![10, 20, 30]))),
        ])
        .unwrap();
        let file = std::fs::File::create(d.join("t.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let mut store = open_store(d);
        let p = protect(
            &Job::new(&d.join("t.parquet"), &d.join("p.csv")),
            "customer",
            &["email".into()],
            &mut store,
        )
        .unwrap();
        store.save(None).unwrap();
        assert_eq!((p.table.rows, p.subjects, p.cells), (3, 2, 6));
        assert_eq!(p.table.input_format, Format::Parquet);
        let text = std::fs::read_to_string(d.join("p.csv")).unwrap();
        assert!(!text.contains("c-9") && !text.contains("n@x.org"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join("p.csv"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the protected table is its owner's only");
        }
        reveal(
            &Job::new(&d.join("p.csv"), &d.join("r.csv")),
            &open_store(d),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("r.csv")).unwrap(),
            "customer,email,spend\nc-9,n@x.org,10\nc-7,,20\nc-9,m@x.org,30\n"
        );
        // Writing Parquet is refused, before anything is encrypted.
        let e = protect(
            &Job::new(&d.join("t.parquet"), &d.join("p.parquet")),
            "customer",
            &[],
            &mut open_store(d),
        )
        .unwrap_err();
        assert!(matches!(e, Error::WriteParquet { .. }), "{e}");
    }

    /// A cell copied from another subject's row, a column the table lacks, a table
    /// protected twice: each refused, and nothing written.
    #[test]
    fn moved_cells_missing_columns_and_protecting_twice_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("t.csv"), "id,email\nann,a@x.org\nbob,b@x.org\n").unwrap();
        let mut store = open_store(d);
        protect(
            &Job::new(&d.join("t.csv"), &d.join("p.csv")),
            "id",
            &["email".into()],
            &mut store,
        )
        .unwrap();
        store.save(None).unwrap();
        let text = std::fs::read_to_string(d.join("p.csv")).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        // Bob's row with Ann's email.
        std::fs::write(
            d.join("m.csv"),
            format!("id,email\n{},{}\n", rows[1][0], rows[0][1]),
        )
        .unwrap();
        let e = reveal(
            &Job::new(&d.join("m.csv"), &d.join("x.csv")),
            &open_store(d),
        )
        .unwrap_err();
        assert!(e.to_string().contains("row 1, column `email`"), "{e}");
        assert!(e.to_string().contains("another subject"), "{e}");
        assert!(!d.join("x.csv").exists());

        let e = protect(
            &Job::new(&d.join("t.csv"), &d.join("x.csv")),
            "id",
            &["phone".into()],
            &mut open_store(d),
        )
        .unwrap_err();
        assert!(e.to_string().contains("has no column `phone`"), "{e}");
        assert!(!d.join("x.csv").exists());

        let e = protect(
            &Job::new(&d.join("p.csv"), &d.join("x.csv")),
            "id",
            &[],
            &mut open_store(d),
        )
        .unwrap_err();
        assert!(e.to_string().contains("protected already"), "{e}");
        assert!(!d.join("x.csv").exists());
    }
}
