//! `trainer evaluate`: a generator on the evaluation (or validation) prompts, scored by the
//! exact evaluator, with seconds per image on this device.

use super::model_args::ModelArgs;
use crate::backend::{describe, DeviceKind, OnBackend, TrainBackend};
use crate::manifest::{self, Entry};
use crate::models::generate_images;
use crate::{png_io, progress};
use anyhow::{anyhow, Result};
use hypernoise::eval::{evaluate, Report};
use hypernoise::world::split::{items, Split};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, value_enum, default_value = "eval")]
    split: super::render_set::Which,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Score only every k-th item (quick looks); 1 = the whole set.
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// Write the scores, timing and settings as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also save the images and a manifest (re-score with `trainer eval-images`).
    #[arg(long)]
    save_dir: Option<PathBuf>,
}

impl OnBackend for Args {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let path = self.model.path();
        let (model, config) = self.model.load::<B::InnerBackend>(&device)?;
        let split: Split = self.split.into();
        let items: Vec<_> = items(split).into_iter().step_by(self.every.max(1)).collect();
        let prompts: Vec<String> = items.iter().map(|i| i.prompt.clone()).collect();
        let seeds: Vec<u64> = items.iter().map(|i| i.seed).collect();
        let sampler = self.model.sampler.sampler();
        // warm-up: kernels compile (and autotune) on first use; keep that out of the timing
        generate_images(&model, config.resolution, &prompts[..1], &seeds[..1], sampler, 1, &device, |_| {})?;
        let bar = progress::bar(items.len(), "generating");
        let started = Instant::now();
        let images = generate_images(&model, config.resolution, &prompts, &seeds, sampler, self.batch, &device, |n| bar.inc(n as u64))?;
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let mut report = Report::default();
        for (item, image) in items.iter().zip(&images) {
            report.add(item.category, evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct);
        }
        let per_image = seconds / items.len() as f64;
        println!("{}", report.markdown(&format!("{} ({:?})", path.display(), sampler)));
        println!("{} images, mean {:.4}; {:.2} ms per image at batch {} on {}; {} NFE", items.len(), report.mean(), per_image * 1e3, self.batch, describe(kind), sampler.nfe());
        if let Some(dir) = &self.save_dir {
            std::fs::create_dir_all(dir)?;
            let mut entries = Vec::new();
            for (i, (item, image)) in items.iter().zip(&images).enumerate() {
                let file = format!("{i:05}.png");
                png_io::write(&dir.join(&file), image)?;
                entries.push(Entry { prompt: item.prompt.clone(), seed: item.seed, file });
            }
            manifest::write(&dir.join("manifest.jsonl"), &entries)?;
        }
        if let Some(json) = &self.json {
            let body = serde_json::json!({
                "weights": path.display().to_string(),
                "sampler": format!("{sampler:?}"),
                "nfe": sampler.nfe(),
                "split": split.name(),
                "images": items.len(),
                "scores": report.scores(),
                "seconds_per_image": per_image,
                "batch": self.batch,
                "device": describe(kind),
            });
            std::fs::write(json, serde_json::to_string_pretty(&body)?)?;
        }
        Ok(())
    }
}
