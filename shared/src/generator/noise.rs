//! Seeded Gaussian noise, made on the CPU with the crate's own PRNG so that "seed 7" is the
//! same noise in the trainer, the tests and the browser.

use crate::rng::Rng;

/// `n` standard normal samples (Box-Muller).
pub fn gaussian(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    fill_gaussian(rng, &mut out);
    out
}

/// `out` filled with standard normal samples, a pair per two draws (the last pair's second
/// sample dropped where `out` is odd).
fn fill_gaussian(rng: &mut Rng, out: &mut [f32]) {
    for pair in out.chunks_mut(2) {
        let u1 = (rng.unit() as f64).max(1e-12);
        let u2 = rng.unit() as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        pair[0] = (r * a.cos()) as f32;
        if let Some(second) = pair.get_mut(1) {
            *second = (r * a.sin()) as f32;
        }
    }
}

/// The noise image (3 x res x res, channel-major) of a generation seed.
pub fn seeded(seed: u64, resolution: usize) -> Vec<f32> {
    gaussian(&mut Rng::derive(seed, "noise"), 3 * resolution * resolution)
}

/// [`seeded`]'s noise written into `out` (3 x res x res values).
fn seeded_into(seed: u64, out: &mut [f32]) {
    fill_gaussian(&mut Rng::derive(seed, "noise"), out);
}

/// The noise images of `seeds`, one after another, as [`seeded`] makes each. Box-Muller's f64
/// logarithms and sines cost about a quarter of a millisecond an image on one core, 16 ms of a
/// 64-image `fit` step in which the host should be issuing the GPU's work, so native builds share
/// the seeds among threads; the values are each seed's whatever the thread.
pub fn seeded_batch(seeds: &[u64], resolution: usize) -> Vec<f32> {
    let per_image = 3 * resolution * resolution;
    let mut out = vec![0f32; seeds.len() * per_image];
    let fill = |part: &mut [f32], seeds: &[u64]| {
        for (image, &seed) in part.chunks_mut(per_image).zip(seeds) {
            seeded_into(seed, image);
        }
    };
    let per_thread = seeds.len().div_ceil(threads_for(seeds.len())).max(1);
    if per_thread >= seeds.len() {
        fill(&mut out, seeds);
        return out;
    }
    std::thread::scope(|scope| {
        for (part, seeds) in out.chunks_mut(per_thread * per_image).zip(seeds.chunks(per_thread)) {
            scope.spawn(move || fill(part, seeds));
        }
    });
    out
}

/// Threads for `n` images: at least four images each (a thread costs about what one image
/// does), one where there are no threads (WebAssembly).
fn threads_for(n: usize) -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |p| p.get());
    cores.min(n / 4).max(1)
}
