//! `trainer fit` trains the noise hypernetwork; `trainer finetune` trains the same LoRA
//! adapters as a direct fine-tune of the generator on the same reward (the baseline that
//! reward-hacks). One loop for both: random training prompts and seeded noise each step,
//! SGD with momentum (the paper's; Adam on request), global-norm clipping, warmup; at every
//! checkpoint the adapters are scored on validation prompts (never the evaluation set) by the
//! exact evaluator, and the best ones are kept.

use crate::backend::{describe, DeviceKind, OnBackend, TrainBackend};
use crate::grid::{compose, Cell};
use crate::models::{checked_fold, shipped_generator, write_atomic};
use crate::plot::{chart, stack, Series};
use crate::png_io;
use crate::rewards::{shipped_reward, Reward};
use crate::train::data::{sample_prompt, training_categories};
use crate::train::data_parallel::{devices, DataParallel, Shard, ShardLoss};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use anyhow::{anyhow, bail, Context, Result};
use burn::backend::Flex;
use burn::module::AutodiffModule;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, SgdConfig};
use burn::prelude::*;
use hypernoise::eval::{evaluate, Report};
use hypernoise::generator::layers::train_adapters_only;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::{LoraConfig, Sampler};
use hypernoise::hypernet::{batch_loss, objective_terms, Adapted, Merged, Role};
use hypernoise::rng::Rng;
use hypernoise::world::split::{items, Item, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(clap::Args, Clone, Serialize)]
pub struct Args {
    /// The frozen generator (default: the shipped student, weights/generator.safetensors).
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// Reward: `redness`, a learned reward's file, or a weighted sum such as
    /// `weights/reward.safetensors+0.5*redness` (default: the shipped learned reward).
    #[arg(long)]
    pub reward: Option<String>,
    /// Run folder (default runs/hypernoise or runs/finetune): checkpoints, metrics.json,
    /// curves.png, compare.png and the best adapters (hypernoise.safetensors / finetune.safetensors).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 32)]
    pub rank: usize,
    #[arg(long, default_value_t = 32.0)]
    pub alpha: f32,
    /// Training steps; the learning rate is constant after warmup, so a finished or paused run
    /// can be continued with a larger --steps.
    #[serde(skip)]
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate (the paper: 1e-3 with SGD).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// `sgd` (the paper's, with --momentum) or `adam` (betas 0.9, 0.999; --momentum unused).
    // Left out of the run's settings when SGD, so runs begun before the option resume.
    #[serde(skip_serializing_if = "OptimizerKind::is_sgd")]
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Global gradient-norm clip (the paper: 1.0).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// lambda in lambda * 1/2 ||f||^2 - r, ||f||^2 summed over an image's noise elements
    /// (1 = the paper's KL objective). Unused by `finetune`, which has no noise offset.
    #[arg(long, default_value_t = 1.0)]
    pub reg_weight: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Network steps of g(z'): 1 = the one-step student; k > 1 = k Euler steps of a flow model
    /// with guidance (pass the teacher as --generator); `finetune` is one-step only.
    #[arg(long, default_value_t = 1)]
    pub gen_steps: usize,
    #[arg(long, default_value_t = 3.0)]
    pub guidance: f32,
    /// Validation at each checkpoint scores every k-th validation item.
    #[serde(skip)]
    #[arg(long, default_value_t = 4)]
    pub val_every_item: usize,
    /// Split each batch over this many GPUs (data parallel; the first one also validates).
    /// The steps equal one device's up to float rounding, so a run may resume on another count.
    #[serde(skip)]
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

impl OptimizerKind {
    fn is_sgd(&self) -> bool {
        *self == OptimizerKind::Sgd
    }
}

/// `fit` or `finetune`: the arguments and the role they train.
pub struct Job {
    pub args: Args,
    pub role: Role,
}

/// One checkpoint's numbers: the training objective's terms since the last one (none at step
/// 0, the untrained adapters, i.e. the base generator) and the validation scores.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Metrics {
    pub step: usize,
    pub reward: Option<f64>,
    pub regulariser: Option<f64>,
    pub val_score: f64,
    pub val_reward: f64,
}

impl Job {
    fn name(&self) -> &'static str {
        match self.role {
            Role::NoiseHypernetwork => "hypernoise",
            Role::FineTune => "finetune",
        }
    }
}

/// Training step `step`'s prompts and noise seeds for run seed `seed`: a pure function, so a
/// resumed run sees the batches it would have seen, and `export-reference` can write one out.
pub fn batch_prompts(seed: u64, step: usize, n: usize) -> (Vec<String>, Vec<u64>) {
    let categories = training_categories();
    let mut rng = Rng::for_step(seed, step, "fit");
    let texts = (0..n).map(|_| sample_prompt(&mut rng, &categories).text()).collect();
    let seeds = (0..n).map(|_| rng.next_u64()).collect();
    (texts, seeds)
}

