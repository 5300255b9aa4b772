//! `trainer eval`: the analogue of the paper's Table 1 on the evaluation prompts. Every method
//! starts from the same noise per item (the item's seed) on the same device in one run: the
//! base one-step generator, + HyperNoise, + best-of-N (by reward), + ReNO, + the LoRA
//! fine-tune. Per method: the exact evaluator's mean and six categories, the mean reward,
//! seconds per image, generator evaluations per image, diversity across seeds of a prompt and
//! distance to the base image from the same noise. `samples.png` shows what the numbers
//! count: a row per method, the same few items in every row, framed by the evaluator's verdict.

use crate::backend::{describe, DeviceKind, OnBackend};
use crate::grid::{compose, Cell};
use crate::models::{load_generator, load_pipeline, read, shipped, shipped_generator};
use crate::png_io;
use crate::progress;
use crate::rewards::{shipped_reward, Reward};
use anyhow::{anyhow, bail, Result};
use burn::prelude::*;
use hypernoise::eval::{evaluate, Report};
use hypernoise::generator::pixels::{images_to_tensor, tensor_to_images};
use hypernoise::generator::Sampler;
use hypernoise::hypernet::fingerprint;
use hypernoise::optimize::best_of_n::best_of_n;
use hypernoise::optimize::reno::{reno, RenoConfig};
use hypernoise::pipeline::{adapter_config, Inputs, Method, Pipeline};
use hypernoise::weights::parameter_count;
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
    /// The cheap noise hypernetwork of the `hypernoise-coarse` row (default: the shipped
    /// weights/hypernoise-coarse.safetensors, the one the page runs).
    #[arg(long)]
    coarse: Option<PathBuf>,
    /// s in z + s f(z, c) for the `hypernoise-coarse` row, and how many passes of it: the
    /// shipped coarse hypernetwork's best on the validation prompts (docs/hypernoise.md).
    #[arg(long, default_value_t = 0.9, value_parser = super::model_args::strength)]
    coarse_strength: f32,
    #[arg(long, default_value_t = 2, value_parser = super::model_args::passes)]
    coarse_passes: usize,
    /// Fine-tuning adapters (default: the shipped weights/finetune.safetensors).
    #[arg(long)]
    finetune: Option<PathBuf>,
    /// The reward best-of-N and ReNO optimise and the table reports (default: the shipped one).
    #[arg(long)]
    reward: Option<String>,
    /// Methods to run (the base always runs first: the other rows' distance to it needs its images).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "base,hypernoise,hypernoise-coarse,best-of-n,reno,finetune"
    )]
    methods: Vec<Row>,
    /// N of best-of-N: candidates per item, the item's own noise first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    best_of: u64,
    /// Score every k-th evaluation item (1 = all 2,168).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// `val` scores the validation prompts instead (what `fit` selects on), to compare with its curves.
    #[arg(long, value_enum, default_value = "eval")]
    split: super::render_set::Which,
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
    /// ReNO's gradient steps per image: the paper's 50 by default; with the shipped reward 10
    /// score higher, since later steps find what the reward overrates (docs/hypernoise.md).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    reno_iterations: u64,
    /// Network steps of the generator: 1 = the one-step student; k > 1 = k Euler steps of a flow
    /// model with --guidance (pass the teacher as --generator, and a hypernetwork trained with
    /// `fit --gen-steps k`): the base and HyperNoise rows only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    gen_steps: u64,
    #[arg(long, default_value_t = 3.0)]
    guidance: f32,
    /// Folder for eval.json, eval.md and samples.png.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// The accelerator's name for the record (e.g. from nvidia-smi); default: the backend.
    #[arg(long)]
    card: Option<String>,
}

/// A row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Row {
    Base,
    Hypernoise,
    HypernoiseCoarse,
    BestOfN,
    Reno,
    Finetune,
}

impl Row {
    /// The generating method, for rows the pipeline draws.
    fn method(self) -> Option<Method> {
        match self {
            Row::Base => Some(Method::Base),
            Row::Hypernoise | Row::HypernoiseCoarse => Some(Method::Hypernoise),
            Row::Finetune => Some(Method::Finetune),
            Row::BestOfN | Row::Reno => None,
        }
    }

