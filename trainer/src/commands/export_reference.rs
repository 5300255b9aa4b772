//! `trainer export-reference`: what another implementation of the models must reproduce, so
//! that it can be checked against this one (the PyTorch twin in `bench/torch/` is). The shipped
//! generator, noise hypernetwork and learned reward run on the CPU on `fit`'s first batch for
//! `--seed` (training prompts, seeded noise), and `DIR/reference.safetensors` (f32) holds:
//! `z` (B, 3, H, W), `tokens` (B, 12, ids as f32), `base_image` g(z), `offset` f(z, c),
//! `hypernoise_image` g(z + f), `reward` r(g(z + f)) (B), `regulariser` 1/2 ||f||^2 summed over
//! each image's elements (B) and `loss`, fit's batch loss at `--reg-weight` 1 (1). Its metadata
//! holds the prompts, the noise seeds and that weight.

use super::fit::batch_prompts;
use crate::files;
use crate::models::{load_adapters, shipped, shipped_generator};
use crate::rewards::{shipped_reward, Reward};
use anyhow::{anyhow, bail, Context, Result};
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use hypernoise::generator::Sampler;
use hypernoise::hypernet::{batch_loss, objective_terms, Role};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Folder for reference.safetensors.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// The batch is `trainer fit --seed S`'s first one.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// lambda of the exported loss: the paper's objective.
const REG_WEIGHT: f32 = 1.0;

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let device = Device::flex();
    let adapters = shipped("hypernoise.safetensors");
    let (adapted, config) = load_adapters(&shipped_generator(), &adapters, &device)?;
    if config.role != Role::NoiseHypernetwork {
        bail!("{} holds {:?} adapters, not a noise hypernetwork", adapters.display(), config.role);
    }
    let reward = Reward::parse(&shipped_reward().display().to_string(), config.generator.resolution, &device)?;

    let (prompts, seeds) = batch_prompts(a.seed, 0, a.batch);
    let z = noise_tensor(&seeds, config.generator.resolution, &device);
    let tokens = tokens_tensor(&encode_prompts(&prompts).map_err(|e| anyhow!("{e}"))?, &device);
    let g = &adapted.model;
    let base = g.generate(z.clone(), tokens.clone(), Sampler::OneStep);
    let offset = g.noise_offset(z.clone(), tokens.clone());
    let hyper = g.generate(z.clone() + offset.clone(), tokens.clone(), Sampler::OneStep);
    let (reg, r) =
        objective_terms(&adapted, Role::NoiseHypernetwork, Sampler::OneStep, z.clone(), tokens.clone(), |x, t| {
            reward.score(x, t)
        });
    let loss = batch_loss(reg.clone(), r.clone(), REG_WEIGHT);
    let loss_value = loss.clone().into_scalar::<f32>();

    let tensors = [
        ("z", z.into_data()),
        ("tokens", tokens.float().into_data()),
        ("base_image", base.into_data()),
        ("offset", offset.into_data()),
        ("hypernoise_image", hyper.into_data()),
        ("reward", r.into_data()),
        ("regulariser", reg.into_data()),
        ("loss", loss.into_data()),
    ]
    .map(|(name, data)| (name, data.convert::<f32>()));
    let views = tensors
        .iter()
        .map(|(name, d)| Ok((*name, TensorView::new(Dtype::F32, d.shape().to_vec(), d.as_bytes())?)))
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([
        ("prompts".to_string(), serde_json::to_string(&prompts)?),
        ("seeds".to_string(), serde_json::to_string(&seeds)?),
        ("reg_weight".to_string(), REG_WEIGHT.to_string()),
    ]);
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let path = a.out.join("reference.safetensors");
    files::write(&path, &safetensors::serialize(views, Some(metadata))?)?;
    println!("wrote {} ({} prompts, seed {}; loss {loss_value:.6})", path.display(), a.batch, a.seed);
    Ok(())
}
