//! A small U-Net with FiLM conditioning: each residual block scales and shifts its features
//! by the (prompt + time) embedding. In the token-conditioned design the blocks of the coarser
//! levels are followed by attention blocks that read the prompt's tokens and relate positions
//! across the canvas, and the input carries the pixel coordinates beside the image. GroupNorm
//! keeps every sample independent of its batch, so a generated image depends only on its own
//! noise and prompt.

use super::attention::{coordinates, AttentionBlock, COORDINATE_FEATURES};
use super::config::GeneratorConfig;
use super::layers::{Adapters, Conv, Dense, LoraConfig};
use crate::ops::norm::GroupNorm;
use crate::ops::silu::silu;
use burn::prelude::*;

/// Sinusoidal features of t, then an MLP.
#[derive(Module, Debug)]
pub struct TimeEmbedding {
    fc1: Dense,
    fc2: Dense,
    freqs: usize,
}

impl TimeEmbedding {
    pub fn new(c: &GeneratorConfig, lora: Option<LoraConfig>, device: &Device) -> Self {
        let freqs = 16;
        TimeEmbedding {
            fc1: Dense::new(2 * freqs, c.emb_dim, lora, device),
            fc2: Dense::new(c.emb_dim, c.emb_dim, lora, device),
            freqs,
        }
    }

    pub fn forward(&self, t: Tensor<1>, a: Adapters) -> Tensor<2> {
        let device = t.device();
        // frequencies 1 .. 1000 (geometric), applied to t in [0, 1]
        let n = self.freqs;
        let f = super::constants::once_per_device("time frequencies", n, &device, || {
            let f: Vec<f32> = (0..n).map(|i| 1000f32.powf(i as f32 / (n - 1) as f32)).collect();
            TensorData::new(f, [1, 1, 1, n])
        })
        .reshape([1, n]);
        let arg = t.unsqueeze_dim::<2>(1) * f;
        let feats = Tensor::cat(vec![arg.clone().sin(), arg.cos()], 1);
        self.fc2.forward(silu(self.fc1.forward(feats, a)), a)
    }
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv,
    film: Dense,
    norm2: GroupNorm,
    conv2: Conv,
    skip: Option<Conv>,
    /// At the levels with attention (token-conditioned design), after the residual block.
    attn: Option<AttentionBlock>,
}

impl ResBlock {
    fn new(
        cin: usize,
        cout: usize,
        level: usize,
        c: &GeneratorConfig,
        lora: Option<LoraConfig>,
        device: &Device,
    ) -> Self {
        let attn =
            c.attention_at(level).map(|a| AttentionBlock::new(cout, c.token_dim, a.heads, c.groups, lora, device));
        ResBlock {
            norm1: GroupNorm::new(c.groups, cin, device),
            conv1: Conv::new(cin, cout, 3, 1, lora, device),
            film: Dense::new(c.emb_dim, 2 * cout, lora, device),
            norm2: GroupNorm::new(c.groups, cout, device),
            conv2: Conv::new(cout, cout, 3, 1, lora, device),
            skip: (cin != cout).then(|| Conv::new(cin, cout, 1, 1, lora, device)),
            attn,
        }
    }

    /// `tokens`: the encoded prompt (B, slots, token_dim), which attention blocks read.
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>, tokens: &Tensor<3>, a: Adapters) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())), a);
        let [scale, shift]: [Tensor<2>; 2] =
            self.film.forward(silu(emb), a).chunk(2, 1).try_into().expect("two chunks");
        let h = self.norm2.forward(h) * (scale.unsqueeze_dims::<4>(&[2, 3]) + 1.0) + shift.unsqueeze_dims::<4>(&[2, 3]);
        let h = self.conv2.forward(silu(h), a);
        let skip = match &self.skip {
            Some(conv) => conv.forward(x, a),
            None => x,
        };
        let h = h + skip;
        match &self.attn {
            Some(attn) => attn.forward(h, tokens.clone(), a),
            None => h,
        }
    }
}

#[derive(Module, Debug)]
pub struct UNet {
    /// Whether the input carries the pixel coordinates ([`coordinates`]) beside the image.
    coordinates: bool,
    stem: Conv,
    down: Vec<ResBlock>,
    downsample: Vec<Conv>,
    mid: ResBlock,
    upsample: Vec<Conv>,
    up: Vec<ResBlock>,
    out_norm: GroupNorm,
    out: Conv,
}

/// Nearest-neighbour 2x upsampling from reshapes alone (runs on every backend).
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

impl UNet {
    pub fn new(c: &GeneratorConfig, lora: Option<LoraConfig>, device: &Device) -> Self {
        let ch = &c.channels;
        let levels = ch.len();
        let coordinates = c.attention.is_some();
        let inputs = if coordinates { 3 + COORDINATE_FEATURES } else { 3 };
        UNet {
            coordinates,
            stem: Conv::new(inputs, ch[0], 3, 1, lora, device),
            down: ch.iter().enumerate().map(|(l, &k)| ResBlock::new(k, k, l, c, lora, device)).collect(),
            downsample: (0..levels - 1).map(|l| Conv::new(ch[l], ch[l + 1], 3, 2, lora, device)).collect(),
            mid: ResBlock::new(ch[levels - 1], ch[levels - 1], levels - 1, c, lora, device),
            upsample: (1..levels).map(|l| Conv::new(ch[l], ch[l - 1], 3, 1, lora, device)).collect(),
            up: ch.iter().enumerate().map(|(l, &k)| ResBlock::new(2 * k, k, l, c, lora, device)).collect(),
            out_norm: GroupNorm::new(c.groups, ch[0], device),
            // zero-initialised: a fresh model predicts zero velocity
            out: Conv::zeros(ch[0], 3, 3, lora, device),
        }
    }

    /// Velocity (or, for the hypernetwork, noise offset) at `x` (B, 3, H, W), for the embedding
    /// `emb` (B, emb_dim) and the encoded prompt `tokens` (B, slots, token_dim).
    pub fn forward(&self, x: Tensor<4>, emb: Tensor<2>, tokens: Tensor<3>, a: Adapters) -> Tensor<4> {
        let levels = self.down.len();
        let x = if self.coordinates {
            let [b, _, res, _] = x.dims();
            let coords = coordinates(res, &x.device()).expand([b as i64, -1, -1, -1]);
            Tensor::cat(vec![x, coords], 1)
        } else {
            x
        };
        let mut h = self.stem.forward(x, a);
        let mut skips = Vec::with_capacity(levels);
        for l in 0..levels {
            h = self.down[l].forward(h, emb.clone(), &tokens, a);
            skips.push(h.clone());
            if l + 1 < levels {
                h = self.downsample[l].forward(h, a);
            }
        }
        h = self.mid.forward(h, emb.clone(), &tokens, a);
        for l in (0..levels).rev() {
            h = self.up[l].forward(Tensor::cat(vec![h, skips[l].clone()], 1), emb.clone(), &tokens, a);
            if l > 0 {
                h = self.upsample[l - 1].forward(upsample2(h), a);
            }
        }
        self.out.forward_output(silu(self.out_norm.forward(h)), a)
    }
}
