//! ReNO (Eyring et al. 2024): optimise the one-step generator's input noise against a reward
//! with Nesterov SGD, keeping z near the Gaussian shell by the regulariser
//! lambda * (||z||^2 / 2 - (d - 1) log ||z||), the negative log-density of ||z|| under N(0, I)
//! in d dimensions; the noise gradient is clipped per image, and the best image seen is kept.

use super::keep_best;
use crate::generator::Generator;
use burn::prelude::*;
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

pub struct RenoResult {
    /// The best image seen per prompt (B, 3, H, W), before clamping.
    pub images: Tensor<4>,
    /// Its reward per prompt.
    pub rewards: Vec<f32>,
    /// Mean reward at each iteration (0 = the initial noise).
    pub curve: Vec<f32>,
}

/// Per-image (B) regulariser on noise (B, 3, H, W).
pub fn norm_regulariser(z: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = z.dims();
    let d = (c * h * w) as f64;
    let sq = z.reshape([b, c * h * w]).powi_scalar(2).sum_dim(1).reshape([b]);
    sq.clone() / 2.0 - sq.sqrt().log() * (d - 1.0)
}

/// ReNO in progress, one iteration at a time, for callers that must read scores back
/// asynchronously between iterations (the browser): [`Reno::evaluate`] scores the current
/// noise and takes an optimiser step, [`Reno::record`] keeps the best image once the scores are
/// read back. Every prompt of the batch is optimised independently (per-image clipping,
/// momentum and best image).
pub struct Reno {
    config: RenoConfig,
    cond: Tensor<3>,
    z: Tensor<4>,
    velocity: Tensor<4>,
    evaluations: usize,
    best: Option<(Tensor<4>, Vec<f32>)>,
    curve: Vec<f32>,
}

impl Reno {
    pub fn new(cond: Tensor<3>, z: Tensor<4>, config: &RenoConfig) -> Self {
        let z = z.inner();
        Reno {
            config: config.clone(),
            cond: cond.detach(),
            velocity: z.zeros_like(),
            z,
            evaluations: 0,
            best: None,
            curve: Vec::with_capacity(config.iterations + 1),
        }
    }

    /// Evaluations done so far (iteration 0 is the initial noise).
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Whether all `iterations + 1` evaluations are done.
    pub fn finished(&self) -> bool {
        self.evaluations > self.config.iterations
    }

    /// Images and rewards (B) for the current noise; then, unless this was the last
    /// evaluation, one Nesterov step on the noise. Pass the rewards, read back, to [`Reno::record`].
    pub fn evaluate(
        &mut self,
        generator: &Generator,
        reward: impl Fn(Tensor<4>) -> Tensor<1>,
    ) -> (Tensor<4>, Tensor<1>) {
        let [b, ..] = self.z.dims();
        let zt = Tensor::<4>::from_inner(self.z.clone()).require_grad();
        let x = generator.one_step(zt.clone(), self.cond.clone());
        let r = reward(x.clone());
        self.evaluations += 1;
        if !self.finished() {
            let c = &self.config;
            let loss = (norm_regulariser(zt.clone()) * c.regularisation - r.clone()).sum();
            let grad = zt.grad(&loss.backward()).expect("noise is a leaf that requires grad");
            let norm = grad.clone().reshape([b as i64, -1]).powi_scalar(2).sum_dim(1).sqrt().reshape([b, 1, 1, 1]);
            let grad = grad * (norm.recip() * c.grad_clip).clamp_max(1.0);
            // PyTorch's Nesterov SGD: v = m v + g; step = g + m v
            self.velocity = self.velocity.clone() * c.momentum + grad.clone();
            self.z = self.z.clone() - (grad + self.velocity.clone() * c.momentum) * c.lr;
        }
        (x.inner(), r.inner())
    }

    /// Keeps, per image, the better of the best so far and `images` (scored `scores`); returns
    /// the mean score, the curve's new point.
    pub fn record(&mut self, images: Tensor<4>, scores: &[f32]) -> f32 {
        self.best = Some(keep_best(self.best.take(), images, scores));
        let mean = scores.iter().sum::<f32>() / scores.len() as f32;
        self.curve.push(mean);
        mean
    }

    /// The best images so far and their rewards.
    pub fn best(&self) -> Option<&(Tensor<4>, Vec<f32>)> {
        self.best.as_ref()
    }

    pub fn into_result(self) -> RenoResult {
        let (images, rewards) = self.best.expect("at least one evaluation");
        RenoResult { images, rewards, curve: self.curve }
    }
}

/// Runs ReNO to the end (see [`Reno`]). `reward` maps images to one score each;
/// `progress(iteration, mean reward)` is called after every evaluation, for live displays.
pub fn reno(
    generator: &Generator,
    cond: Tensor<3>,
    z: Tensor<4>,
    reward: impl Fn(Tensor<4>) -> Tensor<1>,
    config: &RenoConfig,
    mut progress: impl FnMut(usize, f32),
) -> RenoResult {
    let mut run = Reno::new(cond, z, config);
    while !run.finished() {
        let (x, r) = run.evaluate(generator, &reward);
        let scores: Vec<f32> = r.into_data().convert::<f32>().try_into_vec().expect("floats");
        let mean = run.record(x, &scores);
        progress(run.evaluations() - 1, mean);
    }
    run.into_result()
}
