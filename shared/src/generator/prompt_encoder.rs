//! The learned prompt encoder: token and position embeddings, flattened (word order carries
//! meaning: which colour goes with which shape, which object is left), then an MLP.

use crate::text::{vocabulary, MAX_TOKENS};
use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;
use burn::tensor::Distribution;

#[derive(Module, Debug)]
pub struct PromptEncoder<B: Backend> {
    tokens: Embedding<B>,
    positions: Param<Tensor<B, 2>>,
    fc1: Linear<B>,
    fc2: Linear<B>,
}

impl<B: Backend> PromptEncoder<B> {
    /// `token_dim` per token slot, `out_dim` for the prompt vector.
    pub fn new(token_dim: usize, out_dim: usize, device: &B::Device) -> Self {
        PromptEncoder {
            tokens: EmbeddingConfig::new(vocabulary().len(), token_dim).init(device),
            positions: Param::from_tensor(Tensor::random([MAX_TOKENS, token_dim], Distribution::Normal(0.0, 0.02), device)),
            fc1: LinearConfig::new(MAX_TOKENS * token_dim, out_dim).init(device),
            fc2: LinearConfig::new(out_dim, out_dim).init(device),
        }
    }

    /// (B, MAX_TOKENS) token ids -> (B, emb_dim).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [b, t] = tokens.dims();
        let e = self.tokens.forward(tokens) + self.positions.val().unsqueeze::<3>();
        let d = e.dims()[2];
        self.fc2.forward(silu(self.fc1.forward(e.reshape([b, t * d]))))
    }
}
