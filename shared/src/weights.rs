//! Weights files: safetensors whose metadata names the model kind and holds its architecture
//! config, so a file rebuilds its own network. Loading checks the header against the file size,
//! then every tensor's name, shape and dtype, and fails with a readable error. Tensors are f32,
//! f16 ([`to_f16`]: half the size) or integers of a few bits with per-row scales
//! ([`quantize`]: the browser's download), widened to f32 on load.

use burn::prelude::*;
use burn::tensor::f16;
use burn_store::{ModuleSnapshot, SafetensorsStore};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub const KIND_KEY: &str = "hypernoise.kind";
pub const CONFIG_KEY: &str = "hypernoise.config";

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a weights file: {0}")]
    Corrupt(String),
    #[error("the file is truncated: {0}")]
    Truncated(String),
    #[error("this file holds a '{found}' model, not a '{expected}'")]
    WrongKind { expected: String, found: String },
    #[error("the weights do not fit the model: {0}")]
    Mismatch(String),
    #[error("cannot write weights: {0}")]
    Save(String),
    #[error("tensor '{0}' holds NaN or infinite values: the file is broken (was it saved from a diverged run?)")]
    NotFinite(String),
}

/// What a file's header says, read without touching tensor data.
#[derive(Debug)]
pub struct Header {
    pub kind: String,
    pub config: String,
    pub tensors: BTreeMap<String, TensorInfo>,
    /// The raw `__metadata__` map (kind and config included).
    pub metadata: BTreeMap<String, String>,
    /// Where tensor data starts in the file.
    pub data_start: usize,
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range in the data section.
    pub offsets: [usize; 2],
}

pub fn read_header(bytes: &[u8]) -> Result<Header, WeightsError> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| WeightsError::Truncated(format!("{} bytes", bytes.len())))?;
    let header_len = u64::from_le_bytes(len_bytes) as usize;
    let body = bytes.len() - 8;
    if header_len > body {
        return Err(WeightsError::Truncated(format!("header of {header_len} bytes, only {body} follow")));
    }
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + header_len])
        .map_err(|e| WeightsError::Corrupt(format!("header is not JSON ({e})")))?;
    let data_len = body - header_len;
    let mut meta = BTreeMap::new();
    let mut tensors = BTreeMap::new();
    for (name, v) in header {
        if name == "__metadata__" {
            meta = serde_json::from_value::<BTreeMap<String, String>>(v)
                .map_err(|e| WeightsError::Corrupt(format!("metadata: {e}")))?;
            continue;
        }
        let field =
            |k: &str| v.get(k).cloned().ok_or_else(|| WeightsError::Corrupt(format!("tensor {name} has no {k}")));
        let dtype: String =
            serde_json::from_value(field("dtype")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        let shape: Vec<usize> =
            serde_json::from_value(field("shape")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        let offsets: [usize; 2] =
            serde_json::from_value(field("data_offsets")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        if offsets[0] > offsets[1] {
            return Err(WeightsError::Corrupt(format!("tensor {name} has data offsets {offsets:?}")));
        }
        if offsets[1] > data_len {
            return Err(WeightsError::Truncated(format!("tensor {name} ends at byte {} of {data_len}", offsets[1])));
        }
        let elements = shape.iter().try_fold(1, |n: usize, &d| n.checked_mul(d));
        let bytes = match dtype.as_str() {
            "F32" => elements.and_then(|n| n.checked_mul(4)),
            "F16" => elements.and_then(|n| n.checked_mul(2)),
            "I8" => elements,
            "I4" => elements.map(|n| n.div_ceil(2)),
            other => {
                return Err(WeightsError::Corrupt(format!(
                    "tensor {name} has dtype {other} (F32, F16, I8 or I4 expected)"
                )))
            }
        };
        if bytes != Some(offsets[1] - offsets[0]) {
            return Err(WeightsError::Corrupt(format!(
                "tensor {name} of shape {shape:?} ({dtype}) has {} bytes of data",
                offsets[1] - offsets[0]
            )));
        }
        tensors.insert(name, TensorInfo { dtype, shape, offsets });
    }
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| WeightsError::Corrupt(format!("no '{k}' in the metadata: not a HyperNoise weights file")))
    };
    Ok(Header { kind: get(KIND_KEY)?, config: get(CONFIG_KEY)?, tensors, metadata: meta, data_start: 8 + header_len })
}

