//! The asset files of a SavedModel: files under its `assets/` folder that the graph reads
//! as data (vocabularies for lookup tables, tokenizer models), named by the meta graph's
//! `asset_file_def` (`MetaGraphDef` field 6: `AssetFileDef` { tensor_info = 1,
//! filename = 2 }; TF2's `SavedAsset` objects hold an index into that list).
//!
//! Loading joins the name to `<saved model>/assets/` (in Python with `os.path.join`, so an
//! absolute name replaces the folder) and hands the path to the ops that read it. A name
//! that leads out of the SavedModel's folder (absolute, `..` past it, a symbolic link, a
//! device) makes the model read a file of the author's choosing, into a table whose values
//! it can return: dangerous (`savedmodel.asset_escape`), as for ONNX external data. An asset
//! that is missing is inconclusive (`savedmodel.asset_missing`): what the model reads is
//! unknown. The assets found are listed (`savedmodel.asset`), and a folder scan reports
//! each as data the model reads (`savedmodel.asset_file`) rather than an unknown file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Findings;
use crate::folder::{self, Unresolved};
use crate::onnx::show;
use crate::scan::finding;
use crate::{Finding, Limits, Location, Verdict};

/// Names shown in the listing before the rest are only counted.
const SHOWN: usize = 3;

/// Checks the assets `names` (with their offsets in `saved_model.pb`) of the SavedModel in
/// `folder`; adds the evidence to `out` and returns the asset files that passed.
pub(super) fn check(
    folder: &Path,
    names: &[(&[u8], usize)],
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Vec<PathBuf> {
    let mut unique: BTreeMap<&[u8], usize> = BTreeMap::new();
    for &(name, at) in names {
        unique.entry(name).or_insert(at);
    }
    // Each is looked up on disk.
    if unique.len() > limits.max_files {
        out.push(finding(
            Verdict::Inconclusive,
            crate::savedmodel::rule::LIMIT.id,
            format!(
                "{} asset files, more than the {} files a scan visits: they are not checked",
                unique.len(),
                limits.max_files
            ),
            Location::default(),
        ));
        return Vec::new();
    }
    let mut found = Findings::default();
    let mut files = Vec::new();
    let mut shown = Vec::new();
    for (name, at) in unique {
        match resolve(folder, name) {
            Ok((path, link)) => {
                if let Some(link) = link {
                    found.add(
                        Verdict::Suspicious,
                        crate::savedmodel::rule::ASSET_LINK.id,
                        format!("the asset `{}` {link}", show(name)),
                        at,
                    );
                }
                if shown.len() < SHOWN {
                    shown.push(format!("`{}`", show(name)));
                }
                files.push(path);
            }
            Err((verdict, rule, why)) => found.add(
                verdict,
                rule,
                format!("the asset `{}` {why}", show(name)),
                at,
            ),
        }
    }
    out.extend(found.finish());
    if !files.is_empty() {
        let more = if files.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        out.push(finding(
            Verdict::Safe,
            crate::savedmodel::rule::ASSET.id,
            format!(
                "{} asset file{} in `assets/`, read by the graph as data: {}{more}",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                shown.join(", ")
            ),
            Location::default(),
        ));
    }
    files
}

/// The asset file `name` under `folder/assets/` and the link inside the folder followed
/// to it, if any; or (verdict, rule, what is wrong).
type AssetFile = (PathBuf, Option<String>);
fn resolve(folder: &Path, name: &[u8]) -> Result<AssetFile, (Verdict, &'static str, String)> {
    let missing = |why: String| {
        (
            Verdict::Inconclusive,
            crate::savedmodel::rule::ASSET_MISSING.id,
            why,
        )
    };
    let escape = |why: String| {
        (
            Verdict::Dangerous,
            crate::savedmodel::rule::ASSET_ESCAPE.id,
            format!("{why}: loading reads a file outside the SavedModel's folder"),
        )
    };
    let Ok(text) = std::str::from_utf8(name) else {
        return Err(missing("is not UTF-8".into()));
    };
    if text.is_empty() {
        return Err(missing("has an empty name".into()));
    }
    // Joined to `assets/`, an absolute name would look relative.
    if folder::is_absolute(text) {
        return Err(escape("is an absolute path".into()));
    }
    match folder::resolve(folder, &format!("assets/{text}")) {
        Ok(found) => Ok((found.path, found.link)),
        Err(Unresolved::Escape(why)) => Err(escape(why)),
        Err(Unresolved::Missing(e)) => Err(missing(format!(
            "cannot be read ({e}), so what the model reads is unknown"
        ))),
        Err(Unresolved::Folder) => Err(missing("is a folder".into())),
    }
}
