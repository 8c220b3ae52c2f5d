//! A keyed watermark in the weights of an ONNX model: embedded with a secret key,
//! detected with the same key and a score, without the original model.
//!
//! # Carriers and the keyed pattern
//!
//! The carriers are float32 initializers. By default every initializer of rank 2 or more
//! (weight matrices, convolution kernels) with at least [`DEFAULT_MIN_ELEMENTS`] elements
//! is used, so biases and small tensors are left alone; callers may name the tensors
//! instead. Every element of a carrier carries the mark. For each carrier the key gives
//! a ±1 chip sequence `s`, one chip per element in storage order: the chip stream is
//! HMAC-SHA256 in counter mode under a per-tensor seed,
//! `seed = HMAC-SHA256(key, "aigis watermark v1 chips\0" ‖ tensor name)`,
//! `block_i = HMAC-SHA256(seed, i as u64 little-endian)`, one chip per bit: chip `j` of
//! a block is bit `j mod 8` (least significant first) of its byte `⌊j/8⌋`, and a set bit
//! is +1, a clear one −1. Keying the pattern by the tensor's name (its UTF-8 bytes) means
//! that detection needs the names unchanged, and that each tensor's pattern is
//! independent of every other's. Every key ever issued depends on this derivation: a
//! known-answer test computed with Python's `hmac` pins it.
//!
//! # Embedding (improved spread spectrum)
//!
//! A carrier `w` of `n` elements becomes `w' = w + (α − p)·s`, with `p = ⟨w, s⟩ / n`
//! the projection of the weights on the pattern. Removing that projection (Malvar and
//! Florêncio's "improved spread spectrum") cancels the host weights' interference, so the
//! correlation after embedding is exactly `n·α` whatever the weights, instead of
//! `n·α ± √n·rms(w)`. `α` is either a fixed fraction of the tensor's RMS (`strength`)
//! or solved for so that the combined score reaches a target exactly (the default,
//! [`DEFAULT_TARGET_SCORE`]): a large model then gets a smaller change per weight than a
//! small one. Every weight moves by the same `|α − p|`, reported as a fraction of the
//! tensor's RMS. The new values are written over the old ones in place: every byte of
//! the file outside the carriers' float32 values is unchanged (raw_data and float_data,
//! packed or not, keep their length when their values change).
//!
//! # Detection (blind)
//!
//! For each carrier, `z_t = ⟨w, s⟩ / ‖w‖`. Without the mark (an unmarked model, or
//! another key's mark) the chips are independent of the weights, so `⟨w, s⟩` has mean 0
//! and variance `‖w‖²` and `z_t` is standard normal; with the mark, `z_t ≈ α/rms · √n`.
//! The carriers' scores combine by Stouffer's method weighted by `√n_t`:
//! `z = Σ √n_t·z_t / √Σ n_t`, again standard normal without the mark. The p-value is the
//! normal upper tail at `z` (the chance that an unmarked model scores as high), and the
//! mark is present when `z` reaches the threshold ([`DEFAULT_THRESHOLD`] = 4: p ≈ 3·10⁻⁵).
//! Scores are invariant to scaling a tensor, and additive noise independent of the key
//! (small Gaussian noise, the rounding of 8-bit quantization) adds only its own projection
//! on the pattern, of the order of the noise's RMS over the weights' RMS: tiny.
//!
//! Models quantized by onnxruntime's `quantize_dynamic` keep a weight `W` as an int8 or
//! uint8 initializer `W_quantized` with `W_scale` and `W_zero_point`; the detector reads
//! `W_quantized − W_zero_point` in place of `W` (the scale does not change a score), so
//! such a model verifies without being dequantized. Embedding needs float32 weights.
//!
//! Not supported (an error names the tensor): tensors whose data lives in an external
//! file, segmented tensors, and per-channel zero points. Initializers of subgraphs
//! (inside `If` / `Loop` nodes) and sparse initializers are not carriers.