/// The parameters a file holds (each quantised tensor's row scales not counted).
pub fn parameter_count(bytes: &[u8]) -> Result<usize, WeightsError> {
    let header = read_header(bytes)?;
    let tensors = header.tensors.iter().filter(|(name, _)| !name.ends_with(SCALE_SUFFIX));
    Ok(tensors.map(|(_, t)| t.shape.iter().product::<usize>()).sum())
}

/// A copy of a weights file with its f32 tensors stored as f16 (half the size).
pub fn to_f16(bytes: &[u8]) -> Result<Vec<u8>, WeightsError> {
    rewrite(
        bytes,
        |_| {},
        |name, t, raw| Ok(vec![if t.dtype == "F32" { halved(name, t, raw) } else { kept(name, t, raw) }]),
    )
}

/// The elementwise mean of weights files of one model (same kind, architecture and tensors):
/// a soup of a run's checkpoints, whose average sits where single checkpoints only pass by.
/// f16 and quantised files are widened first; the mean is stored at f32 with the first file's
/// metadata.
pub fn mean_of(files: &[&[u8]]) -> Result<Vec<u8>, WeightsError> {
    let (first, others) =
        files.split_first().ok_or_else(|| WeightsError::Save("the mean of no weights files".into()))?;
    let first = widened(first)?;
    let template = read_header(&first)?;
    let mut sums: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for bytes in std::iter::once(Ok(Cow::Borrowed(first.as_ref()))).chain(others.iter().map(|b| widened(b))) {
        let bytes = bytes?;
        let header = read_header(&bytes)?;
        if header.kind != template.kind || header.config != template.config {
            return Err(WeightsError::Mismatch(format!(
                "a '{}' file cannot be averaged with a '{}' file of another architecture",
                header.kind, template.kind
            )));
        }
        let names_of = |h: &Header| h.tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone())).collect::<Vec<_>>();
        if names_of(&header) != names_of(&template) {
            return Err(WeightsError::Mismatch("the files hold different tensors or shapes".into()));
        }
        for (name, t) in &header.tensors {
            let raw = &bytes[header.data_start + t.offsets[0]..header.data_start + t.offsets[1]];
            let sum = sums.entry(name.clone()).or_insert_with(|| vec![0.0; raw.len() / 4]);
            sum.iter_mut().zip(floats(raw)).for_each(|(s, v)| *s += v as f64);
        }
    }
    let n = files.len() as f64;
    rewrite(
        &first,
        |_| {},
        |name, t, _| {
            let mean = sums[name].iter().map(|s| (s / n) as f32);
            Ok(vec![Stored {
                name: name.into(),
                dtype: "F32".into(),
                shape: t.shape.clone(),
                data: Cow::Owned(f32_bytes(mean)),
            }])
        },
    )
}

/// The suffix of the tensor holding an integer tensor's per-row scales.
const SCALE_SUFFIX: &str = ".q8_scale";

/// Bit widths [`quantize`] stores.
pub const QUANTIZED_BITS: std::ops::RangeInclusive<u32> = 2..=8;

/// A copy of a weights file for the browser's download: every tensor of two or more
/// dimensions stored as `bits`-bit integers (symmetric; in 8-bit storage, or two to a byte at 4
/// bits or fewer, where gzip alone leaves each byte's unused half costing a fifth of the
/// download) with one f32 scale per row (per output channel of a convolution), the others
/// (biases, norms) as f16; a file
/// stored at f16 (or already quantised) is widened to f32 first, so it shrinks the same. Loading
/// dequantizes to f32, which is what the models compute in. Below 8 bits each row's range is
/// clipped where that minimises the row's squared error (a few outlying weights would
/// otherwise spend most of the levels); the bytes left unused compress away under gzip, so
/// fewer bits mean a smaller download with the same loader.
pub fn quantize(bytes: &[u8], bits: u32) -> Result<Vec<u8>, WeightsError> {
    if !QUANTIZED_BITS.contains(&bits) {
        return Err(WeightsError::Save(format!("{bits}-bit weights: from 2 to 8 bits are stored")));
    }
    rewrite(
        &widened(bytes)?,
        |_| {},
        |name, t, raw| {
            Ok(match (t.dtype.as_str(), t.shape.len()) {
                ("F32", 2..) => quantized(name, t, raw, bits),
                ("F32", _) => vec![halved(name, t, raw)],
                _ => vec![kept(name, t, raw)],
            })
        },
    )
}

