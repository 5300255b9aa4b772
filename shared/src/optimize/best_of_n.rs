//! Best-of-N: draw N noises per prompt, keep the image the reward likes best.

use super::keep_best;
use crate::generator::pixels::noise_tensor;
use crate::generator::Generator;
use burn::prelude::*;

pub struct BestOfN {
    /// The best image per prompt (P, 3, H, W), before clamping.
    pub images: Tensor<4>,
    pub seeds: Vec<u64>,
    pub rewards: Vec<f32>,
}

/// For each prompt (`cond`: (P, SLOTS, token_dim)), the best of the images from its seeds (`seeds[p]`, N
/// each), made one round (one seed per prompt) at a time, so memory stays that of one batch.
pub fn best_of_n(
    generator: &Generator,
    cond: Tensor<3>,
    seeds: &[Vec<u64>],
    resolution: usize,
    reward: impl Fn(Tensor<4>) -> Tensor<1>,
) -> BestOfN {
    let device = cond.device();
    let rounds = seeds.iter().map(Vec::len).min().unwrap_or(0);
    assert!(rounds > 0 && seeds.len() == cond.dims()[0], "one non-empty seed list per prompt");
    let mut best: Option<(Tensor<4>, Vec<f32>)> = None;
    let mut chosen = vec![0u64; seeds.len()];
    for r in 0..rounds {
        let round: Vec<u64> = seeds.iter().map(|s| s[r]).collect();
        let x = generator.one_step(noise_tensor(&round, resolution, &device), cond.clone());
        let scores: Vec<f32> = reward(x.clone()).into_data().convert::<f32>().try_into_vec().expect("floats");
        for (p, s) in scores.iter().enumerate() {
            if best.as_ref().is_none_or(|(_, b)| *s > b[p]) {
                chosen[p] = round[p];
            }
        }
        best = Some(keep_best(best, x, &scores));
    }
    let (images, rewards) = best.expect("at least one round");
    BestOfN { images, seeds: chosen, rewards }
}
