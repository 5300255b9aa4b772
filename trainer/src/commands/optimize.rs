//! `trainer reno` and `trainer best-of-n`: the test-time baselines on one prompt and seed,
//! against a chosen reward.

use super::model_args::GeneratorArg;
use super::OneImage;
use crate::backend::{describe, DeviceKind, OnBackend, TrainBackend};
use crate::png_io;
use crate::rewards::Reward;
use anyhow::{anyhow, Result};
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::Generator;
use hypernoise::optimize::best_of_n::best_of_n;
use hypernoise::optimize::reno::{reno, RenoConfig};
use std::time::Instant;

/// The reward to optimise (see `rewards`).
#[derive(clap::Args, Clone, Debug)]
pub struct RewardArg {
    /// `redness`, a learned reward's weights file, or a weighted sum (`a.safetensors+0.5*redness`).
    #[arg(long, default_value = "redness")]
    pub reward: String,
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

/// What a test-time method works with.
struct Loaded<B: Backend> {
    generator: Generator<B>,
    resolution: usize,
    reward: Reward<B>,
    /// The prompt's tokens and its encoding.
    tokens: Tensor<B, 2, Int>,
    cond: Tensor<B, 3>,
}

impl Problem {
    fn load<B: Backend>(&self, device: &B::Device) -> Result<Loaded<B>> {
        let (generator, config) = self.generator.load::<B>(device)?;
        let tokens = tokens_tensor::<B>(&encode_prompts(&[&self.image.prompt]).map_err(|e| anyhow!("{e}"))?, device);
        let reward = Reward::parse(&self.reward.reward, config.resolution, device)?;
        let cond = generator.encode(tokens.clone());
        Ok(Loaded { generator, resolution: config.resolution, reward, tokens, cond })
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

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let Loaded { generator, resolution, reward, tokens, cond } = self.problem.load::<B>(&device)?;
        let (g, OneImage { seed, out, .. }) = (generator.no_grad(), &self.problem.image);
        let z = noise_tensor::<B>(&[*seed], resolution, &device);
        let settings = RenoConfig { iterations: self.iterations, lr: self.lr, ..RenoConfig::default() };
        let started = Instant::now();
        let result = reno(
            &g,
            cond,
            z,
            |x| reward.score(x, tokens.clone()),
            &settings,
            |i, r| eprintln!("reno iteration {i:3}: reward {r:.4}"),
        );
        let seconds = started.elapsed().as_secs_f64();
        png_io::write(out, &tensor_to_images(result.images)[0])?;
        println!(
            "wrote {}: reward {:.4} -> {:.4} (best) in {seconds:.2} s on {}",
            out.display(),
            result.curve[0],
            result.rewards[0],
            describe(kind)
        );
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

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let Loaded { generator: g, resolution, reward, tokens, cond } =
            self.problem.load::<B::InnerBackend>(&device)?;
        let OneImage { seed, out, .. } = &self.problem.image;
        let seeds: Vec<Vec<u64>> = vec![(0..self.n.max(1) as u64).map(|i| seed + i).collect()];
        let started = Instant::now();
        let score_batch = |x: Tensor<B::InnerBackend, 4>| {
            let n = x.dims()[0] as i64;
            reward.score(x, tokens.clone().expand([n, -1]))
        };
        let best = best_of_n(&g, cond, &seeds, resolution, score_batch);
        png_io::write(out, &tensor_to_images(best.images)[0])?;
        println!(
            "wrote {}: best of {} is seed {} (reward {:.4}) in {:.2} s on {}",
            out.display(),
            self.n.max(1),
            best.seeds[0],
            best.rewards[0],
            started.elapsed().as_secs_f64(),
            describe(kind)
        );
        Ok(())
    }
}
