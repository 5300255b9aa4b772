//! The learned prompt encoder: token and position embeddings, flattened (word order carries
//! meaning: which colour goes with which shape, which object is left), then an MLP.

use super::config::GeneratorConfig;
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
    pub fn new(c: &GeneratorConfig, device: &B::Device) -> Self {
        let d = c.token_dim;
        PromptEncoder {
            tokens: EmbeddingConfig::new(vocabulary().len(), d).init(device),
            positions: Param::from_tensor(Tensor::random([MAX_TOKENS, d], Distribution::Normal(0.0, 0.02), device)),
            fc1: LinearConfig::new(MAX_TOKENS * d, c.emb_dim).init(device),
            fc2: LinearConfig::new(c.emb_dim, c.emb_dim).init(device),
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