/// A tensor as it is written: name, dtype, shape, little-endian data.
struct Stored<'a> {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

fn kept<'a>(name: &str, t: &TensorInfo, raw: &'a [u8]) -> Stored<'a> {
    Stored { name: name.into(), dtype: t.dtype.clone(), shape: t.shape.clone(), data: Cow::Borrowed(raw) }
}

fn floats(raw: &[u8]) -> impl Iterator<Item = f32> + '_ {
    raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn halved<'a>(name: &str, t: &TensorInfo, raw: &[u8]) -> Stored<'a> {
    let data = floats(raw).flat_map(|v| f16::from_f32(v).to_le_bytes()).collect();
    Stored { name: name.into(), dtype: "F16".into(), shape: t.shape.clone(), data: Cow::Owned(data) }
}

/// At 4 bits or fewer, matrices smaller than this keep 8 bits: a generator's stem and output
/// layer, its word and position tables and its outermost convolutions, which every pixel or word
/// passes through. They hold about 1% of the shipped generator's weights and half of what 4 bits
/// cost it (docs/browser.md); at 6 bits the generator scores as at f16 without them.
pub const SMALL_MATRIX: usize = 16_384;

fn quantized<'a>(name: &str, t: &TensorInfo, raw: &[u8], bits: u32) -> Vec<Stored<'a>> {
    let rows = t.shape[0].max(1);
    let values: Vec<f32> = floats(raw).collect();
    let bits = if bits <= 4 && values.len() < SMALL_MATRIX { 8 } else { bits };
    let per_row = values.len() / rows;
    let levels = ((1 << (bits - 1)) - 1) as f32;
    let mut scales = Vec::with_capacity(rows * 4);
    let mut q = Vec::with_capacity(values.len());
    for row in values.chunks(per_row.max(1)) {
        let scale = row_scale(row, levels);
        scales.extend(scale.to_le_bytes());
        q.extend(row.iter().map(|&v| level(v, scale, levels) as i8));
    }
    let (dtype, data) = if bits <= 4 {
        ("I4", q.chunks(2).map(|pair| (pair[0] as u8 & 0x0f) | ((*pair.get(1).unwrap_or(&0) as u8) << 4)).collect())
    } else {
        ("I8", q.into_iter().map(|v| v as u8).collect())
    };
    vec![
        Stored { name: name.into(), dtype: dtype.into(), shape: t.shape.clone(), data: Cow::Owned(data) },
        Stored {
            name: format!("{name}{SCALE_SUFFIX}"),
            dtype: "F32".into(),
            shape: vec![rows],
            data: Cow::Owned(scales),
        },
    ]
}

/// The integer level of `v` at `scale`, within +-`levels`.
fn level(v: f32, scale: f32, levels: f32) -> f32 {
    if scale > 0.0 {
        (v / scale).round().clamp(-levels, levels)
    } else {
        0.0
    }
}

/// The scale of a row at +-`levels`: its largest magnitude, or a fraction of it down to 30%
/// when clipping the few larger weights lowers the row's squared error.
fn row_scale(row: &[f32], levels: f32) -> f32 {
    let largest = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = |scale: f32| row.iter().map(|&v| (v - level(v, scale, levels) * scale).powi(2)).sum::<f32>();
    (6..=20)
        .map(|k| largest * k as f32 / 20.0 / levels)
        .min_by(|a, b| error(*a).total_cmp(&error(*b)))
        .expect("candidates")
}