use std::ops::Range;

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use aigis_scan::proto::{self, Field, Fields, WireType};

/// Initializers with fewer elements are not carriers unless named.
pub const DEFAULT_MIN_ELEMENTS: u64 = 1024;
/// The combined score embedding aims for.
pub const DEFAULT_TARGET_SCORE: f64 = 8.0;
/// The score from which the mark counts as present (p ≈ 3.2·10⁻⁵).
pub const DEFAULT_THRESHOLD: f64 = 4.0;
/// The largest change per weight embedding makes, as a fraction of its tensor's RMS.
pub const MAX_STRENGTH: f64 = 0.25;

const CHIPS_LABEL: &[u8] = b"aigis watermark v1 chips\0";
const KEY_ID_LABEL: &[u8] = b"aigis watermark key id v1\0";

/// TensorProto.DataType values.
const FLOAT: u64 = 1;
const UINT8: u64 = 2;
const INT8: u64 = 3;
/// The suffix onnxruntime's quantizer gives a quantized weight.
const QUANTIZED: &str = "_quantized";
const ZERO_POINT: &str = "_zero_point";

type HmacSha256 = Hmac<Sha256>;

/// Why a model cannot be watermarked or checked.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("not a well-formed ONNX model: {0}")]
    Malformed(String),
    #[error("initializer `{name}`: {what}")]
    Tensor { name: String, what: String },
    #[error(
        "initializer `{0}` keeps its data in an external file; aigis model watermark reads and rewrites only weights stored inside the .onnx file"
    )]
    External(String),
    #[error("no initializer named `{0}` (nor `{0}{QUANTIZED}`) in the model")]
    NotFound(String),
    #[error(
        "no float32 initializer of rank 2 or more with at least {0} elements: nothing to carry a watermark"
    )]
    NoCarriers(u64),
    #[error("{0}")]
    Strength(String),
    /// A tensor would have to change by more than the largest strength allowed.
    #[error(
        "initializer `{name}` ({weights} weights) would need a change of more than {MAX_STRENGTH} of its RMS (asked: {asked:.3}); nothing was written"
    )]
    TooStrong {
        name: String,
        weights: f64,
        asked: f64,
    },
    /// The embedded mark would not reach the detection threshold.
    #[error(
        "the marked model would score only {score:.2}, below the threshold {threshold:.2}; nothing was written"
    )]
    TooWeak { score: f64, threshold: f64 },
    #[error("watermark key: {0}")]
    Key(String),
}

impl aigis_core::Hint for WatermarkError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::External(_) => Some(
                "load and save the model with onnx.save(model, path, save_as_external_data=False) first"
                    .into(),
            ),
            Self::NoCarriers(_) => {
                Some("name the tensors with --tensor, or lower --min-elements".into())
            }
            Self::TooStrong { .. } => Some(
                "lower --target-score or --strength, or select more (or larger) tensors".into(),
            ),
            Self::TooWeak { .. } => {
                Some("raise --strength or --target-score, or select more tensors".into())
            }
            _ => None,
        }
    }
}

fn malformed(what: impl Into<String>) -> WatermarkError {
    WatermarkError::Malformed(what.into())
}

fn tensor_error(name: &str, what: impl Into<String>) -> WatermarkError {
    WatermarkError::Tensor {
        name: name.into(),
        what: what.into(),
    }
}

