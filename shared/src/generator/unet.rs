//! A small U-Net with FiLM conditioning: each residual block scales and shifts its features
//! by the (prompt + time) embedding. GroupNorm keeps every sample independent of its batch,
//! so a generated image depends only on its own noise and prompt.

use super::config::GeneratorConfig;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::silu;

fn conv3<B: Backend>(cin: usize, cout: usize, stride: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [3, 3]).with_stride([stride, stride]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

/// Sinusoidal features of t, then an MLP.
#[derive(Module, Debug)]
pub struct TimeEmbedding<B: Backend> {
    fc1: Linear<B>,
    fc2: Linear<B>,
    freqs: usize,
}

impl<B: Backend> TimeEmbedding<B> {
    pub fn new(c: &GeneratorConfig, device: &B::Device) -> Self {
        let freqs = 16;
        TimeEmbedding { fc1: LinearConfig::new(2 * freqs, c.emb_dim).init(device), fc2: LinearConfig::new(c.emb_dim, c.emb_dim).init(device), freqs }
    }

    pub fn forward(&self, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let device = t.device();
        // frequencies 1 .. 1000 (geometric), applied to t in [0, 1]
        let f: Vec<f32> = (0..self.freqs).map(|i| 1000f32.powf(i as f32 / (self.freqs - 1) as f32)).collect();
        let f = Tensor::<B, 1>::from_floats(f.as_slice(), &device).unsqueeze::<2>();
        let arg = t.unsqueeze_dim::<2>(1) * f;
        let feats = Tensor::cat(vec![arg.clone().sin(), arg.cos()], 1);
        self.fc2.forward(silu(self.fc1.forward(feats)))
    }
}

#[derive(Module, Debug)]
pub struct ResBlock<B: Backend> {
    norm1: GroupNorm<B>,
    conv1: Conv2d<B>,
    film: Linear<B>,
    norm2: GroupNorm<B>,
    conv2: Conv2d<B>,
    skip: Option<Conv2d<B>>,
}

impl<B: Backend> ResBlock<B> {
    fn new(cin: usize, cout: usize, c: &GeneratorConfig, device: &B::Device) -> Self {
        ResBlock {
            norm1: GroupNormConfig::new(c.groups, cin).init(device),
            conv1: conv3(cin, cout, 1, device),
            film: LinearConfig::new(c.emb_dim, 2 * cout).init(device),
            norm2: GroupNormConfig::new(c.groups, cout).init(device),
            conv2: conv3(cout, cout, 1, device),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    fn forward(&self, x: Tensor<B, 4>, emb: Tensor<B, 2>) -> Tensor<B, 4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [scale, shift]: [Tensor<B, 2>; 2] = self.film.forward(silu(emb)).chunk(2, 1).try_into().expect("two chunks");
        let h = self.norm2.forward(h) * (scale.unsqueeze_dims::<4>(&[2, 3]) + 1.0) + shift.unsqueeze_dims::<4>(&[2, 3]);
        let h = self.conv2.forward(silu(h));
        let skip = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        h + skip
    }
}

#[derive(Module, Debug)]
pub struct UNet<B: Backend> {
    stem: Conv2d<B>,
    down: Vec<ResBlock<B>>,
    downsample: Vec<Conv2d<B>>,
    mid: ResBlock<B>,
    upsample: Vec<Conv2d<B>>,
    up: Vec<ResBlock<B>>,
    out_norm: GroupNorm<B>,
    out: Conv2d<B>,
}

/// Nearest-neighbour 2x upsampling from reshapes alone (runs on every backend).
fn upsample2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

impl<B: Backend> UNet<B> {
    pub fn new(c: &GeneratorConfig, device: &B::Device) -> Self {
        let ch = &c.channels;
        let levels = ch.len();
        UNet {
            stem: conv3(3, ch[0], 1, device),
            down: ch.iter().map(|&k| ResBlock::new(k, k, c, device)).collect(),
            downsample: (0..levels - 1).map(|l| conv3(ch[l], ch[l + 1], 2, device)).collect(),
            mid: ResBlock::new(ch[levels - 1], ch[levels - 1], c, device),
            upsample: (1..levels).map(|l| conv3(ch[l], ch[l - 1], 1, device)).collect(),
            up: ch.iter().map(|&k| ResBlock::new(2 * k, k, c, device)).collect(),
            out_norm: GroupNormConfig::new(c.groups, ch[0]).init(device),
            // zero-initialised: a fresh model predicts zero velocity
            out: Conv2dConfig::new([ch[0], 3], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>, emb: Tensor<B, 2>) -> Tensor<B, 4> {
        let levels = self.down.len();
        let mut h = self.stem.forward(x);
        let mut skips = Vec::with_capacity(levels);
        for l in 0..levels {
            h = self.down[l].forward(h, emb.clone());
            skips.push(h.clone());
            if l + 1 < levels {
                h = self.downsample[l].forward(h);
            }
        }
        h = self.mid.forward(h, emb.clone());
        for l in (0..levels).rev() {
            h = self.up[l].forward(Tensor::cat(vec![h, skips[l].clone()], 1), emb.clone());
            if l > 0 {
                h = self.upsample[l - 1].forward(upsample2(h));
            }
        }
        self.out.forward(silu(self.out_norm.forward(h)))
    }
}
