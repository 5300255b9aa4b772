//! What the host spends making seeded noise: batches of 8, 64 and 256 seeds at the generator's
//! 64 x 64, one seed after another on one thread against `noise::seeded_batch` (the seeds shared
//! among the cores). Means of 5 runs.
//!
//! `cargo run --release --example noise_cost -p hypernoise`

use hypernoise::generator::noise::{seeded, seeded_batch};
use std::time::Instant;

const RUNS: u32 = 5;

fn main() {
    for n in [8u64, 64, 256] {
        let seeds: Vec<u64> = (0..n).collect();
        let one_thread = mean_ms(|| seeds.iter().flat_map(|&s| seeded(s, 64)).collect::<Vec<f32>>());
        let shared = mean_ms(|| seeded_batch(&seeds, 64));
        println!("{n:3} seeds: one thread {one_thread:6.1} ms, seeded_batch {shared:6.1} ms");
    }
}

fn mean_ms<T>(mut run: impl FnMut() -> T) -> f64 {
    let started = Instant::now();
    for _ in 0..RUNS {
        std::hint::black_box(run());
    }
    started.elapsed().as_secs_f64() * 1e3 / f64::from(RUNS)
}