/// A watermarking key: 32 secret bytes, wiped when dropped. `Debug` shows the key id only.
pub struct WatermarkKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatermarkKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl WatermarkKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, WatermarkError> {
        use rand_core::RngCore as _;
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand_core::OsRng
            .try_fill_bytes(bytes.as_mut())
            .map_err(|e| WatermarkError::Key(format!("the system random source failed: {e}")))?;
        Ok(Self { bytes })
    }

    /// The key whose 32 bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WatermarkError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            WatermarkError::Key(format!("a watermark key is 32 bytes, not {}", bytes.len()))
        })?;
        Ok(Self {
            bytes: Zeroizing::new(array),
        })
    }

    /// The key's bytes, wiped when the returned value is dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.bytes.clone()
    }

    /// A public name of the key: 16 hex digits of SHA-256 over a label and the key.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(self.bytes.as_slice());
        hex(h.finalize().get(..8).unwrap_or_default())
    }

    /// The chip sequence of the tensor named `name`.
    fn chips(&self, name: &str) -> Result<Chips, WatermarkError> {
        let refused = || WatermarkError::Key("HMAC refused the key".into());
        let mut mac = HmacSha256::new_from_slice(self.bytes.as_slice()).map_err(|_| refused())?;
        mac.update(CHIPS_LABEL);
        mac.update(name.as_bytes());
        let seed = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        Ok(Chips {
            mac: HmacSha256::new_from_slice(seed.as_slice()).map_err(|_| refused())?,
            block: Zeroizing::new([0; 32]),
            counter: 0,
            bit: 256,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A keyed stream of ±1 chips: HMAC-SHA256 in counter mode, one chip per bit.
struct Chips {
    mac: HmacSha256,
    block: Zeroizing<[u8; 32]>,
    counter: u64,
    bit: usize,
}

impl Iterator for Chips {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        if self.bit >= 256 {
            let mut mac = self.mac.clone();
            mac.update(&self.counter.to_le_bytes());
            self.block
                .copy_from_slice(mac.finalize().into_bytes().as_slice());
            self.counter += 1;
            self.bit = 0;
        }
        let byte = self.block.get(self.bit / 8).copied().unwrap_or_default();
        let set = byte >> (self.bit % 8) & 1 == 1;
        self.bit += 1;
        Some(if set { 1.0 } else { -1.0 })
    }
}

/// Which initializers carry the mark: embedding and detection must use the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every float32 initializer of rank ≥ 2 with at least this many elements (and, when
    /// detecting, its onnxruntime-quantized form).
    Auto { min_elements: u64 },
    /// These initializers, by name.
    Named(Vec<String>),
}

impl Default for Selection {
    fn default() -> Self {
        Selection::Auto {
            min_elements: DEFAULT_MIN_ELEMENTS,
        }
    }
}

/// How strong a mark to embed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strength {
    /// Solve for the change that makes the combined score exactly this.
    TargetScore(f64),
    /// Move every weight by this fraction of its tensor's RMS.
    Relative(f64),
}

/// What [`embed`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOptions {
    pub selection: Selection,
    pub strength: Strength,
    /// Embedding fails (and writes nothing) if the marked model would score below this.
    pub threshold: f64,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            selection: Selection::default(),
            strength: Strength::TargetScore(DEFAULT_TARGET_SCORE),
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// One carrier's detection score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensorScore {
    /// The weight's name (without onnxruntime's `_quantized` suffix).
    pub name: String,
    /// How its values are stored: `float32`, `int8` or `uint8`.
    pub stored_as: &'static str,
    pub elements: u64,
    pub z: f64,
}

/// The outcome of [`detect`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    pub tensors: Vec<TensorScore>,
    /// The combined score, standard normal when the mark is absent.
    pub z: f64,
    /// The chance that a model without this key's mark scores `z` or more.
    pub p_value: f64,
}

impl Detection {
    /// Whether the mark is present at `threshold`.
    pub fn present(&self, threshold: f64) -> bool {
        self.z >= threshold
    }
}

/// What [`embed`] did to one carrier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbeddedTensor {
    pub name: String,
    pub elements: u64,
    /// `α` as a fraction of the tensor's RMS.
    pub strength: f64,
    /// The largest and the mean change of a weight, as fractions of the tensor's RMS.
    pub max_change: f64,
    pub mean_change: f64,
    /// `‖w' − w‖ / ‖w‖`.
    pub relative_l2: f64,
    /// The carrier's score in the marked model.
    pub z: f64,
}

