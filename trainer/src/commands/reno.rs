//! `trainer reno`: ReNO (Eyring et al. 2024) on one prompt and seed: the noise optimised by
//! gradient ascent on a reward through the frozen one-step generator; the best image is kept.

use super::test_time::{Loaded, Problem};
use crate::backend::{describe, DeviceKind, OnBackend};
use crate::png_io;
use anyhow::Result;
use burn::prelude::*;
use hypernoise::optimize::reno::{reno, RenoConfig};
use hypernoise::pipeline::{finite_images, Inputs, Method};
use std::time::Instant;

/// A finite number above zero.
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("a finite number above 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(clap::Args)]
pub struct RenoArgs {
    #[command(flatten)]
    problem: Problem,
    /// Gradient steps on the noise (the paper: 50).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    iterations: u64,
    /// Learning rate of the noise's Nesterov SGD (the paper: 5).
    #[arg(long, default_value_t = 5.0, value_parser = positive)]
    lr: f64,
}

impl OnBackend for RenoArgs {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let Loaded { generator, reward, inputs: Inputs { noise: z, tokens }, cond, .. } = self.problem.load(&device)?;
        let g = generator.no_grad();
        let settings = RenoConfig { iterations: self.iterations as usize, lr: self.lr, ..RenoConfig::default() };
        let started = Instant::now();
        let result = reno(
            &g,
            cond,
            z,
            |x| reward.score(x, tokens.clone()),
            &settings,
            |i, r| eprintln!("reno iteration {i:3}: reward {r:.4}"),
        );
        let seconds = started.elapsed().as_secs_f64();
        let out = &self.problem.image.out;
        png_io::write(out, &finite_images(result.images, Method::Base)?[0])?;
        println!(
            "wrote {}: reward {:.4} -> {:.4} (best) in {seconds:.2} s on {}",
            out.display(),
            result.curve[0],
            result.rewards[0],
            describe(kind)
        );
        Ok(())
    }
}
