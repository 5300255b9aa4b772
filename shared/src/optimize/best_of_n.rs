//! Best-of-N: draw N noises per prompt, keep the image the reward likes best.

use crate::generator::pixels::noise_tensor;
use crate::generator::Generator;
use burn::prelude::*;

/// For one prompt (`cond`: (1, emb)), the best of the images from `seeds`, with its seed and
/// reward. Generates `batch` at a time.
pub fn best_of_n<B: Backend>(
    generator: &Generator<B>,
    cond: Tensor<B, 2>,
    seeds: &[u64],
    resolution: usize,
    batch: usize,
    reward: impl Fn(Tensor<B, 4>) -> Tensor<B, 1>,
) -> (Tensor<B, 4>, u64, f32) {
    let device = cond.device();
    let mut best: Option<(Tensor<B, 4>, u64, f32)> = None;
    for chunk in seeds.chunks(batch.max(1)) {
        let n = chunk.len();
        let x = generator.one_step(noise_tensor::<B>(chunk, resolution, &device), cond.clone().expand([n as i64, -1]));
        let scores: Vec<f32> = reward(x.clone()).into_data().convert::<f32>().into_vec().expect("floats");
        for (i, &s) in scores.iter().enumerate() {
            if best.as_ref().is_none_or(|b| s > b.2) {
                best = Some((x.clone().slice([i..i + 1]), chunk[i], s));
            }
        }
    }
    best.expect("at least one seed")
}
