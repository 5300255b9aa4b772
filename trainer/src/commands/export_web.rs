//! `trainer export-web`: the browser's copies of the shipped models, their matrices stored as
//! integers of a few bits with per-row scales (the models still compute in f32;
//! `weights::quantize`). The adapters are re-stamped with the quantised generator's
//! fingerprint, since that is the generator they will run on. A generator refit for its rounding
//! (`trainer quantise`) ships as that command wrote its copy.

use crate::models::{read, shipped};
use anyhow::{anyhow, Context, Result};
use burn::prelude::Device;
use hypernoise::hypernet::{fingerprint, Adapted};
use hypernoise::weights::{quantize, QUANTIZED_BITS};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Folder the page loads its models from.
    #[arg(long, default_value = "www/models")]
    out: PathBuf,
    /// Generator (default: weights/generator.safetensors).
    #[arg(long)]
    generator: Option<PathBuf>,
    /// Noise hypernetwork adapters trained on that generator (default: weights/hypernoise.safetensors).
    #[arg(long)]
    hypernoise: Option<PathBuf>,
    /// Learned reward (default: weights/reward.safetensors).
    #[arg(long)]
    reward: Option<PathBuf>,
    /// Bits per weight of the generator's matrices: at 6 the token-conditioned generator scores
    /// as at f16, at 5 it loses 0.05 (docs/browser.md); 6 bits download 0.76 of 8 bits'.
    #[arg(long, default_value_t = 6, value_parser = bits, conflicts_with = "browser_generator")]
    generator_bits: u32,
    /// Ship this quantised copy of the generator as it is instead of rounding the generator here:
    /// the copy `trainer quantise` writes (generator-q4.safetensors), refit so that its rounded
    /// weights draw what the generator draws. It must have the generator's architecture.
    #[arg(long)]
    browser_generator: Option<PathBuf>,
    /// Bits per weight of the hypernetwork's and the reward's matrices, fetched after the first
    /// image: at 5 the light hypernetwork lost 0.014 of its score, at 8 nothing that shows.
    #[arg(long, default_value_t = 8, value_parser = bits)]
    bits: u32,
}

pub fn bits(text: &str) -> Result<u32, String> {
    let bits: u32 = text.parse().map_err(|e| format!("{e}"))?;
    if !QUANTIZED_BITS.contains(&bits) {
        return Err(format!("from {} to {} bits", QUANTIZED_BITS.start(), QUANTIZED_BITS.end()));
    }
    Ok(bits)
}

/// A quantised copy of `generator` read from `path`, refused unless it is one: the generator's
/// kind and architecture, its matrices stored as integers.
fn shipped_copy(path: &std::path::Path, generator: &[u8]) -> Result<Vec<u8>> {
    use hypernoise::generator::GeneratorConfig;
    use hypernoise::weights::{config_of, read_header, Architecture};
    let copy = read(path)?;
    let of = |bytes: &[u8]| config_of::<GeneratorConfig>(bytes, GeneratorConfig::KIND);
    let (config, wanted) = (of(&copy).map_err(|e| anyhow!("{}: {e}", path.display()))?, of(generator)?);
    anyhow::ensure!(config == wanted, "{} has another architecture than the generator", path.display());
    let header = read_header(&copy)?;
    let integer = header.tensors.values().any(|t| t.dtype == "I8" || t.dtype == "I4");
    anyhow::ensure!(
        integer,
        "{} is not quantised: pass it as --generator, or `trainer quantise`'s copy here",
        path.display()
    );
    Ok(copy)
}

pub fn run(a: Args) -> Result<()> {
    let pick = |given: &Option<PathBuf>, file: &str| given.clone().unwrap_or_else(|| shipped(file));
    let generator = read(&pick(&a.generator, "generator.safetensors"))?;
    let adapters_path = pick(&a.hypernoise, "hypernoise.safetensors");
    let generator_q = match &a.browser_generator {
        Some(path) => shipped_copy(path, &generator)?,
        None => quantize(&generator, a.generator_bits)?,
    };
    let (adapted, mut config) = Adapted::load(&generator, &read(&adapters_path)?, &Device::flex())
        .map_err(|e| anyhow!("cannot load {}: {e}", adapters_path.display()))?;
    config.generator_fingerprint = fingerprint(&generator_q);
    let reward_path = pick(&a.reward, "reward.safetensors");
    let reward = read(&reward_path)?;
    hypernoise::weights::config_of::<hypernoise::reward::RewardConfig>(&reward, "reward")
        .map_err(|e| anyhow!("{}: {e}", reward_path.display()))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    for (name, bytes) in [
        ("generator", generator_q),
        ("hypernoise", quantize(&adapted.to_bytes(&config)?, a.bits)?),
        ("reward", quantize(&reward, a.bits)?),
    ] {
        let path = a.out.join(format!("{name}.safetensors"));
        crate::files::write(&path, &bytes)?;
        println!("wrote {} ({:.2} MB)", path.display(), bytes.len() as f64 / 1e6);
    }
    Ok(())
}
