//! The shipped coarse hypernetwork (`weights/hypernoise-coarse.safetensors`) on the shipped
//! generator: it loads as the design the docs describe, changes the noise only block by block,
//! and on held-out prompts its images get more verdicts right than the base's (0.928 against
//! 0.843 on all evaluation images: docs/hypernoise.md, "Then the reward").

use burn::prelude::*;
use hypernoise::eval::evaluate;
use hypernoise::hypernet::{Adapted, Role};
use hypernoise::pipeline::{finite_images, Inputs, Method, Pipeline};
use hypernoise::world::split::{items, Item, Split};
use hypernoise_tests::shipped;

/// Correct verdicts among `items` for `method`'s images.
fn correct(pipeline: &Pipeline, method: Method, items: &[Item], inputs: &Inputs) -> usize {
    let x = pipeline.images(method, inputs, 1.0).unwrap();
    let images = finite_images(x, method).unwrap();
    items.iter().zip(images).filter(|(item, image)| evaluate(&item.prompt, image).unwrap().correct).count()
}

#[test]
fn the_shipped_coarse_hypernetwork_moves_16_x_16_blocks_of_noise_and_helps_on_held_out_prompts() {
    let device = Device::flex();
    let (generator, coarse) = (shipped("generator.safetensors"), shipped("hypernoise-coarse.safetensors"));
    // one evaluation item in 34: 64 of 2,168, every task type
    let picks: Vec<Item> = items(Split::Eval).into_iter().step_by(34).collect();
    let prompts: Vec<&str> = picks.iter().map(|i| i.prompt.as_str()).collect();
    let seeds: Vec<u64> = picks.iter().map(|i| i.seed).collect();

    let (adapted, config) = Adapted::load(&generator, &coarse, &device).unwrap();
    assert_eq!(config.role, Role::NoiseHypernetwork);
    assert_eq!(config.design.offset_resolution(), Some(16), "{}", config.design);
    let pipeline = Pipeline::load(&generator, &[&coarse], &device).unwrap();
    let inputs = pipeline.inputs(&prompts[..8], &seeds[..8]).unwrap();
    let f = adapted.offset(inputs.noise.clone(), inputs.tokens.clone());
    let within_blocks = (adapted.expressible(f.clone()) - f.clone()).abs().max().into_scalar::<f32>();
    assert!(within_blocks < 1e-4, "f varies inside a 4 x 4 block by {within_blocks}");
    // trained, and held near the noise prior by its regulariser (1/2 ||f||^2 was 1.8-2.2 an image)
    let energy = f.powi_scalar(2).sum().into_scalar::<f32>() / 2.0 / 8.0;
    assert!((0.2..20.0).contains(&energy), "1/2 ||f||^2 per image {energy}");

    let inputs = pipeline.inputs(&prompts, &seeds).unwrap();
    let (base, hyper) =
        (correct(&pipeline, Method::Base, &picks, &inputs), correct(&pipeline, Method::Hypernoise, &picks, &inputs));
    assert!(hyper > base, "of {} held-out items: base {base}, coarse HyperNoise {hyper}", picks.len());
}
