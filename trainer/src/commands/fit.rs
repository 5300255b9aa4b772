//! `trainer fit` trains the noise hypernetwork (LoRA adapters on a copy of the generator, or
//! the light network on the noise's low frequencies); `trainer finetune` trains the same LoRA
//! adapters as a direct fine-tune of the generator on the same reward (the baseline that
//! reward-hacks). One loop for both: random training prompts and seeded noise each step,
//! SGD with momentum (the paper's; Adam on request), global-norm clipping, warmup; at every
//! checkpoint the adapters are scored on validation prompts (never the evaluation set) by the
//! exact evaluator, and the best ones are kept. `--imitate` swaps the reward objective for the
//! distance to a trained hypernetwork: to its offsets for `fit` (a light network learning a LoRA
//! one's), to its images for `finetune` (HyperNoise distilled into the generator's weights).

use crate::backend::{describe, DeviceKind, OnBackend};
use crate::files;
use crate::grid::{compose, Cell};
use crate::models::{checked_pipeline, shipped_generator};
use crate::plot::{chart, stack, Series};
use crate::png_io;
use crate::rewards::{shipped_reward, Reward};
use crate::train::data::{sample_prompt, training_categories};
use crate::train::data_parallel::{devices, DataParallel, Shard, ShardLoss};
use crate::train::lock::RunLock;
use crate::train::optimizer::FlatSgd;
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step_inputs::StepInputs;
use anyhow::{anyhow, bail, Context, Result};
use burn::optim::AdamConfig;
use burn::prelude::*;
use hypernoise::eval::{evaluate, Report};
use hypernoise::generator::layers::train_adapters_only;
use hypernoise::generator::pixels::images_to_tensor;
use hypernoise::generator::{GeneratorConfig, LoraConfig, Sampler};
use hypernoise::hypernet::compact::CompactConfig;
use hypernoise::hypernet::light::{LightConfig, PromptSource};
use hypernoise::hypernet::{
    batch_loss, distillation_terms, image_imitation_terms, imitation_terms, objective_terms, Adapted, AdapterConfig,
    Design, Role,
};
use hypernoise::pipeline::{Inputs, Method, NoiseMap, Pipeline};
use hypernoise::rng::Rng;
use hypernoise::weights::{config_of, mean_of, read_header, Architecture, WeightsError};
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
    /// `lora`: the paper's hypernetwork, LoRA adapters (--rank, --alpha) on a copy of the
    /// generator; `light`: a small network on the noise's lowest --grid x --grid frequencies
    /// (--hidden wide); `compact`: a network of the generator's design at 1/--divisor of its
    /// widths, trained from scratch. Light costs about the base's time at inference, compact a
    /// fraction of a generator pass more (`fit` only).
    // Left out of the run's settings when LoRA, so runs begun before the option resume.
    #[serde(skip_serializing_if = "DesignKind::is_lora")]
    #[arg(long, value_enum, default_value_t = DesignKind::Lora)]
    pub design: DesignKind,
    #[serde(skip_serializing_if = "is_standard_grid")]
    #[arg(long, default_value_t = LightConfig::standard().grid)]
    pub grid: usize,
    #[serde(skip_serializing_if = "is_standard_hidden")]
    #[arg(long, default_value_t = LightConfig::standard().hidden)]
    pub hidden: usize,
    /// Where the light hypernetwork reads the prompt: `own` (its own encoder, learnt from the
    /// training prompts) or `generator` (the frozen generator's encoded prompt).
    #[serde(skip_serializing_if = "is_own_prompt")]
    #[arg(long, value_enum, default_value_t = PromptSource::Own)]
    pub light_prompt: PromptSource,
    /// The compact hypernetwork's widths: the generator's divided by this.
    #[serde(skip_serializing_if = "is_standard_divisor")]
    #[arg(long, default_value_t = CompactConfig::standard().divisor)]
    pub divisor: usize,
    #[arg(long, default_value_t = 32)]
    pub rank: usize,
    #[arg(long, default_value_t = 32.0)]
    pub alpha: f32,
    /// LoRA hypernetwork working at this resolution: f computed on the noise's block means (16:
    /// 16 x 16 blocks of the 64 x 64 noise) and repeated over each block, for a fraction of a
    /// generator pass (default: at the noise's own resolution, one more pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub offset_resolution: Option<usize>,
    /// Continue from these trained adapters (this run's design, on this generator) instead of
    /// fresh ones, with a new optimizer and schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub init: Option<PathBuf>,
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
    /// Instead of the reward objective, learn from this trained noise hypernetwork (of the same
    /// generator): `fit` learns to give its offsets, as far as the design can express them (a
    /// light network learns their low frequencies); `finetune` learns to draw its images
    /// g(z + f(z, c), c) in one pass, at exactly the base's cost once folded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub imitate: Option<PathBuf>,
    /// `fit --imitate`: learn the teacher's images g(z + f_T(z, c), c) instead of its offsets
    /// (1/2 ||g(z + f) - g(z + f_T)||^2), so each part of the offset weighs as much as the
    /// generator makes of it: an offset gap the image does not show costs nothing.
    // Left out of the run's settings when off, so runs begun before the option resume.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[arg(long, requires = "imitate")]
    pub imitate_images: bool,
    /// `--imitate`: the teacher moves the noise this many times at `--imitate-strength`, and
    /// the run learns the whole move z_K - z as one offset: K passes' images for one pass's cost.
    // Left out of the run's settings at their defaults, so runs begun before the options resume.
    #[serde(skip_serializing_if = "is_one_pass")]
    #[arg(long, default_value_t = 1, requires = "imitate", value_parser = super::model_args::passes)]
    pub imitate_passes: usize,
    /// `--imitate`: s of the teacher's passes, z_{k+1} = z_k + s f_T(z_k, c).
    #[serde(skip_serializing_if = "is_full_strength")]
    #[arg(long, default_value_t = 1.0, requires = "imitate", value_parser = super::model_args::strength)]
    pub imitate_strength: f32,
    /// Network steps of g(z'): 1 = the one-step student; k > 1 = k Euler steps of a flow model
    /// with guidance (pass the teacher as --generator); `finetune` is one-step only.
    #[arg(long, default_value_t = 1)]
    pub gen_steps: usize,
    #[arg(long, default_value_t = 3.0)]
    pub guidance: f32,
    /// From this step on, each checkpoint's adapters also join the run's soup (`soup/`), and
    /// `average.safetensors`, the mean of the soup so far, is validated beside them: with a
    /// constant learning rate the weights wander about an optimum that their average sits
    /// nearer, and one checkpoint picked among many by validation is partly picked for luck.
    #[serde(skip)]
    #[arg(long)]
    pub average_from: Option<usize>,
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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesignKind {
    Lora,
    Light,
    Compact,
}

