use super::best_of_n::best_of_n;
use super::reno::{norm_regulariser, reno, RenoConfig};
use crate::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use crate::generator::tests::randomised;
use crate::generator::GeneratorConfig;
use crate::reward::analytic::redness;
use burn::prelude::*;

fn vec1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

#[test]
fn reno_raises_the_reward_per_image_and_keeps_the_best() {
    let c = GeneratorConfig::tiny();
    let dev = Device::flex();
    let g = randomised(&c).no_grad();
    let tokens = tokens_tensor(&encode_prompts(&["a red circle", "a blue star"]).unwrap(), &dev);
    let z = noise_tensor(&[3, 4], c.resolution, &dev);
    let config = RenoConfig { iterations: 10, ..RenoConfig::default() };
    let mut seen = vec![];
    let both = reno(&g, g.encode(tokens.clone()), z.clone(), redness, &config, |i, r| seen.push((i, r)));
    assert_eq!(seen.len(), 11);
    assert!(both.curve[10] > both.curve[0] + 0.05, "{:?}", both.curve);
    assert!(
        both.rewards.iter().zip(&vec1(redness(both.images.clone()))).all(|(a, b)| (a - b).abs() < 1e-4),
        "kept images match their rewards"
    );
    // the first image's result does not depend on the second one in the batch
    let one = reno(&g, g.encode(tokens.slice([0..1])), z.slice([0..1]), redness, &config, |_, _| {});
    assert!((one.rewards[0] - both.rewards[0]).abs() < 1e-3, "{} vs {}", one.rewards[0], both.rewards[0]);
}

#[test]
fn regulariser_prefers_the_gaussian_shell() {
    let dev = Device::flex();
    let z = noise_tensor(&[1], 16, &dev);
    let r = |s: f32| vec1(norm_regulariser(z.clone() * s))[0];
    assert!(r(1.0) < r(0.5) && r(1.0) < r(2.0), "{} {} {}", r(0.5), r(1.0), r(2.0));
}

#[test]
fn best_of_n_returns_each_prompts_best_seed_and_its_image() {
    let c = GeneratorConfig::tiny();
    let dev = Device::flex();
    let g = randomised(&c);
    let cond = g.encode(tokens_tensor(&encode_prompts(&["a red circle", "a blue star"]).unwrap(), &dev));
    let seeds: Vec<Vec<u64>> = vec![(0..9).collect(), (100..109).collect()];
    let result = best_of_n(&g, cond.clone(), &seeds, c.resolution, redness);
    for (p, prompt_seeds) in seeds.iter().enumerate() {
        let cond_p = cond.clone().slice([p..p + 1]);
        let all = vec1(redness(
            g.one_step(noise_tensor(prompt_seeds, c.resolution, &dev), cond_p.clone().expand([9, -1, -1])),
        ));
        let max = all.iter().cloned().fold(f32::MIN, f32::max);
        let at = seeds[p].iter().position(|&s| s == result.seeds[p]).unwrap();
        assert!((result.rewards[p] - max).abs() < 1e-5 && (all[at] - max).abs() < 1e-5, "prompt {p}");
        let again = g.one_step(noise_tensor(&[result.seeds[p]], c.resolution, &dev), cond_p);
        assert!((again - result.images.clone().slice([p..p + 1])).abs().max().into_scalar::<f32>() < 1e-5);
    }
}
