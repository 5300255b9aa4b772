//! What the test-time baselines (`trainer reno`, `trainer best-of-n`) take: one prompt and
//! seed, a generator and a reward.

use super::model_args::GeneratorArg;
use super::OneImage;
use crate::rewards::Reward;
use anyhow::Result;
use burn::prelude::*;
use hypernoise::generator::Generator;
use hypernoise::pipeline::Inputs;

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
    pub image: OneImage,
    #[command(flatten)]
    generator: GeneratorArg,
    #[command(flatten)]
    reward: RewardArg,
}

/// What a test-time method works with.
pub struct Loaded {
    pub generator: Generator,
    pub resolution: usize,
    pub reward: Reward,
    /// The prompt's tokens and the seed's noise.
    pub inputs: Inputs,
    /// The prompt's encoding.
    pub cond: Tensor<3>,
}

impl Problem {
    pub fn load(&self, device: &Device) -> Result<Loaded> {
        let (generator, config) = self.generator.load(device)?;
        let inputs = Inputs::new(&[&self.image.prompt], &[self.image.seed], config.resolution, device)?;
        let reward = Reward::parse(&self.reward.reward, config.resolution, device)?;
        let cond = generator.encode(inputs.tokens.clone());
        Ok(Loaded { generator, resolution: config.resolution, reward, inputs, cond })
    }
}
