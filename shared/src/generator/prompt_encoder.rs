//! The learned prompt encoder: token and position embeddings, flattened (word order carries
//! meaning: which colour goes with which shape, which object is left), then an MLP.

use super::layers::{Adapters, Dense, LoraConfig};
use crate::ops::silu::silu;
use crate::text::{vocabulary, MAX_TOKENS};
use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

#[derive(Module, Debug)]
pub struct PromptEncoder {
    tokens: Embedding,
    positions: Param<Tensor<2>>,
    fc1: Dense,
    fc2: Dense,
}

impl PromptEncoder {
    /// `token_dim` per token slot, `out_dim` for the prompt vector; adapters on its linear
    /// layers when `lora` is given (the embeddings are lookups, not adapted).
    pub fn new(token_dim: usize, out_dim: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        PromptEncoder {
            tokens: EmbeddingConfig::new(vocabulary().len(), token_dim).init(device),
            positions: Param::from_tensor(Tensor::random(
                [MAX_TOKENS, token_dim],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            fc1: Dense::new(MAX_TOKENS * token_dim, out_dim, lora, device),
            fc2: Dense::new(out_dim, out_dim, lora, device),
        }
    }

    /// (B, MAX_TOKENS) token ids -> (B, emb_dim).
    pub fn forward(&self, tokens: Tensor<2, Int>, a: Adapters) -> Tensor<2> {
        let [b, t] = tokens.dims();
        let e = self.tokens.forward(tokens) + self.positions.val().unsqueeze::<3>();
        let d = e.dims()[2];
        self.fc2.forward(silu(self.fc1.forward(e.reshape([b, t * d]), a)), a)
    }
}