/// The outcome of [`embed`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbedReport {
    pub tensors: Vec<EmbeddedTensor>,
    /// The marked model's combined score and its p-value.
    pub z: f64,
    pub p_value: f64,
    /// Over every carrier weight, as fractions of its tensor's RMS.
    pub max_change: f64,
    pub mean_change: f64,
}

/// Where an initializer's values are.
#[derive(Debug)]
enum Values<'a> {
    /// Runs of little-endian float32s (`raw_data`, or `float_data` packed or not).
    Float(Vec<Range<usize>>),
    /// One byte per element (`raw_data` of an int8 or uint8 tensor).
    Bytes(&'a [u8]),
    /// `int32_data` fields (how the quantizer stores a zero point).
    Int32(Vec<Field<'a>>),
    None,
}

#[derive(Debug)]
struct Tensor<'a> {
    name: String,
    dims: Vec<u64>,
    data_type: u64,
    values: Values<'a>,
    external: bool,
    segmented: bool,
}

impl Tensor<'_> {
    fn elements(&self) -> Result<u64, WatermarkError> {
        self.dims
            .iter()
            .try_fold(1u64, |n, &d| {
                i64::try_from(d).ok().and_then(|_| n.checked_mul(d))
            })
            .ok_or_else(|| tensor_error(&self.name, "its dimensions are negative or overflow"))
    }

    /// Checks what a carrier must be and returns its element count.
    fn usable(&self) -> Result<u64, WatermarkError> {
        if self.external {
            return Err(WatermarkError::External(self.name.clone()));
        }
        if self.segmented {
            return Err(tensor_error(
                &self.name,
                "segmented tensors are not supported",
            ));
        }
        self.elements()
    }

    /// The values of a float32 tensor, checked against its element count.
    fn floats(&self, buf: &[u8]) -> Result<Vec<f64>, WatermarkError> {
        let n = self.usable()?;
        let Values::Float(runs) = &self.values else {
            return Err(tensor_error(&self.name, "it holds no float32 data"));
        };
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for run in runs {
            let bytes = buf
                .get(run.clone())
                .ok_or_else(|| tensor_error(&self.name, "its data is out of bounds"))?;
            out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))),
            );
        }
        self.check_count(out.len(), n)?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(tensor_error(&self.name, "it holds NaN or infinite values"));
        }
        Ok(out)
    }

    /// The integer values of an int8, uint8 or int32-stored tensor.
    fn ints(&self) -> Result<Vec<i64>, WatermarkError> {
        let n = self.usable()?;
        let signed = self.data_type == INT8;
        let out: Vec<i64> = match &self.values {
            Values::Bytes(b) => b
                .iter()
                .map(|&x| {
                    if signed {
                        i64::from(x as i8)
                    } else {
                        i64::from(x)
                    }
                })
                .collect(),
            Values::Int32(fields) => {
                let mut out = Vec::new();
                for f in fields {
                    let raw = proto::packed_varints(f).map_err(|e| malformed(e.to_string()))?;
                    // int32 is written as the 64-bit two's complement varint.
                    out.extend(raw.into_iter().map(|v| i64::from(v as i32)));
                }
                out
            }
            Values::Float(_) | Values::None => {
                return Err(tensor_error(&self.name, "it holds no 8-bit integer data"));
            }
        };
        self.check_count(out.len(), n)?;
        Ok(out)
    }

    fn check_count(&self, got: usize, want: u64) -> Result<(), WatermarkError> {
        if got as u64 != want {
            return Err(tensor_error(
                &self.name,
                format!("it holds {got} values but its dimensions say {want}"),
            ));
        }
        Ok(())
    }
}