impl DesignKind {
    fn is_lora(&self) -> bool {
        *self == DesignKind::Lora
    }
}

fn is_standard_grid(grid: &usize) -> bool {
    *grid == LightConfig::standard().grid
}

fn is_own_prompt(source: &PromptSource) -> bool {
    *source == PromptSource::Own
}

fn is_standard_divisor(divisor: &usize) -> bool {
    *divisor == CompactConfig::standard().divisor
}

fn is_standard_hidden(hidden: &usize) -> bool {
    *hidden == LightConfig::standard().hidden
}

fn is_one_pass(passes: &usize) -> bool {
    *passes == 1
}

fn is_full_strength(strength: &f32) -> bool {
    *strength == 1.0
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
    /// 1/2 ||f - P f_T||^2 per image (`finetune`: 1/2 ||x - x_T||^2 of the images), when the run
    /// imitates a hypernetwork (`--imitate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imitation: Option<f64>,
    pub val_score: f64,
    pub val_reward: f64,
    /// The soup's average at this checkpoint (`--average-from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<Average>,
}

/// `average.safetensors` as it stood at a checkpoint: how many checkpoints it averages and its
/// validation scores.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Average {
    pub checkpoints: usize,
    pub val_score: f64,
    pub val_reward: f64,
}

impl Job {
    /// The run's name: its default folder and its result's file name.
    fn name(&self) -> &'static str {
        Method::of(self.role).name()
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

/// Images of `method` for validation items, 256 at a time.
fn item_images(pipeline: &Pipeline, method: Method, items: &[Item]) -> Result<Vec<hypernoise::world::Image>> {
    let prompts: Vec<&str> = items.iter().map(|i| i.prompt.as_str()).collect();
    let seeds: Vec<u64> = items.iter().map(|i| i.seed).collect();
    Ok(pipeline.draw(method, 1.0, &prompts, &seeds, 256, |_| {})?)
}

/// Base next to adapted images for a few validation prompts.
fn compare_grid(pipeline: &Pipeline, method: Method, path: &Path) -> Result<()> {
    let picks: Vec<Item> = items(Split::Val).into_iter().step_by(37).take(16).collect();
    let base = item_images(pipeline, Method::Base, &picks)?;
    let tuned = item_images(pipeline, method, &picks)?;
    let mut cells = Vec::new();
    for ((item, b), t) in picks.iter().zip(base).zip(tuned) {
        for (img, who) in [(b, Method::Base.name()), (t, method.name())] {
            let correct = evaluate(&item.prompt, &img).map(|v| v.correct).ok();
            cells.push(Cell { image: img, caption: format!("{who}: {}", item.prompt), correct });
        }
    }
    png_io::write(path, &compose(&cells, 8, 2))
}

pub fn curves_png(run_dir: &Path, title: &str, metrics: &[Metrics]) -> Result<()> {
    // a series of gaps (the imitation term of a run that imitates nothing) is left out, and so
    // is a term that is zero throughout (fine-tuning's regulariser: it has no f); a chart left
    // empty goes with them
    let series = |name: &str, f: fn(&Metrics) -> Option<f64>, zero_says_nothing: bool| {
        let points: Vec<(f64, f64)> = metrics.iter().map(|m| (m.step as f64, f(m).unwrap_or(f64::NAN))).collect();
        let shown = |y: f64| y.is_finite() && (y != 0.0 || !zero_says_nothing);
        points.iter().any(|p| shown(p.1)).then(|| Series { name: name.into(), points })
    };
    let panels = [
        (
            "reward",
            vec![series("train reward", |m| m.reward, false), series("val reward", |m| Some(m.val_reward), false)],
        ),
        (
            "1/2 ||f||^2 per image",
            vec![
                series("regulariser", |m| m.regulariser, true),
                series("imitation gap, of offsets or images", |m| m.imitation, true),
            ],
        ),
        (
            "exact evaluator on validation prompts",
            vec![
                series("val score", |m| Some(m.val_score), false),
                series("the checkpoints' average", |m| m.average.as_ref().map(|a| a.val_score), false),
            ],
        ),
    ];
    let charts: Vec<_> = panels
        .into_iter()
        .map(|(what, series)| (what, series.into_iter().flatten().collect::<Vec<Series>>()))
        .filter(|(_, series)| !series.is_empty())
        .map(|(what, series)| chart(&format!("{title}: {what}"), "steps", &series, false))
        .collect();
    png_io::write(&run_dir.join("curves.png"), &stack(&charts))
}

impl Job {
    fn sampler(&self) -> Result<Sampler> {
        let a = &self.args;
        let sampler = if a.gen_steps <= 1 {
            Sampler::OneStep
        } else {
            Sampler::Flow { steps: a.gen_steps, guidance: a.guidance, shift: 1.0 }
        };
        if self.role == Role::FineTune && sampler != Sampler::OneStep {
            bail!("finetune adapts the one-step generator; --gen-steps above 1 applies to fit only");
        }
        if a.devices == 0 || a.devices > a.batch {
            bail!("--devices must be between 1 and --batch ({})", a.batch);
        }
        Ok(sampler)
    }

