//! Test-time baselines that spend compute per image instead of training: ReNO (gradient ascent
//! on the noise) and best-of-N (sampling and picking by reward). HyperNoise amortises what ReNO
//! does per image into one trained network.

pub mod best_of_n;
pub mod reno;

#[cfg(test)]
mod tests;

use burn::prelude::*;

/// Per image, the better of the best so far and the current one.
pub(crate) fn keep_best(best: Option<(Tensor<4>, Vec<f32>)>, x: Tensor<4>, scores: &[f32]) -> (Tensor<4>, Vec<f32>) {
    let Some((images, rewards)) = best else { return (x, scores.to_vec()) };
    let better: Vec<bool> = scores.iter().zip(&rewards).map(|(s, r)| s > r).collect();
    let device = x.device();
    let mask = Tensor::<1, Bool>::from_data(TensorData::new(better.clone(), [better.len()]), &device)
        .reshape([better.len(), 1, 1, 1])
        .expand(x.dims());
    let rewards = scores.iter().zip(&rewards).zip(&better).map(|((s, r), b)| if *b { *s } else { *r }).collect();
    (images.mask_where(mask, x), rewards)
}