fn wire_check(f: &Field<'_>, want: WireType, what: &str) -> Result<(), WatermarkError> {
    if f.wire != want {
        return Err(malformed(format!(
            "{what} at byte {} has the wrong wire type",
            f.at
        )));
    }
    Ok(())
}

fn parse_tensor<'a>(field: &Field<'a>) -> Result<Tensor<'a>, WatermarkError> {
    let mut t = Tensor {
        name: String::new(),
        dims: Vec::new(),
        data_type: 0,
        values: Values::None,
        external: false,
        segmented: false,
    };
    let mut raw: Option<Field<'a>> = None;
    let mut floats: Vec<Range<usize>> = Vec::new();
    let mut int32: Vec<Field<'a>> = Vec::new();
    for f in proto::sub(field) {
        let f = f.map_err(|e| malformed(format!("in an initializer: {e}")))?;
        match f.number {
            1 => t
                .dims
                .extend(proto::packed_varints(&f).map_err(|e| malformed(e.to_string()))?),
            2 => {
                wire_check(&f, WireType::Varint, "TensorProto.data_type")?;
                t.data_type = f.int;
            }
            3 => t.segmented = true,
            4 => match f.wire {
                WireType::Len if f.bytes.len() % 4 == 0 => floats.push(f.range()),
                WireType::Fixed32 => floats.push(f.at..f.at + 4),
                _ => {
                    return Err(malformed(format!(
                        "TensorProto.float_data at byte {} is not a list of float32s",
                        f.at
                    )));
                }
            },
            5 => int32.push(f),
            8 => {
                wire_check(&f, WireType::Len, "TensorProto.name")?;
                t.name = f
                    .str()
                    .ok_or_else(|| {
                        malformed(format!("an initializer name at byte {} is not UTF-8", f.at))
                    })?
                    .to_owned();
            }
            9 => {
                wire_check(&f, WireType::Len, "TensorProto.raw_data")?;
                raw = Some(f);
            }
            13 => t.external = true,
            14 => t.external |= f.int == 1,
            _ => {}
        }
    }
    let sources = usize::from(raw.is_some()) + usize::from(!floats.is_empty());
    if sources > 1 {
        return Err(tensor_error(&t.name, "it has both raw_data and float_data"));
    }
    t.values = match (raw, t.data_type) {
        (Some(r), FLOAT) => {
            if r.bytes.len() % 4 != 0 {
                return Err(tensor_error(
                    &t.name,
                    "its raw_data is not a whole number of float32s",
                ));
            }
            Values::Float(vec![r.range()])
        }
        (Some(r), _) => Values::Bytes(r.bytes),
        (None, _) if !floats.is_empty() => Values::Float(floats),
        (None, _) if !int32.is_empty() => Values::Int32(int32),
        (None, _) => Values::None,
    };
    Ok(t)
}

/// The initializers of the model's main graph.
fn initializers(buf: &[u8]) -> Result<Vec<Tensor<'_>>, WatermarkError> {
    let mut graph = None;
    for f in Fields::new(buf) {
        let f = f.map_err(|e| malformed(e.to_string()))?;
        if f.number == 7 {
            wire_check(&f, WireType::Len, "ModelProto.graph")?;
            if graph.replace(f).is_some() {
                return Err(malformed("the model has more than one graph field"));
            }
        }
    }
    let graph = graph.ok_or_else(|| malformed("no graph (ModelProto field 7)"))?;
    let mut out: Vec<Tensor<'_>> = Vec::new();
    for f in proto::sub(&graph) {
        let f = f.map_err(|e| malformed(format!("in the graph: {e}")))?;
        if f.number == 5 {
            wire_check(&f, WireType::Len, "GraphProto.initializer")?;
            let t = parse_tensor(&f)?;
            if out.iter().any(|o| o.name == t.name) {
                return Err(tensor_error(&t.name, "two initializers have this name"));
            }
            out.push(t);
        }
    }
    Ok(out)
}

