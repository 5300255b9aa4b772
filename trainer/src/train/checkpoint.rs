//! Resumable training state: the model and optimizer records plus a small JSON state (and the
//! model's weights file, so any checkpoint can be sampled or evaluated as it is), written
//! to `checkpoint.tmp/` and swapped in by renames, so a run killed at any moment leaves either
//! the previous checkpoint or the new one, never a half-written one.

use super::optimizer::Optimizer;
use anyhow::{Context, Result};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

const CURRENT: &str = "checkpoint";
const NEXT: &str = "checkpoint.tmp";
const PREVIOUS: &str = "checkpoint.old";
/// The checkpoint's model as a weights file (`trainer sample --weights DIR/checkpoint/weights.safetensors`).
pub const WEIGHTS: &str = "weights.safetensors";

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::files::write(path, bytes)
}

pub fn save<M: Module, O: Optimizer, S: Serialize>(
    run_dir: &Path,
    model: &M,
    optim: &O,
    state: &S,
    weights: &[u8],
) -> Result<()> {
    let next = run_dir.join(NEXT);
    let _ = std::fs::remove_dir_all(&next);
    std::fs::create_dir_all(&next).with_context(|| format!("cannot create {}", next.display()))?;
    let model_bytes = model.clone().into_record().into_bytes().context("cannot serialise the model")?;
    let optim_bytes = optim.to_bytes()?;
    write(&next.join("model.bpk"), &model_bytes)?;
    write(&next.join("optim.bpk"), &optim_bytes)?;
    write(&next.join(WEIGHTS), weights)?;
    write(&next.join("state.json"), serde_json::to_string_pretty(state)?.as_bytes())?;
    let (current, previous) = (run_dir.join(CURRENT), run_dir.join(PREVIOUS));
    let _ = std::fs::remove_dir_all(&previous);
    if current.exists() {
        std::fs::rename(&current, &previous)?;
    }
    std::fs::rename(&next, &current)?;
    let _ = std::fs::remove_dir_all(&previous);
    Ok(())
}

/// The newest complete checkpoint's folder, if any. A checkpoint folder without its state
/// file is damaged, not absent: starting over would overwrite it.
pub fn find(run_dir: &Path) -> Result<Option<PathBuf>> {
    let found = [CURRENT, PREVIOUS].iter().map(|d| run_dir.join(d)).find(|d| d.join("state.json").exists());
    let current = run_dir.join(CURRENT);
    if found.is_none() && current.is_dir() {
        anyhow::bail!(
            "{} has no state.json: the checkpoint is damaged; restore it, or remove {} to start over",
            current.display(),
            current.display()
        );
    }
    Ok(found)
}

pub fn load_state<S: DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged; remove the folder to start over", path.display()))
}

/// The checkpoint's parameters loaded into `model` (on the devices `model` is on).
pub fn load_model<M: Module>(dir: &Path, model: M) -> Result<M> {
    let path = dir.join("model.bpk");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .and_then(|record| model.try_load_record(record))
        .with_context(|| format!("{} does not fit this model", path.display()))
}

pub fn load_optim<O: Optimizer>(dir: &Path, optim: O) -> Result<O> {
    let path = dir.join("optim.bpk");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    optim.with_bytes(bytes).with_context(|| format!("{} does not fit this optimizer", path.display()))
}