/// The file with f16 and 8-bit tensors widened to f32, which is what the models compute in.
fn widened(bytes: &[u8]) -> Result<Cow<'_, [u8]>, WeightsError> {
    let header = read_header(bytes)?;
    if header.tensors.values().all(|t| t.dtype == "F32") {
        return Ok(Cow::Borrowed(bytes));
    }
    let data_of = |t: &TensorInfo| &bytes[header.data_start + t.offsets[0]..header.data_start + t.offsets[1]];
    rewrite(
        bytes,
        |_| {},
        |name, t, raw| {
            if name.ends_with(SCALE_SUFFIX) {
                return Ok(vec![]); // read with its tensor below
            }
            Ok(vec![match t.dtype.as_str() {
                "F16" => {
                    let data = raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32());
                    Stored {
                        name: name.into(),
                        dtype: "F32".into(),
                        shape: t.shape.clone(),
                        data: Cow::Owned(f32_bytes(data)),
                    }
                }
                "I8" | "I4" => {
                    let scales = header
                        .tensors
                        .get(&format!("{name}{SCALE_SUFFIX}"))
                        .filter(|s| s.dtype == "F32" && t.shape.first() == s.shape.first() && s.shape.len() == 1)
                        .ok_or_else(|| {
                            WeightsError::Corrupt(format!("integer tensor {name} has no scales of its rows"))
                        })?;
                    let scales: Vec<f32> = floats(data_of(scales)).collect();
                    let codes = integer_codes(&t.dtype, raw, t.shape.iter().product());
                    let per_row = codes.len() / scales.len().max(1);
                    let mut data = Vec::with_capacity(4 * codes.len());
                    for (row, &s) in codes.chunks(per_row.max(1)).zip(&scales) {
                        row.iter().for_each(|&q| data.extend_from_slice(&(q as f32 * s).to_le_bytes()));
                    }
                    Stored { name: name.into(), dtype: "F32".into(), shape: t.shape.clone(), data: Cow::Owned(data) }
                }
                _ => kept(name, t, raw),
            }])
        },
    )
    .map(Cow::Owned)
}

/// The `len` signed codes of an integer tensor: one a byte (I8), or two a byte, low half first (I4).
fn integer_codes(dtype: &str, raw: &[u8], len: usize) -> Vec<i8> {
    match dtype {
        "I4" => {
            // plain loops here and in `widened`: the page widens its 4-bit generator before its
            // first image, and iterators of flattened arrays were a sixth of its load
            let mut codes = Vec::with_capacity(2 * raw.len());
            for &b in raw {
                codes.push(((b << 4) as i8) >> 4);
                codes.push((b as i8) >> 4);
            }
            codes.truncate(len);
            codes
        }
        _ => raw.iter().map(|&b| b as i8).collect(),
    }
}

/// Values as little-endian f32 bytes, written into one buffer of their size (a flattened
/// iterator of 4-byte arrays cannot reserve it).
fn f32_bytes(values: impl ExactSizeIterator<Item = f32>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 * values.len());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// Rewrites a weights file: its metadata edited by `edit` and each tensor (in file order) replaced
/// by what `f` makes of it (none, itself, or several).
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut BTreeMap<String, String>),
    f: impl for<'a> Fn(&str, &TensorInfo, &'a [u8]) -> Result<Vec<Stored<'a>>, WeightsError>,
) -> Result<Vec<u8>, WeightsError> {
    let mut header = read_header(bytes)?;
    edit(&mut header.metadata);
    let mut order: Vec<(&String, &TensorInfo)> = header.tensors.iter().collect();
    order.sort_by_key(|(_, t)| t.offsets[0]);
    let mut json = serde_json::Map::new();
    json.insert(
        "__metadata__".into(),
        serde_json::to_value(&header.metadata).map_err(|e| WeightsError::Save(e.to_string()))?,
    );
    let mut data = Vec::with_capacity(bytes.len());
    for (name, t) in order {
        let raw = &bytes[header.data_start + t.offsets[0]..header.data_start + t.offsets[1]];
        for stored in f(name, t, raw)? {
            let start = data.len();
            data.extend_from_slice(&stored.data);
            json.insert(
                stored.name,
                serde_json::json!({ "dtype": stored.dtype, "shape": stored.shape, "data_offsets": [start, data.len()] }),
            );
        }
    }
    let mut head = serde_json::to_vec(&json).map_err(|e| WeightsError::Save(e.to_string()))?;
    // the format asks for 8-byte aligned data: pad the header with spaces
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut out = (head.len() as u64).to_le_bytes().to_vec();
    out.extend(head);
    out.extend(data);
    Ok(out)
}

/// A copy of a weights file whose architecture config `edit` changed (tests of what a damaged or
/// hostile file does to a loader).
#[cfg(test)]
pub(crate) fn with_config(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let metadata = |m: &mut BTreeMap<String, String>| {
        let mut config: serde_json::Value = serde_json::from_str(&m[CONFIG_KEY]).expect("a config");
        edit(&mut config);
        m.insert(CONFIG_KEY.into(), config.to_string());
    };
    rewrite(bytes, metadata, |name, t, raw| Ok(vec![kept(name, t, raw)])).expect("a weights file")
}

