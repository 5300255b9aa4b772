//! `trainer evaluate`: a generator (with adapters, if given) on the evaluation (or validation)
//! prompts, scored by the exact evaluator, with seconds per image on this device; optionally
//! the images, their manifest and unjudged contact sheets for people to label.

use super::model_args::ModelArgs;
use crate::backend::{describe, DeviceKind, OnBackend};
use crate::grid::{compose, Cell};
use crate::manifest::{self, Entry};
use crate::{png_io, progress};
use anyhow::{anyhow, Context, Result};
use burn::prelude::Device;
use hypernoise::eval::{evaluate, Report};
use hypernoise::world::split::{items, Item, Split};
use hypernoise::world::{Category, Image};
use std::path::{Path, PathBuf};
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
    #[arg(long, default_value_t = 1, conflicts_with = "per_category")]
    every: usize,
    /// Score this many items of each task type instead, spread evenly over its items.
    #[arg(long)]
    per_category: Option<usize>,
    /// Write the scores, timing and settings as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also save the images and a manifest (re-score with `trainer eval-images`).
    #[arg(long)]
    save_dir: Option<PathBuf>,
    /// With --save-dir: the manifest's `source` of these images, and the prefix of their files.
    #[arg(long, requires = "save_dir")]
    source: Option<String>,
    /// With --save-dir: also contact sheets of 16 images each, captioned with their number and
    /// prompt and without the evaluator's verdict, for a person to label.
    #[arg(long, requires = "save_dir")]
    sheets: bool,
}

/// Up to `n` of each task type's items, evenly spread.
fn spread(items: Vec<Item>, n: usize) -> Vec<Item> {
    Category::ALL
        .iter()
        .flat_map(|&c| {
            let of: Vec<&Item> = items.iter().filter(|i| i.category == c).collect();
            let take = n.min(of.len());
            (0..take).map(move |k| of[k * of.len() / take].clone()).collect::<Vec<_>>()
        })
        .collect()
}

impl Args {
    fn items(&self) -> Vec<Item> {
        let all = items(self.split.into());
        match self.per_category {
            Some(n) => spread(all, n),
            None => all.into_iter().step_by(self.every.max(1)).collect(),
        }
    }

    fn save(&self, dir: &Path, items: &[Item], images: &[Image]) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let prefix = self.source.as_deref().map_or(String::new(), |s| format!("{s}-"));
        let mut entries = Vec::new();
        for (i, (item, image)) in items.iter().zip(images).enumerate() {
            let file = format!("{prefix}{i:05}.png");
            png_io::write(&dir.join(&file), image)?;
            entries.push(Entry {
                prompt: item.prompt.clone(),
                seed: item.seed,
                file,
                source: self.source.clone(),
                label: None,
                note: None,
            });
        }
        manifest::write(&dir.join(format!("{prefix}manifest.jsonl")), &entries)?;
        if self.sheets {
            for (s, chunk) in items.iter().zip(images).enumerate().collect::<Vec<_>>().chunks(16).enumerate() {
                let cells: Vec<Cell> = chunk
                    .iter()
                    .map(|(i, (item, image))| Cell {
                        image: (*image).clone(),
                        caption: format!("#{i} {}", item.prompt),
                        correct: None,
                    })
                    .collect();
                png_io::write(&dir.join(format!("{prefix}sheet-{s:02}.png")), &compose(&cells, 4, 4))?;
            }
        }
        Ok(())
    }
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let path = self.model.path();
        let (pipeline, method) = self.model.pipeline(&device.clone().inner())?;
        let (sampler, strength) = (pipeline.sampler(), self.model.strength);
        let split: Split = self.split.into();
        let items = self.items();
        let prompts: Vec<String> = items.iter().map(|i| i.prompt.clone()).collect();
        let seeds: Vec<u64> = items.iter().map(|i| i.seed).collect();
        // warm-up: kernels compile (and autotune) on first use; keep that out of the timing
        pipeline.draw(method, strength, &prompts[..1], &seeds[..1], 1, |_| {})?;
        let bar = progress::bar(items.len(), "generating");
        let started = Instant::now();
        let images = pipeline.draw(method, strength, &prompts, &seeds, self.batch, |n| bar.inc(n as u64))?;
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let mut report = Report::default();
        for (item, image) in items.iter().zip(&images) {
            report.add(item.category, evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct);
        }
        let per_image = seconds / items.len() as f64;
        let adapters = self
            .model
            .adapters
            .as_ref()
            .map_or(String::new(), |a| format!(" + {} at strength {}", a.display(), self.model.strength));
        println!("{}", report.markdown(&format!("{}{adapters} ({:?})", path.display(), sampler)));
        println!(
            "{} images, mean {:.4}; {:.2} ms per image at batch {} on {}; {} NFE",
            items.len(),
            report.mean(),
            per_image * 1e3,
            self.batch,
            describe(kind),
            pipeline.nfe(method)
        );
        if let Some(dir) = &self.save_dir {
            self.save(dir, &items, &images)?;
        }
        if let Some(json) = &self.json {
            let body = serde_json::json!({
                "weights": path.display().to_string(),
                "adapters": self.model.adapters.as_ref().map(|a| a.display().to_string()),
                "strength": self.model.strength,
                "sampler": format!("{sampler:?}"),
                "method": method.name(),
                "nfe": pipeline.nfe(method),
                "split": split.name(),
                "images": items.len(),
                "scores": report.scores(),
                "seconds_per_image": per_image,
                "batch": self.batch,
                "device": describe(kind),
            });
            crate::files::write(json, serde_json::to_string_pretty(&body)?.as_bytes())?;
        }
        Ok(())
    }
}