    /// The row's name in eval.json and eval.md.
    fn name(self, best_of: u64) -> String {
        match self {
            Row::BestOfN => format!("best_of_{best_of}"),
            Row::HypernoiseCoarse => "hypernoise_coarse".into(),
            _ => self.method().map_or("reno", Method::name).into(),
        }
    }
}

/// At most this many timed passes over the items per method; more than one only while the
/// passes so far took under `EXTRA_PASSES_WITHIN_S` seconds (so on a GPU, not the CPU or ReNO).
const TIMED_PASSES: usize = 5;
const EXTRA_PASSES_WITHIN_S: f64 = 10.0;

/// Items shown per method in samples.png.
const SAMPLE_COLUMNS: usize = 8;

/// A method's images of every item, the median seconds for all of them, and its generator
/// evaluations per image.
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

/// What every row is measured with, loaded once.
struct Bench<'a> {
    args: &'a Args,
    /// Where the methods without gradients run: a forward pass on an autodiff device keeps its
    /// graph, which these never differentiate (on the CPU, gigabytes within a minute).
    device: Device,
    /// Where ReNO runs, differentiating through the generator and the reward.
    autodiff: Device,
    generator_path: PathBuf,
    pipeline: Pipeline,
    /// The generator with the coarse hypernetwork (a pipeline holds one hypernetwork).
    coarse: Option<Pipeline>,
    /// The adapter rows' files.
    adapter_files: BTreeMap<Row, AdapterFile>,
    reward: Reward,
    reward_spec: String,
    items: Vec<Item>,
    batch: usize,
}

impl Bench<'_> {
    fn batches(&self) -> std::slice::Chunks<'_, Item> {
        self.items.chunks(self.batch)
    }

    fn inputs(&self, chunk: &[Item]) -> Result<Inputs> {
        let prompts: Vec<&str> = chunk.iter().map(|i| i.prompt.as_str()).collect();
        Ok(self.pipeline.inputs(&prompts, &chunk.iter().map(|i| i.seed).collect::<Vec<_>>())?)
    }

    /// Times `make` over all items, after an untimed warm-up on the first batch and on a
    /// shorter last one: GPU kernels compile and autotune per shape (a last batch compiled
    /// inside the timing made the first method look 3x slower than the same network later).
    /// Warm-ups read their images back, so no queued GPU work spills into the timing. One pass
    /// of a method under a millisecond per image took 0.72 and 0.89 ms on two runs on one H100:
    /// quick methods get more timed passes, and the median counts.
    fn timed(&self, name: &str, nfe: usize, make: impl Fn(&[Item], &Inputs) -> Result<Tensor<4>>) -> Result<Run> {
        let first = self.batches().next().expect("items");
        let last = self.batches().last().filter(|l| l.len() != first.len());
        for shape in std::iter::once(first).chain(last) {
            tensor_to_images(make(shape, &self.inputs(shape)?)?);
        }
        let bar = progress::bar(self.items.len(), name);
        let started = Instant::now();
        let mut images = Vec::with_capacity(self.items.len());
        for chunk in self.batches() {
            images.extend(tensor_to_images(make(chunk, &self.inputs(chunk)?)?));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let mut passes = vec![started.elapsed().as_secs_f64()];
        while passes.len() < TIMED_PASSES && passes.iter().sum::<f64>() < EXTRA_PASSES_WITHIN_S {
            let again = Instant::now();
            for chunk in self.batches() {
                tensor_to_images(make(chunk, &self.inputs(chunk)?)?);
            }
            passes.push(again.elapsed().as_secs_f64());
        }
        passes.sort_by(f64::total_cmp);
        Ok(Run { images, seconds: passes[passes.len() / 2], nfe })
    }

    /// The pipeline, method and strength that draw a row, for rows the pipelines draw.
    fn drawn(&self, row: Row) -> Option<(&Pipeline, Method, f32)> {
        match row {
            Row::HypernoiseCoarse => Some((self.coarse.as_ref()?, Method::Hypernoise, self.args.coarse_strength)),
            _ => Some((&self.pipeline, row.method()?, 1.0)),
        }
    }

    fn run(&self, row: Row, name: &str) -> Result<Run> {
        if let Some((pipeline, method, strength)) = self.drawn(row) {
            return self.timed(name, pipeline.nfe(method), |_, inputs| Ok(pipeline.images(method, inputs, strength)?));
        }
        match row {
            Row::BestOfN => self.best_of_n(name),
            Row::Reno => self.reno(name),
            _ => unreachable!("the pipeline draws {row:?}"),
        }
    }

    /// Best-of-N by reward; candidate 0 is the item's own noise, so it contains the base image.
    fn best_of_n(&self, name: &str) -> Result<Run> {
        let n = self.args.best_of;
        let g = self.pipeline.generator();
        let res = self.pipeline.resolution();
        let seeds_of = |chunk: &[Item]| -> Vec<Vec<u64>> {
            chunk.iter().map(|i| (0..n).map(|k| if k == 0 { i.seed } else { i.seed ^ (k << 32) }).collect()).collect()
        };
        self.timed(name, n as usize, |chunk, inputs| {
            let tokens = inputs.tokens.clone();
            let score = |x| self.reward.score(x, tokens.clone());
            Ok(best_of_n(g, g.encode(tokens.clone()), &seeds_of(chunk), res, score).images)
        })
    }

    /// ReNO from each item's noise, differentiating through the generator and the reward.
    fn reno(&self, name: &str) -> Result<Run> {
        let (g, _) = load_generator(&self.generator_path, &self.autodiff)?;
        let g = g.no_grad();
        let reward = Reward::parse(&self.reward_spec, self.pipeline.resolution(), &self.autodiff)?;
        let iterations = self.args.reno_iterations as usize;
        let settings = RenoConfig { iterations, ..RenoConfig::default() };
        self.timed(name, iterations + 1, |_, inputs| {
            let tokens = Tensor::<2, Int>::from_inner(inputs.tokens.clone());
            let z = Tensor::<4>::from_inner(inputs.noise.clone());
            let score = |x| reward.score(x, tokens.clone());
            Ok(reno(&g, g.encode(tokens.clone()), z, score, &settings, |_, _| {}).images)
        })
    }

    /// The evaluator's report and per-item verdicts, and the mean reward, of a run's images.
    fn score(&self, run: &Run) -> Result<(Report, Vec<bool>, f64)> {
        let mut report = Report::default();
        let mut verdicts = Vec::with_capacity(self.items.len());
        for (item, image) in self.items.iter().zip(&run.images) {
            let correct = evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct;
            report.add(item.category, correct);
            verdicts.push(correct);
        }
        let mut reward_sum = 0.0;
        for (chunk, images) in self.batches().zip(run.images.chunks(self.batch)) {
            let x = images_to_tensor(images, &self.device);
            reward_sum += self.reward.score(x, self.inputs(chunk)?.tokens).sum().into_scalar::<f64>();
        }
        Ok((report, verdicts, reward_sum / self.items.len() as f64))
    }
}

