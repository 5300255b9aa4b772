//! The text-conditioned generator. One network serves both roles of the pipeline:
//! the flow-matching **teacher** (a velocity field v(x_t, t, prompt), sampled with an ODE
//! solver and classifier-free guidance) and the distilled **one-step student**
//! g(z, prompt) = z + v(z, 0, prompt), initialised from the teacher and trained to land where
//! the teacher's guided ODE lands from the same noise. g is deterministic in z, so the
//! noise-to-image map is meaningful for noise optimisation (ReNO, HyperNoise).
//! Built with LoRA adapters ([`layers`]), the same network is also the noise hypernetwork and
//! the fine-tuning baseline, chosen per call by [`Adapters`].

pub mod attention;
pub mod config;
pub mod constants;
pub mod flow;
pub mod layers;
pub mod noise;
pub mod pixels;
pub mod prompt_encoder;
pub mod text_encoder;
pub mod unet;

/// Path of the U-Net's output layer, the one the noise hypernetwork reads as its LoRA branch alone.
pub const OUTPUT_LAYER: &str = "unet.out";

pub use config::GeneratorConfig;
pub use layers::{Adapters, LoraConfig};

#[cfg(test)]
pub(crate) mod tests;

use crate::weights::{self, Architecture, WeightsError};
use burn::prelude::*;
use layers::Dense;
use prompt_encoder::PromptEncoder;
use serde::{Deserialize, Serialize};
use text_encoder::TextEncoder;
use unet::{TimeEmbedding, UNet};

/// The generator's prompt encoder, by design (`GeneratorConfig::attention`). Weights files
/// name the encoder's tensors without the variant (`prompt.fc1.weight`).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant, reason = "one per generator, chosen once at load")]
pub enum PromptEncoding {
    /// One pooled vector of `emb_dim` (`prompt_encoder`).
    Pooled(PromptEncoder),
    /// A summary token and every token slot, `token_dim` wide (`text_encoder`).
    Tokens(TextEncoder),
}

#[derive(Module, Debug)]
pub struct Generator {
    pub prompt: PromptEncoding,
    /// Token-conditioned design: the encoded summary token -> the embedding that, with time's,
    /// modulates the U-Net (the pooled design's vector is that embedding already).
    pub summary: Option<Dense>,
    pub time: TimeEmbedding,
    pub unet: UNet,
}

impl Architecture for GeneratorConfig {
    type Model = Generator;
    /// Teacher and student alike: one architecture.
    const KIND: &'static str = "generator";

    fn check(&self) -> Result<(), String> {
        GeneratorConfig::check(self)
    }

    fn init(&self, device: &Device) -> Generator {
        Generator::new(self, None, device)
    }
}

impl Generator {
    /// The network, with LoRA adapters on every linear and convolution layer when `lora` is set.
    pub fn new(config: &GeneratorConfig, lora: Option<LoraConfig>, device: &Device) -> Self {
        let (prompt, summary) = match config.attention {
            None => (PromptEncoding::Pooled(PromptEncoder::new(config.token_dim, config.emb_dim, lora, device)), None),
            Some(att) => (
                PromptEncoding::Tokens(TextEncoder::new(config.token_dim, att.heads, att.text_layers, lora, device)),
                Some(Dense::new(config.token_dim, config.emb_dim, lora, device)),
            ),
        };
        Generator {
            prompt,
            summary,
            time: TimeEmbedding::new(config, lora, device),
            unet: UNet::new(config, lora, device),
        }
    }

    /// The prompt's conditioning (B, slots, width): in the token-conditioned design the encoded
    /// summary and token slots (`text_encoder`), in the pooled design one slot, the pooled
    /// vector. All-padding tokens give the unconditional one used by classifier-free guidance.
    pub fn encode(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.encode_with(tokens, Adapters::Off)
    }

