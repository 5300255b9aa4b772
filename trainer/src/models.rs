//! Loading shipped or trained weights from disk, and batched image generation.

use anyhow::{anyhow, bail, Context, Result};
use burn::backend::Flex;
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::{Generator, GeneratorConfig};
use hypernoise::hypernet::{Adapted, AdapterConfig, FoldCheck, Merged};
use hypernoise::world::Image;
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

/// Writes a file whole or not at all (a temporary file, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The student the repository ships.
pub fn shipped_generator() -> PathBuf {
    shipped("generator.safetensors")
}

/// A weights file's bytes, or an error naming it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))
}

pub fn load_generator<B: Backend>(path: &Path, device: &B::Device) -> Result<(Generator<B>, GeneratorConfig)> {
    Generator::from_bytes(&read(path)?, device).map_err(|e| anyhow!("cannot load {}: {e}", path.display()))
}

/// Adapters loaded on the generator they were trained on (`trainer eval`, `trainer sample`).
pub fn load_adapters<B: Backend>(
    generator: &Path,
    adapters: &Path,
    device: &B::Device,
) -> Result<(Adapted<B>, AdapterConfig)> {
    Adapted::load(&read(generator)?, &read(adapters)?, device)
        .map_err(|e| anyhow!("cannot load {} on {}: {e}", adapters.display(), generator.display()))
}

/// The adapters folded for inference ([`Merged::from_bytes`]), once their images for (z, tokens)
/// pass a [`FoldCheck`] against the same adapters unfolded on the CPU: a wrong fold would
/// otherwise make every later image and number silently wrong. `adapter_bytes` are `adapted`'s
/// adapters as a file; its passes on this device are measured for the record.
pub fn checked_fold<B: Backend>(
    generator: &[u8],
    adapter_bytes: &[u8],
    adapted: &Adapted<B>,
    z: Tensor<B, 4>,
    tokens: Tensor<B, 2, Int>,
) -> Result<Merged<B>> {
    let (merged, config) = Merged::from_bytes(generator, adapter_bytes, &z.device())?;
    let cpu = Default::default();
    let (exact, _) = Adapted::<Flex>::load(generator, adapter_bytes, &cpu)?;
    let check = merged.check(adapted, &exact, &cpu, z, tokens);
    eprintln!(
        "fold check ({:?} adapters): folded images {} off their exact (CPU) images; this device's unfolded ones {} off",
        config.role, check.folded, check.unfolded
    );
    if !check.passed() {
        bail!("the folded {:?} adapters' images are {} off their exact images (tolerance {}): the fold is wrong on this device", config.role, check.folded, FoldCheck::TOLERANCE);
    }
    Ok(merged)
}

/// Generates one image per (prompt, seed), `batch` at a time, with `draw(z, tokens)` (a
/// generator's `generate`, a `Drawer`'s `draw`), calling `done(n)` after each batch.
pub fn generate_images<B: Backend>(
    draw: impl Fn(Tensor<B, 4>, Tensor<B, 2, Int>) -> Tensor<B, 4>,
    resolution: usize,
    prompts: &[String],
    seeds: &[u64],
    batch: usize,
    device: &B::Device,
    mut done: impl FnMut(usize),
) -> Result<Vec<Image>> {
    let ids = encode_prompts(prompts).map_err(|e| anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(prompts.len());
    for (chunk, seed_chunk) in ids.chunks(batch.max(1)).zip(seeds.chunks(batch.max(1))) {
        let z = noise_tensor::<B>(seed_chunk, resolution, device);
        let x = draw(z, tokens_tensor::<B>(chunk, device));
        out.extend(tensor_to_images(x));
        done(chunk.len());
    }
    Ok(out)
}
