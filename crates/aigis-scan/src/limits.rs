//! Bounds on what a scan may read, allocate and walk, so a hostile file (a zip bomb, a
//! header that declares a petabyte, a folder with a million files) costs a verdict, not
//! the machine.

/// Caps for one scan. Exceeding one never panics and never allocates the declared size:
/// the part beyond the cap is left unread and the file is reported inconclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Members of one zip or tar archive.
    pub max_members: usize,
    /// Bytes one zip member may decompress to (it is held in memory to be scanned; tar
    /// members are not compressed and are scanned in place).
    pub max_member_bytes: u64,
    /// Bytes all members of one archive may decompress to together.
    pub max_total_bytes: u64,
    /// Decompressed-to-compressed ratio above which a member is treated as a zip bomb
    /// (checked once it passes 1 MiB; ordinary pickles and arrays compress below 20:1).
    pub max_ratio: u64,
    /// Bytes of a header read into memory (safetensors JSON, npy dict).
    pub max_header_bytes: u64,
    /// GGUF metadata entries and tensor infos, each.
    pub max_entries: u64,
    /// Array elements walked over all GGUF metadata arrays together.
    pub max_array_elements: u64,
    /// Bytes of one GGUF string that is read (longer ones are skipped, chat templates are
    /// read in full up to this).
    pub max_string_bytes: u64,
    /// Bytes of a protobuf model (an ONNX model, a SavedModel graph) held in memory to be
    /// parsed. Protobuf caps a message at 2 GiB; a larger file is inconclusive.
    pub max_proto_bytes: u64,
    /// Files visited by a folder scan, and its depth (also the nesting of ONNX subgraphs
    /// and TensorFlow function attributes).
    pub max_files: usize,
    /// Folders nested below the path scanned (also the nesting of ONNX subgraphs and
    /// TensorFlow function attributes).
    pub max_depth: usize,
    /// Nesting of a Keras model config (JSON objects and arrays) that is walked.
    pub max_config_depth: usize,
    /// Archives inside archives: a zip member that is a zip is scanned this many levels
    /// down (the outermost archive is level 1), the bytes of all levels counting against
    /// one [`Limits::max_total_bytes`].
    pub max_archive_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_members: 65_536,
            max_member_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_ratio: 200,
            max_header_bytes: 100 << 20,
            max_entries: 1 << 20,
            max_array_elements: 16 << 20,
            max_string_bytes: 16 << 20,
            max_proto_bytes: 1 << 30,
            max_files: 100_000,
            max_depth: 32,
            max_config_depth: 64,
            max_archive_depth: 3,
        }
    }
}