/// A carrier as the detector reads it.
struct Carrier<'t, 'a> {
    name: String,
    tensor: &'t Tensor<'a>,
    /// The zero point to subtract, for a quantized weight.
    zero_point: Option<i64>,
}

fn is_candidate(t: &Tensor<'_>, min_elements: u64) -> Result<bool, WatermarkError> {
    if t.dims.len() < 2 {
        return Ok(false);
    }
    let big = t.elements()? >= min_elements;
    if big && t.external {
        return Err(WatermarkError::External(t.name.clone()));
    }
    Ok(big)
}

fn zero_point(tensors: &[Tensor<'_>], base: &str) -> Result<Option<i64>, WatermarkError> {
    let name = format!("{base}{ZERO_POINT}");
    let Some(zp) = tensors.iter().find(|t| t.name == name) else {
        return Ok(Some(0));
    };
    if !matches!(zp.data_type, INT8 | UINT8) {
        return Err(tensor_error(&name, "a zero point must be int8 or uint8"));
    }
    let values = zp.ints()?;
    match values.first() {
        Some(&first) if values.iter().all(|&v| v == first) => Ok(Some(first)),
        _ => Err(tensor_error(
            &name,
            "per-channel zero points are not supported",
        )),
    }
}

/// The carriers `selection` picks. `float_only` for embedding.
fn carriers<'t, 'a>(
    tensors: &'t [Tensor<'a>],
    selection: &Selection,
    float_only: bool,
) -> Result<Vec<Carrier<'t, 'a>>, WatermarkError> {
    let quantized = |t: &Tensor<'_>| {
        !float_only
            && matches!(t.data_type, INT8 | UINT8)
            && t.name.len() > QUANTIZED.len()
            && t.name.ends_with(QUANTIZED)
    };
    let mut out = Vec::new();
    match selection {
        Selection::Auto { min_elements } => {
            for t in tensors {
                if t.data_type == FLOAT && is_candidate(t, *min_elements)? {
                    out.push(Carrier {
                        name: t.name.clone(),
                        tensor: t,
                        zero_point: None,
                    });
                } else if quantized(t) && is_candidate(t, *min_elements)? {
                    let base = t.name.trim_end_matches(QUANTIZED).to_owned();
                    out.push(Carrier {
                        zero_point: zero_point(tensors, &base)?,
                        name: base,
                        tensor: t,
                    });
                }
            }
            if out.is_empty() {
                return Err(WatermarkError::NoCarriers(*min_elements));
            }
        }
        Selection::Named(names) => {
            if names.is_empty() {
                return Err(WatermarkError::Strength("no tensors were named".into()));
            }
            for name in names {
                if out.iter().any(|c: &Carrier<'_, '_>| &c.name == name) {
                    return Err(tensor_error(name, "named twice"));
                }
                let q = format!("{name}{QUANTIZED}");
                let carrier = if let Some(t) = tensors.iter().find(|t| &t.name == name) {
                    if t.data_type != FLOAT {
                        return Err(tensor_error(
                            name,
                            format!("it is of ONNX data type {}, not float32 (1)", t.data_type),
                        ));
                    }
                    Carrier {
                        name: name.clone(),
                        tensor: t,
                        zero_point: None,
                    }
                } else if let Some(t) = tensors.iter().find(|t| t.name == q && quantized(t)) {
                    Carrier {
                        name: name.clone(),
                        tensor: t,
                        zero_point: zero_point(tensors, name)?,
                    }
                } else {
                    return Err(WatermarkError::NotFound(name.clone()));
                };
                if carrier.tensor.external {
                    return Err(WatermarkError::External(carrier.tensor.name.clone()));
                }
                out.push(carrier);
            }
        }
    }
    Ok(out)
}

impl Carrier<'_, '_> {
    fn values(&self, buf: &[u8]) -> Result<Vec<f64>, WatermarkError> {
        match self.zero_point {
            None => self.tensor.floats(buf),
            Some(zp) => Ok(self
                .tensor
                .ints()?
                .into_iter()
                .map(|q| (q - zp) as f64)
                .collect()),
        }
    }

