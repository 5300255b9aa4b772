//! Seeded Gaussian noise, made on the CPU with the crate's own PRNG so that "seed 7" is the
//! same noise in the trainer, the tests and the browser.

use crate::rng::Rng;

/// `n` standard normal samples (Box-Muller).
pub fn gaussian(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = (rng.unit() as f64).max(1e-12);
        let u2 = rng.unit() as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// The noise image (3 x res x res, channel-major) of a generation seed.
pub fn seeded(seed: u64, resolution: usize) -> Vec<f32> {
    gaussian(&mut Rng::derive(seed, "noise"), 3 * resolution * resolution)
}