    /// What the run trains.
    fn design(&self) -> Design {
        let a = &self.args;
        match a.design {
            DesignKind::Lora => {
                Design::Lora(LoraConfig { rank: a.rank, alpha: a.alpha, offset_resolution: a.offset_resolution })
            }
            DesignKind::Light => Design::Light(LightConfig {
                grid: a.grid,
                hidden: a.hidden,
                prompt: a.light_prompt,
                ..LightConfig::standard()
            }),
            DesignKind::Compact => Design::Compact(CompactConfig { divisor: a.divisor }),
        }
    }

    /// The hypernetwork to imitate (`--imitate`), one frozen copy per device.
    fn teachers(&self, generator_bytes: &[u8], devices: &[Device]) -> Result<Option<Vec<NoiseMap>>> {
        let Some(path) = &self.args.imitate else { return Ok(None) };
        if self.args.gen_steps > 1 {
            bail!("--imitate learns from a hypernetwork of the one-step generator (no --gen-steps)");
        }
        if self.args.imitate_images && self.role == Role::FineTune {
            bail!("--imitate-images is fit's: finetune --imitate always learns the hypernetwork's images");
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {} to imitate", path.display()))?;
        let cannot_load = |e| anyhow!("cannot imitate {}: {e}", path.display());
        let config = hypernoise::pipeline::adapter_config(&bytes).map_err(cannot_load)?;
        if config.role != Role::NoiseHypernetwork {
            bail!("cannot imitate {}: it holds fine-tuned adapters, not a noise hypernetwork", path.display());
        }
        let teachers =
            devices.iter().map(|d| Ok(NoiseMap::load(generator_bytes, &bytes, d).map_err(cannot_load)?.no_grad()));
        Ok(Some(teachers.collect::<Result<Vec<_>>>()?))
    }

    /// The adapters the run starts from on the generator in `generator_bytes`: `--init`'s, or
    /// fresh ones. A fresh random init is made on the CPU and seeded: the same run twice is the
    /// same run, on any device count and backend. (burn-cuda's random ops draw their seeds from
    /// one global generator whenever its lazy queue runs them, so there the init depended on
    /// what else ran first: --devices 2 started from other adapters than --devices 1.)
    fn initial_adapters(
        &self,
        generator_bytes: &[u8],
        generator_path: &Path,
        device: &Device,
    ) -> Result<(Adapted, AdapterConfig)> {
        let cannot_load = |e: WeightsError| anyhow!("cannot load {}: {e}", generator_path.display());
        // the arguments' own problems are theirs, not the generator file's
        let generator: GeneratorConfig = config_of(generator_bytes, GeneratorConfig::KIND).map_err(cannot_load)?;
        self.design().check(self.role, &generator).map_err(|e| anyhow!("{e}"))?;
        if let Some(path) = &self.args.init {
            return self.trained_adapters(path, generator_bytes, device);
        }
        let cpu = Device::flex();
        cpu.seed(self.args.seed);
        let (init, init_config) =
            Adapted::fresh(generator_bytes, self.role, self.design(), &cpu).map_err(cannot_load)?;
        Adapted::load(generator_bytes, &init.to_bytes(&init_config)?, device).map_err(|e| anyhow!("{e}"))
    }

    /// `--init`'s adapters, if they are of this run's role and design and were trained on its generator.
    fn trained_adapters(
        &self,
        path: &Path,
        generator_bytes: &[u8],
        device: &Device,
    ) -> Result<(Adapted, AdapterConfig)> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read --init {}", path.display()))?;
        let (adapted, config) = Adapted::load(generator_bytes, &bytes, device)
            .map_err(|e| anyhow!("cannot continue {}: {e}", path.display()))?;
        if config.role != self.role || config.design != self.design() {
            bail!(
                "cannot continue {}: it holds {:?} adapters ({}), and this run trains {:?} ones ({}); give the file's settings",
                path.display(),
                config.role,
                config.design,
                self.role,
                self.design()
            );
        }
        Ok((adapted, config))
    }
}

/// What each checkpoint does: score the adapters on validation prompts (folded, as `eval` and
/// the browser run them), keep the best, and write the metrics and curves.
struct Checkpoints<'a> {
    name: &'static str,
    method: Method,
    generator_bytes: &'a [u8],
    config: &'a AdapterConfig,
    sampler: Sampler,
    val_items: Vec<Item>,
    val_reward: Reward,
    /// Validation's device, without autodiff: a forward pass on the training device would keep
    /// its graph, which validation never differentiates.
    device: Device,
    out: &'a Path,
    metrics: Vec<Metrics>,
    /// Each step's [1/2 ||f||^2, reward or imitation gap], batch means, until the next checkpoint.
    since_checkpoint: Arc<Mutex<Vec<Tensor<1>>>>,
    /// The second logged term is the imitation gap, not the reward.
    imitating: bool,
    /// `--average-from`.
    average_from: Option<usize>,
}