    pub fn encode_with(&self, tokens: Tensor<2, Int>, a: Adapters) -> Tensor<3> {
        match &self.prompt {
            PromptEncoding::Pooled(p) => p.forward(tokens, a).unsqueeze_dim(1),
            PromptEncoding::Tokens(p) => p.forward(tokens, a),
        }
    }

    /// Flow velocity at `x` (B, 3, H, W), times `t` (B) in [0, 1] (0 = noise, 1 = image).
    pub fn velocity(&self, x: Tensor<4>, t: Tensor<1>, cond: Tensor<3>) -> Tensor<4> {
        self.velocity_with(x, t, cond, Adapters::Off)
    }

    pub fn velocity_with(&self, x: Tensor<4>, t: Tensor<1>, cond: Tensor<3>, a: Adapters) -> Tensor<4> {
        let [b, _, d] = cond.dims();
        let first = cond.clone().slice([0..b, 0..1]).reshape([b, d]);
        let prompt = match &self.summary {
            Some(summary) => summary.forward(first, a),
            None => first,
        };
        let emb = prompt + self.time.forward(t, a);
        self.unet.forward(x, emb, cond, a)
    }

    /// The one-step generator: a single Euler step over the whole flow, z -> image in [-1, 1]
    /// (unclamped: clamping happens when pixels are made, so gradients stay informative).
    pub fn one_step(&self, z: Tensor<4>, cond: Tensor<3>) -> Tensor<4> {
        self.one_step_with(z, cond, Adapters::Off)
    }

    /// One step with the fine-tuning adapters (`Adapters::FineTune`) or without.
    pub fn one_step_with(&self, z: Tensor<4>, cond: Tensor<3>, a: Adapters) -> Tensor<4> {
        let t = Self::time_zero(&z);
        z.clone() + self.velocity_with(z, t, cond, a)
    }

    /// The noise hypernetwork's output f(z, prompt): the adapted network at t = 0 on the
    /// adapted prompt encoding, whose output layer is its LoRA branch alone (zero before training).
    pub fn noise_offset(&self, z: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<4> {
        self.noise_offset_with(z, tokens, Adapters::Hypernetwork)
    }

    /// As [`Generator::noise_offset`], with adapters `a`: `Off` on a copy whose weights absorbed
    /// the hypernetwork's adapters (`hypernet::fold`).
    pub fn noise_offset_with(&self, z: Tensor<4>, tokens: Tensor<2, Int>, a: Adapters) -> Tensor<4> {
        let t = Self::time_zero(&z);
        self.velocity_with(z, t, self.encode_with(tokens, a), a)
    }

    fn time_zero(z: &Tensor<4>) -> Tensor<1> {
        Tensor::zeros([z.dims()[0]], &z.device())
    }
}

impl Generator {
    pub fn to_bytes(&self, config: &GeneratorConfig) -> Result<Vec<u8>, WeightsError> {
        weights::to_bytes(self, config)
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(Self, GeneratorConfig), WeightsError> {
        weights::from_bytes(bytes, device)
    }
}

/// How images are drawn from a generator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// The distilled student: g(z, prompt), one network evaluation.
    OneStep,
    /// The teacher: `steps` Euler steps with classifier-free guidance (2 evaluations a step),
    /// their times shifted towards the noise by `shift` (1: evenly spaced).
    Flow {
        steps: usize,
        guidance: f32,
        #[serde(default = "evenly_spaced")]
        shift: f32,
    },
}

/// Records written before samplers had a shift were evenly spaced.
fn evenly_spaced() -> f32 {
    1.0
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

impl Generator {
    /// Images in [-1, 1] (unclamped) from noise and prompt tokens.
    pub fn generate(&self, z: Tensor<4>, tokens: Tensor<2, Int>, sampler: Sampler) -> Tensor<4> {
        match sampler {
            Sampler::OneStep => self.one_step(z, self.encode(tokens)),
            Sampler::Flow { steps, guidance, shift } => flow::sample(self, z, tokens, steps, guidance, shift),
        }
    }
}