/// Fails on the first tensor with a NaN or infinite value (`bytes` widened to f32): such a
/// file would load and then draw black images or train to NaN with no word of why.
fn check_finite(bytes: &[u8]) -> Result<(), WeightsError> {
    let header = read_header(bytes)?;
    for (name, t) in &header.tensors {
        let data = &bytes[header.data_start + t.offsets[0]..header.data_start + t.offsets[1]];
        let finite = data.chunks_exact(4).all(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]]).is_finite());
        if t.dtype == "F32" && !finite {
            return Err(WeightsError::NotFinite(name.clone()));
        }
    }
    Ok(())
}

/// An architecture config that builds a model and names its kind in weights files.
pub trait Architecture: Serialize + DeserializeOwned {
    type Model: Module;
    const KIND: &'static str;
    fn check(&self) -> Result<(), String>;
    fn init(&self, device: &Device) -> Self::Model;
}

/// A model's weights file.
pub fn to_bytes<A: Architecture>(model: &A::Model, config: &A) -> Result<Vec<u8>, WeightsError> {
    save(model, A::KIND, config)
}

/// Rebuilds a model from a weights file's bytes, checking every tensor.
pub fn from_bytes<A: Architecture>(bytes: &[u8], device: &Device) -> Result<(A::Model, A), WeightsError> {
    let config: A = config_of(bytes, A::KIND)?;
    config.check().map_err(WeightsError::Corrupt)?;
    Ok((load_into(config.init(device), bytes)?, config))
}

/// Serialises a module's parameters with its kind and config.
pub fn save<M: Module>(module: &M, kind: &str, config: &impl Serialize) -> Result<Vec<u8>, WeightsError> {
    save_store(module, kind, config, |s| s)
}

/// As [`save`], only the parameters whose path matches `pattern` (a regex).
pub fn save_part<M: Module>(
    module: &M,
    kind: &str,
    config: &impl Serialize,
    pattern: &str,
) -> Result<Vec<u8>, WeightsError> {
    save_store(module, kind, config, |s| s.with_regex(pattern))
}

// Tensor names leave out enum variants (the generator's prompt encoder designs): a design's
// tensors are named by the fields that hold them, as in a file of that design alone.
fn save_store<M: Module>(
    module: &M,
    kind: &str,
    config: &impl Serialize,
    select: impl FnOnce(SafetensorsStore) -> SafetensorsStore,
) -> Result<Vec<u8>, WeightsError> {
    let json = serde_json::to_string(config).map_err(|e| WeightsError::Save(e.to_string()))?;
    let mut store = select(
        SafetensorsStore::from_bytes(None).skip_enum_variants(true).metadata(KIND_KEY, kind).metadata(CONFIG_KEY, json),
    );
    module.save_into(&mut store).map_err(|e| WeightsError::Save(e.to_string()))?;
    store.get_bytes().map_err(|e| WeightsError::Save(e.to_string()))
}

/// The kind-checked config of a file.
pub fn config_of<C: DeserializeOwned>(bytes: &[u8], kind: &str) -> Result<C, WeightsError> {
    let header = read_header(bytes)?;
    if header.kind != kind {
        return Err(WeightsError::WrongKind { expected: kind.into(), found: header.kind });
    }
    serde_json::from_str(&header.config).map_err(|e| WeightsError::Corrupt(format!("config: {e}")))
}

/// Fills `module` from `bytes`; every parameter must be present with its shape and dtype,
/// and no tensor may be left over.
pub fn load_into<M: Module>(module: M, bytes: &[u8]) -> Result<M, WeightsError> {
    load_part(module, bytes, |_| true)
}