/// "1 checkpoint", "2 checkpoints".
fn checkpoints(n: usize) -> String {
    format!("{n} checkpoint{}", if n == 1 { "" } else { "s" })
}

/// The step of a soup member's file name (`step-00001200.safetensors`).
fn soup_step(path: &Path) -> Option<usize> {
    path.file_name()?.to_str()?.strip_prefix("step-")?.strip_suffix(".safetensors")?.parse().ok()
}

impl Checkpoints<'_> {
    fn best_path(&self) -> PathBuf {
        self.out.join("best.safetensors")
    }

    /// The training terms' means since the last checkpoint, [1/2 ||f||^2, reward or imitation gap].
    fn train_terms(&self) -> [Option<f64>; 2] {
        let terms = std::mem::take(&mut *self.since_checkpoint.lock().expect("terms"));
        let count = terms.len() as f64;
        let sums =
            terms.into_iter().reduce(|x, y| x + y).map(|s| s.into_data().try_to_vec::<f32>().expect("f32 terms"));
        [0, 1].map(|i| sums.as_ref().map(|m| m[i] as f64 / count))
    }

    /// The evaluator's mean and the mean reward of `adapter_bytes`' validation images.
    fn validate(&self, adapter_bytes: &[u8]) -> Result<(f64, f64)> {
        let pipeline =
            checked_pipeline(self.generator_bytes, &[adapter_bytes], &self.device)?.with_sampler(self.sampler);
        let images = item_images(&pipeline, self.method, &self.val_items)?;
        let mut report = Report::default();
        for (item, image) in self.val_items.iter().zip(&images) {
            report.add(item.category, evaluate(&item.prompt, image).map_err(|e| anyhow!("{e}"))?.correct);
        }
        let prompts: Vec<&str> = self.val_items.iter().map(|i| i.prompt.as_str()).collect();
        let tokens = pipeline.inputs(&prompts, &self.val_items.iter().map(|i| i.seed).collect::<Vec<_>>())?.tokens;
        let x = images_to_tensor(&images, &self.device);
        Ok((report.mean(), self.val_reward.score(x, tokens).mean().into_scalar::<f64>()))
    }

    /// Adds a checkpoint's adapters to the soup and writes the mean of its members up to `step`
    /// as average.safetensors, validated. LoRA's factors are averaged each on its own: for the
    /// checkpoints of one run, which move little apart, that is close to averaging the layers'
    /// folded changes, and it stays an adapters file that loads and folds like any other.
    fn average(&self, step: usize, adapter_bytes: &[u8]) -> Result<Average> {
        let from = self.average_from.unwrap_or(0);
        let dir = self.out.join("soup");
        std::fs::create_dir_all(&dir)?;
        files::write(&dir.join(format!("step-{step:08}.safetensors")), adapter_bytes)?;
        let mut members = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            match soup_step(&path) {
                // a resumed run redoes the steps after its checkpoint: their earlier adapters leave
                Some(s) if s > step => std::fs::remove_file(&path)?,
                Some(s) if s >= from => {
                    let bytes = std::fs::read(&path)?;
                    // a member damaged on disk: name it, so that removing it lets the run go on
                    read_header(&bytes).map_err(|e| {
                        anyhow!("the soup's member {} is damaged ({e}): remove it to go on", path.display())
                    })?;
                    members.push(bytes);
                }
                _ => {}
            }
        }
        let mean = mean_of(&members.iter().map(Vec::as_slice).collect::<Vec<_>>())
            .map_err(|e| anyhow!("cannot average {}: {e}", dir.display()))?;
        files::write(&self.out.join("average.safetensors"), &mean)?;
        let (val_score, val_reward) = self.validate(&mean)?;
        Ok(Average { checkpoints: members.len(), val_score, val_reward })
    }

    fn record(&mut self, model: &Adapted, step: usize) -> Result<()> {
        self.metrics.retain(|m| m.step < step || step == 0); // a resumed run redoes what came after its checkpoint
        let [regulariser, second] = self.train_terms();
        let (reward, imitation) = if self.imitating { (None, second) } else { (second, None) };
        let adapter_bytes = model.valid().to_bytes(self.config)?;
        let (val_score, val_reward) = self.validate(&adapter_bytes)?;
        let averaging = self.average_from.is_some_and(|from| step > 0 && step >= from);
        let average = averaging.then(|| self.average(step, &adapter_bytes)).transpose()?;
        let m = Metrics { step, reward, regulariser, imitation, val_score, val_reward, average: average.clone() };
        let shown = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
        let trained = if self.imitating {
            format!("imitation gap {}", shown(imitation))
        } else {
            format!("train reward {}", shown(reward))
        };
        let averaged = average.map_or(String::new(), |a| {
            format!(
                "; the average of {}: evaluator {:.4}, reward {:.4}",
                checkpoints(a.checkpoints),
                a.val_score,
                a.val_reward
            )
        });
        eprintln!(
            "{}: step {step} {trained}, 1/2||f||^2 {}; validation: evaluator {val_score:.4}, reward {val_reward:.4}{averaged}",
            self.name,
            shown(regulariser),
        );
        let best_before =
            self.metrics.iter().filter(|m| m.step > 0).map(|m| m.val_score).fold(f64::NEG_INFINITY, f64::max);
        if step > 0 && (val_score > best_before || !self.best_path().exists()) {
            files::write(&self.best_path(), &adapter_bytes)?;
        }
        self.metrics.push(m);
        files::write(&self.out.join("metrics.json"), serde_json::to_string_pretty(&self.metrics)?.as_bytes())?;
        curves_png(self.out, self.name, &self.metrics)
    }

    /// After the last step: the best adapters as the run's result, and compare.png.
    fn finish(&self, last: &Adapted, steps: usize) -> Result<()> {
        let final_path = self.out.join(format!("{}.safetensors", self.name));
        if !self.best_path().exists() {
            files::write(&self.best_path(), &last.valid().to_bytes(self.config)?)?;
            // --steps 0: the untrained adapters
        }
        let best_bytes = std::fs::read(self.best_path())?;
        let pipeline = checked_pipeline(self.generator_bytes, &[&best_bytes], &self.device)?.with_sampler(self.sampler);
        files::write(&final_path, &best_bytes)?;
        compare_grid(&pipeline, self.method, &self.out.join("compare.png"))?;
        let metrics = read_metrics(self.out)?;
        let best = metrics
            .iter()
            .filter(|m| m.step > 0 || steps == 0)
            .max_by(|x, y| x.val_score.total_cmp(&y.val_score))
            .expect("a checkpoint was scored");
        println!(
            "wrote {} (best validation score {:.4} at step {}), compare.png and curves.png",
            final_path.display(),
            best.val_score,
            best.step
        );
        if let Some((m, a)) = metrics.iter().rev().find_map(|m| Some((m, m.average.as_ref()?))) {
            println!(
                "wrote {} (the mean of {} to step {}: validation score {:.4})",
                self.out.join("average.safetensors").display(),
                checkpoints(a.checkpoints),
                m.step,
                a.val_score
            );
        }
        Ok(())
    }
}

