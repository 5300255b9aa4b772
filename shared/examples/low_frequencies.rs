//! What a light hypernetwork, one that only changes the noise's lowest k x k frequencies, could
//! do for the shipped generator, measured with its LoRA hypernetwork f:
//!
//! 1. the ceiling: the evaluator's mean on the evaluation set when the generator receives
//!    z + P_k f(z, c), P_k the projection on the lowest k x k frequencies (what a light
//!    hypernetwork of `--grid k` can express; k = 64 is all of f), or z + B_r f(z, c), B_r its
//!    r x r block means (what `fit --offset-resolution r` can express), beside the base;
//! 2. whether those frequencies of z decide the image and the offset: on validation items, z's
//!    higher frequencies are replaced by another seed's, and the run reports how often the
//!    evaluator's verdict stays, how far the image moves (against an independent seed's), and how
//!    far P_k f moves, relative to its size.
//!
//! `cargo run --example low_frequencies -p hypernoise -- [EVERY [GENERATOR ADAPTERS]]`
//! (default: every evaluation image, the shipped generator and LoRA hypernetwork).

use burn::prelude::*;
use hypernoise::eval::{evaluate, Report};
use hypernoise::hypernet::block_means;
use hypernoise::hypernet::light::low_pass;
use hypernoise::pipeline::{finite_images, Inputs, Method, Pipeline};
use hypernoise::world::split::{items, Item, Split};
use std::error::Error;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const CEILING_GRIDS: [usize; 4] = [4, 8, 16, 64];
const CEILING_BLOCKS: [usize; 3] = [8, 16, 32];
const LAYOUT_GRIDS: [usize; 3] = [8, 16, 32];
/// The layout probe takes every this-many-th validation item.
const LAYOUT_EVERY: usize = 2;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let every: usize = arg(0, "1").parse()?;
    let generator = std::fs::read(arg(1, "weights/generator.safetensors"))?;
    let adapters = std::fs::read(arg(2, "weights/hypernoise.safetensors"))?;
    let pipeline = Pipeline::load(&generator, &[&adapters], &Device::flex())?;
    ceiling(&pipeline, every.max(1))?;
    layout(&pipeline)
}

fn ceiling(pipeline: &Pipeline, every: usize) -> Result<()> {
    let evaluation: Vec<Item> = items(Split::Eval).into_iter().step_by(every).collect();
    let mut reports: Vec<Report> =
        (0..=CEILING_GRIDS.len() + CEILING_BLOCKS.len()).map(|_| Report::default()).collect();
    for (done, chunk) in evaluation.chunks(64).enumerate() {
        let inputs = inputs_of(pipeline, chunk, 0)?;
        let (z, f) = (inputs.noise.clone(), offset(pipeline, &inputs)?);
        let mut noises = vec![z.clone()];
        noises.extend(CEILING_GRIDS.map(|k| z.clone() + low_pass(f.clone(), k)));
        noises.extend(CEILING_BLOCKS.map(|r| z.clone() + block_means(f.clone(), r)));
        for (noise, report) in noises.into_iter().zip(&mut reports) {
            for (item, correct) in chunk.iter().zip(verdicts(chunk, image(pipeline, noise, &inputs))?) {
                report.add(item.category, correct);
            }
        }
        eprintln!("{} of {} evaluation images", done * 64 + chunk.len(), evaluation.len());
    }
    println!("ceiling, {} evaluation images: base {:.4}", evaluation.len(), reports[0].mean());
    let (grids, blocks) = reports[1..].split_at(CEILING_GRIDS.len());
    for (k, report) in CEILING_GRIDS.iter().zip(grids) {
        println!("  z + P_{k} f: {:.4}", report.mean());
    }
    for (r, report) in CEILING_BLOCKS.iter().zip(blocks) {
        println!("  z + B_{r} f: {:.4}", report.mean());
    }
    Ok(())
}

fn layout(pipeline: &Pipeline) -> Result<()> {
    let probe: Vec<Item> = items(Split::Val).into_iter().step_by(LAYOUT_EVERY).collect();
    let inputs = inputs_of(pipeline, &probe, 0)?;
    let other = inputs_of(pipeline, &probe, 0x5555_1234)?.noise;
    let z = inputs.noise.clone();
    let x = image(pipeline, z.clone(), &inputs);
    let base = verdicts(&probe, x.clone())?;
    let f = offset(pipeline, &inputs)?;
    let independent = relative(image(pipeline, other.clone(), &inputs), x.clone());
    println!("layout, {} validation items (an independent seed moves the image by {independent:.3})", probe.len());
    for k in LAYOUT_GRIDS {
        let mixed = low_pass(z.clone(), k) + (other.clone() - low_pass(other.clone(), k));
        let x_mixed = image(pipeline, mixed.clone(), &inputs);
        let kept = verdicts(&probe, x_mixed.clone())?.iter().zip(&base).filter(|(a, b)| a == b).count();
        let moved = relative(x_mixed, x.clone());
        let f_mixed = offset(pipeline, &Inputs { noise: mixed, tokens: inputs.tokens.clone() })?;
        let f_moved = relative(low_pass(f_mixed, k), low_pass(f.clone(), k));
        println!(
            "  z above {k}x{k} redrawn: verdict kept {:.3}, image moved {moved:.3}, P_{k} f moved {f_moved:.3}",
            kept as f64 / probe.len() as f64
        );
    }
    Ok(())
}

/// The items' prompts with their seeds' noise (each seed XOR `reseed`).
fn inputs_of(pipeline: &Pipeline, items: &[Item], reseed: u64) -> Result<Inputs> {
    let prompts: Vec<&str> = items.iter().map(|i| i.prompt.as_str()).collect();
    let seeds: Vec<u64> = items.iter().map(|i| i.seed ^ reseed).collect();
    Ok(pipeline.inputs(&prompts, &seeds)?)
}

/// The LoRA hypernetwork's f for `inputs`.
fn offset(pipeline: &Pipeline, inputs: &Inputs) -> Result<Tensor<4>> {
    Ok(pipeline.modulate(inputs, 1.0)? - inputs.noise.clone())
}

/// The generator's images from `noise` for the prompts of `inputs`.
fn image(pipeline: &Pipeline, noise: Tensor<4>, inputs: &Inputs) -> Tensor<4> {
    pipeline.generator().generate(noise, inputs.tokens.clone(), pipeline.sampler())
}

/// The evaluator's verdicts on images `x` of the items' prompts.
fn verdicts(items: &[Item], x: Tensor<4>) -> Result<Vec<bool>> {
    let images = finite_images(x, Method::Base)?;
    items.iter().zip(images).map(|(item, image)| Ok(evaluate(&item.prompt, &image)?.correct)).collect()
}

/// ||a - b|| / ||b||.
fn relative(a: Tensor<4>, b: Tensor<4>) -> f64 {
    let norm = |x: Tensor<4>| x.powi_scalar(2).sum().into_scalar::<f64>().sqrt();
    norm(a - b.clone()) / norm(b)
}
