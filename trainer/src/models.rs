//! Loading shipped or trained weights from disk, and the inference pipeline over them.

use anyhow::{anyhow, bail, Context, Result};
use burn::prelude::*;
use hypernoise::generator::{Generator, GeneratorConfig};
use hypernoise::hypernet::{Adapted, AdapterConfig, FoldCheck};
use hypernoise::pipeline::{Method, Pipeline};
use hypernoise::world::split::{items, Item, Split};
use std::path::{Path, PathBuf};

/// A file the repository ships in weights/: looked up from the working directory (a binary
/// carried elsewhere, run from a checkout), then in the checkout it was built from.
pub fn shipped(file: &str) -> PathBuf {
    let here = Path::new("weights").join(file);
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights").join(file);
    if here.exists() || !built.exists() {
        here
    } else {
        built
    }
}

/// The student the repository ships.
pub fn shipped_generator() -> PathBuf {
    shipped("generator.safetensors")
}

/// A weights file's bytes, or an error naming it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))
}

pub fn load_generator(path: &Path, device: &Device) -> Result<(Generator, GeneratorConfig)> {
    Generator::from_bytes(&read(path)?, device).map_err(|e| anyhow!("cannot load {}: {e}", path.display()))
}

/// The `--init` generator of a training run, which must have `config`'s architecture (`what`
/// names it in the error).
pub fn load_init(path: &Path, config: &GeneratorConfig, what: &str, device: &Device) -> Result<Generator> {
    let (generator, found) = load_generator(path, device)?;
    anyhow::ensure!(&found == config, "--init {} has another architecture than {what}", path.display());
    Ok(generator)
}

/// Adapters loaded on the generator they were trained on (`trainer eval`, `trainer sample`).
pub fn load_adapters(generator: &Path, adapters: &Path, device: &Device) -> Result<(Adapted, AdapterConfig)> {
    Adapted::load(&read(generator)?, &read(adapters)?, device)
        .map_err(|e| anyhow!("cannot load {} on {}: {e}", adapters.display(), generator.display()))
}

/// The pipeline of a generator file and adapter files ([`Pipeline::load`]), each fold checked
/// ([`checked_pipeline`]).
pub fn load_pipeline(generator: &Path, adapters: &[PathBuf], device: &Device) -> Result<Pipeline> {
    let generator_bytes = read(generator)?;
    let adapter_bytes = adapters.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
    let names = adapters.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let with = if adapters.is_empty() { String::new() } else { format!(" with adapters {names}") };
    checked_pipeline(&generator_bytes, &adapter_bytes.iter().map(Vec::as_slice).collect::<Vec<_>>(), device)
        .with_context(|| format!("cannot load {}{with}", generator.display()))
}

/// Validation items the folds are checked on.
const FOLD_CHECK_ITEMS: usize = 16;

/// The pipeline of a generator and adapters, once each fold's images pass a [`FoldCheck`]
/// against the same adapters unfolded on the CPU: a wrong fold would otherwise make every later
/// image and number silently wrong.
pub fn checked_pipeline(generator: &[u8], adapters: &[&[u8]], device: &Device) -> Result<Pipeline> {
    let pipeline = Pipeline::load(generator, adapters, device)?;
    let probe: Vec<Item> = items(Split::Val).into_iter().take(FOLD_CHECK_ITEMS).collect();
    let prompts: Vec<&str> = probe.iter().map(|i| i.prompt.as_str()).collect();
    let inputs = pipeline.inputs(&prompts, &probe.iter().map(|i| i.seed).collect::<Vec<_>>())?;
    let cpu = Device::flex();
    for bytes in adapters {
        let (unfolded, config) = Adapted::load(generator, bytes, device)?;
        let (exact, _) = Adapted::load(generator, bytes, &cpu)?;
        let method = Method::of(config.role);
        let check = pipeline.check_fold(method, &unfolded, &exact, &cpu, &inputs)?;
        if !check.passed() {
            bail!(
                "the folded {} adapters' images are {} off their exact images on average per pixel, over {} and over twice this device's own unfolded ones ({} off): the fold is wrong on this device",
                method.name(),
                check.folded,
                FoldCheck::TOLERANCE,
                check.unfolded
            );
        }
    }
    Ok(pipeline)
}
