//! The light noise hypernetwork, in the spirit of LENS (arXiv 2605.07253): f(z, c) lives in the
//! lowest `grid` x `grid` spatial frequencies of each noise channel (an orthonormal DCT-II
//! basis), predicted from those same frequencies of z and the prompt by a small MLP; the prompt
//! is read by its own small encoder, or through the frozen generator's encoder, which learnt
//! from far more than the hypernetwork's training prompts ([`PromptSource`]). A LoRA
//! hypernetwork costs a whole generator pass; this one costs two small matrix products and
//! an MLP, so HyperNoise costs about what the base does. The coarse layout (where shapes go,
//! which colour a region takes) is what the generator reads from the noise's low frequencies,
//! so that is where a prompt's corrections are made.
//!
//! Because the basis is orthonormal, ||f||^2 over the 3 x H x W noise equals the squared norm of
//! the predicted coefficients: the objective's regulariser is the same KL term as for LoRA.

use crate::generator::layers::{Adapters, Dense};
use crate::generator::prompt_encoder::PromptEncoder;
use crate::generator::{Generator, GeneratorConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;
use serde::{Deserialize, Serialize};

/// The size of the light hypernetwork.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LightConfig {
    /// Frequencies kept per axis: f has `3 * grid^2` degrees of freedom.
    pub grid: usize,
    /// Width of the MLP's hidden layers.
    pub hidden: usize,
    /// Width of each token's embedding in its own prompt encoder (`PromptSource::Own`).
    pub token_dim: usize,
    /// Where it reads the prompt (files without this key read their own encoder).
    #[serde(default)]
    pub prompt: PromptSource,
}

/// Where the light hypernetwork reads the prompt from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum PromptSource {
    /// Its own prompt encoder, learnt with it from the training prompts alone.
    #[default]
    Own,
    /// The frozen generator's encoded prompt (its slots side by side), which the generator learnt
    /// from all its training images; encoding it again costs a small fraction of a U-Net pass.
    Generator,
}

impl LightConfig {
    pub const MAX_HIDDEN: usize = 4096;
    pub const MAX_TOKEN_DIM: usize = 512;

    /// What `trainer fit --design light` trains by default: 8 x 8 frequencies (a 64 x 64
    /// noise's coarsest 1/64), 512 hidden units.
    pub fn standard() -> Self {
        LightConfig { grid: 8, hidden: 512, token_dim: 16, prompt: PromptSource::Own }
    }

