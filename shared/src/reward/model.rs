//! The learned reward: a small image-text scorer in the spirit of ImageReward. A strided CNN
//! keeps a 4x4 grid of features (where things are matters for relations), a prompt encoder
//! like the generator's reads the prompt, and an MLP scores their combination. Trained so that
//! a prompt's true scene outscores its hard negatives; differentiable in the image.

use crate::generator::layers::Adapters;
use crate::generator::prompt_encoder::PromptEncoder;
use crate::net_shape::{shaped_config, NetShape};
use crate::ops::norm::GroupNorm;
use crate::ops::silu::silu;
use crate::weights::{self, Architecture, WeightsError};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

shaped_config!(
    /// One stride-2 convolution per entry of `channels`; the last leaves a small grid.
    RewardConfig
);

impl RewardConfig {
    pub fn standard() -> Self {
        RewardConfig(NetShape {
            resolution: 64,
            channels: vec![32, 64, 128, 128],
            emb_dim: 256,
            token_dim: 32,
            groups: 8,
        })
    }

    pub fn tiny() -> Self {
        RewardConfig(NetShape { resolution: 16, channels: vec![8, 16], emb_dim: 32, token_dim: 8, groups: 4 })
    }

    fn grid(&self) -> usize {
        self.resolution >> self.channels.len()
    }
}

impl Architecture for RewardConfig {
    type Model = RewardModel;
    const KIND: &'static str = "reward";

    fn check(&self) -> Result<(), String> {
        self.0.check()?;
        if self.grid() == 0 || self.resolution != self.grid() << self.channels.len() {
            return Err(format!(
                "resolution {} must halve {} times to a whole grid",
                self.resolution,
                self.channels.len()
            ));
        }
        Ok(())
    }

    fn init(&self, device: &Device) -> RewardModel {
        let ins = std::iter::once(3).chain(self.channels.iter().copied());
        let convs = ins
            .zip(&self.channels)
            .map(|(i, &o)| {
                Conv2dConfig::new([i, o], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        let last = *self.channels.last().expect("checked");
        RewardModel {
            prompt: PromptEncoder::new(self.token_dim, self.emb_dim, None, device),
            convs,
            norms: self.channels.iter().map(|&c| GroupNorm::new(self.groups, c, device)).collect(),
            image: LinearConfig::new(last * self.grid() * self.grid(), self.emb_dim).init(device),
            head1: LinearConfig::new(3 * self.emb_dim, self.emb_dim).init(device),
            head2: LinearConfig::new(self.emb_dim, 1).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct RewardModel {
    prompt: PromptEncoder,
    convs: Vec<Conv2d>,
    norms: Vec<GroupNorm>,
    image: Linear,
    head1: Linear,
    head2: Linear,
}

impl RewardModel {
    /// One score per image (B): images (B, 3, H, W) in [-1, 1], prompt tokens (B, MAX_TOKENS).
    pub fn forward(&self, x: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<1> {
        let mut h = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            h = silu(norm.forward(conv.forward(h)));
        }
        let [b, c, gh, gw] = h.dims();
        let i = self.image.forward(h.reshape([b, c * gh * gw]));
        let t = self.prompt.forward(tokens, Adapters::Off);
        let joint = Tensor::cat(vec![i.clone(), t.clone(), i * t], 1);
        self.head2.forward(silu(self.head1.forward(joint))).reshape([b])
    }

    pub fn to_bytes(&self, config: &RewardConfig) -> Result<Vec<u8>, WeightsError> {
        weights::to_bytes(self, config)
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(Self, RewardConfig), WeightsError> {
        weights::from_bytes(bytes, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};

    #[test]
    fn scores_each_image_and_is_differentiable_in_it() {
        let dev = Device::flex().autodiff();
        let c = RewardConfig::tiny();
        let m = c.init(&dev);
        let tokens = tokens_tensor(&encode_prompts(&["a red circle", "three stars"]).unwrap(), &dev);
        let x = noise_tensor(&[1, 2], c.resolution, &dev).require_grad();
        let r = m.forward(x.clone(), tokens.clone());
        assert_eq!(r.dims(), [2]);
        let first = m.forward(x.clone().slice([0..1]), tokens.slice([0..1]));
        let diff: f32 = (r.clone().slice([0..1]) - first).abs().into_scalar();
        assert!(diff < 1e-5, "a score depends on its batch: {diff}");
        let grads = r.sum().backward();
        let g: f32 = x.grad(&grads).expect("gradient wrt the image").abs().sum().into_scalar();
        assert!(g > 0.0);
        let bytes = m.to_bytes(&c).unwrap();
        let (loaded, c2) = RewardModel::from_bytes(&bytes, &dev).unwrap();
        assert_eq!(c, c2);
        let _ = loaded;
        assert!(crate::generator::Generator::from_bytes(&bytes, &dev).is_err(), "a reward file is not a generator");
    }
}
