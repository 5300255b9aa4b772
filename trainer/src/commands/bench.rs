//! `trainer bench`: generator latency at batch 1 and throughput at larger batches, twice: the
//! whole draw as `sample` and the page run it (seeded noise and prompts made on the host, images
//! read back as bytes), and the network alone on inputs already on the device (what PyTorch
//! benchmarks of a model, such as bench/torch/bench.py, time).

use super::model_args::ModelArgs;
use crate::backend::{describe, DeviceKind, OnBackend};
use anyhow::Result;
use burn::prelude::Device;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
    /// Timed repetitions per batch size (after one warm-up).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        anyhow::ensure!(self.iters >= 1, "--iters must be at least 1");
        anyhow::ensure!(self.batches.iter().all(|&b| b >= 1), "every batch in --batches must be at least 1");
        let path = self.model.path();
        let (pipeline, method) = self.model.pipeline(&device.clone().inner())?;
        let (sampler, strength) = (pipeline.sampler(), self.model.strength);
        let device_name = describe(kind);
        let mut rows = Vec::new();
        for &b in &self.batches {
            let prompts = vec!["a blue circle to the left of a yellow square".to_string(); b];
            let seeds: Vec<u64> = (0..b as u64).collect();
            let draw =
                median_seconds(self.iters, || pipeline.draw(method, strength, &prompts, &seeds, b, |_| {}).map(drop))?;
            let inputs = pipeline.inputs(&prompts, &seeds)?;
            // one number read back waits for the pass, without the images' copy to the host
            let network = median_seconds(self.iters, || {
                pipeline.images(method, &inputs, strength).map(|x| {
                    x.sum().into_scalar::<f32>();
                })
            })?;
            println!(
                "batch {b:4}: whole draw {:.2} ms, {:.1} images/s; network alone {:.2} ms, {:.1} images/s ({}, {:?}, {device_name})",
                draw * 1e3,
                b as f64 / draw,
                network * 1e3,
                b as f64 / network,
                method.name(),
                sampler
            );
            rows.push(
                serde_json::json!({"batch": b, "median_ms_per_batch": draw * 1e3, "images_per_second": b as f64 / draw,
                "network_median_ms_per_batch": network * 1e3, "network_images_per_second": b as f64 / network}),
            );
        }
        if let Some(json) = &self.json {
            let body = serde_json::json!({"weights": path.display().to_string(), "method": method.name(), "sampler": format!("{sampler:?}"), "device": device_name, "iters": self.iters, "rows": rows});
            crate::files::write(json, serde_json::to_string_pretty(&body)?.as_bytes())?;
        }
        Ok(())
    }
}

/// The median wall time of `iters` runs of `run`, after one untimed run.
fn median_seconds<E>(iters: usize, mut run: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    run()?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