impl OnBackend for Job {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let a = &self.args;
        let (role, sampler) = (self.role, self.sampler()?);
        let generator_path = a.generator.clone().unwrap_or_else(shipped_generator);
        let generator_bytes = std::fs::read(&generator_path)
            .with_context(|| format!("cannot read generator weights {}", generator_path.display()))?;
        let reward_spec = a.reward.clone().unwrap_or_else(|| shipped_reward().display().to_string());
        let devices = devices(&device, kind, a.devices)?;
        let (adapted, config) = self.initial_adapters(&generator_bytes, &generator_path, &device)?;
        let res = config.generator.resolution;
        let rewards = devices.iter().map(|d| Reward::parse(&reward_spec, res, d)).collect::<Result<Vec<_>>>()?;
        let teachers = self.teachers(&generator_bytes, &devices)?;
        let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(self.name()));
        eprintln!(
            "{}: {} on {} x{} (reward {reward_spec}, {:?}, {:?})",
            self.name(),
            generator_path.display(),
            describe(kind),
            a.devices,
            config.design,
            sampler
        );

        let mut spec =
            a.control.spec(self.name(), Schedule { steps: a.steps, lr: a.lr, warmup: a.warmup, final_fraction: 1.0 });
        spec.global_clip = Some(a.clip);
        let settings = serde_json::json!({ "args": a, "role": role, "sampler": format!("{sampler:?}"), "generator": config.generator_fingerprint });
        let export = |m: &Adapted| Ok(m.valid().to_bytes(&config)?);
        let validation_device = device.clone().inner();
        let mut checkpoints = Checkpoints {
            name: self.name(),
            method: Method::of(role),
            generator_bytes: &generator_bytes,
            config: &config,
            sampler,
            val_items: items(Split::Val).into_iter().step_by(a.val_every_item.max(1)).collect(),
            val_reward: Reward::parse(&reward_spec, res, &validation_device)?,
            device: validation_device,
            out: &out,
            metrics: read_metrics(&out)?,
            since_checkpoint: Arc::default(),
            imitating: teachers.is_some(),
            average_from: a.average_from,
        };

        // one device's share of a step: its loss and the terms to log
        let (n, seed, reg_weight, imitate_images) = (a.batch, a.seed, a.reg_weight, a.imitate_images);
        let (passes, strength) = (a.imitate_passes, a.imitate_strength);
        let step_inputs = StepInputs::new(devices.len());
        let shard_loss = move |model: &Adapted, shard: &Shard, step: usize| {
            let inputs = step_inputs.at(shard.index, step, |steps| {
                let (mut texts, mut seeds) = (vec![], vec![]);
                for s in steps {
                    let (t, z) = batch_prompts(seed, s, n);
                    texts.extend_from_slice(&t[shard.range(n)]);
                    seeds.extend_from_slice(&z[shard.range(n)]);
                }
                Inputs::new(&texts, &seeds, res, &shard.device).expect("training prompts are sentences of the world")
            });
            let (z, tokens) = (inputs.noise, inputs.tokens);
            let (reg, second, loss) = match &teachers {
                Some(teachers) => {
                    let moved = teachers[shard.index].moved(z.clone(), tokens.clone(), &model.model, passes, strength);
                    let offset = (moved - z.clone()).detach();
                    let (reg, gap) = match role {
                        Role::NoiseHypernetwork if !imitate_images => imitation_terms(model, z, tokens, offset),
                        _ => {
                            // the teacher's images x_T = g(z + f_T(z, c), c)
                            let target = model.model.generate(z.clone() + offset, tokens.clone(), sampler).detach();
                            match role {
                                Role::NoiseHypernetwork => image_imitation_terms(model, z, tokens, target, sampler),
                                Role::FineTune => distillation_terms(model, z, tokens, target),
                            }
                        }
                    };
                    (reg, gap.clone(), gap.mean())
                }
                None => {
                    let (reg, r) =
                        objective_terms(model, role, sampler, z, tokens, |x, t| rewards[shard.index].score(x, t));
                    (reg.clone(), r.clone(), batch_loss(reg, r, reg_weight))
                }
            };
            let terms = Tensor::cat(vec![reg.mean().inner(), second.mean().inner()], 0);
            (loss, terms)
        };
        let shard_loss: ShardLoss<Adapted> = Arc::new(shard_loss);
        let model = train_adapters_only(adapted);
        let _lock = RunLock::take(&out)?;
        if checkpoints.metrics.is_empty() {
            std::fs::create_dir_all(&out)?;
            checkpoints.record(&model, 0)?; // the base generator's validation scores: where curves start
        }
        let logged = checkpoints.since_checkpoint.clone();
        let run = Run { dir: &out, spec: &spec, settings };
        let on_checkpoint = |m: &Adapted, step| checkpoints.record(m, step);
        // one arm per optimizer: the data-parallel stepper's type names the optimizer's
        let (model, outcome) = match a.optimizer {
            OptimizerKind::Sgd => run.train(
                model,
                FlatSgd::new(a.momentum),
                export,
                DataParallel::new(devices, kind, n, shard_loss, logged)?,
                on_checkpoint,
            )?,
            OptimizerKind::Adam => {
                let adam = AdamConfig::new().init();
                run.train(model, adam, export, DataParallel::new(devices, kind, n, shard_loss, logged)?, on_checkpoint)?
            }
        };
        if let Outcome::Finished = outcome {
            checkpoints.finish(&model, a.steps)?;
        }
        Ok(())
    }
}
