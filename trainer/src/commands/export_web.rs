//! `trainer export-web`: the browser's copies of the shipped models, their matrices stored at 8
//! bits with per-row scales (a quarter of the download; the models still compute in f32;
//! `weights::to_q8`). The adapters are re-stamped with the 8-bit generator's fingerprint, since
//! that is the generator they will run on.

use crate::models::{read, shipped};
use anyhow::{anyhow, Context, Result};
use burn::backend::Flex;
use hypernoise::hypernet::{fingerprint, Adapted};
use hypernoise::weights::to_q8;
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
}

pub fn run(a: Args) -> Result<()> {
    let pick = |given: &Option<PathBuf>, file: &str| given.clone().unwrap_or_else(|| shipped(file));
    let generator = read(&pick(&a.generator, "generator.safetensors"))?;
    let adapters_path = pick(&a.hypernoise, "hypernoise.safetensors");
    let generator_q8 = to_q8(&generator)?;
    let (adapted, mut config) = Adapted::<Flex>::load(&generator, &read(&adapters_path)?, &Default::default())
        .map_err(|e| anyhow!("cannot load {}: {e}", adapters_path.display()))?;
    config.generator_fingerprint = fingerprint(&generator_q8);
    let reward_path = pick(&a.reward, "reward.safetensors");
    let reward = read(&reward_path)?;
    hypernoise::weights::config_of::<hypernoise::reward::RewardConfig>(&reward, "reward")
        .map_err(|e| anyhow!("{}: {e}", reward_path.display()))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    for (name, bytes) in
        [("generator", generator_q8), ("hypernoise", to_q8(&adapted.to_bytes(&config)?)?), ("reward", to_q8(&reward)?)]
    {
        let path = a.out.join(format!("{name}.safetensors"));
        crate::files::write(&path, &bytes)?;
        println!("wrote {} ({:.2} MB)", path.display(), bytes.len() as f64 / 1e6);
    }
    Ok(())
}