    /// Sizes that build a network for `resolution` x `resolution` noise.
    pub fn check(&self, resolution: usize) -> Result<(), String> {
        if !(1..=resolution).contains(&self.grid) {
            return Err(format!("light hypernetwork grid {} must be from 1 to the resolution {resolution}", self.grid));
        }
        if !(1..=Self::MAX_HIDDEN).contains(&self.hidden) || !(1..=Self::MAX_TOKEN_DIM).contains(&self.token_dim) {
            return Err(format!(
                "light hypernetwork widths hidden {} and token_dim {} must be from 1 to {} and {}",
                self.hidden,
                self.token_dim,
                Self::MAX_HIDDEN,
                Self::MAX_TOKEN_DIM
            ));
        }
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct LightHypernet {
    /// Its own prompt encoder; absent when it reads the generator's.
    prompt: Option<PromptEncoder>,
    fc1: Dense,
    fc2: Dense,
    /// Zero at init: f = 0, so training starts from the base generator.
    out: Dense,
    grid: usize,
}

/// Noise channels (RGB).
const CHANNELS: usize = 3;

impl LightHypernet {
    /// The network for `config`, beside a generator of `generator`'s design.
    pub fn new(config: &LightConfig, generator: &GeneratorConfig, device: &Device) -> Self {
        let coefficients = CHANNELS * config.grid * config.grid;
        let (prompt, prompt_width) = match config.prompt {
            PromptSource::Own => {
                (Some(PromptEncoder::new(config.token_dim, config.hidden, None, device)), config.hidden)
            }
            PromptSource::Generator => (None, generator.encoding_width()),
        };
        LightHypernet {
            prompt,
            fc1: Dense::new(coefficients + prompt_width, config.hidden, None, device),
            fc2: Dense::new(config.hidden, config.hidden, None, device),
            out: Dense::zeros(config.hidden, coefficients, device),
            grid: config.grid,
        }
    }

    /// Frequencies kept per axis.
    pub fn grid(&self) -> usize {
        self.grid
    }

    /// Where it reads the prompt.
    pub fn prompt_source(&self) -> PromptSource {
        if self.prompt.is_some() {
            PromptSource::Own
        } else {
            PromptSource::Generator
        }
    }

    /// f(z, c) for noise `z` (B, 3, H, H) and prompt tokens (B, MAX_TOKENS): (B, 3, H, H), in
    /// the span of the lowest `grid` x `grid` frequencies. `generator` is the frozen generator
    /// it was trained beside (read when the network reads the prompt through it).
    pub fn offset(&self, z: Tensor<4>, tokens: Tensor<2, Int>, generator: &Generator) -> Tensor<4> {
        let [b, c, _, _] = z.dims();
        let g = self.grid;
        let basis = basis_for(&z, g);
        let coefficients = to_frequencies(&basis, z);
        let prompt = match &self.prompt {
            Some(own) => own.forward(tokens, Adapters::Off),
            None => {
                let encoded = generator.encode(tokens);
                let [_, slots, width] = encoded.dims();
                encoded.reshape([b, slots * width])
            }
        };
        let x = Tensor::cat(vec![coefficients.reshape([b, c * g * g]), prompt], 1);
        let hidden = silu(self.fc1.forward(x, Adapters::Off));
        let hidden = hidden.clone() + silu(self.fc2.forward(hidden, Adapters::Off));
        let f = self.out.forward(hidden, Adapters::Off).reshape([b, c, g, g]);
        from_frequencies(&basis, f)
    }

    /// The part of `x` (B, 3, H, H) in this network's span: what it can express of another
    /// hypernetwork's offset.
    pub fn low_pass(&self, x: Tensor<4>) -> Tensor<4> {
        low_pass(x, self.grid)
    }
}

/// The lowest `grid` x `grid` frequencies of each map of `x` (B, C, H, H), as maps.
pub fn low_pass(x: Tensor<4>, grid: usize) -> Tensor<4> {
    let basis = basis_for(&x, grid);
    from_frequencies(&basis, to_frequencies(&basis, x))
}

/// The DCT basis for maps shaped as `x` (B, C, H, H), as (1, 1, H, grid).
fn basis_for(x: &Tensor<4>, grid: usize) -> Tensor<4> {
    dct_basis(x.dims()[2], grid, &x.device()).unsqueeze::<4>()
}

/// B^T x B: the kept frequencies of each map (B, C, grid, grid).
fn to_frequencies(basis: &Tensor<4>, x: Tensor<4>) -> Tensor<4> {
    basis.clone().transpose().matmul(x).matmul(basis.clone())
}

/// B F B^T: the maps (B, C, H, H) with frequencies `f`.
fn from_frequencies(basis: &Tensor<4>, f: Tensor<4>) -> Tensor<4> {
    basis.clone().matmul(f).matmul(basis.clone().transpose())
}

/// The first `k` orthonormal DCT-II basis vectors of length `n`, as columns (n, k):
/// B[i, j] = s_j cos(pi (i + 1/2) j / n), s_0 = sqrt(1/n), s_j = sqrt(2/n).
pub fn dct_basis(n: usize, k: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..k).map(move |j| {
                let s = if j == 0 { (1.0 / n as f64).sqrt() } else { (2.0 / n as f64).sqrt() };
                (s * (std::f64::consts::PI * (i as f64 + 0.5) * j as f64 / n as f64).cos()) as f32
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [n, k]), device)
}
