//! Where a coarse hypernetwork's time goes for one image, on the CPU (burn-flex): the base
//! generator's pass, f's whole pass, and f's two parts, its prompt encoding and its U-Net on the
//! 16 x 16 canvas. Medians of 41 timed runs after 5 untimed ones, batch 1.
//!
//! `cargo run --release --example coarse_cost -p hypernoise -- [GENERATOR ADAPTERS]`
//! (default: the shipped generator and `weights/hypernoise-coarse.safetensors`).

use burn::prelude::*;
use hypernoise::generator::{Adapters, Sampler};
use hypernoise::hypernet::block_noise;
use hypernoise::pipeline::{NoiseMap, Pipeline};
use std::error::Error;
use std::time::Instant;

const WARM_UP: usize = 5;
const TIMED: usize = 41;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let generator = std::fs::read(arg(0, "weights/generator.safetensors"))?;
    let adapters = std::fs::read(arg(1, "weights/hypernoise-coarse.safetensors"))?;
    let pipeline = Pipeline::load(&generator, &[&adapters], &Device::flex())?;
    let Some(f @ NoiseMap::Folded(folded, Some(r))) = pipeline.hypernetwork() else {
        return Err("the adapters are not a coarse LoRA hypernetwork (fit --offset-resolution)".into());
    };
    let inputs = pipeline.inputs(&["a blue circle to the left of a yellow square"], &[1])?;
    let (z, tokens, base) = (inputs.noise, inputs.tokens, pipeline.generator());
    let generate = median_ms(|| base.generate(z.clone(), tokens.clone(), Sampler::OneStep).into_data());
    let offset = median_ms(|| f.offset(z.clone(), tokens.clone(), base).into_data());
    let encode = median_ms(|| folded.encode_with(tokens.clone(), Adapters::Off).into_data());
    let size = z.dims()[2];
    // the U-Net's input: z's block means as unit-variance noise on an r x r canvas
    let canvas = block_noise(z.clone(), *r);
    let cond = folded.encode_with(tokens.clone(), Adapters::Off);
    let t = Tensor::<1>::zeros([1], &z.device());
    let unet = median_ms(|| folded.velocity_with(canvas.clone(), t.clone(), cond.clone(), Adapters::Off).into_data());
    println!("batch 1, {size} x {size} noise, f at {r} x {r}:");
    println!("  base generator pass   {generate:7.2} ms");
    println!("  f (whole)             {offset:7.2} ms ({:.2}x the base with it)", (generate + offset) / generate);
    println!("  f's prompt encoding   {encode:7.2} ms");
    println!("  f's U-Net at {r} x {r}  {unet:7.2} ms");
    Ok(())
}

fn median_ms<T>(mut run: impl FnMut() -> T) -> f64 {
    (0..WARM_UP).for_each(|_| drop(run()));
    let mut times: Vec<f64> = (0..TIMED)
        .map(|_| {
            let started = Instant::now();
            drop(run());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[TIMED / 2]
}