    fn stored_as(&self) -> &'static str {
        match (self.zero_point, self.tensor.data_type) {
            (None, _) => "float32",
            (Some(_), INT8) => "int8",
            (Some(_), _) => "uint8",
        }
    }
}

/// `⟨w, s⟩ / ‖w‖`, 0 for an all-zero tensor.
fn score(values: &[f64], chips: Chips) -> f64 {
    let (dot, energy) = values
        .iter()
        .zip(chips)
        .fold((0.0, 0.0), |(d, e), (&w, s)| (d + w * s, e + w * w));
    if energy > 0.0 {
        dot / energy.sqrt()
    } else {
        0.0
    }
}

/// Stouffer's combination of per-tensor scores, weighted by √n.
fn combine(scores: impl Iterator<Item = (u64, f64)>) -> f64 {
    let (num, total) = scores.fold((0.0, 0.0), |(num, total), (n, z)| {
        let n = n as f64;
        (num + n.sqrt() * z, total + n)
    });
    if total > 0.0 { num / total.sqrt() } else { 0.0 }
}

/// Scores `model` (the bytes of an ONNX file) for `key`'s mark in the carriers
/// `selection` picks.
pub fn detect(
    model: &[u8],
    key: &WatermarkKey,
    selection: &Selection,
) -> Result<Detection, WatermarkError> {
    let tensors = initializers(model)?;
    let mut scores = Vec::new();
    for c in carriers(&tensors, selection, false)? {
        let values = c.values(model)?;
        scores.push(TensorScore {
            z: score(&values, key.chips(&c.name)?),
            elements: values.len() as u64,
            stored_as: c.stored_as(),
            name: c.name,
        });
    }
    let z = combine(scores.iter().map(|s| (s.elements, s.z)));
    Ok(Detection {
        tensors: scores,
        z,
        p_value: normal_tail(z),
    })
}

fn check_positive(what: &str, v: f64) -> Result<(), WatermarkError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(WatermarkError::Strength(format!(
            "{what} must be a positive number, not {v}"
        )));
    }
    Ok(())
}

