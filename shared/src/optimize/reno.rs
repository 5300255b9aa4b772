//! ReNO (Eyring et al. 2024): optimise the one-step generator's input noise against a reward
//! with Nesterov SGD, keeping z near the Gaussian shell by the regulariser
//! lambda * (||z||^2 / 2 - (d - 1) log ||z||), the negative log-density of ||z|| under N(0, I)
//! in d dimensions; the noise gradient is clipped per image, and the best image seen is kept.

use super::keep_best;
use crate::generator::Generator;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenoConfig {
    pub iterations: usize,
    pub lr: f64,
    pub momentum: f64,
    /// Largest L2 norm of one image's noise gradient.
    pub grad_clip: f32,
    pub regularisation: f32,
}

impl Default for RenoConfig {
    /// The paper's settings.
    fn default() -> Self {
        RenoConfig { iterations: 50, lr: 5.0, momentum: 0.9, grad_clip: 0.1, regularisation: 0.01 }
    }
}

pub struct RenoResult<B: Backend> {
    /// The best image seen per prompt (B, 3, H, W), before clamping.
    pub images: Tensor<B, 4>,
    /// Its reward per prompt.
    pub rewards: Vec<f32>,
    /// Mean reward at each iteration (0 = the initial noise).
    pub curve: Vec<f32>,
}

/// Per-image (B) regulariser on noise (B, 3, H, W).
pub fn norm_regulariser<B: Backend>(z: Tensor<B, 4>) -> Tensor<B, 1> {
    let [b, c, h, w] = z.dims();
    let d = (c * h * w) as f64;
    let sq = z.reshape([b, c * h * w]).powi_scalar(2).sum_dim(1).reshape([b]);
    sq.clone() / 2.0 - sq.sqrt().log() * (d - 1.0)
}

/// Runs ReNO for each prompt of the batch independently (clipping, momentum and the best image
/// are per image). `reward` maps images to one score each; `progress(iteration, mean reward)`
/// is called after every evaluation, for live displays.
pub fn reno<B: AutodiffBackend>(
    generator: &Generator<B>,
    cond: Tensor<B, 2>,
    z: Tensor<B, 4>,
    reward: impl Fn(Tensor<B, 4>) -> Tensor<B, 1>,
    config: &RenoConfig,
    mut progress: impl FnMut(usize, f32),
) -> RenoResult<B::InnerBackend> {
    let [b, ..] = z.dims();
    let cond = cond.detach();
    let mut z = z.inner();
    let mut velocity = z.zeros_like();
    let mut best: Option<(Tensor<B::InnerBackend, 4>, Vec<f32>)> = None;
    let mut curve = Vec::with_capacity(config.iterations + 1);
    for it in 0..=config.iterations {
        let zt = Tensor::<B, 4>::from_inner(z.clone()).require_grad();
        let x = generator.one_step(zt.clone(), cond.clone());
        let r = reward(x.clone());
        let scores: Vec<f32> = r.clone().inner().into_data().convert::<f32>().into_vec().expect("floats");
        curve.push(scores.iter().sum::<f32>() / b as f32);
        progress(it, curve[it]);
        best = Some(keep_best(best, x.inner(), &scores));
        if it == config.iterations {
            break;
        }
        let loss = (norm_regulariser(zt.clone()) * config.regularisation - r).sum();
        let grad = zt.grad(&loss.backward()).expect("noise is a leaf that requires grad");
        let norm = grad.clone().reshape([b as i64, -1]).powi_scalar(2).sum_dim(1).sqrt().reshape([b, 1, 1, 1]);
        let grad = grad * (norm.recip() * config.grad_clip).clamp_max(1.0);
        // PyTorch's Nesterov SGD: v = m v + g; step = g + m v
        velocity = velocity * config.momentum + grad.clone();
        z = z - (grad + velocity.clone() * config.momentum) * config.lr;
    }
    let (images, rewards) = best.expect("at least one evaluation");
    RenoResult { images, rewards, curve }
}
