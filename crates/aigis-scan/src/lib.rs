//! The artifact scanner of aigis: what a model file would do when loaded, found without
//! loading it.
//!
//! A model file is code: a pickle runs what it names when it is loaded, a Keras config
//! names layers that run Python, an ONNX model names files to read. [`Verdict`]s are
//! allowlist-first: what ordinary ML files use is safe, known-dangerous calls are
//! dangerous, anything else is suspicious, and a file that cannot be fully understood is
//! inconclusive — never clean. Formats are recognised by content, not by name: pickle
//! (and joblib, compressed or not), PyTorch zips and legacy tars, NumPy `.npy`/`.npz`,
//! Keras (`.keras`, HDF5), ONNX, TensorFlow SavedModels and checkpoints, safetensors and
//! GGUF; archives inside archives are opened within [`Limits`].
//!
//! A [`Scanner`] holds the configuration (the bounds of a scan and the project's reviewed
//! pickle [`Allowlist`]); each file scanned gives a [`FileReport`]: its format, its
//! verdict and the [`Finding`]s behind it, each with a rule id and a [`Location`].
//!
//! ```
//! use aigis_scan::{Scanner, Verdict};
//!
//! let dir = tempfile::tempdir()?;
//! // protocol 0: `os.system("echo aigis-test")`
//! std::fs::write(dir.path().join("model.pkl"), b"cos\nsystem\n(S'echo aigis-test'\ntR.")?;
//! std::fs::write(dir.path().join("model.safetensors"), b"\x02\0\0\0\0\0\0\0{}")?;
//!
//! let reports = Scanner::new().scan_path(dir.path())?;
//! let verdicts: Vec<_> = reports.iter().map(|r| (r.format.as_str(), r.verdict)).collect();
//! assert_eq!(
//!     verdicts,
//!     [("pickle", Verdict::Dangerous), ("safetensors", Verdict::Safe)]
//! );
//! let finding = &reports[0].findings[0];
//! assert_eq!((finding.rule.as_str(), finding.location.offset), ("pickle.global.dangerous", Some(32)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod checkpoint;
mod compressed;
mod detect;
mod error;
mod folder;
mod format;
mod gguf;
mod hdf5;
mod keras;
mod known_bad;
mod limits;
mod npy;
mod onnx;
mod pickle;
pub mod proto;
mod rules;
mod safetensors;
mod savedmodel;
mod scan;
mod tar;
mod verdict;
mod zip;

pub use error::Error;
pub use format::Format;
pub use known_bad::{KnownBad, KnownBadError};
pub use limits::Limits;
pub use npy::{Header as NpyHeader, header as npy_header};
pub use pickle::{AllowEntry, Allowlist, AllowlistError, Limits as PickleLimits};
pub use rules::Rule;
pub use scan::{FileReport, NESTED, Scanner, claim_external_data};
pub use verdict::{Finding, Location, Verdict};

/// The parsers one by one, for the fuzz targets in `fuzz/` and the tests of single
/// formats: not a stable interface (as rustls's `internal`).
#[doc(hidden)]
pub mod internal {
    pub use crate::scan::ReadSeek;

    /// Zip archives (`zip::open`, `zip::read` within the limits).
    pub mod zip {
        pub use crate::zip::{Archive, Member, MemberData, open, read};
    }
    /// safetensors headers.
    pub mod safetensors {
        pub use crate::safetensors::scan;
    }
    /// GGUF headers and chat templates.
    pub mod gguf {
        pub use crate::gguf::scan;
    }
    /// HDF5 files and the Keras configs in them.
    pub mod hdf5 {
        pub use crate::hdf5::scan;
    }
    /// ONNX models.
    pub mod onnx {
        pub use crate::onnx::scan_bytes;
    }
    /// TensorFlow SavedModel graphs.
    pub mod savedmodel {
        pub use crate::savedmodel::scan_bytes;
    }
    /// TensorFlow checkpoint indexes.
    pub mod checkpoint {
        pub use crate::checkpoint::scan_files;
    }
    /// The compressions joblib writes.
    pub mod compressed {
        pub use crate::compressed::{codec, scan};
    }
    /// The pickle machine on one stream.
    pub mod pickle {
        pub use crate::pickle::{
            Classification, Import, Layout, Limits, PickleReport, classify, classify_with, scan,
            scan_bytes, scan_layout,
        };
    }
}