/// Embeds `key`'s mark in a copy of `model` (the bytes of an ONNX file). Only the
/// carriers' float32 values change; every other byte is kept.
pub fn embed(
    model: &[u8],
    key: &WatermarkKey,
    options: &EmbedOptions,
) -> Result<(Vec<u8>, EmbedReport), WatermarkError> {
    check_positive("the threshold", options.threshold)?;
    match options.strength {
        Strength::TargetScore(z) => check_positive("the target score", z)?,
        Strength::Relative(s) => {
            check_positive("the strength", s)?;
            if s > MAX_STRENGTH {
                return Err(WatermarkError::Strength(format!(
                    "a strength of {s} is above the maximum of {MAX_STRENGTH} (a fraction of each tensor's RMS)"
                )));
            }
        }
    }
    let tensors = initializers(model)?;
    let chosen = carriers(&tensors, &options.selection, true)?;
    let mut loaded = Vec::with_capacity(chosen.len());
    for c in &chosen {
        loaded.push(c.tensor.floats(model)?);
    }
    let total: u64 = loaded.iter().map(|v| v.len() as u64).sum();
    let mut out = model.to_vec();
    let mut report = Vec::with_capacity(chosen.len());
    let (mut max_change, mut sum_change) = (0.0f64, 0.0f64);
    for (c, w) in chosen.iter().zip(&loaded) {
        let n = w.len() as f64;
        let energy: f64 = w.iter().map(|v| v * v).sum();
        if energy <= 0.0 {
            return Err(tensor_error(
                &c.name,
                "all its weights are zero: it cannot carry a watermark",
            ));
        }
        let rms = (energy / n).sqrt();
        let projection = score_dot(w, key.chips(&c.name)?) / n;
        let alpha = match options.strength {
            Strength::Relative(s) => s * rms,
            Strength::TargetScore(target) => {
                // ⟨w', s⟩ = nα and ‖w'‖² = ‖w‖² + n(α² − p²): solve ⟨w', s⟩/‖w'‖ = z_t.
                let zt = target * (n / total as f64).sqrt();
                let denominator = n * n - zt * zt * n;
                if denominator <= 0.0 {
                    return Err(too_weak(c, n, target));
                }
                zt * ((energy - n * projection * projection).max(0.0) / denominator).sqrt()
            }
        };
        let strength = alpha / rms;
        if strength > MAX_STRENGTH {
            return Err(too_weak(c, n, strength));
        }
        let delta = alpha - projection;
        let Values::Float(runs) = &c.tensor.values else {
            return Err(tensor_error(&c.name, "it holds no float32 data"));
        };
        let mut chips = key.chips(&c.name)?;
        let (mut t_max, mut t_sum, mut t_sq) = (0.0f64, 0.0f64, 0.0f64);
        let mut old = w.iter();
        for run in runs {
            let bytes = out
                .get_mut(run.clone())
                .ok_or_else(|| tensor_error(&c.name, "its data is out of bounds"))?;
            for (cell, (&v, s)) in bytes.chunks_exact_mut(4).zip((&mut old).zip(&mut chips)) {
                let new = (v + delta * s) as f32;
                cell.copy_from_slice(&new.to_le_bytes());
                let change = (f64::from(new) - v).abs();
                t_max = t_max.max(change);
                t_sum += change;
                t_sq += change * change;
            }
        }
        max_change = max_change.max(t_max / rms);
        sum_change += t_sum / rms;
        report.push(EmbeddedTensor {
            name: c.name.clone(),
            elements: w.len() as u64,
            strength,
            max_change: t_max / rms,
            mean_change: t_sum / rms / n,
            relative_l2: (t_sq / energy).sqrt(),
            z: 0.0,
        });
    }
    let detection = detect(&out, key, &options.selection)?;
    for (r, d) in report.iter_mut().zip(&detection.tensors) {
        r.z = d.z;
    }
    if !detection.present(options.threshold) {
        return Err(WatermarkError::TooWeak {
            score: detection.z,
            threshold: options.threshold,
        });
    }
    Ok((
        out,
        EmbedReport {
            tensors: report,
            z: detection.z,
            p_value: detection.p_value,
            max_change,
            mean_change: sum_change / total as f64,
        },
    ))
}

fn score_dot(values: &[f64], chips: Chips) -> f64 {
    values.iter().zip(chips).map(|(&w, s)| w * s).sum()
}

fn too_weak(c: &Carrier<'_, '_>, n: f64, what: f64) -> WatermarkError {
    WatermarkError::TooStrong {
        name: c.name.to_owned(),
        weights: n,
        asked: what,
    }
}

/// `P(Z ≥ z)` for a standard normal `Z`.
pub fn normal_tail(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z < 0.0 {
        return 1.0 - normal_tail(-z);
    }
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function for `x ≥ 0`: the power series of erf (all terms
/// positive) below 3, Laplace's continued fraction above.
fn erfc(x: f64) -> f64 {
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    if x < 3.0 {
        // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))
        let mut term = x;
        let mut sum = x;
        let mut k = 1.0;
        while term > sum * 1e-17 {
            k += 2.0;
            term *= 2.0 * x * x / k;
            sum += term;
        }
        1.0 - two_over_sqrt_pi * (-x * x).exp() * sum
    } else {
        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
        let mut t = x;
        for k in (1..=120).rev() {
            t = x + f64::from(k) / 2.0 / t;
        }
        two_over_sqrt_pi / 2.0 * (-x * x).exp() / t
    }
}

#[cfg(test)]
mod tests;