/// A row's numbers, as eval.json holds them.
struct Scored {
    report: Report,
    reward: f64,
    run: Run,
    distance_to_base: Option<f64>,
    adapters: Option<AdapterFile>,
    /// s in z + s f(z, c), and how many passes of it, for the hypernetwork rows.
    strength: Option<f32>,
    passes: Option<usize>,
}

/// What a table row's adapters file is: its fingerprint (the row belongs to one set of
/// weights), its design and its size.
#[derive(Clone)]
struct AdapterFile {
    fingerprint: String,
    design: String,
    parameters: usize,
}

impl Scored {
    fn json(&self, items: &[Item], card: &str) -> serde_json::Value {
        let scores = self.report.scores();
        json!({
            "mean": self.report.mean(),
            "single_object": scores.get("single_object"), "two_object": scores.get("two_object"),
            "counting": scores.get("counting"), "colors": scores.get("colors"),
            "position": scores.get("position"), "color_attr": scores.get("color_attr"),
            "reward": self.reward,
            "seconds_per_image": self.run.seconds / items.len() as f64,
            "nfe": self.run.nfe,
            "diversity": diversity(items, &self.run.images),
            "distance_to_base": self.distance_to_base,
            "card": card,
            "adapters": self.adapters.as_ref().map(|a| &a.fingerprint),
            "design": self.adapters.as_ref().map(|a| &a.design),
            "parameters": self.adapters.as_ref().map(|a| a.parameters),
            // as written on the command line (0.9, not f32's 0.899999976)
            "strength": self.strength.map(|s| s.to_string().parse::<f64>().expect("a float's own digits")),
            "passes": self.passes,
        })
    }
}