pub fn read_metrics(run_dir: &Path) -> Result<Vec<Metrics>> {
    let path = run_dir.join("metrics.json");
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a metrics file", path.display()))
}

/// The noise and prompt tokens of validation items.
fn item_inputs<B: Backend>(
    items: &[Item],
    res: usize,
    device: &B::Device,
) -> Result<(Tensor<B, 4>, Tensor<B, 2, Int>)> {
    let ids =
        encode_prompts(&items.iter().map(|i| i.prompt.as_str()).collect::<Vec<_>>()).map_err(|e| anyhow!("{e}"))?;
    Ok((noise_tensor::<B>(&items.iter().map(|i| i.seed).collect::<Vec<_>>(), res, device), tokens_tensor(&ids, device)))
}

/// Images for validation items, 256 at a time, from `generate(z, tokens)`.
fn item_images<B: Backend>(
    items: &[Item],
    res: usize,
    device: &B::Device,
    generate: impl Fn(Tensor<B, 4>, Tensor<B, 2, Int>) -> Tensor<B, 4>,
) -> Result<Vec<hypernoise::world::Image>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(256) {
        let (z, tokens) = item_inputs::<B>(chunk, res, device)?;
        out.extend(tensor_to_images(generate(z, tokens)));
    }
    Ok(out)
}

/// The adapters folded for validation images, checked on the first validation items: what
/// `eval` and the browser run, and on CUDA closer to exact than the unfolded passes (docs/gpu.md).
fn fold<B: Backend>(
    generator: &[u8],
    adapter_bytes: &[u8],
    adapted: &Adapted<B>,
    items: &[Item],
    res: usize,
    device: &B::Device,
) -> Result<Merged<B>> {
    let (z, tokens) = item_inputs::<B>(&items[..items.len().min(16)], res, device)?;
    checked_fold(generator, adapter_bytes, adapted, z, tokens)
}

/// Base next to adapted images for a few validation prompts.
fn compare_grid<B: Backend>(
    merged: &Merged<B>,
    role: Role,
    sampler: Sampler,
    res: usize,
    path: &Path,
    device: &B::Device,
) -> Result<()> {
    let picks: Vec<Item> = items(Split::Val).into_iter().step_by(37).take(16).collect();
    let base = item_images(&picks, res, device, |z, t| merged.base().generate(z, t, sampler))?;
    let tuned = item_images(&picks, res, device, |z, t| merged.generate(z, t, 1.0, sampler))?;
    let label = if role == Role::FineTune { "fine-tuned" } else { "hypernoise" };
    let mut cells = Vec::new();
    for ((item, b), t) in picks.iter().zip(base).zip(tuned) {
        for (img, who) in [(b, "base"), (t, label)] {
            let correct = evaluate(&item.prompt, &img).map(|v| v.correct).ok();
            cells.push(Cell { image: img, caption: format!("{who}: {}", item.prompt), correct });
        }
    }
    png_io::write(path, &compose(&cells, 8, 2))
}

pub fn curves_png(run_dir: &Path, title: &str, metrics: &[Metrics]) -> Result<()> {
    let series = |name: &str, f: fn(&Metrics) -> Option<f64>| Series {
        name: name.into(),
        points: metrics.iter().map(|m| (m.step as f64, f(m).unwrap_or(f64::NAN))).collect(),
    };
    let charts = [
        chart(
            &format!("{title}: reward"),
            "steps",
            &[series("train reward", |m| m.reward), series("val reward", |m| Some(m.val_reward))],
            false,
        ),
        chart(&format!("{title}: 1/2 ||f||^2 per image"), "steps", &[series("regulariser", |m| m.regulariser)], false),
        chart(
            &format!("{title}: exact evaluator on validation prompts"),
            "steps",
            &[series("val score", |m| Some(m.val_score))],
            false,
        ),
    ];
    png_io::write(&run_dir.join("curves.png"), &stack(&charts))
}

