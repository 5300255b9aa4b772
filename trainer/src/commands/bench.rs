//! `trainer bench`: generator latency at batch 1 and throughput at larger batches.

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
        let path = self.model.path();
        let (pipeline, method) = self.model.pipeline(&device.clone().inner())?;
        let (sampler, strength) = (pipeline.sampler(), self.model.strength);
        let device_name = describe(kind);
        let mut rows = Vec::new();
        for &b in &self.batches {
            let prompts = vec!["a blue circle to the left of a yellow square".to_string(); b];
            let seeds: Vec<u64> = (0..b as u64).collect();
            pipeline.draw(method, strength, &prompts, &seeds, b, |_| {})?;
            let mut times = Vec::new();
            for _ in 0..self.iters {
                let t = Instant::now();
                pipeline.draw(method, strength, &prompts, &seeds, b, |_| {})?;
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "batch {b:4}: median {:.2} ms per batch, {:.1} images/s ({}, {:?}, {device_name})",
                median * 1e3,
                b as f64 / median,
                method.name(),
                sampler
            );
            rows.push(serde_json::json!({"batch": b, "median_ms_per_batch": median * 1e3, "images_per_second": b as f64 / median}));
        }
        if let Some(json) = &self.json {
            let body = serde_json::json!({"weights": path.display().to_string(), "method": method.name(), "sampler": format!("{sampler:?}"), "device": device_name, "iters": self.iters, "rows": rows});
            crate::files::write(json, serde_json::to_string_pretty(&body)?.as_bytes())?;
        }
        Ok(())
    }
}