const MARKDOWN_HEAD: &str = "| method | mean | single_object | two_object | counting | colors | position | color_attr | reward | ms/img | NFE | diversity | distance to base |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// A row of eval.md from its eval.json row.
fn markdown_row(name: &str, row: &serde_json::Value) -> String {
    let f = |k: &str| row[k].as_f64().map_or("-".into(), |v| format!("{v:.3}"));
    // in ms to three decimals: on a GPU the one-pass rows take well under a millisecond
    let ms = row["seconds_per_image"].as_f64().map_or("-".into(), |s| format!("{:.3}", s * 1e3));
    let cells = ["mean", "single_object", "two_object", "counting", "colors", "position", "color_attr", "reward"]
        .map(f)
        .join(" | ");
    format!("| {name} | {cells} | {ms} | {} | {} | {} |\n", row["nfe"], f("diversity"), f("distance_to_base"))
}

impl Args {
    /// The generator's sampler, for the rows that can run it.
    fn sampler(&self) -> Result<Sampler> {
        if self.gen_steps == 1 {
            return Ok(Sampler::OneStep);
        }
        if let Some(row) = self.methods.iter().find(|r| !matches!(r, Row::Base | Row::Hypernoise)) {
            bail!("--gen-steps above 1 runs the base and HyperNoise rows only, not {row:?}: pass --methods base,hypernoise");
        }
        if !(self.guidance.is_finite() && (0.0..=100.0).contains(&self.guidance)) {
            bail!("--guidance {} must be a number from 0 to 100", self.guidance);
        }
        Ok(Sampler::Flow { steps: self.gen_steps as usize, guidance: self.guidance, shift: 1.0 })
    }

    /// Adapter files the rows need, each checked to hold the role its row runs, with what
    /// its row says of it.
    fn adapter_files(&self) -> Result<Vec<(Row, PathBuf, AdapterFile)>> {
        let mut files = Vec::new();
        for (row, given, default) in [
            (Row::Hypernoise, &self.hypernoise, "hypernoise.safetensors"),
            (Row::HypernoiseCoarse, &self.coarse, "hypernoise-coarse.safetensors"),
            (Row::Finetune, &self.finetune, "finetune.safetensors"),
        ] {
            if !self.methods.contains(&row) {
                continue;
            }
            let path = given.clone().unwrap_or_else(|| shipped(default));
            let role = row.method().and_then(Method::role).expect("an adapted row");
            let bytes = read(&path)?;
            let config = adapter_config(&bytes).map_err(|e| anyhow!("cannot load {}: {e}", path.display()))?;
            if config.role != role {
                bail!("{} holds {:?} adapters, not {role:?} ones", path.display(), config.role);
            }
            let parameters = parameter_count(&bytes)?;
            files.push((
                row,
                path,
                AdapterFile { fingerprint: fingerprint(&bytes), design: config.design.to_string(), parameters },
            ));
        }
        Ok(files)
    }