impl OnBackend for Job {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let a = &self.args;
        let role = self.role;
        let sampler = if a.gen_steps <= 1 {
            Sampler::OneStep
        } else {
            Sampler::Flow { steps: a.gen_steps, guidance: a.guidance }
        };
        if a.rank == 0 {
            bail!("--rank must be at least 1");
        }
        if role == Role::FineTune && sampler != Sampler::OneStep {
            bail!("finetune adapts the one-step generator; --gen-steps above 1 applies to fit only");
        }
        let generator_path = a.generator.clone().unwrap_or_else(shipped_generator);
        let generator_bytes = std::fs::read(&generator_path)
            .with_context(|| format!("cannot read generator weights {}", generator_path.display()))?;
        let reward_spec = a.reward.clone().unwrap_or_else(|| shipped_reward().display().to_string());
        if a.devices == 0 || a.devices > a.batch {
            bail!("--devices must be between 1 and --batch ({})", a.batch);
        }
        let devices = devices::<B>(&device, a.devices);
        let lora = LoraConfig { rank: a.rank, alpha: a.alpha };
        // The adapters' random init, made on the CPU and seeded: the same run twice is the same
        // run, on any device count and backend. (burn-cuda's random ops draw their seeds from one
        // global generator whenever its lazy queue runs them, so there the init depended on what
        // else ran first: --devices 2 started from other adapters than --devices 1.)
        let cpu = Default::default();
        Flex::seed(&cpu, a.seed);
        let (init, init_config) = Adapted::<Flex>::fresh(&generator_bytes, role, lora, &cpu)
            .map_err(|e| anyhow!("cannot load {}: {e}", generator_path.display()))?;
        let (adapted, config) =
            Adapted::<B>::load(&generator_bytes, &init.to_bytes(&init_config)?, &device).map_err(|e| anyhow!("{e}"))?;
        let res = config.generator.resolution;
        let rewards = devices.iter().map(|d| Reward::<B>::parse(&reward_spec, res, d)).collect::<Result<Vec<_>>>()?;
        let val_reward = Reward::<B::InnerBackend>::parse(&reward_spec, res, &device)?;
        let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(self.name()));
        eprintln!(
            "{}: {} on {} x{} (reward {reward_spec}, LoRA rank {} alpha {}, {:?})",
            self.name(),
            generator_path.display(),
            describe(kind),
            a.devices,
            a.rank,
            a.alpha,
            sampler
        );

        let mut spec =
            a.control.spec(self.name(), Schedule { steps: a.steps, lr: a.lr, warmup: a.warmup, final_fraction: 1.0 });
        spec.global_clip = Some(a.clip);
        let settings = serde_json::json!({ "args": a, "role": role, "sampler": format!("{sampler:?}"), "generator": config.generator_fingerprint });
        let export = |m: &Adapted<B>| Ok(m.valid().to_bytes(&config)?);

        let mut metrics: Vec<Metrics> = read_metrics(&out)?;
        let metrics_empty = metrics.is_empty();
        // each step's [1/2 ||f||^2, reward], batch means, until the next checkpoint
        let since_checkpoint: Arc<Mutex<Vec<Tensor<B::InnerBackend, 1>>>> = Arc::default();
        let val_items: Vec<Item> = items(Split::Val).into_iter().step_by(a.val_every_item.max(1)).collect();
        let (n, seed, reg_weight) = (a.batch, a.seed, a.reg_weight);
        let best_path = out.join("best.safetensors");

        // one device's share of a step: its loss and the terms to log
        let shard_loss = move |model: &Adapted<B>, shard: &Shard<B>, step: usize| {
            let (texts, seeds) = batch_prompts(seed, step, n);
            let (texts, seeds) = (&texts[shard.range(n)], &seeds[shard.range(n)]);
            let ids = encode_prompts(texts).expect("training prompts are in the vocabulary");
            let z = noise_tensor::<B>(seeds, res, &shard.device);
            let (reg, r) = objective_terms(model, role, sampler, z, tokens_tensor(&ids, &shard.device), |x, t| {
                rewards[shard.index].score(x, t)
            });
            let terms = Tensor::cat(vec![reg.clone().mean().inner(), r.clone().mean().inner()], 0);
            (batch_loss(reg, r, reg_weight), terms)
        };
        let shard_loss: ShardLoss<B, Adapted<B>> = Arc::new(shard_loss);
        let on_checkpoint = |model: &Adapted<B>, step: usize| -> Result<()> {
            metrics.retain(|m| m.step < step || step == 0); // a resumed run redoes what came after its checkpoint
            let terms = std::mem::take(&mut *since_checkpoint.lock().expect("terms"));
            let count = terms.len() as f64;
            let means =
                terms.into_iter().reduce(|x, y| x + y).map(|s| s.into_data().to_vec::<f32>().expect("f32 terms"));
            let mean = |i: usize| means.as_ref().map(|m| m[i] as f64 / count);
            let valid = model.valid();
            let adapter_bytes = valid.to_bytes(&config)?;
            let merged = fold(&generator_bytes, &adapter_bytes, &valid, &val_items, res, &device)?;
            let images = item_images(&val_items, res, &device, |z, t| merged.generate(z, t, 1.0, sampler))?;
            let mut report = Report::default();
            for (item, image) in val_items.iter().zip(&images) {
                report.add(item.category, evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct);
            }
            let ids = encode_prompts(&val_items.iter().map(|i| i.prompt.as_str()).collect::<Vec<_>>())
                .map_err(|e| anyhow!("{e}"))?;
            let x = hypernoise::generator::pixels::images_to_tensor::<B::InnerBackend>(&images, &device);
            let val_r = val_reward.score(x, tokens_tensor(&ids, &device)).mean().into_scalar().elem::<f64>();
            let m =
                Metrics { step, reward: mean(1), regulariser: mean(0), val_score: report.mean(), val_reward: val_r };
            let shown = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
            eprintln!(
                "{}: step {step} train reward {}, 1/2||f||^2 {}; validation: evaluator {:.4}, reward {:.4}",
                self.name(),
                shown(m.reward),
                shown(m.regulariser),
                m.val_score,
                m.val_reward
            );
            let best_before =
                metrics.iter().filter(|m| m.step > 0).map(|m| m.val_score).fold(f64::NEG_INFINITY, f64::max);
            if step > 0 && (m.val_score > best_before || !best_path.exists()) {
                write_atomic(&best_path, &adapter_bytes)?;
            }
            metrics.push(m);
            write_atomic(&out.join("metrics.json"), serde_json::to_string_pretty(&metrics)?.as_bytes())?;
            curves_png(&out, self.name(), &metrics)
        };
        let model = train_adapters_only(adapted);
        let mut on_checkpoint = on_checkpoint;
        if metrics_empty {
            std::fs::create_dir_all(&out)?;
            on_checkpoint(&model, 0)?; // the base generator's validation scores: where curves start
        }
        let (model, outcome) = match a.optimizer {
            OptimizerKind::Sgd => {
                let sgd = SgdConfig::new().with_momentum(Some(MomentumConfig {
                    momentum: a.momentum,
                    dampening: 0.0,
                    nesterov: false,
                }));
                let parallel = DataParallel::new(devices, n, shard_loss, since_checkpoint.clone())?;
                Run { dir: &out, spec: &spec, settings, device: &device }.train(
                    model,
                    sgd.init(),
                    export,
                    parallel,
                    on_checkpoint,
                )?
            }
            OptimizerKind::Adam => {
                let parallel = DataParallel::new(devices, n, shard_loss, since_checkpoint.clone())?;
                let run = Run { dir: &out, spec: &spec, settings, device: &device };
                run.train(model, AdamConfig::new().init(), export, parallel, on_checkpoint)?
            }
        };
        if let Outcome::Finished = outcome {
            let final_path = out.join(format!("{}.safetensors", self.name()));
            if !best_path.exists() {
                write_atomic(&best_path, &export(&model)?)?; // --steps 0: the untrained adapters
            }
            std::fs::copy(&best_path, &final_path)?;
            let best_bytes = std::fs::read(&final_path)?;
            let (best, _) =
                Adapted::<B::InnerBackend>::load(&generator_bytes, &best_bytes, &device).map_err(|e| anyhow!("{e}"))?;
            compare_grid(
                &fold(&generator_bytes, &best_bytes, &best, &val_items, res, &device)?,
                role,
                sampler,
                res,
                &out.join("compare.png"),
                &device,
            )?;
            let metrics = read_metrics(&out)?;
            let best_m = metrics
                .iter()
                .filter(|m| m.step > 0 || a.steps == 0)
                .max_by(|x, y| x.val_score.total_cmp(&y.val_score))
                .expect("a checkpoint was scored");
            println!(
                "wrote {} (best validation score {:.4} at step {}), compare.png and curves.png",
                final_path.display(),
                best_m.val_score,
                best_m.step
            );
        }
        Ok(())
    }
}

