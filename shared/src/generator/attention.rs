//! Attention, as text-to-image U-Nets use it (Rombach et al. 2022): the prompt encoder's
//! transformer layers, and the U-Net's attention blocks, in which every position of a feature
//! map attends to every other (self-attention: where the other objects are) and to the
//! prompt's tokens (cross-attention: which words it should draw). One pooled prompt vector
//! cannot say which colour goes with which shape or which object is left; tokens can.

use super::layers::{Adapters, Conv, Dense, LoraConfig};
use crate::ops::attention::attention;
use crate::ops::norm::{GroupNorm, LayerNorm};
use burn::prelude::*;
use burn::tensor::activation::gelu;

/// Multi-head attention of `x` (B, N, dim) to `context` (B, M, context_dim).
#[derive(Module, Debug)]
pub struct MultiHead {
    q: Dense,
    k: Dense,
    v: Dense,
    out: Dense,
    heads: usize,
}

impl MultiHead {
    pub fn new(dim: usize, context_dim: usize, heads: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        MultiHead {
            q: Dense::new(dim, dim, lora, device),
            k: Dense::new(context_dim, dim, lora, device),
            v: Dense::new(context_dim, dim, lora, device),
            out: Dense::new(dim, dim, lora, device),
            heads,
        }
    }

    pub fn forward(&self, x: Tensor<3>, context: Tensor<3>, a: Adapters) -> Tensor<3> {
        let [b, n, dim] = x.dims();
        let m = context.dims()[1];
        let h = self.heads;
        // (B, len, dim) -> (B, heads, len, dim / heads)
        let split = |t: Tensor<3>, len: usize| t.reshape([b, len, h, dim / h]).swap_dims(1, 2);
        let q = split(self.q.forward(x, a), n);
        let k = split(self.k.forward(context.clone(), a), m);
        let v = split(self.v.forward(context, a), m);
        let o = attention(q, k, v);
        self.out.forward(o.swap_dims(1, 2).reshape([b, n, dim]), a)
    }
}

/// A two-layer MLP with a GELU, `dim` -> `hidden` -> `dim`.
#[derive(Module, Debug)]
pub struct FeedForward {
    fc1: Dense,
    fc2: Dense,
}

impl FeedForward {
    pub fn new(dim: usize, hidden: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        FeedForward { fc1: Dense::new(dim, hidden, lora, device), fc2: Dense::new(hidden, dim, lora, device) }
    }

    pub fn forward(&self, x: Tensor<3>, a: Adapters) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(x, a)), a)
    }
}

/// A pre-norm transformer layer over a token sequence (the prompt encoder's).
#[derive(Module, Debug)]
pub struct TransformerLayer {
    norm1: LayerNorm,
    attn: MultiHead,
    norm2: LayerNorm,
    mlp: FeedForward,
}

impl TransformerLayer {
    pub fn new(dim: usize, heads: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        TransformerLayer {
            norm1: LayerNorm::new(dim, device),
            attn: MultiHead::new(dim, dim, heads, lora, device),
            norm2: LayerNorm::new(dim, device),
            mlp: FeedForward::new(dim, 2 * dim, lora, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>, a: Adapters) -> Tensor<3> {
        let h = self.norm1.forward(x.clone());
        let x = x + self.attn.forward(h.clone(), h, a);
        let h = self.norm2.forward(x.clone());
        x.clone() + self.mlp.forward(h, a)
    }
}

/// Fixed sinusoidal features of each pixel's coordinates, (1, COORDINATE_FEATURES, res, res):
/// sin and cos of pi k x and pi k y for k = 1, 2, x and y in [-1, 1]. Convolutions only see
/// neighbourhoods and attention sees sets; these tell both where on the canvas they are, which
/// "to the left of" and "above" are about.
pub const COORDINATE_FEATURES: usize = 8;

pub fn coordinates(res: usize, device: &Device) -> Tensor<4> {
    super::constants::once_per_device("coordinates", res, device, || {
        let mut data = Vec::with_capacity(COORDINATE_FEATURES * res * res);
        let coord = |i: usize| (2 * i + 1) as f32 / res as f32 - 1.0;
        for k in 1..=2 {
            let w = std::f32::consts::PI * k as f32;
            for along_x in [true, false] {
                for f in [f32::sin, f32::cos] {
                    for y in 0..res {
                        for x in 0..res {
                            data.push(f(w * coord(if along_x { x } else { y })));
                        }
                    }
                }
            }
        }
        TensorData::new(data, [1, COORDINATE_FEATURES, res, res])
    })
}

/// A U-Net attention block on (B, C, H, W) features, with the prompt's tokens (B, T, token_dim)
/// as context: GroupNorm, a 1x1 projection that also reads the pixel coordinates, then
/// self-attention, cross-attention and an MLP (each pre-norm and residual over the H * W
/// positions), a 1x1 projection back, and the block's input added.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    norm: GroupNorm,
    proj_in: Conv,
    norm_self: LayerNorm,
    self_attn: MultiHead,
    norm_cross: LayerNorm,
    cross_attn: MultiHead,
    norm_mlp: LayerNorm,
    mlp: FeedForward,
    proj_out: Conv,
}

impl AttentionBlock {
    pub fn new(
        channels: usize,
        token_dim: usize,
        heads: usize,
        groups: usize,
        lora: Option<LoraConfig>,
        device: &Device,
    ) -> Self {
        AttentionBlock {
            norm: GroupNorm::new(groups, channels, device),
            proj_in: Conv::new(channels + COORDINATE_FEATURES, channels, 1, 1, lora, device),
            norm_self: LayerNorm::new(channels, device),
            self_attn: MultiHead::new(channels, channels, heads, lora, device),
            norm_cross: LayerNorm::new(channels, device),
            cross_attn: MultiHead::new(channels, token_dim, heads, lora, device),
            norm_mlp: LayerNorm::new(channels, device),
            mlp: FeedForward::new(channels, 2 * channels, lora, device),
            // zero-initialised: a fresh block passes its input through
            proj_out: Conv::zeros(channels, channels, 1, lora, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>, tokens: Tensor<3>, a: Adapters) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let coords = coordinates(h, &x.device()).expand([b as i64, -1, -1, -1]);
        let p = self.proj_in.forward(Tensor::cat(vec![self.norm.forward(x.clone()), coords], 1), a);
        let s = p.reshape([b, c, h * w]).swap_dims(1, 2); // (B, H * W, C)
        let n = self.norm_self.forward(s.clone());
        let s = s + self.self_attn.forward(n.clone(), n, a);
        let s = s.clone() + self.cross_attn.forward(self.norm_cross.forward(s), tokens, a);
        let s = s.clone() + self.mlp.forward(self.norm_mlp.forward(s), a);
        x + self.proj_out.forward(s.swap_dims(1, 2).reshape([b, c, h, w]), a)
    }
}