    fn bench(&self, autodiff: Device) -> Result<Bench<'_>> {
        // the arguments' own problems come before the files'
        let sampler = self.sampler()?;
        let generator_path = self.generator.clone().unwrap_or_else(shipped_generator);
        let adapters = self.adapter_files()?;
        let paths_of = |coarse: bool| -> Vec<PathBuf> {
            let rows = adapters.iter().filter(|(row, _, _)| (*row == Row::HypernoiseCoarse) == coarse);
            rows.map(|(_, path, _)| path.clone()).collect()
        };
        let device = autodiff.clone().inner();
        let pipeline = load_pipeline(&generator_path, &paths_of(false), &device)?.with_sampler(sampler);
        let coarse = match paths_of(true).as_slice() {
            [] => None,
            paths => Some(
                load_pipeline(&generator_path, paths, &device)?
                    .with_sampler(sampler)
                    .with_passes(self.coarse_passes)?,
            ),
        };
        let adapter_files = adapters.into_iter().map(|(row, _, file)| (row, file)).collect();
        let reward_spec = self.reward.clone().unwrap_or_else(|| shipped_reward().display().to_string());
        let reward = Reward::parse(&reward_spec, pipeline.resolution(), &device)?;
        let items = items(self.split.into()).into_iter().step_by(self.every as usize).collect();
        Ok(Bench {
            args: self,
            device,
            autodiff,
            generator_path,
            pipeline,
            coarse,
            adapter_files,
            reward,
            reward_spec,
            items,
            batch: self.batch as usize,
        })
    }

    /// Writes eval.json, eval.md and samples.png: after every row, so a run stopped part-way
    /// keeps the rows it finished.
    fn write(
        &self,
        bench: &Bench,
        rows: &serde_json::Map<String, serde_json::Value>,
        markdown: &str,
        cells: &[Cell],
        card: &str,
    ) -> Result<()> {
        let split: Split = self.split.into();
        let sampler = bench.pipeline.sampler();
        // the settings of the search rows, where they ran (null in eval.json where they did not)
        let best_of = self.methods.contains(&Row::BestOfN).then_some(self.best_of);
        let reno_iterations = self.methods.contains(&Row::Reno).then_some(self.reno_iterations);
        let coarse =
            self.methods.contains(&Row::HypernoiseCoarse).then_some((self.coarse_strength, self.coarse_passes));
        let searches: String = [
            coarse.map(|(s, k)| {
                format!(", the coarse hypernetwork at strength {s} in {k} pass{}", if k == 1 { "" } else { "es" })
            }),
            best_of.map(|n| format!(", best of {n}")),
            reno_iterations.map(|k| format!(", ReNO {k} steps")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let footer = format!(
            "\n{} images (every {} item of the {} split), generator `{}` ({sampler:?}), reward `{}`{searches}, on {card}.\n",
            bench.items.len(),
            self.every,
            split.name(),
            bench.generator_path.display(),
            bench.reward_spec,
        );
        let body = json!({ "rows": rows, "images": bench.items.len(), "every": self.every, "split": split.name(), "reward": bench.reward_spec, "card": card, "generator": bench.generator_path.display().to_string(), "sampler": format!("{sampler:?}"), "best_of": best_of, "reno_iterations": reno_iterations });
        std::fs::create_dir_all(&self.out)?;
        crate::files::write(&self.out.join("eval.json"), serde_json::to_string_pretty(&body)?.as_bytes())?;
        crate::files::write(&self.out.join("eval.md"), format!("{markdown}{footer}").as_bytes())?;
        png_io::write(&self.out.join("samples.png"), &compose(cells, cells.len() / rows.len().max(1), 2))
    }
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let mut methods = self.methods.clone();
        methods.sort();
        methods.dedup();
        let bench = self.bench(device)?;
        let card = self.card.clone().unwrap_or_else(|| describe(kind));
        // samples.png: items spread over the run (evaluation items are ordered by task type)
        let columns = SAMPLE_COLUMNS.min(bench.items.len());
        let picks: Vec<usize> = (0..columns).map(|k| k * bench.items.len() / columns).collect();
        let (mut cells, mut rows) = (Vec::new(), serde_json::Map::new());
        let mut base_images: Option<Vec<Image>> = None;
        let mut markdown = MARKDOWN_HEAD.to_string();
        for row in methods {
            let name = row.name(self.best_of);
            let run = bench.run(row, &name)?;
            let (report, verdicts, reward) = bench.score(&run)?;
            let adapters = bench.adapter_files.get(&row).cloned();
            if row == Row::Base {
                base_images = Some(run.images.clone());
            }
            // null when the base is not among the methods
            let distance_to_base = base_images.as_ref().map(|base| {
                run.images.iter().zip(base).map(|(a, b)| rms(a, b)).sum::<f64>() / bench.items.len() as f64
            });
            cells.extend(picks.iter().map(|&i| Cell {
                image: run.images[i].clone(),
                caption: format!("{name}: {}", bench.items[i].prompt),
                correct: Some(verdicts[i]),
            }));
            let drawn = bench.drawn(row).filter(|(_, m, _)| *m == Method::Hypernoise);
            let (strength, passes) = (drawn.map(|(_, _, s)| s), drawn.map(|(p, _, _)| p.passes()));
            let scored = Scored { report, reward, run, distance_to_base, adapters, strength, passes };
            eprintln!(
                "{name}: mean {:.4}, reward {:.4}, {:.2} ms/image",
                scored.report.mean(),
                scored.reward,
                scored.run.seconds * 1e3 / bench.items.len() as f64
            );
            let json = scored.json(&bench.items, &card);
            markdown += &markdown_row(&name, &json);
            rows.insert(name, json);
            self.write(&bench, &rows, &markdown, &cells, &card)?;
        }
        println!("{markdown}");
        Ok(())
    }
}
