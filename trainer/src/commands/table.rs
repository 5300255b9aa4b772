//! `trainer eval`: the analogue of the paper's Table 1 on the evaluation prompts. Every method
//! starts from the same noise per item (the item's seed) on the same device in one run: the
//! base one-step generator, + HyperNoise, + best-of-N (by reward), + ReNO, + the LoRA
//! fine-tune. Per method: the exact evaluator's mean and six categories, the mean reward,
//! seconds per image, generator evaluations per image, diversity across seeds of a prompt and
//! distance to the base image from the same noise. `samples.png` shows what the numbers
//! count: a row per method, the same few items in every row, framed by the evaluator's verdict.

use crate::backend::{describe, DeviceKind, OnBackend, TrainBackend};
use crate::grid::{compose, Cell};
use crate::models::{checked_fold, load_adapters, read};
use crate::models::{load_generator, shipped, shipped_generator};
use crate::png_io;
use crate::progress;
use crate::rewards::{shipped_reward, Reward};
use anyhow::{anyhow, Result};
use burn::prelude::*;
use hypernoise::eval::{evaluate, Report};
use hypernoise::generator::pixels::{encode_prompts, images_to_tensor, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::Sampler;
use hypernoise::hypernet::{fingerprint, Role};
use hypernoise::optimize::best_of_n::best_of_n;
use hypernoise::optimize::reno::{reno, RenoConfig};
use hypernoise::world::split::{items, Item, Split};
use hypernoise::world::Image;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The base generator (default: the shipped student).
    #[arg(long)]
    generator: Option<PathBuf>,
    /// Hypernetwork adapters (default: the shipped weights/hypernoise.safetensors).
    #[arg(long)]
    hypernoise: Option<PathBuf>,
    /// Fine-tuning adapters (default: the shipped weights/finetune.safetensors).
    #[arg(long)]
    finetune: Option<PathBuf>,
    /// The reward best-of-N and ReNO optimise and the table reports (default: the shipped one).
    #[arg(long)]
    reward: Option<String>,
    /// Methods to run, of base, hypernoise, best_of_50 (any N: best_of_N), reno, finetune.
    #[arg(long, value_delimiter = ',', default_value = "base,hypernoise,best_of_50,reno,finetune")]
    methods: Vec<String>,
    /// Score every k-th evaluation item (1 = all 2,168).
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// `val` scores the validation prompts instead (what `fit` selects on), to compare with its curves.
    #[arg(long, value_enum, default_value = "eval")]
    split: super::render_set::Which,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    #[arg(long, default_value_t = 50)]
    reno_iterations: usize,
    /// Folder for eval.json, eval.md and samples.png.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// The accelerator's name for the record (e.g. from nvidia-smi); default: the backend.
    #[arg(long)]
    card: Option<String>,
}

/// At most this many timed passes over the items per method; more than one only while the
/// passes so far took under `EXTRA_PASSES_WITHIN_S` seconds (so on a GPU, not the CPU or ReNO).
const TIMED_PASSES: usize = 5;
const EXTRA_PASSES_WITHIN_S: f64 = 10.0;

/// Items shown per method in samples.png.
const SAMPLE_COLUMNS: usize = 8;

struct Run {
    images: Vec<Image>,
    seconds: f64,
    nfe: usize,
}

/// Mean RMS pixel difference (in [0, 1] units) between paired images.
fn rms(a: &Image, b: &Image) -> f64 {
    let s: f64 = a.rgb.iter().zip(&b.rgb).map(|(x, y)| ((*x as f64 - *y as f64) / 255.0).powi(2)).sum();
    (s / a.rgb.len() as f64).sqrt()
}

/// Mean RMS difference between images of the same prompt from different seeds.
fn diversity(items: &[Item], images: &[Image]) -> f64 {
    let mut by_prompt: BTreeMap<&str, Vec<&Image>> = BTreeMap::new();
    for (item, img) in items.iter().zip(images) {
        by_prompt.entry(&item.prompt).or_default().push(img);
    }
    let (mut sum, mut n) = (0.0, 0usize);
    for imgs in by_prompt.values() {
        for i in 0..imgs.len() {
            for j in i + 1..imgs.len() {
                sum += rms(imgs[i], imgs[j]);
                n += 1;
            }
        }
    }
    sum / n.max(1) as f64
}

/// A method: the images of a batch of items.
type MakeImages<'a, B> = &'a dyn Fn(&[Item]) -> Result<Tensor<B, 4>>;