/// `trainer compare-runs`: the reward and the validation score of several `fit`/`finetune`
/// runs over training, in one picture (e.g. HyperNoise vs fine-tuning on the redness toy).
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Run folders (each with metrics.json).
    #[arg(long, value_delimiter = ',', required = true)]
    runs: Vec<PathBuf>,
    /// A label per run (default: the folder names).
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    #[arg(long)]
    out: PathBuf,
}

pub fn compare_runs(a: CompareArgs) -> Result<()> {
    let mut reward = Vec::new();
    let mut score = Vec::new();
    for (i, run) in a.runs.iter().enumerate() {
        let metrics = read_metrics(run)?;
        if metrics.is_empty() {
            bail!("{} has no metrics.json: is it a fit or finetune run folder?", run.display());
        }
        let name = a.names.get(i).cloned().unwrap_or_else(|| {
            run.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned())
        });
        let points = |f: fn(&Metrics) -> f64| metrics.iter().map(|m| (m.step as f64, f(m))).collect();
        reward.push(Series { name: name.clone(), points: points(|m| m.val_reward) });
        score.push(Series { name, points: points(|m| m.val_score) });
    }
    let charts = [
        chart("reward on validation prompts", "steps", &reward, false),
        chart("exact evaluator on validation prompts", "steps", &score, false),
    ];
    png_io::write(&a.out, &stack(&charts))?;
    println!("wrote {}", a.out.display());
    Ok(())
}
