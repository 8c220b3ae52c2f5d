//! What a scanned file is, as a report names it.

use serde::{Deserialize, Serialize};

use crate::detect::Content;

/// The format of a scanned file, recognised by content (the name only tells a SavedModel's
/// protobufs apart, and joblib from pickle). Printed (and serialized) as a short
/// lowercase name: `pickle`, `pytorch-zip`, `tensorflow-savedmodel`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A pickle stream (`pickle.dump`, `torch.save` before 1.6).
    Pickle,
    /// A pickle named `.joblib`.
    Joblib,
    /// A compressed stream (zlib, gzip, bz2, lzma, xz, lz4, joblib's z-file).
    Compressed,
    /// A PyTorch zip (`torch.save` since 1.6): a zip with a `data.pkl`.
    PytorchZip,
    /// A legacy PyTorch tar checkpoint (`sys_info`, `pickle`, `storages`, `tensors`).
    PytorchTar,
    /// A NumPy `.npz`: a zip of `.npy` files only.
    Npz,
    /// A Keras 3 `.keras` zip (`config.json` with `metadata.json` or weights).
    Keras,
    /// Any other zip archive.
    Zip,
    /// Any other tar archive.
    Tar,
    /// A NumPy `.npy` array.
    Npy,
    /// A safetensors file.
    Safetensors,
    /// A GGUF file (llama.cpp).
    Gguf,
    /// An HDF5 file (Keras 2 `.h5`).
    Hdf5,
    /// An ONNX model.
    Onnx,
    /// A file an ONNX model reads its tensors from.
    OnnxExternalData,
    /// A SavedModel graph (`saved_model.pb`, `saved_model.pbtxt`).
    TensorflowSavedmodel,
    /// A SavedModel's `keras_metadata.pb`.
    KerasMetadata,
    /// A SavedModel's `fingerprint.pb`.
    TensorflowFingerprint,
    /// A TensorFlow checkpoint index (`variables.index`).
    TensorflowCheckpointIndex,
    /// A data file of a TensorFlow checkpoint.
    TensorflowCheckpointData,
    /// An asset file of a SavedModel.
    TensorflowAsset,
    /// Text that is no model format (configs, tokenizers, model cards).
    Text,
    /// Bytes of no format the scanner recognises.
    Unknown,
    /// A symbolic link, reported and not followed.
    Symlink,
    /// A folder nested past the limit.
    Folder,
}

impl Format {
    /// Every format, for tests and documentation.
    pub const ALL: [Format; 25] = [
        Format::Pickle,
        Format::Joblib,
        Format::Compressed,
        Format::PytorchZip,
        Format::PytorchTar,
        Format::Npz,
        Format::Keras,
        Format::Zip,
        Format::Tar,
        Format::Npy,
        Format::Safetensors,
        Format::Gguf,
        Format::Hdf5,
        Format::Onnx,
        Format::OnnxExternalData,
        Format::TensorflowSavedmodel,
        Format::KerasMetadata,
        Format::TensorflowFingerprint,
        Format::TensorflowCheckpointIndex,
        Format::TensorflowCheckpointData,
        Format::TensorflowAsset,
        Format::Text,
        Format::Unknown,
        Format::Symlink,
        Format::Folder,
    ];

    /// Its name, as the text and JSON output print it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::Joblib => "joblib",
            Format::Compressed => "compressed",
            Format::PytorchZip => "pytorch-zip",
            Format::PytorchTar => "pytorch-tar",
            Format::Npz => "npz",
            Format::Keras => "keras",
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Npy => "npy",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Hdf5 => "hdf5",
            Format::Onnx => "onnx",
            Format::OnnxExternalData => "onnx-external-data",
            Format::TensorflowSavedmodel => "tensorflow-savedmodel",
            Format::KerasMetadata => "keras-metadata",
            Format::TensorflowFingerprint => "tensorflow-fingerprint",
            Format::TensorflowCheckpointIndex => "tensorflow-checkpoint-index",
            Format::TensorflowCheckpointData => "tensorflow-checkpoint-data",
            Format::TensorflowAsset => "tensorflow-asset",
            Format::Text => "text",
            Format::Unknown => "unknown",
            Format::Symlink => "symlink",
            Format::Folder => "folder",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Content> for Format {
    fn from(content: Content) -> Self {
        match content {
            Content::Zip => Format::Zip,
            Content::Pickle => Format::Pickle,
            Content::Npy => Format::Npy,
            Content::Safetensors => Format::Safetensors,
            Content::Gguf => Format::Gguf,
            Content::Hdf5 => Format::Hdf5,
            Content::Onnx => Format::Onnx,
            Content::SavedModel => Format::TensorflowSavedmodel,
            Content::CheckpointIndex => Format::TensorflowCheckpointIndex,
            Content::Tar => Format::Tar,
            Content::Compressed => Format::Compressed,
            Content::Text => Format::Text,
            Content::Unknown => Format::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_as_its_name() {
        for f in Format::ALL {
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
            assert_eq!(f.to_string(), f.as_str());
            let back: Format = serde_json::from_value(serde_json::json!(f.as_str())).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn content_keeps_its_name() {
        use crate::detect::Content::*;
        for c in [
            Zip,
            Pickle,
            Npy,
            Safetensors,
            Gguf,
            Hdf5,
            Onnx,
            SavedModel,
            CheckpointIndex,
            Tar,
            Compressed,
            Text,
            Unknown,
        ] {
            assert_eq!(Format::from(c).as_str(), c.as_str());
        }
    }
}