/// As [`load_into`] for a file holding part of `module`: the parameters whose path `expected`
/// accepts must all be there, and nothing else may be.
pub fn load_part<M: Module>(mut module: M, bytes: &[u8], expected: impl Fn(&str) -> bool) -> Result<M, WeightsError> {
    let bytes = widened(bytes)?;
    check_finite(&bytes)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes.into_owned()))
        .skip_enum_variants(true)
        .validate(true)
        .allow_partial(true);
    let result = module.load_from(&mut store).map_err(|e| WeightsError::Mismatch(e.to_string()))?;
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    problems.extend(result.missing.iter().filter(|(p, _)| expected(p)).map(|(p, _)| format!("missing tensor '{p}'")));
    problems.extend(result.applied.iter().filter(|p| !expected(p)).map(|p| format!("unexpected tensor '{p}'")));
    problems.extend(result.unused.iter().map(|p| format!("unexpected tensor '{p}'")));
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch(problems.join("; ")));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    /// A linear layer's file and its weights, row by row (`inputs` rows of `outputs`).
    fn linear(inputs: usize, outputs: usize) -> (Vec<u8>, Vec<f32>) {
        let layer: Linear = LinearConfig::new(inputs, outputs).init(&Device::flex());
        let weights = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        (save(&layer, "linear", &"test").unwrap(), weights)
    }

    fn loaded(bytes: &[u8], inputs: usize, outputs: usize) -> Vec<f32> {
        let layer = load_into(LinearConfig::new(inputs, outputs).init(&Device::flex()), bytes).unwrap();
        layer.weight.val().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn four_bits_pack_two_levels_a_byte_and_load_as_those_levels() {
        let (inputs, outputs) = (128, 2 * SMALL_MATRIX / 128);
        let (bytes, weights) = linear(inputs, outputs);
        let q4 = quantize(&bytes, 4).unwrap();
        let t = &read_header(&q4).unwrap().tensors["weight"];
        assert_eq!((t.dtype.as_str(), t.offsets[1] - t.offsets[0]), ("I4", inputs * outputs / 2));
        let back = loaded(&q4, inputs, outputs);
        for (row, row4) in weights.chunks(outputs).zip(back.chunks(outputs)) {
            // each row holds levels -7..=7 of one scale, both ends of the sign, close to the weights
            let scale = row4.iter().fold(0f32, |m, v| m.max(v.abs())) / 7.0;
            assert!(row4.iter().all(|v| ((v / scale).round() - v / scale).abs() < 1e-3), "{row4:?}");
            assert!(row4.iter().any(|&v| v < 0.0) && row4.iter().any(|&v| v > 0.0));
            let error = row.iter().zip(row4).map(|(a, b)| (a - b).abs()).sum::<f32>() / outputs as f32;
            assert!(error < 0.5 * scale, "mean error {error} at a level of {scale}");
        }
        // an odd count leaves the last byte's upper half empty
        let (bytes, _) = linear(129, outputs + 1);
        let t = &read_header(&quantize(&bytes, 3).unwrap()).unwrap().tensors["weight"];
        assert_eq!((t.dtype.as_str(), t.offsets[1] - t.offsets[0]), ("I4", (129 * (outputs + 1)).div_ceil(2)));
    }

    #[test]
    fn small_matrices_keep_eight_bits_under_four() {
        let (bytes, weights) = linear(16, 16);
        let (q4, q8) = (quantize(&bytes, 4).unwrap(), quantize(&bytes, 8).unwrap());
        assert!(q4 == q8 && read_header(&q4).unwrap().tensors["weight"].dtype == "I8");
        let back = loaded(&q4, 16, 16);
        assert!(
            weights.iter().zip(&back).all(|(a, b)| (a - b).abs() < 0.01),
            "8 bits keep the weights within a percent"
        );
    }

    #[test]
    fn the_mean_of_files_is_their_elementwise_mean_and_refuses_other_models() {
        let (a, wa) = linear(8, 4);
        let (b, wb) = linear(8, 4);
        // an f16 member is widened first: its mean with the others is taken at f32
        let mean = mean_of(&[&a, &to_f16(&b).unwrap(), &a]).unwrap();
        let back = loaded(&mean, 8, 4);
        for ((x, y), m) in wa.iter().zip(&wb).zip(&back) {
            assert!((m - (2.0 * x + y) / 3.0).abs() < 1e-3, "{m} against {x}, {y}");
        }
        assert_eq!(read_header(&mean).unwrap().tensors["weight"].dtype, "F32");
        let (other, _) = linear(8, 5);
        assert!(matches!(mean_of(&[&a, &other]), Err(WeightsError::Mismatch(_))));
        assert!(mean_of(&[]).is_err());
    }
}