impl OnBackend for Args {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        // unknown methods fail before any work is done
        if let Some(m) = self.methods.iter().find(|m| {
            !matches!(m.as_str(), "base" | "hypernoise" | "reno" | "finetune")
                && m.strip_prefix("best_of_").and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0).is_none()
        }) {
            anyhow::bail!("unknown method '{m}' (base, hypernoise, best_of_N with N >= 1, reno, finetune)");
        }
        // the base runs first: every other row's distance to base needs its images
        let mut methods = self.methods.clone();
        methods.sort_by_key(|m| m != "base");
        let generator_path = self.generator.clone().unwrap_or_else(shipped_generator);
        let (g, config) = load_generator::<B::InnerBackend>(&generator_path, &device)?;
        let res = config.resolution;
        let reward_spec = self.reward.clone().unwrap_or_else(|| shipped_reward().display().to_string());
        let reward = Reward::<B::InnerBackend>::parse(&reward_spec, res, &device)?;
        let split: Split = self.split.into();
        let items: Vec<Item> = items(split).into_iter().step_by(self.every.max(1)).collect();
        let card = self.card.clone().unwrap_or_else(|| describe(kind));
        let batches: Vec<&[Item]> = items.chunks(self.batch.max(1)).collect();
        let tokens_of = |chunk: &[Item]| -> Result<Tensor<B::InnerBackend, 2, Int>> {
            Ok(tokens_tensor(
                &encode_prompts(&chunk.iter().map(|i| i.prompt.as_str()).collect::<Vec<_>>())
                    .map_err(|e| anyhow!("{e}"))?,
                &device,
            ))
        };
        let noise_of = |chunk: &[Item]| {
            noise_tensor::<B::InnerBackend>(&chunk.iter().map(|i| i.seed).collect::<Vec<_>>(), res, &device)
        };
        // Times one method over all items, after an untimed warm-up on the first batch and on a
        // shorter last one: GPU kernels compile and autotune per shape (a last batch compiled
        // inside the timing made the first method look 3x slower than the same network later).
        // Warm-ups read their images back, so no queued GPU work spills into the timing.
        let timed = |name: &str, nfe: usize, make: MakeImages<B::InnerBackend>| -> Result<Run> {
            for shape in batches.iter().take(1).chain(batches.last().filter(|l| l.len() != batches[0].len())) {
                tensor_to_images(make(shape)?);
            }
            let bar = progress::bar(items.len(), name);
            let started = Instant::now();
            let mut images = Vec::with_capacity(items.len());
            for chunk in &batches {
                images.extend(tensor_to_images(make(chunk)?));
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
            // one pass of a method under a millisecond per image took 0.72 and 0.89 ms on two
            // runs on one H100: quick methods get more timed passes, and the median counts
            let mut passes = vec![started.elapsed().as_secs_f64()];
            while passes.len() < TIMED_PASSES && passes.iter().sum::<f64>() < EXTRA_PASSES_WITHIN_S {
                let again = Instant::now();
                for chunk in &batches {
                    tensor_to_images(make(chunk)?);
                }
                passes.push(again.elapsed().as_secs_f64());
            }
            passes.sort_by(f64::total_cmp);
            Ok(Run { images, seconds: passes[passes.len() / 2], nfe })
        };

        // samples.png: items spread over the run (evaluation items are ordered by task type)
        let columns = SAMPLE_COLUMNS.min(items.len());
        let picks: Vec<usize> = (0..columns).map(|k| k * items.len() / columns).collect();
        let mut cells = Vec::new();
        let mut rows = serde_json::Map::new();
        let mut base_images: Option<Vec<Image>> = None;
        let mut markdown = String::from("| method | mean | single_object | two_object | counting | colors | position | color_attr | reward | s/img | NFE | diversity | distance to base |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for method in &methods {
            // adapter rows name their file's fingerprint: a table row belongs to one set of weights
            let mut adapters_fingerprint = None;
            let run = match method.as_str() {
                "base" => timed(method, 1, &|c| Ok(g.one_step(noise_of(c), g.encode(tokens_of(c)?))))?,
                "hypernoise" | "finetune" => {
                    let (path, role) = if method == "hypernoise" {
                        (
                            self.hypernoise.clone().unwrap_or_else(|| shipped("hypernoise.safetensors")),
                            Role::NoiseHypernetwork,
                        )
                    } else {
                        (self.finetune.clone().unwrap_or_else(|| shipped("finetune.safetensors")), Role::FineTune)
                    };
                    let (adapted, adapters) = load_adapters::<B::InnerBackend>(&generator_path, &path, &device)?;
                    if adapters.role != role {
                        anyhow::bail!("{} holds {:?} adapters, not {role:?} ones", path.display(), adapters.role);
                    }
                    let nfe = if role == Role::NoiseHypernetwork { 2 } else { 1 };
                    let probe = &batches[0][..batches[0].len().min(16)];
                    let adapter_bytes = read(&path)?;
                    adapters_fingerprint = Some(fingerprint(&adapter_bytes));
                    let merged = checked_fold(
                        &read(&generator_path)?,
                        &adapter_bytes,
                        &adapted,
                        noise_of(probe),
                        tokens_of(probe)?,
                    )?;
                    timed(method, nfe, &|c| Ok(merged.generate(noise_of(c), tokens_of(c)?, 1.0, Sampler::OneStep)))?
                }
                "reno" => {
                    let (g_ad, _) = load_generator::<B>(&generator_path, &device)?;
                    let g_ad = g_ad.no_grad();
                    let reward_ad = Reward::<B>::parse(&reward_spec, res, &device)?;
                    let settings = RenoConfig { iterations: self.reno_iterations, ..RenoConfig::default() };
                    timed(method, self.reno_iterations + 1, &|c| {
                        let tokens = Tensor::<B, 2, Int>::from_inner(tokens_of(c)?);
                        let z = Tensor::<B, 4>::from_inner(noise_of(c));
                        Ok(reno(
                            &g_ad,
                            g_ad.encode(tokens.clone()),
                            z,
                            |x| reward_ad.score(x, tokens.clone()),
                            &settings,
                            |_, _| {},
                        )
                        .images)
                    })?
                }
                m if m.starts_with("best_of_") => {
                    let n: usize =
                        m["best_of_".len()..].parse().map_err(|_| anyhow!("method '{m}': expected best_of_<N>"))?;
                    timed(method, n, &|c| {
                        let tokens = tokens_of(c)?;
                        // candidate 0 is the item's own noise, so best-of-N contains the base image
                        let seeds: Vec<Vec<u64>> = c
                            .iter()
                            .map(|i| (0..n as u64).map(|k| if k == 0 { i.seed } else { i.seed ^ (k << 32) }).collect())
                            .collect();
                        Ok(best_of_n(&g, g.encode(tokens.clone()), &seeds, res, |x| reward.score(x, tokens.clone()))
                            .images)
                    })?
                }
                other => anyhow::bail!("unknown method '{other}' (base, hypernoise, best_of_N, reno, finetune)"),
            };
            let mut report = Report::default();
            let mut verdicts = Vec::with_capacity(items.len());
            for (item, image) in items.iter().zip(&run.images) {
                let correct = evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct;
                report.add(item.category, correct);
                verdicts.push(correct);
            }
            cells.extend(picks.iter().map(|&i| Cell {
                image: run.images[i].clone(),
                caption: format!("{method}: {}", items[i].prompt),
                correct: Some(verdicts[i]),
            }));
            let mut reward_sum = 0.0;
            for (chunk, imgs) in batches.iter().zip(run.images.chunks(self.batch.max(1))) {
                let r = reward.score(images_to_tensor::<B::InnerBackend>(imgs, &device), tokens_of(chunk)?);
                reward_sum += r.sum().into_scalar().elem::<f64>();
            }
            if method == "base" {
                base_images = Some(run.images.clone());
            }
            // null when the base is not among the methods
            let distance = base_images
                .as_ref()
                .map(|base| run.images.iter().zip(base).map(|(a, b)| rms(a, b)).sum::<f64>() / items.len() as f64);
            let scores = report.scores();
            let row = json!({
                "mean": report.mean(),
                "single_object": scores.get("single_object"), "two_object": scores.get("two_object"), "counting": scores.get("counting"),
                "colors": scores.get("colors"), "position": scores.get("position"), "color_attr": scores.get("color_attr"),
                "reward": reward_sum / items.len() as f64,
                "seconds_per_image": run.seconds / items.len() as f64,
                "nfe": run.nfe,
                "diversity": diversity(&items, &run.images),
                "distance_to_base": distance,
                "card": card,
                "adapters": adapters_fingerprint,
            });
            let f = |k: &str| row[k].as_f64().map_or("-".into(), |v| format!("{v:.3}"));
            markdown += &format!(
                "| {method} | {} | {} | {} | {} | {} | {} | {} | {} | {:.4} | {} | {} | {} |\n",
                f("mean"),
                f("single_object"),
                f("two_object"),
                f("counting"),
                f("colors"),
                f("position"),
                f("color_attr"),
                f("reward"),
                run.seconds / items.len() as f64,
                run.nfe,
                f("diversity"),
                f("distance_to_base")
            );
            eprintln!(
                "{method}: mean {:.4}, reward {:.4}, {:.2} ms/image",
                report.mean(),
                reward_sum / items.len() as f64,
                run.seconds * 1e3 / items.len() as f64
            );
            rows.insert(method.clone(), row);
            // written after every method, so a run stopped part-way keeps the rows it finished
            let footer = format!(
                "\n{} images (every {} item of the {} split), reward `{reward_spec}`, on {card}.\n",
                items.len(),
                self.every.max(1),
                split.name()
            );
            let body = json!({ "rows": rows, "images": items.len(), "every": self.every.max(1), "split": split.name(), "reward": reward_spec, "card": card, "generator": generator_path.display().to_string() });
            std::fs::create_dir_all(&self.out)?;
            std::fs::write(self.out.join("eval.json"), serde_json::to_string_pretty(&body)?)?;
            std::fs::write(self.out.join("eval.md"), format!("{markdown}{footer}"))?;
            png_io::write(&self.out.join("samples.png"), &compose(&cells, picks.len(), 2))?;
        }
        println!("{markdown}");
        Ok(())
    }
}
