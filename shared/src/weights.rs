//! Weights files: safetensors (f32) whose metadata names the model kind and holds its
//! architecture config, so a file rebuilds its own network. Loading checks the header against
//! the file size, then every tensor's name, shape and dtype, and fails with a readable error.

use burn::prelude::*;
use burn_store::{ModuleSnapshot, SafetensorsStore};
use serde::de::DeserializeOwned;
use serde::Serialize;
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
}

/// What a file's header says, read without touching tensor data.
#[derive(Debug)]
pub struct Header {
    pub kind: String,
    pub config: String,
    /// name -> (dtype, shape)
    pub tensors: BTreeMap<String, (String, Vec<usize>)>,
}

pub fn read_header(bytes: &[u8]) -> Result<Header, WeightsError> {
    let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| WeightsError::Truncated(format!("{} bytes", bytes.len())))?;
    let header_len = u64::from_le_bytes(len_bytes) as usize;
    let body = bytes.len() - 8;
    if header_len > body {
        return Err(WeightsError::Truncated(format!("header of {header_len} bytes, only {body} follow")));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).map_err(|e| WeightsError::Corrupt(format!("header is not JSON ({e})")))?;
    let data_len = body - header_len;
    let mut meta = BTreeMap::new();
    let mut tensors = BTreeMap::new();
    for (name, v) in header {
        if name == "__metadata__" {
            meta = serde_json::from_value::<BTreeMap<String, String>>(v).map_err(|e| WeightsError::Corrupt(format!("metadata: {e}")))?;
            continue;
        }
        let field = |k: &str| v.get(k).cloned().ok_or_else(|| WeightsError::Corrupt(format!("tensor {name} has no {k}")));
        let dtype: String = serde_json::from_value(field("dtype")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        let shape: Vec<usize> = serde_json::from_value(field("shape")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        let [_, end]: [usize; 2] = serde_json::from_value(field("data_offsets")?).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
        if end > data_len {
            return Err(WeightsError::Truncated(format!("tensor {name} ends at byte {end} of {data_len}")));
        }
        tensors.insert(name, (dtype, shape));
    }
    let get = |k: &str| meta.get(k).cloned().ok_or_else(|| WeightsError::Corrupt(format!("no '{k}' in the metadata: not a HyperNoise weights file")));
    Ok(Header { kind: get(KIND_KEY)?, config: get(CONFIG_KEY)?, tensors })
}

/// An architecture config that builds a model and names its kind in weights files.
pub trait Architecture: Serialize + DeserializeOwned {
    type Model<B: Backend>: Module<B>;
    const KIND: &'static str;
    fn check(&self) -> Result<(), String>;
    fn init<B: Backend>(&self, device: &B::Device) -> Self::Model<B>;
}

/// A model's weights file.
pub fn to_bytes<B: Backend, A: Architecture>(model: &A::Model<B>, config: &A) -> Result<Vec<u8>, WeightsError> {
    save(model, A::KIND, config)
}

/// Rebuilds a model from a weights file's bytes, checking every tensor.
pub fn from_bytes<B: Backend, A: Architecture>(bytes: &[u8], device: &B::Device) -> Result<(A::Model<B>, A), WeightsError> {
    let config: A = config_of(bytes, A::KIND)?;
    config.check().map_err(WeightsError::Corrupt)?;
    Ok((load_into(config.init(device), bytes)?, config))
}

/// Serialises a module's parameters with its kind and config.
pub fn save<B: Backend, M: Module<B>>(module: &M, kind: &str, config: &impl Serialize) -> Result<Vec<u8>, WeightsError> {
    save_store(module, kind, config, |s| s)
}

/// As [`save`], only the parameters whose path matches `pattern` (a regex).
pub fn save_part<B: Backend, M: Module<B>>(module: &M, kind: &str, config: &impl Serialize, pattern: &str) -> Result<Vec<u8>, WeightsError> {
    save_store(module, kind, config, |s| s.with_regex(pattern))
}

fn save_store<B: Backend, M: Module<B>>(module: &M, kind: &str, config: &impl Serialize, select: impl FnOnce(SafetensorsStore) -> SafetensorsStore) -> Result<Vec<u8>, WeightsError> {
    let json = serde_json::to_string(config).map_err(|e| WeightsError::Save(e.to_string()))?;
    let mut store = select(SafetensorsStore::from_bytes(None).metadata(KIND_KEY, kind).metadata(CONFIG_KEY, json));
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
pub fn load_into<B: Backend, M: Module<B>>(module: M, bytes: &[u8]) -> Result<M, WeightsError> {
    load_part(module, bytes, |_| true)
}

/// As [`load_into`] for a file holding part of `module`: the parameters whose path `expected`
/// accepts must all be there, and nothing else may be.
pub fn load_part<B: Backend, M: Module<B>>(mut module: M, bytes: &[u8], expected: impl Fn(&str) -> bool) -> Result<M, WeightsError> {
    read_header(bytes)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec())).validate(true).allow_partial(true);
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
