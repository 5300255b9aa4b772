//! The text-conditioned generator. One network serves both roles of the pipeline:
//! the flow-matching **teacher** (a velocity field v(x_t, t, prompt), sampled with an ODE
//! solver and classifier-free guidance) and the distilled **one-step student**
//! g(z, prompt) = z + v(z, 0, prompt), initialised from the teacher and trained to land where
//! the teacher's guided ODE lands from the same noise. g is deterministic in z, so the
//! noise-to-image map is meaningful for noise optimisation (ReNO, HyperNoise).

pub mod config;
pub mod flow;
pub mod noise;
pub mod pixels;
pub mod prompt_encoder;
pub mod unet;

pub use config::GeneratorConfig;

#[cfg(test)]
pub(crate) mod tests;

use burn::prelude::*;
use prompt_encoder::PromptEncoder;
use crate::weights::{self, Architecture, WeightsError};
use serde::{Deserialize, Serialize};
use unet::{TimeEmbedding, UNet};

#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    pub prompt: PromptEncoder<B>,
    pub time: TimeEmbedding<B>,
    pub unet: UNet<B>,
}

impl Architecture for GeneratorConfig {
    type Model<B: Backend> = Generator<B>;
    /// Teacher and student alike: one architecture.
    const KIND: &'static str = "generator";

    fn check(&self) -> Result<(), String> {
        GeneratorConfig::check(self)
    }

    fn init<B: Backend>(&self, device: &B::Device) -> Generator<B> {
        Generator {
            prompt: PromptEncoder::new(self.token_dim, self.emb_dim, device),
            time: TimeEmbedding::new(self, device),
            unet: UNet::new(self, device),
        }
    }
}

impl<B: Backend> Generator<B> {
    /// The prompt's conditioning vector (B, emb_dim); all-padding tokens give the
    /// unconditional one used by classifier-free guidance.
    pub fn encode(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        self.prompt.forward(tokens)
    }

    /// Flow velocity at `x` (B, 3, H, W), times `t` (B) in [0, 1] (0 = noise, 1 = image).
    pub fn velocity(&self, x: Tensor<B, 4>, t: Tensor<B, 1>, cond: Tensor<B, 2>) -> Tensor<B, 4> {
        self.unet.forward(x, cond + self.time.forward(t))
    }

    /// The one-step generator: a single Euler step over the whole flow, z -> image in [-1, 1]
    /// (unclamped: clamping happens when pixels are made, so gradients stay informative).
    pub fn one_step(&self, z: Tensor<B, 4>, cond: Tensor<B, 2>) -> Tensor<B, 4> {
        let [b, ..] = z.dims();
        let t = Tensor::zeros([b], &z.device());
        z.clone() + self.velocity(z, t, cond)
    }
}

impl<B: Backend> Generator<B> {
    pub fn to_bytes(&self, config: &GeneratorConfig) -> Result<Vec<u8>, WeightsError> {
        weights::to_bytes(self, config)
    }

    pub fn from_bytes(bytes: &[u8], device: &B::Device) -> Result<(Self, GeneratorConfig), WeightsError> {
        weights::from_bytes(bytes, device)
    }
}

/// How images are drawn from a generator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// The distilled student: g(z, prompt), one network evaluation.
    OneStep,
    /// The teacher: `steps` Euler steps with classifier-free guidance (2 evaluations a step).
    Flow { steps: usize, guidance: f32 },
}

impl Sampler {
    /// Network function evaluations per image.
    pub fn nfe(&self) -> usize {
        match self {
            Sampler::OneStep => 1,
            Sampler::Flow { steps, .. } => 2 * steps,
        }
    }
}

impl<B: Backend> Generator<B> {
    /// Images in [-1, 1] (unclamped) from noise and prompt tokens.
    pub fn generate(&self, z: Tensor<B, 4>, tokens: Tensor<B, 2, Int>, sampler: Sampler) -> Tensor<B, 4> {
        match sampler {
            Sampler::OneStep => self.one_step(z, self.encode(tokens)),
            Sampler::Flow { steps, guidance } => flow::sample(self, z, tokens, steps, guidance),
        }
    }
}
