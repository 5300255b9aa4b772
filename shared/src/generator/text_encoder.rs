//! The generator's prompt encoder: a summary token and the prompt's token slots, embedded with
//! their positions, through transformer layers, so each word's feature knows its phrase ("blue"
//! beside "circle", which side of "left of" it is on). Its output, (B, 1 + MAX_TOKENS,
//! token_dim), is what the U-Net reads: the summary token (slot 0) modulates every residual
//! block, all slots are the context of its cross-attention. Padding is attended like any token
//! (no mask), so the all-padding prompt of classifier-free guidance is an ordinary input.

use super::attention::TransformerLayer;
use super::layers::{Adapters, LoraConfig};
use crate::ops::norm::LayerNorm;
use crate::text::{vocabulary, MAX_TOKENS};
use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Slots of the encoded prompt: the summary token, then the token slots.
pub const SLOTS: usize = 1 + MAX_TOKENS;

#[derive(Module, Debug)]
pub struct TextEncoder {
    tokens: Embedding,
    /// The summary token's embedding (1, token_dim).
    summary: Param<Tensor<2>>,
    /// One per slot, the summary's first (SLOTS, token_dim).
    positions: Param<Tensor<2>>,
    layers: Vec<TransformerLayer>,
    norm: LayerNorm,
}

impl TextEncoder {
    pub fn new(token_dim: usize, heads: usize, layers: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        let small = Distribution::Normal(0.0, 0.02);
        TextEncoder {
            tokens: EmbeddingConfig::new(vocabulary().len(), token_dim).init(device),
            summary: Param::from_tensor(Tensor::random([1, token_dim], small, device)),
            positions: Param::from_tensor(Tensor::random([SLOTS, token_dim], small, device)),
            layers: (0..layers).map(|_| TransformerLayer::new(token_dim, heads, lora, device)).collect(),
            norm: LayerNorm::new(token_dim, device),
        }
    }

    /// (B, MAX_TOKENS) token ids -> (B, SLOTS, token_dim).
    pub fn forward(&self, tokens: Tensor<2, Int>, a: Adapters) -> Tensor<3> {
        let [b, _] = tokens.dims();
        let summary = self.summary.val().unsqueeze::<3>().expand([b as i64, -1, -1]);
        let e = Tensor::cat(vec![summary, self.tokens.forward(tokens)], 1) + self.positions.val().unsqueeze::<3>();
        let h = self.layers.iter().fold(e, |h, layer| layer.forward(h, a));
        self.norm.forward(h)
    }
}
