//! `trainer reno` and `trainer best-of-n`: the test-time baselines on one prompt and seed,
//! against a chosen reward.

use super::model_args::GeneratorArg;
use super::OneImage;
use crate::backend::{describe, DeviceKind, OnBackend};
use crate::png_io;
use anyhow::{anyhow, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::Generator;
use hypernoise::optimize::best_of_n::best_of_n;
use hypernoise::optimize::reno::{reno, RenoConfig};
use hypernoise::reward::analytic::redness;
use hypernoise::reward::RewardModel;
use std::path::PathBuf;
use std::time::Instant;

/// `redness`, or a learned reward's weights file (from `trainer reward`).
#[derive(clap::Args, Clone, Debug)]
pub struct RewardArg {
    #[arg(long, default_value = "redness")]
    pub reward: String,
}

pub enum Reward<B: Backend> {
    Redness,
    Learned(RewardModel<B>, Tensor<B, 2, Int>),
}

impl RewardArg {
    /// The reward for `prompt`; a learned one's parameters are frozen.
    pub fn load<B: Backend>(&self, prompt: &str, device: &B::Device) -> Result<Reward<B>> {
        if self.reward == "redness" {
            return Ok(Reward::Redness);
        }
        let path = PathBuf::from(&self.reward);
        let bytes = std::fs::read(&path).with_context(|| format!("--reward is neither 'redness' nor a readable weights file: {}", path.display()))?;
        let (model, _) = RewardModel::<B>::from_bytes(&bytes, device).map_err(|e| anyhow!("cannot load {}: {e}", path.display()))?;
        let tokens = tokens_tensor::<B>(&encode_prompts(&[prompt]).map_err(|e| anyhow!("{e}"))?, device);
        Ok(Reward::Learned(model.no_grad(), tokens))
    }
}

impl<B: Backend> Reward<B> {
    pub fn score(&self, x: Tensor<B, 4>) -> Tensor<B, 1> {
        match self {
            Reward::Redness => redness(x),
            Reward::Learned(model, tokens) => {
                let n = x.dims()[0];
                model.forward(x, tokens.clone().expand([n as i64, -1]))
            }
        }
    }
}

/// What both baselines take: one prompt and seed, a generator and a reward.
#[derive(clap::Args)]
pub struct Problem {
    #[command(flatten)]
    image: OneImage,
    #[command(flatten)]
    generator: GeneratorArg,
    #[command(flatten)]
    reward: RewardArg,
}

impl Problem {
    /// The generator, its resolution, the reward and the prompt's conditioning vector.
    fn load<B: Backend>(&self, device: &B::Device) -> Result<(Generator<B>, usize, Reward<B>, Tensor<B, 2>)> {
        let (g, config) = self.generator.load::<B>(device)?;
        let reward = self.reward.load::<B>(&self.image.prompt, device)?;
        let cond = g.encode(tokens_tensor::<B>(&encode_prompts(&[&self.image.prompt]).map_err(|e| anyhow!("{e}"))?, device));
        Ok((g, config.resolution, reward, cond))
    }
}

#[derive(clap::Args)]
pub struct RenoArgs {
    #[command(flatten)]
    problem: Problem,
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    #[arg(long, default_value_t = 5.0)]
    lr: f64,
}

impl OnBackend for RenoArgs {
    type Output = ();

    fn run<B: AutodiffBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let (g, resolution, reward, cond) = self.problem.load::<B>(&device)?;
        let (g, OneImage { seed, out, .. }) = (g.no_grad(), &self.problem.image);
        let z = noise_tensor::<B>(&[*seed], resolution, &device);
        let settings = RenoConfig { iterations: self.iterations, lr: self.lr, ..RenoConfig::default() };
        let started = Instant::now();
        let result = reno(&g, cond, z, |x| reward.score(x), &settings, |i, r| eprintln!("reno iteration {i:3}: reward {r:.4}"));
        let seconds = started.elapsed().as_secs_f64();
        png_io::write(out, &tensor_to_images(result.images)[0])?;
        println!("wrote {}: reward {:.4} -> {:.4} (best) in {seconds:.2} s on {}", out.display(), result.curve[0], result.rewards[0], describe(kind));
        Ok(())
    }
}

#[derive(clap::Args)]
pub struct BestOfNArgs {
    #[command(flatten)]
    problem: Problem,
    /// Candidates: seeds seed, seed + 1, ..., seed + n - 1.
    #[arg(long, default_value_t = 50)]
    n: usize,
}

impl OnBackend for BestOfNArgs {
    type Output = ();

    fn run<B: AutodiffBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let (g, resolution, reward, cond) = self.problem.load::<B::InnerBackend>(&device)?;
        let OneImage { seed, out, .. } = &self.problem.image;
        let seeds: Vec<u64> = (0..self.n.max(1) as u64).map(|i| seed + i).collect();
        let started = Instant::now();
        let (image, best, score) = best_of_n(&g, cond, &seeds, resolution, 64, |x| reward.score(x));
        png_io::write(out, &tensor_to_images(image)[0])?;
        println!("wrote {}: best of {} is seed {best} (reward {score:.4}) in {:.2} s on {}", out.display(), seeds.len(), started.elapsed().as_secs_f64(), describe(kind));
        Ok(())
    }
}
