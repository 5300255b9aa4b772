//! `trainer best-of-n`: the best of N seeds for one prompt by a reward.

use super::test_time::{Loaded, Problem};
use super::OneImage;
use crate::backend::{describe, DeviceKind, OnBackend};
use crate::png_io;
use anyhow::Result;
use burn::prelude::*;
use hypernoise::optimize::best_of_n::best_of_n;
use hypernoise::pipeline::{finite_images, Method};
use std::time::Instant;

#[derive(clap::Args)]
pub struct BestOfNArgs {
    #[command(flatten)]
    problem: Problem,
    /// Candidates: seeds seed, seed + 1, ..., seed + n - 1 (wrapping past 2^64 - 1).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    n: u64,
}

impl OnBackend for BestOfNArgs {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let Loaded { generator: g, resolution, reward, inputs, cond } = self.problem.load(&device.clone().inner())?;
        let OneImage { seed, out, .. } = &self.problem.image;
        let seeds: Vec<Vec<u64>> = vec![(0..self.n).map(|i| seed.wrapping_add(i)).collect()];
        let tokens = inputs.tokens;
        let started = Instant::now();
        let score_batch = |x: Tensor<4>| {
            let n = x.dims()[0] as i64;
            reward.score(x, tokens.clone().expand([n, -1]))
        };
        let best = best_of_n(&g, cond, &seeds, resolution, score_batch);
        png_io::write(out, &finite_images(best.images, Method::Base)?[0])?;
        println!(
            "wrote {}: best of {} is seed {} (reward {:.4}) in {:.2} s on {}",
            out.display(),
            self.n,
            best.seeds[0],
            best.rewards[0],
            started.elapsed().as_secs_f64(),
            describe(kind)
        );
        Ok(())
    }
}
